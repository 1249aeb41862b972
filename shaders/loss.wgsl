// Fused cross-entropy rows: one workgroup per row of contiguous float32 logits [N, C]; the
// row's max and sum of exponentials are tree reductions in workgroup memory, then invocation
// 0 writes the row's loss w[t] * (logsumexp(x) - x[t]) and its weight w[t] (0 when the target
// is ignore_index). Targets are int64 word pairs, checked to lie in [0, C) by the host.
//
// info layout (words):
//   0 rows N   1 classes C   2, 3 ignore_index (low, high word)   4 has weight (0/1)
//   5 logits offset   6 target offset (elements)   7 weight offset

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read> targets: array<u32>;
@group(0) @binding(2) var<storage, read> weight: array<u32>;
@group(0) @binding(3) var<storage, read_write> loss: array<u32>;
@group(0) @binding(4) var<storage, read_write> row_weight: array<u32>;
@group(0) @binding(5) var<storage, read> info: array<u32>;

@compute @workgroup_size(256, 1, 1)
fn cross_entropy_main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= info[0]) {
        return;  // uniform across the workgroup: every invocation shares `row`
    }
    let c = info[1];
    let base = info[5] + row * c;
    let ti = 2u * (info[6] + row);
    let t_lo = targets[ti];
    let ignored = t_lo == info[2] && targets[ti + 1u] == info[3];

    var m = -inf();
    for (var j = lid; j < c; j += WG) {
        m = max(m, f(x[base + j]));
    }
    let mx = workgroup_reduce(lid, m, true);
    // An all -inf row has max -inf; shifting by 0 keeps exp well defined (as on the CPU).
    let shift = select(mx, 0.0, mx == -inf());

    var acc = 0.0;
    for (var j = lid; j < c; j += WG) {
        acc += exp(f(x[base + j]) - shift);
    }
    let total = workgroup_reduce(lid, acc, false);

    if (lid == 0u) {
        if (ignored) {
            loss[row] = u(0.0);
            row_weight[row] = u(0.0);
        } else {
            let w = select(1.0, f(weight[info[7] + t_lo]), info[4] != 0u);
            loss[row] = u(w * (shift + log(total) - f(x[base + t_lo])));
            row_weight[row] = u(w);
        }
    }
}
