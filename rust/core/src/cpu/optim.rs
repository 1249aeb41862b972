//! CPU kernels of the fused optimizer step (`Op::OptimStep`): one call updates every
//! parameter of a param group in place.
//!
//! Each function follows PyTorch's single-tensor ("foreach=False") update rule for its
//! optimizer, in the parameter's dtype and in PyTorch's operation order: hyper-parameters are
//! Python floats (f64), combined in f64 exactly where PyTorch combines them in Python, and cast
//! to the element type where PyTorch passes them to a tensor op as a scalar. `ops::optim` has
//! checked the operands: float32 or float64, states in their parameter's dtype, parameters and
//! states contiguous (they are written in place). Every written tensor's storage version is
//! bumped, as in-place ops do. The scalar states (step counts, ...) are one-element CPU tensors,
//! read and advanced here, also for the GPU kernels.
//!
//! Work is split into chunks of at most `CHUNK` elements across all parameters and run on the
//! CPU team when the group is large enough for threads to pay.
use crate::dtype::{DType, Element, Float};
use crate::op::optim::{
    factored_dims, AdadeltaOptions, AdafactorOptions, AdagradOptions, AdamOptions, AdamaxOptions, AsgdOptions, NadamOptions, OptimOperands, RadamOptions,
    RmspropOptions, RpropOptions, SgdOptions,
};
use crate::op::OptimOptions;
use crate::tensor::Tensor;
use std::borrow::Cow;

const CHUNK: usize = 1 << 14;
const PAR_MIN: usize = 1 << 15;

/// The float operations the update rules need beyond `Float`.
pub trait OptFloat: Float {
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;
}
impl OptFloat for f32 {
    #[inline]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    #[inline]
    fn abs(self) -> Self {
        f32::abs(self)
    }
}
impl OptFloat for f64 {
    #[inline]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline]
    fn abs(self) -> Self {
        f64::abs(self)
    }
}

/// `torch.sign`: 1, -1 or 0 (also for NaN, as PyTorch's CPU kernel gives).
#[inline]
fn sign<T: Float>(x: T) -> T {
    if x > T::zero() {
        T::one()
    } else if x < T::zero() {
        -T::one()
    } else {
        T::zero()
    }
}

/// `torch.clamp(x, lo, hi)`: NaN propagates; `hi` wins when `lo > hi`.
#[inline]
fn clamp<T: Float>(x: T, lo: T, hi: T) -> T {
    if x.is_nan() {
        x
    } else {
        let y = if x < lo { lo } else { x };
        if y > hi {
            hi
        } else {
            y
        }
    }
}

/// `torch.lerp(a, b, w)` with a scalar weight: `a + w * (b - a)` for `|w| < 0.5`, else
/// `b - (b - a) * (1 - w)` (`omw` = `1 - w`, computed in the element type).
#[inline(always)]
fn lerp<T: Float, const SMALL: bool>(a: T, b: T, w: T, omw: T) -> T {
    if SMALL {
        a + w * (b - a)
    } else {
        b - (b - a) * omw
    }
}

/// `torch.maximum`: NaN propagates from either side.
#[inline]
fn maximum<T: Float>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        T::from_f64(f64::NAN)
    } else if a >= b {
        a
    } else {
        b
    }
}

/// Replaces the value of a one-element tensor by `f(value)`, rounded once to its dtype (as an
/// in-place op on it does), and returns the stored value.
fn update_scalar(t: &Tensor, f: impl FnOnce(f64) -> f64) -> f64 {
    let off = t.offset();
    let v = crate::with_dtype!(t.dtype(), T, {
        // SAFETY: no other reference into this storage is live: the scalar states are read and
        // written here only, before any slice of the parameters or grads is taken.
        let data = unsafe { t.storage().slice_mut::<T>() };
        let nv = T::from_f64(f(data[off].to_f64()));
        data[off] = nv;
        nv.to_f64()
    });
    t.storage().bump_version();
    v
}

/// Adds 1 to a one-element step tensor in its own dtype and returns the new count (in f64
/// and rounded once: the same as adding 1 in the element type).
pub fn increment_step(step: &Tensor) -> f64 {
    update_scalar(step, |v| v + 1.0)
}

/// The value of a one-element scalar state.
fn read_scalar(t: &Tensor) -> f64 {
    crate::with_dtype!(t.dtype(), T, t.contiguous_data::<T>()[0].to_f64())
}

/// `mu_product *= mu` on a one-element tensor: `mu` is rounded to the tensor's dtype first and
/// the product rounded again, as a tensor-scalar multiply does.
fn mul_scalar(t: &Tensor, factor: f64) -> f64 {
    // The product of two float32 values is exact in f64, so one rounding gives float32's product.
    let round = |v: f64| if t.dtype() == DType::F32 { v as f32 as f64 } else { v };
    update_scalar(t, |v| round(v * round(factor)))
}

/// Host side of one NAdam step of one parameter: increments `step`, multiplies `mu_product`
/// by this step's momentum coefficient and returns `(bias_correction2, grad_scale, avg_scale)`.
pub fn nadam_scalars(o: &NadamOptions, step: &Tensor, mu_product: &Tensor) -> (f64, f64, f64) {
    let step = increment_step(step);
    let mu_product = mul_scalar(mu_product, o.mu(step));
    o.step_scalars(step, mu_product)
}

/// Host side of one ASGD step of one parameter: increments `step`, returns this step's
/// `(eta, mu)` and stores the next step's in the one-element `eta` and `mu` tensors.
pub fn asgd_scalars(o: &AsgdOptions, step: &Tensor, eta: &Tensor, mu: &Tensor) -> (f64, f64) {
    let step = increment_step(step);
    let now = (read_scalar(eta), read_scalar(mu));
    let (next_eta, next_mu) = o.next_eta_mu(step);
    update_scalar(eta, |_| next_eta);
    update_scalar(mu, |_| next_mu);
    now
}

