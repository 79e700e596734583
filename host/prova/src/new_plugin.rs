//! `prova plugins new NAME`: a plugin crate from the template in `plugins/template`, standing on
//! its own outside this repository.
//!
//! The template's source and the guest workspace's `Cargo.lock` are compiled into the binary, so
//! the new crate is exactly what CI builds and tests as `plugins/template`, with the same
//! dependency versions. Only the SDK is found on disk: by default the checkout this binary was
//! built from, otherwise `--sdk`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

/// The template's name, replaced by the new plugin's everywhere in its source.
const TEMPLATE_NAME: &str = "rollup-template";
const TEMPLATE_LIB: &str = include_str!("../../../plugins/template/src/lib.rs");
/// The versions the SDK and the template are tested with; cargo drops the entries the new crate
/// does not use.
const LOCKFILE: &str = include_str!("../../../plugins/Cargo.lock");
const SDK_AT_BUILD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugins/sdk");

/// Names a plugin may have but a crate may not (Rust keywords and the crates every build links,
/// as cargo refuses or mishandles them), or a folder may not have on Windows.
const NOT_A_CRATE_NAME: &[&str] = &[
    "abstract",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
    "alloc",
    "core",
    "proc-macro",
    "std",
    "test",
    "prova-guest",
    "con",
    "prn",
    "aux",
    "nul",
];

/// Why `name` cannot be a new plugin crate's name, if it cannot.
fn check_crate_name(name: &str) -> Result<(), String> {
    prova_runtime::check_plugin_name(name)?;
    let windows_device =
        (name.starts_with("com") || name.starts_with("lpt")) && name.len() == 4 && name.ends_with(|c: char| c.is_ascii_digit());
    if NOT_A_CRATE_NAME.contains(&name) || windows_device {
        return Err("is reserved (a Rust keyword, a standard crate or a device name): choose another".into());
    }
    Ok(())
}

fn cargo_toml(name: &str, sdk: &Path) -> String {
    /// `path = "…"`, quoted by the toml crate whatever the path holds.
    #[derive(serde::Serialize)]
    struct PathDependency {
        path: String,
    }
    let sdk = toml::to_string(&PathDependency { path: sdk.display().to_string() }).expect("a string serialises");
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# A WebAssembly component for prova (`cargo build --release --target wasm32-wasip2`).
crate-type = ["cdylib"]

# The SDK's version is the WIT version it speaks. From git instead of a path:
# git = "<prova repository>"
[dependencies.prova-guest]
{sdk}
# `cargo test` proves for real: optimise the dependencies (arkworks) even in test builds.
[profile.dev.package."*"]
opt-level = 3

[profile.release]
codegen-units = 1
debug = false

# A crate of its own, not a member of an enclosing workspace.
[workspace]
"#
    )
}

fn readme(name: &str) -> String {
    let wasm = name.replace('-', "_");
    format!(
        r#"# {name}

A prova plugin: a rollup type on the guest SDK's Groth16 kit. `src/lib.rs` is all of it: the
state model (witness, replay into roots and a commitment), the circuit, and a sample generator.
It starts as the template's counter rollup; change the model and the circuit (and
`ROLLUP_TYPE`, still "counter"), keep the tests passing: `check_inputs_bound` fails a circuit
that leaves a public input unbound.

    cargo test                                              # the whole adapter, natively
    cargo build --release --target wasm32-wasip2            # the component
    cp target/wasm32-wasip2/release/{wasm}.wasm <plugins folder>/{name}.wasm
    prova plugins setup --plugin {name}                     # dev keys (INSECURE)
    prova prove sample --plugin {name}                      # prove and verify a sample
    prova demo --plugin {name}                              # verified on the embedded chain

(`rustup target add wasm32-wasip2` once.) The circuit must bind all three public inputs the kit
allocates: old root, new root and commitment; the kit adds the prover's address.
"#
    )
}

/// Writes the crate `dir/name`, all or nothing.
pub fn new(name: &str, dir: &Path, sdk: Option<&Path>) -> Result<()> {
    check_crate_name(name).map_err(|why| anyhow!("plugin name {name:?} {why}"))?;
    let sdk_given = sdk.is_some();
    let sdk = sdk.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(SDK_AT_BUILD));
    let sdk = sdk.canonicalize().ok().filter(|p| is_sdk(p)).ok_or_else(|| {
        let hint = if sdk_given { "" } else { " (this prova was built elsewhere)" };
        anyhow!("no prova guest SDK at {}{hint}: give --sdk <prova checkout>/plugins/sdk", sdk.display())
    })?;
    let target = dir.join(name);
    if target.exists() {
        bail!("{} already exists: choose another name or --dir", target.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Written beside its final place and renamed, so that a failure leaves no half-made crate.
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}-"))
        .tempdir_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    let files = [
        ("Cargo.toml", cargo_toml(name, &sdk)),
        ("Cargo.lock", LOCKFILE.to_string()),
        ("src/lib.rs", TEMPLATE_LIB.replace(TEMPLATE_NAME, name)),
        ("README.md", readme(name)),
        (".gitignore", "/target\n".to_string()),
    ];
    for (file, content) in files {
        let path = staging.path().join(file);
        std::fs::create_dir_all(path.parent().expect("a file in a folder"))?;
        std::fs::write(&path, content).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, &target) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(e).with_context(|| format!("cannot create {}", target.display()));
    }
    println!("created {} (plugin {name}, SDK {})", target.display(), sdk.display());
    println!("next: cd {} && cargo test, then see its README.md", target.display());
    Ok(())
}

/// Whether `dir` holds the guest SDK crate.
fn is_sdk(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.lines().any(|l| l.trim() == r#"name = "prova-guest""#))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names_refuse_keywords_and_reserved_names() {
        for bad in ["fn", "type", "std", "test", "prova-guest", "con", "com1", "Bad"] {
            assert!(check_crate_name(bad).is_err(), "{bad} was accepted");
        }
        for good in ["my-rollup", "tally-groth16", "com", "computer", "types"] {
            assert_eq!(check_crate_name(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn the_sdk_path_is_a_valid_toml_string() {
        let toml = cargo_toml("x", Path::new(r#"/tmp/we"ird\path"#));
        let parsed: toml::Value = toml::from_str(&toml).unwrap();
        assert_eq!(parsed["dependencies"]["prova-guest"]["path"].as_str(), Some(r#"/tmp/we"ird\path"#));
    }
}
