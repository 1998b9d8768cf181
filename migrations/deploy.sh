#!/usr/bin/env bash
# Deploy Tessera to a cluster and initialise its network config.
#   migrations/deploy.sh --url http://127.0.0.1:8899 [--mint <MINT>] [--keypair <FILE>]
# Deploys target/deploy/tessera.so with `anchor deploy` unless the program is already there
# (e.g. preloaded by the local validator), then runs `tessera config init`: creates the token
# mint (or uses --mint), the treasury token account and the Config account. Idempotent.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
URL=http://127.0.0.1:8899
KEYPAIR="$HOME/.config/solana/id.json"
MINT_ARGS=()
while (($#)); do
  case "$1" in
    --url) URL=$2; shift 2 ;;
    --keypair) KEYPAIR=$2; shift 2 ;;
    --mint) MINT_ARGS=(--mint "$2"); shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
TESSERA=${TESSERA_BIN_DIR:-$ROOT/target/debug}/tessera
[[ -x "$TESSERA" ]] || cargo build -q --locked -p tessera-client --bin tessera
PROGRAM_ID=$("$TESSERA" version --program-id)
if curl -sf -X POST -H 'Content-Type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getAccountInfo\",\"params\":[\"$PROGRAM_ID\",{\"encoding\":\"base64\"}]}" "$URL" \
    | grep -q '"executable":true'; then
  echo "program $PROGRAM_ID is already deployed on $URL"
else
  echo "deploying $PROGRAM_ID to $URL with anchor deploy"
  anchor deploy --provider.cluster "$URL" --provider.wallet "$KEYPAIR"
fi
"$TESSERA" --url "$URL" --keypair "$KEYPAIR" config init "${MINT_ARGS[@]}"
