//! Fused optimizer steps: one call updates every parameter of a param group in place.
//!
//! Each function follows PyTorch's single-tensor ("foreach=False") update rule for its
//! optimizer, in the parameter's dtype and in PyTorch's operation order: hyper-parameters are
//! Python floats (f64), combined in f64 exactly where PyTorch combines them in Python, and cast
//! to the element type where PyTorch passes them to a tensor op as a scalar. Parameters,
//! gradients and state tensors must be float32 or float64; parameters and state tensors must
//! be contiguous (they are written in place). Every written tensor's storage version is bumped,
//! as in-place ops do.
//!
//! Work is split into chunks of at most `CHUNK` elements across all parameters and run on the
//! CPU team when the group is large enough for threads to pay.
use crate::dtype::{DType, Element, Float};
use crate::error::{Error, Result};
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

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdOptions {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    pub maximize: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamOptions {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub amsgrad: bool,
    pub maximize: bool,
    /// AdamW: `p *= 1 - lr * weight_decay` instead of adding `weight_decay * p` to the grad.
    pub decoupled_weight_decay: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmspropOptions {
    pub lr: f64,
    pub alpha: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    pub centered: bool,
    pub maximize: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdagradOptions {
    pub lr: f64,
    pub lr_decay: f64,
    pub weight_decay: f64,
    pub eps: f64,
    pub maximize: bool,
}

/// One state list: the tensors of one state (e.g. `exp_avg`) for every parameter.
pub(crate) struct StateList<'a> {
    pub name: &'static str,
    pub tensors: &'a [Tensor],
}

fn check_float(t: &Tensor, what: &str) -> Result<()> {
    if !t.dtype().is_float() {
        return Err(Error::Runtime(format!("optimizer {what} must be float32 or float64, got {}", t.dtype())));
    }
    Ok(())
}

/// Checks the lists fit together and each tensor can be updated in place.
fn validate(params: &[Tensor], grads: &[Tensor], states: &[StateList<'_>], scalars: &[StateList<'_>]) -> Result<()> {
    let scalar_tensors = scalars.iter().flat_map(|s| s.tensors);
    crate::gpu::cpu_only("fused optimizer step", &params.iter().chain(grads).chain(scalar_tensors).collect::<Vec<_>>())?;
    let n = params.len();
    if grads.len() != n {
        return Err(Error::Value(format!("optimizer step got {} params but {} grads", n, grads.len())));
    }
    check_scalars(n, scalars)?;
    for s in states {
        if s.tensors.len() != n {
            return Err(Error::Value(format!(
                "optimizer step got {} params but {} '{}' state tensors",
                n,
                s.tensors.len(),
                s.name
            )));
        }
    }
    for (i, p) in params.iter().enumerate() {
        check_float(p, "parameters")?;
        if !p.is_contiguous() {
            return Err(Error::Value(format!("optimizer parameter {i} (shape {:?}) must be contiguous", p.shape())));
        }
        let g = &grads[i];
        check_float(g, "gradients")?;
        if g.numel() != p.numel() {
            return Err(Error::Shape(format!(
                "gradient of shape {:?} does not match parameter {i} of shape {:?}",
                g.shape(),
                p.shape()
            )));
        }
        for s in states {
            let t = &s.tensors[i];
            if t.dtype() != p.dtype() {
                return Err(Error::DType(format!(
                    "optimizer state '{}' of parameter {i} is {} but the parameter is {}",
                    s.name,
                    t.dtype(),
                    p.dtype()
                )));
            }
            if !t.is_contiguous() {
                return Err(Error::Value(format!("optimizer state '{}' of parameter {i} must be contiguous", s.name)));
            }
            if t.numel() != p.numel() {
                return Err(Error::Shape(format!(
                    "optimizer state '{}' of shape {:?} does not match parameter {i} of shape {:?}",
                    s.name,
                    t.shape(),
                    p.shape()
                )));
            }
        }
    }
    Ok(())
}

/// The 'step' tensors as an optimizer's one scalar state list.
pub(crate) fn step_list(steps: &[Tensor]) -> [StateList<'_>; 1] {
    [StateList { name: "step", tensors: steps }]
}

/// Checks the per-parameter scalar states ('step', NAdam's 'mu_product', ASGD's 'eta' and
/// 'mu'): one one-element float tensor on the CPU per parameter, as PyTorch keeps them without
/// `capturable`.
pub(crate) fn check_scalars(n: usize, scalars: &[StateList<'_>]) -> Result<()> {
    for s in scalars {
        if s.tensors.len() != n {
            return Err(Error::Value(format!("optimizer step got {n} params but {} '{}' tensors", s.tensors.len(), s.name)));
        }
        for (i, t) in s.tensors.iter().enumerate() {
            if t.device().is_gpu() {
                return Err(Error::NotImplemented(format!(
                    "optimizer state '{}' of parameter {i} is on {}: it must stay on the CPU (as in PyTorch without capturable=True)",
                    s.name,
                    t.device()
                )));
            }
            if !t.dtype().is_float() || t.numel() != 1 {
                return Err(Error::Value(format!(
                    "optimizer state '{}' of parameter {i} must be a one-element float tensor, got {} of shape {:?}",
                    s.name,
                    t.dtype(),
                    t.shape()
                )));
            }
        }
    }
    Ok(())
}

/// Replaces the value of a one-element tensor by `f(value)`, rounded once to its dtype (as an
/// in-place op on it does), and returns the stored value.
pub(crate) fn update_scalar(t: &Tensor, f: impl FnOnce(f64) -> f64) -> f64 {
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
pub(crate) fn increment_step(step: &Tensor) -> f64 {
    update_scalar(step, |v| v + 1.0)
}

/// The value of a one-element scalar state.
pub(crate) fn read_scalar(t: &Tensor) -> f64 {
    crate::with_dtype!(t.dtype(), T, t.contiguous_data::<T>()[0].to_f64())
}

/// `mu_product *= mu` on a one-element tensor: `mu` is rounded to the tensor's dtype first and
/// the product rounded again, as a tensor-scalar multiply does.
fn mul_scalar(t: &Tensor, factor: f64) -> f64 {
    // The product of two float32 values is exact in f64, so one rounding gives float32's product.
    let round = |v: f64| if t.dtype() == DType::F32 { v as f32 as f64 } else { v };
    update_scalar(t, |v| round(v * round(factor)))
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
fn run_typed<T, F>(params: &[Tensor], grads: &[Tensor], states: &[StateList<'_>], idx: &[usize], f: &F) -> Result<()>
where
    T: OptFloat,
    F: Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync,
{
    if idx.is_empty() {
        return Ok(());
    }
    // Written tensors (params and states) must not share memory with each other: each one is
    // borrowed mutably as a whole below. Parameters that share a storage (views of one flat
    // buffer) are processed one at a time instead.
    let written = |i: usize| std::iter::once(&params[i]).chain(states.iter().map(move |s| &s.tensors[i]));
    let mut ranges: Vec<((usize, usize), usize)> = Vec::new();
    for &i in idx {
        let mut own: Vec<(usize, usize)> = written(i).map(storage_range).collect();
        own.sort();
        if own.windows(2).any(|w| w[0].1 > w[1].0) {
            return Err(Error::Value(format!(
                "optimizer state of parameter {i} shares memory with the parameter or another state"
            )));
        }
        ranges.extend(own.into_iter().map(|r| (r, i)));
    }
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
    Ok(())
}

fn run_batch<T, F>(
    params: &[Tensor],
    grads: &[Tensor],
    states: &[StateList<'_>],
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
            let g = &grads[i];
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
        let p = &params[i];
        let n = p.numel();
        total += n;
        let range = |t: &Tensor| t.offset()..t.offset() + n;
        // SAFETY: the written tensors of this batch were checked pairwise disjoint in memory
        // (whole storages) and from every grad borrowed above, so these are the only live
        // references into their storages until the jobs finish.
        let pd = unsafe { &mut p.storage().slice_mut::<T>()[range(p)] };
        let mut sds: Vec<std::slice::ChunksMut<'_, T>> = states
            .iter()
            .map(|s| {
                let t = &s.tensors[i];
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

/// Runs the update over all parameters, dispatching each dtype to its typed kernel. `make`
/// builds the chunk kernel for one element type.
fn run_all(params: &[Tensor], grads: &[Tensor], states: &[StateList<'_>], k32: &(impl Fn(usize, &mut [f32], &[f32], &mut [&mut [f32]]) + Sync), k64: &(impl Fn(usize, &mut [f64], &[f64], &mut [&mut [f64]]) + Sync)) -> Result<()> {
    let (i32s, i64s): (Vec<usize>, Vec<usize>) = (0..params.len()).partition(|&i| params[i].dtype() == DType::F32);
    run_typed::<f32, _>(params, grads, states, &i32s, k32)?;
    run_typed::<f64, _>(params, grads, states, &i64s, k64)
}

/// Calls `f::<T, b1, b2, ...>(args)` with each runtime flag turned into a const generic, so
/// the element loops carry no per-element branches on options.
macro_rules! bool_dispatch {
    ($f:ident::<$T:ty>, [$($done:tt),*], [], $args:expr) => {
        $f::<$T, $($done),*>($args)
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

/// Runs `sgd_loop` compiled for AVX2 when the CPU has it (wider sqrt/div; no FMA contraction, so
/// results are the same bit for bit), else for the baseline target.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn sgd_run<T: OptFloat, const MAXIMIZE: bool, const WD: bool, const MOM: bool, const INIT: bool, const NESTEROV: bool>(args: (&mut [T], &[T], &mut [T], &SgdConsts<T>)) {
    crate::cpu::wide(|| sgd_loop::<T, MAXIMIZE, WD, MOM, INIT, NESTEROV>(args))
}

/// `torch.optim.SGD` step. `bufs` holds one momentum buffer per parameter when momentum is
/// non-zero (empty otherwise); `init[i]` says buffer `i` is new and is set to the gradient
/// (PyTorch's `torch.clone(grad)` on the first step).
pub fn sgd_step(params: &[Tensor], grads: &[Tensor], bufs: &[Tensor], init: &[bool], o: &SgdOptions) -> Result<()> {
    if crate::gpu::optim::on_gpu(params) {
        return crate::gpu::optim::sgd_step(params, grads, bufs, init, o);
    }
    let states: Vec<StateList<'_>> =
        if o.momentum != 0.0 { vec![StateList { name: "momentum_buffer", tensors: bufs }] } else { vec![] };
    if o.momentum != 0.0 && init.len() != params.len() {
        return Err(Error::Value("sgd_step: one init flag per momentum buffer is needed".into()));
    }
    validate(params, grads, &states, &[])?;
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
            bool_dispatch!(sgd_run::<T>, [], [
                o.maximize,
                o.weight_decay != 0.0,
                mom,
                mom && init[i],
                o.nesterov
            ], (p, g, buf, &c));
        }
    }
    let (k32, k64) = (kernel::<f32>(*o, init), kernel::<f64>(*o, init));
    run_all(params, grads, &states, &k32, &k64)
}

// ---------------------------------------------------------------------------------------------
// Adam / AdamW

/// Adam's per-chunk scalars, already in the element type.
struct AdamConsts<T> {
    wd: T,
    decay: T,
    w1: T,
    omw1: T,
    b2: T,
    c2: T,
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
        let mut pv = p[i];
        let mut gi = if MAXIMIZE { -g[i] } else { g[i] };
        if DECOUPLED {
            pv = pv * c.decay;
        }
        if WD {
            gi = gi + c.wd * pv;
        }
        let mi = if SMALL { m[i] + c.w1 * (gi - m[i]) } else { gi - (gi - m[i]) * c.omw1 };
        m[i] = mi;
        let vi = v[i] * c.b2 + c.c2 * gi * gi;
        v[i] = vi;
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

/// Runs `adam_loop` compiled for AVX2 when the CPU has it (wider sqrt/div; no FMA contraction, so
/// results are the same bit for bit), else for the baseline target.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn adam_run<T: OptFloat, const MAXIMIZE: bool, const WD: bool, const DECOUPLED: bool, const AMS: bool, const SMALL: bool>(args: (&mut [T], &[T], &mut [T], &mut [T], &mut [T], &AdamConsts<T>)) {
    crate::cpu::wide(|| adam_loop::<T, MAXIMIZE, WD, DECOUPLED, AMS, SMALL>(args))
}

/// `torch.optim.Adam` (and `AdamW` with `decoupled_weight_decay`) step. `max_exp_avg_sqs` is
/// used only with `amsgrad` (pass an empty slice otherwise). Each `steps[i]` is a one-element
/// tensor, incremented here before it is used, as PyTorch does.
pub fn adam_step(
    params: &[Tensor],
    grads: &[Tensor],
    exp_avgs: &[Tensor],
    exp_avg_sqs: &[Tensor],
    max_exp_avg_sqs: &[Tensor],
    steps: &[Tensor],
    o: &AdamOptions,
) -> Result<()> {
    if crate::gpu::optim::on_gpu(params) {
        return crate::gpu::optim::adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, o);
    }
    let mut states = vec![
        StateList { name: "exp_avg", tensors: exp_avgs },
        StateList { name: "exp_avg_sq", tensors: exp_avg_sqs },
    ];
    if o.amsgrad {
        states.push(StateList { name: "max_exp_avg_sq", tensors: max_exp_avg_sqs });
    }
    validate(params, grads, &states, &step_list(steps))?;
    // Per parameter: (step_size, sqrt(bias_correction2)) as PyTorch computes them in Python.
    let scal: Vec<(f64, f64)> = steps
        .iter()
        .map(|st| {
            let step = increment_step(st);
            let bc1 = 1.0 - o.beta1.powf(step);
            let bc2 = 1.0 - o.beta2.powf(step);
            (o.lr / bc1, bc2.sqrt())
        })
        .collect();
    fn kernel<T: OptFloat>(o: AdamOptions, scal: &[(f64, f64)]) -> impl Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync + '_ {
        move |i, p, g, s| {
            let (step_size, bc2_sqrt) = scal[i];
            let w1 = T::from_f64(1.0 - o.beta1);
            let c = AdamConsts {
                wd: T::from_f64(o.weight_decay),
                decay: T::from_f64(1.0 - o.lr * o.weight_decay),
                w1,
                omw1: T::one() - w1,
                b2: T::from_f64(o.beta2),
                c2: T::from_f64(1.0 - o.beta2),
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
            bool_dispatch!(adam_run::<T>, [], [
                o.maximize,
                has_wd && !o.decoupled_weight_decay,
                has_wd && o.decoupled_weight_decay,
                o.amsgrad,
                w1.to_f64().abs() < 0.5
            ], args);
        }
    }
    let (k32, k64) = (kernel::<f32>(*o, &scal), kernel::<f64>(*o, &scal));
    run_all(params, grads, &states, &k32, &k64)
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

/// Runs `rmsprop_loop` compiled for AVX2 when the CPU has it (wider sqrt/div; no FMA contraction, so
/// results are the same bit for bit), else for the baseline target.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn rmsprop_run<T: OptFloat, const MAXIMIZE: bool, const WD: bool, const CENTERED: bool, const MOM: bool, const SMALL: bool>(args: (&mut [T], &[T], &mut [T], &mut [T], &mut [T], &RmspropConsts<T>)) {
    crate::cpu::wide(|| rmsprop_loop::<T, MAXIMIZE, WD, CENTERED, MOM, SMALL>(args))
}

/// `torch.optim.RMSprop` step. `grad_avgs` is used only when `centered`, `momentum_bufs` only
/// when `momentum > 0` (pass empty slices otherwise).
pub fn rmsprop_step(
    params: &[Tensor],
    grads: &[Tensor],
    square_avgs: &[Tensor],
    grad_avgs: &[Tensor],
    momentum_bufs: &[Tensor],
    steps: &[Tensor],
    o: &RmspropOptions,
) -> Result<()> {
    if crate::gpu::optim::on_gpu(params) {
        return crate::gpu::optim::rmsprop_step(params, grads, square_avgs, grad_avgs, momentum_bufs, steps, o);
    }
    let mut states = vec![StateList { name: "square_avg", tensors: square_avgs }];
    if o.centered {
        states.push(StateList { name: "grad_avg", tensors: grad_avgs });
    }
    if o.momentum > 0.0 {
        states.push(StateList { name: "momentum_buffer", tensors: momentum_bufs });
    }
    validate(params, grads, &states, &step_list(steps))?;
    for st in steps {
        increment_step(st);
    }
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
            bool_dispatch!(rmsprop_run::<T>, [], [
                o.maximize,
                o.weight_decay != 0.0,
                o.centered,
                o.momentum > 0.0,
                w.to_f64().abs() < 0.5
            ], (p, g, &mut *sq[0], ga, buf, &c));
        }
    }
    run_all(params, grads, &states, &kernel::<f32>(*o), &kernel::<f64>(*o))
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

/// Runs `adagrad_loop` compiled for AVX2 when the CPU has it (wider sqrt/div; no FMA contraction, so
/// results are the same bit for bit), else for the baseline target.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn adagrad_run<T: OptFloat, const MAXIMIZE: bool, const WD: bool>(args: (&mut [T], &[T], &mut [T], (T, T, T))) {
    crate::cpu::wide(|| adagrad_loop::<T, MAXIMIZE, WD>(args))
}

/// `torch.optim.Adagrad` step (dense gradients).
pub fn adagrad_step(params: &[Tensor], grads: &[Tensor], sums: &[Tensor], steps: &[Tensor], o: &AdagradOptions) -> Result<()> {
    if crate::gpu::optim::on_gpu(params) {
        return crate::gpu::optim::adagrad_step(params, grads, sums, steps, o);
    }
    let states = vec![StateList { name: "sum", tensors: sums }];
    validate(params, grads, &states, &step_list(steps))?;
    let clrs: Vec<f64> = steps
        .iter()
        .map(|st| {
            let step = increment_step(st);
            o.lr / (1.0 + (step - 1.0) * o.lr_decay)
        })
        .collect();
    fn kernel<T: OptFloat>(o: AdagradOptions, clrs: &[f64]) -> impl Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync + '_ {
        move |i, p, g, s| {
            let c = (T::from_f64(o.weight_decay), T::from_f64(o.eps), T::from_f64(-clrs[i]));
            bool_dispatch!(adagrad_run::<T>, [], [o.maximize, o.weight_decay != 0.0], (p, g, &mut *s[0], c));
        }
    }
    let (k32, k64) = (kernel::<f32>(*o, &clrs), kernel::<f64>(*o, &clrs));
    run_all(params, grads, &states, &k32, &k64)
}

// ---------------------------------------------------------------------------------------------
// NAdam

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NadamOptions {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub momentum_decay: f64,
    pub decoupled_weight_decay: bool,
    pub maximize: bool,
}

struct NadamConsts<T> {
    wd: T,
    decay: T,
    w1: T,
    omw1: T,
    b2: T,
    c2: T,
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
        let mut pv = p[i];
        let mut gi = if MAXIMIZE { -g[i] } else { g[i] };
        if DECOUPLED {
            pv = pv * c.decay;
        }
        if WD {
            gi = gi + c.wd * pv;
        }
        let mi = lerp::<T, SMALL>(m[i], gi, c.w1, c.omw1);
        m[i] = mi;
        let vi = v[i] * c.b2 + c.c2 * gi * gi;
        v[i] = vi;
        let denom = (vi / c.bc2).sqrt() + c.eps;
        pv = pv + c.grad_scale * gi / denom;
        p[i] = pv + c.avg_scale * mi / denom;
    }
}

#[inline(always)]
#[allow(clippy::type_complexity)]
fn nadam_run<T: OptFloat, const MAXIMIZE: bool, const WD: bool, const DECOUPLED: bool, const SMALL: bool>(
    args: (&mut [T], &[T], &mut [T], &mut [T], &NadamConsts<T>),
) {
    crate::cpu::wide(|| nadam_loop::<T, MAXIMIZE, WD, DECOUPLED, SMALL>(args))
}

/// Host-side scalars of one NAdam step of one parameter (PyTorch computes them in Python):
/// `(bias_correction2, grad_scale, avg_scale)`. Increments `step` and multiplies `mu_product`
/// by this step's momentum coefficient.
pub(crate) fn nadam_scalars(o: &NadamOptions, step: &Tensor, mu_product: &Tensor) -> (f64, f64, f64) {
    let step = increment_step(step);
    let bc2 = 1.0 - o.beta2.powf(step);
    let mu = o.beta1 * (1.0 - 0.5 * 0.96f64.powf(step * o.momentum_decay));
    let mu_next = o.beta1 * (1.0 - 0.5 * 0.96f64.powf((step + 1.0) * o.momentum_decay));
    let mu_product = mul_scalar(mu_product, mu);
    let mu_product_next = mu_product * mu_next;
    (bc2, -o.lr * (1.0 - mu) / (1.0 - mu_product), (-o.lr * mu_next) / (1.0 - mu_product_next))
}

/// `torch.optim.NAdam` step. `mu_products[i]` is parameter `i`'s one-element running product
/// of momentum coefficients (PyTorch's state 'mu_product').
pub fn nadam_step(
    params: &[Tensor],
    grads: &[Tensor],
    exp_avgs: &[Tensor],
    exp_avg_sqs: &[Tensor],
    mu_products: &[Tensor],
    steps: &[Tensor],
    o: &NadamOptions,
) -> Result<()> {
    if crate::gpu::optim::on_gpu(params) {
        return crate::gpu::optim::nadam_step(params, grads, exp_avgs, exp_avg_sqs, mu_products, steps, o);
    }
    let states = [StateList { name: "exp_avg", tensors: exp_avgs }, StateList { name: "exp_avg_sq", tensors: exp_avg_sqs }];
    let scalars = [StateList { name: "step", tensors: steps }, StateList { name: "mu_product", tensors: mu_products }];
    validate(params, grads, &states, &scalars)?;
    let scal: Vec<(f64, f64, f64)> = steps.iter().zip(mu_products).map(|(st, mp)| nadam_scalars(o, st, mp)).collect();
    fn kernel<T: OptFloat>(o: NadamOptions, scal: &[(f64, f64, f64)]) -> impl Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync + '_ {
        move |i, p, g, s| {
            let (bc2, grad_scale, avg_scale) = scal[i];
            let w1 = T::from_f64(1.0 - o.beta1);
            let c = NadamConsts {
                wd: T::from_f64(o.weight_decay),
                decay: T::from_f64(1.0 - o.lr * o.weight_decay),
                w1,
                omw1: T::one() - w1,
                b2: T::from_f64(o.beta2),
                c2: T::from_f64(1.0 - o.beta2),
                bc2: T::from_f64(bc2),
                eps: T::from_f64(o.eps),
                grad_scale: T::from_f64(grad_scale),
                avg_scale: T::from_f64(avg_scale),
            };
            let has_wd = o.weight_decay != 0.0;
            let (m, v) = s.split_at_mut(1);
            bool_dispatch!(nadam_run::<T>, [], [
                o.maximize,
                has_wd && !o.decoupled_weight_decay,
                has_wd && o.decoupled_weight_decay,
                w1.to_f64().abs() < 0.5
            ], (p, g, &mut *m[0], &mut *v[0], &c));
        }
    }
    let (k32, k64) = (kernel::<f32>(*o, &scal), kernel::<f64>(*o, &scal));
    run_all(params, grads, &states, &k32, &k64)
}

// ---------------------------------------------------------------------------------------------
// RAdam

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RadamOptions {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub decoupled_weight_decay: bool,
    pub maximize: bool,
}

struct RadamConsts<T> {
    wd: T,
    decay: T,
    w1: T,
    omw1: T,
    b2: T,
    c2: T,
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
        let mut pv = p[i];
        let mut gi = if MAXIMIZE { -g[i] } else { g[i] };
        if DECOUPLED {
            pv = pv * c.decay;
        }
        if WD {
            gi = gi + c.wd * pv;
        }
        let mi = lerp::<T, SMALL>(m[i], gi, c.w1, c.omw1);
        m[i] = mi;
        let vi = v[i] * c.b2 + c.c2 * gi * gi;
        v[i] = vi;
        let corrected = mi / c.bc1 * c.lr;
        let update = if RECT { corrected * (c.bc2_sqrt / (vi.sqrt() + c.eps)) * c.rect } else { corrected };
        p[i] = pv + neg_one * update;
    }
}

#[inline(always)]
#[allow(clippy::type_complexity)]
fn radam_run<T: OptFloat, const MAXIMIZE: bool, const WD: bool, const DECOUPLED: bool, const SMALL: bool, const RECT: bool>(
    args: (&mut [T], &[T], &mut [T], &mut [T], &RadamConsts<T>),
) {
    crate::cpu::wide(|| radam_loop::<T, MAXIMIZE, WD, DECOUPLED, SMALL, RECT>(args))
}

/// Host-side scalars of one RAdam step (PyTorch computes them in Python):
/// `(bias_correction1, sqrt(bias_correction2), rect)`, `rect` `None` while rho_t <= 5.
/// Increments `step`.
pub(crate) fn radam_scalars(o: &RadamOptions, step: &Tensor) -> (f64, f64, Option<f64>) {
    let step = increment_step(step);
    let bc1 = 1.0 - o.beta1.powf(step);
    let bc2 = 1.0 - o.beta2.powf(step);
    let rho_inf = 2.0 / (1.0 - o.beta2) - 1.0;
    let rho_t = rho_inf - 2.0 * step * o.beta2.powf(step) / bc2;
    let rect = (rho_t > 5.0)
        .then(|| ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)).powf(0.5));
    (bc1, bc2.powf(0.5), rect)
}

/// `torch.optim.RAdam` step.
pub fn radam_step(params: &[Tensor], grads: &[Tensor], exp_avgs: &[Tensor], exp_avg_sqs: &[Tensor], steps: &[Tensor], o: &RadamOptions) -> Result<()> {
    if crate::gpu::optim::on_gpu(params) {
        return crate::gpu::optim::radam_step(params, grads, exp_avgs, exp_avg_sqs, steps, o);
    }
    let states = [StateList { name: "exp_avg", tensors: exp_avgs }, StateList { name: "exp_avg_sq", tensors: exp_avg_sqs }];
    validate(params, grads, &states, &step_list(steps))?;
    let scal: Vec<(f64, f64, Option<f64>)> = steps.iter().map(|st| radam_scalars(o, st)).collect();
    fn kernel<T: OptFloat>(o: RadamOptions, scal: &[(f64, f64, Option<f64>)]) -> impl Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync + '_ {
        move |i, p, g, s| {
            let (bc1, bc2_sqrt, rect) = scal[i];
            let w1 = T::from_f64(1.0 - o.beta1);
            let c = RadamConsts {
                wd: T::from_f64(o.weight_decay),
                decay: T::from_f64(1.0 - o.lr * o.weight_decay),
                w1,
                omw1: T::one() - w1,
                b2: T::from_f64(o.beta2),
                c2: T::from_f64(1.0 - o.beta2),
                bc1: T::from_f64(bc1),
                lr: T::from_f64(o.lr),
                bc2_sqrt: T::from_f64(bc2_sqrt),
                eps: T::from_f64(o.eps),
                rect: T::from_f64(rect.unwrap_or(1.0)),
            };
            let has_wd = o.weight_decay != 0.0;
            let (m, v) = s.split_at_mut(1);
            bool_dispatch!(radam_run::<T>, [], [
                o.maximize,
                has_wd && !o.decoupled_weight_decay,
                has_wd && o.decoupled_weight_decay,
                w1.to_f64().abs() < 0.5,
                rect.is_some()
            ], (p, g, &mut *m[0], &mut *v[0], &c));
        }
    }
    let (k32, k64) = (kernel::<f32>(*o, &scal), kernel::<f64>(*o, &scal));
    run_all(params, grads, &states, &k32, &k64)
}

// ---------------------------------------------------------------------------------------------
// Adamax

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamaxOptions {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub maximize: bool,
}

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

#[inline(always)]
#[allow(clippy::type_complexity)]
fn adamax_run<T: OptFloat, const MAXIMIZE: bool, const WD: bool, const SMALL: bool>(args: (&mut [T], &[T], &mut [T], &mut [T], &AdamaxConsts<T>)) {
    crate::cpu::wide(|| adamax_loop::<T, MAXIMIZE, WD, SMALL>(args))
}

/// `torch.optim.Adamax` step.
pub fn adamax_step(params: &[Tensor], grads: &[Tensor], exp_avgs: &[Tensor], exp_infs: &[Tensor], steps: &[Tensor], o: &AdamaxOptions) -> Result<()> {
    if crate::gpu::optim::on_gpu(params) {
        return crate::gpu::optim::adamax_step(params, grads, exp_avgs, exp_infs, steps, o);
    }
    let states = [StateList { name: "exp_avg", tensors: exp_avgs }, StateList { name: "exp_inf", tensors: exp_infs }];
    validate(params, grads, &states, &step_list(steps))?;
    let clrs: Vec<f64> = steps.iter().map(|st| o.lr / (1.0 - o.beta1.powf(increment_step(st)))).collect();
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
            bool_dispatch!(adamax_run::<T>, [], [o.maximize, o.weight_decay != 0.0, w1.to_f64().abs() < 0.5], (p, g, &mut *m[0], &mut *u[0], &c));
        }
    }
    let (k32, k64) = (kernel::<f32>(*o, &clrs), kernel::<f64>(*o, &clrs));
    run_all(params, grads, &states, &k32, &k64)
}

