use super::*;
use crate::embed::model::EmbedModel;
use crate::testcases::{random_embed_model, random_token_seqs, EmbedShape};

pub(crate) fn shape(
    hidden: usize,
    heads: usize,
    layers: usize,
    inter: usize,
    vocab: usize,
) -> EmbedShape {
    EmbedShape {
        positions: 32,
        vocab,
        ..EmbedShape::bert(hidden, heads, layers, inter)
    }
}

pub(crate) fn bits(m: &EmbedModel) -> Vec<u32> {
    params::tensors(m)
        .iter()
        .flat_map(|t| t.iter().map(|v| v.to_bits()))
        .collect()
}

pub(crate) fn batch(vocab: usize, b: usize, seed: u64) -> Vec<Vec<u32>> {
    let lens: Vec<usize> = (0..2 * b)
        .map(|i| 2 + (i * 7 + seed as usize) % 9)
        .collect();
    random_token_seqs(vocab, &lens, seed)
}

pub(crate) fn refs(v: &[Vec<u32>]) -> Vec<&[u32]> {
    v.iter().map(|s| s.as_slice()).collect()
}

#[test]
fn the_forward_pass_gives_the_embed_kernels_bits() {
    let m = random_embed_model(&shape(32, 4, 2, 64, 50), 7);
    let seqs = batch(50, 5, 3);
    for path in [Path::Plain, Path::Fast] {
        let f = forward::forward(path, &m, &forward::Rows::new(&refs(&seqs)));
        let e = crate::embed::cpu::embed_batch(&m, &seqs);
        assert_eq!(
            f.emb.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            e.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "{path:?}"
        );
    }
}

#[test]
fn the_fast_path_gives_the_plain_references_bits() {
    let s = shape(32, 4, 2, 64, 60);
    let h = Hyper {
        lr: 1e-3,
        warmup: 1,
        ..Hyper::defaults(4)
    };
    let run = |path| {
        let mut m = random_embed_model(&s, 11);
        let mut st = fresh_state(&m);
        let losses: Vec<u32> = (1..=3)
            .map(|t| {
                let seqs = batch(60, 4, t);
                train_step(path, &mut m, &mut st, &h, t, &refs(&seqs)).to_bits()
            })
            .collect();
        (losses, bits(&m), bits(&st.m), bits(&st.v))
    };
    let plain = run(Path::Plain);
    let fast = run(Path::Fast);
    assert!(plain == fast, "fast and plain differ");
    // and the steps moved the model
    assert_ne!(plain.1, bits(&random_embed_model(&s, 11)));
}

/// The model, the loss and everything between in f64 with plain loops and the textbook
/// formulas (std's `exp`, `ln`, `sqrt`; erf by its Taylor series): the function whose
/// gradient the f32 backward pass must give.
mod f64ref {
    use crate::embed::model::EmbedModel;

    fn erf(x: f64) -> f64 {
        if x.abs() > 5.0 {
            return x.signum();
        }
        let (mut term, mut s) = (x, x);
        for n in 1..120 {
            term *= -x * x / n as f64;
            s += term / (2 * n + 1) as f64;
        }
        s * 2.0 / std::f64::consts::PI.sqrt()
    }

    fn ln(row: &mut [f64], w: &[f64], b: &[f64], eps: f64) {
        let n = row.len() as f64;
        let mean = row.iter().sum::<f64>() / n;
        let var = row.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        let d = (var + eps).sqrt();
        for j in 0..row.len() {
            row[j] = (row[j] - mean) / d * w[j] + b[j];
        }
    }

    fn lin(x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
        let out = b.len();
        let inp = w.len() / out;
        x.chunks(inp)
            .flat_map(|r| {
                (0..out).map(move |o| (0..inp).map(|i| r[i] * w[i * out + o]).sum::<f64>() + b[o])
            })
            .collect()
    }

