//! Tests of render spec 2: the BVH against brute force, the blob's validation against hostile
//! input, tiles against the whole frame, golden hashes, and light transport sanity.
use super::bvh::{self, Node};
use super::math::V3;
use super::mesh::{MeshMaterial, MeshScene, Triangle};
use super::mesh_blob::{self, CompiledMesh, Tile, MAT_STRIDE};
use super::mesh_cpu::{self, closest, closest_brute};
use super::mesh_scenes::{cornell, random_soup};
use crate::error::ComputeError;
use crate::limits::Limits;
use crate::{Backend, Job, KernelId};

fn compile(s: &MeshScene, tile: Tile) -> CompiledMesh {
    let blob = mesh_blob::encode(s, tile).unwrap();
    mesh_blob::parse(&blob[8..], u64::MAX).unwrap()
}

fn v(a: [f32; 3]) -> V3 {
    V3::new(a[0], a[1], a[2])
}

#[test]
fn bvh_traversal_finds_what_testing_every_triangle_finds() {
    for (n, seed) in [(1, 1), (7, 2), (60, 3), (500, 4), (3000, 5)] {
        let (s, rays) = random_soup(n, seed);
        let m = compile(&s, Tile::full(8, 8));
        let mut hits = 0;
        for (o, d) in &rays {
            for tmin in [1e-6f32, 1e-3] {
                let want = closest_brute(&m, v(*o), v(*d), tmin, u32::MAX);
                let got = closest(&m, v(*o), v(*d), tmin, u32::MAX);
                assert_eq!(
                    got.map(|h| (h.0, h.1.to_bits(), h.2.to_bits(), h.3.to_bits())),
                    want.map(|h| (h.0, h.1.to_bits(), h.2.to_bits(), h.3.to_bits())),
                    "{n} triangles, ray {o:?} {d:?}"
                );
                hits += want.is_some() as usize;
                // the shadow query agrees too
                let far = want.map_or(1e30, |h| h.1);
                let blocked =
                    mesh_cpu::occluded(&m, v(*o), v(*d), tmin, far * 1.5 + 1.0, u32::MAX, u32::MAX);
                assert_eq!(
                    blocked,
                    want.is_some(),
                    "{n} triangles, shadow ray {o:?} {d:?}"
                );
            }
        }
        assert!(hits > rays.len() / 3, "{n} triangles: only {hits} hits");
    }
}

#[test]
fn the_bvh_is_deterministic_and_valid() {
    let (s, _) = random_soup(2000, 9);
    let a = mesh_blob::encode(&s, Tile::full(8, 8)).unwrap();
    let b = mesh_blob::encode(&s, Tile::full(8, 8)).unwrap();
    assert_eq!(a, b, "the same scene compiles to the same bytes");
    let m = mesh_blob::parse(&a[8..], u64::MAX).unwrap();
    let depth_nodes = m.node_meta.len() / 2;
    assert!(depth_nodes > 1 && depth_nodes < 2 * 2000);
    // leaves are small: SAH keeps splitting big leaves
    let biggest = m.node_meta.chunks(2).map(|n| n[1] >> 2).max().unwrap();
    assert!(biggest as usize <= bvh::MAX_LEAF * 2, "leaf of {biggest}");
}

/// Flattened nodes of a scene (for corrupting).
fn nodes_of(m: &CompiledMesh) -> Vec<Node> {
    (0..m.node_meta.len() / 2)
        .map(|i| {
            let b = &m.node_box[6 * i..6 * i + 6];
            Node {
                min: [b[0], b[1], b[2]],
                max: [b[3], b[4], b[5]],
                a: m.node_meta[2 * i],
                meta: m.node_meta[2 * i + 1],
            }
        })
        .collect()
}

