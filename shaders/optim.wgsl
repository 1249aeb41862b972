// Fused optimizer steps: one dispatch updates one parameter and its state tensors in place,
// in the same per-element operation order as the CPU kernels (rust/core/src/cpu/optim.rs), which
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
//   nadam:   wd, decay, w1, omw1, b2, c2, bc2, eps,    flags: 1 maximize, 2 wd, 4 decoupled,
//            grad_scale, avg_scale                       16 small
//   radam:   wd, decay, w1, omw1, b2, c2, bc1, lr,     flags: 1 maximize, 2 wd, 4 decoupled,
//            bc2_sqrt, eps, rect                         8 rectified, 16 small
//   adamax:  wd, w1, omw1, b2, eps, neg_clr            flags: 1 maximize, 2 wd, 16 small
//   adadelta: wd, rho, 1 - rho, eps, neg_lr            flags: 1 maximize, 2 wd
//   asgd:    wd, decay, neg_eta, mu                    flags: 1 maximize, 2 wd, 4 average
//   rprop:   etaminus, etaplus, step_min, step_max     flags: 1 maximize
//   adafactor: see adafactor_main (one workgroup per parameter)

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

// The gradient of element i with coupled weight decay (flag 2, constant 0) of the parameter value pv.
fn decayed_grad(i: u32, pv: f32) -> f32 {
    var gi = grad(i);
    if (flag(2u)) {
        gi = gi + c(0u) * pv;
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

// torch.lerp(a, b, w) with a scalar weight (omw = 1 - w); the form is picked by flag 16.
fn lerp_w(a: f32, b: f32, w: f32, omw: f32) -> f32 {
    if (flag(16u)) {
        return a + w * (b - a);
    }
    return b - (b - a) * omw;
}

// torch.sign: 0 also for NaN.
fn sign_of(x: f32) -> f32 {
    if (x > 0.0) {
        return 1.0;
    }
    if (x < 0.0) {
        return -1.0;
    }
    return 0.0;
}

// Element i's values after the part of an update Adam, NAdam and RAdam share.
struct Moments {
    pv: f32,
    gi: f32,
    m: f32,
    v: f32,
}

// The shared part of an Adam-family update (constants 0-5: wd, decay, w1, omw1, b2, c2):
// decoupled decay of the parameter (flag 4), the gradient with coupled decay (flag 2), exp_avg
// (s0) lerped toward it and exp_avg_sq (s1) updated, both stored.
fn adam_moments(i: u32) -> Moments {
    var pv = f(p[info[2] + i]);
    if (flag(4u)) {
        pv = pv * c(1u);
    }
    let gi = decayed_grad(i, pv);
    let mi = info[4] + i;
    let m = lerp_w(f(s0[mi]), gi, c(2u), c(3u));
    s0[mi] = u(m);
    let vi = info[5] + i;
    let v = f(s1[vi]) * c(4u) + c(5u) * gi * gi;
    s1[vi] = u(v);
    return Moments(pv, gi, m, v);
}

// torch.clamp(x, lo, hi): NaN propagates; hi wins when lo > hi.
fn clamp_nan(x: f32, lo: f32, hi: f32) -> f32 {
    if (is_nan_bits(u(x))) {
        return x;
    }
    return min(max(x, lo), hi);
}

@compute @workgroup_size(256, 1, 1)
fn sgd_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= info[0]) {
        return;
    }
    let pi = info[2] + i;
    let pv = f(p[pi]);
    var gi = decayed_grad(i, pv);
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
    let a = adam_moments(i);
    var d = a.v;
    if (flag(8u)) {
        let wi = info[6] + i;
        d = maximum(f(s2[wi]), a.v);
        s2[wi] = u(d);
    }
    let denom = sqrt(d) / c(6u) + c(7u);
    p[info[2] + i] = u(a.pv + c(8u) * a.m / denom);
}

