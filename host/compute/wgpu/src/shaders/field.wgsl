// Arithmetic modulo one 254-bit prime (BN254's Fq or Fr, chosen by the host when it assembles the
// module). An element is eight little-endian u32 limbs in Montgomery form with R = 2^256: the
// same bits as arkworks' `Fp256`, so buffers are copied to and from arkworks without conversion.
// Every function returns a fully reduced value in [0, p), so results are bit-identical to arkworks.
//
// The host prepends `const MODULUS: Fe`, `const INV16: u32` (-p^-1 mod 2^16),
// `const INV32: u32` (-p^-1 mod 2^32) and `const ONE: Fe` (R mod p), and appends one of
// `mul_u32.wgsl` / `mul_u64.wgsl`.

alias Fe = array<u32, 8>;

fn fe_zero() -> Fe {
    return Fe(0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u);
}

// a + b over 256 bits, no reduction (callers keep the sum below 2^256).
fn add_raw(a: Fe, b: Fe) -> Fe {
    var x = a;
    var y = b;
    var r: Fe;
    var carry = 0u;
    for (var i = 0u; i < 8u; i++) {
        let s = x[i] + y[i];
        let s2 = s + carry;
        carry = select(0u, 1u, s < x[i]) + select(0u, 1u, s2 < s);
        r[i] = s2;
    }
    return r;
}

struct Diff {
    r: Fe,
    borrow: bool,
}

// a - b over 256 bits, and whether it wrapped (a < b).
fn sub_raw(a: Fe, b: Fe) -> Diff {
    var x = a;
    var y = b;
    var r: Fe;
    var borrow = 0u;
    for (var i = 0u; i < 8u; i++) {
        r[i] = x[i] - y[i] - borrow;
        borrow = select(0u, 1u, x[i] < y[i] || (x[i] == y[i] && borrow == 1u));
    }
    return Diff(r, borrow == 1u);
}

// a - p when a >= p; a must be below 2p (true of every sum and Montgomery product here, as p < 2^254).
fn fe_reduce(a: Fe) -> Fe {
    let d = sub_raw(a, MODULUS);
    if (d.borrow) {
        return a;
    }
    return d.r;
}

fn fe_add(a: Fe, b: Fe) -> Fe {
    return fe_reduce(add_raw(a, b));
}

fn fe_sub(a: Fe, b: Fe) -> Fe {
    let d = sub_raw(a, b);
    if (d.borrow) {
        return add_raw(d.r, MODULUS);
    }
    return d.r;
}

fn fe_double(a: Fe) -> Fe {
    return fe_add(a, a);
}
