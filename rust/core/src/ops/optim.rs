//! The fused optimizer step (`Op::OptimStep`): the checks of a param group's lists (counts,
//! devices, dtypes, shapes, memory sharing), then one dispatch that updates every parameter and
//! its states in place. No autograd: an optimizer step is not differentiable.
use crate::device::Device;
use crate::error::{Error, Result};
use crate::op::optim::{factored_dims, OptimOptions};
use crate::op::{mixed, Op};
use crate::ops::dispatch;
use crate::tensor::Tensor;

/// One optimizer step over a param group, updating `params` and the states in place.
/// `lists[k]` is the state list named `options.list_names()[k]`, one tensor per parameter (an
/// Adafactor state only for the parameters that use it, in order); `fresh[i]` says parameter
/// `i`'s states were created for this step.
pub fn optim_step(options: &OptimOptions, params: &[Tensor], grads: &[Tensor], lists: &[Vec<Tensor>], fresh: &[bool]) -> Result<()> {
    let n = params.len();
    let names = options.list_names();
    if grads.len() != n {
        return Err(Error::Value(format!("optimizer step got {} params but {} grads", n, grads.len())));
    }
    if lists.len() != names.len() {
        return Err(Error::Value(format!("{} step takes the state lists {names:?}, got {} lists", options.kind().name(), lists.len())));
    }
    if matches!(options, OptimOptions::Sgd(o) if o.momentum != 0.0) && fresh.len() != n {
        return Err(Error::Value("sgd_step: one init flag per momentum buffer is needed".into()));
    }
    let (scalar_lists, state_lists) = lists.split_at(options.scalar_count());
    for (name, list) in names.iter().zip(scalar_lists) {
        check_scalars(name, list, n)?;
    }
    let device = params.first().map_or(Device::Cpu, |p| p.device());
    for (i, (p, g)) in params.iter().zip(grads).enumerate() {
        check_float(p, "parameters")?;
        if !p.is_contiguous() {
            return Err(Error::Value(format!("optimizer parameter {i} (shape {:?}) must be contiguous", p.shape())));
        }
        check_float(g, "gradients")?;
        if g.numel() != p.numel() {
            return Err(Error::Shape(format!("gradient of shape {:?} does not match parameter {i} of shape {:?}", g.shape(), p.shape())));
        }
        for t in [p, g] {
            if t.device() != device {
                return Err(mixed(device, t.device()));
            }
        }
    }
    let mut inputs: Vec<&Tensor> = Vec::with_capacity(n * (2 + names.len()));
    inputs.extend(params.iter().chain(grads).chain(scalar_lists.iter().flatten()));
    if let OptimOptions::Adafactor(_) = options {
        adafactor_states(params, state_lists, &mut inputs)?;
    } else {
        elementwise_states(&names[scalar_lists.len()..], params, state_lists)?;
        inputs.extend(state_lists.iter().flatten());
    }
    dispatch::run(&Op::OptimStep { options: *options, params: n, fresh }, &inputs)?;
    Ok(())
}

/// Checks the element-wise state lists (`names`, one tensor per parameter, each like its
/// parameter) and that no two tensors one parameter's update writes share memory.
fn elementwise_states(names: &[&str], params: &[Tensor], lists: &[Vec<Tensor>]) -> Result<()> {
    for (name, list) in names.iter().zip(lists) {
        if list.len() != params.len() {
            return Err(Error::Value(format!("optimizer step got {} params but {} '{name}' state tensors", params.len(), list.len())));
        }
        for (i, (t, p)) in list.iter().zip(params).enumerate() {
            check_state(name, i, t, p, p.numel())?;
        }
    }
    for (i, p) in params.iter().enumerate() {
        let shared = lists.iter().enumerate().any(|(k, a)| a[i].same_storage(p) || lists[k + 1..].iter().any(|b| a[i].same_storage(&b[i])));
        if shared {
            return Err(Error::Value(format!("optimizer state of parameter {i} shares memory with the parameter or another state")));
        }
    }
    Ok(())
}

fn check_float(t: &Tensor, what: &str) -> Result<()> {
    if !t.dtype().is_float() {
        return Err(Error::Runtime(format!("optimizer {what} must be float32 or float64, got {}", t.dtype())));
    }
    Ok(())
}

/// A state of parameter `i` the step writes: on its device, in its dtype, contiguous, `numel` elements.
fn check_state(name: &str, i: usize, t: &Tensor, p: &Tensor, numel: usize) -> Result<()> {
    if t.device() != p.device() {
        return Err(mixed(p.device(), t.device()));
    }
    if t.dtype() != p.dtype() {
        return Err(Error::DType(format!("optimizer state '{name}' of parameter {i} is {} but the parameter is {}", t.dtype(), p.dtype())));
    }
    if !t.is_contiguous() {
        return Err(Error::Value(format!("optimizer state '{name}' of parameter {i} must be contiguous")));
    }
    if t.numel() != numel {
        return Err(Error::Shape(format!(
            "optimizer state '{name}' of shape {:?} does not match parameter {i} of shape {:?} ({numel} elements expected)",
            t.shape(),
            p.shape()
        )));
    }
    Ok(())
}

