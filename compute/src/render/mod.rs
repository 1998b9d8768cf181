//! Render kernel (proof of render): a deterministic path tracer.
//!
//! Spec 1 (kernel id 3): `scene_len: u32 LE`, then `scene_len` bytes of UTF-8 scene JSON
//! ([`scene::SceneFile`]) of spheres, planes and triangles. Output: `width × height × 4` bytes
//! RGBA8, rows top to bottom, alpha = 255.
//!
//! Spec 2: a compiled mesh scene with its BVH and the tile of the frame to render
//! ([`mesh_blob`], built by the client from glTF or OBJ); next-event estimation with MIS and
//! Russian roulette ([`mesh_cpu`]); spec 3 is the same blob shaded with the Principled BSDF
//! ([`principled`]). Output: the tile's linear radiance, `w × h × 3` f32 LE
//! (NaN canonical), which the client tone-maps into PNGs and keeps for compositing.

pub mod bvh;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod environment;
pub mod math;
pub mod mesh;
pub mod mesh_blob;
pub mod mesh_cpu;
pub mod mesh_scenes;
#[cfg(test)]
mod mesh_tests;
pub mod principled;
pub mod scene;

use std::path::Path;

use crate::device::Backend;
use crate::error::{ComputeError, Result};
use crate::format::{expect_header, write_header_version, Reader};
use crate::limits::Limits;
use crate::KernelId;
pub use scene::{CompiledScene, SceneFile};

/// A validated render job.
#[derive(Debug, Clone)]
pub struct RenderJob {
    /// The compiled scene.
    pub scene: CompiledScene,
}

/// Result of a render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOutput {
    /// RGBA8, rows top to bottom (the hashed output).
    pub rgba: Vec<u8>,
    /// Ray segments traced (for throughput figures; not hashed).
    pub rays: u64,
}

impl RenderJob {
    /// Parses and validates a render input blob.
    pub fn parse(input: &[u8], limits: &Limits) -> Result<Self> {
        let payload = expect_header(input, KernelId::Render)?;
        let mut r = Reader::new(payload);
        let len = r.u32("scene length")?;
        let text = r.bytes(len as u64, "scene text")?;
        r.finish("scene text")?;
        let scene = SceneFile::from_json(text)?.validate_and_compile()?;
        Self::from_scene(scene, limits)
    }

    /// Checks a compiled scene against `limits`.
    pub fn from_scene(scene: CompiledScene, limits: &Limits) -> Result<Self> {
        let segs = scene.max_segments();
        if segs > limits.max_render_segments {
            return Err(ComputeError::TooLarge(format!(
                "scene needs up to {segs} ray segments (w*h*spp*(bounces+1)), limit is {}",
                limits.max_render_segments
            )));
        }
        let out = scene.width as u64 * scene.height as u64 * 4;
        if out > limits.max_host_bytes {
            return Err(ComputeError::TooLarge(format!(
                "image needs {out} bytes, limit is {}",
                limits.max_host_bytes
            )));
        }
        Ok(Self { scene })
    }

    /// Renders on `backend`.
    #[cfg_attr(not(feature = "cuda"), allow(unused_variables))]
    pub fn run(&self, backend: &Backend) -> Result<RenderOutput> {
        #[cfg(feature = "cuda")]
        if let Some(dev) = backend.cuda_device() {
            return dev.render(&self.scene);
        }
        Ok(self.run_cpu())
    }

    /// Renders with the CPU reference.
    pub fn run_cpu(&self) -> RenderOutput {
        let (rgba, rays) = cpu::render(&self.scene);
        RenderOutput { rgba, rays }
    }
}

/// A validated render spec 2 job: one tile of a mesh scene.
#[derive(Debug, Clone)]
pub struct MeshJob {
    /// The compiled scene.
    pub scene: mesh_blob::CompiledMesh,
    /// The mesh spec it was posted under ([`mesh_blob::SPEC_LEGACY`] or [`mesh_blob::SPEC`]).
    pub spec: u16,
}

