//! GPU-vs-CPU equality for every kernel. Without a CUDA device every test prints
//! `SKIPPED: no CUDA device: <reason>` to stderr and returns (it never passes silently).

use std::sync::Arc;

use tessera_compute::cuda::CudaDevice;
use tessera_compute::embed::{self, cuda::embed_device_bytes};
use tessera_compute::gemm::{self, cpu};
use tessera_compute::inference;
use tessera_compute::render::{self, scene::SceneFile};
use tessera_compute::testcases::{
    canonical_bits, random_embed_model, random_models, random_token_seqs, special_f32_values,
    EmbedShape, EMBED_CASES, EMBED_WIDE, INFERENCE_BATCHES, MODEL_BATCH, ODD_SIZES, RENDER_CASES,
    SPECIAL_SHAPE,
};
use tessera_compute::{run, Backend, ComputeError, DevicePreference, Job, Limits};

fn device() -> Option<Arc<CudaDevice>> {
    match tessera_compute::selftest::open_checked(0) {
        Ok(d) => {
            eprintln!(
                "CUDA device: {} ({}), tensor cores: {}",
                d.info().name,
                d.arch(),
                d.uses_tensor_cores()
            );
            Some(d)
        }
        Err(e) => {
            // Written straight to the process's stderr (not through `eprintln!`, which the test
            // harness captures) so the skip is visible in a normal `cargo test` run.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED: no CUDA device: {e}");
            None
        }
    }
}

#[test]
fn gemm_f32_gpu_equals_cpu() {
    let Some(dev) = device() else { return };
    let limits = Limits::default();
    for (i, &(m, n, k)) in ODD_SIZES.iter().enumerate() {
        let (a, b) = gemm::random_f32(m as u32, n as u32, k as u32, 1000 + i as u64);
        let want = cpu::gemm_f32(m, n, k, &a, &b);
        let got = dev.gemm_f32(m, n, k, &a, &b, &limits).unwrap();
        assert_eq!(
            canonical_bits(&got),
            canonical_bits(&want),
            "f32 {m}x{n}x{k}"
        );
    }
    let (m, n, k) = SPECIAL_SHAPE;
    let a = special_f32_values(m * k, 5);
    let b = special_f32_values(k * n, 6);
    let want = cpu::gemm_f32(m, n, k, &a, &b);
    let got = dev.gemm_f32(m, n, k, &a, &b, &limits).unwrap();
    assert_eq!(
        canonical_bits(&got),
        canonical_bits(&want),
        "f32 special values"
    );
}

#[test]
fn gemm_i8_gpu_equals_cpu_on_both_int8_paths() {
    let Some(dev) = device() else { return };
    let limits = Limits::default();
    let tc = dev.uses_tensor_cores();
    for mma in [true, false] {
        dev.set_tensor_cores(mma);
        if mma && !dev.uses_tensor_cores() {
            eprintln!("tensor-core path not available on this device; dp4a only");
            continue;
        }
        for (i, &(m, n, k)) in ODD_SIZES.iter().enumerate() {
            let (a, b) = gemm::random_i8(m as u32, n as u32, k as u32, 2000 + i as u64);
            let want = cpu::gemm_i8(m, n, k, &a, &b);
            let got = dev.gemm_i8(m, n, k, &a, &b, &limits).unwrap();
            assert_eq!(got, want, "i8 {m}x{n}x{k} mma={mma}");
        }
        // Overflowing accumulation wraps identically.
        let k = 140_001;
        let a = vec![-128i8; 3 * k];
        let b = vec![-128i8; k * 2];
        let want = cpu::gemm_i8(3, 2, k, &a, &b);
        assert_eq!(dev.gemm_i8(3, 2, k, &a, &b, &limits).unwrap(), want);
    }
    dev.set_tensor_cores(tc);
}

#[test]
fn render_gpu_equals_cpu() {
    let Some(dev) = device() else { return };
    for (json, w, h, spp) in RENDER_CASES {
        let text = render::with_resolution(json, w, h, spp).unwrap();
        let scene = SceneFile::from_json(text.as_bytes())
            .unwrap()
            .validate_and_compile()
            .unwrap();
        let (want, rays) = render::cpu::render(&scene);
        let got = dev.render(&scene).unwrap();
        assert_eq!(got.rgba, want, "render {w}x{h}x{spp}");
        assert_eq!(got.rays, rays);
    }
}

