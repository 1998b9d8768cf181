//! Wavefront OBJ + MTL import. See the module documentation of [`super`] for the mapping.
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use tessera_compute::render::mesh::MeshMaterial;

use super::{
    decode_texture, read_file, Chunk, ImportError, ImportOptions, Imported, SceneBuilder,
    SceneFiles, Warnings,
};

/// Imports an `.obj` file and the MTL files it names (`mtllib`, relative to its directory).
pub(super) fn import_obj(
    files: &dyn SceneFiles,
    path: &Path,
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    let bytes = read_file(files, path)?;
    let file = path.display().to_string();
    prescan_finite(&bytes, &file)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut warnings = Warnings::default();

    // Each MTL file loaded, in order: its directory and how many materials it added (tobj
    // appends them in that order), so that map_Kd resolves against the right directory.
    let mtls: RefCell<Vec<(PathBuf, usize)>> = RefCell::new(Vec::new());
    let mtl_errors: RefCell<Vec<String>> = RefCell::new(Vec::new());
    // The update covers fields that tobj's optional features add.
    #[allow(clippy::needless_update)]
    let load_options = tobj::LoadOptions {
        triangulate: true,
        single_index: true,
        ignore_points: true,
        ignore_lines: true,
        ..Default::default()
    };
    let (models, materials) =
        tobj::load_obj_buf(&mut Cursor::new(&bytes[..]), &load_options, |p: &Path| {
            let full = dir.join(p);
            let r = match files.read(&full) {
                Ok(Some(b)) => tobj::load_mtl_buf(&mut Cursor::new(b)),
                Ok(None) => Err(tobj::LoadError::OpenFileFailed),
                Err(_) => Err(tobj::LoadError::ReadError),
            };
            match &r {
                Ok((m, _)) => mtls.borrow_mut().push((
                    full.parent().map(Path::to_path_buf).unwrap_or_default(),
                    m.len(),
                )),
                Err(e) => mtl_errors.borrow_mut().push(format!(
                    "MTL {}: {e}; its materials are missing (default material used)",
                    full.display()
                )),
            }
            r
        })
        .map_err(|e| ImportError::Malformed(format!("{file}: {e}")))?;
    for w in mtl_errors.into_inner() {
        warnings.push(w);
    }
    let materials = materials.unwrap_or_default();
    let mtls = mtls.into_inner();
    let mtl_dir = |mut i: usize| -> PathBuf {
        for (d, n) in &mtls {
            if i < *n {
                return d.clone();
            }
            i -= n;
        }
        dir.clone()
    };

    let mut builder = SceneBuilder::default();
    let mut mat_map: BTreeMap<Option<usize>, u32> = BTreeMap::new();
    let mut tex_map: BTreeMap<PathBuf, u32> = BTreeMap::new();
    for model in &models {
        let m = &model.mesh;
        let label = format!("{file}: object {:?}", model.name);
        let n = m.positions.len() / 3;
        builder.check_room(n, m.indices.len() / 3, &label)?;
        let positions: Vec<[f32; 3]> = m.positions.as_chunks::<3>().0.to_vec();
        let normals = if !m.normals.is_empty() && m.normals.len() == m.positions.len() {
            Some(m.normals.as_chunks::<3>().0.to_vec())
        } else {
            if !m.normals.is_empty() {
                warnings.push(format!(
                    "{label}: normals on only some faces; ignored (smooth normals computed)"
                ));
            }
            None
        };
        let uvs = if !m.texcoords.is_empty() && m.texcoords.len() == 2 * n {
            // OBJ's v goes up; the scene's goes down from the texture's first row.
            Some(
                m.texcoords
                    .as_chunks::<2>()
                    .0
                    .iter()
                    .map(|&[u, v]| [u, 1.0 - v])
                    .collect::<Vec<_>>(),
            )
        } else {
            if !m.texcoords.is_empty() {
                warnings.push(format!(
                    "{label}: texture coordinates on only some faces; ignored"
                ));
            }
            None
        };
        if let Some(&i) = m.indices.iter().find(|&&i| i as usize >= n) {
            return Err(ImportError::Malformed(format!(
                "{label}: vertex index {i} is out of range ({n} vertices)"
            )));
        }
        let triangles: Vec<[u32; 3]> = m
            .indices
            .as_chunks::<3>()
            .0
            .iter()
            .copied()
            .filter(|t| t[0] != t[1] && t[1] != t[2] && t[0] != t[2])
            .collect();
        if triangles.is_empty() {
            continue;
        }
        let id = m.material_id.filter(|&i| i < materials.len());
        let material = match mat_map.get(&id) {
            Some(&i) => i,
            None => {
                let mm = match id {
                    None => MeshMaterial::default(),
                    Some(i) => convert_material(
                        files,
                        &materials[i],
                        &mtl_dir(i),
                        &mut builder,
                        &mut tex_map,
                        &mut warnings,
                    )?,
                };
                let i = builder.add_material(mm)?;
                mat_map.insert(id, i);
                i
            }
        };
        builder.add_chunk(Chunk {
            label,
            positions,
            normals,
            uvs,
            triangles,
            material,
        })?;
    }
    let scene = builder.finish(opts, None, &file)?;
    Ok(Imported {
        scene,
        warnings: warnings.into_vec(),
        animation: None,
    })
}

