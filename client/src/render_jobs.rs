//! Render jobs from artists' scene files (render spec 2): the scene imported (glTF, OBJ) and
//! compiled with its BVH once per frame, each frame split into tile jobs, and the verified
//! tiles assembled back into frames: an 8-bit PNG (the spec's tone map), a 16-bit PNG and a
//! linear float PFM for compositing.
//!
//! Used by `tessera job post --kernel render --scene shot.glb --tiles 4x4 --frames 1..24`,
//! `tessera job result <manifest>`, the demo and the network test.
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use solana_client::rpc_client::RpcClient;
use solana_sdk::{pubkey::Pubkey, signature::Keypair};
use tessera_compute::render::mesh_blob::{self, Tile};
use tessera_compute::render::{self as kernel, scene::CameraSpec};

use crate::jobs::{self, Posted, Poster};
use crate::jobspec::JobSpec;
use crate::scene_import::environment::Environment;
use crate::scene_import::{self, ImportOptions};
use tessera_blobs::BlobTarget;

/// Most tiles per frame.
pub const MAX_TILES: u32 = 1024;
/// Most frames in one post.
pub const MAX_FRAMES: u32 = 10_000;

/// What to render of a scene file.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub width: u32,
    pub height: u32,
    pub spp: u32,
    pub max_bounces: u32,
    pub seed: u32,
    /// Tile grid: columns × rows.
    pub tiles: (u32, u32),
    /// Frames (numbered from 0; frame `f` samples the animation at `f / fps` seconds).
    pub frames: RangeInclusive<u32>,
    pub fps: f32,
    /// Replaces the file's camera.
    pub camera: Option<CameraSpec>,
    /// Radiance of the sky (escaping rays). Default: black when the scene has emitters, else
    /// a white sky, so that a scene without lights is still seen.
    pub background: Option<[f32; 3]>,
    /// The world around the scene (`--environment r,g,b` or `sky.hdr`): seen by escaping rays
    /// and sampled as a light; replaces the background.
    pub environment: Option<Environment>,
}

impl RenderOptions {
    /// One whole frame (frame 0) of `width × height` at `spp`: 6 bounces, seed 1, 24 fps, the
    /// file's camera, the default sky.
    pub fn new(width: u32, height: u32, spp: u32) -> RenderOptions {
        RenderOptions {
            width,
            height,
            spp,
            max_bounces: 6,
            seed: 1,
            tiles: (1, 1),
            frames: 0..=0,
            fps: 24.0,
            camera: None,
            background: None,
            environment: None,
        }
    }
}

/// `"4x4"` → `(4, 4)`.
pub fn parse_tiles(s: &str) -> Result<(u32, u32)> {
    let (c, r) = s
        .split_once(['x', 'X'])
        .with_context(|| format!("--tiles {s}: expected COLSxROWS, e.g. 4x4"))?;
    let (c, r): (u32, u32) = (
        c.trim().parse().with_context(|| format!("--tiles {s}"))?,
        r.trim().parse().with_context(|| format!("--tiles {s}"))?,
    );
    if c == 0 || r == 0 || c * r > MAX_TILES {
        bail!("--tiles {s}: between 1 and {MAX_TILES} tiles");
    }
    Ok((c, r))
}

/// `"7"` or `"1..24"` (inclusive) → the frame range.
pub fn parse_frames(s: &str) -> Result<RangeInclusive<u32>> {
    let r = match s.split_once("..") {
        Some((a, b)) => {
            let a: u32 = a.trim().parse().with_context(|| format!("--frames {s}"))?;
            let b: u32 = b
                .trim()
                .trim_start_matches('=')
                .parse()
                .with_context(|| format!("--frames {s}"))?;
            a..=b
        }
        None => {
            let f: u32 = s.trim().parse().with_context(|| format!("--frames {s}"))?;
            f..=f
        }
    };
    if r.is_empty() || r.end() - r.start() >= MAX_FRAMES {
        bail!("--frames {s}: a non-empty range of at most {MAX_FRAMES} frames");
    }
    Ok(r)
}

/// The jobs a render post becomes, before anything is sent.
pub struct RenderPlan {
    pub width: u32,
    pub height: u32,
    /// Per frame: its number and one `(tile, input blob)` per tile.
    pub frames: Vec<(u32, Vec<(Tile, Vec<u8>)>)>,
    /// Importer warnings (of the first frame).
    pub warnings: Vec<String>,
    pub triangles: usize,
}

