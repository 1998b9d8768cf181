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
RPC_PORT=${TESSERA_DEMO_RPC_PORT:-8899}
URL="http://127.0.0.1:$RPC_PORT"
DEMO_DIR="$ROOT/.demo"
step() { printf '\n==> [%s] %s\n' "$(date +%T)" "$*"; }

step "tool set-up"
bash scripts/setup.sh
# shellcheck disable=SC1091
source scripts/env.sh

step "anchor build"
anchor build

step "building tessera, tessera-worker, tessera-demo (cargo build, shared with the test command)"
cargo build --locked -p tessera-client -p tessera-worker -p tessera-tests --bins
BIN="$ROOT/target/debug"

step "wallet"
bash scripts/keygen.sh "$HOME/.config/solana/id.json"
WALLET_PUBKEY=$("$BIN/tessera" address)

step "starting solana-test-validator on $URL (ledger $DEMO_DIR/ledger)"
mkdir -p "$DEMO_DIR"
if curl -sf -X POST -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"getHealth"}' "$URL" >/dev/null; then
  echo "a validator already answers on $URL; stop it first (pkill -f solana-test-validator)" >&2
  exit 1
fi
solana-test-validator --ledger "$DEMO_DIR/ledger" --reset --quiet --bind-address 127.0.0.1 \
  --rpc-port "$RPC_PORT" --mint "$WALLET_PUBKEY" \
  --upgradeable-program "$("$BIN/tessera" version --program-id)" \
  target/deploy/tessera.so "$WALLET_PUBKEY" >"$DEMO_DIR/validator.log" 2>&1 &
VALIDATOR_PID=$!
echo "$VALIDATOR_PID" >"$DEMO_DIR/validator.pid"
cleanup() { if ((KEEP == 0)); then kill "$VALIDATOR_PID" 2>/dev/null || true; wait "$VALIDATOR_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT
for _ in $(seq 60); do
  curl -sf -X POST -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"getHealth"}' "$URL" >/dev/null && break
  kill -0 "$VALIDATOR_PID" 2>/dev/null || { tail -20 "$DEMO_DIR/validator.log"; exit 1; }
  sleep 1
done
# programs loaded at genesis (SPL Token, Tessera) are usable from the next slots on
for _ in $(seq 60); do
  slot=$(curl -sf -X POST -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"getSlot"}' "$URL" | sed -n 's/.*"result":\([0-9]*\).*/\1/p')
  [[ -n "$slot" && "$slot" -ge 3 ]] && break
  sleep 0.5
done
echo "validator healthy (pid $VALIDATOR_PID, slot $slot)"

step "deploy + initialise (migrations/deploy.sh)"
bash migrations/deploy.sh --url "$URL"

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
