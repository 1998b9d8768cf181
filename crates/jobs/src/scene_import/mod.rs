//! Scene import on the client: glTF 2.0 (`.gltf`, `.glb`) and Wavefront OBJ/MTL (`.obj`) files
//! turned into the render kernel's [`MeshScene`] (render spec 2), in world space with every node
//! transform applied.
//!
//! # Geometry
//!
//! - glTF: the default scene (or scene 0) is walked depth-first, children in order; a node's
//!   world matrix is parent × local (local = its `matrix`, or T × R × S, with animated channels
//!   sampled at [`ImportOptions::time`] replacing T, R or S). Positions are transformed by the
//!   world matrix, normals by its inverse transpose and normalised; a world matrix with a
//!   negative determinant flips the triangles' winding back. Only `TRIANGLES`,
//!   `TRIANGLE_STRIP` and `TRIANGLE_FAN` primitives are imported (strips and fans are converted
//!   to triangles with the glTF specification's vertex order); `POINTS` and `LINES*` primitives
//!   are skipped with a warning. Triangles whose indices repeat (e.g. strip restarts) are dropped.
//! - OBJ: polygons are triangulated (fan), vertices single-indexed; the file is in world space.
//! - Normals and texture coordinates are either absent for the whole scene or present for every
//!   vertex: when any primitive has normals, primitives without get area-weighted smooth normals
//!   from their own faces; when any has `TEXCOORD_0` (`vt`), the others get (0, 0). A normal of
//!   zero length (or made so by the transform) is replaced by the area-weighted normal of the
//!   faces using the vertex (the face normal when it is in one face).
//! - Texture coordinates follow glTF: u to the right, v downwards, (0, 0) at the first (top) row
//!   of the texture as stored. OBJ's `vt` (v upwards) is converted with v → 1 − v.
//! - Every position, normal and texture coordinate must be finite (`NonFinite` otherwise).
//!
//! # Material mapping
//!
//! glTF 2.0 (metallic-roughness) → `MeshMaterial`:
//! - `base_color` = `pbrMetallicRoughness.baseColorFactor` RGB, clamped to [0, 1] (alpha and
//!   `alphaMode` are ignored: everything is opaque).
//! - `base_color_texture` = `pbrMetallicRoughness.baseColorTexture` when it uses `texCoord` 0
//!   (another set: warning, texture ignored); the image is decoded (PNG or JPEG) to 8-bit RGBA:
//!   R8 → (r, r, r, 255), R8G8 (grey + alpha) → (r, r, r, g), R8G8B8 → (r, g, b, 255), R8G8B8A8
//!   as is, 16-bit formats likewise after `>> 8`; float formats are refused (`Malformed`). Rows
//!   top to bottom as decoded; one texture per glTF image, shared by every material using it.
//!   Samplers (filtering, wrapping) and `KHR_texture_transform` are ignored (the latter with a
//!   warning).
//! - `metallic` / `roughness` = `metallicFactor` / `roughnessFactor`, clamped to [0, 1]
//!   (`metallicRoughnessTexture` is ignored with a warning).
//! - `emission` = `emissiveFactor` × `KHR_materials_emissive_strength.emissiveStrength`
//!   (default 1); `emissiveTexture` is ignored with a warning.
//! - `transmission` = `KHR_materials_transmission.transmissionFactor` (default 0), clamped to
//!   [0, 1]; `transmissionTexture` ignored.
//! - `ior` = `KHR_materials_ior.ior` (default 1.5; a value ≤ 0 falls back to 1.5 with a warning).
//! - A primitive without a material gets `MeshMaterial::default()` (grey 0.8, roughness 1,
//!   metallic 0, no emission, no transmission, ior 1.5).
//!
//! MTL → `MeshMaterial`:
//! - `base_color` = `Kd` (default 0.8 grey), clamped to [0, 1].
//! - `base_color_texture` = `map_Kd`, a path relative to the MTL file's directory (options such
//!   as `-s u v w` before the file name are skipped); a missing file is `MissingTexture`.
//! - `metallic` = max(`Ks`) when `illum` is 3 or 5, else 0.
//! - `roughness` = sqrt(2 / (`Ns` + 2)) clamped to [0, 1] (`Ns` default 0, so roughness 1).
//! - `emission` = `Ke` (default 0; negative components clamped to 0).
//! - `ior` = `Ni` (default 1.5; a value ≤ 0 falls back to 1.5 with a warning).
//! - `transmission` = 1.0 when `illum` is 4, 6 or 7; else 1 − `d` when `d` < 1 (or `Tr` when
//!   there is no `d`); else 0.
//! - Faces with no material (or naming a material that no MTL defines) get
//!   `MeshMaterial::default()`.
//!
//! # Camera
//!
//! [`ImportOptions::camera`] when given. Otherwise glTF uses the first perspective camera met in
//! the node walk above: position = the node's world translation, look direction = the world
//! matrix applied to −Z, up = the world matrix applied to +Y (both normalised), look_at =
//! position + direction, `vfov_degrees` = `yfov` in degrees (orthographic cameras are skipped
//! with a warning). With no such camera (and always for OBJ) a framing default: the bounding box
//! of all positions, seen from its +Z side and slightly above (direction normalised
//! (0, 0.25, 1)), `vfov_degrees` 40, up +Y, at the distance where the bounding sphere fills the
//! vertical field of view with a 10 % margin.
//!
//! # Extensions (glTF)
//!
//! Implemented: `KHR_materials_transmission`, `KHR_materials_ior`,
//! `KHR_materials_emissive_strength`; `KHR_lights_punctual` is accepted but its lights are not
//! rendered (warning). Any other name in `extensionsRequired` is
//! [`ImportError::UnsupportedExtension`]; any other name in `extensionsUsed` only is a warning.
//! Skins and morph targets are ignored with a warning (the bind pose / base shape is rendered).
//!
//! # Animation (glTF)
//!
//! Node channels (translation, rotation, scale) are sampled at [`ImportOptions::time`], clamped
//! to each sampler's input range: `STEP`, `LINEAR` (rotations: shortest-path slerp) and
//! `CUBICSPLINE` (Hermite with the sampler's in/out tangents scaled by the keyframe interval).
//! Morph-weight channels are ignored with a warning. [`Imported::animation`] is the union of all
//! channels' input ranges.
//!
//! The import uses ordinary f32/f64 arithmetic: it runs once on the client, and the kernel's
//! determinism starts from the `MeshScene` it produces. Outputs never depend on hash order.
use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::{Path, PathBuf};

