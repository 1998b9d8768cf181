//! # tessera-compute
//!
//! Deterministic compute kernels for the Tessera marketplace. Every kernel has a CUDA
//! implementation (NVRTC-compiled at start-up, driver loaded dynamically through `cudarc`) and
//! a CPU reference (rayon) that produce **bit-identical** output, so independent replicas on
//! different GPUs or CPUs post the same [`result_hash`].
//!
//! Kernels (each specified in `docs/KERNELS.md`):
//! - [`KernelId::GemmI8`]: `C = A·B`, int8 × int8 → int32 (wrapping, order-free);
//! - [`KernelId::GemmF32`]: `C = A·B` in f32 with one FMA accumulator per element, k ascending;
//! - [`KernelId::Render`]: a path tracer over a JSON scene, RGBA8 output;
//! - [`KernelId::Inference`]: a quantized int8 MLP over a batch, built on the int8 GEMM;
//! - [`KernelId::Embed`]: sentence embeddings with a pretrained BERT-family encoder (f32);
//! - [`KernelId::Train`]: fine-tuning such an encoder (backward pass and AdamW, f32);
//! - [`KernelId::Generate`]: text generation with a Llama-family decoder (f32, KV cache).
//!
//! Typical worker use:
//!
//! ```
//! use tessera_compute::{run, Backend, gemm};
//! let backend = Backend::cpu();
//! let input = gemm::build_f32_input(3, 5, 7, 42).unwrap();
//! let out = run(&input, &backend).unwrap();
//! println!("{}", tessera_compute::hash::to_hex(&out.hash()));
//! ```

#![warn(missing_docs)]

pub mod calibration;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod device;
pub mod embed;
pub mod error;
pub mod format;
pub mod gemm;
pub mod generate;
pub mod hash;
pub mod inference;
pub mod limits;
pub mod render;
pub mod rng;
pub mod select;
#[cfg(feature = "cuda")]
pub mod selftest;
pub mod testcases;
pub mod train;
mod with_fma;

pub use device::Backend;
pub use error::{ComputeError, Result};
pub use hash::{parse_result_blob, result_blob, result_hash};
pub use limits::{BackendKind, DeviceInfo, DevicePreference, Limits};

/// Identifies a kernel. The numeric value is the `kernel id` field of input blobs and of the
/// hashed result encoding; it never changes once assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum KernelId {
    /// int8 × int8 → int32 GEMM.
    GemmI8 = 1,
    /// f32 GEMM with fixed FMA accumulation order.
    GemmF32 = 2,
    /// Path tracer (proof of render).
    Render = 3,
    /// Quantized int8 MLP inference.
    Inference = 4,
    /// Sentence embeddings with a BERT-family encoder.
    Embed = 5,
    /// Fine-tuning a BERT-family encoder (one link of a training run).
    Train = 6,
    /// Text generation with a Llama-family decoder.
    Generate = 7,
}

impl KernelId {
    /// All kernels, in id order.
    pub const ALL: [KernelId; 7] = [
        KernelId::GemmI8,
        KernelId::GemmF32,
        KernelId::Render,
        KernelId::Inference,
        KernelId::Embed,
        KernelId::Train,
        KernelId::Generate,
    ];

    /// Numeric id.
    pub fn as_u16(self) -> u16 {
        self as u16
    }

    /// Kernel for a numeric id.
    pub fn from_u16(v: u16) -> Option<Self> {
        match v {
            1 => Some(KernelId::GemmI8),
            2 => Some(KernelId::GemmF32),
            3 => Some(KernelId::Render),
            4 => Some(KernelId::Inference),
            5 => Some(KernelId::Embed),
            6 => Some(KernelId::Train),
            7 => Some(KernelId::Generate),
            _ => None,
        }
    }

    /// The newest version of the kernel's spec this build implements (the `spec version`
    /// field of new inputs).
    pub fn spec_version(self) -> u16 {
        match self {
            KernelId::GemmI8 => 1,
            KernelId::GemmF32 => 1,
            KernelId::Render => render::mesh_blob::SPEC,
            KernelId::Inference => 1,
            KernelId::Embed => 1,
            KernelId::Train => 1,
            KernelId::Generate => 1,
        }
    }

    /// Whether this build runs inputs of spec `version` (render: 1, JSON scenes, 2, mesh
    /// scenes, and 3, mesh scenes with the Principled BSDF; old jobs keep working).
    pub fn supports(self, version: u16) -> bool {
        (1..=self.spec_version()).contains(&version)
    }

