//! `tessera blobs …`: serve a blob directory, put and get blobs (streamed: a file is never
//! held in memory whole).
mod serve;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Subcommand;
use solana_sdk::signature::Keypair;
use tessera_blobs as blobs;
use tessera_blobs::BlobTarget;

#[derive(Subcommand)]
pub enum BlobsCmd {
    Serve(serve::ServeArgs),
    /// Store a file (streamed); prints its hash and URI.
    Put {
        file: PathBuf,
        /// Blob server URL, directory, or object store (`s3://bucket/prefix`, `gs://…`,
        /// `az://…`; credentials and endpoint from the environment, see docs/STORAGE.md).
        #[arg(long, env = "TESSERA_BLOBS", default_value = "http://127.0.0.1:8990")]
        blobs: String,
    },
    /// Fetch a blob by URI (streamed to the file) and check it against its hash; the file
    /// appears only when the hash matches.
    Get {
        /// http(s)://, file:// or object store (s3://…) URI ending in the blob's hash.
        uri: String,
        /// Output file.
        #[arg(long, short = 'o')]
        out: PathBuf,
        /// Largest blob accepted (bytes); a larger one is refused before it is downloaded
        /// when its size is announced.
        #[arg(long, default_value_t = blobs::DEFAULT_MAX_FILE_BYTES)]
        max_bytes: u64,
    },
}

pub fn blobs_cmd(cmd: &BlobsCmd, keypair: impl Fn() -> Result<Keypair>) -> Result<()> {
    match cmd {
        BlobsCmd::Serve(a) => serve::serve(a)?,
        BlobsCmd::Put { file, blobs: b } => {
            let (h, uri) = blobs::block_on(signed_target(b, keypair)?.put_file(file))
                .with_context(|| format!("storing {}", file.display()))?;
            println!("{} {uri}", blobs::hex(&h));
        }
        BlobsCmd::Get {
            uri,
            out,
            max_bytes,
        } => {
            let name = uri.rsplit('/').next().unwrap_or_default();
            let h = blobs::parse_hash(name)
                .with_context(|| format!("the URI `{uri}` does not end in a blob hash"))?;
            let n = blobs::block_on(blobs::fetch_to_file(uri, &h, out, *max_bytes))?;
            println!("{n} bytes, hash verified, written to {}", out.display());
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
