//! Reductions (sum, mean, prod, max/min and arg versions, var/std, logsumexp, norm, any/all)
//! and scans (cumsum, cumprod). Reduced dims are moved last so each output element reduces
//! one contiguous run.
use crate::autograd::Recorder;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::layout::wrap_dim;
use crate::ops::{BinaryOp, UnaryOp};
use crate::storage::try_with_capacity;
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

/// Shape of a reduction's result.
fn reduced_shape(shape: &[usize], dims: &[usize], keepdim: bool) -> Vec<usize> {
    let mut out = vec![];
    for (i, &s) in shape.iter().enumerate() {
        if dims.contains(&i) {
            if keepdim {
                out.push(1);
            }
        } else {
            out.push(s);
        }
    }
    out
}

/// `x` viewed with the reduced dims last, and the length of each reduced run.
fn runs(x: &Tensor, dims: &[usize]) -> Result<(Tensor, usize)> {
    let n = x.ndim();
    let mut order: Vec<i64> = (0..n).filter(|d| !dims.contains(d)).map(|d| d as i64).collect();
    order.extend(dims.iter().map(|&d| d as i64));
    let k: usize = dims.iter().map(|&d| x.shape()[d]).product();
    Ok((x.detach().permute(&order)?, k))
}

/// Applies `f` to each reduced run of `x` (as `T`), giving a tensor of the reduced shape.
fn reduce_with<T: Element, U: Element>(
    x: &Tensor,
    dims: &[usize],
    keepdim: bool,
    f: impl Fn(&[T]) -> U + Sync + Send,
) -> Result<Tensor> {
    let shape = reduced_shape(x.shape(), dims, keepdim);
    let (moved, k) = runs(x, dims)?;
    // Borrowed when the runs already lie contiguously (e.g. a full reduction): no copy.
    let data = moved.contiguous_data::<T>();
    let outer: usize = shape.iter().product();
    let mut out = try_with_capacity::<U>(outer)?;
    if k == 0 {
        out.resize(outer, f(&[]));
    } else if data.len() >= crate::cpu::PAR_THRESHOLD && outer > 1 {
        out.resize(outer, U::zero());
        crate::cpu::team::chunks_mut(&mut out, 1, |i, o| o[0] = f(&data[i * k..(i + 1) * k]));
    } else {
        out.extend(data.chunks(k).map(&f));
    }
    Tensor::from_vec(out, &shape)
}

/// Sum of a run: 32 lanes over blocks of 4096 (vectorised, error bounded per block; AVX2
/// where the CPU has it), blocks combined in f64 in order, on the CPU team when the run is long.
fn sum_blocks<T: Element + std::ops::Add<Output = T>>(r: &[T]) -> f64 {
    const BLOCK: usize = 4096;
    #[inline(always)]
    fn block_lanes<T: Element + std::ops::Add<Output = T>>(b: &[T]) -> f64 {
        let mut acc = [T::zero(); 32];
        let chunks = b.chunks_exact(32);
        let rem = chunks.remainder();
        for c in chunks {
            for i in 0..32 {
                acc[i] = acc[i] + c[i];
            }
        }
        acc.iter().chain(rem).map(|v| v.to_f64()).sum()
    }
    fn block<T: Element + std::ops::Add<Output = T>>(b: &[T]) -> f64 {
        crate::cpu::wide(|| block_lanes(b))
    }
    if r.len() >= crate::cpu::PAR_THRESHOLD {
        let mut partial = vec![0.0; r.len().div_ceil(BLOCK)];
        crate::cpu::team::chunks_mut(&mut partial, 1, |i, p| p[0] = block(&r[i * BLOCK..((i + 1) * BLOCK).min(r.len())]));
        partial.iter().sum()
    } else {
        r.chunks(BLOCK).map(block).sum()
    }
}

/// How many of the reduced dims form a prefix 0..p of the tensor's dims, when the rest of them
/// form a suffix (e.g. [0, 2, 3] of a 4-D tensor: prefix 1); 0 when the pattern does not fit.
fn leading_dims(ds: &[usize]) -> usize {
    let p = ds.iter().enumerate().take_while(|&(i, &d)| i == d).count();
    let rest = &ds[p..];
    let suffix_ok = rest.windows(2).all(|w| w[1] == w[0] + 1);
    if p > 0 && suffix_ok { p } else { 0 }
}

