//! Offline checks of the CUDA sources, for machines without a GPU.
//!
//! NVRTC (only `libnvrtc`, no driver or device) compiles the kernel source for every GPU
//! architecture Tessera supports, with the same determinism options a device uses, and the
//! PTX is audited for instructions that would break bit-identical results: approximate math,
//! flush-to-zero, float atomics, non-integer tensor-core MMA, and float add/sub/mul without an
//! explicit rounding mode (which `ptxas` may contract into an FMA). When `ptxas` is found
//! (`TESSERA_PTXAS`, or on `PATH`) every PTX is also assembled to SASS for its `sm_XY` and the
//! per-kernel registers and spills are printed.
//!
//! Without libnvrtc each test prints `SKIPPED: ...` to stderr and returns (never passes
//! silently). `scripts/setup.sh` installs NVRTC and ptxas from PyPI so `scripts/test.sh` runs
//! these checks everywhere; `scripts/env.sh` points `TESSERA_NVRTC_DIR` at that NVRTC, one of
//! the folders `cuda::libs` searches when the machine has no NVRTC of its own.

use std::io::Write;
use std::path::PathBuf;

use std::process::Command;

use tessera_compute::cuda;

/// Architectures (compute capability `XY`) the worker supports: Pascal dp4a (6.1) up to Hopper.
const ARCHS: [u32; 7] = [61, 70, 75, 80, 86, 89, 90];

/// The kernels the device module loads by field (see `cuda::Funcs`); `train.cu`'s and
/// `generate.cu`'s are loaded by name from `cuda::TRAIN_KERNELS` and `GENERATE_KERNELS`.
const NAMED: [&str; 15] = [
    "tessera_gemm_f32",
    "tessera_pad_i8",
    "tessera_transpose_pad_i8",
    "tessera_gemm_i8_dp4a",
    "tessera_gemm_i8_mma",
    "tessera_requant_i8",
    "tessera_bias_i32",
    "tessera_render",
    "tessera_render_mesh",
    "tessera_embed_tokens",
    "tessera_embed_add_ln",
    "tessera_embed_bias",
    "tessera_embed_bias_gelu",
    "tessera_embed_attention",
    "tessera_embed_pool",
];

/// Every kernel the device module loads.
fn entries() -> impl Iterator<Item = &'static str> {
    NAMED
        .into_iter()
        .chain(cuda::TRAIN_KERNELS)
        .chain(cuda::GENERATE_KERNELS)
}

fn skip(why: &str) {
    // Straight to the process's stderr: `eprintln!` is captured by the test harness.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

/// The architectures of [`ARCHS`] this NVRTC accepts, or `None` (with a visible skip) when
/// there is no NVRTC.
fn archs() -> Option<Vec<u32>> {
    if !cuda::nvrtc_present() {
        skip(
            "NVRTC check: libnvrtc not found (run scripts/setup.sh and source scripts/env.sh, \
             or put a CUDA toolkit's lib64 on LD_LIBRARY_PATH)",
        );
        return None;
    }
    let supported = cuda::nvrtc_supported_archs().expect("NVRTC lists its architectures");
    let (major, minor) = cuda::nvrtc_version().expect("NVRTC version");
    let use_: Vec<u32> = ARCHS
        .iter()
        .copied()
        .filter(|a| supported.contains(a))
        .collect();
    let _ = writeln!(
        std::io::stderr(),
        "NVRTC {major}.{minor}: checking compute_{use_:?} (NVRTC supports {supported:?})"
    );
    assert!(
        use_.contains(&80) && use_.contains(&90),
        "NVRTC {major}.{minor} cannot build for sm_80 and sm_90: {supported:?}"
    );
    Some(use_)
}

/// One finding of the audit: the offending line and the rule it breaks.
#[derive(Debug)]
struct Finding {
    line: usize,
    text: String,
    rule: &'static str,
}

/// Float type suffixes of PTX.
const FLOAT_TYPES: [&str; 5] = [".f16", ".bf16", ".f32", ".f64", ".tf32"];

fn has_float_type(op: &str) -> bool {
    FLOAT_TYPES.iter().any(|t| op.contains(t))
}

/// Lists every instruction of `ptx` that could make a result depend on the GPU or the
/// toolkit.
fn audit(ptx: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, raw) in ptx.lines().enumerate() {
        let line = raw.split("//").next().unwrap_or("").trim();
        if line.is_empty()
            || line.starts_with('.')
            || line.ends_with(':')
            || line == "{"
            || line == "}"
        {
            continue;
        }
        let mut words = line.split_whitespace();
        let mut op = words.next().unwrap_or("");
        if op.starts_with('@') {
            op = words.next().unwrap_or("");
        }
        let base = op.split('.').next().unwrap_or("");
        let mut flag = |rule: &'static str| {
            out.push(Finding {
                line: i + 1,
                text: line.to_string(),
                rule,
            })
        };
        if op.contains(".approx") {
            flag("approximate math (.approx)");
        }
        if op.contains(".ftz") {
            flag("flush-to-zero (.ftz)");
        }
        match base {
            "atom" | "red" if has_float_type(op) => flag("float atomic (order-dependent rounding)"),
            "atom" | "red" => flag("atomic (the kernels are specified without atomics)"),
            "div" if has_float_type(op) && !op.contains(".rn") => {
                flag("float division not correctly rounded (needs div.rn)")
            }
            "sqrt" | "rcp" if !op.contains(".rn") => {
                flag("sqrt/rcp not correctly rounded (needs .rn)")
            }
            "rsqrt" | "sin" | "cos" | "ex2" | "lg2" | "tanh" => {
                flag("transcendental hardware approximation")
            }
            "add" | "sub" | "mul" | "mad" | "fma"
                if has_float_type(op)
                    && ![".rn", ".rz", ".rm", ".rp"].iter().any(|r| op.contains(r)) =>
            {
                flag("float op without an explicit rounding mode (ptxas may fuse it)")
            }
            "mma" | "wmma"
                if !(op.contains(".s8") && op.contains(".s32")) || has_float_type(op) =>
            {
                flag("tensor-core MMA that is not s8 x s8 -> s32")
            }
            _ => {}
        }
    }
    out
}

