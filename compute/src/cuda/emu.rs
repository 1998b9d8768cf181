//! Runs the CUDA kernels on the host and checks them against the CPU reference (tests only).
//!
//! `emu/host_emu.cpp` includes `gemm.cu`, `render.cu` and `embed.cu` unchanged (bar the one
//! `mma.sync` asm statement, which `TESSERA_HOST_EMU` swaps for a warp-wide emulation of the
//! PTX fragment layout) and runs each block's threads as cooperative fibers, so barriers,
//! shared memory, tile edges and padding behave as on a device. The launches use the very
//! launch shapes the CUDA backend uses (`gemm::cuda::f32_config`, `i8_plan`,
//! `render::cuda::render_config`, `inference::cuda::elementwise_cfg`, and for the encoder
//! (`emu/embed.rs`) `embed::cuda::{plan, rows_config, attention_config, pool_config}`). This
//! proves the kernels' indexing and arithmetic on machines without a GPU; `tests/gpu.rs`
//! proves the real device.
//!
//! Needs a C++17 compiler (`CXX`, else `c++`); without one each test prints `SKIPPED: ...`.

use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::process::Command;
use std::sync::OnceLock;

use cudarc::driver::LaunchConfig;

use crate::gemm::cuda::{f32_config, i8_plan};
use crate::inference::cuda::elementwise_cfg;
use crate::inference::model::QuantModel;
use crate::render::cuda::rows_per_launch;
use crate::render::cuda::{mesh_rows_per_launch, render_config, MeshBuffers};
use crate::render::mesh_blob::CompiledMesh;
use crate::render::scene::CompiledScene;

mod embed;
mod generate;
pub(crate) mod train;

const EMU_H: &str = include_str!("emu/host_emu.h");
const EMU_CPP: &str = include_str!("emu/host_emu.cpp");

type LaunchFn = unsafe extern "C" fn(
    *const c_char,
    c_uint,
    c_uint,
    c_uint,
    c_uint,
    c_uint,
    c_uint,
    *mut *mut c_void,
) -> c_int;

/// The compiled emulator library.
pub(crate) struct Emu {
    _lib: libloading::Library,
    launch: LaunchFn,
}

fn skip(why: &str) {
    use std::io::Write;
    // Straight to stderr: `eprintln!` is captured by the test harness.
    let _ = writeln!(std::io::stderr(), "SKIPPED: host CUDA emulator: {why}");
}