    /// The loss of `seqs` (B anchors, B positives) under the model whose tensors (in
    /// `params` order) are `p`.
    pub fn loss(m: &EmbedModel, p: &[Vec<f64>], seqs: &[&[u32]], scale: f64) -> f64 {
        let c = &m.config;
        let (h, heads, d) = (c.hidden_size, c.num_attention_heads, c.head_dim());
        let eps = c.layer_norm_eps;
        let mut embs = Vec::new();
        for s in seqs {
            let len = s.len();
            let mut x = vec![0.0f64; len * h];
            for (t, &id) in s.iter().enumerate() {
                for j in 0..h {
                    x[t * h + j] = p[0][id as usize * h + j] + p[2][j] + p[1][t * h + j];
                }
                ln(&mut x[t * h..(t + 1) * h], &p[3], &p[4], eps);
            }
            for l in 0..c.num_hidden_layers {
                let q = |k: usize| &p[5 + 16 * l + k];
                let (qv, kv, vv) = (
                    lin(&x, q(0), q(1)),
                    lin(&x, q(2), q(3)),
                    lin(&x, q(4), q(5)),
                );
                let mut ctx = vec![0.0f64; len * h];
                for hd in 0..heads {
                    for i in 0..len {
                        let sc: Vec<f64> = (0..len)
                            .map(|j| {
                                (0..d)
                                    .map(|e| qv[i * h + hd * d + e] * kv[j * h + hd * d + e])
                                    .sum::<f64>()
                                    / (d as f64).sqrt()
                            })
                            .collect();
                        let mx = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                        let ex: Vec<f64> = sc.iter().map(|v| (v - mx).exp()).collect();
                        let z: f64 = ex.iter().sum();
                        for j in 0..len {
                            for e in 0..d {
                                ctx[i * h + hd * d + e] += ex[j] / z * vv[j * h + hd * d + e];
                            }
                        }
                    }
                }
                let mut a = lin(&ctx, q(6), q(7));
                for (t, row) in a.chunks_mut(h).enumerate() {
                    for j in 0..h {
                        row[j] += x[t * h + j];
                    }
                    ln(row, q(8), q(9), eps);
                }
                let g: Vec<f64> = lin(&a, q(10), q(11))
                    .iter()
                    .map(|&v| v * 0.5 * (1.0 + erf(v / std::f64::consts::SQRT_2)))
                    .collect();
                let mut o = lin(&g, q(12), q(13));
                for (t, row) in o.chunks_mut(h).enumerate() {
                    for j in 0..h {
                        row[j] += a[t * h + j];
                    }
                    ln(row, q(14), q(15), eps);
                }
                x = o;
            }
            let pooled: Vec<f64> = (0..h)
                .map(|j| (0..len).map(|t| x[t * h + j]).sum::<f64>() / len as f64)
                .collect();
            let n = pooled.iter().map(|v| v * v).sum::<f64>().sqrt();
            embs.push(pooled.iter().map(|v| v / n).collect::<Vec<f64>>());
        }
        let b = seqs.len() / 2;
        let mut total = 0.0;
        for i in 0..b {
            let s: Vec<f64> = (0..b)
                .map(|j| {
                    embs[i]
                        .iter()
                        .zip(&embs[b + j])
                        .map(|(x, y)| x * y)
                        .sum::<f64>()
                        * scale
                })
                .collect();
            let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            total += mx + s.iter().map(|v| (v - mx).exp()).sum::<f64>().ln() - s[i];
        }
        total / b as f64
    }
}