/// The per-parameter scalar states ('step', NAdam's 'mu_product', ASGD's 'eta' and 'mu'): one
/// one-element float tensor on the CPU per parameter, as PyTorch keeps them without `capturable`.
fn check_scalars(name: &str, list: &[Tensor], n: usize) -> Result<()> {
    if list.len() != n {
        return Err(Error::Value(format!("optimizer step got {n} params but {} '{name}' tensors", list.len())));
    }
    for (i, t) in list.iter().enumerate() {
        if t.device().is_gpu() {
            return Err(Error::NotImplemented(format!(
                "optimizer state '{name}' of parameter {i} is on {}: it must stay on the CPU (as in PyTorch without capturable=True)",
                t.device()
            )));
        }
        if !t.dtype().is_float() || t.numel() != 1 {
            return Err(Error::Value(format!(
                "optimizer state '{name}' of parameter {i} must be a one-element float tensor, got {} of shape {:?}",
                t.dtype(),
                t.shape()
            )));
        }
    }
    Ok(())
}

/// Checks Adafactor's states (`lists`: 'row_var', 'col_var', 'variance') and appends them to
/// `inputs` per parameter: `row_var, col_var` for a parameter of 2 or more dims, else `variance`.
fn adafactor_states<'t>(params: &[Tensor], lists: &'t [Vec<Tensor>], inputs: &mut Vec<&'t Tensor>) -> Result<()> {
    let (row_vars, col_vars, variances) = (&lists[0], &lists[1], &lists[2]);
    let n_factored = params.iter().filter(|p| p.ndim() > 1).count();
    let n_full = params.len() - n_factored;
    if row_vars.len() != n_factored || col_vars.len() != n_factored || variances.len() != n_full {
        return Err(Error::Value(format!(
            "Adafactor step got {n_factored} parameters of 2+ dims with {} 'row_var' and {} 'col_var' tensors, and {n_full} others with {} 'variance' tensors",
            row_vars.len(),
            col_vars.len(),
            variances.len()
        )));
    }
    let (mut rows, mut cols, mut vars) = (row_vars.iter(), col_vars.iter(), variances.iter());
    for (i, p) in params.iter().enumerate() {
        if p.ndim() > 1 {
            let (b, nr, nc) = factored_dims(p.shape());
            let (r, c) = (rows.next().expect("counted"), cols.next().expect("counted"));
            check_state("row_var", i, r, p, b * nr)?;
            check_state("col_var", i, c, p, b * nc)?;
            inputs.extend([r, c]);
        } else {
            let v = vars.next().expect("counted");
            check_state("variance", i, v, p, p.numel())?;
            inputs.push(v);
        }
    }
    let written: Vec<&Tensor> = params.iter().chain(lists.iter().flatten()).collect();
    if written.iter().enumerate().any(|(a, x)| written[a + 1..].iter().any(|y| x.same_storage(y))) {
        return Err(Error::Value("Adafactor parameters and states must not share memory".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::op::optim::{AdamOptions, AsgdOptions, NadamOptions, RpropOptions, SgdOptions};

    fn sgd_step(params: &[Tensor], grads: &[Tensor], bufs: &[Tensor], init: &[bool], o: &SgdOptions) -> Result<()> {
        let lists = if o.momentum != 0.0 { vec![bufs.to_vec()] } else { vec![] };
        optim_step(&OptimOptions::Sgd(*o), params, grads, &lists, init)
    }

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
        optim_step(&OptimOptions::Adam(o), &[p.clone()], &[g], &[vec![st.clone()], vec![m], vec![v]], &[]).unwrap();
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
        optim_step(&OptimOptions::Rprop(o), &[p.clone()], &[g], &[vec![st], vec![prev.clone()], vec![size.clone()]], &[]).unwrap();
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
        optim_step(&OptimOptions::Asgd(o), &[p.clone()], &[g], &[vec![st], vec![eta.clone()], vec![mu.clone()], vec![ax.clone()]], &[]).unwrap();
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
        let err = optim_step(&OptimOptions::Nadam(o), &[p.clone()], &[g], &[vec![Tensor::scalar(0.0f32)], vec![p.clone()], vec![m], vec![v]], &[]);
        assert!(err.is_err());
        assert_eq!(p.to_vec::<f32>(), vec![0.0, 0.0]);
    }

    #[test]
    fn one_op_replays_every_step() {
        // A recorded step replays the same `Op`: the step count, and so the bias corrections,
        // must come from the state tensors when it runs. Adam with a constant gradient moves
        // each element by lr * sign(g) per step once bias-corrected (eps aside); a step count
        // stuck at 1 would move the second step by 1.9 / sqrt(1.999) * lr instead.
        let o = AdamOptions { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-12, weight_decay: 0.0, amsgrad: false, maximize: false, decoupled_weight_decay: false };
        let p = Tensor::from_vec(vec![1.0f64, -2.0], &[2]).unwrap();
        let g = Tensor::from_vec(vec![0.5f64, -0.25], &[2]).unwrap();
        let (m, v, step) = (Tensor::zeros(&[2], DType::F64).unwrap(), Tensor::zeros(&[2], DType::F64).unwrap(), Tensor::scalar(0.0f32));
        let op = Op::OptimStep { options: OptimOptions::Adam(o), params: 1, fresh: &[] };
        for _ in 0..2 {
            dispatch::run(&op, &[&p, &g, &step, &m, &v]).unwrap();
        }
        assert_eq!(step.item::<f32>().unwrap(), 2.0);
        let out = p.to_vec::<f64>();
        assert!((out[0] - 0.8).abs() < 1e-9 && (out[1] + 1.8).abs() < 1e-9, "{out:?}");
    }
}
