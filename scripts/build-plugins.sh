#!/usr/bin/env bash
# Builds the guest plugins for wasm32-wasip2 and installs the product plugins (not the test
# fixtures) into dist/plugins/. Uses the same target folder as the tests' build.rs, so the two
# share their build output.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}/wasm-plugins"
rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
# Same flags as tests/build.rs (so both share one build): no local paths in the components.
export RUSTFLAGS="--remap-path-prefix=$root=/prova --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
(cd "$root/plugins" && cargo build --release --target wasm32-wasip2 --workspace --target-dir "$target")
mkdir -p "$root/dist/plugins"
# Every plugin crate directly under plugins/ (a cdylib; not the SDK, not plugins/fixtures/*, not
# plugins/template, which `prova plugins new` copies).
for manifest in "$root"/plugins/*/Cargo.toml; do
  grep -q 'crate-type = \["cdylib"\]' "$manifest" || continue
  [ "$manifest" = "$root/plugins/template/Cargo.toml" ] && continue
  p="$(sed -n 's/^name = "\(.*\)"$/\1/p' "$manifest" | head -1)"
  wasm="$target/wasm32-wasip2/release/${p//-/_}.wasm"
  if [ -z "$p" ] || [ ! -f "$wasm" ]; then
    echo "error: $manifest: no package name, or no component at $wasm (is the crate in plugins/Cargo.toml's members?)" >&2
    exit 1
  fi
  cp "$wasm" "$root/dist/plugins/$p.wasm"
  echo "$p: sha256 $(sha256sum "$root/dist/plugins/$p.wasm" | cut -d' ' -f1)"
done
echo "plugins installed in $root/dist/plugins"