// ---------------------------------------------------------------------------------------------
// Adadelta

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdadeltaOptions {
    pub lr: f64,
    pub rho: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub maximize: bool,
}

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

#[inline(always)]
#[allow(clippy::type_complexity)]
fn adadelta_run<T: OptFloat, const MAXIMIZE: bool, const WD: bool>(args: (&mut [T], &[T], &mut [T], &mut [T], (T, T, T, T, T))) {
    crate::cpu::wide(|| adadelta_loop::<T, MAXIMIZE, WD>(args))
}

/// `torch.optim.Adadelta` step.
pub fn adadelta_step(params: &[Tensor], grads: &[Tensor], square_avgs: &[Tensor], acc_deltas: &[Tensor], steps: &[Tensor], o: &AdadeltaOptions) -> Result<()> {
    if crate::gpu::optim::on_gpu(params) {
        return crate::gpu::optim::adadelta_step(params, grads, square_avgs, acc_deltas, steps, o);
    }
    let states = [StateList { name: "square_avg", tensors: square_avgs }, StateList { name: "acc_delta", tensors: acc_deltas }];
    validate(params, grads, &states, &step_list(steps))?;
    steps.iter().for_each(|st| {
        increment_step(st);
    });
    fn kernel<T: OptFloat>(o: AdadeltaOptions) -> impl Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync {
        move |_, p, g, s| {
            let c = (T::from_f64(o.weight_decay), T::from_f64(o.rho), T::from_f64(1.0 - o.rho), T::from_f64(o.eps), T::from_f64(-o.lr));
            let (sq, acc) = s.split_at_mut(1);
            bool_dispatch!(adadelta_run::<T>, [], [o.maximize, o.weight_decay != 0.0], (p, g, &mut *sq[0], &mut *acc[0], c));
        }
    }
    run_all(params, grads, &states, &kernel::<f32>(*o), &kernel::<f64>(*o))
}

