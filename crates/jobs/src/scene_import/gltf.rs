//! glTF 2.0 import: `.gltf` (JSON with external or `data:` URI buffers and images) and `.glb`
//! (binary container). See the module documentation of [`super`] for the mapping.
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ::gltf as gl;
use base64::Engine as _;
use gl::accessor::{DataType, Dimensions};
use gl::animation::util::ReadOutputs;
use gl::animation::{Interpolation, Property};
use gl::mesh::{Mode, Semantic};
use tessera_compute::render::mesh::MeshMaterial;
use tessera_compute::render::scene::CameraSpec;

use super::{
    decode_texture, det3, mat_from_trs, mat_mul, normal_matrix, normalize, read_file,
    transform_dir, transform_point, Chunk, ImportError, ImportOptions, Imported, Mat4,
    SceneBuilder, SceneFiles, Warnings, IDENTITY,
};

/// Extensions the importer implements (and so accepts in `extensionsRequired`).
pub const IMPLEMENTED_EXTENSIONS: &[&str] = &[
    "KHR_materials_transmission",
    "KHR_materials_ior",
    "KHR_materials_emissive_strength",
    "KHR_lights_punctual",
];

/// The warning given for a file that uses `KHR_lights_punctual`.
pub const LIGHTS_WARNING: &str =
    "KHR_lights_punctual: punctual lights are ignored; use emissive meshes";

/// Imports a `.gltf` or `.glb` file.
pub(super) fn import_gltf(
    files: &dyn SceneFiles,
    path: &Path,
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    if opts.time.is_nan() {
        return Err(ImportError::NonFinite("ImportOptions::time is NaN".into()));
    }
    let bytes = read_file(files, path)?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let file = path.display().to_string();
    let gl::Gltf { document, blob } = gl::Gltf::from_slice_without_validation(&bytes)
        .map_err(|e| ImportError::Malformed(format!("{file}: {e}")))?;
    drop(bytes);

    let mut warnings = Warnings::default();
    let mut root = document.into_json();
    if let Some(name) = root
        .extensions_required
        .iter()
        .find(|n| !IMPLEMENTED_EXTENSIONS.contains(&n.as_str()))
    {
        return Err(ImportError::UnsupportedExtension(name.clone()));
    }
    for name in &root.extensions_used {
        match name.as_str() {
            "KHR_lights_punctual" => warnings.push(LIGHTS_WARNING),
            // Warned where a base colour texture carries a transform.
            "KHR_texture_transform" => {}
            n if IMPLEMENTED_EXTENSIONS.contains(&n) => {}
            n => warnings.push(format!("{n}: extension not supported; ignored")),
        }
    }
    // The policy above replaces the crate's own check of extensionsRequired.
    root.extensions_required.clear();
    let document = validate(root, &file, &mut warnings)?;

    let buffers = load_buffers(files, &document, blob, &base, &file)?;
    check_layout(&document, &buffers, &file)?;
    let (animated, animation) = sample_animations(&document, &buffers, opts.time, &mut warnings)?;

    let scene = document
        .default_scene()
        .or_else(|| document.scenes().next())
        .ok_or_else(|| ImportError::Empty(format!("{file} has no scene")))?;

    let mut ctx = Ctx {
        files,
        buffers: &buffers,
        base: &base,
        builder: SceneBuilder::default(),
        warnings,
        materials: BTreeMap::new(),
        textures: BTreeMap::new(),
    };
    let mut file_camera: Option<CameraSpec> = None;
    let mut visited = vec![false; document.nodes().len()];
    // Depth-first, children in order: the stack holds them reversed.
    let mut stack: Vec<(gl::Node, Mat4)> = scene.nodes().map(|n| (n, IDENTITY)).collect();
    stack.reverse();
    while let Some((node, parent)) = stack.pop() {
        let ni = node.index();
        if std::mem::replace(&mut visited[ni], true) {
            return Err(ImportError::Malformed(format!(
                "{file}: node {ni} is reached twice (the node hierarchy must be a tree)"
            )));
        }
        let world = mat_mul(&parent, &local_matrix(&node, animated.get(&ni)));
        if opts.camera.is_none() && file_camera.is_none() {
            if let Some(cam) = node.camera() {
                match cam.projection() {
                    gl::camera::Projection::Perspective(p) => {
                        let out = f64::from(opts.width) / f64::from(opts.height.max(1));
                        if let Some(a) = p.aspect_ratio() {
                            if (f64::from(a) - out).abs() > 0.005 {
                                ctx.warnings.push(format!(
                                    "camera of node {ni}: aspect ratio {a:.3}, the output \
                                     {}x{} is {out:.3}: the camera's wider angle spans the \
                                     output's longer side, as Blender renders it (sensor fit \
                                     Auto); give --width/--height in the camera's aspect to \
                                     see exactly its frame",
                                    opts.width, opts.height
                                ));
                            }
                        }
                        let yfov = fitted_yfov(p.yfov(), p.aspect_ratio(), out);
                        match camera_from_world(&world, yfov) {
                            Some(c) => file_camera = Some(c),
                            None => ctx.warnings.push(format!(
                                "camera of node {ni}: degenerate transform or field of view; \
                                 skipped"
                            )),
                        }
                    }
                    gl::camera::Projection::Orthographic(_) => ctx.warnings.push(format!(
                        "camera of node {ni}: orthographic cameras are not supported; skipped"
                    )),
                }
            }
        }
        if let Some(mesh) = node.mesh() {
            if node.skin().is_some() {
                ctx.warnings.push(format!(
                    "node {ni}: skinning is not supported; the bind pose is rendered"
                ));
            }
            ctx.add_mesh(&mesh, &world)?;
        }
        let children: Vec<gl::Node> = node.children().collect();
        for child in children.into_iter().rev() {
            stack.push((child, world));
        }
    }
    let Ctx {
        builder, warnings, ..
    } = ctx;
    let scene = builder.finish(opts, file_camera, &file)?;
    Ok(Imported {
        scene,
        warnings: warnings.into_vec(),
        animation,
    })
}

/// Validates the document with the crate's checks, except one that exporters often fail and
/// that the importer does not need: `min`/`max` on `POSITION` accessors (a warning instead).
fn validate(
    root: gl::json::Root,
    file: &str,
    warnings: &mut Warnings,
) -> Result<gl::Document, ImportError> {
    use gl::json::validation::{Error as VError, Validate};
    let mut errors = Vec::new();
    root.validate(&root, gl::json::Path::new, &mut |path, error| {
        errors.push((path(), error))
    });
    let (tolerated, fatal): (Vec<_>, Vec<_>) = errors.into_iter().partition(|(path, e)| {
        let p = path.as_str();
        matches!(e, VError::Missing) && (p.ends_with(".min") || p.ends_with(".max"))
    });
    if !fatal.is_empty() {
        let list: Vec<String> = fatal.iter().map(|(p, e)| format!("{p}: {e}")).collect();
        return Err(ImportError::Malformed(format!(
            "{file}: invalid glTF: {}",
            list.join("; ")
        )));
    }
    if let Some((p, _)) = tolerated.first() {
        warnings.push(format!(
            "{p}: missing (required by glTF for POSITION accessors); accepted"
        ));
    }
    Ok(gl::Document::from_json_without_validation(root))
}

/// What a node's animation channels set at the sampled time.
#[derive(Debug, Default, Clone, Copy)]
struct NodeAnim {
    translation: Option<[f64; 3]>,
    rotation: Option<[f64; 4]>,
    scale: Option<[f64; 3]>,
}

fn local_matrix(node: &gl::Node, anim: Option<&NodeAnim>) -> Mat4 {
    let f = |v: [f32; 3]| v.map(|x| x as f64);
    match (node.transform(), anim) {
        (gl::scene::Transform::Matrix { matrix }, None) => matrix.map(|c| c.map(|x| x as f64)),
        (t, a) => {
            let (t, r, s) = t.decomposed();
            let a = a.copied().unwrap_or_default();
            mat_from_trs(
                a.translation.unwrap_or(f(t)),
                a.rotation.unwrap_or(r.map(|x| x as f64)),
                a.scale.unwrap_or(f(s)),
            )
        }
    }
}

/// The vertical field of view (radians) for an output of aspect `out` (width / height) of a
/// glTF camera with `yfov` and `aspect_ratio`, framed the way Blender renders that camera at
/// another aspect (sensor fit Auto): the camera's angle along its longer side spans the
/// output's longer side. Without an aspect ratio, or at the camera's own, `yfov` as it is.
fn fitted_yfov(yfov: f32, aspect_ratio: Option<f32>, out: f64) -> f32 {
    let Some(a) = aspect_ratio
        .map(f64::from)
        .filter(|a| *a > 0.0 && a.is_finite())
    else {
        return yfov;
    };
    if !(out > 0.0 && out.is_finite()) || (a - out).abs() <= 1e-9 {
        return yfov;
    }
    let half = (f64::from(yfov) / 2.0).tan();
    // tan of half the camera's angle along its longer side
    let sensor = if a >= 1.0 { a * half } else { half };
    let vertical = if out >= 1.0 { sensor / out } else { sensor };
    (2.0 * vertical.atan()) as f32
}

