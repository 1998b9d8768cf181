//! Render spec 2: the canonical scene blob of a mesh scene (docs/KERNELS.md, "Render, spec 2")
//! and its compiled form, shared by the CPU tracer and the CUDA kernel.
//!
//! The client compiles a [`MeshScene`] once ([`encode`]): it builds the BVH, stores the
//! triangles in BVH leaf order, and names the tile of the frame this job renders. A worker
//! parses the blob ([`parse`]): every count is checked against the bytes present and the
//! limits before anything is allocated, every value is checked (finite vertices, material and
//! texture indices in range, the BVH valid), then the scene is compiled into flat arrays
//! (triangle edges and normals, the camera basis, the light table) on the host, with the same
//! operations on every machine.

// `!(a > b)` is deliberate: NaN must fail validation too.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use super::bvh::{self, Node};
use super::environment::CompiledEnv;
use super::math::{sincos_turns, V3};
use super::mesh::{
    EnvMap, MeshMaterial, MeshScene, Texture, Triangle, MAX_ENV_TEXELS, MAX_MATERIALS,
    MAX_TEXTURES, MAX_TEXTURE_SIDE, MAX_TRIANGLES, MAX_VERTICES,
};
use super::scene::{CameraSpec, MAX_BOUNCES, MAX_IMAGE_SIDE, MAX_SPP};
use crate::error::{ComputeError, Result};
use crate::format::{write_header_version, Reader};
use crate::KernelId;

/// The render spec new mesh blobs carry: spec 3, the blob layout of spec 2 shaded with the
/// Principled BSDF ([`super::principled`]).
pub const SPEC: u16 = 3;
/// The first mesh spec: the same blob, shaded with the older material kinds (Lambertian,
/// fuzzy mirror, Schlick glass). Its jobs keep running unchanged.
pub const SPEC_LEGACY: u16 = 2;
/// Magic of the scene section.
pub const SCENE_MAGIC: [u8; 4] = *b"TSR2";
/// No texture.
pub const NO_TEXTURE: u32 = u32::MAX;
/// Material kinds after the mapping (docs/KERNELS.md).
pub mod mat_kind {
    /// Spec 2: Lambertian, sampled with next-event estimation and MIS.
    pub const DIFFUSE: u32 = 0;
    /// Spec 2: fuzzy mirror (fuzz = roughness).
    pub const METAL: u32 = 1;
    /// Spec 2: smooth dielectric, Schlick's reflectance about the geometric normal.
    pub const GLASS: u32 = 2;
    /// Spec 3: opaque Principled surface (Burley diffuse + GGX specular, metallic blend).
    pub const PRINCIPLED: u32 = 3;
    /// Spec 3: smooth dielectric, exact Fresnel about the shading normal, tinted refraction.
    pub const PRINCIPLED_GLASS: u32 = 4;
}
/// f32 values per compiled triangle: `v0`, `e1 = v1 − v0`, `e2 = v2 − v0`, unit normal.
pub const TRI_STRIDE: usize = 12;
/// f32 values per compiled material: base rgb, roughness (spec 2: fuzz), emission rgb, ior,
/// then (spec 3) metallic, GGX `α = max(roughness², ALPHA_MIN)`, `F0` of the ior (normal
/// incidence, [`super::principled::fresnel_dielectric`]) and `1 / (1 − F0)`.
pub const MAT_STRIDE: usize = 12;

/// A rectangle of the frame (pixels `x0 .. x0 + w`, rows `y0 .. y0 + h`, row 0 at the top).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    /// First column.
    pub x0: u32,
    /// First row.
    pub y0: u32,
    /// Columns.
    pub w: u32,
    /// Rows.
    pub h: u32,
}

impl Tile {
    /// The whole frame.
    pub fn full(width: u32, height: u32) -> Tile {
        Tile {
            x0: 0,
            y0: 0,
            w: width,
            h: height,
        }
    }

    /// The `cols × rows` grid of tiles of a frame, row-major (sizes differ by at most one).
    pub fn grid(width: u32, height: u32, cols: u32, rows: u32) -> Result<Vec<Tile>> {
        if cols == 0 || rows == 0 || cols > width || rows > height {
            return Err(ComputeError::InvalidInput(format!(
                "a {cols}x{rows} tile grid does not fit a {width}x{height} frame"
            )));
        }
        let cut = |n: u32, parts: u32, i: u32| (n as u64 * i as u64 / parts as u64) as u32;
        let mut out = Vec::new();
        for r in 0..rows {
            for c in 0..cols {
                let (x0, x1) = (cut(width, cols, c), cut(width, cols, c + 1));
                let (y0, y1) = (cut(height, rows, r), cut(height, rows, r + 1));
                out.push(Tile {
                    x0,
                    y0,
                    w: x1 - x0,
                    h: y1 - y0,
                });
            }
        }
        Ok(out)
    }
}