// ---------------------------------------------------------------------------------------------
// ASGD

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AsgdOptions {
    pub lr: f64,
    pub lambd: f64,
    pub alpha: f64,
    pub t0: f64,
    pub weight_decay: f64,
    pub maximize: bool,
    /// Whether the default dtype is float32: PyTorch makes the next 'eta' and 'mu' with
    /// `torch.as_tensor` (so in the default dtype) before copying them into the states.
    pub default_float32: bool,
}

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

#[inline(always)]
#[allow(clippy::type_complexity)]
fn asgd_run<T: OptFloat, const MAXIMIZE: bool, const WD: bool, const AVERAGE: bool>(args: (&mut [T], &[T], &mut [T], (T, T, T, T))) {
    crate::cpu::wide(|| asgd_loop::<T, MAXIMIZE, WD, AVERAGE>(args))
}

/// Host side of one ASGD step of one parameter: increments `step`, returns this step's
/// `(eta, mu)` and stores the next step's in the one-element `eta` and `mu` tensors.
pub(crate) fn asgd_scalars(o: &AsgdOptions, step: &Tensor, eta: &Tensor, mu: &Tensor) -> (f64, f64) {
    let step = increment_step(step);
    let now = (read_scalar(eta), read_scalar(mu));
    let as_default = |v: f64| if o.default_float32 { f64::from(v as f32) } else { v };
    update_scalar(eta, |_| as_default(o.lr / (1.0 + o.lambd * o.lr * step).powf(o.alpha)));
    update_scalar(mu, |_| as_default(1.0 / f64::max(1.0, step - o.t0)));
    now
}