/// Sum of a contiguous tensor over leading dims (and optionally trailing ones): trailing dims
/// first as contiguous runs, then the leading dims by adding whole rows, so no transposed copy
/// is made (the bias gradient of a linear or conv layer).
fn sum_leading<T: crate::dtype::Float>(x: &Tensor, ds: &[usize], keepdim: bool) -> Result<Tensor> {
    let p = leading_dims(ds);
    let trailing: Vec<usize> = ds[p..].to_vec();
    let x = if trailing.is_empty() {
        x.detach()
    } else {
        reduce_with::<T, T>(&x.detach(), &trailing, true, |r| T::from_f64(sum_blocks(r)))?
    };
    let outer: usize = x.shape()[..p].iter().product();
    let inner: usize = x.shape()[p..].iter().product();
    let data = x.contiguous_data::<T>();
    let mut acc = vec![0f64; inner];
    let mut block = vec![T::zero(); inner];
    // Rows are added in T within blocks of 256 (vectorised), blocks into f64.
    for rows in data.chunks(inner.max(1) * 256) {
        block.iter_mut().for_each(|b| *b = T::zero());
        for row in rows.chunks(inner.max(1)) {
            block.iter_mut().zip(row).for_each(|(b, &v)| *b = *b + v);
        }
        acc.iter_mut().zip(&block).for_each(|(a, b)| *a += b.to_f64());
    }
    if outer == 0 {
        acc.iter_mut().for_each(|a| *a = 0.0);
    }
    let out: Vec<T> = acc.into_iter().map(T::from_f64).collect();
    let shape = reduced_shape(x.shape(), &(0..p).collect::<Vec<_>>(), keepdim);
    let full: Vec<usize> = reduced_shape(&x.shape().to_vec(), &ds.to_vec(), keepdim);
    let t = Tensor::from_vec(out, &shape)?;
    if keepdim { Ok(t) } else { t.reshape_usize(&full) }
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

/// Index of the max (or min) of a run, NaN winning as in PyTorch; first occurrence on ties.
fn arg_best<T: Element>(run: &[T], max: bool) -> usize {
    let mut best = 0;
    for (i, &v) in run.iter().enumerate().skip(1) {
        let b = run[best];
        #[allow(clippy::eq_op)]
        let (v_nan, b_nan) = (v != v, b != b);
        if b_nan {
            break;
        }
        if v_nan || (max && v > b) || (!max && v < b) {
            best = i;
        }
    }
    best
}

impl Tensor {
    pub fn sum_dims(&self, dims: &[i64], keepdim: bool) -> Result<Tensor> {
        self.sum(Some(dims), keepdim)
    }

    /// `sum(dim=None|dims, keepdim)`; integer and bool inputs sum to int64.
    pub fn sum(&self, dims: Option<&[i64]>, keepdim: bool) -> Result<Tensor> {
        if self.device().is_gpu() { return crate::gpu::ops::sum(self, dims, keepdim); }
        let ds = reduce_dims(dims, self.ndim())?;
        let out = match self.dtype() {
            DType::F32 if leading_dims(&ds) > 0 && ds.len() < self.ndim() && self.is_contiguous() => sum_leading::<f32>(self, &ds, keepdim)?,
            DType::F64 if leading_dims(&ds) > 0 && ds.len() < self.ndim() && self.is_contiguous() => sum_leading::<f64>(self, &ds, keepdim)?,
            DType::F32 => reduce_with::<f32, f32>(self, &ds, keepdim, |r| sum_blocks(r) as f32)?,
            DType::F64 => reduce_with::<f64, f64>(self, &ds, keepdim, sum_blocks)?,
            _ => reduce_with::<i64, i64>(self, &ds, keepdim, |r| r.iter().fold(0i64, |a, &b| a.wrapping_add(b)))?,
        };
        let Some(rec) = Recorder::new("SumBackward1", &[self]) else { return Ok(out) };
        let src = self.shape().to_vec();
        Ok(rec.finish(out, false, move |_, g| Ok(vec![Some(expand_reduced(g, &src, &ds, keepdim)?)])))
    }

    pub fn mean(&self, dims: Option<&[i64]>, keepdim: bool) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return Err(Error::DType(format!(
                "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: {}",
                crate::ops::copy::titled(self.dtype())
            )));
        }
        let ds = reduce_dims(dims, self.ndim())?;
        let k: usize = ds.iter().map(|&d| self.shape()[d]).product();
        self.sum(Some(&ds.iter().map(|&d| d as i64).collect::<Vec<_>>()), keepdim)?.div(&Tensor::wrapped_scalar(k as f64))
    }

    pub fn prod(&self, dims: Option<&[i64]>, keepdim: bool) -> Result<Tensor> {
        let ds = reduce_dims(dims, self.ndim())?;
        let out = match self.dtype() {
            _ if self.device().is_gpu() => crate::gpu::ops::prod(self, &ds, keepdim)?,
            DType::F32 => reduce_with::<f32, f32>(self, &ds, keepdim, |r| r.iter().product())?,
            DType::F64 => reduce_with::<f64, f64>(self, &ds, keepdim, |r| r.iter().product())?,
            _ => reduce_with::<i64, i64>(self, &ds, keepdim, |r| r.iter().fold(1i64, |a, &b| a.wrapping_mul(b)))?,
        };
        let Some(mut rec) = Recorder::new("ProdBackward1", &[self]) else { return Ok(out) };
        rec.save(self);
        let src = self.shape().to_vec();
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

    /// `amax`/`amin`: values only; the gradient is shared evenly among ties.
    pub fn amax(&self, dims: Option<&[i64]>, keepdim: bool, max: bool) -> Result<Tensor> {
        let name = if max { "amax" } else { "amin" };
        let ds = reduce_dims(dims, self.ndim())?;
        check_nonempty(self, dims, &ds, name)?;
        let out = if self.device().is_gpu() && self.dtype() == DType::Bool {
            // The GPU reduces bool words as float32 0/1.
            crate::gpu::ops::reduce(&self.to_dtype(DType::F32)?, &ds, keepdim, if max { 1 } else { 2 }, name)?.to_dtype(DType::Bool)?
        } else if self.device().is_gpu() {
            crate::gpu::ops::reduce(self, &ds, keepdim, if max { 1 } else { 2 }, name)?
        } else {
            crate::with_dtype!(self.dtype(), T, reduce_with::<T, T>(self, &ds, keepdim, |r| r[arg_best(r, max)])?)
        };
        let Some(mut rec) = Recorder::new(if max { "AmaxBackward0" } else { "AminBackward0" }, &[self]) else { return Ok(out) };
        rec.save(self);
        let src = self.shape().to_vec();
        Ok(rec.finish(out, true, move |ctx, g| {
            let (x, y) = (ctx.saved(0)?, ctx.saved(1)?);
            let y = expand_reduced(&y, &src, &ds, keepdim)?;
            let mask = x.binary(BinaryOp::Eq, &y)?.to_dtype(x.dtype())?;
            let dims: Vec<i64> = ds.iter().map(|&d| d as i64).collect();
            let count = mask.sum(Some(&dims), true)?;
            let g = expand_reduced(g, &src, &ds, keepdim)?;
            Ok(vec![Some(g.mul(&mask)?.div(&count)?)])
        }))
    }

    /// `max(dim)`/`min(dim)`: values and int64 indices; the gradient goes to the index.
    pub fn max_dim(&self, dim: i64, keepdim: bool, max: bool) -> Result<(Tensor, Tensor)> {
        if self.device().is_gpu() { return crate::gpu::ops::max_dim(self, dim, keepdim, max); }
        let d = wrap_dim(dim, self.ndim())?;
        let ds = if self.ndim() == 0 { vec![] } else { vec![d] };
        if self.ndim() > 0 && self.shape()[d] == 0 {
            return Err(Error::Index(format!(
                "{}(): Expected reduction dim {} to have non-zero size.",
                if max { "max" } else { "min" },
                d
            )));
        }
        let indices = crate::with_dtype!(self.dtype(), T, reduce_with::<T, i64>(self, &ds, keepdim, |r| arg_best(r, max) as i64)?);
        let values = self.detach().gather_reduced(d, &indices, keepdim)?;
        let Some(rec) = Recorder::new(if max { "MaxBackward0" } else { "MinBackward0" }, &[self]) else {
            return Ok((values, indices));
        };
        let src = self.shape().to_vec();
        let idx = indices.clone();
        let values = rec.finish(values, false, move |_, g| {
            let (g, i) = if keepdim || src.is_empty() { (g.clone(), idx.clone()) } else { (g.unsqueeze(d as i64)?, idx.unsqueeze(d as i64)?) };
            let zeros = Tensor::zeros(&src, g.dtype())?;
            if src.is_empty() {
                return Ok(vec![Some(g.reshape_usize(&[])?)]);
            }
            Ok(vec![Some(zeros.scatter(d as i64, &i, &g)?)])
        });
        Ok((values, indices))
    }

    fn gather_reduced(&self, d: usize, indices: &Tensor, keepdim: bool) -> Result<Tensor> {
        if self.ndim() == 0 {
            return Ok(self.clone());
        }
        let idx = if keepdim { indices.clone() } else { indices.unsqueeze(d as i64)? };
        let v = self.gather(d as i64, &idx)?;
        if keepdim { Ok(v) } else { v.squeeze(Some(&[d as i64])) }
    }

    /// `argmax`/`argmin`; with no dim, the index into the flattened tensor.
    pub fn argmax(&self, dim: Option<i64>, keepdim: bool, max: bool) -> Result<Tensor> {
        let name = if max { "argmax" } else { "argmin" };
        if self.dtype() == DType::Bool {
            return Err(Error::DType(format!("\"{name}_cpu\" not implemented for 'Bool'")));
        }
        match dim {
            None => {
                if self.numel() == 0 {
                    return Err(Error::Index(format!("{name}(): Expected reduction dim to be specified for input.numel() == 0.")));
                }
                let flat = self.reshape_usize(&[self.numel()])?;
                let i = flat.argmax(Some(0), false, max)?;
                if keepdim { i.reshape_usize(&vec![1; self.ndim()]) } else { Ok(i) }
            }
            Some(d) => Ok(self.max_dim(d, keepdim, max)?.1),
        }
    }

    /// Variance with `correction` (1 = unbiased).
    pub fn var(&self, dims: Option<&[i64]>, correction: f64, keepdim: bool) -> Result<Tensor> {
        let ds = reduce_dims(dims, self.ndim())?;
        let dims: Vec<i64> = ds.iter().map(|&d| d as i64).collect();
        let n: usize = ds.iter().map(|&d| self.shape()[d]).product();
        let mean = self.mean(Some(&dims), true)?;
        let dev = self.sub(&mean)?;
        let ss = dev.mul(&dev)?.sum(Some(&dims), keepdim)?;
        ss.div(&Tensor::wrapped_scalar((n as f64 - correction).max(0.0)))
    }

    pub fn std(&self, dims: Option<&[i64]>, correction: f64, keepdim: bool) -> Result<Tensor> {
        self.var(dims, correction, keepdim)?.sqrt()
    }

    /// log(sum(exp(x))) computed stably by subtracting the max first.
    pub fn logsumexp(&self, dims: &[i64], keepdim: bool) -> Result<Tensor> {
        let x = if self.dtype().is_float() { self.clone() } else { self.to_dtype(DType::F32)? };
        if x.numel() == 0 {
            return x.exp()?.sum(Some(dims), keepdim)?.log();
        }
        let m = x.detach().amax(Some(dims), true, true)?;
        // An infinite max would give inf - inf = nan; shift by 0 there instead.
        let m = m.unary(UnaryOp::IsInf)?.where_(&Tensor::wrapped_scalar(0.0f64), &m)?;
        let s = x.sub(&m)?.exp()?.sum(Some(dims), true)?.log()?.add(&m)?;
        if keepdim { Ok(s) } else { s.squeeze(Some(dims)) }
    }

    /// Vector p-norm over `dims` (all when None): p = 2, 1, inf, -inf, 0 or any other positive p.
    pub fn norm(&self, p: f64, dims: Option<&[i64]>, keepdim: bool) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return Err(Error::DType(format!(
                "linalg.vector_norm: Expected a floating point or complex tensor as input. Got {}",
                crate::ops::copy::titled(self.dtype())
            )));
        }
        let a = self.unary(UnaryOp::Abs)?;
        if p == f64::INFINITY || p == f64::NEG_INFINITY {
            return a.amax(dims, keepdim, p > 0.0);
        }
        if p == 0.0 {
            return a.binary(BinaryOp::Ne, &Tensor::wrapped_scalar(0.0f64))?.to_dtype(self.dtype())?.sum(dims, keepdim);
        }
        if p == 1.0 {
            return a.sum(dims, keepdim);
        }
        if p == 2.0 {
            let out = self.mul(self)?.sum(dims, keepdim)?.detach().sqrt()?;
            let Some(mut rec) = Recorder::new("NormBackward1", &[self]) else { return Ok(out) };
            rec.save(self);
            let ds = reduce_dims(dims, self.ndim())?;
            let src = self.shape().to_vec();
            return Ok(rec.finish(out, true, move |ctx, g| {
                let (x, n) = (ctx.saved(0)?, ctx.saved(1)?);
                let n = expand_reduced(&n, &src, &ds, keepdim)?;
                let g = expand_reduced(g, &src, &ds, keepdim)?;
                // The subgradient at 0 is 0, as in PyTorch.
                let zero = n.binary(BinaryOp::Eq, &Tensor::wrapped_scalar(0.0f64))?;
                let scaled = x.div(&n)?;
                Ok(vec![Some(g.mul(&zero.where_(&Tensor::wrapped_scalar(0.0f64), &scaled)?)?)])
            }));
        }
        a.binary(BinaryOp::Pow, &Tensor::wrapped_scalar(p))?.sum(dims, keepdim)?.binary(BinaryOp::Pow, &Tensor::wrapped_scalar(1.0 / p))
    }

    pub fn any(&self, dims: Option<&[i64]>, keepdim: bool) -> Result<Tensor> {
        if self.device().is_gpu() { return crate::gpu::ops::any_all(self, dims, keepdim, true); }
        let ds = reduce_dims(dims, self.ndim())?;
        reduce_with::<bool, bool>(&self.to_dtype(DType::Bool)?, &ds, keepdim, |r| r.iter().any(|&v| v))
    }
    pub fn all(&self, dims: Option<&[i64]>, keepdim: bool) -> Result<Tensor> {
        if self.device().is_gpu() { return crate::gpu::ops::any_all(self, dims, keepdim, false); }
        let ds = reduce_dims(dims, self.ndim())?;
        reduce_with::<bool, bool>(&self.to_dtype(DType::Bool)?, &ds, keepdim, |r| r.iter().all(|&v| v))
    }

    /// Inclusive scan along `dim`: cumsum (prod = false) or cumprod (prod = true).
    pub fn cumulative(&self, dim: i64, prod: bool) -> Result<Tensor> {
        let n = self.ndim();
        let d = wrap_dim(dim, n)?;
        let dt = if self.dtype().is_float() { self.dtype() } else { DType::I64 };
        let x = self.to_dtype(dt)?;
        let out = if x.device().is_gpu() {
            crate::gpu::scan::cumulative(&x.detach(), d, prod)?
        } else if n == 0 {
            x.detach().clone_data()?.detach()
        } else {
            let moved = x.detach().movedim(d as i64, n as i64 - 1)?;
            let k = moved.shape()[n - 1];
            let scanned = crate::with_dtype!(dt, T, {
                let mut data = moved.contiguous_data::<T>().into_owned();
                if k > 0 {
                    for run in data.chunks_mut(k) {
                        scan_run(run, prod);
                    }
                }
                Tensor::from_vec(data, moved.shape())?
            });
            scanned.movedim(n as i64 - 1, d as i64)?.contiguous()?
        };
        let out = out.detach();
        if !dt.is_float() {
            return Ok(out);
        }
        let name = if prod { "CumprodBackward0" } else { "CumsumBackward0" };
        let Some(mut rec) = Recorder::new(name, &[self]) else { return Ok(out) };
        rec.save(self);
        Ok(rec.finish(out, true, move |ctx, g| {
            let rev = |t: &Tensor| -> Result<Tensor> { t.flip(&[d as i64])?.cumulative(d as i64, false)?.flip(&[d as i64]) };
            if !prod || n == 0 {
                return Ok(vec![Some(if n == 0 { g.clone() } else { rev(g)? })]);
            }
            let (x, y) = (ctx.saved(0)?, ctx.saved(1)?);
            let zero = x.binary(BinaryOp::Eq, &Tensor::wrapped_scalar(0.0f64))?;
            if !zero.any(None, false)?.to_device(crate::Device::Cpu)?.item::<bool>()? {
                return Ok(vec![Some(rev(&g.mul(&y)?)?.div(&x)?)]);
            }
            Ok(vec![Some(cumprod_backward_with_zeros(&x, &y, g, &zero, d)?)])
        }))
    }
}

