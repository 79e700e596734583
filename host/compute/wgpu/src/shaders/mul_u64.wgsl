// Montgomery multiplication with native 64-bit integers (`SHADER_INT64`: Vulkan, Metal, DX12):
// CIOS over eight 32-bit limbs, a quarter of the limb products of the u32 path.
fn fe_mul(a: Fe, b: Fe) -> Fe {
    var x = a;
    var y = b;
    var p = MODULUS;
    var t: array<u32, 10>;
    for (var i = 0u; i < 8u; i++) {
        var c: u64 = 0lu;
        for (var j = 0u; j < 8u; j++) {
            let s = u64(t[j]) + u64(x[j]) * u64(y[i]) + c;
            t[j] = u32(s & 0xfffffffflu);
            c = s >> 32u;
        }
        let s8 = u64(t[8]) + c;
        t[8] = u32(s8 & 0xfffffffflu);
        t[9] = u32(s8 >> 32u);
        let m = t[0] * INV32;
        c = (u64(t[0]) + u64(m) * u64(p[0])) >> 32u;
        for (var j = 1u; j < 8u; j++) {
            let s = u64(t[j]) + u64(m) * u64(p[j]) + c;
            t[j - 1u] = u32(s & 0xfffffffflu);
            c = s >> 32u;
        }
        let s7 = u64(t[8]) + c;
        t[7] = u32(s7 & 0xfffffffflu);
        t[8] = t[9] + u32(s7 >> 32u);
        t[9] = 0u;
    }
    var r: Fe;
    for (var i = 0u; i < 8u; i++) {
        r[i] = t[i];
    }
    return fe_reduce(r);
}
