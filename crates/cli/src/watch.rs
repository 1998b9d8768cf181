//! Following a posted job on the terminal until it ends (`tessera job status --watch`, and
//! after every `tessera job post`).
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use solana_client::rpc_client::RpcClient;
use solana_sdk::pubkey::Pubkey;
use tessera::state::Job;
use tessera_jobs::jobs;
use tessera_rpc as rpc;

/// Follows a job with a progress display until it reaches a final state.
pub(crate) fn watch(rpc: &RpcClient, job: &Pubkey, timeout: Duration) -> Result<()> {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .expect("template"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let j: Job = match rpc::fetch(rpc, "Job", job) {
            Ok(j) => j,
            Err(e) if last.is_empty() => return Err(e),
            Err(_) => {
                bar.finish_with_message("job account closed (settled and closed)");
                return Ok(());
            }
        };
        let line = jobs::progress_line(&j);
        if line != last {
            if !last.is_empty() {
                bar.println(format!("  {last}"));
            }
            bar.set_message(line.clone());
            last = line;
        }
        if j.state.is_terminal() {
            bar.finish_with_message(last.clone());
            let claims = rpc::claims_of(rpc, job)?;
            let d = rpc::decimals(rpc, &rpc::fetch_config(rpc)?)?;
            print!("{}", jobs::describe(job, &j, &claims, d));
            return Ok(());
        }
        if start.elapsed() > timeout {
            bar.abandon_with_message(format!("{last} (still running after {timeout:?})"));
            bail!("job {job} did not finish within {timeout:?}; keep watching with `tessera job status {job} --watch`");
        }
        std::thread::sleep(Duration::from_millis(400));
    }
}
