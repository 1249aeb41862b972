// Element-wise kernels on strided, broadcast operands: binary ops, unary ops, casts,
// strided copies and where(cond, a, b). The op is a pipeline-overridable constant, so each
// (entry point, OP) pair is one specialised pipeline.
//
// info layout (words):
//   0 n (elements)   1 ndim   2 flags (bit k: operand k is the scalar in word 6+k)
//   3..5 storage offsets of operands 0..2   6..8 scalar bits of operands 0..2
//   9 output offset   10..12 high words of int64 scalar operands 0..2
//   16..24 shape   24..32 strides of operand 0   32..40 operand 1   40..48 operand 2
//   48..56 output strides

override OP: u32 = 0u;

@group(0) @binding(0) var<storage, read> x0: array<u32>;
@group(0) @binding(1) var<storage, read> x1: array<u32>;
@group(0) @binding(2) var<storage, read> x2: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;
@group(0) @binding(4) var<storage, read> info: array<u32>;

struct Offs {
    o0: u32,
    o1: u32,
    o2: u32,
    oo: u32,
}

// Storage offsets of element i (row-major over the shape) in each operand and the output.
fn offsets(i: u32) -> Offs {
    var r = Offs(info[3], info[4], info[5], info[9]);
    var rem = i;
    let nd = info[1];
    for (var k = 0u; k < nd; k++) {
        let d = nd - 1u - k;
        let s = info[16u + d];
        let c = rem % s;
        rem = rem / s;
        r.o0 += c * info[24u + d];
        r.o1 += c * info[32u + d];
        r.o2 += c * info[40u + d];
        r.oo += c * info[48u + d];
    }
    return r;
}

fn load0(o: u32) -> u32 {
    if ((info[2] & 1u) != 0u) {
        return info[6];
    }
    return x0[o];
}

fn load1(o: u32) -> u32 {
    if ((info[2] & 2u) != 0u) {
        return info[7];
    }
    return x1[o];
}

fn load2(o: u32) -> u32 {
    if ((info[2] & 4u) != 0u) {
        return info[8];
    }
    return x2[o];
}

fn bool_word(b: bool) -> u32 {
    return select(0u, 1u, b);
}

// x ** y with PyTorch's (C's powf) special cases that WGSL's pow leaves undefined.
fn powf(x: f32, y: f32) -> f32 {
    if (y == 0.0) {
        return 1.0;
    }
    if (y == 2.0) {
        return x * x;
    }
    if (y == 1.0 || x == 1.0) {
        return x;
    }
    if (is_nan_bits(u(x)) || is_nan_bits(u(y))) {
        return nan();
    }
    let ax = abs(x);
    if (ax == 0.0) {
        if (y > 0.0) {
            return 0.0;
        }
        return inf();
    }
    var r = exp2(y * log2(ax));
    if (x < 0.0) {
        if (floor(y) != y) {
            return nan();
        }
        if (abs(y % 2.0) == 1.0) {
            r = -r;
        }
    }
    return r;
}

// atan2 with C's special cases that WGSL leaves undefined: NaN in, NaN out; atan2(+-0, +0) is
// +-0 and atan2(+-0, -0) is +-pi.
fn atan2f(y: f32, x: f32) -> f32 {
    if (is_nan_bits(u(y)) || is_nan_bits(u(x))) {
        return nan();
    }
    if (y == 0.0 && x == 0.0) {
        let x_negative = (u(x) & 0x80000000u) != 0u;
        let pi = select(3.1415927, -3.1415927, (u(y) & 0x80000000u) != 0u);
        return select(y, pi, x_negative);
    }
    return atan2(y, x);
}

// C's fmod (the sign of a); fmod(x, +-inf) is x for a finite x.
fn fmodf(a: f32, b: f32) -> f32 {
    if (is_inf_bits(u(b)) && !is_inf_bits(u(a)) && !is_nan_bits(u(a))) {
        return a;
    }
    return a - b * trunc(a / b);
}

