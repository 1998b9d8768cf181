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
