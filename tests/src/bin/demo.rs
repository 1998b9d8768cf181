//! `tessera-demo`: the local network demo (run by `scripts/demo.sh` once the validator is up
//! and the program deployed and configured). Starts a blob server and three worker processes
//! (each with its own key and stake), posts one job of each kernel (the embed corpus as two
//! shard jobs on the real all-MiniLM-L6-v2, and a Blender-exported glTF scene as 2x2 tile jobs),
//! follows them with a progress display, and prints
//! the verified results (for two queries, the nearest sentences of the corpus by the verified
//! embeddings), payouts, fees and reputations.
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use solana_sdk::signer::Signer;
use tessera_blobs as blobs;
use tessera_cmdline as cmdline;
use tessera_jobs::render_jobs::{self, RenderOptions};
use tessera_jobs::{embed_jobs, embedding, jobs};
use tessera_sdk::units::format_amount;
use tessera_tests::network::{Network, Proc};

#[derive(Parser)]
#[command(
    name = "tessera-demo",
    about = "Runs the Tessera local network demo against a running validator"
)]
struct Args {
    /// Validator RPC URL.
    #[arg(long, default_value = "http://127.0.0.1:8899")]
    url: String,
    /// Wallet that pays and holds the mint authority.
    #[arg(long, default_value = "~/.config/solana/id.json")]
    keypair: String,
    /// Working directory (worker configs, journals, blobs, results).
    #[arg(long, default_value = ".demo/network")]
    dir: PathBuf,
    /// Leave the blob server and the workers running.
    #[arg(long)]
    keep: bool,
}

/// The queries the demo answers from the network's verified embeddings.
const QUERIES: [&str; 2] = [
    "How do I cook a healthy meal at home?",
    "Telescopes and spacecraft exploring other worlds",
];

/// Joins the embed shards' verified results, writes them as `.npy` + ids, and prints the
/// corpus sentences nearest to each query by cosine similarity.
fn nearest_sentences(
    net: &Network,
    manifest: &embedding::Manifest,
    out_dir: &std::path::Path,
) -> Result<()> {
    let (rows, ids) = embed_jobs::fetch_all(&net.rpc, manifest, Some(&net.blobs_url))?;
    let files = embedding::write_embeddings(out_dir, "embeddings", manifest.dim, &rows, &ids)?;
    println!(
        "  {:<22} {} embeddings of {} f32 from {} shard jobs, each verified",
        "embed corpus",
        rows.len(),
        manifest.dim,
        manifest.shards.len()
    );
    for f in files {
        println!(
            "  {:<22} wrote {}",
            "",
            std::fs::canonicalize(&f).unwrap_or(f).display()
        );
    }
    let texts: std::collections::HashMap<String, String> =
        embedding::parse_corpus(include_str!("../../data/demo_corpus.jsonl"))?
            .into_iter()
            .map(|t| (t.id, t.text))
            .collect();
    let corpus: Vec<usize> = (0..ids.len())
        .filter(|&i| !ids[i].starts_with("query-"))
        .collect();
    let corpus_rows: Vec<Vec<f32>> = corpus.iter().map(|&i| rows[i].clone()).collect();
    for (qn, q) in QUERIES.iter().enumerate() {
        let qi = ids
            .iter()
            .position(|id| *id == format!("query-{}", qn + 1))
            .context("a query is missing from the result")?;
        println!("\n  query: {q:?}");
        for (rank, (i, cos)) in embedding::nearest(&rows[qi], &corpus_rows, 3)
            .into_iter()
            .enumerate()
        {
            let id = &ids[corpus[i]];
            println!(
                "    {}. {cos:.3}  {}  ({id})",
                rank + 1,
                texts.get(id).map(String::as_str).unwrap_or("?")
            );
        }
    }
    Ok(())
}

