//! The web page (web/) in a real Chromium against the local validator, a blob server that
//! serves the page, and real worker processes: the browser side is web/tests/e2e.mjs
//! (playwright-core driving Debian's chromium); this side starts the network, answers what
//! the page cannot do itself (start the workers, tamper a stored result) and holds what the
//! page verified against the chain and the CLI. Runs under `anchor test` (scripts/test.sh),
//! after `bash web/build.sh`.
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use solana_sdk::signer::Signer;
use tessera_jobs::embed_jobs;
use tessera_tests::localnet;
use tessera_tests::network::{tessera_cli, Network, Proc};

const STAKE: u64 = 200;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn secret(kp: &solana_sdk::signature::Keypair) -> Value {
    json!({ "secret": kp.to_bytes().to_vec(), "address": kp.pubkey().to_string() })
}

#[test]
fn the_web_page_posts_verifies_cancels_and_stakes_in_a_real_browser() {
    let Some(url) = localnet::provider_url() else {
        eprintln!("SKIPPED: ANCHOR_PROVIDER_URL is not set; this test runs under `anchor test` (scripts/test.sh)");
        return;
    };
    let dist = repo().join("web/dist");
    assert!(
        dist.join("index.html").is_file(),
        "{} is missing: build the page with `bash web/build.sh` (scripts/test.sh does)",
        dist.display()
    );
    let chromium = std::env::var("TESSERA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).is_file(),
        "{chromium} is missing: scripts/setup.sh installs Debian's chromium"
    );
    let dir = std::env::temp_dir().join(format!("tessera-web-{}", std::process::id()));
    let mut net = Network::attach(&url, localnet::wallet(), &dir).unwrap();
    net.web_root = Some(dist);
    net.start_blob_server().unwrap();
    for name in ["w0", "w1", "w2"] {
        net.add_worker(name, STAKE).unwrap();
    }
    let client = net.client(1_000).unwrap();
    let poor = net.client(1).unwrap();
    let before = net.balance(&client.pubkey());
    let stake0 = net.node(0).unwrap().stake;
    // the embed model in the store, as `tessera model put` leaves it
    let model = embed_jobs::put_model(
        &tessera_tests::minilm_dir().unwrap(),
        &net.blob_target(&client).unwrap(),
    )
    .unwrap();
    let corpus = dir.join("corpus.jsonl");
    let texts = [
        "The cat sat on the warm windowsill.",
        "A kitten naps in the afternoon sun.",
        "Stock markets fell sharply on Monday.",
        "Investors worried about rising interest rates.",
        "The recipe needs two cups of flour.",
        "Bake the bread for forty minutes.",
    ];
    std::fs::write(
        &corpus,
        texts
            .iter()
            .map(|t| serde_json::to_string(t).unwrap() + "\n")
            .collect::<String>(),
    )
    .unwrap();
    let config = json!({
        "page": format!("{}/?rpc={}", net.blobs_url, url),
        "rpc": url,
        "blobs": net.blobs_url,
        "chromium": chromium,
        "client": secret(&client),
        "poor": secret(&poor),
        "operator": secret(&net.workers[0].keypair),
        "scene": tessera_tests::render_asset("blender-scene-1", "scene.glb").unwrap(),
        "render": { "width": 64, "height": 48, "spp": 4, "tiles": "2x1" },
        "corpus": corpus,
        "model": tessera_blobs::hex(&model.hash),
        "query": "a sleepy cat",
        "screenshots": repo().join("docs/web"),
        "timeoutMs": 240000,
    });
    let cfg_path = dir.join("e2e.json");
    std::fs::write(&cfg_path, config.to_string()).unwrap();

    let mut node = Command::new("node")
        .arg(repo().join("web/tests/e2e.mjs"))
        .arg(&cfg_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node (Node.js) runs the browser side");
    let mut answer = node.stdin.take().unwrap();
    let mut workers: Vec<Proc> = vec![];
    let mut result: Option<Value> = None;
    let mut tampered: Vec<(PathBuf, Vec<u8>)> = vec![];
    for line in BufReader::new(node.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line == "NEED workers" {
            for i in 0..net.workers.len() {
                workers.push(net.start_worker(i, &[]).unwrap());
            }
        } else if let Some(job) = line.strip_prefix("NEED tamper ") {
            // the stored copy of that job's result now differs from what the chain agreed on
            let j = net.job(&job.parse().unwrap()).unwrap();
            let path = dir.join("blobs").join(tessera_blobs::hex(&j.winning_hash));
            let good = std::fs::read(&path).unwrap();
            let mut bytes = good.clone();
            let last = bytes.len() - 1;
            bytes[last] ^= 0xff;
            std::fs::write(&path, bytes).unwrap();
            tampered.push((path, good));
        } else if let Some(r) = line.strip_prefix("RESULT ") {
            result = Some(serde_json::from_str(r).unwrap());
            continue;
        } else {
            println!("e2e: {line}");
            continue;
        }
        writeln!(answer, "ok").unwrap();
    }
    let status = node.wait().unwrap();
    // the good copy back, for the CLI below
    for (path, good) in tampered {
        std::fs::write(path, good).unwrap();
    }
    for w in workers.iter_mut() {
        let _ = w.stop();
    }
    let r = result.expect("the browser side printed its RESULT");
    assert!(
        status.success() && r.get("error").is_none(),
        "browser side: {r:#}"
    );

    // every failure said once, by what it is
    let f = &r["failures"];
    let said = |k: &str, needle: &str| {
        let m = f[k].as_str().unwrap_or_default();
        assert!(m.contains(needle), "{k}: `{needle}` missing from `{m}`");
    };
    said("noWallet", "no Solana wallet found");
    said("badScene", "malformed scene");
    said("blobStore", "cannot reach the blob store");
    said("rejected", "User rejected the request");
    said("tooFewTokens", "too few tokens");
    said("wrongCluster", "built for localnet");
    said("mismatch", "does not match the on-chain hash");
    said(
        "rejectedTransaction",
        "the wallet did not sign: User rejected the request",
    );
    assert_eq!(
        r["mismatchShowsImage"], false,
        "a mismatching result is never drawn"
    );

    // what the page verified is what the chain and the CLI say
    for kind in ["render", "embed"] {
        let v = r[kind].as_object().unwrap();
        assert!(!v.is_empty(), "{kind}: nothing verified");
        for (job, hash) in v {
            let j = net.job(&job.parse().unwrap()).unwrap();
            assert!(j.has_winner, "{job}");
            assert_eq!(hash.as_str().unwrap(), tessera_blobs::hex(&j.winning_hash));
            let out = dir.join("cli");
            let cli = tessera_cli(
                &url,
                &["job", "result", job, "--out", out.to_str().unwrap()],
            );
            assert!(
                cli.contains(&format!("result    {} (verified", hash.as_str().unwrap())),
                "the CLI verified another hash than the page: {cli}"
            );
        }
    }
    assert_eq!(r["render"].as_object().unwrap().len(), 2, "2x1 tiles");
    // the nearest text to "a sleepy cat" is about a cat
    let top = r["hits"][0].as_str().unwrap();
    assert!(top.contains("cat") || top.contains("kitten"), "{top}");
    // the cancelled job refunded in full, and the page saw it within one slot
    let cancelled = net
        .job(&r["cancelled"].as_str().unwrap().parse().unwrap())
        .unwrap();
    assert_eq!(cancelled.refunded, cancelled.deposit);
    let lag = r["stateLagSlots"].as_i64().unwrap();
    assert!(
        (0..=1).contains(&lag),
        "state change shown {lag} slots late"
    );
    // the GEMM was downloaded, then closed with the wallet: its account is gone
    assert_eq!(r["gemmDownload"], "result-gemm-f32.bin");
    let gemm: solana_sdk::pubkey::Pubkey = r["gemm"].as_str().unwrap().parse().unwrap();
    assert!(net.job(&gemm).is_err(), "the closed job's account is gone");
    // the operator's stake grew by 5 tokens
    let node0 = net.node(0).unwrap();
    assert_eq!(node0.stake, stake0 + net.tokens(5), "{r:#}");
    assert_eq!(node0.unbonding, net.tokens(3), "{r:#}");
    println!(
        "web: client spent {} base units; state shown {lag} slot(s) after the change; nearest: {top}",
        before - net.balance(&client.pubkey())
    );
}
