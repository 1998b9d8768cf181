//! The status report: what `GET /status` answers (JSON), and the lines `tessera-worker status`
//! prints from it, or from the journal file when no daemon runs (the same lines).
use serde::{Deserialize, Serialize};

use super::health::{sol, Health, Verdict};
use crate::state::{Entry, Stage};

/// `GET /status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub pid: u32,
    /// Unix ms.
    pub started_ms: u64,
    pub operator: String,
    pub node: String,
    /// The node account as the daemon last read it.
    pub node_account: Option<NodeView>,
    pub draining: bool,
    /// Draining and nothing left in flight.
    pub drained: bool,
    pub exit_when_drained: bool,
    /// Jobs the process works on (input being fetched, or a claim being driven).
    pub in_flight: Vec<String>,
    pub counts: Counts,
    /// The unfinished journal records.
    pub claims: Vec<ClaimView>,
    pub health: Health,
}

/// The node account's figures the report shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeView {
    pub stake: u64,
    pub unbonding: u64,
    pub open_claims: u32,
    pub reputation_bps: u16,
}

/// Journal records by outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub entries: usize,
    pub in_progress: usize,
    pub settled: usize,
    pub abandoned: usize,
}

/// One unfinished journal record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClaimView {
    pub job: String,
    /// The journal stage, lower case (`claimed`, `committed`, …).
    pub stage: String,
    /// Unix ms.
    pub seen_ms: u64,
    pub claimed_ms: Option<u64>,
    pub attempts: u32,
    /// The last error seen, if any.
    pub note: Option<String>,
}

/// A stage as the report writes it.
pub fn stage_name(s: Stage) -> String {
    format!("{s:?}").to_lowercase()
}

/// Counts and the unfinished records (oldest first) of a journal.
pub fn summarize(entries: &[Entry]) -> (Counts, Vec<ClaimView>) {
    let mut c = Counts {
        entries: entries.len(),
        ..Counts::default()
    };
    let mut claims = Vec::new();
    for e in entries {
        match e.stage {
            Stage::Settled => c.settled += 1,
            Stage::Abandoned => c.abandoned += 1,
            _ => {
                c.in_progress += 1;
                claims.push(ClaimView {
                    job: e.job().to_string(),
                    stage: stage_name(e.stage),
                    seen_ms: e.seen_ms,
                    claimed_ms: e.claimed_ms,
                    attempts: e.attempts,
                    note: e.note.clone(),
                });
            }
        }
    }
    claims.sort_by_key(|c| c.seen_ms);
    (c, claims)
}

fn ago(now_ms: u64, then_ms: u64) -> String {
    let s = now_ms.saturating_sub(then_ms) / 1000;
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}

/// The journal lines: counts, then each unfinished record with its stage. `from` says where
/// they were read (the daemon, or the file).
pub fn journal_lines(
    counts: &Counts,
    claims: &[ClaimView],
    from: &str,
    now_ms: u64,
) -> Vec<String> {
    let mut out = vec![format!(
        "journal      {} entries: {} in progress, {} settled, {} abandoned ({from})",
        counts.entries, counts.in_progress, counts.settled, counts.abandoned
    )];
    for c in claims {
        let since = c.claimed_ms.map_or_else(
            || format!("seen {}", ago(now_ms, c.seen_ms)),
            |t| format!("claimed {}", ago(now_ms, t)),
        );
        let mut line = format!("  job {} · {} · {since}", c.job, c.stage);
        if let Some(n) = &c.note {
            line.push_str(&format!(" · last error: {n}"));
        }
        out.push(line);
    }
    out
}

impl Status {
    /// The daemon's lines of `tessera-worker status`.
    pub fn daemon_lines(&self, now_ms: u64) -> Vec<String> {
        let h = &self.health;
        let mut out = vec![format!(
            "daemon       running (pid {}, v{}, up {}) · {}",
            self.pid,
            self.version,
            ago(now_ms, self.started_ms).trim_end_matches(" ago"),
            match h.status {
                Verdict::Ok => "healthy",
                Verdict::Degraded => "degraded",
                Verdict::Unhealthy => "UNHEALTHY",
            }
        )];
        for r in &h.reasons {
            out.push(format!("  ! {r}"));
        }
        out.push(format!(
            "websocket    {} since {} · last slot {} ({} s old)",
            if h.ws_connected { "connected" } else { "DOWN" },
            ago(now_ms, h.ws_since_ms),
            h.last_slot.map_or("none yet".into(), |s| s.to_string()),
            h.slot_age_secs
        ));
        if let (Some(l), Some(at)) = (h.balance_lamports, h.balance_read_ms) {
            out.push(format!(
                "balance      {} (read {}; warning below {})",
                sol(l),
                ago(now_ms, at),
                sol(h.min_balance_lamports)
            ));
        }
        out.push(format!(
            "draining     {}",
            match (self.draining, self.drained) {
                (false, _) => "no".to_string(),
                (true, true) => format!(
                    "DRAINED: nothing in flight{}",
                    if self.exit_when_drained {
                        "; stopping"
                    } else {
                        " (`tessera-worker drain --cancel` takes jobs again)"
                    }
                ),
                (true, false) => format!(
                    "yes: finishing {} job(s) in flight, taking no new ones",
                    self.in_flight.len().max(self.counts.in_progress)
                ),
            }
        ));
        out.extend(journal_lines(
            &self.counts,
            &self.claims,
            "from the daemon",
            now_ms,
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_sdk::pubkey::Pubkey;

    #[test]
    fn journal_records_are_counted_and_listed_with_their_stage() {
        let mk = |stage, seen| {
            let mut e = Entry::new(&Pubkey::new_unique(), stage);
            e.seen_ms = seen;
            e
        };
        let mut committed = mk(Stage::Committed, 2_000);
        committed.claimed_ms = Some(3_000);
        committed.note = Some("rpc timeout".into());
        let entries = vec![
            mk(Stage::Settled, 1_000),
            committed.clone(),
            mk(Stage::Abandoned, 1_500),
            mk(Stage::Claiming, 1_200),
        ];
        let (c, claims) = summarize(&entries);
        assert_eq!(
            c,
            Counts {
                entries: 4,
                in_progress: 2,
                settled: 1,
                abandoned: 1
            }
        );
        assert_eq!(claims.len(), 2);
        assert_eq!(claims[0].stage, "claiming", "oldest first");
        assert_eq!(claims[1].stage, "committed");
        let lines = journal_lines(&c, &claims, "from the file", 63_000);
        assert_eq!(
            lines[0],
            "journal      4 entries: 2 in progress, 1 settled, 1 abandoned (from the file)"
        );
        assert_eq!(
            lines[2],
            format!(
                "  job {} · committed · claimed 60 s ago · last error: rpc timeout",
                committed.job()
            )
        );
    }
}
