mod common;

use common::{assert_golden, run_cpu};
use proptest::prelude::*;
use tessera_compute::gemm::cpu::gemm_i8_naive;
use tessera_compute::inference::model::{
    builtin_model, quantize_points, requantize, spiral_dataset, QuantLayer, QuantModel, TEST_SEED,
};
use tessera_compute::inference::{self, cpu, decode_predictions};
use tessera_compute::rng::SplitMix64;
use tessera_compute::{run, Backend, ComputeError};

/// Accuracy the shipped model must reach on its held-out synthetic test set.
const ACCURACY_THRESHOLD: f64 = 0.95;

#[test]
fn builtin_model_is_accurate_on_its_test_set() {
    let (pts, labels) = spiral_dataset(400, TEST_SEED);
    let x = quantize_points(&pts);
    let blob = inference::encode_input(builtin_model(), &x).unwrap();
    let out = run_cpu(&blob);
    let preds = decode_predictions(&out.bytes, labels.len()).unwrap();
    let correct = preds
        .iter()
        .zip(&labels)
        .filter(|(p, l)| **p == **l as u32)
        .count();
    let acc = correct as f64 / labels.len() as f64;
    eprintln!(
        "built-in int8 MLP accuracy on {} test points: {:.4}",
        labels.len(),
        acc
    );
    assert!(
        acc >= ACCURACY_THRESHOLD,
        "accuracy {acc} < {ACCURACY_THRESHOLD}"
    );
}

#[test]
fn builtin_model_training_is_deterministic() {
    let bytes = builtin_model().to_bytes();
    let h = blake3::hash(&bytes).to_hex().to_string();
    if h != GOLDEN_MODEL {
        eprintln!("GOLDEN MISMATCH built-in model: got {h}");
    }
    assert_eq!(h, GOLDEN_MODEL);
    assert_eq!(QuantModel::parse(&bytes).unwrap(), *builtin_model());
}

const GOLDEN_MODEL: &str = "7cf4d1f0fea014ea050299369cfb124eae21526043b3820b73cd635c9e986e65";

#[test]
fn golden_hash() {
    let out = run_cpu(&inference::build_builtin_input(96, 42).unwrap());
    assert_eq!(out.bytes.len(), 96 * 3 * 4 + 96 * 4);
    assert_golden("inference builtin batch 96 seed 42", &out, GOLDEN_INFERENCE);
}

const GOLDEN_INFERENCE: &str = "4eebee4a6e9d2801339a4d9cca59642cc99516ee5ce52d7b4934d00562bc4113";

/// Straightforward reference: naive GEMM and scalar epilogue.
fn reference_forward(model: &QuantModel, batch: usize, x: &[i8]) -> Vec<i32> {
    let mut act = x.to_vec();
    for (li, l) in model.layers.iter().enumerate() {
        let (din, dout) = (l.in_dim as usize, l.out_dim as usize);
        let acc = gemm_i8_naive(batch, dout, din, &act, &l.weights);
        if li + 1 == model.layers.len() {
            return acc
                .iter()
                .enumerate()
                .map(|(i, v)| v.wrapping_add(l.bias[i % dout]))
                .collect();
        }
        act = acc
            .iter()
            .enumerate()
            .map(|(i, &v)| requantize(v, l.bias[i % dout], l.multiplier, l.shift, l.relu))
            .collect();
    }
    unreachable!()
}

