//! The model blob and the CPU forward pass on a small random encoder.
use std::collections::BTreeMap;

use safetensors::tensor::TensorView;
use safetensors::Dtype;

use super::*;
use crate::error::ComputeError;
use crate::Backend;

fn cpu() -> Backend {
    Backend::cpu()
}

const CONFIG: &str = r#"{"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 4,
 "intermediate_size": 32, "max_position_embeddings": 12, "vocab_size": 50,
 "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}"#;

/// The shape of a random test encoder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub inter: usize,
    pub positions: usize,
    pub vocab: usize,
}

/// `CONFIG`'s shape.
pub(crate) const SMALL: Shape = Shape {
    hidden: 16,
    layers: 2,
    heads: 4,
    inter: 32,
    positions: 12,
    vocab: 50,
};

impl Shape {
    /// Its `config.json`.
    pub(crate) fn config_json(&self) -> String {
        format!(
            r#"{{"hidden_size": {}, "num_hidden_layers": {}, "num_attention_heads": {},
 "intermediate_size": {}, "max_position_embeddings": {}, "vocab_size": {},
 "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}}"#,
            self.hidden, self.layers, self.heads, self.inter, self.positions, self.vocab
        )
    }

    /// A loaded random encoder of this shape.
    pub(crate) fn model(&self, seed: u64) -> EmbedModel {
        let blob = encode_model(
            self.config_json().as_bytes(),
            None,
            &safetensors_bytes(&tensors_of(self, seed)),
        )
        .unwrap();
        EmbedModel::parse(&blob).unwrap()
    }
}

/// Tensors of a random encoder of `CONFIG`'s shape: name -> (shape, values).
fn tensors(seed: u64) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    tensors_of(&SMALL, seed)
}

/// Tensors of a random encoder of shape `s`: name -> (shape, values).
pub(crate) fn tensors_of(s: &Shape, seed: u64) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let mut rng = crate::rng::SplitMix64::new(seed);
    let mut t = BTreeMap::new();
    let mut add = |name: String, shape: Vec<usize>, ln: bool| {
        let n: usize = shape.iter().product();
        let v = (0..n)
            .map(|_| {
                let u = (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                if ln {
                    1.0 + 0.1 * u
                } else {
                    0.4 * u
                }
            })
            .collect();
        t.insert(name, (shape, v));
    };
    let (h, i) = (s.hidden, s.inter);
    add(
        "embeddings.word_embeddings.weight".into(),
        vec![s.vocab, h],
        false,
    );
    add(
        "embeddings.position_embeddings.weight".into(),
        vec![s.positions, h],
        false,
    );
    add(
        "embeddings.token_type_embeddings.weight".into(),
        vec![2, h],
        false,
    );
    add("embeddings.LayerNorm.weight".into(), vec![h], true);
    add("embeddings.LayerNorm.bias".into(), vec![h], false);
    for l in 0..s.layers {
        let p = format!("encoder.layer.{l}");
        for (n, o, inp) in [
            ("attention.self.query", h, h),
            ("attention.self.key", h, h),
            ("attention.self.value", h, h),
            ("attention.output.dense", h, h),
            ("intermediate.dense", i, h),
            ("output.dense", h, i),
        ] {
            add(format!("{p}.{n}.weight"), vec![o, inp], false);
            add(format!("{p}.{n}.bias"), vec![o], false);
        }
        for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
            add(format!("{p}.{n}.weight"), vec![h], true);
            add(format!("{p}.{n}.bias"), vec![h], false);
        }
    }
    t
}

