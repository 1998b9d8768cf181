//! `CudaDevice::embed_forward` on the host emulator: the same launches of the same kernels
//! with the same launch shapes and buffer sizes (`embed::cuda::plan`, `rows_config`,
//! `attention_config`, `pool_config`, `gemm::cuda::f32_config`,
//! `inference::cuda::elementwise_cfg`), and its tests against the CPU reference.

use super::{buf, Arg, Emu};
use crate::embed::cuda::{
    attention_config, attention_scale, check_model, embed_gemm_shapes, fused_qkv, plan,
    pool_config, rows_config, scratch_cols,
};
use crate::embed::model::EmbedModel;
use crate::gemm::cuda::f32_config;
use crate::inference::cuda::elementwise_cfg;

impl Emu {
    /// `c = a · b` (`m×k · k×n`) by `tessera_gemm_f32` on the caller's buffers, as
    /// `CudaDevice::embed_gemm` launches it.
    fn gemm_f32_into(
        &self,
        a: &mut [f32],
        b: &mut [f32],
        c: &mut [f32],
        (m, n, k): (usize, usize, usize),
    ) {
        let (mi, ni, ki) = (m as i32, n as i32, k as i32);
        self.launch(
            "tessera_gemm_f32",
            f32_config(m, n).unwrap(),
            &mut [
                buf(a),
                buf(b),
                buf(c),
                Arg::I32(mi),
                Arg::I32(ni),
                Arg::I32(ki),
            ],
        );
    }

