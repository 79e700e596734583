//! Guest SDK for prova circuit adapters.
//!
//! An adapter implements [`Adapter`] (the exported `adapter` interface of `wit/adapter.wit`) and
//! calls [`export_adapter!`]. It reaches the host's native kernels through [`kernels`], which
//! speaks arkworks types and hides the wire encoding, and its proving key through [`keys`].
//!
//! Nothing here keeps state between jobs: the host gives every job a fresh instance.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "circuit-adapter",
        pub_export_macro: true,
        export_macro_name: "__export_circuit_adapter",
        default_bindings_module: "prova_guest::bindings",
    });
}

pub use bindings::exports::prova::adapter::adapter::Guest as Adapter;
pub use bindings::prova::adapter::types::{AdapterError, AdapterInfo, BatchStatement, Claim, KeyData, KeySection, ResourceRequest, Stage};

/// The WIT package version this SDK was generated from; adapters report it in `metadata`.
pub const WIT_VERSION: &str = "0.2.0";

/// Exports `$t: Adapter` (a type name in scope) as the component's `adapter` interface.
#[macro_export]
macro_rules! export_adapter {
    ($t:ident) => {
        $crate::bindings::__export_circuit_adapter!($t with_types_in $crate::bindings);
    };
}

/// Host kernels with arkworks types.
pub mod kernels {
    use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
    use ark_ec::AffineRepr;

    use super::AdapterError;
    use crate::bindings::prova::adapter::field::{self, KernelError, NttKind};

    pub use field::{G1Bases, G2Bases};

    /// The transforms the host offers; see `field.ntt-kind`.
    #[derive(Debug, Clone, Copy)]
    pub enum Ntt {
        Forward,
        Inverse,
        CosetForward(Fr),
        CosetInverse(Fr),
    }

    fn to_adapter_error(e: KernelError) -> AdapterError {
        match e {
            KernelError::InvalidInput(m) => AdapterError::Internal(format!("host kernel refused input: {m}")),
            KernelError::ResourcesExhausted(m) => AdapterError::Internal(format!("host kernel resources: {m}")),
        }
    }

    fn decode_error(e: prova_codec::CodecError) -> AdapterError {
        AdapterError::Internal(format!("host kernel returned a malformed value: {e}"))
    }

    /// `sum scalars[i] * bases[start + i]` in G1, on the host.
    pub fn msm_g1(bases: &G1Bases, start: usize, scalars: &[Fr]) -> Result<G1Projective, AdapterError> {
        let out = field::msm_g1(bases, start as u32, &prova_codec::frs_to_limbs(scalars)).map_err(to_adapter_error)?;
        let p: G1Affine = prova_codec::g1_from_limbs(&out).map_err(decode_error)?;
        Ok(p.into_group())
    }

    /// `sum scalars[i] * bases[start + i]` in G2, on the host.
    pub fn msm_g2(bases: &G2Bases, start: usize, scalars: &[Fr]) -> Result<G2Projective, AdapterError> {
        let out = field::msm_g2(bases, start as u32, &prova_codec::frs_to_limbs(scalars)).map_err(to_adapter_error)?;
        let p: G2Affine = prova_codec::g2_from_limbs(&out).map_err(decode_error)?;
        Ok(p.into_group())
    }

    /// Transforms `values` (a power-of-two count) on the host.
    pub fn ntt(values: &mut Vec<Fr>, kind: Ntt) -> Result<(), AdapterError> {
        let (kind, offset) = match kind {
            Ntt::Forward => (NttKind::Forward, Fr::from(0u64)),
            Ntt::Inverse => (NttKind::Inverse, Fr::from(0u64)),
            Ntt::CosetForward(o) => (NttKind::CosetForward, o),
            Ntt::CosetInverse(o) => (NttKind::CosetInverse, o),
        };
        let out = field::ntt(&prova_codec::frs_to_limbs(values), kind, &prova_codec::frs_to_limbs(&[offset])).map_err(to_adapter_error)?;
        *values = prova_codec::frs_from_limbs(&out).map_err(decode_error)?;
        Ok(())
    }

    /// Copies resident G1 bases into the guest (costly; for adapters that compute on them).
    /// The host validated them when it loaded the key set, so only the encoding is checked here.
    pub fn g1_points(bases: &G1Bases) -> Result<Vec<G1Affine>, AdapterError> {
        prova_codec::g1s_from_limbs_trusted(&bases.points()).map_err(decode_error)
    }

    /// Copies resident G2 bases into the guest; see [`g1_points`].
    pub fn g2_points(bases: &G2Bases) -> Result<Vec<G2Affine>, AdapterError> {
        prova_codec::g2s_from_limbs_trusted(&bases.points()).map_err(decode_error)
    }
}

/// The adapter's key set, held by the host.
pub mod keys {
    use super::AdapterError;
    use crate::bindings::prova::adapter::keys::{self, KeyError};
    use crate::kernels::{G1Bases, G2Bases};

    fn to_adapter_error(e: KeyError) -> AdapterError {
        match e {
            KeyError::NoKeys => AdapterError::InvalidInput("no keys installed for this plugin: run `prova plugins setup`".into()),
            KeyError::MissingSection(s) => AdapterError::InvalidInput(format!("the installed key set has no section {s:?}")),
        }
    }

    /// A G1 section as resident bases.
    pub fn g1(section: &str) -> Result<G1Bases, AdapterError> {
        keys::g1(section).map_err(to_adapter_error)
    }
    /// A G2 section as resident bases.
    pub fn g2(section: &str) -> Result<G2Bases, AdapterError> {
        keys::g2(section).map_err(to_adapter_error)
    }
    /// A bytes section.
    pub fn bytes(section: &str) -> Result<Vec<u8>, AdapterError> {
        keys::bytes(section).map_err(to_adapter_error)
    }
    /// A bytes section, or `None` when no keys are installed yet.
    pub fn bytes_if_installed(section: &str) -> Result<Option<Vec<u8>>, AdapterError> {
        match keys::bytes(section) {
            Ok(b) => Ok(Some(b)),
            Err(KeyError::NoKeys) => Ok(None),
            Err(e) => Err(to_adapter_error(e)),
        }
    }
}