/// The compiled scene both tracers consume.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledMesh {
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// The rendered rectangle.
    pub tile: Tile,
    /// Samples per pixel.
    pub spp: u32,
    /// Maximum scattering events.
    pub max_bounces: u32,
    /// RNG seed.
    pub seed: u32,
    /// Camera origin, lower-left corner, horizontal, vertical, background (5 × xyz).
    pub camera: [f32; 15],
    /// Ray offset: `1e-5 ×` the largest extent of the scene's box (at least `1e-6`).
    pub ray_eps: f32,
    /// Per triangle: [`TRI_STRIDE`] floats.
    pub tri: Vec<f32>,
    /// Per triangle: material, vertex indices `v0 v1 v2`, and a flag word (1: degenerate, never
    /// hit).
    pub tri_info: Vec<u32>,
    /// Per vertex normal (xyz), empty when the scene has none.
    pub normals: Vec<f32>,
    /// Per vertex uv, empty when the scene has none.
    pub uvs: Vec<f32>,
    /// Per material: kind.
    pub mat_kind: Vec<u32>,
    /// Per material: texture index or [`NO_TEXTURE`].
    pub mat_tex: Vec<u32>,
    /// Per material: [`MAT_STRIDE`] floats.
    pub mat: Vec<f32>,
    /// Per texture: texel offset (in texels), width, height.
    pub tex_info: Vec<u32>,
    /// Every texture's RGBA8 texels, one after the other.
    pub texels: Vec<u8>,
    /// Emissive triangles (stored indices), in order.
    pub light_tri: Vec<u32>,
    /// Cumulative selection probability of each light (the last is 1).
    pub light_cdf: Vec<f32>,
    /// Per triangle: probability density (per unit area) with which light sampling picks a
    /// point on it (0 for non-emitters).
    pub light_pdf: Vec<f32>,
    /// The environment (spec 3; none: the background colour).
    pub env: CompiledEnv,
    /// BVH nodes: box min xyz, max xyz.
    pub node_box: Vec<f32>,
    /// BVH nodes: `a`, `meta` (see [`Node`]).
    pub node_meta: Vec<u32>,
}

impl CompiledMesh {
    /// The expected node visits plus triangle tests of one ray through this scene's BVH
    /// ([`bvh::expected_work`]).
    pub fn bvh_work(&self) -> f64 {
        let (v, t) = self.bvh_visits();
        v + t
    }

    /// Expected node visits and triangle tests per ray ([`bvh::expected_visits`]).
    pub fn bvh_visits(&self) -> (f64, f64) {
        let nodes: Vec<Node> = self
            .node_box
            .chunks_exact(6)
            .zip(self.node_meta.chunks_exact(2))
            .map(|(b, m)| Node {
                min: [b[0], b[1], b[2]],
                max: [b[3], b[4], b[5]],
                a: m[0],
                meta: m[1],
            })
            .collect();
        bvh::expected_visits(&nodes)
    }

    /// Triangles.
    pub fn num_triangles(&self) -> usize {
        self.tri_info.len() / 5
    }

    /// Upper bound on traced ray segments: per path `max_bounces + 1` segments plus one shadow
    /// ray per bounce.
    pub fn max_segments(&self) -> u64 {
        self.tile.w as u64
            * self.tile.h as u64
            * self.spp as u64
            * (2 * self.max_bounces as u64 + 1)
    }
}

fn scene_err<T>(m: String) -> Result<T> {
    Err(ComputeError::Scene(m))
}

/// Builds the render input blob (spec [`SPEC`]) of `tile` of `scene`: header, then the scene section
/// with the BVH and the triangles in BVH order. Checks the scene the way a worker will.
pub fn encode(scene: &MeshScene, tile: Tile) -> Result<Vec<u8>> {
    encode_spec(scene, tile, SPEC)
}