/// Fine-tunes all-MiniLM-L6-v2 on WordNet's (usage example, definition) pairs as a chain of
/// three train jobs (two replicas each, every link from the one before's agreed checkpoint),
/// fetches the final checkpoint verified against the chain, and prints the held-out retrieval
/// of the base and the fine-tuned model (embedded on this CPU by the embed kernel).
fn fine_tune(
    net: &Network,
    client: &solana_sdk::signature::Keypair,
    dir: &std::path::Path,
) -> Result<()> {
    use tessera_compute::train::Hyper;
    use tessera_jobs::{train_jobs, training};
    let data = tessera_tests::wordnet_pairs_dir()?;
    let minilm = tessera_tests::minilm_dir()?;
    let target = net.blob_target(client)?;
    let model = embed_jobs::put_model(&minilm, &target)?;
    let pairs_file = dir.join("wordnet-pairs.jsonl");
    let pairs = training::read_pairs(&data.join("train.jsonl"))?;
    let lines: Vec<String> = pairs[..2000]
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<_, _>>()?;
    std::fs::write(&pairs_file, lines.join("\n"))?;
    let steps = 12;
    let hyper = Hyper {
        lr: 1e-4,
        warmup: 1,
        ..Hyper::defaults(steps)
    };
    let run = train_jobs::plan(&model, &pairs_file, 16, 4, 1, 32, hyper)?;
    let spec: tessera_jobs::jobspec::JobSpec = toml::from_str(&format!(
        "kernel = \"train\"\nprice = \"3\"\nreplicas = 2\nexec_secs = {}\n",
        net.config.commit_window_secs
    ))?;
    println!("\nfine-tuning all-MiniLM-L6-v2 on 2 000 WordNet pairs: {steps} steps of 16 pairs in 3 train jobs (k = 2 each)");
    let manifest_path = dir.join("results/train.json");
    std::fs::create_dir_all(dir.join("results"))?;
    let m = train_jobs::run_chain(
        &net.rpc,
        client,
        &spec,
        &model,
        &run,
        &target,
        &manifest_path,
        Duration::from_secs(300),
        &mut |line| println!("  {line}"),
    )?;
    let links = train_jobs::fetch_links(&net.rpc, &m, Some(&net.blobs_url))?;
    let out = dir.join("results/tuned-model");
    train_jobs::write_result(&links, &out)?;
    let held = training::read_pairs(&data.join("heldout.jsonl"))?;
    let held = training::tokenize_pairs(&model.blob, &held[..300], Some(32))?;
    let eval = |m: &tessera_compute::embed::EmbedModel| {
        let rows = |seqs: Vec<Vec<u32>>| -> Vec<Vec<f32>> {
            tessera_compute::embed::cpu::embed_batch(m, &seqs)
                .chunks(m.config.hidden_size)
                .map(<[f32]>::to_vec)
                .collect()
        };
        training::retrieval(
            &rows(held.iter().map(|p| p.0.clone()).collect()),
            &rows(held.iter().map(|p| p.1.clone()).collect()),
        )
    };
    let before = eval(&tessera_compute::embed::EmbedModel::parse(&model.blob)?);
    let after = eval(&links.last().expect("links").checkpoint.model);
    let losses: Vec<String> = links
        .iter()
        .flat_map(|l| l.losses.iter().map(|v| format!("{v:.3}")))
        .collect();
    println!("  losses      {}", losses.join(" "));
    println!(
        "  held-out    300 WordNet pairs (definition of the sense a sentence uses): MRR@10 {:.3} -> {:.3}, recall@1 {:.3} -> {:.3}",
        before.mrr10, after.mrr10, before.recall1, after.recall1
    );
    println!(
        "  model       {} (Hugging Face directory, losses.csv, losses.png)",
        std::fs::canonicalize(&out).unwrap_or(out).display()
    );
    Ok(())
}

