//! Well-known development accounts and tools, shared by the embedded dev chain, the demo and
//! the tests. Never use these keys for anything of value: they are public.

use std::path::PathBuf;

use alloy::signers::local::PrivateKeySigner;

/// anvil's default dev keys 0-5 (from the public test mnemonic): admin, miners 1-3, sequencer,
/// requester in prova's tests and demo.
pub const DEV_KEYS: [&str; 6] = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
];

/// The signer of dev account `i` (0..6).
pub fn dev_signer(i: usize) -> PrivateKeySigner {
    DEV_KEYS[i].parse().expect("dev keys are valid")
}

/// The anvil binary: `$ANVIL_BIN`, or where `npm ci --prefix tools` puts it.
pub fn anvil_bin() -> PathBuf {
    if let Ok(p) = std::env::var("ANVIL_BIN") {
        return p.into();
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
}