use tessera_compute::render::mesh::{
    MeshMaterial, MeshScene, Texture, Triangle, MAX_MATERIALS, MAX_TEXTURES, MAX_TEXTURE_SIDE,
    MAX_TRIANGLES, MAX_VERTICES,
};
use tessera_compute::render::scene::CameraSpec;

pub mod environment;
pub mod gltf;
pub mod obj;

/// How to turn a file into a [`MeshScene`]: the render settings the file does not carry.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOptions {
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
    /// Animation time in seconds (glTF animations are sampled here).
    pub time: f32,
    /// Replaces the file's camera (and the framing default).
    pub camera: Option<CameraSpec>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            width: 640,
            height: 480,
            samples_per_pixel: 64,
            max_bounces: 8,
            seed: 0,
            background: [0.0; 3],
            time: 0.0,
            camera: None,
        }
    }
}

/// An imported scene.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The scene, ready to compile.
    pub scene: MeshScene,
    /// What was ignored or approximated, in the order met, each once.
    pub warnings: Vec<String>,
    /// glTF: (start, end) seconds of all animations; `None` if not animated.
    pub animation: Option<(f32, f32)>,
}

/// Why a file could not be imported.
#[derive(thiserror::Error, Debug)]
pub enum ImportError {
    /// The file (or a file it references) could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Not `.gltf`, `.glb` or `.obj` (the path).
    #[error("unsupported scene format: {0} (expected .gltf, .glb or .obj)")]
    UnsupportedFormat(String),
    /// Not a valid file of its format.
    #[error("malformed scene: {0}")]
    Malformed(String),
    /// A glTF buffer that is not there (its URI).
    #[error("missing buffer: {0}")]
    MissingBuffer(String),
    /// A texture image that is not there (its glTF URI, or the path `map_Kd` resolves to).
    #[error("missing texture: {0}")]
    MissingTexture(String),
    /// A position, normal, texture coordinate or material value that is NaN or infinite.
    #[error("non-finite value: {0}")]
    NonFinite(String),
    /// A glTF extension in `extensionsRequired` that the importer does not implement (its name).
    #[error("unsupported required glTF extension: {0}")]
    UnsupportedExtension(String),
    /// Over one of the limits of `tessera_compute::render::mesh`.
    #[error("scene too large: {0}")]
    TooLarge(String),
    /// No triangle to render.
    #[error("empty scene: {0}")]
    Empty(String),
}

/// Where a scene file and the files it references (glTF buffers and images, MTL files,
/// textures) are read from: the disk ([`Disk`]), or files held in memory ([`InMemory`]: those
/// a user dropped on a web page).
pub trait SceneFiles {
    /// The bytes of `path`; `Ok(None)` when there is no such file.
    fn read(&self, path: &Path) -> std::io::Result<Option<Vec<u8>>>;
}