fn camera_from_world(world: &Mat4, yfov: f32) -> Option<CameraSpec> {
    let position = transform_point(world, [0.0; 3]);
    let dir = normalize(transform_dir(world, [0.0, 0.0, -1.0]))?;
    let up = normalize(transform_dir(world, [0.0, 1.0, 0.0]))?;
    let vfov = (yfov as f64).to_degrees();
    if !(vfov > 0.0 && vfov < 180.0 && position.iter().all(|x| x.is_finite())) {
        return None;
    }
    let look_at = [
        position[0] + dir[0],
        position[1] + dir[1],
        position[2] + dir[2],
    ];
    Some(CameraSpec {
        position: position.map(|x| x as f32),
        look_at: look_at.map(|x| x as f32),
        up: up.map(|x| x as f32),
        vfov_degrees: vfov as f32,
    })
}

/// Import state while walking the nodes.
struct Ctx<'a> {
    files: &'a dyn SceneFiles,
    buffers: &'a [Vec<u8>],
    base: &'a Path,
    builder: SceneBuilder,
    warnings: Warnings,
    /// glTF material index (None: the default material) → scene material index.
    materials: BTreeMap<Option<usize>, u32>,
    /// glTF image index → scene texture index.
    textures: BTreeMap<usize, u32>,
}

fn mesh_label(mesh: &gl::Mesh) -> String {
    match mesh.name() {
        Some(n) => format!("mesh {} ({n:?})", mesh.index()),
        None => format!("mesh {}", mesh.index()),
    }
}

fn finite_vecs<const N: usize>(
    v: &[[f32; N]],
    what: impl Fn(usize) -> String,
) -> Result<(), ImportError> {
    match v.iter().position(|p| !p.iter().all(|x| x.is_finite())) {
        Some(i) => Err(ImportError::NonFinite(format!("{} is {:?}", what(i), v[i]))),
        None => Ok(()),
    }
}

/// Checks an accessor's element type before the crate's typed readers see it.
fn expect_accessor(
    a: &gl::Accessor,
    types: &[DataType],
    dims: Dimensions,
    what: &str,
) -> Result<(), ImportError> {
    if !types.contains(&a.data_type()) || a.dimensions() != dims {
        return Err(ImportError::Malformed(format!(
            "{what}: accessor {} is {:?} {:?}, expected {:?} of {:?}",
            a.index(),
            a.dimensions(),
            a.data_type(),
            dims,
            types
        )));
    }
    Ok(())
}

impl Ctx<'_> {
    fn reader_data<'s>(buffers: &'s [Vec<u8>]) -> impl Clone + Fn(gl::Buffer) -> Option<&'s [u8]> {
        move |b: gl::Buffer| buffers.get(b.index()).map(Vec::as_slice)
    }

    fn add_mesh(&mut self, mesh: &gl::Mesh, world: &Mat4) -> Result<(), ImportError> {
        let ml = mesh_label(mesh);
        if mesh.weights().is_some() || mesh.primitives().any(|p| p.morph_targets().len() > 0) {
            self.warnings.push(format!(
                "{ml}: morph targets are not supported; the base shape is rendered"
            ));
        }
        let flip = det3(world) < 0.0;
        let nm = normal_matrix(world);
        let buffers = self.buffers;
        for prim in mesh.primitives() {
            let label = format!("{ml} primitive {}", prim.index());
            let mode = prim.mode();
            match mode {
                Mode::Triangles | Mode::TriangleStrip | Mode::TriangleFan => {}
                m => {
                    self.warnings
                        .push(format!("{label}: mode {m:?} is not triangles; skipped"));
                    continue;
                }
            }
            let Some(pa) = prim.get(&Semantic::Positions) else {
                self.warnings
                    .push(format!("{label}: no POSITION attribute; skipped"));
                continue;
            };
            expect_accessor(&pa, &[DataType::F32], Dimensions::Vec3, &label)?;
            let n = pa.count();
            let index_count = match prim.indices() {
                Some(ia) => {
                    expect_accessor(
                        &ia,
                        &[DataType::U8, DataType::U16, DataType::U32],
                        Dimensions::Scalar,
                        &label,
                    )?;
                    ia.count()
                }
                None => n,
            };
            let triangles_max = match mode {
                Mode::Triangles => index_count / 3,
                _ => index_count.saturating_sub(2),
            };
            self.builder.check_room(n, triangles_max, &label)?;

            let reader = prim.reader(Self::reader_data(buffers));
            let raw: Vec<[f32; 3]> = reader
                .read_positions()
                .map(|it| it.collect())
                .unwrap_or_else(|| vec![[0.0; 3]; n]);
            if raw.len() != n {
                return Err(ImportError::Malformed(format!(
                    "{label}: POSITION has {} values, {n} declared",
                    raw.len()
                )));
            }
            finite_vecs(&raw, |i| format!("{label}: POSITION {i}"))?;

            let normals = match prim.get(&Semantic::Normals) {
                Some(na) => {
                    expect_accessor(&na, &[DataType::F32], Dimensions::Vec3, &label)?;
                    let v: Vec<[f32; 3]> = reader
                        .read_normals()
                        .map(|it| it.collect())
                        .unwrap_or_else(|| vec![[0.0; 3]; na.count()]);
                    if v.len() != n {
                        return Err(ImportError::Malformed(format!(
                            "{label}: NORMAL has {} values, POSITION {n}",
                            v.len()
                        )));
                    }
                    finite_vecs(&v, |i| format!("{label}: NORMAL {i}"))?;
                    Some(
                        v.iter()
                            .map(|&d| transform_dir(&nm, d.map(|x| x as f64)).map(|x| x as f32))
                            .collect::<Vec<_>>(),
                    )
                }
                None => None,
            };
            let uvs = match prim.get(&Semantic::TexCoords(0)) {
                Some(ta) => {
                    expect_accessor(
                        &ta,
                        &[DataType::F32, DataType::U8, DataType::U16],
                        Dimensions::Vec2,
                        &label,
                    )?;
                    let v: Vec<[f32; 2]> = reader
                        .read_tex_coords(0)
                        .map(|it| it.into_f32().collect())
                        .unwrap_or_else(|| vec![[0.0; 2]; ta.count()]);
                    if v.len() != n {
                        return Err(ImportError::Malformed(format!(
                            "{label}: TEXCOORD_0 has {} values, POSITION {n}",
                            v.len()
                        )));
                    }
                    finite_vecs(&v, |i| format!("{label}: TEXCOORD_0 {i}"))?;
                    Some(v)
                }
                None => None,
            };
            let indices: Vec<u32> = match prim.indices() {
                Some(ia) => reader
                    .read_indices()
                    .map(|r| r.into_u32().collect())
                    .unwrap_or_else(|| vec![0; ia.count()]),
                None => (0..n as u32).collect(),
            };
            if let Some((k, i)) = indices.iter().enumerate().find(|(_, &i)| i as usize >= n) {
                return Err(ImportError::Malformed(format!(
                    "{label}: index {k} is {i}, but there are {n} vertices"
                )));
            }
            if mode == Mode::Triangles && !indices.len().is_multiple_of(3) {
                self.warnings.push(format!(
                    "{label}: {} indices is not a multiple of 3; the rest is ignored",
                    indices.len()
                ));
            }
            let mut triangles = assemble(mode, &indices);
            if flip {
                for t in &mut triangles {
                    t.swap(1, 2);
                }
            }
            let positions: Vec<[f32; 3]> = raw
                .iter()
                .map(|&p| transform_point(world, p.map(|x| x as f64)).map(|x| x as f32))
                .collect();
            let material = self.material_index(&prim.material())?;
            self.builder.add_chunk(Chunk {
                label,
                positions,
                normals,
                uvs,
                triangles,
                material,
            })?;
        }
        Ok(())
    }

    fn material_index(&mut self, m: &gl::Material) -> Result<u32, ImportError> {
        if let Some(&i) = self.materials.get(&m.index()) {
            return Ok(i);
        }
        let mm = match m.index() {
            None => MeshMaterial::default(),
            Some(_) => self.convert_material(m)?,
        };
        let i = self.builder.add_material(mm)?;
        self.materials.insert(m.index(), i);
        Ok(i)
    }

    fn convert_material(&mut self, m: &gl::Material) -> Result<MeshMaterial, ImportError> {
        let label = match m.name() {
            Some(n) => format!("material {} ({n:?})", m.index().unwrap_or(0)),
            None => format!("material {}", m.index().unwrap_or(0)),
        };
        let pbr = m.pbr_metallic_roughness();
        let bc = pbr.base_color_factor();
        let strength = m.emissive_strength().unwrap_or(1.0);
        let ef = m.emissive_factor();
        let emission = ef.map(|e| e * strength);
        let transmission = m
            .transmission()
            .map(|t| t.transmission_factor())
            .unwrap_or(0.0);
        let ior = m.ior().unwrap_or(1.5);
        let scalars = [
            ("baseColorFactor", bc[0]),
            ("baseColorFactor", bc[1]),
            ("baseColorFactor", bc[2]),
            ("metallicFactor", pbr.metallic_factor()),
            ("roughnessFactor", pbr.roughness_factor()),
            ("emission", emission[0]),
            ("emission", emission[1]),
            ("emission", emission[2]),
            ("transmissionFactor", transmission),
            ("ior", ior),
        ];
        if let Some((name, v)) = scalars.iter().find(|(_, v)| !v.is_finite()) {
            return Err(ImportError::NonFinite(format!("{label}: {name} is {v}")));
        }
        let ior = if ior > 0.0 {
            ior
        } else {
            self.warnings
                .push(format!("{label}: ior {ior} is not supported; 1.5 used"));
            1.5
        };
        if m.alpha_mode() != gl::material::AlphaMode::Opaque {
            self.warnings.push(format!(
                "{label}: alphaMode {:?} is ignored; rendered opaque",
                m.alpha_mode()
            ));
        }
        if pbr.metallic_roughness_texture().is_some() {
            self.warnings.push(format!(
                "{label}: metallicRoughnessTexture is ignored; the factors are used"
            ));
        }
        if m.emissive_texture().is_some() {
            self.warnings.push(format!(
                "{label}: emissiveTexture is ignored; emissiveFactor is used"
            ));
        }
        let mut base_color_texture = None;
        if let Some(info) = pbr.base_color_texture() {
            if info.tex_coord() != 0 {
                self.warnings.push(format!(
                    "{label}: baseColorTexture uses TEXCOORD_{}; only TEXCOORD_0 is supported, \
                     texture ignored",
                    info.tex_coord()
                ));
            } else {
                if info.texture_transform().is_some() {
                    self.warnings.push(format!(
                        "KHR_texture_transform: the transform of {label}'s baseColorTexture is \
                         ignored"
                    ));
                }
                base_color_texture = Some(self.texture_for_image(&info.texture().source())?);
            }
        }
        let c01 = |x: f32| x.clamp(0.0, 1.0);
        Ok(MeshMaterial {
            base_color: [c01(bc[0]), c01(bc[1]), c01(bc[2])],
            base_color_texture,
            metallic: c01(pbr.metallic_factor()),
            roughness: c01(pbr.roughness_factor()),
            emission: emission.map(|e| e.max(0.0)),
            transmission: c01(transmission),
            ior,
        })
    }

    fn texture_for_image(&mut self, image: &gl::Image) -> Result<u32, ImportError> {
        if let Some(&t) = self.textures.get(&image.index()) {
            return Ok(t);
        }
        let what = match image.name() {
            Some(n) => format!("image {} ({n:?})", image.index()),
            None => format!("image {}", image.index()),
        };
        let bytes: Cow<[u8]> = match image.source() {
            gl::image::Source::View { view, .. } => {
                let b = &self.buffers[view.buffer().index()];
                Cow::Borrowed(&b[view.offset()..view.offset() + view.length()])
            }
            gl::image::Source::Uri { uri, .. } => {
                Cow::Owned(load_uri(self.files, uri, self.base).map_err(|e| match e {
                    UriError::Missing => ImportError::MissingTexture(uri.to_string()),
                    UriError::Bad(m) => ImportError::Malformed(format!("{what}: {m}")),
                    UriError::Io(path, source) => ImportError::Io { path, source },
                })?)
            }
        };
        let tex = decode_texture(&bytes, &what)?;
        let t = self.builder.add_texture(tex)?;
        self.textures.insert(image.index(), t);
        Ok(t)
    }
}

