#!/usr/bin/env bash
# The one test command (README, .ci/run): set-up (a no-op when cached), `anchor build`, every
# Rust test (unit, compute kernels, LiteSVM program tests), and `anchor test` on a real local
# validator, which runs tests/tests/localnet.rs and then the wallet-side @coral-xyz/anchor tests
# in tests/node (IDL check, and a job posted and read back); see Anchor.toml `[scripts] test`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
T0=$(date +%s)
step() { printf '\n==> [%s] %s\n' "$(date +%T)" "$*"; }

step "tool set-up"
bash scripts/setup.sh
# shellcheck disable=SC1091
source scripts/env.sh

step "anchor build (program -> target/deploy/tessera.so, IDL -> target/idl/tessera.json)"
tessera_program_key
anchor build
file_info=$(head -c 4 target/deploy/tessera.so | od -An -c | tr -d ' ')
[[ "$file_info" == *ELF* ]] || { echo "target/deploy/tessera.so is not an ELF file" >&2; exit 1; }

# One build of every binary (tessera, tessera-worker, tessera-demo, the benches) and every test,
# with one feature set: `cargo test` builds the workspace's binaries for its integration tests
# anyway, and a separate `cargo build --bins` (no dev-dependencies, so other features of shared
# crates such as tokio) compiled some 700 crates a second time (551 s from cold on 2 cores).
# anchor test (Anchor.toml [scripts]) selects the same way (--workspace, test mode).
step "cargo test --workspace --no-run (every binary and test, built once)"
cargo test --workspace --locked --no-run
# The network, storage and deploy suites (tests/) run the binaries of other crates; cargo builds
# a binary in a test run only for its own crate's integration tests (crates/cli/tests and
# worker/tests do that), so say it plainly here if one is ever missing.
for b in tessera tessera-worker tessera-demo; do
  [[ -x target/debug/$b ]] || { echo "target/debug/$b was not built by cargo test --no-run" >&2; exit 1; }
done

step "cargo test --workspace (unit, kernels, LiteSVM against the built .so, CLI behaviour)"
cargo test --workspace --locked

# The browser's crates alone, for wasm32: web/build.sh compiles tessera-wasm, and with it
# tessera-sdk and tessera-jobs `offline` with only their own features (no tokio, reqwest,
# axum, clap or CUDA: tests/tests/dependency_tree.rs), so a dependency that breaks the
# browser build fails here.
step "the web page (web/build.sh): tessera-sdk and tessera-jobs (offline) in tessera-wasm for wasm32, its bindings, the Codama client checked against the IDL, TypeScript, vite build"
bash web/build.sh

# --workspace: the same feature set as the build above, so nothing is compiled again
step "CUDA 13 NVRTC + ptxas on the kernels (the run above used CUDA 12)"
if [[ -n "${TESSERA_NVRTC13_DIR:-}" ]]; then
  TESSERA_NVRTC_DIR=$TESSERA_NVRTC13_DIR TESSERA_PTXAS=$TESSERA_PTXAS13 \
    cargo test --workspace --test nvrtc --locked
else
  echo "SKIPPED: CUDA 13 NVRTC not installed (scripts/setup.sh could not download it)"
fi

step "kernel memory check: the CUDA kernels in the host emulator under AddressSanitizer"
bash scripts/kernel-memcheck.sh

step "anchor test (real solana-test-validator on 127.0.0.1, program preloaded): tests/tests/localnet.rs, network.rs, network_hostile.rs, web.rs (the page in chromium), then tests/node (@coral-xyz/anchor)"
anchor test --skip-build --validator legacy

step "all tests passed in $(( $(date +%s) - T0 )) s"
