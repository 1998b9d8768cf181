//! `migrations/deploy.sh` without a cluster: its command line, and every refusal before it
//! spends anything — devnet and mainnet need the deployer's own program keypair (the one in
//! keys/ is public), mainnet needs --yes, and parameters are checked against the program's
//! bounds and the cluster's rules first. `--dry-run` shows the plan: build for the key's id,
//! deploy, `config init --cluster`. (Needs the `tessera` binary: `cargo build -p
//! tessera-cli --bins`.)
use std::path::{Path, PathBuf};
use std::process::Command;

use solana_sdk::{signature::Keypair, signer::Signer};
use tessera_tests::network::bin_dir;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn deploy(args: &[&str]) -> (i32, String, String) {
    assert!(
        bin_dir().join("tessera").exists(),
        "build the tessera binary first"
    );
    let out = Command::new("bash")
        .arg(root().join("migrations/deploy.sh"))
        .args(args)
        .env("TESSERA_BIN_DIR", bin_dir())
        .env_remove("TESSERA_RPC_URL")
        .env_remove("TESSERA_KEYPAIR")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Fails with `deploy.sh: error[<name>]` and exit `code`, saying every needle.
fn refused(args: &[&str], code: i32, name: &str, needles: &[&str]) {
    let (c, _, err) = deploy(args);
    assert_eq!(c, code, "{args:?}: {err}");
    assert!(
        err.contains(&format!("deploy.sh: error[{name}]")),
        "{args:?}: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "`{n}` missing from: {err}");
    }
}

fn key_file(dir: &Path, name: &str) -> (String, Keypair) {
    let kp = Keypair::new();
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string(&kp.to_bytes().to_vec()).unwrap()).unwrap();
    (p.display().to_string(), kp)
}

#[test]
fn deploy_script_refuses_what_it_must() {
    let d = std::env::temp_dir().join(format!("tessera-deploy-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let (deployer, _) = key_file(&d, "deployer.json");
    let (program, _) = key_file(&d, "program.json");
    let committed = root().join("keys/tessera-program-keypair.json");
    let committed = committed.to_str().unwrap();
    let anchor_before = std::fs::read_to_string(root().join("Anchor.toml")).unwrap();

    refused(
        &["--cluster", "testnet"],
        2,
        "unknown-cluster",
        &["use localnet, devnet or mainnet"],
    );
    refused(&["--frobnicate"], 2, "unknown-argument", &["--frobnicate"]);
    refused(
        &["--cluster"],
        2,
        "missing-value",
        &["--cluster needs a value"],
    );
    refused(
        &[
            "--cluster",
            "devnet",
            "--keypair",
            "/nonexistent/deployer.json",
        ],
        1,
        "keypair-missing",
        &["/nonexistent/deployer.json"],
    );
    refused(
        &["--cluster", "devnet", "--keypair", &deployer],
        1,
        "program-keypair-required",
        &["--program-keypair <file>"],
    );
    refused(
        &[
            "--cluster",
            "devnet",
            "--keypair",
            &deployer,
            "--program-keypair",
            "/nonexistent/p.json",
        ],
        1,
        "program-keypair-missing",
        &[],
    );
    // the committed localnet key is refused on both public clusters, whatever else is right
    for cluster in ["devnet", "mainnet", "mainnet-beta"] {
        refused(
            &[
                "--cluster",
                cluster,
                "--keypair",
                &deployer,
                "--program-keypair",
                committed,
                "--yes",
            ],
            1,
            "localnet-key-on-public-cluster",
            &[
                "its secret is public",
                "H5Hi3xwQ22nX6Lm79ZXqzBNjuH37oj8nZ5Yvd1u7uvzP",
            ],
        );
    }
    refused(
        &[
            "--cluster",
            "devnet",
            "--keypair",
            &deployer,
            "--program-keypair",
            &deployer,
        ],
        1,
        "program-key-is-deployer",
        &[],
    );
    refused(
        &[
            "--cluster",
            "mainnet",
            "--keypair",
            &deployer,
            "--program-keypair",
            &program,
        ],
        1,
        "mainnet-needs-yes",
        &["--yes"],
    );
    // parameters: the program's bounds and the public cluster's rules, by name
    let (c, _, err) = deploy(&[
        "--cluster",
        "devnet",
        "--keypair",
        &deployer,
        "--program-keypair",
        &program,
        "--param",
        "commit_window_secs=30",
        "--dry-run",
    ]);
    assert_eq!(c, 1, "{err}");
    assert!(
        err.contains("commit_window_secs = 30 s is too short for devnet"),
        "{err}"
    );
    assert!(err.contains("deploy.sh: error[bad-parameters]"), "{err}");
    let (c, _, err) = deploy(&[
        "--cluster",
        "devnet",
        "--keypair",
        &deployer,
        "--program-keypair",
        &program,
        "--param",
        "protocol_fee_bps=2000",
        "--dry-run",
    ]);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("InvalidBps"), "{err}");
    // nothing was recorded by any of this
    let anchor_after = std::fs::read_to_string(root().join("Anchor.toml")).unwrap();
    assert_eq!(anchor_before, anchor_after);
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn deploy_script_dry_run_plans_a_build_for_the_deployers_key() {
    let d = std::env::temp_dir().join(format!("tessera-deploy-plan-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let (deployer, dk) = key_file(&d, "deployer.json");
    let (program, pk) = key_file(&d, "program.json");
    for (cluster, url) in [
        ("devnet", "https://api.devnet.solana.com"),
        ("mainnet", "https://api.mainnet-beta.solana.com"),
    ] {
        let (c, out, err) = deploy(&[
            "--cluster",
            cluster,
            "--keypair",
            &deployer,
            "--program-keypair",
            &program,
            "--param",
            "protocol_fee_bps=100",
            "--dry-run",
        ]);
        assert_eq!(c, 0, "{cluster}: {err}");
        let id = pk.pubkey().to_string();
        for needle in [
            format!("program id        {id}"),
            format!("deployer          {}", dk.pubkey()),
            format!("[programs.{cluster}] tessera = \"{id}\""),
            format!("TESSERA_CLUSTER={cluster} TESSERA_PROGRAM_ID={id} cargo build-sbf"),
            format!("--sbf-out-dir target/cluster/{cluster}/deploy"),
            format!("--program-keypair {program} --upgrade-authority {deployer}"),
            format!("--provider.cluster {url}"),
            format!("config init --cluster {cluster} --param protocol_fee_bps=100"),
        ] {
            assert!(
                out.contains(&needle),
                "{cluster}: `{needle}` missing from:\n{out}"
            );
        }
    }
    // localnet keeps the committed key and anchor deploy
    let (c, out, err) = deploy(&["--keypair", &deployer, "--dry-run"]);
    assert_eq!(c, 0, "{err}");
    assert!(
        out.contains("H5Hi3xwQ22nX6Lm79ZXqzBNjuH37oj8nZ5Yvd1u7uvzP"),
        "{out}"
    );
    assert!(out.contains("config init --cluster localnet"), "{out}");
    std::fs::remove_dir_all(d).unwrap();
}