/// Byte range of a tensor's whole storage.
fn storage_range(t: &Tensor) -> (usize, usize) {
    let s = t.storage();
    let start = s.data_ptr() as usize;
    (start, start + s.len() * s.dtype().size_of())
}

/// A unit of work: one chunk of one parameter with the matching chunks of grad and states.
struct Job<'a, T> {
    idx: usize,
    p: &'a mut [T],
    g: &'a [T],
    s: Vec<&'a mut [T]>,
}

/// Runs `f` over every parameter of dtype `T` among `idx`, chunked, in parallel when large.
///
/// `f(i, p, g, states)` applies the update to one chunk of parameter `i`.
fn run_typed<T, F>(params: &[&Tensor], grads: &[&Tensor], states: &[&[&Tensor]], idx: &[usize], f: &F)
where
    T: OptFloat,
    F: Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync,
{
    if idx.is_empty() {
        return;
    }
    // The tensors one parameter's update writes are in distinct storages (checked by
    // `ops::optim`), but parameters may share one (views of one flat buffer): those are
    // processed one at a time, as each written tensor is borrowed mutably as a whole below.
    let written = |i: usize| std::iter::once(params[i]).chain(states.iter().map(move |s| s[i]));
    let mut ranges: Vec<((usize, usize), usize)> = idx.iter().flat_map(|&i| written(i).map(move |t| (storage_range(t), i))).collect();
    ranges.sort();
    let shared = ranges.windows(2).any(|w| w[0].0 .1 > w[1].0 .0);
    if shared {
        for &i in idx {
            run_batch::<T, F>(params, grads, states, &[i], &ranges, f);
        }
    } else {
        run_batch::<T, F>(params, grads, states, idx, &ranges, f);
    }
    for &i in idx {
        for t in written(i) {
            t.storage().bump_version();
        }
    }
}

fn run_batch<T, F>(
    params: &[&Tensor],
    grads: &[&Tensor],
    states: &[&[&Tensor]],
    idx: &[usize],
    written_ranges: &[((usize, usize), usize)],
    f: &F,
) where
    T: OptFloat,
    F: Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync,
{
    // Grads are read; one that overlaps any written memory is copied first.
    let grad_data: Vec<Cow<'_, [T]>> = idx
        .iter()
        .map(|&i| {
            let g = grads[i];
            let (a, b) = storage_range(g);
            let overlaps = written_ranges.iter().any(|&((s, e), _)| a < e && s < b);
            if overlaps {
                Cow::Owned(g.to_vec::<T>())
            } else {
                g.contiguous_data::<T>()
            }
        })
        .collect();
    let mut jobs: Vec<Job<'_, T>> = Vec::new();
    let mut total = 0usize;
    for (k, &i) in idx.iter().enumerate() {
        let p = params[i];
        let n = p.numel();
        total += n;
        let range = |t: &Tensor| t.offset()..t.offset() + n;
        // SAFETY: the written tensors of this batch are pairwise disjoint in memory (whole
        // storages) and disjoint from every grad borrowed above, so these are the only live
        // references into their storages until the jobs finish.
        let pd = unsafe { &mut p.storage().slice_mut::<T>()[range(p)] };
        let mut sds: Vec<std::slice::ChunksMut<'_, T>> = states
            .iter()
            .map(|s| {
                let t = s[i];
                // SAFETY: as above.
                let d = unsafe { &mut t.storage().slice_mut::<T>()[range(t)] };
                d.chunks_mut(CHUNK)
            })
            .collect();
        let g: &[T] = &grad_data[k];
        for (pc, gc) in pd.chunks_mut(CHUNK).zip(g.chunks(CHUNK)) {
            let s = sds.iter_mut().map(|it| it.next().expect("same length")).collect();
            jobs.push(Job { idx: i, p: pc, g: gc, s });
        }
    }
    let work = |mut j: Job<'_, T>| f(j.idx, j.p, j.g, &mut j.s);
    if total >= PAR_MIN && jobs.len() > 1 {
        crate::cpu::team::map(jobs, work);
    } else {
        jobs.into_iter().for_each(work);
    }
}

/// Runs the update over all parameters, each dtype with its typed chunk kernel.
fn run_all(
    x: &OptimOperands<'_>,
    k32: &(impl Fn(usize, &mut [f32], &[f32], &mut [&mut [f32]]) + Sync),
    k64: &(impl Fn(usize, &mut [f64], &[f64], &mut [&mut [f64]]) + Sync),
) {
    let states = x.state_lists();
    let (i32s, i64s): (Vec<usize>, Vec<usize>) = (0..x.n).partition(|&i| x.params[i].dtype() == DType::F32);
    run_typed::<f32, _>(x.params, x.grads, &states, &i32s, k32);
    run_typed::<f64, _>(x.params, x.grads, &states, &i64s, k64);
}

/// Calls `f::<T, b1, b2, ...>(args)` with each runtime flag turned into a const generic, so
/// the element loops carry no per-element branches on options, compiled for AVX2 where the CPU
/// has it (`cpu::wide`: wider sqrt/div; no FMA contraction, so results are the same bit for
/// bit), else for the baseline target.
macro_rules! bool_dispatch {
    ($f:ident::<$T:ty>, [$($done:tt),*], [], $args:expr) => {
        crate::cpu::wide(|| $f::<$T, $($done),*>($args))
    };
    ($f:ident::<$T:ty>, [$($done:tt),*], [$b:expr $(, $rest:expr)*], $args:expr) => {
        if $b {
            bool_dispatch!($f::<$T>, [$($done,)* true], [$($rest),*], $args)
        } else {
            bool_dispatch!($f::<$T>, [$($done,)* false], [$($rest),*], $args)
        }
    };
}

