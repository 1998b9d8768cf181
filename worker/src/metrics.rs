//! Prometheus metrics, served at `/metrics` on `metrics_addr`.
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::routing::get;
use axum::Router;
use prometheus::{
    Counter, Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry,
    TextEncoder,
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
            registry: r,
        };
        Arc::new(m)
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("encode metrics");
        String::from_utf8(buf).expect("utf-8 metrics")
    }
}

/// Serves `/metrics` and `/health` until `shutdown`.
pub async fn serve(
    m: Arc<Metrics>,
    addr: SocketAddr,
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
        .route("/health", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics server to {addr}: is the port in use?"))?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("metrics server")
}
