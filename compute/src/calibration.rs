//! Calibration: the jobs a worker runs at start to learn how fast each kernel runs here, in
//! the units of [`crate::Job::flops`]. One figure for every kernel (a GEMM's) misjudged the
//! others: the path tracer and the encoder's non-GEMM work ran 2-8× (and hostile shapes over
//! 100×) slower than a GEMM-based figure promised. Each kernel family is measured on its own
//! kernel, with an honest shape and the shape its cost model finds hardest (one-wide attention
//! heads over one-token sequences; a soup of overlapping triangles), and the slower of the two
//! is its rate, so an estimate errs on the slow side.
use std::sync::Arc;

use crate::embed::{self, EmbedModel};
use crate::render::mesh_blob::{self, Tile};
use crate::render::mesh_scenes;
use crate::testcases::{
    random_embed_model, random_embed_model_blob, random_token_seqs, EmbedShape,
};
use crate::{gemm, inference, train, Job, KernelId, Limits, Result};

/// Kernel families with their own rate (GEMM i8 and f32 share one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `gemm-i8`, `gemm-f32`.
    Gemm,
    /// `render`, every spec.
    Render,
    /// `inference`.
    Inference,
    /// `embed`.
    Embed,
    /// `train`.
    Train,
    /// `generate`.
    Generate,
}

impl Family {
    /// Every family, in a fixed order.
    pub const ALL: [Family; 6] = [
        Family::Gemm,
        Family::Render,
        Family::Inference,
        Family::Embed,
        Family::Train,
        Family::Generate,
    ];

    /// The family of a kernel.
    pub fn of(kernel: KernelId) -> Family {
        match kernel {
            KernelId::GemmI8 | KernelId::GemmF32 => Family::Gemm,
            KernelId::Render => Family::Render,
            KernelId::Inference => Family::Inference,
            KernelId::Embed => Family::Embed,
            KernelId::Train => Family::Train,
            KernelId::Generate => Family::Generate,
        }
    }

    /// Its index in [`Family::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The calibration jobs of `family`, parsed against `limits`: an honest shape, then the
/// hardest one for its cost model.
pub fn jobs(family: Family, limits: &Limits) -> Result<Vec<Job>> {
    let parse = |blob: Vec<u8>| Job::parse(&blob, limits);
    match family {
        Family::Gemm => Ok(vec![
            parse(gemm::build_f32_input(384, 384, 384, 1)?)?,
            parse(gemm::build_i8_input(384, 384, 384, 1)?)?,
        ]),
        Family::Render => {
            let honest = mesh_scenes::principled_mix(48, 36, 8);
            let mut soup = mesh_scenes::random_soup(5000, 2).0;
            (soup.width, soup.height, soup.samples_per_pixel) = (48, 36, 8);
            [honest, soup]
                .iter()
                .map(|s| parse(mesh_blob::encode(s, Tile::full(s.width, s.height))?))
                .collect()
        }
        Family::Inference => Ok(vec![parse(inference::build_builtin_input(4096, 1)?)?]),
        Family::Embed => {
            // all-MiniLM-L6-v2's widths, two layers; then one-wide heads, one token each
            let cases = [
                (EmbedShape::bert(384, 12, 2, 1536), vec![64usize; 8]),
                (EmbedShape::bert(64, 64, 2, 64), vec![1usize; 1024]),
            ];
            cases
                .iter()
                .map(|(shape, lens)| {
                    let model: Arc<EmbedModel> = Arc::new(random_embed_model(shape, 7));
                    let seqs = random_token_seqs(shape.vocab, lens, 8);
                    let blob = embed::encode_input(&[0; 32], "calibration", &seqs)?;
                    parse(blob)?.bind_model(model, limits)
                })
                .collect()
        }
        Family::Train => {
            // two steps of a 128-wide, two-layer encoder (small enough that calibrating costs
            // a worker tens of MiB, not hundreds: a link holds about 14 copies of its
            // parameters); then one-wide heads over one-token sequences
            let minilm = EmbedShape {
                vocab: 1000,
                ..EmbedShape::bert(128, 4, 2, 512)
            };
            let cases = [
                (minilm, 8u32, 24usize, 2usize),
                (EmbedShape::bert(64, 64, 2, 64), 128, 1, 1),
            ];
            cases
                .iter()
                .map(|(shape, batch, len, steps)| {
                    let base = random_embed_model_blob(shape, 7);
                    let base = Arc::new(train::Checkpoint::from_model_blob(&base)?);
                    let steps: Vec<Vec<Vec<u32>>> = (0..*steps as u64)
                        .map(|s| {
                            random_token_seqs(shape.vocab, &vec![*len; 2 * *batch as usize], 8 + s)
                        })
                        .collect();
                    let hyper = train::Hyper::defaults(steps.len() as u32);
                    let blob =
                        train::encode_input(&[0; 32], "calibration", 0, &hyper, *batch, &steps)?;
                    parse(blob)?.bind_base(base, limits)
                })
                .collect()
        }
        Family::Generate => {
            // a 256-wide, four-layer decoder over four prompts; then a tiny one decoding 256
            // tokens one at a time (per-step overhead, not products)
            use crate::generate::{self, Arch, DecoderModel, Sampling};
            use crate::testcases::decoder::{random_decoder_blob, DecoderShape};
            let honest = DecoderShape {
                hidden: 256,
                inter: 768,
                layers: 4,
                heads: 8,
                kv_heads: 2,
                vocab: 4096,
                ..DecoderShape::small(Arch::Llama, 4096)
            };
            let tiny = DecoderShape {
                hidden: 32,
                inter: 64,
                layers: 1,
                heads: 4,
                kv_heads: 1,
                positions: 512,
                ..DecoderShape::small(Arch::Llama, 64)
            };
            [(honest, vec![24usize; 4], 8u32), (tiny, vec![1], 256)]
                .iter()
                .map(|(shape, lens, new)| {
                    let blob = random_decoder_blob(shape, 7, safetensors::Dtype::F32);
                    let model = Arc::new(DecoderModel::parse(&blob)?);
                    let prompts = random_token_seqs(shape.vocab, lens, 8);
                    let input = generate::encode_input(
                        &[0; 32],
                        "calibration",
                        *new,
                        &Sampling::greedy(),
                        &[],
                        0,
                        &prompts,
                    )?;
                    parse(input)?.bind_decoder(model, limits)
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Backend;

    #[test]
    fn every_family_has_jobs_of_its_own_kernels() {
        let limits = Limits::default();
        for f in Family::ALL {
            let jobs = jobs(f, &limits).unwrap();
            assert!(!jobs.is_empty());
            for j in &jobs {
                assert_eq!(Family::of(j.kernel()), f);
                assert!(j.flops() > 0);
            }
        }
        // a client's own model as a blob loads as the model it was made from
        let shape = EmbedShape::bert(16, 4, 1, 32);
        let blob = crate::testcases::random_embed_model_blob(&shape, 5);
        let loaded = EmbedModel::parse(&blob).unwrap();
        assert_eq!(
            loaded.layers[0].q_w,
            random_embed_model(&shape, 5).layers[0].q_w
        );
        // they run (the worker times them at start)
        for j in jobs(Family::Embed, &limits)
            .unwrap()
            .into_iter()
            .chain(jobs(Family::Train, &limits).unwrap())
            .chain(jobs(Family::Generate, &limits).unwrap())
        {
            j.run(&Backend::cpu()).unwrap();
        }
    }
}
