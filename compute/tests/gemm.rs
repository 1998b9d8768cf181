mod common;

use common::{assert_golden, run_cpu};
use proptest::prelude::*;
use tessera_compute::gemm::{self, cpu, CANONICAL_NAN, MAX_DIM};
use tessera_compute::{run, Backend, ComputeError, KernelId, Limits};

fn bits(v: &[f32]) -> Vec<u32> {
    tessera_compute::testcases::canonical_bits(v)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn f32_blocked_matches_naive(m in 0usize..40, n in 0usize..70, k in 0usize..50, seed in any::<u64>()) {
        let (a, b) = gemm::random_f32(m as u32, n as u32, k as u32, seed);
        let fast = cpu::gemm_f32(m, n, k, &a, &b);
        let naive = cpu::gemm_f32_naive(m, n, k, &a, &b);
        prop_assert_eq!(bits(&fast), bits(&naive));
    }

    #[test]
    fn i8_blocked_matches_naive(m in 0usize..40, n in 0usize..70, k in 0usize..80, seed in any::<u64>()) {
        let (a, b) = gemm::random_i8(m as u32, n as u32, k as u32, seed);
        prop_assert_eq!(cpu::gemm_i8(m, n, k, &a, &b), cpu::gemm_i8_naive(m, n, k, &a, &b));
    }

    #[test]
    fn f32_wide_range_values_match(m in 1usize..9, n in 1usize..20, k in 1usize..40, seed in any::<u64>()) {
        // Values spanning many binades (including subnormal products) exercise rounding.
        let mut r = tessera_compute::rng::SplitMix64::new(seed);
        let mut val = || {
            let x = r.next_u32();
            let exp = 60 + (x % 140); // biased exponents 60..200
            f32::from_bits(((x >> 31) << 31) | (exp << 23) | (r.next_u32() >> 9))
        };
        let a: Vec<f32> = (0..m * k).map(|_| val()).collect();
        let b: Vec<f32> = (0..k * n).map(|_| val()).collect();
        prop_assert_eq!(bits(&cpu::gemm_f32(m, n, k, &a, &b)), bits(&cpu::gemm_f32_naive(m, n, k, &a, &b)));
    }
}

#[test]
fn blocked_kernels_cross_block_boundaries() {
    // k > KC (256 / 512) and n > NC (2048): several K and N blocks, odd remainders.
    let (m, n, k) = (7usize, 2100usize, 601usize);
    let (a, b) = gemm::random_f32(m as u32, n as u32, k as u32, 9);
    assert_eq!(
        bits(&cpu::gemm_f32(m, n, k, &a, &b)),
        bits(&cpu::gemm_f32_naive(m, n, k, &a, &b))
    );
    // the portable kernel at both strip widths (the AVX2 and AVX-512 kernels' layouts), on
    // more rows than one task takes
    let (m2, n2, k2) = (203usize, 70usize, 301usize);
    let (a2, b2) = gemm::random_f32(m2 as u32, n2 as u32, k2 as u32, 11);
    let naive = bits(&cpu::gemm_f32_naive(m2, n2, k2, &a2, &b2));
    assert_eq!(bits(&cpu::gemm_f32(m2, n2, k2, &a2, &b2)), naive);
    assert_eq!(
        bits(&cpu::gemm_f32_portable::<16>(m2, n2, k2, &a2, &b2)),
        naive
    );
    assert_eq!(
        bits(&cpu::gemm_f32_portable::<32>(m2, n2, k2, &a2, &b2)),
        naive
    );
    let (a, b) = gemm::random_i8(m as u32, n as u32, k as u32, 10);
    assert_eq!(
        cpu::gemm_i8(m, n, k, &a, &b),
        cpu::gemm_i8_naive(m, n, k, &a, &b)
    );
}

#[test]
fn f32_special_values_match_naive() {
    let specials = [
        0.0f32,
        -0.0,
        1.0,
        -1.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MIN_POSITIVE,
        1e-45,
        -1e-45,
        3.0e38,
        -3.0e38,
        1e-20,
        -1e-20,
    ];
    let (m, n, k) = (9usize, 17usize, 14usize);
    let a: Vec<f32> = (0..m * k)
        .map(|i| specials[(i * 7) % specials.len()])
        .collect();
    let b: Vec<f32> = (0..k * n)
        .map(|i| specials[(i * 5 + 3) % specials.len()])
        .collect();
    assert_eq!(
        bits(&cpu::gemm_f32(m, n, k, &a, &b)),
        bits(&cpu::gemm_f32_naive(m, n, k, &a, &b))
    );
}

