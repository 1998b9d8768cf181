//! The network end to end on a real validator (`anchor test`): real `tessera-worker`
//! processes, a real blob server, jobs posted through the SDK the CLI uses.
//!
//! 1. every kernel (GEMM, render, inference, and embed on the real all-MiniLM-L6-v2, a corpus
//!    split into two shard jobs) completes, pays, and its results verify against a local CPU
//!    run; the embed shards' verified embeddings join back in corpus order (SDK and CLI); a
//!    glTF scene exported by Blender is rendered as 2x2 tile jobs whose verified tiles
//!    assemble into the frame a local render gives (SDK and CLI);
//! 2. a worker started with `--dishonest` is slashed, the honest replicas are paid;
//! 3. a worker killed (exit 137, no clean-up) right after its claim is confirmed resumes from
//!    its journal after a restart and completes the job;
//! 4. no token is created or lost: the parties' balances, stakes and escrows sum to the same
//!    total before and after, and every token account of the mint adds up to its supply.
use std::time::Duration;

use solana_sdk::signer::Signer;
use tessera_jobs::{embed_jobs, embedding, jobs, render_jobs};
use tessera_tests::localnet;
use tessera_tests::network::{tessera_cli, Network, Proc};

const STAKE: u64 = 200;

fn expected_hash(job: &tessera::state::Job) -> [u8; 32] {
    let input =
        tessera_blobs::block_on(tessera_blobs::fetch(&job.input_uri, &job.spec_hash)).unwrap();
    tessera_compute::run(&input, &tessera_compute::Backend::cpu())
        .unwrap()
        .hash()
}

fn stop_all(procs: &mut Vec<Proc>) {
    for p in procs.iter_mut() {
        let _ = p.stop();
    }
    procs.clear();
}