#[test]
fn gradients_match_f64_finite_differences() {
    let m = random_embed_model(&shape(8, 2, 2, 16, 20), 5);
    let seqs = batch(20, 3, 9);
    let seqs = refs(&seqs);
    let rows = forward::Rows::new(&seqs);
    let f = forward::forward(Path::Plain, &m, &rows);
    let lg = loss::mnrl(Path::Plain, &f.emb, 3, 8, 20.0);
    let grads = backward::backward(Path::Plain, &m, &rows, &f, &lg.d_emb);
    let p: Vec<Vec<f64>> = params::tensors(&m)
        .iter()
        .map(|t| t.iter().map(|&v| v as f64).collect())
        .collect();
    let l0 = f64ref::loss(&m, &p, &seqs, 20.0);
    assert!(
        (l0 - lg.loss as f64).abs() < 1e-4,
        "loss {} vs f64 {l0}",
        lg.loss
    );
    let specs = params::specs(&m.config);
    let gs = params::tensors(&grads);
    let mut checked = 0;
    let mut worst = 0.0f64;
    for (ti, spec) in specs.iter().enumerate() {
        // the first, a middle and the last element of each tensor, plus a used word row
        let n = p[ti].len();
        let mut idx = vec![0, n / 2, n - 1];
        if ti == 0 {
            idx.push(seqs[0][0] as usize * 8 + 3);
        }
        for &e in &idx {
            let step = 1e-5;
            let mut pp = p.clone();
            pp[ti][e] += step;
            let up = f64ref::loss(&m, &pp, &seqs, 20.0);
            pp[ti][e] -= 2.0 * step;
            let down = f64ref::loss(&m, &pp, &seqs, 20.0);
            let fd = (up - down) / (2.0 * step);
            let g = gs[ti][e] as f64;
            let err = (g - fd).abs() / fd.abs().max(1e-2);
            worst = worst.max(err);
            assert!(
                err < 2e-3,
                "{} [{e}]: backward {g:e}, f64 finite difference {fd:e}",
                spec.name
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
    eprintln!("{checked} gradients within {worst:.2e} (relative) of f64 central differences");
}

#[test]
fn adamw_decays_only_weights_and_follows_the_schedule() {
    let h = Hyper {
        lr: 0.1,
        warmup: 2,
        weight_decay: 0.5,
        ..Hyper::defaults(6)
    };
    // warm-up from 0, then linear decay to 0 at the end
    let lrs: Vec<f32> = (1..=7).map(|t| adamw::lr_at(&h, t)).collect();
    assert_eq!(lrs, vec![0.0, 0.05, 0.1, 0.075, 0.05, 0.025, 0.0]);
    let m0 = random_embed_model(&shape(8, 2, 1, 16, 20), 5);
    let mut m = m0.clone();
    let mut st = fresh_state(&m);
    let zero = backward::zeros_like(&m);
    adamw::step(Path::Plain, &mut m, &zero, &mut st, &h, 3); // lr 0.1: decay 0.95, no gradient
    for ((spec, a), b) in params::specs(&m.config)
        .iter()
        .zip(params::tensors(&m0))
        .zip(params::tensors(&m))
    {
        let want: Vec<f32> = if spec.decay {
            a.iter().map(|v| v * 0.95).collect()
        } else {
            a.to_vec()
        };
        assert_eq!(b, &want[..], "{}", spec.name);
    }
    // one step with a gradient: Adam's first step moves each element by about lr·sign(g)
    let mut g = backward::zeros_like(&m0);
    g.emb_ln_b[0] = 3.0;
    g.emb_ln_b[1] = -1e-3;
    let h1 = Hyper {
        warmup: 0,
        weight_decay: 0.0,
        ..h
    };
    assert_eq!(adamw::lr_at(&h1, 1), 0.1);
    let mut m = m0.clone();
    let mut st = fresh_state(&m);
    adamw::step(Path::Plain, &mut m, &g, &mut st, &h1, 1);
    assert!((m.emb_ln_b[0] - (m0.emb_ln_b[0] - 0.1)).abs() < 1e-6);
    assert!((m.emb_ln_b[1] - (m0.emb_ln_b[1] + 0.1)).abs() < 1e-4);
    assert_eq!(m.emb_ln_b[2], m0.emb_ln_b[2]);
}

#[test]
fn the_log_is_accurate() {
    let mut worst = 0.0f64;
    let mut x = 1e-30f32;
    while x < 1e30 {
        let e = ((loss::ln(x) as f64) - (x as f64).ln()).abs() / ((x as f64).ln().abs().max(1e-3));
        worst = worst.max(e);
        x *= 1.0137;
    }
    for i in 1..20000 {
        let x = 1.0 + i as f32 / 1000.0;
        let e = ((loss::ln(x) as f64) - (x as f64).ln()).abs();
        assert!(e < 3e-7, "ln({x}) off by {e}");
    }
    assert!(worst < 1e-6, "{worst}");
    assert!(loss::ln(0.0).is_nan() && loss::ln(-1.0).is_nan() && loss::ln(f32::NAN).is_nan());
    assert_eq!(loss::ln(1.0), 0.0);
}

#[test]
fn hyperparameters_no_run_could_use_are_refused_by_name() {
    let ok = Hyper::defaults(100);
    ok.check().unwrap();
    for (h, needle) in [
        (Hyper { lr: f32::NAN, ..ok }, "learning rate NaN"),
        (Hyper { lr: -1e-5, ..ok }, "learning rate -0.00001"),
        (Hyper { lr: 0.0, ..ok }, "learning rate 0"),
        (
            Hyper {
                total_steps: 0,
                warmup: 0,
                ..ok
            },
            "0 total steps",
        ),
        (
            Hyper {
                total_steps: MAX_TOTAL_STEPS + 1,
                ..ok
            },
            "1000001 total steps",
        ),
        (Hyper { warmup: 101, ..ok }, "101 warm-up steps"),
        (Hyper { beta2: 1.0, ..ok }, "beta2 1"),
        (Hyper { eps: 0.0, ..ok }, "Adam epsilon 0"),
        (
            Hyper {
                weight_decay: f32::INFINITY,
                ..ok
            },
            "weight decay inf",
        ),
        (Hyper { scale: -20.0, ..ok }, "loss scale -20"),
    ] {
        let e = h.check().unwrap_err().to_string();
        assert!(e.contains(needle), "{e} (wanted `{needle}`)");
    }
}

mod links {
    use std::sync::Arc;

    use super::*;
    use crate::testcases::random_embed_model_blob;
    use crate::{Backend, Job, KernelId, Limits};

    fn steps(vocab: usize, b: usize, n: usize, seed: u64) -> Vec<Vec<Vec<u32>>> {
        (0..n).map(|s| batch(vocab, b, seed + s as u64)).collect()
    }

    fn run_link(base_blob: &[u8], first: u64, h: &Hyper, steps: &[Vec<Vec<u32>>]) -> crate::Output {
        let limits = Limits::default();
        let base = Arc::new(Checkpoint::from_base_blob(base_blob).unwrap());
        let input = encode_input(
            &[7; 32],
            "mem://base",
            first,
            h,
            (steps[0].len() / 2) as u32,
            steps,
        )
        .unwrap();
        Job::parse(&input, &limits)
            .unwrap()
            .bind_base(base, &limits)
            .unwrap()
            .run(&Backend::cpu())
            .unwrap()
    }

    /// A run cut into links gives the bits of the same run in one link: each link starts from
    /// the checkpoint (weights, moments, step) the one before left.
    #[test]
    fn links_of_a_run_give_the_bits_of_the_whole_run() {
        let s = shape(16, 4, 2, 32, 40);
        let base = random_embed_model_blob(&s, 3);
        let h = Hyper {
            lr: 1e-3,
            warmup: 1,
            ..Hyper::defaults(4)
        };
        let all = steps(40, 3, 4, 20);
        let whole = run_link(&base, 0, &h, &all);
        assert_eq!(whole.kernel, KernelId::Train);
        let first = run_link(&base, 0, &h, &all[..2]);
        let second = run_link(&first.blob(), 2, &h, &all[2..]);
        let w = decode_output(&whole.bytes).unwrap();
        let b = decode_output(&second.bytes).unwrap();
        assert_eq!(b.first_step, 2);
        assert_eq!(b.checkpoint.step, 4);
        assert_eq!(bits(&w.checkpoint.model), bits(&b.checkpoint.model));
        assert_eq!(bits(&w.checkpoint.state.v), bits(&b.checkpoint.state.v));
        let a = decode_output(&first.bytes).unwrap();
        assert_eq!([a.losses.clone(), b.losses].concat(), w.losses);
        assert!(
            w.losses.iter().all(|l| l.is_finite() && *l > 0.0),
            "{:?}",
            w.losses
        );
        // the checkpoint's model blob is an embed model: the embed kernel loads it as trained
        let m = EmbedModel::parse(&w.checkpoint.model_blob().unwrap()).unwrap();
        assert_eq!(bits(&m), bits(&w.checkpoint.model));
        assert_ne!(bits(&m), bits(&EmbedModel::parse(&base).unwrap()));
    }

    /// Tensors the encoder does not read (a pooler, `position_ids`) come out as they went in.
    #[test]
    fn tensors_the_encoder_does_not_read_are_carried() {
        use safetensors::tensor::{Dtype, TensorView};
        let s = shape(8, 2, 1, 16, 20);
        let base = random_embed_model_blob(&s, 3);
        let (config, _, weights) = crate::embed::model::split_model(&base).unwrap();
        let st = safetensors::SafeTensors::deserialize(weights).unwrap();
        let pos: Vec<u8> = (0..32i64).flat_map(|v| v.to_le_bytes()).collect();
        let mut views: Vec<(String, TensorView)> = st.tensors().into_iter().collect();
        views.push((
            "embeddings.position_ids".into(),
            TensorView::new(Dtype::I64, vec![1, 32], &pos).unwrap(),
        ));
        let file = safetensors::serialize(views, None).unwrap();
        let base = crate::embed::encode_model(config, Some(b"{}"), &file).unwrap();
        let c = Checkpoint::from_model_blob(&base).unwrap();
        assert_eq!(c.extra.len(), 1);
        let out = c.model_blob().unwrap();
        let (_, tok, w) = crate::embed::model::split_model(&out).unwrap();
        assert_eq!(tok, Some(&b"{}"[..]));
        let st = safetensors::SafeTensors::deserialize(w).unwrap();
        let t = st.tensor("embeddings.position_ids").unwrap();
        assert_eq!(
            (t.dtype(), t.shape(), t.data()),
            (Dtype::I64, &[1usize, 32][..], &pos[..])
        );
        // and the file is the same bytes however often it is written
        assert_eq!(out, c.model_blob().unwrap());
    }

    #[test]
    fn malformed_links_are_refused_by_name() {
        let limits = Limits::default();
        let s = shape(8, 2, 1, 16, 20);
        let base_blob = random_embed_model_blob(&s, 3);
        let base = Arc::new(Checkpoint::from_model_blob(&base_blob).unwrap());
        let h = Hyper {
            lr: 1e-3,
            ..Hyper::defaults(10)
        };
        let good = steps(20, 2, 2, 1);
        // the client refuses before posting
        for (first, hh, b, st, needle) in [
            (
                0,
                Hyper { lr: f32::NAN, ..h },
                2,
                good.clone(),
                "learning rate NaN",
            ),
            (
                0,
                Hyper { lr: -1e-3, ..h },
                2,
                good.clone(),
                "learning rate -0.001",
            ),
            (0, h, 1, steps(20, 1, 2, 1), "1 pairs per step"),
            (
                9,
                h,
                2,
                good.clone(),
                "steps 10 ..= 11 run past the run's 10 total steps",
            ),
            (0, h, 2, vec![], "0 steps in a link"),
            (
                0,
                h,
                3,
                good.clone(),
                "step 0 has 4 sequences, a step of 3 pairs has 6",
            ),
        ] {
            let e = encode_input(&[0; 32], "x", first, &hh, b, &st)
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{e} (wanted `{needle}`)");
        }
        // and the worker before claiming
        let blob = encode_input(&[0; 32], "x", 0, &h, 2, &good).unwrap();
        let lr_at = 8 + 32 + 2 + 1 + 8 + 1;
        let mut nan = blob.clone();
        nan[lr_at..lr_at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        let mut loss = blob.clone();
        loss[lr_at - 1] = 2;
        // a first step near u64::MAX does not wrap around to a small one
        let mut huge = blob.clone();
        let first_at = 8 + 32 + 2 + 1;
        huge[first_at..first_at + 8].copy_from_slice(&(u64::MAX - 1).to_le_bytes());
        let mut trailing = blob.clone();
        trailing.push(0);
        for (b, needle) in [
            (nan, "learning rate NaN"),
            (loss, "loss 2 is not supported"),
            (trailing, "196 bytes), the blob holds 197 bytes of ids"),
            (huge, "run past the run's 10 total steps"),
            (
                blob[..blob.len() - 4].to_vec(),
                "196 bytes), the blob holds 192 bytes of ids",
            ),
        ] {
            let e = Job::parse(&b, &limits).unwrap_err().to_string();
            assert!(e.contains(needle), "{e} (wanted `{needle}`)");
        }
        let bind = |first: u64, st: &[Vec<Vec<u32>>]| {
            let b = encode_input(&[0; 32], "x", first, &h, 2, st).unwrap();
            Job::parse(&b, &limits)
                .unwrap()
                .bind_base(base.clone(), &limits)
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        assert!(bind(3, &good).contains("the link starts at step 3, its base has taken 0 steps"));
        let mut bad = good.clone();
        bad[1][2] = vec![1, 25, 3];
        assert!(bind(0, &bad).contains("token id 25 is outside the vocabulary (20)"));
        bad[1][2] = vec![1; 33];
        assert!(bind(0, &bad).contains("sequence 6 has 33 tokens (1 ..= 32"));
        // a base that is neither a model nor a train result
        let gemm = crate::run(
            &crate::gemm::build_f32_input(2, 2, 2, 1).unwrap(),
            &Backend::cpu(),
        )
        .unwrap();
        let e = Checkpoint::from_base_blob(&gemm.blob())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a gemm-f32 result"), "{e}");
        // a link too big for the host limit
        let small = Limits {
            max_host_bytes: 16 << 10,
            ..Limits::default()
        };
        let b = encode_input(&[0; 32], "x", 0, &h, 2, &good).unwrap();
        let e = Job::parse(&b, &small)
            .unwrap()
            .bind_base(base.clone(), &small)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("training needs") && e.contains("bytes of working memory, limit is 16384"),
            "{e}"
        );
    }
}

/// A diverged run's NaNs reach the output with whatever payload the hardware gave them (x86
/// keeps an operand's, CUDA makes its own): the output bytes carry the canonical NaN, so an
/// honest CPU and an honest GPU hash the same result.
#[test]
fn nans_in_a_links_output_are_canonical() {
    let s = shape(32, 4, 1, 64, 60);
    let mut m = random_embed_model(&s, 5);
    let payload = f32::from_bits(0xffc0_0001);
    m.layers[0].q_w[7] = payload;
    m.word[3] = f32::from_bits(0x7fa0_0000); // a signalling NaN
    let mut state = fresh_state(&m);
    state.v.emb_ln_b[0] = payload;
    let c = Checkpoint {
        model: m,
        state,
        step: 2,
        ..Checkpoint::from_model_blob(&crate::testcases::random_embed_model_blob(&s, 5)).unwrap()
    };
    let out = encode_output(&[payload, 0.5], 0, &c).unwrap();
    let back = decode_output(&out).unwrap();
    assert_eq!(back.losses[0].to_bits(), 0x7fc0_0000);
    assert_eq!(back.losses[1], 0.5);
    let cp = back.checkpoint;
    assert_eq!(cp.model.layers[0].q_w[7].to_bits(), 0x7fc0_0000);
    assert_eq!(cp.model.word[3].to_bits(), 0x7fc0_0000);
    assert_eq!(cp.state.v.emb_ln_b[0].to_bits(), 0x7fc0_0000);
    // nothing else moved
    assert_eq!(cp.model.layers[0].q_w[6], c.model.layers[0].q_w[6]);
}