/// Text generation: a Llama-family decoder (random weights at a small shape, with a byte-level
/// BPE tokenizer trained on WordNet's English and SmolLM2's chat template: no pretrained
/// decoder can be downloaded here) put into the blob store, four prompts (text and a chat)
/// sampled in two shard jobs of two replicas, the verified completions printed.
fn generate_text(
    net: &Network,
    client: &solana_sdk::signature::Keypair,
    dir: &std::path::Path,
) -> Result<()> {
    use tessera_jobs::{generate_jobs, generation};
    let model_dir = dir.join("decoder");
    tessera_tests::decoder_dir::small_decoder_dir(
        &model_dir,
        tessera_compute::generate::Arch::Llama,
    )?;
    let prompts = [
        r#"{"id": "dog", "prompt": "the dog barked at"}"#,
        r#"{"id": "chat", "messages": [{"role": "user", "content": "What is a shadow?"}]}"#,
        r#"{"id": "lard", "prompt": "lard was also used"}"#,
        r#"{"id": "part", "prompt": "how big is that part"}"#,
    ];
    let prompts_file = dir.join("prompts.jsonl");
    std::fs::write(&prompts_file, prompts.join("\n"))?;
    println!("\ntext generation: a Llama-family decoder (random weights, 3 layers, a BPE tokenizer trained on WordNet), 4 prompts in 2 generate jobs (k = 2 each), sampled at temperature 1.2");
    let (posted, manifest) = net.post_generate(
        client,
        &model_dir.display().to_string(),
        &prompts_file,
        12,
        1.2,
        11,
        "3",
        2,
        2,
    )?;
    for p in &posted {
        let j = net.wait_settled(&p.job, Duration::from_secs(300), |_| {})?;
        println!("  {:<22} {}", p.job.to_string(), jobs::progress_line(&j));
    }
    let (done, ids) = generate_jobs::fetch_all(&net.rpc, &manifest, Some(&net.blobs_url))?;
    let info = generate_jobs::manifest_decoder(&manifest)?;
    for (id, c) in ids.iter().zip(&done) {
        println!("  {id:<6} -> {:?}", info.decode(&c.tokens)?);
    }
    let out = dir.join("results/completions.jsonl");
    std::fs::write(
        &out,
        generation::completions_jsonl(&ids, &done, Some(&info))?,
    )?;
    println!(
        "  completions {} (token ids and text, each shard verified against its on-chain hash)",
        std::fs::canonicalize(&out).unwrap_or(out).display()
    );
    for p in &posted {
        net.close_job(client, &p.job)?;
    }
    Ok(())
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {}", cmdline::one_line(&e, &args.url, "pass --url"));
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<()> {
    let wallet = cmdline::load_keypair(&args.keypair)?;
    let _ = std::fs::remove_dir_all(&args.dir);
    let mut net = Network::attach(&args.url, wallet, &args.dir)?;
    let d = net.decimals;
    // the web page (web/build.sh) is served beside the blobs when it has been built
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/dist");
    if web.join("index.html").is_file() {
        net.web_root = Some(web);
    }
    net.start_blob_server()?;
    println!("blob server    {}", net.blobs_url);
    if net.web_root.is_some() {
        println!("web page       {}/?rpc={}", net.blobs_url, net.url);
    }

    let names = ["alice", "bob", "carol"];
    for n in names {
        net.add_worker(n, 500)?;
    }
    for (i, w) in net.workers.iter().enumerate() {
        let node = net.node(i)?;
        println!(
            "worker {:<6}  node {} · {} · stake {} · metrics http://127.0.0.1:{}/metrics",
            w.name,
            w.node(),
            node.hardware.gpu_model,
            format_amount(node.stake, d),
            w.metrics_port
        );
    }
    let client = net.client(1_000)?;
    println!("client         {} (1000 tokens)", client.pubkey());
    let mut procs: Vec<Proc> = (0..3)
        .map(|i| net.start_worker(i, &[]))
        .collect::<Result<_>>()?;

    // balances before, for the payout table
    let treasury_before = net.balance_of_account(&net.config.treasury);
    let client_before = net.balance(&client.pubkey());
    let op_before: Vec<u64> = net
        .workers
        .iter()
        .map(|w| net.balance(&w.keypair.pubkey()))
        .collect();

    let jobs_spec = [
        ("gemm-i8 512³", "gemm", "kernel = \"gemm-i8\"\nprice = \"4\"\nreplicas = 2\n[input]\nm = 512\nseed = 7\n"),
        ("render 256×256×32spp", "render", "kernel = \"render\"\nprice = \"10\"\nreplicas = 3\n[input]\nscene = \"cornell\"\nwidth = 256\nheight = 256\nspp = 32\n"),
        ("inference 4095 rows", "inference", "kernel = \"inference\"\nprice = \"3\"\nreplicas = 2\n[input]\nbatch = 4095\nseed = 3\n"),
    ];
    // embed: the demo corpus and two queries, embedded by the network in two shard jobs
    let mut corpus = include_str!("../../data/demo_corpus.jsonl").to_string();
    for (i, q) in QUERIES.iter().enumerate() {
        corpus.push_str(&format!(
            "{}\n",
            serde_json::json!({"id": format!("query-{}", i + 1), "text": q})
        ));
    }
    let corpus_path = args.dir.join("corpus.jsonl");
    std::fs::write(&corpus_path, corpus)?;
    let minilm = tessera_tests::minilm_dir()?;
    let (embed_posted, manifest) = net
        .post_embed(&client, &minilm, &corpus_path, "2", 2, 2)
        .context("posting the embed corpus")?;
    // render: a glTF scene exported by Blender, 2x2 tile jobs of one frame (render spec 3)
    let glb = tessera_tests::render_asset("blender-scene-1", "scene.glb")?;
    let shot = RenderOptions {
        tiles: (2, 2),
        ..RenderOptions::new(256, 192, 16)
    };
    let (render_posted, render_manifest) = net
        .post_render(&client, &glb, &shot, "3", 2)
        .context("posting the glTF render")?;
    println!();
    let mp = MultiProgress::new();
    let style = ProgressStyle::with_template("{spinner} {prefix:<22} {msg}").expect("template");
    // one spinner per posted job
    let bar_for = |label: &str, p: &jobs::Posted| {
        let bar = mp.add(ProgressBar::new_spinner());
        bar.set_style(style.clone());
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        let msg = format!("posted {} (escrow {})", p.job, format_amount(p.deposit, d));
        if mp.is_hidden() {
            println!("  {label:<22} {msg}");
        }
        bar.set_message(msg);
        bar
    };
    let mut posted = vec![];
    for (label, stem, spec) in jobs_spec {
        let p = net
            .post(&client, spec)
            .with_context(|| format!("posting {label}"))?;
        let bar = bar_for(label, &p);
        posted.push((label.to_string(), stem, p, bar, None::<f64>));
    }
    let shards = embed_posted.len();
    for (n, p) in embed_posted.into_iter().enumerate() {
        let label = format!("embed shard {}/{shards}", n + 1);
        let bar = bar_for(&label, &p);
        posted.push((label, "embed", p, bar, None::<f64>));
    }
    let tiles = render_posted.len();
    for (n, p) in render_posted.into_iter().enumerate() {
        let label = format!("glTF tile {}/{tiles}", n + 1);
        let bar = bar_for(&label, &p);
        posted.push((label, "tile", p, bar, None::<f64>));
    }
    let start = Instant::now();
    loop {
        let mut all = true;
        for (_, _, p, bar, done) in posted.iter_mut() {
            if done.is_some() {
                continue;
            }
            let j = net.job(&p.job)?;
            if j.state.is_terminal() && j.unsettled_claims == 0 {
                *done = Some(start.elapsed().as_secs_f64());
                let msg = format!(
                    "{} in {:.1} s",
                    jobs::progress_line(&j),
                    start.elapsed().as_secs_f64()
                );
                if mp.is_hidden() {
                    // not a terminal: one plain line per finished job
                    println!("  {:<22} {msg}", bar.prefix());
                }
                bar.finish_with_message(msg);
            } else {
                all = false;
                bar.set_message(jobs::progress_line(&j));
            }
        }
        if all {
            break;
        }
        if start.elapsed() > Duration::from_secs(300) {
            for p in &procs {
                eprintln!("--- {}\n{}", p.name, p.log_tail(20));
            }
            anyhow::bail!("jobs did not finish within 300 s");
        }
        std::thread::sleep(Duration::from_millis(300));
    }

    println!("\nverified results (each downloaded from the blob store and checked against the on-chain result hash):");
    let out_dir = args.dir.join("results");
    for (label, stem, p, _, _) in &posted {
        if *stem == "embed" || *stem == "tile" {
            continue; // joined below, all shards / tiles together
        }
        let j = net.job(&p.job)?;
        let r = jobs::fetch_result(&net.rpc, &p.job, Some(&net.blobs_url))?;
        let (files, summary) = jobs::save_result(&r.output, &out_dir, stem)?;
        println!(
            "  {label:<22} {} · {summary}",
            &blobs::hex(&j.winning_hash)[..16]
        );
        for f in files {
            println!(
                "  {:<22} wrote {}",
                "",
                std::fs::canonicalize(&f).unwrap_or(f).display()
            );
        }
        net.close_job(&client, &p.job)?;
    }

    nearest_sentences(&net, &manifest, &out_dir)?;
    let frames = render_jobs::fetch_frames(&net.rpc, &render_manifest, Some(&net.blobs_url))?;
    let files = render_jobs::write_frames(&out_dir, "blender-scene", &render_manifest, &frames)?;
    println!(
        "\n  {:<22} {}x{} frame assembled from {tiles} verified tile jobs",
        "glTF render", render_manifest.width, render_manifest.height
    );
    for f in files {
        println!(
            "  {:<22} wrote {}",
            "",
            std::fs::canonicalize(&f).unwrap_or(f).display()
        );
    }
    for (_, stem, p, _, _) in &posted {
        if *stem == "embed" || *stem == "tile" {
            net.close_job(&client, &p.job)?;
        }
    }

    fine_tune(&net, &client, &args.dir)?;
    generate_text(&net, &client, &args.dir)?;

    println!("\npayouts:");
    for (i, w) in net.workers.iter().enumerate() {
        let n = net.node(i)?;
        let gained = net.balance(&w.keypair.pubkey()) as i128 - op_before[i] as i128;
        println!(
            "  {:<6} earned {:>8} · reputation {:>6.2} % · completed {} · disagreed {} · stake {}",
            w.name,
            format_amount(gained.max(0) as u64, d),
            n.reputation.score_bps as f64 / 100.0,
            n.reputation.completed,
            n.reputation.disagreed,
            format_amount(n.stake, d)
        );
    }
    let fees = net.balance_of_account(&net.config.treasury) - treasury_before;
    let spent = client_before - net.balance(&client.pubkey());
    println!(
        "  protocol fees to the treasury: {}",
        format_amount(fees, d)
    );
    println!(
        "  client paid in total:          {}",
        format_amount(spent, d)
    );

    if args.keep {
        println!(
            "\nthe network stays up: validator {}, blob server {}, workers:",
            net.url, net.blobs_url
        );
        if net.web_root.is_some() {
            println!(
                "open the web page: {}/?rpc={} (a Wallet Standard wallet on localnet)",
                net.blobs_url, net.url
            );
        }
        for p in procs.drain(..) {
            println!(
                "  {} (pid {}, log {})",
                p.name,
                p.child.id(),
                p.log.display()
            );
            std::mem::forget(p);
        }
        if let Some(p) = net.blob_server.take() {
            std::mem::forget(p);
        }
        // the binaries this demo ran (target/debug in a fresh clone), as a user would type them
        let cli = tessera_tests::network::bin_dir().join("tessera");
        let cli = cli
            .strip_prefix(std::env::current_dir()?)
            .unwrap_or(&cli)
            .display()
            .to_string();
        println!("try:   {cli} --url {} job post --kernel render --price 2 --replicas 2 --width 128 --spp 8 --blobs {} --watch", net.url, net.blobs_url);
        println!(
            "       {cli} --url {} node list · {cli} --url {} market",
            net.url, net.url
        );
        println!("stop:  pkill -f 'tessera-worker' ; pkill -f 'tessera blobs serve' ; kill $(cat .demo/validator.pid)");
    } else {
        for p in procs.iter_mut() {
            p.stop()?;
        }
        println!("\nworkers stopped cleanly; run `scripts/demo.sh --keep` to keep the network up for manual use");
    }
    Ok(())
}