// Binary ops (BINARY_* codes from the op table; THRESHOLD_BACKWARD is ReLU's backward(g, y));
// the logical ones work on bool words.
// Comparisons test NaN bits explicitly (a driver may fold ordered/unordered compares).
fn binary_op(ab: u32, bb: u32) -> u32 {
    if (OP >= BINARY_LOGICAL_AND) {
        let p = ab != 0u;
        let q = bb != 0u;
        switch OP {
            case BINARY_LOGICAL_AND: { return bool_word(p && q); }
            case BINARY_LOGICAL_OR: { return bool_word(p || q); }
            default: { return bool_word(p != q); }
        }
    }
    let a = f(ab);
    let b = f(bb);
    let unordered = is_nan_bits(ab) || is_nan_bits(bb);
    switch OP {
        case BINARY_ADD: { return u(a + b); }
        case BINARY_SUB: { return u(a - b); }
        case BINARY_MUL: { return u(a * b); }
        case BINARY_DIV: { return u(a / b); }
        case BINARY_POW: { return u(powf(a, b)); }
        case BINARY_MAXIMUM: {
            if (is_nan_bits(ab) || is_nan_bits(bb)) { return u(nan()); }
            return u(max(a, b));
        }
        case BINARY_MINIMUM: {
            if (is_nan_bits(ab) || is_nan_bits(bb)) { return u(nan()); }
            return u(min(a, b));
        }
        case BINARY_ATAN2: { return u(atan2f(a, b)); }
        // remainder and floor_divide as the CPU's (and PyTorch's) kernels, from fmod.
        case BINARY_REMAINDER: {
            let r = fmodf(a, b);
            return u(select(r, r + b, r != 0.0 && ((r < 0.0) != (b < 0.0))));
        }
        case BINARY_FLOOR_DIVIDE: {
            if (b == 0.0) { return u(a / b); }
            let m = fmodf(a, b);
            var d = (a - m) / b;
            if (m != 0.0 && ((b < 0.0) != (m < 0.0))) { d -= 1.0; }
            let fd = floor(d);
            return u(select(fd, fd + 1.0, d - fd > 0.5));
        }
        case THRESHOLD_BACKWARD: { return u(select(0.0, a, b > 0.0)); }
        case BINARY_FMOD: { return u(fmodf(a, b)); }
        case BINARY_DIV_TRUNC: { return u(trunc(a / b)); }
        case BINARY_EQ: { return bool_word(!unordered && a == b); }
        case BINARY_NE: { return bool_word(unordered || a != b); }
        case BINARY_LT: { return bool_word(!unordered && a < b); }
        case BINARY_LE: { return bool_word(!unordered && a <= b); }
        case BINARY_GT: { return bool_word(!unordered && a > b); }
        case BINARY_GE: { return bool_word(!unordered && a >= b); }
        default: { return 0u; }
    }
}

// erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7).
fn erff(x: f32) -> f32 {
    let ax = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * ax);
    let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-ax * ax);
    return select(-y, y, x >= 0.0);
}

fn tanhf(x: f32) -> f32 {
    // Near 0, (1 - e) / (1 + e) cancels (tanh(1e-38) came out 3e-8): the series instead.
    if (abs(x) < 1e-3) {
        return x - x * x * x / 3.0;
    }
    let e = exp(-2.0 * abs(x));
    let t = (1.0 - e) / (1.0 + e);
    // The sign bit, so that tanh(-0.0) is -0.0.
    return select(t, -t, (bitcast<u32>(x) >> 31u) != 0u);
}