#[test]
fn hostile_bvhs_are_refused_by_name() {
    let (s, _) = random_soup(200, 11);
    let m = compile(&s, Tile::full(8, 8));
    let nodes = nodes_of(&m);
    let ntri = m.num_triangles();
    let corner = |t: usize, k: usize| {
        let vi = m.tri_info[5 * t + 1 + k] as usize;
        let p = &s.positions[vi];
        *p
    };
    // the positions are stored unchanged, so corners read from the scene are the blob's
    bvh::validate(&nodes, ntri, &corner).unwrap();
    let root_second = nodes[0].a;
    let cases: Vec<(&str, Box<dyn Fn(&mut Vec<Node>)>)> = vec![
        ("cycle", Box::new(|n: &mut Vec<Node>| n[0].a = 0)),
        (
            "second child out of range",
            Box::new(|n: &mut Vec<Node>| n[0].a = 1 << 30),
        ),
        (
            "out of order",
            Box::new(move |n: &mut Vec<Node>| n[0].a = root_second + 1),
        ),
        (
            "box does not contain",
            Box::new(|n: &mut Vec<Node>| {
                let last = n.len() - 1;
                n[last].max = n[last].min;
            }),
        ),
        (
            "NaN box",
            Box::new(|n: &mut Vec<Node>| n[0].min[0] = f32::NAN),
        ),
        (
            "leaf repeats triangles",
            Box::new(|n: &mut Vec<Node>| {
                let leaf = n.iter().rposition(|x| x.count() > 0).unwrap();
                n[leaf].a = 0;
            }),
        ),
        (
            "leaf past the end",
            Box::new(|n: &mut Vec<Node>| {
                let leaf = n.iter().rposition(|x| x.count() > 0).unwrap();
                n[leaf].meta = 1 << 28;
            }),
        ),
        ("bad axis", Box::new(|n: &mut Vec<Node>| n[0].meta = 3)),
    ];
    for (name, corrupt) in cases {
        let mut n = nodes.clone();
        corrupt(&mut n);
        match bvh::validate(&n, ntri, &corner) {
            Err(ComputeError::Scene(msg)) => assert!(msg.starts_with("BVH: "), "{name}: {msg}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    // a chain deeper than the traversal stack
    let deep: Vec<[[f32; 3]; 3]> = (0..200)
        .map(|i| {
            let x = (1u64 << (i % 60)) as f32;
            [[x, 0.0, 0.0], [x, 1.0, 0.0], [x, 0.0, 1.0]]
        })
        .collect();
    let mut chain = Vec::new();
    for i in 0..100u32 {
        chain.push(Node {
            min: [0.0; 3],
            max: [1e30; 3],
            a: 2 * i + 2,
            meta: 0,
        });
        chain.push(Node {
            min: [0.0; 3],
            max: [1e30; 3],
            a: i,
            meta: 1 << 2,
        });
    }
    chain.push(Node {
        min: [0.0; 3],
        max: [1e30; 3],
        a: 100,
        meta: 100 << 2,
    });
    match bvh::validate(&chain, 200, |t, k| deep[t][k]) {
        Err(ComputeError::Scene(msg)) => assert!(msg.contains("deeper than 64"), "{msg}"),
        other => panic!("deep chain: {other:?}"),
    }
}

#[test]
fn hostile_blobs_give_named_errors_never_panics() {
    let s = cornell(16, 12, 2);
    let blob = mesh_blob::encode(&s, Tile::full(16, 12)).unwrap();
    let limits = Limits::default();
    assert!(Job::parse(&blob, &limits).is_ok());
    // every truncation
    for cut in (0..blob.len()).step_by(7) {
        let e = Job::parse(&blob[..cut], &limits).unwrap_err();
        assert!(
            matches!(e, ComputeError::Truncated { .. } | ComputeError::Scene(_)),
            "cut at {cut}: {e:?}"
        );
    }
    // trailing bytes
    let mut long = blob.clone();
    long.push(0);
    assert!(matches!(
        Job::parse(&long, &limits),
        Err(ComputeError::TrailingBytes { .. })
    ));
    // a huge triangle count: refused before any allocation
    let huge = |mut s: MeshScene| {
        s.triangles.clear();
        s
    };
    let empty = mesh_blob::encode(&huge(cornell(4, 4, 1)), Tile::full(4, 4)).unwrap();
    // ... triangle count, 0 triangles, 1 node, no environment (8 bytes of zero)
    let tri_count_at = empty.len() - 8 - 4 - 32 - 4;
    assert_eq!(&empty[tri_count_at..tri_count_at + 4], &0u32.to_le_bytes());
    let mut e2 = empty.clone();
    e2[tri_count_at..tri_count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Job::parse(&e2, &limits),
        Err(ComputeError::TooLarge(_))
    ));
    e2[tri_count_at..tri_count_at + 4].copy_from_slice(&1000u32.to_le_bytes());
    assert!(matches!(
        Job::parse(&e2, &limits),
        Err(ComputeError::Truncated { .. })
    ));
    // the environment (spec 3): sides over the limit refused before any allocation, a
    // missing map truncated, a NaN texel by name; spec 2 blobs carry none
    let env_at = empty.len() - 8;
    let mut e3 = empty.clone();
    e3[env_at..].copy_from_slice(&[0xff; 8]);
    assert!(matches!(
        Job::parse(&e3, &limits),
        Err(ComputeError::TooLarge(_))
    ));
    e3[env_at..].copy_from_slice(&[2, 0, 0, 0, 1, 0, 0, 0]);
    assert!(matches!(
        Job::parse(&e3, &limits),
        Err(ComputeError::Truncated { .. })
    ));
    e3.extend(std::iter::repeat_n(0u8, 24));
    assert!(Job::parse(&e3, &limits).is_ok());
    e3[env_at + 8..env_at + 12].copy_from_slice(&f32::NAN.to_le_bytes());
    match Job::parse(&e3, &limits) {
        Err(ComputeError::Scene(m)) => assert!(m.contains("environment texel 0"), "{m}"),
        other => panic!("NaN environment: {other:?}"),
    }
    let mut lit = cornell(4, 4, 1);
    lit.environment = Some(super::mesh::EnvMap::constant([0.5; 3]));
    assert!(mesh_blob::encode_spec(&lit, Tile::full(4, 4), mesh_blob::SPEC_LEGACY).is_err());
    // values a worker must refuse, each by name
    let bad = |f: &dyn Fn(&mut MeshScene), want: &str| {
        let mut s = cornell(8, 8, 1);
        f(&mut s);
        match mesh_blob::encode(&s, Tile::full(8, 8)) {
            Err(ComputeError::Scene(m)) | Err(ComputeError::TooLarge(m)) => {
                assert!(m.contains(want), "{want}: {m}")
            }
            other => panic!("{want}: {other:?}"),
        }
    };
    bad(
        &|s| s.positions[3][1] = f32::NAN,
        "vertex 3 has a non-finite position",
    );
    bad(
        &|s| s.positions[0][0] = f32::INFINITY,
        "non-finite position",
    );
    bad(&|s| s.normals[2][2] = f32::NAN, "non-finite normal");
    bad(&|s| s.uvs[1][0] = f32::NEG_INFINITY, "non-finite uv");
    bad(&|s| s.triangles[4].v[1] = 1 << 30, "triangle 4: vertex");
    bad(&|s| s.triangles[0].material = 99, "triangle 0: material 99");
    bad(
        &|s| s.materials[0].base_color_texture = Some(5),
        "texture 5 of 1",
    );
    bad(&|s| s.materials[1].emission[0] = -1.0, "emission");
    bad(&|s| s.materials[1].ior = 0.0, "ior");
    bad(&|s| s.materials[2].roughness = 2.0, "roughness");
    bad(&|s| s.textures[0].width = 0, "texture 0: 0x64");
    bad(
        &|s| s.camera.look_at = s.camera.position,
        "position equals look_at",
    );
    bad(&|s| s.camera.vfov_degrees = 180.0, "vfov");
    bad(&|s| s.samples_per_pixel = 0, "samples_per_pixel");
    bad(&|s| s.width = 20000, "image 20000x8");
    // a tile outside the frame
    let e = mesh_blob::encode(
        &cornell(8, 8, 1),
        Tile {
            x0: 4,
            y0: 0,
            w: 5,
            h: 8,
        },
    )
    .unwrap_err();
    assert!(
        matches!(&e, ComputeError::Scene(m) if m.contains("not inside")),
        "{e:?}"
    );
    // more work than the limits allow
    let big = mesh_blob::encode(&cornell(4096, 4096, 4096), Tile::full(4096, 4096)).unwrap();
    assert!(matches!(
        Job::parse(&big, &limits),
        Err(ComputeError::TooLarge(_))
    ));
}

#[test]
fn tiles_assemble_into_the_frame_bit_for_bit() {
    let s = cornell(24, 18, 3);
    let full = mesh_cpu::render(&compile(&s, Tile::full(24, 18))).0;
    let tiles = Tile::grid(24, 18, 3, 2).unwrap();
    assert_eq!(tiles.len(), 6);
    let mut assembled = vec![f32::NAN; full.len()];
    for t in &tiles {
        let part = mesh_cpu::render(&compile(&s, *t)).0;
        for r in 0..t.h as usize {
            for c in 0..t.w as usize {
                let dst = ((t.y0 as usize + r) * 24 + t.x0 as usize + c) * 3;
                let src = (r * t.w as usize + c) * 3;
                assembled[dst..dst + 3].copy_from_slice(&part[src..src + 3]);
            }
        }
    }
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&assembled), bits(&full));
    // with_tile rewrites only the tile
    let blob = mesh_blob::encode(&s, Tile::full(24, 18)).unwrap();
    let t = tiles[4];
    assert_eq!(
        mesh_blob::with_tile(&blob, t).unwrap(),
        mesh_blob::encode(&s, t).unwrap()
    );
    assert!(Tile::grid(4, 4, 5, 1).is_err());
}

