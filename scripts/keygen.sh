#!/usr/bin/env bash
# Write a new Solana-CLI-format keypair (64-byte JSON array) to $1 unless it exists.
# Uses Node's ed25519 so no Solana CLI is needed.
set -euo pipefail
out=$1
[[ -f "$out" ]] && exit 0
mkdir -p "$(dirname "$out")"
node -e '
const c = require("crypto");
const { publicKey, privateKey } = c.generateKeyPairSync("ed25519");
const pub = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
const priv = privateKey.export({ format: "der", type: "pkcs8" }).subarray(-32);
require("fs").writeFileSync(process.argv[1], JSON.stringify([...priv, ...pub]), { mode: 0o600 });
' "$out"
echo "wrote new keypair $out"
