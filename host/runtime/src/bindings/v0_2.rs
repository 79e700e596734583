//! Bindings for `prova:adapter@0.2.x`, and the conversions between its generated types and the
//! host's own. Only type conversion lives here (Zed's rule for version shims): the kernels are
//! in `prova-compute`, key handling in `crate::keys`, and the glue in `crate::host`.

use wasmtime::component::Resource;

use crate::host::{G1Handle, G2Handle, HostState};
use crate::{AdapterError, BatchStatement, Claim, PluginMetadata, Stage};

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "circuit-adapter",
    imports: { default: trappable },
    with: {
        "prova:adapter/field.g1-bases": crate::host::G1Handle,
        "prova:adapter/field.g2-bases": crate::host::G2Handle,
    },
});

pub use exports::prova::adapter::adapter as guest;
pub use prova::adapter::types;
use prova::adapter::{field, keys};

/// The interface name and version a component must export to be an adapter of this version.
pub const ADAPTER_INTERFACE: &str = "prova:adapter/adapter";
pub const VERSION: (u64, u64, u64) = (0, 2, 0);

impl From<types::AdapterError> for AdapterError {
    fn from(e: types::AdapterError) -> Self {
        match e {
            types::AdapterError::InvalidInput(m) => AdapterError::InvalidInput(m),
            types::AdapterError::Unsatisfied(m) => AdapterError::Unsatisfied(m),
            types::AdapterError::Internal(m) => AdapterError::Internal(m),
        }
    }
}

impl From<Stage> for types::Stage {
    fn from(s: Stage) -> Self {
        match s {
            Stage::Batch => types::Stage::Batch,
            Stage::Aggregate => types::Stage::Aggregate,
            Stage::Final => types::Stage::Final,
        }
    }
}

impl From<types::Stage> for Stage {
    fn from(s: types::Stage) -> Self {
        match s {
            types::Stage::Batch => Stage::Batch,
            types::Stage::Aggregate => Stage::Aggregate,
            types::Stage::Final => Stage::Final,
        }
    }
}

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
        }
    }
}

impl From<types::BatchStatement> for BatchStatement {
    fn from(s: types::BatchStatement) -> Self {
        BatchStatement { old_state_root: s.old_state_root, new_state_root: s.new_state_root, commitment: s.commitment }
    }
}

impl From<types::Claim> for Claim {
    fn from(c: types::Claim) -> Self {
        Claim {
            stage: c.stage.into(),
            old_state_root: c.old_state_root,
            new_state_root: c.new_state_root,
            batch_commitments: c.batch_commitments,
            prover: c.prover,
        }
    }
}

impl From<types::KeyData> for crate::keys::SectionData {
    fn from(d: types::KeyData) -> Self {
        match d {
            types::KeyData::G1Points(l) => Self::G1(l),
            types::KeyData::G2Points(l) => Self::G2(l),
            types::KeyData::Bytes(b) => Self::Bytes(b),
        }
    }
}

impl From<prova_compute::KernelError> for field::KernelError {
    fn from(e: prova_compute::KernelError) -> Self {
        match e {
            prova_compute::KernelError::InvalidInput(m) => field::KernelError::InvalidInput(m),
            prova_compute::KernelError::ResourcesExhausted(m) => field::KernelError::ResourcesExhausted(m),
        }
    }
}

impl From<crate::host::KeyLookupError> for keys::KeyError {
    fn from(e: crate::host::KeyLookupError) -> Self {
        match e {
            crate::host::KeyLookupError::NoKeys => keys::KeyError::NoKeys,
            crate::host::KeyLookupError::Missing(s) => keys::KeyError::MissingSection(s),
        }
    }
}

fn ntt_kind(kind: field::NttKind, offset: ark_bn254::Fr) -> prova_compute::NttKind {
    match kind {
        field::NttKind::Forward => prova_compute::NttKind::Forward,
        field::NttKind::Inverse => prova_compute::NttKind::Inverse,
        field::NttKind::CosetForward => prova_compute::NttKind::CosetForward(offset),
        field::NttKind::CosetInverse => prova_compute::NttKind::CosetInverse(offset),
    }
}

type Res<T, E> = wasmtime::Result<Result<T, E>>;

impl field::HostG1Bases for HostState {
    fn len(&mut self, h: Resource<G1Handle>) -> wasmtime::Result<u32> {
        Ok(self.g1(&h)?.len() as u32)
    }
    fn points(&mut self, h: Resource<G1Handle>) -> wasmtime::Result<Vec<u64>> {
        Ok(prova_codec::g1s_to_limbs(self.g1(&h)?.points()))
    }
    fn drop(&mut self, h: Resource<G1Handle>) -> wasmtime::Result<()> {
        self.table.delete(h)?;
        Ok(())
    }
}

impl field::HostG2Bases for HostState {
    fn len(&mut self, h: Resource<G2Handle>) -> wasmtime::Result<u32> {
        Ok(self.g2(&h)?.len() as u32)
    }
    fn points(&mut self, h: Resource<G2Handle>) -> wasmtime::Result<Vec<u64>> {
        Ok(prova_codec::g2s_to_limbs(self.g2(&h)?.points()))
    }
    fn drop(&mut self, h: Resource<G2Handle>) -> wasmtime::Result<()> {
        self.table.delete(h)?;
        Ok(())
    }
}

impl field::Host for HostState {
    fn msm_g1(&mut self, h: Resource<G1Handle>, start: u32, scalars: Vec<u64>) -> Res<Vec<u64>, field::KernelError> {
        Ok(self.kernel_msm_g1(&h, start, &scalars).map_err(Into::into))
    }
    fn msm_g2(&mut self, h: Resource<G2Handle>, start: u32, scalars: Vec<u64>) -> Res<Vec<u64>, field::KernelError> {
        Ok(self.kernel_msm_g2(&h, start, &scalars).map_err(Into::into))
    }
    fn ntt(&mut self, values: Vec<u64>, kind: field::NttKind, offset: Vec<u64>) -> Res<Vec<u64>, field::KernelError> {
        let run = || -> Result<Vec<u64>, prova_compute::KernelError> {
            let offset =
                prova_codec::fr_from_limbs(&offset).map_err(|e| prova_compute::KernelError::InvalidInput(format!("coset offset: {e}")))?;
            self.kernel_ntt(&values, ntt_kind(kind, offset))
        };
        Ok(run().map_err(Into::into))
    }
}

impl keys::Host for HostState {
    fn g1(&mut self, section: String) -> Res<Resource<G1Handle>, keys::KeyError> {
        Ok(match self.key_g1(&section) {
            Ok(b) => Ok(self.table.push(b)?),
            Err(e) => Err(e.into()),
        })
    }
    fn g2(&mut self, section: String) -> Res<Resource<G2Handle>, keys::KeyError> {
        Ok(match self.key_g2(&section) {
            Ok(b) => Ok(self.table.push(b)?),
            Err(e) => Err(e.into()),
        })
    }
    fn bytes(&mut self, section: String) -> Res<Vec<u8>, keys::KeyError> {
        Ok(self.key_bytes(&section).map_err(Into::into))
    }
}

impl types::Host for HostState {}

/// Links this version's imports (and WASI, which the allow-list narrows) for `HostState`.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    CircuitAdapter::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}