#[test]
fn old_render_jobs_keep_spec_1_and_2_and_new_ones_are_spec_3() {
    let json = super::build_input(super::CORNELL_JSON).unwrap();
    assert_eq!(u16::from_le_bytes([json[6], json[7]]), 1);
    let out = crate::run(
        &super::build_input(&super::with_resolution(super::CORNELL_JSON, 8, 8, 1).unwrap())
            .unwrap(),
        &Backend::cpu(),
    )
    .unwrap();
    assert_eq!(out.spec_version, 1);
    assert_eq!(out.bytes.len(), 8 * 8 * 4);
    let mesh = mesh_blob::encode(&cornell(8, 6, 1), Tile::full(8, 6)).unwrap();
    assert_eq!(u16::from_le_bytes([mesh[6], mesh[7]]), 3);
    let out = crate::run(&mesh, &Backend::cpu()).unwrap();
    assert_eq!((out.kernel, out.spec_version), (KernelId::Render, 3));
    assert_eq!(out.bytes.len(), 8 * 6 * 12);
    let old = mesh_blob::encode_spec(&cornell(8, 6, 1), Tile::full(8, 6), 2).unwrap();
    let old_out = crate::run(&old, &Backend::cpu()).unwrap();
    assert_eq!(old_out.spec_version, 2);
    assert_ne!(old_out.bytes, out.bytes, "spec 2 keeps its own shading");
    assert!((1..=3).all(|v| KernelId::Render.supports(v)));
    assert!(!KernelId::Render.supports(4) && !KernelId::Render.supports(0));
    assert!(mesh_blob::encode_spec(&cornell(8, 6, 1), Tile::full(8, 6), 4).is_err());
}

