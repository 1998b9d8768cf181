//! Mesh scenes built in code (render spec 2): the Cornell box as triangles (with an area
//! light, a textured back wall, a metal and a glass block and smooth-shaded normals on one
//! block), and random triangle soups for the property tests. Used by the tests, the emulator
//! checks, `tests/gpu.rs` and the benchmark.
use super::mesh::{EnvMap, MeshMaterial, MeshScene, Texture, Triangle};
use super::scene::CameraSpec;
use crate::rng::SplitMix64;

struct Build {
    s: MeshScene,
}

impl Build {
    fn vertex(&mut self, p: [f32; 3], uv: [f32; 2]) -> u32 {
        self.s.positions.push(p);
        self.s.uvs.push(uv);
        self.s.normals.push([0.0, 0.0, 0.0]);
        (self.s.positions.len() - 1) as u32
    }

    /// Quad `a b c d` (counter-clockwise seen from the front) as two triangles, flat normal.
    fn quad(&mut self, q: [[f32; 3]; 4], material: u32) {
        let uvs = [[0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]];
        let e1 = sub(q[1], q[0]);
        let e2 = sub(q[3], q[0]);
        let n = normalize(cross(e1, e2));
        let v: Vec<u32> = (0..4)
            .map(|k| {
                let i = self.vertex(q[k], uvs[k]);
                self.s.normals[i as usize] = n;
                i
            })
            .collect();
        self.s.triangles.push(Triangle {
            v: [v[0], v[1], v[2]],
            material,
        });
        self.s.triangles.push(Triangle {
            v: [v[0], v[2], v[3]],
            material,
        });
    }

