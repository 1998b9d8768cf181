#!/usr/bin/env bash
# Where a job's compute units go (docs/CU.md): builds the program twice — with the `cu-trace`
# profiling markers into target/cu-trace/, then the deployed build into target/deploy/ (last,
# so target/deploy/tessera.so is the real program afterwards) — and runs tessera-cu-profile,
# which runs the k = 1 and k = 3 lifecycles on LiteSVM against both and prints the per-part
# breakdown.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck disable=SC1091
source scripts/env.sh
cargo-build-sbf --manifest-path programs/tessera/Cargo.toml --features cu-trace \
  --sbf-out-dir target/cu-trace
cargo-build-sbf --manifest-path programs/tessera/Cargo.toml --sbf-out-dir target/deploy
cargo build -p tessera-tests --bin cu-profile --locked
target/debug/cu-profile target/deploy/tessera.so target/cu-trace/tessera.so
