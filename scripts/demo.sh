#!/usr/bin/env bash
# The main job on a fresh machine: build the plugins and the host, set up dev keys (once),
# then run three miners on the embedded chain, each one node serving two rollup types, until 4
# sequences of each are verified (`prova demo`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
scripts/build-plugins.sh
cargo build -p prova
prova="$CARGO_TARGET_DIR/debug/prova"
# The demo runs the two reference rollup types side by side, whatever else the plugin folder
# holds (PROVA_PLUGIN or --plugin overrides it).
export PROVA_PLUGIN="${PROVA_PLUGIN:-transfer-groth16,tally-groth16}"
for p in transfer-groth16 tally-groth16; do
  [ -f "dist/plugins/$p.keys" ] || "$prova" plugins setup --plugin "$p"
done
"$prova" plugins list
"$prova" demo "$@"
