//! BN254 G1 multi-scalar multiplication: Pippenger with signed digits and batch-affine bucket
//! accumulation.
//!
//! Why not arkworks' MSM here: it adds each point into its bucket in projective coordinates
//! (about 11 field multiplications per addition). Summing a bucket's points pairwise in affine
//! coordinates, with one shared inversion per round (Montgomery's trick), costs about 6
//! multiplications per addition. Signed digits halve the number of buckets. The result is
//! bit-identical to `ark-ec`'s `VariableBaseMSM` (tests hold it to that).
//!
//! Per window of `c` bits: group the points by bucket (counting sort), then repeatedly add the
//! points of every bucket in pairs until each bucket holds one point, then take the usual running
//! sum over buckets. Windows are independent and run in parallel.

use ark_bn254::{Fq, Fr, G1Affine, G1Projective};
use ark_ec::AffineRepr;
use ark_ff::{AdditiveGroup, Field, PrimeField, Zero};
use rayon::prelude::*;

/// Window width for `n` points: about log2(n) - 3, which balances the n additions per window
/// against the 2^(c-1) buckets of the running sum. Bounded to keep small MSMs cheap and bucket
/// arrays in cache.
pub fn window_bits(n: usize) -> usize {
    let log = usize::BITS as usize - n.max(1).leading_zeros() as usize;
    log.saturating_sub(3).clamp(2, 16)
}

/// Number of `c`-bit windows for a scalar of Fr. Two spare bits: the top window then holds at
/// most c - 2 scalar bits, so adding the carry from below never pushes its digit out of the
/// signed range.
pub fn window_count(c: usize) -> usize {
    (Fr::MODULUS_BIT_SIZE as usize + 2).div_ceil(c)
}

/// Signed base-2^c digits of a scalar, least significant first, each in [-2^(c-1), 2^(c-1)).
pub fn signed_digits(scalar: &Fr, c: usize, windows: usize, out: &mut [i32]) {
    let bits = scalar.into_bigint();
    let limbs = bits.as_ref();
    let mask = (1u64 << c) - 1;
    let half = 1i64 << (c - 1);
    let mut carry = 0i64;
    for (w, d) in out.iter_mut().enumerate().take(windows) {
        let bit = w * c;
        let (limb, shift) = (bit / 64, bit % 64);
        let mut v = if limb < limbs.len() { limbs[limb] >> shift } else { 0 };
        if shift + c > 64 && limb + 1 < limbs.len() {
            v |= limbs[limb + 1] << (64 - shift);
        }
        let mut digit = (v & mask) as i64 + carry;
        carry = 0;
        if digit >= half {
            digit -= 1 << c;
            carry = 1;
        }
        *d = digit as i32;
    }
    debug_assert_eq!(carry, 0, "the last window absorbs the final carry");
}

/// `sum scalars[i] * bases[i]` in G1. Lengths must match.
pub fn msm_g1(bases: &[G1Affine], scalars: &[Fr]) -> G1Projective {
    assert_eq!(bases.len(), scalars.len(), "caller checks lengths");
    let n = bases.len();
    if n == 0 {
        return G1Projective::zero();
    }
    let c = window_bits(n);
    let windows = window_count(c);
    let digits = all_digits(scalars, c, windows);

    let sums: Vec<G1Projective> = (0..windows).into_par_iter().map(|w| window_sum(bases, &digits, windows, w, c)).collect();
    combine_windows(&sums, c)
}

/// The signed digits of every scalar, scalar-major: `digits[i * windows + w]`.
pub fn all_digits(scalars: &[Fr], c: usize, windows: usize) -> Vec<i32> {
    let mut digits = vec![0i32; scalars.len() * windows];
    digits.par_chunks_mut(windows).zip(scalars.par_iter()).for_each(|(d, s)| signed_digits(s, c, windows, d));
    digits
}

/// Horner over per-window sums, most significant window first: `sum_w 2^(c w) * sums[w]`.
pub fn combine_windows(sums: &[G1Projective], c: usize) -> G1Projective {
    let mut acc = G1Projective::zero();
    for s in sums.iter().rev() {
        for _ in 0..c {
            acc.double_in_place();
        }
        acc += s;
    }
    acc
}

/// The sum over buckets of `bucket_index * bucket_sum` for window `w`.
fn window_sum(bases: &[G1Affine], digits: &[i32], windows: usize, w: usize, c: usize) -> G1Projective {
    let buckets = 1usize << (c - 1);
    // Counting sort of the (point, sign) pairs by bucket |digit| - 1.
    let mut offsets = vec![0usize; buckets + 1];
    for i in 0..bases.len() {
        let d = digits[i * windows + w];
        if d != 0 && !bases[i].is_zero() {
            offsets[d.unsigned_abs() as usize] += 1;
        }
    }
    for b in 0..buckets {
        offsets[b + 1] += offsets[b];
    }
    let mut fill = offsets.clone();
    let mut points = vec![G1Affine::zero(); offsets[buckets]];
    for (i, p) in bases.iter().enumerate() {
        let d = digits[i * windows + w];
        if d != 0 && !p.is_zero() {
            let b = d.unsigned_abs() as usize - 1;
            points[fill[b]] = if d < 0 { -*p } else { *p };
            fill[b] += 1;
        }
    }
    let (points, offsets) = reduce_buckets(points, offsets);

    let mut running = G1Projective::zero();
    let mut acc = G1Projective::zero();
    for b in (0..buckets).rev() {
        if offsets[b + 1] > offsets[b] {
            running += points[offsets[b]];
        }
        acc += running;
    }
    acc
}

