mod common;

use common::{assert_golden, run_cpu};
use tessera_compute::render::{self, cpu, scene::SceneFile, RenderJob};
use tessera_compute::{run, Backend, ComputeError, Limits, OutputMeta};

fn small(json: &str, w: u32, h: u32, spp: u32) -> Vec<u8> {
    render::build_input(&render::with_resolution(json, w, h, spp).unwrap()).unwrap()
}

#[test]
fn golden_hashes() {
    let out = run_cpu(&small(render::CORNELL_JSON, 24, 18, 4));
    assert_eq!(
        out.meta,
        OutputMeta::Image {
            width: 24,
            height: 18
        }
    );
    assert_eq!(out.bytes.len(), 24 * 18 * 4);
    assert_golden("render cornell 24x18x4", &out, GOLDEN_CORNELL);
    let out = run_cpu(&small(render::SPHERES_JSON, 21, 11, 3));
    assert_golden("render spheres 21x11x3", &out, GOLDEN_SPHERES);
}

const GOLDEN_CORNELL: &str = "abf4c05a5407a9cb3cc85d1a02d63ef16d90f41ccf1270621418b7bea72902b4";
const GOLDEN_SPHERES: &str = "ab8b6a022199a6aa722ea7f751efa6212d822a062ddf38ecbccad05b927e2d10";

#[test]
fn rendering_is_deterministic_and_pixel_independent() {
    let input = small(render::SPHERES_JSON, 17, 9, 2);
    let a = run_cpu(&input);
    let b = run_cpu(&input);
    assert_eq!(a, b);
    // Every pixel depends only on its own coordinates: rendering it alone gives the same bytes.
    let scene = SceneFile::from_json(
        render::with_resolution(render::SPHERES_JSON, 17, 9, 2)
            .unwrap()
            .as_bytes(),
    )
    .unwrap()
    .validate_and_compile()
    .unwrap();
    for (px, py) in [(0u32, 0u32), (16, 8), (5, 3)] {
        let (rgba, _) = cpu::render_pixel(&scene, px, py);
        let o = ((py * 17 + px) * 4) as usize;
        assert_eq!(&a.bytes[o..o + 4], &rgba);
    }
}

#[test]
fn image_is_not_blank_and_png_is_written() {
    let out = run_cpu(&small(render::CORNELL_JSON, 48, 48, 16));
    let lit = out
        .bytes
        .chunks(4)
        .filter(|p| p[0] > 20 || p[1] > 20)
        .count();
    assert!(lit > 48 * 48 / 2, "only {lit} lit pixels");
    assert!(out.bytes.chunks(4).all(|p| p[3] == 255));
    let dir = std::env::temp_dir().join(format!("tessera-render-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cornell.png");
    out.save_png(&path).unwrap();
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (48, 48));
    assert_eq!(&buf[..info.buffer_size()], &out.bytes[..]);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn scene_err(json: &str) -> ComputeError {
    let mut blob = b"TSKI".to_vec();
    blob.extend_from_slice(&3u16.to_le_bytes());
    blob.extend_from_slice(&1u16.to_le_bytes());
    blob.extend_from_slice(&(json.len() as u32).to_le_bytes());
    blob.extend_from_slice(json.as_bytes());
    run(&blob, &Backend::cpu()).expect_err("scene must be rejected")
}

fn edit(path: &str, value: serde_json::Value) -> String {
    let mut v: serde_json::Value = serde_json::from_str(render::CORNELL_JSON).unwrap();
    let mut cur = &mut v;
    let parts: Vec<&str> = path.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        cur = match p.parse::<usize>() {
            Ok(i) => &mut cur[i],
            Err(_) => &mut cur[*p],
        };
    }
    let last = parts[parts.len() - 1];
    match last.parse::<usize>() {
        Ok(i) => cur[i] = value,
        Err(_) => cur[last] = value,
    }
    v.to_string()
}

#[test]
fn bad_scenes_are_rejected() {
    use serde_json::json;
    let cases: Vec<(String, &str)> = vec![
        ("not json at all".into(), "parse"),
        ("{\"width\": 4}".into(), "missing fields"),
        (edit("width", json!(0)), "zero width"),
        (edit("height", json!(100000)), "huge height"),
        (edit("samples_per_pixel", json!(0)), "zero spp"),
        (edit("max_bounces", json!(1000)), "too many bounces"),
        (edit("camera.vfov_degrees", json!(0.0)), "zero fov"),
        (edit("camera.vfov_degrees", json!(180.0)), "180 fov"),
        (
            edit("camera.look_at", json!([0.0, 1.0, 3.4])),
            "eye == target",
        ),
        (
            edit("camera.up", json!([0.0, 0.0, 1.0])),
            "up parallel to view",
        ),
        (edit("objects.7.radius", json!(-1.0)), "negative radius"),
        (edit("objects.7.material", json!(99)), "material index"),
        (
            edit("objects.0.normal", json!([0.0, 0.0, 0.0])),
            "zero normal",
        ),
        (edit("objects.0.type", json!("torus")), "unknown object"),
        (
            edit("materials.0.type", json!("velvet")),
            "unknown material",
        ),
        (edit("materials.4.fuzz", json!(2.0)), "fuzz > 1"),
        (edit("materials.5.ior", json!(0.0)), "zero ior"),
        (
            edit("materials.0.albedo", json!([1.0, -1.0, 0.0])),
            "negative albedo",
        ),
        (
            edit("objects.7.center", json!([1e39, 0.0, 0.0])),
            "overflowing coordinate",
        ),
        (edit("materials", json!([])), "no materials"),
        (edit("extra", json!(1)), "unknown field"),
    ];
    for (json, what) in cases {
        let e = scene_err(&json);
        assert!(matches!(e, ComputeError::Scene(_)), "{what}: {e}");
    }
    // Invalid UTF-8 / truncated blob.
    let good = small(render::CORNELL_JSON, 4, 4, 1);
    let e = run(&good[..good.len() - 10], &Backend::cpu()).unwrap_err();
    assert!(matches!(e, ComputeError::Truncated { .. }), "{e}");
    // Absurd work for the configured limits.
    let input = small(render::CORNELL_JSON, 16_384, 16_384, 65_536);
    let e = run(&input, &Backend::cpu()).unwrap_err();
    assert!(matches!(e, ComputeError::TooLarge(_)), "{e}");
    let limits = Limits {
        max_render_segments: 1000,
        ..Limits::default()
    };
    let e = RenderJob::parse(&small(render::CORNELL_JSON, 32, 32, 4), &limits).unwrap_err();
    assert!(matches!(e, ComputeError::TooLarge(_)), "{e}");
}

#[test]
fn shipped_scene_files_parse() {
    for (name, text) in [
        ("cornell", render::CORNELL_JSON),
        ("spheres", render::SPHERES_JSON),
    ] {
        let s = SceneFile::from_json(text.as_bytes()).unwrap();
        s.validate_and_compile()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes/cornell.json");
    let blob = render::build_input_from_file(&path).unwrap();
    assert!(Backend::cpu().limits().max_input_bytes > blob.len() as u64);
}