    /// Stable short name (`gemm-i8`, `gemm-f32`, `render`, `inference`, `embed`, `train`,
    /// `generate`).
    pub fn name(self) -> &'static str {
        match self {
            KernelId::GemmI8 => "gemm-i8",
            KernelId::GemmF32 => "gemm-f32",
            KernelId::Render => "render",
            KernelId::Inference => "inference",
            KernelId::Embed => "embed",
            KernelId::Train => "train",
            KernelId::Generate => "generate",
        }
    }

    /// Kernel for a short name.
    pub fn from_name(name: &str) -> Option<Self> {
        KernelId::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Runs this kernel on `input`; fails with [`ComputeError::KernelMismatch`] if the blob's
    /// header names another kernel.
    pub fn run(self, input: &[u8], backend: &Backend) -> Result<Output> {
        let h = format::read_header(input)?;
        if h.kernel != self {
            return Err(ComputeError::KernelMismatch {
                expected: self.name(),
                found: h.kernel.name(),
            });
        }
        run(input, backend)
    }
}

impl std::fmt::Display for KernelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed, validated job.
#[derive(Debug, Clone)]
pub enum Job {
    /// int8 GEMM.
    GemmI8(gemm::GemmI8Job),
    /// f32 GEMM.
    GemmF32(gemm::GemmF32Job),
    /// Render, spec 1 (JSON scene of spheres, planes and triangles).
    Render(render::RenderJob),
    /// Render, spec 2 (mesh scene with its BVH, one tile of a frame).
    RenderMesh(render::MeshJob),
    /// Inference.
    Inference(inference::InferenceJob),
    /// Sentence embeddings (its model bound with [`Job::bind_model`]).
    Embed(embed::EmbedJob),
    /// One link of a training run (its base bound with [`Job::bind_base`]).
    Train(train::TrainJob),
    /// Text generation (its decoder bound with [`Job::bind_decoder`]).
    Generate(generate::GenerateJob),
}

impl Job {
    /// Parses and validates an input blob against `limits` (sizes checked before allocation).
    pub fn parse(input: &[u8], limits: &Limits) -> Result<Job> {
        if input.len() as u64 > limits.max_input_bytes {
            return Err(ComputeError::TooLarge(format!(
                "input blob is {} bytes, limit is {}",
                input.len(),
                limits.max_input_bytes
            )));
        }
        let h = format::read_header(input)?;
        Ok(match h.kernel {
            KernelId::GemmI8 => Job::GemmI8(gemm::GemmI8Job::parse(input, limits)?),
            KernelId::GemmF32 => Job::GemmF32(gemm::GemmF32Job::parse(input, limits)?),
            KernelId::Render if h.spec_version >= render::mesh_blob::SPEC_LEGACY => {
                Job::RenderMesh(render::MeshJob::parse(input, limits)?)
            }
            KernelId::Render => Job::Render(render::RenderJob::parse(input, limits)?),
            KernelId::Inference => Job::Inference(inference::InferenceJob::parse(input, limits)?),
            KernelId::Embed => Job::Embed(embed::EmbedJob::parse(input, limits)?),
            KernelId::Train => Job::Train(train::TrainJob::parse(input, limits)?),
            KernelId::Generate => Job::Generate(generate::GenerateJob::parse(input, limits)?),
        })
    }

    /// The job's kernel.
    pub fn kernel(&self) -> KernelId {
        match self {
            Job::GemmI8(_) => KernelId::GemmI8,
            Job::GemmF32(_) => KernelId::GemmF32,
            Job::Render(_) | Job::RenderMesh(_) => KernelId::Render,
            Job::Inference(_) => KernelId::Inference,
            Job::Embed(_) => KernelId::Embed,
            Job::Train(_) => KernelId::Train,
            Job::Generate(_) => KernelId::Generate,
        }
    }

    /// The model a job needs fetched before it can run: `(hash, uri)` of its blob.
    pub fn model_ref(&self) -> Option<([u8; 32], &str)> {
        match self {
            Job::Embed(j) => Some((j.model_hash, j.model_uri.as_str())),
            _ => None,
        }
    }

    /// The decoder a generate job needs fetched before it can run: `(hash, uri)` of its
    /// `TSLM` blob.
    pub fn decoder_ref(&self) -> Option<([u8; 32], &str)> {
        match self {
            Job::Generate(j) => Some((j.model_hash, j.model_uri.as_str())),
            _ => None,
        }
    }

