//! Job files: what `tessera job post --file job.toml` reads (every field can also be given as a
//! flag). They describe the kernel input, the price and the replication; [`JobSpec::input`]
//! builds the kernel's input blob and [`JobSpec::post_args`] the on-chain `post_job` arguments.
//!
//! ```toml
//! kernel = "render"            # gemm-i8 | gemm-f32 | render | inference | embed
//! price = "2.5"                # tokens per replica (the maximum in an auction)
//! replicas = 3
//! market = "fixed"             # fixed | auction
//! max_escalations = 1          # extra rounds paid for if replicas disagree
//! deadline_secs = 600          # refund of what is unspent after this
//! [input]
//! scene = "cornell"            # cornell | spheres | path/to/scene.json
//! width = 64
//! height = 64
//! spp = 8
//! ```
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use tessera::instructions::PostJobArgs;
use tessera::state::{MarketType, Requirements};
use tessera_compute::{gemm, inference, render, KernelId};

use tessera_sdk::units::parse_amount;

/// A job as a client describes it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    pub kernel: String,
    #[serde(default)]
    pub input: InputSpec,
    /// Tokens per replica, as a decimal string or number.
    pub price: toml::Value,
    #[serde(default = "default_replicas")]
    pub replicas: u8,
    #[serde(default = "default_market")]
    pub market: String,
    #[serde(default = "default_escalations")]
    pub max_escalations: u8,
    /// Seconds a claimer has to commit (at most the config's commit window).
    pub exec_secs: Option<i64>,
    /// Seconds from now until the job's deadline.
    #[serde(default = "default_deadline")]
    pub deadline_secs: i64,
    /// Auction: seconds of bidding.
    #[serde(default = "default_bid_secs")]
    pub bid_secs: i64,
    #[serde(default)]
    pub requirements: RequirementsSpec,
}

fn default_replicas() -> u8 {
    2
}
fn default_market() -> String {
    "fixed".into()
}
fn default_escalations() -> u8 {
    1
}
fn default_deadline() -> i64 {
    600
}
fn default_bid_secs() -> i64 {
    4
}

/// The kernel input: a prebuilt blob (`file`) or the parameters to generate one.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// A prebuilt input blob (`TSKI` header), any kernel.
    pub file: Option<PathBuf>,
    /// GEMM: C[m×n] = A[m×k] · B[k×n] of seeded random values.
    pub m: Option<u32>,
    pub n: Option<u32>,
    pub k: Option<u32>,
    /// GEMM and inference: the seed of generated inputs; generate: the key of the sampling
    /// draws (default 0).
    pub seed: Option<u64>,
    /// Render: `cornell`, `spheres` or a scene JSON file.
    pub scene: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub spp: Option<u32>,
    /// Inference: rows of the seeded spiral batch for the built-in model.
    pub batch: Option<u32>,
    /// Embed: the model, a directory (`config.json`, `model.safetensors`, `tokenizer.json`)
    /// or the hex hash of a model blob already in the blob store.
    pub model: Option<String>,
    /// Embed: the corpus, `.jsonl` (one JSON string or `{"id", "text"}` per line).
    pub texts: Option<PathBuf>,
    /// Embed: split the corpus into this many jobs (default 1).
    pub shards: Option<u32>,
    /// Embed: truncate each text to this many tokens (default: the model's maximum);
    /// generate: new tokens at most per prompt (default 128).
    pub max_tokens: Option<u32>,
    /// Generate: the prompts, `.jsonl` (a JSON string, `{"id"?, "prompt"}`,
    /// `{"id"?, "messages": [{"role", "content"}, …]}` through the model's chat template, or
    /// `{"id"?, "token_ids"}` per line).
    pub prompts: Option<PathBuf>,
    /// Generate: 0 (default) is greedy; otherwise the sampling temperature.
    pub temperature: Option<f32>,
    /// Generate: keep the k most likely tokens (0: all).
    pub top_k: Option<u32>,
    /// Generate: keep the most likely tokens up to this probability (1: all).
    pub top_p: Option<f32>,
    /// Generate: Hugging Face's repetition penalty (1: none).
    pub repetition_penalty: Option<f32>,
    /// Render (a glTF/OBJ scene): split each frame into COLSxROWS tile jobs (default 1x1).
    pub tiles: Option<String>,
    /// Render (a glTF/OBJ scene): the frames, `N` or `A..B` (default 0).
    pub frames: Option<String>,
    /// Render (a glTF/OBJ scene): frames per second of the animation (default 24).
    pub fps: Option<f32>,
    /// Render (a glTF/OBJ scene): maximum scattering events per path (default 6).
    pub bounces: Option<u32>,
    /// Render (a glTF/OBJ scene): the world, `r,g,b` or an equirectangular `.hdr` file.
    pub environment: Option<String>,
}

