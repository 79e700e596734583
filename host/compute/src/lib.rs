//! BN254 field kernels that adapters call through the host: G1 and G2 multi-scalar
//! multiplication over resident bases, and Fr number-theoretic transforms.
//!
//! A [`Backend`] runs the kernels. [`RayonBackend`] is the CPU backend; a wgpu backend will
//! implement the same trait. Results are defined as "what arkworks computes": every backend must
//! equal `ark-ec`'s `VariableBaseMSM` and `ark-poly`'s radix-2 domains bit for bit, and the tests
//! here hold the rayon backend to that on random inputs.
//!
//! Architecture invariant: this crate knows nothing of WASM, wasmtime or tokio. It takes and
//! returns arkworks types; the wire encoding lives in `prova-codec`, the plugin glue in
//! `prova-runtime`.

pub mod msm;
mod rayon_backend;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};

pub use rayon_backend::RayonBackend;

/// Why a kernel refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    /// The caller's input cannot be processed (bad length, range outside the bases).
    #[error("invalid kernel input: {0}")]
    InvalidInput(String),
    /// The backend could not get the memory or device it needed.
    #[error("kernel resources exhausted: {0}")]
    ResourcesExhausted(String),
}

/// The transforms over a power-of-two multiplicative subgroup of Fr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NttKind {
    /// Coefficients to evaluations on the subgroup.
    Forward,
    /// Evaluations on the subgroup to coefficients.
    Inverse,
    /// Coefficients to evaluations on `offset * subgroup`.
    CosetForward(Fr),
    /// Evaluations on `offset * subgroup` to coefficients.
    CosetInverse(Fr),
}

/// Points kept by the host for many MSM calls: a proving key's query vectors, uploaded once.
///
/// The id is unique per upload in this process, so that a device backend can cache its own copy
/// keyed by it without hashing the points.
#[derive(Debug, Clone)]
pub struct Bases<P> {
    id: u64,
    points: Arc<[P]>,
}

static NEXT_BASES_ID: AtomicU64 = AtomicU64::new(1);

impl<P> Bases<P> {
    /// Takes ownership of validated points (decoders in `prova-codec` validate).
    pub fn new(points: Vec<P>) -> Self {
        Self { id: NEXT_BASES_ID.fetch_add(1, Ordering::Relaxed), points: points.into() }
    }
    /// Process-unique id of this upload.
    pub fn id(&self) -> u64 {
        self.id
    }
    /// The points.
    pub fn points(&self) -> &[P] {
        &self.points
    }
    /// Number of points.
    pub fn len(&self) -> usize {
        self.points.len()
    }
    /// True when there are no points.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The bases `start..start + n`, or an error naming the range.
    pub fn range(&self, start: usize, n: usize) -> Result<&[P], KernelError> {
        start.checked_add(n).and_then(|end| self.points.get(start..end)).ok_or_else(|| {
            KernelError::InvalidInput(format!("{n} scalars from base {start} overrun the {} resident bases", self.points.len()))
        })
    }
}

/// G1 bases.
pub type G1Bases = Bases<G1Affine>;
/// G2 bases.
pub type G2Bases = Bases<G2Affine>;

/// A kernel backend. Implementations must be deterministic and equal arkworks bit for bit.
pub trait Backend: Send + Sync {
    /// A short name for logs and benchmark reports ("rayon", "wgpu:<adapter>").
    fn name(&self) -> String;

    /// `sum scalars[i] * bases[start + i]` in G1.
    fn msm_g1(&self, bases: &G1Bases, start: usize, scalars: &[Fr]) -> Result<G1Projective, KernelError>;

    /// `sum scalars[i] * bases[start + i]` in G2.
    fn msm_g2(&self, bases: &G2Bases, start: usize, scalars: &[Fr]) -> Result<G2Projective, KernelError>;

    /// Transforms `values` in place; its length must be a power of two.
    fn ntt(&self, values: &mut Vec<Fr>, kind: NttKind) -> Result<(), KernelError>;
}

/// Checks an NTT call the way every backend must refuse it: the length rule of
/// [`check_ntt_len`] and a coset offset that is not zero.
pub fn check_ntt(len: usize, kind: NttKind) -> Result<(), KernelError> {
    check_ntt_len(len)?;
    match kind {
        NttKind::CosetForward(o) | NttKind::CosetInverse(o) if ark_ff::Zero::is_zero(&o) => {
            Err(KernelError::InvalidInput("coset offset is zero".into()))
        }
        _ => Ok(()),
    }
}

/// Checks the NTT length rule shared by every backend: a power of two that the field's
/// two-adicity supports (2^28 for BN254 Fr).
pub fn check_ntt_len(len: usize) -> Result<(), KernelError> {
    use ark_ff::FftField;
    if !len.is_power_of_two() {
        return Err(KernelError::InvalidInput(format!("NTT length {len} is not a power of two")));
    }
    if len.trailing_zeros() > Fr::TWO_ADICITY {
        return Err(KernelError::InvalidInput(format!(
            "NTT length 2^{} exceeds Fr's two-adicity 2^{}",
            len.trailing_zeros(),
            Fr::TWO_ADICITY
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
