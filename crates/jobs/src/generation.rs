//! Text generation on the client: a Hugging Face decoder directory packed as a `TSLM` blob,
//! prompts read from JSON lines, the chat template of `tokenizer_config.json` applied (a Jinja
//! engine, with Python's string methods), the tokenizer run, the prompts cut into shard jobs,
//! and completions decoded back to text.
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_compute::generate::{self, Completion, DecoderConfig, DecoderFiles, Finish, Sampling};
use tokenizers::Tokenizer;

/// Whether `dir` holds a decoder (its `config.json` names a `…ForCausalLM` class).
pub fn is_decoder_dir(dir: &Path) -> bool {
    std::fs::read(dir.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.get("architectures").cloned())
        .and_then(|a| a.as_array().cloned())
        .is_some_and(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .any(|n| n.ends_with("ForCausalLM"))
        })
}

/// The `TSLM` blob of the decoder in `dir` (`config.json`, `model.safetensors`,
/// `tokenizer.json`; `tokenizer_config.json` and `generation_config.json` when present),
/// checked as a worker would check it.
pub fn decoder_blob(dir: &Path) -> Result<Vec<u8>> {
    let read = |name: &str| std::fs::read(dir.join(name));
    let need = |name: &str| -> Result<Vec<u8>> {
        read(name).with_context(|| {
            format!(
                "reading {} (a decoder directory holds config.json, model.safetensors and tokenizer.json)",
                dir.join(name).display()
            )
        })
    };
    if !dir.join("model.safetensors").exists() && dir.join("model.safetensors.index.json").exists()
    {
        bail!(
            "{}: the weights are split over several safetensors files; join them into one \
             model.safetensors (safetensors' `save_file` of every tensor) first",
            dir.display()
        );
    }
    let config = need("config.json")?;
    let tokenizer = need("tokenizer.json")?;
    let weights = need("model.safetensors")?;
    let tokenizer_config = read("tokenizer_config.json").ok();
    let generation_config = read("generation_config.json").ok();
    let blob = DecoderFiles {
        config: &config,
        tokenizer: Some(&tokenizer),
        tokenizer_config: tokenizer_config.as_deref(),
        generation_config: generation_config.as_deref(),
        weights: &weights,
    }
    .encode()?;
    let c = DecoderConfig::parse(&config).with_context(|| format!("{}", dir.display()))?;
    // every tensor present, with its shape and dtype, and finite
    generate::DecoderModel::parse(&blob).with_context(|| format!("{}", dir.display()))?;
    check_tokenizer(&c, &load_tokenizer(&tokenizer)?)?;
    Ok(blob)
}

/// Loads a `tokenizer.json` (no padding: a prompt is its real tokens).
pub fn load_tokenizer(json: &[u8]) -> Result<Tokenizer> {
    let mut t = Tokenizer::from_bytes(json)
        .map_err(|e| anyhow::anyhow!("tokenizer.json does not load: {e}"))?;
    t.with_padding(None);
    Ok(t)
}

/// A tokenizer whose ids run past the model's vocabulary belongs to another model.
pub fn check_tokenizer(c: &DecoderConfig, t: &Tokenizer) -> Result<()> {
    let n = t.get_vocab_size(true);
    if n > c.vocab_size {
        bail!(
            "tokenizer.json has {n} tokens, the model's vocabulary {}: the tokenizer does not match the model",
            c.vocab_size
        );
    }
    Ok(())
}

/// What the client needs of a decoder blob: its config, tokenizer, chat template and stop
/// tokens.
pub struct DecoderInfo {
    /// The config.
    pub config: DecoderConfig,
    /// The tokenizer.
    pub tokenizer: Tokenizer,
    /// `tokenizer_config.json`, if shipped.
    pub tokenizer_config: Option<Value>,
    /// End-of-sequence ids (`generation_config.json`, else `config.json`).
    pub eos: Vec<u32>,
}

impl DecoderInfo {
    /// Reads the parts of a `TSLM` blob the client uses.
    pub fn from_blob(blob: &[u8]) -> Result<Self> {
        let f = DecoderFiles::split(blob)?;
        let config = DecoderConfig::parse(f.config)?;
        let tokenizer = load_tokenizer(f.tokenizer.context(
            "this decoder blob carries no tokenizer.json: put the model with `tessera model put <dir>`",
        )?)?;
        check_tokenizer(&config, &tokenizer)?;
        let tokenizer_config = f
            .tokenizer_config
            .map(serde_json::from_slice::<Value>)
            .transpose()
            .context("tokenizer_config.json")?;
        let gen = f
            .generation_config
            .map(serde_json::from_slice::<Value>)
            .transpose()
            .context("generation_config.json")?;
        let mut eos = generate::config::token_ids(gen.as_ref().and_then(|g| g.get("eos_token_id")));
        if eos.is_empty() {
            eos = config.eos_token_ids.clone();
        }
        Ok(Self {
            config,
            tokenizer,
            tokenizer_config,
            eos,
        })
    }

