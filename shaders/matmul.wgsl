// Batched matmul C[b] = A[b] @ B[b], tiled through workgroup memory with register
// blocking: a 16x16 workgroup computes a 64x64 tile of C, each invocation a 4x4 block
// kept in registers, stepping through K in slices of 16. Operands are read through their
// strides (a transposed operand needs no copy); batch dims (up to 4, broadcast allowed
// through zero strides) are unravelled per workgroup. C is contiguous [batch, M, N].
//
// info layout (words):
//   0 M   1 N   2 K   3 batch ndim   4 A offset   5 B offset
//   6 A stride over M   7 A stride over K   8 B stride over K   9 B stride over N
//   10 first batch index of this launch
//   16..20 batch shape   20..24 A batch strides   24..28 B batch strides

@group(0) @binding(0) var<storage, read> a: array<u32>;
@group(0) @binding(1) var<storage, read> b: array<u32>;
@group(0) @binding(2) var<storage, read_write> c: array<u32>;
@group(0) @binding(3) var<storage, read> info: array<u32>;

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> As: array<vec4<f32>, 256>; // [TK][TM / 4]
var<workgroup> Bs: array<vec4<f32>, 256>; // [TK][TN / 4]

@compute @workgroup_size(16, 16, 1)
fn matmul_main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let M = info[0];
    let N = info[1];
    let K = info[2];
    let batch = wid.z + info[10];
    var ao = info[4];
    var bo = info[5];
    var rem = batch;
    let bnd = info[3];
    for (var k = 0u; k < bnd; k++) {
        let d = bnd - 1u - k;
        let s = info[16u + d];
        let cidx = rem % s;
        rem = rem / s;
        ao += cidx * info[20u + d];
        bo += cidx * info[24u + d];
    }
    let am = info[6];
    let ak = info[7];
    let bk = info[8];
    let bn = info[9];
    let row0 = wid.y * TM;
    let col0 = wid.x * TN;
    let tid = lid.y * 16u + lid.x;

    var acc: array<vec4<f32>, 4>;
    for (var i = 0u; i < 4u; i++) {
        acc[i] = vec4<f32>(0.0);
    }

    for (var t = 0u; t < K; t += TK) {
        // A tile: TK x TM values, 4 per invocation (one vec4 along M).
        {
            let kk = tid / 16u;
            let m4 = tid % 16u;
            let gk = t + kk;
            var v = vec4<f32>(0.0);
            for (var q = 0u; q < 4u; q++) {
                let gm = row0 + m4 * 4u + q;
                if (gm < M && gk < K) {
                    v[q] = f(a[ao + gm * am + gk * ak]);
                }
            }
            As[kk * 16u + m4] = v;
        }
        // B tile: TK x TN values, one vec4 along N per invocation.
        {
            let kk = tid / 16u;
            let n4 = tid % 16u;
            let gk = t + kk;
            var v = vec4<f32>(0.0);
            for (var q = 0u; q < 4u; q++) {
                let gn = col0 + n4 * 4u + q;
                if (gn < N && gk < K) {
                    v[q] = f(b[bo + gk * bk + gn * bn]);
                }
            }
            Bs[kk * 16u + n4] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            let av = As[kk * 16u + lid.y];
            let bv = Bs[kk * 16u + lid.x];
            acc[0] += av.x * bv;
            acc[1] += av.y * bv;
            acc[2] += av.z * bv;
            acc[3] += av.w * bv;
        }
        workgroupBarrier();
    }

    let cbase = batch * M * N;
    for (var i = 0u; i < 4u; i++) {
        let gm = row0 + lid.y * 4u + i;
        if (gm < M) {
            for (var j = 0u; j < 4u; j++) {
                let gn = col0 + lid.x * 4u + j;
                if (gn < N) {
                    c[cbase + gm * N + gn] = u(acc[i][j]);
                }
            }
        }
    }
}