// ---------------------------------------------------------------------------------------------
// SGD

struct SgdConsts<T> {
    wd: T,
    mom: T,
    damp: T,
    neg_lr: T,
}

/// One fused pass of SGD over a chunk (PyTorch's per-tensor order for each element).
#[inline(always)]
fn sgd_loop<T: OptFloat, const MAXIMIZE: bool, const WD: bool, const MOM: bool, const INIT: bool, const NESTEROV: bool>(
    (p, g, buf, c): (&mut [T], &[T], &mut [T], &SgdConsts<T>),
) {
    let n = p.len();
    let g = &g[..n];
    let buf = &mut buf[..if MOM { n } else { 0 }];
    for i in 0..n {
        let pv = p[i];
        let mut gi = if MAXIMIZE { -g[i] } else { g[i] };
        if WD {
            gi = gi + c.wd * pv;
        }
        if MOM {
            let b = if INIT { gi } else { buf[i] * c.mom + c.damp * gi };
            buf[i] = b;
            gi = if NESTEROV { gi + c.mom * b } else { b };
        }
        p[i] = pv + c.neg_lr * gi;
    }
}

/// `torch.optim.SGD` step. The momentum buffers (with momentum) are the one state list;
/// `init[i]` says buffer `i` is new and is set to the gradient (PyTorch's `torch.clone(grad)`
/// on the first step).
fn sgd(x: &OptimOperands<'_>, init: &[bool], o: &SgdOptions) {
    fn kernel<T: OptFloat>(o: SgdOptions, init: &[bool]) -> impl Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync + '_ {
        move |i, p, g, s| {
            let c = SgdConsts {
                wd: T::from_f64(o.weight_decay),
                mom: T::from_f64(o.momentum),
                damp: T::from_f64(1.0 - o.dampening),
                neg_lr: T::from_f64(-o.lr),
            };
            let mom = o.momentum != 0.0;
            let mut none: [T; 0] = [];
            let buf: &mut [T] = if mom { &mut *s[0] } else { &mut none };
            bool_dispatch!(sgd_loop::<T>, [], [
                o.maximize,
                o.weight_decay != 0.0,
                mom,
                mom && init[i],
                o.nesterov
            ], (p, g, buf, &c));
        }
    }
    run_all(x, &kernel::<f32>(*o, init), &kernel::<f64>(*o, init));
}

// ---------------------------------------------------------------------------------------------
// Adam / AdamW

/// What the updates of Adam, NAdam and RAdam share, in the element type: weight decay
/// (coupled `wd`, decoupled `decay`) and the weights of the running averages.
struct Moments<T> {
    wd: T,
    decay: T,
    w1: T,
    omw1: T,
    b2: T,
    c2: T,
}

impl<T: OptFloat> Moments<T> {
    fn new(lr: f64, weight_decay: f64, beta1: f64, beta2: f64) -> Moments<T> {
        let w1 = T::from_f64(1.0 - beta1);
        Moments {
            wd: T::from_f64(weight_decay),
            decay: T::from_f64(1.0 - lr * weight_decay),
            w1,
            omw1: T::one() - w1,
            b2: T::from_f64(beta2),
            c2: T::from_f64(1.0 - beta2),
        }
    }

    /// Whether exp_avg's lerp takes its small-weight form.
    fn small(&self) -> bool {
        self.w1.to_f64().abs() < 0.5
    }

    /// One element's shared part, in PyTorch's order: decoupled decay of the parameter `p`,
    /// the gradient (maximize, coupled decay), exp_avg `m` lerped toward it and exp_avg_sq `v`
    /// updated. Returns the decayed parameter and the gradient.
    #[inline(always)]
    fn update<const MAXIMIZE: bool, const WD: bool, const DECOUPLED: bool, const SMALL: bool>(&self, p: T, g: T, m: &mut T, v: &mut T) -> (T, T) {
        let mut pv = p;
        let mut gi = if MAXIMIZE { -g } else { g };
        if DECOUPLED {
            pv = pv * self.decay;
        }
        if WD {
            gi = gi + self.wd * pv;
        }
        *m = lerp::<T, SMALL>(*m, gi, self.w1, self.omw1);
        *v = *v * self.b2 + self.c2 * gi * gi;
        (pv, gi)
    }
}

/// Adam's per-chunk scalars, already in the element type.
struct AdamConsts<T> {
    mom: Moments<T>,
    bc: T,
    eps: T,
    a: T,
}

/// One fused pass of Adam over a chunk, in PyTorch's per-tensor operation order for each
/// element: decoupled decay, grad (maximize, coupled decay), lerp of exp_avg, exp_avg_sq,
/// amsgrad maximum, denominator, addcdiv.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn adam_loop<T: OptFloat, const MAXIMIZE: bool, const WD: bool, const DECOUPLED: bool, const AMS: bool, const SMALL: bool>(
    (p, g, m, v, vm, c): (&mut [T], &[T], &mut [T], &mut [T], &mut [T], &AdamConsts<T>),
) {
    let n = p.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    let vm = &mut vm[..if AMS { n } else { 0 }];
    for i in 0..n {
        let (pv, _) = c.mom.update::<MAXIMIZE, WD, DECOUPLED, SMALL>(p[i], g[i], &mut m[i], &mut v[i]);
        let (mi, vi) = (m[i], v[i]);
        let d = if AMS {
            let x = maximum(vm[i], vi);
            vm[i] = x;
            x
        } else {
            vi
        };
        let denom = d.sqrt() / c.bc + c.eps;
        p[i] = pv + c.a * mi / denom;
    }
}

