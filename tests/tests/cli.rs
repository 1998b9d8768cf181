//! The binaries' user interface: every subcommand explains itself with `--help`, and the
//! common mistakes each give one clear line saying what is wrong and what to do.
//! (Needs the binaries: `cargo build --workspace --bins`, which scripts/test.sh does first.)
use std::path::Path;
use std::process::Command;

use tessera_tests::network::bin_dir;

fn run(bin: &str, args: &[&str]) -> (i32, String, String) {
    let path = bin_dir().join(bin);
    assert!(
        path.exists(),
        "{} missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    let out = Command::new(path)
        .args(args)
        .env_remove("TESSERA_RPC_URL")
        .env_remove("TESSERA_KEYPAIR")
        .env_remove("TESSERA_BLOBS")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Fails with exactly one `error: …` line containing every `needle`.
fn one_line_error(bin: &str, args: &[&str], needles: &[&str]) {
    let (code, _, err) = run(bin, args);
    assert_eq!(code, 1, "{bin} {args:?} should fail: {err}");
    let lines: Vec<&str> = err.trim().lines().collect();
    assert_eq!(lines.len(), 1, "one line expected, got:\n{err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` missing from: {err}");
    }
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tessera-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_keypair(dir: &Path) -> String {
    let kp = solana_sdk::signature::Keypair::new();
    let p = dir.join("id.json");
    std::fs::write(&p, serde_json::to_string(&kp.to_bytes().to_vec()).unwrap()).unwrap();
    p.display().to_string()
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
    for sub in tessera {
        let mut args = sub.to_vec();
        args.push("--help");
        let (code, out, err) = run("tessera", &args);
        assert_eq!(code, 0, "tessera {sub:?} --help: {err}");
        assert!(
            out.contains("Usage:") && out.lines().next().unwrap().len() > 10,
            "tessera {sub:?}: {out}"
        );
    }
    for sub in [
        "init",
        "register",
        "stake",
        "unstake",
        "withdraw",
        "status",
        "drain",
        "deregister",
        "run",
        "version",
    ] {
        let (code, out, err) = run("tessera-worker", &[sub, "--help"]);
        assert_eq!(code, 0, "tessera-worker {sub} --help: {err}");
        assert!(
            out.contains("Usage:") && out.lines().next().unwrap().len() > 10,
            "{sub}: {out}"
        );
    }
}

#[test]
fn keypair_mistakes() {
    one_line_error(
        "tessera",
        &["--keypair", "/nonexistent/id.json", "address"],
        &["does not exist", "solana-keygen new"],
    );
    let d = tmp("kp");
    let bad = d.join("bad.json");
    std::fs::write(&bad, "[1, 2, 3]").unwrap();
    one_line_error(
        "tessera",
        &["--keypair", bad.to_str().unwrap(), "address"],
        &["is not a keypair file"],
    );
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn unreachable_rpc() {
    one_line_error(
        "tessera",
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
        "tessera",
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
        "tessera",
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
        "tessera",
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
    one_line_error(
        "tessera",
        &["--keypair", &kp, "job", "post"],
        &["--file", "--kernel"],
    );
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
            "tessera",
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
        "tessera",
        &["blobs", "get", &uri, "-o", o.to_str().unwrap()],
        &["does not match its hash", "tampered"],
    );
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn worker_config_mistakes() {
    one_line_error(
        "tessera-worker",
        &["--config", "/nonexistent/worker.toml", "status"],
        &["tessera-worker init"],
    );
    let d = tmp("wcfg");
    let c = d.join("worker.toml");
    std::fs::write(&c, "rpc_url = 8899\n").unwrap();
    one_line_error(
        "tessera-worker",
        &["--config", c.to_str().unwrap(), "status"],
        &["is invalid"],
    );
    // init writes a config that loads, and refuses to overwrite it
    std::fs::remove_file(&c).unwrap();
    let (code, _, err) = run("tessera-worker", &["--config", c.to_str().unwrap(), "init"]);
    assert_eq!(code, 0, "{err}");
    {
        // the config and the new key are the operator's alone
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&c), 0o600, "worker.toml");
        assert_eq!(mode(&d.join("id.json")), 0o600, "id.json");
    }
    one_line_error(
        "tessera-worker",
        &["--config", c.to_str().unwrap(), "init"],
        &["already exists", "--force"],
    );
    // status against a cluster that is not there
    one_line_error(
        "tessera-worker",
        &["--config", c.to_str().unwrap(), "status"],
        &["cannot reach the RPC"],
    );
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn config_init_cluster_mistakes() {
    // refused before any RPC: the URL below is never reached
    let off = ["--url", "http://127.0.0.1:1", "config", "init"];
    let with = |extra: &[&'static str]| [&off[..], extra].concat();
    one_line_error(
        "tessera",
        &with(&["--cluster", "testnet"]),
        &["unknown cluster `testnet`", "localnet, devnet or mainnet"],
    );
    one_line_error(
        "tessera",
        &with(&["--cluster", "devnet", "--param", "fee=1"]),
        &["unknown parameter `fee`", "protocol_fee_bps"],
    );
    one_line_error(
        "tessera",
        &with(&["--cluster", "devnet", "--param", "commit_window_secs"]),
        &["is not KEY=VALUE"],
    );
    one_line_error(
        "tessera",
        &with(&["--cluster", "devnet", "--param", "max_replicas=8"]),
        &[
            "max_replicas = 8 is outside the program's bounds [1, 7]",
            "InvalidMaxReplicas",
        ],
    );
    one_line_error(
        "tessera",
        &with(&["--cluster", "devnet", "--param", "protocol_fee_bps=lots"]),
        &["protocol_fee_bps = `lots`", "whole number"],
    );
    // seconds-long windows are for localnet only
    one_line_error(
        "tessera",
        &with(&["--cluster", "mainnet", "--param", "commit_window_secs=60"]),
        &[
            "commit_window_secs = 60 s is too short for mainnet",
            "at least 600 s",
        ],
    );
    one_line_error(
        "tessera",
        &with(&["--cluster", "devnet", "--param", "unbonding_secs=30m"]),
        &["unbonding_secs = 1800 is shorter than the 3600 s devnet requires"],
    );
    // a localnet build never sends to a public cluster (its program id is the public key in
    // keys/), and --cluster must agree with the URL
    one_line_error(
        "tessera",
        &["config", "init", "--cluster", "devnet", "--dry-run"],
        &[
            "built for localnet",
            "not for devnet",
            "TESSERA_CLUSTER=devnet",
        ],
    );
    one_line_error(
        "tessera",
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
        "tessera",
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
        one_line_error("tessera", &a, needles)
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
    let (code, _, err) = run("tessera", &["config", "update"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--param <KEY=VALUE>"), "{err}");
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn worker_refuses_a_public_cluster_it_is_not_built_for() {
    // a localnet build's program id is the public key in keys/: never on devnet or mainnet
    let d = tmp("wpublic");
    let c = d.join("worker.toml");
    let c = c.to_str().unwrap();
    let refused = ["built for localnet", "TESSERA_CLUSTER=devnet"];
    one_line_error(
        "tessera-worker",
        &["--config", c, "init", "--cluster", "devnet"],
        &refused,
    );
    one_line_error(
        "tessera-worker",
        &[
            "--config",
            c,
            "init",
            "--rpc-url",
            "https://api.devnet.solana.com",
        ],
        &refused,
    );
    one_line_error(
        "tessera-worker",
        &[
            "--config",
            c,
            "init",
            "--cluster",
            "devnet",
            "--rpc-url",
            "https://api.mainnet-beta.solana.com",
        ],
        &["--cluster devnet but --url https://api.mainnet-beta.solana.com is mainnet"],
    );
    let (code, _, err) = run(
        "tessera-worker",
        &["--config", c, "init", "--cluster", "testnet"],
    );
    assert!(
        code == 2 && err.contains("unknown cluster `testnet`"),
        "{code}: {err}"
    );
    assert!(!Path::new(c).exists(), "nothing written by a refused init");
    // the cluster's defaults fill the URLs
    let (code, _, err) = run(
        "tessera-worker",
        &["--config", c, "init", "--cluster", "localnet"],
    );
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(c).unwrap();
    assert!(
        text.contains("rpc_url = \"http://127.0.0.1:8899\"")
            && text.contains("ws_url = \"ws://127.0.0.1:8900\""),
        "{text}"
    );
    // a config edited to point at devnet is refused when used
    let edited = text
        .replace("http://127.0.0.1:8899", "https://api.devnet.solana.com")
        .replace("ws://127.0.0.1:8900", "wss://api.devnet.solana.com");
    std::fs::write(c, edited).unwrap();
    one_line_error("tessera-worker", &["--config", c, "status"], &refused);
    std::fs::remove_dir_all(d).unwrap();
}
