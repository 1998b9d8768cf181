//! The path tracer on the GPU (kernel in `src/cuda/render.cu`).

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::mesh_blob::CompiledMesh;
use super::scene::CompiledScene;
use super::{MeshOutput, RenderOutput};
use crate::cuda::{bytes, guard, CudaDevice};
use crate::error::Result;
use crate::limits::Limits;

/// Ray segments per launch (bounds the run time of a single kernel launch).
const SEGMENTS_PER_LAUNCH: u64 = 1 << 27;

/// Rows of the image each launch renders (bounds the run time of one launch).
pub(crate) fn rows_per_launch(scene: &CompiledScene) -> u32 {
    let per_row = scene.width as u64 * scene.spp as u64 * (scene.max_bounces as u64 + 1);
    // At least one block row, at most the image (`clamp` would panic for images under 16 rows).
    (SEGMENTS_PER_LAUNCH / per_row.max(1))
        .max(16)
        .min(scene.height.max(1) as u64) as u32
}

/// Launch shape of `tessera_render` for `rows` rows of `width` pixels (16×16 blocks).
pub(crate) fn render_config(width: u32, rows: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (width.div_ceil(16), rows.div_ceil(16), 1),
        block_dim: (16, 16, 1),
        shared_mem_bytes: 0,
    }
}

/// Tile rows each `tessera_render_mesh` launch renders (bounds the run time of one launch).
pub(crate) fn mesh_rows_per_launch(m: &CompiledMesh) -> u32 {
    let per_row = m.tile.w as u64 * m.spp as u64 * (2 * m.max_bounces as u64 + 1);
    (SEGMENTS_PER_LAUNCH / per_row.max(1))
        .max(16)
        .min(m.tile.h.max(1) as u64) as u32
}

/// The host copies of a compiled mesh scene's arrays that `tessera_render_mesh` reads, none
/// empty (a zero-length allocation is not portable; an empty array is never read).
pub(crate) struct MeshBuffers {
    pub tri: Vec<f32>,
    pub tri_info: Vec<u32>,
    pub normals: Vec<f32>,
    pub uvs: Vec<f32>,
    pub mat_kind: Vec<u32>,
    pub mat_tex: Vec<u32>,
    pub mat: Vec<f32>,
    pub tex_info: Vec<u32>,
    pub texels: Vec<u8>,
    pub light_tri: Vec<u32>,
    pub light_cdf: Vec<f32>,
    pub light_pdf: Vec<f32>,
    pub node_box: Vec<f32>,
    pub node_meta: Vec<u32>,
    pub camera: Vec<f32>,
    pub env: Vec<f32>,
}

/// The kernel's scalar arguments: `n_tri, n_lights, has_normals, has_uvs`, then `ray_eps`,
/// then `width, height, x0, y0, tw, th, spp, max_bounces, seed, row0, rows`.
pub(crate) struct MeshScalars {
    pub u32s: [u32; 15],
    pub ray_eps: f32,
}

impl MeshBuffers {
    pub(crate) fn new(m: &CompiledMesh) -> Self {
        fn pad<T: Copy + Default>(v: &[T]) -> Vec<T> {
            if v.is_empty() {
                vec![T::default()]
            } else {
                v.to_vec()
            }
        }
        MeshBuffers {
            tri: pad(&m.tri),
            tri_info: pad(&m.tri_info),
            normals: pad(&m.normals),
            uvs: pad(&m.uvs),
            mat_kind: pad(&m.mat_kind),
            mat_tex: pad(&m.mat_tex),
            mat: pad(&m.mat),
            tex_info: pad(&m.tex_info),
            texels: pad(&m.texels),
            light_tri: pad(&m.light_tri),
            light_cdf: pad(&m.light_cdf),
            light_pdf: pad(&m.light_pdf),
            node_box: pad(&m.node_box),
            node_meta: pad(&m.node_meta),
            camera: m.camera.to_vec(),
            env: m.env.device_buffer(),
        }
    }

    /// Bytes on the device.
    pub(crate) fn bytes(&self) -> usize {
        4 * (self.tri.len()
            + self.tri_info.len()
            + self.normals.len()
            + self.uvs.len()
            + self.mat_kind.len()
            + self.mat_tex.len()
            + self.mat.len()
            + self.tex_info.len()
            + self.light_tri.len()
            + self.light_cdf.len()
            + self.light_pdf.len()
            + self.node_box.len()
            + self.node_meta.len()
            + self.camera.len()
            + self.env.len())
            + self.texels.len()
    }