    fn special(&self, key: &str) -> String {
        match self.tokenizer_config.as_ref().and_then(|c| c.get(key)) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(o)) => o
                .get("content")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            _ => String::new(),
        }
    }

    /// The chat template applied to `messages`, with the assistant's turn opened.
    pub fn chat(&self, messages: &[Message]) -> Result<String> {
        let template = self
            .tokenizer_config
            .as_ref()
            .and_then(|c| c.get("chat_template"))
            .and_then(Value::as_str)
            .context("the model's tokenizer_config.json has no chat_template: give prompts as {\"prompt\": text}")?;
        let mut env = minijinja::Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    msg,
                ))
            },
        );
        env.add_template("chat", template)
            .context("the chat template does not parse")?;
        let out = env
            .get_template("chat")?
            .render(minijinja::context! {
                messages => messages
                    .iter()
                    .map(|m| minijinja::Value::from_pairs([
                        ("role", m.role.as_str()),
                        ("content", m.content.as_str()),
                    ]))
                    .collect::<minijinja::Value>(),
                add_generation_prompt => true,
                bos_token => self.special("bos_token"),
                eos_token => self.special("eos_token"),
            })
            .context("applying the chat template")?;
        Ok(out)
    }

    /// A prompt's token ids: a chat through the template (whose text carries its own special
    /// tokens), plain text with the tokenizer's special tokens, or ids as given.
    pub fn encode(&self, p: &Prompt) -> Result<Vec<u32>> {
        let ids = match &p.input {
            PromptInput::Messages(m) => {
                let text = self.chat(m)?;
                self.tokenizer
                    .encode(text, false)
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .get_ids()
                    .to_vec()
            }
            PromptInput::Text(t) => self
                .tokenizer
                .encode(t.as_str(), true)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .get_ids()
                .to_vec(),
            PromptInput::Ids(ids) => ids.clone(),
        };
        if ids.is_empty() {
            bail!("prompt `{}` has no tokens", p.id);
        }
        if let Some(t) = ids.iter().find(|&&t| t as usize >= self.config.vocab_size) {
            bail!(
                "prompt `{}`: token {t} is outside the model's vocabulary of {}",
                p.id,
                self.config.vocab_size
            );
        }
        Ok(ids)
    }

    /// `ids` as text (special tokens dropped).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| anyhow::anyhow!("decoding tokens: {e}"))
    }
}

/// One chat message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// Its text.
    pub content: String,
}

/// What a prompt line holds.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptInput {
    /// A chat, through the model's template.
    Messages(Vec<Message>),
    /// Plain text.
    Text(String),
    /// Token ids.
    Ids(Vec<u32>),
}

/// One prompt with its id.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// The id its completion is written under (the line number from 0 when not given).
    pub id: String,
    /// The prompt.
    pub input: PromptInput,
}

/// Reads prompts from JSON lines: `"text"`, `{"id"?, "prompt": "text"}`,
/// `{"id"?, "messages": [{"role", "content"}, …]}` or `{"id"?, "token_ids": [...]}`.
pub fn parse_prompts(data: &str) -> Result<Vec<Prompt>> {
    let mut out = Vec::new();
    for (n, line) in data.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let ctx = || format!("prompts line {}", n + 1);
        let v: Value = serde_json::from_str(line).with_context(ctx)?;
        let default_id = out.len().to_string();
        let (id, input) = match v {
            Value::String(s) => (default_id, PromptInput::Text(s)),
            Value::Object(o) => {
                let id = match o.get("id") {
                    None => default_id,
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(x)) => x.to_string(),
                    Some(other) => bail!("{}: `id` {other} is not a string or number", ctx()),
                };
                let input = if let Some(m) = o.get("messages") {
                    PromptInput::Messages(
                        serde_json::from_value(m.clone())
                            .with_context(|| format!("{}: `messages`", ctx()))?,
                    )
                } else if let Some(Value::String(t)) = o.get("prompt") {
                    PromptInput::Text(t.clone())
                } else if let Some(ids) = o.get("token_ids") {
                    PromptInput::Ids(
                        serde_json::from_value(ids.clone())
                            .with_context(|| format!("{}: `token_ids`", ctx()))?,
                    )
                } else {
                    bail!("{}: expected `messages`, `prompt` or `token_ids`", ctx());
                };
                (id, input)
            }
            other => bail!("{}: expected a string or an object, found {other}", ctx()),
        };
        out.push(Prompt { id, input });
    }
    if out.is_empty() {
        bail!("no prompts");
    }
    Ok(out)
}

