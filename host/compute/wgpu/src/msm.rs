//! BN254 G1 MSM on the device: Pippenger with signed digits.
//!
//! Per call the host computes the signed digits (`prova_compute::msm`, the CPU backend's own)
//! and sorts the points of each window into buckets; the device sums every bucket
//! (`shaders/msm_accumulate.wgsl`, one invocation per bucket) and reduces the buckets in
//! segments (`shaders/msm_reduce.wgsl`); the host combines the few segment results per window and
//! the windows. Bases are uploaded once per `G1Bases` and stay on the device across calls.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ark_bn254::{Fq, G1Affine, G1Projective};
use ark_ec::AffineRepr;
use ark_ff::{AdditiveGroup, BigInt, Zero};
use prova_compute::G1Bases;
use prova_compute::msm::{all_digits, combine_windows, window_bits, window_count};
use rayon::prelude::*;

use crate::gpu::{Gpu, GpuError, Kernel, Timings};
use crate::shader::limbs32;

/// How many base sets stay resident. A Groth16 proving key has four G1 query vectors (A, B1,
/// H, L), so this keeps the keys of four circuits; the least recently used set is dropped first.
const RESIDENT_SETS: usize = 16;

/// Buckets per reduction segment are chosen so each window has this many segments: enough
/// parallel work for the reduce kernel, few enough results for the host to combine cheaply.
const SEGMENTS_PER_WINDOW: usize = 256;

/// Marks a negative digit in a bucket entry; point indices stay below it.
const NEGATIVE: u32 = 1 << 31;

/// Words of a projective point (X, Y, Z) as the shaders store it.
const POINT_WORDS: usize = 24;

/// Base sets on the device, most recently used last.
#[derive(Default)]
pub(crate) struct ResidentBases {
    sets: VecDeque<(u64, Arc<DeviceBases>)>,
}

pub(crate) struct DeviceBases {
    x: wgpu::Buffer,
    y: wgpu::Buffer,
}

impl Gpu {
    /// Uploads `bases` unless they are resident; returns the time spent uploading (zero when
    /// they were resident).
    pub fn upload_bases(&self, bases: &G1Bases) -> Result<Duration, GpuError> {
        self.resident(bases).map(|(_, d)| d)
    }

    fn resident(&self, bases: &G1Bases) -> Result<(Arc<DeviceBases>, Duration), GpuError> {
        {
            let mut cache = self.bases.lock().expect("bases cache");
            if let Some(pos) = cache.sets.iter().position(|(id, _)| *id == bases.id()) {
                let entry = cache.sets.remove(pos).expect("present");
                let set = entry.1.clone();
                cache.sets.push_back(entry);
                return Ok((set, Duration::ZERO));
            }
        }
        if bases.len() >= NEGATIVE as usize {
            return Err(GpuError::Unsupported { adapter: self.label(), what: format!("{} bases (at most 2^31)", bases.len()) });
        }
        let start = Instant::now();
        let coords = |f: fn(&G1Affine) -> Fq| -> Vec<u32> {
            let mut out = vec![0u32; bases.len() * 8];
            out.par_chunks_mut(8).zip(bases.points().par_iter()).for_each(|(w, p)| w.copy_from_slice(&limbs32(&f(p).0)));
            out
        };
        let x = self.upload("MSM bases x", &coords(|p| p.x))?;
        let y = self.upload("MSM bases y", &coords(|p| p.y))?;
        self.flush()?;
        let set = Arc::new(DeviceBases { x, y });
        let mut cache = self.bases.lock().expect("bases cache");
        cache.sets.push_back((bases.id(), set.clone()));
        while cache.sets.len() > RESIDENT_SETS {
            cache.sets.pop_front();
        }
        Ok((set, start.elapsed()))
    }

    /// `sum scalars[i] * bases[start + i]`; the caller has checked the range.
    pub fn msm_g1(&self, bases: &G1Bases, start: usize, scalars: &[ark_bn254::Fr]) -> Result<(G1Projective, Timings), GpuError> {
        let n = scalars.len();
        let mut t = Timings::default();
        if n == 0 {
            return Ok((G1Projective::zero(), t));
        }
        let (set, upload) = self.resident(bases)?;
        t.upload = upload;
        let (accumulate, reduce) = (self.pipeline(Kernel::Accumulate)?, self.pipeline(Kernel::Reduce)?);

        let host = Instant::now();
        let c = window_bits(n);
        let windows = window_count(c);
        let buckets = 1usize << (c - 1);
        let segments = SEGMENTS_PER_WINDOW.min(buckets);
        let seg_len = buckets / segments;
        let digits = all_digits(scalars, c, windows);
        let points = &bases.points()[start..start + n];
        t.host = host.elapsed();

        // Windows per chunk: every entry of a window is one u32, every bucket sum 24.
        let limit = self.binding_limit() as usize / 4;
        let per_chunk = (limit / n.max(buckets * POINT_WORDS)).clamp(1, windows);
        let mut window_sums = Vec::with_capacity(windows);
        for first in (0..windows).step_by(per_chunk) {
            let chunk = per_chunk.min(windows - first);
            let host = Instant::now();
            let (offsets, entries) = sort_into_buckets(points, start, &digits, windows, first..first + chunk, buckets);
            t.host += host.elapsed();

            let upload = Instant::now();
            let offsets = self.upload("MSM bucket offsets", &offsets)?;
            let entries = self.upload("MSM bucket entries", &entries)?;
            let sums = self.scratch("MSM bucket sums", chunk * buckets * POINT_WORDS)?;
            let out = self.scratch("MSM segment sums", chunk * segments * 2 * POINT_WORDS)?;
            self.flush()?;
            t.upload += upload.elapsed();

            let mut encoder = self.device.create_command_encoder(&Default::default());
            self.scoped("MSM dispatch", || {
                let total = (chunk * buckets) as u32;
                let groups = total.div_ceil(64);
                let params = self.params(&[total, Gpu::grid(groups).2]);
                let bind = self.bind(accumulate, &[&set.x, &set.y, &offsets, &entries, &sums, &params]);
                Gpu::dispatch(&mut encoder, accumulate, &bind, groups);
                let total = (chunk * segments) as u32;
                let groups = total.div_ceil(64);
                let params = self.params(&[total, seg_len as u32, Gpu::grid(groups).2]);
                let bind = self.bind(reduce, &[&sums, &out, &params]);
                Gpu::dispatch(&mut encoder, reduce, &bind, groups);
            })?;
            t.kernel += self.submit_and_wait(encoder)?;
            let (words, download) = self.download(&out, chunk * segments * 2 * POINT_WORDS)?;
            t.download += download;

            let host = Instant::now();
            let pts = projective_from_words(&words);
            window_sums.par_extend(pts.par_chunks(2 * segments).map(|w| combine_segments(w, seg_len)));
            t.host += host.elapsed();
        }
        let host = Instant::now();
        let result = combine_windows(&window_sums, c);
        t.host += host.elapsed();
        Ok((result, t))
    }
}

