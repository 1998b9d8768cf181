//! `bench-kernels`: per kernel and size, CPU and GPU time, throughput, the vendor library
//! (cuBLAS SGEMM / GemmEx int8) on a GPU, the `matrixmultiply` crate on the CPU, and whether
//! the GPU and CPU result hashes match.
//!
//! ```text
//! cargo run --release -p tessera-compute --bin bench-kernels -- [--sizes 256,512,1024]
//!     [--quick] [--render 128x128x16] [--batch 65536] [--embed 32x128] [--train 16x32]
//!     [--cpu-only]
//! ```
//!
//! The embed rows run a random encoder of all-MiniLM-L6-v2's shape (hidden 384, 6 layers, 12
//! heads, intermediate 1536, vocabulary 30 522, 512 positions) on `batch` sequences of
//! `tokens` random ids. The train rows run optimizer steps of the same encoder on `pairs`
//! (anchor, positive) pairs of `tokens` ids each (MultipleNegativesRankingLoss, AdamW).

use std::time::Instant;

use tessera_compute::cuda::CudaDevice;
use tessera_compute::embed::{self, cuda::embed_gemm_shapes};
use tessera_compute::gemm::{self, cpu};
use tessera_compute::hash::to_hex;
use tessera_compute::render::{self, scene::SceneFile};
use tessera_compute::testcases::{random_embed_model, random_token_seqs, EmbedShape};
use tessera_compute::{inference, result_hash, Backend, DevicePreference, KernelId, Limits};

/// all-MiniLM-L6-v2's shape, with random weights.
const MINILM: EmbedShape = EmbedShape {
    hidden: 384,
    heads: 12,
    layers: 6,
    inter: 1536,
    positions: 512,
    vocab: 30_522,
    scale: 0.4,
};

