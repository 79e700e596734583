#!/usr/bin/env bash
# Every test, on a fresh machine: installs the wasm target, builds the guest plugins (through
# tests/build.rs), runs the host workspace's tests and the guest adapter's native tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
rustup target add wasm32-wasip2

# The wgpu kernels' tests run on a real Vulkan device; without a GPU that is Mesa's lavapipe
# (software Vulkan). Installed once; the tests fail, not skip, when no adapter exists.
if [ ! -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ] && ! ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
    echo "scripts/test.sh: no Vulkan driver, and no root to install mesa-vulkan-drivers" >&2; exit 1
  fi
  $sudo apt-get update -qq
  $sudo apt-get install -y --no-install-recommends mesa-vulkan-drivers
fi
# The Vulkan loader warns without it; any private folder will do.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

# Chain tooling from npm (pinned in tools/package-lock.json): anvil, forge, solc-js behind
# tools/solc. Nothing is downloaded at run time; forge runs offline.
if [ ! -x tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil ] || [ ! -x tools/node_modules/@foundry-rs/cast-linux-amd64/bin/cast ] \
  || [ ! -d tools/node_modules/solc ]; then
  npm ci --prefix tools --no-audit --no-fund
fi
export ANVIL_BIN="$root/tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
export CAST_BIN="$root/tools/node_modules/@foundry-rs/cast-linux-amd64/bin/cast"
forge="$root/tools/node_modules/@foundry-rs/forge-linux-amd64/bin/forge"
# Contracts: build, every forge test (unit and fuzz), and the artifacts the Rust bindings read
# must equal a fresh build.
(cd contracts && "$forge" build && "$forge" test)
python3 contracts/artifacts.py --check
# Habits: one format, no lint. clippy type-checks every crate once more (check profile).
cargo fmt --all --check
(cd plugins && cargo fmt --all --check)
cargo clippy --workspace --all-targets -- -D warnings
# The deterministic simulation (tests/tests/sim.rs) runs SIM_SEEDS seeds, 1,000 unless set.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
# The SDK's and the plugins' own tests run natively (the SDK's in-process host: arkworks kernels).
(cd plugins && cargo test --release -p prova-guest -p rollup-template -p transfer-groth16 -p tally-groth16 --target-dir "$CARGO_TARGET_DIR/wasm-plugins")
