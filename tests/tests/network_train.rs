//! A training run across the network (`anchor test`; issue 32): all-MiniLM-L6-v2 fine-tuned on
//! WordNet's (usage example, definition) pairs by `tessera train post` as a chain of three
//! `train` jobs of two replicas each. Every link is agreed and paid; each link starts from the
//! result the link before was agreed on; the chain's checkpoint is bit for bit the checkpoint
//! of the same run on this machine's CPU; `tessera train result` writes the model directory
//! with the loss curve; the fine-tuned model is put and embeds the held-out pairs through the
//! network, and retrieves their definitions better than the base model does.
use std::time::Duration;

use solana_sdk::signer::Signer;
use tessera::state::{Job, JobState};
use tessera_compute::train::{self, Checkpoint, Hyper, Path};
use tessera_jobs::{embed_jobs, embedding, train_jobs, training};
use tessera_tests::localnet;
use tessera_tests::network::{tessera_cli, Network};

const STEPS: u32 = 12;
const PER_LINK: u32 = 4;
const BATCH: u32 = 16;
const LR: f32 = 1e-4;
const HELD_OUT: usize = 200;

/// Held-out retrieval of `model_dir` measured with embed jobs on the network.
fn retrieval_on_the_network(
    net: &Network,
    client: &solana_sdk::signature::Keypair,
    model_dir: &std::path::Path,
    held: &[training::Pair],
    dir: &std::path::Path,
) -> training::Retrieval {
    let corpus = dir.join(format!(
        "held-{}.jsonl",
        model_dir.file_name().unwrap().to_string_lossy()
    ));
    let lines: Vec<String> = held
        .iter()
        .map(|p| serde_json::json!(p.anchor).to_string())
        .chain(
            held.iter()
                .map(|p| serde_json::json!(p.positive).to_string()),
        )
        .collect();
    std::fs::write(&corpus, lines.join("\n")).unwrap();
    let (posted, manifest) = net
        .post_embed(client, model_dir, &corpus, "3", 2, 2)
        .unwrap();
    for p in &posted {
        net.wait_settled(&p.job, Duration::from_secs(300), |_| {})
            .unwrap();
    }
    let (rows, _) = embed_jobs::fetch_all(&net.rpc, &manifest, Some(&net.blobs_url)).unwrap();
    let (a, p) = rows.split_at(held.len());
    training::retrieval(a, p)
}