fn report(arch: u32, findings: &[Finding]) -> String {
    let mut s = format!("compute_{arch}: {} finding(s)\n", findings.len());
    for f in findings.iter().take(20) {
        s.push_str(&format!("  line {}: {} -- {}\n", f.line, f.text, f.rule));
    }
    s
}

#[test]
fn kernels_compile_for_every_architecture_without_nondeterministic_instructions() {
    let Some(archs) = archs() else { return };
    for arch in archs {
        let ptx = cuda::compile_ptx(&format!("compute_{arch}"))
            .unwrap_or_else(|e| panic!("kernel source does not compile for compute_{arch}: {e}"));
        for entry in entries() {
            assert!(
                ptx.contains(&format!(".entry {entry}(")),
                "compute_{arch}: kernel {entry} missing from the PTX"
            );
        }
        let findings = audit(&ptx);
        assert!(findings.is_empty(), "{}", report(arch, &findings));
        // The f32 GEMM and the path tracer use fused multiply-adds only where the spec (and
        // the CPU reference's `mul_add`) says so; with `--fmad=false` all others stay apart.
        assert!(
            ptx.contains("fma.rn.f32"),
            "compute_{arch}: no explicit FMA left"
        );
        assert!(ptx.contains("mul.rn.f32") && ptx.contains("add.rn.f32"));
        // The int8 paths: dp4a everywhere, the integer tensor-core MMA from sm_80 on.
        assert!(ptx.contains("dp4a.s32.s32"), "compute_{arch}: dp4a missing");
        let has_mma = ptx.contains("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32");
        assert_eq!(
            has_mma,
            arch >= 80,
            "compute_{arch}: mma.sync present = {has_mma}"
        );
    }
}

