//! The scene text format (JSON) and its compiled, packed form shared by both backends.
//!
//! ```json
//! {
//!   "width": 64, "height": 48, "samples_per_pixel": 8, "max_bounces": 4, "seed": 7,
//!   "background": [0.0, 0.0, 0.0],
//!   "camera": { "position": [0,1,3], "look_at": [0,1,0], "up": [0,1,0], "vfov_degrees": 40 },
//!   "materials": [
//!     { "type": "diffuse",  "albedo": [0.8, 0.8, 0.8] },
//!     { "type": "metal",    "albedo": [0.9, 0.9, 0.9], "fuzz": 0.05 },
//!     { "type": "glass",    "ior": 1.5 },
//!     { "type": "emissive", "emission": [8, 8, 8] }
//!   ],
//!   "objects": [
//!     { "type": "sphere",   "center": [0,1,0], "radius": 0.5, "material": 0 },
//!     { "type": "plane",    "point": [0,0,0], "normal": [0,1,0], "material": 0 },
//!     { "type": "triangle", "v0": [0,0,0], "v1": [1,0,0], "v2": [0,1,0], "material": 3 }
//!   ]
//! }
//! ```
//!
//! Numbers are parsed by `serde_json` as f64 and rounded once to f32. The compiled scene
//! (camera basis, triangle edges, plane normals) is computed on the host with the
//! deterministic math of [`super::math`] and handed unchanged to the CPU or GPU tracer.

// `!(a > b)` is deliberate: NaN must fail validation too.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use serde::Deserialize;

use super::math::{sincos_turns, V3};
use crate::error::{ComputeError, Result};

/// Largest accepted width or height.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Largest accepted samples per pixel.
pub const MAX_SPP: u32 = 1 << 16;
/// Largest accepted bounce count.
pub const MAX_BOUNCES: u32 = 64;
/// Largest accepted number of objects / materials.
pub const MAX_OBJECTS: usize = 1 << 16;

/// Scene file as written by people. See the module docs for the format.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SceneFile {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Samples per pixel.
    pub samples_per_pixel: u32,
    /// Maximum number of scattering events per path.
    pub max_bounces: u32,
    /// RNG seed (default 0).
    #[serde(default)]
    pub seed: u32,
    /// Radiance returned by rays that escape (default black).
    #[serde(default)]
    pub background: [f32; 3],
    /// Camera.
    pub camera: CameraSpec,
    /// Materials, referenced by index.
    pub materials: Vec<MaterialSpec>,
    /// Objects.
    pub objects: Vec<ObjectSpec>,
}

/// Pinhole camera.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CameraSpec {
    /// Eye position.
    pub position: [f32; 3],
    /// Point looked at.
    pub look_at: [f32; 3],
    /// Up direction.
    pub up: [f32; 3],
    /// Vertical field of view in degrees, in (0, 180).
    pub vfov_degrees: f32,
}

/// A material.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum MaterialSpec {
    /// Lambertian.
    Diffuse {
        /// Reflectance per channel.
        albedo: [f32; 3],
    },
    /// Mirror with optional fuzz.
    Metal {
        /// Reflectance per channel.
        albedo: [f32; 3],
        /// Perturbation radius in [0, 1].
        #[serde(default)]
        fuzz: f32,
    },
    /// Dielectric.
    Glass {
        /// Index of refraction (> 0).
        ior: f32,
        /// Tint (default white).
        #[serde(default = "white")]
        tint: [f32; 3],
    },
    /// Light source (terminates paths).
    Emissive {
        /// Emitted radiance per channel.
        emission: [f32; 3],
    },
}

fn white() -> [f32; 3] {
    [1.0, 1.0, 1.0]
}

