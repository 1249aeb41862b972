// Fused optimizer steps: one dispatch updates one parameter and its state tensors in place,
// in the same per-element operation order as the CPU kernels (rust/core/src/optim.rs), which
// follow PyTorch's single-tensor update rules. Hyper-parameters arrive as float32 bits,
// already combined on the host exactly as the CPU kernels combine them.
//
// Bindings: g (gradient, read), p (parameter), s0, s1, s2 (state tensors; unused ones are
// bound to scratch buffers), info.
//
// info layout (words):
//   0 n (elements)   1 flags   2 offset of p   3 of g   4 of s0   5 of s1   6 of s2
//   8.. constants (float32 bits), per optimizer:
//   sgd:     wd, mom, damp, neg_lr                     flags: 1 maximize, 2 wd, 4 momentum,
//                                                        8 init (buffer = grad), 16 nesterov
//   adam:    wd, decay, w1, omw1, b2, c2, bc, eps, a   flags: 1 maximize, 2 wd, 4 decoupled,
//                                                        8 amsgrad, 16 small (lerp form)
//   rmsprop: wd, alpha, w, omw, eps, mom, neg_lr       flags: 1 maximize, 2 wd, 4 centered,
//                                                        8 momentum, 16 small
//   adagrad: wd, eps, neg_clr                          flags: 1 maximize, 2 wd

@group(0) @binding(0) var<storage, read> g: array<u32>;
@group(0) @binding(1) var<storage, read_write> p: array<u32>;
@group(0) @binding(2) var<storage, read_write> s0: array<u32>;
@group(0) @binding(3) var<storage, read_write> s1: array<u32>;
@group(0) @binding(4) var<storage, read_write> s2: array<u32>;
@group(0) @binding(5) var<storage, read> info: array<u32>;

fn flag(bit: u32) -> bool {
    return (info[1] & bit) != 0u;
}

fn c(k: u32) -> f32 {
    return f(info[8u + k]);
}

// The gradient of element i, negated under maximize.
fn grad(i: u32) -> f32 {
    var gi = f(g[info[3] + i]);
    if (flag(1u)) {
        gi = -gi;
    }
    return gi;
}

// torch.maximum: NaN from either side propagates.
fn maximum(a: f32, b: f32) -> f32 {
    if (is_nan_bits(u(a)) || is_nan_bits(u(b))) {
        return nan();
    }
    return select(b, a, a >= b);
}

@compute @workgroup_size(256, 1, 1)
fn sgd_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= info[0]) {
        return;
    }
    let pi = info[2] + i;
    let pv = f(p[pi]);
    var gi = grad(i);
    if (flag(2u)) {
        gi = gi + c(0u) * pv;
    }
    if (flag(4u)) {
        let bi = info[4] + i;
        var b = gi;
        if (!flag(8u)) {
            b = f(s0[bi]) * c(1u) + c(2u) * gi;
        }
        s0[bi] = u(b);
        if (flag(16u)) {
            gi = gi + c(1u) * b;
        } else {
            gi = b;
        }
    }
    p[pi] = u(pv + c(3u) * gi);
}

@compute @workgroup_size(256, 1, 1)
fn adam_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= info[0]) {
        return;
    }
    let pi = info[2] + i;
    let mi_ = info[4] + i;
    let vi_ = info[5] + i;
    var pv = f(p[pi]);
    var gi = grad(i);
    if (flag(4u)) {
        pv = pv * c(1u);
    }
    if (flag(2u)) {
        gi = gi + c(0u) * pv;
    }
    let m0 = f(s0[mi_]);
    var m = gi - (gi - m0) * c(3u);
    if (flag(16u)) {
        m = m0 + c(2u) * (gi - m0);
    }
    s0[mi_] = u(m);
    let v = f(s1[vi_]) * c(4u) + c(5u) * gi * gi;
    s1[vi_] = u(v);
    var d = v;
    if (flag(8u)) {
        let wi = info[6] + i;
        d = maximum(f(s2[wi]), v);
        s2[wi] = u(d);
    }
    let denom = sqrt(d) / c(6u) + c(7u);
    p[pi] = u(pv + c(8u) * m / denom);
}

@compute @workgroup_size(256, 1, 1)
fn rmsprop_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= info[0]) {
        return;
    }
    let pi = info[2] + i;
    let pv = f(p[pi]);
    var gi = grad(i);
    if (flag(2u)) {
        gi = gi + c(0u) * pv;
    }
    let si = info[4] + i;
    let s = f(s0[si]) * c(1u) + c(2u) * gi * gi;
    s0[si] = u(s);
    var avg: f32;
    if (flag(4u)) {
        let ai = info[5] + i;
        let a0 = f(s1[ai]);
        var m = gi - (gi - a0) * c(3u);
        if (flag(16u)) {
            m = a0 + c(2u) * (gi - a0);
        }
        s1[ai] = u(m);
        avg = sqrt(s + (-1.0) * m * m) + c(4u);
    } else {
        avg = sqrt(s) + c(4u);
    }
    if (flag(8u)) {
        let bi = info[6] + i;
        let b = f(s2[bi]) * c(5u) + gi / avg;
        s2[bi] = u(b);
        p[pi] = u(pv + c(6u) * b);
    } else {
        p[pi] = u(pv + c(6u) * gi / avg);
    }
}

@compute @workgroup_size(256, 1, 1)
fn adagrad_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= info[0]) {
        return;
    }
    let pi = info[2] + i;
    let pv = f(p[pi]);
    var gi = grad(i);
    if (flag(2u)) {
        gi = gi + c(0u) * pv;
    }
    let si = info[4] + i;
    let sv = f(s0[si]) + gi * gi;
    s0[si] = u(sv);
    p[pi] = u(pv + c(2u) * gi / (sqrt(sv) + c(1u)));
}
