//! The fused optimizer step as data: each optimizer's options (hyper-parameters, the same from
//! step to step), the host-side scalar arithmetic of one step (bias corrections and the like,
//! from the step count each backend reads from the state tensors when the step runs, so a
//! recorded step replays correctly) and the order of the operands in `Op::OptimStep`'s inputs.
use crate::tensor::Tensor;

op_kinds! {
    /// A fused optimizer step's update rule (PyTorch's optimizer of that name); kernels picked
    /// by entry point, so its codes are not emitted into the shaders.
    OptimKind, "OPTIM" {
        Sgd = 0, "sgd", None;
        Adam = 1, "adam", None;
        Rmsprop = 2, "rmsprop", None;
        Adagrad = 3, "adagrad", None;
        Nadam = 4, "nadam", None;
        Radam = 5, "radam", None;
        Adamax = 6, "adamax", None;
        Adadelta = 7, "adadelta", None;
        Asgd = 8, "asgd", None;
        Rprop = 9, "rprop", None;
        Adafactor = 10, "adafactor", None;
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

impl AdamOptions {
    /// `(lr / bias_correction1, sqrt(bias_correction2))` at `step`, as PyTorch computes them in Python.
    pub fn step_scalars(&self, step: f64) -> (f64, f64) {
        let bc1 = 1.0 - self.beta1.powf(step);
        let bc2 = 1.0 - self.beta2.powf(step);
        (self.lr / bc1, bc2.sqrt())
    }
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

impl AdagradOptions {
    /// The decayed learning rate at `step`.
    pub fn clr(&self, step: f64) -> f64 {
        self.lr / (1.0 + (step - 1.0) * self.lr_decay)
    }
}

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

impl NadamOptions {
    /// The momentum coefficient of `step`.
    pub fn mu(&self, step: f64) -> f64 {
        self.beta1 * (1.0 - 0.5 * 0.96f64.powf(step * self.momentum_decay))
    }

    /// `(bias_correction2, grad_scale, avg_scale)` at `step`, given the state 'mu_product'
    /// already multiplied by this step's `mu`.
    pub fn step_scalars(&self, step: f64, mu_product: f64) -> (f64, f64, f64) {
        let (mu, mu_next) = (self.mu(step), self.mu(step + 1.0));
        let bc2 = 1.0 - self.beta2.powf(step);
        (bc2, -self.lr * (1.0 - mu) / (1.0 - mu_product), (-self.lr * mu_next) / (1.0 - mu_product * mu_next))
    }
}

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

impl RadamOptions {
    /// `(bias_correction1, sqrt(bias_correction2), rect)` at `step`, `rect` `None` while the
    /// variance is intractable (rho_t <= 5).
    pub fn step_scalars(&self, step: f64) -> (f64, f64, Option<f64>) {
        let bc1 = 1.0 - self.beta1.powf(step);
        let bc2 = 1.0 - self.beta2.powf(step);
        let rho_inf = 2.0 / (1.0 - self.beta2) - 1.0;
        let rho_t = rho_inf - 2.0 * step * self.beta2.powf(step) / bc2;
        let rect = (rho_t > 5.0).then(|| ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)).powf(0.5));
        (bc1, bc2.powf(0.5), rect)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamaxOptions {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub maximize: bool,
}

impl AdamaxOptions {
    /// The bias-corrected learning rate at `step`.
    pub fn clr(&self, step: f64) -> f64 {
        self.lr / (1.0 - self.beta1.powf(step))
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdadeltaOptions {
    pub lr: f64,
    pub rho: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub maximize: bool,
}

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

impl AsgdOptions {
    /// The next step's `(eta, mu)` after `step`, rounded to the default dtype.
    pub fn next_eta_mu(&self, step: f64) -> (f64, f64) {
        let as_default = |v: f64| if self.default_float32 { f64::from(v as f32) } else { v };
        (as_default(self.lr / (1.0 + self.lambd * self.lr * step).powf(self.alpha)), as_default(1.0 / f64::max(1.0, step - self.t0)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RpropOptions {
    pub etaminus: f64,
    pub etaplus: f64,
    pub step_size_min: f64,
    pub step_size_max: f64,
    pub maximize: bool,
}

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

impl AdafactorOptions {
    /// `(1 - beta2_t, rho_t)` at `step`.
    pub fn step_scalars(&self, step: f64) -> (f64, f64) {
        (step.powf(self.beta2_decay), f64::min(self.lr, 1.0 / step.powf(0.5)))
    }
}

/// The (batch, rows, cols) of a parameter Adafactor factors (2 or more dims): its last two
/// dims and the product of the rest.
pub fn factored_dims(shape: &[usize]) -> (usize, usize, usize) {
    let k = shape.len();
    (shape[..k - 2].iter().product(), shape[k - 2], shape[k - 1])
}

/// One optimizer's hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimOptions {
    Sgd(SgdOptions),
    Adam(AdamOptions),
    Rmsprop(RmspropOptions),
    Adagrad(AdagradOptions),
    Nadam(NadamOptions),
    Radam(RadamOptions),
    Adamax(AdamaxOptions),
    Adadelta(AdadeltaOptions),
    Asgd(AsgdOptions),
    Rprop(RpropOptions),
    Adafactor(AdafactorOptions),
}

impl OptimOptions {
    pub fn kind(&self) -> OptimKind {
        match self {
            OptimOptions::Sgd(_) => OptimKind::Sgd,
            OptimOptions::Adam(_) => OptimKind::Adam,
            OptimOptions::Rmsprop(_) => OptimKind::Rmsprop,
            OptimOptions::Adagrad(_) => OptimKind::Adagrad,
            OptimOptions::Nadam(_) => OptimKind::Nadam,
            OptimOptions::Radam(_) => OptimKind::Radam,
            OptimOptions::Adamax(_) => OptimKind::Adamax,
            OptimOptions::Adadelta(_) => OptimKind::Adadelta,
            OptimOptions::Asgd(_) => OptimKind::Asgd,
            OptimOptions::Rprop(_) => OptimKind::Rprop,
            OptimOptions::Adafactor(_) => OptimKind::Adafactor,
        }
    }

    /// PyTorch's names of the state lists a step takes with these options, in input order: the
    /// scalar states first (`scalar_count` of them), then the element-wise ones.
    pub fn list_names(&self) -> &'static [&'static str] {
        match self {
            OptimOptions::Sgd(o) if o.momentum != 0.0 => &["momentum_buffer"],
            OptimOptions::Sgd(_) => &[],
            OptimOptions::Adam(o) if o.amsgrad => &["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
            OptimOptions::Adam(_) => &["step", "exp_avg", "exp_avg_sq"],
            OptimOptions::Rmsprop(o) => match (o.centered, o.momentum > 0.0) {
                (true, true) => &["step", "square_avg", "grad_avg", "momentum_buffer"],
                (true, false) => &["step", "square_avg", "grad_avg"],
                (false, true) => &["step", "square_avg", "momentum_buffer"],
                (false, false) => &["step", "square_avg"],
            },
            OptimOptions::Adagrad(_) => &["step", "sum"],
            OptimOptions::Nadam(_) => &["step", "mu_product", "exp_avg", "exp_avg_sq"],
            OptimOptions::Radam(_) => &["step", "exp_avg", "exp_avg_sq"],
            OptimOptions::Adamax(_) => &["step", "exp_avg", "exp_inf"],
            OptimOptions::Adadelta(_) => &["step", "square_avg", "acc_delta"],
            OptimOptions::Asgd(_) => &["step", "eta", "mu", "ax"],
            OptimOptions::Rprop(_) => &["step", "prev", "step_size"],
            OptimOptions::Adafactor(_) => &["step", "row_var", "col_var", "variance"],
        }
    }

    /// How many of `list_names` are scalar states: one-element CPU tensors per parameter, as
    /// PyTorch keeps them without `capturable`.
    pub fn scalar_count(&self) -> usize {
        match self {
            OptimOptions::Sgd(_) => 0,
            OptimOptions::Nadam(_) => 2,
            OptimOptions::Asgd(_) => 3,
            _ => 1,
        }
    }
}

/// The operands of one step over `n` parameters, split from `Op::OptimStep`'s flat inputs,
/// which are in this order: the `n` parameters, their `n` gradients, each scalar state list
/// (`n` tensors each, in `list_names` order), then the element-wise states: each list of
/// `list_names` (`n` tensors each) or, for Adafactor, per parameter in order its `variance`
/// (a parameter of fewer than 2 dims) or its `row_var` and `col_var`.
#[derive(Clone, Copy)]
pub struct OptimOperands<'t> {
    pub n: usize,
    pub params: &'t [&'t Tensor],
    pub grads: &'t [&'t Tensor],
    scalars: &'t [&'t Tensor],
    pub states: &'t [&'t Tensor],
}

impl<'t> OptimOperands<'t> {
    pub fn new(options: &OptimOptions, n: usize, inputs: &'t [&'t Tensor]) -> OptimOperands<'t> {
        let (params, rest) = inputs.split_at(n);
        let (grads, rest) = rest.split_at(n);
        let (scalars, states) = rest.split_at(n * options.scalar_count());
        OptimOperands { n, params, grads, scalars, states }
    }

    /// Scalar state list `k`.
    pub fn scalar(&self, k: usize) -> &'t [&'t Tensor] {
        &self.scalars[k * self.n..(k + 1) * self.n]
    }

    /// The element-wise state lists (not Adafactor's).
    pub fn state_lists(&self) -> Vec<&'t [&'t Tensor]> {
        self.states.chunks(self.n.max(1)).collect()
    }

    /// Adafactor's second-moment states of each parameter: `(row_var, Some(col_var))` for a
    /// parameter of 2 or more dims, `(variance, None)` for the others.
    pub fn adafactor_moments(&self) -> Vec<(&'t Tensor, Option<&'t Tensor>)> {
        let mut rest = self.states.iter();
        self.params
            .iter()
            .map_while(|p| {
                let first = *rest.next()?;
                Some(if p.ndim() > 1 { (first, Some(*rest.next()?)) } else { (first, None) })
            })
            .collect()
    }
}