@compute @workgroup_size(256, 1, 1)
fn rmsprop_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= info[0]) {
        return;
    }
    let pi = info[2] + i;
    let pv = f(p[pi]);
    let gi = decayed_grad(i, pv);
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
    let gi = decayed_grad(i, pv);
    let si = info[4] + i;
    let sv = f(s0[si]) + gi * gi;
    s0[si] = u(sv);
    p[pi] = u(pv + c(2u) * gi / (sqrt(sv) + c(1u)));
}

@compute @workgroup_size(256, 1, 1)
fn nadam_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= info[0]) {
        return;
    }
    let a = adam_moments(i);
    let denom = sqrt(a.v / c(6u)) + c(7u);
    let pv = a.pv + c(8u) * a.gi / denom;
    p[info[2] + i] = u(pv + c(9u) * a.m / denom);
}

@compute @workgroup_size(256, 1, 1)
fn radam_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= info[0]) {
        return;
    }
    let a = adam_moments(i);
    var update = a.m / c(6u) * c(7u);
    if (flag(8u)) {
        update = update * (c(8u) / (sqrt(a.v) + c(9u))) * c(10u);
    }
    p[info[2] + i] = u(a.pv + (-1.0) * update);
}

@compute @workgroup_size(256, 1, 1)
fn adamax_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= info[0]) {
        return;
    }
    let pi = info[2] + i;
    let mi_ = info[4] + i;
    let ui_ = info[5] + i;
    let pv = f(p[pi]);
    let gi = decayed_grad(i, pv);
    let m = lerp_w(f(s0[mi_]), gi, c(1u), c(2u));
    s0[mi_] = u(m);
    let ui = maximum(f(s1[ui_]) * c(3u), abs(gi) + c(4u));
    s1[ui_] = u(ui);
    p[pi] = u(pv + c(5u) * m / ui);
}

@compute @workgroup_size(256, 1, 1)
fn adadelta_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= info[0]) {
        return;
    }
    let pi = info[2] + i;
    let si = info[4] + i;
    let ai = info[5] + i;
    let pv = f(p[pi]);
    let gi = decayed_grad(i, pv);
    let s = f(s0[si]) * c(1u) + c(2u) * gi * gi;
    s0[si] = u(s);
    let rms = sqrt(s + c(3u));
    let a = f(s1[ai]);
    let delta = sqrt(a + c(3u)) / rms * gi;
    s1[ai] = u(a * c(1u) + c(2u) * delta * delta);
    p[pi] = u(pv + c(4u) * delta);
}

@compute @workgroup_size(256, 1, 1)
fn asgd_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= info[0]) {
        return;
    }
    let pi = info[2] + i;
    let xi = info[4] + i;
    var pv = f(p[pi]);
    let gi = decayed_grad(i, pv);
    pv = pv * c(1u);
    pv = pv + c(2u) * gi;
    p[pi] = u(pv);
    if (flag(4u)) {
        let ax = f(s0[xi]);
        s0[xi] = u(ax + (pv - ax) * c(3u));
    } else {
        s0[xi] = u(pv);
    }
}

@compute @workgroup_size(256, 1, 1)
fn rprop_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= info[0]) {
        return;
    }
    let pi = info[2] + i;
    let qi = info[4] + i;
    let zi = info[5] + i;
    var gi = grad(i);
    let prod = gi * f(s0[qi]);
    var factor = 1.0;
    if (prod > 0.0) {
        factor = c(1u);
    } else if (prod < 0.0) {
        factor = c(0u);
    }
    let st = clamp_nan(f(s1[zi]) * factor, c(2u), c(3u));
    s1[zi] = u(st);
    if (factor == c(0u)) {
        gi = 0.0;
    }
    p[pi] = u(f(p[pi]) + (-1.0) * sign_of(gi) * st);
    s0[qi] = u(gi);
}

// Adafactor: one workgroup of 256 invocations per parameter (its reductions are over the whole
// parameter). Constants: 0 w (1 - beta2_t), 1 1 - w, 2 rho_t, 3 eps1, 4 eps1², 5 eps2, 6 decay,
// 7 d, 8 sqrt(n), then as u32: 9 B (batch), 10 R (rows), 11 C (cols). Flags: 1 maximize,
// 2 weight decay, 4 factored, 16 small. s0: row_var (factored) or variance, s1: col_var,
// s2: B floats of scratch (each batch's clamped mean of row_var).
var<workgroup> partial: array<f32, 256>;

