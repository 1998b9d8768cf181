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
# Read only by compute/tests/nvrtc.rs (NVRTC is preloaded from there when the system has none;
# it is deliberately not put on LD_LIBRARY_PATH, so a GPU's own CUDA install always wins).
export TESSERA_NVRTC_DIR=${TESSERA_NVRTC_DIR:-} TESSERA_PTXAS=${TESSERA_PTXAS:-}
# anchor 1.2 defaults to surfpool; the local validator here is solana-test-validator
export ANCHOR_TEST_VALIDATOR=legacy
unset _tessera_root _tessera_cache
