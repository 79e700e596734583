// One pass of a radix-2 decimation-in-time NTT over Fr, tiled in workgroup memory.
//
// The transform of 2^log_n elements runs as ceil(log_n / 8) passes; a pass applies up to eight
// consecutive butterfly stages (index bits lo_bits .. lo_bits + bits). The elements one pass
// combines (same index bits outside that range) form independent groups of 2^bits; a workgroup
// loads 256 elements (one or more whole groups) into workgroup memory, runs its stages there,
// and writes them back. The first pass reads its input at bit-reversed indices from `src`, so the
// permutation costs no pass of its own; later passes work in place on `dst`.

struct NttParams {
    log_n: u32,
    lo_bits: u32,
    bits: u32,
    first: u32,
    wg_x: u32,
    total_groups: u32,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<storage, read> twiddles: array<u32>;
@group(0) @binding(3) var<uniform> prm: NttParams;

var<workgroup> tile: array<Fe, 256>;

fn load_src(i: u32) -> Fe {
    var r: Fe;
    for (var k = 0u; k < 8u; k++) {
        r[k] = src[8u * i + k];
    }
    return r;
}

fn load_dst(i: u32) -> Fe {
    var r: Fe;
    for (var k = 0u; k < 8u; k++) {
        r[k] = dst[8u * i + k];
    }
    return r;
}

fn load_twiddle(i: u32) -> Fe {
    var r: Fe;
    for (var k = 0u; k < 8u; k++) {
        r[k] = twiddles[8u * i + k];
    }
    return r;
}

fn store_dst(i: u32, v: Fe) {
    var x = v;
    for (var k = 0u; k < 8u; k++) {
        dst[8u * i + k] = x[k];
    }
}

// Global index of position `local` of group `gid` in this pass.
fn element_index(gid: u32, local: u32) -> u32 {
    let lo_mask = (1u << prm.lo_bits) - 1u;
    return ((gid >> prm.lo_bits) << (prm.lo_bits + prm.bits)) | (local << prm.lo_bits) | (gid & lo_mask);
}

@compute @workgroup_size(128)
fn ntt_pass(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let wg = wid.x + wid.y * prm.wg_x;
    let group_len = 1u << prm.bits;
    let per_wg = 256u >> prm.bits;
    for (var k = 0u; k < 2u; k++) {
        let t = lid + k * 128u;
        let gid = wg * per_wg + (t >> prm.bits);
        if (gid < prm.total_groups) {
            let idx = element_index(gid, t & (group_len - 1u));
            if (prm.first == 1u) {
                tile[t] = load_src(reverseBits(idx) >> (32u - prm.log_n));
            } else {
                tile[t] = load_dst(idx);
            }
        }
    }
    workgroupBarrier();
    let half_len = group_len >> 1u;
    let git = lid / half_len;
    let q = lid & (half_len - 1u);
    let gid = wg * per_wg + git;
    for (var lb = 0u; lb < prm.bits; lb++) {
        if (gid < prm.total_groups) {
            let low = q & ((1u << lb) - 1u);
            let i0 = (git << prm.bits) | ((q >> lb) << (lb + 1u)) | low;
            let i1 = i0 | (1u << lb);
            // Stage s = lo_bits + lb + 1 uses w_(2^s)^j = omega^(j * n / 2^s).
            let j = (low << prm.lo_bits) | (gid & ((1u << prm.lo_bits) - 1u));
            let w = load_twiddle(j << (prm.log_n - (prm.lo_bits + lb + 1u)));
            let u = tile[i0];
            let v = fe_mul(tile[i1], w);
            tile[i0] = fe_add(u, v);
            tile[i1] = fe_sub(u, v);
        }
        workgroupBarrier();
    }
    for (var k = 0u; k < 2u; k++) {
        let t = lid + k * 128u;
        let g = wg * per_wg + (t >> prm.bits);
        if (g < prm.total_groups) {
            store_dst(element_index(g, t & (group_len - 1u)), tile[t]);
        }
    }
}