#[test]
fn mesh_render_gpu_equals_cpu() {
    use render::mesh_blob::{self, Tile};
    use render::{mesh_cpu, mesh_scenes};
    let Some(dev) = device() else { return };
    let mut empty = mesh_scenes::cornell(5, 3, 2);
    empty.triangles.clear();
    let cases = [
        (
            "cornell",
            mesh_scenes::cornell(96, 72, 8),
            Tile::full(96, 72),
        ),
        (
            "cornell tile",
            mesh_scenes::cornell(96, 72, 4),
            Tile {
                x0: 17,
                y0: 9,
                w: 41,
                h: 50,
            },
        ),
        (
            "soup",
            mesh_scenes::random_soup(3000, 8).0,
            Tile::full(8, 8),
        ),
        ("empty", empty, Tile::full(5, 3)),
        (
            "principled",
            mesh_scenes::principled_mix(96, 72, 8),
            Tile::full(96, 72),
        ),
        (
            "sky",
            mesh_scenes::sky_lit(96, 72, 8, false),
            Tile::full(96, 72),
        ),
        (
            "sky and lights",
            mesh_scenes::sky_lit(96, 72, 8, true),
            Tile::full(96, 72),
        ),
    ];
    for (name, mut scene, tile) in cases {
        scene.width = scene.width.max(tile.x0 + tile.w);
        scene.height = scene.height.max(tile.y0 + tile.h);
        // spec 3 (Principled) and spec 2 (the older kinds, still run for old jobs)
        let specs: &[u16] = if scene.environment.is_some() {
            &[mesh_blob::SPEC]
        } else {
            &[mesh_blob::SPEC, mesh_blob::SPEC_LEGACY]
        };
        for &spec in specs {
            let blob = mesh_blob::encode_spec(&scene, tile, spec).unwrap();
            let m = mesh_blob::parse_spec(&blob[8..], spec, u64::MAX).unwrap();
            let (want, rays) = mesh_cpu::render(&m);
            let got = dev.render_mesh(&m).unwrap();
            let want_bytes: Vec<u8> = want.iter().flat_map(|v| v.to_le_bytes()).collect();
            assert_eq!(got.bytes, want_bytes, "mesh render {name}, spec {spec}");
            assert_eq!(got.rays, rays, "{name}, spec {spec}: segments");
        }
    }
}

#[test]
fn inference_gpu_equals_cpu() {
    let Some(dev) = device() else { return };
    let limits = Limits::default();
    let model = inference::builtin_model();
    for batch in INFERENCE_BATCHES {
        let (x, _) = inference::spiral_batch(batch * 3, batch as u64);
        let rows = x.len() / 2;
        assert_eq!(
            dev.mlp_forward(model, rows, &x, &limits).unwrap(),
            inference::cpu::forward(model, rows, &x)
        );
    }
    for (model, x) in random_models(77) {
        assert_eq!(
            dev.mlp_forward(&model, MODEL_BATCH, &x, &limits).unwrap(),
            inference::cpu::forward(&model, MODEL_BATCH, &x)
        );
    }
}

#[test]
fn job_hashes_match_through_the_public_api() {
    let Some(_dev) = device() else { return };
    let gpu = Backend::select(DevicePreference::Cuda).unwrap();
    let cpu_b = Backend::cpu();
    let inputs = vec![
        gemm::build_i8_input(131, 77, 203, 1).unwrap(),
        gemm::build_f32_input(131, 77, 203, 2).unwrap(),
        render::build_input(&render::with_resolution(render::CORNELL_JSON, 40, 30, 4).unwrap())
            .unwrap(),
        inference::build_builtin_input(999, 3).unwrap(),
    ];
    for input in inputs {
        let a = run(&input, &gpu).unwrap();
        let b = run(&input, &cpu_b).unwrap();
        assert_eq!(a.hash(), b.hash(), "{}", a.kernel);
    }
}