impl InputSpec {
    /// The scene is an artist's file (glTF or OBJ), rendered by spec 2 in tiles and frames.
    pub fn is_mesh_scene(&self) -> bool {
        self.scene
            .as_deref()
            .is_some_and(crate::scene_import::is_scene_file)
    }

    /// The render options of a mesh scene.
    pub fn render_options(&self) -> Result<crate::render_plan::RenderOptions> {
        use crate::render_plan::{parse_frames, parse_tiles};
        let width = self.width.unwrap_or(640);
        Ok(crate::render_plan::RenderOptions {
            width,
            height: self.height.unwrap_or(width * 3 / 4),
            spp: self.spp.unwrap_or(64),
            max_bounces: self.bounces.unwrap_or(6),
            seed: self.seed.unwrap_or(1) as u32,
            tiles: parse_tiles(self.tiles.as_deref().unwrap_or("1x1"))?,
            frames: parse_frames(self.frames.as_deref().unwrap_or("0"))?,
            fps: match self.fps {
                Some(f) if f.is_finite() && f > 0.0 => f,
                Some(f) => bail!("fps {f}: must be a positive number"),
                None => 24.0,
            },
            camera: None,
            background: None,
            environment: self
                .environment
                .as_deref()
                .map(crate::scene_import::environment::Environment::parse)
                .transpose()?,
        })
    }
}

/// Hardware and trust a claimer must have.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequirementsSpec {
    #[serde(default)]
    pub min_vram_mb: u32,
    /// e.g. 80 for sm_80.
    #[serde(default)]
    pub min_compute_capability: u16,
    /// Only nodes with a CUDA device.
    #[serde(default)]
    pub cuda: bool,
    /// Tokens of stake.
    pub min_stake: Option<toml::Value>,
    #[serde(default)]
    pub min_reputation_bps: u16,
}