/// The file system.
pub struct Disk;

impl SceneFiles for Disk {
    fn read(&self, path: &Path) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Files in memory, by relative path (`scene.gltf`, `scene.bin`, `textures/wood.png`).
#[derive(Debug, Default, Clone)]
pub struct InMemory(pub BTreeMap<PathBuf, Vec<u8>>);

impl InMemory {
    /// Adds a file.
    pub fn insert(&mut self, path: impl Into<PathBuf>, bytes: Vec<u8>) {
        self.0.insert(normalise(&path.into()), bytes);
    }
}

impl SceneFiles for InMemory {
    fn read(&self, path: &Path) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.0.get(&normalise(path)).cloned())
    }
}

/// `a/./b/../c` → `a/c` (references are relative to the scene's folder, which may be empty).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Imports `path` by its extension (case-insensitive): `.gltf` and `.glb` as glTF 2.0 (either
/// container is recognised by its content), `.obj` as Wavefront OBJ with its MTL files.
pub fn import(path: &Path, opts: &ImportOptions) -> Result<Imported, ImportError> {
    import_from(&Disk, path, opts)
}

/// [`import`], reading `path` and what it references from `files`.
pub fn import_from(
    files: &dyn SceneFiles,
    path: &Path,
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    match extension(path).as_deref() {
        Some("gltf") | Some("glb") => gltf::import_gltf(files, path, opts),
        Some("obj") => obj::import_obj(files, path, opts),
        _ => Err(ImportError::UnsupportedFormat(path.display().to_string())),
    }
}

/// Whether [`import`] reads `path`, by its extension: `.gltf`, `.glb` or `.obj`, in any case.
pub fn is_scene_file(path: impl AsRef<Path>) -> bool {
    matches!(
        extension(path.as_ref()).as_deref(),
        Some("gltf") | Some("glb") | Some("obj")
    )
}

/// The lower-cased extension.
fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read_file(files: &dyn SceneFiles, path: &Path) -> Result<Vec<u8>, ImportError> {
    let io = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    files.read(path).map_err(io)?.ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "No such file or directory",
        ))
    })
}

/// Warnings in the order first met, each once.
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    list: Vec<String>,
    seen: BTreeSet<String>,
}

impl Warnings {
    pub(crate) fn push(&mut self, w: impl Into<String>) {
        let w = w.into();
        if self.seen.insert(w.clone()) {
            self.list.push(w);
        }
    }

    pub(crate) fn into_vec(self) -> Vec<String> {
        self.list
    }
}

/// The geometry of one primitive (glTF) or one model (OBJ), in world space.
pub(crate) struct Chunk {
    /// Names it in errors.
    pub label: String,
    pub positions: Vec<[f32; 3]>,
    /// One per position, not necessarily normalised, or none.
    pub normals: Option<Vec<[f32; 3]>>,
    pub uvs: Option<Vec<[f32; 2]>>,
    /// Indices into this chunk's positions.
    pub triangles: Vec<[u32; 3]>,
    /// Index into the scene's materials.
    pub material: u32,
}

/// Collects chunks, materials and textures, then assembles the [`MeshScene`].
#[derive(Default)]
pub(crate) struct SceneBuilder {
    chunks: Vec<Chunk>,
    pub materials: Vec<MeshMaterial>,
    pub textures: Vec<Texture>,
    vertices: usize,
    triangles: usize,
}

impl SceneBuilder {
    /// Refuses a chunk of `vertices` and `triangles` that would put the scene over the limits,
    /// before it is read.
    pub(crate) fn check_room(
        &self,
        vertices: usize,
        triangles: usize,
        label: &str,
    ) -> Result<(), ImportError> {
        let v = self.vertices.saturating_add(vertices);
        if v > MAX_VERTICES {
            return Err(ImportError::TooLarge(format!(
                "{label}: the scene would have {v} vertices (at most {MAX_VERTICES})"
            )));
        }
        let t = self.triangles.saturating_add(triangles);
        if t > MAX_TRIANGLES {
            return Err(ImportError::TooLarge(format!(
                "{label}: the scene would have {t} triangles (at most {MAX_TRIANGLES})"
            )));
        }
        Ok(())
    }

    pub(crate) fn add_material(&mut self, m: MeshMaterial) -> Result<u32, ImportError> {
        if self.materials.len() >= MAX_MATERIALS {
            return Err(ImportError::TooLarge(format!(
                "more than {MAX_MATERIALS} materials"
            )));
        }
        self.materials.push(m);
        Ok((self.materials.len() - 1) as u32)
    }