/// The result hashes of fixed mesh scenes: the bits every worker must reproduce.
#[test]
fn mesh_renders_have_golden_hashes() {
    let out = crate::run(
        &mesh_blob::encode(&cornell(32, 24, 4), Tile::full(32, 24)).unwrap(),
        &Backend::cpu(),
    )
    .unwrap();
    let (soup, _) = random_soup(300, 21);
    let soup_out = crate::run(
        &mesh_blob::encode(&soup, Tile::full(8, 8)).unwrap(),
        &Backend::cpu(),
    )
    .unwrap();
    let h = |o: &crate::Output| crate::hash::to_hex(&o.hash());
    println!("cornell {} soup {}", h(&out), h(&soup_out));
    assert_eq!(h(&out), GOLDEN_CORNELL);
    assert_eq!(h(&soup_out), GOLDEN_SOUP);
    // spec 2 jobs posted before spec 3 still give the bits their replicas committed to
    let legacy = |s: &MeshScene, t: Tile| {
        crate::run(
            &mesh_blob::encode_spec(s, t, mesh_blob::SPEC_LEGACY).unwrap(),
            &Backend::cpu(),
        )
        .unwrap()
    };
    assert_eq!(
        h(&legacy(&cornell(32, 24, 4), Tile::full(32, 24))),
        GOLDEN_CORNELL_SPEC2
    );
    assert_eq!(h(&legacy(&soup, Tile::full(8, 8))), GOLDEN_SOUP_SPEC2);
}

