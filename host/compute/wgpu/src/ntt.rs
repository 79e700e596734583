//! Fr NTTs on the device: forward, inverse and coset, as `ceil(log n / 8)` tiled passes
//! (`shaders/ntt.wgsl`) plus one scaling pass for cosets and 1/n (`shaders/scale.wgsl`).

use std::sync::Arc;
use std::time::Instant;

use ark_bn254::Fr;
use ark_ff::{BigInt, Field, One};
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use prova_compute::NttKind;
use rayon::prelude::*;

use crate::gpu::{Gpu, GpuError, Kernel, Timings};
use crate::shader::limbs32;

/// Elements a workgroup holds in workgroup memory: 256 × 32 bytes = 8 KiB, half of WebGPU's
/// guaranteed 16 KiB, so every adapter runs it. Eight butterfly stages per pass: 2^16 in two
/// passes, 2^17..2^24 in three.
const TILE_BITS: u32 = 8;

/// Words per field element (eight u32 limbs).
pub(crate) const WORDS: usize = 8;

/// Fr elements as Montgomery-form u32 limbs, the layout of the shaders.
pub(crate) fn fr_words(values: &[Fr]) -> Vec<u32> {
    let mut out = vec![0u32; values.len() * WORDS];
    out.par_chunks_mut(WORDS).zip(values.par_iter()).for_each(|(w, v)| w.copy_from_slice(&limbs32(&v.0)));
    out
}

/// The inverse of [`fr_words`]. The shaders return reduced values, so they are valid elements.
fn fr_from_words(words: &[u32], out: &mut [Fr]) {
    out.par_iter_mut().zip(words.par_chunks(WORDS)).for_each(|(v, w)| {
        let mut limbs = [0u64; 4];
        for (i, l) in limbs.iter_mut().enumerate() {
            *l = w[2 * i] as u64 | ((w[2 * i + 1] as u64) << 32);
        }
        *v = Fr::new_unchecked(BigInt(limbs));
    });
}

/// omega^k for k < max(n/2, 1).
fn twiddle_table(omega: Fr, n: usize) -> Vec<Fr> {
    let half = (n / 2).max(1);
    let chunk = 1 << 12;
    let mut table = vec![Fr::one(); half];
    table.par_chunks_mut(chunk).enumerate().for_each(|(c, out)| {
        let mut w = omega.pow([(c * chunk) as u64]);
        for x in out {
            *x = w;
            w *= omega;
        }
    });
    table
}

/// The butterfly-stage split of a log-n transform: `(lo_bits, bits)` per pass, as even as
/// possible, each at most `TILE_BITS`.
fn passes(log_n: u32) -> Vec<(u32, u32)> {
    let count = log_n.div_ceil(TILE_BITS);
    let mut lo = 0;
    (0..count)
        .map(|p| {
            let bits = log_n / count + u32::from(p < log_n % count);
            let pass = (lo, bits);
            lo += bits;
            pass
        })
        .collect()
}

