//! Prometheus metrics, served at `/metrics` on `metrics_addr`, and the liveness facts the
//! control API's `/health` judges (websocket state, newest slot, operator balance).
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::routing::get;
use axum::Router;
use prometheus::{
    Counter, Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// Every metric the worker exports.
pub struct Metrics {
    pub registry: Registry,
    pub jobs_seen: IntCounter,
    pub jobs_claimed: IntCounter,
    pub jobs_completed: IntCounter,
    pub jobs_failed: IntCounter,
    pub claim_races_lost: IntCounter,
    pub claims_skipped_full: IntCounter,
    pub claims_deferred: IntCounter,
    pub inputs_refused: IntCounterVec,
    pub bids_placed: IntCounter,
    pub tx_sent: IntCounterVec,
    pub tx_failed: IntCounterVec,
    pub rpc_errors: IntCounter,
    pub ws_reconnects: IntCounter,
    pub tx_rebroadcast: IntCounter,
    /// RPC requests sent, by JSON-RPC method (every request of the daemon: `chain::budget`).
    pub rpc_requests: IntCounterVec,
    /// Seconds requests waited for the `[rpc] max_requests_per_minute` budget.
    pub rpc_budget_wait: Counter,
    /// Fee estimates above `[rpc] max_cu_price_micro_lamports` (sent at the cap instead).
    pub priority_fee_capped: IntCounter,
    pub kernel_seconds: Histogram,
    pub pickup_seconds: Histogram,
    pub earnings_tokens: Gauge,
    pub stake_tokens: Gauge,
    pub reputation_bps: Gauge,
    pub open_claims: Gauge,
    /// 1 while the job subscriptions are up ([`Metrics::set_ws_connected`]).
    pub ws_connected: IntGauge,
    /// The newest context slot of an RPC answer the worker acted on ([`Metrics::slot_seen`]).
    pub last_slot: IntGauge,
    /// Seconds since `last_slot` last changed (since the start when none was seen yet); set
    /// when scraped.
    pub last_slot_age_seconds: IntGauge,
    /// The operator's SOL balance (lamports), read every `ops.balance_check_secs`.
    pub operator_lamports: IntGauge,
    /// 1 while draining (`tessera-worker drain`): no new claims are taken.
    pub draining: IntGauge,
    /// Unix ms: process start, last websocket state change, last slot change, last balance
    /// read (0 = never).
    pub started_ms: u64,
    ws_since_ms: AtomicU64,
    slot_at_ms: AtomicU64,
    balance_at_ms: AtomicU64,
}

/// Unix time in milliseconds.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let r = Registry::new_custom(Some("tessera_worker".into()), None).expect("registry");
        macro_rules! reg {
            ($m:expr) => {{
                let m = $m;
                r.register(Box::new(m.clone())).expect("register metric");
                m
            }};
        }
        let counter = |n: &str, h: &str| IntCounter::new(n, h).expect("counter");
        let m = Metrics {
            jobs_seen: reg!(counter(
                "jobs_seen_total",
                "Open jobs seen (websocket or resync)"
            )),
            jobs_claimed: reg!(counter("jobs_claimed_total", "Claims confirmed")),
            jobs_completed: reg!(counter(
                "jobs_completed_total",
                "Claims settled with this node paid"
            )),
            jobs_failed: reg!(counter(
                "jobs_failed_total",
                "Claims abandoned, slashed or failed"
            )),
            claim_races_lost: reg!(counter(
                "claim_races_lost_total",
                "Claims refused because the slots were taken"
            )),
            claims_skipped_full: reg!(counter(
                "claims_skipped_full_total",
                "Claims not sent because other nodes filled the slots first"
            )),
            claims_deferred: reg!(counter(
                "claims_deferred_total",
                "Claims held back for nodes the draw put ahead in the same slot"
            )),
            inputs_refused: reg!(IntCounterVec::new(
                Opts::new(
                    "inputs_refused_total",
                    "Jobs skipped because their input could not be fetched or was invalid, by reason"
                ),
                &["reason"]
            )
            .expect("vec")),
            bids_placed: reg!(counter("bids_placed_total", "Auction bids placed")),
            tx_sent: reg!(IntCounterVec::new(
                Opts::new("tx_sent_total", "Transactions confirmed, by instruction"),
                &["ix"]
            )
            .expect("vec")),
            tx_failed: reg!(IntCounterVec::new(
                Opts::new("tx_failed_total", "Transactions rejected, by instruction"),
                &["ix"]
            )
            .expect("vec")),
            rpc_errors: reg!(counter(
                "rpc_errors_total",
                "RPC calls that failed (retried)"
            )),
            ws_reconnects: reg!(counter("ws_reconnects_total", "Websocket (re)connections")),
            tx_rebroadcast: reg!(counter(
                "tx_rebroadcast_total",
                "Transactions sent again while waiting for their confirmation"
            )),
            rpc_requests: reg!(IntCounterVec::new(
                Opts::new("rpc_requests_total", "JSON-RPC requests sent, by method"),
                &["method"]
            )
            .expect("vec")),
            rpc_budget_wait: reg!(Counter::new(
                "rpc_budget_wait_seconds_total",
                "Time RPC requests waited for the per-minute request budget"
            )
            .expect("counter")),
            priority_fee_capped: reg!(counter(
                "priority_fee_capped_total",
                "Priority fee estimates above the configured cap (sent at the cap)"
            )),
            kernel_seconds: reg!(Histogram::with_opts(
                HistogramOpts::new("kernel_seconds", "Kernel run time").buckets(vec![
                    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0
                ])
            )
            .expect("histogram")),
            pickup_seconds: reg!(Histogram::with_opts(
                HistogramOpts::new(
                    "pickup_seconds",
                    "Job created on-chain -> this node's claim confirmed"
                )
                .buckets(vec![0.2, 0.4, 0.8, 1.2, 1.6, 2.0, 3.0, 5.0, 10.0, 30.0])
            )
            .expect("histogram")),
            earnings_tokens: reg!(Gauge::new(
                "earnings_base_units",
                "Total earned by this node (on-chain counter, base units)"
            )
            .expect("gauge")),
            stake_tokens: reg!(
                Gauge::new("stake_base_units", "Active stake (base units)").expect("gauge")
            ),
            reputation_bps: reg!(
                Gauge::new("reputation_bps", "Reputation score (basis points)").expect("gauge")
            ),
            open_claims: reg!(
                Gauge::new("open_claims", "Claims this node holds on-chain").expect("gauge")
            ),
            ws_connected: reg!(IntGauge::new(
                "ws_connected",
                "1 while the websocket job subscriptions are up"
            )
            .expect("gauge")),
            last_slot: reg!(IntGauge::new(
                "last_slot",
                "Newest slot of an RPC answer the worker acted on"
            )
            .expect("gauge")),
            last_slot_age_seconds: reg!(IntGauge::new(
                "last_slot_age_seconds",
                "Seconds since last_slot last changed (since the start if none was seen)"
            )
            .expect("gauge")),
            operator_lamports: reg!(IntGauge::new(
                "operator_balance_lamports",
                "The operator's SOL balance (lamports; read every ops.balance_check_secs)"
            )
            .expect("gauge")),
            draining: reg!(IntGauge::new(
                "draining",
                "1 while draining: in-flight claims finish, no new ones are taken"
            )
            .expect("gauge")),
            started_ms: unix_ms(),
            ws_since_ms: AtomicU64::new(unix_ms()),
            slot_at_ms: AtomicU64::new(0),
            balance_at_ms: AtomicU64::new(0),
            registry: r,
        };
        Arc::new(m)
    }

    /// Records the websocket going up or down (the time of a change is kept for `/health`).
    pub fn set_ws_connected(&self, up: bool) {
        if (self.ws_connected.get() == 1) != up {
            self.ws_connected.set(i64::from(up));
            self.ws_since_ms.store(unix_ms(), Ordering::Relaxed);
        }
    }

    /// Whether the websocket is up, and since when (unix ms; the start while never up).
    pub fn ws_state(&self) -> (bool, u64) {
        (
            self.ws_connected.get() == 1,
            self.ws_since_ms.load(Ordering::Relaxed),
        )
    }

    /// Records the context slot of an RPC answer; the time is kept when it changes, so a
    /// stuck RPC node (always the same slot) ages.
    pub fn slot_seen(&self, slot: u64) {
        let slot = i64::try_from(slot).unwrap_or(i64::MAX);
        if self.last_slot.get() != slot {
            self.last_slot.set(slot);
            self.slot_at_ms.store(unix_ms(), Ordering::Relaxed);
        }
    }

    /// The newest slot seen and when it was first seen (unix ms), if any.
    pub fn slot_state(&self) -> Option<(u64, u64)> {
        match self.slot_at_ms.load(Ordering::Relaxed) {
            0 => None,
            at => Some((self.last_slot.get() as u64, at)),
        }
    }

    /// Records a balance reading.
    pub fn balance_read(&self, lamports: u64) {
        self.operator_lamports
            .set(i64::try_from(lamports).unwrap_or(i64::MAX));
        self.balance_at_ms.store(unix_ms(), Ordering::Relaxed);
    }

    /// The last balance reading (lamports) and its time (unix ms), if any.
    pub fn balance_state(&self) -> Option<(u64, u64)> {
        match self.balance_at_ms.load(Ordering::Relaxed) {
            0 => None,
            at => Some((self.operator_lamports.get() as u64, at)),
        }
    }

    /// Seconds since the newest slot was first seen (since the start when none was).
    pub fn slot_age_secs(&self, now_ms: u64) -> u64 {
        let at = self.slot_state().map_or(self.started_ms, |(_, at)| at);
        now_ms.saturating_sub(at) / 1000
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        self.last_slot_age_seconds
            .set(i64::try_from(self.slot_age_secs(unix_ms())).unwrap_or(i64::MAX));
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("encode metrics");
        String::from_utf8(buf).expect("utf-8 metrics")
    }
}

/// Serves `/metrics`, and the routes of `extra` (the control API's `/health`), until
/// `shutdown`.
pub async fn serve(
    m: Arc<Metrics>,
    addr: SocketAddr,
    extra: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = m.clone();
                async move { m.render() }
            }),
        )
        .merge(extra);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics server to {addr}: is the port in use?"))?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("metrics server")
}
