//! Byte formats of this adapter's proofs and verifying key.
//!
//! Everything is big-endian and laid out as the EVM precompiles want it (G1: x, y; G2:
//! x.c1, x.c0, y.c1, y.c0; 32 bytes per coordinate; infinity = all zero), so that the verifier
//! contract reads the final proof without re-encoding. Decoding is strict: exact lengths,
//! canonical field elements, points on the curve and in the subgroup. So every byte matters and
//! any flipped byte is either refused here (naming the field) or fails the pairing check.
//!
//! ```text
//! batch proof    "PVB1" | proof | old_root | new_root | commitment | prover(20)
//! bundle         magic  | prover(20) | n: u32 | n x proof | (n + 1) x root | n x commitment
//!                magic = "PVA1" (aggregate) or "PVF1" (final, prover = the submitter)
//! proof          A: G1 (64) | B: G2 (128) | C: G1 (64)
//! verifying key  "PVK1" | alpha: G1 | beta: G2 | gamma: G2 | delta: G2 | n: u32 | n x G1 (IC)
//! ```

use crate::AdapterError;
use ark_bn254::{Fq, Fq2, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInteger, PrimeField, Zero};

pub const BATCH_MAGIC: &[u8; 4] = b"PVB1";
pub const AGGREGATE_MAGIC: &[u8; 4] = b"PVA1";
pub const FINAL_MAGIC: &[u8; 4] = b"PVF1";
pub const VK_MAGIC: &[u8; 4] = b"PVK1";
/// Most batches one bundle may hold: bounds decoding work and on-chain gas (n + 3 pairings).
pub const MAX_BATCHES: u32 = 64;

pub type Address = [u8; 20];

/// A Groth16 proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proof {
    pub a: G1Affine,
    pub b: G2Affine,
    pub c: G1Affine,
}

/// A Groth16 verifying key for this circuit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    pub alpha_g1: G1Affine,
    pub beta_g2: G2Affine,
    pub gamma_g2: G2Affine,
    pub delta_g2: G2Affine,
    pub ic: Vec<G1Affine>,
}

/// A batch proof with its statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchProof {
    pub proof: Proof,
    pub old_root: Fr,
    pub new_root: Fr,
    pub commitment: Fr,
    pub prover: Address,
}

/// Batch proofs of consecutive batches, all bound to one prover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub prover: Address,
    pub proofs: Vec<Proof>,
    /// `roots[i]` -> `roots[i + 1]` is batch `i`.
    pub roots: Vec<Fr>,
    pub commitments: Vec<Fr>,
}

/// The address as the circuit's public input.
pub fn address_to_fr(a: &Address) -> Fr {
    Fr::from_be_bytes_mod_order(a)
}

impl BatchProof {
    /// Public inputs in circuit order.
    pub fn inputs(&self) -> [Fr; 4] {
        [self.old_root, self.new_root, self.commitment, address_to_fr(&self.prover)]
    }
}

impl Bundle {
    /// The batch proofs it holds.
    pub fn batches(&self) -> Vec<BatchProof> {
        (0..self.proofs.len())
            .map(|i| BatchProof {
                proof: self.proofs[i],
                old_root: self.roots[i],
                new_root: self.roots[i + 1],
                commitment: self.commitments[i],
                prover: self.prover,
            })
            .collect()
    }
}

// ---- writing ----

pub fn put_fr(out: &mut Vec<u8>, x: &Fr) {
    out.extend_from_slice(&x.into_bigint().to_bytes_be());
}

fn put_fq(out: &mut Vec<u8>, x: &Fq) {
    out.extend_from_slice(&x.into_bigint().to_bytes_be());
}

fn put_g1(out: &mut Vec<u8>, p: &G1Affine) {
    let (x, y) = p.xy().unwrap_or_default();
    put_fq(out, &x);
    put_fq(out, &y);
}

fn put_g2(out: &mut Vec<u8>, p: &G2Affine) {
    let (x, y) = p.xy().unwrap_or_default();
    for c in [x.c1, x.c0, y.c1, y.c0] {
        put_fq(out, &c);
    }
}

fn put_proof(out: &mut Vec<u8>, p: &Proof) {
    put_g1(out, &p.a);
    put_g2(out, &p.b);
    put_g1(out, &p.c);
}

pub fn encode_batch(b: &BatchProof) -> Vec<u8> {
    let mut out = BATCH_MAGIC.to_vec();
    put_proof(&mut out, &b.proof);
    for x in [b.old_root, b.new_root, b.commitment] {
        put_fr(&mut out, &x);
    }
    out.extend_from_slice(&b.prover);
    out
}

pub fn encode_bundle(magic: &[u8; 4], b: &Bundle) -> Vec<u8> {
    let mut out = magic.to_vec();
    out.extend_from_slice(&b.prover);
    out.extend_from_slice(&(b.proofs.len() as u32).to_be_bytes());
    b.proofs.iter().for_each(|p| put_proof(&mut out, p));
    b.roots.iter().chain(&b.commitments).for_each(|x| put_fr(&mut out, x));
    out
}

pub fn encode_vk(vk: &VerifyingKey) -> Vec<u8> {
    let mut out = VK_MAGIC.to_vec();
    put_g1(&mut out, &vk.alpha_g1);
    for p in [&vk.beta_g2, &vk.gamma_g2, &vk.delta_g2] {
        put_g2(&mut out, p);
    }
    out.extend_from_slice(&(vk.ic.len() as u32).to_be_bytes());
    vk.ic.iter().for_each(|p| put_g1(&mut out, p));
    out
}

// ---- reading ----