/// `torch.optim.Adam` (and `AdamW` with `decoupled_weight_decay`) step. Each step count is
/// incremented before it is used, as PyTorch does.
fn adam(x: &OptimOperands<'_>, o: &AdamOptions) {
    // Per parameter: (step_size, sqrt(bias_correction2)) as PyTorch computes them in Python.
    let scal: Vec<(f64, f64)> = x.scalar(0).iter().map(|st| o.step_scalars(increment_step(st))).collect();
    fn kernel<T: OptFloat>(o: AdamOptions, scal: &[(f64, f64)]) -> impl Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync + '_ {
        move |i, p, g, s| {
            let (step_size, bc2_sqrt) = scal[i];
            let mom = Moments::new(o.lr, o.weight_decay, o.beta1, o.beta2);
            let small = mom.small();
            let c = AdamConsts {
                mom,
                bc: T::from_f64(bc2_sqrt),
                eps: T::from_f64(o.eps),
                a: T::from_f64(-step_size),
            };
            let has_wd = o.weight_decay != 0.0;
            let (m, rest) = s.split_at_mut(1);
            let (v, rest) = rest.split_at_mut(1);
            let mut none: [T; 0] = [];
            let vm: &mut [T] = if o.amsgrad { &mut *rest[0] } else { &mut none };
            let args = (p, g, &mut *m[0], &mut *v[0], vm, &c);
            bool_dispatch!(adam_loop::<T>, [], [
                o.maximize,
                has_wd && !o.decoupled_weight_decay,
                has_wd && o.decoupled_weight_decay,
                o.amsgrad,
                small
            ], args);
        }
    }
    run_all(x, &kernel::<f32>(*o, &scal), &kernel::<f64>(*o, &scal));
}

// ---------------------------------------------------------------------------------------------
// RMSprop

struct RmspropConsts<T> {
    wd: T,
    alpha: T,
    w: T,
    omw: T,
    eps: T,
    mom: T,
    neg_lr: T,
}

/// One fused pass of RMSprop over a chunk (PyTorch's per-tensor order for each element).
#[inline(always)]
#[allow(clippy::type_complexity)]
fn rmsprop_loop<T: OptFloat, const MAXIMIZE: bool, const WD: bool, const CENTERED: bool, const MOM: bool, const SMALL: bool>(
    (p, g, sq, ga, buf, c): (&mut [T], &[T], &mut [T], &mut [T], &mut [T], &RmspropConsts<T>),
) {
    let n = p.len();
    let (g, sq) = (&g[..n], &mut sq[..n]);
    let ga = &mut ga[..if CENTERED { n } else { 0 }];
    let buf = &mut buf[..if MOM { n } else { 0 }];
    let neg_one = T::from_f64(-1.0);
    for i in 0..n {
        let pv = p[i];
        let mut gi = if MAXIMIZE { -g[i] } else { g[i] };
        if WD {
            gi = gi + c.wd * pv;
        }
        let s = sq[i] * c.alpha + c.w * gi * gi;
        sq[i] = s;
        let avg = if CENTERED {
            let m = if SMALL { ga[i] + c.w * (gi - ga[i]) } else { gi - (gi - ga[i]) * c.omw };
            ga[i] = m;
            (s + neg_one * m * m).sqrt()
        } else {
            s.sqrt()
        } + c.eps;
        if MOM {
            let b = buf[i] * c.mom + T::one() * gi / avg;
            buf[i] = b;
            p[i] = pv + c.neg_lr * b;
        } else {
            p[i] = pv + c.neg_lr * gi / avg;
        }
    }
}

/// `torch.optim.RMSprop` step: the states 'square_avg', 'grad_avg' (when `centered`) and
/// 'momentum_buffer' (when `momentum > 0`).
fn rmsprop(x: &OptimOperands<'_>, o: &RmspropOptions) {
    x.scalar(0).iter().for_each(|st| {
        increment_step(st);
    });
    fn kernel<T: OptFloat>(o: RmspropOptions) -> impl Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync {
        move |_, p, g, s| {
            let w = T::from_f64(1.0 - o.alpha);
            let c = RmspropConsts {
                wd: T::from_f64(o.weight_decay),
                alpha: T::from_f64(o.alpha),
                w,
                omw: T::one() - w,
                eps: T::from_f64(o.eps),
                mom: T::from_f64(o.momentum),
                neg_lr: T::from_f64(-o.lr),
            };
            let (sq, rest) = s.split_at_mut(1);
            let (mut none1, mut none2): ([T; 0], [T; 0]) = ([], []);
            let (ga, rest): (&mut [T], _) = if o.centered {
                let (ga, rest) = rest.split_at_mut(1);
                (&mut *ga[0], rest)
            } else {
                (&mut none1, rest)
            };
            let buf: &mut [T] = if o.momentum > 0.0 { &mut *rest[0] } else { &mut none2 };
            bool_dispatch!(rmsprop_loop::<T>, [], [
                o.maximize,
                o.weight_decay != 0.0,
                o.centered,
                o.momentum > 0.0,
                w.to_f64().abs() < 0.5
            ], (p, g, &mut *sq[0], ga, buf, &c));
        }
    }
    run_all(x, &kernel::<f32>(*o), &kernel::<f64>(*o));
}

// ---------------------------------------------------------------------------------------------
// Adagrad

/// One fused pass of Adagrad over a chunk (PyTorch's per-tensor order for each element).
#[inline(always)]
#[allow(clippy::type_complexity)]
fn adagrad_loop<T: OptFloat, const MAXIMIZE: bool, const WD: bool>(
    (p, g, sum, (wd, eps, neg_clr)): (&mut [T], &[T], &mut [T], (T, T, T)),
) {
    let n = p.len();
    let (g, sum) = (&g[..n], &mut sum[..n]);
    for i in 0..n {
        let pv = p[i];
        let mut gi = if MAXIMIZE { -g[i] } else { g[i] };
        if WD {
            gi = gi + wd * pv;
        }
        let sv = sum[i] + T::one() * gi * gi;
        sum[i] = sv;
        p[i] = pv + neg_clr * gi / (sv.sqrt() + eps);
    }
}

