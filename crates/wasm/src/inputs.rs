//! Job inputs built in the page as the CLI builds them: GEMM matrices from a seed, a dropped
//! scene (glTF, GLB or OBJ with the files it references) imported and cut into tile jobs, and
//! a corpus tokenised by the model's own tokenizer into embed shards.
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tessera_jobs::embedding;
use tessera_jobs::render_plan::{self, RenderOptions};
use tessera_jobs::scene_import::{environment::Environment, InMemory};
use wasm_bindgen::prelude::*;

use crate::{js_err, to_js};

/// A GEMM input blob: `C[m×n] = A[m×k]·B[k×n]` of values drawn from `seed`; `kernel` is
/// `gemm-f32` or `gemm-i8`.
#[wasm_bindgen(js_name = gemmInput)]
pub fn gemm_input(kernel: &str, m: u32, n: u32, k: u32, seed: f64) -> Result<Vec<u8>, JsError> {
    use tessera_compute::gemm;
    let seed = seed as u64;
    match kernel {
        "gemm-f32" => Ok(gemm::build_f32_input(m, n, k, seed)?),
        "gemm-i8" => Ok(gemm::build_i8_input(m, n, k, seed)?),
        k => Err(JsError::new(&format!(
            "unknown GEMM kernel `{k}`: gemm-f32 or gemm-i8"
        ))),
    }
}

/// What to render, as the page's form gives it (the CLI's `tessera render` flags).
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenderForm {
    pub width: u32,
    pub height: u32,
    pub spp: u32,
    /// `COLSxROWS`, e.g. `2x2`.
    #[serde(default)]
    pub tiles: Option<String>,
    /// `N` or `A..B`.
    #[serde(default)]
    pub frames: Option<String>,
    #[serde(default)]
    pub fps: Option<f32>,
    #[serde(default)]
    pub bounces: Option<u32>,
    /// `r,g,b` (an `.hdr` sky is a file: use the CLI).
    #[serde(default)]
    pub environment: Option<String>,
}

impl RenderForm {
    fn options(&self) -> Result<RenderOptions> {
        let mut o = RenderOptions::new(self.width, self.height, self.spp);
        if let Some(t) = &self.tiles {
            o.tiles = render_plan::parse_tiles(t)?;
        }
        if let Some(f) = &self.frames {
            o.frames = render_plan::parse_frames(f)?;
        }
        if let Some(fps) = self.fps {
            o.fps = fps;
        }
        if let Some(b) = self.bounces {
            o.max_bounces = b;
        }
        if let Some(e) = &self.environment {
            o.environment = Some(Environment::parse(e)?);
        }
        Ok(o)
    }
}

/// One tile job of a render.
#[derive(Serialize, Debug)]
pub struct TileJob {
    pub frame: u32,
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    #[serde(with = "serde_bytes")]
    pub input: Vec<u8>,
}

/// A dropped scene cut into jobs.
#[derive(Serialize, Debug)]
pub struct RenderJobs {
    pub width: u32,
    pub height: u32,
    pub triangles: usize,
    pub warnings: Vec<String>,
    pub tiles: Vec<TileJob>,
}

/// Imports `main` (a `.gltf`, `.glb` or `.obj` among `files`, which holds it and every file
/// it references by relative path) and cuts each frame into tile jobs.
pub fn plan_render(files: InMemory, main: &str, form: &RenderForm) -> Result<RenderJobs> {
    let plan = render_plan::plan_from(&files, Path::new(main), &form.options()?)?;
    let mut tiles = Vec::new();
    for (frame, ts) in plan.frames {
        for (t, input) in ts {
            tiles.push(TileJob {
                frame,
                x: t.x0,
                y: t.y0,
                w: t.w,
                h: t.h,
                input,
            });
        }
    }
    Ok(RenderJobs {
        width: plan.width,
        height: plan.height,
        triangles: plan.triangles,
        warnings: plan.warnings,
        tiles,
    })
}

/// [`plan_render`] from the page: `names[i]` is the relative path of `contents[i]`; `form` is
/// a [`RenderForm`]. Returns `{width, height, triangles, warnings, tiles: [{frame, x, y, w, h,
/// input}]}`; an importer refusal is thrown with its named error.
#[wasm_bindgen(js_name = planRender)]
pub fn plan_render_js(
    names: Vec<String>,
    contents: Vec<js_sys::Uint8Array>,
    main: &str,
    form: JsValue,
) -> Result<JsValue, JsError> {
    let form: RenderForm = serde_wasm_bindgen::from_value(form)?;
    let mut files = InMemory::default();
    for (name, bytes) in names.into_iter().zip(contents) {
        files.insert(name, bytes.to_vec());
    }
    to_js(&plan_render(files, main, &form).map_err(js_err)?)
}

/// A corpus cut into embed jobs.
#[derive(Serialize, Debug)]
pub struct EmbedJobs {
    pub dim: usize,
    /// The corpus's texts in job order (shard after shard), for showing search hits.
    pub texts: Vec<String>,
    pub truncated: usize,
    pub tokens: usize,
    pub shards: Vec<EmbedShard>,
}

/// One embed job: its input blob and the ids of its texts, in order.
#[derive(Serialize, Debug)]
pub struct EmbedShard {
    #[serde(with = "serde_bytes")]
    pub input: Vec<u8>,
    pub ids: Vec<String>,
}

/// Tokenises `corpus_jsonl` (one JSON string or `{"id", "text"}` per line) with the model
/// blob's tokenizer and cuts it into `shards` jobs naming the model by hash and URI.
pub fn plan_embed(
    model_blob: &[u8],
    model_uri: &str,
    corpus_jsonl: &str,
    shards: u32,
    max_tokens: Option<u32>,
) -> Result<EmbedJobs> {
    let hash = tessera_sdk::blob_id::hash(model_blob);
    let corpus = embedding::parse_corpus(corpus_jsonl).context("the corpus")?;
    let p = embedding::plan_shards(model_blob, &hash, model_uri, &corpus, max_tokens, shards)?;
    Ok(EmbedJobs {
        dim: p.dim,
        texts: corpus.into_iter().map(|t| t.text).collect(),
        truncated: p.truncated,
        tokens: p.tokens,
        shards: p
            .shards
            .into_iter()
            .map(|(input, ids)| EmbedShard { input, ids })
            .collect(),
    })
}

/// [`plan_embed`] from the page: `{dim, texts, truncated, tokens, shards: [{input, ids}]}`.
#[wasm_bindgen(js_name = planEmbed)]
pub fn plan_embed_js(
    model_blob: &[u8],
    model_uri: &str,
    corpus_jsonl: &str,
    shards: u32,
    max_tokens: Option<u32>,
) -> Result<JsValue, JsError> {
    to_js(&plan_embed(model_blob, model_uri, corpus_jsonl, shards, max_tokens).map_err(js_err)?)
}

/// A query text as one embed input (the page posts it as a small job of its own, or runs it
/// in the page with [`crate::results::embed_here`]).
#[wasm_bindgen(js_name = queryInput)]
pub fn query_input(model_blob: &[u8], model_uri: &str, text: &str) -> Result<Vec<u8>, JsError> {
    let line = serde_json::to_string(text).map_err(|e| js_err(e.into()))?;
    let p = plan_embed(model_blob, model_uri, &line, 1, None).map_err(js_err)?;
    Ok(p.shards
        .into_iter()
        .next()
        .map(|s| s.input)
        .unwrap_or_default())
}