/// Triangles (vertex indices) of a triangle-list, strip or fan index sequence, in the glTF
/// specification's order; triangles whose indices repeat are dropped.
fn assemble(mode: Mode, idx: &[u32]) -> Vec<[u32; 3]> {
    let n = idx.len();
    let tris: Vec<[u32; 3]> = match mode {
        Mode::Triangles => idx.as_chunks::<3>().0.to_vec(),
        Mode::TriangleStrip => (0..n.saturating_sub(2))
            .map(|i| [idx[i], idx[i + 1 + i % 2], idx[i + 2 - i % 2]])
            .collect(),
        Mode::TriangleFan => (0..n.saturating_sub(2))
            .map(|i| [idx[i + 1], idx[i + 2], idx[0]])
            .collect(),
        _ => Vec::new(),
    };
    tris.into_iter()
        .filter(|t| t[0] != t[1] && t[1] != t[2] && t[0] != t[2])
        .collect()
}

enum UriError {
    Missing,
    Bad(String),
    Io(PathBuf, std::io::Error),
}

/// RFC 3986 percent-decoding.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// The bytes a buffer or image URI names: a `data:` URI, or a relative path (percent-encoded)
/// from the glTF file's directory.
fn load_uri(files: &dyn SceneFiles, uri: &str, base: &Path) -> Result<Vec<u8>, UriError> {
    if let Some(rest) = uri.strip_prefix("data:") {
        let (header, data) = rest
            .split_once(',')
            .ok_or_else(|| UriError::Bad("data URI without ','".into()))?;
        return if header.ends_with(";base64") {
            base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|e| UriError::Bad(format!("data URI: {e}")))
        } else {
            Ok(percent_decode(data))
        };
    }
    // A scheme (other than a one-letter drive name) is not a relative path.
    if let Some((scheme, _)) = uri.split_once(':') {
        if scheme.len() > 1
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return Err(UriError::Bad(format!(
                "URI {uri:?}: only relative paths and data: URIs are supported"
            )));
        }
    }
    let decoded = PathBuf::from(String::from_utf8_lossy(&percent_decode(uri)).into_owned());
    if decoded.is_absolute() {
        return Err(UriError::Bad(format!(
            "URI {uri:?}: absolute paths are not supported"
        )));
    }
    // the percent-decoded path, else the URI as written (some exporters do not encode)
    for path in [base.join(&decoded), base.join(uri)] {
        match files.read(&path) {
            Ok(Some(b)) => return Ok(b),
            Ok(None) => {}
            Err(e) => return Err(UriError::Io(path, e)),
        }
    }
    Err(UriError::Missing)
}

fn load_buffers(
    files: &dyn SceneFiles,
    doc: &gl::Document,
    mut blob: Option<Vec<u8>>,
    base: &Path,
    file: &str,
) -> Result<Vec<Vec<u8>>, ImportError> {
    let mut out = Vec::with_capacity(doc.buffers().len());
    for b in doc.buffers() {
        let data = match b.source() {
            gl::buffer::Source::Bin => blob.take().ok_or_else(|| {
                ImportError::MissingBuffer(format!(
                    "{file}: buffer {} refers to the GLB BIN chunk, which is absent",
                    b.index()
                ))
            })?,
            gl::buffer::Source::Uri(uri) => load_uri(files, uri, base).map_err(|e| match e {
                UriError::Missing => ImportError::MissingBuffer(uri.to_string()),
                UriError::Bad(m) => {
                    ImportError::Malformed(format!("{file}: buffer {}: {m}", b.index()))
                }
                UriError::Io(path, source) => ImportError::Io { path, source },
            })?,
        };
        if data.len() < b.length() {
            return Err(ImportError::Malformed(format!(
                "{file}: buffer {} has {} bytes, {} declared",
                b.index(),
                data.len(),
                b.length()
            )));
        }
        out.push(data);
    }
    Ok(out)
}

/// Checks that every buffer view lies in its buffer and every accessor (sparse parts included)
/// in its view, so that the crate's readers never index out of bounds.
fn check_layout(doc: &gl::Document, buffers: &[Vec<u8>], file: &str) -> Result<(), ImportError> {
    let bad = |m: String| ImportError::Malformed(format!("{file}: {m}"));
    for v in doc.views() {
        let len = buffers[v.buffer().index()].len();
        if v.offset().checked_add(v.length()).is_none_or(|e| e > len) {
            return Err(bad(format!(
                "bufferView {} (offset {}, length {}) is outside buffer {} ({len} bytes)",
                v.index(),
                v.offset(),
                v.length(),
                v.buffer().index()
            )));
        }
        if v.stride() == Some(0) {
            return Err(bad(format!("bufferView {} has byteStride 0", v.index())));
        }
    }
    // Whether `count` elements of `size` bytes with `stride` from `offset` fit in `len` bytes.
    let fits = |offset: usize, stride: usize, count: usize, size: usize, len: usize| {
        count
            .checked_sub(1)
            .and_then(|c| c.checked_mul(stride))
            .and_then(|x| x.checked_add(offset))
            .and_then(|x| x.checked_add(size))
            .is_some_and(|end| end <= len)
            && stride >= size
    };
    for a in doc.accessors() {
        let (count, size) = (a.count(), a.size());
        if count == 0 || size == 0 {
            return Err(bad(format!("accessor {} has count 0", a.index())));
        }
        if let Some(v) = a.view() {
            let stride = v.stride().unwrap_or(size);
            if !fits(a.offset(), stride, count, size, v.length()) {
                return Err(bad(format!(
                    "accessor {} (offset {}, {count} × {size} bytes, stride {stride}) does not \
                     fit bufferView {} ({} bytes)",
                    a.index(),
                    a.offset(),
                    v.index(),
                    v.length()
                )));
            }
        }
        if let Some(sp) = a.sparse() {
            let n = sp.count();
            let iv = sp.indices().view();
            let isz = sp.indices().index_type().size();
            let vv = sp.values().view();
            let ok = n > 0
                && fits(
                    sp.indices().offset(),
                    iv.stride().unwrap_or(isz),
                    n,
                    isz,
                    iv.length(),
                )
                && fits(
                    sp.values().offset(),
                    vv.stride().unwrap_or(size),
                    n,
                    size,
                    vv.length(),
                );
            if !ok {
                return Err(bad(format!(
                    "accessor {}: sparse indices or values do not fit their bufferViews",
                    a.index()
                )));
            }
        }
    }
    Ok(())
}

