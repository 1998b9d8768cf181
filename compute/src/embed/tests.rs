//! The model blob and the CPU forward pass on a small random encoder.
use std::collections::BTreeMap;

use safetensors::tensor::TensorView;
use safetensors::Dtype;

use super::*;
use crate::error::ComputeError;

const CONFIG: &str = r#"{"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 4,
 "intermediate_size": 32, "max_position_embeddings": 12, "vocab_size": 50,
 "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}"#;

/// Tensors of a random encoder of `CONFIG`'s shape: name -> (shape, values).
fn tensors(seed: u64) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
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
    add(
        "embeddings.word_embeddings.weight".into(),
        vec![50, 16],
        false,
    );
    add(
        "embeddings.position_embeddings.weight".into(),
        vec![12, 16],
        false,
    );
    add(
        "embeddings.token_type_embeddings.weight".into(),
        vec![2, 16],
        false,
    );
    add("embeddings.LayerNorm.weight".into(), vec![16], true);
    add("embeddings.LayerNorm.bias".into(), vec![16], false);
    for l in 0..2 {
        let p = format!("encoder.layer.{l}");
        for (n, o, i) in [
            ("attention.self.query", 16, 16),
            ("attention.self.key", 16, 16),
            ("attention.self.value", 16, 16),
            ("attention.output.dense", 16, 16),
            ("intermediate.dense", 32, 16),
            ("output.dense", 16, 32),
        ] {
            add(format!("{p}.{n}.weight"), vec![o, i], false);
            add(format!("{p}.{n}.bias"), vec![o], false);
        }
        for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
            add(format!("{p}.{n}.weight"), vec![16], true);
            add(format!("{p}.{n}.bias"), vec![16], false);
        }
    }
    t
}

fn safetensors_bytes(t: &BTreeMap<String, (Vec<usize>, Vec<f32>)>) -> Vec<u8> {
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
    let blob = encode_model(CONFIG.as_bytes(), &safetensors_bytes(&tensors(7))).unwrap();
    EmbedModel::parse(&blob).unwrap()
}

#[test]
fn embeddings_are_unit_length_deterministic_and_per_sequence() {
    let m = model();
    let seqs = vec![vec![1u32, 5, 9, 2], vec![1, 7, 2], vec![1, 5, 9, 2]];
    let a = embed(&m, &seqs).unwrap();
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
    let b = embed(&m, &seqs[1..2]).unwrap();
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
    let blob = encode_model(CONFIG.as_bytes(), &safetensors_bytes(&t)).unwrap();
    let m = EmbedModel::parse(&blob).unwrap();
    let ids = [1u32, 13, 27, 49, 0, 2];
    let got = embed(&m, &[ids.to_vec()]).unwrap();
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
        &safetensors_bytes(&missing)
    ))
    .contains("`encoder.layer.1.output.dense.weight` is missing"));
    // a wrong shape
    let mut shaped = t.clone();
    shaped.insert(
        "embeddings.LayerNorm.bias".into(),
        (vec![15], vec![0.0; 15]),
    );
    assert!(
        msg(encode_model(CONFIG.as_bytes(), &safetensors_bytes(&shaped)))
            .contains("has shape [15]")
    );
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
        let m = msg(encode_model(cfg.as_bytes(), &st));
        assert!(m.contains(want), "{m} lacks {want}");
    }
    // truncated weights, a wrong magic
    let blob = encode_model(CONFIG.as_bytes(), &st).unwrap();
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
    // inputs: empty, too long, out-of-vocabulary ids
    let m = EmbedModel::parse(&blob).unwrap();
    for (seq, want) in [
        (vec![], "0 tokens"),
        (vec![1u32; 13], "13 tokens"),
        (vec![1, 50, 2], "token id 50"),
    ] {
        match embed(&m, &[seq]) {
            Err(ComputeError::InvalidInput(e)) => assert!(e.contains(want), "{e}"),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }
}
