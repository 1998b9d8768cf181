//! `tessera blobs …`: serve a blob directory, put and get blobs (streamed: a file is never
//! held in memory whole).
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use tessera_client::blobs::{self, BlobTarget, DirStore};

#[derive(Subcommand)]
pub enum BlobsCmd {
    /// Serve a blob directory over HTTP (GET/PUT /blobs/<blake3 hex>).
    Serve {
        /// Directory holding the blobs.
        #[arg(long, default_value = ".tessera/blobs")]
        dir: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8990")]
        addr: SocketAddr,
    },
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

pub fn blobs_cmd(cmd: &BlobsCmd) -> Result<()> {
    match cmd {
        BlobsCmd::Serve { dir, addr } => {
            let store = DirStore::open(dir)?;
            println!(
                "serving {} on http://{addr}/blobs/<blake3>",
                store.root().display()
            );
            tokio::runtime::Runtime::new()?.block_on(blobs::serve(store, *addr, async {
                let _ = tokio::signal::ctrl_c().await;
            }))?;
        }
        BlobsCmd::Put { file, blobs: b } => {
            let (h, uri) = blobs::block_on(BlobTarget::parse(b)?.put_file(file))
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