/// Samples every node channel at `time`; returns the per-node values and the union of the
/// channels' input ranges.
#[allow(clippy::type_complexity)]
fn sample_animations(
    doc: &gl::Document,
    buffers: &[Vec<u8>],
    time: f32,
    warnings: &mut Warnings,
) -> Result<(BTreeMap<usize, NodeAnim>, Option<(f32, f32)>), ImportError> {
    let mut out: BTreeMap<usize, NodeAnim> = BTreeMap::new();
    let mut range: Option<(f32, f32)> = None;
    let scalars = [
        DataType::F32,
        DataType::I8,
        DataType::U8,
        DataType::I16,
        DataType::U16,
    ];
    for anim in doc.animations() {
        let al = match anim.name() {
            Some(n) => format!("animation {} ({n:?})", anim.index()),
            None => format!("animation {}", anim.index()),
        };
        for (ci, ch) in anim.channels().enumerate() {
            let label = format!("{al} channel {ci}");
            let sampler = ch.sampler();
            expect_accessor(
                &sampler.input(),
                &[DataType::F32],
                Dimensions::Scalar,
                &label,
            )?;
            let property = ch.target().property();
            match property {
                Property::Translation | Property::Scale => expect_accessor(
                    &sampler.output(),
                    &[DataType::F32],
                    Dimensions::Vec3,
                    &label,
                )?,
                Property::Rotation => {
                    expect_accessor(&sampler.output(), &scalars, Dimensions::Vec4, &label)?
                }
                Property::MorphTargetWeights => {
                    expect_accessor(&sampler.output(), &scalars, Dimensions::Scalar, &label)?
                }
            }
            let reader = ch.reader(Ctx::reader_data(buffers));
            let times: Vec<f32> = reader
                .read_inputs()
                .map(|it| it.collect())
                .ok_or_else(|| ImportError::Malformed(format!("{label}: input has no data")))?;
            if let Some(i) = times.iter().position(|t| !t.is_finite()) {
                return Err(ImportError::NonFinite(format!(
                    "{label}: keyframe time {i} is {}",
                    times[i]
                )));
            }
            if times.is_empty() || times.windows(2).any(|w| w[1] < w[0]) {
                return Err(ImportError::Malformed(format!(
                    "{label}: keyframe times are empty or decrease"
                )));
            }
            let (lo, hi) = (times[0], times[times.len() - 1]);
            range = Some(match range {
                None => (lo, hi),
                Some((a, b)) => (a.min(lo), b.max(hi)),
            });
            let interp = sampler.interpolation();
            let per_key = if interp == Interpolation::CubicSpline {
                3
            } else {
                1
            };
            let check = |len: usize| {
                if len != times.len() * per_key {
                    Err(ImportError::Malformed(format!(
                        "{label}: {len} output values for {} keyframes ({interp:?})",
                        times.len()
                    )))
                } else {
                    Ok(())
                }
            };
            let node = ch.target().node().index();
            match reader.read_outputs() {
                Some(ReadOutputs::Translations(it)) => {
                    let v: Vec<[f32; 3]> = it.collect();
                    check(v.len())?;
                    finite_vecs(&v, |i| format!("{label}: output {i}"))?;
                    out.entry(node).or_default().translation =
                        Some(sample(&times, &v, interp, time, false));
                }
                Some(ReadOutputs::Rotations(r)) => {
                    let v: Vec<[f32; 4]> = r.into_f32().collect();
                    check(v.len())?;
                    finite_vecs(&v, |i| format!("{label}: output {i}"))?;
                    out.entry(node).or_default().rotation =
                        Some(sample(&times, &v, interp, time, true));
                }
                Some(ReadOutputs::Scales(it)) => {
                    let v: Vec<[f32; 3]> = it.collect();
                    check(v.len())?;
                    finite_vecs(&v, |i| format!("{label}: output {i}"))?;
                    out.entry(node).or_default().scale =
                        Some(sample(&times, &v, interp, time, false));
                }
                Some(ReadOutputs::MorphTargetWeights(_)) => warnings.push(format!(
                    "{label}: morph target weights are not animated; the base shape is rendered"
                )),
                None => {
                    return Err(ImportError::Malformed(format!(
                        "{label}: output has no data"
                    )))
                }
            }
        }
    }
    Ok((out, range))
}

fn lerp<const N: usize>(a: [f64; N], b: [f64; N], s: f64) -> [f64; N] {
    std::array::from_fn(|k| a[k] + (b[k] - a[k]) * s)
}

fn normalize_n<const N: usize>(a: [f64; N]) -> [f64; N] {
    let l = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    if l > 0.0 && l.is_finite() {
        a.map(|x| x / l)
    } else {
        a
    }
}

/// Spherical interpolation of unit quaternions along the shorter arc.
fn slerp<const N: usize>(a: [f64; N], b: [f64; N], s: f64) -> [f64; N] {
    let (a, mut b) = (normalize_n(a), normalize_n(b));
    let mut d: f64 = (0..N).map(|k| a[k] * b[k]).sum();
    if d < 0.0 {
        b = b.map(|x| -x);
        d = -d;
    }
    if d > 0.9995 {
        return normalize_n(lerp(a, b, s));
    }
    let theta = d.min(1.0).acos();
    let sin = theta.sin();
    let (wa, wb) = (((1.0 - s) * theta).sin() / sin, (s * theta).sin() / sin);
    std::array::from_fn(|k| wa * a[k] + wb * b[k])
}

