//! Judging the daemon's health from what the metrics recorded: the websocket, the newest
//! slot, the operator's SOL balance. Pure: the time is an argument.
use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;

/// The `[ops]` thresholds, in the units used here.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_slot_age_secs: u64,
    pub max_ws_down_secs: u64,
    pub min_lamports: u64,
}

/// `ok`, `degraded` (works, needs attention: a low balance) or `unhealthy` (cannot follow the
/// chain: `/health` answers 503).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Degraded,
    Unhealthy,
}

/// The `/health` answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Health {
    pub status: Verdict,
    /// Why it is not `ok`, one sentence each.
    pub reasons: Vec<String>,
    pub ws_connected: bool,
    /// Unix ms of the websocket's last change (the start while it never connected).
    pub ws_since_ms: u64,
    pub last_slot: Option<u64>,
    /// Seconds since the newest slot changed (since the start when none was seen).
    pub slot_age_secs: u64,
    pub balance_lamports: Option<u64>,
    /// Unix ms of the balance reading.
    pub balance_read_ms: Option<u64>,
    pub min_balance_lamports: u64,
}

/// Lamports as SOL, e.g. `0.05 SOL`.
pub fn sol(lamports: u64) -> String {
    format!("{} SOL", tessera_sdk::units::format_amount(lamports, 9))
}

/// The health at `now_ms`.
pub fn assess(m: &Metrics, limits: &Limits, now_ms: u64) -> Health {
    let mut unhealthy = Vec::new();
    let mut degraded = Vec::new();
    let (ws_up, ws_since) = m.ws_state();
    let down_secs = now_ms.saturating_sub(ws_since) / 1000;
    if !ws_up && down_secs > limits.max_ws_down_secs {
        unhealthy.push(format!(
            "the websocket has been down for {down_secs} s (limit ops.max_ws_down_secs = {}): check ws_url and the RPC provider",
            limits.max_ws_down_secs
        ));
    }
    let slot = m.slot_state();
    let age = m.slot_age_secs(now_ms);
    if age > limits.max_slot_age_secs {
        unhealthy.push(match slot {
            Some((s, _)) => format!(
                "no new slot for {age} s (last slot {s}; limit ops.max_slot_age_secs = {}): the RPC node is stuck or unreachable",
                limits.max_slot_age_secs
            ),
            None => format!(
                "no slot seen in {age} s since the start (limit ops.max_slot_age_secs = {}): the RPC node is unreachable",
                limits.max_slot_age_secs
            ),
        });
    }
    let balance = m.balance_state();
    if let Some((lamports, _)) = balance {
        if lamports < limits.min_lamports {
            degraded.push(format!(
                "the operator's balance {} is below ops.min_sol_balance ({}): fund it, fees and claim rent are paid in SOL",
                sol(lamports),
                sol(limits.min_lamports)
            ));
        }
    }
    let status = if !unhealthy.is_empty() {
        Verdict::Unhealthy
    } else if !degraded.is_empty() {
        Verdict::Degraded
    } else {
        Verdict::Ok
    };
    unhealthy.extend(degraded);
    Health {
        status,
        reasons: unhealthy,
        ws_connected: ws_up,
        ws_since_ms: ws_since,
        last_slot: slot.map(|(s, _)| s),
        slot_age_secs: age,
        balance_lamports: balance.map(|(l, _)| l),
        balance_read_ms: balance.map(|(_, at)| at),
        min_balance_lamports: limits.min_lamports,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::unix_ms;

    const LIMITS: Limits = Limits {
        max_slot_age_secs: 120,
        max_ws_down_secs: 60,
        min_lamports: 50_000_000,
    };

    #[test]
    fn websocket_slot_age_and_balance_decide_the_verdict() {
        let m = Metrics::new();
        let t0 = unix_ms();
        // just started: nothing seen yet, within the limits
        let h = assess(&m, &LIMITS, t0);
        assert_eq!(h.status, Verdict::Ok, "{:?}", h.reasons);
        assert!(!h.ws_connected && h.last_slot.is_none() && h.balance_lamports.is_none());
        // the websocket never came up and no slot came in: unhealthy, both reasons named
        let h = assess(&m, &LIMITS, t0 + 200_000);
        assert_eq!(h.status, Verdict::Unhealthy);
        assert_eq!(h.reasons.len(), 2, "{:?}", h.reasons);
        assert!(
            h.reasons[0].contains("websocket has been down"),
            "{:?}",
            h.reasons
        );
        assert!(h.reasons[1].contains("no slot seen"), "{:?}", h.reasons);
        // connected, a slot seen: ok
        m.set_ws_connected(true);
        m.slot_seen(1_000);
        let now = unix_ms();
        let h = assess(&m, &LIMITS, now);
        assert_eq!(h.status, Verdict::Ok, "{:?}", h.reasons);
        assert_eq!(h.last_slot, Some(1_000));
        assert!(h.ws_connected);
        // the same slot again does not refresh it: a stuck RPC node ages
        m.slot_seen(1_000);
        let h = assess(&m, &LIMITS, now + 121_000);
        assert_eq!(h.status, Verdict::Unhealthy);
        assert!(h.reasons[0].contains("no new slot for 121 s (last slot 1000"));
        m.slot_seen(1_001);
        assert_eq!(assess(&m, &LIMITS, unix_ms()).status, Verdict::Ok);
        // a short websocket outage is tolerated, a long one is not
        m.set_ws_connected(false);
        let down = unix_ms();
        assert_eq!(assess(&m, &LIMITS, down + 30_000).slot_age_secs, 30);
        let h = assess(&m, &LIMITS, down + 59_000);
        assert!(h.reasons.iter().all(|r| !r.contains("websocket")), "{h:?}");
        let h = assess(&m, &LIMITS, down + 61_000);
        assert_eq!(h.status, Verdict::Unhealthy);
        assert!(h.reasons[0].contains("down for 61 s"), "{:?}", h.reasons);
        m.set_ws_connected(true);
        // a low balance degrades, it does not make the node unhealthy
        m.balance_read(49_999_999);
        let h = assess(&m, &LIMITS, unix_ms());
        assert_eq!(h.status, Verdict::Degraded);
        assert!(
            h.reasons[0].contains("0.049999999 SOL is below ops.min_sol_balance (0.05 SOL)"),
            "{:?}",
            h.reasons
        );
        m.balance_read(50_000_000);
        let h = assess(&m, &LIMITS, unix_ms());
        assert_eq!(h.status, Verdict::Ok);
        assert_eq!(h.balance_lamports, Some(50_000_000));
        // the gauges say the same
        let text = m.render();
        assert!(text.contains("tessera_worker_ws_connected 1"), "{text}");
        assert!(text.contains("tessera_worker_last_slot 1001"), "{text}");
        assert!(text.contains("tessera_worker_operator_balance_lamports 50000000"));
        assert!(
            text.contains("tessera_worker_last_slot_age_seconds 0"),
            "{text}"
        );
    }
}