/// Imports `path` once per frame (sampling its animation), compiles each frame's scene with
/// its BVH and cuts it into tiles.
pub fn plan(path: &Path, o: &RenderOptions) -> Result<RenderPlan> {
    let grid = Tile::grid(o.width, o.height, o.tiles.0, o.tiles.1)?;
    let env = match &o.environment {
        Some(e) => Some(e.load().context("loading the environment")?),
        None => None,
    };
    let mut frames = Vec::new();
    let (mut warnings, mut triangles) = (Vec::new(), 0);
    for f in o.frames.clone() {
        let opts = ImportOptions {
            width: o.width,
            height: o.height,
            samples_per_pixel: o.spp,
            max_bounces: o.max_bounces,
            seed: o.seed,
            background: [0.0; 3],
            time: f as f32 / o.fps,
            camera: o.camera.clone(),
        };
        let mut imported = scene_import::import(path, &opts)
            .with_context(|| format!("importing {} (frame {f})", path.display()))?;
        let lit = imported
            .scene
            .materials
            .iter()
            .any(|m| m.emission.iter().any(|&e| e > 0.0));
        imported.scene.background = match (o.background, &env) {
            (_, Some(_)) => [0.0; 3],
            (Some(b), None) => b,
            (None, None) if lit => [0.0; 3],
            (None, None) => {
                imported
                    .warnings
                    .push("the scene has no emissive material: it is lit by a white sky".into());
                [1.0; 3]
            }
        };
        imported.scene.environment = env.clone();
        if frames.is_empty() {
            warnings = imported.warnings;
            triangles = imported.scene.triangles.len();
        }
        let full = mesh_blob::encode(&imported.scene, Tile::full(o.width, o.height))
            .with_context(|| format!("compiling {} (frame {f})", path.display()))?;
        let tiles = grid
            .iter()
            .map(|t| Ok((*t, mesh_blob::with_tile(&full, *t)?)))
            .collect::<Result<Vec<_>>>()?;
        frames.push((f, tiles));
    }
    Ok(RenderPlan {
        width: o.width,
        height: o.height,
        frames,
        warnings,
        triangles,
    })
}

/// A render post: the frame size and, per frame, the tile jobs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RenderManifest {
    pub width: u32,
    pub height: u32,
    pub frames: Vec<ManifestFrame>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestFrame {
    pub frame: u32,
    pub tiles: Vec<ManifestTile>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestTile {
    pub job: String,
    pub x0: u32,
    pub y0: u32,
    pub w: u32,
    pub h: u32,
}

impl RenderManifest {
    pub fn read(path: &Path) -> Result<RenderManifest> {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&data)
            .with_context(|| format!("{} is not a render manifest", path.display()))
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        std::fs::write(path, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Every job of the post.
    pub fn jobs(&self) -> Result<Vec<Pubkey>> {
        self.frames
            .iter()
            .flat_map(|f| &f.tiles)
            .map(|t| {
                t.job
                    .parse()
                    .with_context(|| format!("manifest: `{}` is not a job address", t.job))
            })
            .collect()
    }
}

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

/// Writes a frame of linear radiance as `<stem>.png` (8-bit sRGB: Blender's "Standard" view
/// transform, so it compares directly with a Cycles render saved as PNG), `<stem>.16.png` (the
/// same at 16 bits) and `<stem>.pfm` (linear float, for compositing or another tone curve).
pub fn write_frame(
    dir: &Path,
    stem: &str,
    width: u32,
    height: u32,
    rgb: &[f32],
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let png = dir.join(format!("{stem}.png"));
    kernel::write_png(&png, width, height, &kernel::srgb_rgba8(rgb))?;
    let png16 = dir.join(format!("{stem}.16.png"));
    kernel::write_png16(&png16, width, height, &kernel::srgb_rgb16(rgb))?;
    let pfm = dir.join(format!("{stem}.pfm"));
    std::fs::write(&pfm, pfm_bytes(width, height, rgb))
        .with_context(|| format!("writing {}", pfm.display()))?;
    Ok(vec![png, png16, pfm])
}

/// A Portable Float Map (colour, little-endian, rows bottom to top as the format says).
pub fn pfm_bytes(width: u32, height: u32, rgb: &[f32]) -> Vec<u8> {
    let mut out = format!("PF\n{width} {height}\n-1.0\n").into_bytes();
    let w = width as usize * 3;
    for row in rgb.chunks_exact(w).rev() {
        for v in row {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// Writes every frame of a manifest into `dir` as `<stem>.<frame>.{png,16.png,pfm}` (or
/// `<stem>.{…}` for a single frame).
pub fn write_frames(
    dir: &Path,
    stem: &str,
    m: &RenderManifest,
    frames: &[(u32, Vec<f32>)],
) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for (f, rgb) in frames {
        let name = if frames.len() == 1 {
            stem.to_string()
        } else {
            format!("{stem}.{f:04}")
        };
        files.extend(write_frame(dir, &name, m.width, m.height, rgb)?);
    }
    Ok(files)
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
