//! Start-up self-test: every GPU kernel is run on small random inputs with odd sizes and
//! compared byte for byte with the CPU reference (above the kernels it runs; the CUDA layer
//! below them only opens the device). A tensor-core int8 mismatch disables the
//! `mma.sync` path (dp4a is used instead); any other mismatch refuses the device, so a
//! worker never posts a hash its GPU cannot reproduce.

use std::sync::Arc;

use crate::cuda::CudaDevice;
use crate::error::{ComputeError, Result};
use crate::gemm::{self, cpu};
use crate::limits::Limits;

const SIZES: [(usize, usize, usize); 4] = [(1, 1, 1), (37, 53, 71), (130, 129, 67), (5, 200, 300)];

fn check_i8(dev: &CudaDevice) -> Result<bool> {
    let limits = Limits::default();
    for (i, &(m, n, k)) in SIZES.iter().enumerate() {
        let (a, b) = gemm::random_i8(m as u32, n as u32, k as u32, 100 + i as u64);
        let want = cpu::gemm_i8_naive(m, n, k, &a, &b);
        let got = dev.gemm_i8(m, n, k, &a, &b, &limits)?;
        if got != want {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Runs the self-test; see the module docs.
pub fn run(dev: &Arc<CudaDevice>) -> Result<()> {
    let limits = Limits::default();
    for (i, &(m, n, k)) in SIZES.iter().enumerate() {
        let (a, b) = gemm::random_f32(m as u32, n as u32, k as u32, 200 + i as u64);
        let want = cpu::gemm_f32_naive(m, n, k, &a, &b);
        let got = dev.gemm_f32(m, n, k, &a, &b, &limits)?;
        let same = want.len() == got.len()
            && want
                .iter()
                .zip(&got)
                .all(|(x, y)| x.to_bits() == y.to_bits());
        if !same {
            return Err(ComputeError::SelfTest(format!(
                "f32 GEMM {m}x{n}x{k} differs from the CPU reference"
            )));
        }
    }
    if dev.uses_tensor_cores() && !check_i8(dev)? {
        tracing::warn!("int8 mma.sync kernel differs from the CPU reference; using dp4a");
        dev.set_tensor_cores(false);
    }
    if !dev.uses_tensor_cores() && !check_i8(dev)? {
        return Err(ComputeError::SelfTest(
            "int8 GEMM (dp4a) differs from the CPU reference".into(),
        ));
    }
    let text = crate::render::with_resolution(crate::render::CORNELL_JSON, 19, 13, 2)?;
    let scene = crate::render::SceneFile::from_json(text.as_bytes())?.validate_and_compile()?;
    let want = crate::render::cpu::render(&scene);
    let got = dev.render(&scene)?;
    if got.rgba != want.0 || got.rays != want.1 {
        return Err(ComputeError::SelfTest(
            "path tracer differs from the CPU reference".into(),
        ));
    }
    check_encoder(dev, &limits)?;
    check_decoder(dev, &limits)?;
    tracing::info!(
        tensor_cores = dev.uses_tensor_cores(),
        "CUDA self-test passed (GEMM f32/int8, render, embed, train, generate)"
    );
    Ok(())
}

/// A small decoder (grouped-query attention, q/k/v biases) prefills two prompts and decodes a
/// token each on the device with the CPU's logits bits, no pass falling back.
fn check_decoder(dev: &CudaDevice, limits: &Limits) -> Result<()> {
    use crate::generate::forward::{forward, KvCache, Logits, Path};
    use crate::generate::{Arch, DecoderModel};
    use crate::testcases::decoder::{random_decoder_blob, DecoderShape, Dtype};
    let s = DecoderShape::small(Arch::Qwen2, 40);
    let m = DecoderModel::parse(&random_decoder_blob(&s, 2, Dtype::F32))?;
    let run = |path: Path<'_>| {
        let mut c = vec![KvCache::new(s.layers); 2];
        let (a, b) = ([3u32, 9, 1, 30, 7], [5u32]);
        let mut out = forward(path, &m, &mut c, &[(0, &a[..]), (1, &b[..])], Logits::All);
        out.extend(forward(
            path,
            &m,
            &mut c,
            &[(0, &[4][..]), (1, &[6][..])],
            Logits::All,
        ));
        out.concat()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<u32>>()
    };
    let launch = crate::cuda::launch::DeviceLaunch { dev, limits };
    let before = crate::device::device_fallbacks();
    let got = run(Path::Device(&launch));
    if crate::device::device_fallbacks() != before {
        return Err(ComputeError::SelfTest(
            "a decoder pass failed on the device (see the log)".into(),
        ));
    }
    if got != run(Path::Plain) {
        return Err(ComputeError::SelfTest(
            "the decoder differs from the CPU reference".into(),
        ));
    }
    Ok(())
}

/// A small encoder (width 40: ragged warps) embeds and takes a training step on the device
/// with the CPU's bits, no pass falling back.
fn check_encoder(dev: &CudaDevice, limits: &Limits) -> Result<()> {
    use crate::testcases::{random_embed_model, random_token_seqs, EmbedShape};
    use crate::train::{self, Hyper, Path};
    let shape = EmbedShape {
        positions: 16,
        vocab: 40,
        ..EmbedShape::bert(40, 4, 1, 72)
    };
    let m = random_embed_model(&shape, 31);
    let seqs = random_token_seqs(40, &[3, 7, 1, 12], 32);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    if bits(&dev.embed_forward(&m, &seqs, limits)?)
        != bits(&crate::embed::cpu::embed_batch(&m, &seqs))
    {
        return Err(ComputeError::SelfTest(
            "the encoder (embed) differs from the CPU reference".into(),
        ));
    }
    let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
    let h = Hyper {
        lr: 1e-3,
        warmup: 0,
        ..Hyper::defaults(2)
    };
    let step = |path: Path<'_>| {
        let (mut m, mut st) = (m.clone(), train::fresh_state(&m));
        let loss = train::train_step(path, &mut m, &mut st, &h, 1, &refs);
        let mut all = vec![loss.to_bits()];
        for t in train::params::tensors(&m)
            .into_iter()
            .chain(train::params::tensors(&st.v))
        {
            all.extend(bits(t));
        }
        all
    };
    let launch = crate::cuda::launch::DeviceLaunch { dev, limits };
    let before = train::device_fallbacks();
    let got = step(Path::Device(&launch));
    if train::device_fallbacks() != before {
        return Err(ComputeError::SelfTest(
            "a training pass failed on the device (see the log)".into(),
        ));
    }
    if got != step(Path::Plain) {
        return Err(ComputeError::SelfTest(
            "a training step differs from the CPU reference".into(),
        ));
    }
    Ok(())
}

/// Opens CUDA device `ordinal` (driver and NVRTC loaded dynamically, kernels compiled) and runs
/// the self-test on it: what a backend is made of.
pub fn open_checked(ordinal: usize) -> Result<Arc<CudaDevice>> {
    let dev = CudaDevice::new(ordinal)?;
    run(&dev)?;
    Ok(dev)
}