    /// Binds the decoder named by [`Job::decoder_ref`] (its blob already checked against the
    /// hash) and checks the job against it and `limits`.
    pub fn bind_decoder(
        self,
        model: std::sync::Arc<generate::DecoderModel>,
        limits: &Limits,
    ) -> Result<Job> {
        match self {
            Job::Generate(j) => Ok(Job::Generate(j.with_model(model, limits)?)),
            other => Err(ComputeError::InvalidInput(format!(
                "{} jobs take no decoder",
                other.kernel()
            ))),
        }
    }

    /// The base checkpoint a train job needs fetched before it can run: `(hash, uri)` of its
    /// blob (a model blob, or the result blob of the link before).
    pub fn base_ref(&self) -> Option<([u8; 32], &str)> {
        match self {
            Job::Train(j) => Some((j.base_hash, j.base_uri.as_str())),
            _ => None,
        }
    }

    /// Binds the base named by [`Job::base_ref`] (its blob already checked against the hash)
    /// and checks the link against it and `limits`.
    pub fn bind_base(
        self,
        base: std::sync::Arc<train::Checkpoint>,
        limits: &Limits,
    ) -> Result<Job> {
        match self {
            Job::Train(j) => Ok(Job::Train(j.with_base(base, limits)?)),
            other => Err(ComputeError::InvalidInput(format!(
                "{} jobs take no training base",
                other.kernel()
            ))),
        }
    }

    /// Binds the model named by [`Job::model_ref`] (its blob already checked against the
    /// hash) and checks the job against it and `limits`.
    pub fn bind_model(
        self,
        model: std::sync::Arc<embed::EmbedModel>,
        limits: &Limits,
    ) -> Result<Job> {
        match self {
            Job::Embed(j) => Ok(Job::Embed(j.with_model(model, limits)?)),
            other => Err(ComputeError::InvalidInput(format!(
                "{} jobs take no model",
                other.kernel()
            ))),
        }
    }

    /// Estimated floating-point (or integer) operations of the job, for pricing and for the
    /// "can this node finish in time" check: 2·m·n·k for a GEMM, 2 per multiply-add of the
    /// MLP, 2 per multiply-add of the encoder (projections, attention, feed-forward; 0 until
    /// an embed job's model is bound), about 40 per object per ray segment of a spec 1 render,
    /// and for a mesh render about 100 per BVH level (or per unit of the BVH's expected work,
    /// when more) and 40 per shading step per segment.
    pub fn flops(&self) -> u64 {
        match self {
            Job::GemmI8(j) => 2 * j.m as u64 * j.n as u64 * j.k as u64,
            Job::GemmF32(j) => 2 * j.m as u64 * j.n as u64 * j.k as u64,
            Job::Inference(j) => (j.batch as u64)
                .saturating_mul(j.model.macs_per_row())
                .saturating_mul(2),
            Job::Render(j) => j
                .scene
                .max_segments()
                .saturating_mul(j.scene.num_objects() as u64 + 1)
                .saturating_mul(40),
            Job::RenderMesh(j) => {
                // per segment: 100 per expected node visit and 300 per expected triangle test
                // (the BVH's SAH measure: overlapping boxes of coincident triangles cost every
                // ray far more than the depth says), at least 100 per BVH level, plus 40 for
                // the shading; weights fitted to the tracer's run times (docs/KERNELS.md)
                let levels = (j.scene.num_triangles() as u64 + 1).ilog2() as u64 + 1;
                let (visits, tests) = j.scene.bvh_visits();
                let traversal = ((100.0 * visits + 300.0 * tests).ceil() as u64).max(100 * levels);
                j.scene
                    .max_segments()
                    .saturating_mul(traversal.saturating_add(40))
            }
            Job::Embed(j) => j.model.as_ref().map_or(0, |m| {
                j.seqs
                    .iter()
                    .map(|s| m.config.work(s.len() as u64))
                    .fold(0u64, u64::saturating_add)
            }),
            Job::Train(j) => j.work(),
            Job::Generate(j) => j
                .model
                .as_ref()
                .map_or(0, |m| j.macs(&m.config).saturating_mul(2)),
        }
    }

