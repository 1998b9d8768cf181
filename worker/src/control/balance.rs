//! The operator's SOL balance: one `getBalance` every `ops.balance_check_secs` (at least a
//! minute), into the `operator_balance_lamports` gauge, with a warning below
//! `ops.min_sol_balance` (when it drops below, then at most hourly while it stays there).
use std::sync::Arc;
use std::time::{Duration, Instant};

use solana_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::pubkey::Pubkey;
use tokio::sync::watch;
use tracing::{info, warn};

use super::health::sol;
use crate::metrics::Metrics;

/// While the balance stays low, the warning is repeated this often.
const REWARN: Duration = Duration::from_secs(3600);

/// Whether a reading warrants a warning: it is low, and it was not low before or the last
/// warning is older than [`REWARN`].
fn should_warn(low: bool, last_warned: Option<Instant>, now: Instant) -> bool {
    low && last_warned.is_none_or(|t| now.duration_since(t) >= REWARN)
}

/// Reads the balance every `every` until `shutdown`.
pub async fn watch_balance(
    rpc: Arc<RpcClient>,
    operator: Pubkey,
    metrics: Arc<Metrics>,
    every: Duration,
    min_lamports: u64,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last_warned: Option<Instant> = None;
    loop {
        match rpc.get_balance(&operator).await {
            Ok(lamports) => {
                metrics.balance_read(lamports);
                let low = lamports < min_lamports;
                if should_warn(low, last_warned, Instant::now()) {
                    warn!(
                        %operator,
                        lamports,
                        "low SOL balance: {} is below ops.min_sol_balance ({}); fund the operator or its transactions will fail",
                        sol(lamports),
                        sol(min_lamports)
                    );
                    last_warned = Some(Instant::now());
                } else if !low && last_warned.take().is_some() {
                    info!(%operator, "SOL balance back to {}", sol(lamports));
                }
            }
            Err(e) => {
                metrics.rpc_errors.inc();
                warn!("reading the operator's SOL balance: {e}");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_low_balance_is_warned_on_dropping_then_hourly() {
        let t = Instant::now();
        assert!(!should_warn(false, None, t));
        assert!(should_warn(true, None, t), "first low reading");
        assert!(!should_warn(true, Some(t), t + Duration::from_secs(60)));
        assert!(should_warn(true, Some(t), t + REWARN));
    }
}
