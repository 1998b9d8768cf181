#!/usr/bin/env bash
# The GPU checks of the kernels, for a machine with an NVIDIA GPU but no Rust toolchain or
# registry access (such as the project's lent device machines). Two halves:
#
#   scripts/gpu-check.sh build     # here: release builds of the GPU tests and bench-kernels
#                                  # into target/gpu-check/ (carry that folder)
#   scripts/gpu-check.sh run       # there: GPU == CPU tests, then the bench table at 1024-4096
#
# `run` writes full logs under ${OUT:-target/gpu-check/out} and prints the tables last.
# On a machine with Rust and a GPU, `cargo test -p tessera-compute --release --test gpu` and
# `cargo run --release -p tessera-compute --bin bench-kernels -- --sizes 1024,2048,4096` are the
# same checks.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DIR=target/gpu-check
# shellcheck source=lib/cargo-test-binary.sh
source scripts/lib/cargo-test-binary.sh

case "${1:-}" in
build)
  mkdir -p "$DIR"
  cargo build --release --locked -p tessera-compute --bin bench-kernels
  cp target/release/bench-kernels "$DIR/"
  bin=$(cargo_test_binary gpu --release --locked -p tessera-compute --test gpu)
  [[ -n "$bin" ]] && cp "$bin" "$DIR/gpu-tests"
  [[ -x "$DIR/gpu-tests" ]] || { echo "gpu test binary not found" >&2; exit 1; }
  # The scene files the bench reads are compiled in; nothing else is needed at run time.
  du -sh "$DIR"
  ;;
run)
  out=${OUT:-$DIR/out}
  mkdir -p "$out"
  [[ -x "$DIR/gpu-tests" && -x "$DIR/bench-kernels" ]] \
    || { echo "run 'scripts/gpu-check.sh build' first and carry $DIR" >&2; exit 1; }
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv \
    | tee "$out/nvidia-smi.csv" || true
  export TESSERA_PTX_CACHE_DIR="$out/ptx-cache" RUST_LOG=${RUST_LOG:-info}
  # GPU == CPU on every kernel; a skip here means the device was not usable: fail loudly.
  rc=0
  "$DIR/gpu-tests" --test-threads=1 >"$out/gpu-tests.log" 2>&1 || rc=$?
  if grep -q "SKIPPED" "$out/gpu-tests.log"; then
    grep -m3 "SKIPPED" "$out/gpu-tests.log"; echo "GPU tests skipped: no usable device" >&2; rc=1
  fi
  tail -n 25 "$out/gpu-tests.log"
  "$DIR/bench-kernels" --sizes "${SIZES:-1024,2048,4096}" >"$out/bench.md" 2>"$out/bench.err" || rc=$?
  tail -n 5 "$out/bench.err" >&2 || true
  cat "$out/bench.md"
  exit "$rc"
  ;;
*)
  echo "usage: scripts/gpu-check.sh build|run" >&2
  exit 2
  ;;
esac
