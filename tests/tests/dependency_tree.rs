//! What a program compiles when it takes only part of Tessera: the SDK (instruction builders,
//! accounts, PDAs, blob names) and the jobs crate's `offline` parts (job files, input
//! builders, scene import, decoding) compile no runtime, no network client, no CLI, no server
//! and no CUDA — for the host and for the browser (wasm32). Checked on the resolved dependency
//! graph (`cargo tree`, offline, from the lock file), so a dependency that creeps in fails here.
use std::process::Command;

fn normal_deps(package: &str, features: Option<&str>, target: Option<&str>) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "tree",
        "--offline",
        "--locked",
        "-p",
        package,
        "-e",
        "normal",
        "--prefix",
        "none",
    ]);
    if let Some(f) = features {
        cmd.args(["--no-default-features", "--features", f]);
    }
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

/// Crates that do I/O or need a machine: none may be in a browser-side tree.
const IO: [&str; 9] = [
    "tokio",
    "reqwest",
    "axum",
    "clap",
    "indicatif",
    "solana-client",
    "object_store",
    "cudarc",
    "libloading",
];

#[test]
fn instruction_builders_pull_no_io_cli_server_or_kernels() {
    for target in [None, Some("wasm32-unknown-unknown")] {
        let tree = normal_deps("tessera-sdk", None, target);
        assert!(
            has(&tree, "anchor-lang"),
            "sanity: the tree lists crates\n{tree}"
        );
        for k in IO.iter().chain(&["tessera-compute", "tokenizers", "gltf"]) {
            assert!(!has(&tree, k), "tessera-sdk ({target:?}) pulls in `{k}`");
        }
    }
}

#[test]
fn offline_job_building_pulls_no_io_cli_server_or_cuda() {
    for target in [None, Some("wasm32-unknown-unknown")] {
        let tree = normal_deps("tessera-jobs", Some("offline"), target);
        for k in ["tessera-compute", "tokenizers", "gltf", "tessera-sdk"] {
            assert!(has(&tree, k), "sanity: `{k}` is in the tree\n{tree}");
        }
        for k in IO.iter().chain(&["tessera-rpc", "tessera-blobs"]) {
            assert!(
                !has(&tree, k),
                "tessera-jobs --features offline ({target:?}) pulls in `{k}`"
            );
        }
    }
    // and the full crate does post over RPC and the blob store (the check above is not
    // vacuous), still without the CLI or the server
    let full = normal_deps("tessera-jobs", None, None);
    assert!(has(&full, "solana-client") && has(&full, "tessera-blobs"));
    for k in ["clap", "axum", "cudarc"] {
        assert!(!has(&full, k), "tessera-jobs pulls in `{k}`");
    }
}
