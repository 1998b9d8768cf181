//! Text generation across the network (`anchor test`; issue 33), as a user runs it: a decoder
//! directory (a Llama-family checkpoint in Hugging Face's layout with its chat template and a
//! byte-level BPE tokenizer trained on WordNet's English, made here since no pretrained
//! decoder can be downloaded) put with `tessera model put`, eight prompts (plain text and
//! chats) posted with `tessera job post --kernel generate --shard 2 --replicas 2` and seeded
//! sampling. Both shard jobs are agreed by two workers and paid; `tessera job result` writes
//! the completions, which are the completions of the same request run on this machine;
//! `tessera job verify --recompute` re-runs both shards.
use std::sync::Arc;
use std::time::Duration;

use solana_sdk::signer::Signer;
use tessera_compute::generate::{forward::Path, Arch, DecoderModel, GenerateJob, Sampling};
use tessera_compute::Limits;
use tessera_jobs::generation::{self, DecoderInfo, GenerateOptions};
use tessera_tests::decoder_dir::small_decoder_dir;
use tessera_tests::localnet;
use tessera_tests::network::{tessera_cli, Network};

#[test]
fn sharded_generation_is_agreed_paid_and_equal_to_a_local_run() {
    let Some(url) = localnet::provider_url() else {
        eprintln!("SKIPPED: ANCHOR_PROVIDER_URL is not set; this test runs under `anchor test` (scripts/test.sh)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("tessera-generate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut net = Network::attach(&url, localnet::wallet(), &dir).unwrap();
    net.start_blob_server().unwrap();
    for name in ["g0", "g1"] {
        net.add_worker(name, 200).unwrap();
    }
    let client = net.client(1_000).unwrap();
    let key = dir.join("client.json");
    std::fs::write(
        &key,
        serde_json::to_string(&client.to_bytes().to_vec()).unwrap(),
    )
    .unwrap();
    let before: Vec<u64> = net
        .workers
        .iter()
        .map(|w| net.balance(&w.keypair.pubkey()))
        .collect();
    let mut procs: Vec<_> = (0..2).map(|i| net.start_worker(i, &[]).unwrap()).collect();

    let model_dir = dir.join("decoder");
    small_decoder_dir(&model_dir, Arch::Llama).unwrap();
    let cli = |args: &[&str]| {
        let mut all = vec!["--keypair", key.to_str().unwrap()];
        all.extend_from_slice(args);
        tessera_cli(&url, &all)
    };
    let put = cli(&[
        "model",
        "put",
        model_dir.to_str().unwrap(),
        "--blobs",
        &net.blobs_url,
    ]);
    let hash = put.lines().next().unwrap().trim().to_string();
    assert_eq!(hash.len(), 64, "model put printed the hash: {put}");

    let prompts = [
        r#"{"id": "p0", "prompt": "the dog barked at the mailman"}"#,
        r#"{"id": "p1", "messages": [{"role": "user", "content": "What is a shadow?"}]}"#,
        r#"{"id": "p2", "prompt": "lard was also used"}"#,
        r#"{"id": "p3", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Define an entity."}]}"#,
        r#"{"id": "p4", "prompt": "how big is that part compared to the whole?"}"#,
        r#"{"id": "p5", "prompt": "a tangible and visible entity"}"#,
        r#"{"id": "p6", "messages": [{"role": "user", "content": "Name a ball game."}]}"#,
        r#"{"id": "p7", "prompt": "it was full of rackets, balls and other objects"}"#,
    ];
    let prompts_file = dir.join("prompts.jsonl");
    std::fs::write(&prompts_file, prompts.join("\n")).unwrap();
    let manifest_path = dir.join("gen.json");
    let out = cli(&[
        "job",
        "post",
        "--kernel",
        "generate",
        "--model",
        &hash,
        "--prompts",
        prompts_file.to_str().unwrap(),
        "--max-tokens",
        "16",
        "--temperature",
        "0.8",
        "--top-k",
        "40",
        "--top-p",
        "0.95",
        "--seed",
        "7",
        "--shard",
        "2",
        "--replicas",
        "2",
        "--price",
        "3",
        "--manifest",
        manifest_path.to_str().unwrap(),
        "--blobs",
        &net.blobs_url,
    ]);
    println!("{out}");
    let m = generation::Manifest::read(&manifest_path).unwrap().unwrap();
    assert_eq!(m.shards.len(), 2);
    for s in &m.shards {
        let key = s.job.parse().unwrap();
        let j = net
            .wait_settled(&key, Duration::from_secs(300), |_| {})
            .unwrap();
        assert_eq!(j.replicas, 2);
        assert!(j.has_winner, "shard {} agreed", s.job);
    }
    // both workers were paid
    for (i, w) in net.workers.iter().enumerate() {
        assert!(
            net.balance(&w.keypair.pubkey()) > before[i],
            "worker {i} earned nothing"
        );
    }
    let res_dir = dir.join("result");
    let out = cli(&[
        "job",
        "result",
        manifest_path.to_str().unwrap(),
        "--out",
        res_dir.to_str().unwrap(),
    ]);
    println!("{out}");
    let text = std::fs::read_to_string(res_dir.join("gen.completions.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8);

    // the same request on this machine, one job
    let blob = generation::decoder_blob(&model_dir).unwrap();
    let info = DecoderInfo::from_blob(&blob).unwrap();
    let parsed = generation::parse_prompts(&prompts.join("\n")).unwrap();
    let opts = GenerateOptions {
        max_new_tokens: 16,
        sampling: Sampling {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            repetition_penalty: 1.0,
            seed: 7,
        },
        shards: 1,
    };
    let plan = generation::plan_shards(&info, &[0; 32], "blob:local", &parsed, &opts).unwrap();
    let local = GenerateJob::parse(&plan.shards[0].0, &Limits::default())
        .unwrap()
        .with_model(
            Arc::new(DecoderModel::parse(&blob).unwrap()),
            &Limits::default(),
        )
        .unwrap()
        .completions(Path::Fast)
        .unwrap();
    for (i, (line, c)) in lines.iter().zip(&local).enumerate() {
        assert_eq!(line["id"], format!("p{i}"));
        let ids: Vec<u32> = serde_json::from_value(line["token_ids"].clone()).unwrap();
        assert_eq!(
            ids, c.tokens,
            "prompt {i}: the network's completion differs"
        );
        assert_eq!(
            line["text"].as_str().unwrap(),
            info.decode(&c.tokens).unwrap()
        );
        println!("p{i}: {:?}", line["text"].as_str().unwrap());
    }
    let out = cli(&[
        "job",
        "verify",
        manifest_path.to_str().unwrap(),
        "--recompute",
    ]);
    assert_eq!(out.matches("MATCHES").count(), 2, "{out}");
    for p in procs.iter_mut() {
        p.stop().unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
