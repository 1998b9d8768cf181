//! The cases every GPU path must reproduce the CPU on, byte for byte. One list serves the real
//! device (`tests/gpu.rs`) and the host emulator of the CUDA kernels (`cuda::emu`), so what the
//! emulator proves here is what the device is asked for there.

use crate::gemm::CANONICAL_NAN;
use crate::inference::model::{QuantLayer, QuantModel};
use crate::render;
use crate::rng::SplitMix64;

/// GEMM shapes (M, N, K): 1×1, empty M / K, tile edges (127/128/129), K not a multiple of the
/// K step, long and thin.
pub const ODD_SIZES: [(usize, usize, usize); 12] = [
    (1, 1, 1),
    (1, 1, 0),
    (0, 3, 3),
    (2, 3, 4),
    (17, 1, 33),
    (1, 300, 7),
    (127, 129, 65),
    (128, 128, 128),
    (129, 257, 31),
    (300, 17, 1000),
    (513, 511, 77),
    (64, 700, 259),
];

/// Shape of the special-value f32 case.
pub const SPECIAL_SHAPE: (usize, usize, usize) = (67, 45, 301);

/// `len` f32 values over many binades with ±0, subnormals, infinities and NaNs mixed in.
pub fn special_f32_values(len: usize, seed: u64) -> Vec<f32> {
    let mut r = SplitMix64::new(seed);
    (0..len)
        .map(|_| {
            let x = r.next_u32();
            match x % 50 {
                0 => f32::INFINITY,
                1 => f32::NAN,
                2 => -0.0,
                3 => 1e-45,
                _ => {
                    f32::from_bits(((x >> 31) << 31) | ((40 + x % 180) << 23) | (r.next_u32() >> 9))
                }
            }
        })
        .collect()
}

/// Bit patterns with every NaN made canonical (how results are hashed).
pub fn canonical_bits(v: &[f32]) -> Vec<u32> {
    v.iter()
        .map(|x| {
            if x.is_nan() {
                CANONICAL_NAN
            } else {
                x.to_bits()
            }
        })
        .collect()
}

/// Render cases: (scene JSON, width, height, samples per pixel); odd sizes, 1×1 and images
/// shorter than one 16-row block.
pub const RENDER_CASES: [(&str, u32, u32, u32); 5] = [
    (render::CORNELL_JSON, 1, 1, 1),
    (render::CORNELL_JSON, 37, 23, 8),
    (render::CORNELL_JSON, 128, 128, 16),
    (render::SPHERES_JSON, 61, 17, 5),
    (render::SPHERES_JSON, 160, 90, 16),
];

/// Batch sizes for the built-in model.
pub const INFERENCE_BATCHES: [usize; 4] = [1, 7, 300, 4099];

/// Layer widths of the random models (odd widths, a 1-wide layer).
pub const MODEL_DIMS: [[u32; 4]; 3] = [[3, 130, 67, 5], [200, 33, 1, 9], [64, 64, 64, 10]];

/// Batch of the random models.
pub const MODEL_BATCH: usize = 133;

/// The random models of [`MODEL_DIMS`] with their inputs, all from one seed.
pub fn random_models(seed: u64) -> Vec<(QuantModel, Vec<i8>)> {
    let mut r = SplitMix64::new(seed);
    MODEL_DIMS
        .iter()
        .map(|dims| {
            let layers = dims
                .windows(2)
                .map(|w| QuantLayer {
                    in_dim: w[0],
                    out_dim: w[1],
                    weights: (0..w[0] * w[1]).map(|_| r.next_i8()).collect(),
                    bias: (0..w[1])
                        .map(|_| (r.next_u32() % 4001) as i32 - 2000)
                        .collect(),
                    multiplier: (r.next_u32() >> 1) as i32,
                    shift: 20 + (r.next_u32() % 16) as u8,
                    relu: true,
                })
                .collect();
            let model = QuantModel {
                input_dim: dims[0],
                layers,
            };
            let x = (0..MODEL_BATCH * dims[0] as usize)
                .map(|_| r.next_i8())
                .collect();
            (model, x)
        })
        .collect()
}