/// Prompts cut into generate jobs.
pub struct GeneratePlan {
    /// One input blob per shard, with its first prompt's index and its prompts' ids.
    pub shards: Vec<(Vec<u8>, u32, Vec<String>)>,
    /// Prompt tokens in all.
    pub tokens: usize,
}

/// The options of a generate post.
#[derive(Debug, Clone, Copy)]
pub struct GenerateOptions {
    /// New tokens at most per prompt.
    pub max_new_tokens: u32,
    /// How tokens are chosen.
    pub sampling: Sampling,
    /// Jobs to split the prompts into.
    pub shards: u32,
}

/// Tokenises `prompts` for the decoder `info` (blob `hash`, at `uri`) and cuts them into
/// `opts.shards` jobs of about equal work, each refused here if a worker would refuse it.
pub fn plan_shards(
    info: &DecoderInfo,
    hash: &[u8; 32],
    uri: &str,
    prompts: &[Prompt],
    opts: &GenerateOptions,
) -> Result<GeneratePlan> {
    let c = &info.config;
    let max = generate::job::MAX_NEW_TOKENS;
    if opts.max_new_tokens == 0 || opts.max_new_tokens > max {
        bail!(
            "a limit of {} new tokens (1 ..= {max})",
            opts.max_new_tokens
        );
    }
    opts.sampling.check()?;
    let mut ids = Vec::with_capacity(prompts.len());
    for p in prompts {
        let t = info.encode(p)?;
        let need = t.len() + opts.max_new_tokens as usize;
        if need > c.max_position_embeddings {
            bail!(
                "prompt `{}`: {} tokens and {} new ones exceed the model's context of {}",
                p.id,
                t.len(),
                opts.max_new_tokens,
                c.max_position_embeddings
            );
        }
        ids.push(t);
    }
    let shards = (opts.shards.max(1) as usize).min(ids.len());
    let work = |t: &Vec<u32>| t.len() + opts.max_new_tokens as usize;
    let total: usize = ids.iter().map(work).sum();
    let mut out = Vec::with_capacity(shards);
    let (mut start, mut acc) = (0usize, 0usize);
    for s in 0..shards {
        let left = shards - s;
        let mut end = start;
        // at least one prompt per shard, leaving one for each shard after it
        while end < ids.len() - (left - 1)
            && (end == start || acc + work(&ids[end]) <= total * (s + 1) / shards)
        {
            acc += work(&ids[end]);
            end += 1;
        }
        if s == shards - 1 {
            end = ids.len();
        }
        let blob = generate::encode_input(
            hash,
            uri,
            opts.max_new_tokens,
            &opts.sampling,
            &info.eos,
            start as u32,
            &ids[start..end],
        )?;
        let names = prompts[start..end].iter().map(|p| p.id.clone()).collect();
        out.push((blob, start as u32, names));
        start = end;
    }
    Ok(GeneratePlan {
        shards: out,
        tokens: ids.iter().map(Vec::len).sum(),
    })
}

/// The file that joins a sharded generate post's results.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// `generate`.
    pub kernel: String,
    /// The decoder blob's hash.
    pub model: String,
    /// Where the decoder blob is (its tokenizer decodes the completions).
    pub model_uri: String,
    /// The shards in prompt order.
    pub shards: Vec<ManifestShard>,
}

impl Manifest {
    /// Reads a generate manifest (`None` when the file is another kind of manifest).
    pub fn read(path: &Path) -> Result<Option<Manifest>> {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let v: Value = serde_json::from_slice(&data)
            .with_context(|| format!("{} is not a manifest", path.display()))?;
        if v.get("kernel").and_then(Value::as_str) != Some("generate") {
            return Ok(None);
        }
        Ok(Some(serde_json::from_value(v).with_context(|| {
            format!("{} is not a generate manifest", path.display())
        })?))
    }

    /// Writes it.
    pub fn write(&self, path: &Path) -> Result<()> {
        std::fs::write(path, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", path.display()))
    }
}

/// One shard of a manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestShard {
    /// Its job's address.
    pub job: String,
    /// The ids of its prompts.
    pub ids: Vec<String>,
}

/// Completions as JSON lines: `{"id", "text", "token_ids", "finish"}`, text decoded when a
/// tokenizer is given.
pub fn completions_jsonl(
    ids: &[String],
    done: &[Completion],
    info: Option<&DecoderInfo>,
) -> Result<String> {
    let mut out = String::new();
    for (id, c) in ids.iter().zip(done) {
        let mut line = serde_json::json!({
            "id": id,
            "finish": match c.finish { Finish::Stop => "stop", Finish::Length => "length" },
            "token_ids": c.tokens,
        });
        if let Some(info) = info {
            line["text"] = Value::String(info.decode(&c.tokens)?);
        }
        out.push_str(&serde_json::to_string(&line)?);
        out.push('\n');
    }
    Ok(out)
}
