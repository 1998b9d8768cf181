//! `tessera blobs …`: serve a blob directory, put and get blobs.
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
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let (h, uri) = blobs::block_on(BlobTarget::parse(b)?.put(&bytes))?;
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
