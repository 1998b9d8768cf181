//! The claim driver against a scripted RPC: what it reads while it waits for a job to show in
//! its sortition view (bench-rpc measured the cost of the old way: every look went back through the
//! step's claim, job and clock reads).
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::json;
use solana_client::rpc_request::RpcRequest;
use solana_sdk::signature::Keypair;
use solana_sdk::signer::Signer;
use tessera_blobs::fetch_policy::FetchPolicy;
use tokio::time::Instant;

use super::claim::{MISSING_LOOKS, MISSING_WAIT};
use super::*;
use crate::chain::fees::FeePolicy;
use crate::chain::testing::{at_slot, Log, Scripted};
use crate::chain::RpcOptions;
use crate::state::Entry;

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tessera-sched-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A worker whose chain answers every account read with "no such account".
fn worker(dir: &Path) -> (Arc<Worker>, Log) {
    let (sender, log) = Scripted::new(|req, params| match req {
        RpcRequest::GetMultipleAccounts => {
            let n = params[0].as_array().map_or(0, Vec::len);
            Ok(at_slot(10, json!(vec![serde_json::Value::Null; n])))
        }
        // (read once by the slot-freshness tracker, at the first answer)
        RpcRequest::GetGenesisHash => Ok(json!("4sGjMW1sUnHzSxGspuhpqLDx6wiyjNtZAMdL4VZHirAn")),
        _ => Err(format!("unexpected {req}")),
    });
    (worker_on(dir, sender, Keypair::new()), log)
}

/// A worker of `operator` over the scripted chain `sender`.
fn worker_on(dir: &Path, sender: Scripted, operator: Keypair) -> Arc<Worker> {
    let opts = RpcOptions {
        max_requests_per_minute: 0,
        fees: FeePolicy {
            max_micro_lamports: 0,
            min_micro_lamports: 0,
            percentile: 75,
            cache: Duration::from_secs(20),
        },
    };
    let chain = Arc::new(Chain::with_sender(
        sender,
        Arc::new(operator),
        Metrics::new(),
        &opts,
    ));
    let storage = Storage::new(
        &dir.join("cache"),
        dir.join("blobs").to_str().unwrap(),
        FetchPolicy::permissive(),
        1,
        Arc::new(Keypair::new()),
    )
    .unwrap();
    let w = Worker::new(
        chain,
        Journal::open(&dir.join("journal.redb")).unwrap(),
        Compute::new(tessera_compute::Backend::cpu(), 1, 1.0),
        storage,
        TokenCtx {
            mint: Pubkey::new_unique(),
            token_program: Pubkey::new_unique(),
            treasury: Pubkey::new_unique(),
        },
        1,
        10_000,
        1,
        "ws://127.0.0.1:1".into(),
    );
    Arc::new(w)
}

