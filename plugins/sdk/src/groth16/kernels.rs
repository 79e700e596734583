//! Where the prover's MSMs and NTTs run: the host's kernels (the product; natively, the SDK's
//! in-process host), or, with the `guest-kernels` feature, arkworks inside the guest on copies of
//! the bases (only for the benchmark that measures what the host kernels buy).

use ark_bn254::{Fr, G1Projective, G2Projective};
#[cfg(feature = "guest-kernels")]
use ark_bn254::{G1Affine, G2Affine};

use super::prover::{G1Query, Kernels};
use super::setup::G2_SECTION;
use crate::AdapterError;
use crate::kernels::{self as host, G1Bases, G2Bases, Ntt};

/// The proving-key sections of the G1 queries, in [`G1Query`] order.
const G1_SECTIONS: [G1Query; 4] = [G1Query::A, G1Query::BG1, G1Query::H, G1Query::L];

/// Kernels on the host, over the proving key's resident bases.
struct HostKernels {
    g1: [G1Bases; 4],
    g2: G2Bases,
}

impl HostKernels {
    /// Handles to the installed key's bases (cheap: nothing is copied).
    fn open() -> Result<Self, AdapterError> {
        let [a, b, h, l] = G1_SECTIONS.map(|q| crate::keys::g1(q.section()));
        Ok(Self { g1: [a?, b?, h?, l?], g2: crate::keys::g2(G2_SECTION)? })
    }
}

impl Kernels for HostKernels {
    fn msm_g1(&mut self, q: G1Query, start: usize, scalars: &[Fr]) -> Result<G1Projective, AdapterError> {
        host::msm_g1(&self.g1[q as usize], start, scalars)
    }
    fn msm_g2(&mut self, start: usize, scalars: &[Fr]) -> Result<G2Projective, AdapterError> {
        host::msm_g2(&self.g2, start, scalars)
    }
    fn ntt(&mut self, values: &mut Vec<Fr>, kind: Ntt) -> Result<(), AdapterError> {
        host::ntt(values, kind)
    }
}

/// The kernels a proof runs on.
#[cfg(not(feature = "guest-kernels"))]
pub(super) fn open() -> Result<impl Kernels, AdapterError> {
    HostKernels::open()
}

/// The kernels a proof runs on: arkworks in the guest, on copies of the host's bases.
#[cfg(feature = "guest-kernels")]
pub(super) fn open() -> Result<impl Kernels, AdapterError> {
    let h = HostKernels::open()?;
    let [a, b_g1, hq, l] = [0, 1, 2, 3].map(|i| host::g1_points(&h.g1[i]));
    Ok(LocalKernels { g1: [a?, b_g1?, hq?, l?], b_g2: host::g2_points(&h.g2)? })
}

/// arkworks in the same process as the adapter.
#[cfg(feature = "guest-kernels")]
struct LocalKernels {
    /// a, b-g1, h, l, in [`G1Query`] order.
    g1: [Vec<G1Affine>; 4],
    b_g2: Vec<G2Affine>,
}

#[cfg(feature = "guest-kernels")]
impl Kernels for LocalKernels {
    fn msm_g1(&mut self, q: G1Query, start: usize, scalars: &[Fr]) -> Result<G1Projective, AdapterError> {
        crate::arkworks::msm(&self.g1[q as usize], start, scalars)
    }
    fn msm_g2(&mut self, start: usize, scalars: &[Fr]) -> Result<G2Projective, AdapterError> {
        crate::arkworks::msm(&self.b_g2, start, scalars)
    }
    fn ntt(&mut self, values: &mut Vec<Fr>, kind: Ntt) -> Result<(), AdapterError> {
        crate::arkworks::ntt(values, kind)
    }
}