/// `torch.optim.ASGD` step. `etas` and `mus` are the one-element states 'eta' and 'mu'.
pub fn asgd_step(params: &[Tensor], grads: &[Tensor], axs: &[Tensor], etas: &[Tensor], mus: &[Tensor], steps: &[Tensor], o: &AsgdOptions) -> Result<()> {
    if crate::gpu::optim::on_gpu(params) {
        return crate::gpu::optim::asgd_step(params, grads, axs, etas, mus, steps, o);
    }
    let states = [StateList { name: "ax", tensors: axs }];
    let scalars = [StateList { name: "step", tensors: steps }, StateList { name: "eta", tensors: etas }, StateList { name: "mu", tensors: mus }];
    validate(params, grads, &states, &scalars)?;
    let scal: Vec<(f64, f64)> = (0..params.len()).map(|i| asgd_scalars(o, &steps[i], &etas[i], &mus[i])).collect();
    fn kernel<T: OptFloat>(o: AsgdOptions, scal: &[(f64, f64)]) -> impl Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync + '_ {
        move |i, p, g, s| {
            let (eta, mu) = scal[i];
            let c = (T::from_f64(o.weight_decay), T::from_f64(1.0 - o.lambd * eta), T::from_f64(-eta), T::from_f64(mu));
            bool_dispatch!(asgd_run::<T>, [], [o.maximize, o.weight_decay != 0.0, mu != 1.0], (p, g, &mut *s[0], c));
        }
    }
    let (k32, k64) = (kernel::<f32>(*o, &scal), kernel::<f64>(*o, &scal));
    run_all(params, grads, &states, &k32, &k64)
}