#[test]
fn network_of_worker_processes_end_to_end() {
    let Some(url) = localnet::provider_url() else {
        eprintln!("SKIPPED: ANCHOR_PROVIDER_URL is not set; this test runs under `anchor test` (scripts/test.sh)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("tessera-net-{}", std::process::id()));
    let mut net = Network::attach(&url, localnet::wallet(), &dir).unwrap();
    net.start_blob_server().unwrap();
    for name in ["w0", "w1", "w2", "liar"] {
        net.add_worker(name, STAKE).unwrap();
    }
    let client = net.client(1_000).unwrap();
    // a client without enough tokens is told so before anything is sent
    let poor = net.client(1).unwrap();
    let err = net
        .post(
            &poor,
            "kernel = \"gemm-i8\"\nprice = \"5\"\nreplicas = 2\n[input]\nm = 8\n",
        )
        .unwrap_err();
    assert!(format!("{err:#}").contains("insufficient funds"), "{err:#}");
    let treasury = net.config.treasury;

    // Every token the scenarios can touch: client, operators, stake vaults, treasury, and the
    // escrow vault (every job's escrow, and the fees until they are swept).
    let mut parties = vec![net.tctx.ata(&client.pubkey()), treasury, net.config.vault];
    for w in &net.workers {
        parties.push(net.tctx.ata(&w.keypair.pubkey()));
        parties.push(tessera_sdk::pda::stake_vault(&w.node()).0);
    }
    let sum_parties = |net: &Network| -> u64 {
        parties
            .iter()
            .map(|a| tessera_rpc::token_balance(&net.rpc, a).unwrap_or(0))
            .sum()
    };
    let before = sum_parties(&net);
    let (all_before, supply_before) = net.token_totals().unwrap();
    assert_eq!(
        all_before, supply_before,
        "token accounts do not add up to the supply"
    );

    // ---- 1. all kernels, three honest workers
    let mut procs: Vec<Proc> = (0..3).map(|i| net.start_worker(i, &[]).unwrap()).collect();
    let specs = [
        ("gemm-i8", "kernel = \"gemm-i8\"\nprice = \"3\"\nreplicas = 2\n[input]\nm = 48\nn = 40\nk = 33\n"),
        ("render", "kernel = \"render\"\nprice = \"5\"\nreplicas = 3\n[input]\nscene = \"cornell\"\nwidth = 24\nheight = 24\nspp = 2\n"),
        ("inference", "kernel = \"inference\"\nprice = \"2\"\nreplicas = 2\n[input]\nbatch = 48\n"),
    ];
    let mut posted = vec![];
    for (name, spec) in specs {
        let p = net.post(&client, spec).unwrap();
        println!("posted {name} job {}", p.job);
        posted.push((name, p));
    }
    // embed: 24 real sentences, two shard jobs of two replicas each, the model put once
    let sentences: Vec<&str> = include_str!("../data/sentences.txt")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(24)
        .collect();
    std::fs::create_dir_all(&dir).unwrap();
    let corpus = dir.join("corpus.jsonl");
    let lines: Vec<String> = sentences
        .iter()
        .enumerate()
        .map(|(i, t)| serde_json::json!({"id": format!("s{i}"), "text": t}).to_string())
        .collect();
    std::fs::write(&corpus, lines.join("\n")).unwrap();
    let minilm = tessera_tests::minilm_dir().unwrap();
    let (embed_jobs_posted, manifest) = net
        .post_embed(&client, &minilm, &corpus, "3", 2, 2)
        .unwrap();
    assert_eq!(embed_jobs_posted.len(), 2, "two shard jobs");
    let manifest_path = dir.join("corpus.manifest.json");
    manifest.write(&manifest_path).unwrap();
    // render: the Blender scene in 2x2 tiles (spec 3), two replicas each
    let glb = tessera_tests::render_asset("blender-scene-1", "scene.glb").unwrap();
    let render_opts = render_jobs::RenderOptions {
        max_bounces: 4,
        seed: 5,
        tiles: (2, 2),
        ..render_jobs::RenderOptions::new(48, 36, 2)
    };
    let (render_posted, render_manifest) = net
        .post_render(&client, &glb, &render_opts, "2", 2)
        .unwrap();
    assert_eq!(render_posted.len(), 4, "four tile jobs");
    let render_manifest_path = dir.join("shot.json");
    render_manifest.write(&render_manifest_path).unwrap();
    for (name, p) in &posted {
        let job = net
            .wait_settled(&p.job, Duration::from_secs(120), |_| {})
            .unwrap_or_else(|e| {
                panic!(
                    "{name}: {e:#}\n{}",
                    procs
                        .iter()
                        .map(|p| p.log_tail(15))
                        .collect::<Vec<_>>()
                        .join("\n---\n")
                )
            });
        assert_eq!(
            job.winning_hash,
            expected_hash(&job),
            "{name}: result differs from the CPU reference"
        );
        let r = jobs::fetch_result(&net.rpc, &p.job, Some(&net.blobs_url)).unwrap();
        assert_eq!(r.output.hash(), job.winning_hash);
        let (files, summary) = jobs::save_result(&r.output, &dir.join("results"), name).unwrap();
        println!("{name}: {summary} -> {}", files[0].display());
        // the submitter's CLI on the same job: status, then the verified result
        let job_s = p.job.to_string();
        let status = tessera_cli(&url, &["job", "status", &job_s]);
        assert!(
            status.contains("completed") && status.contains("result "),
            "{status}"
        );
        let out_dir = dir.join("cli");
        let res = tessera_cli(
            &url,
            &["job", "result", &job_s, "--out", out_dir.to_str().unwrap()],
        );
        assert!(res.contains("verified"), "{res}");
        net.close_job(&client, &p.job).unwrap();
    }
    // The client's own end of a k = 3 job through the CLI: once the challenge window is over
    // on-chain, `tessera job close` settles the three claims in one transaction (`ix::pack`),
    // the last settlement closing the job, within the 10 s the workers leave it.
    {
        let p = net
            .post(
                &client,
                "kernel = \"gemm-i8\"\nprice = \"1\"\nreplicas = 3\n[input]\nm = 16\n",
            )
            .unwrap();
        let start = std::time::Instant::now();
        loop {
            let j = net.job(&p.job).unwrap();
            let clock = net.rpc.get_account(&solana_sdk::sysvar::clock::ID).unwrap();
            let now = tessera_sdk::accounts::clock_unix_timestamp(&clock.data).unwrap();
            if j.state == tessera::state::JobState::Challenge && now > j.challenge_deadline {
                assert_eq!(j.unsettled_claims, 3);
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "k = 3 job: {}",
                jobs::progress_line(&j)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let kp_dir = dir.join("client-key");
        std::fs::create_dir_all(&kp_dir).unwrap();
        let kp_file = kp_dir.join("id.json");
        std::fs::write(
            &kp_file,
            serde_json::to_string(&client.to_bytes().to_vec()).unwrap(),
        )
        .unwrap();
        let job_s = p.job.to_string();
        let out = tessera_cli(
            &url,
            &[
                "--keypair",
                kp_file.to_str().unwrap(),
                "job",
                "close",
                &job_s,
            ],
        );
        assert!(
            out.contains("settled 3 claim(s) in 1 transaction(s)") && out.contains("closed"),
            "{out}"
        );
        assert!(
            net.job(&p.job).is_err(),
            "the client's settlement closed the job"
        );
    }
    for p in &embed_jobs_posted {
        let job = net
            .wait_settled(&p.job, Duration::from_secs(120), |_| {})
            .unwrap_or_else(|e| {
                panic!(
                    "embed shard: {e:#}\n{}",
                    procs
                        .iter()
                        .map(|p| p.log_tail(15))
                        .collect::<Vec<_>>()
                        .join("\n---\n")
                )
            });
        let local = embed_jobs::recompute(&net.rpc, &p.job).unwrap();
        assert_eq!(local.on_chain, job.winning_hash);
        assert!(
            local.matches(),
            "embed shard {}: the CPU reference disagrees",
            p.job
        );
    }
    let (rows, ids) = embed_jobs::fetch_all(&net.rpc, &manifest, Some(&net.blobs_url)).unwrap();
    let want_ids: Vec<String> = (0..24).map(|i| format!("s{i}")).collect();
    assert_eq!(ids, want_ids, "shards joined back in corpus order");
    let reference = embedding::model_blob(&minilm).unwrap();
    let model = tessera_compute::embed::EmbedModel::parse(&reference).unwrap();
    let (_, tokenizer) = embedding::model_parts(&reference).unwrap();
    let texts: Vec<String> = sentences.iter().map(|s| s.to_string()).collect();
    let seqs = tokenizer.encode_all(&texts, 512).unwrap();
    let local =
        tessera_compute::embed::embed(&model, &seqs, &tessera_compute::Backend::cpu()).unwrap();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(
            r.as_slice(),
            &local[i * 384..(i + 1) * 384],
            "embedding {i}"
        );
    }
    let m = manifest_path.to_str().unwrap();
    let out_dir = dir.join("cli");
    let res = tessera_cli(
        &url,
        &[
            "job",
            "result",
            m,
            "--blobs",
            &net.blobs_url,
            "--out",
            out_dir.to_str().unwrap(),
        ],
    );
    assert!(
        res.contains("2 shard(s), each verified") && res.contains("24 embeddings"),
        "{res}"
    );
    let npy = std::fs::read(out_dir.join("corpus.manifest.npy")).unwrap();
    let (r, c, data) = embedding::read_npy_f32(&npy).unwrap();
    assert_eq!((r, c), (24, 384));
    assert_eq!(
        data, local,
        "the CLI's .npy holds the verified embeddings in order"
    );
    let verify = tessera_cli(&url, &["job", "verify", m, "--recompute"]);
    assert_eq!(verify.matches("MATCHES").count(), 2, "{verify}");
    for p in &embed_jobs_posted {
        net.close_job(&client, &p.job).unwrap();
    }
    println!("embed: 24 sentences in 2 shards, verified by the SDK, the CLI and a recompute");

    for p in &render_posted {
        let job = net
            .wait_settled(&p.job, Duration::from_secs(120), |_| {})
            .unwrap_or_else(|e| {
                panic!(
                    "render tile: {e:#}\n{}",
                    procs
                        .iter()
                        .map(|p| p.log_tail(15))
                        .collect::<Vec<_>>()
                        .join("\n---\n")
                )
            });
        assert_eq!(job.spec_version, 3, "a mesh render is spec 3");
        assert_eq!(
            job.winning_hash,
            expected_hash(&job),
            "tile {}: differs from the CPU reference",
            p.job
        );
    }
    let frames =
        render_jobs::fetch_frames(&net.rpc, &render_manifest, Some(&net.blobs_url)).unwrap();
    let mut whole = render_opts.clone();
    whole.tiles = (1, 1);
    let plan = render_jobs::plan(&glb, &whole).unwrap();
    let local =
        tessera_compute::run(&plan.frames[0].1[0].1, &tessera_compute::Backend::cpu()).unwrap();
    let local = tessera_compute::render::decode_radiance(&local.bytes, 48, 36).unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&frames[0].1),
        bits(&local),
        "the assembled tiles are the frame"
    );
    let res = tessera_cli(
        &url,
        &[
            "job",
            "result",
            render_manifest_path.to_str().unwrap(),
            "--blobs",
            &net.blobs_url,
            "--out",
            out_dir.to_str().unwrap(),
        ],
    );
    assert!(
        res.contains("1 frame(s) of 48x36 from 4 tile job(s)"),
        "{res}"
    );
    for f in ["shot.png", "shot.16.png", "shot.pfm"] {
        assert!(out_dir.join(f).is_file(), "{f} missing: {res}");
    }
    let verify = tessera_cli(
        &url,
        &[
            "job",
            "verify",
            render_manifest_path.to_str().unwrap(),
            "--recompute",
        ],
    );
    assert_eq!(verify.matches("MATCHES").count(), 4, "{verify}");
    for p in &render_posted {
        net.close_job(&client, &p.job).unwrap();
    }
    println!("render: a Blender glTF scene in 2x2 tiles, assembled and verified");

    let nodes = tessera_cli(&url, &["node", "list"]);
    for w in &net.workers {
        assert!(nodes.contains(&w.node().to_string()), "{nodes}");
    }
    assert!(tessera_cli(&url, &["market"]).contains("open job(s)"));
    assert!(tessera_cli(&url, &["job", "list"]).contains("job(s)"));
    // the workers' Prometheus endpoint counts what they did
    let metrics = net.worker_metrics(0);
    for m in [
        "tessera_worker_jobs_claimed_total",
        "tessera_worker_kernel_seconds_count",
        "tessera_worker_pickup_seconds_bucket",
    ] {
        assert!(metrics.contains(m), "{m} missing from /metrics:\n{metrics}");
    }
    // a replica commits (commit_result) or, the last of its round, commits and reveals at once
    assert!(
        ["commit_result", "submit_result"]
            .iter()
            .any(|ix| metrics.contains(&format!("tessera_worker_tx_sent_total{{ix=\"{ix}\"}}"))),
        "no commitment counted in /metrics:\n{metrics}"
    );
    let completed: u32 = (0..3)
        .map(|i| net.node(i).unwrap().reputation.completed)
        .sum();
    assert_eq!(
        completed,
        2 + 3 + 2 + 2 * 2 + 4 * 2 + 3,
        "every replica of the four kernels' jobs (and the k = 3 job its client closed) was paid"
    );

    // ---- 2. a dishonest worker among two honest ones (k = 3: all three must take part)
    procs[2].stop().unwrap();
    procs.truncate(2);
    procs.push(net.start_worker(3, &["--dishonest"]).unwrap());
    let liar_stake = net.node(3).unwrap().stake;
    let honest_done: Vec<u32> = (0..2)
        .map(|i| net.node(i).unwrap().reputation.completed)
        .collect();
    let p = net
        .post(
            &client,
            "kernel = \"gemm-f32\"\nprice = \"4\"\nreplicas = 3\n[input]\nm = 32\n",
        )
        .unwrap();
    let job = net
        .wait_settled(&p.job, Duration::from_secs(120), |_| {})
        .unwrap();
    assert_eq!(job.winning_hash, expected_hash(&job));
    let liar = net.node(3).unwrap();
    assert_eq!(
        liar.reputation.disagreed, 1,
        "the liar's minority result is recorded"
    );
    assert!(liar.stake < liar_stake, "the liar was slashed");
    for (i, done) in honest_done.iter().enumerate() {
        assert_eq!(net.node(i).unwrap().reputation.completed, done + 1);
    }
    net.close_job(&client, &p.job).unwrap();
    println!("liar slashed {} base units", liar_stake - liar.stake);

    // ---- 3. SIGKILL in the middle of a job (its claim confirmed, the render still
    // computing), then a restart: the worker resumes from its journal.
    stop_all(&mut procs);
    procs.push(net.start_worker(0, &[]).unwrap());
    let mut crashing = net.start_worker(2, &[]).unwrap();
    std::thread::sleep(Duration::from_secs(2)); // let it subscribe
    let p = net
        .post(
            &client,
            "kernel = \"render\"\nprice = \"3\"\nreplicas = 2\n[input]\nscene = \"cornell\"\nwidth = 192\nheight = 192\nspp = 64\n",
        )
        .unwrap();
    let crashed_claim = tessera_sdk::pda::claim(&p.job, &net.workers[2].node()).0;
    let start = std::time::Instant::now();
    while net.rpc.get_account(&crashed_claim).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no claim: {}",
            crashing.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    crashing.kill9();
    let c: tessera::state::Claim = tessera_rpc::fetch(&net.rpc, "Claim", &crashed_claim).unwrap();
    println!("worker w2 killed with SIGKILL; its claim was {:?}", c.state);
    assert_ne!(
        c.state,
        tessera::state::ClaimState::TimedOut,
        "the killed worker's claim stands"
    );
    assert_eq!(
        net.job(&p.job).unwrap().state,
        tessera::state::JobState::Open,
        "the job waits for it"
    );
    let restarted = net.start_worker(2, &[]).unwrap();
    let job = net
        .wait_settled(&p.job, Duration::from_secs(120), |_| {})
        .unwrap_or_else(|e| panic!("{e:#}\n{}", restarted.log_tail(30)));
    assert_eq!(job.winning_hash, expected_hash(&job));
    assert!(std::fs::read_to_string(&restarted.log)
        .unwrap()
        .contains("resuming from the journal"));
    net.close_job(&client, &p.job).unwrap();
    procs.push(restarted);
    stop_all(&mut procs);
    drop(crashing);

    // ---- 4. conservation
    let after = sum_parties(&net);
    assert_eq!(before, after, "tokens created or lost among the parties");
    let (all_after, supply_after) = net.token_totals().unwrap();
    assert_eq!(supply_after, supply_before, "supply changed");
    assert_eq!(
        all_after, supply_after,
        "token accounts do not add up to the supply"
    );
    for i in 0..4 {
        let n = net.node(i).unwrap();
        let vault = tessera_rpc::token_balance(&net.rpc, &n.stake_vault).unwrap();
        assert_eq!(vault, n.stake, "stake vault {i} matches its node");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same network with its blobs in an S3-compatible object store (`s3s-fs` behind `s3s`,
/// started by this test, with signature-v4 credentials) instead of the built-in blob server:
/// two workers with `blobs = "s3://tessera/net"` and the `AWS_*` environment, a client
/// posting there (through the SDK and `tessera job post --blobs s3://…`). One job of every
/// kernel, two replicas each, with the same inputs as the run above: every job's input is
/// read from the store, its result published there, and the agreed result is the one a
/// local CPU run of the same input gives (which the run above also asserts).
#[test]
fn network_on_an_s3_compatible_store_gives_the_same_results() {
    let Some(url) = localnet::provider_url() else {
        eprintln!("SKIPPED: ANCHOR_PROVIDER_URL is not set; this test runs under `anchor test` (scripts/test.sh)");
        return;
    };
    let started = std::time::Instant::now();
    let dir = std::env::temp_dir().join(format!("tessera-net-s3-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let s3 = tessera_tests::s3::S3Server::start(&dir.join("s3"), &["tessera"]).unwrap();
    let store = "s3://tessera/net";
    // this process reaches the store with explicit options; the workers and the CLI with the
    // environment, as an operator's daemon would
    let opts = s3.options();
    let opts: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    tessera_blobs::ObjectTarget::open(store, &opts).unwrap();
    let mut net = Network::attach(&url, localnet::wallet(), &dir).unwrap();
    net.blobs_url = store.to_string();
    net.env = s3
        .env()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    for name in ["s3-w0", "s3-w1"] {
        net.add_worker(name, STAKE).unwrap();
    }
    for w in &net.workers {
        let cfg = std::fs::read_to_string(w.config()).unwrap();
        assert!(cfg.contains(&format!("blobs = \"{store}\"")), "{cfg}");
    }
    let client = net.client(500).unwrap();
    let mut procs: Vec<Proc> = (0..2).map(|i| net.start_worker(i, &[]).unwrap()).collect();

    let mut posted = vec![];
    for (name, spec) in [
        ("gemm-i8", "kernel = \"gemm-i8\"\nprice = \"3\"\nreplicas = 2\n[input]\nm = 48\nn = 40\nk = 33\n"),
        ("render", "kernel = \"render\"\nprice = \"5\"\nreplicas = 2\n[input]\nscene = \"cornell\"\nwidth = 24\nheight = 24\nspp = 2\n"),
        ("inference", "kernel = \"inference\"\nprice = \"2\"\nreplicas = 2\n[input]\nbatch = 48\n"),
    ] {
        let p = net.post(&client, spec).unwrap();
        assert!(p.input_uri.starts_with(&format!("{store}/")), "{}", p.input_uri);
        posted.push((name.to_string(), p.job));
    }
    // the CLI, with the store in the environment
    let key = dir.join("client.json");
    std::fs::write(
        &key,
        serde_json::to_string(&client.to_bytes().to_vec()).unwrap(),
    )
    .unwrap();
    let job_file = dir.join("job.toml");
    std::fs::write(
        &job_file,
        "kernel = \"gemm-f32\"\nprice = \"4\"\nreplicas = 2\n[input]\nm = 32\n",
    )
    .unwrap();
    let out = std::process::Command::new(tessera_tests::network::bin_dir().join("tessera"))
        .args(["--url", &url, "--keypair", key.to_str().unwrap()])
        .args(["job", "post", "--file", job_file.to_str().unwrap()])
        .args(["--blobs", store])
        .env_remove("TESSERA_BLOBS")
        .envs(net.env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "tessera job post --blobs {store}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!("input     {store}/")), "{text}");
    let job: solana_sdk::pubkey::Pubkey = text
        .lines()
        .find_map(|l| l.strip_prefix("job       "))
        .expect("the job's address")
        .trim()
        .parse()
        .unwrap();
    posted.push(("gemm-f32 (CLI)".to_string(), job));
    // embed on all-MiniLM-L6-v2 (the model uploaded to the store in parts) and a glTF scene
    // (render spec 3), one job each
    let sentences: Vec<&str> = include_str!("../data/sentences.txt")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(24)
        .collect();
    let corpus = dir.join("corpus.jsonl");
    let lines: Vec<String> = sentences
        .iter()
        .enumerate()
        .map(|(i, t)| serde_json::json!({"id": format!("s{i}"), "text": t}).to_string())
        .collect();
    std::fs::write(&corpus, lines.join("\n")).unwrap();
    let minilm = tessera_tests::minilm_dir().unwrap();
    let (embed_posted, manifest) = net
        .post_embed(&client, &minilm, &corpus, "3", 2, 1)
        .unwrap();
    posted.push(("embed".to_string(), embed_posted[0].job));
    let glb = tessera_tests::render_asset("blender-scene-1", "scene.glb").unwrap();
    let render_opts = render_jobs::RenderOptions {
        max_bounces: 4,
        seed: 5,
        ..render_jobs::RenderOptions::new(48, 36, 2)
    };
    let (render_posted, _) = net
        .post_render(&client, &glb, &render_opts, "2", 2)
        .unwrap();
    posted.push(("render (glTF)".to_string(), render_posted[0].job));

    for (name, key) in &posted {
        let job = net
            .wait_settled(key, Duration::from_secs(180), |_| {})
            .unwrap_or_else(|e| {
                panic!(
                    "{name}: {e:#}\n{}",
                    procs
                        .iter()
                        .map(|p| p.log_tail(15))
                        .collect::<Vec<_>>()
                        .join("\n---\n")
                )
            });
        assert!(job.input_uri.starts_with(&format!("{store}/")), "{name}");
        let reference = if name == "embed" {
            // the model too comes from the store, by hash
            embed_jobs::recompute(&net.rpc, key).unwrap().local
        } else {
            expected_hash(&job)
        };
        assert_eq!(
            job.winning_hash, reference,
            "{name}: the result on S3 differs from the CPU reference"
        );
        // the workers published the result to the store, under its hash
        let published = s3.object_file(
            "tessera",
            &format!("net/{}", tessera_blobs::hex(&job.winning_hash)),
        );
        assert!(
            published.is_file(),
            "{name}: {} missing",
            published.display()
        );
        let r = jobs::fetch_result(&net.rpc, key, Some(store)).unwrap();
        assert_eq!(r.output.hash(), job.winning_hash, "{name}");
        println!(
            "{name} on S3: result {}",
            tessera_blobs::hex(&job.winning_hash)
        );
    }
    let (_, ids) = embed_jobs::fetch_all(&net.rpc, &manifest, Some(store)).unwrap();
    assert_eq!(ids.len(), 24);
    // the submitter's CLI fetches and verifies a result from the store
    let out = std::process::Command::new(tessera_tests::network::bin_dir().join("tessera"))
        .args(["--url", &url, "job", "result", &posted[0].1.to_string()])
        .args(["--blobs", store, "--out", dir.join("cli").to_str().unwrap()])
        .env_remove("TESSERA_BLOBS")
        .envs(net.env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("verified"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (_, key) in &posted {
        net.close_job(&client, key).unwrap();
    }
    stop_all(&mut procs);
    println!(
        "S3-compatible store: {} jobs verified in {:.0?}",
        posted.len(),
        started.elapsed()
    );
    drop(s3);
    let _ = std::fs::remove_dir_all(&dir);
}
