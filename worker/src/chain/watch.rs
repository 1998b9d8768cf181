//! Watching the chain over the websocket, the worker's primary feed:
//! * for work: `programSubscribe` on the job accounts that are open or bidding (filters: the
//!   `Job` discriminator and the `state` byte, at `processed`), plus a full
//!   `getProgramAccounts` re-sync on start, after every reconnect and every `[rpc]
//!   resync_secs` (so a notification missed while the worker was busy or the socket was down
//!   is never lost for good);
//! * every subscription and every notification counts against the `[rpc]` budget, as the
//!   HTTP requests do (providers bill both);
//! * for progress: `programSubscribe` on every job account at `confirmed`, which wakes the
//!   claims this node follows ([`JobEvents`]) when their job changes, instead of polling it.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use solana_account_decoder_client_types::UiDataSliceConfig;
use solana_client::nonblocking::pubsub_client::PubsubClient;
use solana_sdk::pubkey::Pubkey;
use tessera::state::{Job, JobState};
use tessera_rpc as sdk_rpc;
use tessera_sdk::accounts;
use tokio::sync::{mpsc, watch, Notify};
use tracing::{debug, info, warn};

use super::{backoff, Chain};

/// Wake-ups for the jobs this node has claims on: the websocket's progress subscription
/// notifies a job's follower whenever the job account changes (at `confirmed`), and every
/// follower after a reconnect (changes may have been missed meanwhile). A notification that
/// comes while nobody waits is kept for the next wait ([`Notify::notify_one`]).
#[derive(Default)]
pub struct JobEvents(Mutex<HashMap<Pubkey, Arc<Notify>>>);

impl JobEvents {
    /// The wake-up of `job` (one follower per job: its claim task).
    pub fn follow(&self, job: &Pubkey) -> Arc<Notify> {
        self.0.lock().unwrap().entry(*job).or_default().clone()
    }

    /// Stops following `job`.
    pub fn unfollow(&self, job: &Pubkey) {
        self.0.lock().unwrap().remove(job);
    }

    pub(crate) fn changed(&self, job: &Pubkey) {
        if let Some(n) = self.0.lock().unwrap().get(job) {
            n.notify_one();
        }
    }

    fn all_changed(&self) {
        for n in self.0.lock().unwrap().values() {
            n.notify_one();
        }
    }
}

/// A job account as last seen.
pub struct JobSeen {
    pub key: Pubkey,
    pub job: Box<Job>,
}

async fn resync(chain: &Chain, tx: &mpsc::Sender<JobSeen>) -> anyhow::Result<usize> {
    let mut n = 0;
    for state in [JobState::Open, JobState::Bidding] {
        for (key, job) in chain
            .list::<Job>(vec![sdk_rpc::job_state_filter(state)])
            .await?
        {
            n += 1;
            if tx
                .send(JobSeen {
                    key,
                    job: Box::new(job),
                })
                .await
                .is_err()
            {
                return Ok(n);
            }
        }
    }
    Ok(n)
}

/// Runs until `shutdown` flips; feeds every open/bidding job it sees into `tx`, re-syncs
/// every `resync`, and wakes the followers of `events`.
pub async fn run(
    ws_url: String,
    chain: Arc<Chain>,
    tx: mpsc::Sender<JobSeen>,
    events: Arc<JobEvents>,
    resync_every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut attempt = 0u32;
    loop {
        if *shutdown.borrow() {
            return;
        }
        match resync(&chain, &tx).await {
            Ok(n) => debug!(jobs = n, "re-synced open jobs"),
            Err(e) => warn!("re-sync failed (will retry): {e:#}"),
        }
        let client = match PubsubClient::new(&ws_url).await {
            Ok(c) => c,
            Err(e) => {
                chain.metrics.rpc_errors.inc();
                warn!("websocket {ws_url} unavailable (retrying): {e}");
                tokio::select! {
                    _ = tokio::time::sleep(backoff(attempt)) => {}
                    _ = shutdown.changed() => return,
                }
                attempt = attempt.saturating_add(1);
                continue;
            }
        };
        let cfg = |s| {
            let mut c = sdk_rpc::program_accounts_config::<Job>(vec![sdk_rpc::job_state_filter(s)]);
            c.account_config.commitment =
                Some(solana_commitment_config::CommitmentConfig::processed());
            c
        };
        for _ in 0..3 {
            chain.ws_request("programSubscribe").await;
        }
        let open = client
            .program_subscribe(&tessera::ID, Some(cfg(JobState::Open)))
            .await;
        let bidding = client
            .program_subscribe(&tessera::ID, Some(cfg(JobState::Bidding)))
            .await;
        // (only which job changed matters here: no account data is sent)
        let mut every_job = sdk_rpc::program_accounts_config::<Job>(vec![]);
        every_job.account_config.data_slice = Some(UiDataSliceConfig {
            offset: 0,
            length: 0,
        });
        let progress = client
            .program_subscribe(&tessera::ID, Some(every_job))
            .await;
        let (Ok((mut open, _u1)), Ok((mut bidding, _u2)), Ok((mut progress, _u3))) =
            (open, bidding, progress)
        else {
            chain.metrics.rpc_errors.inc();
            warn!("programSubscribe failed (retrying)");
            tokio::time::sleep(backoff(attempt)).await;
            attempt = attempt.saturating_add(1);
            continue;
        };
        chain.metrics.ws_reconnects.inc();
        chain.metrics.set_ws_connected(true);
        info!("watching open jobs over {ws_url}");
        attempt = 0;
        // A subscription can miss updates between the re-sync and its start: re-sync once more,
        // and let every followed claim look at its job.
        let _ = resync(&chain, &tx).await;
        events.all_changed();
        let mut tick = tokio::time::interval(resync_every);
        tick.tick().await;
        loop {
            let next = tokio::select! {
                n = open.next() => n,
                n = bidding.next() => n,
                n = progress.next() => {
                    let Some(resp) = n else {
                        warn!("websocket closed; reconnecting");
                        break;
                    };
                    chain.ws_message("programNotification");
                    if let Ok(key) = resp.value.pubkey.parse::<Pubkey>() {
                        events.changed(&key);
                    }
                    continue;
                }
                _ = tick.tick() => {
                    if let Err(e) = resync(&chain, &tx).await {
                        warn!("re-sync failed: {e:#}");
                    }
                    continue;
                }
                _ = shutdown.changed() => return,
            };
            let Some(resp) = next else {
                warn!("websocket closed; reconnecting");
                chain.metrics.set_ws_connected(false);
                break;
            };
            chain.ws_message("programNotification");
            let keyed = resp.value;
            let Ok(key) = keyed.pubkey.parse::<Pubkey>() else {
                continue;
            };
            let Some(data) = keyed.account.data.decode() else {
                continue;
            };
            if let Ok(job) = accounts::decode::<Job>("Job", &data) {
                if tx
                    .send(JobSeen {
                        key,
                        job: Box::new(job),
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}
