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
use crate::optim::{
    adafactor_scalars, adafactor_states, check_scalars, factored_dims, increment_step, step_list, AdadeltaOptions, AdafactorOptions, AdagradOptions, AdamOptions, AdamaxOptions, AsgdOptions, NadamOptions, RadamOptions,
    RmspropOptions, RpropOptions, SgdOptions, StateList,
};
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
fn prepare(op: &str, params: &[Tensor], grads: &[Tensor], states: &[(&str, &[Tensor])], scalars: &[StateList<'_>]) -> Result<(Device, Vec<Prepared>)> {
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
    check_scalars(n, scalars)?;
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
    let (_, preps) = prepare("adam_step", params, grads, &states, &step_list(steps))?;
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
            let step = increment_step(st);
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
    let (_, preps) = prepare("rmsprop_step", params, grads, &states, &step_list(steps))?;
    // The kernel reads the momentum buffer from slot s2 also when there is no grad_avg.
    let slots: &[usize] = if o.centered { &[0, 1, 2] } else { &[0, 2] };
    for st in steps {
        increment_step(st);
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
    let (_, preps) = prepare("adagrad_step", params, grads, &[("sum", sums)], &step_list(steps))?;
    let flags = u32::from(o.maximize) | u32::from(o.weight_decay != 0.0) << 1;
    let consts: Vec<Vec<f32>> = steps
        .iter()
        .map(|st| {
            let step = increment_step(st);
            let clr = o.lr / (1.0 + (step - 1.0) * o.lr_decay);
            vec![c32(o.weight_decay), c32(o.eps), c32(-clr)]
        })
        .collect();
    launch("adagrad_main", &preps, &[0, 1, 2], &vec![flags; params.len()], &consts)
}

/// `torch.optim.NAdam` step on the GPU (see `crate::optim::nadam_step`).
pub fn nadam_step(params: &[Tensor], grads: &[Tensor], exp_avgs: &[Tensor], exp_avg_sqs: &[Tensor], mu_products: &[Tensor], steps: &[Tensor], o: &NadamOptions) -> Result<()> {
    let scalars = [StateList { name: "step", tensors: steps }, StateList { name: "mu_product", tensors: mu_products }];
    let (_, preps) = prepare("nadam_step", params, grads, &[("exp_avg", exp_avgs), ("exp_avg_sq", exp_avg_sqs)], &scalars)?;
    let has_wd = o.weight_decay != 0.0;
    let w1 = c32(1.0 - o.beta1);
    let flags = u32::from(o.maximize)
        | u32::from(has_wd && !o.decoupled_weight_decay) << 1
        | u32::from(has_wd && o.decoupled_weight_decay) << 2
        | u32::from(f64::from(w1).abs() < 0.5) << 4;
    let consts: Vec<Vec<f32>> = steps
        .iter()
        .zip(mu_products)
        .map(|(st, mp)| {
            let (bc2, grad_scale, avg_scale) = crate::optim::nadam_scalars(o, st, mp);
            vec![
                c32(o.weight_decay),
                c32(1.0 - o.lr * o.weight_decay),
                w1,
                1.0f32 - w1,
                c32(o.beta2),
                c32(1.0 - o.beta2),
                c32(bc2),
                c32(o.eps),
                c32(grad_scale),
                c32(avg_scale),
            ]
        })
        .collect();
    launch("nadam_main", &preps, &[0, 1], &vec![flags; params.len()], &consts)
}

/// `torch.optim.RAdam` step on the GPU (see `crate::optim::radam_step`).
pub fn radam_step(params: &[Tensor], grads: &[Tensor], exp_avgs: &[Tensor], exp_avg_sqs: &[Tensor], steps: &[Tensor], o: &RadamOptions) -> Result<()> {
    let (_, preps) = prepare("radam_step", params, grads, &[("exp_avg", exp_avgs), ("exp_avg_sq", exp_avg_sqs)], &step_list(steps))?;
    let has_wd = o.weight_decay != 0.0;
    let w1 = c32(1.0 - o.beta1);
    let base = u32::from(o.maximize)
        | u32::from(has_wd && !o.decoupled_weight_decay) << 1
        | u32::from(has_wd && o.decoupled_weight_decay) << 2
        | u32::from(f64::from(w1).abs() < 0.5) << 4;
    let (mut flags, mut consts) = (Vec::new(), Vec::new());
    for st in steps {
        let (bc1, bc2_sqrt, rect) = crate::optim::radam_scalars(o, st);
        flags.push(base | u32::from(rect.is_some()) << 3);
        consts.push(vec![
            c32(o.weight_decay),
            c32(1.0 - o.lr * o.weight_decay),
            w1,
            1.0f32 - w1,
            c32(o.beta2),
            c32(1.0 - o.beta2),
            c32(bc1),
            c32(o.lr),
            c32(bc2_sqrt),
            c32(o.eps),
            c32(rect.unwrap_or(1.0)),
        ]);
    }
    launch("radam_main", &preps, &[0, 1], &flags, &consts)
}

/// `torch.optim.Adamax` step on the GPU (see `crate::optim::adamax_step`).
pub fn adamax_step(params: &[Tensor], grads: &[Tensor], exp_avgs: &[Tensor], exp_infs: &[Tensor], steps: &[Tensor], o: &AdamaxOptions) -> Result<()> {
    let (_, preps) = prepare("adamax_step", params, grads, &[("exp_avg", exp_avgs), ("exp_inf", exp_infs)], &step_list(steps))?;
    let w1 = c32(1.0 - o.beta1);
    let flags = u32::from(o.maximize) | u32::from(o.weight_decay != 0.0) << 1 | u32::from(f64::from(w1).abs() < 0.5) << 4;
    let consts: Vec<Vec<f32>> = steps
        .iter()
        .map(|st| {
            let clr = o.lr / (1.0 - o.beta1.powf(increment_step(st)));
            vec![c32(o.weight_decay), w1, 1.0f32 - w1, c32(o.beta2), c32(o.eps), c32(-clr)]
        })
        .collect();
    launch("adamax_main", &preps, &[0, 1], &vec![flags; params.len()], &consts)
}

/// `torch.optim.Adadelta` step on the GPU (see `crate::optim::adadelta_step`).
pub fn adadelta_step(params: &[Tensor], grads: &[Tensor], square_avgs: &[Tensor], acc_deltas: &[Tensor], steps: &[Tensor], o: &AdadeltaOptions) -> Result<()> {
    let (_, preps) = prepare("adadelta_step", params, grads, &[("square_avg", square_avgs), ("acc_delta", acc_deltas)], &step_list(steps))?;
    for st in steps {
        increment_step(st);
    }
    let flags = u32::from(o.maximize) | u32::from(o.weight_decay != 0.0) << 1;
    let c = vec![c32(o.weight_decay), c32(o.rho), c32(1.0 - o.rho), c32(o.eps), c32(-o.lr)];
    launch("adadelta_main", &preps, &[0, 1], &vec![flags; params.len()], &vec![c; params.len()])
}

/// `torch.optim.ASGD` step on the GPU (see `crate::optim::asgd_step`).
pub fn asgd_step(params: &[Tensor], grads: &[Tensor], axs: &[Tensor], etas: &[Tensor], mus: &[Tensor], steps: &[Tensor], o: &AsgdOptions) -> Result<()> {
    let scalars = [StateList { name: "step", tensors: steps }, StateList { name: "eta", tensors: etas }, StateList { name: "mu", tensors: mus }];
    let (_, preps) = prepare("asgd_step", params, grads, &[("ax", axs)], &scalars)?;
    let base = u32::from(o.maximize) | u32::from(o.weight_decay != 0.0) << 1;
    let (mut flags, mut consts) = (Vec::new(), Vec::new());
    for i in 0..params.len() {
        let (eta, mu) = crate::optim::asgd_scalars(o, &steps[i], &etas[i], &mus[i]);
        flags.push(base | u32::from(mu != 1.0) << 2);
        consts.push(vec![c32(o.weight_decay), c32(1.0 - o.lambd * eta), c32(-eta), c32(mu)]);
    }
    launch("asgd_main", &preps, &[0], &flags, &consts)
}

/// `torch.optim.Rprop` step on the GPU (see `crate::optim::rprop_step`).
pub fn rprop_step(params: &[Tensor], grads: &[Tensor], prevs: &[Tensor], step_sizes: &[Tensor], steps: &[Tensor], o: &RpropOptions) -> Result<()> {
    let (_, preps) = prepare("rprop_step", params, grads, &[("prev", prevs), ("step_size", step_sizes)], &step_list(steps))?;
    for st in steps {
        increment_step(st);
    }
    let c = vec![c32(o.etaminus), c32(o.etaplus), c32(o.step_size_min), c32(o.step_size_max)];
    launch("rprop_main", &preps, &[0, 1], &vec![u32::from(o.maximize); params.len()], &vec![c; params.len()])
}

/// `torch.optim.Adafactor` step on the GPU (see `crate::optim::adafactor_step`): one dispatch
/// of one workgroup per parameter, which makes the reductions over the whole parameter.
pub fn adafactor_step(params: &[Tensor], grads: &[Tensor], row_vars: &[Tensor], col_vars: &[Tensor], variances: &[Tensor], steps: &[Tensor], o: &AdafactorOptions) -> Result<()> {
    let moments = adafactor_states(params, grads, row_vars, col_vars, variances)?;
    check_scalars(params.len(), &step_list(steps))?;
    let dev = params[0].device();
    for (i, p) in params.iter().enumerate() {
        let (a, b) = moments[i];
        for t in [p, &grads[i], a].into_iter().chain(b) {
            if t.device() != dev {
                return Err(mixed(dev, t.device()));
            }
            if t.dtype() != DType::F32 {
                return Err(dtype_error("adafactor_step", t.dtype(), dev));
            }
            u32_of(t.storage().len(), "storage length")?;
        }
    }
    let ctx = context()?;
    let k = Kernel { shader: &OPTIM, entry: "adafactor_main", constants: &[], inputs: 1 };
    let unused = ctx.alloc(4)?;
    let written: Vec<&Tensor> = params.iter().chain(row_vars).chain(col_vars).chain(variances).collect();
    for (i, p) in params.iter().enumerate() {
        let (one_minus_beta2, rho) = adafactor_scalars(o, increment_step(&steps[i]));
        let n = p.numel();
        if n == 0 {
            continue;
        }
        let (first, cols) = moments[i];
        let (nb, r, c) = if cols.is_some() { factored_dims(p.shape()) } else { (1, 1, 1) };
        let g = &grads[i];
        let grad = if !g.is_contiguous() || written.iter().any(|t| t.same_storage(g)) { super::ops::contiguous(g)? } else { g.clone() };
        let means = ctx.alloc(4 * nb as u64)?;
        let w = c32(one_minus_beta2);
        let eps1 = o.eps1.unwrap_or(f64::from(f32::EPSILON));
        let flags = u32::from(o.maximize)
            | u32::from(o.weight_decay != 0.0) << 1
            | u32::from(cols.is_some()) << 2
            | u32::from(f64::from(w).abs() < 0.5) << 4;
        let consts = [w, 1.0f32 - w, c32(rho), c32(eps1), c32(eps1 * eps1), c32(o.eps2), c32(1.0 - o.lr * o.weight_decay), c32(o.d), c32((n as f64).powf(0.5))];
        let mut info = vec![0u32; 8 + consts.len() + 3];
        info[0] = u32_of(n, "element count")?;
        info[1] = flags;
        info[2] = u32_of(p.offset(), "offset")?;
        info[3] = u32_of(grad.offset(), "offset")?;
        info[4] = u32_of(first.offset(), "offset")?;
        info[5] = u32_of(cols.map_or(0, |t| t.offset()), "offset")?;
        for (j, v) in consts.iter().enumerate() {
            info[8 + j] = v.to_bits();
        }
        info[8 + consts.len()..].copy_from_slice(&[u32_of(nb, "batch")?, u32_of(r, "rows")?, u32_of(c, "cols")?]);
        let outs = [buf(p), buf(first), cols.map_or(unused.buffer(), buf), means.buffer()];
        ctx.dispatch_multi(&k, &[Some(buf(&grad))], &outs, &info, (1, 1, 1))?;
    }
    for t in written {
        t.storage().bump_version();
    }
    Ok(())
}
