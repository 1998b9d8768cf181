//! The `tessera` command line as a user meets it: every subcommand explains itself with
//! `--help`, and the common mistakes each give one clear line saying what is wrong and what to
//! do. (An integration test of this crate, so `cargo test` builds the binary it runs.)
use std::path::Path;

use tessera_tests::cli::{
    every_subcommand_has_help as help, one_line_error as expect_error, run, tmp, write_keypair,
};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");

fn one_line_error(args: &[&str], needles: &[&str]) {
    expect_error(Path::new(TESSERA), args, needles)
}

#[test]
fn every_subcommand_has_help() {
    let tessera: &[&[&str]] = &[
        &[],
        &["version"],
        &["address"],
        &["config"],
        &["config", "show"],
        &["config", "init"],
        &["config", "update"],
        &["job"],
        &["job", "post"],
        &["job", "status"],
        &["job", "result"],
        &["job", "cancel"],
        &["job", "close"],
        &["job", "list"],
        &["node"],
        &["node", "list"],
        &["market"],
        &["blobs"],
        &["blobs", "serve"],
        &["blobs", "put"],
        &["blobs", "get"],
        &["token"],
        &["token", "balance"],
        &["token", "mint"],
    ];
    help(Path::new(TESSERA), tessera);
}

#[test]
fn keypair_mistakes() {
    one_line_error(
        &["--keypair", "/nonexistent/id.json", "address"],
        &["does not exist", "solana-keygen new"],
    );
    let d = tmp("kp");
    let bad = d.join("bad.json");
    std::fs::write(&bad, "[1, 2, 3]").unwrap();
    one_line_error(
        &["--keypair", bad.to_str().unwrap(), "address"],
        &["is not a keypair file"],
    );
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn unreachable_rpc() {
    one_line_error(
        &["--url", "http://127.0.0.1:1", "config", "show"],
        &["cannot reach the RPC at http://127.0.0.1:1", "--url"],
    );
}

#[test]
fn job_files_that_do_not_parse() {
    let d = tmp("job");
    let kp = write_keypair(&d);
    let f = d.join("job.toml");
    std::fs::write(&f, "kernel = \"render\"\nprice = \"1\"\nreplica = 3\n").unwrap();
    one_line_error(
        &[
            "--keypair",
            &kp,
            "job",
            "post",
            "--file",
            f.to_str().unwrap(),
        ],
        &["does not parse", "replica"],
    );
    std::fs::write(&f, "kernel = [1]\n").unwrap();
    one_line_error(
        &[
            "--keypair",
            &kp,
            "job",
            "post",
            "--file",
            f.to_str().unwrap(),
        ],
        &["does not parse"],
    );
    std::fs::write(&f, "kernel = \"fft\"\nprice = \"1\"\n").unwrap();
    one_line_error(
        &[
            "--keypair",
            &kp,
            "--url",
            "http://127.0.0.1:1",
            "job",
            "post",
            "--file",
            f.to_str().unwrap(),
            "--blobs",
            d.to_str().unwrap(),
        ],
        &["unknown kernel `fft`"],
    );
    one_line_error(&["--keypair", &kp, "job", "post"], &["--file", "--kernel"]);
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn blobs_that_do_not_match_their_hash() {
    let d = tmp("blob");
    let store = d.join("store");
    let (code, out, err) = {
        let f = d.join("input.bin");
        std::fs::write(&f, b"some input").unwrap();
        run(
            Path::new(TESSERA),
            &[
                "blobs",
                "put",
                f.to_str().unwrap(),
                "--blobs",
                store.to_str().unwrap(),
            ],
        )
    };
    assert_eq!(code, 0, "{err}");
    let uri = out.split_whitespace().nth(1).unwrap().to_string();
    let path = uri.strip_prefix("file://").unwrap();
    std::fs::write(path, b"tampered!!").unwrap();
    let o = d.join("out.bin");
    one_line_error(
        &["blobs", "get", &uri, "-o", o.to_str().unwrap()],
        &["does not match its hash", "tampered"],
    );
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn config_init_cluster_mistakes() {
    // refused before any RPC: the URL below is never reached
    let off = ["--url", "http://127.0.0.1:1", "config", "init"];
    let with = |extra: &[&'static str]| [&off[..], extra].concat();
    one_line_error(
        &with(&["--cluster", "testnet"]),
        &["unknown cluster `testnet`", "localnet, devnet or mainnet"],
    );
    one_line_error(
        &with(&["--cluster", "devnet", "--param", "fee=1"]),
        &["unknown parameter `fee`", "protocol_fee_bps"],
    );
    one_line_error(
        &with(&["--cluster", "devnet", "--param", "commit_window_secs"]),
        &["is not KEY=VALUE"],
    );
    one_line_error(
        &with(&["--cluster", "devnet", "--param", "max_replicas=8"]),
        &[
            "max_replicas = 8 is outside the program's bounds [1, 7]",
            "InvalidMaxReplicas",
        ],
    );
    one_line_error(
        &with(&["--cluster", "devnet", "--param", "protocol_fee_bps=lots"]),
        &["protocol_fee_bps = `lots`", "whole number"],
    );
    // seconds-long windows are for localnet only
    one_line_error(
        &with(&["--cluster", "mainnet", "--param", "commit_window_secs=60"]),
        &[
            "commit_window_secs = 60 s is too short for mainnet",
            "at least 600 s",
        ],
    );
    one_line_error(
        &with(&["--cluster", "devnet", "--param", "unbonding_secs=30m"]),
        &["unbonding_secs = 1800 is shorter than the 3600 s devnet requires"],
    );
    // a localnet build never sends to a public cluster (its program id is the public key in
    // keys/), and --cluster must agree with the URL
    one_line_error(
        &["config", "init", "--cluster", "devnet", "--dry-run"],
        &[
            "built for localnet",
            "not for devnet",
            "TESSERA_CLUSTER=devnet",
        ],
    );
    one_line_error(
        &[
            "--url",
            "https://api.devnet.solana.com",
            "config",
            "init",
            "--cluster",
            "mainnet",
        ],
        &["--cluster mainnet but --url https://api.devnet.solana.com is devnet"],
    );
}

#[test]
fn config_init_dry_run_prints_the_profile() {
    // a rehearsal of the devnet profile on a local URL: windows of minutes, nothing sent
    let (code, out, err) = run(
        Path::new(TESSERA),
        &[
            "--url",
            "http://127.0.0.1:1",
            "config",
            "init",
            "--cluster",
            "devnet",
            "--dry-run",
            "--param",
            "commit_window_secs=20m",
            "--param",
            "min_stake=250",
        ],
    );
    assert_eq!(code, 0, "{err}");
    for line in [
        "commit_window_secs           1200 s",
        "reveal_window_secs           600 s",
        "min_stake                    250 tokens",
        "unbonding_secs               86400 s",
    ] {
        assert!(out.contains(line), "`{line}` missing from:\n{out}");
    }
}

#[test]
fn config_update_refusals() {
    let d = tmp("update");
    let kp = write_keypair(&d);
    let base = [
        "--url",
        "http://127.0.0.1:1",
        "--keypair",
        kp.as_str(),
        "config",
        "update",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let call = |args: Vec<String>, needles: &[&str]| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        one_line_error(&a, needles)
    };
    // checked before the RPC is asked anything
    call(
        with(&["--param", "escalation_cap=4"]),
        &["escalation_cap = 4", "InvalidEscalationCap"],
    );
    call(with(&["--param", "nope=1"]), &["unknown parameter `nope`"]);
    call(
        with(&["--cluster", "devnet", "--param", "reveal_window_secs=30"]),
        &["reveal_window_secs = 30 s is too short for devnet"],
    );
    call(
        with(&["--cluster", "moon", "--param", "protocol_fee_bps=1"]),
        &["unknown cluster `moon`"],
    );
    // a valid change goes to the chain (here: unreachable)
    call(
        with(&["--param", "protocol_fee_bps=100"]),
        &["cannot reach the RPC at http://127.0.0.1:1"],
    );
    // --param is required
    let (code, _, err) = run(Path::new(TESSERA), &["config", "update"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--param <KEY=VALUE>"), "{err}");
    std::fs::remove_dir_all(d).unwrap();
}
