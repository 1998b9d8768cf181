//! The submitter's side of a job: post it (input uploaded to a blob store, escrow funded),
//! follow it, and fetch its verified result. Used by the `tessera` CLI, the demo and the tests.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use solana_client::rpc_client::RpcClient;
use solana_sdk::{pubkey::Pubkey, signature::Keypair, signature::Signature, signer::Signer};
use tessera::state::{Claim, ClaimState, Config, Job};
use tessera_compute::{KernelId, Output, OutputMeta};

use crate::jobspec::JobSpec;
use tessera_blobs as blobs;
use tessera_blobs::BlobTarget;
use tessera_rpc as rpc;
use tessera_sdk::accounts::{claim_state_name, state_name};
use tessera_sdk::units::format_amount;
use tessera_sdk::{ix, pda};

/// A posted job.
#[derive(Clone, Debug)]
pub struct Posted {
    pub job: Pubkey,
    pub job_id: u64,
    pub deposit: u64,
    pub input_uri: String,
    pub spec_hash: [u8; 32],
    pub slot: u64,
}

/// Builds the input, uploads it to `blobs`, checks the client can pay, and posts the job
/// (waits until it is confirmed).
pub fn post(
    rpc: &RpcClient,
    client: &Keypair,
    spec: &JobSpec,
    blobs_target: &BlobTarget,
) -> Result<Posted> {
    // The job file is checked before anything is asked of the network.
    let input = spec.input()?;
    let mut poster = Poster::new(rpc, client)?;
    let sent = poster.send_input(spec, input, blobs_target)?;
    poster
        .confirm(vec![sent], CONFIRM_TIMEOUT)
        .pop()
        .expect("one job sent, one verdict")
        .1
}

/// How long [`post`] waits for its transaction.
const CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A `post_job` sent by a [`Poster`], not confirmed yet.
#[derive(Clone, Debug)]
pub struct Sent {
    pub job: Pubkey,
    pub job_id: u64,
    pub deposit: u64,
    pub input_uri: String,
    pub spec_hash: [u8; 32],
    pub signature: Signature,
}

/// Posts many jobs from one client without a round trip per job. The config, the mint's
/// decimals, the client's balance, the cluster clock and a blockhash are read once (the
/// blockhash again every [`Poster::BLOCKHASH_REUSE`]); each [`Poster::send`] uploads the input
/// and sends its `post_job` without waiting, and [`Poster::confirm`] confirms a whole batch
/// with one `getSignatureStatuses` per 256 signatures per poll. A job the program refuses
/// comes back from `confirm` with its error; its deposit never left the client.
pub struct Poster<'a> {
    rpc: &'a RpcClient,
    client: &'a Keypair,
    config: Config,
    decimals: u8,
    tctx: ix::TokenCtx,
    cluster_now: i64,
    clock_read: std::time::Instant,
    blockhash: (solana_sdk::hash::Hash, std::time::Instant),
    next_id: u64,
    /// Tokens left for deposits: the balance read at the start less what was sent since.
    available: u64,
}

impl<'a> Poster<'a> {
    /// A blockhash is good for about 150 blocks (~60 s); a fresh one is fetched this often.
    pub const BLOCKHASH_REUSE: std::time::Duration = std::time::Duration::from_secs(20);

