//! The running daemon's control API, for the operator on the same machine.
//!
//! It is served over HTTP on a unix socket, `<storage_dir>/control.sock` (mode 0600, in the
//! 0700 state directory): only the operator's own user reaches it, whatever `metrics_addr`
//! listens on, so `POST /drain` can never come from the network.
//! - `GET /health`: the websocket's state (up or down, since when), the age of the newest
//!   slot seen in an RPC answer, and the operator's SOL balance, judged against `[ops]`:
//!   200 `ok` or `degraded` (low balance), 503 `unhealthy` with the reasons. The metrics
//!   listener (`metrics_addr`) serves the same `/health` for monitors.
//! - `GET /status`: the report `tessera-worker status` prints: node, the claims in flight with
//!   their journal stage, journal counts, draining, health ([`report::Status`]).
//! - `POST /drain` (`?exit=true`: stop once drained; `?cancel=true`: take jobs again).
//!
//! Draining survives a restart: it is recorded in `<storage_dir>/draining`
//! ([`Control::persisted`]), so a daemon restarted by systemd or after a crash goes on draining
//! (and, after `drain --exit`, stops once drained) instead of taking jobs again. The record goes
//! with `drain --cancel`, and when a `drain --exit` has stopped the daemon drained: the next
//! start takes jobs, as after a plain stop.
//!
//! Flow: `main.rs` starts it beside the scheduler; it reads the scheduler, the journal and the
//! metrics ([`Daemon`]) and sets only the drain flag. [`client`] is the command-line side.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use solana_sdk::pubkey::Pubkey;
use tessera::state::Node;
use tokio::sync::watch;
use tracing::info;

use crate::metrics::{unix_ms, Metrics};
use crate::state::Entry;

pub mod balance;
pub mod client;
pub mod health;
pub mod report;
mod server;
#[cfg(test)]
mod tests;

pub use health::Limits;
pub use server::{health_router, serve_socket};

/// What the control API reads from the daemon, and the one thing it changes.
pub trait Daemon: Send + Sync + 'static {
    fn operator(&self) -> Pubkey;
    fn node(&self) -> Pubkey;
    /// Every journal record.
    fn journal(&self) -> Result<Vec<Entry>>;
    /// Jobs being worked on by this process.
    fn in_flight(&self) -> Vec<Pubkey>;
    /// The node account as last read.
    fn node_state(&self) -> Option<Node>;
    fn draining(&self) -> bool;
    fn set_draining(&self, on: bool);
}

impl Daemon for crate::scheduler::Worker {
    fn operator(&self) -> Pubkey {
        self.operator
    }
    fn node(&self) -> Pubkey {
        self.node
    }
    fn journal(&self) -> Result<Vec<Entry>> {
        self.journal.all()
    }
    fn in_flight(&self) -> Vec<Pubkey> {
        crate::scheduler::Worker::in_flight(self)
    }
    fn node_state(&self) -> Option<Node> {
        crate::scheduler::Worker::node_state(self)
    }
    fn draining(&self) -> bool {
        crate::scheduler::Worker::draining(self)
    }
    fn set_draining(&self, on: bool) {
        crate::scheduler::Worker::set_draining(self, on)
    }
}

/// The control API's state.
pub struct Control {
    pub daemon: Arc<dyn Daemon>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    /// Stop the daemon once drained (`POST /drain?exit=true`).
    exit_when_drained: AtomicBool,
    /// Where draining is recorded across restarts.
    drain_file: PathBuf,
}

