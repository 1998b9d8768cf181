//! A program that only builds instructions and reads accounts depends on `tessera-sdk` alone
//! and must compile no runtime, no network client, no CLI, no server and no kernels. Checked on
//! the resolved dependency graph (`cargo tree`, offline, from the lock file), so a dependency
//! that creeps in fails here.
use std::process::Command;

fn normal_deps(target: Option<&str>) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "tree",
        "--offline",
        "--locked",
        "-p",
        "tessera-sdk",
        "-e",
        "normal",
        "--prefix",
        "none",
    ]);
    if let Some(t) = target {
        cmd.args(["--target", t]);
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

#[test]
fn instruction_builders_pull_no_io_cli_server_or_kernels() {
    for target in [None, Some("wasm32-unknown-unknown")] {
        let tree = normal_deps(target);
        assert!(
            has(&tree, "anchor-lang"),
            "sanity: the tree lists crates\n{tree}"
        );
        for k in [
            "tokio",
            "reqwest",
            "axum",
            "clap",
            "indicatif",
            "solana-client",
            "tessera-compute",
            "tokenizers",
            "gltf",
            "object_store",
        ] {
            assert!(!has(&tree, k), "tessera-sdk ({target:?}) pulls in `{k}`");
        }
    }
}
