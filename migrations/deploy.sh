#!/usr/bin/env bash
# Deploy Tessera to a cluster and initialise its network config.
#
#   migrations/deploy.sh [--cluster localnet|devnet|mainnet] [--url URL] [--keypair FILE]
#                        [--program-keypair FILE] [--mint MINT] [--param KEY=VALUE]...
#                        [--yes] [--dry-run]
#
# localnet (the default; what scripts/demo.sh and the tests run): deploys target/deploy/tessera.so
# (built by `anchor build` for the committed key in keys/) with `anchor deploy` unless it is
# already there (e.g. preloaded by the validator), then `tessera config init --cluster localnet`.
#
# devnet / mainnet: your own program keypair (--program-keypair; the key in keys/ is public and
# refused) and your own deployer keypair (--keypair: pays, and becomes the upgrade authority and
# the config authority). The script
#   1. checks the arguments and the parameters (`tessera config init --dry-run`), refusing by name;
#   2. records the program id in Anchor.toml [programs.<cluster>] (commit it: clients and workers
#      build for it with TESSERA_CLUSTER=<cluster>);
#   3. builds the program and the `tessera` CLI for that id into target/cluster/<cluster>/
#      (TESSERA_CLUSTER + TESSERA_PROGRAM_ID, see programs/tessera/build.rs) and checks both carry it;
#   4. deploys with `anchor program deploy` (skipped when the program is already there);
#   5. runs `tessera config init --cluster <cluster>` with the cluster's profile and your --param
#      overrides (token mint, treasury, config; idempotent).
# Mainnet also needs --yes. --dry-run does the checks of step 1 and prints the rest.
# Errors print `deploy.sh: error[<name>]: …` and exit 1 (2 for a malformed command line).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

die() { echo "deploy.sh: error[$1]: $2" >&2; exit "${3:-1}"; }
usage() { sed -n '4,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,3\}//' >&2; }

CLUSTER=localnet URL="" KEYPAIR="$HOME/.config/solana/id.json" PROGRAM_KEYPAIR=""
YES=0 DRY_RUN=0 MINT_ARGS=() PARAM_ARGS=()
need_value() { [[ $# -ge 2 && -n "$2" && "$2" != --* ]] || { usage; die missing-value "$1 needs a value" 2; }; }
while (($#)); do
  case "$1" in
    --cluster) need_value "$@"; CLUSTER=$2; shift 2 ;;
    --url) need_value "$@"; URL=$2; shift 2 ;;
    --keypair) need_value "$@"; KEYPAIR=$2; shift 2 ;;
    --program-keypair) need_value "$@"; PROGRAM_KEYPAIR=$2; shift 2 ;;
    --mint) need_value "$@"; MINT_ARGS=(--mint "$2"); shift 2 ;;
    --param) need_value "$@"; PARAM_ARGS+=(--param "$2"); shift 2 ;;
    --yes) YES=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage; die unknown-argument "unknown argument $1" 2 ;;
  esac
done
case "$CLUSTER" in
  localnet) DEFAULT_URL=http://127.0.0.1:8899 ;;
  devnet) DEFAULT_URL=https://api.devnet.solana.com ;;
  mainnet|mainnet-beta) CLUSTER=mainnet DEFAULT_URL=https://api.mainnet-beta.solana.com ;;
  *) die unknown-cluster "unknown cluster '$CLUSTER': use localnet, devnet or mainnet" 2 ;;