const GOLDEN_CORNELL: &str = "cce70215f6f8442a542e4e30116a5b5c4e963bee3b454901fd3bf8b205529035";
const GOLDEN_SOUP: &str = "9bf93c610b85e5fa66455b09bc90ba99c732f1739e88126def289b29a5b4a04f";
const GOLDEN_CORNELL_SPEC2: &str =
    "d5a11e107b963ec6d866b92aa9613434499cd2bcf5ee17b4154821915a73a55e";
const GOLDEN_SOUP_SPEC2: &str = "9b97e06eec0c9c262dc42d86755a37825ce7dbf5055a5c7b475dbe67320861ec";

/// Next-event estimation with MIS converges to the same image as plain path tracing would and
/// is far less noisy: the mean over a region lit only by the small area light is within a few
/// percent at 64 spp against 1024 spp, and the pixel noise at 16 spp is low.
#[test]
fn direct_light_sampling_makes_a_clean_frame() {
    let (w, h) = (24u32, 18u32);
    let reference = mesh_cpu::render(&compile(&cornell(w, h, 512), Tile::full(w, h))).0;
    let low = mesh_cpu::render(&compile(&cornell(w, h, 16), Tile::full(w, h))).0;
    let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    let (mr, ml) = (mean(&reference), mean(&low));
    assert!(mr > 0.05, "the box is lit ({mr})");
    assert!(
        (ml - mr).abs() / mr < 0.1,
        "16 spp mean {ml} vs 512 spp {mr}"
    );
    // relative RMS error per pixel (tone-mapped, as a viewer sees it)
    let tm = |x: f32| ((x / (1.0 + x)).clamp(0.0, 1.0)).sqrt() as f64;
    let rms = (reference
        .iter()
        .zip(&low)
        .map(|(a, b)| (tm(*a) - tm(*b)).powi(2))
        .sum::<f64>()
        / reference.len() as f64)
        .sqrt();
    println!("16 spp: RMS error {rms:.4} (display units, 0..1)");
    assert!(rms < 0.08, "16 spp is too noisy: RMS {rms}");
}

#[test]
fn an_empty_scene_is_background_everywhere() {
    let mut s = cornell(6, 4, 2);
    s.triangles.clear();
    s.background = [0.25, 0.5, 1.0];
    let m = compile(&s, Tile::full(6, 4));
    let (rgb, _) = mesh_cpu::render(&m);
    for p in rgb.chunks(3) {
        assert_eq!(p, [0.25, 0.5, 1.0]);
    }
}

#[test]
fn a_textured_wall_shows_its_texture() {
    // the back wall and the light alone
    let mut s = cornell(32, 32, 1);
    s.max_bounces = 0;
    s.triangles.retain(|t| t.material == 6 || t.material == 3);
    s.materials[6].base_color = [1.0; 3];
    s.background = [0.0; 3];
    let m = compile(&s, Tile::full(32, 32));
    let (rgb, _) = mesh_cpu::render(&m);
    // only the light is visible with no bounces
    assert!(rgb.iter().any(|&x| x == 10.0));
    // with bounces, the checker's two colours differ in brightness across the wall
    s.max_bounces = 1;
    let (rgb, _) = mesh_cpu::render(&compile(&s, Tile::full(32, 32)));
    let row: Vec<f32> = (8..24).map(|x| rgb[(20 * 32 + x) * 3]).collect();
    let (lo, hi) = row
        .iter()
        .fold((f32::MAX, 0.0f32), |(a, b), &v| (a.min(v), b.max(v)));
    assert!(hi > 1.5 * lo, "checker not visible: {row:?}");
}

