//! Reductions (sum, mean, prod, max/min and arg versions, var/std, logsumexp, norm, any/all)
//! and scans (cumsum, cumprod): argument checks, the dtype plan, one kernel call each
//! (`Op::Reduce`, `Op::ArgReduce`, `Op::Scan`) and the backward rules.
use crate::autograd::Recorder;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layout::wrap_dim;
use crate::op::{Extremum, Op, ReduceOp, ScanOp};
use crate::ops::dispatch::run1;
use crate::ops::{BinaryOp, UnaryOp};
use crate::tensor::Tensor;

/// Normalised reduction dims (sorted, unique); None means all dims.
pub fn reduce_dims(dims: Option<&[i64]>, ndim: usize) -> Result<Vec<usize>> {
    let mut out = match dims {
        None => (0..ndim).collect(),
        Some(ds) => ds.iter().map(|&d| wrap_dim(d, ndim)).collect::<Result<Vec<_>>>()?,
    };
    if ndim == 0 {
        // A 0-d tensor reduces over nothing; dims 0 and -1 are accepted as in PyTorch.
        return Ok(vec![]);
    }
    out.sort();
    let len = out.len();
    out.dedup();
    if out.len() != len {
        return Err(Error::Shape("dim appears multiple times in the list of dims".into()));
    }
    Ok(out)
}

/// amax/amin of nothing: RuntimeError for a full reduction, IndexError for a named empty dim
/// (PyTorch's types).
fn check_nonempty(x: &Tensor, dims: Option<&[i64]>, reduced: &[usize], name: &str) -> Result<()> {
    if x.numel() == 0 && (dims.is_none() || x.ndim() == 0) {
        return Err(Error::Runtime(format!(
            "{name}(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument."
        )));
    }
    if let Some(&d) = reduced.iter().find(|&&d| x.shape()[d] == 0) {
        return Err(Error::Index(format!("{name}(): Expected reduction dim {d} to have non-zero size.")));
    }
    Ok(())
}

impl Tensor {
    pub fn sum_dims(&self, dims: &[i64], keepdim: bool) -> Result<Tensor> {
        self.sum(Some(dims), keepdim)
    }

    /// `sum(dim=None|dims, keepdim)`; integer and bool inputs sum to int64.
    pub fn sum(&self, dims: Option<&[i64]>, keepdim: bool) -> Result<Tensor> {
        self.sum_or_prod(ReduceOp::Sum, dims, keepdim)
    }

    /// `sum` or `prod` over `dims` (all when None, named `...Backward0` as in PyTorch):
    /// integer and bool inputs reduce in int64.
    fn sum_or_prod(&self, op: ReduceOp, dims: Option<&[i64]>, keepdim: bool) -> Result<Tensor> {
        // An explicit empty list reduces every dim too (PyTorch's dim=()), named as a dim list.
        let ds = reduce_dims(dims.filter(|d| !d.is_empty()), self.ndim())?;
        let out = if self.dtype().is_float() {
            run1(&Op::Reduce { op, dims: &ds, keepdim }, &[self])?
        } else {
            run1(&Op::Reduce { op, dims: &ds, keepdim }, &[&self.cast_plain(DType::I64)?])?
        };
        let grad_fn = match (op, dims) {
            (ReduceOp::Sum, None) => "SumBackward0",
            (ReduceOp::Prod, None) => "ProdBackward0",
            _ => op.grad_fn_name().unwrap_or("SumBackward1"),
        };
        let Some(mut rec) = Recorder::new(grad_fn, &[self]) else { return Ok(out) };
        let src = self.shape().to_vec();
        if op == ReduceOp::Sum {
            return Ok(rec.finish(out, false, move |_, g| Ok(vec![Some(expand_reduced(g, &src, &ds, keepdim)?)])));
        }
        rec.save(self);
        Ok(rec.finish(out, false, move |ctx, g| {
            // d prod / d x_i = product of the others: exclusive products from both sides, so
            // zeros are handled and the rule stays differentiable.
            let x = ctx.saved(0)?;
            let n = x.ndim();
            let mut order: Vec<i64> = (0..n).filter(|d| !ds.contains(d)).map(|d| d as i64).collect();
            order.extend(ds.iter().map(|&d| d as i64));
            let kept: Vec<usize> = order[..n - ds.len()].iter().map(|&d| src[d as usize]).collect();
            let k: usize = ds.iter().map(|&d| src[d]).product();
            let mut flat_shape = kept.clone();
            flat_shape.push(k);
            let flat = x.permute(&order)?.reshape_usize(&flat_shape)?;
            let last = flat_shape.len() as i64 - 1;
            let left = exclusive_cumprod(&flat, last)?;
            let right = exclusive_cumprod(&flat.flip(&[last])?, last)?.flip(&[last])?;
            let mut gk = expand_reduced(g, &src, &ds, keepdim)?.permute(&order)?.reshape_usize(&flat_shape)?;
            gk = gk.mul(&left)?.mul(&right)?;
            let mut moved_shape = kept;
            moved_shape.extend(ds.iter().map(|&d| src[d]));
            let mut inverse = vec![0i64; n];
            for (i, &d) in order.iter().enumerate() {
                inverse[d as usize] = i as i64;
            }
            Ok(vec![Some(gk.reshape_usize(&moved_shape)?.permute(&inverse)?)])
        }))
    }

