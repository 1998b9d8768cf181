//! The floor a public cluster puts under the parameters, on top of the program's bounds.
use super::Cluster;

const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The floor a public cluster puts under the parameters (on top of the program's bounds):
/// windows long enough for slots of ~400 ms, RPC lag and operators' own machines, and stake
/// that stays bonded long enough to be slashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Minimums {
    pub commit_window_secs: i64,
    pub reveal_window_secs: i64,
    pub challenge_window_secs: i64,
    pub unbonding_secs: i64,
}

impl Minimums {
    /// `None` on localnet: it takes anything the program does.
    pub fn of(cluster: Cluster) -> Option<Minimums> {
        match cluster {
            Cluster::Localnet => None,
            Cluster::Devnet => Some(Minimums {
                commit_window_secs: 5 * MINUTE,
                reveal_window_secs: 2 * MINUTE,
                challenge_window_secs: 5 * MINUTE,
                unbonding_secs: HOUR,
            }),
            Cluster::Mainnet => Some(Minimums {
                commit_window_secs: 10 * MINUTE,
                reveal_window_secs: 5 * MINUTE,
                challenge_window_secs: 10 * MINUTE,
                unbonding_secs: DAY,
            }),
        }
    }
}