#[test]
fn materials_map_onto_the_tracer_model() {
    let mut s = cornell(4, 4, 1);
    s.materials.push(MeshMaterial {
        metallic: 0.6,
        ..MeshMaterial::default()
    });
    s.materials.push(MeshMaterial {
        transmission: 0.6,
        metallic: 1.0,
        ..MeshMaterial::default()
    });
    s.materials.push(MeshMaterial {
        metallic: 0.5,
        ..MeshMaterial::default()
    });
    s.triangles.push(Triangle {
        v: [0, 1, 2],
        material: 7,
    });
    use super::mesh_blob::mat_kind::{
        DIFFUSE, GLASS, METAL, PRINCIPLED as P, PRINCIPLED_GLASS as PG,
    };
    // spec 2 jobs keep the three kinds; spec 3 shades every opaque surface with the
    // Principled BSDF (metallic a weight, not a switch)
    let legacy = mesh_blob::encode_spec(&s, Tile::full(4, 4), mesh_blob::SPEC_LEGACY).unwrap();
    let old = mesh_blob::parse_spec(&legacy[8..], mesh_blob::SPEC_LEGACY, u64::MAX).unwrap();
    assert_eq!(
        &old.mat_kind[4..],
        &[METAL, GLASS, DIFFUSE, METAL, GLASS, DIFFUSE]
    );
    let m = compile(&s, Tile::full(4, 4));
    assert_eq!(&m.mat_kind[4..], &[P, PG, P, P, PG, P]);
    let md = |i: usize| &m.mat[i * MAT_STRIDE..(i + 1) * MAT_STRIDE];
    // metallic, α = max(roughness², 1e-3), F0 of the ior and 1/(1 − F0)
    assert_eq!((md(7)[8], md(7)[9]), (0.6, 1.0));
    assert!((md(7)[10] - 0.04).abs() < 1e-7 && (md(7)[11] - 1.0 / 0.96).abs() < 1e-6);
    // lights: the two triangles of the area light, equal halves
    assert_eq!(m.light_tri.len(), 2);
    assert_eq!(m.light_cdf, [0.5, 1.0]);
}

/// Issue 29: 20 000 coincident triangles (which no split separates) ran 1 800-3 200 times the
/// render estimate, which counted BVH levels only. The estimate now counts the BVH's expected
/// work per ray, which grows with the coincident triangles.
#[test]
fn the_render_estimate_sees_coincident_triangles() {
    let (mut s, _) = random_soup(64, 5);
    let honest = crate::Job::RenderMesh(crate::render::MeshJob {
        scene: compile(&s, Tile::full(8, 8)),
        spec: mesh_blob::SPEC,
    })
    .flops();
    // the same soup plus 2 000 copies of one triangle across the scene's box
    let (lo, hi) = s
        .positions
        .iter()
        .fold(([f32::MAX; 3], [f32::MIN; 3]), |(lo, hi), p| {
            (
                [0, 1, 2].map(|k| lo[k].min(p[k])),
                [0, 1, 2].map(|k| hi[k].max(p[k])),
            )
        });
    let base = s.positions.len() as u32;
    s.positions
        .extend([lo, [hi[0], lo[1], lo[2]], [lo[0], hi[1], hi[2]]]);
    let mut big = s.triangles[0].clone();
    big.v = [base, base + 1, base + 2];
    s.triangles.extend(std::iter::repeat_n(big, 2000));
    let stacked = crate::Job::RenderMesh(crate::render::MeshJob {
        scene: compile(&s, Tile::full(8, 8)),
        spec: mesh_blob::SPEC,
    })
    .flops();
    let levels = |n: u64| (n + 1).ilog2() as u64 + 1;
    let by_levels = levels(2064) as f64 / levels(64) as f64;
    println!("estimate: honest {honest}, with 2 000 coincident triangles {stacked} (levels alone: x{by_levels:.1})");
    assert!(
        stacked as f64 > 20.0 * honest as f64,
        "{stacked} vs {honest}: the coincident triangles must weigh"
    );
}

/// Issue 29: render spec 2 never checked its output: a 200-byte empty scene asking for a 4096²
/// tile peaked at 386 MiB under a 64 MiB limit. The tile's peak is checked before anything is
/// allocated.
#[test]
fn a_tile_whose_output_passes_the_memory_limit_is_refused() {
    let limits = crate::Limits {
        max_host_bytes: 64 << 20,
        max_render_segments: u64::MAX,
        ..crate::Limits::default()
    };
    let input = mesh_blob::encode(&cornell(4096, 4096, 1), Tile::full(4096, 4096)).unwrap();
    match crate::render::MeshJob::parse(&input, &limits) {
        Err(ComputeError::TooLarge(m)) => assert!(m.contains("4096x4096 tile"), "{m}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    // a tile of 1024² (36 MiB at its peak) fits
    let input = mesh_blob::encode(&cornell(1024, 1024, 1), Tile::full(1024, 1024)).unwrap();
    crate::render::MeshJob::parse(&input, &limits).unwrap();
}
