//! Binding of the fused optimizer step (`ferrograd_core::ops::optim`): one entry point that
//! takes a param group's tensors (state lists by PyTorch's state names) and its options as a
//! dict, updates them in place, and releases the GIL while the kernels run.
use super::{tensors, IntoPyResult};
use ferrograd_core::op::optim::{
    AdadeltaOptions, AdafactorOptions, AdagradOptions, AdamOptions, AdamaxOptions, AsgdOptions, NadamOptions, OptimOptions, RadamOptions, RmspropOptions,
    RpropOptions, SgdOptions,
};
use ferrograd_core::ops::optim;
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
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

/// One optimizer step over a param group. `kind` names the update rule ("sgd", "adam", ...);
/// `states` maps PyTorch's state names to one tensor per parameter (a state the options leave
/// unused may be missing); `fresh[i]` says parameter `i`'s state was created for this step
/// (SGD starts a new momentum buffer as the gradient); `options` holds the hyper-parameters
/// under the names of the kernel's options struct.
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
    let o = parse_options(kind, options)?;
    let (p, g) = (tensors(params)?, tensors(grads)?);
    // The lists in `list_names` order, found by one pass over the dict (no string is made).
    let names = o.list_names();
    let mut lists = vec![Vec::new(); names.len()];
    for (name, list) in states.iter() {
        let name = name.cast::<PyString>()?.to_str()?;
        if let Some(k) = names.iter().position(|n| *n == name) {
            lists[k] = tensors(&list)?;
        }
    }
    py.detach(|| optim::optim_step(&o, &p, &g, &lists, &fresh)).py()
}

/// The options of optimizer kernel `kind` from its options dict.
pub(crate) fn parse_options(kind: &str, options: &Bound<'_, PyDict>) -> PyResult<OptimOptions> {
    Ok(match kind {
        "sgd" => OptimOptions::Sgd(options!(options, SgdOptions { lr, momentum, dampening, weight_decay, nesterov, maximize })),
        "adam" => OptimOptions::Adam(options!(options, AdamOptions { lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay })),
        "rmsprop" => OptimOptions::Rmsprop(options!(options, RmspropOptions { lr, alpha, eps, weight_decay, momentum, centered, maximize })),
        "adagrad" => OptimOptions::Adagrad(options!(options, AdagradOptions { lr, lr_decay, weight_decay, eps, maximize })),
        "nadam" => OptimOptions::Nadam(options!(options, NadamOptions { lr, beta1, beta2, eps, weight_decay, momentum_decay, decoupled_weight_decay, maximize })),
        "radam" => OptimOptions::Radam(options!(options, RadamOptions { lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize })),
        "adamax" => OptimOptions::Adamax(options!(options, AdamaxOptions { lr, beta1, beta2, eps, weight_decay, maximize })),
        "adadelta" => OptimOptions::Adadelta(options!(options, AdadeltaOptions { lr, rho, eps, weight_decay, maximize })),
        "asgd" => OptimOptions::Asgd(options!(options, AsgdOptions { lr, lambd, alpha, t0, weight_decay, maximize, default_float32 })),
        "rprop" => OptimOptions::Rprop(options!(options, RpropOptions { etaminus, etaplus, step_size_min, step_size_max, maximize })),
        "adafactor" => OptimOptions::Adafactor(options!(options, AdafactorOptions { lr, beta2_decay, eps1, eps2, d, weight_decay, maximize })),
        _ => return Err(PyValueError::new_err(format!("unknown optimizer kernel '{kind}'"))),
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(optim_step, m)?)
}
