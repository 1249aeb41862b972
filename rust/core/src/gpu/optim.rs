//! Fused optimizer steps on the GPU (`shaders/optim.wgsl`): the same update rules, operation
//! order and host-side scalar arithmetic as the CPU kernels in `crate::optim`, one dispatch
//! per parameter, all recorded into the runtime's batched encoder (so one param group is one
//! batch of dispatches, submitted together).
//!
//! Parameters, gradients and state tensors live on the GPU (float32); the 'step' counts stay
//! one-element CPU tensors, as in PyTorch without `capturable`.
use super::runtime::{context, Kernel};
use super::{dtype_error, mixed, Shader};
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::optim::{AdagradOptions, AdamOptions, RmspropOptions, SgdOptions};
use crate::tensor::Tensor;

pub static OPTIM: Shader = Shader { name: "optim", body: include_str!("../../../../shaders/optim.wgsl") };

const WG: usize = 256;

/// Whether a param group's step runs on the GPU (its first parameter lives there).
pub fn on_gpu(params: &[Tensor]) -> bool {
    params.first().is_some_and(|p| p.device().is_gpu())
}

fn u32_of(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::NotImplemented(format!("GPU optimizer kernels index with 32 bits: {what} {v} is too large")))
}

/// The tensors of one parameter's update: the gradient (read) and the written tensors
/// (the parameter, then its states).
struct Prepared {
    grad: Tensor,
    written: Vec<Tensor>,
}

/// Checks devices, dtypes and shapes as the CPU's `validate` does, and gives each parameter a
/// gradient the kernel can read: contiguous, and a copy when it shares memory with a tensor the
/// step writes (the CPU also copies such gradients before any update).
fn prepare(op: &str, params: &[Tensor], grads: &[Tensor], states: &[(&str, &[Tensor])], steps: &[Tensor]) -> Result<(Device, Vec<Prepared>)> {
    let dev = params[0].device();
    let n = params.len();
    if grads.len() != n {
        return Err(Error::Value(format!("optimizer step got {} params but {} grads", n, grads.len())));
    }
    for (name, ts) in states {
        if ts.len() != n {
            return Err(Error::Value(format!("optimizer step got {n} params but {} '{name}' state tensors", ts.len())));
        }
    }
    if !steps.is_empty() && steps.len() != n {
        return Err(Error::Value(format!("optimizer step got {n} params but {} step tensors", steps.len())));
    }
    for (i, p) in params.iter().enumerate() {
        for t in std::iter::once(p).chain(std::iter::once(&grads[i])).chain(states.iter().map(|(_, ts)| &ts[i])) {
            if t.device() != dev {
                return Err(mixed(dev, t.device()));
            }
            if !t.dtype().is_float() {
                return Err(Error::Runtime(format!("optimizer tensors must be float32 or float64, got {}", t.dtype())));
            }
            if t.dtype() != DType::F32 {
                return Err(dtype_error(op, t.dtype(), dev));
            }
            if t.numel() != p.numel() {
                return Err(Error::Shape(format!("tensor of shape {:?} does not match parameter {i} of shape {:?}", t.shape(), p.shape())));
            }
            u32_of(t.storage().len(), "storage length")?;
        }
        if !p.is_contiguous() {
            return Err(Error::Value(format!("optimizer parameter {i} (shape {:?}) must be contiguous", p.shape())));
        }
        for (name, ts) in states {
            if !ts[i].is_contiguous() {
                return Err(Error::Value(format!("optimizer state '{name}' of parameter {i} must be contiguous")));
            }
        }
        if let Some(st) = steps.get(i) {
            if st.device().is_gpu() {
                return Err(Error::NotImplemented(format!(
                    "{op} on {dev}: 'step' state tensors must stay on the CPU (as in PyTorch without capturable=True)"
                )));
            }
            if !st.dtype().is_float() || st.numel() != 1 {
                return Err(Error::Value(format!("optimizer 'step' of parameter {i} must be a one-element float tensor")));
            }
        }
    }
    let written = |i: usize| -> Vec<Tensor> { std::iter::once(params[i].clone()).chain(states.iter().map(|(_, ts)| ts[i].clone())).collect() };
    let all: Vec<Tensor> = (0..n).flat_map(written).collect();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let w = written(i);
        for a in 0..w.len() {
            for b in a + 1..w.len() {
                if w[a].same_storage(&w[b]) {
                    return Err(Error::Value(format!("optimizer state of parameter {i} shares memory with the parameter or another state")));
                }
            }
        }
        let g = &grads[i];
        let aliased = all.iter().any(|t| t.same_storage(g));
        let grad = if aliased || !g.is_contiguous() { super::ops::contiguous(g)? } else { g.clone() };
        out.push(Prepared { grad, written: w });
    }
    Ok((dev, out))
}

