#!/usr/bin/env bash
# Checks the operator's install: `cargo install --locked --path worker` (and `--path client`,
# the `tessera` CLI) on a machine with only stable Rust and no SBF toolchain.
#
# A temporary RUSTUP_HOME gets the current stable toolchain from rustup's dist server and
# nothing else (the machine's own toolchains are not touched), the target directory starts
# empty, and cargo runs from outside the repository so that rust-toolchain.toml (the pinned
# toolchain) does not apply, as for an operator who runs `cargo install` with a default
# `stable`. Cargo's download cache ($CARGO_HOME) is shared with the machine.
#
# This is two full release builds (the second reuses most of the first): 35 + 12 min measured
# on a busy 2-core machine (docs/OPERATIONS.md). Not part of scripts/test.sh.
#
# Usage: scripts/check-install.sh [worker|client|both]   (default: both)
#   TESSERA_INSTALL_CHECK_DIR=dir   work there instead of a new /tmp directory (kept)
#   TESSERA_INSTALL_TOOLCHAIN=1.97.1  another toolchain than `stable` (e.g. the minimum)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
what="${1:-both}"
case "$what" in worker | client | both) ;; *)
  echo "usage: $0 [worker|client|both]" >&2
  exit 2
  ;;
esac
work="${TESSERA_INSTALL_CHECK_DIR:-$(mktemp -d /tmp/tessera-install.XXXXXX)}"
toolchain="${TESSERA_INSTALL_TOOLCHAIN:-stable}"
mkdir -p "$work"
export RUSTUP_HOME="$work/rustup"
export CARGO_TARGET_DIR="$work/target"
command -v rustup >/dev/null || {
  echo "rustup is missing: https://rustup.rs" >&2
  exit 1
}
echo "== rustup toolchain install $toolchain (into $RUSTUP_HOME)"
rustup toolchain install "$toolchain" --profile minimal --no-self-update
rustc "+$toolchain" -vV | sed -n '1p;/^host/p'
rustup toolchain list
cd "$work" # outside the repository: its rust-toolchain.toml does not apply

install() {
  local crate="$1" bin="$2" t0
  t0=$(date +%s)
  echo "== cargo install --locked --path $repo/$crate --root $work/root"
  cargo "+$toolchain" install --locked --path "$repo/$crate" --root "$work/root"
  echo "== $crate: installed in $(($(date +%s) - t0)) s"
  "$work/root/bin/$bin" --version
}
[[ "$what" == client ]] || install worker tessera-worker
[[ "$what" == worker ]] || install client tessera
echo "ok: installed with $(rustc "+$toolchain" -V) in $work/root/bin"
