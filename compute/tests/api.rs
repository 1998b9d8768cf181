use tessera_compute::hash::{to_hex, RESULT_DOMAIN_TAG};
use tessera_compute::{
    gemm, result_hash, run, Backend, BackendKind, DevicePreference, KernelId, OutputMeta,
};

#[test]
fn result_hash_is_blake3_of_the_canonical_encoding() {
    let out = b"hello";
    let mut enc = Vec::new();
    enc.extend_from_slice(b"tessera-result-v1");
    enc.extend_from_slice(&3u16.to_le_bytes());
    enc.extend_from_slice(&1u16.to_le_bytes());
    enc.extend_from_slice(&5u64.to_le_bytes());
    enc.extend_from_slice(out);
    assert_eq!(RESULT_DOMAIN_TAG, b"tessera-result-v1");
    assert_eq!(
        result_hash(KernelId::Render, 1, out),
        *blake3::hash(&enc).as_bytes()
    );
    // Kernel id, version and length are all bound.
    assert_ne!(
        result_hash(KernelId::Render, 1, out),
        result_hash(KernelId::GemmI8, 1, out)
    );
    assert_ne!(
        result_hash(KernelId::Render, 1, out),
        result_hash(KernelId::Render, 2, out)
    );
    assert_eq!(
        to_hex(&result_hash(KernelId::GemmF32, 1, b"")),
        to_hex(&result_hash(KernelId::GemmF32, 1, &[]))
    );
}

#[test]
fn kernel_ids_round_trip() {
    for k in KernelId::ALL {
        assert_eq!(KernelId::from_u16(k.as_u16()), Some(k));
        assert_eq!(KernelId::from_name(k.name()), Some(k));
        // the newest spec: render has three (1: JSON scenes, 2: mesh scenes, 3: mesh scenes
        // with the Principled BSDF and an environment), the others one
        let newest = if k == KernelId::Render { 3 } else { 1 };
        assert_eq!(k.spec_version(), newest, "{k}");
        assert!((1..=newest).all(|v| k.supports(v)) && !k.supports(0) && !k.supports(newest + 1));
    }
    assert_eq!(KernelId::from_u16(0), None);
    assert_eq!(KernelId::from_u16(5), Some(KernelId::Embed));
    assert_eq!(KernelId::from_u16(6), Some(KernelId::Train));
    assert_eq!(KernelId::from_u16(7), Some(KernelId::Generate));
    assert_eq!(KernelId::from_u16(8), None);
}

#[test]
fn device_preference_parsing() {
    assert_eq!(
        "cuda".parse::<DevicePreference>().unwrap(),
        DevicePreference::Cuda
    );
    assert_eq!(
        "CPU".parse::<DevicePreference>().unwrap(),
        DevicePreference::Cpu
    );
    assert_eq!(
        "auto".parse::<DevicePreference>().unwrap(),
        DevicePreference::Auto
    );
    assert_eq!(
        "".parse::<DevicePreference>().unwrap(),
        DevicePreference::Auto
    );
    assert!("tpu".parse::<DevicePreference>().is_err());
}

#[test]
fn cpu_backend_reports_itself() {
    let b = Backend::select(DevicePreference::Cpu).unwrap();
    let info = b.info();
    assert_eq!(info.kind, BackendKind::Cpu);
    assert_eq!(info.compute_capability, (0, 0));
    assert!(info.cpu_threads >= 1);
    assert!(!info.name.is_empty());
    let json = serde_json::to_string(info).unwrap();
    assert!(json.contains("\"kind\":\"cpu\""), "{json}");
}

#[test]
fn auto_selection_never_fails_and_explains_a_fallback() {
    let b = Backend::select(DevicePreference::Auto).unwrap();
    match b.kind() {
        BackendKind::Cpu => {
            let reason = b
                .fallback_reason()
                .expect("a CPU fallback carries its reason");
            eprintln!("auto selected the CPU: {reason}");
            assert!(!reason.is_empty());
            // Asking for CUDA explicitly is then an error, not a panic.
            assert!(Backend::select(DevicePreference::Cuda).is_err());
        }
        BackendKind::Cuda => assert!(b.fallback_reason().is_none()),
    }
}

#[test]
fn output_carries_shape() {
    let out = run(&gemm::build_i8_input(3, 4, 5, 1).unwrap(), &Backend::cpu()).unwrap();
    assert_eq!(out.kernel, KernelId::GemmI8);
    assert_eq!(out.meta, OutputMeta::Matrix { rows: 3, cols: 4 });
    assert_eq!(out.hash(), result_hash(KernelId::GemmI8, 1, &out.bytes));
    assert!(out
        .save_png(std::path::Path::new("/nonexistent/x.png"))
        .is_err());
}