/// Records one kernel dispatch per parameter: `flags[i]` and `consts[i]` are its flag word
/// and float32 constants; state `k` is bound to slot `slots[k]` (s0, s1, s2).
fn launch(entry: &'static str, preps: &[Prepared], slots: &[usize], flags: &[u32], consts: &[Vec<f32>]) -> Result<()> {
    let ctx = context()?;
    let scratch: Vec<_> = (0..3).map(|_| ctx.alloc(4)).collect::<Result<_>>()?;
    let k = Kernel { shader: &OPTIM, entry, constants: &[], inputs: 1 };
    let max = ctx.limits.max_compute_workgroups_per_dimension.max(1) as usize;
    for (i, pr) in preps.iter().enumerate() {
        let n = pr.written[0].numel();
        if n == 0 {
            continue;
        }
        let mut info = vec![0u32; 8 + consts[i].len()];
        info[0] = u32_of(n, "element count")?;
        info[1] = flags[i];
        info[2] = u32_of(pr.written[0].offset(), "offset")?;
        info[3] = u32_of(pr.grad.offset(), "offset")?;
        let mut outs: Vec<&wgpu::Buffer> = vec![buf(&pr.written[0])];
        outs.extend(scratch.iter().map(|b| b.buffer()));
        for (k, t) in pr.written[1..].iter().enumerate() {
            info[4 + slots[k]] = u32_of(t.offset(), "offset")?;
            outs[1 + slots[k]] = buf(t);
        }
        for (j, v) in consts[i].iter().enumerate() {
            info[8 + j] = v.to_bits();
        }
        let groups = n.div_ceil(WG);
        let x = groups.min(max);
        let y = groups.div_ceil(x);
        if y > max {
            return Err(Error::NotImplemented(format!("{entry}: a parameter of {n} elements is too large for one launch")));
        }
        let g = pr.grad.storage().gpu_buffer().expect("GPU tensor");
        ctx.dispatch_multi(&k, &[Some(g)], &outs, &info, (x as u32, y as u32, 1))?;
    }
    for pr in preps {
        for t in &pr.written {
            t.storage().bump_version();
        }
    }
    Ok(())
}

fn buf(t: &Tensor) -> &wgpu::Buffer {
    t.storage().gpu_buffer().expect("GPU tensor")
}

/// `f32` of a hyper-parameter, as `T::from_f64` on the CPU.
fn c32(v: f64) -> f32 {
    v as f32
}

/// `torch.optim.SGD` step on the GPU (see `crate::optim::sgd_step`).
pub fn sgd_step(params: &[Tensor], grads: &[Tensor], bufs: &[Tensor], init: &[bool], o: &SgdOptions) -> Result<()> {
    let mom = o.momentum != 0.0;
    if mom && init.len() != params.len() {
        return Err(Error::Value("sgd_step: one init flag per momentum buffer is needed".into()));
    }
    let states: Vec<(&str, &[Tensor])> = if mom { vec![("momentum_buffer", bufs)] } else { vec![] };
    let (_, preps) = prepare("sgd_step", params, grads, &states, &[])?;
    let base = u32::from(o.maximize) | u32::from(o.weight_decay != 0.0) << 1 | u32::from(mom) << 2 | u32::from(o.nesterov) << 4;
    let flags: Vec<u32> = (0..params.len()).map(|i| base | u32::from(mom && init[i]) << 3).collect();
    let c = vec![c32(o.weight_decay), c32(o.momentum), c32(1.0 - o.dampening), c32(-o.lr)];
    launch("sgd_main", &preps, &[0, 1, 2], &flags, &vec![c; params.len()])
}