/// Adds the points of every bucket pairwise, in affine coordinates with one batched inversion
/// per round, until each bucket holds at most one point. `offsets[b]..offsets[b + 1]` is bucket b.
fn reduce_buckets(mut points: Vec<G1Affine>, mut offsets: Vec<usize>) -> (Vec<G1Affine>, Vec<usize>) {
    let buckets = offsets.len() - 1;
    let mut denoms: Vec<Fq> = Vec::new();
    loop {
        if (0..buckets).all(|b| offsets[b + 1] - offsets[b] <= 1) {
            return (points, offsets);
        }
        // Denominators of this round's pair additions: x2 - x1, or 2y for a doubling. Pairs
        // with an identity or that cancel out get 1 (no inversion needed).
        denoms.clear();
        for b in 0..buckets {
            let bucket = &points[offsets[b]..offsets[b + 1]];
            for pair in bucket.chunks_exact(2) {
                denoms.push(pair_denominator(&pair[0], &pair[1]));
            }
        }
        ark_ff::batch_inversion(&mut denoms);
        let mut next = Vec::with_capacity(points.len() / 2 + buckets);
        let mut next_offsets = Vec::with_capacity(buckets + 1);
        next_offsets.push(0);
        let mut k = 0;
        for b in 0..buckets {
            let bucket = &points[offsets[b]..offsets[b + 1]];
            for pair in bucket.chunks_exact(2) {
                let sum = add_with_inverse(&pair[0], &pair[1], &denoms[k]);
                k += 1;
                if !sum.is_zero() {
                    next.push(sum);
                }
            }
            if bucket.len() % 2 == 1 {
                next.push(bucket[bucket.len() - 1]);
            }
            next_offsets.push(next.len());
        }
        points = next;
        offsets = next_offsets;
    }
}

fn pair_denominator(p: &G1Affine, q: &G1Affine) -> Fq {
    if p.is_zero() || q.is_zero() {
        Fq::ONE
    } else if p.x != q.x {
        q.x - p.x
    } else if p.y == q.y && !p.y.is_zero() {
        p.y.double()
    } else {
        Fq::ONE // p = -q: the sum is the identity
    }
}

/// p + q given the inverse of `pair_denominator(p, q)`.
fn add_with_inverse(p: &G1Affine, q: &G1Affine, inv: &Fq) -> G1Affine {
    if p.is_zero() {
        return *q;
    }
    if q.is_zero() {
        return *p;
    }
    let lambda = if p.x != q.x {
        (q.y - p.y) * inv
    } else if p.y == q.y && !p.y.is_zero() {
        // Doubling on y^2 = x^3 + 3: lambda = 3 x^2 / 2y.
        let x2 = p.x.square();
        (x2.double() + x2) * inv
    } else {
        return G1Affine::zero();
    };
    let x3 = lambda.square() - p.x - q.x;
    let y3 = lambda * (p.x - x3) - p.y;
    G1Affine::new_unchecked(x3, y3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ec::{CurveGroup, VariableBaseMSM};
    use ark_ff::UniformRand;
    use ark_std::rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn digits_recompose_to_the_scalar() {
        let mut rng = StdRng::seed_from_u64(9);
        for c in [2, 3, 7, 13, 16] {
            let windows = window_count(c);
            for s in [Fr::zero(), -Fr::from(1u64), Fr::rand(&mut rng), Fr::rand(&mut rng)] {
                let mut d = vec![0; windows];
                signed_digits(&s, c, windows, &mut d);
                let back = d.iter().rev().fold(Fr::zero(), |acc, x| {
                    acc * Fr::from(1u64 << c) + if *x < 0 { -Fr::from(x.unsigned_abs() as u64) } else { Fr::from(*x as u64) }
                });
                assert_eq!(back, s, "c = {c}");
                assert!(d.iter().all(|x| (*x as i64) >= -(1 << (c - 1)) && (*x as i64) < (1 << (c - 1))));
            }
        }
    }

    #[test]
    fn repeated_opposite_and_identity_points_exercise_every_addition_case() {
        // Many copies of few points force doublings and cancellations inside buckets.
        let mut rng = StdRng::seed_from_u64(3);
        let few: Vec<G1Affine> = (0..3).map(|_| G1Affine::rand(&mut rng)).collect();
        let n = 5000;
        let bases: Vec<G1Affine> = (0..n)
            .map(|i| match i % 5 {
                0 | 1 => few[i % 3],
                2 => -few[i % 3],
                3 => G1Affine::zero(),
                _ => G1Affine::rand(&mut rng),
            })
            .collect();
        let small: Vec<Fr> = (0..n).map(|i| Fr::from((i % 4) as u64)).collect();
        let big: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        for scalars in [small, big] {
            let want = G1Projective::msm(&bases, &scalars).unwrap().into_affine();
            assert_eq!(msm_g1(&bases, &scalars).into_affine(), want);
        }
    }

    #[test]
    fn large_random_msm_equals_arkworks() {
        // 2^15 points: a 13-bit window with thousands of points per bucket round.
        let mut rng = StdRng::seed_from_u64(5);
        let n = 1 << 15;
        let seeds: Vec<G1Projective> = (0..16).map(|_| G1Projective::rand(&mut rng)).collect();
        let bases = G1Projective::normalize_batch(&(0..n).map(|i| seeds[i % 16] * Fr::from(i as u64 + 1)).collect::<Vec<_>>());
        let scalars: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        assert_eq!(msm_g1(&bases, &scalars).into_affine(), G1Projective::msm(&bases, &scalars).unwrap().into_affine());
    }
}
