# Source this (after scripts/setup.sh) to get Tessera's build tools on PATH:
#   source scripts/env.sh
# Puts scripts/bin (our cargo-build-sbf) first, then the cached validator and anchor CLI.
_tessera_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_tessera_cache=${TESSERA_CACHE:-$HOME/.cache/tessera}
if [[ ! -f "$_tessera_cache/tools.env" ]]; then
  echo "tessera: tools not set up; run scripts/setup.sh first" >&2
  return 1 2>/dev/null || exit 1
fi
# shellcheck disable=SC1091
source "$_tessera_cache/tools.env"
export PATH="$_tessera_root/scripts/bin:$TESSERA_VALIDATOR_DIR:$TESSERA_ANCHOR_DIR:$PATH"
# NVRTC from PyPI for the offline kernel checks (compute/tests/nvrtc.rs). compute's cuda::libs
# opens it only when the machine has no NVRTC of its own (it is deliberately not put on
# LD_LIBRARY_PATH, so a GPU machine's CUDA install always wins); ptxas is read by that test.
export TESSERA_NVRTC_DIR=${TESSERA_NVRTC_DIR:-} TESSERA_PTXAS=${TESSERA_PTXAS:-}
export TESSERA_NVRTC13_DIR=${TESSERA_NVRTC13_DIR:-} TESSERA_PTXAS13=${TESSERA_PTXAS13:-}
# all-MiniLM-L6-v2 (config.json, model.safetensors, tokenizer.json) for the embed tests/demo
export TESSERA_MINILM_DIR=${TESSERA_MINILM_DIR:-}
# anchor 1.2 defaults to surfpool; the local validator here is solana-test-validator
export ANCHOR_TEST_VALIDATOR=legacy
# The localnet program keypair (keys/, the key of declare_id! and Anchor.toml's
# [programs.localnet]) where `anchor build` looks for it: without it a fresh clone gets a random
# key and anchor warns "Program ID mismatch detected". Call before `anchor build`, from the root.
tessera_program_key() {
  mkdir -p target/deploy
  cp keys/tessera-program-keypair.json target/deploy/tessera-keypair.json
}
unset _tessera_root _tessera_cache