#[test]
fn int8_accumulation_wraps() {
    // k large enough that 127*127*k and (-128)*(-128)*k overflow i32: results wrap mod 2^32.
    let k = 140_000usize;
    let a = vec![-128i8; k];
    let b = vec![-128i8; k];
    let c = cpu::gemm_i8(1, 1, k, &a, &b);
    assert_eq!(c[0], (16384i64 * k as i64) as i32);
    assert_eq!(c, cpu::gemm_i8_naive(1, 1, k, &a, &b));
}

/// Issue 29: a 20-byte int8 GEMM with k = 0 (no multiply-add, any price) was accepted and asked
/// for an m x n result of zeros (514 MiB peak under a 256 MiB limit). A GEMM without work is
/// refused by name, by the parser (what a worker checks before claiming) and by the builders.
#[test]
fn gemms_without_work_are_refused_and_unit_ones_run() {
    for (m, n, k) in [
        (0u32, 5u32, 3u32),
        (5, 0, 3),
        (5, 3, 0),
        (0, 0, 0),
        (8192, 8192, 0),
    ] {
        for kernel in [KernelId::GemmI8, KernelId::GemmF32] {
            let elem = if kernel == KernelId::GemmI8 { 1 } else { 4 };
            let mut input = header(kernel, m, n, k);
            input.resize(input.len() + (m * k + k * n) as usize * elem, 0);
            let e = err(&input);
            assert!(
                matches!(e, ComputeError::InvalidInput(_)),
                "{m}x{n}x{k}: {e}"
            );
        }
        assert!(gemm::build_f32_input(m, n, k, 1).is_err());
        assert!(gemm::build_i8_input(m, n, k, 1).is_err());
    }
    let input = gemm::encode_f32_input(1, 1, 1, &[3.0], &[-0.5]).unwrap();
    assert_eq!(run_cpu(&input).bytes, (-1.5f32).to_le_bytes());
    let input = gemm::encode_i8_input(1, 1, 1, &[-128], &[-128]).unwrap();
    assert_eq!(run_cpu(&input).bytes, 16384i32.to_le_bytes());
}

/// Issue 29: the memory check counted the result once, but a run holds it three times (C, its
/// bytes, the result blob): a result of a third of the limit and more is refused before
/// anything is allocated.
#[test]
fn the_memory_check_counts_the_runs_peak() {
    let limits = Limits {
        max_host_bytes: 1 << 20,
        ..Limits::default()
    };
    // C = 300 x 300 x 4 = 360 000 bytes: under the limit once, over it three times
    let input = gemm::build_i8_input(300, 300, 1, 1).unwrap();
    let e = run(&input, &Backend::cpu().with_limits(limits.clone())).unwrap_err();
    assert!(matches!(e, ComputeError::TooLarge(_)), "{e}");
    let input = gemm::build_i8_input(200, 200, 1, 1).unwrap();
    run(&input, &Backend::cpu().with_limits(limits)).unwrap();
}

#[test]
fn nan_outputs_are_canonical() {
    let nan = f32::from_bits(0xFFC0_1234);
    let input = gemm::encode_f32_input(1, 2, 1, &[nan], &[1.0, 2.0]).unwrap();
    let out = run_cpu(&input);
    assert_eq!(
        out.bytes,
        [CANONICAL_NAN.to_le_bytes(), CANONICAL_NAN.to_le_bytes()].concat()
    );
    let input = gemm::encode_f32_input(1, 1, 1, &[f32::INFINITY], &[0.0]).unwrap();
    assert_eq!(run_cpu(&input).bytes, CANONICAL_NAN.to_le_bytes());
}