fn build() -> Result<Emu, String> {
    // Extra compiler flags, e.g. `-fsanitize=address -g` for a memory check of the kernels
    // (run the tests with `LD_PRELOAD=$(gcc -print-file-name=libasan.so)`; docs/KERNELS.md).
    let extra = std::env::var("TESSERA_EMU_CXXFLAGS").unwrap_or_default();
    let mut h = blake3::Hasher::new();
    h.update(extra.as_bytes());
    for part in [
        EMU_H,
        EMU_CPP,
        super::GEMM_CU,
        super::RENDER_CU,
        super::RENDER_MESH_CU,
        super::EMBED_CU,
        super::TRAIN_CU,
        super::GENERATE_CU,
    ] {
        h.update(part.as_bytes());
    }
    let key = &crate::hash::to_hex(h.finalize().as_bytes())[..16];
    let dir = std::env::temp_dir().join(format!("tessera-emu-{key}"));
    let lib = dir.join("libtessera_emu.so");
    if !lib.exists() {
        // The sources are laid out as in the crate, so the `#include "../gemm.cu"` resolve.
        let emu = dir.join("src").join("emu");
        std::fs::create_dir_all(&emu).map_err(|e| e.to_string())?;
        let src = dir.join("src");
        for (path, text) in [
            (emu.join("host_emu.h"), EMU_H),
            (emu.join("host_emu.cpp"), EMU_CPP),
            (src.join("gemm.cu"), super::GEMM_CU),
            (src.join("render.cu"), super::RENDER_CU),
            (src.join("render_mesh.cu"), super::RENDER_MESH_CU),
            (src.join("embed.cu"), super::EMBED_CU),
            (src.join("train.cu"), super::TRAIN_CU),
            (src.join("generate.cu"), super::GENERATE_CU),
        ] {
            std::fs::write(path, text).map_err(|e| e.to_string())?;
        }
        let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
        let tmp = dir.join(format!("lib.{}.so", std::process::id()));
        let out = Command::new(&cxx)
            .args([
                "-std=c++17",
                "-O2",
                "-ffp-contract=off",
                "-fno-fast-math",
                "-Wall",
                "-Wno-unknown-pragmas",
                "-shared",
                "-fPIC",
                "-o",
            ])
            .arg(&tmp)
            .args(extra.split_whitespace())
            .arg(emu.join("host_emu.cpp"))
            .output()
            .map_err(|e| format!("no C++ compiler ({cxx}): {e}"))?;
        if !out.status.success() {
            // A compile error is a defect in the kernels or the shim, not a reason to skip.
            panic!(
                "host emulator does not compile:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::rename(&tmp, &lib).map_err(|e| e.to_string())?;
    }
    // SAFETY: the library was built just now from the sources above; its only export used
    // is `tessera_emu_launch`, declared with the matching signature.
    unsafe {
        let l = libloading::Library::new(&lib).map_err(|e| e.to_string())?;
        let f: LaunchFn = *l
            .get::<LaunchFn>(b"tessera_emu_launch\0")
            .map_err(|e| e.to_string())?;
        Ok(Emu { _lib: l, launch: f })
    }
}

/// The emulator, or `None` (after a visible skip) without a C++ compiler.
pub(crate) fn emu() -> Option<&'static Emu> {
    static EMU: OnceLock<Result<Emu, String>> = OnceLock::new();
    match EMU.get_or_init(build) {
        Ok(e) => Some(e),
        Err(why) => {
            skip(why);
            None
        }
    }
}

/// A kernel argument: a device buffer (host memory here) or a scalar.
pub(crate) enum Arg<'a> {
    Buf(*mut c_void, std::marker::PhantomData<&'a mut ()>),
    I32(i32),
    U32(u32),
    F32(f32),
}

pub(crate) fn buf<T>(v: &mut [T]) -> Arg<'_> {
    Arg::Buf(v.as_mut_ptr() as *mut c_void, std::marker::PhantomData)
}

