// Montgomery multiplication with u32 arithmetic only (every WebGPU adapter): CIOS over sixteen
// 16-bit limbs, so that a limb product plus two 16-bit addends never exceeds 2^32 - 1 and no
// 64-bit multiply (absent from WGSL) is needed.
fn fe_mul(a: Fe, b: Fe) -> Fe {
    var x: array<u32, 16>;
    var y: array<u32, 16>;
    var p: array<u32, 16>;
    var m16 = MODULUS;
    var aa = a;
    var bb = b;
    for (var i = 0u; i < 8u; i++) {
        x[2u * i] = aa[i] & 0xffffu;
        x[2u * i + 1u] = aa[i] >> 16u;
        y[2u * i] = bb[i] & 0xffffu;
        y[2u * i + 1u] = bb[i] >> 16u;
        p[2u * i] = m16[i] & 0xffffu;
        p[2u * i + 1u] = m16[i] >> 16u;
    }
    var t: array<u32, 18>;
    for (var i = 0u; i < 16u; i++) {
        var c = 0u;
        for (var j = 0u; j < 16u; j++) {
            let s = t[j] + x[j] * y[i] + c;
            t[j] = s & 0xffffu;
            c = s >> 16u;
        }
        let s16 = t[16] + c;
        t[16] = s16 & 0xffffu;
        t[17] = s16 >> 16u;
        let m = (t[0] * INV16) & 0xffffu;
        c = (t[0] + m * p[0]) >> 16u;
        for (var j = 1u; j < 16u; j++) {
            let s = t[j] + m * p[j] + c;
            t[j - 1u] = s & 0xffffu;
            c = s >> 16u;
        }
        let s15 = t[16] + c;
        t[15] = s15 & 0xffffu;
        t[16] = t[17] + (s15 >> 16u);
        t[17] = 0u;
    }
    var r: Fe;
    for (var i = 0u; i < 8u; i++) {
        r[i] = t[2u * i] | (t[2u * i + 1u] << 16u);
    }
    return fe_reduce(r);
}