fn random_model(seed: u64, dims: &[u32]) -> QuantModel {
    let mut r = SplitMix64::new(seed);
    let layers = dims
        .windows(2)
        .enumerate()
        .map(|(i, w)| QuantLayer {
            in_dim: w[0],
            out_dim: w[1],
            weights: (0..w[0] * w[1]).map(|_| r.next_i8()).collect(),
            bias: (0..w[1])
                .map(|_| (r.next_u32() % 20001) as i32 - 10000)
                .collect(),
            multiplier: (r.next_u32() >> 1) as i32,
            shift: (r.next_u32() % 41) as u8,
            relu: i % 2 == 0,
        })
        .collect();
    QuantModel {
        input_dim: dims[0],
        layers,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn forward_matches_reference(seed in any::<u64>(), batch in 0usize..20,
                                 d0 in 1u32..40, d1 in 1u32..40, d2 in 1u32..12) {
        let model = random_model(seed, &[d0, d1, d2]);
        let mut r = SplitMix64::new(seed ^ 1);
        let x: Vec<i8> = (0..batch * d0 as usize).map(|_| r.next_i8()).collect();
        prop_assert_eq!(cpu::forward(&model, batch, &x), reference_forward(&model, batch, &x));
        // And through the blob format.
        let blob = inference::encode_input(&model, &x).unwrap();
        let out = run(&blob, &Backend::cpu()).unwrap();
        prop_assert_eq!(out.bytes, inference::encode_output(&reference_forward(&model, batch, &x), d2 as usize));
    }
}

#[test]
fn requantize_rounds_and_clamps() {
    assert_eq!(requantize(10, 0, 1 << 30, 31, false), 5); // 10 * 0.5 = 5
    assert_eq!(requantize(3, 0, 1 << 30, 31, false), 2); // 1.5 rounds half up
    assert_eq!(requantize(-3, 0, 1 << 30, 31, false), -1); // -1.5 rounds half up to -1
    assert_eq!(requantize(1000, 0, 1 << 30, 30, false), 127);
    assert_eq!(requantize(-1000, 0, 1 << 30, 30, false), -128);
    assert_eq!(requantize(-1000, 0, 1 << 30, 30, true), 0);
    assert_eq!(requantize(i32::MAX, 1, 1, 0, false), -128); // wrapping add, then clamp
}

#[test]
fn bad_models_and_batches_are_rejected() {
    let model = builtin_model();
    let x = vec![0i8; 6];
    let good = inference::encode_input(model, &x).unwrap();
    let e = run(&good[..good.len() - 1], &Backend::cpu()).unwrap_err();
    assert!(matches!(e, ComputeError::Truncated { .. }), "{e}");
    // Corrupt the model magic (right after the 12-byte header + length).
    let mut bad = good.clone();
    bad[12] = b'X';
    assert!(matches!(
        run(&bad, &Backend::cpu()).unwrap_err(),
        ComputeError::BadMagic { .. }
    ));
    // A model whose layers do not chain.
    let mut m = random_model(1, &[4, 5, 3]);
    m.layers[1].in_dim = 6;
    m.layers[1].weights = vec![0; 18];
    let blob = inference::encode_input(&m, &[0; 4]).unwrap();
    assert!(matches!(
        run(&blob, &Backend::cpu()).unwrap_err(),
        ComputeError::Model(_)
    ));
    // Shift out of range.
    let mut m = random_model(2, &[4, 3]);
    m.layers[0].shift = 60;
    let blob = inference::encode_input(&m, &[0; 4]).unwrap();
    assert!(matches!(
        run(&blob, &Backend::cpu()).unwrap_err(),
        ComputeError::Model(_)
    ));
    // in_dim field disagreeing with the model.
    let mut bad = good.clone();
    let at = bad.len() - x.len() - 4;
    bad[at..at + 4].copy_from_slice(&3u32.to_le_bytes());
    assert!(matches!(
        run(&bad, &Backend::cpu()).unwrap_err(),
        ComputeError::InvalidInput(_)
    ));
    // Absurd batch: rejected by the limits before any allocation.
    let mut bad = good.clone();
    let at = bad.len() - x.len() - 8;
    bad[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = run(&bad, &Backend::cpu()).unwrap_err();
    assert!(
        matches!(
            e,
            ComputeError::TooLarge(_) | ComputeError::Truncated { .. }
        ),
        "{e}"
    );
    // Empty batch is fine.
    let blob = inference::encode_input(model, &[]).unwrap();
    assert!(run_cpu(&blob).bytes.is_empty());
}
