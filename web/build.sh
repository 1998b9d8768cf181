#!/usr/bin/env bash
# Builds the web page into web/dist:
#   1. tessera-wasm for wasm32 (profile `wasm`: small, quick on two cores);
#   2. its JS bindings, by wasm-bindgen's library at the pinned version (crates/web-build);
#   3. wasm-opt -Oz (binaryen from npm);
#   4. the Codama client checked against the IDL, the TypeScript checked, `vite build`.
# Prints the first-load size (JS + wasm, gzipped). Needs `npm ci` in web/ (scripts/setup.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
cargo build -p tessera-wasm --target wasm32-unknown-unknown --profile wasm --locked
cargo run -p tessera-web-build --locked --quiet -- \
  target/wasm32-unknown-unknown/wasm/tessera_wasm.wasm web/src/wasm
cd web
npx --no-install wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
  src/wasm/tessera_wasm_bg.wasm -o src/wasm/tessera_wasm_bg.wasm
node scripts/codama.mjs --check
npx --no-install tsc --noEmit
npx --no-install vite build --logLevel warn
node -e '
const fs = require("fs"), zlib = require("zlib"), path = require("path");
let raw = 0, gz = 0;
for (const f of fs.readdirSync("dist/assets")) {
  if (!/\.(js|wasm|css)$/.test(f)) continue;
  const b = fs.readFileSync(path.join("dist/assets", f));
  raw += b.length; gz += zlib.gzipSync(b, { level: 9 }).length;
}
console.log(`web/dist: first load ${(raw / 1048576).toFixed(2)} MiB, ${(gz / 1048576).toFixed(2)} MiB gzipped (JS + wasm + CSS)`);
'