impl Control {
    /// The control API's state, with draining recorded in `drain_file`; a record left by the
    /// last run is taken up now (draining again, and stopping once drained if it was asked to).
    pub fn persisted(
        daemon: Arc<dyn Daemon>,
        metrics: Arc<Metrics>,
        limits: Limits,
        drain_file: PathBuf,
    ) -> Result<Arc<Control>> {
        use anyhow::Context;
        let left = match std::fs::read_to_string(&drain_file) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", drain_file.display())),
        };
        let ctl = Arc::new(Control {
            daemon,
            metrics,
            limits,
            exit_when_drained: AtomicBool::new(false),
            drain_file,
        });
        if let Some(record) = left {
            let exit = record.lines().any(|l| l.trim() == "exit = true");
            tracing::warn!(
                exit,
                "still draining, as recorded before the restart: no new job is taken \
                 (`tessera-worker drain --cancel` takes jobs again)"
            );
            ctl.exit_when_drained.store(exit, Ordering::SeqCst);
            ctl.daemon.set_draining(true);
        }
        Ok(ctl)
    }

    /// The daemon's health now.
    pub fn health(&self) -> health::Health {
        health::assess(&self.metrics, &self.limits, unix_ms())
    }

    /// Starts draining (`exit`: and stop once drained), or with `cancel` takes jobs again.
    /// The change is recorded first: if it cannot be, the daemon is left as it was.
    pub fn drain(&self, exit: bool, cancel: bool) -> Result<()> {
        if cancel {
            self.forget_drain()?;
            self.exit_when_drained.store(false, Ordering::SeqCst);
            self.daemon.set_draining(false);
        } else {
            use anyhow::Context;
            let f = &self.drain_file;
            let record = format!(
                "# tessera-worker is draining (`tessera-worker drain --cancel` ends it)\n\
                 since_ms = {}\nexit = {exit}\n",
                unix_ms()
            );
            let tmp = f.with_extension("tmp");
            std::fs::write(&tmp, record)
                .and_then(|()| std::fs::rename(&tmp, f))
                .with_context(|| format!("recording the drain in {}", f.display()))?;
            self.exit_when_drained.store(exit, Ordering::SeqCst);
            self.daemon.set_draining(true);
        }
        Ok(())
    }

    /// Removes the drain record (none is not an error).
    fn forget_drain(&self) -> Result<()> {
        use anyhow::Context;
        match std::fs::remove_file(&self.drain_file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", self.drain_file.display()))
            }
            _ => Ok(()),
        }
    }

    pub fn exit_when_drained(&self) -> bool {
        self.exit_when_drained.load(Ordering::SeqCst)
    }

    /// Drained: draining, nothing in flight in this process, and no unfinished journal record
    /// (a record is resumed, and so in flight, until it is settled or abandoned).
    pub fn drained(&self) -> Result<bool> {
        if !self.daemon.draining() || !self.daemon.in_flight().is_empty() {
            return Ok(false);
        }
        Ok(self.daemon.journal()?.iter().all(|e| e.stage.is_final()))
    }

    /// The `/status` report.
    pub fn status(&self) -> Result<report::Status> {
        let entries = self.daemon.journal()?;
        let (counts, claims) = report::summarize(&entries);
        let mut in_flight: Vec<String> = self
            .daemon
            .in_flight()
            .iter()
            .map(|k| k.to_string())
            .collect();
        in_flight.sort();
        Ok(report::Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            started_ms: self.metrics.started_ms,
            operator: self.daemon.operator().to_string(),
            node: self.daemon.node().to_string(),
            node_account: self.daemon.node_state().map(|n| report::NodeView {
                stake: n.stake,
                unbonding: n.unbonding,
                open_claims: n.open_claims,
                reputation_bps: n.reputation.score_bps,
            }),
            draining: self.daemon.draining(),
            drained: self.drained()?,
            exit_when_drained: self.exit_when_drained(),
            in_flight,
            counts,
            claims,
            health: self.health(),
        })
    }
}

/// Stops the daemon (flips `stop`) once it is drained after `POST /drain?exit=true`; checks
/// every second until `shutdown`.
pub async fn exit_when_drained(
    ctl: Arc<Control>,
    stop: Arc<watch::Sender<bool>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if ctl.exit_when_drained() && ctl.drained().unwrap_or(false) {
            info!("drained: stopping as asked (`drain --exit`)");
            // done: the next start takes jobs again
            if let Err(e) = ctl.forget_drain() {
                tracing::warn!("{e:#}: the next start will go on draining");
            }
            let _ = stop.send(true);
            return;
        }
    }
}

/// Creates `dir` (and its parents) with mode 0700 where missing; returns a warning when it
/// exists and others may read or write it.
pub fn private_dir(dir: &Path) -> Result<Option<String>> {
    use anyhow::Context;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Ok(Some(format!(
                "{} has mode {mode:o}: other users can read the journal; `chmod 700 {}`",
                dir.display(),
                dir.display()
            )));
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(None)
}
