use std::sync::Arc;

use safetensors::Dtype;

use super::forward::{forward, KvCache, Logits, Path};
use super::*;
use crate::limits::Limits;
use crate::rng::SplitMix64;
use crate::testcases::decoder::{random_decoder_blob, random_decoder_safetensors, DecoderShape};

fn model(s: &DecoderShape, seed: u64) -> DecoderModel {
    DecoderModel::parse(&random_decoder_blob(s, seed, Dtype::F32)).unwrap()
}

fn prompts(vocab: usize, lens: &[usize], seed: u64) -> Vec<Vec<u32>> {
    let mut r = SplitMix64::new(seed);
    lens.iter()
        .map(|&l| (0..l).map(|_| r.below(vocab as u64) as u32).collect())
        .collect()
}

fn bits(rows: &[Vec<f32>]) -> Vec<Vec<u32>> {
    rows.iter()
        .map(|r| r.iter().map(|v| v.to_bits()).collect())
        .collect()
}

/// Logits of every position of `p`, prefilled in one pass.
fn prefill_all(path: Path, m: &DecoderModel, p: &[u32]) -> Vec<Vec<f32>> {
    let mut c = vec![KvCache::new(m.config.num_hidden_layers)];
    forward(path, m, &mut c, &[(0, p)], Logits::All)
}

/// Logits of every position of `p`, one token per pass.
fn one_by_one(path: Path, m: &DecoderModel, p: &[u32]) -> Vec<Vec<f32>> {
    let mut c = vec![KvCache::new(m.config.num_hidden_layers)];
    p.iter()
        .flat_map(|t| {
            forward(
                path,
                m,
                &mut c,
                &[(0, std::slice::from_ref(t))],
                Logits::All,
            )
        })
        .collect()
}

#[test]
fn prefill_and_token_by_token_give_the_same_bits_on_every_path_and_architecture() {
    for arch in [Arch::Llama, Arch::Qwen2, Arch::Mistral] {
        let s = DecoderShape::small(arch, 97);
        let m = model(&s, 3);
        // 40 tokens: past Mistral's 32-token window
        let p = &prompts(97, &[40], 5)[0];
        let whole = bits(&prefill_all(Path::Plain, &m, p));
        assert_eq!(whole.len(), 40);
        assert_eq!(
            whole,
            bits(&prefill_all(Path::Fast, &m, p)),
            "{arch:?} fast"
        );
        assert_eq!(
            whole,
            bits(&one_by_one(Path::Plain, &m, p)),
            "{arch:?} steps"
        );
        assert_eq!(
            whole,
            bits(&one_by_one(Path::Fast, &m, p)),
            "{arch:?} fast steps"
        );
        // a prefix prefilled, the rest decoded
        let mut c = vec![KvCache::new(s.layers)];
        let mut mixed = forward(Path::Fast, &m, &mut c, &[(0, &p[..17])], Logits::All);
        mixed.extend(forward(
            Path::Fast,
            &m,
            &mut c,
            &[(0, &p[17..])],
            Logits::All,
        ));
        assert_eq!(whole, bits(&mixed), "{arch:?} split");
        assert!(whole
            .iter()
            .flatten()
            .all(|b| f32::from_bits(*b).is_finite()));
    }
}

#[test]
fn a_sequences_logits_do_not_depend_on_the_rest_of_the_batch() {
    let s = DecoderShape::small(Arch::Qwen2, 97);
    let m = model(&s, 4);
    let ps = prompts(97, &[9, 1, 23, 4], 6);
    let alone: Vec<_> = ps
        .iter()
        .map(|p| bits(&prefill_all(Path::Fast, &m, p)))
        .collect();
    let mut caches = vec![KvCache::new(s.layers); 4];
    let batch: Vec<(usize, &[u32])> = ps
        .iter()
        .enumerate()
        .map(|(i, p)| (i, p.as_slice()))
        .collect();
    let together = bits(&forward(Path::Fast, &m, &mut caches, &batch, Logits::All));
    assert_eq!(together, alone.concat());
}