/// A strict reader that names what it was reading when it fails.
pub struct Reader<'a> {
    what: &'static str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(what: &'static str, bytes: &'a [u8]) -> Self {
        Self { what, bytes, pos: 0 }
    }

    fn err(&self, field: &str, why: &str) -> AdapterError {
        AdapterError::InvalidInput(format!("{}: {field} at byte {}: {why}", self.what, self.pos))
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], AdapterError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| self.err(field, "truncated"))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub fn magic(&mut self, want: &[u8; 4]) -> Result<(), AdapterError> {
        let got = self.take(4, "magic")?;
        if got != want {
            return Err(AdapterError::InvalidInput(format!(
                "{}: expected format {:?}, found {:?}",
                self.what,
                String::from_utf8_lossy(want),
                String::from_utf8_lossy(got)
            )));
        }
        Ok(())
    }

    pub fn u32(&mut self, field: &str) -> Result<u32, AdapterError> {
        Ok(u32::from_be_bytes(self.take(4, field)?.try_into().expect("4 bytes")))
    }

    pub fn address(&mut self, field: &str) -> Result<Address, AdapterError> {
        Ok(self.take(20, field)?.try_into().expect("20 bytes"))
    }

    fn field<F: PrimeField>(&mut self, field: &str) -> Result<F, AdapterError> {
        let bytes = self.take(32, field)?;
        let x = F::from_be_bytes_mod_order(bytes);
        // Canonical only: re-encoding must give the same bytes (so x < modulus).
        if x.into_bigint().to_bytes_be() != bytes {
            self.pos -= 32;
            return Err(self.err(field, "not a canonical field element"));
        }
        Ok(x)
    }

    pub fn fr(&mut self, field: &str) -> Result<Fr, AdapterError> {
        self.field(field)
    }

    pub fn g1(&mut self, field: &str) -> Result<G1Affine, AdapterError> {
        let (x, y): (Fq, Fq) = (self.field(field)?, self.field(field)?);
        if x.is_zero() && y.is_zero() {
            return Ok(G1Affine::zero());
        }
        let p = G1Affine::new_unchecked(x, y);
        if !p.is_on_curve() {
            return Err(self.err(field, "G1 point not on the curve"));
        }
        Ok(p)
    }

    pub fn g2(&mut self, field: &str) -> Result<G2Affine, AdapterError> {
        let (x1, x0, y1, y0): (Fq, Fq, Fq, Fq) = (self.field(field)?, self.field(field)?, self.field(field)?, self.field(field)?);
        let (x, y) = (Fq2::new(x0, x1), Fq2::new(y0, y1));
        if x.is_zero() && y.is_zero() {
            return Ok(G2Affine::zero());
        }
        let p = G2Affine::new_unchecked(x, y);
        if !p.is_on_curve() {
            return Err(self.err(field, "G2 point not on the curve"));
        }
        if !p.is_in_correct_subgroup_assuming_on_curve() {
            return Err(self.err(field, "G2 point not in the prime-order subgroup"));
        }
        Ok(p)
    }

    pub fn proof(&mut self, index: usize) -> Result<Proof, AdapterError> {
        Ok(Proof {
            a: self.g1(&format!("proof {index} A"))?,
            b: self.g2(&format!("proof {index} B"))?,
            c: self.g1(&format!("proof {index} C"))?,
        })
    }

    pub fn finish(self) -> Result<(), AdapterError> {
        if self.pos != self.bytes.len() {
            return Err(self.err("end", &format!("{} trailing bytes", self.bytes.len() - self.pos)));
        }
        Ok(())
    }
}

pub fn decode_batch(bytes: &[u8]) -> Result<BatchProof, AdapterError> {
    let mut r = Reader::new("batch proof", bytes);
    r.magic(BATCH_MAGIC)?;
    let proof = r.proof(0)?;
    let b = BatchProof {
        proof,
        old_root: r.fr("old root")?,
        new_root: r.fr("new root")?,
        commitment: r.fr("commitment")?,
        prover: r.address("prover")?,
    };
    r.finish()?;
    Ok(b)
}

pub fn decode_bundle(what: &'static str, magic: &[u8; 4], bytes: &[u8]) -> Result<Bundle, AdapterError> {
    let mut r = Reader::new(what, bytes);
    r.magic(magic)?;
    let prover = r.address("prover")?;
    let n = r.u32("batch count")?;
    if n == 0 || n > MAX_BATCHES {
        return Err(AdapterError::InvalidInput(format!("{what}: batch count {n} outside 1..={MAX_BATCHES}")));
    }
    let n = n as usize;
    let proofs = (0..n).map(|i| r.proof(i)).collect::<Result<Vec<_>, _>>()?;
    let roots = (0..=n).map(|i| r.fr(&format!("root {i}"))).collect::<Result<Vec<_>, _>>()?;
    let commitments = (0..n).map(|i| r.fr(&format!("commitment {i}"))).collect::<Result<Vec<_>, _>>()?;
    r.finish()?;
    Ok(Bundle { prover, proofs, roots, commitments })
}

pub fn decode_vk(bytes: &[u8]) -> Result<VerifyingKey, AdapterError> {
    let mut r = Reader::new("verifying key", bytes);
    r.magic(VK_MAGIC)?;
    let alpha_g1 = r.g1("alpha")?;
    let (beta_g2, gamma_g2, delta_g2) = (r.g2("beta")?, r.g2("gamma")?, r.g2("delta")?);
    let n = r.u32("IC count")?;
    if n != 5 {
        return Err(AdapterError::InvalidInput(format!("verifying key: {n} IC points, this circuit has 4 public inputs (5 points)")));
    }
    let ic = (0..n).map(|i| r.g1(&format!("IC {i}"))).collect::<Result<Vec<_>, _>>()?;
    r.finish()?;
    Ok(VerifyingKey { alpha_g1, beta_g2, gamma_g2, delta_g2, ic })
}
