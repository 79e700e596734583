//! Bindings for `prova:adapter@0.3.x`. What is this version's own lives here: its
//! metadata record; everything common to all versions is `shared_impls!` (see the module above).

use crate::PluginMetadata;
use crate::types::Verifier;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "circuit-adapter",
    imports: { default: trappable },
    with: {
        "prova:adapter/field.g1-bases": crate::host::G1Handle,
        "prova:adapter/field.g2-bases": crate::host::G2Handle,
    },
});

pub use prova::adapter::types;
use prova::adapter::{field, keys};

/// The version a component's `adapter` export must have to load through this module.
pub const VERSION: (u64, u64, u64) = (0, 3, 0);

shared_impls!();

impl From<types::AdapterInfo> for PluginMetadata {
    fn from(m: types::AdapterInfo) -> Self {
        PluginMetadata {
            name: m.name,
            rollup_type: m.rollup_type,
            wit_version: m.wit_version,
            proof_system: m.proof_system,
            verifying_key: m.verifying_key,
            memory_bytes: m.resources.memory_bytes,
            max_batches: m.resources.max_batches,
            key_sections: m.resources.key_sections,
            verifier: match m.verifier {
                types::Verifier::Groth16Batch => Verifier::Groth16Batch,
                types::Verifier::Contract(creation) => Verifier::Contract(creation),
            },
        }
    }
}
