#!/usr/bin/env bash
# The main job: a whole Tessera network on this machine.
#   scripts/demo.sh            # set-up, build, validator, deploy + config, blob server, three
#                              # workers, one job per kernel, verified results, payouts; stop
#   scripts/demo.sh --keep     # the same, then leave the network up for manual use
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
KEEP=0
[[ "${1:-}" == "--keep" ]] && KEEP=1
DEMO_DIR="$ROOT/.demo"
# shellcheck source=lib/localnet.sh
source scripts/lib/localnet.sh

localnet_up "$DEMO_DIR" "${TESSERA_DEMO_RPC_PORT:-8899}"

step "the web page (web/build.sh), served by the demo's blob server"
bash web/build.sh
cleanup() { if ((KEEP == 0)); then localnet_down; fi; }
trap cleanup EXIT

step "network config"
"$BIN/tessera" --url "$URL" config show

step "the network: blob server, three workers, one job per kernel"
KEEP_ARGS=()
((KEEP)) && KEEP_ARGS=(--keep)
TESSERA_BIN_DIR="$BIN" "$BIN/tessera-demo" --url "$URL" --dir "$DEMO_DIR/network" "${KEEP_ARGS[@]}"

if ((KEEP)); then
  step "the validator keeps running (pid $VALIDATOR_PID, $URL); stop it with: kill $VALIDATOR_PID"
else
  step "done; run 'scripts/demo.sh --keep' to keep the network up for manual use"
fi
