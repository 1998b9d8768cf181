//! Hostile job inputs against real workers on a real validator (`anchor test`): a client posts
//! jobs whose `input_uri` points at `/dev/zero`, local files, private and link-local addresses,
//! the validator's own RPC port, a server that streams forever and one that trickles. Workers
//! must refuse or cut off each download without claiming (so nobody is slashed and the client
//! can cancel), stay up with bounded memory, and still complete an honest job afterwards.
//!
//! Worker `h0` runs the default fetch policy: it refuses every hostile URI before connecting.
//! Worker `h1` allow-lists the two hostile loopback servers with an 8 MiB cap, a 3 s idle and
//! a 10 s overall deadline, so its downloads really start and must be cut off.
//!
//! The second test posts hash-correct inputs whose *content* is hostile (issue 29): a render
//! whose triangles no BVH split separates, with a 10 s commit window (it cost a worker 5 % of
//! its stake); a 20-byte GEMM of zero work asking for gigabytes; a 200-byte empty scene of a
//! 16384² tile; 16 MiB of junk; an encoder of one-wide heads over 8 192 one-token sequences with
//! a 3 s window; and an honest GEMM right behind them. The worker takes none it
//! cannot commit in time, is never slashed, stays within its memory, keeps no junk on disk,
//! and completes the honest job.
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use solana_sdk::{pubkey::Pubkey, signer::Signer};
use tessera::state::JobState;
use tessera_rpc as rpc;
use tessera_sdk::ix;
use tessera_tests::localnet;
use tessera_tests::network::{Network, Proc};

const CAP: u64 = 8 << 20;

/// Serves every connection on a loopback port with `body(stream)` after a 200 header without
/// a length; returns the port.
fn serve(body: fn(&mut std::net::TcpStream)) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n");
                body(&mut s);
            });
        }
    });
    port
}

fn endless(s: &mut std::net::TcpStream) {
    let chunk = vec![0u8; 64 << 10];
    while s.write_all(&chunk).is_ok() {}
}

fn trickle(s: &mut std::net::TcpStream) {
    for _ in 0..600 {
        if s.write_all(b"x").is_err() {
            return;
        }
        std::thread::sleep(Duration::from_secs(5));
    }
}

/// Peak and current resident memory of a process, in MiB (VmHWM, VmRSS).
fn memory_mib(p: &Proc) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{}/status", p.child.id())).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("VmHWM:"), field("VmRSS:"))
}

