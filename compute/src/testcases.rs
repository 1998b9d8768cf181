//! The cases every GPU path must reproduce the CPU on, byte for byte. One list serves the real
//! device (`tests/gpu.rs`) and the host emulator of the CUDA kernels (`cuda::emu`), so what the
//! emulator proves here is what the device is asked for there.

use crate::embed::model::{BertConfig, EmbedModel, Layer};
use crate::gemm::CANONICAL_NAN;
use crate::inference::model::{QuantLayer, QuantModel};
use crate::render;
use crate::rng::SplitMix64;

pub mod decoder;

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

/// The shape of a random test encoder (BERT layout, random weights).
#[derive(Debug, Clone, Copy)]
pub struct EmbedShape {
    /// `hidden_size`.
    pub hidden: usize,
    /// `num_attention_heads` (divides `hidden`).
    pub heads: usize,
    /// `num_hidden_layers`.
    pub layers: usize,
    /// `intermediate_size`.
    pub inter: usize,
    /// `max_position_embeddings`.
    pub positions: usize,
    /// `vocab_size`.
    pub vocab: usize,
    /// Projection and embedding weights are uniform in `±scale/2` (LayerNorm weights
    /// `1 ± 0.05`): 0.4 is BERT-like; larger values drive the softmax into saturation.
    pub scale: f32,
}

impl EmbedShape {
    /// A BERT-like shape: 512 positions, a 1 000-token vocabulary, weights of scale 0.4.
    pub fn bert(hidden: usize, heads: usize, layers: usize, inter: usize) -> Self {
        EmbedShape {
            hidden,
            heads,
            layers,
            inter,
            positions: 512,
            vocab: 1000,
            scale: 0.4,
        }
    }

    /// Its `config.json`.
    pub fn config_json(&self) -> String {
        format!(
            r#"{{"hidden_size": {}, "num_hidden_layers": {}, "num_attention_heads": {},
 "intermediate_size": {}, "max_position_embeddings": {}, "vocab_size": {},
 "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}}"#,
            self.hidden, self.layers, self.heads, self.inter, self.positions, self.vocab
        )
    }
}

/// A random encoder of shape `s` (built directly in the loaded layout: linear weights
/// `[in, out]`), its config checked as a model blob's would be.
pub fn random_embed_model(s: &EmbedShape, seed: u64) -> EmbedModel {
    let config = BertConfig::parse(s.config_json().as_bytes()).expect("valid test shape");
    let mut r = SplitMix64::new(seed);
    let (h, i) = (s.hidden, s.inter);
    let mut w = |n: usize| -> Vec<f32> { (0..n).map(|_| s.scale * (r.next_f32() - 0.5)).collect() };
    let mut r2 = SplitMix64::new(seed ^ 0x4c4e);
    let mut ln = || -> Vec<f32> { (0..h).map(|_| 1.0 + 0.1 * (r2.next_f32() - 0.5)).collect() };
    EmbedModel {
        word: w(s.vocab * h),
        position: w(s.positions * h),
        token_type: w(2 * h),
        emb_ln_w: ln(),
        emb_ln_b: w(h),
        layers: (0..s.layers)
            .map(|_| Layer {
                q_w: w(h * h),
                q_b: w(h),
                k_w: w(h * h),
                k_b: w(h),
                v_w: w(h * h),
                v_b: w(h),
                o_w: w(h * h),
                o_b: w(h),
                ln1_w: ln(),
                ln1_b: w(h),
                i_w: w(h * i),
                i_b: w(i),
                out_w: w(i * h),
                out_b: w(h),
                ln2_w: ln(),
                ln2_b: w(h),
            })
            .collect(),
        config,
    }
}