struct Args {
    sizes: Vec<usize>,
    render: Vec<(u32, u32, u32)>,
    batches: Vec<usize>,
    embed: Vec<(usize, usize)>,
    train: Vec<(usize, usize)>,
    cpu_only: bool,
    quick: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        sizes: vec![256, 512, 1024],
        render: vec![(128, 128, 16), (256, 256, 32)],
        batches: vec![4096, 65536],
        embed: vec![(32, 128)],
        train: vec![(16, 32)],
        cpu_only: false,
        quick: false,
    };
    let mut it = std::env::args().skip(1);
    let mut sizes_set = false;
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--sizes" => {
                a.sizes = val("--sizes")?
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .parse::<usize>()
                            .map_err(|e| format!("--sizes: {e}"))
                    })
                    .collect::<Result<_, _>>()?;
                sizes_set = true;
            }
            "--render" => {
                a.render = val("--render")?
                    .split(',')
                    .map(|s| {
                        let p: Vec<u32> = s
                            .split('x')
                            .map(|v| v.parse::<u32>().map_err(|e| format!("--render: {e}")))
                            .collect::<Result<_, _>>()?;
                        if p.len() != 3 {
                            return Err("--render expects WxHxSPP".to_string());
                        }
                        Ok((p[0], p[1], p[2]))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--batch" => {
                a.batches = val("--batch")?
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .parse::<usize>()
                            .map_err(|e| format!("--batch: {e}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--embed" => {
                a.embed = val("--embed")?
                    .split(',')
                    .map(|s| {
                        let p: Vec<usize> = s
                            .split('x')
                            .map(|v| v.parse::<usize>().map_err(|e| format!("--embed: {e}")))
                            .collect::<Result<_, _>>()?;
                        if p.len() != 2 || p[0] == 0 || !(1..=MINILM.positions).contains(&p[1]) {
                            return Err(
                                "--embed expects BATCHxTOKENS (tokens 1 ..= 512)".to_string()
                            );
                        }
                        Ok((p[0], p[1]))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--train" => {
                a.train = val("--train")?
                    .split(',')
                    .map(
                        |s| match s.split_once('x').map(|(p, t)| (p.parse(), t.parse())) {
                            Some((Ok(p), Ok(t)))
                                if (2..=512).contains(&p)
                                    && (1..=MINILM.positions).contains(&t) =>
                            {
                                Ok((p, t))
                            }
                            _ => Err(format!(
                            "--train expects PAIRSxTOKENS (pairs 2 ..= 512, tokens 1 ..= 512): {s}"
                        )),
                        },
                    )
                    .collect::<Result<_, _>>()?;
            }
            "--quick" => a.quick = true,
            "--cpu-only" => a.cpu_only = true,
            "-h" | "--help" => {
                println!(
                    "bench-kernels [--sizes 256,512,1024] [--quick] [--render WxHxSPP,...] \
                     [--batch N,...] [--embed BATCHxTOKENS,...] [--train PAIRSxTOKENS,...] \
                     [--cpu-only]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.quick {
        if !sizes_set {
            a.sizes = vec![128, 256];
        }
        a.render = vec![(64, 64, 8)];
        a.batches = vec![4096];
    }
    Ok(a)
}

/// Best wall time of `reps` runs (after one warm-up) in seconds, and the last result.
fn time_best<T>(reps: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut out = f();
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        out = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, out)
}

fn ms(s: f64) -> String {
    format!("{:.2}", s * 1e3)
}

fn na() -> String {
    "n/a".into()
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let backend = if args.cpu_only {
        Backend::cpu()
    } else {
        Backend::select(DevicePreference::Auto).expect("auto selection does not fail")
    };
    let dev: Option<&CudaDevice> = backend.cuda_device().map(|d| d.as_ref());
    let info = Backend::cpu().info().clone();
    // The tuned-BLAS comparison gets as many threads as the Tessera reference (rayon); it
    // reads the variable once, at its first call.
    if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
        std::env::set_var("MATMUL_NUM_THREADS", info.cpu_threads.to_string());
    }
    let mm_threads = std::env::var("MATMUL_NUM_THREADS").unwrap_or_default();
    println!("# bench-kernels");
    println!();
    println!(
        "CPU: {} ({} rayon threads; matrixmultiply: MATMUL_NUM_THREADS={}). GPU: {}.",
        info.name,
        info.cpu_threads,
        mm_threads,
        match dev {
            Some(d) => format!(
                "{} (sm_{}{}, {:.1} GiB, NVRTC {}, int8 path: {})",
                d.info().name,
                d.info().compute_capability.0,
                d.info().compute_capability.1,
                d.info().vram_bytes as f64 / (1u64 << 30) as f64,
                d.arch(),
                if d.uses_tensor_cores() {
                    "mma.sync"
                } else {
                    "dp4a"
                }
            ),
            None => format!(
                "none ({})",
                backend.fallback_reason().unwrap_or("CPU requested")
            ),
        }
    );
    let limits = Limits::default();
    let reps = if args.quick { 1 } else { 3 };

    // ---------------- f32 GEMM ----------------
    println!();
    println!("## GEMM f32 (M = N = K)");
    println!();
    println!("| size | CPU ms | CPU GFLOP/s | matrixmultiply ms | matrixmultiply GFLOP/s | CPU / matrixmultiply time | GPU ms | GPU GFLOP/s | cuBLAS SGEMM ms | cuBLAS GFLOP/s | GPU / cuBLAS speed | hash match |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for &s in &args.sizes {
        let (a, b) = gemm::random_f32(s as u32, s as u32, s as u32, 1);
        let flop = 2.0 * (s as f64).powi(3);
        let (t_cpu, c_cpu) = time_best(reps, || cpu::gemm_f32(s, s, s, &a, &b));
        let (t_mm, _) = time_best(reps, || {
            let mut c = vec![0f32; s * s];
            // SAFETY: row-major s×s buffers with matching strides.
            unsafe {
                matrixmultiply::sgemm(
                    s,
                    s,
                    s,
                    1.0,
                    a.as_ptr(),
                    s as isize,
                    1,
                    b.as_ptr(),
                    s as isize,
                    1,
                    0.0,
                    c.as_mut_ptr(),
                    s as isize,
                    1,
                )
            };
            c
        });
        let h_cpu = result_hash(
            KernelId::GemmF32,
            1,
            &tessera_compute::format::f32s_to_le(&c_cpu),
        );
        let mut row = vec![
            s.to_string(),
            ms(t_cpu),
            format!("{:.1}", flop / t_cpu / 1e9),
            ms(t_mm),
            format!("{:.1}", flop / t_mm / 1e9),
            format!("{:.2}x", t_cpu / t_mm),
        ];
        match dev {
            Some(d) => {
                let iters = ((2e11 / flop) as usize).clamp(3, 50);
                match d.gemm_f32_timed(s, s, s, &a, &b, &limits, iters) {
                    Ok((c_gpu, t_gpu)) => {
                        let h_gpu = result_hash(
                            KernelId::GemmF32,
                            1,
                            &tessera_compute::format::f32s_to_le(&c_gpu),
                        );
                        let blas = d.cublas_sgemm_timed(s, s, s, &a, &b, iters);
                        row.push(ms(t_gpu));
                        row.push(format!("{:.0}", flop / t_gpu / 1e9));
                        match blas {
                            Ok((_, t_b)) => {
                                row.push(ms(t_b));
                                row.push(format!("{:.0}", flop / t_b / 1e9));
                                row.push(format!("{:.0}%", 100.0 * t_b / t_gpu));
                            }
                            Err(e) => {
                                eprintln!("cuBLAS SGEMM: {e}");
                                row.extend([na(), na(), na()]);
                            }
                        }
                        row.push(if h_gpu == h_cpu { "yes" } else { "NO" }.into());
                    }
                    Err(e) => {
                        eprintln!("GPU f32 GEMM {s}: {e}");
                        row.extend([na(), na(), na(), na(), na(), "error".into()]);
                    }
                }
            }
            None => row.extend([na(), na(), na(), na(), na(), "n/a (no GPU)".into()]),
        }
        println!("| {} |", row.join(" | "));
    }

    // ---------------- int8 GEMM ----------------
    println!();
    println!("## GEMM int8 → int32 (M = N = K)");
    println!();
    println!("| size | CPU ms | CPU TOPS | GPU ms | GPU TOPS | cuBLAS GemmEx ms | cuBLAS TOPS | GPU / cuBLAS speed | hash match |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for &s in &args.sizes {
        let (a, b) = gemm::random_i8(s as u32, s as u32, s as u32, 2);
        let ops = 2.0 * (s as f64).powi(3);
        let (t_cpu, c_cpu) = time_best(reps, || cpu::gemm_i8(s, s, s, &a, &b));
        let h_cpu = result_hash(
            KernelId::GemmI8,
            1,
            &tessera_compute::format::i32s_to_le(&c_cpu),
        );
        let mut row = vec![
            s.to_string(),
            ms(t_cpu),
            format!("{:.3}", ops / t_cpu / 1e12),
        ];
        match dev {
            Some(d) => {
                let iters = ((5e11 / ops) as usize).clamp(3, 50);
                match d.gemm_i8_timed(s, s, s, &a, &b, &limits, iters) {
                    Ok((c_gpu, t_gpu)) => {
                        let h_gpu = result_hash(
                            KernelId::GemmI8,
                            1,
                            &tessera_compute::format::i32s_to_le(&c_gpu),
                        );
                        row.push(ms(t_gpu));
                        row.push(format!("{:.1}", ops / t_gpu / 1e12));
                        match d.cublas_gemm_i8_timed(s, s, s, &a, &b, iters) {
                            Ok((c_b, t_b)) => {
                                if c_b != c_cpu {
                                    eprintln!("note: cuBLAS int8 result differs from the reference at {s}");
                                }
                                row.push(ms(t_b));
                                row.push(format!("{:.1}", ops / t_b / 1e12));
                                row.push(format!("{:.0}%", 100.0 * t_b / t_gpu));
                            }
                            Err(e) => {
                                eprintln!("cuBLAS GemmEx int8: {e}");
                                row.extend([na(), na(), na()]);
                            }
                        }
                        row.push(if h_gpu == h_cpu { "yes" } else { "NO" }.into());
                    }
                    Err(e) => {
                        eprintln!("GPU int8 GEMM {s}: {e}");
                        row.extend([na(), na(), na(), na(), na(), "error".into()]);
                    }
                }
            }
            None => row.extend([na(), na(), na(), na(), na(), "n/a (no GPU)".into()]),
        }
        println!("| {} |", row.join(" | "));
    }

    // ---------------- render ----------------
    println!();
    println!("## Render (path tracer; rays = traced segments)");
    println!();
    println!(
        "| scene | size × spp | rays | CPU ms | CPU Mrays/s | GPU ms | GPU Mrays/s | hash match |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for &(w, h, spp) in &args.render {
        for (name, json) in [
            ("cornell", render::CORNELL_JSON),
            ("spheres", render::SPHERES_JSON),
        ] {
            let text = render::with_resolution(json, w, h, spp).expect("scene");
            let scene = SceneFile::from_json(text.as_bytes())
                .and_then(|s| s.validate_and_compile())
                .expect("shipped scene");
            let (t_cpu, (rgba, rays)) = time_best(reps.min(2), || render::cpu::render(&scene));
            let h_cpu = result_hash(KernelId::Render, 1, &rgba);
            let mut row = vec![
                name.to_string(),
                format!("{w}x{h} × {spp}"),
                rays.to_string(),
                ms(t_cpu),
                format!("{:.2}", rays as f64 / t_cpu / 1e6),
            ];
            match dev {
                Some(d) => match time_best(reps, || d.render(&scene)) {
                    (t, Ok(out)) => {
                        row.push(ms(t));
                        row.push(format!("{:.0}", out.rays as f64 / t / 1e6));
                        let h_gpu = result_hash(KernelId::Render, 1, &out.rgba);
                        row.push(if h_gpu == h_cpu { "yes" } else { "NO" }.into());
                    }
                    (_, Err(e)) => {
                        eprintln!("GPU render: {e}");
                        row.extend([na(), na(), "error".into()]);
                    }
                },
                None => row.extend([na(), na(), "n/a (no GPU)".into()]),
            }
            println!("| {} |", row.join(" | "));
        }
        // render spec 2: the Cornell box as a mesh (BVH, next-event estimation, MIS)
        let mesh = render::mesh_scenes::cornell(w, h, spp);
        let blob = render::mesh_blob::encode(&mesh, render::mesh_blob::Tile::full(w, h))
            .expect("mesh scene");
        let m = render::mesh_blob::parse(&blob[8..], u64::MAX).expect("mesh scene");
        let (t_cpu, (rgb, rays)) = time_best(reps.min(2), || render::mesh_cpu::render(&m));
        let cpu_bytes: Vec<u8> = rgb.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut row = vec![
            "cornell mesh (spec 2)".to_string(),
            format!("{w}x{h} × {spp}"),
            rays.to_string(),
            ms(t_cpu),
            format!("{:.2}", rays as f64 / t_cpu / 1e6),
        ];
        match dev {
            Some(d) => match time_best(reps, || d.render_mesh(&m)) {
                (t, Ok(out)) => {
                    row.push(ms(t));
                    row.push(format!("{:.0}", out.rays as f64 / t / 1e6));
                    row.push(if out.bytes == cpu_bytes { "yes" } else { "NO" }.into());
                }
                (_, Err(e)) => {
                    eprintln!("GPU mesh render: {e}");
                    row.extend([na(), na(), "error".into()]);
                }
            },
            None => row.extend([na(), na(), "n/a (no GPU)".into()]),
        }
        println!("| {} |", row.join(" | "));
    }

    // ---------------- inference ----------------
    let model = inference::builtin_model();
    println!();
    println!(
        "## Inference (built-in int8 MLP {}; {} MACs per row)",
        std::iter::once(model.input_dim)
            .chain(model.layers.iter().map(|l| l.out_dim))
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("→"),
        model.macs_per_row()
    );
    println!();
    println!("| batch | CPU ms | CPU Mrows/s | CPU GOPS | GPU ms | GPU Mrows/s | GPU GOPS | hash match |");
    println!("|---|---|---|---|---|---|---|---|");
    for &batch in &args.batches {
        let (x, _) = inference::spiral_batch(batch, 9);
        let rows = x.len() / 2;
        let ops = 2.0 * rows as f64 * model.macs_per_row() as f64;
        let (t_cpu, l_cpu) = time_best(reps, || inference::cpu::forward(model, rows, &x));
        let h_cpu = to_hex(&result_hash(
            KernelId::Inference,
            1,
            &inference::encode_output(&l_cpu, model.output_dim() as usize),
        ));
        let mut row = vec![
            rows.to_string(),
            ms(t_cpu),
            format!("{:.2}", rows as f64 / t_cpu / 1e6),
            format!("{:.1}", ops / t_cpu / 1e9),
        ];
        match dev {
            Some(d) => match time_best(reps, || d.mlp_forward(model, rows, &x, &limits)) {
                (t, Ok(l)) => {
                    row.push(ms(t));
                    row.push(format!("{:.2}", rows as f64 / t / 1e6));
                    row.push(format!("{:.1}", ops / t / 1e9));
                    let h_gpu = to_hex(&result_hash(
                        KernelId::Inference,
                        1,
                        &inference::encode_output(&l, model.output_dim() as usize),
                    ));
                    row.push(if h_gpu == h_cpu { "yes" } else { "NO" }.into());
                }
                (_, Err(e)) => {
                    eprintln!("GPU inference: {e}");
                    row.extend([na(), na(), na(), "error".into()]);
                }
            },
            None => row.extend([na(), na(), na(), "n/a (no GPU)".into()]),
        }
        println!("| {} |", row.join(" | "));
    }
    // ---------------- embed ----------------
    if !args.embed.is_empty() {
        let m = random_embed_model(&MINILM, 11);
        println!();
        println!(
            "## Embed (random MiniLM-shaped encoder: hidden {}, {} layers, {} heads, intermediate {}, vocabulary {})",
            MINILM.hidden, MINILM.layers, MINILM.heads, MINILM.inter, MINILM.vocab
        );
        println!();
        println!("| batch × tokens | CPU ms | CPU sentences/s | GPU ms | GPU sentences/s | GPU resident ms | resident sentences/s | GEMM share | GEMM ms | cuBLAS SGEMM ms (same shapes) | GEMM / cuBLAS speed | hash match |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
        for &(batch, tokens) in &args.embed {
            let seqs = random_token_seqs(MINILM.vocab, &vec![tokens; batch], 12);
            let hash = |v: &[f32]| {
                result_hash(
                    KernelId::Embed,
                    KernelId::Embed.spec_version(),
                    &tessera_compute::format::f32s_to_le(v),
                )
            };
            let (t_cpu, e_cpu) = time_best(reps.min(2), || embed::cpu::embed_batch(&m, &seqs));
            let mut row = vec![
                format!("{batch} × {tokens}"),
                ms(t_cpu),
                format!("{:.1}", batch as f64 / t_cpu),
            ];
            match dev {
                Some(d) => match time_best(reps, || d.embed_forward(&m, &seqs, &limits)) {
                    (t, Ok(e_gpu)) => {
                        row.push(ms(t));
                        row.push(format!("{:.0}", batch as f64 / t));
                        match d.embed_forward_timed(&m, &seqs, &limits, 10) {
                            Ok((_, times)) => {
                                row.push(ms(times.forward_s));
                                row.push(format!("{:.0}", batch as f64 / times.forward_s));
                                row.push(format!("{:.0}%", 100.0 * times.gemm_s / times.forward_s));
                                row.push(ms(times.gemm_s));
                                let mut t_blas = Some(0.0);
                                for (gm, gn, gk) in embed_gemm_shapes(&m.config, batch * tokens) {
                                    let (a, b) =
                                        gemm::random_f32(gm as u32, gn as u32, gk as u32, 3);
                                    match d.cublas_sgemm_timed(gm, gn, gk, &a, &b, 10) {
                                        Ok((_, t)) => {
                                            t_blas = t_blas.map(|s| s + t * MINILM.layers as f64)
                                        }
                                        Err(e) => {
                                            eprintln!("cuBLAS SGEMM: {e}");
                                            t_blas = None;
                                        }
                                    }
                                }
                                match t_blas {
                                    Some(tb) => {
                                        row.push(ms(tb));
                                        row.push(format!("{:.0}%", 100.0 * tb / times.gemm_s));
                                    }
                                    None => row.extend([na(), na()]),
                                }
                            }
                            Err(e) => {
                                eprintln!("GPU embed (timed): {e}");
                                row.extend([na(), na(), na(), na(), na(), na()]);
                            }
                        }
                        row.push(
                            if hash(&e_gpu) == hash(&e_cpu) {
                                "yes"
                            } else {
                                "NO"
                            }
                            .into(),
                        );
                    }
                    (_, Err(e)) => {
                        eprintln!("GPU embed: {e}");
                        row.extend([
                            na(),
                            na(),
                            na(),
                            na(),
                            na(),
                            na(),
                            na(),
                            na(),
                            "error".into(),
                        ]);
                    }
                },
                None => row.extend([
                    na(),
                    na(),
                    na(),
                    na(),
                    na(),
                    na(),
                    na(),
                    na(),
                    "n/a (no GPU)".into(),
                ]),
            }
            println!("| {} |", row.join(" | "));
        }
        println!();
        println!("Embed: GPU ms is a whole `embed_forward` call (weights and tokens uploaded, embeddings downloaded); resident ms is one forward pass with everything on the device (mean of 10), GEMM ms its `tessera_gemm_f32` launches alone, cuBLAS the same GEMM shapes × layers.");
    }

    if !args.train.is_empty() {
        bench_train(&args.train, dev, &limits, reps.min(2));
    }
    if !args.quick {
        bench_generate(dev, &limits);
    }

    println!();
    println!("GPU times exclude host↔device copies for GEMM (inputs resident, mean of repeated launches); render and inference GPU times include uploads and downloads. CPU times are the best of {reps} runs after a warm-up.");
}

/// Optimizer steps of a MiniLM-shaped encoder on the CPU's fast path and on the device: time
/// per step, steps/s, and whether the two give the same bits (losses, weights, moments).
fn bench_train(cases: &[(usize, usize)], dev: Option<&CudaDevice>, limits: &Limits, reps: usize) {
    use tessera_compute::cuda::launch::DeviceLaunch;
    use tessera_compute::train::{device_fallbacks, fresh_state, params, train_step, Hyper, Path};
    let base = random_embed_model(&MINILM, 11);
    let h = Hyper {
        lr: 1e-4,
        warmup: 1,
        ..Hyper::defaults(10)
    };
    let bits = |m: &embed::model::EmbedModel| -> Vec<u32> {
        params::tensors(m)
            .iter()
            .flat_map(|t| t.iter().map(|v| v.to_bits()))
            .collect()
    };
    // Two steps from the same start; the time of the second (the first warms up).
    let run = |path: Path<'_>, seqs: &[Vec<u32>]| {
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let (mut m, mut st) = (base.clone(), fresh_state(&base));
        let l1 = train_step(path, &mut m, &mut st, &h, 1, &refs);
        let t = Instant::now();
        let l2 = train_step(path, &mut m, &mut st, &h, 2, &refs);
        let secs = t.elapsed().as_secs_f64();
        (
            secs,
            [l1.to_bits(), l2.to_bits()],
            bits(&m),
            bits(&st.m),
            bits(&st.v),
        )
    };
    println!();
    println!(
        "## Train (random MiniLM-shaped encoder, MultipleNegativesRankingLoss + AdamW, one optimizer step)"
    );
    println!();
    println!("| pairs × tokens | CPU s/step | CPU steps/s | GPU s/step | GPU steps/s | GPU / CPU speed | passes fallen back to the CPU | bits match |");
    println!("|---|---|---|---|---|---|---|---|");
    for &(pairs, tokens) in cases {
        let seqs = random_token_seqs(MINILM.vocab, &vec![tokens; 2 * pairs], 21);
        let mut cpu_s = f64::INFINITY;
        let mut cpu = None;
        for _ in 0..reps.max(1) {
            let r = run(Path::Fast, &seqs);
            cpu_s = cpu_s.min(r.0);
            cpu = Some(r);
        }
        let cpu = cpu.expect("one run");
        let mut row = vec![
            format!("{pairs} × {tokens}"),
            format!("{cpu_s:.3}"),
            format!("{:.2}", 1.0 / cpu_s),
        ];
        match dev {
            Some(d) => {
                let l = DeviceLaunch { dev: d, limits };
                let before = device_fallbacks();
                let g = run(Path::Device(&l), &seqs);
                let fell = device_fallbacks() - before;
                let same = g.1 == cpu.1 && g.2 == cpu.2 && g.3 == cpu.3 && g.4 == cpu.4;
                row.push(format!("{:.3}", g.0));
                row.push(format!("{:.2}", 1.0 / g.0));
                row.push(format!("{:.2}×", cpu_s / g.0));
                row.push(fell.to_string());
                row.push(if same { "yes" } else { "NO" }.into());
            }
            None => row.extend([na(), na(), na(), na(), "n/a (no GPU)".into()]),
        }
        println!("| {} |", row.join(" | "));
    }
    println!();
    println!("Train: one optimizer step (forward, loss, backward, AdamW) after a warm-up step; the GPU row runs every pass on the device through host buffers (uploaded and downloaded per launch), the pooling and the loss on the CPU. A pass the device fails runs on the CPU instead (counted in the fallback column: the GPU time is the device's only where it is 0).");
}

/// SmolLM2-135M's shape (random bf16 weights): a 128-token prompt prefilled, then 16 tokens
/// decoded greedily, on the CPU's fast path and on the device; tokens/s and whether the
/// logits are the same bits.
fn bench_generate(dev: Option<&CudaDevice>, limits: &Limits) {
    use tessera_compute::cuda::launch::DeviceLaunch;
    use tessera_compute::device::device_fallbacks;
    use tessera_compute::generate::forward::{forward, KvCache, Logits, Path};
    use tessera_compute::generate::{sample::argmax, DecoderModel};
    use tessera_compute::testcases::decoder::{random_decoder_blob, DecoderShape, Dtype};
    let s = DecoderShape::SMOLLM2_135M;
    let m = DecoderModel::parse(&random_decoder_blob(&s, 1, Dtype::BF16)).expect("model");
    let prompt = random_token_seqs(s.vocab, &[128], 4).remove(0);
    let run = |path: Path<'_>| {
        let mut c = vec![KvCache::new(s.layers)];
        let t = Instant::now();
        let mut l = forward(path, &m, &mut c, &[(0, &prompt)], Logits::Last).remove(0);
        let pre = t.elapsed().as_secs_f64();
        let mut all = l.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
        let t = Instant::now();
        for _ in 0..16 {
            let tok = argmax(&l).unwrap_or(0);
            l = forward(path, &m, &mut c, &[(0, &[tok])], Logits::Last).remove(0);
            all.extend(l.iter().map(|v| v.to_bits()));
        }
        (pre, t.elapsed().as_secs_f64(), all)
    };
    println!();
    println!(
        "## Generate (random SmolLM2-135M-shaped decoder: 128-token prompt, then 16 greedy tokens)"
    );
    println!();
    println!("| path | prefill tok/s | decode tok/s | passes fallen back to the CPU | logits bits match |");
    println!("|---|---|---|---|---|");
    let (cp, cd, cbits) = run(Path::Fast);
    println!(
        "| CPU (fast) | {:.0} | {:.1} | n/a | reference |",
        128.0 / cp,
        16.0 / cd
    );
    match dev {
        Some(d) => {
            let l = DeviceLaunch { dev: d, limits };
            let before = device_fallbacks();
            let (gp, gd, gbits) = run(Path::Device(&l));
            println!(
                "| GPU | {:.0} | {:.1} | {} | {} |",
                128.0 / gp,
                16.0 / gd,
                device_fallbacks() - before,
                if gbits == cbits { "yes" } else { "NO" }
            );
        }
        None => println!("| GPU | n/a | n/a | n/a | n/a (no GPU) |"),
    }
    println!();
    println!("Generate: every launch moves its buffers between host and device (the weights too), so the GPU row is the correctness path's speed, not a resident decoder's.");
}