/// Refuses NaN and infinite `v`, `vn` and `vt` values, naming their 1-based OBJ index (tobj
/// reorders vertices, so this is checked on the text).
fn prescan_finite(bytes: &[u8], file: &str) -> Result<(), ImportError> {
    let text = String::from_utf8_lossy(bytes);
    let (mut v, mut vn, mut vt) = (0usize, 0usize, 0usize);
    for (ln, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        let (counter, what) = match words.next() {
            Some("v") => (&mut v, "vertex"),
            Some("vn") => (&mut vn, "normal"),
            Some("vt") => (&mut vt, "texture coordinate"),
            _ => continue,
        };
        *counter += 1;
        if words.any(|w| w.parse::<f32>().is_ok_and(|x| !x.is_finite())) {
            return Err(ImportError::NonFinite(format!(
                "{file}: {what} {} (line {}) is not finite",
                *counter,
                ln + 1
            )));
        }
    }
    Ok(())
}

fn parse3(s: &str) -> Option<[f32; 3]> {
    let v: Vec<f32> = s
        .split_whitespace()
        .map(|w| w.parse().ok())
        .collect::<Option<_>>()?;
    match v[..] {
        [x] => Some([x; 3]),
        [x, y, z] => Some([x, y, z]),
        _ => None,
    }
}

/// The file a `map_Kd` value names: options (`-s 1 1 1 file.png`) skipped, backslashes taken
/// as separators.
fn texture_file(value: &str) -> String {
    let name = if value.starts_with('-') {
        value.split_whitespace().last().unwrap_or(value)
    } else {
        value
    };
    name.replace('\\', "/")
}