fn workgroup_sum(lid: u32, v: f32) -> f32 {
    partial[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            partial[lid] = partial[lid] + partial[lid + s];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier();
    return total;
}

fn cu(k: u32) -> u32 {
    return info[8u + k];
}

// torch.clamp(x, min=lo): NaN stays NaN.
fn clamp_min_nan(x: f32, lo: f32) -> f32 {
    if (is_nan_bits(u(x))) {
        return x;
    }
    return max(x, lo);
}

// The mean of g² over `count` values whose sum is `sum`, as norm(g)² / count in float32.
fn mean_sq(sum: f32, count: u32) -> f32 {
    let norm = sqrt(sum);
    return norm * norm / f32(count);
}

fn adafactor_update(i: u32) -> f32 {
    var est: f32;
    if (flag(4u)) {
        let r = cu(10u);
        let cols = cu(11u);
        let b = i / (r * cols);
        est = f(s0[info[4] + b * r + (i / cols) % r]) * f(s1[info[5] + b * cols + i % cols]) / f(s2[info[6] + b]);
    } else {
        est = f(s0[info[4] + i]);
    }
    return 1.0 / sqrt(clamp_min_nan(est, c(4u))) * grad(i);
}

@compute @workgroup_size(256, 1, 1)
fn adafactor_main(@builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    let n = info[0];
    var acc = 0.0;
    for (var i = lid; i < n; i = i + 256u) {
        let x = f(p[info[2] + i]);
        acc = acc + x * x;
    }
    let alpha = max(c(5u), sqrt(workgroup_sum(lid, acc)) / c(8u)) * c(2u);
    if (flag(2u)) {
        for (var i = lid; i < n; i = i + 256u) {
            p[info[2] + i] = u(f(p[info[2] + i]) * c(6u));
        }
    }
    if (flag(4u)) {
        let nb = cu(9u);
        let r = cu(10u);
        let cols = cu(11u);
        for (var k = lid; k < nb * r; k = k + 256u) {
            let base = (k / r) * r * cols + (k % r) * cols;
            var sum = 0.0;
            for (var j = 0u; j < cols; j = j + 1u) {
                let gi = grad(base + j);
                sum = sum + gi * gi;
            }
            let at = info[4] + k;
            s0[at] = u(lerp_w(f(s0[at]), mean_sq(sum, cols), c(0u), c(1u)));
        }
        for (var k = lid; k < nb * cols; k = k + 256u) {
            let base = (k / cols) * r * cols + k % cols;
            var sum = 0.0;
            for (var j = 0u; j < r; j = j + 1u) {
                let gi = grad(base + j * cols);
                sum = sum + gi * gi;
            }
            let at = info[5] + k;
            s1[at] = u(lerp_w(f(s1[at]), mean_sq(sum, r), c(0u), c(1u)));
        }
        storageBarrier();
        workgroupBarrier();
        for (var b = lid; b < nb; b = b + 256u) {
            var sum = 0.0;
            for (var j = 0u; j < r; j = j + 1u) {
                sum = sum + f(s0[info[4] + b * r + j]);
            }
            s2[info[6] + b] = u(clamp_min_nan(sum / f32(r), c(3u)));
        }
    } else {
        for (var i = lid; i < n; i = i + 256u) {
            let gi = grad(i);
            s0[info[4] + i] = u(lerp_w(f(s0[info[4] + i]), gi * gi, c(0u), c(1u)));
        }
    }
    storageBarrier();
    workgroupBarrier();
    var uacc = 0.0;
    for (var i = lid; i < n; i = i + 256u) {
        let x = adafactor_update(i);
        uacc = uacc + x * x;
    }
    let denom = max(1.0, sqrt(workgroup_sum(lid, uacc)) / (c(8u) * c(7u)));
    let scale = -alpha / denom;
    for (var i = lid; i < n; i = i + 256u) {
        p[info[2] + i] = u(f(p[info[2] + i]) + scale * adafactor_update(i));
    }
}