/// `torch.optim.Adagrad` step (dense gradients).
fn adagrad(x: &OptimOperands<'_>, o: &AdagradOptions) {
    let clrs: Vec<f64> = x.scalar(0).iter().map(|st| o.clr(increment_step(st))).collect();
    fn kernel<T: OptFloat>(o: AdagradOptions, clrs: &[f64]) -> impl Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync + '_ {
        move |i, p, g, s| {
            let c = (T::from_f64(o.weight_decay), T::from_f64(o.eps), T::from_f64(-clrs[i]));
            bool_dispatch!(adagrad_loop::<T>, [], [o.maximize, o.weight_decay != 0.0], (p, g, &mut *s[0], c));
        }
    }
    run_all(x, &kernel::<f32>(*o, &clrs), &kernel::<f64>(*o, &clrs));
}

// ---------------------------------------------------------------------------------------------
// NAdam

struct NadamConsts<T> {
    mom: Moments<T>,
    bc2: T,
    eps: T,
    grad_scale: T,
    avg_scale: T,
}

/// One fused pass of NAdam over a chunk (PyTorch's per-tensor order for each element): the
/// parameter takes two addcdiv steps, the gradient's and the running average's, rounded
/// after each.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn nadam_loop<T: OptFloat, const MAXIMIZE: bool, const WD: bool, const DECOUPLED: bool, const SMALL: bool>(
    (p, g, m, v, c): (&mut [T], &[T], &mut [T], &mut [T], &NadamConsts<T>),
) {
    let n = p.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    for i in 0..n {
        let (pv, gi) = c.mom.update::<MAXIMIZE, WD, DECOUPLED, SMALL>(p[i], g[i], &mut m[i], &mut v[i]);
        let (mi, vi) = (m[i], v[i]);
        let denom = (vi / c.bc2).sqrt() + c.eps;
        let pv = pv + c.grad_scale * gi / denom;
        p[i] = pv + c.avg_scale * mi / denom;
    }
}

/// `torch.optim.NAdam` step. The scalar states are 'step' and 'mu_product' (the running
/// product of momentum coefficients).
fn nadam(x: &OptimOperands<'_>, o: &NadamOptions) {
    let scal: Vec<(f64, f64, f64)> = x.scalar(0).iter().zip(x.scalar(1)).map(|(st, mp)| nadam_scalars(o, st, mp)).collect();
    fn kernel<T: OptFloat>(o: NadamOptions, scal: &[(f64, f64, f64)]) -> impl Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync + '_ {
        move |i, p, g, s| {
            let (bc2, grad_scale, avg_scale) = scal[i];
            let mom = Moments::new(o.lr, o.weight_decay, o.beta1, o.beta2);
            let small = mom.small();
            let c = NadamConsts {
                mom,
                bc2: T::from_f64(bc2),
                eps: T::from_f64(o.eps),
                grad_scale: T::from_f64(grad_scale),
                avg_scale: T::from_f64(avg_scale),
            };
            let has_wd = o.weight_decay != 0.0;
            let (m, v) = s.split_at_mut(1);
            bool_dispatch!(nadam_loop::<T>, [], [
                o.maximize,
                has_wd && !o.decoupled_weight_decay,
                has_wd && o.decoupled_weight_decay,
                small
            ], (p, g, &mut *m[0], &mut *v[0], &c));
        }
    }
    run_all(x, &kernel::<f32>(*o, &scal), &kernel::<f64>(*o, &scal));
}

// ---------------------------------------------------------------------------------------------
// RAdam

struct RadamConsts<T> {
    mom: Moments<T>,
    bc1: T,
    lr: T,
    bc2_sqrt: T,
    eps: T,
    rect: T,
}

/// One fused pass of RAdam over a chunk: with `RECT` (the variance is tractable, rho_t > 5)
/// `p -= m / bc1 * lr * (sqrt(bc2) / (sqrt(v) + eps)) * rect`, else `p -= m / bc1 * lr`.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn radam_loop<T: OptFloat, const MAXIMIZE: bool, const WD: bool, const DECOUPLED: bool, const SMALL: bool, const RECT: bool>(
    (p, g, m, v, c): (&mut [T], &[T], &mut [T], &mut [T], &RadamConsts<T>),
) {
    let n = p.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    let neg_one = -T::one();
    for i in 0..n {
        let (pv, _) = c.mom.update::<MAXIMIZE, WD, DECOUPLED, SMALL>(p[i], g[i], &mut m[i], &mut v[i]);
        let (mi, vi) = (m[i], v[i]);
        let corrected = mi / c.bc1 * c.lr;
        let update = if RECT { corrected * (c.bc2_sqrt / (vi.sqrt() + c.eps)) * c.rect } else { corrected };
        p[i] = pv + neg_one * update;
    }
}