#[test]
fn absurd_jobs_fail_cleanly_on_the_gpu() {
    let Some(dev) = device() else { return };
    // More than the device holds: refused by the VRAM check before any allocation.
    let need = dev.info().vram_bytes.saturating_mul(2);
    let err = dev.check_vram(need, &Limits::default()).unwrap_err();
    assert!(
        matches!(err, ComputeError::OutOfDeviceMemory { .. }),
        "{err}"
    );
    // A GEMM whose buffers exceed the VRAM (host limits lifted) fails with an error.
    let side = ((dev.info().vram_bytes / 4) as f64).sqrt() as usize + 1024;
    let big = vec![0i8; side * 1024];
    let e = dev.gemm_i8(
        side,
        side,
        1024,
        &big,
        &big[..1024 * side],
        &Limits::default(),
    );
    assert!(e.is_err(), "an over-VRAM GEMM must be refused");
}

#[test]
fn embed_gpu_equals_cpu() {
    let Some(dev) = device() else { return };
    let limits = Limits::default();
    // The emulator's cases: hidden sizes off every tile, 1 and 3 layers, one-token batches,
    // lengths 1 to the maximum in one batch, saturating softmax, full attention tiles.
    for (i, (shape, lens)) in EMBED_CASES.iter().enumerate() {
        let m = random_embed_model(shape, 100 + i as u64);
        let seqs = random_token_seqs(shape.vocab, lens, 200 + i as u64);
        let got = dev.embed_forward(&m, &seqs, &limits).unwrap();
        let h = shape.hidden;
        assert_eq!(got.len(), seqs.len() * h);
        for (j, s) in seqs.iter().enumerate() {
            assert_eq!(
                canonical_bits(&got[j * h..(j + 1) * h]),
                canonical_bits(&embed::cpu::embed_one(&m, s)),
                "case {i}, sequence {j}"
            );
        }
    }
    // MiniLM-shaped, 2 layers, 40 sequences of 1 to 512 tokens in one batch (the batched CPU
    // path, itself bit-identical to embed_one by the CPU tests).
    let shape = EmbedShape {
        layers: 2,
        positions: 512,
        ..EMBED_WIDE
    };
    let m = random_embed_model(&shape, 5);
    let mut lens: Vec<usize> = (0..37).map(|i| 1 + (i * 97) % 300).collect();
    lens.extend([512, 1, 128]);
    let seqs = random_token_seqs(shape.vocab, &lens, 6);
    let got = dev.embed_forward(&m, &seqs, &limits).unwrap();
    assert_eq!(
        canonical_bits(&got),
        canonical_bits(&embed::cpu::embed_batch(&m, &seqs))
    );
    assert!(got.iter().all(|v| v.is_finite()));
    // Through the public API: the job's result hash is the CPU's.
    let m = std::sync::Arc::new(m);
    let gpu = Backend::select(DevicePreference::Cuda).unwrap();
    let blob = embed::encode_input(&[7; 32], "test://model", &seqs[..8]).unwrap();
    let job = Job::parse(&blob, &limits)
        .unwrap()
        .bind_model(m, &limits)
        .unwrap();
    assert_eq!(
        job.run(&gpu).unwrap().hash(),
        job.run(&Backend::cpu()).unwrap().hash()
    );
}

#[test]
fn embed_batches_that_do_not_fit_are_refused_cleanly() {
    let Some(dev) = device() else { return };
    // hidden 1024, intermediate 4096: about 28 KiB of activations per token, so a batch one
    // VRAM's worth of tokens long is refused before anything is allocated.
    let shape = EmbedShape {
        hidden: 1024,
        heads: 16,
        layers: 1,
        inter: 4096,
        positions: 512,
        vocab: 61,
        scale: 0.4,
    };
    let m = random_embed_model(&shape, 1);
    let per_seq =
        embed_device_bytes(&m.config, &[512, 512]) - embed_device_bytes(&m.config, &[512]);
    let n = (dev.info().vram_bytes / per_seq + 1) as usize;
    let seqs = vec![vec![1u32; 512]; n];
    assert!(embed_device_bytes(&m.config, &vec![512; n]) > dev.info().vram_bytes);
    match dev.embed_forward(&m, &seqs, &Limits::default()) {
        Err(ComputeError::OutOfDeviceMemory { .. }) | Err(ComputeError::TooLarge(_)) => {}
        other => panic!("expected a refusal, got {:?}", other.map(|v| v.len())),
    }
    // The device is unharmed: a small batch still gives the CPU's bits.
    let small = &seqs[..2];
    assert_eq!(
        canonical_bits(&dev.embed_forward(&m, small, &Limits::default()).unwrap()),
        canonical_bits(&embed::cpu::embed_batch(&m, small))
    );
}

