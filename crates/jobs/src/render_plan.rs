//! Render jobs from artists' scene files, without the network (render spec 3): the scene
//! imported (glTF, OBJ) and compiled with its BVH once per frame, each frame cut into tiles
//! ([`plan`]); the manifest that names the tile jobs; and the verified tiles' radiance written
//! out as frames: an 8-bit sRGB PNG, a 16-bit PNG and a linear float PFM for compositing.
//! [`crate::render_jobs`] posts a plan and fetches its tiles.
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use solana_sdk::pubkey::Pubkey;
use tessera_compute::render::mesh_blob::{self, Tile};
use tessera_compute::render::{self as kernel, scene::CameraSpec};

use crate::scene_import::environment::Environment;
use crate::scene_import::{self, ImportOptions};

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
    plan_from(&scene_import::Disk, path, o)
}

/// [`plan`], reading the scene and what it references from `files` (a web page's dropped
/// files: [`scene_import::InMemory`]).
pub fn plan_from(
    files: &dyn scene_import::SceneFiles,
    path: &Path,
    o: &RenderOptions,
) -> Result<RenderPlan> {
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
        let mut imported = scene_import::import_from(files, path, &opts)
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
