# Shared by scripts/demo.sh and scripts/bench.sh (sourced): build everything, start a
# solana-test-validator with the program preloaded (upgradeable, wallet as upgrade authority),
# wait until it is usable, deploy + initialise the config.
#   localnet_up <work dir> <rpc port>   sets BIN, URL, VALIDATOR_PID; writes <dir>/validator.pid

step() { printf '\n==> [%s] %s\n' "$(date +%T)" "$*"; }

rpc_call() { curl -sf -X POST -H 'Content-Type: application/json' -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$2\"}" "$1"; }

localnet_up() {
  local dir=$1 port=$2
  URL="http://127.0.0.1:$port"
  step "tool set-up"
  bash scripts/setup.sh
  # shellcheck disable=SC1091
  source scripts/env.sh

  step "anchor build"
  tessera_program_key
  anchor build

  # The test command's own build (scripts/test.sh): every binary and test with one feature set,
  # so after the tests the demo compiles nothing (`cargo build --bins` resolves other features
  # of shared crates and compiled for about six more minutes).
  step "cargo test --workspace --no-run (tessera, tessera-worker, tessera-demo, tessera-bench: the test command's build)"
  cargo test --workspace --locked --no-run
  BIN="$ROOT/target/debug"

  step "wallet"
  bash scripts/keygen.sh "$HOME/.config/solana/id.json"
  local wallet
  wallet=$("$BIN/tessera" address)

  step "starting solana-test-validator on $URL (ledger $dir/ledger)"
  mkdir -p "$dir"
  if rpc_call "$URL" getHealth >/dev/null; then
    echo "a validator already answers on $URL; stop it first (pkill -f solana-test-validator)" >&2
    exit 1
  fi
  solana-test-validator --ledger "$dir/ledger" --reset --quiet --bind-address 127.0.0.1 \
    --rpc-port "$port" --mint "$wallet" \
    --upgradeable-program "$("$BIN/tessera" version --program-id)" \
    "${TESSERA_PROGRAM_SO:-target/deploy/tessera.so}" "$wallet" >"$dir/validator.log" 2>&1 &
  VALIDATOR_PID=$!
  echo "$VALIDATOR_PID" >"$dir/validator.pid"
  for _ in $(seq 60); do
    rpc_call "$URL" getHealth >/dev/null && break
    kill -0 "$VALIDATOR_PID" 2>/dev/null || { tail -20 "$dir/validator.log"; exit 1; }
    sleep 1
  done
  # programs loaded at genesis (SPL Token, Tessera) are usable from the next slots on
  local slot=0
  for _ in $(seq 60); do
    slot=$(rpc_call "$URL" getSlot | sed -n 's/.*"result":\([0-9]*\).*/\1/p')
    [[ -n "$slot" && "$slot" -ge 3 ]] && break
    sleep 0.5
  done
  echo "validator healthy (pid $VALIDATOR_PID, slot $slot)"

  step "deploy + initialise (migrations/deploy.sh)"
  TESSERA_BIN_DIR="$BIN" bash migrations/deploy.sh --url "$URL"
}

localnet_down() {
  kill "$VALIDATOR_PID" 2>/dev/null || true
  wait "$VALIDATOR_PID" 2>/dev/null || true
}
