//! A decoder directory as Hugging Face ships one, made here (no pretrained decoder can be
//! downloaded on these machines): `config.json` and `model.safetensors` of a random decoder
//! (`tessera_compute::testcases::decoder`), a byte-level BPE `tokenizer.json` trained with
//! the `tokenizers` crate on real English (the WordNet usage examples and definitions set-up
//! installs), `tokenizer_config.json` with SmolLM2's ChatML chat template, and
//! `generation_config.json`.
use std::path::Path;

use anyhow::{Context, Result};
use tessera_compute::testcases::decoder::{random_decoder_safetensors, DecoderShape, Dtype};
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

/// The special tokens, ids 0, 1, 2 (SmolLM2's).
pub const SPECIAL: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// SmolLM2-Instruct's chat template (`tokenizer_config.json`).
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// Every text of the WordNet pairs (usage examples and definitions).
pub fn wordnet_texts() -> Result<Vec<String>> {
    let dir = crate::wordnet_pairs_dir()?;
    let mut out = Vec::new();
    for f in ["train.jsonl", "heldout.jsonl"] {
        let data = std::fs::read_to_string(dir.join(f))?;
        for line in data.lines() {
            let v: serde_json::Value = serde_json::from_str(line)?;
            for k in ["anchor", "positive"] {
                if let Some(s) = v.get(k).and_then(|s| s.as_str()) {
                    out.push(s.to_string());
                }
            }
        }
    }
    Ok(out)
}

/// A byte-level BPE tokenizer of `vocab` tokens trained on `texts`: `tokenizer.json`.
pub fn train_tokenizer(texts: &[String], vocab: usize) -> Result<String> {
    let trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(SPECIAL.iter().map(|s| AddedToken::from(*s, true)).collect())
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut t = Tokenizer::new(BPE::default());
    t.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    t.with_decoder(Some(ByteLevel::default()));
    t.with_post_processor(Some(ByteLevel::new(false, true, true)));
    let mut wrapped: tokenizers::models::TrainerWrapper = trainer.into();
    t.train(&mut wrapped, texts.iter())
        .map_err(|e| anyhow::anyhow!("training the tokenizer: {e}"))?;
    t.add_special_tokens(
        &SPECIAL
            .iter()
            .map(|s| AddedToken::from(*s, true))
            .collect::<Vec<_>>(),
    );
    t.to_string(false)
        .map_err(|e| anyhow::anyhow!("tokenizer.json: {e}"))
}

/// Writes a decoder directory of shape `s` (weights from `seed` in `dtype`) with `tokenizer`
/// (a `tokenizer.json`) into `dir`.
pub fn write_decoder_dir(
    dir: &Path,
    s: &DecoderShape,
    seed: u64,
    dtype: Dtype,
    tokenizer: &str,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("config.json"), s.config_json())?;
    std::fs::write(
        dir.join("model.safetensors"),
        random_decoder_safetensors(s, seed, dtype),
    )?;
    std::fs::write(dir.join("tokenizer.json"), tokenizer)?;
    let tc = serde_json::json!({
        "bos_token": "<|im_start|>",
        "eos_token": "<|im_end|>",
        "unk_token": "<|endoftext|>",
        "model_max_length": s.positions,
        "chat_template": CHATML_TEMPLATE,
    });
    std::fs::write(dir.join("tokenizer_config.json"), tc.to_string())?;
    let gc = serde_json::json!({"bos_token_id": 1, "eos_token_id": 2});
    std::fs::write(dir.join("generation_config.json"), gc.to_string())?;
    Ok(())
}

/// A small decoder of `arch` (vocabulary 2048) with a WordNet-trained tokenizer, in `dir`.
pub fn small_decoder_dir(dir: &Path, arch: tessera_compute::generate::Arch) -> Result<()> {
    let tok = train_tokenizer(&wordnet_texts()?, 2048)?;
    let s = DecoderShape {
        hidden: 128,
        inter: 344,
        heads: 8,
        kv_heads: 2,
        layers: 3,
        positions: 512,
        // small embeddings: logits spread enough that sampling shows more than the last token
        embed_scale: 0.05,
        ..DecoderShape::small(arch, 2048)
    };
    write_decoder_dir(dir, &s, 5, Dtype::BF16, &tok)
}
