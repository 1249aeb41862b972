// im2col and its adjoint col2im for convolution and pooling: pure index maps, one invocation
// per output element, no atomics (col2im gathers the window positions that cover a pixel).
//
// Column layouts: batch-major 0: [N, C*kh*kw, L]; 1: [C*kh*kw, N*L]; L = oh*ow.
// info layout (words):
//   0 n (output elements)   1 N   2 C   3 H   4 W   5 oh   6 ow   7 kh   8 kw
//   9 stride y  10 stride x  11 pad y  12 pad x  13 dilation y  14 dilation x
//   15 batch-major   16 input offset   17..21 input strides (im2col: x's N, C, H, W)
//   21 pad value bits

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<storage, read> info: array<u32>;

// Offset of column value (b, r, l) in a contiguous column tensor.
fn col_offset(b: u32, r: u32, l: u32) -> u32 {
    let L = info[5] * info[6];
    let rows = info[2] * info[7] * info[8];
    if (info[15] != 0u) {
        return (r * info[1] + b) * L + l;
    }
    return (b * rows + r) * L + l;
}

@compute @workgroup_size(256, 1, 1)
fn im2col_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    if (e >= info[0]) {
        return;
    }
    let L = info[5] * info[6];
    let kk = info[7] * info[8];
    let rows = info[2] * kk;
    var b: u32;
    var r: u32;
    let l = e % L;
    if (info[15] != 0u) {
        b = (e / L) % info[1];
        r = e / (L * info[1]);
    } else {
        r = (e / L) % rows;
        b = e / (L * rows);
    }
    let ci = r / kk;
    let ki = (r / info[8]) % info[7];
    let kj = r % info[8];
    let oy = l / info[6];
    let ox = l % info[6];
    let iy = i32(oy * info[9] + ki * info[13]) - i32(info[11]);
    let ix = i32(ox * info[10] + kj * info[14]) - i32(info[12]);
    var v = info[21];
    if (iy >= 0 && iy < i32(info[3]) && ix >= 0 && ix < i32(info[4])) {
        v = x[info[16] + b * info[17] + ci * info[18] + u32(iy) * info[19] + u32(ix) * info[20]];
    }
    out[e] = v;
}

// out[b, c, iy, ix] = sum of the column values whose window position covers (iy, ix); the
// columns (x) are contiguous from info[16].
@compute @workgroup_size(256, 1, 1)
fn col2im_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    if (e >= info[0]) {
        return;
    }
    let W = info[4];
    let H = info[3];
    let ix = e % W;
    let iy = (e / W) % H;
    let ci = (e / (W * H)) % info[2];
    let b = e / (W * H * info[2]);
    var acc = 0.0;
    for (var ki = 0u; ki < info[7]; ki++) {
        let ty = i32(iy + info[11]) - i32(ki * info[13]);
        if (ty < 0 || (u32(ty) % info[9]) != 0u) {
            continue;
        }
        let oy = u32(ty) / info[9];
        if (oy >= info[5]) {
            continue;
        }
        for (var kj = 0u; kj < info[8]; kj++) {
            let tx = i32(ix + info[12]) - i32(kj * info[14]);
            if (tx < 0 || (u32(tx) % info[10]) != 0u) {
                continue;
            }
            let ox = u32(tx) / info[10];
            if (ox >= info[6]) {
                continue;
            }
            let r = (ci * info[7] + ki) * info[8] + kj;
            acc += f(x[info[16] + col_offset(b, r, oy * info[6] + ox)]);
        }
    }
    out[e] = u(acc);
}