/// `torch.optim.RAdam` step.
fn radam(x: &OptimOperands<'_>, o: &RadamOptions) {
    let scal: Vec<(f64, f64, Option<f64>)> = x.scalar(0).iter().map(|st| o.step_scalars(increment_step(st))).collect();
    fn kernel<T: OptFloat>(o: RadamOptions, scal: &[(f64, f64, Option<f64>)]) -> impl Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync + '_ {
        move |i, p, g, s| {
            let (bc1, bc2_sqrt, rect) = scal[i];
            let mom = Moments::new(o.lr, o.weight_decay, o.beta1, o.beta2);
            let small = mom.small();
            let c = RadamConsts {
                mom,
                bc1: T::from_f64(bc1),
                lr: T::from_f64(o.lr),
                bc2_sqrt: T::from_f64(bc2_sqrt),
                eps: T::from_f64(o.eps),
                rect: T::from_f64(rect.unwrap_or(1.0)),
            };
            let has_wd = o.weight_decay != 0.0;
            let (m, v) = s.split_at_mut(1);
            bool_dispatch!(radam_loop::<T>, [], [
                o.maximize,
                has_wd && !o.decoupled_weight_decay,
                has_wd && o.decoupled_weight_decay,
                small,
                rect.is_some()
            ], (p, g, &mut *m[0], &mut *v[0], &c));
        }
    }
    run_all(x, &kernel::<f32>(*o, &scal), &kernel::<f64>(*o, &scal));
}

// ---------------------------------------------------------------------------------------------
// Adamax

struct AdamaxConsts<T> {
    wd: T,
    w1: T,
    omw1: T,
    b2: T,
    eps: T,
    neg_clr: T,
}

/// One fused pass of Adamax: `exp_inf = maximum(exp_inf * beta2, |g| + eps)` (NaN
/// propagates), `p += -clr * exp_avg / exp_inf`.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn adamax_loop<T: OptFloat, const MAXIMIZE: bool, const WD: bool, const SMALL: bool>(
    (p, g, m, u, c): (&mut [T], &[T], &mut [T], &mut [T], &AdamaxConsts<T>),
) {
    let n = p.len();
    let (g, m, u) = (&g[..n], &mut m[..n], &mut u[..n]);
    for i in 0..n {
        let pv = p[i];
        let mut gi = if MAXIMIZE { -g[i] } else { g[i] };
        if WD {
            gi = gi + c.wd * pv;
        }
        let mi = lerp::<T, SMALL>(m[i], gi, c.w1, c.omw1);
        m[i] = mi;
        let ui = maximum(u[i] * c.b2, gi.abs() + c.eps);
        u[i] = ui;
        p[i] = pv + c.neg_clr * mi / ui;
    }
}

/// `torch.optim.Adamax` step.
fn adamax(x: &OptimOperands<'_>, o: &AdamaxOptions) {
    let clrs: Vec<f64> = x.scalar(0).iter().map(|st| o.clr(increment_step(st))).collect();
    fn kernel<T: OptFloat>(o: AdamaxOptions, clrs: &[f64]) -> impl Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync + '_ {
        move |i, p, g, s| {
            let w1 = T::from_f64(1.0 - o.beta1);
            let c = AdamaxConsts {
                wd: T::from_f64(o.weight_decay),
                w1,
                omw1: T::one() - w1,
                b2: T::from_f64(o.beta2),
                eps: T::from_f64(o.eps),
                neg_clr: T::from_f64(-clrs[i]),
            };
            let (m, u) = s.split_at_mut(1);
            bool_dispatch!(adamax_loop::<T>, [], [o.maximize, o.weight_decay != 0.0, w1.to_f64().abs() < 0.5], (p, g, &mut *m[0], &mut *u[0], &c));
        }
    }
    run_all(x, &kernel::<f32>(*o, &clrs), &kernel::<f64>(*o, &clrs));
}

// ---------------------------------------------------------------------------------------------
// Adadelta

/// One fused pass of Adadelta: `square_avg = rho * square_avg + (1 - rho) * g * g`,
/// `delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g`,
/// `acc_delta = rho * acc_delta + (1 - rho) * delta * delta`, `p += -lr * delta`.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn adadelta_loop<T: OptFloat, const MAXIMIZE: bool, const WD: bool>(
    (p, g, sq, acc, (wd, rho, omr, eps, neg_lr)): (&mut [T], &[T], &mut [T], &mut [T], (T, T, T, T, T)),
) {
    let n = p.len();
    let (g, sq, acc) = (&g[..n], &mut sq[..n], &mut acc[..n]);
    for i in 0..n {
        let pv = p[i];
        let mut gi = if MAXIMIZE { -g[i] } else { g[i] };
        if WD {
            gi = gi + wd * pv;
        }
        let s = sq[i] * rho + omr * gi * gi;
        sq[i] = s;
        let std = (s + eps).sqrt();
        let delta = (acc[i] + eps).sqrt() / std * gi;
        acc[i] = acc[i] * rho + omr * delta * delta;
        p[i] = pv + neg_lr * delta;
    }
}

/// `torch.optim.Adadelta` step.
fn adadelta(x: &OptimOperands<'_>, o: &AdadeltaOptions) {
    x.scalar(0).iter().for_each(|st| {
        increment_step(st);
    });
    fn kernel<T: OptFloat>(o: AdadeltaOptions) -> impl Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync {
        move |_, p, g, s| {
            let c = (T::from_f64(o.weight_decay), T::from_f64(o.rho), T::from_f64(1.0 - o.rho), T::from_f64(o.eps), T::from_f64(-o.lr));
            let (sq, acc) = s.split_at_mut(1);
            bool_dispatch!(adadelta_loop::<T>, [], [o.maximize, o.weight_decay != 0.0], (p, g, &mut *sq[0], &mut *acc[0], c));
        }
    }
    run_all(x, &kernel::<f32>(*o), &kernel::<f64>(*o));
}

// ---------------------------------------------------------------------------------------------
// ASGD

