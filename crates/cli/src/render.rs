//! `tessera job post --kernel render --scene shot.glb [--tiles 4x4] [--frames 1..24]` and the
//! result of such a post: an artist's scene imported, compiled per frame and cut into tile
//! jobs; the verified tiles assembled into frames.
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use solana_client::rpc_client::RpcClient;
use solana_sdk::signature::Keypair;
use tessera_blobs::BlobTarget;
use tessera_jobs::jobspec::JobSpec;
use tessera_jobs::render_jobs::{self, RenderManifest};
use tessera_rpc as rpc;
use tessera_sdk::units::format_amount;

use crate::watch::watch;

pub fn post_render(
    url: &str,
    rpc: &RpcClient,
    client: &Keypair,
    spec: &JobSpec,
    target: &BlobTarget,
    manifest: Option<&Path>,
    follow: bool,
) -> Result<()> {
    let scene = spec.input.scene.as_deref().context("--scene")?;
    let o = spec.input.render_options()?;
    let plan = render_jobs::plan(Path::new(scene), &o)?;
    for w in &plan.warnings {
        println!("warning   {w}");
    }
    let tiles: usize = plan.frames.iter().map(|f| f.1.len()).sum();
    println!(
        "scene     {scene}: {} triangles, {}x{} at {} spp, {} frame(s), {tiles} tile job(s)",
        plan.triangles,
        o.width,
        o.height,
        o.spp,
        plan.frames.len()
    );
    let (posted, m) = render_jobs::post(rpc, client, spec, &plan, target)?;
    let d = rpc::decimals(rpc, &rpc::fetch_config(rpc)?)?;
    let deposit: u64 = posted.iter().map(|p| p.deposit).sum();
    println!("escrowed  {} tokens", format_amount(deposit, d));
    let path = manifest
        .map(Path::to_path_buf)
        .unwrap_or_else(|| format!("render-{}.json", posted[0].job).into());
    m.write(&path)?;
    println!("manifest  {}", path.display());
    println!(
        "result    tessera job result {} --url {url}  (verify: tessera job verify {} --recompute)",
        path.display(),
        path.display()
    );
    if follow {
        for p in &posted {
            watch(rpc, &p.job, Duration::from_secs(3600))?;
        }
    }
    Ok(())
}

/// `tessera job result <render manifest>`: every tile verified, the frames assembled.
pub fn result(
    rpc: &RpcClient,
    path: &Path,
    m: &RenderManifest,
    out: &Path,
    blobs: Option<&str>,
) -> Result<()> {
    let frames = render_jobs::fetch_frames(rpc, m, blobs)?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "render".into());
    let files = render_jobs::write_frames(out, &stem, m, &frames)?;
    let tiles: usize = m.frames.iter().map(|f| f.tiles.len()).sum();
    println!(
        "result    {} frame(s) of {}x{} from {tiles} tile job(s), each verified against its on-chain result hash",
        frames.len(),
        m.width,
        m.height
    );
    for f in files {
        println!("wrote     {}", f.display());
    }
    Ok(())
}
