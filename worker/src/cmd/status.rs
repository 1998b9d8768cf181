//! `tessera-worker status`: first what runs here, then what the chain says.
//!
//! The journal is held (locked) by a running daemon, so when one answers on the control
//! socket its report is printed (`GET /status`: health, draining, claims in flight with their
//! journal stage); otherwise the journal file is read directly. Both print the same journal
//! lines. The chain part comes last, so a cluster that cannot be reached still leaves the
//! local part on the screen before the error.
use anyhow::Result;
use solana_sdk::signer::Signer;
use tessera::state::{Claim, Node};
use tessera_rpc as rpc;
use tessera_sdk::units::format_amount;
use tessera_sdk::{ix, pda};

use crate::config::Config;
use crate::control::health::sol;
use crate::control::{client, report};
use crate::metrics::unix_ms;
use crate::state::Journal;

pub fn run(cfg: &Config) -> Result<()> {
    let op = crate::keypair(cfg)?;
    println!("operator     {}", op.pubkey());
    for l in local_lines(cfg, &op.pubkey().to_string())? {
        println!("{l}");
    }
    chain(cfg, &op)
}

/// The daemon's report when one runs, else the journal file's lines.
pub fn local_lines(cfg: &Config, operator: &str) -> Result<Vec<String>> {
    let sock = cfg.control_socket();
    let now = unix_ms();
    if let Some(st) = client::block_on(client::status(&sock))? {
        let mut out = Vec::new();
        if st.operator != operator {
            out.push(format!(
                "  ! the daemon on {} runs operator {}, not this config's keypair",
                sock.display(),
                st.operator
            ));
        }
        out.extend(st.daemon_lines(now));
        return Ok(out);
    }
    let mut out = vec![format!(
        "daemon       not running (nothing answers on {})",
        sock.display()
    )];
    let path = cfg.journal_path();
    if !path.exists() {
        out.push(format!(
            "journal      none yet ({} is created by `tessera-worker run`)",
            path.display()
        ));
        return Ok(out);
    }
    match Journal::open(&path).and_then(|j| j.all()) {
        Ok(all) => {
            let (counts, claims) = report::summarize(&all);
            out.extend(report::journal_lines(
                &counts,
                &claims,
                &format!("from {}", path.display()),
                now,
            ));
        }
        Err(e) => out.push(format!(
            "journal      unavailable: {e:#} (a process holds it without answering on {}: a daemon of an older version?)",
            sock.display()
        )),
    }
    Ok(out)
}

/// The chain's view: balances, the node account and its open claims.
fn chain(cfg: &Config, op: &solana_sdk::signature::Keypair) -> Result<()> {
    let rpc = crate::rpc_client(cfg);
    let c = rpc::fetch_config(&rpc)?;
    let d = rpc::decimals(&rpc, &c)?;
    let t = ix::TokenCtx::from_config(&c);
    let node_key = pda::node(&op.pubkey()).0;
    let lamports = rpc.get_balance(&op.pubkey())?;
    let min = cfg.ops.min_lamports()?;
    println!(
        "SOL          {}{}",
        sol(lamports),
        if lamports < min {
            format!(
                "  ! below ops.min_sol_balance ({}): fund the operator, fees and claim rent are paid in SOL",
                sol(min)
            )
        } else {
            String::new()
        }
    );
    println!(
        "tokens       {}",
        format_amount(
            rpc::token_balance(&rpc, &t.ata(&op.pubkey())).unwrap_or(0),
            d
        )
    );
    match rpc::fetch::<Node>(&rpc, "Node", &node_key) {
        Err(_) => println!("node         not registered (run `tessera-worker register`)"),
        Ok(n) => {
            let r = &n.reputation;
            println!("node         {node_key}");
            println!(
                "hardware     {} · {} MB · cc {} · caps {:#04b}",
                n.hardware.gpu_model,
                n.hardware.vram_mb,
                n.hardware.compute_capability,
                n.hardware.capabilities
            );
            println!(
                "stake        {} (unbonding {})",
                format_amount(n.stake, d),
                format_amount(n.unbonding, d)
            );
            println!("reputation   {:.2} % · completed {} · disagreed {} · timed out {} · no reveal {} · slashed {}", r.score_bps as f64 / 100.0, r.completed, r.disagreed, r.timed_out, r.no_reveal, format_amount(r.slashed_total, d));
            println!("earnings     {}", format_amount(r.earned_total, d));
            let claims = rpc::list::<Claim>(&rpc, vec![rpc::of_node_filter(&node_key)])?;
            println!("open claims  {}", claims.len());
            for (_, cl) in claims {
                println!(
                    "  job {} · {}",
                    cl.job,
                    tessera_sdk::accounts::claim_state_name(cl.state)
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Entry, Stage};
    use solana_sdk::pubkey::Pubkey;

    fn config(dir: &std::path::Path) -> Config {
        let p = dir.join("worker.toml");
        std::fs::write(
            &p,
            crate::config::template(
                "http://127.0.0.1:1",
                "ws://127.0.0.1:2",
                "id.json",
                "http://127.0.0.1:3",
                "127.0.0.1:4",
            ),
        )
        .unwrap();
        Config::load(&p).unwrap()
    }

    /// Without a daemon: the journal file is read; while something else holds it, that is said.
    #[test]
    fn without_a_daemon_the_journal_file_is_read() {
        let dir = std::env::temp_dir().join(format!("tessera-status-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = config(&dir);
        let lines = local_lines(&cfg, "op").unwrap();
        assert!(
            lines[0].starts_with("daemon       not running"),
            "{lines:?}"
        );
        assert!(lines[1].starts_with("journal      none yet"), "{lines:?}");
        assert!(!cfg.journal_path().exists(), "status creates no journal");
        let job = Pubkey::new_unique();
        {
            let j = Journal::open(&cfg.journal_path()).unwrap();
            j.put(&Entry::new(&job, Stage::Revealed)).unwrap();
            j.put(&Entry::new(&Pubkey::new_unique(), Stage::Abandoned))
                .unwrap();
            // held by another "process": named, not fatal
            let lines = local_lines(&cfg, "op").unwrap();
            assert!(
                lines[1].starts_with("journal      unavailable:"),
                "{lines:?}"
            );
        }
        let lines = local_lines(&cfg, "op").unwrap();
        assert!(
            lines[1].starts_with(
                "journal      2 entries: 1 in progress, 0 settled, 1 abandoned (from "
            ),
            "{lines:?}"
        );
        assert!(
            lines[2].starts_with(&format!("  job {job} · revealed · seen ")),
            "{lines:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
