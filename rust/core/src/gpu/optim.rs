//! Fused optimizer steps on the GPU (`shaders/optim.wgsl`): the same update rules, operation
//! order and host-side scalar arithmetic as the CPU kernels in `cpu::optim`, one dispatch per
//! parameter, all recorded into the runtime's batched encoder (so one param group is one batch
//! of dispatches, submitted together).
//!
//! Parameters, gradients and state tensors live on the GPU (float32); the scalar states (step
//! counts, ...) stay one-element CPU tensors, as in PyTorch without `capturable`, and are
//! advanced by the CPU's host-side code (`cpu::optim`).
use super::runtime::{context, Kernel};
use super::Shader;
use crate::cpu::optim::{asgd_scalars, increment_step, nadam_scalars};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::optim::{factored_dims, AdafactorOptions, OptimOperands};
use crate::op::{no_kernel, Op, OptimOptions};
use crate::tensor::Tensor;

pub static OPTIM: Shader = Shader { name: "optim", body: include_str!("../../../../shaders/optim.wgsl") };

const WG: usize = 256;

fn u32_of(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::NotImplemented(format!("GPU optimizer kernels index with 32 bits: {what} {v} is too large")))
}

/// The tensors of one parameter's update: the gradient (read) and the written tensors
/// (the parameter, then its states).
struct Prepared {
    grad: Tensor,
    written: Vec<Tensor>,
}

/// Checks what the GPU kernels take: float32 tensors in 32-bit indexable buffers.
fn check(options: &OptimOptions, fresh: &[bool], x: &OptimOperands<'_>) -> Result<()> {
    for t in x.params.iter().chain(x.grads).chain(x.states) {
        if t.dtype() != DType::F32 {
            return Err(no_kernel(&Op::OptimStep { options: *options, params: x.n, fresh }, t.dtype(), t.device()));
        }
        u32_of(t.storage().len(), "storage length")?;
    }
    Ok(())
}

/// A gradient the kernel can read: contiguous, and a copy when it shares memory with a tensor
/// the step writes (the CPU also copies such gradients before any update).
fn readable_grad(x: &OptimOperands<'_>, g: &Tensor) -> Result<Tensor> {
    let aliased = x.params.iter().chain(x.states).any(|t| t.same_storage(g));
    if aliased || !g.is_contiguous() {
        super::ops::contiguous(g)
    } else {
        Ok(g.clone())
    }
}

