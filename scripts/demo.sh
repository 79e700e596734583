#!/usr/bin/env bash
# The main job on a fresh machine: build the plugins and the host, set up dev keys (once),
# then run three miners on the embedded chain until 4 sequences are verified (`prova demo`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
scripts/build-plugins.sh
cargo build -p prova
prova="$CARGO_TARGET_DIR/debug/prova"
# The demo runs the reference rollup, whatever else the plugin folder holds (a flag overrides it).
export PROVA_PLUGIN="${PROVA_PLUGIN:-transfer-groth16}"
[ -f dist/plugins/transfer-groth16.keys ] || "$prova" plugins setup --plugin transfer-groth16
"$prova" plugins list
"$prova" demo "$@"
