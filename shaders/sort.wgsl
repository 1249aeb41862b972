// Sorting along rows (sort, argsort, topk, msort, median, kthvalue) with a bitonic network.
//
// Each element becomes a 64-bit key (hi, lo) whose unsigned order is the wanted order, with
// its column as the tie-break, so the network (not stable by itself) gives the stable order:
// float32 keys flip the sign bit (negatives: all bits), -0.0 counts as 0.0 and every NaN as
// larger than +inf (PyTorch's order); int64 keys flip the sign bit of the high word; bool
// keys are the 0/1 word. Descending sorts invert the key (NaN first, ties keep their order).
//
// Rows are padded to p = next power of two with sentinel entries sorted past the end. The
// network is the variant whose every comparator puts the smaller entry first: stage k
// compares mirrored pairs within blocks of k ("flip"), then halves at distances k/4 ... 1.
// Segments of up to 1024 entries (several short rows, or a block of a long row) are sorted
// in workgroup memory by one workgroup; longer rows continue in a scratch buffer (hi, lo,
// column per entry): stage steps at distances of 1024 and more run as global launches, the
// rest of each stage in workgroup memory again. The last pass writes the outputs: int64
// column indices and the values read back from x at them.
//
// Bindings: x (rows x n, contiguous from an offset), values out, int64 indices out, scratch.
// info layout (words):
//   0 rows   1 n (row length)   2 p (padded row length)   3 l (entries a workgroup sorts in
//   stages: min(p, 1024))   4 descending   5 k (stage)   6 j (distance; 0: the flip step)
//   7 last (1: this launch writes the outputs)   8 offset of x

override KIND: u32 = 0u; // 0 float32, 1 int64, 2 bool

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> vals: array<u32>;
@group(0) @binding(2) var<storage, read_write> inds: array<u32>;
@group(0) @binding(3) var<storage, read_write> scratch: array<u32>;
@group(0) @binding(4) var<storage, read> info: array<u32>;

const BLOCK: u32 = 1024u;

var<workgroup> key_hi: array<u32, 1024>;
var<workgroup> key_lo: array<u32, 1024>;
var<workgroup> col: array<u32, 1024>;

struct Entry {
    hi: u32,
    lo: u32,
    c: u32,
}

fn words() -> u32 {
    return select(1u, 2u, KIND == 1u);
}

// The entry of column c of `row` (a sentinel past the row's end).
fn make_entry(row: u32, c: u32) -> Entry {
    if (row >= info[0] || c >= info[1]) {
        return Entry(0xffffffffu, 0xffffffffu, 0xffffffffu);
    }
    let o = info[8] + row * info[1] + c;
    var hi = 0u;
    var lo = 0u;
    switch KIND {
        case 1u: {
            lo = x[2u * o];
            hi = x[2u * o + 1u] ^ 0x80000000u;
        }
        case 2u: {
            hi = x[o];
        }
        default: {
            var b = x[o];
            if (b == 0x80000000u) {
                b = 0u;
            }
            hi = select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
            if (is_nan_bits(b)) {
                hi = 0xffffffffu;
            }
        }
    }
    if (info[4] != 0u) {
        hi = ~hi;
        lo = ~lo;
    }
    return Entry(hi, lo, c);
}

fn before(a: Entry, b: Entry) -> bool {
    if (a.hi != b.hi) {
        return a.hi < b.hi;
    }
    if (a.lo != b.lo) {
        return a.lo < b.lo;
    }
    return a.c < b.c;
}

// The pair (first, second) of comparator q in a step of stage k at distance j (j 0: flip).
fn pair(q: u32, k: u32, j: u32) -> vec2<u32> {
    if (j == 0u) {
        let h = k / 2u;
        let base = (q / h) * k;
        let off = q % h;
        return vec2<u32>(base + off, base + k - 1u - off);
    }
    let i = (q / j) * 2u * j + q % j;
    return vec2<u32>(i, i + j);
}

fn local_entry(i: u32) -> Entry {
    return Entry(key_hi[i], key_lo[i], col[i]);
}