/// Result of a mesh render.
#[derive(Debug, Clone, PartialEq)]
pub struct MeshOutput {
    /// `w × h × 3` f32 LE (the hashed output).
    pub bytes: Vec<u8>,
    /// Ray segments traced (camera, bounce and shadow rays; not hashed).
    pub rays: u64,
}

impl MeshJob {
    /// Parses and validates a render spec 2 or 3 input blob against `limits`.
    pub fn parse(input: &[u8], limits: &Limits) -> Result<Self> {
        let payload = expect_header(input, KernelId::Render)?;
        let spec = crate::format::read_header(input)?.spec_version;
        let scene = mesh_blob::parse_spec(payload, spec, limits.max_host_bytes)?;
        let segs = scene.max_segments();
        if segs > limits.max_render_segments {
            return Err(ComputeError::TooLarge(format!(
                "tile needs up to {segs} ray segments (w*h*spp*(2*bounces+1)), limit is {}",
                limits.max_render_segments
            )));
        }
        // the run holds the tile's radiance three times (the image, its bytes, the result
        // blob): a 200-byte empty scene of a 4096² tile peaked at 386 MiB under a 64 MiB limit
        let out = u64::from(scene.tile.w) * u64::from(scene.tile.h) * 12 * 3;
        if out > limits.max_host_bytes {
            return Err(ComputeError::TooLarge(format!(
                "a {}x{} tile peaks at {out} bytes (its radiance three times), limit is {}",
                scene.tile.w, scene.tile.h, limits.max_host_bytes
            )));
        }
        Ok(Self { scene, spec })
    }

    /// Renders on `backend`.
    #[cfg_attr(not(feature = "cuda"), allow(unused_variables))]
    pub fn run(&self, backend: &Backend) -> Result<MeshOutput> {
        #[cfg(feature = "cuda")]
        if let Some(dev) = backend.cuda_device() {
            return dev.render_mesh(&self.scene);
        }
        Ok(self.run_cpu())
    }

    /// Renders with the CPU reference.
    pub fn run_cpu(&self) -> MeshOutput {
        let (rgb, rays) = mesh_cpu::render(&self.scene);
        MeshOutput {
            bytes: rgb.iter().flat_map(|v| v.to_le_bytes()).collect(),
            rays,
        }
    }
}

/// The f32 radiance of a spec 2 output (`width × height × 3`).
pub fn decode_radiance(bytes: &[u8], width: u32, height: u32) -> Result<Vec<f32>> {
    if bytes.len() as u64 != width as u64 * height as u64 * 12 {
        return Err(ComputeError::InvalidInput(format!(
            "{} bytes is not a {width}x{height} RGB f32 image",
            bytes.len()
        )));
    }
    Ok(bytes
        .as_chunks::<4>()
        .0
        .iter()
        .map(|b| f32::from_le_bytes(*b))
        .collect())
}

/// Tone-maps linear radiance into RGBA8 exactly as spec 1 encodes pixels: Reinhard
/// `c / (1 + c)`, gamma 2 (`sqrt`), `trunc(g · 255 + 0.5)`, alpha 255.
pub fn tonemap_rgba8(rgb: &[f32]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .flat_map(|p| {
            let ch = |c: f32| -> u8 {
                let tm = c / (1.0 + c);
                let g = math::clamp01(tm).sqrt();
                (g * 255.0 + 0.5) as u32 as u8
            };
            [ch(p[0]), ch(p[1]), ch(p[2]), 255]
        })
        .collect()
}

/// The sRGB transfer function of a linear value, clipped to `[0, 1]` (NaN → 0): Blender's
/// "Standard" view transform, which is what a Cycles or Eevee render saved as PNG uses, and
/// what image viewers assume. A display encoding done by the client, not part of any result
/// hash, so it may use the platform's `powf`.
pub fn srgb_encode(c: f32) -> f64 {
    let c = if c > 0.0 { (c as f64).min(1.0) } else { 0.0 };
    if c <= 0.003_130_8 {
        12.92 * c
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    }
}

