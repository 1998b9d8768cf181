//! What both binaries share at the command line: keypair loading with a useful error, and
//! turning an error chain into one line that says what is wrong and what to do.
use std::path::PathBuf;

use anyhow::{anyhow, Result};
use solana_sdk::signature::{read_keypair_file, Keypair};

/// `~/x` → `$HOME/x`.
pub fn expand(path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(rest),
        None => PathBuf::from(path),
    }
}

/// Reads a keypair file in the Solana CLI format (a JSON array of 64 bytes).
pub fn load_keypair(path: &str) -> Result<Keypair> {
    let p = expand(path);
    if !p.exists() {
        return Err(anyhow!(
            "keypair file {} does not exist: pass --keypair <file> or create one with `solana-keygen new -o {}`",
            p.display(),
            p.display()
        ));
    }
    read_keypair_file(&p).map_err(|e| {
        anyhow!(
            "{} is not a keypair file (expected the Solana CLI JSON format, 64 numbers): {e}",
            p.display()
        )
    })
}

/// The error chain on one line, with a hint for the failures people hit most. `url` is the RPC
/// URL in use and `url_fix` says how to change it (`pass --url`, `set rpc_url in …`).
pub fn one_line(e: &anyhow::Error, url: &str, url_fix: &str) -> String {
    let msg = format!("{e:#}").replace('\n', " ");
    let lower = msg.to_lowercase();
    let hint = if lower.contains("connection refused")
        || lower.contains("error sending request")
        || lower.contains("tcp connect error")
        || lower.contains("dns error")
    {
        format!(" — cannot reach the RPC at {url}: is the validator running? (start a local network with `scripts/demo.sh --keep`, or {url_fix})")
    } else if lower.contains("fetching config")
        || lower.contains("account not found") && lower.contains("config")
    {
        " — no Tessera config on this cluster: deploy and initialise it with `migrations/deploy.sh --url <rpc>`".to_string()
    } else if lower.contains("attempt to debit an account but found no record of a prior credit")
        || lower.contains("insufficient lamports")
    {
        " — the signer has no SOL for fees/rent: fund it (`solana airdrop` on a local or test cluster)".to_string()
    } else {
        String::new()
    };
    format!("{msg}{hint}")
}