impl JobSpec {
    /// Reads a job file.
    pub fn from_file(path: &Path) -> Result<JobSpec> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading job file {}", path.display()))?;
        let mut spec: JobSpec = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "job file {} does not parse: {}",
                path.display(),
                e.to_string().trim()
            )
        })?;
        // relative paths in the file are relative to the file
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(f) = &spec.input.file {
            spec.input.file = Some(base.join(f));
        }
        if let Some(t) = &spec.input.texts {
            spec.input.texts = Some(base.join(t));
        }
        if let Some(m) = &spec.input.model {
            if tessera_sdk::blob_id::parse_hash(m).is_err() {
                spec.input.model = Some(base.join(m).display().to_string());
            }
        }
        if let Some(s) = &spec.input.scene {
            if s.ends_with(".json") {
                spec.input.scene = Some(base.join(s).display().to_string());
            }
        }
        Ok(spec)
    }

    pub fn kernel_id(&self) -> Result<KernelId> {
        KernelId::from_name(&self.kernel).with_context(|| {
            format!(
                "unknown kernel `{}`: use gemm-i8, gemm-f32, render, inference, embed or train",
                self.kernel
            )
        })
    }

    /// Builds the kernel's input blob.
    pub fn input(&self) -> Result<Vec<u8>> {
        let kernel = self.kernel_id()?;
        let i = &self.input;
        if let Some(path) = &i.file {
            let blob = std::fs::read(path)
                .with_context(|| format!("reading input blob {}", path.display()))?;
            let header = tessera_compute::format::read_header(&blob)
                .with_context(|| format!("{} is not a Tessera input blob", path.display()))?;
            if header.kernel != kernel {
                bail!(
                    "{} is a {} input but the job's kernel is {kernel}",
                    path.display(),
                    header.kernel
                );
            }
            return Ok(blob);
        }
        let seed = i.seed.unwrap_or(1);
        let blob = match kernel {
            KernelId::GemmI8 | KernelId::GemmF32 => {
                let m = i.m.unwrap_or(128);
                let n = i.n.unwrap_or(m);
                let k = i.k.unwrap_or(m);
                if kernel == KernelId::GemmI8 {
                    gemm::build_i8_input(m, n, k, seed)?
                } else {
                    gemm::build_f32_input(m, n, k, seed)?
                }
            }
            KernelId::Render if i.is_mesh_scene() => {
                // one job: the first frame, whole (tiles and frames: `render_jobs::plan`)
                let mut o = i.render_options()?;
                o.tiles = (1, 1);
                o.frames = *o.frames.start()..=*o.frames.start();
                let path = std::path::Path::new(i.scene.as_deref().unwrap_or_default());
                let mut plan = crate::render_plan::plan(path, &o)?;
                plan.frames.remove(0).1.remove(0).1
            }
            KernelId::Render => {
                let scene = i.scene.as_deref().unwrap_or("cornell");
                let json = match scene {
                    "cornell" => render::CORNELL_JSON.to_string(),
                    "spheres" => render::SPHERES_JSON.to_string(),
                    path => std::fs::read_to_string(path)
                        .with_context(|| format!("reading scene file {path}"))?,
                };
                let json = if i.width.is_some() || i.height.is_some() || i.spp.is_some() {
                    render::with_resolution(
                        &json,
                        i.width.unwrap_or(64),
                        i.height.unwrap_or(i.width.unwrap_or(64)),
                        i.spp.unwrap_or(8),
                    )?
                } else {
                    json
                };
                render::build_input(&json).with_context(|| format!("scene `{scene}`"))?
            }
            KernelId::Inference => {
                inference::build_builtin_input(i.batch.unwrap_or(96) as usize, seed)?
            }
            KernelId::Embed => bail!(
                "embed inputs reference a model in the blob store and may be sharded: they are built by `embedding::plan` (`tessera job post --kernel embed --model … --texts …`)"
            ),
            KernelId::Train => bail!(
                "train inputs are links of a run, each starting from the checkpoint the link before agreed on: they are posted by `tessera train post --model … --pairs …`"
            ),
            KernelId::Generate => bail!(
                "generate inputs reference a decoder in the blob store and may be sharded: they are built from prompts (`tessera job post --kernel generate --model … --prompts …`)"
            ),
        };
        Ok(blob)
    }

    /// The `post_job` arguments for this spec (`now`: the cluster's unix time).
    pub fn post_args(
        &self,
        job_id: u64,
        spec_hash: [u8; 32],
        input_uri: String,
        decimals: u8,
        now: i64,
    ) -> Result<PostJobArgs> {
        let kernel = self.kernel_id()?;
        let market = match self.market.as_str() {
            "fixed" => MarketType::Fixed,
            "auction" => MarketType::Auction,
            m => bail!("unknown market `{m}`: use fixed or auction"),
        };
        let price = parse_amount(&value_str(&self.price), decimals).context("price")?;
        let min_stake = match &self.requirements.min_stake {
            Some(v) => parse_amount(&value_str(v), decimals).context("requirements.min_stake")?,
            None => 0,
        };
        if self.deadline_secs <= 0 {
            bail!("deadline_secs must be positive");
        }
        if self.replicas.is_multiple_of(2) && self.max_escalations == 0 {
            bail!(
                "replicas = {} is even: an even split could never be broken without an escalation round; set max_escalations >= 1 or use an odd replica count",
                self.replicas
            );
        }
        let bid_deadline = if market == MarketType::Auction {
            now + self.bid_secs
        } else {
            0
        };
        Ok(PostJobArgs {
            job_id,
            kernel_id: kernel.as_u16(),
            spec_version: kernel.spec_version(),
            spec_hash,
            input_uri,
            market,
            price_per_replica: price,
            replicas: self.replicas,
            max_escalations: self.max_escalations,
            requirements: Requirements {
                min_vram_mb: self.requirements.min_vram_mb,
                min_compute_capability: self.requirements.min_compute_capability,
                capabilities: if self.requirements.cuda {
                    tessera::constants::CAP_CUDA
                } else {
                    0
                },
                min_stake,
                min_reputation_bps: self.requirements.min_reputation_bps,
            },
            exec_secs: self.exec_secs.unwrap_or(30),
            deadline: now + self.deadline_secs.max(self.bid_secs + 1),
            bid_deadline,
        })
    }
}

