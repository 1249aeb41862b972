// max_pool2d forward: one invocation per output, the window scanned row-major from its first
// in-image position; NaN wins and then stays, else the first maximum wins (as on the CPU).
// Writes the values and the flat in-plane int64 index of each maximum.
//
// info layout (words):
//   0 n (outputs)   1 C   2 H   3 W   4 oh   5 ow   6 kh   7 kw   8 stride y   9 stride x
//   10 pad y   11 pad x   12 dilation y   13 dilation x   14 input offset
//   15..19 input strides (N, C, H, W)

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> vals: array<u32>;
@group(0) @binding(2) var<storage, read_write> idx: array<u32>;
@group(0) @binding(3) var<storage, read> info: array<u32>;

@compute @workgroup_size(256, 1, 1)
fn maxpool_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    if (e >= info[0]) {
        return;
    }
    let ox = e % info[5];
    let oy = (e / info[5]) % info[4];
    let ci = (e / (info[4] * info[5])) % info[1];
    let b = e / (info[4] * info[5] * info[1]);
    let base = info[14] + b * info[15] + ci * info[16];
    var best = 0.0;
    var best_i = 0u;
    var found = false;
    for (var ki = 0u; ki < info[6]; ki++) {
        let iy = i32(oy * info[8] + ki * info[12]) - i32(info[10]);
        if (iy < 0 || iy >= i32(info[2])) {
            continue;
        }
        for (var kj = 0u; kj < info[7]; kj++) {
            let ix = i32(ox * info[9] + kj * info[13]) - i32(info[11]);
            if (ix < 0 || ix >= i32(info[3])) {
                continue;
            }
            let v = f(x[base + u32(iy) * info[17] + u32(ix) * info[18]]);
            let i = u32(iy) * info[3] + u32(ix);
            let v_nan = is_nan_bits(u(v));
            let b_nan = is_nan_bits(u(best));
            if (!found || ((v > best || v_nan) && !b_nan)) {
                best = v;
                best_i = i;
                found = true;
            }
        }
    }
    vals[e] = u(best);
    idx[2u * e] = best_i;
    idx[2u * e + 1u] = 0u;
}
