// Fused softmax / log_softmax along one dim: one workgroup per row (a combination of the
// other dims' indices); the row's max and sum of exponentials are tree reductions in
// workgroup memory, then each element is written once.
//
// info layout (words):
//   0 rows   1 len (size of the softmax dim)   2 outer ndim   3 input offset
//   4 input stride along the dim   5 output stride along the dim
//   16..24 outer shape   24..32 input outer strides   32..40 output outer strides

override OP: u32 = 0u; // SOFTMAX_SOFTMAX or SOFTMAX_LOGSOFTMAX

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<storage, read> info: array<u32>;

@compute @workgroup_size(256, 1, 1)
fn softmax_main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * nwg.x;
    let live = row < info[0];
    let len = info[1];
    var ib = info[3];
    var ob = 0u;
    var rem = row;
    let nd = info[2];
    for (var k = 0u; k < nd; k++) {
        let d = nd - 1u - k;
        let s = info[16u + d];
        let c = rem % s;
        rem = rem / s;
        ib += c * info[24u + d];
        ob += c * info[32u + d];
    }
    let is = info[4];
    let os = info[5];

    var m = -inf();
    if (live) {
        for (var j = lid; j < len; j += WG) {
            m = max(m, f(x[ib + j * is]));
        }
    }
    let mx = workgroup_reduce(lid, m, true);

    var acc = 0.0;
    if (live) {
        for (var j = lid; j < len; j += WG) {
            acc += exp(f(x[ib + j * is]) - mx);
        }
    }
    let total = workgroup_reduce(lid, acc, false);

    if (live) {
        let lt = log(total);
        for (var j = lid; j < len; j += WG) {
            let v = f(x[ib + j * is]) - mx;
            if (OP == SOFTMAX_LOGSOFTMAX) {
                out[ob + j * os] = u(v - lt);
            } else {
                out[ob + j * os] = u(exp(v) / total);
            }
        }
    }
}
