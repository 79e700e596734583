//! Builds every guest component in `plugins/` for `wasm32-wasip2` and exposes their paths as
//! constants (`plugins::TRANSFER_GROTH16`, `plugins::FIXTURE_MISBEHAVING`, ...). Like wasmtime's
//! test-programs, it fails the build when a fixture is never used by a test, so that no fixture
//! is built for nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    for p in ["plugins", "wit", "host/codec"] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    println!("cargo:rerun-if-changed={}", manifest.join("tests").display());
    println!("cargo:rerun-if-env-changed=PROVA_WASM_TARGET_DIR");

    // <target>/<profile>/build/<pkg>/out -> <target>/wasm-plugins: a target dir of its own, so
    // that this nested cargo does not wait on the lock the outer one holds.
    let target = std::env::var_os("PROVA_WASM_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| out_dir.ancestors().nth(4).unwrap().join("wasm-plugins"));
    cargo_build(&root, &target, &["--workspace"]);

    // The reference adapter once more with arkworks doing MSMs and NTTs inside the guest, for
    // the benchmark that measures what the host kernels buy. Its own target folder, because
    // both builds write `transfer_groth16.wasm`.
    let variant = target.with_file_name("wasm-plugins-guest-kernels");
    cargo_build(&root, &variant, &["-p", "transfer-groth16", "--features", "guest-kernels"]);

    let wasm_dir = target.join("wasm32-wasip2").join("release");
    let mut consts = String::new();
    let mut fixtures = Vec::new();
    for member in members(&root.join("plugins")) {
        let crate_name = member.replace('-', "_");
        let file = wasm_dir.join(format!("{crate_name}.wasm"));
        assert!(file.exists(), "{} was not built", file.display());
        let konst = crate_name.to_uppercase();
        consts.push_str(&format!("pub const {konst}: &str = {:?};\n", file.display().to_string()));
        if member.starts_with("fixture-") {
            fixtures.push(konst);
        }
    }
    consts.push_str(&format!(
        "pub const TRANSFER_GROTH16_GUEST_KERNELS: &str = {:?};\n",
        variant.join("wasm32-wasip2/release/transfer_groth16.wasm").display().to_string()
    ));
    std::fs::write(out_dir.join("plugins.rs"), consts).unwrap();

    let tests: String =
        std::fs::read_dir(manifest.join("tests")).unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect();
    for f in fixtures {
        assert!(tests.contains(&format!("plugins::{f}")), "fixture {f} is built but no test uses it");
    }
}

/// Package names of the guest workspace's members that build components (not the SDK).
fn members(plugins: &Path) -> Vec<String> {
    let mut dirs = vec![plugins.join("transfer-groth16"), plugins.join("tally-groth16")];
    for e in std::fs::read_dir(plugins.join("fixtures")).unwrap() {
        dirs.push(e.unwrap().path());
    }
    let mut names: Vec<String> = dirs
        .iter()
        .map(|d| {
            let toml = std::fs::read_to_string(d.join("Cargo.toml")).unwrap();
            let line = toml.lines().find(|l| l.starts_with("name = ")).expect("package name");
            line.trim_start_matches("name = ").trim_matches('"').to_string()
        })
        .collect();
    names.sort();
    names
}

/// `cargo build --release --target wasm32-wasip2 <args>` in the guest workspace.
fn cargo_build(root: &Path, target_dir: &Path, args: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(target_dir)
        .args(args)
        .current_dir(root.join("plugins"))
        // The outer build's flags are for the host; never let them reach the guests. Ours keep
        // the builder's paths (checkout, cargo home) out of the components.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("RUSTFLAGS", guest_rustflags(root))
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_MAKEFLAGS")
        .status()
        .expect("running cargo for the guest plugins");
    assert!(status.success(), "building the guest plugins failed (is the target installed? `rustup target add wasm32-wasip2`)");
}

/// Flags that keep local paths out of guest components. `scripts/build-plugins.sh` sets the same
/// flags, so that both share one build. (Components still differ between checkouts in different
/// folders: cargo's crate hashes include path dependencies' locations.)
fn guest_rustflags(root: &Path) -> String {
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo"));
    format!("--remap-path-prefix={}=/prova --remap-path-prefix={}=/cargo", root.display(), cargo_home.display())
}
