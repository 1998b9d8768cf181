//! Which program id this build carries (see `declare_id!` in src/lib.rs).
//!
//! - `TESSERA_CLUSTER` (localnet, devnet, mainnet or mainnet-beta; default localnet) names the
//!   cluster. For devnet and mainnet the id is Anchor.toml's `[programs.<cluster>] tessera`,
//!   which `migrations/deploy.sh` records when it deploys there.
//! - `TESSERA_PROGRAM_ID`, when set, is the id itself (deploy.sh passes the pubkey of the
//!   deployer's program keypair, so the binary always equals the key it is deployed at).
//!
//! Localnet without `TESSERA_PROGRAM_ID` keeps the literal `declare_id!` (the committed key in
//! keys/), which is what `anchor build` checks against target/deploy/tessera-keypair.json.
//! Every crate built in the same environment (the SDK, the CLI, the worker) gets the same id,
//! because they all read `tessera::ID`.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=TESSERA_CLUSTER");
    println!("cargo:rerun-if-env-changed=TESSERA_PROGRAM_ID");
    println!("cargo:rustc-check-cfg=cfg(tessera_cluster_id)");
    let cluster = match std::env::var("TESSERA_CLUSTER")
        .unwrap_or_default()
        .as_str()
    {
        "" | "localnet" => "localnet",
        "devnet" => "devnet",
        "mainnet" | "mainnet-beta" => "mainnet",
        other => fail(&format!(
            "TESSERA_CLUSTER={other} is not a cluster: use localnet, devnet or mainnet"
        )),
    };
    println!("cargo:rustc-env=TESSERA_BUILD_CLUSTER={cluster}");
    let explicit = std::env::var("TESSERA_PROGRAM_ID")
        .ok()
        .filter(|s| !s.is_empty());
    let id = match explicit {
        Some(id) => Some(id),
        None if cluster == "localnet" => None,
        None => Some(anchor_toml_id(cluster)),
    };
    if let Some(id) = id {
        if !(32..=44).contains(&id.len()) || !id.chars().all(is_base58) {
            fail(&format!("program id `{id}` is not a base58 public key"));
        }
        println!("cargo:rustc-cfg=tessera_cluster_id");
        println!("cargo:rustc-env=TESSERA_PROGRAM_ID={id}");
    }
}

/// `[programs.<cluster>] tessera = "<id>"` from the workspace's Anchor.toml.
fn anchor_toml_id(cluster: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Anchor.toml");
    println!("cargo:rerun-if-changed={}", path.display());
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| fail(&format!("reading {}: {e}", path.display())));
    let doc: toml::Table = text
        .parse()
        .unwrap_or_else(|e| fail(&format!("{} does not parse: {e}", path.display())));
    doc.get("programs")
        .and_then(|p| p.get(cluster))
        .and_then(|c| c.get("tessera"))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            fail(&format!(
                "Anchor.toml has no [programs.{cluster}] tessera = \"<id>\": deploy with \
                 `migrations/deploy.sh --cluster {cluster} --program-keypair <your key>` (it \
                 records the id), or set TESSERA_PROGRAM_ID"
            ))
        })
}

fn is_base58(c: char) -> bool {
    c.is_ascii_alphanumeric() && !matches!(c, '0' | 'O' | 'I' | 'l')
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    panic!("{msg}");
}
