//! `tessera blobs …`: serve a blob directory, put and get blobs.
mod serve;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Subcommand;
use solana_sdk::signature::Keypair;
use tessera_client::blobs::{self, BlobTarget};

#[derive(Subcommand)]
pub enum BlobsCmd {
    Serve(serve::ServeArgs),
    /// Store a file; prints its hash and URI.
    Put {
        file: PathBuf,
        /// Blob server URL or directory.
        #[arg(long, env = "TESSERA_BLOBS", default_value = "http://127.0.0.1:8990")]
        blobs: String,
    },
    /// Fetch a blob by URI and check it against its hash.
    Get {
        /// http(s):// or file:// URI ending in the blob's hash.
        uri: String,
        /// Output file.
        #[arg(long, short = 'o')]
        out: PathBuf,
    },
}

pub fn blobs_cmd(cmd: &BlobsCmd, keypair: impl Fn() -> Result<Keypair>) -> Result<()> {
    match cmd {
        BlobsCmd::Serve(a) => serve::serve(a)?,
        BlobsCmd::Put { file, blobs: b } => {
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let (h, uri) = blobs::block_on(signed_target(b, keypair)?.put(&bytes))?;
            println!("{} {uri}", blobs::hex(&h));
        }
        BlobsCmd::Get { uri, out } => {
            let name = uri.rsplit('/').next().unwrap_or_default();
            let h = blobs::parse_hash(name)
                .with_context(|| format!("the URI `{uri}` does not end in a blob hash"))?;
            let bytes = blobs::block_on(blobs::fetch(uri, &h))?;
            std::fs::write(out, &bytes)?;
            println!(
                "{} bytes, hash verified, written to {}",
                bytes.len(),
                out.display()
            );
        }
    }
    Ok(())
}

/// `--blobs`: a blob server's uploads are signed by the `--keypair` key when it can be read
/// (only a server run `--open` takes unsigned ones).
pub fn signed_target(blobs: &str, keypair: impl Fn() -> Result<Keypair>) -> Result<BlobTarget> {
    let target = BlobTarget::parse(blobs)?;
    if !matches!(target, BlobTarget::Http { .. }) {
        return Ok(target);
    }
    match keypair() {
        Ok(kp) => Ok(target.signed_by(Arc::new(kp))),
        Err(e) => {
            eprintln!(
                "warning: uploading unsigned ({e:#}); only a blob server run --open accepts that"
            );
            Ok(target)
        }
    }
}
