//! Quantized MLP model: binary format, the built-in model and its deterministic training.
//!
//! ## Model blob (`TSMQ`, little-endian)
//!
//! | field        | type            | notes                                          |
//! |--------------|-----------------|------------------------------------------------|
//! | magic        | `[u8; 4]`       | `TSMQ`                                         |
//! | version      | u16             | 1                                              |
//! | num_layers   | u16             | 1..=16                                         |
//! | input_dim    | u32             | 1..=65536                                      |
//! | per layer:   |                 |                                                |
//! | in_dim       | u32             | = previous out_dim (or input_dim)              |
//! | out_dim      | u32             | 1..=65536                                      |
//! | multiplier   | i32             | 0..=2^31-1 (requantization, hidden layers)     |
//! | shift        | u8              | 0..=40                                         |
//! | relu         | u8              | 0 or 1                                         |
//! | reserved     | u16             | 0                                              |
//! | weights      | `i8[in·out]`    | row-major `in_dim × out_dim`                   |
//! | bias         | `i32[out]`      |                                                |
//!
//! Hidden layer: `y = clamp(((acc + bias)·multiplier + 2^(shift-1)) >> shift, -128, 127)`
//! (arithmetic shift, rounding term omitted when shift = 0, products in i64, `acc + bias`
//! wrapping in i32), then ReLU if set. The last layer outputs `acc + bias` (int32 logits).

// Training loops index several parallel arrays by the same counter.
#![allow(clippy::needless_range_loop)]

use std::sync::OnceLock;

use crate::error::{ComputeError, Result};
use crate::format::Reader;
use crate::render::math::{exp, sincos_turns};
use crate::rng::SplitMix64;

/// Model blob magic.
pub const MODEL_MAGIC: [u8; 4] = *b"TSMQ";
/// Model format version.
pub const MODEL_VERSION: u16 = 1;
/// Maximum layers.
pub const MAX_LAYERS: usize = 16;
/// Maximum width of any layer.
pub const MAX_WIDTH: u32 = 65_536;
/// Maximum requantization shift.
pub const MAX_SHIFT: u8 = 40;

/// One quantized dense layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantLayer {
    /// Inputs.
    pub in_dim: u32,
    /// Outputs.
    pub out_dim: u32,
    /// Weights, row-major `in_dim × out_dim`.
    pub weights: Vec<i8>,
    /// Bias in accumulator units.
    pub bias: Vec<i32>,
    /// Fixed-point multiplier (hidden layers).
    pub multiplier: i32,
    /// Right shift (hidden layers).
    pub shift: u8,
    /// ReLU after requantization (hidden layers).
    pub relu: bool,
}

/// A quantized MLP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantModel {
    /// Input features.
    pub input_dim: u32,
    /// Layers, first to last.
    pub layers: Vec<QuantLayer>,
}

/// Requantizes one accumulator (the hidden-layer epilogue, see module docs).
#[inline]
pub fn requantize(acc: i32, bias: i32, multiplier: i32, shift: u8, relu: bool) -> i8 {
    let v = acc.wrapping_add(bias) as i64;
    let mut p = v * multiplier as i64;
    if shift > 0 {
        p = (p + (1i64 << (shift - 1))) >> shift;
    }
    let mut y = p.clamp(-128, 127);
    if relu && y < 0 {
        y = 0;
    }
    y as i8
}

impl QuantModel {
    /// Number of output classes.
    pub fn output_dim(&self) -> u32 {
        self.layers.last().map(|l| l.out_dim).unwrap_or(0)
    }

    /// Multiply-accumulates per input row.
    pub fn macs_per_row(&self) -> u64 {
        self.layers
            .iter()
            .map(|l| l.in_dim as u64 * l.out_dim as u64)
            .sum()
    }

    /// Widest layer (inputs included).
    pub fn max_width(&self) -> u32 {
        self.layers
            .iter()
            .map(|l| l.out_dim)
            .fold(self.input_dim, u32::max)
    }