impl Gpu {
    /// Transforms `values` (a power-of-two length the caller has checked) on the device.
    pub fn ntt(&self, values: &mut [Fr], kind: NttKind) -> Result<Timings, GpuError> {
        let n = values.len();
        let log_n = n.trailing_zeros();
        let bytes = (n * WORDS * 4) as u64;
        self.check_binding(&format!("an NTT of 2^{log_n}"), bytes)?;
        let domain = Radix2EvaluationDomain::<Fr>::new(n)
            .ok_or_else(|| GpuError::Unsupported { adapter: self.label(), what: format!("no Fr domain of size {n}") })?;
        let inverse = matches!(kind, NttKind::Inverse | NttKind::CosetInverse(_));
        // values[i] *= c * base^i before (forward coset) or after (inverse) the transform.
        let (c, base) = match kind {
            NttKind::Forward => (Fr::one(), None),
            NttKind::CosetForward(o) => (Fr::one(), Some(o)),
            NttKind::Inverse => (domain.size_inv, None),
            NttKind::CosetInverse(o) => (domain.size_inv, Some(o.inverse().unwrap_or_default())),
        };

        let mut t = Timings::default();
        let host = Instant::now();
        let words = fr_words(values);
        let twiddles = self.twiddles(log_n, inverse, if inverse { domain.group_gen_inv } else { domain.group_gen })?;
        let mut pows = vec![c];
        if let Some(base) = base {
            let mut p = base;
            for _ in 0..log_n {
                pows.push(p);
                p.square_in_place();
            }
        }
        t.host = host.elapsed();

        let upload = Instant::now();
        let src = self.upload("NTT input", &words)?;
        let dst = self.scratch("NTT output", words.len())?;
        let pows_buf = self.upload("NTT scale powers", &fr_words(&pows))?;
        self.flush()?;
        t.upload = upload.elapsed();

        let (ntt_pipeline, scale_pipeline) = (self.pipeline(Kernel::Ntt)?, self.pipeline(Kernel::Scale)?);
        let scale_bits = (pows.len() - 1) as u32;
        let scale = |encoder: &mut wgpu::CommandEncoder, target: &wgpu::Buffer| {
            let groups = (n as u32).div_ceil(64);
            let (_, _, row) = Gpu::grid(groups);
            let params = self.params(&[n as u32, scale_bits, row]);
            let bind = self.bind(scale_pipeline, &[target, &pows_buf, &params]);
            Gpu::dispatch(encoder, scale_pipeline, &bind, groups);
        };
        let mut encoder = self.device.create_command_encoder(&Default::default());
        self.scoped("NTT dispatch", || {
            if !inverse && base.is_some() {
                scale(&mut encoder, &src);
            }
            if log_n == 0 {
                encoder.copy_buffer_to_buffer(&src, 0, &dst, 0, bytes);
            }
            for (p, (lo_bits, bits)) in passes(log_n).into_iter().enumerate() {
                let total_groups = (n >> bits) as u32;
                let groups = total_groups.div_ceil(256 >> bits);
                let (_, _, row) = Gpu::grid(groups);
                let params = self.params(&[log_n, lo_bits, bits, u32::from(p == 0), row, total_groups]);
                let bind = self.bind(ntt_pipeline, &[&src, &dst, &twiddles, &params]);
                Gpu::dispatch(&mut encoder, ntt_pipeline, &bind, groups);
            }
            if inverse {
                scale(&mut encoder, &dst);
            }
        })?;
        t.kernel = self.submit_and_wait(encoder)?;

        let (out, download) = self.download(&dst, words.len())?;
        t.download = download;
        let host = Instant::now();
        fr_from_words(&out, values);
        t.host += host.elapsed();
        Ok(t)
    }

    /// The device's twiddle table for a size and direction, built and uploaded on first use.
    fn twiddles(&self, log_n: u32, inverse: bool, omega: Fr) -> Result<Arc<wgpu::Buffer>, GpuError> {
        if let Some(b) = self.twiddles.lock().expect("twiddle cache").get(&(log_n, inverse)) {
            return Ok(b.clone());
        }
        let table = twiddle_table(omega, 1 << log_n);
        let buffer = Arc::new(self.upload("NTT twiddles", &fr_words(&table))?);
        self.twiddles.lock().expect("twiddle cache").insert((log_n, inverse), buffer.clone());
        Ok(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_cover_every_stage_once_within_the_tile() {
        for log_n in 0..=28 {
            let p = passes(log_n);
            assert_eq!(p.iter().map(|(_, b)| b).sum::<u32>(), log_n);
            assert!(p.iter().all(|&(_, b)| (1..=TILE_BITS).contains(&b)));
            let mut lo = 0;
            for &(l, b) in &p {
                assert_eq!(l, lo);
                lo += b;
            }
        }
        assert_eq!(passes(22).len(), 3);
        assert_eq!(passes(16).len(), 2);
    }

    #[test]
    fn words_round_trip() {
        let v: Vec<Fr> = (0..9u64).map(|i| Fr::from(i) - Fr::from(3u64)).collect();
        let mut back = vec![Fr::one(); 9];
        fr_from_words(&fr_words(&v), &mut back);
        assert_eq!(back, v);
    }
}