/// Each parameter's gradient and written tensors (the parameter, then its element-wise states).
fn prepare(x: &OptimOperands<'_>) -> Result<Vec<Prepared>> {
    let lists = x.state_lists();
    (0..x.n)
        .map(|i| {
            let written = std::iter::once(x.params[i]).chain(lists.iter().map(|l| l[i])).cloned().collect();
            Ok(Prepared { grad: readable_grad(x, x.grads[i])?, written })
        })
        .collect()
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

/// The flag bits and first constants of the Adam-family kernels (`adam_moments` in the shader):
/// maximize, coupled and decoupled weight decay, the lerp form; wd, decay, w1, 1 - w1, b2, 1 - b2.
fn adam_family(maximize: bool, lr: f64, weight_decay: f64, decoupled: bool, beta1: f64, beta2: f64) -> (u32, [f32; 6]) {
    let has_wd = weight_decay != 0.0;
    let w1 = c32(1.0 - beta1);
    let flags = u32::from(maximize) | u32::from(has_wd && !decoupled) << 1 | u32::from(has_wd && decoupled) << 2 | u32::from(f64::from(w1).abs() < 0.5) << 4;
    (flags, [c32(weight_decay), c32(1.0 - lr * weight_decay), w1, 1.0f32 - w1, c32(beta2), c32(1.0 - beta2)])
}

/// One fused optimizer step on the GPU over the operands of `Op::OptimStep` (checked by
/// `ops::optim`).
pub fn optim_step(options: &OptimOptions, fresh: &[bool], x: &OptimOperands<'_>) -> Result<()> {
    check(options, fresh, x)?;
    // Adafactor's states are laid out per parameter (its kernel reads them itself).
    let preps = if matches!(options, OptimOptions::Adafactor(_)) { Vec::new() } else { prepare(x)? };
    let steps = || x.scalar(0).iter();
    let n = x.n;
    match options {
        OptimOptions::Sgd(o) => {
            let mom = o.momentum != 0.0;
            let base = u32::from(o.maximize) | u32::from(o.weight_decay != 0.0) << 1 | u32::from(mom) << 2 | u32::from(o.nesterov) << 4;
            let flags: Vec<u32> = (0..n).map(|i| base | u32::from(mom && fresh[i]) << 3).collect();
            let c = vec![c32(o.weight_decay), c32(o.momentum), c32(1.0 - o.dampening), c32(-o.lr)];
            launch("sgd_main", &preps, &[0, 1, 2], &flags, &vec![c; n])
        }
        OptimOptions::Adam(o) => {
            let (base, head) = adam_family(o.maximize, o.lr, o.weight_decay, o.decoupled_weight_decay, o.beta1, o.beta2);
            let flags = base | u32::from(o.amsgrad) << 3;
            let consts: Vec<Vec<f32>> = steps()
                .map(|st| {
                    let (step_size, bc2_sqrt) = o.step_scalars(increment_step(st));
                    [head.as_slice(), &[c32(bc2_sqrt), c32(o.eps), c32(-step_size)]].concat()
                })
                .collect();
            launch("adam_main", &preps, &[0, 1, 2], &vec![flags; n], &consts)
        }
        OptimOptions::Rmsprop(o) => {
            // The kernel reads the momentum buffer from slot s2 also when there is no grad_avg.
            let slots: &[usize] = if o.centered { &[0, 1, 2] } else { &[0, 2] };
            steps().for_each(|st| {
                increment_step(st);
            });
            let w = c32(1.0 - o.alpha);
            let flags = u32::from(o.maximize)
                | u32::from(o.weight_decay != 0.0) << 1
                | u32::from(o.centered) << 2
                | u32::from(o.momentum > 0.0) << 3
                | u32::from(f64::from(w).abs() < 0.5) << 4;
            let c = vec![c32(o.weight_decay), c32(o.alpha), w, 1.0f32 - w, c32(o.eps), c32(o.momentum), c32(-o.lr)];
            launch("rmsprop_main", &preps, slots, &vec![flags; n], &vec![c; n])
        }
        OptimOptions::Adagrad(o) => {
            let flags = u32::from(o.maximize) | u32::from(o.weight_decay != 0.0) << 1;
            let consts: Vec<Vec<f32>> = steps().map(|st| vec![c32(o.weight_decay), c32(o.eps), c32(-o.clr(increment_step(st)))]).collect();
            launch("adagrad_main", &preps, &[0, 1, 2], &vec![flags; n], &consts)
        }
        OptimOptions::Nadam(o) => {
            let (flags, head) = adam_family(o.maximize, o.lr, o.weight_decay, o.decoupled_weight_decay, o.beta1, o.beta2);
            let consts: Vec<Vec<f32>> = steps()
                .zip(x.scalar(1))
                .map(|(st, mp)| {
                    let (bc2, grad_scale, avg_scale) = nadam_scalars(o, st, mp);
                    [head.as_slice(), &[c32(bc2), c32(o.eps), c32(grad_scale), c32(avg_scale)]].concat()
                })
                .collect();
            launch("nadam_main", &preps, &[0, 1], &vec![flags; n], &consts)
        }
        OptimOptions::Radam(o) => {
            let (base, head) = adam_family(o.maximize, o.lr, o.weight_decay, o.decoupled_weight_decay, o.beta1, o.beta2);
            let (mut flags, mut consts) = (Vec::new(), Vec::new());
            for st in steps() {
                let (bc1, bc2_sqrt, rect) = o.step_scalars(increment_step(st));
                flags.push(base | u32::from(rect.is_some()) << 3);
                consts.push([head.as_slice(), &[c32(bc1), c32(o.lr), c32(bc2_sqrt), c32(o.eps), c32(rect.unwrap_or(1.0))]].concat());
            }
            launch("radam_main", &preps, &[0, 1], &flags, &consts)
        }
        OptimOptions::Adamax(o) => {
            let w1 = c32(1.0 - o.beta1);
            let flags = u32::from(o.maximize) | u32::from(o.weight_decay != 0.0) << 1 | u32::from(f64::from(w1).abs() < 0.5) << 4;
            let consts: Vec<Vec<f32>> =
                steps().map(|st| vec![c32(o.weight_decay), w1, 1.0f32 - w1, c32(o.beta2), c32(o.eps), c32(-o.clr(increment_step(st)))]).collect();
            launch("adamax_main", &preps, &[0, 1], &vec![flags; n], &consts)
        }
        OptimOptions::Adadelta(o) => {
            steps().for_each(|st| {
                increment_step(st);
            });
            let flags = u32::from(o.maximize) | u32::from(o.weight_decay != 0.0) << 1;
            let c = vec![c32(o.weight_decay), c32(o.rho), c32(1.0 - o.rho), c32(o.eps), c32(-o.lr)];
            launch("adadelta_main", &preps, &[0, 1], &vec![flags; n], &vec![c; n])
        }
        OptimOptions::Asgd(o) => {
            let base = u32::from(o.maximize) | u32::from(o.weight_decay != 0.0) << 1;
            let (mut flags, mut consts) = (Vec::new(), Vec::new());
            for i in 0..n {
                let (eta, mu) = asgd_scalars(o, x.scalar(0)[i], x.scalar(1)[i], x.scalar(2)[i]);
                flags.push(base | u32::from(mu != 1.0) << 2);
                consts.push(vec![c32(o.weight_decay), c32(1.0 - o.lambd * eta), c32(-eta), c32(mu)]);
            }
            launch("asgd_main", &preps, &[0], &flags, &consts)
        }
        OptimOptions::Rprop(o) => {
            steps().for_each(|st| {
                increment_step(st);
            });
            let c = vec![c32(o.etaminus), c32(o.etaplus), c32(o.step_size_min), c32(o.step_size_max)];
            launch("rprop_main", &preps, &[0, 1], &vec![u32::from(o.maximize); n], &vec![c; n])
        }
        OptimOptions::Adafactor(o) => adafactor(x, o),
    }
}

/// `torch.optim.Adafactor` step on the GPU: one dispatch of one workgroup per parameter, which
/// makes the reductions over the whole parameter.
fn adafactor(x: &OptimOperands<'_>, o: &AdafactorOptions) -> Result<()> {
    let moments = x.adafactor_moments();
    let ctx = context()?;
    let k = Kernel { shader: &OPTIM, entry: "adafactor_main", constants: &[], inputs: 1 };
    let unused = ctx.alloc(4)?;
    for (i, &p) in x.params.iter().enumerate() {
        let (one_minus_beta2, rho) = o.step_scalars(increment_step(x.scalar(0)[i]));
        let n = p.numel();
        if n == 0 {
            continue;
        }
        let (first, cols) = moments[i];
        let (nb, r, c) = if cols.is_some() { factored_dims(p.shape()) } else { (1, 1, 1) };
        let grad = readable_grad(x, x.grads[i])?;
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
    for t in x.params.iter().chain(x.states) {
        t.storage().bump_version();
    }
    Ok(())
}