// Unary ops: the UNARY_* codes come from the op table (rust/core/src/op.rs), the float ops
// below UNARY_ISNAN; predicates give bool words; and the copies and casts
// 50 copy (raw word), 51 float -> bool, 52 bool -> float.
fn unary_op(xb: u32) -> u32 {
    let x = f(xb);
    // NaN in, NaN out for the float ops (sign gives 0), whatever the driver's builtins do.
    if (OP < UNARY_ISNAN && OP != UNARY_SIGN && is_nan_bits(xb)) {
        return xb;
    }
    switch OP {
        case UNARY_NEG: { return u(-x); }
        case UNARY_ABS: { return u(abs(x)); }
        case UNARY_EXP: { return u(exp(x)); }
        case UNARY_LOG: { return u(log(x)); }
        case UNARY_LOG2: { return u(log2(x)); }
        case UNARY_LOG10: { return u(log(x) * 0.4342944819032518); }
        case UNARY_LOG1P: {
            // log1p: exact for small x via the (1+x)-1 correction trick.
            let w = 1.0 + x;
            if (is_inf_bits(xb)) { return u(select(x, nan(), x < 0.0)); }
            if (w == 1.0) { return u(x); }
            // x / (w - 1) first: x * log(w) overflows for x near the float32 maximum.
            return u(log(w) * (x / (w - 1.0)));
        }
        case UNARY_EXPM1: {
            if (abs(x) < 1e-5) { return u(x + 0.5 * x * x); }
            return u(exp(x) - 1.0);
        }
        case UNARY_SQRT: { return u(sqrt(x)); }
        case UNARY_RSQRT: { return u(1.0 / sqrt(x)); }
        case UNARY_SQUARE: { return u(x * x); }
        case UNARY_RECIPROCAL: { return u(1.0 / x); }
        case UNARY_SIN: { return u(sin(x)); }
        case UNARY_COS: { return u(cos(x)); }
        case UNARY_TAN: { return u(tan(x)); }
        // Through atan2 (drivers' asin/acos lose digits near +-1).
        case UNARY_ASIN: { return u(atan2f(x, sqrt((1.0 - x) * (1.0 + x)))); }
        case UNARY_ACOS: { return u(atan2f(sqrt((1.0 - x) * (1.0 + x)), x)); }
        case UNARY_ATAN: { return u(atan(x)); }
        case UNARY_SINH: { return u(0.5 * (exp(x) - exp(-x))); }
        case UNARY_COSH: { return u(0.5 * (exp(x) + exp(-x))); }
        case UNARY_TANH: { return u(tanhf(x)); }
        case UNARY_SIGMOID: { return u(1.0 / (1.0 + exp(-x))); }
        case UNARY_RELU: { return u(select(x, 0.0, x < 0.0)); }
        case UNARY_ERF: { return u(erff(x)); }
        case UNARY_SIGN: {
            if (x > 0.0) { return u(1.0); }
            if (x < 0.0) { return u(-1.0); }
            return u(0.0);
        }
        case UNARY_FLOOR: { return u(floor(x)); }
        case UNARY_CEIL: { return u(ceil(x)); }
        case UNARY_ROUND: { return u(round(x)); }
        case UNARY_TRUNC: { return u(trunc(x)); }
        case UNARY_FRAC: { return u(x - trunc(x)); }
        case UNARY_LOGIT: { return u(log(x / (1.0 - x))); }
        case UNARY_ISNAN: { return bool_word(is_nan_bits(xb)); }
        case UNARY_ISINF: { return bool_word(is_inf_bits(xb)); }
        case UNARY_ISFINITE: { return bool_word(!is_nan_bits(xb) && !is_inf_bits(xb)); }
        case UNARY_LOGICAL_NOT: { return bool_word(xb == 0u); }
        case COPY: { return xb; }
        case CAST_F32_BOOL: { return bool_word((xb & 0x7fffffffu) != 0u); }
        case CAST_BOOL_F32: { return u(f32(xb)); }
        default: { return 0u; }
    }
}

@compute @workgroup_size(256, 1, 1)
fn binary_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= info[0]) {
        return;
    }
    let o = offsets(i);
    out[o.oo] = binary_op(load0(o.o0), load1(o.o1));
}

@compute @workgroup_size(256, 1, 1)
fn unary_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= info[0]) {
        return;
    }
    let o = offsets(i);
    out[o.oo] = unary_op(load0(o.o0));
}

// where(cond, a, b): operand 0 is the bool condition.
@compute @workgroup_size(256, 1, 1)
fn where_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= info[0]) {
        return;
    }
    let o = offsets(i);
    out[o.oo] = select(load2(o.o2), load1(o.o1), load0(o.o0) != 0u);
}

// ---- int64 ----
// int64 tensors are pairs of u32 words (low, high; two's complement), so element offsets are
// doubled when an int64 operand or output is indexed. Comparisons, where, copies and casts
// work on both words and are exact over the whole int64 range.

fn load64_0(o: u32) -> vec2<u32> {
    if ((info[2] & 1u) != 0u) {
        return vec2<u32>(info[6], info[10]);
    }
    return vec2<u32>(x0[2u * o], x0[2u * o + 1u]);
}

fn load64_1(o: u32) -> vec2<u32> {
    if ((info[2] & 2u) != 0u) {
        return vec2<u32>(info[7], info[11]);
    }
    return vec2<u32>(x1[2u * o], x1[2u * o + 1u]);
}

fn load64_2(o: u32) -> vec2<u32> {
    if ((info[2] & 4u) != 0u) {
        return vec2<u32>(info[8], info[12]);
    }
    return vec2<u32>(x2[2u * o], x2[2u * o + 1u]);
}

// int64 -> float32 rounded once to nearest even (as Rust's `as f32`): the magnitude's top 32
// bits with a sticky bit for the rest, converted, then scaled by a power of two.
fn i64_to_f32(v: vec2<u32>) -> f32 {
    let negative = (v.y & 0x80000000u) != 0u;
    var m = v;
    if (negative) {
        m = neg64(v);
    }
    var r: f32;
    if (m.y == 0u) {
        r = f32(m.x);
    } else {
        let s = countLeadingZeros(m.y);
        var w = m.y;
        var rest = m.x;
        if (s > 0u) {
            w = (m.y << s) | (m.x >> (32u - s));
            rest = m.x << s;
        }
        w = w | select(0u, 1u, rest != 0u);
        r = f32(w) * exp2(f32(32u - s));
    }
    return select(r, -r, negative);
}

