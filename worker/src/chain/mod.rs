//! Talking to the cluster: sending transactions robustly (`send`: priority fees from `fees`,
//! compute-unit limits from `cu`, confirmations and reads shared in `batch`), the RPC budget
//! every request goes through (`budget`), slot freshness per commitment level (`slots`), and
//! watching the program's job accounts over the websocket (`watch`).
pub mod batch;
pub mod budget;
pub mod cu;
pub mod fees;
pub mod send;
pub mod slots;
#[cfg(test)]
pub mod testing;
pub mod watch;

pub use send::{Chain, TxError};

use std::time::Duration;

/// How the worker uses its RPC endpoint (`[rpc]` of the config).
#[derive(Clone, Debug)]
pub struct RpcOptions {
    /// Requests per minute, paced by a token bucket (0: no limit).
    pub max_requests_per_minute: u32,
    /// How priority fees are chosen.
    pub fees: fees::FeePolicy,
}

/// Exponential backoff with jitter: 200 ms · 2^attempt, capped at 5 s, plus up to 250 ms.
pub fn backoff(attempt: u32) -> Duration {
    let base = 200u64.saturating_mul(1u64 << attempt.min(5)).min(5_000);
    Duration::from_millis(base + rand::random_range(0..250))
}