/// `torch.optim.Adam`/`AdamW` step on the GPU (see `crate::optim::adam_step`).
pub fn adam_step(params: &[Tensor], grads: &[Tensor], exp_avgs: &[Tensor], exp_avg_sqs: &[Tensor], max_exp_avg_sqs: &[Tensor], steps: &[Tensor], o: &AdamOptions) -> Result<()> {
    let mut states: Vec<(&str, &[Tensor])> = vec![("exp_avg", exp_avgs), ("exp_avg_sq", exp_avg_sqs)];
    if o.amsgrad {
        states.push(("max_exp_avg_sq", max_exp_avg_sqs));
    }
    if steps.len() != params.len() {
        return Err(Error::Value("adam_step: one 'step' tensor per parameter is needed".into()));
    }
    let (_, preps) = prepare("adam_step", params, grads, &states, steps)?;
    let has_wd = o.weight_decay != 0.0;
    let w1 = c32(1.0 - o.beta1);
    let flags = u32::from(o.maximize)
        | u32::from(has_wd && !o.decoupled_weight_decay) << 1
        | u32::from(has_wd && o.decoupled_weight_decay) << 2
        | u32::from(o.amsgrad) << 3
        | u32::from(f64::from(w1).abs() < 0.5) << 4;
    let consts: Vec<Vec<f32>> = steps
        .iter()
        .map(|st| {
            let step = crate::optim::increment_step(st);
            let bc1 = 1.0 - o.beta1.powf(step);
            let bc2 = 1.0 - o.beta2.powf(step);
            let (step_size, bc2_sqrt) = (o.lr / bc1, bc2.sqrt());
            vec![
                c32(o.weight_decay),
                c32(1.0 - o.lr * o.weight_decay),
                w1,
                1.0f32 - w1,
                c32(o.beta2),
                c32(1.0 - o.beta2),
                c32(bc2_sqrt),
                c32(o.eps),
                c32(-step_size),
            ]
        })
        .collect();
    launch("adam_main", &preps, &[0, 1, 2], &vec![flags; params.len()], &consts)
}

/// `torch.optim.RMSprop` step on the GPU (see `crate::optim::rmsprop_step`).
pub fn rmsprop_step(params: &[Tensor], grads: &[Tensor], square_avgs: &[Tensor], grad_avgs: &[Tensor], momentum_bufs: &[Tensor], steps: &[Tensor], o: &RmspropOptions) -> Result<()> {
    let mut states: Vec<(&str, &[Tensor])> = vec![("square_avg", square_avgs)];
    if o.centered {
        states.push(("grad_avg", grad_avgs));
    }
    if o.momentum > 0.0 {
        states.push(("momentum_buffer", momentum_bufs));
    }
    if steps.len() != params.len() {
        return Err(Error::Value("rmsprop_step: one 'step' tensor per parameter is needed".into()));
    }
    let (_, preps) = prepare("rmsprop_step", params, grads, &states, steps)?;
    // The kernel reads the momentum buffer from slot s2 also when there is no grad_avg.
    let slots: &[usize] = if o.centered { &[0, 1, 2] } else { &[0, 2] };
    for st in steps {
        crate::optim::increment_step(st);
    }
    let w = c32(1.0 - o.alpha);
    let flags = u32::from(o.maximize)
        | u32::from(o.weight_decay != 0.0) << 1
        | u32::from(o.centered) << 2
        | u32::from(o.momentum > 0.0) << 3
        | u32::from(f64::from(w).abs() < 0.5) << 4;
    let c = vec![c32(o.weight_decay), c32(o.alpha), w, 1.0f32 - w, c32(o.eps), c32(o.momentum), c32(-o.lr)];
    launch("rmsprop_main", &preps, slots, &vec![flags; params.len()], &vec![c; params.len()])
}

/// `torch.optim.Adagrad` step on the GPU (see `crate::optim::adagrad_step`).
pub fn adagrad_step(params: &[Tensor], grads: &[Tensor], sums: &[Tensor], steps: &[Tensor], o: &AdagradOptions) -> Result<()> {
    if steps.len() != params.len() {
        return Err(Error::Value("adagrad_step: one 'step' tensor per parameter is needed".into()));
    }
    let (_, preps) = prepare("adagrad_step", params, grads, &[("sum", sums)], steps)?;
    let flags = u32::from(o.maximize) | u32::from(o.weight_decay != 0.0) << 1;
    let consts: Vec<Vec<f32>> = steps
        .iter()
        .map(|st| {
            let step = crate::optim::increment_step(st);
            let clr = o.lr / (1.0 + (step - 1.0) * o.lr_decay);
            vec![c32(o.weight_decay), c32(o.eps), c32(-clr)]
        })
        .collect();
    launch("adagrad_main", &preps, &[0, 1, 2], &vec![flags; params.len()], &consts)
}
