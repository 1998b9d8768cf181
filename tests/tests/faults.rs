//! Fault injection on a live network (loopback only): this test owns its validator (own
//! ports and ledger, so it can stop and restart it), a blob server and real `tessera-worker`
//! processes. For each fault it asserts what the worker and the program do, and at the end
//! the balances reconcile to the token.
//!
//! 1. a worker killed right after each step it journals (claimed, computed, committed,
//!    revealed; `--crash-after` exits 137 with no clean-up) restarts, resumes and is paid;
//! 2. the validator hangs for 8 s mid-job (its process frozen, then continued), and then
//!    dies mid-job and is restarted on the same ledger, under running workers: they retry,
//!    reconnect and the jobs complete;
//! 3. the RPC fails 25 % of the time and is slow (a fault-injecting proxy): the job completes;
//! 4. the blob server is down: nobody claims; it comes back: the job completes;
//! 5. an input whose bytes do not match its hash: nobody claims, the job expires, the client
//!    gets everything back;
//! 6. the worker's disk is full (a 4 MiB tmpfs filled up; needs root): it records nothing and
//!    so sends nothing; space comes back: it takes the job and completes it.
use std::time::{Duration, Instant};

use solana_sdk::{signature::Keypair, signer::Signer};
use tessera::state::{ConfigParams, JobState};
use tessera_rpc as rpc;
use tessera_sdk::{ix, pda};
use tessera_tests::faultproxy::FaultProxy;
use tessera_tests::network::{free_port, Network, Proc, Validator};

const GEMM: &str =
    "kernel = \"gemm-i8\"\nprice = \"2\"\nreplicas = 2\nmax_escalations = 1\n[input]\nm = 24\n";

fn params() -> ConfigParams {
    ConfigParams {
        commit_window_secs: 30,
        reveal_window_secs: 15,
        challenge_window_secs: 3,
        unbonding_secs: 5,
        ..ix::localnet_params()
    }
}

