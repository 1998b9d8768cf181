//! Scenes of triangle meshes (render spec 2): what the client's importers (glTF, OBJ) produce,
//! in world space with every node transform already applied.
//!
//! A [`MeshScene`] is compiled by [`super::mesh_blob::encode`] into the canonical scene blob
//! (with its BVH) that a render job ships; workers parse and validate that blob, never this
//! type. Colours are linear RGB; textures are 8-bit sRGB-encoded RGBA, decoded by the kernel
//! with the spec's fixed rule.
use super::scene::CameraSpec;

/// Largest accepted triangle count (the BVH's indices, the limits' cost model).
pub const MAX_TRIANGLES: usize = 1 << 24;
/// Largest accepted vertex count.
pub const MAX_VERTICES: usize = 1 << 25;
/// Largest accepted material count.
pub const MAX_MATERIALS: usize = 1 << 16;
/// Largest accepted texture count.
pub const MAX_TEXTURES: usize = 1024;
/// Largest accepted texture side.
pub const MAX_TEXTURE_SIDE: u32 = 8192;

/// A scene of triangle meshes, ready to compile.
#[derive(Debug, Clone, PartialEq)]
pub struct MeshScene {
    /// Full frame width in pixels.
    pub width: u32,
    /// Full frame height in pixels.
    pub height: u32,
    /// Samples per pixel.
    pub samples_per_pixel: u32,
    /// Maximum scattering events per path.
    pub max_bounces: u32,
    /// RNG seed.
    pub seed: u32,
    /// Radiance of rays that escape (linear RGB).
    pub background: [f32; 3],
    /// Pinhole camera.
    pub camera: CameraSpec,
    /// Materials, referenced by index from [`Triangle::material`].
    pub materials: Vec<MeshMaterial>,
    /// Textures, referenced by index from [`MeshMaterial::base_color_texture`].
    pub textures: Vec<Texture>,
    /// Vertex positions (world space).
    pub positions: Vec<[f32; 3]>,
    /// Vertex shading normals (world space): empty, or one per position.
    pub normals: Vec<[f32; 3]>,
    /// Vertex texture coordinates: empty, or one per position.
    pub uvs: Vec<[f32; 2]>,
    /// Triangles.
    pub triangles: Vec<Triangle>,
    /// The world around the scene (spec 3): an equirectangular map of radiance that rays
    /// leaving the scene see and that lights it; `None`: the background colour, unsampled.
    pub environment: Option<EnvMap>,
}

/// Largest accepted environment map, in texels (8192 × 4096).
pub const MAX_ENV_TEXELS: u64 = 8192 * 4096;

/// An equirectangular environment map (Blender's "Environment Texture" convention), linear
/// RGB radiance, rows top (zenith) to bottom ([`super::environment`] has the mapping).
#[derive(Debug, Clone, PartialEq)]
pub struct EnvMap {
    /// Width in texels.
    pub width: u32,
    /// Height in texels.
    pub height: u32,
    /// `width × height × 3` finite, non-negative values.
    pub rgb: Vec<f32>,
}

impl EnvMap {
    /// A constant colour (one texel): Blender's world colour.
    pub fn constant(rgb: [f32; 3]) -> Self {
        EnvMap {
            width: 1,
            height: 1,
            rgb: rgb.to_vec(),
        }
    }
}

/// One triangle: three vertex indices (into positions, and normals/uvs when present) and a
/// material index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Triangle {
    /// Vertex indices.
    pub v: [u32; 3],
    /// Material index.
    pub material: u32,
}

/// The tracer's material model, close to glTF's metallic-roughness (docs/KERNELS.md, "Render,
/// spec 2", has the mapping from glTF and MTL).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeshMaterial {
    /// Base colour (linear RGB, each in [0, 1]); multiplied by the texture when there is one.
    pub base_color: [f32; 3],
    /// Base colour texture index.
    pub base_color_texture: Option<u32>,
    /// Metallic in [0, 1].
    pub metallic: f32,
    /// Roughness in [0, 1].
    pub roughness: f32,
    /// Emitted radiance (linear RGB, ≥ 0): emissive triangles are sampled as lights.
    pub emission: [f32; 3],
    /// Transmission in [0, 1] (glass above 0.5).
    pub transmission: f32,
    /// Index of refraction (> 0).
    pub ior: f32,
}

impl Default for MeshMaterial {
    fn default() -> Self {
        MeshMaterial {
            base_color: [0.8, 0.8, 0.8],
            base_color_texture: None,
            metallic: 0.0,
            roughness: 1.0,
            emission: [0.0; 3],
            transmission: 0.0,
            ior: 1.5,
        }
    }
}

/// An 8-bit RGBA texture, sRGB-encoded colour, rows top to bottom (as images are stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Texture {
    /// Width in texels.
    pub width: u32,
    /// Height in texels.
    pub height: u32,
    /// `width × height × 4` bytes.
    pub rgba: Vec<u8>,
}