/// One fused pass of ASGD: `p *= 1 - lambd * eta`, `p += -eta * g`, then the average
/// `ax += (p - ax) * mu` (`AVERAGE`, mu != 1) or `ax = p`.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn asgd_loop<T: OptFloat, const MAXIMIZE: bool, const WD: bool, const AVERAGE: bool>(
    (p, g, ax, (wd, decay, neg_eta, mu)): (&mut [T], &[T], &mut [T], (T, T, T, T)),
) {
    let n = p.len();
    let (g, ax) = (&g[..n], &mut ax[..n]);
    for i in 0..n {
        let mut pv = p[i];
        let mut gi = if MAXIMIZE { -g[i] } else { g[i] };
        if WD {
            gi = gi + wd * pv;
        }
        pv = pv * decay;
        pv = pv + neg_eta * gi;
        p[i] = pv;
        ax[i] = if AVERAGE { ax[i] + (pv - ax[i]) * mu } else { pv };
    }
}

/// `torch.optim.ASGD` step. The scalar states are 'step', 'eta' and 'mu'.
fn asgd(x: &OptimOperands<'_>, o: &AsgdOptions) {
    let (steps, etas, mus) = (x.scalar(0), x.scalar(1), x.scalar(2));
    let scal: Vec<(f64, f64)> = (0..x.n).map(|i| asgd_scalars(o, steps[i], etas[i], mus[i])).collect();
    fn kernel<T: OptFloat>(o: AsgdOptions, scal: &[(f64, f64)]) -> impl Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync + '_ {
        move |i, p, g, s| {
            let (eta, mu) = scal[i];
            let c = (T::from_f64(o.weight_decay), T::from_f64(1.0 - o.lambd * eta), T::from_f64(-eta), T::from_f64(mu));
            bool_dispatch!(asgd_loop::<T>, [], [o.maximize, o.weight_decay != 0.0, mu != 1.0], (p, g, &mut *s[0], c));
        }
    }
    run_all(x, &kernel::<f32>(*o, &scal), &kernel::<f64>(*o, &scal));
}

// ---------------------------------------------------------------------------------------------
// Rprop

/// One fused pass of Rprop: the step size grows by etaplus where the gradient kept its sign,
/// shrinks by etaminus where it flipped (and that gradient counts as 0), is clamped, and the
/// parameter moves by `-sign(g) * step_size`; `prev` keeps the (zeroed) gradient.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn rprop_loop<T: OptFloat, const MAXIMIZE: bool>(
    (p, g, prev, size, (etaminus, etaplus, lo, hi)): (&mut [T], &[T], &mut [T], &mut [T], (T, T, T, T)),
) {
    let n = p.len();
    let (g, prev, size) = (&g[..n], &mut prev[..n], &mut size[..n]);
    let neg_one = -T::one();
    for i in 0..n {
        let gi = if MAXIMIZE { -g[i] } else { g[i] };
        let prod = gi * prev[i];
        let factor = if prod > T::zero() {
            etaplus
        } else if prod < T::zero() {
            etaminus
        } else {
            T::one()
        };
        let st = clamp(size[i] * factor, lo, hi);
        size[i] = st;
        let gi = if factor == etaminus { T::zero() } else { gi };
        p[i] = p[i] + neg_one * sign(gi) * st;
        prev[i] = gi;
    }
}

/// `torch.optim.Rprop` step (the states 'prev' and 'step_size').
fn rprop(x: &OptimOperands<'_>, o: &RpropOptions) {
    x.scalar(0).iter().for_each(|st| {
        increment_step(st);
    });
    fn kernel<T: OptFloat>(o: RpropOptions) -> impl Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync {
        move |_, p, g, s| {
            let c = (T::from_f64(o.etaminus), T::from_f64(o.etaplus), T::from_f64(o.step_size_min), T::from_f64(o.step_size_max));
            let (prev, size) = s.split_at_mut(1);
            bool_dispatch!(rprop_loop::<T>, [], [o.maximize], (p, g, &mut *prev[0], &mut *size[0], c));
        }
    }
    run_all(x, &kernel::<f32>(*o), &kernel::<f64>(*o));
}

// ---------------------------------------------------------------------------------------------
// Adafactor

/// The second-moment state of one Adafactor parameter: factored into row and column means of
/// g² over its last two dims (a parameter of 2 or more dims), or a full `variance`.
enum SecondMoment<'a, T> {
    Factored { rows: &'a mut [T], cols: &'a mut [T], r: usize, c: usize },
    Full(&'a mut [T]),
}

/// Sum of squares, accumulated in f64.
fn sum_sq<T: Float>(xs: impl Iterator<Item = T>) -> f64 {
    xs.map(|x| x.to_f64() * x.to_f64()).sum()
}

/// `torch.maximum(x, lo)` as `clamp_(min=lo)` gives it: NaN stays NaN.
#[inline]
fn clamp_min<T: Float>(x: T, lo: T) -> T {
    if x.is_nan() || x >= lo {
        x
    } else {
        lo
    }
}

