#!/usr/bin/env bash
# Network latency bench on a fresh local validator: job pickup (post -> first claim, in slots
# and ms) and end-to-end latency per kernel. Arguments go to tessera-bench, e.g.
#   scripts/bench.sh --jobs 20 --workers 3 --out docs/bench-latency.md
# TESSERA_BENCH_BIN_DIR runs other builds of tessera-bench, tessera-worker and tessera (the
# blob server) than the test command's debug ones, e.g. the release build operators install:
#   cargo build --release --locked -p tessera-worker -p tessera-cli -p tessera-tests \
#     --bin tessera-worker --bin tessera --bin tessera-bench
#   TESSERA_BENCH_BIN_DIR=target/release scripts/bench.sh --jobs 4000 ...
# TESSERA_PROGRAM_SO deploys another build of the program (an earlier commit's, for a
# before/after run) than target/deploy/tessera.so.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH_DIR="$ROOT/.bench"
# shellcheck source=lib/localnet.sh
source scripts/lib/localnet.sh
localnet_up "$BENCH_DIR" "${TESSERA_BENCH_RPC_PORT:-8899}"
trap localnet_down EXIT
BENCH_BIN=$(cd "${TESSERA_BENCH_BIN_DIR:-$BIN}" && pwd)
step "tessera-bench $* (binaries from $BENCH_BIN)"
TESSERA_BIN_DIR="$BENCH_BIN" "$BENCH_BIN/tessera-bench" --url "$URL" --dir "$BENCH_DIR/network" "$@"