// ---------------------------------------------------------------------------------------------
// Rprop

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RpropOptions {
    pub etaminus: f64,
    pub etaplus: f64,
    pub step_size_min: f64,
    pub step_size_max: f64,
    pub maximize: bool,
}

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

#[inline(always)]
#[allow(clippy::type_complexity)]
fn rprop_run<T: OptFloat, const MAXIMIZE: bool>(args: (&mut [T], &[T], &mut [T], &mut [T], (T, T, T, T))) {
    crate::cpu::wide(|| rprop_loop::<T, MAXIMIZE>(args))
}

/// `torch.optim.Rprop` step (the states 'prev' and 'step_size').
pub fn rprop_step(params: &[Tensor], grads: &[Tensor], prevs: &[Tensor], step_sizes: &[Tensor], steps: &[Tensor], o: &RpropOptions) -> Result<()> {
    if crate::gpu::optim::on_gpu(params) {
        return crate::gpu::optim::rprop_step(params, grads, prevs, step_sizes, steps, o);
    }
    let states = [StateList { name: "prev", tensors: prevs }, StateList { name: "step_size", tensors: step_sizes }];
    validate(params, grads, &states, &step_list(steps))?;
    steps.iter().for_each(|st| {
        increment_step(st);
    });
    fn kernel<T: OptFloat>(o: RpropOptions) -> impl Fn(usize, &mut [T], &[T], &mut [&mut [T]]) + Sync {
        move |_, p, g, s| {
            let c = (T::from_f64(o.etaminus), T::from_f64(o.etaplus), T::from_f64(o.step_size_min), T::from_f64(o.step_size_max));
            let (prev, size) = s.split_at_mut(1);
            bool_dispatch!(rprop_run::<T>, [], [o.maximize], (p, g, &mut *prev[0], &mut *size[0], c));
        }
    }
    run_all(params, grads, &states, &kernel::<f32>(*o), &kernel::<f64>(*o))
}