// float32 -> int64 truncating toward zero, saturating, NaN -> 0 (as Rust's `as i64`).
fn f32_to_i64(x: f32) -> vec2<u32> {
    if (is_nan_bits(u(x))) {
        return vec2<u32>(0u, 0u);
    }
    let t = trunc(x);
    if (t >= 9223372036854775808.0) {
        return vec2<u32>(0xffffffffu, 0x7fffffffu);
    }
    if (t <= -9223372036854775808.0) {
        return vec2<u32>(0u, 0x80000000u);
    }
    let a = abs(t);
    let hi = floor(a / 4294967296.0);
    let lo = a - hi * 4294967296.0;
    var r = vec2<u32>(u32(lo), u32(hi));
    if (t < 0.0) {
        r = neg64(r);
    }
    return r;
}

// |n| / |d| and |n| % |d| for magnitudes up to 2^63 (restoring division, one bit a step).
struct DivMod64 {
    q: vec2<u32>,
    r: vec2<u32>,
}

fn divmod_u64(n: vec2<u32>, d: vec2<u32>) -> DivMod64 {
    var q = vec2<u32>(0u, 0u);
    var r = vec2<u32>(0u, 0u);
    for (var bit = 63i; bit >= 0i; bit--) {
        let b = u32(bit);
        let nbit = select((n.x >> b) & 1u, (n.y >> (b - 32u)) & 1u, b >= 32u);
        r = vec2<u32>((r.x << 1u) | nbit, (r.y << 1u) | (r.x >> 31u));
        if (r.y > d.y || (r.y == d.y && r.x >= d.x)) {
            r = vec2<u32>(r.x - d.x, r.y - d.y - select(0u, 1u, r.x < d.x));
            if (b >= 32u) {
                q.y |= 1u << (b - 32u);
            } else {
                q.x |= 1u << b;
            }
        }
    }
    return DivMod64(q, r);
}

// C's division: the quotient truncated toward zero and the remainder with the dividend's
// sign, wrapping as the CPU's int64 kernels (i64::MIN / -1 == i64::MIN, remainder 0).
fn trunc_divmod64(a: vec2<u32>, b: vec2<u32>) -> DivMod64 {
    let a_neg = (a.y & 0x80000000u) != 0u;
    let b_neg = (b.y & 0x80000000u) != 0u;
    let m = divmod_u64(select(a, neg64(a), a_neg), select(b, neg64(b), b_neg));
    return DivMod64(select(m.q, neg64(m.q), a_neg != b_neg), select(m.r, neg64(m.r), a_neg));
}

// Python's floor division and remainder (the remainder takes the divisor's sign), wrapping
// as the CPU's int64 kernels (i64::MIN // -1 == i64::MIN). The divisor is never 0 here.
fn floor_divmod64(a: vec2<u32>, b: vec2<u32>) -> DivMod64 {
    let a_neg = (a.y & 0x80000000u) != 0u;
    let b_neg = (b.y & 0x80000000u) != 0u;
    let t = trunc_divmod64(a, b);
    var q = t.q;
    var r = t.r;
    if ((r.x | r.y) != 0u && a_neg != b_neg) {
        q = add64(q, vec2<u32>(0xffffffffu, 0xffffffffu));
        r = add64(r, b);
    }
    return DivMod64(q, r);
}

// a ** e as the CPU's int64 pow: wrapping, by squaring over all 63 exponent bits; a negative
// exponent gives 1 for a base of 1, +-1 for -1 and 0 otherwise (the host raises first where
// PyTorch does).
fn pow64(a: vec2<u32>, e: vec2<u32>) -> vec2<u32> {
    if ((e.y & 0x80000000u) != 0u) {
        if (a.x == 1u && a.y == 0u) {
            return a;
        }
        if (a.x == 0xffffffffu && a.y == 0xffffffffu) {
            return select(a, vec2<u32>(1u, 0u), (e.x & 1u) == 0u);
        }
        return vec2<u32>(0u, 0u);
    }
    var base = a;
    var r = vec2<u32>(1u, 0u);
    for (var word = 0u; word < 2u; word++) {
        var n = select(e.x, e.y, word == 1u);
        for (var bit = 0u; bit < 32u; bit++) {
            if ((n & 1u) != 0u) {
                r = mul64(r, base);
            }
            base = mul64(base, base);
            n = n >> 1u;
        }
    }
    return r;
}

