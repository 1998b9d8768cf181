//! The client crate's feature split: each feature pulls in what it names and no more (the
//! instruction builders alone are `tessera-sdk`, checked by `crates/sdk/tests/no_io.rs`). Checked on the resolved dependency graph (`cargo tree`, offline, from the
//! lock file), so a dependency moved out of its feature fails here.
use std::process::Command;

fn normal_deps(features: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "tree",
        "--offline",
        "--locked",
        "-p",
        "tessera-jobs",
        "-e",
        "normal",
        "--prefix",
        "none",
        "--no-default-features",
    ]);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    let out = cmd.output().expect("running cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn has(tree: &str, krate: &str) -> bool {
    tree.lines()
        .any(|l| l.split_whitespace().next() == Some(krate))
}

const HEAVY: [&str; 6] = [
    "clap",
    "axum",
    "indicatif",
    "tessera-compute",
    "tokenizers",
    "gltf",
];

#[test]
fn each_feature_pulls_in_what_it_names_and_no_more() {
    let rpc = normal_deps(&["rpc"]);
    assert!(has(&rpc, "solana-client"));
    for k in ["clap", "axum", "tessera-compute", "tokenizers", "gltf"] {
        assert!(!has(&rpc, k), "`rpc` pulls in `{k}`");
    }
    let blobs = normal_deps(&["blobs"]);
    assert!(has(&blobs, "reqwest"));
    for k in HEAVY {
        assert!(!has(&blobs, k), "`blobs` pulls in `{k}`");
    }
    assert!(!has(&blobs, "solana-client"), "`blobs` needs no RPC");
    let jobs = normal_deps(&["jobs"]);
    assert!(has(&jobs, "tessera-compute") && has(&jobs, "tokenizers"));
    // (solana-client itself depends on indicatif, so `rpc` and `jobs` have it)
    for k in ["clap", "axum"] {
        assert!(!has(&jobs, k), "`jobs` pulls in `{k}`");
    }
}