/// The requests made, but the freshness tracker's one-off `getGenesisHash`.
fn methods(log: &Log) -> Vec<RpcRequest> {
    let all: Vec<RpcRequest> = log.lock().unwrap().iter().map(|(r, _)| *r).collect();
    assert!(
        all.iter()
            .filter(|r| **r == RpcRequest::GetGenesisHash)
            .count()
            <= 1
    );
    all.into_iter()
        .filter(|r| *r != RpcRequest::GetGenesisHash)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_job_missing_at_confirmed_costs_one_read_a_look_then_is_given_up() {
    let dir = temp("missing");
    let (w, log) = worker(&dir);
    let job = Pubkey::new_unique();
    let mut e = Entry::new(&job, Stage::Claiming);
    let start = Instant::now();
    assert_eq!(w.wait_for_draw(&mut e, false, true).await.unwrap(), None);
    assert_eq!(e.stage, Stage::Abandoned);
    assert_eq!(e.note.as_deref(), Some("job closed"));
    // the draw's one getMultipleAccounts a look, and nothing else (no claim, job or clock reads)
    let m = methods(&log);
    assert_eq!(m.len(), MISSING_LOOKS as usize + 1, "{m:?}");
    assert!(
        m.iter().all(|r| *r == RpcRequest::GetMultipleAccounts),
        "{m:?}"
    );
    // in plain base64: `base64+zstd` (solana-client's default) has the RPC node build a zstd
    // compressor for every account it returns, a third of its RPC thread under load
    for (r, params) in log.lock().unwrap().iter() {
        if *r == RpcRequest::GetMultipleAccounts {
            assert_eq!(params[1]["encoding"], "base64", "{params}");
        }
    }
    // with no websocket news, each look waited MISSING_WAIT
    let waited = start.elapsed();
    assert!(waited >= MISSING_WAIT * MISSING_LOOKS, "{waited:?}");
    assert!(waited < MISSING_WAIT * (MISSING_LOOKS + 1), "{waited:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_websocket_news_of_the_job_ends_each_wait_early() {
    let dir = temp("woken");
    let (w, log) = worker(&dir);
    let job = Pubkey::new_unique();
    let events = w.events.clone();
    let news = Arc::new(Mutex::new(0u32));
    let n = news.clone();
    // the progress subscription reports a change of the job every 50 ms
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            events.changed(&job);
            *n.lock().unwrap() += 1;
        }
    });
    let mut e = Entry::new(&job, Stage::Claiming);
    let start = Instant::now();
    assert_eq!(w.wait_for_draw(&mut e, false, true).await.unwrap(), None);
    ticker.abort();
    let waited = start.elapsed();
    assert!(
        waited < MISSING_WAIT * 2,
        "8 looks woken by the websocket, not by the timeout: {waited:?}"
    );
    assert!(*news.lock().unwrap() >= MISSING_LOOKS - 1);
    assert_eq!(methods(&log).len(), MISSING_LOOKS as usize + 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_drawn_claim_is_dropped_while_draining_only_on_its_first_step() {
    let dir = temp("drain");
    let (w, log) = worker(&dir);
    w.set_draining(true);
    // first step: nothing was ever sent for it, so it is dropped without a read
    let mut e = Entry::new(&Pubkey::new_unique(), Stage::Claiming);
    assert_eq!(w.wait_for_draw(&mut e, false, true).await.unwrap(), None);
    assert_eq!(e.stage, Stage::Abandoned);
    assert_eq!(e.note.as_deref(), Some("draining: no new claims"));
    assert!(methods(&log).is_empty());
    // a later step (its claim may have been sent before a restart) is not dropped for draining:
    // it looks at the chain (here the job is gone)
    let mut e = Entry::new(&Pubkey::new_unique(), Stage::Claiming);
    assert_eq!(w.wait_for_draw(&mut e, false, false).await.unwrap(), None);
    assert_eq!(e.note.as_deref(), Some("job closed"));
    assert!(!methods(&log).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 29: after "claim expired before the commit" the worker saw the job open again, and the
/// claiming step took its own timed-out claim for a live one: it ran the job two or three more
/// times, each run missing the deadline again. A timed-out claim is never taken over.
#[tokio::test(start_paused = true)]
async fn a_timed_out_claim_of_this_node_is_not_taken_for_a_live_one() {
    use anchor_lang::AccountSerialize;
    use base64::Engine;
    let dir = temp("timedout");
    let job = Pubkey::new_unique();
    let operator = Keypair::new();
    let node = tessera_sdk::pda::node(&operator.pubkey()).0;
    let claim_key = tessera_sdk::pda::claim(&job, &node).0;
    let claim = tessera::state::Claim {
        core: tessera::state::ClaimCore {
            job,
            node,
            operator: operator.pubkey(),
            price: 1,
            claimed_at: 1,
            deadline: 2,
            committed_at: 0,
            revealed_at: 0,
            collateral: 1,
            commitment: [0; 32],
            result_hash: [0; 32],
            round: 0,
            state: tessera::state::ClaimState::TimedOut,
            bump: 255,
            reserved: [0; 5],
        },
        output_uri: String::new(),
    };
    let mut data = vec![];
    claim.try_serialize(&mut data).unwrap();
    let account = json!({
        "data": [base64::engine::general_purpose::STANDARD.encode(&data), "base64"],
        "owner": tessera::ID.to_string(),
        "lamports": 1_000_000,
        "executable": false,
        "rentEpoch": 0,
        "space": data.len(),
    });
    let (sender, _log) = Scripted::new(move |req, params| match req {
        RpcRequest::GetMultipleAccounts => {
            let keys = params[0].as_array().cloned().unwrap_or_default();
            let values: Vec<serde_json::Value> = keys
                .iter()
                .map(|k| {
                    if k.as_str() == Some(claim_key.to_string().as_str()) {
                        account.clone()
                    } else {
                        serde_json::Value::Null
                    }
                })
                .collect();
            Ok(at_slot(10, json!(values)))
        }
        RpcRequest::GetGenesisHash => Ok(json!("4sGjMW1sUnHzSxGspuhpqLDx6wiyjNtZAMdL4VZHirAn")),
        _ => Err(format!("unexpected {req}")),
    });
    let w = worker_on(&dir, sender, operator);
    let mut e = Entry::new(&job, Stage::Claiming);
    e.attempts = 1; // a later attempt: it looks for an existing claim first
    w.step(&mut e).await.unwrap();
    assert_eq!(e.stage, Stage::Abandoned, "not computed again");
    assert_eq!(
        e.note.as_deref(),
        Some("this node's claim on the job timed out; it cannot claim it again")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 29: six hash-correct 16 MiB junk inputs were refused, but all stayed in the input cache
/// (downloads are cached before validation, and nothing evicted them). A refused input leaves.
#[tokio::test]
async fn a_refused_input_does_not_stay_in_the_cache() {
    use anchor_lang::AccountDeserialize;
    let dir = temp("junk");
    let (w, _log) = worker(&dir);
    let junk = vec![0x5Au8; 64 * 1024];
    let hash = w.storage.cache.put(&junk).unwrap();
    assert!(w.storage.cached(&hash).is_some());
    let mut data = <tessera::state::Job as anchor_lang::Discriminator>::DISCRIMINATOR.to_vec();
    data.resize(
        8 + <tessera::state::Job as anchor_lang::Space>::INIT_SPACE,
        0,
    );
    let mut job = tessera::state::Job::try_deserialize(&mut data.as_slice()).unwrap();
    job.spec_hash = hash;
    job.input_uri = "http://127.0.0.1:1/blobs/junk".into();
    job.price_per_replica = 1;
    let seen = crate::chain::watch::JobSeen {
        key: Pubkey::new_unique(),
        job: Box::new(job),
    };
    let (_tx, rx) = tokio::sync::watch::channel(false);
    w.clone().take(seen, rx).await;
    assert!(
        w.storage.cached(&hash).is_none(),
        "the junk input was evicted"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
