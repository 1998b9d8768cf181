//! What both binaries (`tessera`, `tessera-worker`) share at the command line: keypair loading with a useful error, and
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

/// Writes a new keypair file (Solana CLI format) readable by its owner only (mode 0600 on
/// Unix, set when the file is created, so the key is never readable by others even briefly).
/// Refuses to overwrite an existing file.
pub fn write_new_keypair(path: &std::path::Path, kp: &Keypair) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| anyhow!("creating keypair file {}: {e}", path.display()))?;
    let bytes: Vec<u8> = kp.to_bytes().to_vec();
    f.write_all(serde_json::to_string(&bytes)?.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// The error chain on one line, with a hint for the failures people hit most. `url` is the RPC
/// URL in use and `url_fix` says how to change it (`pass --url`, `set rpc_url in …`).
pub fn one_line(e: &anyhow::Error, url: &str, url_fix: &str) -> String {
    let msg = format!("{e:#}").replace('\n', " ");
    let lower = msg.to_lowercase();
    let hint = if lower.contains("downloading http") || lower.contains("uploading") {
        // a blob store, not the RPC, is what could not be reached: the message names it
        String::new()
    } else if lower.contains("connection refused")
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

#[cfg(test)]
mod tests {
    use super::*;
    use solana_sdk::signer::Signer;

    #[test]
    fn an_unreachable_blob_store_is_not_blamed_on_the_rpc() {
        let e = anyhow!("tcp connect error: Connection refused")
            .context("downloading http://127.0.0.1:9/blobs/ab")
            .context("no copy of the result could be fetched");
        let line = one_line(&e, "http://127.0.0.1:8899", "pass --url");
        assert!(!line.contains("cannot reach the RPC"), "{line}");
        let e = anyhow!("tcp connect error: Connection refused").context("fetching config");
        let line = one_line(&e, "http://127.0.0.1:8899", "pass --url");
        assert!(
            line.contains("cannot reach the RPC at http://127.0.0.1:8899"),
            "{line}"
        );
    }

    #[test]
    fn new_keypair_files_are_private_and_never_overwritten() {
        let dir = std::env::temp_dir().join(format!("tessera-kp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("op.json");
        let _ = std::fs::remove_file(&p);
        let kp = Keypair::new();
        write_new_keypair(&p, &kp).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "mode {mode:o}");
        }
        assert_eq!(
            load_keypair(p.to_str().unwrap()).unwrap().pubkey(),
            kp.pubkey()
        );
        let e = write_new_keypair(&p, &Keypair::new()).unwrap_err();
        assert!(format!("{e}").contains("creating keypair file"), "{e}");
        assert_eq!(
            load_keypair(p.to_str().unwrap()).unwrap().pubkey(),
            kp.pubkey(),
            "not overwritten"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
