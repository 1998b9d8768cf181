//! GPU-vs-CPU equality for every kernel. Without a CUDA device every test prints
//! `SKIPPED: no CUDA device: <reason>` to stderr and returns (it never passes silently).

use std::sync::Arc;

use tessera_compute::cuda::CudaDevice;
use tessera_compute::gemm::{self, cpu};
use tessera_compute::inference;
use tessera_compute::render::{self, scene::SceneFile};
use tessera_compute::testcases::{
    canonical_bits, random_models, special_f32_values, INFERENCE_BATCHES, MODEL_BATCH, ODD_SIZES,
    RENDER_CASES, SPECIAL_SHAPE,
};
use tessera_compute::{run, Backend, ComputeError, DevicePreference, Limits};

fn device() -> Option<Arc<CudaDevice>> {
    match CudaDevice::new(0) {
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