    /// `CudaDevice::embed_forward` on the emulator.
    pub(crate) fn embed(&self, model: &EmbedModel, seqs: &[Vec<u32>]) -> Vec<f32> {
        crate::embed::job::check_sequences(model, seqs).unwrap();
        check_model(model).unwrap();
        if seqs.is_empty() {
            return Vec::new();
        }
        let c = &model.config;
        let mut p = plan(seqs).unwrap();
        let (rows, h, inter) = (p.rows, c.hidden_size, c.intermediate_size);
        let (ri, hi, ii, h3) = (rows as i32, h as i32, inter as i32, 3 * h as i32);
        let di = c.head_dim() as i32;
        let eps = c.layer_norm_eps as f32;
        let scale = attention_scale(c);
        let row_cfg = rows_config(rows).unwrap();
        let [qkv_shape, o_shape, i_shape, out_shape] = embed_gemm_shapes(c, rows);
        let n_items = p.n_items();
        // The device's buffers, with the device's sizes.
        let mut word = model.word.clone();
        let mut position = model.position.clone();
        let mut type0 = model.token_type[..h].to_vec();
        let (mut ln_w, mut ln_b) = (model.emb_ln_w.clone(), model.emb_ln_b.clone());
        let mut x = vec![0.0f32; rows * h];
        let mut ctx = vec![0.0f32; rows * h];
        let mut a = vec![0.0f32; rows * h];
        let mut scratch = vec![0.0f32; rows * scratch_cols(c)];
        let mut out = vec![0.0f32; seqs.len() * h];
        self.launch(
            "tessera_embed_tokens",
            row_cfg,
            &mut [
                buf(&mut p.ids),
                buf(&mut p.pos),
                buf(&mut word),
                buf(&mut type0),
                buf(&mut position),
                buf(&mut ln_w),
                buf(&mut ln_b),
                buf(&mut x),
                Arg::I32(ri),
                Arg::I32(hi),
                Arg::F32(eps),
            ],
        );
        for l in &model.layers {
            let (mut qkv_w, mut qkv_b) = fused_qkv(l, h);
            let mut l = l.clone();
            self.gemm_f32_into(&mut x, &mut qkv_w, &mut scratch, qkv_shape);
            self.launch(
                "tessera_embed_bias",
                elementwise_cfg(rows * 3 * h).unwrap(),
                &mut [
                    buf(&mut scratch),
                    buf(&mut qkv_b),
                    Arg::I32(ri),
                    Arg::I32(h3),
                ],
            );
            self.launch(
                "tessera_embed_attention",
                attention_config(n_items, c.num_attention_heads).unwrap(),
                &mut [
                    buf(&mut scratch),
                    buf(&mut p.items),
                    buf(&mut ctx),
                    Arg::I32(hi),
                    Arg::I32(di),
                    Arg::F32(scale),
                ],
            );
            self.gemm_f32_into(&mut ctx, &mut l.o_w, &mut a, o_shape);
            self.launch(
                "tessera_embed_add_ln",
                row_cfg,
                &mut [
                    buf(&mut a),
                    buf(&mut l.o_b),
                    buf(&mut x),
                    buf(&mut l.ln1_w),
                    buf(&mut l.ln1_b),
                    Arg::I32(ri),
                    Arg::I32(hi),
                    Arg::F32(eps),
                ],
            );
            self.gemm_f32_into(&mut a, &mut l.i_w, &mut scratch, i_shape);
            self.launch(
                "tessera_embed_bias_gelu",
                elementwise_cfg(rows * inter).unwrap(),
                &mut [
                    buf(&mut scratch),
                    buf(&mut l.i_b),
                    Arg::I32(ri),
                    Arg::I32(ii),
                ],
            );
            self.gemm_f32_into(&mut scratch, &mut l.out_w, &mut x, out_shape);
            self.launch(
                "tessera_embed_add_ln",
                row_cfg,
                &mut [
                    buf(&mut x),
                    buf(&mut l.out_b),
                    buf(&mut a),
                    buf(&mut l.ln2_w),
                    buf(&mut l.ln2_b),
                    Arg::I32(ri),
                    Arg::I32(hi),
                    Arg::F32(eps),
                ],
            );
        }
        self.launch(
            "tessera_embed_pool",
            pool_config(seqs.len()).unwrap(),
            &mut [
                buf(&mut x),
                buf(&mut p.seq_start),
                buf(&mut p.seq_len),
                buf(&mut out),
                Arg::I32(hi),
            ],
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::emu;
    use super::*;
    use crate::embed::{cpu, math};
    use crate::testcases::{
        canonical_bits, random_embed_model, random_token_seqs, special_f32_values, EmbedShape,
        EMBED_CASES, EMBED_WIDE, EMBED_WIDE_LENS,
    };

    /// Emulated embeddings of `seqs` against `cpu::embed_one` on each sequence (bits) and the
    /// batched CPU path; returns them.
    fn check(m: &EmbedModel, seqs: &[Vec<u32>], what: &str) -> Vec<f32> {
        let emu = emu().expect("checked by the caller");
        let h = m.config.hidden_size;
        let got = emu.embed(m, seqs);
        assert_eq!(got.len(), seqs.len() * h, "{what}");
        for (i, s) in seqs.iter().enumerate() {
            let want = cpu::embed_one(m, s);
            assert_eq!(
                canonical_bits(&got[i * h..(i + 1) * h]),
                canonical_bits(&want),
                "{what}: sequence {i} ({} tokens)",
                s.len()
            );
        }
        assert_eq!(
            canonical_bits(&got),
            canonical_bits(&cpu::embed_batch(m, seqs)),
            "{what}: batched CPU path"
        );
        got
    }

    #[test]
    fn emulated_embed_is_bit_identical_to_the_cpu_reference() {
        if emu().is_none() {
            return;
        }
        for (i, (shape, lens)) in EMBED_CASES.iter().enumerate() {
            let m = random_embed_model(shape, 100 + i as u64);
            let seqs = random_token_seqs(shape.vocab, lens, 200 + i as u64);
            let got = check(&m, &seqs, &format!("case {i} {shape:?}"));
            assert!(got.iter().all(|v| v.is_finite()), "case {i}: NaN or inf");
            // unit length (the clamp never triggers on these)
            for row in got.chunks_exact(shape.hidden) {
                let n: f32 = row.iter().map(|v| v * v).sum::<f32>().sqrt();
                assert!((n - 1.0).abs() < 1e-4, "case {i}: norm {n}");
            }
        }
    }

    #[test]
    fn emulated_embed_is_bit_identical_at_minilm_width() {
        if emu().is_none() {
            return;
        }
        let m = random_embed_model(&EMBED_WIDE, 3);
        let seqs = random_token_seqs(EMBED_WIDE.vocab, &EMBED_WIDE_LENS, 4);
        let got = check(&m, &seqs, "MiniLM width");
        assert!(got.iter().all(|v| v.is_finite()));
    }

    /// Infinities and huge values in the weights: NaNs appear mid-way, and come out canonical
    /// where the CPU's do, every other value identical.
    #[test]
    fn emulated_embed_matches_on_special_values() {
        if emu().is_none() {
            return;
        }
        let (shape, _) = EMBED_CASES[1];
        let mut m = random_embed_model(&shape, 9);
        let h = shape.hidden;
        m.word[3 * h + 1] = f32::INFINITY; // token 3: NaN after LayerNorm
        m.word[5 * h..6 * h].iter_mut().for_each(|v| *v *= 1e18); // token 5: variance overflows
        m.position[2 * h + 4] = -0.0;
        m.layers[0].i_b[0] = 1e30; // a huge GELU input
        let seqs = vec![
            vec![1, 2, 3, 4],
            vec![5, 6],
            vec![7, 8, 9, 10, 11, 12],
            vec![5],
            vec![3],
        ];
        let got = check(&m, &seqs, "special values");
        assert!(
            got[..h].iter().all(|v| v.is_nan()),
            "token 3 poisons its sequence"
        );
        assert!(got[2 * h..3 * h].iter().all(|v| v.is_finite()));
    }

    /// The GELU epilogue (erf, exp) against `math::gelu` on special values over many binades,
    /// a dense grid through the erf cut-off at ±10 and the exp clamp, with biases.
    #[test]
    fn emulated_gelu_equals_math_gelu() {
        let Some(emu) = emu() else { return };
        let mut xs = special_f32_values(1 << 16, 17);
        xs.extend((-40_000..=40_000).map(|i| i as f32 / 2000.0));
        for v in [
            10.0f32, -10.0, 80.0, -80.0, 1e-45, -1e-45, 1e-30, 3e38, -3e38,
        ] {
            xs.extend([
                v,
                f32::from_bits(v.to_bits() + 1),
                f32::from_bits(v.to_bits() - 1),
            ]);
        }
        xs.extend([f32::NEG_INFINITY, -0.0, 0.0, f32::NAN]);
        let cols = 64;
        while !xs.len().is_multiple_of(cols) {
            xs.push(0.5);
        }
        let rows = xs.len() / cols;
        let mut bias: Vec<f32> = (0..cols)
            .map(|j| if j < 32 { 0.0 } else { j as f32 / 64.0 - 0.7 })
            .collect();
        let want: Vec<f32> = xs
            .iter()
            .enumerate()
            .map(|(i, &x)| math::gelu(x + bias[i % cols]))
            .collect();
        let mut y = xs.clone();
        emu.launch(
            "tessera_embed_bias_gelu",
            elementwise_cfg(rows * cols).unwrap(),
            &mut [
                buf(&mut y),
                buf(&mut bias),
                Arg::I32(rows as i32),
                Arg::I32(cols as i32),
            ],
        );
        assert_eq!(canonical_bits(&y), canonical_bits(&want));
    }

    /// The attention kernel's softmax (and so its `exp`, whose clamp at −80 the forward pass
    /// rarely shows) on scores chosen one by one: sequence `s` is two tokens with head size 1,
    /// q = 1, keys (0, x), values (0, 1), so query 0's context is `p₁ = exp(x − m) / sum`
    /// exactly as `embed_one` computes it, over x from −120 to 120, ±inf and NaN.
    #[test]
    fn emulated_attention_softmax_equals_the_reference() {
        let Some(emu) = emu() else { return };
        let mut xs: Vec<f32> = (-12_000..=12_000)
            .step_by(3)
            .map(|i| i as f32 / 100.0)
            .collect();
        for v in [-80.0f32, -87.0, -103.0, 88.0, 1e-40] {
            xs.extend([
                v,
                f32::from_bits(v.to_bits() + 1),
                f32::from_bits(v.to_bits() - 1),
            ]);
        }
        xs.extend([f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -0.0, 3e38]);
        let seqs = vec![vec![0u32; 2]; xs.len()];
        let mut p = plan(&seqs).unwrap();
        let mut qkv: Vec<f32> = xs
            .iter()
            .flat_map(|&x| [1.0, 0.0, 0.0, 1.0, x, 1.0])
            .collect();
        let mut ctx = vec![0.0f32; p.rows];
        emu.launch(
            "tessera_embed_attention",
            attention_config(p.n_items(), 1).unwrap(),
            &mut [
                buf(&mut qkv),
                buf(&mut p.items),
                buf(&mut ctx),
                Arg::I32(1),
                Arg::I32(1),
                Arg::F32(1.0f32.sqrt()),
            ],
        );
        let want: Vec<f32> = xs
            .iter()
            .flat_map(|&x| {
                let keys = [0.0f32, x];
                let ctx_of = |q: f32| {
                    let mut s = keys.map(|k| math::dot(&[q], &[k]) / 1.0f32.sqrt());
                    math::softmax(&mut s);
                    let mut acc = 0.0f32;
                    for (pj, vj) in s.iter().zip([0.0f32, 1.0]) {
                        acc = pj.mul_add(vj, acc);
                    }
                    acc
                };
                [ctx_of(1.0), ctx_of(1.0)]
            })
            .collect();
        assert_eq!(canonical_bits(&ctx), canonical_bits(&want));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20, ..ProptestConfig::default() })]
        /// Random shapes: head sizes 1 ..= 12 (hidden off every tile), 1 to 4 heads, one or
        /// two layers, a one-token sequence and one of the model's maximum length in every
        /// batch, BERT-like or saturating weights.
        #[test]
        fn emulated_embed_matches_on_random_shapes(
            heads in 1usize..=4, d in 1usize..=12, layers in 1usize..=2, inter in 1usize..=40,
            positions in 1usize..=40, n in 0usize..=4, big in any::<bool>(), seed in any::<u64>(),
        ) {
            if emu().is_none() {
                return Ok(());
            }
            let shape = EmbedShape {
                hidden: heads * d, heads, layers, inter, positions, vocab: 37,
                scale: if big { 2.5 } else { 0.4 },
            };
            let m = random_embed_model(&shape, seed);
            let mut r = crate::rng::SplitMix64::new(seed ^ 5);
            let mut lens: Vec<usize> =
                (0..n).map(|_| 1 + r.below(positions as u64) as usize).collect();
            lens.extend([1, positions]);
            let seqs = random_token_seqs(shape.vocab, &lens, seed ^ 7);
            let got = check(&m, &seqs, &format!("{shape:?}"));
            prop_assert!(got.iter().all(|v| v.is_finite()));
        }
    }
}