    /// `mean` over `dims` (all when None, named `MeanBackward0` as in PyTorch).
    pub fn mean(&self, dims: Option<&[i64]>, keepdim: bool) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return Err(Error::DType(format!(
                "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: {}",
                self.dtype().titled()
            )));
        }
        // An explicit empty list reduces every dim too (PyTorch's dim=()), named as a dim list.
        let ds = reduce_dims(dims.filter(|d| !d.is_empty()), self.ndim())?;
        let k = Tensor::wrapped_scalar(ds.iter().map(|&d| self.shape()[d]).product::<usize>() as f64);
        let out = self.forward_in_float32(|x| run1(&Op::Reduce { op: ReduceOp::Sum, dims: &ds, keepdim }, &[x])?.div(&k))?;
        let Some(rec) = Recorder::new(if dims.is_none() { "MeanBackward0" } else { "MeanBackward1" }, &[self]) else { return Ok(out) };
        let src = self.shape().to_vec();
        Ok(rec.finish(out, false, move |_, g| Ok(vec![Some(expand_reduced(g, &src, &ds, keepdim)?.div(&k)?)])))
    }

    pub fn prod(&self, dims: Option<&[i64]>, keepdim: bool) -> Result<Tensor> {
        self.sum_or_prod(ReduceOp::Prod, dims, keepdim)
    }

    /// `amax`/`amin`: values only; the gradient is shared evenly among ties.
    pub fn amax(&self, dims: Option<&[i64]>, keepdim: bool, which: Extremum) -> Result<Tensor> {
        let op = reduce_op(which);
        self.extreme(dims, keepdim, which, op.grad_fn_name().unwrap_or("AmaxBackward0"))
    }

    /// `max()`/`min()` of every element: amax's value and rule under PyTorch's own node name.
    pub fn max_all(&self, which: Extremum) -> Result<Tensor> {
        self.extreme(None, false, which, if which == Extremum::Max { "MaxBackward1" } else { "MinBackward1" })
    }

    fn extreme(&self, dims: Option<&[i64]>, keepdim: bool, which: Extremum, grad_fn: &'static str) -> Result<Tensor> {
        let op = reduce_op(which);
        let ds = reduce_dims(dims, self.ndim())?;
        check_nonempty(self, dims, &ds, op.name())?;
        let out = run1(&Op::Reduce { op, dims: &ds, keepdim }, &[self])?;
        Ok(record_evenly(self, out, ds, keepdim, grad_fn))
    }

    /// `max(dim)`/`min(dim)`: values and int64 indices; the gradient goes to the index.
    pub fn max_dim(&self, dim: i64, keepdim: bool, which: Extremum) -> Result<(Tensor, Tensor)> {
        let d = wrap_dim(dim, self.ndim())?;
        if self.ndim() > 0 && self.shape()[d] == 0 {
            return Err(Error::Index(format!("{}(): Expected reduction dim {d} to have non-zero size.", which.name())));
        }
        let (values, indices) = if self.ndim() == 0 {
            (self.detach().clone_data()?.detach(), Tensor::zeros_on(&[], DType::I64, self.device())?)
        } else {
            let indices = run1(&Op::ArgReduce { op: which, dim: d, keepdim }, &[self])?;
            (self.detach().gather_reduced(d, &indices, keepdim)?, indices)
        };
        let values = self.selected_as(which.grad_fn_name().unwrap_or("MaxBackward0"), d, values, &indices)?;
        Ok((values, indices))
    }

    /// `values`, read from `self` at `indices` along `dim` (kept in both, or squeezed in both)
    /// by the selection `op` ("topk", "median" or "kthvalue"), recorded as that op's one node:
    /// the gradient goes back to those indices. `median()` of every element (no dim) shares
    /// it evenly among the elements equal to the median instead, as PyTorch does.
    pub fn selected(&self, op: &str, dim: Option<i64>, values: &Tensor, indices: &Tensor) -> Result<Tensor> {
        let grad_fn = match (op, dim) {
            ("median", None) => return Ok(record_evenly(self, values.detach(), (0..self.ndim()).collect(), false, "MedianBackward0")),
            ("topk", Some(_)) => "TopkBackward0",
            ("median", Some(_)) => "MedianBackward1",
            ("kthvalue", Some(_)) => "KthvalueBackward0",
            _ => return Err(Error::Value(format!("selected(): no selection '{op}' with dim {dim:?}"))),
        };
        let d = if self.ndim() == 0 { 0 } else { wrap_dim(dim.unwrap_or(0), self.ndim())? };
        self.selected_as(grad_fn, d, values.detach(), indices)
    }

    fn selected_as(&self, grad_fn: &'static str, d: usize, values: Tensor, indices: &Tensor) -> Result<Tensor> {
        let Some(rec) = Recorder::new(grad_fn, &[self]) else { return Ok(values) };
        let src = self.shape().to_vec();
        let idx = indices.clone();
        Ok(rec.finish(values, false, move |_, g| {
            if src.is_empty() {
                return Ok(vec![Some(g.reshape_usize(&[])?)]);
            }
            let (g, i) = if g.ndim() == src.len() { (g.clone(), idx.clone()) } else { (g.unsqueeze(d as i64)?, idx.unsqueeze(d as i64)?) };
            let zeros = Tensor::zeros_on(&src, g.dtype(), g.device())?;
            Ok(vec![Some(zeros.scatter(d as i64, &i, &g)?)])
        }))
    }

    fn gather_reduced(&self, d: usize, indices: &Tensor, keepdim: bool) -> Result<Tensor> {
        let idx = if keepdim { indices.clone() } else { indices.unsqueeze(d as i64)? };
        let v = self.gather(d as i64, &idx)?;
        if keepdim { Ok(v) } else { v.squeeze(Some(&[d as i64])) }
    }

    /// `argmax`/`argmin`; with no dim, the index into the flattened tensor.
    pub fn argmax(&self, dim: Option<i64>, keepdim: bool, which: Extremum) -> Result<Tensor> {
        let name = match which {
            Extremum::Max => "argmax",
            Extremum::Min => "argmin",
        };
        if self.dtype() == DType::Bool {
            return Err(Error::DType(format!("\"{name}_cpu\" not implemented for 'Bool'")));
        }
        match dim {
            None => {
                if self.numel() == 0 {
                    return Err(Error::Index(format!("{name}(): Expected reduction dim to be specified for input.numel() == 0.")));
                }
                let flat = self.reshape_usize(&[self.numel()])?;
                let i = flat.argmax(Some(0), false, which)?;
                if keepdim { i.reshape_usize(&vec![1; self.ndim()]) } else { Ok(i) }
            }
            Some(d) => Ok(self.max_dim(d, keepdim, which)?.1),
        }
    }

    /// Variance with `correction` (1 = unbiased).
    pub fn var(&self, dims: Option<&[i64]>, correction: f64, keepdim: bool) -> Result<Tensor> {
        self.var_or_std(dims, correction, keepdim, false)
    }

    pub fn std(&self, dims: Option<&[i64]>, correction: f64, keepdim: bool) -> Result<Tensor> {
        self.var_or_std(dims, correction, keepdim, true)
    }

    /// The variance, or its square root, as one node (PyTorch's `VarBackward0`/`StdBackward0`).
    fn var_or_std(&self, dims: Option<&[i64]>, correction: f64, keepdim: bool, root: bool) -> Result<Tensor> {
        let ds = reduce_dims(dims, self.ndim())?;
        let dims: Vec<i64> = ds.iter().map(|&d| d as i64).collect();
        let n: usize = ds.iter().map(|&d| self.shape()[d]).product();
        let denom = Tensor::wrapped_scalar((n as f64 - correction).max(0.0));
        let out = self.forward_in_float32(|x| {
            let dev = x.sub(&x.mean(Some(&dims), true)?)?;
            let var = dev.mul(&dev)?.sum(Some(&dims), keepdim)?.div(&denom)?;
            if root { var.sqrt() } else { Ok(var) }
        })?;
        let Some(mut rec) = Recorder::new(if root { "StdBackward0" } else { "VarBackward0" }, &[self]) else { return Ok(out) };
        rec.save(self);
        let src = self.shape().to_vec();
        Ok(rec.finish(out, root, move |ctx, g| {
            let x = ctx.saved(0)?;
            let dev = x.sub(&x.mean(Some(&dims), true)?)?;
            let g = expand_reduced(g, &src, &ds, keepdim)?;
            // d var / dx = 2 (x - mean) / (n - correction); d std = d var / (2 std), taken as 0
            // where std is 0 (PyTorch's choice at that kink).
            let scale = if root {
                let y = expand_reduced(&ctx.saved(1)?, &src, &ds, keepdim)?;
                let zero = Tensor::wrapped_scalar(0.0f64);
                y.binary(BinaryOp::Eq, &zero)?.where_(&zero, &g.div(&y)?)?
            } else {
                g.mul_scalar(2.0)?
            };
            Ok(vec![Some(scale.div(&denom)?.mul(&dev)?)])
        }))
    }

    /// log(sum(exp(x))) computed stably by subtracting the max first.
    pub fn logsumexp(&self, dims: &[i64], keepdim: bool) -> Result<Tensor> {
        let x = if self.dtype().is_float() { self.clone() } else { self.to_dtype(DType::F32)? };
        let out = x.forward_in_float32(|x| logsumexp_values(x, dims, keepdim))?;
        let Some(mut rec) = Recorder::new("LogsumexpBackward0", &[self]) else { return Ok(out) };
        rec.save(self);
        let ds = reduce_dims(Some(dims), self.ndim())?;
        let src = self.shape().to_vec();
        Ok(rec.finish(out, true, move |ctx, g| {
            let (x, y) = (ctx.saved(0)?, ctx.saved(1)?);
            let y = expand_reduced(&y, &src, &ds, keepdim)?;
            Ok(vec![Some(expand_reduced(g, &src, &ds, keepdim)?.mul(&x.sub(&y)?.exp()?)?)])
        }))
    }

    /// Vector p-norm over `dims` (all when None): p = 2, 1, inf, -inf, 0 or any other positive
    /// p, one node (`LinalgVectorNormBackward0`) for every p.
    pub fn norm(&self, p: f64, dims: Option<&[i64]>, keepdim: bool) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return Err(Error::DType(format!(
                "linalg.vector_norm: Expected a floating point or complex tensor as input. Got {}",
                self.dtype().titled()
            )));
        }
        let extremum = (p.is_infinite()).then_some(if p > 0.0 { Extremum::Max } else { Extremum::Min });
        let out = self.forward_in_float32(|x| {
            let a = x.unary(UnaryOp::Abs)?;
            if let Some(which) = extremum {
                a.amax(dims, keepdim, which)
            } else if p == 0.0 {
                a.binary(BinaryOp::Ne, &Tensor::wrapped_scalar(0.0f64))?.to_dtype(x.dtype())?.sum(dims, keepdim)
            } else if p == 1.0 {
                a.sum(dims, keepdim)
            } else if p == 2.0 {
                x.mul(x)?.sum(dims, keepdim)?.sqrt()
            } else {
                a.binary(BinaryOp::Pow, &Tensor::wrapped_scalar(p))?.sum(dims, keepdim)?.binary(BinaryOp::Pow, &Tensor::wrapped_scalar(1.0 / p))
            }
        })?;
        let Some(mut rec) = Recorder::new("LinalgVectorNormBackward0", &[self]) else { return Ok(out) };
        rec.save(self);
        let ds = reduce_dims(dims, self.ndim())?;
        let src = self.shape().to_vec();
        Ok(rec.finish(out, true, move |ctx, g| {
            let (x, n) = (ctx.saved(0)?, ctx.saved(1)?);
            let zero = Tensor::wrapped_scalar(0.0f64);
            let sign = x.unary(UnaryOp::Sign)?;
            if extremum.is_some() {
                return Ok(vec![Some(sign.mul(&evenly(&x.unary(UnaryOp::Abs)?, &n, g, &src, &ds, keepdim)?)?)]);
            }
            let g = expand_reduced(g, &src, &ds, keepdim)?;
            if p == 0.0 {
                return Ok(vec![Some(g.mul(&zero)?)]);
            }
            if p == 1.0 {
                return Ok(vec![Some(g.mul(&sign)?)]);
            }
            // x |x|^(p-2) / n^(p-1), written sign(x) |x|^(p-1) so that p < 2 has no 0 * inf;
            // 0 where x or the norm is 0 (PyTorch's subgradient there).
            let n = expand_reduced(&n, &src, &ds, keepdim)?;
            let e = Tensor::wrapped_scalar(p - 1.0);
            let scaled = x.binary(BinaryOp::Eq, &zero)?.where_(&zero, &sign.mul(&x.unary(UnaryOp::Abs)?.binary(BinaryOp::Pow, &e)?)?)?;
            let scale = n.binary(BinaryOp::Eq, &zero)?.where_(&zero, &g.div(&n.binary(BinaryOp::Pow, &e)?)?)?;
            Ok(vec![Some(scaled.mul(&scale)?)])
        }))
    }

    pub fn any(&self, dims: Option<&[i64]>, keepdim: bool) -> Result<Tensor> {
        self.any_all(ReduceOp::Any, dims, keepdim)
    }
    pub fn all(&self, dims: Option<&[i64]>, keepdim: bool) -> Result<Tensor> {
        self.any_all(ReduceOp::All, dims, keepdim)
    }
    fn any_all(&self, op: ReduceOp, dims: Option<&[i64]>, keepdim: bool) -> Result<Tensor> {
        let ds = reduce_dims(dims, self.ndim())?;
        let out = run1(&Op::Reduce { op, dims: &ds, keepdim }, &[&self.cast_plain(DType::Bool)?])?;
        // PyTorch keeps uint8 for uint8 inputs (its masks before bool existed).
        if self.dtype() == DType::U8 { out.cast_plain(DType::U8) } else { Ok(out) }
    }

    /// Inclusive scan along `dim`: cumsum or cumprod; integer and bool inputs scan in int64.
    pub fn cumulative(&self, dim: i64, op: ScanOp) -> Result<Tensor> {
        let n = self.ndim();
        let d = wrap_dim(dim, n)?;
        let dt = if self.dtype().is_float() { self.dtype() } else { DType::I64 };
        let out = run1(&Op::Scan { op, dim: d }, &[&self.cast_plain(dt)?])?;
        let out = out.detach();
        if !dt.is_float() {
            return Ok(out);
        }
        let Some(mut rec) = Recorder::new(op.grad_fn_name().unwrap_or("CumsumBackward0"), &[self]) else { return Ok(out) };
        rec.save(self);
        Ok(rec.finish(out, true, move |ctx, g| {
            let rev = |t: &Tensor| -> Result<Tensor> { t.flip(&[d as i64])?.cumulative(d as i64, ScanOp::Sum)?.flip(&[d as i64]) };
            if op == ScanOp::Sum || n == 0 {
                return Ok(vec![Some(if n == 0 { g.clone() } else { rev(g)? })]);
            }
            let (x, y) = (ctx.saved(0)?, ctx.saved(1)?);
            let zero = x.binary(BinaryOp::Eq, &Tensor::wrapped_scalar(0.0f64))?;
            // The shorter formula holds without zeros; a captured graph must not depend on
            // whether this trace's input had any, so it always takes the general one.
            if !crate::graph::record::recording() && !zero.any(None, false)?.to_device(crate::Device::Cpu)?.item::<bool>()? {
                return Ok(vec![Some(rev(&g.mul(&y)?)?.div(&x)?)]);
            }
            Ok(vec![Some(cumprod_backward_with_zeros(&x, &y, g, &zero, d)?)])
        }))
    }
}

