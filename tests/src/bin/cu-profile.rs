//! Where a job's compute units go: runs the k = 1 and k = 3 lifecycles on LiteSVM against two
//! builds of the program — the deployed one (totals) and a `cu-trace` one whose `cu_mark!`
//! markers log the units left at each part of an instruction — and prints the per-part
//! breakdown (markdown) that `docs/CU.md` keeps. `scripts/cu-profile.sh` builds the traced
//! program and runs this.
//!
//! Usage: `tessera-cu-profile <deployed .so> <cu-trace .so>`
#![allow(clippy::result_large_err)]
use std::collections::BTreeMap;

use litesvm::types::TransactionMetadata;
use tessera_tests::world::{World, GOOD};

/// One transaction of a lifecycle: its name and what LiteSVM reported.
struct Step {
    name: &'static str,
    meta: TransactionMetadata,
}

/// Runs a fixed-price job with `k` replicas (all agreeing) through the whole lifecycle on the
/// program at `so` the way the worker and the client run it, returning every transaction in
/// order.
fn lifecycle(so: &str, k: u8) -> Vec<Step> {
    // SAFETY: single-threaded; the test library reads this when it loads the program.
    unsafe { std::env::set_var("TESSERA_PROGRAM_SO", so) };
    let mut w = World::new(usize::from(k));
    let mut steps = Vec::new();
    let mut push = |name, r: tessera_tests::svm::TxResult| {
        let meta = r.unwrap_or_else(|e| panic!("{name}: {:?}\n{:#?}", e.err, e.meta.logs));
        steps.push(Step { name, meta });
    };
    let c = w.client.insecure_clone();
    // the CLI's default: one escalation round budgeted (refunded when unused)
    let args = w.s.job_args(1, k, tessera_tests::world::PRICE, 1);
    push("post_job", w.s.post(&c, args));
    let job = tessera_sdk::pda::job(&c.pubkey(), 1).0;
    for i in 0..usize::from(k) {
        push("claim_job", w.claim(i, &job));
    }
    // every replica but the last commits; the last commits and reveals at once
    let last = usize::from(k) - 1;
    for i in 0..last {
        push("commit_result", w.commit(i, &job, GOOD));
    }
    let op = w.nodes[last].insecure_clone();
    let submit = tessera_sdk::ix::submit_result(
        &op.pubkey(),
        &job,
        GOOD,
        format!("http://127.0.0.1:7070/blobs/out{last}"),
    );
    push("submit_result", w.s.send(&[submit], &[&op]));
    for i in 0..last {
        push("reveal_result", w.reveal(i, &job, GOOD));
    }
    w.s.warp(tessera_sdk::ix::localnet_params().challenge_window_secs + 1);
    // the client settles every claim: the last settlement closes the job
    for i in 0..usize::from(k) {
        push("settle_claim", w.settle_as(&c, i, &job));
    }
    assert!(
        !w.s.exists(&job),
        "the client's last settlement closed the job"
    );
    steps
}

use solana_sdk::signer::Signer;

/// The `cu:<label>` markers of one traced transaction: (label, units consumed so far by the
/// top-level instruction at that point).
fn markers(meta: &TransactionMetadata, budget: u64) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut label = None;
    for line in &meta.logs {
        if let Some(l) = line.strip_prefix("Program log: cu:") {
            label = Some(l.to_string());
        } else if let Some(rest) = line.strip_prefix("Program consumption: ") {
            let left: u64 = rest.split(' ').next().unwrap().parse().unwrap();
            if let Some(l) = label.take() {
                out.push((l, budget - left));
            }
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() == 3,
        "usage: tessera-cu-profile <deployed .so> <cu-trace .so>"
    );
    let (plain_so, trace_so) = (&args[1], &args[2]);
    for k in [1u8, 3] {
        let plain = lifecycle(plain_so, k);
        let traced = lifecycle(trace_so, k);
        assert_eq!(plain.len(), traced.len());
        let total: u64 = plain.iter().map(|s| s.meta.compute_units_consumed).sum();
        println!(
            "\n### k = {k}: {} transactions, {total} CU ({} CU per replica)\n",
            plain.len(),
            total / u64::from(k)
        );
        println!("| transaction | compute units |\n|---|---:|");
        for s in &plain {
            println!("| `{}` | {} |", s.name, s.meta.compute_units_consumed);
        }
        if k != 1 {
            continue;
        }
        // per-part breakdown of each instruction (first of each name)
        let mut seen = BTreeMap::new();
        for (p, t) in plain.iter().zip(&traced) {
            if seen.insert(p.name, ()).is_some() {
                continue;
            }
            // a single instruction per transaction: its budget is the default 200k
            let m = markers(&t.meta, 200_000);
            let n = m.len() as u64;
            let traced_total = t.meta.compute_units_consumed;
            let real_total = p.meta.compute_units_consumed;
            // every marker costs the same (a fixed-length log and the units syscall)
            let per_marker = traced_total.saturating_sub(real_total) / n.max(1);
            println!(
                "\n#### `{}`: {real_total} CU ({n} markers of {per_marker} CU each removed)\n",
                p.name
            );
            println!("| part (up to the marker) | compute units |\n|---|---:|");
            let mut prev = 0u64;
            for (i, (label, at)) in m.iter().enumerate() {
                let spent =
                    at.saturating_sub(prev)
                        .saturating_sub(if i == 0 { 0 } else { per_marker });
                let name = if i == 0 {
                    format!("entry, dispatch, accounts → `{label}`")
                } else {
                    format!("→ `{label}`")
                };
                println!("| {name} | {spent} |");
                prev = *at;
            }
            let exit = traced_total.saturating_sub(prev).saturating_sub(per_marker);
            println!("| → exit (accounts written back) | {exit} |");
        }
    }
}
