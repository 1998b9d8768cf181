//! An operator's day on a live network (loopback only; this test owns its validator, a blob
//! server and one real `tessera-worker`), through the worker's own commands:
//!
//! 1. `status` without a daemon reads the journal file;
//! 2. the daemon's `/health` (on the metrics listener) follows the websocket, the slot age and
//!    the SOL balance: 200 "degraded" under `[ops] min_sol_balance`, 503 while the validator
//!    is frozen (no new slot), 200 again after; the gauges say the same;
//! 3. `status` while the daemon runs asks it (the journal is locked) and prints its claims;
//! 4. `drain --exit` with a claim in flight: the claim is committed, revealed and settled
//!    (paid), a job posted meanwhile is not taken, the daemon exits 0, and `status` then reads
//!    the journal file again;
//! 5. a plain `drain` survives a restart of the daemon (recorded in its state directory) until
//!    `drain --cancel`;
//! 6. `deregister` is refused while a daemon runs, while stake is bonded, while it unbonds,
//!    without `--yes`, each time saying what to do; after `withdraw` it closes the node.
use std::process::Command;
use std::time::{Duration, Instant};

use solana_sdk::{signature::Keypair, signer::Signer};
use tessera::state::{ConfigParams, JobState};
use tessera_sdk::ix;
use tessera_tests::network::{bin_dir, free_port, Network, Proc, Validator, WorkerSpec};

const GEMM: &str =
    "kernel = \"gemm-i8\"\nprice = \"2\"\nreplicas = 1\nmax_escalations = 0\n[input]\nm = 24\n";

fn params() -> ConfigParams {
    ConfigParams {
        commit_window_secs: 30,
        reveal_window_secs: 15,
        challenge_window_secs: 3,
        unbonding_secs: 5,
        ..ix::localnet_params()
    }
}

/// `tessera-worker --config <w> args…`: (exit code, stdout, stderr).
fn cli(w: &WorkerSpec, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin_dir().join("tessera-worker"))
        .arg("--config")
        .arg(w.config())
        .args(args)
        .output()
        .expect("tessera-worker");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Succeeds, and returns stdout.
fn ok(w: &WorkerSpec, args: &[&str]) -> String {
    let (code, out, err) = cli(w, args);
    assert_eq!(code, 0, "tessera-worker {args:?}:\n{out}{err}");
    out
}

/// Fails with one `error:` line containing every needle.
fn refused(w: &WorkerSpec, args: &[&str], needles: &[&str]) {
    let (code, out, err) = cli(w, args);
    assert_eq!(code, 1, "tessera-worker {args:?} should fail:\n{out}{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` missing from: {err}");
    }
}

/// `GET path` on 127.0.0.1:port: (status code, body); None when nothing listens.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((code, body))
}