esac
URL=${URL:-$DEFAULT_URL}
KEYPAIR=${KEYPAIR/#\~/$HOME}
[[ -f "$KEYPAIR" ]] || die keypair-missing "deployer keypair $KEYPAIR does not exist (pass --keypair <file>)"

# The localnet CLI: enough for `address` and for checking parameters offline.
TESSERA=${TESSERA_BIN_DIR:-$ROOT/target/debug}/tessera
[[ -x "$TESSERA" ]] || cargo build -q --locked -p tessera-cli --bin tessera
LOCALNET_KEY=keys/tessera-program-keypair.json
LOCALNET_ID=$("$TESSERA" -k "$LOCALNET_KEY" address)

rpc_has_program() {
  curl -sf -X POST -H 'Content-Type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getAccountInfo\",\"params\":[\"$1\",{\"encoding\":\"base64\"}]}" "$URL" \
    | grep -q '"executable":true'
}

if [[ "$CLUSTER" == localnet && -z "$PROGRAM_KEYPAIR" ]]; then
  ((DRY_RUN)) && { echo "dry run: would deploy target/deploy/tessera.so ($LOCALNET_ID) to $URL and run config init --cluster localnet"; exit 0; }
  PROGRAM_ID=$("$TESSERA" version --program-id)
  if rpc_has_program "$PROGRAM_ID"; then
    echo "program $PROGRAM_ID is already deployed on $URL"
  else
    echo "deploying $PROGRAM_ID to $URL with anchor deploy"
    anchor deploy --provider.cluster "$URL" --provider.wallet "$KEYPAIR"
  fi
  "$TESSERA" --url "$URL" --keypair "$KEYPAIR" config init --cluster localnet \
    "${MINT_ARGS[@]}" "${PARAM_ARGS[@]}"
  exit 0
fi

# ---------------------------------------------------------------- your own program key
[[ -n "$PROGRAM_KEYPAIR" ]] || die program-keypair-required \
  "--cluster $CLUSTER needs your own program keypair: --program-keypair <file> (create one with \`solana-keygen new -o <file>\`; keep it safe, it is the program's address)"
PROGRAM_KEYPAIR=${PROGRAM_KEYPAIR/#\~/$HOME}
[[ -f "$PROGRAM_KEYPAIR" ]] || die program-keypair-missing "program keypair $PROGRAM_KEYPAIR does not exist"
PROGRAM_ID=$("$TESSERA" -k "$PROGRAM_KEYPAIR" address) \
  || die program-keypair-invalid "$PROGRAM_KEYPAIR is not a keypair file"
DEPLOYER=$("$TESSERA" -k "$KEYPAIR" address) || die keypair-invalid "$KEYPAIR is not a keypair file"
if [[ "$CLUSTER" != localnet && "$PROGRAM_ID" == "$LOCALNET_ID" ]]; then
  die localnet-key-on-public-cluster \
    "$PROGRAM_KEYPAIR is the committed localnet key ($LOCALNET_ID): its secret is public, so anyone could replace the program; refused on $CLUSTER. Use your own (solana-keygen new -o <file>)"
fi
[[ "$PROGRAM_ID" != "$DEPLOYER" ]] || die program-key-is-deployer \
  "the program keypair and the deployer keypair are the same key ($DEPLOYER): use a separate program keypair"
if [[ "$CLUSTER" == mainnet && $YES -eq 0 && $DRY_RUN -eq 0 ]]; then
  die mainnet-needs-yes "deploying to mainnet spends real SOL and creates the network for good: add --yes"
fi
# the parameters, checked offline against the program's bounds and the cluster's rules (a
# loopback URL: a rehearsal of the profile, no RPC without --mint)
"$TESSERA" --url http://127.0.0.1:9 config init --cluster "$CLUSTER" --dry-run "${PARAM_ARGS[@]}" >/dev/null \
  || die bad-parameters "fix the --param values above"

OUT=target/cluster/$CLUSTER
BUILD_ENV=(TESSERA_CLUSTER="$CLUSTER" TESSERA_PROGRAM_ID="$PROGRAM_ID")
CLI="$OUT/release/tessera"
record_id() {
  python3 - "$CLUSTER" "$PROGRAM_ID" <<'EOF'
import re, sys
cluster, pid = sys.argv[1], sys.argv[2]
text = open("Anchor.toml").read()
section = re.compile(r"^\[programs\.%s\]\n(?:(?!\[).*\n)*" % re.escape(cluster), re.M)
entry = 'tessera = "%s"\n' % pid
m = section.search(text)
if m is None:
    anchor = re.search(r"^\[programs\.localnet\]\n(?:(?!\[).*\n)*", text, re.M)
    at = anchor.start() + len(anchor.group(0).rstrip("\n")) + 1 if anchor else len(text)
    text = text[:at] + "\n[programs.%s]\n%s" % (cluster, entry) + text[at:]
elif re.search(r'^tessera\s*=.*$', m.group(0), re.M):
    body = re.sub(r'^tessera\s*=.*\n', entry, m.group(0), flags=re.M)
    text = text[:m.start()] + body + text[m.end():]
else:
    text = text[:m.end()] + entry + text[m.end():]
open("Anchor.toml", "w").write(text)
EOF
}
INIT_ARGS=("${MINT_ARGS[@]}" "${PARAM_ARGS[@]}")
if ((DRY_RUN)); then
  cat <<EOF
dry run: deploy Tessera to $CLUSTER ($URL)
  program id        $PROGRAM_ID ($PROGRAM_KEYPAIR)
  deployer          $DEPLOYER (pays; upgrade and config authority)
  1. record         Anchor.toml [programs.$CLUSTER] tessera = "$PROGRAM_ID"
  2. build          ${BUILD_ENV[*]} cargo build-sbf --manifest-path programs/tessera/Cargo.toml --sbf-out-dir $OUT/deploy
                    ${BUILD_ENV[*]} cargo build --release --locked -p tessera-cli --bin tessera --target-dir $OUT
  3. deploy         anchor program deploy $OUT/deploy/tessera.so --program-keypair $PROGRAM_KEYPAIR --upgrade-authority $KEYPAIR --provider.cluster $URL --provider.wallet $KEYPAIR --no-idl
  4. initialise     $CLI --url $URL --keypair $KEYPAIR config init --cluster $CLUSTER${INIT_ARGS[*]:+ ${INIT_ARGS[*]}}
EOF
  exit 0
fi

# shellcheck disable=SC1091
source scripts/env.sh
record_id
echo "recorded $CLUSTER's program id $PROGRAM_ID in Anchor.toml [programs.$CLUSTER]: commit it"
echo "building the program and the CLI for $PROGRAM_ID into $OUT/"
env "${BUILD_ENV[@]}" CARGO_TARGET_DIR="$OUT" cargo build-sbf \
  --manifest-path programs/tessera/Cargo.toml --sbf-out-dir "$OUT/deploy"
rm -f "$OUT/deploy/tessera-keypair.json" # cargo-build-sbf copies the localnet key: not ours
env "${BUILD_ENV[@]}" cargo build --release --locked -q -p tessera-cli --bin tessera --target-dir "$OUT"
[[ "$("$CLI" version --program-id)" == "$PROGRAM_ID" ]] \
  || die cli-built-for-other-program "$CLI does not carry $PROGRAM_ID"
python3 - "$OUT/deploy/tessera.so" "$PROGRAM_ID" <<'EOF' || die so-built-for-other-program "$OUT/deploy/tessera.so does not carry $PROGRAM_ID"
import sys
alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
n = 0
for c in sys.argv[2]:
    n = n * 58 + alphabet.index(c)
key = n.to_bytes(32, "big")
sys.exit(0 if key in open(sys.argv[1], "rb").read() else 1)
EOF

if rpc_has_program "$PROGRAM_ID"; then
  echo "program $PROGRAM_ID is already deployed on $URL (upgrade it with \`anchor program upgrade\`)"
else
  echo "deploying $PROGRAM_ID to $URL (upgrade authority $DEPLOYER)"
  anchor program deploy "$OUT/deploy/tessera.so" --program-keypair "$PROGRAM_KEYPAIR" \
    --upgrade-authority "$KEYPAIR" --provider.cluster "$URL" --provider.wallet "$KEYPAIR" --no-idl
fi
"$CLI" --url "$URL" --keypair "$KEYPAIR" config init --cluster "$CLUSTER" "${INIT_ARGS[@]}"
cat <<EOF
Tessera is on $CLUSTER: program $PROGRAM_ID. Next:
  git add Anchor.toml && git commit -m "Tessera on $CLUSTER: $PROGRAM_ID"
  clients:   TESSERA_CLUSTER=$CLUSTER cargo install --path crates/cli   (or use $CLI)
  operators: TESSERA_CLUSTER=$CLUSTER cargo install --path worker
EOF