// ---------------------------------------------------------------------------------------------
// Adafactor

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdafactorOptions {
    pub lr: f64,
    pub beta2_decay: f64,
    /// `None`: the machine epsilon of the parameter's dtype.
    pub eps1: Option<f64>,
    pub eps2: f64,
    pub d: f64,
    pub weight_decay: f64,
    pub maximize: bool,
}

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
    let (one_minus_beta2, rho) = adafactor_scalars(o, step);
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

/// The (batch, rows, cols) of a factored parameter: its last two dims and the product of the rest.
pub(crate) fn factored_dims(shape: &[usize]) -> (usize, usize, usize) {
    let k = shape.len();
    (shape[..k - 2].iter().product(), shape[k - 2], shape[k - 1])
}

/// The second-moment states of each Adafactor parameter, `(row_var, Some(col_var))` for a
/// parameter of 2 or more dims, `(variance, None)` for others, after checking their counts,
/// dtypes, shapes and that no written tensor shares memory with another (any device).
pub(crate) fn adafactor_states<'a>(
    params: &'a [Tensor],
    grads: &[Tensor],
    row_vars: &'a [Tensor],
    col_vars: &'a [Tensor],
    variances: &'a [Tensor],
) -> Result<Vec<(&'a Tensor, Option<&'a Tensor>)>> {
    let n_factored = params.iter().filter(|p| p.ndim() > 1).count();
    let n_full = params.len() - n_factored;
    let count_error = || {
        Error::Value(format!(
            "Adafactor step got {n_factored} parameters of 2+ dims with {} 'row_var' and {} 'col_var' tensors, and {n_full} others with {} 'variance' tensors",
            row_vars.len(),
            col_vars.len(),
            variances.len()
        ))
    };
    if row_vars.len() != n_factored || col_vars.len() != n_factored || variances.len() != n_full {
        return Err(count_error());
    }
    if grads.len() != params.len() {
        return Err(Error::Value(format!("optimizer step got {} params but {} grads", params.len(), grads.len())));
    }
    let (mut rows, mut cols, mut vars) = (row_vars.iter(), col_vars.iter(), variances.iter());
    let mut states = Vec::with_capacity(params.len());
    for (i, p) in params.iter().enumerate() {
        check_float(p, "parameters")?;
        if !p.is_contiguous() {
            return Err(Error::Value(format!("optimizer parameter {i} (shape {:?}) must be contiguous", p.shape())));
        }
        if grads[i].shape() != p.shape() {
            return Err(Error::Shape(format!("gradient of shape {:?} does not match parameter {i} of shape {:?}", grads[i].shape(), p.shape())));
        }
        check_float(&grads[i], "gradients")?;
        let expect = |t: &Tensor, name: &str, numel: usize| -> Result<()> {
            if t.dtype() != p.dtype() || !t.is_contiguous() || t.numel() != numel {
                return Err(Error::Shape(format!(
                    "Adafactor state '{name}' of parameter {i} (shape {:?}, {}) must be a contiguous {} tensor of {numel} elements, got shape {:?}, {}",
                    p.shape(),
                    p.dtype(),
                    p.dtype(),
                    t.shape(),
                    t.dtype()
                )));
            }
            Ok(())
        };
        let state = if p.ndim() > 1 {
            let (r, c) = rows.next().zip(cols.next()).ok_or_else(count_error)?;
            let (b, nr, nc) = factored_dims(p.shape());
            expect(r, "row_var", b * nr)?;
            expect(c, "col_var", b * nc)?;
            (r, Some(c))
        } else {
            let v = vars.next().ok_or_else(count_error)?;
            expect(v, "variance", p.numel())?;
            (v, None)
        };
        states.push(state);
    }
    let written: Vec<&Tensor> = params.iter().chain(row_vars).chain(col_vars).chain(variances).collect();
    for (a, x) in written.iter().enumerate() {
        if written[a + 1..].iter().any(|y| x.same_storage(y)) {
            return Err(Error::Value("Adafactor parameters and states must not share memory".into()));
        }
    }
    Ok(states)
}