    pub(crate) fn add_texture(&mut self, t: Texture) -> Result<u32, ImportError> {
        if self.textures.len() >= MAX_TEXTURES {
            return Err(ImportError::TooLarge(format!(
                "more than {MAX_TEXTURES} textures"
            )));
        }
        self.textures.push(t);
        Ok((self.textures.len() - 1) as u32)
    }

    /// Adds a chunk: checks limits and finiteness, normalises its normals (repairing degenerate
    /// ones). A chunk without triangles is dropped.
    pub(crate) fn add_chunk(&mut self, mut c: Chunk) -> Result<(), ImportError> {
        if c.triangles.is_empty() {
            return Ok(());
        }
        self.check_room(c.positions.len(), c.triangles.len(), &c.label)?;
        let n = c.positions.len();
        debug_assert!(c.normals.as_ref().is_none_or(|v| v.len() == n));
        debug_assert!(c.uvs.as_ref().is_none_or(|v| v.len() == n));
        debug_assert!(c.triangles.iter().flatten().all(|&i| (i as usize) < n));
        if let Some(i) = c
            .positions
            .iter()
            .position(|p| !p.iter().all(|x| x.is_finite()))
        {
            return Err(ImportError::NonFinite(format!(
                "{}: position {i} is not finite in world space",
                c.label
            )));
        }
        if let Some(uvs) = &c.uvs {
            if let Some(i) = uvs.iter().position(|p| !p.iter().all(|x| x.is_finite())) {
                return Err(ImportError::NonFinite(format!(
                    "{}: texture coordinate {i} is not finite",
                    c.label
                )));
            }
        }
        if let Some(normals) = &mut c.normals {
            let mut smooth: Option<Vec<[f32; 3]>> = None;
            for (i, nrm) in normals.iter_mut().enumerate() {
                match normalize32(*nrm) {
                    Some(u) => *nrm = u,
                    None => {
                        let s = smooth
                            .get_or_insert_with(|| smooth_normals(&c.positions, &c.triangles));
                        *nrm = s[i];
                    }
                }
            }
        }
        self.vertices += n;
        self.triangles += c.triangles.len();
        self.chunks.push(c);
        Ok(())
    }

    /// Assembles the scene. `file_camera` is the file's own camera, used when the options give
    /// none; without either, the framing default.
    pub(crate) fn finish(
        self,
        opts: &ImportOptions,
        file_camera: Option<CameraSpec>,
        what: &str,
    ) -> Result<MeshScene, ImportError> {
        if self.triangles == 0 {
            return Err(ImportError::Empty(format!("{what} has no triangles")));
        }
        let any_normals = self.chunks.iter().any(|c| c.normals.is_some());
        let any_uvs = self.chunks.iter().any(|c| c.uvs.is_some());
        let mut positions = Vec::with_capacity(self.vertices);
        let mut normals = Vec::with_capacity(if any_normals { self.vertices } else { 0 });
        let mut uvs = Vec::with_capacity(if any_uvs { self.vertices } else { 0 });
        let mut triangles = Vec::with_capacity(self.triangles);
        for c in self.chunks {
            let base = positions.len() as u32;
            if any_normals {
                match c.normals {
                    Some(n) => normals.extend_from_slice(&n),
                    None => normals.extend(smooth_normals(&c.positions, &c.triangles)),
                }
            }
            if any_uvs {
                match c.uvs {
                    Some(u) => uvs.extend_from_slice(&u),
                    None => uvs.extend(std::iter::repeat_n([0.0f32; 2], c.positions.len())),
                }
            }
            positions.extend_from_slice(&c.positions);
            triangles.extend(c.triangles.iter().map(|t| Triangle {
                v: [t[0] + base, t[1] + base, t[2] + base],
                material: c.material,
            }));
        }
        let camera = match (&opts.camera, file_camera) {
            (Some(c), _) => c.clone(),
            (None, Some(c)) => c,
            (None, None) => framing_camera(&positions),
        };
        Ok(MeshScene {
            width: opts.width,
            height: opts.height,
            samples_per_pixel: opts.samples_per_pixel,
            max_bounces: opts.max_bounces,
            seed: opts.seed,
            background: opts.background,
            camera,
            materials: self.materials,
            textures: self.textures,
            positions,
            normals,
            uvs,
            triangles,
            environment: None,
        })
    }
}

/// Unit vector, or `None` for a zero-length or non-finite one.
fn normalize32(v: [f32; 3]) -> Option<[f32; 3]> {
    let d = [v[0] as f64, v[1] as f64, v[2] as f64];
    normalize(d).map(|u| [u[0] as f32, u[1] as f32, u[2] as f32])
}

