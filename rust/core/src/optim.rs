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
}
impl OptFloat for f32 {
    #[inline]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
}
impl OptFloat for f64 {
    #[inline]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
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
struct StateList<'a> {
    name: &'static str,
    tensors: &'a [Tensor],
}

fn check_float(t: &Tensor, what: &str) -> Result<()> {
    if !t.dtype().is_float() {
        return Err(Error::Runtime(format!("optimizer {what} must be float32 or float64, got {}", t.dtype())));
    }
    Ok(())
}

/// Checks the lists fit together and each tensor can be updated in place.
fn validate(params: &[Tensor], grads: &[Tensor], states: &[StateList<'_>], steps: &[Tensor]) -> Result<()> {
    crate::gpu::cpu_only("fused optimizer step", &params.iter().chain(grads).chain(steps).collect::<Vec<_>>())?;
    let n = params.len();
    if grads.len() != n {
        return Err(Error::Value(format!("optimizer step got {} params but {} grads", n, grads.len())));
    }
    if !steps.is_empty() && steps.len() != n {
        return Err(Error::Value(format!("optimizer step got {} params but {} step tensors", n, steps.len())));
    }
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
        if let Some(st) = steps.get(i) {
            check_float(st, "step counts")?;
            if st.numel() != 1 {
                return Err(Error::Shape(format!("optimizer 'step' of parameter {i} must have one element")));
            }
        }
    }
    Ok(())
}

/// Adds 1 to a one-element step tensor in its own dtype and returns the new count.
pub(crate) fn increment_step(step: &Tensor) -> f64 {
    let off = step.offset();
    let v = crate::with_dtype!(step.dtype(), T, {
        // SAFETY: no other reference into this storage is live: the step tensors are read and
        // written here only, before any slice of the parameters or grads is taken.
        let data = unsafe { step.storage().slice_mut::<T>() };
        // In f64 and rounded once: the same as adding 1 in the element type.
        let nv = T::from_f64(data[off].to_f64() + 1.0);
        data[off] = nv;
        nv.to_f64()
    });
    step.storage().bump_version();
    v
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
    if steps.len() != params.len() {
        return Err(Error::Value("adam_step: one 'step' tensor per parameter is needed".into()));
    }
    validate(params, grads, &states, steps)?;
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
    if steps.len() != params.len() {
        return Err(Error::Value("rmsprop_step: one 'step' tensor per parameter is needed".into()));
    }
    validate(params, grads, &states, steps)?;
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
    if steps.len() != params.len() {
        return Err(Error::Value("adagrad_step: one 'step' tensor per parameter is needed".into()));
    }
    validate(params, grads, &states, steps)?;
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
}