/// The value of a sampler at `t` (clamped to its input range). `values` holds one value per
/// keyframe, or (in-tangent, value, out-tangent) triples for CUBICSPLINE. Rotations
/// (quaternions) are slerped for LINEAR and normalised.
fn sample<const N: usize>(
    times: &[f32],
    values: &[[f32; N]],
    interp: Interpolation,
    t: f32,
    rotation: bool,
) -> [f64; N] {
    let v = |i: usize| values[i].map(|x| x as f64);
    let cubic = interp == Interpolation::CubicSpline;
    let key = |k: usize| if cubic { v(3 * k + 1) } else { v(k) };
    let n = times.len();
    let out = if n == 1 {
        key(0)
    } else {
        let t = t.clamp(times[0], times[n - 1]) as f64;
        let k = times
            .partition_point(|&x| x as f64 <= t)
            .saturating_sub(1)
            .min(n - 2);
        let (t0, t1) = (times[k] as f64, times[k + 1] as f64);
        let td = t1 - t0;
        let s = if td > 0.0 {
            ((t - t0) / td).clamp(0.0, 1.0)
        } else {
            1.0
        };
        match interp {
            Interpolation::Step => {
                if s >= 1.0 {
                    key(k + 1)
                } else {
                    key(k)
                }
            }
            Interpolation::Linear => {
                if rotation {
                    slerp(key(k), key(k + 1), s)
                } else {
                    lerp(key(k), key(k + 1), s)
                }
            }
            Interpolation::CubicSpline => {
                let (p0, m0) = (v(3 * k + 1), v(3 * k + 2));
                let (m1, p1) = (v(3 * (k + 1)), v(3 * (k + 1) + 1));
                let (s2, s3) = (s * s, s * s * s);
                let h00 = 2.0 * s3 - 3.0 * s2 + 1.0;
                let h10 = s3 - 2.0 * s2 + s;
                let h01 = -2.0 * s3 + 3.0 * s2;
                let h11 = s3 - s2;
                std::array::from_fn(|c| {
                    h00 * p0[c] + h10 * td * m0[c] + h01 * p1[c] + h11 * td * m1[c]
                })
            }
        }
    };
    if rotation {
        normalize_n(out)
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{png_rgba8, temp_dir};
    use super::super::{import, ImportError, ImportOptions, Imported};
    use super::*;
    use serde_json::{json, Value};

    /// Binary data with its buffer views and accessors, built up for a test asset.
    #[derive(Default)]
    struct Bin {
        data: Vec<u8>,
        views: Vec<Value>,
        accessors: Vec<Value>,
    }

    impl Bin {
        fn view(&mut self, bytes: &[u8]) -> usize {
            while !self.data.len().is_multiple_of(4) {
                self.data.push(0);
            }
            let offset = self.data.len();
            self.data.extend_from_slice(bytes);
            self.views
                .push(json!({"buffer": 0, "byteOffset": offset, "byteLength": bytes.len()}));
            self.views.len() - 1
        }

        /// A float accessor of `ty` ("SCALAR", "VEC2", ...); min/max for VEC3 when finite.
        fn floats(&mut self, ty: &str, vals: &[f32]) -> usize {
            let dims = match ty {
                "SCALAR" => 1,
                "VEC2" => 2,
                "VEC3" => 3,
                "VEC4" => 4,
                _ => unreachable!(),
            };
            let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
            let view = self.view(&bytes);
            let mut acc = json!({"bufferView": view, "componentType": 5126,
                                 "count": vals.len() / dims, "type": ty});
            if dims == 3 && vals.iter().all(|v| v.is_finite()) {
                let col = |k: usize| vals.iter().skip(k).step_by(3).copied();
                let min: Vec<f32> = (0..3)
                    .map(|k| col(k).fold(f32::INFINITY, f32::min))
                    .collect();
                let max: Vec<f32> = (0..3)
                    .map(|k| col(k).fold(f32::NEG_INFINITY, f32::max))
                    .collect();
                acc["min"] = json!(min);
                acc["max"] = json!(max);
            }
            self.accessors.push(acc);
            self.accessors.len() - 1
        }

        fn indices(&mut self, vals: &[u16]) -> usize {
            let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
            let view = self.view(&bytes);
            self.accessors
                .push(json!({"bufferView": view, "componentType": 5123,
                                       "count": vals.len(), "type": "SCALAR"}));
            self.accessors.len() - 1
        }

        /// The whole document: `rest`'s fields plus asset, buffers, views and accessors; the
        /// buffer has `uri` (None: the GLB BIN chunk).
        fn document(&self, uri: Option<&str>, rest: Value) -> Value {
            let mut doc = rest;
            doc["asset"] = json!({"version": "2.0"});
            let mut buffer = json!({"byteLength": self.data.len()});
            if let Some(u) = uri {
                buffer["uri"] = json!(u);
            }
            doc["buffers"] = json!([buffer]);
            doc["bufferViews"] = json!(self.views);
            doc["accessors"] = json!(self.accessors);
            doc
        }

        fn data_uri(&self) -> String {
            format!(
                "data:application/octet-stream;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(&self.data)
            )
        }
    }

    /// A GLB container: header, JSON chunk padded with spaces, BIN chunk padded with zeros.
    fn glb(doc: &Value, bin: &[u8]) -> Vec<u8> {
        let mut j = serde_json::to_vec(doc).unwrap();
        while !j.len().is_multiple_of(4) {
            j.push(b' ');
        }
        let mut b = bin.to_vec();
        while !b.len().is_multiple_of(4) {
            b.push(0);
        }
        let total = 12 + 8 + j.len() + 8 + b.len();
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(b"glTF");
        out.extend_from_slice(&2u32.to_le_bytes());
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&(j.len() as u32).to_le_bytes());
        out.extend_from_slice(b"JSON");
        out.extend_from_slice(&j);
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b"BIN\0");
        out.extend_from_slice(&b);
        out
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn write_json(dir: &Path, name: &str, doc: &Value) -> PathBuf {
        write(dir, name, &serde_json::to_vec_pretty(doc).unwrap())
    }

    fn opts() -> ImportOptions {
        ImportOptions::default()
    }

    /// Issue 29: a glTF camera exported at 16:9 and rendered at 320x240 came out cropped tighter
    /// than Blender renders it (Tessera kept `yfov`; Blender keeps the angle along the longer
    /// side). Now the horizontal angle is kept for a landscape output, the camera's longer
    /// angle spans a portrait output's height, and the difference is warned about.
    #[test]
    fn a_camera_at_another_aspect_is_framed_as_blender_frames_it() {
        let dir = temp_dir("aspect");
        let mut bin = Bin::default();
        let pos = bin.floats("VEC3", &TRI);
        let rest = json!({
            "scenes": [{"nodes": [0, 1]}],
            "nodes": [{"mesh": 0}, {"camera": 0, "translation": [0.0, 0.0, 3.0]}],
            "cameras": [{"type": "perspective",
                         "perspective": {"yfov": 0.5, "aspectRatio": 1.7778, "znear": 0.1}}],
            "meshes": [{"primitives": [{"attributes": {"POSITION": pos}}]}]
        });
        let p = write_json(&dir, "cam.gltf", &bin.document(Some(&bin.data_uri()), rest));
        let at = |width: u32, height: u32| {
            import_ok(
                &p,
                &ImportOptions {
                    width,
                    height,
                    ..opts()
                },
            )
        };
        let hfov = 2.0 * (1.7778f64 * 0.25f64.tan()).atan();
        // 16:9 output: the camera's own yfov, no warning
        let same = at(320, 180);
        assert!((same.scene.camera.vfov_degrees as f64 - 0.5f64.to_degrees()).abs() < 1e-3);
        assert!(
            !same.warnings.iter().any(|w| w.contains("aspect ratio")),
            "{:?}",
            same.warnings
        );
        // 4:3 output: the same horizontal angle, so a taller vertical one
        let wide = at(320, 240);
        let want = (2.0 * ((hfov / 2.0).tan() / (4.0 / 3.0)).atan()).to_degrees();
        assert!(
            (wide.scene.camera.vfov_degrees as f64 - want).abs() < 1e-3,
            "{:?}",
            wide.scene.camera
        );
        assert!(wide.scene.camera.vfov_degrees as f64 > 0.5f64.to_degrees() + 5.0);
        assert!(
            wide.warnings
                .iter()
                .any(|w| w.contains("aspect ratio 1.778")),
            "{:?}",
            wide.warnings
        );
        // portrait output: the camera's horizontal angle spans the output's height
        let tall = at(180, 320);
        assert!((tall.scene.camera.vfov_degrees as f64 - hfov.to_degrees()).abs() < 1e-3);
    }

    fn import_ok(p: &Path, o: &ImportOptions) -> Imported {
        import(p, o).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn close(a: [f32; 3], b: [f32; 3]) -> bool {
        (0..3).all(|k| (a[k] - b[k]).abs() < 1e-5)
    }

    const TRI: [f32; 9] = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0];

    /// Two triangles (one with a full material, one with none) under one node.
    fn materials_asset() -> (Bin, Value) {
        let mut bin = Bin::default();
        let pos = bin.floats("VEC3", &TRI);
        let pos2 = bin.floats("VEC3", &[0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0]);
        let rest = json!({
            "extensionsUsed": ["KHR_materials_emissive_strength", "KHR_materials_transmission",
                               "KHR_materials_ior"],
            "scene": 0,
            "scenes": [{"nodes": [0]}],
            "nodes": [{"mesh": 0}],
            "meshes": [{"name": "tris", "primitives": [
                {"attributes": {"POSITION": pos}, "material": 0},
                {"attributes": {"POSITION": pos2}}
            ]}],
            "materials": [{
                "name": "lamp glass",
                "pbrMetallicRoughness": {"baseColorFactor": [0.2, 0.4, 0.6, 0.5],
                                         "metallicFactor": 0.25, "roughnessFactor": 0.75},
                "emissiveFactor": [1.0, 0.5, 0.0],
                "extensions": {
                    "KHR_materials_emissive_strength": {"emissiveStrength": 4.0},
                    "KHR_materials_transmission": {"transmissionFactor": 0.9},
                    "KHR_materials_ior": {"ior": 1.33}
                }
            }]
        });
        (bin, rest)
    }

    #[test]
    fn gltf_data_uri_buffer_and_material_mapping() {
        let dir = temp_dir("gltf-materials");
        let (bin, rest) = materials_asset();
        let p = write_json(
            &dir,
            "tris.gltf",
            &bin.document(Some(&bin.data_uri()), rest),
        );
        let im = import_ok(&p, &opts());
        let s = &im.scene;
        assert!(im.warnings.is_empty(), "{:?}", im.warnings);
        assert_eq!(im.animation, None);
        assert_eq!(s.positions.len(), 6);
        assert_eq!(s.positions[1], [1.0, 0.0, 0.0]);
        assert_eq!(s.positions[5], [0.0, 1.0, 1.0]);
        assert!(s.normals.is_empty() && s.uvs.is_empty());
        assert_eq!(s.triangles.len(), 2);
        assert_eq!(s.triangles[0].v, [0, 1, 2]);
        assert_eq!(s.triangles[1].v, [3, 4, 5]);
        assert_eq!(s.materials.len(), 2);
        let m = s.materials[s.triangles[0].material as usize];
        assert_eq!(
            m,
            MeshMaterial {
                base_color: [0.2, 0.4, 0.6],
                base_color_texture: None,
                metallic: 0.25,
                roughness: 0.75,
                emission: [4.0, 2.0, 0.0],
                transmission: 0.9,
                ior: 1.33,
            }
        );
        assert_eq!(
            s.materials[s.triangles[1].material as usize],
            MeshMaterial::default()
        );
        // No camera in the file: the framing default, looking at the box centre.
        assert_eq!(s.camera.look_at, [0.5, 0.5, 0.5]);
        assert_eq!(s.camera.vfov_degrees, 40.0);
        assert_eq!(s.camera.up, [0.0, 1.0, 0.0]);
        assert_eq!((s.width, s.height), (opts().width, opts().height));
        // The options' camera replaces it.
        let cam = CameraSpec {
            position: [1.0, 2.0, 3.0],
            look_at: [0.0; 3],
            up: [0.0, 0.0, 1.0],
            vfov_degrees: 30.0,
        };
        let o = ImportOptions {
            camera: Some(cam.clone()),
            ..opts()
        };
        assert_eq!(import_ok(&p, &o).scene.camera, cam);
    }

    #[test]
    fn glb_container_gives_the_same_scene() {
        let dir = temp_dir("glb");
        let (bin, rest) = materials_asset();
        let gltf_path = write_json(
            &dir,
            "a.gltf",
            &bin.document(Some(&bin.data_uri()), rest.clone()),
        );
        let glb_path = write(&dir, "a.GLB", &glb(&bin.document(None, rest), &bin.data));
        let a = import_ok(&gltf_path, &opts());
        let b = import_ok(&glb_path, &opts());
        assert_eq!(a, b);
    }

    #[test]
    fn glb_embedded_image_and_positions_without_min_max() {
        let dir = temp_dir("glb-image");
        let texels: Vec<u8> = (0..12).map(|i| 200 - i as u8).collect();
        let mut bin = Bin::default();
        let pos = bin.floats("VEC3", &TRI);
        let uv = bin.floats("VEC2", &[0.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
        let img_view = bin.view(&png_rgba8(3, 1, &texels));
        let mut doc = bin.document(
            None,
            json!({
                "scenes": [{"nodes": [0]}],
                "nodes": [{"mesh": 0}],
                "meshes": [{"primitives": [{"attributes": {"POSITION": pos, "TEXCOORD_0": uv},
                                            "material": 0}]}],
                "materials": [{"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}],
                "textures": [{"source": 0}],
                "images": [{"bufferView": img_view, "mimeType": "image/png"}]
            }),
        );
        doc["accessors"][pos]["min"] = Value::Null;
        doc["accessors"][pos]["max"] = Value::Null;
        let p = write(&dir, "img.glb", &glb(&doc, &bin.data));
        let im = import_ok(&p, &opts());
        assert_eq!(im.scene.textures.len(), 1);
        assert_eq!(im.scene.textures[0].rgba, texels);
        assert_eq!(im.scene.materials[0].base_color_texture, Some(0));
        assert_eq!(im.scene.uvs[2], [0.0, 1.0]);
        assert!(
            im.warnings.iter().any(|w| w.contains(".min: missing")),
            "{:?}",
            im.warnings
        );
    }

    #[test]
    fn node_hierarchy_world_transforms_and_mirrors() {
        let dir = temp_dir("hierarchy");
        let mut bin = Bin::default();
        let pos = bin.floats("VEC3", &TRI);
        let nrm = bin.floats("VEC3", &[1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0]);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let rest = json!({
            "scenes": [{"nodes": [0, 2]}],
            "nodes": [
                {"translation": [10.0, 0.0, 0.0], "scale": [2.0, 2.0, 2.0], "children": [1]},
                {"rotation": [0.0, 0.0, h, h], "translation": [0.0, 1.0, 0.0], "mesh": 0},
                // A mirror (x → −x) as a matrix: the winding is flipped back.
                {"matrix": [-1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0,
                            0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -5.0, 1.0], "mesh": 0}
            ],
            "meshes": [{"primitives": [{"attributes": {"POSITION": pos, "NORMAL": nrm}}]}]
        });
        let p = write_json(&dir, "h.gltf", &bin.document(Some(&bin.data_uri()), rest));
        let s = import_ok(&p, &opts()).scene;
        assert_eq!(s.positions.len(), 6);
        // Child: rotate 90° about Z, move up 1; parent: scale 2, move 10 along X.
        assert!(
            close(s.positions[0], [10.0, 2.0, 0.0]),
            "{:?}",
            s.positions[0]
        );
        assert!(
            close(s.positions[1], [10.0, 4.0, 0.0]),
            "{:?}",
            s.positions[1]
        );
        assert!(
            close(s.positions[2], [8.0, 2.0, 0.0]),
            "{:?}",
            s.positions[2]
        );
        assert!(close(s.normals[0], [0.0, 1.0, 0.0]), "{:?}", s.normals[0]);
        assert!(close(s.normals[1], [0.0, 0.0, 1.0]), "{:?}", s.normals[1]);
        // The zero normal is repaired with the face normal (+Z, the face is in the XY plane).
        assert!(close(s.normals[2], [0.0, 0.0, 1.0]), "{:?}", s.normals[2]);
        assert_eq!(s.triangles[0].v, [0, 1, 2]);
        // Mirrored instance.
        assert!(close(s.positions[4], [-1.0, 0.0, -5.0]));
        assert!(close(s.normals[3], [-1.0, 0.0, 0.0]), "{:?}", s.normals[3]);
        assert_eq!(s.triangles[1].v, [3, 5, 4]);
    }

    #[test]
    fn textured_quad_with_camera_external_files_and_shared_texture() {
        let dir = temp_dir("textured");
        let texels: Vec<u8> = (0..16).map(|i| i as u8 * 10).collect();
        write(&dir, "checker tex.png", &png_rgba8(2, 2, &texels));
        let mut bin = Bin::default();
        let quad = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0];
        let pos = bin.floats("VEC3", &quad);
        let uv = bin.floats("VEC2", &[0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
        let idx = bin.indices(&[0, 1, 2, 0, 2, 3]);
        let pos2 = bin.floats("VEC3", &TRI);
        write(&dir, "quad.bin", &bin.data);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let rest = json!({
            "scenes": [{"nodes": [0, 1, 2, 3]}],
            "nodes": [
                {"mesh": 0},
                {"camera": 0},
                {"camera": 1, "translation": [0.0, 0.0, 5.0], "rotation": [0.0, h, 0.0, h]},
                {"camera": 1, "translation": [9.0, 9.0, 9.0]}
            ],
            "cameras": [
                {"type": "orthographic", "orthographic": {"xmag": 1.0, "ymag": 1.0,
                                                           "zfar": 10.0, "znear": 0.1}},
                {"type": "perspective", "perspective": {"yfov": 0.8, "znear": 0.1}}
            ],
            "meshes": [{"primitives": [
                {"attributes": {"POSITION": pos, "TEXCOORD_0": uv}, "indices": idx,
                 "material": 0},
                {"attributes": {"POSITION": pos2}, "material": 1},
                {"attributes": {"POSITION": pos2}, "material": 2}
            ]}],
            "materials": [
                {"pbrMetallicRoughness": {"baseColorTexture": {"index": 0},
                                          "metallicRoughnessTexture": {"index": 0}}},
                {"pbrMetallicRoughness": {"baseColorTexture": {"index": 1},
                                          "baseColorFactor": [0.5, 0.5, 0.5, 1.0]}},
                {"pbrMetallicRoughness": {"baseColorTexture": {"index": 0, "texCoord": 1}}}
            ],
            "textures": [{"source": 0}, {"source": 0, "sampler": 0}],
            "samplers": [{"magFilter": 9728}],
            "images": [{"uri": "checker%20tex.png"}]
        });
        let p = write_json(&dir, "quad.gltf", &bin.document(Some("quad.bin"), rest));
        let im = import_ok(&p, &opts());
        let s = &im.scene;
        // One texture for the one image, rows as stored.
        assert_eq!(s.textures.len(), 1);
        assert_eq!((s.textures[0].width, s.textures[0].height), (2, 2));
        assert_eq!(s.textures[0].rgba, texels);
        assert_eq!(s.materials.len(), 3);
        assert_eq!(s.materials[0].base_color_texture, Some(0));
        assert_eq!(s.materials[1].base_color_texture, Some(0));
        assert_eq!(s.materials[1].base_color, [0.5; 3]);
        assert_eq!(s.materials[2].base_color_texture, None);
        // Two triangles from the indexed quad, then the two plain triangles.
        assert_eq!(s.triangles.len(), 4);
        assert_eq!(s.triangles[1].v, [0, 2, 3]);
        assert_eq!(s.positions.len(), 10);
        // UVs for all vertices: the quad's, zeros for the triangles without.
        assert_eq!(s.uvs.len(), 10);
        assert_eq!(s.uvs[2], [1.0, 0.0]);
        assert_eq!(s.uvs[7], [0.0, 0.0]);
        assert!(s.normals.is_empty());
        // The first perspective camera: at (0, 0, 5), turned 90° about +Y, so looking at −X.
        assert!(close(s.camera.position, [0.0, 0.0, 5.0]), "{:?}", s.camera);
        assert!(close(s.camera.look_at, [-1.0, 0.0, 5.0]), "{:?}", s.camera);
        assert!(close(s.camera.up, [0.0, 1.0, 0.0]), "{:?}", s.camera);
        assert!((s.camera.vfov_degrees - 0.8f32.to_degrees()).abs() < 1e-4);
        let w = im.warnings.join("\n");
        assert!(w.contains("orthographic"), "{w}");
        assert!(w.contains("metallicRoughnessTexture"), "{w}");
        assert!(w.contains("TEXCOORD_1"), "{w}");

        // The same files dropped on a web page (in memory, no disk): the same scene; without
        // the texture, the importer names it.
        let mut files = crate::scene_import::InMemory::default();
        for name in ["quad.gltf", "quad.bin", "checker tex.png"] {
            files.insert(
                format!("drop/{name}"),
                std::fs::read(dir.join(name)).unwrap(),
            );
        }
        let from_memory =
            crate::scene_import::import_from(&files, Path::new("drop/quad.gltf"), &opts()).unwrap();
        assert_eq!(from_memory, im);
        files.0.remove(Path::new("drop/checker tex.png"));
        let e = crate::scene_import::import_from(&files, Path::new("drop/quad.gltf"), &opts())
            .unwrap_err();
        assert!(
            matches!(&e, ImportError::MissingTexture(t) if t == "checker%20tex.png"),
            "{e}"
        );
    }

    #[test]
    fn animation_linear_translation_step_rotation_and_camera() {
        let dir = temp_dir("anim");
        let mut bin = Bin::default();
        let pos = bin.floats("VEC3", &TRI);
        let t_in = bin.floats("SCALAR", &[0.0, 2.0]);
        let t_out = bin.floats("VEC3", &[0.0, 0.0, 0.0, 4.0, 0.0, 0.0]);
        let r_in = bin.floats("SCALAR", &[0.0, 1.0]);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let r_out = bin.floats("VEC4", &[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, h, h]);
        let c_in = bin.floats("SCALAR", &[-1.0, 1.0]);
        let c_out = bin.floats("VEC3", &[0.0, 0.0, 5.0, 0.0, 0.0, 10.0]);
        let rest = json!({
            "scenes": [{"nodes": [0, 1]}],
            "nodes": [{"mesh": 0}, {"camera": 0, "translation": [0.0, 0.0, 1.0]}],
            "cameras": [{"type": "perspective", "perspective": {"yfov": 1.0, "znear": 0.1}}],
            "meshes": [{"primitives": [{"attributes": {"POSITION": pos}}]}],
            "animations": [
                {"samplers": [{"input": t_in, "output": t_out},
                              {"input": r_in, "output": r_out, "interpolation": "STEP"}],
                 "channels": [{"sampler": 0, "target": {"node": 0, "path": "translation"}},
                              {"sampler": 1, "target": {"node": 0, "path": "rotation"}}]},
                {"samplers": [{"input": c_in, "output": c_out, "interpolation": "LINEAR"}],
                 "channels": [{"sampler": 0, "target": {"node": 1, "path": "translation"}}]}
            ]
        });
        let p = write_json(
            &dir,
            "anim.gltf",
            &bin.document(Some(&bin.data_uri()), rest),
        );
        let at = |time: f32| import_ok(&p, &ImportOptions { time, ..opts() });
        let a = at(0.5);
        assert_eq!(a.animation, Some((-1.0, 2.0)));
        // t = 0.5: translation (1, 0, 0), rotation still the identity (STEP).
        assert!(
            close(a.scene.positions[1], [2.0, 0.0, 0.0]),
            "{:?}",
            a.scene.positions
        );
        assert!(
            close(a.scene.camera.position, [0.0, 0.0, 8.75]),
            "{:?}",
            a.scene.camera
        );
        // t = 1.5: translation (3, 0, 0), rotation 90° about Z: (1, 0, 0) → (0, 1, 0).
        let b = at(1.5);
        assert!(
            close(b.scene.positions[1], [3.0, 1.0, 0.0]),
            "{:?}",
            b.scene.positions
        );
        assert!(
            close(b.scene.positions[2], [2.0, 0.0, 0.0]),
            "{:?}",
            b.scene.positions
        );
        assert!(close(b.scene.camera.position, [0.0, 0.0, 10.0]));
        // Past the end and before the start: clamped.
        assert!(close(at(9.0).scene.positions[1], [4.0, 1.0, 0.0]));
        let early = at(-5.0);
        assert!(close(early.scene.positions[1], [1.0, 0.0, 0.0]));
        assert!(close(early.scene.camera.position, [0.0, 0.0, 5.0]));
    }

    #[test]
    fn sampler_cubic_spline_and_shortest_path_slerp() {
        // Hermite: v0 = 0, v1 = 1, out-tangent 2 at key 0, in-tangent 0 at key 1, interval 2
        // (tangents scale by it): at s = 0.5, 0.5 + 0.125 × 2 × 2 = 1.0.
        let times = [1.0, 3.0];
        let vals = [[9.0], [0.0], [2.0], [0.0], [1.0], [9.0]];
        let v = sample(&times, &vals, Interpolation::CubicSpline, 2.0, false);
        assert!((v[0] - 1.0).abs() < 1e-12, "{v:?}");
        assert_eq!(
            sample(&times, &vals, Interpolation::CubicSpline, 0.0, false),
            [0.0]
        );
        assert_eq!(
            sample(&times, &vals, Interpolation::CubicSpline, 5.0, false),
            [1.0]
        );
        // Slerp from identity to −(90° about Z) (the same rotation negated): 45° about Z.
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let q = [[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, -h, -h]];
        let r = sample(&[0.0, 1.0], &q, Interpolation::Linear, 0.5, true);
        let want = [
            0.0,
            0.0,
            (std::f64::consts::PI / 8.0).sin(),
            (std::f64::consts::PI / 8.0).cos(),
        ];
        for k in 0..4 {
            assert!((r[k] - want[k]).abs() < 1e-6, "{r:?}");
        }
        // STEP holds the earlier key until the next time.
        let s = [[1.0], [2.0], [3.0]];
        assert_eq!(
            sample(&[0.0, 1.0, 2.0], &s, Interpolation::Step, 1.999, false),
            [2.0]
        );
        assert_eq!(
            sample(&[0.0, 1.0, 2.0], &s, Interpolation::Step, 2.0, false),
            [3.0]
        );
    }

    #[test]
    fn strips_fans_lines_and_mixed_normals() {
        let dir = temp_dir("strips");
        let mut bin = Bin::default();
        let quad = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
        let pos = bin.floats("VEC3", &quad);
        let nrm = bin.floats(
            "VEC3",
            &[0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0],
        );
        let fan_pos = bin.floats(
            "VEC3",
            &[0.0, 0.0, 3.0, 1.0, 0.0, 3.0, 1.0, 1.0, 3.0, 0.0, 1.0, 3.0],
        );
        let rest = json!({
            "scenes": [{"nodes": [0]}],
            "nodes": [{"mesh": 0}],
            "meshes": [{"primitives": [
                {"attributes": {"POSITION": pos, "NORMAL": nrm}, "mode": 5},
                {"attributes": {"POSITION": fan_pos}, "mode": 6},
                {"attributes": {"POSITION": pos}, "mode": 1},
                {"attributes": {"POSITION": pos}, "mode": 0}
            ]}]
        });
        let p = write_json(&dir, "s.gltf", &bin.document(Some(&bin.data_uri()), rest));
        let im = import_ok(&p, &opts());
        let s = &im.scene;
        let tris: Vec<[u32; 3]> = s.triangles.iter().map(|t| t.v).collect();
        // Strip 0 1 2 3 → (0 1 2), (1 3 2); fan 4 5 6 7 → (5 6 4), (6 7 4).
        assert_eq!(tris, vec![[0, 1, 2], [1, 3, 2], [5, 6, 4], [6, 7, 4]]);
        assert_eq!(s.positions.len(), 8);
        assert_eq!(s.normals.len(), 8);
        // The fan had no normals: smooth normals from its faces (+Z, counter-clockwise).
        for n in &s.normals[4..] {
            assert!(close(*n, [0.0, 0.0, 1.0]), "{n:?}");
        }
        let w = im.warnings.join("\n");
        assert!(w.contains("primitive 2: mode Lines"), "{w}");
        assert!(w.contains("primitive 3: mode Points"), "{w}");
    }

    #[test]
    fn extensions_lights_and_unknown_used_are_warnings() {
        let dir = temp_dir("ext-used");
        let (bin, mut rest) = materials_asset();
        rest["extensionsUsed"] = json!(["KHR_lights_punctual", "KHR_materials_clearcoat"]);
        rest["extensionsRequired"] = json!(["KHR_lights_punctual"]);
        rest["extensions"] = json!({"KHR_lights_punctual": {"lights": [
            {"type": "point", "color": [1.0, 1.0, 1.0], "intensity": 10.0}]}});
        rest["nodes"] = json!([{"mesh": 0}, {"extensions": {"KHR_lights_punctual": {"light": 0}}}]);
        rest["scenes"] = json!([{"nodes": [0, 1]}]);
        let p = write_json(&dir, "l.gltf", &bin.document(Some(&bin.data_uri()), rest));
        let im = import_ok(&p, &opts());
        assert!(
            im.warnings.iter().any(|w| w == LIGHTS_WARNING),
            "{:?}",
            im.warnings
        );
        assert!(
            im.warnings
                .iter()
                .any(|w| w.contains("KHR_materials_clearcoat")),
            "{:?}",
            im.warnings
        );
    }

    #[test]
    fn hostile_required_extensions_are_named() {
        let dir = temp_dir("ext-required");
        for name in [
            "KHR_draco_mesh_compression",
            "EXT_meshopt_compression",
            "KHR_texture_basisu",
            "KHR_mesh_quantization",
        ] {
            let (bin, mut rest) = materials_asset();
            rest["extensionsUsed"] = json!([name]);
            rest["extensionsRequired"] = json!([name]);
            let p = write_json(&dir, "d.gltf", &bin.document(Some(&bin.data_uri()), rest));
            match import(&p, &opts()) {
                Err(ImportError::UnsupportedExtension(n)) => assert_eq!(n, name),
                other => panic!("{name}: expected UnsupportedExtension, got {other:?}"),
            }
        }
    }

    #[test]
    fn hostile_truncated_glb_and_malformed_json() {
        let dir = temp_dir("truncated");
        let (bin, rest) = materials_asset();
        let full = glb(&bin.document(None, rest), &bin.data);
        for cut in [5, 12, 30, full.len() - 4] {
            let p = write(&dir, "t.glb", &full[..cut]);
            match import(&p, &opts()) {
                Err(ImportError::Malformed(_)) => {}
                other => panic!("cut at {cut}: expected Malformed, got {other:?}"),
            }
        }
        let p = write(
            &dir,
            "bad.gltf",
            b"{\"asset\": {\"version\": \"2.0\"}, \"nodes\": [",
        );
        match import(&p, &opts()) {
            Err(ImportError::Malformed(m)) => assert!(m.contains("bad.gltf"), "{m}"),
            other => panic!("expected Malformed, got {other:?}"),
        }
        // Valid JSON, invalid glTF (a node index out of range).
        let p = write(
            &dir,
            "invalid.gltf",
            br#"{"asset": {"version": "2.0"}, "scenes": [{"nodes": [3]}]}"#,
        );
        match import(&p, &opts()) {
            Err(ImportError::Malformed(_)) => {}
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    /// A scene file must not pull local files (or anything but its own data and relative
    /// paths) into a job that is shipped to workers.
    #[test]
    fn hostile_uris_with_a_scheme_or_an_absolute_path_are_refused() {
        let dir = temp_dir("uris");
        for uri in [
            "/etc/passwd",
            "file:///etc/passwd",
            "http://169.254.169.254/latest",
        ] {
            let (bin, rest) = materials_asset();
            let p = write_json(&dir, "u.gltf", &bin.document(Some(uri), rest));
            match import(&p, &opts()) {
                Err(ImportError::Malformed(m)) => assert!(m.contains(uri), "{uri}: {m}"),
                other => panic!("{uri}: expected Malformed, got {other:?}"),
            }
            let (bin, mut rest) = materials_asset();
            rest["materials"][0]["pbrMetallicRoughness"]["baseColorTexture"] = json!({"index": 0});
            rest["textures"] = json!([{"source": 0}]);
            rest["images"] = json!([{ "uri": uri }]);
            let p = write_json(&dir, "t.gltf", &bin.document(Some(&bin.data_uri()), rest));
            match import(&p, &opts()) {
                Err(ImportError::Malformed(m)) => assert!(m.contains(uri), "image {uri}: {m}"),
                other => panic!("image {uri}: expected Malformed, got {other:?}"),
            }
        }
    }

    #[test]
    fn hostile_missing_buffer_and_texture() {
        let dir = temp_dir("missing");
        let (bin, rest) = materials_asset();
        let p = write_json(&dir, "m.gltf", &bin.document(Some("missing.bin"), rest));
        match import(&p, &opts()) {
            Err(ImportError::MissingBuffer(uri)) => assert_eq!(uri, "missing.bin"),
            other => panic!("expected MissingBuffer, got {other:?}"),
        }
        let (bin, mut rest) = materials_asset();
        rest["materials"][0]["pbrMetallicRoughness"]["baseColorTexture"] = json!({"index": 0});
        rest["textures"] = json!([{"source": 0}]);
        rest["images"] = json!([{"uri": "textures/missing.png"}]);
        let p = write_json(&dir, "t.gltf", &bin.document(Some(&bin.data_uri()), rest));
        match import(&p, &opts()) {
            Err(ImportError::MissingTexture(uri)) => assert_eq!(uri, "textures/missing.png"),
            other => panic!("expected MissingTexture, got {other:?}"),
        }
        // A GLB whose buffer points at the BIN chunk, without one.
        let (bin, rest) = materials_asset();
        let mut g = glb(&bin.document(None, rest), &[]);
        let json_len = u32::from_le_bytes(g[12..16].try_into().unwrap()) as usize;
        g.truncate(20 + json_len);
        let total = g.len() as u32;
        g[8..12].copy_from_slice(&total.to_le_bytes());
        let p = write(&dir, "nobin.glb", &g);
        match import(&p, &opts()) {
            Err(ImportError::MissingBuffer(m)) => assert!(m.contains("BIN"), "{m}"),
            other => panic!("expected MissingBuffer, got {other:?}"),
        }
    }

    #[test]
    fn hostile_non_finite_vertex_is_named() {
        let dir = temp_dir("nan");
        let mut bin = Bin::default();
        let pos = bin.floats("VEC3", &[0.0, 0.0, 0.0, f32::NAN, 0.0, 0.0, 0.0, 1.0, 0.0]);
        let rest = json!({
            "scenes": [{"nodes": [0]}],
            "nodes": [{"mesh": 0}],
            "meshes": [{"name": "bad", "primitives": [{"attributes": {"POSITION": pos}}]}]
        });
        let p = write_json(&dir, "nan.gltf", &bin.document(Some(&bin.data_uri()), rest));
        match import(&p, &opts()) {
            Err(ImportError::NonFinite(m)) => {
                assert!(
                    m.contains("mesh 0 (\"bad\") primitive 0: POSITION 1"),
                    "{m}"
                )
            }
            other => panic!("expected NonFinite, got {other:?}"),
        }
    }

    #[test]
    fn hostile_empty_scenes() {
        let dir = temp_dir("empty");
        for (name, doc) in [
            ("noscene.gltf", json!({"asset": {"version": "2.0"}})),
            (
                "nonodes.gltf",
                json!({"asset": {"version": "2.0"}, "scenes": [{"nodes": []}]}),
            ),
            (
                "camonly.gltf",
                json!({"asset": {"version": "2.0"}, "scenes": [{"nodes": [0]}],
                       "nodes": [{"camera": 0}],
                       "cameras": [{"type": "perspective", "perspective": {"yfov": 1.0,
                                                                           "znear": 0.1}}]}),
            ),
        ] {
            let p = write_json(&dir, name, &doc);
            match import(&p, &opts()) {
                Err(ImportError::Empty(_)) => {}
                other => panic!("{name}: expected Empty, got {other:?}"),
            }
        }
    }

    #[test]
    fn hostile_layout_and_index_errors_do_not_panic() {
        let dir = temp_dir("layout");
        // An accessor reaching past its view.
        let (bin, mut rest) = materials_asset();
        let mut doc = bin.document(Some(&bin.data_uri()), rest.clone());
        doc["accessors"][0]["count"] = json!(1000);
        let p = write_json(&dir, "a.gltf", &doc);
        match import(&p, &opts()) {
            Err(ImportError::Malformed(m)) => assert!(m.contains("accessor 0"), "{m}"),
            other => panic!("expected Malformed, got {other:?}"),
        }
        // A buffer shorter than declared.
        let mut doc = bin.document(Some(&bin.data_uri()), rest.clone());
        doc["buffers"][0]["byteLength"] = json!(bin.data.len() + 100);
        let p = write_json(&dir, "b.gltf", &doc);
        match import(&p, &opts()) {
            Err(ImportError::Malformed(_)) => {}
            other => panic!("expected Malformed, got {other:?}"),
        }
        // An index past the vertices.
        let mut bin2 = Bin::default();
        let pos = bin2.floats("VEC3", &TRI);
        let idx = bin2.indices(&[0, 1, 7]);
        rest["meshes"] =
            json!([{"primitives": [{"attributes": {"POSITION": pos}, "indices": idx}]}]);
        rest["materials"] = json!([]);
        let p = write_json(
            &dir,
            "c.gltf",
            &bin2.document(Some(&bin2.data_uri()), rest.clone()),
        );
        match import(&p, &opts()) {
            Err(ImportError::Malformed(m)) => assert!(m.contains("index 2 is 7"), "{m}"),
            other => panic!("expected Malformed, got {other:?}"),
        }
        // A node cycle.
        let mut doc = bin.document(Some(&bin.data_uri()), materials_asset().1);
        doc["nodes"] = json!([{"mesh": 0, "children": [1]}, {"children": [0]}]);
        let p = write_json(&dir, "d.gltf", &doc);
        match import(&p, &opts()) {
            Err(ImportError::Malformed(_)) => {}
            other => panic!("expected Malformed, got {other:?}"),
        }
        // Wrong accessor type for POSITION.
        let mut doc = bin.document(Some(&bin.data_uri()), materials_asset().1);
        doc["accessors"][0]["componentType"] = json!(5123);
        doc["accessors"][0]["min"] = Value::Null;
        doc["accessors"][0]["max"] = Value::Null;
        let p = write_json(&dir, "e.gltf", &doc);
        match import(&p, &opts()) {
            Err(ImportError::Malformed(_)) => {}
            other => panic!("expected Malformed, got {other:?}"),
        }
    }
}