/// The train kernel on the device (every pass but the pooling and the loss, none falling back
/// to the CPU): the CPU's bits (losses, weights, Adam's moments: the whole output).
#[test]
fn train_gpu_equals_cpu() {
    if device().is_none() {
        return;
    }
    use tessera_compute::testcases::{random_embed_model_blob, EmbedShape};
    use tessera_compute::train::{self, Checkpoint, Hyper};
    let limits = Limits::default();
    let shape = EmbedShape {
        vocab: 500,
        ..EmbedShape::bert(64, 4, 2, 128)
    };
    let base = random_embed_model_blob(&shape, 3);
    let base = Arc::new(Checkpoint::from_model_blob(&base).unwrap());
    let steps: Vec<Vec<Vec<u32>>> = (0..3)
        .map(|s| random_token_seqs(500, &[3, 9, 17, 33, 5, 12, 40, 7], 10 + s))
        .collect();
    let h = Hyper {
        lr: 1e-3,
        warmup: 1,
        ..Hyper::defaults(3)
    };
    let blob = train::encode_input(&[0; 32], "x", 0, &h, 4, &steps).unwrap();
    let job = tessera_compute::Job::parse(&blob, &limits)
        .unwrap()
        .bind_base(base, &limits)
        .unwrap();
    let cpu = job.run(&Backend::cpu()).unwrap();
    let before = train::device_fallbacks();
    let gpu = job
        .run(&Backend::select(DevicePreference::Cuda).unwrap())
        .unwrap();
    assert_eq!(
        train::device_fallbacks(),
        before,
        "train: a pass fell back to the CPU (see the log)"
    );
    assert!(
        cpu.bytes == gpu.bytes,
        "train: the device's checkpoint differs from the CPU's"
    );
    assert_eq!(cpu.hash(), gpu.hash());
}

/// The generate kernel on the device (every pass but the gather and the choice of a token,
/// none falling back to the CPU): the CPU's completions, prefilled and decoded, sampled.
#[test]
fn generate_gpu_equals_cpu() {
    if device().is_none() {
        return;
    }
    use tessera_compute::generate::{self, Arch, DecoderModel, Sampling};
    use tessera_compute::testcases::decoder::{random_decoder_blob, DecoderShape, Dtype};
    let limits = Limits::default();
    let mut prompts = random_token_seqs(97, &[3, 17, 1, 40], 5);
    prompts.push(vec![1]);
    for arch in [Arch::Llama, Arch::Qwen2, Arch::Mistral] {
        let blob = random_decoder_blob(&DecoderShape::small(arch, 97), 6, Dtype::BF16);
        let model = Arc::new(DecoderModel::parse(&blob).unwrap());
        let sampling = Sampling {
            temperature: 0.8,
            top_k: 30,
            top_p: 0.9,
            repetition_penalty: 1.1,
            seed: 9,
        };
        let input = generate::encode_input(&[0; 32], "x", 24, &sampling, &[], 0, &prompts).unwrap();
        let job = tessera_compute::Job::parse(&input, &limits)
            .unwrap()
            .bind_decoder(model, &limits)
            .unwrap();
        let cpu = job.run(&Backend::cpu()).unwrap();
        let before = tessera_compute::device::device_fallbacks();
        let gpu = job
            .run(&Backend::select(DevicePreference::Cuda).unwrap())
            .unwrap();
        assert_eq!(
            tessera_compute::device::device_fallbacks(),
            before,
            "generate: a pass fell back to the CPU (see the log)"
        );
        assert!(
            cpu.bytes == gpu.bytes,
            "{arch:?}: the device's completions differ"
        );
        assert_eq!(cpu.hash(), gpu.hash());
    }
}
