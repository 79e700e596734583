//! The CPU backend, on a rayon pool of its own (so the node can size CPU proving apart from the
//! rest of the process): our batch-affine G1 MSM (`crate::msm`), and arkworks' parallel MSM for
//! G2 and radix-2 FFTs for the NTTs. G2 MSM is one of five MSMs in a Groth16 proof and NTTs about
//! a tenth of proving time, so those stay on the well-tested arkworks code until a benchmark
//! says otherwise.

use ark_bn254::{Fr, G1Projective, G2Projective};
use ark_ec::VariableBaseMSM;
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};

use crate::{Backend, G1Bases, G2Bases, KernelError, NttKind, check_ntt};

/// Kernels on a rayon thread pool.
pub struct RayonBackend {
    pool: rayon::ThreadPool,
}

impl RayonBackend {
    /// A backend with `threads` workers (0: one per core).
    pub fn new(threads: usize) -> Result<Self, KernelError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("prova-rayon-{i}"))
            .build()
            .map_err(|e| KernelError::ResourcesExhausted(format!("rayon pool: {e}")))?;
        Ok(Self { pool })
    }
}

impl Backend for RayonBackend {
    fn name(&self) -> String {
        format!("rayon({} threads)", self.pool.current_num_threads())
    }

    fn msm_g1(&self, bases: &G1Bases, start: usize, scalars: &[Fr]) -> Result<G1Projective, KernelError> {
        let bases = bases.range(start, scalars.len())?;
        Ok(self.pool.install(|| crate::msm::msm_g1(bases, scalars)))
    }

    fn msm_g2(&self, bases: &G2Bases, start: usize, scalars: &[Fr]) -> Result<G2Projective, KernelError> {
        let bases = bases.range(start, scalars.len())?;
        Ok(self.pool.install(|| G2Projective::msm_unchecked(bases, scalars)))
    }

    fn ntt(&self, values: &mut Vec<Fr>, kind: NttKind) -> Result<(), KernelError> {
        check_ntt(values.len(), kind)?;
        let domain = Radix2EvaluationDomain::<Fr>::new(values.len())
            .ok_or_else(|| KernelError::InvalidInput(format!("no domain of size {}", values.len())))?;
        let coset = |offset: Fr| domain.get_coset(offset).ok_or_else(|| KernelError::InvalidInput("coset offset is not invertible".into()));
        self.pool.install(|| -> Result<(), KernelError> {
            match kind {
                NttKind::Forward => domain.fft_in_place(values),
                NttKind::Inverse => domain.ifft_in_place(values),
                NttKind::CosetForward(o) => coset(o)?.fft_in_place(values),
                NttKind::CosetInverse(o) => coset(o)?.ifft_in_place(values),
            }
            Ok(())
        })
    }
}
