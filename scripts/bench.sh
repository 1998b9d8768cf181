#!/usr/bin/env bash
# Network latency bench on a fresh local validator: job pickup (post -> first claim, in slots
# and ms) and end-to-end latency per kernel. Arguments go to tessera-bench, e.g.
#   scripts/bench.sh --jobs 20 --workers 3 --out docs/bench-latency.md
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH_DIR="$ROOT/.bench"
# shellcheck source=lib/localnet.sh
source scripts/lib/localnet.sh
localnet_up "$BENCH_DIR" "${TESSERA_BENCH_RPC_PORT:-8899}"
trap localnet_down EXIT
step "tessera-bench $*"
TESSERA_BIN_DIR="$BIN" "$BIN/tessera-bench" --url "$URL" --dir "$BENCH_DIR/network" "$@"
