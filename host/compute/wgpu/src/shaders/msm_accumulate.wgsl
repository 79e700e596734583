// Pippenger bucket accumulation: one invocation per (window, bucket) sums the points the host
// sorted into that bucket. `entries[offsets[k] .. offsets[k + 1]]` lists bucket k's points as base
// indices, with bit 31 set where the signed digit was negative (the point is subtracted).
// Bases stay resident across calls, x and y in separate buffers so that 2^22 bases fit the
// 128 MiB binding limit.

struct AccParams {
    buckets: u32,
    wg_x: u32,
}

@group(0) @binding(0) var<storage, read> bases_x: array<u32>;
@group(0) @binding(1) var<storage, read> bases_y: array<u32>;
@group(0) @binding(2) var<storage, read> offsets: array<u32>;
@group(0) @binding(3) var<storage, read> entries: array<u32>;
@group(0) @binding(4) var<storage, read_write> sums: array<u32>;
@group(0) @binding(5) var<uniform> prm: AccParams;

@compute @workgroup_size(64)
fn accumulate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let k = (wid.x + wid.y * prm.wg_x) * 64u + lid;
    if (k >= prm.buckets) {
        return;
    }
    var acc = pt_identity();
    for (var e = offsets[k]; e < offsets[k + 1u]; e++) {
        let entry = entries[e];
        let i = entry & 0x7fffffffu;
        var x: Fe;
        var y: Fe;
        for (var l = 0u; l < 8u; l++) {
            x[l] = bases_x[8u * i + l];
            y[l] = bases_y[8u * i + l];
        }
        if ((entry >> 31u) == 1u) {
            y = fe_sub(fe_zero(), y);
        }
        acc = pt_add(acc, Pt(x, y, ONE));
    }
    for (var l = 0u; l < 8u; l++) {
        sums[24u * k + l] = acc.x[l];
        sums[24u * k + 8u + l] = acc.y[l];
        sums[24u * k + 16u + l] = acc.z[l];
    }
}