/// A primitive.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ObjectSpec {
    /// Sphere.
    Sphere {
        /// Centre.
        center: [f32; 3],
        /// Radius (> 0).
        radius: f32,
        /// Material index.
        material: u32,
    },
    /// Infinite plane.
    Plane {
        /// A point on the plane.
        point: [f32; 3],
        /// Normal (normalized on load; must be non-zero).
        normal: [f32; 3],
        /// Material index.
        material: u32,
    },
    /// Triangle (both faces visible).
    Triangle {
        /// Vertex 0.
        v0: [f32; 3],
        /// Vertex 1.
        v1: [f32; 3],
        /// Vertex 2.
        v2: [f32; 3],
        /// Material index.
        material: u32,
    },
}

/// Object kind codes in [`CompiledScene::obj_kind`].
pub mod kind {
    /// Sphere: data = centre xyz, radius.
    pub const SPHERE: u32 = 0;
    /// Plane: data = point xyz, unit normal xyz.
    pub const PLANE: u32 = 1;
    /// Triangle: data = v0 xyz, e1 xyz, e2 xyz, unit normal xyz.
    pub const TRIANGLE: u32 = 2;
    /// Diffuse material: data = albedo rgb.
    pub const DIFFUSE: u32 = 0;
    /// Metal: data = albedo rgb, fuzz.
    pub const METAL: u32 = 1;
    /// Glass: data = tint rgb, ior.
    pub const GLASS: u32 = 2;
    /// Emissive: data = emission rgb.
    pub const EMISSIVE: u32 = 3;
}

/// f32 values per object in [`CompiledScene::obj_data`].
pub const OBJ_STRIDE: usize = 12;
/// f32 values per material in [`CompiledScene::mat_data`].
pub const MAT_STRIDE: usize = 4;
/// f32 values in [`CompiledScene::camera`]: origin, lower-left corner, horizontal, vertical,
/// background (5 × xyz).
pub const CAMERA_LEN: usize = 15;

/// The packed scene both tracers consume.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledScene {
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// Samples per pixel.
    pub spp: u32,
    /// Max bounces.
    pub max_bounces: u32,
    /// RNG seed.
    pub seed: u32,
    /// Camera + background, see [`CAMERA_LEN`].
    pub camera: [f32; CAMERA_LEN],
    /// Per object: `[kind, material]`.
    pub obj_kind: Vec<u32>,
    /// Per object: [`OBJ_STRIDE`] floats.
    pub obj_data: Vec<f32>,
    /// Per material: kind.
    pub mat_kind: Vec<u32>,
    /// Per material: [`MAT_STRIDE`] floats.
    pub mat_data: Vec<f32>,
}

impl CompiledScene {
    /// Number of objects.
    pub fn num_objects(&self) -> usize {
        self.obj_kind.len() / 2
    }

    /// Upper bound on traced ray segments: `w·h·spp·(max_bounces+1)`.
    pub fn max_segments(&self) -> u64 {
        self.width as u64 * self.height as u64 * self.spp as u64 * (self.max_bounces as u64 + 1)
    }
}

fn finite3(v: [f32; 3], what: &str) -> Result<V3> {
    if v.iter().all(|x| x.is_finite()) {
        Ok(V3::new(v[0], v[1], v[2]))
    } else {
        Err(ComputeError::Scene(format!(
            "{what} has a non-finite component (|x| > f32::MAX?)"
        )))
    }
}

fn nonneg3(v: [f32; 3], what: &str) -> Result<V3> {
    let x = finite3(v, what)?;
    if v.iter().any(|c| *c < 0.0) {
        return Err(ComputeError::Scene(format!("{what} must be >= 0")));
    }
    Ok(x)
}

impl SceneFile {
    /// Parses scene JSON.
    pub fn from_json(text: &[u8]) -> Result<SceneFile> {
        serde_json::from_slice(text).map_err(|e| ComputeError::Scene(format!("parse error: {e}")))
    }