    pub fn new(rpc: &'a RpcClient, client: &'a Keypair) -> Result<Poster<'a>> {
        let config = rpc::fetch_config(rpc)?;
        if config.paused {
            bail!("the network is paused by its authority; no jobs can be posted now");
        }
        let decimals = rpc::decimals(rpc, &config)?;
        let tctx = ix::TokenCtx::from_config(&config);
        let available = rpc::token_balance(rpc, &tctx.ata(&client.pubkey())).unwrap_or(0);
        let cluster_now = rpc::cluster_time(rpc)?;
        let next_id = rpc::next_job_id(rpc, &client.pubkey())?;
        let blockhash = rpc.get_latest_blockhash().context("get_latest_blockhash")?;
        Ok(Poster {
            rpc,
            client,
            config,
            decimals,
            tctx,
            cluster_now,
            clock_read: std::time::Instant::now(),
            blockhash: (blockhash, std::time::Instant::now()),
            next_id,
            available,
        })
    }

    /// Builds the input, uploads it, checks the client can pay, and sends the `post_job`
    /// (no confirmation: see [`Poster::confirm`]).
    pub fn send(&mut self, spec: &JobSpec, blobs_target: &BlobTarget) -> Result<Sent> {
        let input = spec.input()?;
        self.send_input(spec, input, blobs_target)
    }

    /// [`Poster::send`] with the input already built from `spec`.
    pub fn send_input(
        &mut self,
        spec: &JobSpec,
        input: Vec<u8>,
        blobs_target: &BlobTarget,
    ) -> Result<Sent> {
        let spec_hash = blobs::hash(&input);
        let (_, input_uri) = blobs::block_on(blobs_target.put(&input))?;
        if input_uri.len() > tessera::constants::MAX_URI_LEN {
            bail!(
                "input URI is {} characters, the program accepts {}: use a shorter blob store path",
                input_uri.len(),
                tessera::constants::MAX_URI_LEN
            );
        }
        let now = self
            .cluster_now
            .saturating_add(self.clock_read.elapsed().as_secs() as i64);
        let job_id = self.next_id;
        let mut args = spec.post_args(job_id, spec_hash, input_uri.clone(), self.decimals, now)?;
        // the spec version the input was built for (render: 1 for JSON scenes, 2 for meshes)
        args.spec_version = tessera_compute::format::read_header(&input)
            .context("the job input has no valid Tessera header")?
            .spec_version;
        if args.replicas == 0 || args.replicas > self.config.max_replicas {
            bail!(
                "replicas must be between 1 and {} on this network",
                self.config.max_replicas
            );
        }
        let budget = tessera::state::JobCore::budget_slots(args.replicas, args.max_escalations)
            .map_err(|e| anyhow::anyhow!("max_escalations: {e}"))?;
        let deposit = args
            .price_per_replica
            .checked_mul(u64::from(budget))
            .context("price × replicas overflows")?;
        if self.available < deposit {
            bail!(
                "insufficient funds: this job escrows {} tokens ({} replica slots × {}), {} holds {}; get tokens from the network's mint authority",
                format_amount(deposit, self.decimals),
                budget,
                format_amount(args.price_per_replica, self.decimals),
                self.client.pubkey(),
                format_amount(self.available, self.decimals)
            );
        }
        if self.blockhash.1.elapsed() > Self::BLOCKHASH_REUSE {
            let h = self
                .rpc
                .get_latest_blockhash()
                .context("get_latest_blockhash")?;
            self.blockhash = (h, std::time::Instant::now());
        }
        let job = pda::job(&self.client.pubkey(), job_id).0;
        let tx = solana_sdk::transaction::Transaction::new_signed_with_payer(
            &ix::with_compute_limit(&[ix::post_job(&self.tctx, &self.client.pubkey(), args)]),
            Some(&self.client.pubkey()),
            &[self.client],
            self.blockhash.0,
        );
        let signature = self.rpc.send_transaction(&tx).context("post_job")?;
        self.available -= deposit;
        self.next_id = pda::fast_job_id(&self.client.pubkey(), job_id.wrapping_add(1));
        Ok(Sent {
            job,
            job_id,
            deposit,
            input_uri,
            spec_hash,
            signature,
        })
    }

    /// Waits (up to `timeout`) until every job of `sent` is confirmed or refused; one verdict
    /// per job, in order. A refused or unconfirmed job gives back its deposit to the
    /// [`Poster`]'s running balance.
    pub fn confirm(
        &mut self,
        sent: Vec<Sent>,
        timeout: std::time::Duration,
    ) -> Vec<(Sent, Result<Posted>)> {
        let start = std::time::Instant::now();
        let mut verdicts: Vec<Option<Result<Posted>>> = sent.iter().map(|_| None).collect();
        loop {
            let waiting: Vec<usize> = (0..sent.len()).filter(|&i| verdicts[i].is_none()).collect();
            if waiting.is_empty() {
                break;
            }
            if start.elapsed() > timeout {
                for i in waiting {
                    verdicts[i] = Some(Err(anyhow::anyhow!(
                        "post_job {} not confirmed within {} s",
                        sent[i].signature,
                        timeout.as_secs()
                    )));
                }
                break;
            }
            for chunk in waiting.chunks(256) {
                let sigs: Vec<Signature> = chunk.iter().map(|&i| sent[i].signature).collect();
                let statuses = match self.rpc.get_signature_statuses(&sigs) {
                    Ok(r) => r.value,
                    Err(_) => continue, // transient: asked again next poll
                };
                for (&i, st) in chunk.iter().zip(statuses) {
                    let Some(st) = st else { continue };
                    let s = &sent[i];
                    if let Some(err) = st.err {
                        verdicts[i] = Some(Err(anyhow::anyhow!(
                            "post_job {} refused: {err}",
                            s.signature
                        )));
                    } else if st.satisfies_commitment(self.rpc.commitment()) {
                        verdicts[i] = Some(Ok(Posted {
                            job: s.job,
                            job_id: s.job_id,
                            deposit: s.deposit,
                            input_uri: s.input_uri.clone(),
                            spec_hash: s.spec_hash,
                            slot: st.slot,
                        }));
                    }
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        sent.into_iter()
            .zip(verdicts)
            .map(|(s, v)| {
                let v = v.expect("every job has a verdict");
                if v.is_err() {
                    self.available += s.deposit;
                }
                (s, v)
            })
            .collect()
    }
}

/// One line describing a job's progress.
pub fn progress_line(job: &Job) -> String {
    format!(
        "{} · round {} · claims {}/{} · commits {} · reveals {}",
        state_name(job.state),
        job.round,
        job.round_claims,
        job.slots,
        job.round_commits,
        job.round_reveals
    )
}

/// A multi-line status report of a job and its claims.
pub fn describe(job_key: &Pubkey, job: &Job, claims: &[(Pubkey, Claim)], decimals: u8) -> String {
    let kernel = KernelId::from_u16(job.kernel_id)
        .map(|k| k.name().to_string())
        .unwrap_or_else(|| format!("kernel {}", job.kernel_id));
    let mut s = format!(
        "job          {job_key}\nclient       {}\nkernel       {kernel} (spec v{})\ninput        {}\nprice        {} per replica ({:?} market), k = {}\nstate        {}\nescrow       deposit {} · paid {} · refunded {} · fees owed {}\n",
        job.client,
        job.spec_version,
        job.input_uri,
        format_amount(job.price_per_replica, decimals),
        job.market,
        job.replicas,
        progress_line(job),
        format_amount(job.deposit, decimals),
        format_amount(job.paid_out, decimals),
        format_amount(job.refunded, decimals),
        format_amount(job.treasury_owed, decimals),
    );
    if job.has_winner {
        s.push_str(&format!("result       {}\n", blobs::hex(&job.winning_hash)));
    }
    for (_, c) in claims {
        let hash = if c.state == ClaimState::Revealed {
            let h = blobs::hex(&c.result_hash);
            let mark = if job.has_winner && c.result_hash == job.winning_hash {
                "majority"
            } else if job.has_winner {
                "MINORITY"
            } else {
                ""
            };
            format!(" {}… {mark}", &h[..16])
        } else {
            String::new()
        };
        s.push_str(&format!(
            "  claim      node {} · round {} · {}{hash}\n",
            c.node,
            c.round,
            claim_state_name(c.state)
        ));
    }
    s
}

/// A job's verified result.
pub struct VerifiedResult {
    pub output: Output,
    pub source: String,
}

/// Fetches the winning result of `job` and checks it: the blob must hash to the on-chain
/// winning hash (it is the result's canonical encoding), and the input must hash to the job's
/// spec hash (it gives the output's shape).
pub fn fetch_result(
    rpc: &RpcClient,
    job_key: &Pubkey,
    blobs_hint: Option<&str>,
) -> Result<VerifiedResult> {
    let job: Job = rpc::fetch(rpc, "Job", job_key)?;
    if !job.has_winner {
        bail!(
            "job {job_key} has no verified result yet (state: {}); wait with `tessera job status {job_key} --watch`",
            state_name(job.state)
        );
    }
    // The job's own pointer first (recorded from the first winning claim when it settled, so
    // it outlives the claims), then the winning claims still open, then the caller's store.
    let mut uris: Vec<String> = Vec::new();
    if !job.result_uri.is_empty() {
        uris.push(job.result_uri.clone());
    }
    for (_, c) in rpc::claims_of(rpc, job_key)? {
        if c.state == ClaimState::Revealed
            && c.result_hash == job.winning_hash
            && !c.output_uri.is_empty()
            && !uris.contains(&c.output_uri)
        {
            uris.push(c.output_uri);
        }
    }
    if let Some(base) = blobs_hint {
        uris.push(BlobTarget::parse(base)?.uri_of(&job.winning_hash));
    }
    if uris.is_empty() {
        bail!("no copy of result {} is known yet: the winning claims have not revealed a URI and none has settled; pass --blobs <blob store> to look in a store", blobs::hex(&job.winning_hash));
    }
    let mut last_err = None;
    let mut found = None;
    for uri in &uris {
        match blobs::block_on(blobs::fetch(uri, &job.winning_hash)) {
            Ok(b) => {
                found = Some((b, uri.clone()));
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    let Some((blob, source)) = found else {
        return Err(last_err
            .unwrap()
            .context("no copy of the result could be fetched"));
    };
    let input = blobs::block_on(blobs::fetch(&job.input_uri, &job.spec_hash))
        .context("fetching the job's input (needed for the output's shape)")?;
    Ok(VerifiedResult {
        output: crate::verify::verify_result(&job, &blob, &input)?,
        source,
    })
}

/// Writes a result in its natural form: PNG for renders, a little-endian matrix file for
/// GEMMs, JSON predictions for inference, `.npy` (and ids) for embeddings. Returns the files and a one-line summary.
pub fn save_result(out: &Output, dir: &Path, stem: &str) -> Result<(Vec<PathBuf>, String)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    match out.meta {
        OutputMeta::Image { width, height } => {
            let p = dir.join(format!("{stem}.png"));
            out.save_png(&p)?;
            Ok((vec![p], format!("{width}×{height} RGBA image")))
        }
        OutputMeta::Radiance { width, height } => {
            let rgb = tessera_compute::render::decode_radiance(&out.bytes, width, height)?;
            let files = crate::render_plan::write_frame(dir, stem, width, height, &rgb)?;
            Ok((
                files,
                format!("{width}×{height} render: PNG, 16-bit PNG and linear float PFM"),
            ))
        }
        OutputMeta::Matrix { rows, cols } => {
            let p = dir.join(format!("{stem}.{}.bin", out.kernel.name()));
            std::fs::write(&p, &out.bytes)?;
            let elem = if out.kernel == KernelId::GemmF32 {
                "f32"
            } else {
                "i32"
            };
            Ok((
                vec![p],
                format!("{rows}×{cols} {elem} matrix, row-major little-endian"),
            ))
        }
        OutputMeta::Embeddings { rows, .. } => {
            let rows = rows as usize;
            let dim = if rows == 0 {
                0
            } else {
                out.bytes.len() / 4 / rows
            };
            let emb = tessera_compute::embed::decode_output(&out.bytes, dim)?;
            let ids: Vec<String> = (0..rows).map(|i| i.to_string()).collect();
            let files = crate::embedding::write_embeddings(dir, stem, dim, &emb, &ids)?;
            Ok((
                files,
                format!("{rows} embeddings of {dim} f32 (ids: their order in the job)"),
            ))
        }
        OutputMeta::Checkpoint { steps } => {
            let link = tessera_compute::train::decode_output(&out.bytes)?;
            let model_dir = dir.join(stem);
            let files = crate::training::write_checkpoint(&model_dir, &link)?;
            let last = link.losses.last().copied().unwrap_or(f32::NAN);
            Ok((
                files,
                format!(
                    "a checkpoint after steps {} ..= {} ({steps} steps, last loss {last:.4}): a Hugging Face model directory",
                    link.first_step + 1,
                    link.checkpoint.step
                ),
            ))
        }
        OutputMeta::Completions { prompts } => {
            let done = tessera_compute::generate::decode_output(&out.bytes)?;
            let p = dir.join(format!("{stem}.completions.jsonl"));
            let mut text = String::new();
            for (i, c) in done.iter().enumerate() {
                let finish = match c.finish {
                    tessera_compute::generate::Finish::Stop => "stop",
                    tessera_compute::generate::Finish::Length => "length",
                };
                text.push_str(&serde_json::to_string(&serde_json::json!({
                    "prompt": i, "finish": finish, "token_ids": c.tokens,
                }))?);
                text.push('\n');
            }
            std::fs::write(&p, text)?;
            let n: usize = done.iter().map(|c| c.tokens.len()).sum();
            Ok((
                vec![p],
                format!("{prompts} completions, {n} new tokens (token ids: JSON lines)"),
            ))
        }
        OutputMeta::Logits { batch, classes } => {
            let preds = tessera_compute::inference::decode_predictions(&out.bytes, batch as usize)?;
            let p = dir.join(format!("{stem}.predictions.json"));
            std::fs::write(&p, serde_json::to_vec(&preds)?)?;
            let shown: Vec<String> = preds.iter().take(12).map(|c| c.to_string()).collect();
            Ok((
                vec![p],
                format!(
                    "{batch} predictions over {classes} classes: [{}{}]",
                    shown.join(", "),
                    if preds.len() > 12 { ", …" } else { "" }
                ),
            ))
        }
    }
}