    /// Parses and validates a model blob.
    pub fn parse(bytes: &[u8]) -> Result<QuantModel> {
        let bad = |m: String| ComputeError::Model(m);
        let mut r = Reader::new(bytes);
        let magic = r.array::<4>("model magic")?;
        if magic != MODEL_MAGIC {
            return Err(ComputeError::BadMagic {
                found: magic,
                expected: "TSMQ",
            });
        }
        let version = r.u16("model version")?;
        if version != MODEL_VERSION {
            return Err(bad(format!(
                "model version {version}, expected {MODEL_VERSION}"
            )));
        }
        let n_layers = r.u16("layer count")? as usize;
        if n_layers == 0 || n_layers > MAX_LAYERS {
            return Err(bad(format!("{n_layers} layers, expected 1..={MAX_LAYERS}")));
        }
        let input_dim = r.u32("input dim")?;
        if input_dim == 0 || input_dim > MAX_WIDTH {
            return Err(bad(format!(
                "input_dim {input_dim} outside 1..={MAX_WIDTH}"
            )));
        }
        let mut prev = input_dim;
        let mut layers = Vec::with_capacity(n_layers);
        for i in 0..n_layers {
            let in_dim = r.u32("layer in_dim")?;
            let out_dim = r.u32("layer out_dim")?;
            if in_dim != prev {
                return Err(bad(format!(
                    "layer {i}: in_dim {in_dim} != previous width {prev}"
                )));
            }
            if out_dim == 0 || out_dim > MAX_WIDTH {
                return Err(bad(format!(
                    "layer {i}: out_dim {out_dim} outside 1..={MAX_WIDTH}"
                )));
            }
            let multiplier = r.i32("multiplier")?;
            let shift = r.u8("shift")?;
            let relu = r.u8("relu")?;
            let reserved = r.u16("reserved")?;
            if multiplier < 0 {
                return Err(bad(format!("layer {i}: negative multiplier {multiplier}")));
            }
            if shift > MAX_SHIFT {
                return Err(bad(format!("layer {i}: shift {shift} > {MAX_SHIFT}")));
            }
            if relu > 1 || reserved != 0 {
                return Err(bad(format!(
                    "layer {i}: relu flag {relu} / reserved {reserved}"
                )));
            }
            let weights = r.bytes(in_dim as u64 * out_dim as u64, "layer weights")?;
            let bias = r.bytes(out_dim as u64 * 4, "layer bias")?;
            layers.push(QuantLayer {
                in_dim,
                out_dim,
                weights: weights.iter().map(|&b| b as i8).collect(),
                bias: crate::format::i32s_from_le(bias),
                multiplier,
                shift,
                relu: relu == 1,
            });
            prev = out_dim;
        }
        r.finish("model")?;
        Ok(QuantModel { input_dim, layers })
    }