// Wrapping int64 arithmetic and bits (the default is floor_divide).
fn arith64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    switch OP {
        case BINARY_ADD: { return add64(a, b); }
        case BINARY_SUB: { return add64(a, neg64(b)); }
        case BINARY_MUL: { return mul64(a, b); }
        case BINARY_POW: { return pow64(a, b); }
        case BINARY_MAXIMUM: { return select(b, a, cmp64(a, b) >= 0); }
        case BINARY_MINIMUM: { return select(b, a, cmp64(a, b) <= 0); }
        case BINARY_REMAINDER: { return floor_divmod64(a, b).r; }
        case BINARY_FMOD: { return trunc_divmod64(a, b).r; }
        case BINARY_DIV_TRUNC: { return trunc_divmod64(a, b).q; }
        case BINARY_BITWISE_AND: { return a & b; }
        case BINARY_BITWISE_OR: { return a | b; }
        case BINARY_BITWISE_XOR: { return a ^ b; }
        default: { return floor_divmod64(a, b).q; }
    }
}

// Two int64 operands: comparisons (BINARY_EQ and above) -> bool words; arithmetic and bits
// (below BINARY_EQ, see arith64) -> int64.
@compute @workgroup_size(256, 1, 1)
fn binary64_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= info[0]) {
        return;
    }
    let o = offsets(i);
    if (OP < BINARY_EQ) {
        let v = arith64(load64_0(o.o0), load64_1(o.o1));
        out[2u * o.oo] = v.x;
        out[2u * o.oo + 1u] = v.y;
        return;
    }
    let c = cmp64(load64_0(o.o0), load64_1(o.o1));
    var r = false;
    switch OP {
        case BINARY_EQ: { r = c == 0; }
        case BINARY_NE: { r = c != 0; }
        case BINARY_LT: { r = c < 0; }
        case BINARY_LE: { r = c <= 0; }
        case BINARY_GT: { r = c > 0; }
        default: { r = c >= 0; }
    }
    out[o.oo] = bool_word(r);
}

// where(cond, a, b) with int64 a, b and output.
@compute @workgroup_size(256, 1, 1)
fn where64_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= info[0]) {
        return;
    }
    let o = offsets(i);
    var v = load64_2(o.o2);
    if (load0(o.o0) != 0u) {
        v = load64_1(o.o1);
    }
    out[2u * o.oo] = v.x;
    out[2u * o.oo + 1u] = v.y;
}

// Casts and copies with an int64 side (CAST_*, COPY_I64: a strided copy), and the exact int64
// unary ops (UNARY_* codes).
@compute @workgroup_size(256, 1, 1)
fn unary64_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= info[0]) {
        return;
    }
    let o = offsets(i);
    var v = vec2<u32>(0u, 0u);
    switch OP {
        case CAST_I64_F32: {
            out[o.oo] = u(i64_to_f32(load64_0(o.o0)));
            return;
        }
        case CAST_I64_BOOL: {
            let a = load64_0(o.o0);
            out[o.oo] = bool_word((a.x | a.y) != 0u);
            return;
        }
        case CAST_F32_I64: { v = f32_to_i64(f(load0(o.o0))); }
        case CAST_BOOL_I64: { v = vec2<u32>(select(0u, 1u, load0(o.o0) != 0u), 0u); }
        case UNARY_NEG: { v = neg64(load64_0(o.o0)); }
        case UNARY_ABS: {
            let a = load64_0(o.o0);
            v = select(a, neg64(a), cmp64(a, vec2<u32>(0u, 0u)) < 0);
        }
        case UNARY_SQUARE: {
            let a = load64_0(o.o0);
            v = mul64(a, a);
        }
        case UNARY_RELU: {
            let a = load64_0(o.o0);
            v = select(a, vec2<u32>(0u, 0u), cmp64(a, vec2<u32>(0u, 0u)) < 0);
        }
        case UNARY_SIGN: {
            let c = cmp64(load64_0(o.o0), vec2<u32>(0u, 0u));
            v = select(select(vec2<u32>(0u, 0u), vec2<u32>(1u, 0u), c > 0), vec2<u32>(0xffffffffu, 0xffffffffu), c < 0);
        }
        case UNARY_BITWISE_NOT: { v = ~load64_0(o.o0); }
        default: { v = load64_0(o.o0); }
    }
    out[2u * o.oo] = v.x;
    out[2u * o.oo + 1u] = v.y;
}
