//! The path tracer on the GPU (kernel in `src/cuda/render.cu`).

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::scene::CompiledScene;
use super::RenderOutput;
use crate::cuda::{bytes, guard, CudaDevice};
use crate::device::Limits;
use crate::error::Result;

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

impl CudaDevice {
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