pub(crate) fn safetensors_bytes(t: &BTreeMap<String, (Vec<usize>, Vec<f32>)>) -> Vec<u8> {
    let bytes: BTreeMap<&String, (Vec<usize>, Vec<u8>)> = t
        .iter()
        .map(|(k, (s, v))| {
            (
                k,
                (s.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            )
        })
        .collect();
    let views: Vec<(String, TensorView)> = bytes
        .iter()
        .map(|(k, (s, b))| {
            (
                (*k).clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::tensor::serialize(views, None).unwrap()
}

fn model() -> EmbedModel {
    let blob = encode_model(CONFIG.as_bytes(), None, &safetensors_bytes(&tensors(7))).unwrap();
    EmbedModel::parse(&blob).unwrap()
}

#[test]
fn embeddings_are_unit_length_deterministic_and_per_sequence() {
    let m = model();
    let seqs = vec![vec![1u32, 5, 9, 2], vec![1, 7, 2], vec![1, 5, 9, 2]];
    let a = embed(&m, &seqs, &cpu()).unwrap();
    assert_eq!(a.len(), 3 * 16);
    for row in a.as_chunks::<16>().0 {
        let n: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-5, "norm {n}");
        assert!(row.iter().all(|x| x.is_finite()));
    }
    // same sequence, same bits, wherever it sits in the batch
    assert_eq!(
        a[..16].iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        a[32..].iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    // a sequence alone gives the bits it gives in a batch
    let b = embed(&m, &seqs[1..2], &cpu()).unwrap();
    assert_eq!(
        b.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        a[16..32].iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    // different inputs, different embeddings
    assert_ne!(a[..16], a[16..32]);
}

/// The forward pass against a straightforward f64 implementation of the same network
/// (written from the BERT definition, not from `cpu.rs`): the f32 kernel stays within 1e-5.
#[test]
fn the_forward_pass_matches_an_f64_reference() {
    let t = tensors(11);
    let blob = encode_model(CONFIG.as_bytes(), None, &safetensors_bytes(&t)).unwrap();
    let m = EmbedModel::parse(&blob).unwrap();
    let ids = [1u32, 13, 27, 49, 0, 2];
    let got = embed(&m, &[ids.to_vec()], &cpu()).unwrap();
    let want = reference_f64(&t, &ids);
    for (g, w) in got.iter().zip(&want) {
        assert!((*g as f64 - w).abs() < 1e-5, "{g} vs {w}");
    }
}

fn reference_f64(t: &BTreeMap<String, (Vec<usize>, Vec<f32>)>, ids: &[u32]) -> Vec<f64> {
    let g = |n: &str| -> Vec<f64> { t[n].1.iter().map(|&x| x as f64).collect() };
    let (h, heads, inter) = (16usize, 4usize, 32usize);
    let d = h / heads;
    let ln = |x: &mut [f64], w: &[f64], b: &[f64]| {
        let mean = x.iter().sum::<f64>() / x.len() as f64;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / x.len() as f64;
        for (i, v) in x.iter_mut().enumerate() {
            *v = (*v - mean) / (var + 1e-12).sqrt() * w[i] + b[i];
        }
    };
    let lin = |x: &[f64], name: &str, o: usize, i: usize| -> Vec<f64> {
        let w = g(&format!("{name}.weight"));
        let b = g(&format!("{name}.bias"));
        let rows = x.len() / i;
        let mut y = vec![0.0; rows * o];
        for r in 0..rows {
            for c in 0..o {
                y[r * o + c] = b[c] + (0..i).map(|k| x[r * i + k] * w[c * i + k]).sum::<f64>();
            }
        }
        y
    };
    let erf = |x: f64| -> f64 {
        // series, enough for the small activations here
        let mut term = x;
        let mut s = x;
        for n in 1..80 {
            term *= -x * x / n as f64;
            s += term / (2 * n + 1) as f64;
        }
        s * 2.0 / std::f64::consts::PI.sqrt()
    };
    let len = ids.len();
    let (we, pe, te) = (
        g("embeddings.word_embeddings.weight"),
        g("embeddings.position_embeddings.weight"),
        g("embeddings.token_type_embeddings.weight"),
    );
    let mut x = vec![0.0; len * h];
    for (p, &id) in ids.iter().enumerate() {
        for j in 0..h {
            x[p * h + j] = we[id as usize * h + j] + te[j] + pe[p * h + j];
        }
        ln(
            &mut x[p * h..(p + 1) * h],
            &g("embeddings.LayerNorm.weight"),
            &g("embeddings.LayerNorm.bias"),
        );
    }
    for l in 0..2 {
        let p = format!("encoder.layer.{l}");
        let q = lin(&x, &format!("{p}.attention.self.query"), h, h);
        let k = lin(&x, &format!("{p}.attention.self.key"), h, h);
        let v = lin(&x, &format!("{p}.attention.self.value"), h, h);
        let mut ctx = vec![0.0; len * h];
        for hd in 0..heads {
            for i in 0..len {
                let s: Vec<f64> = (0..len)
                    .map(|j| {
                        (0..d)
                            .map(|e| q[i * h + hd * d + e] * k[j * h + hd * d + e])
                            .sum::<f64>()
                            / (d as f64).sqrt()
                    })
                    .collect();
                let m = s.iter().cloned().fold(f64::MIN, f64::max);
                let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
                for j in 0..len {
                    let pj = (s[j] - m).exp() / z;
                    for e in 0..d {
                        ctx[i * h + hd * d + e] += pj * v[j * h + hd * d + e];
                    }
                }
            }
        }
        let mut a = lin(&ctx, &format!("{p}.attention.output.dense"), h, h);
        for i in 0..len * h {
            a[i] += x[i];
        }
        for r in 0..len {
            ln(
                &mut a[r * h..(r + 1) * h],
                &g(&format!("{p}.attention.output.LayerNorm.weight")),
                &g(&format!("{p}.attention.output.LayerNorm.bias")),
            );
        }
        let mut it = lin(&a, &format!("{p}.intermediate.dense"), inter, h);
        for v in it.iter_mut() {
            *v = *v * 0.5 * (1.0 + erf(*v / 2f64.sqrt()));
        }
        let mut o = lin(&it, &format!("{p}.output.dense"), h, inter);
        for i in 0..len * h {
            o[i] += a[i];
        }
        for r in 0..len {
            ln(
                &mut o[r * h..(r + 1) * h],
                &g(&format!("{p}.output.LayerNorm.weight")),
                &g(&format!("{p}.output.LayerNorm.bias")),
            );
        }
        x = o;
    }
    let mut pooled = vec![0.0; h];
    for r in 0..len {
        for j in 0..h {
            pooled[j] += x[r * h + j] / len as f64;
        }
    }
    let n = pooled.iter().map(|v| v * v).sum::<f64>().sqrt();
    pooled.iter().map(|v| v / n).collect()
}

#[test]
fn hostile_models_and_inputs_are_refused_by_name() {
    let t = tensors(3);
    let st = safetensors_bytes(&t);
    let msg = |r: Result<Vec<u8>>| match r {
        Err(ComputeError::InvalidInput(m)) => m,
        other => panic!("expected InvalidInput, got {other:?}"),
    };
    // a missing tensor
    let mut missing = t.clone();
    missing.remove("encoder.layer.1.output.dense.weight");
    assert!(msg(encode_model(
        CONFIG.as_bytes(),
        None,
        &safetensors_bytes(&missing)
    ))
    .contains("`encoder.layer.1.output.dense.weight` is missing"));
    // a wrong shape
    let mut shaped = t.clone();
    shaped.insert(
        "embeddings.LayerNorm.bias".into(),
        (vec![15], vec![0.0; 15]),
    );
    assert!(msg(encode_model(
        CONFIG.as_bytes(),
        None,
        &safetensors_bytes(&shaped)
    ))
    .contains("has shape [15]"));
    // configs: another activation, zero or absurd sizes, heads not dividing hidden, bad JSON
    for (cfg, want) in [
        (CONFIG.replace("\"gelu\"", "\"relu\""), "hidden_act `relu`"),
        (
            CONFIG.replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 0"),
            "num_hidden_layers = 0",
        ),
        (
            CONFIG.replace("\"vocab_size\": 50", "\"vocab_size\": 99999999"),
            "vocab_size = 99999999",
        ),
        (
            CONFIG.replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 5"),
            "not a multiple",
        ),
        ("{".to_string(), "config.json"),
    ] {
        let m = msg(encode_model(cfg.as_bytes(), None, &st));
        assert!(m.contains(want), "{m} lacks {want}");
    }
    // truncated weights, a wrong magic
    let blob = encode_model(CONFIG.as_bytes(), None, &st).unwrap();
    assert!(matches!(
        EmbedModel::parse(&blob[..blob.len() - 10]),
        Err(ComputeError::InvalidInput(m)) if m.contains("model.safetensors")
    ));
    let mut bad = blob.clone();
    bad[0] = b'X';
    assert!(matches!(
        EmbedModel::parse(&bad),
        Err(ComputeError::BadMagic { .. })
    ));
    // a tokenizer section rides along, is returned as is and changes nothing else
    let with_tok = encode_model(CONFIG.as_bytes(), Some(b"{\"tok\": 1}"), &st).unwrap();
    let (c, tok, w) = model::split_model(&with_tok).unwrap();
    assert_eq!(
        (c, tok, w),
        (CONFIG.as_bytes(), Some(&b"{\"tok\": 1}"[..]), &st[..])
    );
    assert_eq!(
        EmbedModel::parse(&with_tok).unwrap().word,
        EmbedModel::parse(&blob).unwrap().word
    );
    // unknown flags, a tokenizer length past the end
    let mut flagged = blob.clone();
    flagged[6] = 0x02;
    assert!(
        matches!(EmbedModel::parse(&flagged), Err(ComputeError::InvalidInput(m)) if m.contains("unknown bits"))
    );
    let mut lying = with_tok.clone();
    let at = 12 + CONFIG.len();
    lying[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(EmbedModel::parse(&lying).is_err());
    // inputs: empty, too long, out-of-vocabulary ids
    let m = EmbedModel::parse(&blob).unwrap();
    for (seq, want) in [
        (vec![], "0 tokens"),
        (vec![1u32; 13], "13 tokens"),
        (vec![1, 50, 2], "token id 50"),
    ] {
        match embed(&m, &[seq], &cpu()) {
            Err(ComputeError::InvalidInput(e)) => assert!(e.contains(want), "{e}"),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Random sequences for `shape`: lengths 1 ..= positions, ids anywhere in the vocabulary.
pub(crate) fn random_seqs(shape: &Shape, n: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut rng = crate::rng::SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let len = 1 + (rng.next_u64() % shape.positions as u64) as usize;
            (0..len)
                .map(|_| (rng.next_u64() % shape.vocab as u64) as u32)
                .collect()
        })
        .collect()
}

mod batch {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// The fast batched path gives the plain reference's bits on every sequence, over
        /// random shapes: hidden sizes off every tile (heads × 1..=7), one layer, one
        /// sequence, sequences of one token and of the model's maximum.
        #[test]
        fn the_batched_path_equals_the_plain_reference(
            heads in 1usize..=4, d in 1usize..=7, layers in 1usize..=3, inter in 1usize..=40,
            positions in 1usize..=20, n in 1usize..=5, seed in any::<u64>(),
        ) {
            let shape = Shape { hidden: heads * d, layers, heads, inter, positions, vocab: 37 };
            let m = shape.model(seed);
            let mut seqs = random_seqs(&shape, n, seed ^ 1);
            seqs.push(vec![(seed % 37) as u32]);
            seqs.push((0..positions as u32).map(|t| t % 37).collect());
            let got = cpu::embed_batch(&m, &seqs);
            let h = shape.hidden;
            prop_assert_eq!(got.len(), seqs.len() * h);
            for (i, s) in seqs.iter().enumerate() {
                let want = cpu::embed_one(&m, s);
                prop_assert_eq!(bits(&got[i * h..(i + 1) * h]), bits(&want), "sequence {}", i);
                prop_assert!(want.iter().all(|x| x.is_finite()));
            }
        }
    }

    /// A MiniLM-sized layer shape (hidden 384, 12 heads, intermediate 1536), 2 layers, a
    /// batch of long and short sequences: batched == plain reference, bit for bit.
    #[test]
    fn the_batched_path_equals_the_reference_at_minilm_width() {
        let shape = Shape {
            hidden: 384,
            layers: 2,
            heads: 12,
            inter: 1536,
            positions: 70,
            vocab: 300,
        };
        let m = shape.model(5);
        let seqs = random_seqs(&shape, 6, 9);
        let got = embed(&m, &seqs, &cpu()).unwrap();
        for (i, s) in seqs.iter().enumerate() {
            assert_eq!(
                bits(&got[i * 384..(i + 1) * 384]),
                bits(&cpu::embed_one(&m, s)),
                "sequence {i}"
            );
        }
    }
}

mod blob {
    use std::sync::Arc;

    use super::*;
    use crate::{Job, Limits};

    fn model_hash() -> [u8; 32] {
        *blake3::hash(b"model").as_bytes()
    }

    #[test]
    fn an_embed_job_round_trips_and_runs_once_its_model_is_bound() {
        let m = Arc::new(SMALL.model(7));
        let seqs = vec![vec![1u32, 5, 9, 2], vec![1, 7, 2]];
        let blob = encode_input(&model_hash(), "http://blobs/model", &seqs).unwrap();
        let job = Job::parse(&blob, &Limits::default()).unwrap();
        assert_eq!(job.kernel(), crate::KernelId::Embed);
        assert_eq!(job.model_ref(), Some((model_hash(), "http://blobs/model")));
        // without the model: a clear error, not a panic
        match job.run(&cpu()) {
            Err(ComputeError::InvalidInput(e)) => assert!(e.contains("is not loaded"), "{e}"),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
        let job = job.bind_model(m.clone(), &Limits::default()).unwrap();
        let out = job.run(&cpu()).unwrap();
        assert_eq!(out.meta, crate::OutputMeta::Embeddings { rows: 2, dim: 16 });
        let rows = decode_output(&out.bytes, 16).unwrap();
        assert_eq!(bits(&rows[1]), bits(&cpu::embed_one(&m, &seqs[1])));
        // the golden result hash of this fixed job (docs/KERNELS.md, embed test vector)
        assert_eq!(
            crate::hash::to_hex(&out.hash()),
            "13ebbabe562297f25eba72c5054e3ededf14f56e3343de5434cedab9174ef74a"
        );
    }

    #[test]
    fn hostile_embed_blobs_are_refused_by_name() {
        let seqs = vec![vec![1u32, 5, 9, 2], vec![1, 7, 2]];
        let good = encode_input(&model_hash(), "http://blobs/model", &seqs).unwrap();
        let l = Limits::default();
        let parse = |b: &[u8]| Job::parse(b, &l).map(|_| ()).unwrap_err().to_string();
        // truncated anywhere: a Truncated or a length mismatch, never a panic
        for cut in 0..good.len() {
            let e = parse(&good[..cut]);
            assert!(
                e.contains("truncated") || e.contains("the blob holds") || e.contains("bad magic"),
                "cut {cut}: {e}"
            );
        }
        // trailing bytes
        let mut long = good.clone();
        long.extend_from_slice(&[0, 0, 0]);
        assert!(parse(&long).contains("the blob holds"));
        // a huge sequence count, a huge declared length: refused before any allocation
        let count_at = 8 + 32 + 2 + "http://blobs/model".len();
        let mut huge = good.clone();
        huge[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&huge).contains("sequences (1 ..= 65536)"));
        let mut lying = good.clone();
        lying[count_at + 4..count_at + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&lying).contains("the blob holds"));
        // an empty sequence, an empty or non-UTF-8 URI
        let mut empty = good.clone();
        empty[count_at + 4..count_at + 8].copy_from_slice(&0u32.to_le_bytes());
        assert!(parse(&empty).contains("sequence 0 is empty"));
        let mut no_uri = good.clone();
        no_uri[40..42].copy_from_slice(&0u16.to_le_bytes());
        assert!(parse(&no_uri).contains("model URI of 0 bytes"));
        let mut latin = good.clone();
        latin[42] = 0xff;
        assert!(parse(&latin).contains("not UTF-8"));
        // bound to the model: ids out of the vocabulary, sequences past the maximum, work
        // over the limits
        let m = Arc::new(SMALL.model(7));
        let bind = |seqs: Vec<Vec<u32>>, limits: &Limits| {
            let b = encode_input(&model_hash(), "u", &seqs).unwrap();
            Job::parse(&b, limits)
                .unwrap()
                .bind_model(m.clone(), limits)
                .map(|_| ())
                .unwrap_err()
        };
        let e = bind(vec![vec![1, 50]], &l);
        assert!(
            e.to_string()
                .contains("token id 50 is outside the vocabulary (50)"),
            "{e}"
        );
        let e = bind(vec![vec![1; 13]], &l);
        assert!(e.to_string().contains("13 tokens (1 ..= 12"), "{e}");
        let small = Limits {
            max_host_bytes: 1 << 10,
            ..Limits::default()
        };
        assert!(
            matches!(bind(vec![vec![1; 12]; 4], &small), ComputeError::TooLarge(m) if m.contains("working memory"))
        );
        let few = Limits {
            max_macs: 100,
            ..Limits::default()
        };
        assert!(
            matches!(bind(vec![vec![1; 12]], &few), ComputeError::TooLarge(m) if m.contains("multiply-adds"))
        );
        // another kernel's job takes no model
        let g = crate::gemm::build_f32_input(2, 2, 2, 1).unwrap();
        let e = Job::parse(&g, &l).unwrap().bind_model(m, &l).unwrap_err();
        assert!(e.to_string().contains("take no model"));
    }
}