    /// Shape of the output this job produces.
    pub fn output_meta(&self) -> OutputMeta {
        match self {
            Job::GemmI8(j) => OutputMeta::Matrix {
                rows: j.m,
                cols: j.n,
            },
            Job::GemmF32(j) => OutputMeta::Matrix {
                rows: j.m,
                cols: j.n,
            },
            Job::RenderMesh(j) => OutputMeta::Radiance {
                width: j.scene.tile.w,
                height: j.scene.tile.h,
            },
            Job::Render(j) => OutputMeta::Image {
                width: j.scene.width,
                height: j.scene.height,
            },
            Job::Inference(j) => OutputMeta::Logits {
                batch: j.batch,
                classes: j.model.output_dim(),
            },
            Job::Embed(j) => OutputMeta::Embeddings {
                rows: j.seqs.len() as u32,
                dim: j.model.as_ref().map_or(0, |m| m.config.hidden_size as u32),
            },
            Job::Train(j) => OutputMeta::Checkpoint { steps: j.steps },
            Job::Generate(j) => OutputMeta::Completions {
                prompts: j.prompts.len() as u32,
            },
        }
    }

    /// Runs the job on `backend`.
    pub fn run(&self, backend: &Backend) -> Result<Output> {
        let kernel = self.kernel();
        let meta = self.output_meta();
        let bytes = match self {
            Job::GemmI8(j) => j.run(backend)?,
            Job::GemmF32(j) => j.run(backend)?,
            Job::Render(j) => j.run(backend)?.rgba,
            Job::RenderMesh(j) => j.run(backend)?.bytes,
            Job::Inference(j) => j.run(backend)?,
            Job::Embed(j) => j.run(backend)?,
            Job::Train(j) => j.run(backend)?,
            Job::Generate(j) => j.run(backend)?,
        };
        Ok(Output {
            kernel,
            spec_version: self.spec_version(),
            bytes,
            meta,
        })
    }

    /// The spec version the job was posted under (its output is hashed with it).
    pub fn spec_version(&self) -> u16 {
        match self {
            Job::Render(_) => 1,
            Job::RenderMesh(j) => j.spec,
            j => j.kernel().spec_version(),
        }
    }
}

/// Shape information about an output (not hashed; derivable from the input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMeta {
    /// A row-major matrix.
    Matrix {
        /// Rows (M).
        rows: u32,
        /// Columns (N).
        cols: u32,
    },
    /// An RGBA8 image, rows top to bottom.
    Image {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// Inference logits and predictions.
    Logits {
        /// Batch rows.
        batch: u32,
        /// Output classes.
        classes: u32,
    },
    /// Linear RGB radiance, f32 per channel, rows top to bottom (a render spec 2 tile).
    Radiance {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// Embeddings, one row per sequence.
    Embeddings {
        /// Sequences.
        rows: u32,
        /// Width of each embedding (0 until the model is bound).
        dim: u32,
    },
    /// A training checkpoint: the steps' losses, the model, the optimizer state.
    Checkpoint {
        /// Steps the link ran.
        steps: u32,
    },
    /// Completions (token ids), one per prompt.
    Completions {
        /// Prompts.
        prompts: u32,
    },
}

/// The canonical output of a kernel run: the bytes that are hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Kernel that produced it.
    pub kernel: KernelId,
    /// Spec version it was produced under.
    pub spec_version: u16,
    /// Canonical output bytes (layout per kernel in `docs/KERNELS.md`).
    pub bytes: Vec<u8>,
    /// Shape of the output.
    pub meta: OutputMeta,
}

impl Output {
    /// [`result_hash`] of this output.
    pub fn hash(&self) -> [u8; 32] {
        result_hash(self.kernel, self.spec_version, &self.bytes)
    }

    /// The [`result_blob`] of this output (its BLAKE3 is [`Output::hash`]).
    pub fn blob(&self) -> Vec<u8> {
        result_blob(self.kernel, self.spec_version, &self.bytes)
    }

    /// Writes a render output as PNG. Fails for other kernels.
    pub fn save_png(&self, path: &std::path::Path) -> Result<()> {
        match self.meta {
            OutputMeta::Image { width, height } => {
                render::write_png(path, width, height, &self.bytes)
            }
            OutputMeta::Radiance { width, height } => {
                let rgb = render::decode_radiance(&self.bytes, width, height)?;
                render::write_png(path, width, height, &render::srgb_rgba8(&rgb))
            }
            _ => Err(ComputeError::InvalidInput(format!(
                "{} output is not an image",
                self.kernel
            ))),
        }
    }
}

/// Parses `input` (any kernel, dispatched on its header), runs it on `backend` and returns the
/// canonical output. The blob is validated against `backend.limits()` before anything is
/// allocated. A job that needs a model (embed) fails here with a clear error: parse it with
/// [`Job::parse`], fetch [`Job::model_ref`] and [`Job::bind_model`] first.
pub fn run(input: &[u8], backend: &Backend) -> Result<Output> {
    Job::parse(input, backend.limits())?.run(backend)
}
