//! Results checked before they are shown: the page downloads a result and its job's input,
//! and [`verify`] holds them against the job account's winning hash and spec hash (the same
//! check `tessera job result` makes, `tessera_jobs::verify`). Only a [`Verified`] result is
//! decoded: tiles to sRGB pixels, embeddings to vectors; and the nearest texts to a query.
use anyhow::{Context, Result};
use serde::Serialize;
use tessera::state::Job;
use tessera_compute::{embed, Backend, Limits, Output, OutputMeta};
use tessera_jobs::verify;
use tessera_sdk::accounts;
use wasm_bindgen::prelude::*;

use crate::{js_err, to_js};

/// A result that hashes to what the chain agreed on.
#[wasm_bindgen]
pub struct Verified {
    output: Output,
}

/// `result` and `input` checked against the job account (its raw data): see the module docs.
pub fn verify(job_data: &[u8], result: &[u8], input: &[u8]) -> Result<Verified> {
    let job: Job = accounts::decode("Job", job_data)?;
    Ok(Verified {
        output: verify::verify_result(&job, result, input)?,
    })
}

/// [`verify`] from the page; throws "the result does not match the on-chain hash: …" (or
/// the other named mismatches) and never returns a result that is not the agreed one.
#[wasm_bindgen(js_name = verifyResult)]
pub fn verify_js(job_data: &[u8], result: &[u8], input: &[u8]) -> Result<Verified, JsError> {
    verify(job_data, result, input).map_err(js_err)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Shape {
    kernel: &'static str,
    spec_version: u16,
    /// `image` (RGBA8 or radiance: use `rgba()`), `matrix`, `logits`, `embeddings` or
    /// `checkpoint` (a training link: `rows` is its steps).
    kind: &'static str,
    width: u32,
    height: u32,
    rows: u32,
    cols: u32,
    hash: String,
}

#[wasm_bindgen]
impl Verified {
    /// `{kernel, specVersion, kind, width, height, rows, cols, hash}`.
    pub fn shape(&self) -> Result<JsValue, JsError> {
        let (kind, width, height, rows, cols) = match self.output.meta {
            OutputMeta::Image { width, height } | OutputMeta::Radiance { width, height } => {
                ("image", width, height, 0, 0)
            }
            OutputMeta::Matrix { rows, cols } => ("matrix", 0, 0, rows, cols),
            OutputMeta::Logits { batch, classes } => ("logits", 0, 0, batch, classes),
            OutputMeta::Embeddings { rows, .. } => {
                let dim = (self.output.bytes.len() / 4).checked_div(rows as usize);
                ("embeddings", 0, 0, rows, dim.unwrap_or(0) as u32)
            }
            OutputMeta::Checkpoint { steps } => ("checkpoint", 0, 0, steps, 0),
            OutputMeta::Completions { prompts } => ("completions", 0, 0, prompts, 0),
        };
        to_js(&Shape {
            kernel: self.output.kernel.name(),
            spec_version: self.output.spec_version,
            kind,
            width,
            height,
            rows,
            cols,
            hash: tessera_sdk::blob_id::hex(&self.output.hash()),
        })
    }

    /// An image result as sRGB RGBA8 rows (for a canvas): a render tile's radiance encoded as
    /// the CLI's PNG is.
    pub fn rgba(&self) -> Result<Vec<u8>, JsError> {
        match self.output.meta {
            OutputMeta::Image { .. } => Ok(self.output.bytes.clone()),
            OutputMeta::Radiance { width, height } => {
                let rgb =
                    tessera_compute::render::decode_radiance(&self.output.bytes, width, height)?;
                Ok(tessera_compute::render::srgb_rgba8(&rgb))
            }
            _ => Err(JsError::new(&format!(
                "a {} result is not an image",
                self.output.kernel
            ))),
        }
    }

    /// An embed result as its rows, concatenated (`rows × cols` f32).
    pub fn embeddings(&self) -> Result<Vec<f32>, JsError> {
        match self.output.meta {
            OutputMeta::Embeddings { .. } => Ok(self
                .output
                .bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()),
            _ => Err(JsError::new(&format!(
                "a {} result is not embeddings",
                self.output.kernel
            ))),
        }
    }

    /// The canonical output bytes (a GEMM's matrix, row-major little-endian).
    pub fn bytes(&self) -> Vec<u8> {
        self.output.bytes.clone()
    }
}

/// Runs one embed input on the CPU reference with `model_blob` (the kernel the network runs,
/// so the vector is bit-identical to a worker's): a typed query embedded in the page.
pub fn embed_here(model_blob: &[u8], input: &[u8]) -> Result<Vec<f32>> {
    let model = std::sync::Arc::new(embed::EmbedModel::parse(model_blob)?);
    let limits = Limits::default();
    let job = tessera_compute::Job::parse(input, &limits)?.bind_model(model, &limits)?;
    let out = job.run(&Backend::cpu()).context("embedding in the page")?;
    Ok(out
        .bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// [`embed_here`] from the page.
#[wasm_bindgen(js_name = embedHere)]
pub fn embed_here_js(model_blob: &[u8], input: &[u8]) -> Result<Vec<f32>, JsError> {
    embed_here(model_blob, input).map_err(js_err)
}

/// The `k` rows of `rows` (`dim` f32 each, concatenated) nearest to `query` by cosine:
/// `[{index, score}]`, best first.
#[wasm_bindgen]
pub fn nearest(query: &[f32], rows: &[f32], dim: usize, k: usize) -> Result<JsValue, JsError> {
    if dim == 0 || !rows.len().is_multiple_of(dim) || query.len() != dim {
        return Err(JsError::new(&format!(
            "nearest: {} values are not rows of {dim}, or the query has {} values",
            rows.len(),
            query.len()
        )));
    }
    let rows: Vec<Vec<f32>> = rows.chunks_exact(dim).map(<[f32]>::to_vec).collect();
    #[derive(Serialize)]
    struct Hit {
        index: usize,
        score: f64,
    }
    let hits: Vec<Hit> = tessera_jobs::embedding::nearest(query, &rows, k)
        .into_iter()
        .map(|(index, score)| Hit { index, score })
        .collect();
    to_js(&hits)
}
