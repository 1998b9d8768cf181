//! Helpers shared by the integration tests.
#![allow(dead_code)]

use tessera_compute::hash::to_hex;
use tessera_compute::{run, Backend, Output};

/// Runs `input` on the CPU backend.
pub fn run_cpu(input: &[u8]) -> Output {
    run(input, &Backend::cpu()).expect("run on CPU")
}

/// Asserts a golden hash, printing the actual value on mismatch so it can be updated
/// deliberately when a spec version changes.
pub fn assert_golden(name: &str, out: &Output, expected_hex: &str) {
    let got = to_hex(&out.hash());
    if std::env::var_os("TESSERA_GOLDEN_PRINT").is_some() {
        eprintln!("GOLDEN {name}: {got}");
        return;
    }
    if got != expected_hex {
        eprintln!("GOLDEN MISMATCH {name}: got {got}, expected {expected_hex}");
    }
    assert_eq!(got, expected_hex, "golden hash for {name} changed");
}