#[test]
fn workers_refuse_hostile_inputs_and_stay_up() {
    let Some(url) = localnet::provider_url() else {
        eprintln!("SKIPPED: ANCHOR_PROVIDER_URL is not set; this test runs under `anchor test` (scripts/test.sh)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("tessera-hostile-{}", std::process::id()));
    let mut net = Network::attach(&url, localnet::wallet(), &dir).unwrap();
    net.start_blob_server().unwrap();
    for name in ["h0", "h1"] {
        net.add_worker(name, 200).unwrap();
    }
    let (endless_port, trickle_port) = (serve(endless), serve(trickle));
    net.set_worker_fetch(
        1,
        &[
            (
                "allowed_hosts",
                format!("[\"127.0.0.1:{endless_port}\", \"127.0.0.1:{trickle_port}\"]"),
            ),
            ("max_input_bytes", CAP.to_string()),
            ("fetch_timeout_secs", "10".into()),
            ("idle_timeout_secs", "3".into()),
        ],
    )
    .unwrap();
    let mut procs: Vec<Proc> = (0..2).map(|i| net.start_worker(i, &[]).unwrap()).collect();
    let client = net.client(1_000).unwrap();
    let rpc_port = url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let hostile = [
        "file:///dev/zero".to_string(),
        "file:///etc/passwd".to_string(),
        format!("http://127.0.0.1:{endless_port}/endless"),
        format!("http://127.0.0.1:{trickle_port}/trickle"),
        "http://10.1.2.3/input".to_string(),
        "http://192.168.1.1/input".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        format!("http://[::1]:{rpc_port}/"),
        format!("http://localhost:{rpc_port}/"),
        "gopher://example.com/input".to_string(),
    ];
    let jobs: Vec<(String, Pubkey)> = hostile
        .iter()
        .map(|u| (u.clone(), net.post_uri(&client, u, 1).unwrap()))
        .collect();
    // long enough for h1's trickle download to hit its deadline and both workers to see all
    let start = Instant::now();
    let mut peak = [0u64; 2];
    while start.elapsed() < Duration::from_secs(25) {
        for (i, p) in procs.iter_mut().enumerate() {
            assert!(p.is_running(), "worker {i} died:\n{}", p.log_tail(30));
            peak[i] = peak[i].max(memory_mib(p).0);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    for (uri, job) in &jobs {
        let j = net.job(job).unwrap();
        assert_eq!(
            (j.state, j.active_claims, j.unsettled_claims),
            (JobState::Open, 0, 0),
            "{uri}: no worker may claim a job whose input it could not fetch"
        );
    }
    let logs: Vec<String> = procs.iter().map(|p| p.log_tail(400)).collect();
    let refused = |i: usize, reason: &str| {
        net.worker_metrics(i)
            .lines()
            .filter(|l| {
                l.starts_with("tessera_worker_inputs_refused_total")
                    && l.contains(&format!("reason=\"{reason}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    // h0 (default policy) refused every one before connecting
    let h0: f64 = ["scheme_not_allowed", "host_not_allowed"]
        .iter()
        .map(|r| refused(0, r))
        .sum();
    assert!(h0 >= hostile.len() as f64, "h0 refused {h0}:\n{}", logs[0]);
    // h1 started the two allowed downloads and cut them off: one at the cap, one at a deadline
    assert!(
        refused(1, "too_large") >= 1.0,
        "h1 never hit its size cap:\n{}",
        logs[1]
    );
    assert!(
        refused(1, "timeout") >= 1.0,
        "h1 never hit a deadline:\n{}",
        logs[1]
    );
    for (i, p) in peak.iter().enumerate() {
        println!("worker h{i}: peak resident memory {p} MiB");
        assert!(*p < 256, "worker h{i} peaked at {p} MiB");
    }

    // an honest job right after completes and pays
    let spec =
        "kernel = \"gemm-i8\"\nprice = \"2\"\nreplicas = 1\nmax_escalations = 0\n[input]\nm = 16\n";
    let p = net.post(&client, spec).unwrap();
    let job = net
        .wait_settled(&p.job, Duration::from_secs(120), |_| {})
        .unwrap_or_else(|e| panic!("{e:#}\n{}", procs[0].log_tail(40)));
    assert_eq!(job.state, JobState::Completed);
    net.close_job(&client, &p.job).unwrap();

    // nothing was ever claimed, so the client takes every hostile job back in full
    let before = net.balance(&client.pubkey());
    for (_, job) in &jobs {
        rpc::send(
            &net.rpc,
            &[ix::cancel_job(&net.tctx, &client.pubkey(), job)],
            &client,
            &[],
        )
        .unwrap();
    }
    assert_eq!(
        net.balance(&client.pubkey()) - before,
        jobs.len() as u64 * net.tokens(1),
        "every hostile job refunded in full"
    );
    for p in procs.iter_mut() {
        let _ = p.stop();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Total size of the files under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => dir_bytes(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn hash_correct_hostile_jobs_never_get_an_honest_worker_slashed() {
    use tessera_compute::render::mesh_blob::{self, Tile};
    use tessera_compute::render::mesh_scenes;
    let Some(url) = localnet::provider_url() else {
        eprintln!("SKIPPED: ANCHOR_PROVIDER_URL is not set; this test runs under `anchor test` (scripts/test.sh)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("tessera-content-{}", std::process::id()));
    let mut net = Network::attach(&url, localnet::wallet(), &dir).unwrap();
    net.start_blob_server().unwrap();
    net.add_worker("c0", 200).unwrap();
    let stake_before = net.node(0).unwrap().bonded();
    let mut proc = net.start_worker(0, &[]).unwrap();
    let client = net.client(1_000).unwrap();

    // 1. coincident triangles: every ray tests all of them, whatever the BVH
    let mut scene = mesh_scenes::cornell(64, 48, 4);
    let base = scene.positions.len() as u32;
    scene
        .positions
        .extend([[-0.9, 0.1, -0.9], [0.9, 0.1, -0.9], [0.0, 1.9, -0.9]]);
    if !scene.normals.is_empty() {
        scene.normals.extend([[0.0, 0.0, 1.0]; 3]);
    }
    if !scene.uvs.is_empty() {
        scene.uvs.extend([[0.0, 0.0]; 3]);
    }
    let mut t = scene.triangles[0];
    t.v = [base, base + 1, base + 2];
    scene.triangles.extend(std::iter::repeat_n(t, 20_000));
    let slow = mesh_blob::encode(&scene, Tile::full(64, 48)).unwrap();
    let render_spec =
        "kernel = \"render\"\nprice = \"2\"\nreplicas = 1\nmax_escalations = 0\nexec_secs = 10\n";
    let slow_job = net.post_blob(&client, render_spec, slow).unwrap().job;
    // 2. an honest GEMM right behind it
    let honest = net
        .post(
            &client,
            "kernel = \"gemm-i8\"\nprice = \"2\"\nreplicas = 1\nmax_escalations = 0\n[input]\nm = 32\n",
        )
        .unwrap()
        .job;
    // 3. zero work, gigabytes of output: 20 bytes
    let gemm_spec = "kernel = \"gemm-i8\"\nprice = \"2\"\nreplicas = 1\nmax_escalations = 0\n";
    // (the encoder refuses it; a hostile client writes the header and dimensions itself)
    let mut zero = tessera_compute::gemm::build_i8_input(1, 1, 1, 1).unwrap()[..8].to_vec();
    for v in [65_536u32, 65_536, 0] {
        zero.extend_from_slice(&v.to_le_bytes());
    }
    assert!(zero.len() < 32);
    let zero_job = net.post_blob(&client, gemm_spec, zero).unwrap().job;
    // 4. an empty scene of a 16384² tile: about 9 GiB of radiance from a few hundred bytes
    let mut empty = mesh_scenes::cornell(16_384, 16_384, 1);
    empty.triangles.clear();
    empty.positions.clear();
    empty.normals.clear();
    empty.uvs.clear();
    empty.textures.clear();
    for m in empty.materials.iter_mut() {
        m.base_color_texture = None;
    }
    let huge = mesh_blob::encode(&empty, Tile::full(16_384, 16_384)).unwrap();
    assert!(huge.len() < 1024, "{}", huge.len());
    let huge_job = net.post_blob(&client, render_spec, huge).unwrap().job;
    // 5. 16 MiB of junk behind a valid header
    let mut junk = tessera_compute::gemm::build_i8_input(8, 8, 8, 1).unwrap()[..8].to_vec();
    junk.extend((0..16u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    let junk_job = net.post_blob(&client, gemm_spec, junk).unwrap().job;

    // 6. a client's own encoder of one-wide heads over 8 192 one-token sequences (139-144x
    // its old estimate), with a 3 s window
    let shape = tessera_compute::testcases::EmbedShape::bert(64, 64, 6, 64);
    let model = tessera_compute::testcases::random_embed_model_blob(&shape, 3);
    let target = net.blob_target(&client).unwrap();
    let (_, model_uri) = tessera_blobs::block_on(target.put(&model)).unwrap();
    let model_len = model.len() as u64;
    let seqs = tessera_compute::testcases::random_token_seqs(shape.vocab, &[1; 8192], 4);
    let model_hash = tessera_blobs::hash(&model);
    let embed = tessera_compute::embed::encode_input(&model_hash, &model_uri, &seqs).unwrap();
    let embed_spec =
        "kernel = \"embed\"\nprice = \"2\"\nreplicas = 1\nmax_escalations = 0\nexec_secs = 3\n";
    let embed_job = net.post_blob(&client, embed_spec, embed).unwrap().job;

    let done = net
        .wait_settled(&honest, Duration::from_secs(180), |_| {})
        .unwrap_or_else(|e| panic!("the honest job: {e:#}\n{}", proc.log_tail(60)));
    assert_eq!(done.state, JobState::Completed, "{}", proc.log_tail(60));
    // long enough for a claim of the slow render to have expired (10 s) and been slashed
    let start = Instant::now();
    let mut peak = 0u64;
    while start.elapsed() < Duration::from_secs(20) {
        assert!(proc.is_running(), "the worker died:\n{}", proc.log_tail(40));
        peak = peak.max(memory_mib(&proc).0);
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = proc.log_tail(400);
    for (name, job) in [
        ("coincident triangles", slow_job),
        ("zero-work GEMM", zero_job),
        ("16384² empty tile", huge_job),
        ("junk", junk_job),
        ("one-wide heads", embed_job),
    ] {
        let j = net.job(&job).unwrap();
        // taken and committed in time, or not taken: never a claim left to expire
        assert!(
            j.state == JobState::Completed || (j.state, j.active_claims) == (JobState::Open, 0),
            "{name}: {:?} with {} active claims\n{log}",
            j.state,
            j.active_claims
        );
    }
    let node = net.node(0).unwrap();
    assert_eq!(
        node.bonded(),
        stake_before,
        "the worker was slashed:\n{log}"
    );
    // each refused for its reason before a claim: the slow render by the cost model, the
    // zero-work GEMM, the huge tile and the junk as inputs this node cannot run
    let refused = |reason: &str| {
        net.worker_metrics(0)
            .lines()
            .filter(|l| {
                l.starts_with("tessera_worker_inputs_refused_total")
                    && l.contains(&format!("reason=\"{reason}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let slow = net.job(&slow_job).unwrap();
    assert!(
        slow.state == JobState::Completed || refused("too_slow") >= 1.0,
        "the coincident triangles were neither computed nor refused as too slow\n{log}"
    );
    println!(
        "worker c0 refused: {} as too slow, {} as invalid inputs",
        refused("too_slow"),
        refused("invalid_input")
    );
    assert!(refused("invalid_input") >= 3.0, "{log}");
    println!("worker c0: peak resident memory {peak} MiB");
    assert!(peak < 1024, "the worker peaked at {peak} MiB");
    // the junk (and the render refused as too slow) were downloaded, refused and evicted:
    // nothing of them is left in the input cache (the encoder stays, as models do, within
    // the cache's cap)
    let cached = dir_bytes(&net.worker_dir(0).join("state/blobs"));
    println!("worker c0: {cached} bytes left in its input cache");
    assert!(
        cached < model_len + (64 << 10),
        "{cached} bytes left in the input cache"
    );
    let _ = proc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
