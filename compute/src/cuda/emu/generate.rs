//! The decoder's pass on the host emulator: [`Path::Device`] with the emulator as the
//! launcher runs every launch the device runs (the same `generate::kernels` calls, shapes
//! and buffers), and must give the plain CPU reference's bits — prefilled, decoded token by
//! token, batched, and through a whole sampled job.
#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::emu;
    use super::super::train::Counting;
    use crate::cuda::GENERATE_KERNELS;
    use crate::generate::forward::{forward, KvCache, Logits, Path};
    use crate::generate::{encode_input, Arch, DecoderModel, GenerateJob, Sampling};
    use crate::rng::SplitMix64;
    use crate::testcases::decoder::{random_decoder_blob, DecoderShape, Dtype};
    use crate::Limits;

    fn bits(rows: &[Vec<f32>]) -> Vec<Vec<u32>> {
        rows.iter()
            .map(|r| r.iter().map(|v| v.to_bits()).collect())
            .collect()
    }

    /// Three prompts prefilled together, then four tokens decoded for each: every logit row.
    fn run(path: Path<'_>, m: &DecoderModel, prompts: &[Vec<u32>]) -> Vec<Vec<f32>> {
        let mut caches = vec![KvCache::new(m.config.num_hidden_layers); prompts.len()];
        let batch: Vec<(usize, &[u32])> = prompts
            .iter()
            .enumerate()
            .map(|(i, p)| (i, p.as_slice()))
            .collect();
        let mut out = forward(path, m, &mut caches, &batch, Logits::All);
        for t in 0..4u32 {
            let toks: Vec<[u32; 1]> = (0..prompts.len() as u32)
                .map(|i| [(7 * t + i) % 50])
                .collect();
            let batch: Vec<(usize, &[u32])> = toks
                .iter()
                .enumerate()
                .map(|(i, t)| (i, t.as_slice()))
                .collect();
            out.extend(forward(path, m, &mut caches, &batch, Logits::All));
        }
        out
    }

    #[test]
    fn emulated_decoder_passes_are_bit_identical_to_the_plain_reference() {
        let Some(e) = emu() else { return };
        for arch in [Arch::Llama, Arch::Qwen2, Arch::Mistral] {
            // head width 16 and, for one case, a hidden width that is no multiple of the warp
            let s = DecoderShape {
                hidden: if arch == Arch::Qwen2 { 80 } else { 64 },
                heads: if arch == Arch::Qwen2 { 5 } else { 4 },
                kv_heads: if arch == Arch::Qwen2 { 1 } else { 2 },
                ..DecoderShape::small(arch, 50)
            };
            let m = DecoderModel::parse(&random_decoder_blob(&s, 3, Dtype::F32)).unwrap();
            let mut r = SplitMix64::new(4);
            // one prompt past Mistral's 32-token window
            let prompts: Vec<Vec<u32>> = [5usize, 1, 37]
                .iter()
                .map(|&l| (0..l).map(|_| r.below(50) as u32).collect())
                .collect();
            let l = Counting::new(e);
            let dev = bits(&run(Path::Device(&l), &m, &prompts));
            assert_eq!(dev, bits(&run(Path::Plain, &m, &prompts)), "{arch:?}");
            let seen = l.seen();
            for k in GENERATE_KERNELS
                .iter()
                .chain(&["tessera_gemm_f32", "tessera_train_add"])
            {
                assert!(
                    seen.get(*k).copied().unwrap_or(0) > 0,
                    "{k} never ran: {seen:?}"
                );
            }
            if arch == Arch::Qwen2 {
                assert!(seen.contains_key("tessera_embed_bias"), "q/k/v biases");
            }
        }
    }

    /// A whole sampled job on the emulator: the CPU's completions.
    #[test]
    fn an_emulated_generate_job_gives_the_cpus_completions() {
        let Some(e) = emu() else { return };
        let s = DecoderShape::small(Arch::Llama, 60);
        let m = Arc::new(DecoderModel::parse(&random_decoder_blob(&s, 8, Dtype::BF16)).unwrap());
        let prompts = vec![vec![3, 4, 5], vec![9], vec![1, 2, 3, 4, 5, 6, 7, 8]];
        let sampling = Sampling {
            temperature: 0.9,
            top_k: 20,
            top_p: 0.9,
            repetition_penalty: 1.2,
            seed: 5,
        };
        let blob = encode_input(&[1; 32], "x", 6, &sampling, &[2], 0, &prompts).unwrap();
        let job = GenerateJob::parse(&blob, &Limits::default())
            .unwrap()
            .with_model(m, &Limits::default())
            .unwrap();
        let l = Counting::new(e);
        assert_eq!(
            job.completions(Path::Device(&l)).unwrap(),
            job.completions(Path::Plain).unwrap()
        );
    }
}