#[test]
fn sliding_window_limits_what_mistral_attends() {
    // with a 32-token window and 2 layers, token 0 reaches positions up to 2 · 31: past
    // them its influence is gone
    let s = DecoderShape::small(Arch::Mistral, 97);
    let m = model(&s, 7);
    let mut p = prompts(97, &[70], 8).remove(0);
    let a = prefill_all(Path::Fast, &m, &p);
    p[0] = (p[0] + 1) % 97;
    let b = prefill_all(Path::Fast, &m, &p);
    assert_ne!(bits(&a[20..21]), bits(&b[20..21]), "inside the window");
    assert_ne!(bits(&a[62..63]), bits(&b[62..63]), "through two layers");
    assert_eq!(bits(&a[63..]), bits(&b[63..]), "beyond the window's reach");
}

#[test]
fn bf16_and_f32_checkpoints_load_the_same_widened_values() {
    let s = DecoderShape::small(Arch::Llama, 50);
    let f = model(&s, 9);
    let b = DecoderModel::parse(&random_decoder_blob(&s, 9, Dtype::BF16)).unwrap();
    for (x, y) in f.layers[1].down_w.iter().zip(&b.layers[1].down_w) {
        assert_eq!(
            crate::testcases::decoder::to_bf16(*x) as u32,
            y.to_bits() >> 16,
            "bf16 widened exactly"
        );
        assert_eq!(y.to_bits() & 0xffff, 0);
    }
    // f16: exact for every value it holds
    for h in [
        0x0000u16, 0x0001, 0x03ff, 0x0400, 0x3c00, 0x7bff, 0xc000, 0x7c00, 0xfc00,
    ] {
        let want = half_ref(h);
        assert_eq!(model::f16_to_f32(h).to_bits(), want.to_bits(), "{h:#06x}");
    }
}

/// f16 decoded by its definition, in f64.
fn half_ref(h: u16) -> f32 {
    let s = if h >> 15 == 1 { -1.0 } else { 1.0 };
    let e = ((h >> 10) & 0x1f) as i32;
    let m = (h & 0x3ff) as f64;
    match e {
        0 => (s * m * 2f64.powi(-24)) as f32,
        31 if m == 0.0 => (s * f64::INFINITY) as f32,
        _ => (s * (1.0 + m / 1024.0) * 2f64.powi(e - 15)) as f32,
    }
}

fn job(
    m: &Arc<DecoderModel>,
    n: u32,
    sampling: Sampling,
    stop: &[u32],
    first: u32,
    ps: &[Vec<u32>],
) -> Result<GenerateJob, crate::error::ComputeError> {
    let blob = encode_input(&[7; 32], "blob:x", n, &sampling, stop, first, ps)?;
    GenerateJob::parse(&blob, &Limits::default())?.with_model(m.clone(), &Limits::default())
}

#[test]
fn completions_are_the_same_alone_or_in_a_batch_and_on_both_paths() {
    let s = DecoderShape::small(Arch::Llama, 97);
    let m = Arc::new(model(&s, 10));
    let ps = prompts(97, &[5, 12, 1, 30], 11);
    for sampling in [
        Sampling::greedy(),
        Sampling {
            temperature: 0.8,
            top_k: 20,
            top_p: 0.9,
            repetition_penalty: 1.3,
            seed: 42,
        },
    ] {
        let all = job(&m, 12, sampling, &[], 0, &ps).unwrap();
        let together = all.completions(Path::Fast).unwrap();
        assert_eq!(together, all.completions(Path::Plain).unwrap());
        // a shard of one prompt, keyed by its index in the whole request
        for (i, p) in ps.iter().enumerate() {
            let one = job(&m, 12, sampling, &[], i as u32, std::slice::from_ref(p)).unwrap();
            assert_eq!(
                one.completions(Path::Fast).unwrap()[0],
                together[i],
                "prompt {i}"
            );
        }
        assert!(together
            .iter()
            .all(|c| c.tokens.len() == 12 && c.finish == Finish::Length));
        // the output round-trips
        assert_eq!(
            decode_output(&job::encode_output(&together)).unwrap(),
            together
        );
    }
    // a stop token ends a completion and is its last token
    let g = job(&m, 12, Sampling::greedy(), &[], 0, &ps[..1]).unwrap();
    let first = g.completions(Path::Fast).unwrap()[0].tokens[3];
    let stopped = job(&m, 12, Sampling::greedy(), &[first], 0, &ps[..1])
        .unwrap()
        .completions(Path::Fast)
        .unwrap();
    let c = &stopped[0];
    assert_eq!(c.finish, Finish::Stop);
    assert_eq!(*c.tokens.last().unwrap(), first);
    assert!(c.tokens.len() <= 4);
}

