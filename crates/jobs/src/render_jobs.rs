//! Render jobs on the network: a [`RenderPlan`]'s tiles posted as jobs (one per tile and
//! frame) and their verified results fetched back into frames. The plan itself (import, tiles,
//! manifest, frame files) is [`crate::render_plan`].
//!
//! Used by `tessera job post --kernel render --scene shot.glb --tiles 4x4 --frames 1..24`,
//! `tessera job result <manifest>`, the demo and the network test.
use tessera_compute::render as kernel;

use anyhow::{bail, Context, Result};
use solana_client::rpc_client::RpcClient;
use solana_sdk::{pubkey::Pubkey, signature::Keypair};

use crate::jobs::{self, Posted, Poster};
use crate::jobspec::JobSpec;
pub use crate::render_plan::{
    parse_frames, parse_tiles, pfm_bytes, plan, write_frame, write_frames, ManifestFrame,
    ManifestTile, RenderManifest, RenderOptions, RenderPlan, MAX_FRAMES, MAX_TILES,
};
use tessera_blobs::BlobTarget;

/// Posts every tile of every frame of `plan` (one job each, confirmed together).
pub fn post(
    rpc: &RpcClient,
    client: &Keypair,
    spec: &JobSpec,
    plan: &RenderPlan,
    target: &BlobTarget,
) -> Result<(Vec<Posted>, RenderManifest)> {
    let mut poster = Poster::new(rpc, client)?;
    let mut sent = Vec::new();
    for (_, tiles) in &plan.frames {
        for (_, blob) in tiles {
            sent.push(poster.send_input(spec, blob.clone(), target)?);
        }
    }
    let mut posted = Vec::new();
    for (s, verdict) in poster.confirm(sent, std::time::Duration::from_secs(60)) {
        posted.push(verdict.with_context(|| format!("tile job {}", s.job))?);
    }
    let mut it = posted.iter();
    let frames = plan
        .frames
        .iter()
        .map(|(f, tiles)| ManifestFrame {
            frame: *f,
            tiles: tiles
                .iter()
                .map(|(t, _)| ManifestTile {
                    job: it.next().expect("one job per tile").job.to_string(),
                    x0: t.x0,
                    y0: t.y0,
                    w: t.w,
                    h: t.h,
                })
                .collect(),
        })
        .collect();
    let manifest = RenderManifest {
        width: plan.width,
        height: plan.height,
        frames,
    };
    Ok((posted, manifest))
}

/// Fetches every tile of every frame, each verified against its job's on-chain result hash,
/// and assembles the frames: `(frame, width × height × 3 linear radiance)`.
pub fn fetch_frames(
    rpc: &RpcClient,
    m: &RenderManifest,
    blobs_hint: Option<&str>,
) -> Result<Vec<(u32, Vec<f32>)>> {
    let (w, h) = (m.width as usize, m.height as usize);
    let mut out = Vec::new();
    for f in &m.frames {
        let mut frame = vec![0.0f32; w * h * 3];
        let mut covered = vec![false; w * h];
        for t in &f.tiles {
            let job: Pubkey = t
                .job
                .parse()
                .with_context(|| format!("manifest: `{}` is not a job address", t.job))?;
            let r = jobs::fetch_result(rpc, &job, blobs_hint)
                .with_context(|| format!("frame {} tile at ({}, {})", f.frame, t.x0, t.y0))?;
            let rgb = kernel::decode_radiance(&r.output.bytes, t.w, t.h)
                .with_context(|| format!("tile job {job}"))?;
            place(&mut frame, &mut covered, (w, h), t, &rgb)?;
        }
        if covered.iter().any(|c| !c) {
            bail!("frame {}: the tiles do not cover the frame", f.frame);
        }
        out.push((f.frame, frame));
    }
    Ok(out)
}

/// Copies a tile's pixels into the frame.
fn place(
    frame: &mut [f32],
    covered: &mut [bool],
    (w, h): (usize, usize),
    t: &ManifestTile,
    rgb: &[f32],
) -> Result<()> {
    let (x0, y0, tw, th) = (t.x0 as usize, t.y0 as usize, t.w as usize, t.h as usize);
    if x0 + tw > w || y0 + th > h {
        bail!("tile {tw}x{th} at ({x0}, {y0}) is outside the {w}x{h} frame");
    }
    for r in 0..th {
        let dst = ((y0 + r) * w + x0) * 3;
        frame[dst..dst + tw * 3].copy_from_slice(&rgb[r * tw * 3..(r + 1) * tw * 3]);
        for c in covered[(y0 + r) * w + x0..(y0 + r) * w + x0 + tw].iter_mut() {
            if *c {
                bail!("tiles overlap at row {}", y0 + r);
            }
            *c = true;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_and_frames_parse_and_say_what_is_wrong() {
        assert_eq!(parse_tiles("4x4").unwrap(), (4, 4));
        assert_eq!(parse_tiles("3X2").unwrap(), (3, 2));
        for bad in ["4", "0x2", "ax2", "64x64"] {
            assert!(parse_tiles(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_frames("1..24").unwrap(), 1..=24);
        assert_eq!(parse_frames("1..=3").unwrap(), 1..=3);
        assert_eq!(parse_frames("7").unwrap(), 7..=7);
        for bad in ["5..2", "x", "0..20000"] {
            assert!(parse_frames(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tiles_are_placed_once_and_overlaps_refused() {
        let (w, h) = (4usize, 3usize);
        let mut frame = vec![0.0; w * h * 3];
        let mut cov = vec![false; w * h];
        let t = |x0, y0, w, h| ManifestTile {
            job: String::new(),
            x0,
            y0,
            w,
            h,
        };
        place(&mut frame, &mut cov, (w, h), &t(0, 0, 2, 3), &[1.0; 18]).unwrap();
        place(&mut frame, &mut cov, (w, h), &t(2, 0, 2, 3), &[2.0; 18]).unwrap();
        assert!(cov.iter().all(|c| *c));
        assert_eq!(&frame[0..6], &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(&frame[6..12], &[2.0; 6]);
        assert!(place(&mut frame, &mut cov, (w, h), &t(1, 0, 2, 1), &[0.0; 6]).is_err());
        assert!(place(&mut frame, &mut cov, (w, h), &t(3, 0, 2, 1), &[0.0; 6]).is_err());
    }

    #[test]
    fn a_pfm_is_bottom_up_little_endian() {
        let rgb = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // 1x2: top pixel then bottom pixel
        let b = pfm_bytes(1, 2, &rgb);
        let header = b"PF\n1 2\n-1.0\n";
        assert_eq!(&b[..header.len()], header);
        let body: Vec<f32> = b[header.len()..]
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(body, [4.0, 5.0, 6.0, 1.0, 2.0, 3.0]);
    }
}
