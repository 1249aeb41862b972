//! Bindings of the fused optimizer steps (`ferrograd_core::optim`): lists of tensors in,
//! in-place updates out, with the GIL released while the kernels run.
use super::{tensors, IntoPyResult};
use ferrograd_core::optim::{self, AdagradOptions, AdamOptions, RmspropOptions, SgdOptions};
use pyo3::prelude::*;

#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (params, grads, bufs, init, lr, momentum, dampening, weight_decay, nesterov, maximize))]
fn optim_sgd(
    py: Python<'_>,
    params: &Bound<'_, PyAny>,
    grads: &Bound<'_, PyAny>,
    bufs: &Bound<'_, PyAny>,
    init: Vec<bool>,
    lr: f64,
    momentum: f64,
    dampening: f64,
    weight_decay: f64,
    nesterov: bool,
    maximize: bool,
) -> PyResult<()> {
    let (p, g, b) = (tensors(params)?, tensors(grads)?, tensors(bufs)?);
    let o = SgdOptions { lr, momentum, dampening, weight_decay, nesterov, maximize };
    py.detach(|| optim::sgd_step(&p, &g, &b, &init, &o)).py()
}

#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay))]
fn optim_adam(
    py: Python<'_>,
    params: &Bound<'_, PyAny>,
    grads: &Bound<'_, PyAny>,
    exp_avgs: &Bound<'_, PyAny>,
    exp_avg_sqs: &Bound<'_, PyAny>,
    max_exp_avg_sqs: &Bound<'_, PyAny>,
    steps: &Bound<'_, PyAny>,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    amsgrad: bool,
    maximize: bool,
    decoupled_weight_decay: bool,
) -> PyResult<()> {
    let (p, g) = (tensors(params)?, tensors(grads)?);
    let (m, v, vmax, st) = (tensors(exp_avgs)?, tensors(exp_avg_sqs)?, tensors(max_exp_avg_sqs)?, tensors(steps)?);
    let o = AdamOptions { lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay };
    py.detach(|| optim::adam_step(&p, &g, &m, &v, &vmax, &st, &o)).py()
}

#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (params, grads, square_avgs, grad_avgs, momentum_bufs, steps, lr, alpha, eps, weight_decay, momentum, centered, maximize))]
fn optim_rmsprop(
    py: Python<'_>,
    params: &Bound<'_, PyAny>,
    grads: &Bound<'_, PyAny>,
    square_avgs: &Bound<'_, PyAny>,
    grad_avgs: &Bound<'_, PyAny>,
    momentum_bufs: &Bound<'_, PyAny>,
    steps: &Bound<'_, PyAny>,
    lr: f64,
    alpha: f64,
    eps: f64,
    weight_decay: f64,
    momentum: f64,
    centered: bool,
    maximize: bool,
) -> PyResult<()> {
    let (p, g) = (tensors(params)?, tensors(grads)?);
    let (sq, ga, mb, st) = (tensors(square_avgs)?, tensors(grad_avgs)?, tensors(momentum_bufs)?, tensors(steps)?);
    let o = RmspropOptions { lr, alpha, eps, weight_decay, momentum, centered, maximize };
    py.detach(|| optim::rmsprop_step(&p, &g, &sq, &ga, &mb, &st, &o)).py()
}

#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (params, grads, sums, steps, lr, lr_decay, weight_decay, eps, maximize))]
fn optim_adagrad(
    py: Python<'_>,
    params: &Bound<'_, PyAny>,
    grads: &Bound<'_, PyAny>,
    sums: &Bound<'_, PyAny>,
    steps: &Bound<'_, PyAny>,
    lr: f64,
    lr_decay: f64,
    weight_decay: f64,
    eps: f64,
    maximize: bool,
) -> PyResult<()> {
    let (p, g, s, st) = (tensors(params)?, tensors(grads)?, tensors(sums)?, tensors(steps)?);
    let o = AdagradOptions { lr, lr_decay, weight_decay, eps, maximize };
    py.detach(|| optim::adagrad_step(&p, &g, &s, &st, &o)).py()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(optim_sgd, m)?)?;
    m.add_function(wrap_pyfunction!(optim_adam, m)?)?;
    m.add_function(wrap_pyfunction!(optim_rmsprop, m)?)?;
    m.add_function(wrap_pyfunction!(optim_adagrad, m)?)?;
    Ok(())
}
