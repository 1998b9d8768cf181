#!/usr/bin/env bash
# Memory check of the CUDA kernels without a GPU: the host emulator's build of gemm.cu and
# render.cu (compute/src/cuda/emu.rs) compiled with AddressSanitizer, and the emulator tests run
# with the ASan runtime preloaded. Any out-of-bounds read or write by a kernel (on the exact
# buffer sizes the CUDA backend allocates) fails the run with the kernel's source line.
# The role compute-sanitizer's memcheck plays on a device. Needs gcc's libasan.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
asan=$(gcc -print-file-name=libasan.so 2>/dev/null || true)
if [[ -z "$asan" || ! -f "$asan" ]]; then
  echo "SKIPPED: kernel memory check: gcc's libasan.so not found"
  exit 0
fi
# The test binary is run directly, so only it (not cargo or rustc) gets the ASan runtime.
# shellcheck source=lib/cargo-test-binary.sh
source scripts/lib/cargo-test-binary.sh
# --workspace: the feature set of the test command's build, so nothing is compiled again
bin=$(cargo_test_binary tessera_compute --locked --workspace --lib)
[[ -x "$bin" ]] || { echo "compute unit-test binary not found" >&2; exit 1; }
TESSERA_EMU_CXXFLAGS="-fsanitize=address -fno-omit-frame-pointer -g" \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 LD_PRELOAD="$asan" \
  "$bin" cuda::emu 2>&1 | grep -v "ASan doesn't fully support makecontext/swapcontext"