/// [`encode`] for an older mesh spec ([`SPEC_LEGACY`] or [`SPEC`]): the same bytes but the
/// header's version.
pub fn encode_spec(scene: &MeshScene, tile: Tile, spec: u16) -> Result<Vec<u8>> {
    if !(SPEC_LEGACY..=SPEC).contains(&spec) {
        return scene_err(format!(
            "mesh scenes are render specs {SPEC_LEGACY}..={SPEC}, not {spec}"
        ));
    }
    check_scene(scene)?;
    check_tile(scene.width, scene.height, tile)?;
    let corners: Vec<[[f32; 3]; 3]> = scene
        .triangles
        .iter()
        .map(|t| t.v.map(|i| scene.positions[i as usize]))
        .collect();
    let built = bvh::build(&corners);
    let mut out = Vec::new();
    write_header_version(&mut out, KernelId::Render, spec);
    let mut put = |v: &[u8]| out.extend_from_slice(v);
    put(&SCENE_MAGIC);
    for v in [scene.width, scene.height, tile.x0, tile.y0, tile.w, tile.h] {
        put(&v.to_le_bytes());
    }
    for v in [scene.samples_per_pixel, scene.max_bounces, scene.seed] {
        put(&v.to_le_bytes());
    }
    let c = &scene.camera;
    for v in scene
        .background
        .iter()
        .chain(&c.position)
        .chain(&c.look_at)
        .chain(&c.up)
        .chain(std::iter::once(&c.vfov_degrees))
    {
        put(&v.to_le_bytes());
    }
    put(&(scene.materials.len() as u32).to_le_bytes());
    for m in &scene.materials {
        for v in m.base_color {
            put(&v.to_le_bytes());
        }
        put(&m.base_color_texture.unwrap_or(NO_TEXTURE).to_le_bytes());
        for v in [m.metallic, m.roughness] {
            put(&v.to_le_bytes());
        }
        for v in m.emission {
            put(&v.to_le_bytes());
        }
        for v in [m.transmission, m.ior] {
            put(&v.to_le_bytes());
        }
    }
    put(&(scene.textures.len() as u32).to_le_bytes());
    for t in &scene.textures {
        put(&t.width.to_le_bytes());
        put(&t.height.to_le_bytes());
        put(&t.rgba);
    }
    let flags = (!scene.normals.is_empty()) as u32 | ((!scene.uvs.is_empty()) as u32) << 1;
    put(&(scene.positions.len() as u32).to_le_bytes());
    put(&flags.to_le_bytes());
    for p in &scene.positions {
        for v in p {
            put(&v.to_le_bytes());
        }
    }
    for n in &scene.normals {
        for v in n {
            put(&v.to_le_bytes());
        }
    }
    for uv in &scene.uvs {
        for v in uv {
            put(&v.to_le_bytes());
        }
    }
    put(&(scene.triangles.len() as u32).to_le_bytes());
    for &i in &built.order {
        let t = &scene.triangles[i as usize];
        for v in t.v.iter().chain(std::iter::once(&t.material)) {
            put(&v.to_le_bytes());
        }
    }
    put(&(built.nodes.len() as u32).to_le_bytes());
    for n in &built.nodes {
        for v in n.min.iter().chain(&n.max) {
            put(&v.to_le_bytes());
        }
        put(&n.a.to_le_bytes());
        put(&n.meta.to_le_bytes());
    }
    match (&scene.environment, spec >= SPEC) {
        (None, false) => {}
        (None, true) => put(&[0u8; 8]),
        (Some(e), true) => {
            put(&e.width.to_le_bytes());
            put(&e.height.to_le_bytes());
            for v in &e.rgb {
                put(&v.to_le_bytes());
            }
        }
        (Some(_), false) => {
            return scene_err(format!(
                "render spec {spec} has no environment (spec {SPEC} does)"
            ))
        }
    }
    Ok(out)
}

fn check_env(w: u32, h: u32) -> Result<()> {
    if w == 0 || h == 0 {
        return scene_err(format!("environment map {w}x{h} (each side at least 1)"));
    }
    if w as u64 * h as u64 > MAX_ENV_TEXELS {
        return Err(ComputeError::TooLarge(format!(
            "environment map {w}x{h} (at most {MAX_ENV_TEXELS} texels)"
        )));
    }
    Ok(())
}

fn check_env_values(rgb: &[f32]) -> Result<()> {
    if let Some(i) = rgb.iter().position(|v| !(*v >= 0.0 && v.is_finite())) {
        return scene_err(format!(
            "environment texel {} has {} (finite, ≥ 0)",
            i / 3,
            rgb[i]
        ));
    }
    Ok(())
}