fn convert_material(
    files: &dyn SceneFiles,
    mat: &tobj::Material,
    mtl_dir: &Path,
    builder: &mut SceneBuilder,
    tex_map: &mut BTreeMap<PathBuf, u32>,
    warnings: &mut Warnings,
) -> Result<MeshMaterial, ImportError> {
    let label = format!("material {:?}", mat.name);
    let finite3 = |name: &str, v: Option<[f32; 3]>| match v {
        Some(v) if !v.iter().all(|x| x.is_finite()) => {
            Err(ImportError::NonFinite(format!("{label}: {name} is {v:?}")))
        }
        _ => Ok(v),
    };
    let finite1 = |name: &str, v: Option<f32>| match v {
        Some(x) if !x.is_finite() => Err(ImportError::NonFinite(format!("{label}: {name} is {x}"))),
        _ => Ok(v),
    };
    let kd = finite3("Kd", mat.diffuse)?;
    let ks = finite3("Ks", mat.specular)?;
    let ke = finite3(
        "Ke",
        mat.emissive
            .or_else(|| mat.unknown_param.get("Ke").and_then(|s| parse3(s))),
    )?;
    let ns = finite1("Ns", mat.shininess)?;
    let ni = finite1("Ni", mat.optical_density)?;
    let d = finite1("d", mat.dissolve)?;
    let tr = finite1(
        "Tr",
        mat.unknown_param
            .get("Tr")
            .and_then(|s| s.split_whitespace().next()?.parse().ok()),
    )?;
    let illum = mat.illumination_model;
    let c01 = |x: f32| x.clamp(0.0, 1.0);

    let metallic = match illum {
        Some(3) | Some(5) => c01(ks.map(|k| k[0].max(k[1]).max(k[2])).unwrap_or(0.0)),
        _ => 0.0,
    };
    let ns = ns.unwrap_or(0.0).max(0.0);
    let roughness = c01((2.0 / (ns + 2.0)).sqrt());
    let ior = match ni {
        None => 1.5,
        Some(x) if x > 0.0 => x,
        Some(x) => {
            warnings.push(format!("{label}: Ni {x} is not supported; 1.5 used"));
            1.5
        }
    };
    let transmission = match (illum, d, tr) {
        (Some(4) | Some(6) | Some(7), _, _) => 1.0,
        (_, Some(d), _) if d < 1.0 => 1.0 - c01(d),
        (_, Some(_), _) => 0.0,
        (_, None, Some(tr)) => c01(tr),
        _ => 0.0,
    };
    let base_color_texture = match &mat.diffuse_texture {
        None => None,
        Some(value) => {
            let path = mtl_dir.join(texture_file(value));
            match tex_map.get(&path) {
                Some(&t) => Some(t),
                None => {
                    let bytes = match files.read(&path) {
                        Ok(Some(b)) => b,
                        Ok(None) => {
                            return Err(ImportError::MissingTexture(path.display().to_string()))
                        }
                        Err(source) => return Err(ImportError::Io { path, source }),
                    };
                    let tex = decode_texture(&bytes, &format!("texture {}", path.display()))?;
                    let t = builder.add_texture(tex)?;
                    tex_map.insert(path, t);
                    Some(t)
                }
            }
        }
    };
    Ok(MeshMaterial {
        base_color: kd.unwrap_or([0.8; 3]).map(c01),
        base_color_texture,
        metallic,
        roughness,
        emission: ke.unwrap_or([0.0; 3]).map(|x| x.max(0.0)),
        transmission,
        ior,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{png_rgba8, temp_dir};
    use super::super::{import, ImportError, ImportOptions};
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, bytes).unwrap();
        p
    }

    const OBJ: &str = "\
# a quad with a texture, a glass triangle, a metal triangle, and one with no material
mtllib mtl/scene.mtl
v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0
v 0 0 1
v 1 0 1
v 0 1 1
vt 0 0
vt 1 0
vt 1 1
vt 0 1
vn 0 0 1
f 5 6 7
usemtl lamp
f 1/1/1 2/2/1 3/3/1 4/4/1
usemtl glass
f 5 6 7
usemtl metal
f 1 2 3
usemtl nosuchmaterial
f 2 3 4
";

    const MTL: &str = "\
newmtl lamp
Kd 0.1 0.2 0.3
Ke 5 4 3
Ni 1.2
d 1
Ns 0
map_Kd tex/lamp.png

newmtl glass
Kd 2 1 1
d 0.25
Ni 1.5
Ns 98
illum 2

newmtl metal
Ks 0.9 0.5 0.2
illum 3
Tr 0.4
";

    #[test]
    fn obj_mtl_textured_quad_and_materials() {
        let dir = temp_dir("obj");
        let texels: Vec<u8> = (0..4 * 3 * 4).map(|i| (i * 5) as u8).collect();
        write(&dir, "mtl/tex/lamp.png", &png_rgba8(4, 3, &texels));
        write(&dir, "mtl/scene.mtl", MTL.as_bytes());
        let p = write(&dir, "scene.obj", OBJ.as_bytes());
        let im = import(&p, &ImportOptions::default()).unwrap();
        let s = &im.scene;
        assert_eq!(im.animation, None);
        // 1 + 2 (the triangulated quad) + 1 + 1 + 1 triangles.
        assert_eq!(s.triangles.len(), 6);
        assert_eq!(s.textures.len(), 1);
        assert_eq!((s.textures[0].width, s.textures[0].height), (4, 3));
        assert_eq!(s.textures[0].rgba, texels);
        let mat = |t: usize| s.materials[s.triangles[t].material as usize];
        // The first face has no material; so has the one naming an unknown material.
        assert_eq!(mat(0), MeshMaterial::default());
        assert_eq!(mat(5), MeshMaterial::default());
        let lamp = mat(1);
        assert_eq!(mat(2), lamp);
        assert_eq!(
            lamp,
            MeshMaterial {
                base_color: [0.1, 0.2, 0.3],
                base_color_texture: Some(0),
                metallic: 0.0,
                roughness: 1.0,
                emission: [5.0, 4.0, 3.0],
                transmission: 0.0,
                ior: 1.2,
            }
        );
        let glass = mat(3);
        assert_eq!(glass.base_color, [1.0, 1.0, 1.0]);
        assert_eq!(glass.transmission, 0.75);
        assert_eq!(glass.ior, 1.5);
        assert!((glass.roughness - 0.02f32.sqrt()).abs() < 1e-6);
        assert_eq!(glass.base_color_texture, None);
        let metal = mat(4);
        assert_eq!(metal.metallic, 0.9);
        assert_eq!(metal.base_color, [0.8; 3]);
        assert!((metal.transmission - 0.4).abs() < 1e-6, "Tr without d");
        // The quad: four vertices, UVs with v flipped, normals as given.
        let quad: Vec<usize> = s.triangles[1..3]
            .iter()
            .flat_map(|t| t.v)
            .map(|i| i as usize)
            .collect();
        assert_eq!(s.uvs.len(), s.positions.len());
        assert_eq!(s.normals.len(), s.positions.len());
        for &i in &quad {
            let p = s.positions[i];
            assert_eq!(s.uvs[i], [p[0], 1.0 - p[1]], "vertex {i}");
            assert_eq!(s.normals[i], [0.0, 0.0, 1.0]);
        }
        // Triangulated as a fan: (1 2 3), (1 3 4) in OBJ numbering.
        let tri_pos = |t: usize| s.triangles[t].v.map(|i| s.positions[i as usize]);
        assert_eq!(
            tri_pos(1),
            [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
        );
        assert_eq!(
            tri_pos(2),
            [[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]]
        );
        // The framing default.
        assert_eq!(s.camera.look_at, [0.5, 0.5, 0.5]);
        assert_eq!(s.camera.vfov_degrees, 40.0);
    }

    #[test]
    fn obj_transmission_from_illum_and_uppercase_extension_without_mtl() {
        let dir = temp_dir("obj-illum");
        write(
            &dir,
            "m.mtl",
            b"newmtl a\nKd 1 1 1\nd 0.9\nillum 7\nNi 1.45\nNs 2\nKs 1 1 1\n",
        );
        let p = write(
            &dir,
            "M.OBJ",
            b"mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nusemtl a\nf 1 2 3\n",
        );
        let s = import(&p, &ImportOptions::default()).unwrap().scene;
        assert_eq!(s.materials.len(), 1);
        let m = s.materials[0];
        assert_eq!(m.transmission, 1.0);
        assert_eq!(m.ior, 1.45);
        assert_eq!(m.metallic, 0.0, "illum 7 is not a metal");
        assert!((m.roughness - 0.5f32.sqrt()).abs() < 1e-6);
        assert!(s.normals.is_empty() && s.uvs.is_empty());

        // A missing MTL: a warning, and the default material.
        let p = write(
            &dir,
            "n.obj",
            b"mtllib gone.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nusemtl a\nf 1 2 3\n",
        );
        let im = import(&p, &ImportOptions::default()).unwrap();
        assert_eq!(im.scene.materials, vec![MeshMaterial::default()]);
        assert!(
            im.warnings.iter().any(|w| w.contains("gone.mtl")),
            "{:?}",
            im.warnings
        );
    }

    #[test]
    fn obj_hostile_missing_texture() {
        let dir = temp_dir("obj-missing-tex");
        write(&dir, "mtl/scene.mtl", MTL.as_bytes());
        let p = write(&dir, "scene.obj", OBJ.as_bytes());
        match import(&p, &ImportOptions::default()) {
            Err(ImportError::MissingTexture(path)) => {
                assert_eq!(PathBuf::from(path), dir.join("mtl/tex/lamp.png"))
            }
            other => panic!("expected MissingTexture, got {other:?}"),
        }
    }

    #[test]
    fn obj_hostile_non_finite_vertex() {
        let dir = temp_dir("obj-nan");
        let p = write(&dir, "nan.obj", b"v 0 0 0\nv 1 nan 0\nv 0 1 0\nf 1 2 3\n");
        match import(&p, &ImportOptions::default()) {
            Err(ImportError::NonFinite(m)) => assert!(m.contains("nan.obj: vertex 2"), "{m}"),
            other => panic!("expected NonFinite, got {other:?}"),
        }
        let p = write(
            &dir,
            "inf.obj",
            b"v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 1e39\nf 1/1 2/1 3/1\n",
        );
        match import(&p, &ImportOptions::default()) {
            Err(ImportError::NonFinite(m)) => assert!(m.contains("texture coordinate 1"), "{m}"),
            other => panic!("expected NonFinite, got {other:?}"),
        }
    }

    #[test]
    fn obj_hostile_empty_and_malformed() {
        let dir = temp_dir("obj-empty");
        let p = write(&dir, "e.obj", b"# nothing\nv 0 0 0\nv 1 0 0\n");
        match import(&p, &ImportOptions::default()) {
            Err(ImportError::Empty(_)) => {}
            other => panic!("expected Empty, got {other:?}"),
        }
        let p = write(&dir, "lines.obj", b"v 0 0 0\nv 1 0 0\nl 1 2\n");
        match import(&p, &ImportOptions::default()) {
            Err(ImportError::Empty(_)) => {}
            other => panic!("expected Empty, got {other:?}"),
        }
        let p = write(&dir, "bad.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n");
        match import(&p, &ImportOptions::default()) {
            Err(ImportError::Malformed(_)) => {}
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn obj_map_kd_options_are_skipped() {
        assert_eq!(texture_file("-s 1 1 1 -o 0 0 0 wood.png"), "wood.png");
        assert_eq!(texture_file("tex\\wood grain.png"), "tex/wood grain.png");
    }
}