/// `torch.optim.Adafactor` step. Parameters of 2 or more dims take their states from
/// `row_vars` (shape `[..., R, 1]`) and `col_vars` (`[..., 1, C]`), in order; the others from
/// `variances` (the parameter's shape), in order.
pub fn adafactor_step(
    params: &[Tensor],
    grads: &[Tensor],
    row_vars: &[Tensor],
    col_vars: &[Tensor],
    variances: &[Tensor],
    steps: &[Tensor],
    o: &AdafactorOptions,
) -> Result<()> {
    if crate::gpu::optim::on_gpu(params) {
        return crate::gpu::optim::adafactor_step(params, grads, row_vars, col_vars, variances, steps, o);
    }
    validate(params, grads, &[], &step_list(steps))?;
    let moments = adafactor_states(params, grads, row_vars, col_vars, variances)?;
    let written: Vec<&Tensor> = params.iter().chain(row_vars).chain(col_vars).chain(variances).collect();
    for (i, p) in params.iter().enumerate() {
        let step = increment_step(&steps[i]);
        if p.dtype() == DType::F32 {
            adafactor_param::<f32>(p, &grads[i], moments[i], &written, step, o);
        } else {
            adafactor_param::<f64>(p, &grads[i], moments[i], &written, step, o);
        }
    }
    for t in written {
        t.storage().bump_version();
    }
    Ok(())
}

/// Host-side scalars of one Adafactor step: `(1 - beta2_t, rho_t)`.
pub(crate) fn adafactor_scalars(o: &AdafactorOptions, step: f64) -> (f64, f64) {
    (step.powf(o.beta2_decay), f64::min(o.lr, 1.0 / step.powf(0.5)))
}