fn wait_exit(p: &mut Proc, timeout: Duration) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(Some(st)) = p.child.try_wait() {
            return st.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Waits (30 s at most) until `n` replicas of `job` are claimed, as seen at `confirmed`.
fn wait_claims(net: &Network, job: &solana_sdk::pubkey::Pubkey, n: u8) {
    let start = Instant::now();
    while net.job(job).unwrap().active_claims < n {
        assert!(start.elapsed() < Duration::from_secs(30), "no claims");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn settled(
    net: &Network,
    job: &solana_sdk::pubkey::Pubkey,
    procs: &[&Proc],
) -> tessera::state::Job {
    net.wait_settled(job, Duration::from_secs(150), |_| {})
        .unwrap_or_else(|e| {
            let logs: Vec<String> = procs
                .iter()
                .map(|p| format!("--- {}\n{}", p.name, p.log_tail(25)))
                .collect();
            panic!("{e:#}\n{}", logs.join("\n"))
        })
}

#[test]
fn faults_on_a_live_network() {
    if !Validator::available() {
        eprintln!("SKIPPED: solana-test-validator is not on PATH (source scripts/env.sh; scripts/test.sh does)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tessera-faults-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let wallet = Keypair::new();
    let port = free_port().max(20_000) % 40_000 + 20_000;
    let mut v = Validator::start(&dir, port, &wallet.pubkey()).expect("validator");
    let mut net = Network::attach_with(&v.url(), wallet, &dir, params()).unwrap();
    let blob_port = free_port();
    net.start_blob_server_on(blob_port).unwrap();
    for name in ["a", "b", "c"] {
        net.add_worker(name, 100).unwrap();
    }
    let client = net.client(1_000).unwrap();
    // (the escrow vault holds every job's escrow, and the fees until they are swept)
    let mut parties = vec![
        net.tctx.ata(&client.pubkey()),
        net.config.treasury,
        net.config.vault,
    ];
    for w in &net.workers {
        parties.push(net.tctx.ata(&w.keypair.pubkey()));
        parties.push(pda::stake_vault(&w.node()).0);
    }
    let sum = |net: &Network| -> u64 { parties.iter().map(|a| net.balance_of_account(a)).sum() };
    let before = sum(&net);

    // ---- 5 (started first, checked last: it needs its deadline to pass). A tampered input.
    let tampered_dir = dir.join("tampered");
    // (its own seed: workers keep verified inputs in a content-addressed cache, so an input
    // identical to another job's would be served from there, correctly, without the bad copy)
    let spec: tessera_jobs::jobspec::JobSpec =
        toml::from_str(&format!("{GEMM}seed = 4242\n")).unwrap();
    let client_before = net.balance(&client.pubkey());
    let bad = tessera_jobs::jobs::post(
        &net.rpc,
        &client,
        &tessera_jobs::jobspec::JobSpec {
            deadline_secs: 46,
            ..spec
        },
        &tessera_blobs::BlobTarget::parse(tampered_dir.to_str().unwrap()).unwrap(),
    )
    .unwrap();
    let path = bad.input_uri.strip_prefix("file://").unwrap().to_string();
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    // the workers may read that directory (file:// inputs are refused by default), so they
    // really download the input and refuse it for its hash
    for i in 0..3 {
        net.set_worker_fetch(
            i,
            &[("allowed_dirs", format!("[\"{}\"]", tampered_dir.display()))],
        )
        .unwrap();
    }

    // ---- 1. crash right after each journaled step, restart, resume, get paid
    for stage in ["claimed", "computed", "committed", "revealed"] {
        // b alone commits (its commitment cannot be the round's last, so it does not submit
        // commitment and reveal in one transaction and really stops at `committed`); a joins
        // once b is down. For the other stages both run from the start.
        let alone = stage == "committed";
        let mut a = (!alone).then(|| net.start_worker(0, &[]).unwrap());
        let mut b = net.start_worker(1, &["--crash-after", stage]).unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        let done_before = net.node(1).unwrap().reputation.completed;
        let p = net.post(&client, GEMM).unwrap();
        let code = wait_exit(&mut b, Duration::from_secs(60));
        assert_eq!(
            code,
            Some(137),
            "b did not crash after {stage}: {}",
            b.log_tail(20)
        );
        if stage != "revealed" {
            let j = net.job(&p.job).unwrap();
            assert!(
                !j.state.is_terminal(),
                "the job cannot finish without b (after {stage})"
            );
        }
        if alone {
            let j = net.job(&p.job).unwrap();
            assert_eq!(
                (j.active_claims, j.round_commits),
                (1, 1),
                "b committed alone, before a second claim"
            );
        }
        let a = a
            .take()
            .unwrap_or_else(|| net.start_worker(0, &[]).unwrap());
        let b2 = net.start_worker(1, &[]).unwrap();
        settled(&net, &p.job, &[&a, &b2]);
        assert_eq!(
            net.node(1).unwrap().reputation.completed,
            done_before + 1,
            "b was paid after crashing at {stage}\n--- crashed\n{}\n--- restarted\n{}",
            b.log_tail(30),
            b2.log_tail(30)
        );
        let log = std::fs::read_to_string(&b2.log).unwrap();
        assert!(log.contains("resuming from the journal"), "{log}");
        net.close_job(&client, &p.job).unwrap();
        drop((a, b, b2));
        println!("crash after {stage}: resumed and paid");
    }

    // ---- 2a. the validator hangs mid-job (process frozen with SIGSTOP for 8 s, then
    // continued) under running workers: their requests time out; they retry and finish.
    let mut a = net.start_worker(0, &[]).unwrap();
    let mut b = net.start_worker(1, &[]).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let p = net.post(&client, GEMM).unwrap();
    wait_claims(&net, &p.job, 2);
    v.pause();
    std::thread::sleep(Duration::from_secs(8));
    v.resume();
    let j = settled(&net, &p.job, &[&a, &b]);
    assert_eq!(j.state, JobState::Completed);
    assert!(
        a.is_running() && b.is_running(),
        "workers survived the hang"
    );
    net.close_job(&client, &p.job).unwrap();
    println!("validator hang: workers paused and resumed");

    // ---- 2b. the validator process dies mid-job (killed: solana-test-validator has no
    // signal handler) and is started again on the same ledger 5 s later, under the same
    // running workers: connections are refused, the websocket drops, the validator replays
    // its ledger, and the workers reconnect and finish the job it still holds.
    let p = net.post(&client, GEMM).unwrap();
    wait_claims(&net, &p.job, 2);
    let before_stop = net.job(&p.job).unwrap();
    let ws = |net: &Network, i| net.worker_metric_sum(i, "tessera_worker_ws_reconnects_total");
    let ws_before = [ws(&net, 0), ws(&net, 1)];
    let slot = v.processed_slot().unwrap();
    v.restart(Duration::from_secs(5), slot).unwrap();
    // (the test's own RPC client may first fail on a pooled connection to the old process)
    let t = Instant::now();
    let replayed = loop {
        match net.job(&p.job) {
            Ok(j) => break j,
            Err(e) if t.elapsed() > Duration::from_secs(10) => panic!("after the restart: {e:#}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    assert_eq!(
        (replayed.created_at, replayed.slots, replayed.client),
        (
            before_stop.created_at,
            before_stop.slots,
            before_stop.client
        ),
        "the job came back from the ledger as it was"
    );
    assert!(
        replayed.round_claims >= 2,
        "the confirmed claims survived the restart"
    );
    let j = settled(&net, &p.job, &[&a, &b]);
    assert_eq!(j.state, JobState::Completed);
    assert!(
        a.is_running() && b.is_running(),
        "workers survived the restart"
    );
    for (i, w) in [&a, &b].into_iter().enumerate() {
        assert!(
            ws(&net, i) > ws_before[i],
            "worker {i} did not reconnect its websocket after the restart\n{}",
            w.log_tail(30)
        );
    }
    net.close_job(&client, &p.job).unwrap();
    drop((a, b));
    println!("validator restart: workers reconnected after a stop and a ledger replay; job paid");

    // ---- 3. a flaky, slow RPC between the workers and the validator
    let proxy = FaultProxy::start(v.rpc_port, 250, 300);
    net.set_worker_rpc(0, &proxy.url()).unwrap();
    net.set_worker_rpc(1, &proxy.url()).unwrap();
    let a = net.start_worker(0, &[]).unwrap();
    let b = net.start_worker(1, &[]).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let p = net.post(&client, GEMM).unwrap();
    settled(&net, &p.job, &[&a, &b]);
    net.close_job(&client, &p.job).unwrap();
    let injected = proxy.injected.load(std::sync::atomic::Ordering::Relaxed);
    assert!(injected > 0, "the proxy injected no faults");
    drop((a, b));
    net.set_worker_rpc(0, &v.url()).unwrap();
    net.set_worker_rpc(1, &v.url()).unwrap();
    println!(
        "flaky RPC: {injected} injected 503s, {} forwarded",
        proxy.forwarded.load(std::sync::atomic::Ordering::Relaxed)
    );

    // ---- 4. blob server down while a job waits (an input no worker has cached yet)
    let p = net.post(&client, &format!("{GEMM}seed = 777\n")).unwrap();
    net.stop_blob_server();
    let a = net.start_worker(0, &[]).unwrap();
    let b = net.start_worker(1, &[]).unwrap();
    std::thread::sleep(Duration::from_secs(7));
    let j = net.job(&p.job).unwrap();
    assert_eq!(
        (j.state, j.active_claims),
        (JobState::Open, 0),
        "nobody claims a job whose input is unreachable"
    );
    net.start_blob_server_on(blob_port).unwrap();
    settled(&net, &p.job, &[&a, &b]);
    net.close_job(&client, &p.job).unwrap();
    drop((a, b));
    println!("blob server outage: no claim while down, completed after");

    // ---- 6. disk full (root only: a tmpfs for worker c's state)
    let state_dir = net.workers[2].dir.join("state");
    std::fs::create_dir_all(&state_dir).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&state_dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if mounted {
        struct Unmount(std::path::PathBuf);
        impl Drop for Unmount {
            fn drop(&mut self) {
                let _ = std::process::Command::new("umount").arg(&self.0).status();
            }
        }
        let _unmount = Unmount(state_dir.clone());
        let c = net.start_worker(2, &[]).unwrap();
        std::thread::sleep(Duration::from_millis(2000));
        let filler = state_dir.join("filler");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&filler).unwrap();
            let block = vec![0u8; 64 * 1024];
            while f.write_all(&block).is_ok() {}
            let _ = f.sync_all();
        }
        let one = "kernel = \"gemm-i8\"\nprice = \"2\"\nreplicas = 1\nmax_escalations = 0\n[input]\nm = 16\n";
        let p = net.post(&client, one).unwrap();
        std::thread::sleep(Duration::from_secs(6));
        let j = net.job(&p.job).unwrap();
        assert_eq!(
            j.active_claims,
            0,
            "a worker that cannot journal must not claim: {}",
            c.log_tail(10)
        );
        let log = std::fs::read_to_string(&c.log).unwrap();
        assert!(log.contains("cannot record the claim"), "{log}");
        std::fs::remove_file(&filler).unwrap();
        settled(&net, &p.job, &[&c]);
        net.close_job(&client, &p.job).unwrap();
        drop(c);
        println!("disk full: no claim without a journal record; completed once space came back");
    } else {
        eprintln!("SKIPPED (disk-full case): cannot mount a tmpfs here (needs root)");
    }

    // ---- 5, checked: the tampered-input job was never claimed; after its deadline the client
    // gets every token back.
    let j = net.job(&bad.job).unwrap();
    assert_eq!(j.unsettled_claims, 0, "nobody claimed the tampered input");
    let start = Instant::now();
    loop {
        let res = rpc::send(&net.rpc, &[ix::expire_job(&bad.job)], &client, &[]);
        if res.is_ok() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "expire_job: {res:?}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    net.close_job(&client, &bad.job).unwrap();
    println!("tampered input: never claimed, expired and refunded");

    // ---- conservation
    assert_eq!(
        sum(&net),
        before,
        "tokens created or lost among the parties"
    );
    let (all, supply) = net.token_totals().unwrap();
    assert_eq!(all, supply, "token accounts do not add up to the supply");
    // the client paid exactly the fees and the replicas of the completed jobs, and got the
    // tampered job's deposit back in full
    assert!(net.balance(&client.pubkey()) < client_before);
    for i in 0..3 {
        let n = net.node(i).unwrap();
        assert_eq!(net.balance_of_account(&n.stake_vault), n.stake);
        assert_eq!(n.open_claims, 0);
    }
    drop(net);
    drop(v);
    let _ = std::fs::remove_dir_all(&dir);
}