/// Gradient of cumprod when the input has zeros, with differentiable ops (any device): for
/// each i, sum over j >= i of g_j * prod_{k <= j, k != i} x_k. Before a row's first zero z that
/// is the usual reversed cumsum of g * y divided by x; at z it is prod_{k < z} x_k times
/// sum_{j >= z} g_j prod_{z < k <= j} x_k; after z it is 0 (every product holds x_z).
fn cumprod_backward_with_zeros(x: &Tensor, y: &Tensor, g: &Tensor, zero: &Tensor, d: usize) -> Result<Tensor> {
    let dim = d as i64;
    let one = Tensor::wrapped_scalar(1.0f64);
    let zeros_so_far = zero.cumulative(dim, ScanOp::Sum)?;
    let before = zeros_so_far.binary(BinaryOp::Eq, &Tensor::scalar(0i64))?;
    let first = zero.binary(BinaryOp::LogicalAnd, &zeros_so_far.binary(BinaryOp::Eq, &Tensor::scalar(1i64))?)?;
    let up_to_first = before.binary(BinaryOp::LogicalOr, &first)?;
    // x with ones from the first zero on: its cumprod at z is the product before z.
    let head = before.where_(x, &one)?;
    let prefix = head.cumulative(dim, ScanOp::Prod)?;
    // x with ones up to the first zero: its cumprod at j >= z is prod_{z < k <= j} x_k.
    let tail = up_to_first.where_(&one, x)?.cumulative(dim, ScanOp::Prod)?;
    let at_first = before.where_(&Tensor::wrapped_scalar(0.0f64), &g.mul(&tail)?)?.sum(Some(&[dim]), true)?.mul(&prefix)?;
    let rev_sum = g.mul(y)?.flip(&[dim])?.cumulative(dim, ScanOp::Sum)?.flip(&[dim])?.div(&head)?;
    before.where_(&rev_sum, &first.where_(&at_first, &Tensor::wrapped_scalar(0.0f64))?)
}