/// Borrows one parameter's data and states for `adafactor_one`; `written` are every tensor
/// the step writes (pairwise distinct storages, checked by the caller).
fn adafactor_param<T: OptFloat>(p: &Tensor, g: &Tensor, moment: (&Tensor, Option<&Tensor>), written: &[&Tensor], step: f64, o: &AdafactorOptions) {
    let grad: Cow<'_, [T]> = if written.iter().any(|t| t.same_storage(g)) { Cow::Owned(g.to_vec::<T>()) } else { g.contiguous_data::<T>() };
    fn data<T: Element>(t: &Tensor) -> &mut [T] {
        // SAFETY: the tensors written by an Adafactor step are in pairwise distinct storages
        // (checked by adafactor_step), each borrowed once here, and the gradient read alongside
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_momentum_two_steps() {
        let p = Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
        let g = Tensor::from_vec(vec![0.5f32, -1.0], &[2]).unwrap();
        let b = Tensor::zeros(&[2], DType::F32).unwrap();
        let o = SgdOptions { lr: 0.1, momentum: 0.9, dampening: 0.0, weight_decay: 0.0, nesterov: false, maximize: false };
        sgd_step(&[p.clone()], &[g.clone()], &[b.clone()], &[true], &o).unwrap();
        assert_eq!(b.to_vec::<f32>(), vec![0.5, -1.0]);
        sgd_step(&[p.clone()], &[g.clone()], &[b.clone()], &[false], &o).unwrap();
        let bb: Vec<f32> = vec![0.5f32 * 0.9 + 0.5, -1.0f32 * 0.9 - 1.0];
        assert_eq!(b.to_vec::<f32>(), bb);
        let p1 = [1.0f32 + (-0.1f32) * 0.5, 2.0f32 + (-0.1f32) * -1.0];
        let p2 = [p1[0] + (-0.1f32) * bb[0], p1[1] + (-0.1f32) * bb[1]];
        assert_eq!(p.to_vec::<f32>(), p2.to_vec());
        assert!(p.storage().version() >= 2);
    }

    #[test]
    fn adam_first_step_moves_by_lr() {
        let p = Tensor::from_vec(vec![1.0f64, -1.0], &[2]).unwrap();
        let g = Tensor::from_vec(vec![3.0f64, -0.25], &[2]).unwrap();
        let m = Tensor::zeros(&[2], DType::F64).unwrap();
        let v = Tensor::zeros(&[2], DType::F64).unwrap();
        let st = Tensor::scalar(0.0f32);
        let o = AdamOptions {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 0.0,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
            decoupled_weight_decay: false,
        };
        adam_step(&[p.clone()], &[g], &[m], &[v], &[], &[st.clone()], &o).unwrap();
        let out = p.to_vec::<f64>();
        assert!((out[0] - 0.99).abs() < 1e-12 && (out[1] + 0.99).abs() < 1e-12, "{out:?}");
        assert_eq!(st.item::<f32>().unwrap(), 1.0);
    }

    #[test]
    fn rejects_non_contiguous_and_int() {
        let p = Tensor::zeros(&[2, 3], DType::F32).unwrap().permute(&[1, 0]).unwrap();
        let g = Tensor::zeros(&[3, 2], DType::F32).unwrap();
        let o = SgdOptions { lr: 0.1, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false, maximize: false };
        assert!(sgd_step(&[p], &[g.clone()], &[], &[], &o).is_err());
        let pi = Tensor::zeros(&[3, 2], DType::I64).unwrap();
        assert!(sgd_step(&[pi], &[g], &[], &[], &o).is_err());
    }

    #[test]
    fn large_parallel_matches_serial() {
        let n = 100_000;
        let vals: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        let gv: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
        let p = Tensor::from_vec(vals.clone(), &[n]).unwrap();
        let g = Tensor::from_vec(gv.clone(), &[n]).unwrap();
        let o = SgdOptions { lr: 0.1, momentum: 0.0, dampening: 0.0, weight_decay: 0.01, nesterov: false, maximize: true };
        sgd_step(&[p.clone()], &[g], &[], &[], &o).unwrap();
        let out = p.to_vec::<f32>();
        for i in (0..n).step_by(997) {
            let gg = -gv[i] + 0.01f32 * vals[i];
            assert_eq!(out[i], vals[i] + (-0.1f32) * gg);
        }
    }
    #[test]
    fn rprop_sign_flip_shrinks_the_step_and_skips_the_update() {
        let p = Tensor::from_vec(vec![1.0f64, 1.0], &[2]).unwrap();
        let g = Tensor::from_vec(vec![1.0f64, 1.0], &[2]).unwrap();
        let prev = Tensor::from_vec(vec![1.0f64, -1.0], &[2]).unwrap();
        let size = Tensor::from_vec(vec![0.1f64, 0.1], &[2]).unwrap();
        let st = Tensor::scalar(0.0f32);
        let o = RpropOptions { etaminus: 0.5, etaplus: 1.2, step_size_min: 1e-6, step_size_max: 50.0, maximize: false };
        rprop_step(&[p.clone()], &[g], &[prev.clone()], &[size.clone()], &[st], &o).unwrap();
        assert_eq!(size.to_vec::<f64>(), vec![0.1 * 1.2, 0.1 * 0.5]);
        assert_eq!(p.to_vec::<f64>(), vec![1.0 - 0.1 * 1.2, 1.0]);
        assert_eq!(prev.to_vec::<f64>(), vec![1.0, 0.0]);
    }

    #[test]
    fn asgd_stores_next_eta_and_mu() {
        let p = Tensor::from_vec(vec![2.0f64], &[1]).unwrap();
        let g = Tensor::from_vec(vec![0.5f64], &[1]).unwrap();
        let ax = Tensor::zeros(&[1], DType::F64).unwrap();
        let (eta, mu, st) = (Tensor::scalar(0.1f64), Tensor::scalar(1.0f64), Tensor::scalar(0.0f64));
        let o = AsgdOptions { lr: 0.1, lambd: 0.01, alpha: 0.75, t0: -1.0, weight_decay: 0.0, maximize: false, default_float32: false };
        asgd_step(&[p.clone()], &[g], &[ax.clone()], &[eta.clone()], &[mu.clone()], &[st], &o).unwrap();
        let moved = 2.0 * (1.0 - 0.01 * 0.1) + -0.1 * 0.5;
        assert_eq!(p.to_vec::<f64>(), vec![moved]);
        assert_eq!(ax.to_vec::<f64>(), vec![moved], "mu was 1: the average is the parameter");
        assert_eq!(eta.item::<f64>().unwrap(), 0.1 / (1.0f64 + 0.01 * 0.1).powf(0.75));
        assert_eq!(mu.item::<f64>().unwrap(), 0.5);
    }

    #[test]
    fn scalar_states_must_be_one_element() {
        let p = Tensor::zeros(&[2], DType::F32).unwrap();
        let g = Tensor::zeros(&[2], DType::F32).unwrap();
        let (m, v) = (Tensor::zeros(&[2], DType::F32).unwrap(), Tensor::zeros(&[2], DType::F32).unwrap());
        let o = NadamOptions {
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum_decay: 4e-3,
            decoupled_weight_decay: false,
            maximize: false,
        };
        // A two-element 'mu_product' is refused before anything is written.
        let err = nadam_step(&[p.clone()], &[g], &[m], &[v], &[p.clone()], &[Tensor::scalar(0.0f32)], &o);
        assert!(err.is_err());
        assert_eq!(p.to_vec::<f32>(), vec![0.0, 0.0]);
    }
}