/// The model blob (`config.json` + `model.safetensors` with BERT's tensor names and `[out, in]`
/// linear weights) of [`random_embed_model`]`(s, seed)`: what a client's own encoder looks
/// like to a worker.
pub fn random_embed_model_blob(s: &EmbedShape, seed: u64) -> Vec<u8> {
    use safetensors::tensor::{Dtype, TensorView};
    let m = random_embed_model(s, seed);
    let (h, i) = (s.hidden, s.inter);
    let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    // loaded as `[in, out]`: stored transposed
    let t = |w: &[f32], inp: usize, out: usize| {
        let mut o = vec![0f32; w.len()];
        for r in 0..inp {
            for c in 0..out {
                o[c * inp + r] = w[r * out + c];
            }
        }
        o
    };
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = vec![
        (
            "embeddings.word_embeddings.weight".into(),
            vec![s.vocab, h],
            bytes(&m.word),
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            vec![s.positions, h],
            bytes(&m.position),
        ),
        (
            "embeddings.token_type_embeddings.weight".into(),
            vec![2, h],
            bytes(&m.token_type),
        ),
        (
            "embeddings.LayerNorm.weight".into(),
            vec![h],
            bytes(&m.emb_ln_w),
        ),
        (
            "embeddings.LayerNorm.bias".into(),
            vec![h],
            bytes(&m.emb_ln_b),
        ),
    ];
    for (l, y) in m.layers.iter().enumerate() {
        let p = format!("encoder.layer.{l}");
        let lin = [
            ("attention.self.query", &y.q_w, &y.q_b, h, h),
            ("attention.self.key", &y.k_w, &y.k_b, h, h),
            ("attention.self.value", &y.v_w, &y.v_b, h, h),
            ("attention.output.dense", &y.o_w, &y.o_b, h, h),
            ("intermediate.dense", &y.i_w, &y.i_b, h, i),
            ("output.dense", &y.out_w, &y.out_b, i, h),
        ];
        for (name, w, b, inp, out) in lin {
            tensors.push((
                format!("{p}.{name}.weight"),
                vec![out, inp],
                bytes(&t(w, inp, out)),
            ));
            tensors.push((format!("{p}.{name}.bias"), vec![out], bytes(b)));
        }
        for (name, v) in [
            ("attention.output.LayerNorm.weight", &y.ln1_w),
            ("attention.output.LayerNorm.bias", &y.ln1_b),
            ("output.LayerNorm.weight", &y.ln2_w),
            ("output.LayerNorm.bias", &y.ln2_b),
        ] {
            tensors.push((format!("{p}.{name}"), vec![h], bytes(v)));
        }
    }
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, shape, data)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, shape.clone(), data).expect("tensor"),
            )
        })
        .collect();
    let st = safetensors::serialize(views, None).expect("safetensors");
    crate::embed::encode_model(s.config_json().as_bytes(), None, &st).expect("a valid model")
}

/// Random token ids below `vocab`, one sequence per entry of `lens`.
pub fn random_token_seqs(vocab: usize, lens: &[usize], seed: u64) -> Vec<Vec<u32>> {
    let mut r = SplitMix64::new(seed);
    lens.iter()
        .map(|&l| (0..l).map(|_| r.below(vocab as u64) as u32).collect())
        .collect()
}

const fn shape(
    hidden: usize,
    heads: usize,
    layers: usize,
    inter: usize,
    positions: usize,
    scale: f32,
) -> EmbedShape {
    EmbedShape {
        hidden,
        heads,
        layers,
        inter,
        positions,
        vocab: 61,
        scale,
    }
}

/// Encoder cases: (shape, sequence lengths of the batch). Hidden sizes off every tile
/// (12, 20, 21, 36 with 3 to 5 heads, head sizes 4 to 12), one layer and three, a batch of one
/// sequence of one token, lengths 1 to the model's maximum in one batch, a saturating
/// softmax (large weights), and a 2048-token sequence whose attention tiles hold exactly
/// `4 × 2048` scores (the per-block maximum) next to tiles left partial (600 tokens).
pub const EMBED_CASES: [(EmbedShape, &[usize]); 7] = [
    (shape(12, 3, 1, 20, 16, 0.4), &[1]),
    (shape(36, 3, 2, 50, 64, 0.4), &[64, 1, 33, 5, 64, 2]),
    (shape(21, 3, 1, 7, 40, 0.4), &[40]),
    (shape(20, 4, 3, 33, 24, 0.4), &[3, 24, 1, 9, 17]),
    (shape(20, 5, 1, 16, 30, 0.4), &[30, 29, 1]),
    (shape(12, 3, 2, 24, 16, 3.0), &[16, 7, 1]),
    (shape(5, 1, 1, 3, 2048, 0.4), &[2048, 600, 1, 17]),
];

/// A MiniLM-width encoder (hidden 384, 12 heads of 32, intermediate 1536) for the bigger
/// cases: several GEMM tiles in every dimension.
pub const EMBED_WIDE: EmbedShape = EmbedShape {
    hidden: 384,
    heads: 12,
    layers: 1,
    inter: 1536,
    positions: 80,
    vocab: 300,
    scale: 0.4,
};

/// Sequence lengths run on [`EMBED_WIDE`].
pub const EMBED_WIDE_LENS: [usize; 4] = [80, 13, 1, 47];