    pub(crate) fn scalars(&self, m: &CompiledMesh, row0: u32, rows: u32) -> MeshScalars {
        let t = m.tile;
        MeshScalars {
            u32s: [
                m.num_triangles() as u32,
                m.light_tri.len() as u32,
                (!m.normals.is_empty()) as u32,
                (!m.uvs.is_empty()) as u32,
                m.width,
                m.height,
                t.x0,
                t.y0,
                t.w,
                t.h,
                m.spp,
                m.max_bounces,
                m.seed,
                row0,
                rows,
            ],
            ray_eps: m.ray_eps,
        }
    }
}

impl CudaDevice {
    /// Renders the tile of a mesh scene; bit-identical to [`super::mesh_cpu::render`].
    pub fn render_mesh(&self, m: &CompiledMesh) -> Result<MeshOutput> {
        let b = MeshBuffers::new(m);
        let (tw, th) = (m.tile.w, m.tile.h);
        let pixels = tw as usize * th as usize;
        let need = b.bytes() as u64 + bytes(pixels, 16)?;
        let limits = Limits::default();
        guard("render_mesh", || {
            let _l = self.lock();
            self.check_vram(need, &limits)?;
            let s = &self.stream;
            let d_tri = s.clone_htod(&b.tri[..])?;
            let d_tri_info = s.clone_htod(&b.tri_info[..])?;
            let d_normals = s.clone_htod(&b.normals[..])?;
            let d_uvs = s.clone_htod(&b.uvs[..])?;
            let d_mat_kind = s.clone_htod(&b.mat_kind[..])?;
            let d_mat_tex = s.clone_htod(&b.mat_tex[..])?;
            let d_mat = s.clone_htod(&b.mat[..])?;
            let d_tex_info = s.clone_htod(&b.tex_info[..])?;
            let d_texels = s.clone_htod(&b.texels[..])?;
            let d_light_tri = s.clone_htod(&b.light_tri[..])?;
            let d_light_cdf = s.clone_htod(&b.light_cdf[..])?;
            let d_light_pdf = s.clone_htod(&b.light_pdf[..])?;
            let d_node_box = s.clone_htod(&b.node_box[..])?;
            let d_node_meta = s.clone_htod(&b.node_meta[..])?;
            let d_camera = s.clone_htod(&b.camera[..])?;
            let d_env = s.clone_htod(&b.env[..])?;
            let mut d_out = s.alloc_zeros::<f32>(pixels * 3)?;
            let mut d_rays = s.alloc_zeros::<u32>(pixels)?;
            let per_launch = mesh_rows_per_launch(m);
            let mut row0 = 0u32;
            while row0 < th {
                let rows = per_launch.min(th - row0);
                let sc = b.scalars(m, row0, rows);
                let mut l = s.launch_builder(&self.funcs.render_mesh);
                l.arg(&d_tri)
                    .arg(&d_tri_info)
                    .arg(&d_normals)
                    .arg(&d_uvs)
                    .arg(&d_mat_kind)
                    .arg(&d_mat_tex)
                    .arg(&d_mat)
                    .arg(&d_tex_info)
                    .arg(&d_texels)
                    .arg(&d_light_tri)
                    .arg(&d_light_cdf)
                    .arg(&d_light_pdf)
                    .arg(&d_node_box)
                    .arg(&d_node_meta)
                    .arg(&d_camera)
                    .arg(&d_env);
                for v in &sc.u32s[..4] {
                    l.arg(v);
                }
                l.arg(&sc.ray_eps);
                for v in &sc.u32s[4..] {
                    l.arg(v);
                }
                l.arg(&mut d_out).arg(&mut d_rays);
                // SAFETY: the argument list matches tessera_render_mesh; the validated scene's
                // indices (vertices, materials, textures, BVH nodes and leaves) are in range,
                // its BVH is at most 64 levels deep (the kernel's stack), and every pixel
                // index is bounds-checked.
                unsafe { l.launch(render_config(tw, rows)) }?;
                row0 += rows;
            }
            let rgb = s.clone_dtoh(&d_out)?;
            let rays: u64 = s.clone_dtoh(&d_rays)?.iter().map(|&r| r as u64).sum();
            Ok(MeshOutput {
                bytes: rgb.iter().flat_map(|v| v.to_le_bytes()).collect(),
                rays,
            })
        })
    }