/// Area-weighted vertex normals from the faces (the cross product of two edges is twice the
/// area times the unit normal). A vertex whose weighted sum vanishes takes the normal of the
/// first non-degenerate face using it; a vertex in no such face gets +Z.
pub(crate) fn smooth_normals(positions: &[[f32; 3]], triangles: &[[u32; 3]]) -> Vec<[f32; 3]> {
    let mut sum = vec![[0.0f64; 3]; positions.len()];
    let mut first: Vec<Option<[f64; 3]>> = vec![None; positions.len()];
    let p = |i: u32| {
        let v = positions[i as usize];
        [v[0] as f64, v[1] as f64, v[2] as f64]
    };
    for t in triangles {
        let (a, b, c) = (p(t[0]), p(t[1]), p(t[2]));
        let n = cross(sub(b, a), sub(c, a));
        let unit = normalize(n);
        for &i in t {
            let s = &mut sum[i as usize];
            for k in 0..3 {
                s[k] += n[k];
            }
            if first[i as usize].is_none() {
                first[i as usize] = unit;
            }
        }
    }
    sum.iter()
        .zip(&first)
        .map(|(s, f)| {
            let u = normalize(*s).or(*f).unwrap_or([0.0, 0.0, 1.0]);
            [u[0] as f32, u[1] as f32, u[2] as f32]
        })
        .collect()
}

/// The framing default camera (see the module documentation).
pub(crate) fn framing_camera(positions: &[[f32; 3]]) -> CameraSpec {
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for p in positions {
        for k in 0..3 {
            lo[k] = lo[k].min(p[k] as f64);
            hi[k] = hi[k].max(p[k] as f64);
        }
    }
    if positions.is_empty() {
        lo = [0.0; 3];
        hi = [0.0; 3];
    }
    let center = [
        0.5 * (lo[0] + hi[0]),
        0.5 * (lo[1] + hi[1]),
        0.5 * (lo[2] + hi[2]),
    ];
    let radius = 0.5 * length(sub(hi, lo));
    let radius = if radius > 0.0 && radius.is_finite() {
        radius
    } else {
        1.0
    };
    let vfov: f64 = 40.0;
    let distance = 1.1 * radius / (0.5 * vfov).to_radians().sin();
    let dir = normalize([0.0, 0.25, 1.0]).expect("non-zero");
    let position = [
        center[0] + dir[0] * distance,
        center[1] + dir[1] * distance,
        center[2] + dir[2] * distance,
    ];
    CameraSpec {
        position: position.map(|x| x as f32),
        look_at: center.map(|x| x as f32),
        up: [0.0, 1.0, 0.0],
        vfov_degrees: vfov as f32,
    }
}