/// Copies `blob` (spec 2) with another tile of the same frame: the scene section is unchanged.
pub fn with_tile(blob: &[u8], tile: Tile) -> Result<Vec<u8>> {
    // header (8) + magic (4) + width, height (8), then the tile's four words
    if blob.len() < 36 || blob[8..12] != SCENE_MAGIC {
        return scene_err("not a render spec 2 blob".into());
    }
    let w = u32::from_le_bytes(blob[12..16].try_into().unwrap());
    let h = u32::from_le_bytes(blob[16..20].try_into().unwrap());
    check_tile(w, h, tile)?;
    let mut out = blob.to_vec();
    for (k, v) in [tile.x0, tile.y0, tile.w, tile.h].into_iter().enumerate() {
        out[20 + 4 * k..24 + 4 * k].copy_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

fn check_tile(width: u32, height: u32, t: Tile) -> Result<()> {
    let ok = t.w > 0
        && t.h > 0
        && t.x0 as u64 + t.w as u64 <= width as u64
        && t.y0 as u64 + t.h as u64 <= height as u64;
    if !ok {
        return scene_err(format!(
            "tile {}x{} at ({}, {}) is not inside the {width}x{height} frame",
            t.w, t.h, t.x0, t.y0
        ));
    }
    Ok(())
}

fn check_frame(width: u32, height: u32, spp: u32, bounces: u32) -> Result<()> {
    if !(1..=MAX_IMAGE_SIDE).contains(&width) || !(1..=MAX_IMAGE_SIDE).contains(&height) {
        return scene_err(format!(
            "image {width}x{height} (each side 1..={MAX_IMAGE_SIDE})"
        ));
    }
    if !(1..=MAX_SPP).contains(&spp) {
        return scene_err(format!("samples_per_pixel {spp} (1..={MAX_SPP})"));
    }
    if bounces > MAX_BOUNCES {
        return scene_err(format!("max_bounces {bounces} (at most {MAX_BOUNCES})"));
    }
    Ok(())
}

fn check_material(i: usize, m: &MeshMaterial, n_tex: usize) -> Result<()> {
    let unit = |v: f32| v >= 0.0 && v <= 1.0;
    if !m.base_color.iter().all(|&v| unit(v)) {
        return scene_err(format!(
            "material {i}: base colour {:?} (each in [0, 1])",
            m.base_color
        ));
    }
    if !(unit(m.metallic) && unit(m.roughness) && unit(m.transmission)) {
        return scene_err(format!(
            "material {i}: metallic {}, roughness {}, transmission {} (each in [0, 1])",
            m.metallic, m.roughness, m.transmission
        ));
    }
    if !m.emission.iter().all(|&v| v >= 0.0 && v.is_finite()) {
        return scene_err(format!(
            "material {i}: emission {:?} (finite, ≥ 0)",
            m.emission
        ));
    }
    if !(m.ior > 0.0 && m.ior <= 10.0) {
        return scene_err(format!("material {i}: ior {} (in (0, 10])", m.ior));
    }
    if let Some(t) = m.base_color_texture {
        if t as usize >= n_tex {
            return scene_err(format!("material {i}: texture {t} of {n_tex}"));
        }
    }
    Ok(())
}

fn check_camera(c: &CameraSpec) -> Result<()> {
    let fin = |v: &[f32; 3]| v.iter().all(|x| x.is_finite());
    if !(fin(&c.position) && fin(&c.look_at) && fin(&c.up)) {
        return scene_err("camera: non-finite position, look_at or up".into());
    }
    if !(c.vfov_degrees > 0.0 && c.vfov_degrees < 180.0) {
        return scene_err(format!("camera: vfov {} (in (0, 180))", c.vfov_degrees));
    }
    Ok(())
}

/// The checks a worker makes, on the scene before encoding (so a client learns of a bad scene
/// before it posts).
pub fn check_scene(s: &MeshScene) -> Result<()> {
    check_frame(s.width, s.height, s.samples_per_pixel, s.max_bounces)?;
    check_camera(&s.camera)?;
    camera_basis(&s.camera, s.width, s.height, [0.0; 3])?;
    if !s.background.iter().all(|v| *v >= 0.0 && v.is_finite()) {
        return scene_err(format!("background {:?} (finite, ≥ 0)", s.background));
    }
    if s.materials.is_empty() || s.materials.len() > MAX_MATERIALS {
        return scene_err(format!(
            "{} materials (1..={MAX_MATERIALS})",
            s.materials.len()
        ));
    }
    if s.textures.len() > MAX_TEXTURES {
        return Err(ComputeError::TooLarge(format!(
            "{} textures (at most {MAX_TEXTURES})",
            s.textures.len()
        )));
    }
    for (i, t) in s.textures.iter().enumerate() {
        check_texture(i, t.width, t.height)?;
        if t.rgba.len() as u64 != t.width as u64 * t.height as u64 * 4 {
            return scene_err(format!(
                "texture {i}: {} bytes for {}x{}",
                t.rgba.len(),
                t.width,
                t.height
            ));
        }
    }
    for (i, m) in s.materials.iter().enumerate() {
        check_material(i, m, s.textures.len())?;
    }
    if let Some(e) = &s.environment {
        check_env(e.width, e.height)?;
        if e.rgb.len() as u64 != e.width as u64 * e.height as u64 * 3 {
            return scene_err(format!(
                "environment: {} values for {}x{}",
                e.rgb.len(),
                e.width,
                e.height
            ));
        }
        check_env_values(&e.rgb)?;
    }
    let nv = s.positions.len();
    if nv > MAX_VERTICES {
        return Err(ComputeError::TooLarge(format!(
            "{nv} vertices (at most {MAX_VERTICES})"
        )));
    }
    if s.triangles.len() > MAX_TRIANGLES {
        return Err(ComputeError::TooLarge(format!(
            "{} triangles (at most {MAX_TRIANGLES})",
            s.triangles.len()
        )));
    }
    if !(s.normals.is_empty() || s.normals.len() == nv) || !(s.uvs.is_empty() || s.uvs.len() == nv)
    {
        return scene_err(format!(
            "{} normals and {} uvs for {nv} vertices (none, or one each)",
            s.normals.len(),
            s.uvs.len()
        ));
    }
    check_vertices(&s.positions, &s.normals, &s.uvs)?;
    for (i, t) in s.triangles.iter().enumerate() {
        check_triangle(i, t, nv, s.materials.len())?;
    }
    Ok(())
}

fn check_texture(i: usize, w: u32, h: u32) -> Result<()> {
    if w == 0 || h == 0 || w > MAX_TEXTURE_SIDE || h > MAX_TEXTURE_SIDE {
        return Err(ComputeError::TooLarge(format!(
            "texture {i}: {w}x{h} (each side 1..={MAX_TEXTURE_SIDE})"
        )));
    }
    Ok(())
}

fn check_vertices(p: &[[f32; 3]], n: &[[f32; 3]], uv: &[[f32; 2]]) -> Result<()> {
    if let Some(i) = p.iter().position(|v| !v.iter().all(|x| x.is_finite())) {
        return scene_err(format!("vertex {i} has a non-finite position {:?}", p[i]));
    }
    if let Some(i) = n.iter().position(|v| !v.iter().all(|x| x.is_finite())) {
        return scene_err(format!("vertex {i} has a non-finite normal {:?}", n[i]));
    }
    if let Some(i) = uv.iter().position(|v| !v.iter().all(|x| x.is_finite())) {
        return scene_err(format!("vertex {i} has a non-finite uv {:?}", uv[i]));
    }
    Ok(())
}

fn check_triangle(i: usize, t: &Triangle, nv: usize, nm: usize) -> Result<()> {
    if t.v.iter().any(|&v| v as usize >= nv) {
        return scene_err(format!("triangle {i}: vertex {:?} of {nv}", t.v));
    }
    if t.material as usize >= nm {
        return scene_err(format!("triangle {i}: material {} of {nm}", t.material));
    }
    Ok(())
}

/// Parses and validates the payload of a render spec [`SPEC`] blob (after the common header),
/// then compiles it. `max_host_bytes` bounds every allocation.
pub fn parse(payload: &[u8], max_host_bytes: u64) -> Result<CompiledMesh> {
    parse_spec(payload, SPEC, max_host_bytes)
}

/// [`parse`] for a blob whose header says mesh spec `spec` (2: the older material kinds).
pub fn parse_spec(payload: &[u8], spec: u16, max_host_bytes: u64) -> Result<CompiledMesh> {
    if !(SPEC_LEGACY..=SPEC).contains(&spec) {
        return scene_err(format!(
            "mesh scenes are render specs {SPEC_LEGACY}..={SPEC}, not {spec}"
        ));
    }
    let mut r = Reader::new(payload);
    if r.array::<4>("scene magic")? != SCENE_MAGIC {
        return scene_err("render spec 2 scene section must start with TSR2".into());
    }
    let (width, height) = (r.u32("width")?, r.u32("height")?);
    let tile = Tile {
        x0: r.u32("tile x")?,
        y0: r.u32("tile y")?,
        w: r.u32("tile width")?,
        h: r.u32("tile height")?,
    };
    let (spp, max_bounces, seed) = (r.u32("spp")?, r.u32("max_bounces")?, r.u32("seed")?);
    check_frame(width, height, spp, max_bounces)?;
    check_tile(width, height, tile)?;
    let mut f = |what| -> Result<f32> { Ok(f32::from_le_bytes(r.array::<4>(what)?)) };
    let background = [f("background")?, f("background")?, f("background")?];
    let v3 = |f: &mut dyn FnMut(&'static str) -> Result<f32>, w| -> Result<[f32; 3]> {
        Ok([f(w)?, f(w)?, f(w)?])
    };
    let camera = CameraSpec {
        position: v3(&mut f, "camera")?,
        look_at: v3(&mut f, "camera")?,
        up: v3(&mut f, "camera")?,
        vfov_degrees: f("camera")?,
    };
    drop(f);
    check_camera(&camera)?;
    if !background.iter().all(|v| *v >= 0.0 && v.is_finite()) {
        return scene_err(format!("background {background:?} (finite, ≥ 0)"));
    }
    let camera = camera_basis(&camera, width, height, background)?;
    let budget = |n: u64, unit: u64, what: &str| -> Result<usize> {
        let bytes = n.saturating_mul(unit);
        if bytes > max_host_bytes {
            return Err(ComputeError::TooLarge(format!(
                "{n} {what}: more than the host limit allows"
            )));
        }
        Ok(n as usize)
    };
    let nm = r.u32("material count")? as usize;
    if nm == 0 || nm > MAX_MATERIALS {
        return scene_err(format!("{nm} materials (1..={MAX_MATERIALS})"));
    }
    let mb = r.bytes(nm as u64 * 44, "materials")?;
    let mut materials = Vec::with_capacity(nm);
    for c in mb.chunks_exact(44) {
        let w = |k: usize| u32::from_le_bytes(c[4 * k..4 * k + 4].try_into().unwrap());
        let fl = |k: usize| f32::from_bits(w(k));
        let tex = w(3);
        materials.push(MeshMaterial {
            base_color: [fl(0), fl(1), fl(2)],
            base_color_texture: (tex != NO_TEXTURE).then_some(tex),
            metallic: fl(4),
            roughness: fl(5),
            emission: [fl(6), fl(7), fl(8)],
            transmission: fl(9),
            ior: fl(10),
        });
    }
    let nt = r.u32("texture count")? as usize;
    if nt > MAX_TEXTURES {
        return Err(ComputeError::TooLarge(format!(
            "{nt} textures (at most {MAX_TEXTURES})"
        )));
    }
    let mut tex_info = Vec::with_capacity(nt * 3);
    let mut tex_slices = Vec::with_capacity(nt);
    let mut texel_count = 0u64;
    for i in 0..nt {
        let (w, h) = (r.u32("texture width")?, r.u32("texture height")?);
        check_texture(i, w, h)?;
        let n = w as u64 * h as u64;
        budget(texel_count + n, 4, "texels")?;
        tex_slices.push(r.bytes(n * 4, "texels")?);
        tex_info.extend_from_slice(&[texel_count as u32, w, h]);
        texel_count += n;
    }
    for (i, m) in materials.iter().enumerate() {
        check_material(i, m, nt)?;
    }
    let nv = r.u32("vertex count")? as usize;
    if nv > MAX_VERTICES {
        return Err(ComputeError::TooLarge(format!(
            "{nv} vertices (at most {MAX_VERTICES})"
        )));
    }
    let flags = r.u32("vertex flags")?;
    if flags > 3 {
        return scene_err(format!(
            "vertex flags {flags:#x} (bit 0 normals, bit 1 uvs)"
        ));
    }
    let per_vertex = 3 + 3 * (flags & 1) as u64 + 2 * (flags >> 1) as u64;
    budget(nv as u64, per_vertex * 4, "vertices")?;
    let floats = |r: &mut Reader, n: usize, what: &'static str| -> Result<Vec<f32>> {
        Ok(r.bytes(n as u64 * 4, what)?
            .as_chunks::<4>()
            .0
            .iter()
            .map(|b| f32::from_le_bytes(*b))
            .collect())
    };
    let pos = floats(&mut r, nv * 3, "positions")?;
    let normals = if flags & 1 != 0 {
        floats(&mut r, nv * 3, "normals")?
    } else {
        Vec::new()
    };
    let uvs = if flags & 2 != 0 {
        floats(&mut r, nv * 2, "uvs")?
    } else {
        Vec::new()
    };
    for (what, v, k) in [
        ("position", &pos, 3),
        ("normal", &normals, 3),
        ("uv", &uvs, 2),
    ] {
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return scene_err(format!("vertex {} has a non-finite {what}", i / k));
        }
    }
    let ntri = r.u32("triangle count")? as usize;
    if ntri > MAX_TRIANGLES {
        return Err(ComputeError::TooLarge(format!(
            "{ntri} triangles (at most {MAX_TRIANGLES})"
        )));
    }
    budget(ntri as u64, 4 * (TRI_STRIDE as u64 + 6), "triangles")?;
    let tb = r.bytes(ntri as u64 * 16, "triangles")?;
    let mut tris = Vec::with_capacity(ntri);
    for (i, c) in tb.chunks_exact(16).enumerate() {
        let w = |k: usize| u32::from_le_bytes(c[4 * k..4 * k + 4].try_into().unwrap());
        let t = Triangle {
            v: [w(0), w(1), w(2)],
            material: w(3),
        };
        check_triangle(i, &t, nv, nm)?;
        tris.push(t);
    }
    let nn = r.u32("node count")? as usize;
    if nn == 0 || nn > 2 * ntri.max(1) {
        return scene_err(format!("{nn} BVH nodes for {ntri} triangles"));
    }
    let nb = r.bytes(nn as u64 * 32, "BVH nodes")?;
    let nodes: Vec<Node> = nb
        .chunks_exact(32)
        .map(|c| {
            let w = |k: usize| u32::from_le_bytes(c[4 * k..4 * k + 4].try_into().unwrap());
            let fl = |k: usize| f32::from_bits(w(k));
            Node {
                min: [fl(0), fl(1), fl(2)],
                max: [fl(3), fl(4), fl(5)],
                a: w(6),
                meta: w(7),
            }
        })
        .collect();
    let environment = if spec >= SPEC {
        let (w, h) = (r.u32("environment width")?, r.u32("environment height")?);
        if (w, h) == (0, 0) {
            None
        } else {
            check_env(w, h)?;
            let n = w as u64 * h as u64 * 3;
            budget(n, 4 * 3, "environment values")?;
            let b = r.bytes(n * 4, "environment")?;
            let rgb: Vec<f32> = b
                .as_chunks::<4>()
                .0
                .iter()
                .map(|c| f32::from_le_bytes(*c))
                .collect();
            check_env_values(&rgb)?;
            Some(EnvMap {
                width: w,
                height: h,
                rgb,
            })
        }
    } else {
        None
    };
    r.finish(if spec >= SPEC {
        "environment"
    } else {
        "BVH nodes"
    })?;
    let corner = |t: usize, k: usize| {
        let v = tris[t].v[k] as usize;
        [pos[3 * v], pos[3 * v + 1], pos[3 * v + 2]]
    };
    bvh::validate(&nodes, ntri, corner)?;
    let mut texels = Vec::with_capacity(texel_count as usize * 4);
    for s in tex_slices {
        texels.extend_from_slice(s);
    }
    Ok(compile(Parsed {
        spec,
        environment,
        width,
        height,
        tile,
        spp,
        max_bounces,
        seed,
        camera,
        materials,
        tex_info,
        texels,
        pos,
        normals,
        uvs,
        tris,
        nodes,
    }))
}