#[test]
fn a_training_run_is_a_chain_of_agreed_checkpoints() {
    let Some(url) = localnet::provider_url() else {
        eprintln!("SKIPPED: ANCHOR_PROVIDER_URL is not set; this test runs under `anchor test` (scripts/test.sh)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("tessera-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut net = Network::attach(&url, localnet::wallet(), &dir).unwrap();
    net.start_blob_server().unwrap();
    for name in ["t0", "t1"] {
        net.add_worker(name, 200).unwrap();
    }
    let client = net.client(1_000).unwrap();
    let key = dir.join("client.json");
    std::fs::write(
        &key,
        serde_json::to_string(&client.to_bytes().to_vec()).unwrap(),
    )
    .unwrap();
    let earned_before: Vec<u64> = net
        .workers
        .iter()
        .map(|w| net.balance(&w.keypair.pubkey()))
        .collect();
    let mut procs: Vec<_> = (0..2).map(|i| net.start_worker(i, &[]).unwrap()).collect();

    let data = tessera_tests::wordnet_pairs_dir().unwrap();
    let all = training::read_pairs(&data.join("train.jsonl")).unwrap();
    let pairs_file = dir.join("pairs.jsonl");
    let lines: Vec<String> = all[..2000]
        .iter()
        .map(|p| serde_json::to_string(p).unwrap())
        .collect();
    std::fs::write(&pairs_file, lines.join("\n")).unwrap();
    let held = training::read_pairs(&data.join("heldout.jsonl")).unwrap()[..HELD_OUT].to_vec();
    let minilm = tessera_tests::minilm_dir().unwrap();
    let manifest_path = dir.join("run.json");
    let t = std::time::Instant::now();
    let out = tessera_cli(
        &url,
        &[
            "--keypair",
            key.to_str().unwrap(),
            "train",
            "post",
            "--model",
            minilm.to_str().unwrap(),
            "--pairs",
            pairs_file.to_str().unwrap(),
            "--steps",
            &STEPS.to_string(),
            "--steps-per-job",
            &PER_LINK.to_string(),
            "--batch",
            &BATCH.to_string(),
            "--lr",
            &LR.to_string(),
            "--warmup",
            "1",
            "--max-tokens",
            "32",
            "--price",
            "3",
            "--replicas",
            "2",
            "--manifest",
            manifest_path.to_str().unwrap(),
            "--blobs",
            &net.blobs_url,
        ],
    );
    println!("{out}\ntrain post: {:.0} s", t.elapsed().as_secs_f64());
    let m = train_jobs::TrainManifest::read(&manifest_path).unwrap();
    let agreed = m.agreed();
    assert_eq!(agreed.len(), 3, "three links agreed: {m:#?}");
    // each link starts where the one before was agreed, from its agreed result
    assert_eq!(agreed[0].base, m.model);
    for w in agreed.windows(2) {
        assert_eq!(w[1].first_step, w[0].first_step + PER_LINK as u64);
        assert_eq!(Some(&w[1].base), w[0].result.as_ref());
        assert_eq!(Some(&w[1].base_uri), w[0].result_uri.as_ref());
    }
    for l in &agreed {
        let job: Job = net
            .wait_settled(&l.job.parse().unwrap(), Duration::from_secs(120), |_| {})
            .unwrap();
        assert_eq!(job.state, JobState::Completed);
        assert_eq!(
            tessera_blobs::hex(&job.winning_hash),
            *l.result.as_ref().unwrap()
        );
    }
    // both operators were paid for the links (each took a replica of every link)
    for (i, w) in net.workers.iter().enumerate() {
        let earned = net.balance(&w.keypair.pubkey()) - earned_before[i];
        println!("operator {}: earned {earned} base units", w.name);
        assert!(earned > 0, "operator {} was not paid", w.name);
    }

    // the same run on this machine's CPU, in one piece: the same bits
    let blob = embedding::model_blob(&minilm).unwrap();
    let pairs =
        training::tokenize_pairs(&blob, &training::read_pairs(&pairs_file).unwrap(), Some(32))
            .unwrap();
    let h = Hyper {
        lr: LR,
        warmup: 1,
        ..Hyper::defaults(STEPS)
    };
    let mut local = Checkpoint::from_model_blob(&blob).unwrap();
    for (s, seqs) in training::link_steps(&pairs, BATCH, 1, 0, STEPS)
        .unwrap()
        .iter()
        .enumerate()
    {
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        train::train_step(
            Path::Fast,
            &mut local.model,
            &mut local.state,
            &h,
            s as u64 + 1,
            &refs,
        );
    }
    local.step = STEPS as u64;
    let links = train_jobs::fetch_links(&net.rpc, &m, None).unwrap();
    let last = &links.last().unwrap().checkpoint;
    assert_eq!(last.step, STEPS as u64);
    assert!(
        last.model_blob().unwrap() == local.model_blob().unwrap()
            && last.optimizer_file().unwrap() == local.optimizer_file().unwrap(),
        "the chain's checkpoint differs from the local run"
    );

    // and the CLI writes the model directory and the loss curve, and recomputes a link
    let model_dir = dir.join("tuned");
    let res = tessera_cli(
        &url,
        &[
            "train",
            "result",
            manifest_path.to_str().unwrap(),
            "--out",
            model_dir.to_str().unwrap(),
        ],
    );
    assert!(
        res.contains(&format!("after {STEPS} steps in 3 links")),
        "{res}"
    );
    for f in [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "optimizer.safetensors",
        "losses.csv",
        "losses.png",
    ] {
        assert!(model_dir.join(f).is_file(), "{f} missing:\n{res}");
    }
    let csv = std::fs::read_to_string(model_dir.join("losses.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + STEPS as usize, "{csv}");
    let verify = tessera_cli(&url, &["job", "verify", &agreed[1].job, "--recompute"]);
    assert!(verify.contains("MATCHES"), "{verify}");

    // the fine-tuned model on the network: better than the base on the held-out pairs
    let base_dir = dir.join("base");
    std::fs::create_dir_all(&base_dir).unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(minilm.join(f), base_dir.join(f)).unwrap();
    }
    let before = retrieval_on_the_network(&net, &client, &base_dir, &held, &dir);
    let after = retrieval_on_the_network(&net, &client, &model_dir, &held, &dir);
    println!(
        "held-out ({HELD_OUT} WordNet pairs): MRR@10 {:.4} -> {:.4}, recall@1 {:.4} -> {:.4}",
        before.mrr10, after.mrr10, before.recall1, after.recall1
    );
    assert!(
        after.mrr10 > before.mrr10,
        "fine-tuning did not help: {before:?} -> {after:?}"
    );
    println!(
        "client {} ran {STEPS} steps in 3 agreed links",
        client.pubkey()
    );
    for p in procs.iter_mut() {
        let _ = p.stop();
    }
    net.stop_blob_server();
    // the links' results (model and moments, ~270 MB each) fill gigabytes of /tmp
    let _ = std::fs::remove_dir_all(&dir);
}