fn value_str(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<JobSpec> {
        Ok(toml::from_str(text)?)
    }

    #[test]
    fn job_files_build_inputs_and_args() {
        let spec = parse(
            "kernel = \"gemm-i8\"\nprice = \"2.5\"\nreplicas = 3\n[input]\nm = 8\nn = 4\nk = 2\n",
        )
        .unwrap();
        let blob = spec.input().unwrap();
        let job = tessera_compute::Job::parse(&blob, &Default::default()).unwrap();
        assert_eq!(job.kernel(), KernelId::GemmI8);
        let args = spec
            .post_args(9, [1; 32], "file:///x".into(), 6, 1_000)
            .unwrap();
        assert_eq!(args.price_per_replica, 2_500_000);
        assert_eq!(args.replicas, 3);
        assert_eq!(args.deadline, 1_600);
        assert_eq!(args.market, MarketType::Fixed);

        let r = parse("kernel = \"render\"\nprice = 1\n[input]\nwidth = 8\nspp = 1\n").unwrap();
        assert!(r.input().is_ok());
        let inf = parse("kernel = \"inference\"\nprice = 1\nmarket = \"auction\"\n").unwrap();
        assert!(inf.input().is_ok());
        assert_eq!(
            inf.post_args(1, [0; 32], String::new(), 6, 0)
                .unwrap()
                .market,
            MarketType::Auction
        );
    }

    #[test]
    fn render_job_files_carry_the_environment() {
        use crate::scene_import::environment::Environment;
        let r = parse(
            "kernel = \"render\"\nprice = 1\n[input]\nscene = \"shot.glb\"\nenvironment = \"0.2,0.3,0.4\"\n",
        )
        .unwrap();
        assert_eq!(
            r.input.render_options().unwrap().environment,
            Some(Environment::Color([0.2, 0.3, 0.4]))
        );
        let r = parse(
            "kernel = \"render\"\nprice = 1\n[input]\nscene = \"shot.glb\"\nenvironment = \"sky.exr\"\n",
        )
        .unwrap();
        let e = r.input.render_options().unwrap_err();
        assert!(format!("{e:#}").contains("--environment sky.exr"), "{e:#}");
    }

    #[test]
    fn bad_job_files_say_what_is_wrong() {
        assert!(parse("kernel = \"gemm-i8\"\nprice = 1\nbogus = 2\n").is_err());
        let e = parse("kernel = \"fft\"\nprice = 1\n")
            .unwrap()
            .input()
            .unwrap_err();
        assert!(e.to_string().contains("unknown kernel"), "{e}");
        let e = parse("kernel = \"render\"\nprice = 1\n[input]\nscene = \"/nonexistent.json\"\n")
            .unwrap()
            .input()
            .unwrap_err();
        assert!(format!("{e:#}").contains("scene"), "{e:#}");
        let e = parse("kernel = \"gemm-i8\"\nprice = \"x\"\n")
            .unwrap()
            .post_args(1, [0; 32], String::new(), 6, 0)
            .unwrap_err();
        assert!(format!("{e:#}").contains("price"), "{e:#}");
        // absurd sizes are refused by the kernel's own limits
        let e = parse("kernel = \"gemm-f32\"\nprice = 1\n[input]\nm = 4000000\nk = 4000000\n")
            .unwrap()
            .input();
        assert!(e.is_err());
    }
}