/// The product of the elements before each position along `dim` (1 for the first).
fn exclusive_cumprod(x: &Tensor, dim: i64) -> Result<Tensor> {
    let d = wrap_dim(dim, x.ndim())?;
    let len = x.shape()[d];
    if len == 0 {
        return Ok(x.clone());
    }
    let inclusive = x.narrow(d as i64, 0, len as i64 - 1)?.cumulative(d as i64, ScanOp::Prod)?;
    let mut pads = vec![0i64; 2 * x.ndim()];
    pads[2 * (x.ndim() - 1 - d)] = 1;
    inclusive.pad(&pads, 1.0)
}

/// Broadcasts a reduction's gradient back to the input's shape.
pub fn expand_reduced(g: &Tensor, src: &[usize], dims: &[usize], keepdim: bool) -> Result<Tensor> {
    let mut g = g.clone();
    if !keepdim {
        for &d in dims {
            g = g.unsqueeze(d as i64)?;
        }
    }
    g.expand_to(src)
}

fn reduce_op(which: Extremum) -> ReduceOp {
    match which {
        Extremum::Max => ReduceOp::Max,
        Extremum::Min => ReduceOp::Min,
    }
}

/// `out`, a value of `x` over `ds` (its max, min or median), recorded as `grad_fn` with
/// PyTorch's rule for those: the gradient shared evenly among the elements equal to it.
fn record_evenly(x: &Tensor, out: Tensor, ds: Vec<usize>, keepdim: bool, grad_fn: &'static str) -> Tensor {
    let Some(mut rec) = Recorder::new(grad_fn, &[x]) else { return out };
    rec.save(x);
    let src = x.shape().to_vec();
    rec.finish(out, true, move |ctx, g| Ok(vec![Some(evenly(&ctx.saved(0)?, &ctx.saved(1)?, g, &src, &ds, keepdim)?)]))
}