#[test]
fn greedy_completions_follow_the_logits() {
    // each greedy token is the argmax of the prefilled logits of the sequence so far
    let s = DecoderShape::small(Arch::Qwen2, 97);
    let m = Arc::new(model(&s, 12));
    let p = prompts(97, &[6], 13).remove(0);
    let c = job(&m, 8, Sampling::greedy(), &[], 0, std::slice::from_ref(&p))
        .unwrap()
        .completions(Path::Fast)
        .unwrap()
        .remove(0);
    let full: Vec<u32> = p.iter().chain(&c.tokens).copied().collect();
    let logits = prefill_all(Path::Plain, &m, &full);
    for (i, t) in c.tokens.iter().enumerate() {
        assert_eq!(
            sample::argmax(&logits[p.len() - 1 + i]),
            Some(*t),
            "token {i}"
        );
    }
}

fn err(r: Result<impl std::fmt::Debug, crate::error::ComputeError>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn configs_the_kernel_cannot_run_are_refused_by_field() {
    let s = DecoderShape::small(Arch::Llama, 50);
    let base: serde_json::Value = serde_json::from_str(&s.config_json()).unwrap();
    let with = |k: &str, v: serde_json::Value| {
        let mut c = base.clone();
        c[k] = v;
        DecoderConfig::parse(c.to_string().as_bytes())
    };
    use serde_json::json;
    for (r, want) in [
        (
            with("architectures", json!(["GPT2LMHeadModel"])),
            "`architectures` [\"GPT2LMHeadModel\"] is not supported",
        ),
        (with("hidden_act", json!("gelu")), "`hidden_act` = `gelu`"),
        (
            with("rope_scaling", json!({"rope_type": "yarn", "factor": 4.0})),
            "type `yarn` is not supported",
        ),
        (
            with("num_key_value_heads", json!(3)),
            "not a multiple of 3 key/value heads",
        ),
        (with("rms_norm_eps", json!(0.0)), "`rms_norm_eps` = 0"),
        (with("mlp_bias", json!(true)), "`mlp_bias`"),
        (
            with("hidden_size", json!(65)),
            "`hidden_size` 65 is not a multiple of 4 heads",
        ),
        (with("vocab_size", json!(0)), "`vocab_size` = 0"),
    ] {
        let e = err(r);
        assert!(e.contains(want), "{e} (wanted {want})");
    }
    let mut q = serde_json::from_str::<serde_json::Value>(
        &DecoderShape::small(Arch::Qwen2, 50).config_json(),
    )
    .unwrap();
    q["use_sliding_window"] = json!(true);
    assert!(err(DecoderConfig::parse(q.to_string().as_bytes())).contains("`use_sliding_window`"));
}

#[test]
fn weights_that_do_not_fit_the_config_are_refused_by_name() {
    use safetensors::tensor::TensorView;
    let s = DecoderShape::small(Arch::Llama, 50);
    let good = random_decoder_safetensors(&s, 1, Dtype::F32);
    let st = safetensors::SafeTensors::deserialize(&good).unwrap();
    // rebuild the file with one tensor changed
    type Tensor = (Dtype, Vec<usize>, Vec<u8>);
    let edit = |name: &str, f: &dyn Fn(&[u8]) -> Tensor| -> String {
        let owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
            .tensors()
            .into_iter()
            .filter_map(|(n, t)| {
                if n == name {
                    let (d, sh, b) = f(t.data());
                    if sh.is_empty() {
                        return None;
                    }
                    Some((n, d, sh, b))
                } else {
                    Some((n, t.dtype(), t.shape().to_vec(), t.data().to_vec()))
                }
            })
            .collect();
        let views: Vec<(String, TensorView)> = owned
            .iter()
            .map(|(n, d, sh, b)| (n.clone(), TensorView::new(*d, sh.clone(), b).unwrap()))
            .collect();
        let w = safetensors::serialize(views, None).unwrap();
        let blob = DecoderFiles {
            config: s.config_json().as_bytes(),
            tokenizer: None,
            tokenizer_config: None,
            generation_config: None,
            weights: &w,
        }
        .encode()
        .unwrap();
        err(DecoderModel::parse(&blob))
    };
    let q = "model.layers.1.self_attn.q_proj.weight";
    let nan = edit(q, &|d| {
        let mut b = d.to_vec();
        b[40..44].copy_from_slice(&f32::NAN.to_le_bytes());
        (Dtype::F32, vec![64, 64], b)
    });
    assert!(
        nan.contains(&format!("tensor `{q}` holds NaN at element 10")),
        "{nan}"
    );
    let missing = edit(q, &|_| (Dtype::F32, vec![], vec![]));
    assert!(
        missing.contains(&format!("tensor `{q}` is missing")),
        "{missing}"
    );
    let shape = edit(q, &|d| (Dtype::F32, vec![32, 128], d.to_vec()));
    assert!(
        shape.contains("has shape [32, 128], the config needs [64, 64]"),
        "{shape}"
    );
    let dtype = edit(q, &|d| (Dtype::I32, vec![64, 64], d.to_vec()));
    assert!(dtype.contains("is I32 (F32, BF16 or F16)"), "{dtype}");
    // an encoder blob is not a decoder
    let e = err(DecoderModel::parse(
        &crate::testcases::random_embed_model_blob(
            &crate::testcases::EmbedShape::bert(8, 2, 1, 16),
            1,
        ),
    ));
    assert!(e.contains("TSLM"), "{e}");
}

#[test]
fn jobs_no_worker_could_run_are_refused_by_name() {
    let s = DecoderShape::small(Arch::Llama, 97);
    let m = Arc::new(model(&s, 14));
    let g = Sampling::greedy();
    let ok = prompts(97, &[4], 1);
    for (r, want) in [
        (
            job(&m, 0, g, &[], 0, &ok).map(|_| ()),
            "a limit of 0 new tokens",
        ),
        (
            job(&m, 40_000, g, &[], 0, &ok).map(|_| ()),
            "a limit of 40000 new tokens",
        ),
        (job(&m, 4, g, &[], 0, &[]).map(|_| ()), "0 prompts"),
        (
            job(&m, 4, g, &[], 0, &[vec![]]).map(|_| ()),
            "prompt 0 is empty",
        ),
        (
            job(&m, 4, g, &[], 0, &[vec![3, 97]]).map(|_| ()),
            "prompt 0 holds token 97, the vocabulary has 97",
        ),
        (job(&m, 4, g, &[500], 0, &ok).map(|_| ()), "stop token 500"),
        (
            job(&m, 250, g, &[], 0, &prompts(97, &[10], 2)).map(|_| ()),
            "10 tokens and 250 new ones exceed the model's context of 256",
        ),
        (
            job(&m, 4, Sampling { top_p: 2.0, ..g }, &[], 0, &ok).map(|_| ()),
            "top-p 2",
        ),
        (
            job(&m, 4, g, &[], u32::MAX, &ok).map(|_| ()),
            "run past the last index",
        ),
    ] {
        let e = err(r);
        assert!(e.contains(want), "{e} (wanted {want})");
    }
    // a lying prompt length, and trailing bytes
    let blob = encode_input(&[7; 32], "blob:x", 4, &g, &[], 0, &ok).unwrap();
    let mut lying = blob.clone();
    let at = blob.len() - 4 * 4 - 4;
    lying[at..at + 4].copy_from_slice(&1000u32.to_le_bytes());
    let e = err(GenerateJob::parse(&lying, &Limits::default()));
    assert!(e.contains("prompt token ids"), "{e}");
    let mut trailing = blob.clone();
    trailing.push(0);
    let e = err(GenerateJob::parse(&trailing, &Limits::default()));
    assert!(e.contains("trailing"), "{e}");
    // over the host limit: the model alone does not fit
    let tight = Limits {
        max_host_bytes: 1 << 16,
        ..Limits::default()
    };
    let j = GenerateJob::parse(&blob, &Limits::default()).unwrap();
    let e = err(j.with_model(m.clone(), &tight));
    assert!(e.contains("bytes of host memory"), "{e}");
}
