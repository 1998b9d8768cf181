//! The parameters `tessera config init --cluster <c>` writes, and the floor a public cluster
//! puts under the windows. The table with the reasons is in docs/OPERATIONS.md ("Cluster
//! profiles"); token amounts here are base units of a 6-decimal mint ([`PROFILE_DECIMALS`])
//! and [`params_for`] rescales them to the real mint.
use tessera::state::ConfigParams;

use super::params::{Kind, ParamError, FIELDS};
use super::Cluster;

/// The decimals the profiles' token amounts are written for.
pub const PROFILE_DECIMALS: u8 = 6;
const TOKEN: u64 = 1_000_000;
const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// A cluster's parameter profile, token amounts for a 6-decimal mint.
pub fn profile(cluster: Cluster) -> ConfigParams {
    match cluster {
        // windows of seconds: a job settles while you watch (the demo and the tests)
        Cluster::Localnet => crate::ix::localnet_params(),
        Cluster::Devnet => ConfigParams {
            protocol_fee_bps: 250,
            min_stake: 100 * TOKEN,
            unbonding_secs: DAY,
            slash_timeout_bps: 500,
            slash_wrong_result_bps: 2_000,
            slash_no_reveal_bps: 1_000,
            slash_client_share_bps: 5_000,
            crank_reward_bps: 500,
            commit_window_secs: 15 * MINUTE,
            reveal_window_secs: 10 * MINUTE,
            challenge_window_secs: 10 * MINUTE,
            max_replicas: 5,
            escalation_cap: 2,
            challenge_bond: 10 * TOKEN,
            priority_min_value: 1_000 * TOKEN,
            priority_window_secs: 2 * MINUTE,
            priority_min_stake: 500 * TOKEN,
            priority_min_reputation_bps: 6_000,
            min_price_per_replica: TOKEN / 100,
            reputation_unit: TOKEN / 2,
            collateral_bps: 10_000,
            sortition_expected_pct: 100,
            // ~60 s of 400 ms slots: the draw widens by the minute
            sortition_widen_slots: 150,
            // new stake counts from the next hour on
            stake_epoch_slots: 9_000,
        },
        Cluster::Mainnet => ConfigParams {
            protocol_fee_bps: 250,
            min_stake: 1_000 * TOKEN,
            unbonding_secs: 7 * DAY,
            slash_timeout_bps: 500,
            slash_wrong_result_bps: 2_000,
            slash_no_reveal_bps: 1_000,
            slash_client_share_bps: 5_000,
            crank_reward_bps: 500,
            commit_window_secs: 30 * MINUTE,
            reveal_window_secs: 15 * MINUTE,
            challenge_window_secs: 30 * MINUTE,
            max_replicas: 5,
            escalation_cap: 2,
            challenge_bond: 100 * TOKEN,
            priority_min_value: 10_000 * TOKEN,
            priority_window_secs: 5 * MINUTE,
            priority_min_stake: 5_000 * TOKEN,
            priority_min_reputation_bps: 6_000,
            min_price_per_replica: TOKEN / 10,
            reputation_unit: 5 * TOKEN,
            collateral_bps: 20_000,
            sortition_expected_pct: 100,
            sortition_widen_slots: 150,
            // new stake counts from the next day on (half a Solana epoch)
            stake_epoch_slots: 216_000,
        },
    }
}

/// [`profile`] with its token amounts in base units of a mint with `decimals` decimals.
pub fn params_for(cluster: Cluster, decimals: u8) -> Result<ConfigParams, ParamError> {
    let mut p = profile(cluster);
    for f in FIELDS.iter().filter(|f| f.kind == Kind::Tokens) {
        let units = (f.get)(&p) as u64;
        let scaled = rescale(units, decimals).ok_or(ParamError::NotRepresentable {
            field: f.name,
            units,
            from: PROFILE_DECIMALS,
            decimals,
        })?;
        f.set(&mut p, i128::from(scaled))?;
    }
    Ok(p)
}

/// `units` at [`PROFILE_DECIMALS`] as units at `decimals`; `None` if that loses digits or
/// overflows.
fn rescale(units: u64, decimals: u8) -> Option<u64> {
    if decimals >= PROFILE_DECIMALS {
        10u64
            .checked_pow(u32::from(decimals - PROFILE_DECIMALS))
            .and_then(|m| units.checked_mul(m))
    } else {
        let d = 10u64.pow(u32::from(PROFILE_DECIMALS - decimals));
        units.is_multiple_of(d).then_some(units / d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescaling_keeps_the_amounts() {
        assert_eq!(rescale(10_000, 6), Some(10_000));
        assert_eq!(rescale(10_000, 9), Some(10_000_000));
        assert_eq!(rescale(10_000, 2), Some(1));
        assert_eq!(rescale(10_000, 1), None, "0.01 token has no 1-decimal form");
        assert_eq!(rescale(u64::MAX, 7), None, "overflow");
    }
}