struct Parsed {
    spec: u16,
    environment: Option<EnvMap>,
    width: u32,
    height: u32,
    tile: Tile,
    spp: u32,
    max_bounces: u32,
    seed: u32,
    camera: [f32; 15],
    materials: Vec<MeshMaterial>,
    tex_info: Vec<u32>,
    texels: Vec<u8>,
    pos: Vec<f32>,
    normals: Vec<f32>,
    uvs: Vec<f32>,
    tris: Vec<Triangle>,
    nodes: Vec<Node>,
}

/// The camera basis exactly as spec 1 computes it (`scene.rs`), for the full frame.
fn camera_basis(c: &CameraSpec, width: u32, height: u32, bg: [f32; 3]) -> Result<[f32; 15]> {
    let pos = V3::new(c.position[0], c.position[1], c.position[2]);
    let at = V3::new(c.look_at[0], c.look_at[1], c.look_at[2]);
    let up = V3::new(c.up[0], c.up[1], c.up[2]);
    let wv = pos - at;
    if !(wv.dot(wv) > 0.0) {
        return scene_err("camera: position equals look_at".into());
    }
    let w = wv.normalize();
    let uc = up.cross(w);
    if !(uc.dot(uc) > 0.0) {
        return scene_err("camera: up is parallel to the view direction".into());
    }
    let u = uc.normalize();
    let v = w.cross(u);
    let (s, co) = sincos_turns(c.vfov_degrees / 720.0);
    let h = s / co;
    let vh = 2.0 * h;
    let vw = (width as f32 / height as f32) * vh;
    let horizontal = u * vw;
    let vertical = v * vh;
    let llc = pos - horizontal.div_s(2.0) - vertical.div_s(2.0) - w;
    let mut cam = [0.0f32; 15];
    for (k, x) in [pos, llc, horizontal, vertical, V3::new(bg[0], bg[1], bg[2])]
        .iter()
        .enumerate()
    {
        cam[3 * k..3 * k + 3].copy_from_slice(&x.to_array());
    }
    if !cam.iter().all(|x| x.is_finite()) {
        return scene_err("camera: degenerate basis".into());
    }
    Ok(cam)
}

