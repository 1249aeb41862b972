// Index-driven kernels: gather along a dim with int64 indices, its scatter-add partner, and
// scatter (a write where the last index element naming a position wins, as on the CPU).
// index_select and index_add run through them with an index broadcast over the other dims;
// index_put / put through scatter and scatter_add on the flattened tensor.
//
// int64 indices are (low, high) u32 word pairs; an index is valid when its 64-bit value lies
// in [0, size) (negatives do not wrap, as in PyTorch; index_put wraps them before it scatters).
// Out-of-range indices read NaN in gather
// and are skipped by the scatters; gather and scatter_add also set a device-side error flag,
// which the runtime turns into IndexError at the next read (scatter's callers check first).
//
// Elements are float32 (KIND 0), int64 (KIND 1: two words, offsets doubled) or bool words
// (KIND 2); scatter_add adds float32 by compare-and-swap, int64 by two atomic adds (the low
// word's carry goes into the high word, so concurrent adds stay exact) and ors bools.
//
// info layout (words):
//   0 n (elements of the index)   1 ndim   2 dim d   3 offset of the gathered-from/scattered-
//   into tensor   4 offset of the index   5 size along d   6 offset of src (scatters)
//   7 first word of scatter's claims (one word per output element, after the values)
//   16..24 index shape   24..32 strides of the gathered-from/scattered-into tensor
//   32..40 index strides   40..48 src strides (scatters)

override KIND: u32 = 0u;

@group(0) @binding(0) var<storage, read> x0: array<u32>;
@group(0) @binding(1) var<storage, read> idx: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<atomic<u32>>;
// The runtime's device-side error flags: 1 = gather index out of range, 2 = scatter_add's.
@group(0) @binding(3) var<storage, read_write> flags: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read> info: array<u32>;

struct Pos {
    x: u32,
    i: u32,
    s: u32,
    valid: bool,
}

// Offsets of index element `e` (row-major over the index shape): in the indexed tensor (with
// the index value along d), in the index, and in src.
fn position(e: u32) -> Pos {
    var rem = e;
    let nd = info[1];
    let d = info[2];
    var p = Pos(info[3], info[4], info[6], true);
    var along = 0u;
    for (var k = 0u; k < nd; k++) {
        let dd = nd - 1u - k;
        let s = info[16u + dd];
        let c = rem % s;
        rem = rem / s;
        p.i += c * info[32u + dd];
        p.s += c * info[40u + dd];
        if (dd != d) {
            p.x += c * info[24u + dd];
        }
    }
    let lo = idx[2u * p.i];
    let hi = idx[2u * p.i + 1u];
    let size = info[5];
    if (hi == 0u && lo < size) {
        along = lo;
    } else {
        p.valid = false;
    }
    p.x += along * info[24u + d];
    return p;
}

fn words() -> u32 {
    return select(1u, 2u, KIND == 1u);
}

// out[e] = x[... index[e] along d ...] (out contiguous from 0).
@compute @workgroup_size(256, 1, 1)
fn gather_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    if (e >= info[0]) {
        return;
    }
    let p = position(e);
    let w = words();
    for (var k = 0u; k < w; k++) {
        var v = 0x7fc00000u;
        if (p.valid) {
            v = x0[w * p.x + k];
        } else {
            atomicOr(&flags[0], 1u);
        }
        atomicStore(&out[w * e + k], v);
    }
}

// out[... index[e] along d ...] += src[e].
@compute @workgroup_size(256, 1, 1)
fn scatter_add_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    if (e >= info[0]) {
        return;
    }
    let p = position(e);
    if (!p.valid) {
        atomicOr(&flags[0], 2u);
        return;
    }
    if (KIND == 1u) {
        let lo = x0[2u * p.s];
        let old = atomicAdd(&out[2u * p.x], lo);
        atomicAdd(&out[2u * p.x + 1u], x0[2u * p.s + 1u] + select(0u, 1u, old + lo < old));
        return;
    }
    if (KIND == 2u) {
        atomicOr(&out[p.x], x0[p.s]);
        return;
    }
    let v = f(x0[p.s]);
    var old = atomicLoad(&out[p.x]);
    loop {
        let r = atomicCompareExchangeWeak(&out[p.x], old, u(f(old) + v));
        if (r.exchanged) {
            break;
        }
        old = r.old_value;
    }
}

// scatter, first launch: each position keeps the largest index element (plus one) naming it;
// the claims start at 0.
@compute @workgroup_size(256, 1, 1)
fn scatter_claim_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    if (e >= info[0]) {
        return;
    }
    let p = position(e);
    if (p.valid) {
        atomicMax(&out[info[7] + p.x], e + 1u);
    }
}

// scatter, second launch: the claiming index element writes its src value.
@compute @workgroup_size(256, 1, 1)
fn scatter_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    if (e >= info[0]) {
        return;
    }
    let p = position(e);
    if (!p.valid || atomicLoad(&out[info[7] + p.x]) != e + 1u) {
        return;
    }
    let w = words();
    for (var k = 0u; k < w; k++) {
        atomicStore(&out[w * p.x + k], x0[w * p.s + k]);
    }
}
