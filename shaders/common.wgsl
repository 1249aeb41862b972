// Shared by every ferrograd shader (prepended to each file before compilation).
// Every shader declares `info: array<u32>`, the dispatch's metadata words; tensors are
// `array<u32>` (float32 values are bitcast, bools are 0/1 words).

const WG: u32 = 256u;

// The linear invocation index of a 1-D launch split over x and y (65535 groups per dim).
fn linear_id(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

fn f(bits: u32) -> f32 {
    return bitcast<f32>(bits);
}

fn u(v: f32) -> u32 {
    return bitcast<u32>(v);
}

// NaN test on the bits (compilers may assume floats are never NaN).
fn is_nan_bits(b: u32) -> bool {
    return (b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu) != 0u;
}

fn is_inf_bits(b: u32) -> bool {
    return (b & 0x7fffffffu) == 0x7f800000u;
}

fn nan() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}

fn inf() -> f32 {
    return bitcast<f32>(0x7f800000u);
}

// ---- int64 as (low, high) u32 word pairs, two's complement ----

// -1, 0 or 1 as a <, ==, > b (signed 64-bit).
fn cmp64(a: vec2<u32>, b: vec2<u32>) -> i32 {
    let ah = bitcast<i32>(a.y);
    let bh = bitcast<i32>(b.y);
    if (ah < bh) { return -1; }
    if (ah > bh) { return 1; }
    if (a.x < b.x) { return -1; }
    if (a.x > b.x) { return 1; }
    return 0;
}

fn neg64(v: vec2<u32>) -> vec2<u32> {
    let lo = ~v.x + 1u;
    return vec2<u32>(lo, ~v.y + select(0u, 1u, lo == 0u));
}

fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

// The full 64-bit product of two u32 words, as (low, high), through 16-bit halves.
fn mul32_wide(x: u32, y: u32) -> vec2<u32> {
    let xl = x & 0xffffu;
    let xh = x >> 16u;
    let yl = y & 0xffffu;
    let yh = y >> 16u;
    let ll = xl * yl;
    let lh = xl * yh;
    let hl = xh * yl;
    let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    return vec2<u32>((ll & 0xffffu) | (mid << 16u), xh * yh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u));
}

// The low 64 bits of a * b (wrapping int64 multiplication).
fn mul64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let p = mul32_wide(a.x, b.x);
    return vec2<u32>(p.x, p.y + a.x * b.y + a.y * b.x);
}

// Workgroup-wide max / sum of one float per invocation: a tree in workgroup memory over the
// 256 invocations. Every invocation of the workgroup must call it (uniform control flow).
var<workgroup> wg_tree: array<f32, 256>;

fn workgroup_reduce(lid: u32, v: f32, take_max: bool) -> f32 {
    wg_tree[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s) {
            let o = wg_tree[lid + s];
            wg_tree[lid] = select(wg_tree[lid] + o, max(wg_tree[lid], o), take_max);
        }
        workgroupBarrier();
    }
    let r = wg_tree[0];
    workgroupBarrier();  // the next call may overwrite the tree
    return r;
}
