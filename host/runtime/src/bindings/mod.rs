//! One bindings module per supported WIT version (Zed's layout): `v0_3` (current) and `v0_2`
//! (frozen in `wit/frozen/0.2`). The loader reads the version a component exports and
//! instantiates it through that version's module; callers never see which.
//!
//! A version module is the `bindgen!` of its WIT, `shared_impls!()` (the conversions and host
//! imports every version has in common, written once here), and what is its own: the metadata
//! conversion. Adding a version is one module here (with its line in `VERSIONS` and in
//! `add_to_linker`), and its arm in `Pre`, `Pre::new` and `job!` (`crate::plugin`).

use crate::host::HostState;

/// Host-side conversions and import implementations common to every version. Expanded inside a
/// version module, after its `bindgen!`, where `types`, `field` and `keys` name its interfaces.
macro_rules! shared_impls {
    () => {
        use wasmtime::component::Resource;

        use crate::host::{G1Handle, G2Handle, HostState};
        use crate::{AdapterError, BatchStatement, Claim, Stage};

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
                    let offset = prova_codec::fr_from_limbs(&offset)
                        .map_err(|e| prova_compute::KernelError::InvalidInput(format!("coset offset: {e}")))?;
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
    };
}

/// The interface a component must export to be an adapter (at any supported version).
pub const ADAPTER_INTERFACE: &str = "prova:adapter/adapter";

pub mod v0_2;
pub mod v0_3;

/// Every version the host loads, newest first. `crate::plugin::Pre::new` has an arm for each.
pub const VERSIONS: [(u64, u64, u64); 2] = [v0_3::VERSION, v0_2::VERSION];

/// Links every version's imports, and WASI once (the allow-list narrows it), for `HostState`.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    v0_2::CircuitAdapter::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(linker, |s| s)?;
    v0_3::CircuitAdapter::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}
