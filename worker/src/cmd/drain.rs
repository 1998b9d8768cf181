//! `tessera-worker drain [--exit] [--cancel] [--no-wait]`: asks the running daemon (over its
//! control socket) to finish its claims in flight and take no new ones, then follows it until
//! it reports drained (and, with `--exit`, until it has stopped).
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};

use crate::config::Config;
use crate::control::client;
use crate::state::Journal;

/// How often the daemon is asked how far it is.
const POLL: Duration = Duration::from_secs(2);
/// How long a drained daemon asked to exit may take to stop.
const STOP_WAIT: Duration = Duration::from_secs(60);

pub fn run(cfg: &Config, exit: bool, cancel: bool, no_wait: bool) -> Result<()> {
    let sock = cfg.control_socket();
    let st = client::block_on(client::drain(&sock, exit, cancel))?.ok_or_else(|| {
        anyhow!(
            "no daemon is running for this config (nothing answers on {}): nothing to drain",
            sock.display()
        )
    })?;
    if cancel {
        println!("draining cancelled: the daemon takes new jobs again");
        return Ok(());
    }
    println!(
        "draining: {} job(s) in flight finish (commit, reveal, settle); no new job is taken",
        st.in_flight.len().max(st.counts.in_progress)
    );
    println!(
        "(recorded in {}: a restart goes on draining{})",
        cfg.drain_file().display(),
        if exit {
            " and stops once drained"
        } else {
            " until `tessera-worker drain --cancel`"
        }
    );
    if no_wait {
        println!("follow it with `tessera-worker status`");
        return Ok(());
    }
    let mut last = String::new();
    loop {
        let Some(st) = client::block_on(client::status(&sock))? else {
            // gone: drained and stopped as asked, or stopped early; the journal tells
            let left = unfinished(cfg)?;
            if exit && left == 0 {
                println!("drained; the daemon has stopped");
                return Ok(());
            }
            bail!("the daemon stopped before it was drained ({left} unfinished claim(s) in its journal): they resume at its next start");
        };
        if !st.draining {
            bail!("draining was cancelled (`tessera-worker drain --cancel`)");
        }
        if st.drained {
            if !exit {
                println!("drained: nothing in flight; the daemon runs on and takes no new job (`tessera-worker drain --cancel` resumes)");
                return Ok(());
            }
            println!("drained: nothing in flight; the daemon is stopping");
            let start = Instant::now();
            while client::block_on(client::status(&sock))?.is_some() {
                if start.elapsed() > STOP_WAIT {
                    bail!(
                        "the daemon (pid {}) is drained but has not stopped in {} s",
                        st.pid,
                        STOP_WAIT.as_secs()
                    );
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            println!("stopped");
            return Ok(());
        }
        let now: String = st
            .claims
            .iter()
            .map(|c| format!("\n  job {} · {}", c.job, c.stage))
            .collect();
        let line = format!(
            "{} in flight{now}",
            st.in_flight.len().max(st.counts.in_progress)
        );
        if line != last {
            println!("{line}");
            last = line;
        }
        std::thread::sleep(POLL);
    }
}

/// Unfinished records in the journal file, once the stopping daemon has let go of it (it
/// closes its control socket first).
fn unfinished(cfg: &Config) -> Result<usize> {
    let start = Instant::now();
    let j = loop {
        match Journal::open(&cfg.journal_path()) {
            Ok(j) => break j,
            Err(e) if start.elapsed() < STOP_WAIT => {
                tracing::debug!("waiting for the daemon to let go of the journal: {e:#}");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => {
                return Err(e.context(
                    "the daemon has closed its control socket but still holds the journal",
                ))
            }
        }
    };
    Ok(j.all()?.iter().filter(|e| !e.stage.is_final()).count())
}