/// Decodes a PNG or JPEG image (recognised by its content) into an 8-bit RGBA texture
/// (see the module documentation for the conversions). `what` names the image in errors.
pub(crate) fn decode_texture(bytes: &[u8], what: &str) -> Result<Texture, ImportError> {
    use image::DynamicImage as D;
    let reader = || -> Result<image::ImageReader<Cursor<&[u8]>>, ImportError> {
        let r = image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| ImportError::Malformed(format!("{what}: {e}")))?;
        match r.format() {
            Some(image::ImageFormat::Png) | Some(image::ImageFormat::Jpeg) => Ok(r),
            Some(f) => Err(ImportError::Malformed(format!(
                "{what}: image format {f:?} is not supported (PNG and JPEG are)"
            ))),
            None => Err(ImportError::Malformed(format!(
                "{what}: not a PNG or JPEG image"
            ))),
        }
    };
    let (w, h) = reader()?
        .into_dimensions()
        .map_err(|e| ImportError::Malformed(format!("{what}: {e}")))?;
    if w > MAX_TEXTURE_SIDE || h > MAX_TEXTURE_SIDE {
        return Err(ImportError::TooLarge(format!(
            "{what}: texture is {w}×{h} (sides at most {MAX_TEXTURE_SIDE})"
        )));
    }
    if w == 0 || h == 0 {
        return Err(ImportError::Malformed(format!("{what}: image is {w}×{h}")));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_TEXTURE_SIDE);
    limits.max_image_height = Some(MAX_TEXTURE_SIDE);
    limits.max_alloc = Some(1 << 30);
    let mut r = reader()?;
    r.limits(limits);
    let img = r
        .decode()
        .map_err(|e| ImportError::Malformed(format!("{what}: {e}")))?;
    let (width, height) = (img.width(), img.height());
    let hi = |v: u16| (v >> 8) as u8;
    let rgba: Vec<u8> = match img {
        D::ImageLuma8(b) => b.into_raw().iter().flat_map(|&l| [l, l, l, 255]).collect(),
        D::ImageLumaA8(b) => b
            .into_raw()
            .as_chunks::<2>()
            .0
            .iter()
            .flat_map(|&[l, a]| [l, l, l, a])
            .collect(),
        D::ImageRgb8(b) => b
            .into_raw()
            .as_chunks::<3>()
            .0
            .iter()
            .flat_map(|&[r, g, b]| [r, g, b, 255])
            .collect(),
        D::ImageRgba8(b) => b.into_raw(),
        D::ImageLuma16(b) => b
            .into_raw()
            .iter()
            .flat_map(|&l| [hi(l), hi(l), hi(l), 255])
            .collect(),
        D::ImageLumaA16(b) => b
            .into_raw()
            .as_chunks::<2>()
            .0
            .iter()
            .flat_map(|&[l, a]| [hi(l), hi(l), hi(l), hi(a)])
            .collect(),
        D::ImageRgb16(b) => b
            .into_raw()
            .as_chunks::<3>()
            .0
            .iter()
            .flat_map(|&[r, g, b]| [hi(r), hi(g), hi(b), 255])
            .collect(),
        D::ImageRgba16(b) => b.into_raw().iter().map(|&v| hi(v)).collect(),
        D::ImageRgb32F(_) => {
            return Err(ImportError::Malformed(format!(
                "{what}: float image format R32G32B32FLOAT is not supported"
            )))
        }
        D::ImageRgba32F(_) => {
            return Err(ImportError::Malformed(format!(
                "{what}: float image format R32G32B32A32FLOAT is not supported"
            )))
        }
        other => {
            return Err(ImportError::Malformed(format!(
                "{what}: image format {:?} is not supported",
                other.color()
            )))
        }
    };
    debug_assert_eq!(rgba.len(), width as usize * height as usize * 4);
    Ok(Texture {
        width,
        height,
        rgba,
    })
}

// ---- small f64 vector / matrix helpers (column-major 4×4 as glTF: m[column][row]) ----

pub(crate) type Mat4 = [[f64; 4]; 4];

pub(crate) const IDENTITY: Mat4 = [
    [1.0, 0.0, 0.0, 0.0],
    [0.0, 1.0, 0.0, 0.0],
    [0.0, 0.0, 1.0, 0.0],
    [0.0, 0.0, 0.0, 1.0],
];

pub(crate) fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub(crate) fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub(crate) fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(crate) fn length(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

/// Unit vector, or `None` for a zero-length or non-finite one.
pub(crate) fn normalize(a: [f64; 3]) -> Option<[f64; 3]> {
    let l = length(a);
    if l > 0.0 && l.is_finite() {
        Some([a[0] / l, a[1] / l, a[2] / l])
    } else {
        None
    }
}

/// `a × b`.
pub(crate) fn mat_mul(a: &Mat4, b: &Mat4) -> Mat4 {
    let mut r = [[0.0; 4]; 4];
    for (c, rc) in r.iter_mut().enumerate() {
        for (row, v) in rc.iter_mut().enumerate() {
            *v = (0..4).map(|k| a[k][row] * b[c][k]).sum();
        }
    }
    r
}

/// T × R × S; `q` is (x, y, z, w) and need not be normalised.
pub(crate) fn mat_from_trs(t: [f64; 3], q: [f64; 4], s: [f64; 3]) -> Mat4 {
    let ql = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]).sqrt();
    let [x, y, z, w] = if ql > 0.0 && ql.is_finite() {
        q.map(|c| c / ql)
    } else {
        [0.0, 0.0, 0.0, 1.0]
    };
    let r = [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y + w * z),
            2.0 * (x * z - w * y),
        ],
        [
            2.0 * (x * y - w * z),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z + w * x),
        ],
        [
            2.0 * (x * z + w * y),
            2.0 * (y * z - w * x),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ];
    let mut m = IDENTITY;
    for c in 0..3 {
        for row in 0..3 {
            m[c][row] = r[c][row] * s[c];
        }
    }
    m[3] = [t[0], t[1], t[2], 1.0];
    m
}

pub(crate) fn transform_point(m: &Mat4, p: [f64; 3]) -> [f64; 3] {
    let mut r = [0.0; 3];
    for (row, v) in r.iter_mut().enumerate() {
        *v = m[0][row] * p[0] + m[1][row] * p[1] + m[2][row] * p[2] + m[3][row];
    }
    r
}

