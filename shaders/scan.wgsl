// Scans and data movement: inclusive scans along a dim (cumsum / cumprod of float32 and int64,
// running counts of bool words for stream compaction), the compaction step of nonzero, and flip.
//
// A scan of short rows is one launch of `scan_rows_main` (a thread per row). Otherwise it runs
// in up to three launches (see rust/core/src/gpu/scan.rs): `scan_main` scans each
// BLOCK-element block of each row in workgroup memory (each thread combines ITEMS consecutive
// elements, then a Hillis-Steele scan over the 256 thread totals); when a row spans several
// blocks, the block totals (the last element of each scanned block) are scanned the same way
// into `carry`, and `scan_add_main` combines carry[b - 1] into block b.
//
// Values are vec2<u32>: float32 bits and bool-count words use .x; int64 is (low, high).
//
// scan info layout (words):
//   0 rows   1 row length   2 ndim of the row index (merged outer dims)   3 input offset
//   4 input stride along the scanned dim   5 output stride along it   6 output offset
//   7 blocks per row
//   16..24 outer shape   24..32 input outer strides   32..40 output outer strides
//
// scan_add_main reads `carry` (contiguous [rows, blocks - 1]) as x and updates out in place.
// nonzero_main reads the inclusive running counts of the flags (u32 words, contiguous), info:
//   0 n   1 ndim   16..24 shape.
// flip_main (WORDS 32-bit words per element), info: 0 n   1 ndim   2 source offset of element
//   0   16..24 shape   24..32 source strides as two's-complement u32 (negative on flipped dims).

override OP: u32 = 0u; // scans: SCAN_SUM or SCAN_PROD
override KIND: u32 = 0u; // scans: 0 float32, 1 int64, 2 u32 (running counts)
override WORDS: u32 = 1u; // flip: 32-bit words per element

const ITEMS: u32 = 4u;
const BLOCK: u32 = 1024u; // WG * ITEMS

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<storage, read> info: array<u32>;

var<workgroup> part: array<vec2<u32>, 256>;

fn wide() -> bool {
    return KIND == 1u;
}

fn identity() -> vec2<u32> {
    if (OP != SCAN_PROD) {
        return vec2<u32>(0u, 0u);
    }
    return select(vec2<u32>(1u, 0u), vec2<u32>(u(1.0), 0u), KIND == 0u);
}

// a then b (the earlier value first).
fn combine(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let prod = OP == SCAN_PROD;
    switch KIND {
        case 0u: { return vec2<u32>(u(select(f(a.x) + f(b.x), f(a.x) * f(b.x), prod)), 0u); }
        case 1u: {
            if (prod) { return mul64(a, b); }
            return add64(a, b);
        }
        default: { return vec2<u32>(a.x + b.x, 0u); }
    }
}

fn load_x(o: u32) -> vec2<u32> {
    if (wide()) {
        return vec2<u32>(x[2u * o], x[2u * o + 1u]);
    }
    return vec2<u32>(x[o], 0u);
}

fn load_out(o: u32) -> vec2<u32> {
    if (wide()) {
        return vec2<u32>(out[2u * o], out[2u * o + 1u]);
    }
    return vec2<u32>(out[o], 0u);
}

fn store(o: u32, v: vec2<u32>) {
    if (wide()) {
        out[2u * o] = v.x;
        out[2u * o + 1u] = v.y;
    } else {
        out[o] = v.x;
    }
}

struct RowStart {
    i: u32,
    o: u32,
}

// Input and output offsets of the first element of row `row`.
fn row_start(row: u32) -> RowStart {
    var rem = row;
    var s = RowStart(info[3], info[6]);
    let nd = info[2];
    for (var k = 0u; k < nd; k++) {
        let d = nd - 1u - k;
        let n = info[16u + d];
        let c = rem % n;
        rem = rem / n;
        s.i += c * info[24u + d];
        s.o += c * info[32u + d];
    }
    return s;
}

// One workgroup per (row, block): the inclusive scan of the block.
@compute @workgroup_size(256, 1, 1)
fn scan_main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = wid.x + wid.y * nwg.x;
    let blocks = info[7];
    let row = g / blocks;
    let len = info[1];
    let live = row < info[0];
    let start = (g % blocks) * BLOCK + lid * ITEMS;
    let rs = row_start(row);
    var vals: array<vec2<u32>, ITEMS>;
    var acc = identity();
    for (var i = 0u; i < ITEMS; i++) {
        let j = start + i;
        if (live && j < len) {
            acc = combine(acc, load_x(rs.i + j * info[4]));
        }
        vals[i] = acc;
    }
    part[lid] = acc;
    workgroupBarrier();
    for (var s = 1u; s < WG; s = s * 2u) {
        var t = part[lid];
        if (lid >= s) {
            t = combine(part[lid - s], t);
        }
        workgroupBarrier();
        part[lid] = t;
        workgroupBarrier();
    }
    var before = identity();
    if (lid > 0u) {
        before = part[lid - 1u];
    }
    for (var i = 0u; i < ITEMS; i++) {
        let j = start + i;
        if (live && j < len) {
            store(rs.o + j * info[5], combine(before, vals[i]));
        }
    }
}

// Short rows (at most SHORT_ROW elements, see scan.rs): one thread scans each whole row, so a
// workgroup covers 256 rows instead of idling on one.
@compute @workgroup_size(256, 1, 1)
fn scan_rows_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = linear_id(gid, nwg);
    if (row >= info[0]) {
        return;
    }
    let rs = row_start(row);
    var acc = identity();
    for (var j = 0u; j < info[1]; j++) {
        acc = combine(acc, load_x(rs.i + j * info[4]));
        store(rs.o + j * info[5], acc);
    }
}

// Element j >= BLOCK of each row: out = carry[row, j / BLOCK - 1] then out.
@compute @workgroup_size(256, 1, 1)
fn scan_add_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    let tail = info[1] - BLOCK;
    if (e >= info[0] * tail) {
        return;
    }
    let row = e / tail;
    let j = BLOCK + e % tail;
    let o = row_start(row).o + j * info[5];
    let c = load_x(row * (info[7] - 1u) + j / BLOCK - 1u);
    store(o, combine(c, load_out(o)));
}

// Element e with a set flag (its running count differs from the one before) writes its
// coordinates as int64 into row count - 1 of the [count, ndim] output.
@compute @workgroup_size(256, 1, 1)
fn nonzero_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    if (e >= info[0]) {
        return;
    }
    let count = x[e];
    var previous = 0u;
    if (e > 0u) {
        previous = x[e - 1u];
    }
    if (count == previous) {
        return;
    }
    let nd = info[1];
    var rem = e;
    for (var k = 0u; k < nd; k++) {
        let d = nd - 1u - k;
        let n = info[16u + d];
        let o = 2u * ((count - 1u) * nd + d);
        out[o] = rem % n;
        out[o + 1u] = 0u;
        rem = rem / n;
    }
}

// out[e] = x[source of e] for contiguous output element e; the flipped dims walk backwards
// through their negative (wrapping) strides.
@compute @workgroup_size(256, 1, 1)
fn flip_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    if (e >= info[0]) {
        return;
    }
    var rem = e;
    var o = info[2];
    let nd = info[1];
    for (var k = 0u; k < nd; k++) {
        let d = nd - 1u - k;
        let n = info[16u + d];
        o += (rem % n) * info[24u + d];
        rem = rem / n;
    }
    for (var w = 0u; w < WORDS; w++) {
        out[e * WORDS + w] = x[o * WORDS + w];
    }
}