/// Bucket lists of windows `range` in CSR form: `offsets[k]..offsets[k + 1]` indexes `entries`
/// for bucket k (window-major, bucket |digit| - 1), each entry a base index with [`NEGATIVE`]
/// set for a negative digit. Zero digits and points at infinity contribute nothing and are left
/// out, as in the CPU backend.
fn sort_into_buckets(
    points: &[G1Affine],
    start: usize,
    digits: &[i32],
    windows: usize,
    range: std::ops::Range<usize>,
    buckets: usize,
) -> (Vec<u32>, Vec<u32>) {
    let per_window: Vec<(Vec<u32>, Vec<u32>)> = range
        .into_par_iter()
        .map(|w| {
            let mut counts = vec![0u32; buckets + 1];
            for (i, p) in points.iter().enumerate() {
                let d = digits[i * windows + w];
                if d != 0 && !p.is_zero() {
                    counts[d.unsigned_abs() as usize] += 1;
                }
            }
            for b in 0..buckets {
                counts[b + 1] += counts[b];
            }
            let mut fill = counts.clone();
            let mut entries = vec![0u32; counts[buckets] as usize];
            for (i, p) in points.iter().enumerate() {
                let d = digits[i * windows + w];
                if d != 0 && !p.is_zero() {
                    let b = d.unsigned_abs() as usize - 1;
                    entries[fill[b] as usize] = (start + i) as u32 | if d < 0 { NEGATIVE } else { 0 };
                    fill[b] += 1;
                }
            }
            (counts, entries)
        })
        .collect();
    let mut offsets = Vec::with_capacity(per_window.len() * buckets + 1);
    let mut entries = Vec::with_capacity(per_window.iter().map(|(_, e)| e.len()).sum());
    for (counts, e) in per_window {
        let base = entries.len() as u32;
        offsets.extend(counts[..buckets].iter().map(|c| c + base));
        entries.extend(e);
    }
    offsets.push(entries.len() as u32);
    (offsets, entries)
}

/// Homogeneous projective points (X : Y : Z) from the shaders, as arkworks points.
fn projective_from_words(words: &[u32]) -> Vec<G1Projective> {
    let fq = |w: &[u32]| {
        let mut limbs = [0u64; 4];
        for (i, l) in limbs.iter_mut().enumerate() {
            *l = w[2 * i] as u64 | ((w[2 * i + 1] as u64) << 32);
        }
        Fq::new_unchecked(BigInt(limbs))
    };
    let xyz: Vec<(Fq, Fq, Fq)> = words.chunks(POINT_WORDS).map(|w| (fq(&w[0..8]), fq(&w[8..16]), fq(&w[16..24]))).collect();
    let mut inv: Vec<Fq> = xyz.iter().map(|p| p.2).collect();
    ark_ff::batch_inversion(&mut inv);
    xyz.iter()
        .zip(inv)
        .map(|((x, y, z), zi)| if z.is_zero() { G1Projective::zero() } else { G1Affine::new_unchecked(*x * zi, *y * zi).into_group() })
        .collect()
}

/// One window's sum from its segments' (total, plain) pairs:
/// `sum_s total_s + seg_len * sum_s s * plain_s`, the second sum as a running sum.
fn combine_segments(pairs: &[G1Projective], seg_len: usize) -> G1Projective {
    let mut totals = G1Projective::zero();
    let mut running = G1Projective::zero();
    let mut weighted = G1Projective::zero();
    for s in (0..pairs.len() / 2).rev() {
        totals += pairs[2 * s];
        if s > 0 {
            running += pairs[2 * s + 1];
            weighted += running;
        }
    }
    // seg_len is a power of two: multiply by doubling.
    for _ in 0..seg_len.trailing_zeros() {
        weighted.double_in_place();
    }
    totals + weighted
}