    /// An axis-aligned box rotated about y by `angle` (radians), centre `c`, half sizes `h`.
    /// `smooth`: vertex normals pointing away from the centre (rounded shading).
    fn block(&mut self, c: [f32; 3], h: [f32; 3], angle: f32, material: u32, smooth: bool) {
        let (s, co) = (angle.sin(), angle.cos());
        let p = |x: f32, y: f32, z: f32| -> [f32; 3] {
            let (x, z) = (x * h[0], z * h[2]);
            [
                c[0] + co * x + s * z,
                c[1] + y * h[1],
                c[2] - s * x + co * z,
            ]
        };
        let faces = [
            [
                p(-1., -1., 1.),
                p(1., -1., 1.),
                p(1., 1., 1.),
                p(-1., 1., 1.),
            ],
            [
                p(1., -1., -1.),
                p(-1., -1., -1.),
                p(-1., 1., -1.),
                p(1., 1., -1.),
            ],
            [
                p(-1., -1., -1.),
                p(-1., -1., 1.),
                p(-1., 1., 1.),
                p(-1., 1., -1.),
            ],
            [
                p(1., -1., 1.),
                p(1., -1., -1.),
                p(1., 1., -1.),
                p(1., 1., 1.),
            ],
            [
                p(-1., 1., 1.),
                p(1., 1., 1.),
                p(1., 1., -1.),
                p(-1., 1., -1.),
            ],
            [
                p(-1., -1., -1.),
                p(1., -1., -1.),
                p(1., -1., 1.),
                p(-1., -1., 1.),
            ],
        ];
        let first = self.s.positions.len();
        for f in faces {
            self.quad(f, material);
        }
        if smooth {
            for i in first..self.s.positions.len() {
                self.s.normals[i] = normalize(sub(self.s.positions[i], c));
            }
        }
    }
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
fn normalize(a: [f32; 3]) -> [f32; 3] {
    let l = (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt();
    [a[0] / l, a[1] / l, a[2] / l]
}

/// A `n × n` checker texture of two colours (sRGB bytes), `cells` squares a side.
pub fn checker(n: u32, cells: u32, a: [u8; 3], b: [u8; 3]) -> Texture {
    let mut rgba = Vec::with_capacity((n * n * 4) as usize);
    for y in 0..n {
        for x in 0..n {
            let c = if ((x * cells / n) + (y * cells / n)) % 2 == 0 {
                a
            } else {
                b
            };
            rgba.extend_from_slice(&[c[0], c[1], c[2], 255]);
        }
    }
    Texture {
        width: n,
        height: n,
        rgba,
    }
}

/// A 16 × 8 sky for the environment tests: a blue gradient from the zenith to a pale horizon,
/// a dark ground half and one bright "sun" texel above the horizon.
pub fn sky_map() -> EnvMap {
    let (w, h) = (16u32, 8u32);
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for r in 0..h {
        for c in 0..w {
            let t = (r as f32 + 0.5) / h as f32;
            let px = if (r, c) == (2, 11) {
                [400.0, 380.0, 330.0]
            } else if t < 0.5 {
                [0.3 + 0.8 * t, 0.45 + 0.7 * t, 0.9]
            } else {
                [0.12, 0.1, 0.08]
            };
            rgb.extend_from_slice(&px);
        }
    }
    EnvMap {
        width: w,
        height: h,
        rgb,
    }
}

/// [`principled_mix`] opened to the sky: the box without its ceiling light (so the
/// environment is the only light) or with it (`lights`: both are sampled), under
/// [`sky_map`].
pub fn sky_lit(width: u32, height: u32, spp: u32, lights: bool) -> MeshScene {
    let mut s = principled_mix(width, height, spp);
    if !lights {
        for m in s.materials.iter_mut() {
            m.emission = [0.0; 3];
        }
    }
    // drop the back wall and the ceiling so that paths leave the box
    let keep: Vec<Triangle> = s
        .triangles
        .iter()
        .filter(|t| {
            let c = |k: usize, a: usize| s.positions[t.v[k] as usize][a];
            let flat = |a: usize, at: f32| (0..3).all(|k| c(k, a) == at);
            !(flat(2, -1.0) || flat(1, 2.0))
        })
        .copied()
        .collect();
    s.triangles = keep;
    s.environment = Some(sky_map());
    s
}

/// The Cornell box with spec 3's Principled lobes over their range: half metals, a
/// mirror-smooth one (α at its floor), rough and glossy dielectrics, tinted glass. The GPU
/// and emulator tests render it under both mesh specs.
pub fn principled_mix(width: u32, height: u32, spp: u32) -> MeshScene {
    let mut s = cornell(width, height, spp);
    for (i, m) in s.materials.iter_mut().enumerate() {
        m.metallic = [0.0, 0.5, 1.0, 0.25][i % 4];
        m.roughness = [1.0, 0.0, 0.3, 0.6][(i / 2) % 4];
    }
    if let Some(g) = s.materials.iter_mut().find(|m| m.transmission > 0.5) {
        g.base_color = [0.9, 0.6, 0.3];
    }
    s
}

/// The Cornell box as a mesh scene: white floor, ceiling and (checker-textured) back wall,
/// red left and green right walls, a 0.9 × 0.9 area light under the ceiling (emission 10),
/// a smooth-shaded white block, a metal block and a glass block. Camera as in
/// `scenes/cornell.json`.
pub fn cornell(width: u32, height: u32, spp: u32) -> MeshScene {
    let m = |base: [f32; 3]| MeshMaterial {
        base_color: base,
        ..MeshMaterial::default()
    };
    let materials = vec![
        m([0.73, 0.73, 0.73]),
        m([0.65, 0.05, 0.05]),
        m([0.12, 0.45, 0.15]),
        MeshMaterial {
            base_color: [0.0; 3],
            emission: [10.0, 10.0, 10.0],
            ..MeshMaterial::default()
        },
        MeshMaterial {
            base_color: [0.8, 0.85, 0.88],
            metallic: 1.0,
            roughness: 0.1,
            ..MeshMaterial::default()
        },
        MeshMaterial {
            base_color: [1.0, 1.0, 1.0],
            transmission: 1.0,
            ior: 1.5,
            ..MeshMaterial::default()
        },
        MeshMaterial {
            base_color: [1.0, 1.0, 1.0],
            base_color_texture: Some(0),
            ..MeshMaterial::default()
        },
    ];
    let mut b = Build {
        s: MeshScene {
            width,
            height,
            samples_per_pixel: spp,
            max_bounces: 6,
            seed: 2024,
            background: [0.0; 3],
            camera: CameraSpec {
                position: [0.0, 1.0, 3.4],
                look_at: [0.0, 1.0, 0.0],
                up: [0.0, 1.0, 0.0],
                vfov_degrees: 40.0,
            },
            materials,
            textures: vec![checker(64, 8, [200, 200, 200], [90, 110, 160])],
            positions: vec![],
            normals: vec![],
            uvs: vec![],
            triangles: vec![],
            environment: None,
        },
    };
    let (l, r, f, bk, top) = (-1.0f32, 1.0f32, 1.5f32, -1.0f32, 2.0f32);
    b.quad([[l, 0.0, f], [r, 0.0, f], [r, 0.0, bk], [l, 0.0, bk]], 0); // floor
    b.quad([[l, top, bk], [r, top, bk], [r, top, f], [l, top, f]], 0); // ceiling
    b.quad([[l, 0.0, bk], [r, 0.0, bk], [r, top, bk], [l, top, bk]], 6); // back, textured
    b.quad([[l, 0.0, f], [l, 0.0, bk], [l, top, bk], [l, top, f]], 1); // left, red
    b.quad([[r, 0.0, bk], [r, 0.0, f], [r, top, f], [r, top, bk]], 2); // right, green
    let y = 1.999;
    b.quad(
        [
            [-0.45, y, -0.45],
            [0.45, y, -0.45],
            [0.45, y, 0.45],
            [-0.45, y, 0.45],
        ],
        3,
    );
    b.block([-0.4, 0.6, -0.35], [0.28, 0.6, 0.28], 0.3, 0, true);
    b.block([0.45, 0.25, 0.3], [0.25, 0.25, 0.25], -0.35, 4, false);
    b.block([0.05, 0.15, 0.65], [0.15, 0.15, 0.15], 0.6, 5, false);
    b.s
}

/// A random triangle soup for property tests: `n` triangles of every kind the tracer must
/// survive (ordinary, tiny, huge, degenerate: repeated or collinear corners, axis-aligned,
/// sharing edges), in a box around the origin, plus rays aimed at them (some exactly at
/// vertices and along edges, grazing).
pub fn random_soup(n: usize, seed: u64) -> (MeshScene, Vec<([f32; 3], [f32; 3])>) {
    let mut r = SplitMix64::new(seed);
    let mut u = move || (r.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
    let mut s = cornell(8, 8, 1);
    s.positions.clear();
    s.normals.clear();
    s.uvs.clear();
    s.triangles.clear();
    s.textures.clear();
    s.materials.truncate(4);
    let point = |scale: f32, u: &mut dyn FnMut() -> f32| {
        [
            (u() - 0.5) * scale,
            (u() - 0.5) * scale,
            (u() - 0.5) * scale,
        ]
    };
    for i in 0..n {
        let kind = i % 8;
        let base = point(4.0, &mut u);
        let size = match kind {
            0 => 1e-4,
            1 => 50.0,
            _ => 0.5,
        };
        let mut tri = [base, base, base];
        for c in tri.iter_mut().skip(1) {
            let d = point(size, &mut u);
            *c = [base[0] + d[0], base[1] + d[1], base[2] + d[2]];
        }
        match kind {
            2 => tri[2] = tri[1], // repeated corner
            3 => {
                // collinear
                tri[2] = [
                    2.0 * tri[1][0] - tri[0][0],
                    2.0 * tri[1][1] - tri[0][1],
                    2.0 * tri[1][2] - tri[0][2],
                ];
            }
            4 => {
                for c in tri.iter_mut() {
                    c[1] = base[1]; // axis-aligned (flat in y)
                }
            }
            5 if i >= 8 => {
                // shares an edge with an earlier triangle
                let prev = s.triangles[i - 8].v;
                tri[0] = s.positions[prev[0] as usize];
                tri[1] = s.positions[prev[1] as usize];
            }
            _ => {}
        }
        let first = s.positions.len() as u32;
        s.positions.extend_from_slice(&tri);
        s.triangles.push(Triangle {
            v: [first, first + 1, first + 2],
            material: (i % 4) as u32,
        });
    }
    let mut rays = Vec::new();
    for k in 0..600 {
        let o = point(12.0, &mut u);
        let target = if s.triangles.is_empty() || k % 5 == 4 {
            point(4.0, &mut u)
        } else {
            let t = s.triangles[k % s.triangles.len()];
            let p = |j: usize| s.positions[t.v[j] as usize];
            match k % 5 {
                0 => p(0), // a vertex
                1 => [
                    (p(0)[0] + p(1)[0]) / 2.0,
                    (p(0)[1] + p(1)[1]) / 2.0,
                    (p(0)[2] + p(1)[2]) / 2.0,
                ], // an edge
                _ => {
                    let (a, b) = (u(), u());
                    let (a, b) = if a + b > 1.0 {
                        (1.0 - a, 1.0 - b)
                    } else {
                        (a, b)
                    };
                    [
                        p(0)[0] + a * (p(1)[0] - p(0)[0]) + b * (p(2)[0] - p(0)[0]),
                        p(0)[1] + a * (p(1)[1] - p(0)[1]) + b * (p(2)[1] - p(0)[1]),
                        p(0)[2] + a * (p(1)[2] - p(0)[2]) + b * (p(2)[2] - p(0)[2]),
                    ]
                }
            }
        };
        let d = sub(target, o);
        let len = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        if len > 0.0 {
            rays.push((o, [d[0] / len, d[1] / len, d[2] / len]));
        }
        // axis-parallel rays (zero direction components) through the same target
        if k % 7 == 0 {
            rays.push(([target[0], target[1], 10.0], [0.0, 0.0, -1.0]));
        }
    }
    (s, rays)
}