fn scan_run<T: Element>(run: &mut [T], prod: bool) {
    // Through f64/i64 so one generic loop serves every dtype.
    if T::DTYPE == DType::I64 {
        let mut acc: i64 = if prod { 1 } else { 0 };
        for v in run.iter_mut() {
            acc = if prod { acc.wrapping_mul(v.to_i64()) } else { acc.wrapping_add(v.to_i64()) };
            *v = T::from_i64(acc);
        }
    } else {
        let mut acc: f64 = if prod { 1.0 } else { 0.0 };
        for v in run.iter_mut() {
            acc = if prod { acc * v.to_f64() } else { acc + v.to_f64() };
            *v = T::from_f64(acc);
        }
    }
}

/// Gradient of cumprod when the input has zeros, with differentiable ops (any device): for
/// each i, sum over j >= i of g_j * prod_{k <= j, k != i} x_k. Before a row's first zero z that
/// is the usual reversed cumsum of g * y divided by x; at z it is prod_{k < z} x_k times
/// sum_{j >= z} g_j prod_{z < k <= j} x_k; after z it is 0 (every product holds x_z).
fn cumprod_backward_with_zeros(x: &Tensor, y: &Tensor, g: &Tensor, zero: &Tensor, d: usize) -> Result<Tensor> {
    let dim = d as i64;
    let one = Tensor::wrapped_scalar(1.0f64);
    let zeros_so_far = zero.cumulative(dim, false)?;
    let before = zeros_so_far.binary(BinaryOp::Eq, &Tensor::scalar(0i64))?;
    let first = zero.binary(BinaryOp::LogicalAnd, &zeros_so_far.binary(BinaryOp::Eq, &Tensor::scalar(1i64))?)?;
    let up_to_first = before.binary(BinaryOp::LogicalOr, &first)?;
    // x with ones from the first zero on: its cumprod at z is the product before z.
    let head = before.where_(x, &one)?;
    let prefix = head.cumulative(dim, true)?;
    // x with ones up to the first zero: its cumprod at j >= z is prod_{z < k <= j} x_k.
    let tail = up_to_first.where_(&one, x)?.cumulative(dim, true)?;
    let at_first = before.where_(&Tensor::wrapped_scalar(0.0f64), &g.mul(&tail)?)?.sum(Some(&[dim]), true)?.mul(&prefix)?;
    let rev_sum = g.mul(y)?.flip(&[dim])?.cumulative(dim, false)?.flip(&[dim])?.div(&head)?;
    before.where_(&rev_sum, &first.where_(&at_first, &Tensor::wrapped_scalar(0.0f64))?)
}

/// The product of the elements before each position along `dim` (1 for the first).
fn exclusive_cumprod(x: &Tensor, dim: i64) -> Result<Tensor> {
    let d = wrap_dim(dim, x.ndim())?;
    let len = x.shape()[d];
    if len == 0 {
        return Ok(x.clone());
    }
    let inclusive = x.narrow(d as i64, 0, len as i64 - 1)?.cumulative(d as i64, true)?;
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