/// The audit must catch what it is there for: the same kind of code built with fast math and
/// FMA contraction is flagged.
#[test]
fn audit_flags_fast_math_and_contraction() {
    if archs().is_none() {
        return;
    }
    let src = r#"
extern "C" __global__ void bad(float* x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float v = x[i];
        x[i] = sinf(v) + v * v + 1.0f / v + sqrtf(v);
        atomicAdd(&x[0], v);
    }
}
"#;
    // `CompileOptions::use_fast_math` only adds `--fmad=true` in cudarc 0.19, so the NVRTC
    // flag itself is passed.
    let opts = cudarc::nvrtc::CompileOptions {
        options: vec![
            "--gpu-architecture=compute_80".into(),
            "--use_fast_math".into(),
        ],
        ..Default::default()
    };
    let ptx = cudarc::nvrtc::compile_ptx_with_opts(src, opts)
        .expect("compile the bad kernel")
        .to_src();
    let findings = audit(&ptx);
    let rules: Vec<&str> = findings.iter().map(|f| f.rule).collect();
    for want in [
        "approximate math (.approx)",
        "flush-to-zero (.ftz)",
        "float atomic (order-dependent rounding)",
    ] {
        assert!(
            rules.contains(&want),
            "audit missed {want:?}: {rules:?}\n{ptx}"
        );
    }

    // Contraction: without `--fmad=false` and without explicit rounding, ptxas may fuse.
    let src = r#"extern "C" __global__ void k(float* x) { x[0] = x[1] * x[2] + x[3]; }"#;
    let ptx = "ld.global.f32 %f1, [%rd1];\n\tmul.f32 %f3, %f1, %f2;\n\tadd.f32 %f4, %f3, %f1;\n";
    let rules: Vec<&str> = audit(ptx).iter().map(|f| f.rule).collect();
    assert_eq!(rules.len(), 2, "{rules:?}");
    let build = |fmad: bool| {
        let opts = cudarc::nvrtc::CompileOptions {
            fmad: Some(fmad),
            options: vec!["--gpu-architecture=compute_80".into()],
            ..Default::default()
        };
        cudarc::nvrtc::compile_ptx_with_opts(src, opts)
            .expect("compile")
            .to_src()
    };
    let fused = build(true);
    assert!(
        fused.contains("fma.rn.f32"),
        "with --fmad=true NVRTC contracts a*b+c (the reason for --fmad=false):\n{fused}"
    );
    let exact = build(false);
    assert!(!exact.contains("fma"), "--fmad=false still fused:\n{exact}");
    assert!(audit(&exact).is_empty(), "{:?}", audit(&exact));
}

fn ptxas() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TESSERA_PTXAS").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("ptxas"))
        .find(|p| p.is_file())
}

/// Per-kernel resource use from `ptxas -v`.
#[derive(Debug, Default)]
struct Usage {
    registers: u32,
    spill_stores: u32,
    spill_loads: u32,
    smem: u32,
}

fn parse_ptxas(stderr: &str) -> Vec<(String, Usage)> {
    let mut out: Vec<(String, Usage)> = Vec::new();
    let num_before = |s: &str, what: &str| -> Option<u32> {
        let end = s.find(what)?;
        s[..end].split_whitespace().last()?.parse().ok()
    };
    for line in stderr.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            let name = rest.split('\'').next().unwrap_or("").to_string();
            out.push((name, Usage::default()));
        } else if let Some((_, u)) = out.last_mut() {
            if let Some(n) = num_before(line, "bytes spill stores") {
                u.spill_stores = n;
                u.spill_loads = num_before(line, "bytes spill loads").unwrap_or(0);
            }
            if let Some(n) = num_before(line, "registers") {
                u.registers = n;
            }
            if let Some(n) = num_before(line, "bytes smem") {
                u.smem = n;
            }
        }
    }
    out
}

#[test]
fn ptxas_assembles_every_kernel_for_its_architecture() {
    let Some(archs) = archs() else { return };
    let Some(ptxas) = ptxas() else {
        skip("ptxas check: ptxas not found (TESSERA_PTXAS or PATH)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("tessera-ptxas-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut table = String::from("arch   kernel                     regs  smem B  spill st/ld B\n");
    for arch in archs {
        let ptx = cuda::compile_ptx(&format!("compute_{arch}")).unwrap();
        let file = dir.join(format!("k{arch}.ptx"));
        std::fs::write(&file, ptx).unwrap();
        let out = Command::new(&ptxas)
            .arg(format!("-arch=sm_{arch}"))
            .args(["-v", "-O3", "-o"])
            .arg(dir.join(format!("k{arch}.cubin")))
            .arg(&file)
            .output()
            .expect("run ptxas");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "ptxas sm_{arch} failed:\n{stderr}");
        let usage = parse_ptxas(&stderr);
        for entry in entries() {
            let (_, u) = usage
                .iter()
                .find(|(n, _)| n == entry)
                .unwrap_or_else(|| panic!("sm_{arch}: ptxas did not report {entry}:\n{stderr}"));
            table.push_str(&format!(
                "sm_{arch:<3} {entry:<26} {:>4}  {:>6}  {}/{}\n",
                u.registers, u.smem, u.spill_stores, u.spill_loads
            ));
            // 256-thread blocks: at most 255 registers per thread and within the 48 KiB
            // static shared memory every architecture gives.
            assert!(
                u.registers <= 255 && u.smem <= 48 * 1024,
                "sm_{arch} {entry}: {u:?}"
            );
            // The GEMM inner loops must not spill (spills would cost, not change, results).
            if entry.starts_with("tessera_gemm") {
                assert_eq!(u.spill_stores, 0, "sm_{arch} {entry} spills: {u:?}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = writeln!(std::io::stderr(), "{table}");
}
