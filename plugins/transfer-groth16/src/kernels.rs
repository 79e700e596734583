//! The two places MSMs and NTTs can run: the host (the product) and arkworks in-process (tests,
//! and the benchmark build that measures what the host buys).

use ark_bn254::{Fr, G1Projective, G2Projective};
#[cfg(any(test, feature = "guest-kernels"))]
use ark_bn254::{G1Affine, G2Affine};
use prova_guest::AdapterError;
use prova_guest::kernels::{self as host, G1Bases, G2Bases, Ntt};

use crate::prover::{G1Query, Kernels};

/// The proving-key sections this adapter reads.
pub const G1_SECTIONS: [G1Query; 4] = [G1Query::A, G1Query::BG1, G1Query::H, G1Query::L];
pub const G2_SECTION: &str = "b-g2";

/// Kernels on the host, over the proving key's resident bases.
pub struct HostKernels {
    g1: [G1Bases; 4],
    g2: G2Bases,
}

impl HostKernels {
    /// Handles to the installed key's bases (cheap: nothing is copied).
    pub fn open() -> Result<Self, AdapterError> {
        let [a, b, h, l] = G1_SECTIONS.map(|q| prova_guest::keys::g1(q.section()));
        Ok(Self { g1: [a?, b?, h?, l?], g2: prova_guest::keys::g2(G2_SECTION)? })
    }

    /// Copies of all bases, for [`LocalKernels`] in the benchmark build.
    #[cfg(feature = "guest-kernels")]
    pub fn to_local(&self) -> Result<LocalKernels, AdapterError> {
        let [a, b_g1, h, l] = [0, 1, 2, 3].map(|i| host::g1_points(&self.g1[i]));
        Ok(LocalKernels { g1: [a?, b_g1?, h?, l?], b_g2: host::g2_points(&self.g2)? })
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

/// arkworks in the same process as the adapter.
#[cfg(any(test, feature = "guest-kernels"))]
pub struct LocalKernels {
    /// a, b-g1, h, l, in [`G1Query`] order.
    pub g1: [Vec<G1Affine>; 4],
    pub b_g2: Vec<G2Affine>,
}

#[cfg(any(test, feature = "guest-kernels"))]
impl Kernels for LocalKernels {
    fn msm_g1(&mut self, q: G1Query, start: usize, scalars: &[Fr]) -> Result<G1Projective, AdapterError> {
        use ark_ec::VariableBaseMSM;
        Ok(G1Projective::msm_unchecked(&self.g1[q as usize][start..start + scalars.len()], scalars))
    }
    fn msm_g2(&mut self, start: usize, scalars: &[Fr]) -> Result<G2Projective, AdapterError> {
        use ark_ec::VariableBaseMSM;
        Ok(G2Projective::msm_unchecked(&self.b_g2[start..start + scalars.len()], scalars))
    }
    fn ntt(&mut self, values: &mut Vec<Fr>, kind: Ntt) -> Result<(), AdapterError> {
        use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
        let d = Radix2EvaluationDomain::<Fr>::new(values.len())
            .ok_or_else(|| AdapterError::Internal(format!("no NTT domain of size {}", values.len())))?;
        let coset = |o: Fr| d.get_coset(o).ok_or_else(|| AdapterError::Internal("bad coset offset".into()));
        match kind {
            Ntt::Forward => d.fft_in_place(values),
            Ntt::Inverse => d.ifft_in_place(values),
            Ntt::CosetForward(o) => coset(o)?.fft_in_place(values),
            Ntt::CosetInverse(o) => coset(o)?.ifft_in_place(values),
        }
        Ok(())
    }
}
