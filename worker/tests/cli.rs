//! The `tessera-worker` command line as an operator meets it: every subcommand explains itself
//! with `--help`, and config mistakes each give one clear line saying what is wrong and what to
//! do. (An integration test of this crate, so `cargo test` builds the binary it runs.)
use std::path::Path;

use tessera_tests::cli::{
    every_subcommand_has_help as help, one_line_error as expect_error, run, tmp,
};

const WORKER: &str = env!("CARGO_BIN_EXE_tessera-worker");

fn one_line_error(args: &[&str], needles: &[&str]) {
    expect_error(Path::new(WORKER), args, needles)
}

#[test]
fn every_subcommand_has_help() {
    let subcommands: Vec<&[&str]> = [
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
    ]
    .iter()
    .map(std::slice::from_ref)
    .collect();
    help(Path::new(WORKER), &subcommands);
}

#[test]
fn worker_config_mistakes() {
    one_line_error(
        &["--config", "/nonexistent/worker.toml", "status"],
        &["tessera-worker init"],
    );
    let d = tmp("wcfg");
    let c = d.join("worker.toml");
    std::fs::write(&c, "rpc_url = 8899\n").unwrap();
    one_line_error(
        &["--config", c.to_str().unwrap(), "status"],
        &["is invalid"],
    );
    // init writes a config that loads, and refuses to overwrite it
    std::fs::remove_file(&c).unwrap();
    let (code, _, err) = run(
        Path::new(WORKER),
        &["--config", c.to_str().unwrap(), "init"],
    );
    assert_eq!(code, 0, "{err}");
    {
        // the config and the new key are the operator's alone
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&c), 0o600, "worker.toml");
        assert_eq!(mode(&d.join("id.json")), 0o600, "id.json");
    }
    one_line_error(
        &["--config", c.to_str().unwrap(), "init"],
        &["already exists", "--force"],
    );
    // status against a cluster that is not there
    one_line_error(
        &["--config", c.to_str().unwrap(), "status"],
        &["cannot reach the RPC"],
    );
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn worker_refuses_a_public_cluster_it_is_not_built_for() {
    // a localnet build's program id is the public key in keys/: never on devnet or mainnet
    let d = tmp("wpublic");
    let c = d.join("worker.toml");
    let c = c.to_str().unwrap();
    let refused = ["built for localnet", "TESSERA_CLUSTER=devnet"];
    one_line_error(&["--config", c, "init", "--cluster", "devnet"], &refused);
    one_line_error(
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
        Path::new(WORKER),
        &["--config", c, "init", "--cluster", "testnet"],
    );
    assert!(
        code == 2 && err.contains("unknown cluster `testnet`"),
        "{code}: {err}"
    );
    assert!(!Path::new(c).exists(), "nothing written by a refused init");
    // the cluster's defaults fill the URLs
    let (code, _, err) = run(
        Path::new(WORKER),
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
    one_line_error(&["--config", c, "status"], &refused);
    std::fs::remove_dir_all(d).unwrap();
}