    /// Serializes to the model blob format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MODEL_MAGIC);
        out.extend_from_slice(&MODEL_VERSION.to_le_bytes());
        out.extend_from_slice(&(self.layers.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.input_dim.to_le_bytes());
        for l in &self.layers {
            out.extend_from_slice(&l.in_dim.to_le_bytes());
            out.extend_from_slice(&l.out_dim.to_le_bytes());
            out.extend_from_slice(&l.multiplier.to_le_bytes());
            out.push(l.shift);
            out.push(l.relu as u8);
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend(l.weights.iter().map(|&w| w as u8));
            for b in &l.bias {
                out.extend_from_slice(&b.to_le_bytes());
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Built-in model: a 2-D three-arm spiral classifier trained deterministically in f32.
// ---------------------------------------------------------------------------------------------

/// Classes of the built-in spiral task.
pub const SPIRAL_CLASSES: usize = 3;
/// Hidden width of the built-in model.
pub const HIDDEN: usize = 32;
/// Seed of the training set.
pub const TRAIN_SEED: u64 = 0x7E55_E4A0;
/// Seed of the held-out test set.
pub const TEST_SEED: u64 = 0x7E55_7E57;

/// Synthetic three-arm spiral: `n` points per class, coordinates in about [-1, 1].
/// Returns `(points, labels)`.
pub fn spiral_dataset(n_per_class: usize, seed: u64) -> (Vec<[f32; 2]>, Vec<u8>) {
    let mut rng = SplitMix64::new(seed);
    let mut pts = Vec::with_capacity(n_per_class * SPIRAL_CLASSES);
    let mut labels = Vec::with_capacity(n_per_class * SPIRAL_CLASSES);
    for i in 0..n_per_class {
        for c in 0..SPIRAL_CLASSES {
            let t = rng.next_f32();
            let r = 0.1 + 0.85 * t;
            let noise = (rng.next_f32() + rng.next_f32() - 1.0) * 0.05;
            let turns = c as f32 / 3.0 + 1.1 * t + noise;
            let frac = turns - (turns as i32) as f32;
            let frac = if frac < 0.0 { frac + 1.0 } else { frac };
            let (s, co) = sincos_turns(frac);
            pts.push([r * co, r * s]);
            labels.push(c as u8);
            let _ = i;
        }
    }
    (pts, labels)
}

/// Quantizes points to the model's int8 input (`round(x·127)`, clamped).
pub fn quantize_points(pts: &[[f32; 2]]) -> Vec<i8> {
    pts.iter()
        .flat_map(|p| {
            p.iter()
                .map(|&x| (x * 127.0).round().clamp(-127.0, 127.0) as i8)
        })
        .collect()
}

struct FloatMlp {
    dims: Vec<usize>,
    w: Vec<Vec<f32>>, // in × out
    b: Vec<Vec<f32>>,
}

impl FloatMlp {
    fn new(dims: &[usize], rng: &mut SplitMix64) -> Self {
        let mut w = Vec::new();
        let mut b = Vec::new();
        for l in 0..dims.len() - 1 {
            let a = (6.0f32 / dims[l] as f32).sqrt();
            w.push(
                (0..dims[l] * dims[l + 1])
                    .map(|_| rng.range_f32(-a, a))
                    .collect(),
            );
            b.push(vec![0.0; dims[l + 1]]);
        }
        Self {
            dims: dims.to_vec(),
            w,
            b,
        }
    }

    /// Forward pass; returns activations of every layer (post-ReLU for hidden layers).
    fn forward(&self, x: &[f32]) -> Vec<Vec<f32>> {
        let mut acts = vec![x.to_vec()];
        let nl = self.w.len();
        for l in 0..nl {
            let (din, dout) = (self.dims[l], self.dims[l + 1]);
            let inp = &acts[l];
            let mut out = self.b[l].clone();
            for i in 0..din {
                let xi = inp[i];
                let row = &self.w[l][i * dout..(i + 1) * dout];
                for (o, &wv) in out.iter_mut().zip(row) {
                    *o += xi * wv;
                }
            }
            if l + 1 < nl {
                for o in out.iter_mut() {
                    if *o < 0.0 {
                        *o = 0.0;
                    }
                }
            }
            acts.push(out);
        }
        acts
    }
}

fn softmax(z: &[f32]) -> Vec<f32> {
    let m = z.iter().fold(f32::MIN, |a, &b| if b > a { b } else { a });
    let e: Vec<f32> = z.iter().map(|&v| exp(v - m)).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|&v| v / s).collect()
}

/// Trains the float model (deterministic: fixed seed, fixed order, only correctly rounded
/// operations and the crate's own `exp`), then quantizes it.
pub fn train_builtin() -> QuantModel {
    let dims = [2usize, HIDDEN, HIDDEN, SPIRAL_CLASSES];
    let (pts, labels) = spiral_dataset(300, TRAIN_SEED);
    let mut rng = SplitMix64::new(0xC0FFEE);
    let mut net = FloatMlp::new(&dims, &mut rng);
    let nl = net.w.len();
    // Adam state.
    let mut mw: Vec<Vec<f32>> = net.w.iter().map(|w| vec![0.0; w.len()]).collect();
    let mut vw = mw.clone();
    let mut mb: Vec<Vec<f32>> = net.b.iter().map(|b| vec![0.0; b.len()]).collect();
    let mut vb = mb.clone();
    let (lr, b1, b2, eps) = (0.01f32, 0.9f32, 0.999f32, 1e-8f32);
    let (mut b1t, mut b2t) = (1.0f32, 1.0f32);
    let n = pts.len();
    let batch = 32;
    let mut order: Vec<usize> = (0..n).collect();
    for _epoch in 0..120 {
        // Fisher-Yates with the deterministic generator.
        for i in (1..n).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        for chunk in order.chunks(batch) {
            let mut gw: Vec<Vec<f32>> = net.w.iter().map(|w| vec![0.0; w.len()]).collect();
            let mut gb: Vec<Vec<f32>> = net.b.iter().map(|b| vec![0.0; b.len()]).collect();
            for &idx in chunk {
                let acts = net.forward(&pts[idx]);
                let p = softmax(&acts[nl]);
                let mut delta: Vec<f32> = p.clone();
                delta[labels[idx] as usize] -= 1.0;
                for l in (0..nl).rev() {
                    let (din, dout) = (dims[l], dims[l + 1]);
                    let inp = &acts[l];
                    for i in 0..din {
                        for o in 0..dout {
                            gw[l][i * dout + o] += inp[i] * delta[o];
                        }
                    }
                    for o in 0..dout {
                        gb[l][o] += delta[o];
                    }
                    if l > 0 {
                        let mut nd = vec![0.0f32; din];
                        for (i, ndi) in nd.iter_mut().enumerate() {
                            if inp[i] > 0.0 {
                                let row = &net.w[l][i * dout..(i + 1) * dout];
                                let mut s = 0.0f32;
                                for o in 0..dout {
                                    s += row[o] * delta[o];
                                }
                                *ndi = s;
                            }
                        }
                        delta = nd;
                    }
                }
            }
            b1t *= b1;
            b2t *= b2;
            let scale = 1.0 / chunk.len() as f32;
            let step = |p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]| {
                for i in 0..p.len() {
                    let gi = g[i] * scale;
                    m[i] = b1 * m[i] + (1.0 - b1) * gi;
                    v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
                    let mh = m[i] / (1.0 - b1t);
                    let vh = v[i] / (1.0 - b2t);
                    p[i] -= lr * mh / (vh.sqrt() + eps);
                }
            };
            for l in 0..nl {
                step(&mut net.w[l], &gw[l], &mut mw[l], &mut vw[l]);
                step(&mut net.b[l], &gb[l], &mut mb[l], &mut vb[l]);
            }
        }
    }
    quantize(&net, &pts)
}

/// Post-training quantization: per-tensor symmetric int8 weights, activation scales
/// calibrated on `calib` (max post-ReLU activation), fixed-point multipliers in [2^30, 2^31).
fn quantize(net: &FloatMlp, calib: &[[f32; 2]]) -> QuantModel {
    let nl = net.w.len();
    // Calibrate activation ranges (f64 for the host-side quantization arithmetic).
    let mut act_max = vec![0.0f64; nl + 1];
    act_max[0] = 1.0; // inputs quantized with scale 1/127
    for p in calib {
        let acts = net.forward(p);
        for l in 1..nl {
            for &a in &acts[l] {
                if a as f64 > act_max[l] {
                    act_max[l] = a as f64;
                }
            }
        }
    }
    let mut layers = Vec::new();
    let mut s_in = 1.0f64 / 127.0;
    for l in 0..nl {
        let (din, dout) = (net.dims[l], net.dims[l + 1]);
        let wmax = net.w[l]
            .iter()
            .fold(0.0f64, |a, &w| a.max((w as f64).abs()))
            .max(1e-12);
        let sw = wmax / 127.0;
        let weights: Vec<i8> = net.w[l]
            .iter()
            .map(|&w| (w as f64 / sw).round().clamp(-127.0, 127.0) as i8)
            .collect();
        let bias: Vec<i32> = net.b[l]
            .iter()
            .map(|&b| (b as f64 / (s_in * sw)).round() as i32)
            .collect();
        let last = l + 1 == nl;
        let (multiplier, shift, s_out) = if last {
            (0, 0, 1.0)
        } else {
            let s_out = act_max[l + 1].max(1e-12) / 127.0;
            let real = s_in * sw / s_out;
            // mult / 2^shift ≈ real with mult in [2^30, 2^31).
            let mut shift = 0u8;
            let mut m = real;
            while m < (1u64 << 30) as f64 && shift < MAX_SHIFT {
                m *= 2.0;
                shift += 1;
            }
            let mult = m.round().min(i32::MAX as f64) as i32;
            (mult, shift, s_out)
        };
        layers.push(QuantLayer {
            in_dim: din as u32,
            out_dim: dout as u32,
            weights,
            bias,
            multiplier,
            shift,
            relu: !last,
        });
        s_in = s_out;
    }
    QuantModel {
        input_dim: net.dims[0] as u32,
        layers,
    }
}

/// The built-in spiral classifier (trained on first use, then cached for the process).
pub fn builtin_model() -> &'static QuantModel {
    static MODEL: OnceLock<QuantModel> = OnceLock::new();
    MODEL.get_or_init(train_builtin)
}