    /// Renders `scene`; bit-identical to [`super::cpu::render`].
    pub fn render(&self, scene: &CompiledScene) -> Result<RenderOutput> {
        let (w, h) = (scene.width as usize, scene.height as usize);
        let pixels = w * h;
        // Kernels never see empty arrays (a zero-length allocation is not portable).
        let pad_u32 = |v: &[u32]| if v.is_empty() { vec![0u32] } else { v.to_vec() };
        let pad_f32 = |v: &[f32]| if v.is_empty() { vec![0f32] } else { v.to_vec() };
        let obj_kind = pad_u32(&scene.obj_kind);
        let obj_data = pad_f32(&scene.obj_data);
        let need = bytes(pixels, 8)? + bytes(obj_kind.len() + obj_data.len() + 64, 4)?;
        let limits = Limits::default();
        guard("render", || {
            let _l = self.lock();
            self.check_vram(need, &limits)?;
            let s = &self.stream;
            let d_ok = s.clone_htod(&obj_kind[..])?;
            let d_od = s.clone_htod(&obj_data[..])?;
            let d_mk = s.clone_htod(&scene.mat_kind[..])?;
            let d_md = s.clone_htod(&scene.mat_data[..])?;
            let d_cam = s.clone_htod(&scene.camera[..])?;
            let mut d_rgba = s.alloc_zeros::<u8>(pixels * 4)?;
            let mut d_rays = s.alloc_zeros::<u32>(pixels)?;
            let rows_per_launch = rows_per_launch(scene);
            let n_obj = scene.num_objects() as i32;
            let mut row0 = 0u32;
            while row0 < scene.height {
                let rows = rows_per_launch.min(scene.height - row0);
                let cfg = render_config(scene.width, rows);
                let mut l = s.launch_builder(&self.funcs.render);
                l.arg(&d_ok)
                    .arg(&d_od)
                    .arg(&d_mk)
                    .arg(&d_md)
                    .arg(&d_cam)
                    .arg(&n_obj)
                    .arg(&scene.width)
                    .arg(&scene.height)
                    .arg(&scene.spp)
                    .arg(&scene.max_bounces)
                    .arg(&scene.seed)
                    .arg(&row0)
                    .arg(&rows)
                    .arg(&mut d_rgba)
                    .arg(&mut d_rays);
                // SAFETY: argument list matches tessera_render; the validated scene's material
                // indices are in range and every pixel index is bounds-checked.
                unsafe { l.launch(cfg) }?;
                row0 += rows;
            }
            let rgba = s.clone_dtoh(&d_rgba)?;
            let rays: u64 = s.clone_dtoh(&d_rays)?.iter().map(|&r| r as u64).sum();
            Ok(RenderOutput { rgba, rays })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{self, scene::SceneFile};

    fn scene(w: u32, h: u32, spp: u32) -> CompiledScene {
        let text = render::with_resolution(render::CORNELL_JSON, w, h, spp).unwrap();
        SceneFile::from_json(text.as_bytes())
            .unwrap()
            .validate_and_compile()
            .unwrap()
    }

    /// Every image size gets bands of at least one block row (or the whole image) and at most
    /// the image; the start-up self-test renders 19×13, which `clamp(16, 13)` used to panic on.
    #[test]
    fn row_bands_fit_every_image() {
        for (w, h, spp) in [
            (19, 13, 2),
            (1, 1, 1),
            (7, 15, 3),
            (64, 16, 1),
            (4096, 4096, 1024),
        ] {
            let s = scene(w, h, spp);
            let rows = rows_per_launch(&s);
            assert!(rows >= 1 && rows <= h, "{w}x{h}x{spp}: {rows} rows");
            assert!(rows >= h.min(16), "{w}x{h}x{spp}: {rows} rows");
            let cfg = render_config(w, rows);
            assert!(cfg.grid_dim.0 * 16 >= w && cfg.grid_dim.1 * 16 >= rows);
        }
    }
}
