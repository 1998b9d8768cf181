//! `tessera blobs serve`: the built-in blob server's flags and start.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use solana_sdk::pubkey::Pubkey;
use tessera_blobs as blobs;
use tessera_blobs::allow::{AllowList, NodeCachePolicy, RpcNodeRegistry};
use tessera_blobs::gc::ChainReferences;
use tessera_blobs::{DirStore, GcConfig, ServerConfig};

/// Serve a blob directory over HTTP (GET/HEAD/PUT /blobs/<blake3 hex>).
///
/// Uploads stream to disk and are kept only when they hash to their name. Each upload must be
/// signed (ed25519, a Solana key) over `tessera-blob-upload-v1:<hash>:<size>:<expiry>` by a key
/// of the allow-list: --allow, --allow-file, or a registered node's operator (--rpc-url).
/// Refusals: 401 missing/forged/expired signature, 403 signer not allowed, 413 too large,
/// 400 hash mismatch, 507 quota. Downloads support Range and ETag (If-None-Match). See
/// docs/SECURITY.md.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct ServeArgs {
    /// Directory holding the blobs.
    #[arg(long, default_value = ".tessera/blobs")]
    dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8990")]
    addr: SocketAddr,
    /// Allow uploads signed by this public key (base58; repeatable).
    #[arg(long = "allow", value_name = "PUBKEY")]
    allow: Vec<Pubkey>,
    /// Allow uploads signed by the keys in this file (one base58 key a line, `#` comments);
    /// re-read whenever it changes.
    #[arg(long, value_name = "FILE")]
    allow_file: Option<PathBuf>,
    /// A Solana RPC URL: registered nodes may upload (their Node account is looked up, the
    /// answer cached), and garbage collection keeps what this cluster's jobs reference.
    #[arg(long, value_name = "URL")]
    rpc_url: Option<String>,
    /// Anyone may upload, unsigned and without quota: for a demo on one machine only.
    #[arg(long, conflicts_with_all = ["allow", "allow_file", "rpc_url", "quota_bytes"])]
    open: bool,
    /// Largest blob accepted, in bytes.
    #[arg(long, default_value_t = blobs::MAX_BLOB_BYTES as u64)]
    max_blob_bytes: u64,
    /// Bytes each signer may store here (default: no limit).
    #[arg(long)]
    quota_bytes: Option<u64>,
    /// Latest accepted expiry of an upload signature, in seconds from now.
    #[arg(long, default_value_t = 3600)]
    max_expiry_secs: u64,
    /// Collect garbage this often (e.g. 10m, 1h; needs --rpc-url): delete blobs that no job on
    /// the cluster references and that are older than --gc-grace.
    #[arg(long, value_parser = parse_duration, requires = "rpc_url")]
    gc_every: Option<Duration>,
    /// Age under which an unreferenced blob is kept (an upload waiting for its job's post).
    #[arg(long, value_parser = parse_duration, default_value = "24h")]
    gc_grace: Duration,
    /// Log what garbage collection would delete, and delete nothing.
    #[arg(long)]
    gc_dry_run: bool,
    /// Also serve the built web page (`web/dist`, `web/build.sh`) at `/`: the page then
    /// uploads to this server as its own origin.
    #[arg(long, value_name = "DIR")]
    web: Option<PathBuf>,
}

pub fn serve(a: &ServeArgs) -> Result<()> {
    let store = DirStore::open(&a.dir)?;
    let mut cfg = if a.open {
        ServerConfig::open()
    } else {
        if a.allow.is_empty() && a.allow_file.is_none() && a.rpc_url.is_none() {
            bail!(
                "no one could upload to this server: name who may with --allow <PUBKEY>, --allow-file <FILE> and/or --rpc-url <URL> (registered nodes), or pass --open for a local demo"
            );
        }
        let mut list = AllowList::keys(a.allow.iter().copied());
        if let Some(f) = &a.allow_file {
            list = list.with_file(f)?;
        }
        if let Some(url) = &a.rpc_url {
            list = list.with_nodes(
                Arc::new(RpcNodeRegistry::new(url)),
                NodeCachePolicy::default(),
            );
        }
        ServerConfig::signed(list)
    };
    cfg.max_blob_bytes = a.max_blob_bytes;
    cfg.quota_bytes = a.quota_bytes;
    cfg.max_expiry_ahead_secs = a.max_expiry_secs;
    if let Some(dir) = &a.web {
        if !dir.join("index.html").is_file() {
            bail!(
                "--web {}: no index.html there (build the page with `bash web/build.sh`)",
                dir.display()
            );
        }
        cfg.web_root = Some(dir.clone());
    }
    let gc = match (a.gc_every, &a.rpc_url) {
        (Some(every), Some(url)) => Some(GcConfig {
            every,
            grace: a.gc_grace,
            dry_run: a.gc_dry_run,
            source: Arc::new(ChainReferences::new(url)),
        }),
        _ => None,
    };
    println!(
        "serving {} on http://{}/blobs/<blake3> (uploads: {}; largest blob {} bytes; quota {}; gc {})",
        store.root().display(),
        a.addr,
        if a.open { "OPEN to anyone" } else { "signed, allow-list" },
        a.max_blob_bytes,
        a.quota_bytes
            .map_or("none".to_string(), |q| format!("{q} bytes per signer")),
        gc.as_ref().map_or("off".to_string(), |g| format!(
            "every {} s, grace {} s{}",
            g.every.as_secs(),
            g.grace.as_secs(),
            if g.dry_run { ", dry run" } else { "" }
        )),
    );
    if let Some(dir) = &a.web {
        println!("web page: http://{}/ (from {})", a.addr, dir.display());
    }
    tokio::runtime::Runtime::new()?.block_on(blobs::serve(store, cfg, gc, a.addr, async {
        let _ = tokio::signal::ctrl_c().await;
    }))
}

/// `90`, `90s`, `10m`, `24h`, `7d`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}`: expected a duration such as 90s, 10m, 24h or 7d"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (s, m, h or d)")),
    };
    if n == 0 {
        return Err(format!("`{s}`: must be more than zero"));
    }
    Ok(Duration::from_secs(n * mult))
}