/// Waits (up to `secs`) until `/health` answers `code` with `needle` in its body.
fn wait_health(port: u16, code: u16, needle: &str, secs: u64, p: &Proc) -> String {
    let start = Instant::now();
    loop {
        if let Some((c, body)) = get(port, "/health") {
            if c == code && body.contains(needle) {
                return body;
            }
            if start.elapsed() > Duration::from_secs(secs) {
                panic!(
                    "/health is {c} {body}, not {code} with {needle}\n{}",
                    p.log_tail(30)
                );
            }
        } else if start.elapsed() > Duration::from_secs(secs) {
            panic!("/health does not answer\n{}", p.log_tail(30));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn wait_exit(p: &mut Proc, timeout: Duration) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(Some(st)) = p.child.try_wait() {
            return st.code();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Sets `key = value` in the config's `[ops]` section (the template writes every key).
fn set_ops(w: &WorkerSpec, key: &str, value: &str) {
    let text = std::fs::read_to_string(w.config()).unwrap();
    let mut in_ops = false;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with('[') {
                in_ops = l.trim() == "[ops]";
            }
            if in_ops && l.starts_with(&format!("{key} = ")) {
                format!("{key} = {value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(w.config(), out.join("\n") + "\n").unwrap();
}

#[test]
fn status_health_drain_and_deregister_on_a_live_node() {
    if !Validator::available() {
        eprintln!("SKIPPED: solana-test-validator is not on PATH (source scripts/env.sh; scripts/test.sh does)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tessera-operator-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let wallet = Keypair::new();
    let v = Validator::start(&dir, free_port(), &wallet.pubkey()).expect("validator");
    let mut net =
        Network::attach_with(&v.url(), wallet, &dir.join("net"), params()).expect("network");
    net.start_blob_server().unwrap();
    let i = net.add_worker("op", 100).unwrap();
    let w = &net.workers[i];
    // the files `init` wrote are the operator's alone
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&w.config()), 0o600, "worker.toml");
    }
    // a SOL floor above what the operator has (10 SOL), a short slot-age limit
    set_ops(w, "min_sol_balance", "\"100\"");
    set_ops(w, "max_slot_age_secs", "10");
    set_ops(w, "balance_check_secs", "60");

    // 1. no daemon: the journal file (none yet)
    let out = ok(w, &["status"]);
    assert!(out.contains("daemon       not running"), "{out}");
    assert!(out.contains("journal      none yet"), "{out}");
    assert!(
        out.contains("! below ops.min_sol_balance (100 SOL)"),
        "{out}"
    );

    // 2. the daemon: healthy but degraded by the balance; the gauges
    let mut p = net.start_worker(i, &[]).unwrap();
    let body = wait_health(w.metrics_port, 200, "\"ws_connected\":true", 60, &p);
    assert!(body.contains("\"status\":\"degraded\""), "{body}");
    assert!(body.contains("below ops.min_sol_balance"), "{body}");
    let metrics = get(w.metrics_port, "/metrics").unwrap().1;
    assert!(
        metrics.contains("tessera_worker_ws_connected 1"),
        "{metrics}"
    );
    let slot_line = metrics
        .lines()
        .find(|l| l.starts_with("tessera_worker_last_slot "))
        .expect("last_slot gauge");
    assert!(!slot_line.ends_with(" 0"), "{slot_line}");
    assert!(
        metrics.contains("tessera_worker_operator_balance_lamports 99"),
        "{metrics}"
    );
    assert!(
        p.log_tail(200).contains("low SOL balance"),
        "{}",
        p.log_tail(50)
    );
    // the validator freezes: no new slot comes in, /health turns 503 and says why
    v.pause();
    let body = wait_health(w.metrics_port, 503, "no new slot for", 40, &p);
    assert!(body.contains("\"status\":\"unhealthy\""), "{body}");
    v.resume();
    wait_health(w.metrics_port, 200, "\"status\":\"degraded\"", 60, &p);

    // 3. status from the running daemon (it holds the journal)
    let out = ok(w, &["status"]);
    assert!(
        out.contains(&format!("daemon       running (pid {}", p.child.id())),
        "{out}"
    );
    assert!(out.contains("websocket    connected"), "{out}");
    assert!(out.contains("draining     no"), "{out}");
    assert!(out.contains("(from the daemon)"), "{out}");
    assert!(!out.contains("unavailable"), "{out}");

    // 4. a claim in flight, then drain: it is finished; a new job is not taken
    let client = net.client(100).unwrap();
    let job = net.post(&client, GEMM).unwrap().job;
    let start = Instant::now();
    while net.job(&job).unwrap().active_claims < 1 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not claimed\n{}",
            p.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = ok(w, &["drain", "--no-wait"]);
    assert!(out.starts_with("draining: "), "{out}");
    // (a k=1 job settles within seconds: it may already be done)
    let out = ok(w, &["status"]);
    assert!(
        out.contains("draining     yes: finishing") && out.contains(&format!("job {job} · "))
            || out.contains("draining     DRAINED"),
        "{out}"
    );
    let late = net.post(&client, GEMM).unwrap().job;
    let out = ok(w, &["drain", "--exit"]);
    assert!(out.contains("drained"), "{out}");
    assert_eq!(
        wait_exit(&mut p, Duration::from_secs(30)),
        Some(0),
        "{}",
        p.log_tail(30)
    );
    let j = net.job(&job).unwrap();
    assert_eq!(
        j.state,
        JobState::Completed,
        "the claim in flight was finished"
    );
    assert_eq!(j.unsettled_claims, 0, "and settled");
    let l = net.job(&late).unwrap();
    assert_eq!(l.active_claims, 0, "no job taken while draining");
    assert!(p
        .log_tail(400)
        .contains("draining: finishing the claims in flight"));
    // no daemon: the journal file again, with the settled claim
    let out = ok(w, &["status"]);
    assert!(out.contains("daemon       not running"), "{out}");
    assert!(
        out.contains("journal      1 entries: 0 in progress, 1 settled, 0 abandoned (from "),
        "{out}"
    );
    refused(w, &["drain"], &["no daemon is running", "nothing to drain"]);
    // A `drain --exit` that ended drained is over: a restarted daemon would take the late
    // job and lock collateral, so its client cancels it first (it has no claim).
    tessera_rpc::send(
        &net.rpc,
        &[ix::cancel_job(&net.tctx, &client.pubkey(), &late)],
        &client,
        &[],
    )
    .expect("cancelling the unclaimed late job");

    // 5. a plain drain survives a restart (a crash, `systemctl restart`) until cancelled
    let mut p = net.start_worker(i, &[]).unwrap();
    wait_health(w.metrics_port, 200, "\"ws_connected\":true", 60, &p);
    let out = ok(w, &["status"]);
    assert!(out.contains("draining     no"), "{out}");
    let out = ok(w, &["drain", "--no-wait"]);
    assert!(
        out.contains("draining: a restart goes on draining until `tessera-worker drain --cancel`)"),
        "{out}"
    );
    p.stop().unwrap();
    let mut p = net.start_worker(i, &[]).unwrap();
    wait_health(w.metrics_port, 200, "\"ws_connected\":true", 60, &p);
    let out = ok(w, &["status"]);
    assert!(
        out.contains("draining     DRAINED: nothing in flight"),
        "{out}"
    );
    assert!(
        p.log_tail(200).contains(
            "still draining, as recorded before the restart: no new job is taken \
             (`tessera-worker drain --cancel` takes jobs again)"
        ),
        "{}",
        p.log_tail(20)
    );
    let out = ok(w, &["drain", "--cancel"]);
    assert!(out.contains("draining cancelled"), "{out}");
    let out = ok(w, &["status"]);
    assert!(out.contains("draining     no"), "{out}");

    // 6. deregister, each precondition named with what to do
    refused(
        w,
        &["deregister", "--yes"],
        &["a daemon is running", "drain --exit"],
    );
    p.stop().unwrap();
    refused(
        w,
        &["deregister", "--yes"],
        &[
            "cannot deregister node",
            "StakeRemaining: 100 tokens are bonded: `tessera-worker unstake 100`",
        ],
    );
    ok(w, &["unstake", "100"]);
    refused(
        w,
        &["deregister", "--yes"],
        &["StakeRemaining: 100 tokens are unbonding, withdrawable in"],
    );
    // withdrawable once the cluster's clock has passed the unbonding period (5 s)
    let start = Instant::now();
    loop {
        let (code, out, err) = cli(w, &["withdraw"]);
        if code == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60) && err.contains("unbonding period"),
            "withdraw: {out}{err}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    refused(
        w,
        &["deregister"],
        &["deletes its on-chain reputation", "--yes"],
    );
    let out = ok(w, &["deregister", "--yes"]);
    assert!(out.contains("deregistered"), "{out}");
    assert!(net.node(i).is_err(), "the node account is closed");
    refused(w, &["deregister", "--yes"], &["is not registered"]);
    drop(net);
    drop(v);
    let _ = std::fs::remove_dir_all(&dir);
}
