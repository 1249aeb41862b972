// The narrow dtypes in GPU memory: float16 and bfloat16 as 16-bit words (two to a u32), int8 and
// uint8 four to a word, int16 two, int32 one. Kernels compute them in their compute types
// (float32; int64 as (low, high) word pairs): these kernels convert between the two and write
// narrow elements into strided views. Rounding is to nearest even, done on the bits (no
// shader-f16 needed, the same on every adapter and equal to the CPU's `half` crate).
//
// widen_main: one thread per element of a strided narrow input; contiguous float32 bits or
//   int64 pairs out. info: 0 n   1 ndim   2 offset (elements)   16..24 shape   24..32 strides.
// narrow_main: one thread per output word; a contiguous float32/int64 input (its first n
//   elements) packed into the narrow dtype. info: 0 n.
// write_main: one thread per element of `dst`'s view: element e of a contiguous narrow input
//   (same dtype) written into `dst` at its strided offset; sub-word elements are merged with
//   atomics, since the neighbours in a word may be written by other threads.
//   info: 0 n   1 ndim   2 dst offset   16..24 shape   24..32 dst strides.

override KIND: u32 = 0u; // 0 uint8, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16

@group(0) @binding(0) var<storage, read> x: array<u32>;
// Atomic words, for write_main's merges (the other kernels store whole words).
@group(0) @binding(1) var<storage, read_write> out: array<atomic<u32>>;
@group(0) @binding(2) var<storage, read> info: array<u32>;

fn bits_per_element() -> u32 {
    switch KIND {
        case 0u, 1u: { return 8u; }
        case 2u, 4u, 5u: { return 16u; }
        default: { return 32u; }
    }
}

fn is_float() -> bool {
    return KIND >= 4u;
}

// The raw bits of narrow element i of a packed array.
fn element_bits(i: u32) -> u32 {
    let b = bits_per_element();
    if (b == 32u) {
        return x[i];
    }
    let per = 32u / b;
    return extractBits(x[i / per], (i % per) * b, b);
}

fn f16_to_f32(h: u32) -> f32 {
    let sign = (h & 0x8000u) << 16u;
    let e = (h >> 10u) & 0x1fu;
    let m = h & 0x3ffu;
    if (e == 0x1fu) {
        return bitcast<f32>(sign | 0x7f800000u | (m << 13u));
    }
    if (e == 0u) {
        // Zero or subnormal: m * 2^-24, exact in float32.
        let v = f32(m) * 5.9604644775390625e-8;
        return select(v, -v, sign != 0u);
    }
    return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}

fn f32_to_f16(v: u32) -> u32 {
    let sign = (v >> 16u) & 0x8000u;
    let a = v & 0x7fffffffu;
    if (a > 0x7f800000u) {
        return sign | 0x7e00u | ((a >> 13u) & 0x3ffu); // NaN, quieted
    }
    if (a >= 0x477ff000u) {
        return sign | 0x7c00u; // 65520 and above round to infinity
    }
    if (a >= 0x38800000u) {
        let r = a - 0x38000000u; // rebias the exponent: 127 - 15 = 112
        return sign | ((r + 0xfffu + ((r >> 13u) & 1u)) >> 13u);
    }
    if (a <= 0x33000000u) {
        return sign; // at most 2^-25: rounds to zero
    }
    // A subnormal float16: the float32 significand shifted to units of 2^-24.
    let e = a >> 23u;
    let m = (a & 0x7fffffu) | 0x800000u;
    let shift = 126u - e;
    return sign | ((m + ((1u << (shift - 1u)) - 1u) + ((m >> shift) & 1u)) >> shift);
}

fn f32_to_bf16(v: u32) -> u32 {
    if (is_nan_bits(v)) {
        return (v >> 16u) | 0x40u;
    }
    return (v + 0x7fffu + ((v >> 16u) & 1u)) >> 16u;
}

// Narrow bits -> the compute type's value: float32 bits in .x, or an int64 pair.
fn widen_bits(h: u32) -> vec2<u32> {
    switch KIND {
        case 4u: { return vec2<u32>(u(f16_to_f32(h)), 0u); }
        case 5u: { return vec2<u32>(h << 16u, 0u); }
        case 0u: { return vec2<u32>(h, 0u); }
        default: {
            let b = bits_per_element();
            let s = bitcast<i32>(h << (32u - b)) >> (32u - b); // sign-extended
            return vec2<u32>(bitcast<u32>(s), select(0u, 0xffffffffu, s < 0));
        }
    }
}

// The compute type's value (float32 bits, or an int64's low word) -> narrow bits.
fn narrow_bits(v: u32) -> u32 {
    switch KIND {
        case 4u: { return f32_to_f16(v); }
        case 5u: { return f32_to_bf16(v); }
        default: { return v & (0xffffffffu >> (32u - bits_per_element())); }
    }
}

fn strided_offset(e: u32) -> u32 {
    var rem = e;
    var o = info[2];
    let nd = info[1];
    for (var k = 0u; k < nd; k++) {
        let d = nd - 1u - k;
        let n = info[16u + d];
        o += (rem % n) * info[24u + d];
        rem = rem / n;
    }
    return o;
}

@compute @workgroup_size(256)
fn widen_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    if (e >= info[0]) {
        return;
    }
    let v = widen_bits(element_bits(strided_offset(e)));
    if (is_float()) {
        atomicStore(&out[e], v.x);
    } else {
        atomicStore(&out[2u * e], v.x);
        atomicStore(&out[2u * e + 1u], v.y);
    }
}

@compute @workgroup_size(256)
fn narrow_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let w = linear_id(gid, nwg);
    let b = bits_per_element();
    let per = 32u / b;
    let first = w * per;
    if (first >= info[0]) {
        return;
    }
    var word = 0u;
    for (var k = 0u; k < per && first + k < info[0]; k++) {
        // float32 bits are one word per element; int64 pairs two (the low word first).
        let v = select(x[2u * (first + k)], x[first + k], is_float());
        word = insertBits(word, narrow_bits(v), k * b, b);
    }
    atomicStore(&out[w], word);
}

@compute @workgroup_size(256)
fn write_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    if (e >= info[0]) {
        return;
    }
    let bits = element_bits(e);
    let o = strided_offset(e);
    let b = bits_per_element();
    if (b == 32u) {
        atomicStore(&out[o], bits);
        return;
    }
    let per = 32u / b;
    let shift = (o % per) * b;
    let mask = (0xffffffffu >> (32u - b)) << shift;
    atomicAnd(&out[o / per], ~mask);
    atomicOr(&out[o / per], bits << shift);
}