impl Emu {
    /// Launches `kernel` with `cfg`; the pointer arguments must cover what the kernel reads
    /// and writes for that shape (the same contract as a device launch).
    pub(crate) fn launch(&self, kernel: &str, cfg: LaunchConfig, args: &mut [Arg<'_>]) {
        // kernelParams: one pointer per argument, to the argument's value.
        let mut ptr_slots: Vec<*mut c_void> = args
            .iter()
            .map(|a| match a {
                Arg::Buf(p, _) => *p,
                _ => std::ptr::null_mut(),
            })
            .collect();
        let mut params: Vec<*mut c_void> = Vec::with_capacity(args.len());
        for (i, a) in args.iter_mut().enumerate() {
            params.push(match a {
                Arg::Buf(..) => &mut ptr_slots[i] as *mut *mut c_void as *mut c_void,
                Arg::I32(v) => v as *mut i32 as *mut c_void,
                Arg::U32(v) => v as *mut u32 as *mut c_void,
                Arg::F32(v) => v as *mut f32 as *mut c_void,
            });
        }
        let name = CString::new(kernel).unwrap();
        // The emulator has one device's worth of global state (fibers, shared memory).
        static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let (g, b) = (cfg.grid_dim, cfg.block_dim);
        // SAFETY: `params` holds one valid pointer per kernel parameter, in order; buffer
        // sizes are the caller's contract, as for a CUDA launch.
        let rc = unsafe {
            (self.launch)(
                name.as_ptr(),
                g.0,
                g.1,
                g.2,
                b.0,
                b.1,
                b.2,
                params.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0, "emulated launch of {kernel} failed ({rc})");
    }

    /// `CudaDevice::gemm_f32` on the emulator.
    pub(crate) fn gemm_f32(&self, m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        self.gemm_f32_with(m, n, k, a, b, |_| {})
    }

    /// [`Emu::gemm_f32`] with the backend's launch shape passed through `tweak` first (tests
    /// use it to show a wrong shape is caught).
    pub(crate) fn gemm_f32_with(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        b: &[f32],
        tweak: impl FnOnce(&mut LaunchConfig),
    ) -> Vec<f32> {
        if m == 0 || n == 0 {
            return Vec::new();
        }
        let mut c = vec![0.0f32; m * n];
        if k == 0 {
            return c;
        }
        let mut cfg = f32_config(m, n).unwrap();
        tweak(&mut cfg);
        let (mut a, mut b) = (a.to_vec(), b.to_vec());
        let (mi, ni, ki) = (m as i32, n as i32, k as i32);
        self.launch(
            "tessera_gemm_f32",
            cfg,
            &mut [
                buf(&mut a),
                buf(&mut b),
                buf(&mut c),
                Arg::I32(mi),
                Arg::I32(ni),
                Arg::I32(ki),
            ],
        );
        c
    }

    /// `CudaDevice::gemm_i8_device` on the emulator (`mma`: tensor-core kernel, else dp4a).
    pub(crate) fn gemm_i8(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &[i8],
        b: &[i8],
        mma: bool,
    ) -> Vec<i32> {
        let mut c = vec![0i32; m * n];
        if m == 0 || n == 0 || k == 0 {
            return c;
        }
        let plan = i8_plan(m, n, k).unwrap();
        let (mp, np, kp) = (plan.mp, plan.np, plan.kp);
        let mut ap = vec![0x5a5a_5a5ai32; mp * kp / 4]; // garbage: the pad kernel writes it all
        let mut bt = vec![0i8; np * kp];
        let (mut a, mut b) = (a.to_vec(), b.to_vec());
        let (mi, ni, ki) = (m as i32, n as i32, k as i32);
        let (mpi, npi, kpi) = (mp as i32, np as i32, kp as i32);
        self.launch(
            "tessera_pad_i8",
            plan.pad,
            &mut [
                buf(&mut a),
                Arg::I32(mi),
                Arg::I32(ki),
                buf(&mut ap),
                Arg::I32(mpi),
                Arg::I32(kpi),
            ],
        );
        self.launch(
            "tessera_transpose_pad_i8",
            plan.transpose,
            &mut [
                buf(&mut b),
                Arg::I32(ki),
                Arg::I32(ni),
                buf(&mut bt),
                Arg::I32(kpi),
                Arg::I32(npi),
            ],
        );
        let kernel = if mma {
            "tessera_gemm_i8_mma"
        } else {
            "tessera_gemm_i8_dp4a"
        };
        self.launch(
            kernel,
            plan.gemm,
            &mut [
                buf(&mut ap),
                buf(&mut bt),
                buf(&mut c),
                Arg::I32(mi),
                Arg::I32(ni),
                Arg::I32(kpi),
            ],
        );
        c
    }

    /// `CudaDevice::mlp_forward` on the emulator.
    pub(crate) fn mlp_forward(
        &self,
        model: &QuantModel,
        batch: usize,
        inputs: &[i8],
        mma: bool,
    ) -> Vec<i32> {
        let mut act = inputs.to_vec();
        let n_layers = model.layers.len();
        for (li, l) in model.layers.iter().enumerate() {
            let (din, dout) = (l.in_dim as usize, l.out_dim as usize);
            let mut acc = self.gemm_i8(batch, dout, din, &act, &l.weights, mma);
            let mut bias = l.bias.clone();
            let (rows, cols) = (batch as i32, dout as i32);
            let cfg = elementwise_cfg(batch * dout).unwrap();
            if li + 1 == n_layers {
                self.launch(
                    "tessera_bias_i32",
                    cfg,
                    &mut [
                        buf(&mut acc),
                        buf(&mut bias),
                        Arg::I32(rows),
                        Arg::I32(cols),
                    ],
                );
                return acc;
            }
            let mut next = vec![0i8; batch * dout];
            self.launch(
                "tessera_requant_i8",
                cfg,
                &mut [
                    buf(&mut acc),
                    buf(&mut bias),
                    buf(&mut next),
                    Arg::I32(rows),
                    Arg::I32(cols),
                    Arg::I32(l.multiplier),
                    Arg::I32(l.shift as i32),
                    Arg::I32(l.relu as i32),
                ],
            );
            act = next;
        }
        panic!("model has no layers");
    }

    /// `CudaDevice::render` on the emulator: RGBA and the total ray segments.
    pub(crate) fn render(&self, scene: &CompiledScene) -> (Vec<u8>, u64) {
        let pixels = scene.width as usize * scene.height as usize;
        let pad_u32 = |v: &[u32]| if v.is_empty() { vec![0u32] } else { v.to_vec() };
        let pad_f32 = |v: &[f32]| if v.is_empty() { vec![0f32] } else { v.to_vec() };
        let (mut ok, mut od) = (pad_u32(&scene.obj_kind), pad_f32(&scene.obj_data));
        let (mut mk, mut md) = (scene.mat_kind.clone(), scene.mat_data.clone());
        let mut cam = scene.camera.to_vec();
        let mut rgba = vec![0u8; pixels * 4];
        let mut rays = vec![0u32; pixels];
        let per_launch = rows_per_launch(scene);
        let mut row0 = 0u32;
        while row0 < scene.height {
            let rows = per_launch.min(scene.height - row0);
            self.launch(
                "tessera_render",
                render_config(scene.width, rows),
                &mut [
                    buf(&mut ok),
                    buf(&mut od),
                    buf(&mut mk),
                    buf(&mut md),
                    buf(&mut cam),
                    Arg::I32(scene.num_objects() as i32),
                    Arg::U32(scene.width),
                    Arg::U32(scene.height),
                    Arg::U32(scene.spp),
                    Arg::U32(scene.max_bounces),
                    Arg::U32(scene.seed),
                    Arg::U32(row0),
                    Arg::U32(rows),
                    buf(&mut rgba),
                    buf(&mut rays),
                ],
            );
            row0 += rows;
        }
        (rgba, rays.iter().map(|&r| r as u64).sum())
    }

    /// `CudaDevice::render_mesh` on the emulator: the tile's radiance and the ray segments.
    pub(crate) fn render_mesh(&self, m: &CompiledMesh) -> (Vec<f32>, u64) {
        let mut b = MeshBuffers::new(m);
        let (tw, th) = (m.tile.w, m.tile.h);
        let mut out = vec![0f32; tw as usize * th as usize * 3];
        let mut rays = vec![0u32; tw as usize * th as usize];
        let per_launch = mesh_rows_per_launch(m);
        let mut row0 = 0u32;
        while row0 < th {
            let rows = per_launch.min(th - row0);
            let s = b.scalars(m, row0, rows);
            let mut args: Vec<Arg> = vec![
                buf(&mut b.tri),
                buf(&mut b.tri_info),
                buf(&mut b.normals),
                buf(&mut b.uvs),
                buf(&mut b.mat_kind),
                buf(&mut b.mat_tex),
                buf(&mut b.mat),
                buf(&mut b.tex_info),
                buf(&mut b.texels),
                buf(&mut b.light_tri),
                buf(&mut b.light_cdf),
                buf(&mut b.light_pdf),
                buf(&mut b.node_box),
                buf(&mut b.node_meta),
                buf(&mut b.camera),
                buf(&mut b.env),
            ];
            args.extend(s.u32s[..4].iter().map(|&v| Arg::U32(v)));
            args.push(Arg::F32(s.ray_eps));
            args.extend(s.u32s[4..].iter().map(|&v| Arg::U32(v)));
            args.push(buf(&mut out));
            args.push(buf(&mut rays));
            self.launch("tessera_render_mesh", render_config(tw, rows), &mut args);
            row0 += rows;
        }
        (out, rays.iter().map(|&r| r as u64).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::{self, cpu};
    use crate::inference;
    use crate::render::{self, scene::SceneFile};
    use crate::rng::SplitMix64;
    use crate::testcases::{
        canonical_bits, random_models, special_f32_values, INFERENCE_BATCHES, MODEL_BATCH,
        ODD_SIZES, RENDER_CASES, SPECIAL_SHAPE,
    };

    // The cases of tests/gpu.rs (crate::testcases), run through the emulator.

    #[test]
    fn emulated_mesh_render_is_bit_identical_to_the_cpu() {
        use crate::render::mesh_blob::{self, Tile};
        use crate::render::{mesh_cpu, mesh_scenes};
        let Some(emu) = emu() else { return };
        let mut empty = mesh_scenes::cornell(5, 3, 2);
        empty.triangles.clear();
        empty.background = [0.2, 0.4, 0.8];
        let cases = [
            (
                "cornell",
                mesh_scenes::cornell(40, 30, 4),
                Tile::full(40, 30),
            ),
            (
                "cornell tile",
                mesh_scenes::cornell(40, 30, 3),
                Tile {
                    x0: 13,
                    y0: 7,
                    w: 17,
                    h: 19,
                },
            ),
            (
                "soup",
                mesh_scenes::random_soup(400, 5).0,
                Tile::full(24, 24),
            ),
            ("empty", empty, Tile::full(5, 3)),
            (
                "principled",
                mesh_scenes::principled_mix(32, 24, 4),
                Tile::full(32, 24),
            ),
            (
                "sky",
                mesh_scenes::sky_lit(32, 24, 4, false),
                Tile::full(32, 24),
            ),
            (
                "sky and lights",
                mesh_scenes::sky_lit(32, 24, 4, true),
                Tile::full(32, 24),
            ),
        ];
        for (name, mut scene, tile) in cases {
            scene.width = scene.width.max(tile.x0 + tile.w);
            scene.height = scene.height.max(tile.y0 + tile.h);
            let specs: &[u16] = if scene.environment.is_some() {
                &[mesh_blob::SPEC]
            } else {
                &[mesh_blob::SPEC_LEGACY, mesh_blob::SPEC]
            };
            for &spec in specs {
                let blob = mesh_blob::encode_spec(&scene, tile, spec).unwrap();
                let m = mesh_blob::parse_spec(&blob[8..], spec, u64::MAX).unwrap();
                let (want, want_rays) = mesh_cpu::render(&m);
                let (got, rays) = emu.render_mesh(&m);
                assert_eq!(
                    canonical_bits(&got),
                    canonical_bits(&want),
                    "{name}, spec {spec}"
                );
                assert_eq!(rays, want_rays, "{name}, spec {spec}: segments");
            }
        }
    }

    #[test]
    fn emulated_f32_gemm_kernel_is_bit_identical_to_the_cpu() {
        let Some(emu) = emu() else { return };
        for (i, &(m, n, k)) in ODD_SIZES.iter().enumerate() {
            let (a, b) = gemm::random_f32(m as u32, n as u32, k as u32, 1000 + i as u64);
            let want = cpu::gemm_f32(m, n, k, &a, &b);
            let got = emu.gemm_f32(m, n, k, &a, &b);
            assert_eq!(
                canonical_bits(&got),
                canonical_bits(&want),
                "f32 {m}x{n}x{k}"
            );
        }
        let (m, n, k) = SPECIAL_SHAPE;
        let a = special_f32_values(m * k, 5);
        let b = special_f32_values(k * n, 6);
        assert_eq!(
            canonical_bits(&emu.gemm_f32(m, n, k, &a, &b)),
            canonical_bits(&cpu::gemm_f32(m, n, k, &a, &b)),
            "f32 special values"
        );
    }

    #[test]
    fn emulated_int8_gemm_kernels_equal_the_cpu_on_both_paths() {
        let Some(emu) = emu() else { return };
        for mma in [true, false] {
            for (i, &(m, n, k)) in ODD_SIZES.iter().enumerate() {
                let (a, b) = gemm::random_i8(m as u32, n as u32, k as u32, 2000 + i as u64);
                let want = cpu::gemm_i8(m, n, k, &a, &b);
                assert_eq!(
                    emu.gemm_i8(m, n, k, &a, &b, mma),
                    want,
                    "i8 {m}x{n}x{k} mma={mma}"
                );
            }
            // Extremes: every product is +16384. (tests/gpu.rs also runs K = 140 001, where
            // the sums wrap; emulated, that one case takes ~50 s of fiber switching, and the
            // wrap is plain 32-bit unsigned addition in both the shim and the kernel.)
            let (m, n, k) = (5, 9, 4097);
            let a = vec![-128i8; m * k];
            let b = vec![-128i8; k * n];
            assert_eq!(
                emu.gemm_i8(m, n, k, &a, &b, mma),
                cpu::gemm_i8(m, n, k, &a, &b)
            );
        }
    }

    #[test]
    fn emulated_int8_gemm_matches_on_random_shapes() {
        let Some(emu) = emu() else { return };
        let mut r = SplitMix64::new(99);
        for case in 0..12 {
            let m = 1 + r.below(200) as usize;
            let n = 1 + r.below(200) as usize;
            let k = 1 + r.below(300) as usize;
            let (a, b) = gemm::random_i8(m as u32, n as u32, k as u32, 3000 + case);
            let want = cpu::gemm_i8_naive(m, n, k, &a, &b);
            assert_eq!(
                emu.gemm_i8(m, n, k, &a, &b, case % 2 == 0),
                want,
                "i8 {m}x{n}x{k}"
            );
            let (a, b) = gemm::random_f32(m as u32, n as u32, k as u32, 4000 + case);
            let want = cpu::gemm_f32_naive(m, n, k, &a, &b);
            assert_eq!(
                canonical_bits(&emu.gemm_f32(m, n, k, &a, &b)),
                canonical_bits(&want),
                "f32 {m}x{n}x{k}"
            );
        }
    }

    /// The comparison can fail: a grid one tile short leaves outputs unwritten.
    #[test]
    fn a_wrong_launch_shape_is_caught() {
        let Some(emu) = emu() else { return };
        let (m, n, k) = (130, 257, 20);
        let (a, b) = gemm::random_f32(m as u32, n as u32, k as u32, 7);
        let got = emu.gemm_f32_with(m, n, k, &a, &b, |cfg| cfg.grid_dim.0 -= 1);
        assert_ne!(
            canonical_bits(&got),
            canonical_bits(&cpu::gemm_f32(m, n, k, &a, &b))
        );
    }

    #[test]
    fn emulated_render_kernel_is_bit_identical_to_the_cpu() {
        let Some(emu) = emu() else { return };
        // The device cases plus the start-up self-test's 19×13 and a 7-row image.
        let extra = [
            (render::CORNELL_JSON, 19, 13, 2),
            (render::SPHERES_JSON, 20, 7, 3),
        ];
        for (json, w, h, spp) in RENDER_CASES.into_iter().chain(extra) {
            let text = render::with_resolution(json, w, h, spp).unwrap();
            let scene = SceneFile::from_json(text.as_bytes())
                .unwrap()
                .validate_and_compile()
                .unwrap();
            let (want, rays) = render::cpu::render(&scene);
            let (got, got_rays) = emu.render(&scene);
            assert_eq!(got, want, "render {w}x{h}x{spp}");
            assert_eq!(got_rays, rays, "ray count {w}x{h}x{spp}");
        }
    }

    #[test]
    fn emulated_inference_equals_the_cpu() {
        let Some(emu) = emu() else { return };
        let model = inference::builtin_model();
        for (i, batch) in INFERENCE_BATCHES.into_iter().enumerate() {
            let (x, _) = inference::spiral_batch(batch * 3, batch as u64);
            let rows = x.len() / 2;
            let mma = i % 2 == 0;
            assert_eq!(
                emu.mlp_forward(model, rows, &x, mma),
                inference::cpu::forward(model, rows, &x),
                "batch {rows} mma={mma}"
            );
        }
        for (model, x) in random_models(77) {
            assert_eq!(
                emu.mlp_forward(&model, MODEL_BATCH, &x, true),
                inference::cpu::forward(&model, MODEL_BATCH, &x)
            );
        }
    }
}
