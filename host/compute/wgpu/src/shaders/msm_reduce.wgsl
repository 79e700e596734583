// Bucket reduction, segmented so that it runs in parallel: invocation (w, s) walks the `seg_len`
// buckets of segment s of window w from the top and writes both the running-sum total
// sum_j (j + 1) * B_(s*L + j) and the plain sum sum_j B_(s*L + j). The host combines the
// segments: window sum = sum_s total_s + L * sum_s s * plain_s.

struct RedParams {
    segments: u32,
    seg_len: u32,
    wg_x: u32,
}

@group(0) @binding(0) var<storage, read> sums: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> prm: RedParams;

fn load_sum(k: u32) -> Pt {
    var p: Pt;
    for (var l = 0u; l < 8u; l++) {
        p.x[l] = sums[24u * k + l];
        p.y[l] = sums[24u * k + 8u + l];
        p.z[l] = sums[24u * k + 16u + l];
    }
    return p;
}

fn store_out(k: u32, p: Pt) {
    var q = p;
    for (var l = 0u; l < 8u; l++) {
        out[24u * k + l] = q.x[l];
        out[24u * k + 8u + l] = q.y[l];
        out[24u * k + 16u + l] = q.z[l];
    }
}

@compute @workgroup_size(64)
fn reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = (wid.x + wid.y * prm.wg_x) * 64u + lid;
    if (t >= prm.segments) {
        return;
    }
    let first = t * prm.seg_len;
    var running = pt_identity();
    var total = pt_identity();
    for (var j = prm.seg_len; j > 0u; j--) {
        running = pt_add(running, load_sum(first + j - 1u));
        total = pt_add(total, running);
    }
    store_out(2u * t, total);
    store_out(2u * t + 1u, running);
}