/// The gradient `g` of `y` (a value of `x` over `ds`) shared evenly among the elements equal to it.
fn evenly(x: &Tensor, y: &Tensor, g: &Tensor, src: &[usize], ds: &[usize], keepdim: bool) -> Result<Tensor> {
    let mask = x.binary(BinaryOp::Eq, &expand_reduced(y, src, ds, keepdim)?)?.to_dtype(x.dtype())?;
    let dims: Vec<i64> = ds.iter().map(|&d| d as i64).collect();
    let count = mask.sum(Some(&dims), true)?;
    expand_reduced(g, src, ds, keepdim)?.mul(&mask)?.div(&count)
}

/// logsumexp's values, of a float input that records nothing.
fn logsumexp_values(x: &Tensor, dims: &[i64], keepdim: bool) -> Result<Tensor> {
    if x.numel() == 0 {
        return x.exp()?.sum(Some(dims), keepdim)?.log();
    }
    let m = x.amax(Some(dims), true, Extremum::Max)?;
    // An infinite max would give inf - inf = nan; shift by 0 there instead.
    let m = m.unary(UnaryOp::IsInf)?.where_(&Tensor::wrapped_scalar(0.0f64), &m)?;
    let s = x.sub(&m)?.exp()?.sum(Some(dims), true)?.log()?.add(&m)?;
    if keepdim { Ok(s) } else { s.squeeze(Some(dims)) }
}
