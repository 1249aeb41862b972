// Reductions over rows: the input layout is permuted so the kept dims come first and the
// reduced dims last; row r is the r-th combination of kept indices, and its `inner`
// elements are the reduced ones. Each workgroup reduces one chunk of one row with a tree in
// workgroup memory and writes one partial; long rows are split into chunks and reduced
// again by a second launch over the partials.
//
// info layout (words):
//   0 rows   1 inner (elements per row)   2 chunks per row   3 chunk length
//   4 ndim   5 offset   6 contiguous (1: element r*inner+j is at offset+r*inner+j)
//   16..24 shape (permuted)   24..32 strides (permuted)

override OP: u32 = 0u; // a REDUCE_* code (argreduce: an EXTREMUM_* code)

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<storage, read> info: array<u32>;

var<workgroup> part: array<f32, 256>;

fn identity() -> f32 {
    switch OP {
        case REDUCE_MAX: { return -inf(); }
        case REDUCE_MIN: { return inf(); }
        case REDUCE_PROD: { return 1.0; }
        default: { return 0.0; }
    }
}

// Max and min propagate NaN, as PyTorch's do.
fn combine(a: f32, b: f32) -> f32 {
    switch OP {
        case REDUCE_MAX: {
            if (is_nan_bits(u(a)) || is_nan_bits(u(b))) { return nan(); }
            return max(a, b);
        }
        case REDUCE_MIN: {
            if (is_nan_bits(u(a)) || is_nan_bits(u(b))) { return nan(); }
            return min(a, b);
        }
        case REDUCE_PROD: { return a * b; }
        default: { return a + b; }
    }
}

fn element_offset(lin: u32) -> u32 {
    if (info[6] != 0u) {
        return info[5] + lin;
    }
    var o = info[5];
    var rem = lin;
    let nd = info[4];
    for (var k = 0u; k < nd; k++) {
        let d = nd - 1u - k;
        let s = info[16u + d];
        o += (rem % s) * info[24u + d];
        rem = rem / s;
    }
    return o;
}

@compute @workgroup_size(256, 1, 1)
fn reduce_main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = wid.x + wid.y * nwg.x;
    let chunks = info[2];
    let row = g / chunks;
    let chunk = g % chunks;
    let inner = info[1];
    let start = chunk * info[3];
    let stop = min(start + info[3], inner);
    var acc = identity();
    if (row < info[0]) {
        for (var j = start + lid; j < stop; j += WG) {
            acc = combine(acc, f(x[element_offset(row * inner + j)]));
        }
    }
    part[lid] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s) {
            part[lid] = combine(part[lid], part[lid + s]);
        }
        workgroupBarrier();
    }
    if (lid == 0u && row < info[0]) {
        out[g] = u(part[0]);
    }
}

// argmax (EXTREMUM_MAX) / argmin (EXTREMUM_MIN) over each row (one workgroup per row, no chunks): the index
// of the first maximum/minimum, a NaN counting as the extreme (the first NaN wins), written
// as an int64 (low, high) word pair.
var<workgroup> part_i: array<u32, 256>;

// Whether (vb, ib) beats (va, ia).
fn arg_better(va: f32, ia: u32, vb: f32, ib: u32) -> bool {
    let a_nan = is_nan_bits(u(va));
    let b_nan = is_nan_bits(u(vb));
    if (a_nan) {
        return b_nan && ib < ia;
    }
    if (b_nan) {
        return true;
    }
    if (OP == EXTREMUM_MAX && vb > va) || (OP == EXTREMUM_MIN && vb < va) {
        return true;
    }
    return vb == va && ib < ia;
}

@compute @workgroup_size(256, 1, 1)
fn argreduce_main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * nwg.x;
    let inner = info[1];
    var best = identity();
    var bi = 0xffffffffu;
    if (row < info[0]) {
        for (var j = lid; j < inner; j += WG) {
            let v = f(x[element_offset(row * inner + j)]);
            if (arg_better(best, bi, v, j)) {
                best = v;
                bi = j;
            }
        }
    }
    part[lid] = best;
    part_i[lid] = bi;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s && arg_better(part[lid], part_i[lid], part[lid + s], part_i[lid + s])) {
            part[lid] = part[lid + s];
            part_i[lid] = part_i[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u && row < info[0]) {
        out[2u * row] = part_i[0];
        out[2u * row + 1u] = 0u;
    }
}

// ---- int64 ----
// reduce64_main and argreduce64_main: the same launches over int64 (low, high) word pairs,
// exact: wrapping 64-bit sums, signed 64-bit max/min, int64 partials and outputs.
var<workgroup> part64: array<vec2<u32>, 256>;

fn load64(lin: u32) -> vec2<u32> {
    let o = element_offset(lin);
    return vec2<u32>(x[2u * o], x[2u * o + 1u]);
}

fn identity64() -> vec2<u32> {
    switch OP {
        case REDUCE_MAX: { return vec2<u32>(0u, 0x80000000u); }
        case REDUCE_MIN: { return vec2<u32>(0xffffffffu, 0x7fffffffu); }
        case REDUCE_PROD: { return vec2<u32>(1u, 0u); }
        default: { return vec2<u32>(0u, 0u); }
    }
}

fn combine64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    switch OP {
        case REDUCE_MAX: { return select(b, a, cmp64(a, b) >= 0); }
        case REDUCE_MIN: { return select(b, a, cmp64(a, b) <= 0); }
        case REDUCE_PROD: { return mul64(a, b); }  // wrapping, as the CPU's int64 prod
        default: { return add64(a, b); }
    }
}

@compute @workgroup_size(256, 1, 1)
fn reduce64_main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = wid.x + wid.y * nwg.x;
    let chunks = info[2];
    let row = g / chunks;
    let chunk = g % chunks;
    let inner = info[1];
    let start = chunk * info[3];
    let stop = min(start + info[3], inner);
    var acc = identity64();
    if (row < info[0]) {
        for (var j = start + lid; j < stop; j += WG) {
            acc = combine64(acc, load64(row * inner + j));
        }
    }
    part64[lid] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s) {
            part64[lid] = combine64(part64[lid], part64[lid + s]);
        }
        workgroupBarrier();
    }
    if (lid == 0u && row < info[0]) {
        out[2u * g] = part64[0].x;
        out[2u * g + 1u] = part64[0].y;
    }
}

// Whether (vb, ib) beats (va, ia): a larger (EXTREMUM_MAX) / smaller (EXTREMUM_MIN) value, or the same
// value at a lower index.
fn arg_better64(va: vec2<u32>, ia: u32, vb: vec2<u32>, ib: u32) -> bool {
    let c = cmp64(vb, va);
    return (OP == EXTREMUM_MAX && c > 0) || (OP == EXTREMUM_MIN && c < 0) || (c == 0 && ib < ia);
}

@compute @workgroup_size(256, 1, 1)
fn argreduce64_main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * nwg.x;
    let inner = info[1];
    var best = identity64();
    var bi = 0xffffffffu;
    if (row < info[0]) {
        for (var j = lid; j < inner; j += WG) {
            let v = load64(row * inner + j);
            if (arg_better64(best, bi, v, j)) {
                best = v;
                bi = j;
            }
        }
    }
    part64[lid] = best;
    part_i[lid] = bi;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s && arg_better64(part64[lid], part_i[lid], part64[lid + s], part_i[lid + s])) {
            part64[lid] = part64[lid + s];
            part_i[lid] = part_i[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u && row < info[0]) {
        out[2u * row] = part_i[0];
        out[2u * row + 1u] = 0u;
    }
}