    /// Validates the scene and compiles it into the packed form both tracers consume.
    pub fn validate_and_compile(&self) -> Result<CompiledScene> {
        let s = self;
        if s.width == 0 || s.height == 0 || s.width > MAX_IMAGE_SIDE || s.height > MAX_IMAGE_SIDE {
            return Err(ComputeError::Scene(format!(
                "image size {}x{} outside 1..={MAX_IMAGE_SIDE}",
                s.width, s.height
            )));
        }
        if s.samples_per_pixel == 0 || s.samples_per_pixel > MAX_SPP {
            return Err(ComputeError::Scene(format!(
                "samples_per_pixel {} outside 1..={MAX_SPP}",
                s.samples_per_pixel
            )));
        }
        if s.max_bounces > MAX_BOUNCES {
            return Err(ComputeError::Scene(format!(
                "max_bounces {} > {MAX_BOUNCES}",
                s.max_bounces
            )));
        }
        if s.materials.is_empty() || s.materials.len() > MAX_OBJECTS {
            return Err(ComputeError::Scene(format!(
                "need 1..={MAX_OBJECTS} materials, got {}",
                s.materials.len()
            )));
        }
        if s.objects.len() > MAX_OBJECTS {
            return Err(ComputeError::Scene(format!(
                "at most {MAX_OBJECTS} objects, got {}",
                s.objects.len()
            )));
        }
        let bg = nonneg3(s.background, "background")?;

        // Camera basis (host-side, deterministic math).
        let c = &s.camera;
        let origin = finite3(c.position, "camera.position")?;
        let at = finite3(c.look_at, "camera.look_at")?;
        let up = finite3(c.up, "camera.up")?;
        if !(c.vfov_degrees > 0.0 && c.vfov_degrees < 180.0) {
            return Err(ComputeError::Scene(format!(
                "camera.vfov_degrees {} outside (0, 180)",
                c.vfov_degrees
            )));
        }
        let view = origin - at;
        if view.dot(view) == 0.0 {
            return Err(ComputeError::Scene(
                "camera.position equals camera.look_at".into(),
            ));
        }
        let w = view.normalize();
        let ux = up.cross(w);
        if !(ux.dot(ux) > 0.0) {
            return Err(ComputeError::Scene(
                "camera.up is parallel to the view direction".into(),
            ));
        }
        let u = ux.normalize();
        let v = w.cross(u);
        let (sin_h, cos_h) = sincos_turns(c.vfov_degrees / 720.0);
        let h = sin_h / cos_h;
        let vh = 2.0 * h;
        let aspect = s.width as f32 / s.height as f32;
        let vw = aspect * vh;
        let horiz = u * vw;
        let vert = v * vh;
        let llc = origin - horiz.div_s(2.0) - vert.div_s(2.0) - w;
        let mut camera = [0.0f32; CAMERA_LEN];
        for (i, p) in [origin, llc, horiz, vert, bg].iter().enumerate() {
            camera[i * 3..i * 3 + 3].copy_from_slice(&p.to_array());
        }
        if !camera.iter().all(|x| x.is_finite()) {
            return Err(ComputeError::Scene("camera is degenerate".into()));
        }

        let mut mat_kind = Vec::with_capacity(s.materials.len());
        let mut mat_data = Vec::with_capacity(s.materials.len() * MAT_STRIDE);
        for (i, m) in s.materials.iter().enumerate() {
            let (k, d) = match m {
                MaterialSpec::Diffuse { albedo } => {
                    let a = nonneg3(*albedo, &format!("materials[{i}].albedo"))?;
                    (kind::DIFFUSE, [a.x, a.y, a.z, 0.0])
                }
                MaterialSpec::Metal { albedo, fuzz } => {
                    let a = nonneg3(*albedo, &format!("materials[{i}].albedo"))?;
                    if !(*fuzz >= 0.0 && *fuzz <= 1.0) {
                        return Err(ComputeError::Scene(format!(
                            "materials[{i}].fuzz {fuzz} outside [0, 1]"
                        )));
                    }
                    (kind::METAL, [a.x, a.y, a.z, *fuzz])
                }
                MaterialSpec::Glass { ior, tint } => {
                    let t = nonneg3(*tint, &format!("materials[{i}].tint"))?;
                    if !(*ior > 0.0 && ior.is_finite()) {
                        return Err(ComputeError::Scene(format!(
                            "materials[{i}].ior {ior} must be > 0"
                        )));
                    }
                    (kind::GLASS, [t.x, t.y, t.z, *ior])
                }
                MaterialSpec::Emissive { emission } => {
                    let e = nonneg3(*emission, &format!("materials[{i}].emission"))?;
                    (kind::EMISSIVE, [e.x, e.y, e.z, 0.0])
                }
            };
            mat_kind.push(k);
            mat_data.extend_from_slice(&d);
        }

        let nm = s.materials.len() as u32;
        let mut obj_kind = Vec::with_capacity(s.objects.len() * 2);
        let mut obj_data = Vec::with_capacity(s.objects.len() * OBJ_STRIDE);
        for (i, o) in s.objects.iter().enumerate() {
            let mut d = [0.0f32; OBJ_STRIDE];
            let (k, mat) = match o {
                ObjectSpec::Sphere {
                    center,
                    radius,
                    material,
                } => {
                    let c = finite3(*center, &format!("objects[{i}].center"))?;
                    if !(*radius > 0.0 && radius.is_finite()) {
                        return Err(ComputeError::Scene(format!(
                            "objects[{i}].radius {radius} must be > 0"
                        )));
                    }
                    d[..3].copy_from_slice(&c.to_array());
                    d[3] = *radius;
                    (kind::SPHERE, *material)
                }
                ObjectSpec::Plane {
                    point,
                    normal,
                    material,
                } => {
                    let p = finite3(*point, &format!("objects[{i}].point"))?;
                    let n = finite3(*normal, &format!("objects[{i}].normal"))?;
                    if !(n.dot(n) > 0.0) {
                        return Err(ComputeError::Scene(format!("objects[{i}].normal is zero")));
                    }
                    d[..3].copy_from_slice(&p.to_array());
                    d[3..6].copy_from_slice(&n.normalize().to_array());
                    (kind::PLANE, *material)
                }
                ObjectSpec::Triangle {
                    v0,
                    v1,
                    v2,
                    material,
                } => {
                    let a = finite3(*v0, &format!("objects[{i}].v0"))?;
                    let b = finite3(*v1, &format!("objects[{i}].v1"))?;
                    let c = finite3(*v2, &format!("objects[{i}].v2"))?;
                    let e1 = b - a;
                    let e2 = c - a;
                    let n = e1.cross(e2);
                    // A degenerate triangle is kept but can never be hit (det == 0).
                    let n = if n.dot(n) > 0.0 {
                        n.normalize()
                    } else {
                        V3::new(0.0, 1.0, 0.0)
                    };
                    d[..3].copy_from_slice(&a.to_array());
                    d[3..6].copy_from_slice(&e1.to_array());
                    d[6..9].copy_from_slice(&e2.to_array());
                    d[9..12].copy_from_slice(&n.to_array());
                    (kind::TRIANGLE, *material)
                }
            };
            if mat >= nm {
                return Err(ComputeError::Scene(format!(
                    "objects[{i}].material {mat} out of range (have {nm} materials)"
                )));
            }
            if !d.iter().all(|x| x.is_finite()) {
                return Err(ComputeError::Scene(format!(
                    "objects[{i}] has non-finite derived values"
                )));
            }
            obj_kind.push(k);
            obj_kind.push(mat);
            obj_data.extend_from_slice(&d);
        }

        Ok(CompiledScene {
            width: s.width,
            height: s.height,
            spp: s.samples_per_pixel,
            max_bounces: s.max_bounces,
            seed: s.seed,
            camera,
            obj_kind,
            obj_data,
            mat_kind,
            mat_data,
        })
    }
}
