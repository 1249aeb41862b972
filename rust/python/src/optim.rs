//! Binding of the fused optimizer steps (`ferrograd_core::optim`): one entry point that takes a
//! param group's tensors (state lists by PyTorch's state names) and its options as a dict,
//! updates them in place, and releases the GIL while the kernels run.
use super::{tensors, IntoPyResult};
use ferrograd_core::optim::{
    self, AdadeltaOptions, AdafactorOptions, AdagradOptions, AdamOptions, AdamaxOptions, AsgdOptions, NadamOptions, RadamOptions,
    RmspropOptions, RpropOptions, SgdOptions,
};
use ferrograd_core::Tensor;
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::intern;
use pyo3::types::{PyDict, PyString};

/// The option `key` of an optimizer's options dict.
fn option<'py>(options: &Bound<'py, PyDict>, key: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyAny>> {
    options.get_item(key)?.ok_or_else(|| PyKeyError::new_err(format!("optimizer option '{key}' is missing")))
}

/// Builds an options struct from the dict entries named as its fields (the keys are interned
/// Python strings: this runs on every step).
macro_rules! options {
    ($dict:expr, $S:ident { $($field:ident),* $(,)? }) => {
        $S { $($field: option($dict, intern!($dict.py(), stringify!($field)))?.extract()?),* }
    };
}

/// The state list `name` (empty when the dict has none: a state the options leave unused).
fn state(states: &Bound<'_, PyDict>, name: &Bound<'_, PyString>) -> PyResult<Vec<Tensor>> {
    match states.get_item(name)? {
        Some(list) => tensors(&list),
        None => Ok(Vec::new()),
    }
}

/// One optimizer step over a param group. `kind` names the update rule ("sgd", "adam", ...);
/// `states` maps PyTorch's state names to one tensor per parameter; `fresh[i]` says parameter
/// `i`'s state was created for this step (SGD starts a new momentum buffer as the gradient);
/// `options` holds the hyper-parameters under the names of the kernel's options struct.
#[pyfunction]
fn optim_step(
    py: Python<'_>,
    kind: &str,
    params: &Bound<'_, PyAny>,
    grads: &Bound<'_, PyAny>,
    states: &Bound<'_, PyDict>,
    fresh: Vec<bool>,
    options: &Bound<'_, PyDict>,
) -> PyResult<()> {
    let (p, g) = (tensors(params)?, tensors(grads)?);
    let s = |name: &Bound<'_, PyString>| state(states, name);
    match kind {
        "sgd" => {
            let o = options!(options, SgdOptions { lr, momentum, dampening, weight_decay, nesterov, maximize });
            let b = s(intern!(py, "momentum_buffer"))?;
            py.detach(|| optim::sgd_step(&p, &g, &b, &fresh, &o)).py()
        }
        "adam" => {
            let o = options!(options, AdamOptions { lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay });
            let (m, v, vmax, st) = (s(intern!(py, "exp_avg"))?, s(intern!(py, "exp_avg_sq"))?, s(intern!(py, "max_exp_avg_sq"))?, s(intern!(py, "step"))?);
            py.detach(|| optim::adam_step(&p, &g, &m, &v, &vmax, &st, &o)).py()
        }
        "rmsprop" => {
            let o = options!(options, RmspropOptions { lr, alpha, eps, weight_decay, momentum, centered, maximize });
            let (sq, ga, mb, st) = (s(intern!(py, "square_avg"))?, s(intern!(py, "grad_avg"))?, s(intern!(py, "momentum_buffer"))?, s(intern!(py, "step"))?);
            py.detach(|| optim::rmsprop_step(&p, &g, &sq, &ga, &mb, &st, &o)).py()
        }
        "adagrad" => {
            let o = options!(options, AdagradOptions { lr, lr_decay, weight_decay, eps, maximize });
            let (sums, st) = (s(intern!(py, "sum"))?, s(intern!(py, "step"))?);
            py.detach(|| optim::adagrad_step(&p, &g, &sums, &st, &o)).py()
        }
        "nadam" => {
            let o = options!(options, NadamOptions { lr, beta1, beta2, eps, weight_decay, momentum_decay, decoupled_weight_decay, maximize });
            let (m, v, mp, st) = (s(intern!(py, "exp_avg"))?, s(intern!(py, "exp_avg_sq"))?, s(intern!(py, "mu_product"))?, s(intern!(py, "step"))?);
            py.detach(|| optim::nadam_step(&p, &g, &m, &v, &mp, &st, &o)).py()
        }
        "radam" => {
            let o = options!(options, RadamOptions { lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize });
            let (m, v, st) = (s(intern!(py, "exp_avg"))?, s(intern!(py, "exp_avg_sq"))?, s(intern!(py, "step"))?);
            py.detach(|| optim::radam_step(&p, &g, &m, &v, &st, &o)).py()
        }
        "adamax" => {
            let o = options!(options, AdamaxOptions { lr, beta1, beta2, eps, weight_decay, maximize });
            let (m, u, st) = (s(intern!(py, "exp_avg"))?, s(intern!(py, "exp_inf"))?, s(intern!(py, "step"))?);
            py.detach(|| optim::adamax_step(&p, &g, &m, &u, &st, &o)).py()
        }
        "adadelta" => {
            let o = options!(options, AdadeltaOptions { lr, rho, eps, weight_decay, maximize });
            let (sq, acc, st) = (s(intern!(py, "square_avg"))?, s(intern!(py, "acc_delta"))?, s(intern!(py, "step"))?);
            py.detach(|| optim::adadelta_step(&p, &g, &sq, &acc, &st, &o)).py()
        }
        "asgd" => {
            let o = options!(options, AsgdOptions { lr, lambd, alpha, t0, weight_decay, maximize, default_float32 });
            let (ax, eta, mu, st) = (s(intern!(py, "ax"))?, s(intern!(py, "eta"))?, s(intern!(py, "mu"))?, s(intern!(py, "step"))?);
            py.detach(|| optim::asgd_step(&p, &g, &ax, &eta, &mu, &st, &o)).py()
        }
        "rprop" => {
            let o = options!(options, RpropOptions { etaminus, etaplus, step_size_min, step_size_max, maximize });
            let (prev, size, st) = (s(intern!(py, "prev"))?, s(intern!(py, "step_size"))?, s(intern!(py, "step"))?);
            py.detach(|| optim::rprop_step(&p, &g, &prev, &size, &st, &o)).py()
        }
        "adafactor" => {
            let o = options!(options, AdafactorOptions { lr, beta2_decay, eps1, eps2, d, weight_decay, maximize });
            let (rows, cols, var, st) = (s(intern!(py, "row_var"))?, s(intern!(py, "col_var"))?, s(intern!(py, "variance"))?, s(intern!(py, "step"))?);
            py.detach(|| optim::adafactor_step(&p, &g, &rows, &cols, &var, &st, &o)).py()
        }
        _ => Err(PyValueError::new_err(format!("unknown optimizer kernel '{kind}'"))),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(optim_step, m)?)
}