#[test]
fn golden_hashes() {
    let out = run_cpu(&gemm::build_i8_input(33, 47, 65, 1).unwrap());
    assert_golden("gemm-i8 33x47x65 seed 1", &out, GOLDEN_I8);
    let out = run_cpu(&gemm::build_f32_input(33, 47, 65, 2).unwrap());
    assert_golden("gemm-f32 33x47x65 seed 2", &out, GOLDEN_F32);
    let out = run_cpu(&gemm::build_f32_input(130, 70, 300, 3).unwrap());
    assert_golden("gemm-f32 130x70x300 seed 3", &out, GOLDEN_F32_BIG);
}

const GOLDEN_I8: &str = "ef2fc7c764185292a6b4147c4286471c8e07a2167ade62290ebc80512c15cca4";
const GOLDEN_F32: &str = "e9bc49a3c77a60a4e67bc9d175c73e9efd1e36c1d8c2ffc0b354ac83fa334ea7";
const GOLDEN_F32_BIG: &str = "d110217f5e970438b6409ab86b18fc85fff303465a400d3633229e1c8bb5e5be";

fn err(input: &[u8]) -> ComputeError {
    run(input, &Backend::cpu()).expect_err("must be rejected")
}

#[test]
fn bad_inputs_are_rejected() {
    let good = gemm::build_f32_input(3, 4, 5, 1).unwrap();
    // Truncated everywhere.
    for cut in [0, 3, 7, 8, 12, 19, good.len() - 1] {
        let e = err(&good[..cut]);
        assert!(
            matches!(e, ComputeError::Truncated { .. }),
            "cut {cut}: {e}"
        );
    }
    // Trailing bytes.
    let mut long = good.clone();
    long.push(0);
    assert!(matches!(err(&long), ComputeError::TrailingBytes { .. }));
    // Bad magic, unknown kernel, wrong version.
    let mut bad = good.clone();
    bad[0] = b'X';
    assert!(matches!(err(&bad), ComputeError::BadMagic { .. }));
    let mut bad = good.clone();
    bad[4] = 99;
    assert!(matches!(err(&bad), ComputeError::UnknownKernel(99)));
    let mut bad = good.clone();
    bad[6] = 7;
    assert!(matches!(err(&bad), ComputeError::UnsupportedVersion { .. }));
    // The header says f32 but the caller asked for int8.
    let e = KernelId::GemmI8.run(&good, &Backend::cpu()).unwrap_err();
    assert!(matches!(e, ComputeError::KernelMismatch { .. }));
    // Sizes that do not match the payload.
    let mut bad = good.clone();
    bad[8..12].copy_from_slice(&4u32.to_le_bytes());
    assert!(matches!(err(&bad), ComputeError::Truncated { .. }));
}

fn header(kernel: KernelId, m: u32, n: u32, k: u32) -> Vec<u8> {
    let mut v = b"TSKI".to_vec();
    v.extend_from_slice(&kernel.as_u16().to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    for x in [m, n, k] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

#[test]
fn absurd_dimensions_are_rejected_before_allocation() {
    // Over the per-axis maximum.
    let e = err(&header(KernelId::GemmF32, MAX_DIM + 1, 1, 1));
    assert!(matches!(e, ComputeError::TooLarge(_)), "{e}");
    // Each axis fine, but the job would need terabytes.
    let e = err(&header(KernelId::GemmF32, MAX_DIM, MAX_DIM, MAX_DIM));
    assert!(matches!(e, ComputeError::TooLarge(_)), "{e}");
    let e = err(&header(KernelId::GemmI8, u32::MAX, u32::MAX, u32::MAX));
    assert!(matches!(e, ComputeError::TooLarge(_)), "{e}");
    // Within memory but over a configured work limit.
    let limits = Limits {
        max_macs: 1000,
        ..Limits::default()
    };
    let input = gemm::build_i8_input(20, 20, 20, 1).unwrap();
    let e = run(&input, &Backend::cpu().with_limits(limits)).unwrap_err();
    assert!(matches!(e, ComputeError::TooLarge(_)), "{e}");
    // Input blob over the input limit.
    let limits = Limits {
        max_input_bytes: 100,
        ..Limits::default()
    };
    let e = run(&input, &Backend::cpu().with_limits(limits)).unwrap_err();
    assert!(matches!(e, ComputeError::TooLarge(_)), "{e}");
}