fn set_local(i: u32, e: Entry) {
    key_hi[i] = e.hi;
    key_lo[i] = e.lo;
    col[i] = e.c;
}

fn local_step(lid: u32, k: u32, j: u32) {
    for (var q = lid; q < BLOCK / 2u; q += WG) {
        let ij = pair(q, k, j);
        let a = local_entry(ij.x);
        let b = local_entry(ij.y);
        if (before(b, a)) {
            set_local(ij.x, b);
            set_local(ij.y, a);
        }
    }
    workgroupBarrier();
}

// Writes the workgroup's entries: to the outputs in the last pass, else to scratch.
fn store_block(g: u32, lid: u32) {
    let p = info[2];
    let n = info[1];
    let w = words();
    for (var e = lid; e < BLOCK; e += WG) {
        let pos = g * BLOCK + e;
        let row = pos / p;
        let c = pos % p;
        if (row >= info[0]) {
            continue;
        }
        if (info[7] != 0u) {
            if (c < n) {
                let o = row * n + c;
                let src = col[e];
                inds[2u * o] = src;
                inds[2u * o + 1u] = 0u;
                for (var k = 0u; k < w; k++) {
                    vals[w * o + k] = x[w * (info[8] + row * n + src) + k];
                }
            }
        } else {
            scratch[3u * pos] = key_hi[e];
            scratch[3u * pos + 1u] = key_lo[e];
            scratch[3u * pos + 2u] = col[e];
        }
    }
}

fn group_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// The first pass: each workgroup loads 1024 entries (whole rows of length l, or one block of
// a longer row) and sorts every l-long segment.
@compute @workgroup_size(256, 1, 1)
fn sort_block_main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = group_index(wid, nwg);
    let p = info[2];
    for (var e = lid; e < BLOCK; e += WG) {
        let pos = g * BLOCK + e;
        set_local(e, make_entry(pos / p, pos % p));
    }
    workgroupBarrier();
    let l = info[3];
    for (var k = 2u; k <= l; k = k * 2u) {
        local_step(lid, k, 0u);
        for (var j = k / 4u; j > 0u; j = j / 2u) {
            local_step(lid, k, j);
        }
    }
    store_block(g, lid);
}

// The end of stage k > 1024: distances 512 ... 1 within each 1024-entry block of scratch.
@compute @workgroup_size(256, 1, 1)
fn sort_merge_main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = group_index(wid, nwg);
    let total = info[0] * info[2];
    for (var e = lid; e < BLOCK; e += WG) {
        let pos = g * BLOCK + e;
        if (pos < total) {
            set_local(e, Entry(scratch[3u * pos], scratch[3u * pos + 1u], scratch[3u * pos + 2u]));
        }
    }
    workgroupBarrier();
    for (var j = BLOCK / 2u; j > 0u; j = j / 2u) {
        local_step(lid, BLOCK, j);
    }
    store_block(g, lid);
}

// One step of stage k at distance j >= 1024 (or the flip step, j 0) over scratch: one
// invocation per comparator.
@compute @workgroup_size(256, 1, 1)
fn sort_step_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = linear_id(gid, nwg);
    let half = info[2] / 2u;
    if (t >= info[0] * half) {
        return;
    }
    let base = (t / half) * info[2];
    let ij = pair(t % half, info[5], info[6]) + vec2<u32>(base, base);
    let a = Entry(scratch[3u * ij.x], scratch[3u * ij.x + 1u], scratch[3u * ij.x + 2u]);
    let b = Entry(scratch[3u * ij.y], scratch[3u * ij.y + 1u], scratch[3u * ij.y + 2u]);
    if (before(b, a)) {
        scratch[3u * ij.x] = b.hi;
        scratch[3u * ij.x + 1u] = b.lo;
        scratch[3u * ij.x + 2u] = b.c;
        scratch[3u * ij.y] = a.hi;
        scratch[3u * ij.y + 1u] = a.lo;
        scratch[3u * ij.y + 2u] = a.c;
    }
}
