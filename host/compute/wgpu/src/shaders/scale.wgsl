// values[i] *= c * base^i, the coset shift and the 1/n of inverse transforms. `pows` holds c and
// then base^(2^b) for b < bits, so an element costs at most bits + 1 multiplications and needs no
// sequential prefix.

struct ScaleParams {
    n: u32,
    bits: u32,
    wg_x: u32,
}

@group(0) @binding(0) var<storage, read_write> values: array<u32>;
@group(0) @binding(1) var<storage, read> pows: array<u32>;
@group(0) @binding(2) var<uniform> prm: ScaleParams;

fn load_pow(i: u32) -> Fe {
    var r: Fe;
    for (var k = 0u; k < 8u; k++) {
        r[k] = pows[8u * i + k];
    }
    return r;
}

@compute @workgroup_size(64)
fn scale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * prm.wg_x) * 64u + lid;
    if (i >= prm.n) {
        return;
    }
    var acc = load_pow(0u);
    for (var b = 0u; b < prm.bits; b++) {
        if (((i >> b) & 1u) == 1u) {
            acc = fe_mul(acc, load_pow(b + 1u));
        }
    }
    var v: Fe;
    for (var k = 0u; k < 8u; k++) {
        v[k] = values[8u * i + k];
    }
    v = fe_mul(v, acc);
    for (var k = 0u; k < 8u; k++) {
        values[8u * i + k] = v[k];
    }
}
