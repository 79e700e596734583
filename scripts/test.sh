#!/usr/bin/env bash
# Every test, on a fresh machine: installs the wasm target, builds the guest plugins (through
# tests/build.rs), runs the host workspace's tests and the guest adapter's native tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
rustup target add wasm32-wasip2
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
# The adapter's own unit tests run natively (host kernels swapped for arkworks in-process).
(cd plugins && cargo test --release -p transfer-groth16 --target-dir "$CARGO_TARGET_DIR/wasm-plugins")