/// Linear radiance (spec 2 output) as RGBA8 for display: the sRGB curve of
/// [`srgb_encode`] ("Standard" in Blender), rounded to nearest, alpha 255.
pub fn srgb_rgba8(rgb: &[f32]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .flat_map(|p| {
            let ch = |c: f32| (srgb_encode(c) * 255.0 + 0.5) as u8;
            [ch(p[0]), ch(p[1]), ch(p[2]), 255]
        })
        .collect()
}

/// The same sRGB encoding at 16 bits per channel, RGB.
pub fn srgb_rgb16(rgb: &[f32]) -> Vec<u16> {
    rgb.iter()
        .map(|&c| (srgb_encode(c) * 65535.0 + 0.5) as u16)
        .collect()
}

/// Writes 16-bit RGB pixels as a PNG file (for compositing).
pub fn write_png16(path: &Path, width: u32, height: u32, rgb: &[u16]) -> Result<()> {
    if rgb.len() as u64 != width as u64 * height as u64 * 3 {
        return Err(ComputeError::InvalidInput(format!(
            "{} values is not a {width}x{height} RGB image",
            rgb.len()
        )));
    }
    let file = std::fs::File::create(path)?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Sixteen);
    let mut w = enc
        .write_header()
        .map_err(|e| ComputeError::Image(e.to_string()))?;
    let bytes: Vec<u8> = rgb.iter().flat_map(|v| v.to_be_bytes()).collect();
    w.write_image_data(&bytes)
        .map_err(|e| ComputeError::Image(e.to_string()))?;
    w.finish().map_err(|e| ComputeError::Image(e.to_string()))?;
    Ok(())
}

/// Builds a render input blob from scene JSON text. The text is validated first.
pub fn build_input(scene_json: &str) -> Result<Vec<u8>> {
    SceneFile::from_json(scene_json.as_bytes())?.validate_and_compile()?;
    let len = u32::try_from(scene_json.len())
        .map_err(|_| ComputeError::TooLarge("scene text longer than 4 GiB".into()))?;
    let mut out = Vec::with_capacity(12 + scene_json.len());
    write_header_version(&mut out, KernelId::Render, 1);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(scene_json.as_bytes());
    Ok(out)
}

/// Builds a render input blob from a scene file on disk.
pub fn build_input_from_file(path: &Path) -> Result<Vec<u8>> {
    let text = std::fs::read_to_string(path)?;
    build_input(&text)
}

/// The Cornell-box example scene shipped with the crate (`scenes/cornell.json`).
pub const CORNELL_JSON: &str = include_str!("../../scenes/cornell.json");
/// The spheres example scene shipped with the crate (`scenes/spheres.json`).
pub const SPHERES_JSON: &str = include_str!("../../scenes/spheres.json");

/// Writes RGBA8 pixels as a PNG file.
pub fn write_png(path: &Path, width: u32, height: u32, rgba: &[u8]) -> Result<()> {
    if rgba.len() as u64 != width as u64 * height as u64 * 4 {
        return Err(ComputeError::InvalidInput(format!(
            "{} bytes is not a {width}x{height} RGBA8 image",
            rgba.len()
        )));
    }
    let file = std::fs::File::create(path)?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc
        .write_header()
        .map_err(|e| ComputeError::Image(e.to_string()))?;
    w.write_image_data(rgba)
        .map_err(|e| ComputeError::Image(e.to_string()))?;
    w.finish().map_err(|e| ComputeError::Image(e.to_string()))?;
    Ok(())
}

/// Returns a copy of `json` with width/height/spp replaced (used by tests and the bench).
pub fn with_resolution(json: &str, width: u32, height: u32, spp: u32) -> Result<String> {
    let mut v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| ComputeError::Scene(e.to_string()))?;
    v["width"] = width.into();
    v["height"] = height.into();
    v["samples_per_pixel"] = spp.into();
    Ok(v.to_string())
}