/// The upper 3×3 part applied to a direction.
pub(crate) fn transform_dir(m: &Mat4, d: [f64; 3]) -> [f64; 3] {
    let mut r = [0.0; 3];
    for (row, v) in r.iter_mut().enumerate() {
        *v = m[0][row] * d[0] + m[1][row] * d[1] + m[2][row] * d[2];
    }
    r
}

fn column3(m: &Mat4, c: usize) -> [f64; 3] {
    [m[c][0], m[c][1], m[c][2]]
}

/// Determinant of the upper 3×3 part.
pub(crate) fn det3(m: &Mat4) -> f64 {
    dot(column3(m, 0), cross(column3(m, 1), column3(m, 2)))
}

/// A matrix proportional (by a positive factor) to the inverse transpose of the upper 3×3 part,
/// as a 4×4 whose translation is zero: columns c1×c2, c2×c0, c0×c1, times sign(det). Defined
/// even for singular matrices (where the normals it gives may vanish and are then repaired).
pub(crate) fn normal_matrix(m: &Mat4) -> Mat4 {
    let (c0, c1, c2) = (column3(m, 0), column3(m, 1), column3(m, 2));
    let sign = if det3(m) < 0.0 { -1.0 } else { 1.0 };
    let mut r = IDENTITY;
    for (i, c) in [cross(c1, c2), cross(c2, c0), cross(c0, c1)]
        .into_iter()
        .enumerate()
    {
        r[i] = [sign * c[0], sign * c[1], sign * c[2], 0.0];
    }
    r
}