/// One Adafactor step of one parameter, in PyTorch's single-tensor order: alpha from the
/// parameter's RMS (before decay), decoupled decay, the second-moment lerp, the update
/// `g / sqrt(max(v, eps1²))` clipped by its RMS over `d`, then `p -= alpha / denom * update`.
/// Norms are accumulated in f64 and rounded to the element type, as tensor norms are.
fn adafactor_one<T: OptFloat>(p: &mut [T], g: &[T], moment: SecondMoment<'_, T>, step: f64, eps1: f64, o: &AdafactorOptions) {
    let n = p.len();
    let g = &g[..n];
    let (one_minus_beta2, rho) = o.step_scalars(step);
    let numel_sqrt = (n as f64).powf(0.5);
    let p_norm = T::from_f64(sum_sq(p.iter().copied()).sqrt()).to_f64();
    let alpha = f64::max(o.eps2, p_norm / numel_sqrt) * rho;
    if o.weight_decay != 0.0 {
        let decay = T::from_f64(1.0 - o.lr * o.weight_decay);
        p.iter_mut().for_each(|x| *x = *x * decay);
    }
    let grad = |i: usize| if o.maximize { -g[i] } else { g[i] };
    let w = T::from_f64(one_minus_beta2);
    let omw = T::one() - w;
    let lerp_w = |a: T, b: T| if w.to_f64().abs() < 0.5 { lerp::<T, true>(a, b, w, omw) } else { lerp::<T, false>(a, b, w, omw) };
    let mean_sq = |sum: f64, count: usize| {
        let norm = T::from_f64(sum.sqrt());
        norm * norm / T::from_f64(count as f64)
    };
    let floor = T::from_f64(eps1 * eps1);
    // The variance estimate of element i, read after the state update below.
    let estimate: Box<dyn Fn(usize) -> T + '_> = match moment {
        SecondMoment::Factored { rows, cols, r, c } => {
            for (b, (rows, cols)) in rows.chunks_mut(r).zip(cols.chunks_mut(c)).enumerate() {
                let base = b * r * c;
                for (ri, rv) in rows.iter_mut().enumerate() {
                    *rv = lerp_w(*rv, mean_sq(sum_sq((0..c).map(|ci| grad(base + ri * c + ci))), c));
                }
                for (ci, cv) in cols.iter_mut().enumerate() {
                    *cv = lerp_w(*cv, mean_sq(sum_sq((0..r).map(|ri| grad(base + ri * c + ci))), r));
                }
            }
            let (rows, cols): (&[T], &[T]) = (rows, cols);
            let row_means: Vec<T> = rows
                .chunks(r)
                .map(|rs| clamp_min(T::from_f64(rs.iter().map(|x| x.to_f64()).sum::<f64>() / r as f64), T::from_f64(eps1)))
                .collect();
            Box::new(move |i| {
                let (b, ri, ci) = (i / (r * c), i / c % r, i % c);
                rows[b * r + ri] * cols[b * c + ci] / row_means[b]
            })
        }
        SecondMoment::Full(var) => {
            for (i, v) in var.iter_mut().enumerate() {
                let gi = grad(i);
                *v = lerp_w(*v, gi * gi);
            }
            let var: &[T] = var;
            Box::new(move |i| var[i])
        }
    };
    let update = |i: usize| T::one() / clamp_min(estimate(i), floor).sqrt() * grad(i);
    let u_norm = T::from_f64(sum_sq((0..n).map(update)).sqrt()).to_f64();
    let denom = f64::max(1.0, u_norm / (numel_sqrt * o.d));
    let scale = T::from_f64(-alpha / denom);
    for (i, x) in p.iter_mut().enumerate() {
        *x = *x + scale * update(i);
    }
}

/// `torch.optim.Adafactor` step: parameters of 2 or more dims with the factored states
/// `row_var` (shape `[..., R, 1]`) and `col_var` (`[..., 1, C]`), the others with `variance`
/// (the parameter's shape).
fn adafactor(x: &OptimOperands<'_>, o: &AdafactorOptions) {
    let moments = x.adafactor_moments();
    let written: Vec<&Tensor> = x.params.iter().chain(x.states).copied().collect();
    for (i, &p) in x.params.iter().enumerate() {
        let step = increment_step(x.scalar(0)[i]);
        if p.dtype() == DType::F32 {
            adafactor_param::<f32>(p, x.grads[i], moments[i], &written, step, o);
        } else {
            adafactor_param::<f64>(p, x.grads[i], moments[i], &written, step, o);
        }
    }
    for t in written {
        t.storage().bump_version();
    }
}

/// Borrows one parameter's data and states for `adafactor_one`; `written` are every tensor
/// the step writes (pairwise distinct storages, checked by the caller).
fn adafactor_param<T: OptFloat>(p: &Tensor, g: &Tensor, moment: (&Tensor, Option<&Tensor>), written: &[&Tensor], step: f64, o: &AdafactorOptions) {
    let grad: Cow<'_, [T]> = if written.iter().any(|t| t.same_storage(g)) { Cow::Owned(g.to_vec::<T>()) } else { g.contiguous_data::<T>() };
    fn data<T: Element>(t: &Tensor) -> &mut [T] {
        // SAFETY: the tensors written by an Adafactor step are in pairwise distinct storages
        // (checked by `ops::optim`), each borrowed once here, and the gradient read alongside
        // them was copied if it shares one.
        unsafe { &mut t.storage().slice_mut::<T>()[t.offset()..t.offset() + t.numel()] }
    }
    let moment = match moment {
        (rows, Some(cols)) => {
            let (_, r, c) = factored_dims(p.shape());
            SecondMoment::Factored { rows: data(rows), cols: data(cols), r, c }
        }
        (var, None) => SecondMoment::Full(data(var)),
    };
    let eps1 = o.eps1.unwrap_or(if T::DTYPE == DType::F32 { f64::from(f32::EPSILON) } else { f64::EPSILON });
    adafactor_one(data(p), &grad, moment, step, eps1, o);
}

/// One fused optimizer step over the operands of `Op::OptimStep` (checked by `ops::optim`).
pub fn optim_step(options: &OptimOptions, fresh: &[bool], x: &OptimOperands<'_>) {
    match options {
        OptimOptions::Sgd(o) => sgd(x, fresh, o),
        OptimOptions::Adam(o) => adam(x, o),
        OptimOptions::Rmsprop(o) => rmsprop(x, o),
        OptimOptions::Adagrad(o) => adagrad(x, o),
        OptimOptions::Nadam(o) => nadam(x, o),
        OptimOptions::Radam(o) => radam(x, o),
        OptimOptions::Adamax(o) => adamax(x, o),
        OptimOptions::Adadelta(o) => adadelta(x, o),
        OptimOptions::Asgd(o) => asgd(x, o),
        OptimOptions::Rprop(o) => rprop(x, o),
        OptimOptions::Adafactor(o) => adafactor(x, o),
    }
}
