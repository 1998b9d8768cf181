#!/usr/bin/env bash
# The train kernel against PyTorch + sentence-transformers on the CPU (issue 32): the same
# 100 steps of 16 WordNet pairs from all-MiniLM-L6-v2 in both, then the table for
# docs/BENCHMARKS.md (per-step loss, weights after the run, seconds a step).
#
# Not in the test command: PyTorch from PyPI brings its CUDA packages (several GB). It goes into
# its own virtual environment ($TORCH_VENV, default ~/.cache/tessera/bench/torch-venv).
#
# usage: scripts/bench/train-torch.sh [steps] [threads]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STEPS=${1:-100}
THREADS=${2:-$(nproc)}
CACHE=${TESSERA_CACHE:-$HOME/.cache/tessera}
VENV=${TORCH_VENV:-$CACHE/bench/torch-venv}
MINILM=${TESSERA_MINILM_DIR:-$CACHE/data/all-MiniLM-L6-v2-0.1.0}
OUT=${OUT:-$ROOT/target/bench-train-torch}
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --no-cache-dir -q torch sentence-transformers
fi
cd "$ROOT"
RAYON_NUM_THREADS=$THREADS cargo +"${TESSERA_RUST:-1.99.1}" run --release --locked -q -p tessera-tests --bin bench-train -- \
  --steps "$STEPS" --batch 16 --lr 2e-5 --max-tokens 32 --no-eval --dump "$OUT"
"$VENV/bin/python" scripts/bench/train_torch.py "$MINILM" "$OUT" "$THREADS"