#[cfg(test)]
pub(crate) mod test_util {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh, empty directory under the system temp dir.
    pub(crate) fn temp_dir(name: &str) -> PathBuf {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "tessera-scene-import-{}-{n}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// An 8-bit RGBA PNG.
    pub(crate) fn png_rgba8(w: u32, h: u32, rgba: &[u8]) -> Vec<u8> {
        let img = image::RgbaImage::from_raw(w, h, rgba.to_vec()).unwrap();
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    #[test]
    fn scene_import_unsupported_extension_is_named() {
        let dir = temp_dir("unsupported");
        let p = dir.join("model.fbx");
        std::fs::write(&p, b"whatever").unwrap();
        match import(&p, &ImportOptions::default()) {
            Err(ImportError::UnsupportedFormat(s)) => assert!(s.ends_with("model.fbx"), "{s}"),
            other => panic!("expected UnsupportedFormat, got {other:?}"),
        }
        let p = dir.join("noext");
        match import(&p, &ImportOptions::default()) {
            Err(ImportError::UnsupportedFormat(_)) => {}
            other => panic!("expected UnsupportedFormat, got {other:?}"),
        }
    }

    #[test]
    fn scene_import_is_scene_file_by_extension() {
        for p in ["a.gltf", "dir/b.GLB", "c.Obj"] {
            assert!(is_scene_file(p), "{p}");
        }
        for p in ["cornell", "scene.json", "a.fbx", "obj", "a.obj.bak"] {
            assert!(!is_scene_file(p), "{p}");
        }
        assert!(is_scene_file(Path::new("x.obj")));
    }

    #[test]
    fn scene_import_missing_file_is_io() {
        let dir = temp_dir("missing");
        let p = dir.join("nothing.GLTF");
        match import(&p, &ImportOptions::default()) {
            Err(ImportError::Io { path, .. }) => assert_eq!(path, p),
            other => panic!("expected Io, got {other:?}"),
        }
    }

    #[test]
    fn scene_import_framing_camera_fits_bounding_sphere() {
        let pos = [[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]];
        let c = framing_camera(&pos);
        assert_eq!(c.look_at, [0.0, 0.0, 0.0]);
        assert_eq!(c.up, [0.0, 1.0, 0.0]);
        assert_eq!(c.vfov_degrees, 40.0);
        let d = (c.position.iter().map(|x| (*x as f64).powi(2)).sum::<f64>()).sqrt();
        let want = 1.1 * 3f64.sqrt() / 20f64.to_radians().sin();
        assert!((d - want).abs() < 1e-4, "{d} vs {want}");
        // Direction (0, 0.25, 1) normalised.
        assert!((c.position[1] as f64 / c.position[2] as f64 - 0.25).abs() < 1e-6);
        assert_eq!(c.position[0], 0.0);
    }

    #[test]
    fn scene_import_texture_conversions() {
        // Grey 16-bit PNG → RGBA8 via >> 8.
        let img =
            image::ImageBuffer::<image::Luma<u16>, _>::from_raw(2, 1, vec![0x1234u16, 0xff00])
                .unwrap();
        let mut png = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageLuma16(img)
            .write_to(&mut png, image::ImageFormat::Png)
            .unwrap();
        let t = decode_texture(png.get_ref(), "grey16").unwrap();
        assert_eq!((t.width, t.height), (2, 1));
        assert_eq!(t.rgba, vec![0x12, 0x12, 0x12, 255, 0xff, 0xff, 0xff, 255]);
        // RGB8.
        let img = image::RgbImage::from_raw(1, 2, vec![1, 2, 3, 4, 5, 6]).unwrap();
        let mut png = std::io::Cursor::new(Vec::new());
        img.write_to(&mut png, image::ImageFormat::Png).unwrap();
        let t = decode_texture(png.get_ref(), "rgb8").unwrap();
        assert_eq!(t.rgba, vec![1, 2, 3, 255, 4, 5, 6, 255]);
        // JPEG (baseline, RGB): decoded, opaque.
        let img = image::RgbImage::from_pixel(8, 8, image::Rgb([200, 100, 50]));
        let mut jpg = std::io::Cursor::new(Vec::new());
        img.write_to(&mut jpg, image::ImageFormat::Jpeg).unwrap();
        let t = decode_texture(jpg.get_ref(), "jpeg").unwrap();
        assert_eq!((t.width, t.height), (8, 8));
        for (k, want) in [200i32, 100, 50, 255].into_iter().enumerate() {
            assert!((t.rgba[k] as i32 - want).abs() <= 3, "{:?}", &t.rgba[..4]);
        }
        // Not an image.
        match decode_texture(b"GIF89a....", "gif") {
            Err(ImportError::Malformed(_)) => {}
            other => panic!("expected Malformed, got {other:?}"),
        }
        // A side over MAX_TEXTURE_SIDE.
        let w = MAX_TEXTURE_SIDE + 1;
        let png = png_rgba8(w, 1, &vec![0u8; w as usize * 4]);
        match decode_texture(&png, "wide") {
            Err(ImportError::TooLarge(s)) => assert!(s.contains("wide"), "{s}"),
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn scene_import_normal_matrix_is_inverse_transpose() {
        // Non-uniform scale (2, 1, 1): a 45° normal in XY tilts towards Y.
        let m = mat_from_trs([5.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], [2.0, 1.0, 1.0]);
        let n = normalize(transform_dir(&normal_matrix(&m), [1.0, 1.0, 0.0])).unwrap();
        let want = normalize([0.5, 1.0, 0.0]).unwrap();
        for k in 0..3 {
            assert!((n[k] - want[k]).abs() < 1e-12);
        }
        // Mirror: normals keep pointing the same way as the mirrored surface's.
        let m = mat_from_trs([0.0; 3], [0.0, 0.0, 0.0, 1.0], [-1.0, 1.0, 1.0]);
        assert!(det3(&m) < 0.0);
        let n = transform_dir(&normal_matrix(&m), [1.0, 0.0, 0.0]);
        assert!(n[0] < 0.0);
        // A general matrix (rotation, shear, scale): transformed normals stay perpendicular to
        // transformed tangents.
        let mut m = mat_from_trs([1.0, 2.0, 3.0], [0.3, -0.2, 0.5, 0.8], [1.5, 0.5, 2.0]);
        m[1][0] += 0.7; // shear
        let nm = normal_matrix(&m);
        for (t, n) in [
            ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
            ([0.0, 1.0, 1.0], [0.0, 1.0, -1.0]),
            ([1.0, 2.0, 3.0], [3.0, 0.0, -1.0]),
        ] {
            assert_eq!(dot(t, n), 0.0);
            let (tw, nw) = (transform_dir(&m, t), transform_dir(&nm, n));
            assert!(dot(tw, nw).abs() < 1e-12, "{}", dot(tw, nw));
        }
    }

    #[test]
    fn scene_import_smooth_normals_repair() {
        // Two faces of a roof: the shared edge's vertices get the average.
        let pos = [
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 1.0],
            [1.0, 1.0, 1.0],
            [0.0, 2.0, 0.0],
            [5.0, 5.0, 5.0],
        ];
        let tris = [[0, 1, 2], [2, 1, 3], [2, 3, 4], [3, 5, 5]];
        let n = smooth_normals(&pos, &tris);
        // Vertex 2: faces with normals (0, -1, 1), (0, -1, 1), (0, 1, 1) (unnormalised).
        let want = normalize([0.0, -1.0, 3.0]).unwrap();
        for k in 0..3 {
            assert!((n[2][k] as f64 - want[k]).abs() < 1e-6, "{:?}", n[2]);
        }
        assert!(n[0][1] < 0.0 && n[0][2] > 0.0);
        // Vertex 5 is only in a degenerate face: +Z.
        assert_eq!(n[5], [0.0, 0.0, 1.0]);
    }
}
