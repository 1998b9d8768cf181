//! Talking to the cluster: sending transactions robustly (`send`) and watching the program's
//! job accounts (`watch`).
pub mod batch;
pub mod send;
pub mod watch;

pub use send::{Chain, TxError};

use std::time::Duration;

/// Exponential backoff with jitter: 200 ms · 2^attempt, capped at 5 s, plus up to 250 ms.
pub fn backoff(attempt: u32) -> Duration {
    let base = 200u64.saturating_mul(1u64 << attempt.min(5)).min(5_000);
    Duration::from_millis(base + rand::random_range(0..250))
}
