//! `tessera model …`: models as content (the embed kernel's encoders, the generate kernel's
//! decoders).
use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use solana_sdk::signature::Keypair;
use tessera_blobs as blobs;
use tessera_jobs::{embed_jobs, embedding, generate_jobs, generation};

#[derive(Subcommand)]
pub enum ModelCmd {
    /// Upload a model directory (config.json, model.safetensors, tokenizer.json, as Hugging
    /// Face ships a BERT-family encoder or a Llama-family decoder, with its
    /// tokenizer_config.json and generation_config.json) as one blob; prints the hash jobs
    /// name it by.
    Put {
        dir: PathBuf,
        /// Blob server URL, directory, or object store (`s3://bucket/prefix`, …).
        #[arg(long, env = "TESSERA_BLOBS", default_value = "http://127.0.0.1:8990")]
        blobs: String,
    },
}

pub fn model_cmd(cmd: &ModelCmd, keypair: impl Fn() -> Result<Keypair>) -> Result<()> {
    match cmd {
        ModelCmd::Put { dir, blobs: b } => {
            let target = crate::blobs::signed_target(b, keypair)?;
            if generation::is_decoder_dir(dir) {
                let m = generate_jobs::put_decoder(dir, &target)?;
                let info = generation::DecoderInfo::from_blob(&m.blob)?;
                let c = &info.config;
                println!("{}", blobs::hex(&m.hash));
                eprintln!(
                    "uploaded  {} ({} MB): {}, {} layers, hidden {}, {}/{} heads, vocabulary {}, up to {} tokens",
                    m.uri,
                    m.blob.len() >> 20,
                    c.arch.name(),
                    c.num_hidden_layers,
                    c.hidden_size,
                    c.num_attention_heads,
                    c.num_key_value_heads,
                    c.vocab_size,
                    c.max_position_embeddings
                );
                eprintln!(
                    "post      tessera job post --kernel generate --model {} --prompts prompts.jsonl --max-tokens 128 --price <tokens>",
                    blobs::hex(&m.hash)
                );
                return Ok(());
            }
            let m = embed_jobs::put_model(dir, &target)?;
            let (config, _) = embedding::model_parts(&m.blob)?;
            println!("{}", blobs::hex(&m.hash));
            eprintln!(
                "uploaded  {} ({} MB): {} layers, hidden {}, {} heads, vocabulary {}, up to {} tokens",
                m.uri,
                m.blob.len() >> 20,
                config.num_hidden_layers,
                config.hidden_size,
                config.num_attention_heads,
                config.vocab_size,
                config.max_position_embeddings
            );
            eprintln!(
                "post      tessera job post --kernel embed --model {} --texts corpus.jsonl --price <tokens>",
                blobs::hex(&m.hash)
            );
        }
    }
    Ok(())
}