fn compile(p: Parsed) -> CompiledMesh {
    let ntri = p.tris.len();
    let mut tri = Vec::with_capacity(ntri * TRI_STRIDE);
    let mut tri_info = Vec::with_capacity(ntri * 5);
    let mut areas = Vec::with_capacity(ntri);
    let vtx = |i: u32| {
        let i = i as usize;
        V3::new(p.pos[3 * i], p.pos[3 * i + 1], p.pos[3 * i + 2])
    };
    for t in &p.tris {
        let v0 = vtx(t.v[0]);
        let e1 = vtx(t.v[1]) - v0;
        let e2 = vtx(t.v[2]) - v0;
        let c = e1.cross(e2);
        let len2 = c.dot(c);
        let len = len2.sqrt();
        let ok = len2 > 0.0 && len2.is_finite();
        let n = if ok {
            c.div_s(len)
        } else {
            V3::new(0.0, 0.0, 0.0)
        };
        // the traversal (mesh_cpu::hit_tri) reads "degenerate" off the zero normal
        debug_assert_eq!(!ok, n.x == 0.0 && n.y == 0.0 && n.z == 0.0);
        for x in [v0, e1, e2, n] {
            tri.extend_from_slice(&x.to_array());
        }
        tri_info.extend_from_slice(&[t.material, t.v[0], t.v[1], t.v[2], (!ok) as u32]);
        areas.push(if ok { 0.5 * len } else { 0.0 });
    }
    let mut mat_kind = Vec::with_capacity(p.materials.len());
    let mut mat_tex = Vec::with_capacity(p.materials.len());
    let mut mat = Vec::with_capacity(p.materials.len() * MAT_STRIDE);
    for m in &p.materials {
        let kind = match (p.spec >= SPEC, m.transmission > 0.5, m.metallic > 0.5) {
            (true, true, _) => mat_kind::PRINCIPLED_GLASS,
            (true, false, _) => mat_kind::PRINCIPLED,
            (false, true, _) => mat_kind::GLASS,
            (false, false, true) => mat_kind::METAL,
            (false, false, false) => mat_kind::DIFFUSE,
        };
        mat_kind.push(kind);
        mat_tex.push(m.base_color_texture.unwrap_or(NO_TEXTURE));
        mat.extend_from_slice(&m.base_color);
        mat.push(m.roughness);
        mat.extend_from_slice(&m.emission);
        mat.push(m.ior);
        let f0 = super::principled::fresnel_dielectric(1.0, m.ior);
        mat.extend_from_slice(&[
            m.metallic,
            super::principled::alpha(m.roughness),
            f0,
            1.0 / (1.0 - f0),
        ]);
    }
    // lights: emissive, non-degenerate triangles weighted by area × (r + g + b), in order
    let mut light_tri = Vec::new();
    let mut weights = Vec::new();
    for (i, t) in p.tris.iter().enumerate() {
        let e = &p.materials[t.material as usize].emission;
        let power = (e[0] + e[1]) + e[2];
        let w = areas[i] * power;
        if w > 0.0 && w.is_finite() {
            light_tri.push(i as u32);
            weights.push(w);
        }
    }
    let total: f64 = weights.iter().map(|&w| w as f64).sum();
    let mut light_cdf = Vec::with_capacity(weights.len());
    let mut acc = 0.0f64;
    for &w in &weights {
        acc += w as f64;
        light_cdf.push((acc / total) as f32);
    }
    if let Some(last) = light_cdf.last_mut() {
        *last = 1.0;
    }
    let env = CompiledEnv::compile(p.environment.as_ref(), !light_tri.is_empty());
    // the probability of sampling the triangles rather than the environment (1 without one)
    let p_tri = 1.0 - env.select;
    let mut light_pdf = vec![0.0f32; ntri];
    for (k, &t) in light_tri.iter().enumerate() {
        let prev = if k == 0 { 0.0 } else { light_cdf[k - 1] };
        light_pdf[t as usize] = (light_cdf[k] - prev) / areas[t as usize] * p_tri;
    }
    // scene extent for the ray offset
    let mut lo = [f32::INFINITY; 3];
    let mut hi = [f32::NEG_INFINITY; 3];
    for v in p.pos.chunks_exact(3) {
        for k in 0..3 {
            lo[k] = lo[k].min(v[k]);
            hi[k] = hi[k].max(v[k]);
        }
    }
    let extent = (0..3)
        .map(|k| hi[k] - lo[k])
        .fold(0.0f32, |a, b| if b > a { b } else { a });
    let ray_eps = if 1e-5 * extent > 1e-6 {
        1e-5 * extent
    } else {
        1e-6
    };
    let mut node_box = Vec::with_capacity(p.nodes.len() * 6);
    let mut node_meta = Vec::with_capacity(p.nodes.len() * 2);
    for n in &p.nodes {
        node_box.extend_from_slice(&n.min);
        node_box.extend_from_slice(&n.max);
        node_meta.extend_from_slice(&[n.a, n.meta]);
    }
    CompiledMesh {
        width: p.width,
        height: p.height,
        tile: p.tile,
        spp: p.spp,
        max_bounces: p.max_bounces,
        seed: p.seed,
        camera: p.camera,
        ray_eps,
        tri,
        tri_info,
        normals: p.normals,
        uvs: p.uvs,
        mat_kind,
        mat_tex,
        mat,
        tex_info: p.tex_info,
        texels: p.texels,
        light_tri,
        light_cdf,
        light_pdf,
        env,
        node_box,
        node_meta,
    }
}

/// A [`Texture`]'s place in [`CompiledMesh::texels`] (for tests and tools).
pub fn texture_of(m: &CompiledMesh, i: usize) -> Texture {
    let (off, w, h) = (
        m.tex_info[3 * i] as usize,
        m.tex_info[3 * i + 1],
        m.tex_info[3 * i + 2],
    );
    let n = w as usize * h as usize * 4;
    Texture {
        width: w,
        height: h,
        rgba: m.texels[off * 4..off * 4 + n].to_vec(),
    }
}
