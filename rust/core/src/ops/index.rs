//! Index-driven ops: index_select/index_add, gather/scatter/scatter_add, where, masked_select,
//! nonzero, and flat take/put for advanced indexing. Each gather-like op's backward is its
//! scatter-like partner and the other way round.
use crate::autograd::Recorder;
use crate::dtype::{result_type, DType};
use crate::error::{Error, Result};
use crate::layout::{broadcast_shapes, wrap_dim};
use crate::op::{IndexOp, Op};
use crate::ops::dispatch::run1;
use crate::tensor::Tensor;

/// `index` as int64: int64 as it is, int32 (which PyTorch's index ops also take) cast.
fn long_index(index: &Tensor, op: &str) -> Result<Tensor> {
    match index.dtype() {
        DType::I64 => Ok(index.clone()),
        DType::I32 => index.to_dtype(DType::I64),
        d => Err(Error::Runtime(format!("{op}(): Expected dtype int64 for index, got {d}"))),
    }
}

/// PyTorch's error when an operand of an index op lives on another device than the indexed
/// tensor (a CPU index does not mix with a GPU tensor here, even a 0-d one).
fn check_devices(x: &Tensor, others: &[&Tensor]) -> Result<()> {
    match others.iter().find(|t| t.device() != x.device()) {
        Some(t) => Err(crate::op::mixed(x.device(), t.device())),
        None => Ok(()),
    }
}

/// `t` viewed as 1-D when it is 0-d (index_select and index_add treat a 0-d tensor so).
fn at_least_1d(t: &Tensor) -> Result<Tensor> {
    if t.ndim() == 0 { t.reshape_usize(&[1]) } else { Ok(t.clone()) }
}

impl Tensor {
    /// Elements along `dim` at the positions of a 1-D int64 `index`.
    pub fn index_select(&self, dim: i64, index: &Tensor) -> Result<Tensor> {
        check_devices(self, &[index])?;
        let index = &long_index(index, "index_select")?;
        if index.ndim() > 1 {
            return Err(Error::Index("index_select(): Index is supposed to be a vector".into()));
        }
        let x = at_least_1d(self)?;
        let d = wrap_dim(dim, x.ndim())?;
        let out = run1(&Op::Index { op: IndexOp::IndexSelect, dim: d }, &[&x, index])?;
        let out = if self.ndim() == 0 { out.reshape_usize(&[])? } else { out };
        let Some(rec) = Recorder::new("IndexSelectBackward0", &[self]) else { return Ok(out) };
        let (src_shape, index) = (self.shape().to_vec(), index.clone());
        Ok(rec.finish(out, false, move |_, g| {
            let zeros = Tensor::zeros_on(&src_shape, g.dtype(), g.device())?;
            Ok(vec![Some(zeros.index_add(dim, &index, g)?)])
        }))
    }

    /// A copy of `self` with `source` slices added at `index` along `dim`.
    pub fn index_add(&self, dim: i64, index: &Tensor, source: &Tensor) -> Result<Tensor> {
        check_devices(self, &[index, source])?;
        let index = &long_index(index, "index_add")?;
        let x = at_least_1d(self)?;
        let s = at_least_1d(source)?.cast_plain(x.dtype())?;
        let d = wrap_dim(dim, x.ndim())?;
        let mut expect = x.shape().to_vec();
        expect[d] = index.numel();
        if s.shape() != expect.as_slice() {
            return Err(Error::Shape(format!(
                "index_add_(): source shape {:?} does not match self shape {:?} with {} indices along dim {}",
                s.shape(), x.shape(), index.numel(), d
            )));
        }
        let flat_index = if index.ndim() == 1 { index.clone() } else { index.reshape_usize(&[index.numel()])? };
        let out = run1(&Op::Index { op: IndexOp::IndexAdd, dim: d }, &[&x, &flat_index, &s])?;
        let out = if self.ndim() == 0 { out.reshape_usize(&[])? } else { out };
        let Some(rec) = Recorder::new("IndexAddBackward0", &[self, source]) else { return Ok(out) };
        let index = index.clone();
        let src_shape = source.shape().to_vec();
        Ok(rec.finish(out, false, move |ctx, g| {
            let gs = if ctx.needs(1) { Some(g.index_select(dim, &index)?.reshape_usize(&src_shape)?) } else { None };
            Ok(vec![Some(g.clone()), gs])
        }))
    }

    /// `gather(dim, index)`: out[i][j] = self[i][index[i][j]] for dim 1, and so on.
    pub fn gather(&self, dim: i64, index: &Tensor) -> Result<Tensor> {
        check_devices(self, &[index])?;
        let index = &long_index(index, "gather")?;
        let d = wrap_dim(dim, self.ndim())?;
        check_scatter_shapes(self, index, d, "gather")?;
        let out = run1(&Op::Index { op: IndexOp::Gather, dim: d }, &[self, index])?;
        let Some(rec) = Recorder::new("GatherBackward0", &[self]) else { return Ok(out) };
        let (shape, index) = (self.shape().to_vec(), index.clone());
        Ok(rec.finish(out, false, move |_, g| {
            Ok(vec![Some(Tensor::zeros_on(&shape, g.dtype(), g.device())?.scatter_add(dim, &index, g)?)])
        }))
    }

    fn scatter_impl(&self, dim: i64, index: &Tensor, src: &Tensor, op: IndexOp) -> Result<Tensor> {
        // A Python number (a 0-d CPU tensor) goes to the indexed tensor's device.
        let src = if crate::op::is_cpu_scalar(src) && src.device() != self.device() { src.to_dtype(self.dtype())?.to_device(self.device())? } else { src.clone() };
        check_devices(self, &[index, &src])?;
        let index = &long_index(index, op.name())?;
        let d = wrap_dim(dim, self.ndim())?;
        check_scatter_shapes(self, index, d, op.name())?;
        let src = if src.ndim() == 0 && index.ndim() > 0 {
            src.expand_to(index.shape())?
        } else {
            for k in 0..index.ndim() {
                if index.shape()[k] > src.shape().get(k).copied().unwrap_or(1) {
                    return Err(Error::Shape(format!(
                        "Expected index {:?} to be smaller than self {:?} apart from dimension {} and to be smaller size than src {:?}",
                        index.shape(), self.shape(), d, src.shape()
                    )));
                }
            }
            src
        };
        let out = run1(&Op::Index { op, dim: d }, &[self, index, &src.cast_plain(self.dtype())?])?;
        let Some(name) = op.grad_fn_name() else { return Ok(out) };
        let Some(rec) = Recorder::new(name, &[self, &src]) else { return Ok(out) };
        let index = index.clone();
        let src_shape = src.shape().to_vec();
        Ok(rec.finish(out, false, move |ctx, g| {
            let gself = if !ctx.needs(0) {
                None
            } else if op == IndexOp::ScatterAdd {
                Some(g.clone())
            } else {
                Some(g.scatter(dim, &index, &Tensor::zeros(&[], g.dtype())?)?)
            };
            let gsrc = if ctx.needs(1) {
                let gi = g.gather(dim, &index)?;
                Some(if gi.shape() == src_shape.as_slice() { gi } else { Tensor::zeros_on(&src_shape, g.dtype(), g.device())?.slice_assign_prefix(&gi)? })
            } else {
                None
            };
            Ok(vec![gself, gsrc])
        }))
    }

    /// A copy of `self` with `src` values written at `index` along `dim`.
    pub fn scatter(&self, dim: i64, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        self.scatter_impl(dim, index, src, IndexOp::Scatter)
    }
    /// A copy of `self` with `src` values added at `index` along `dim`.
    pub fn scatter_add(&self, dim: i64, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        self.scatter_impl(dim, index, src, IndexOp::ScatterAdd)
    }

    /// `self` with `small` written into its leading corner (for gradients of partial sources).
    fn slice_assign_prefix(&self, small: &Tensor) -> Result<Tensor> {
        let mut out = small.clone();
        for d in 0..self.ndim() {
            let mut pads = vec![0i64; 2 * self.ndim()];
            pads[2 * (self.ndim() - 1 - d) + 1] = (self.shape()[d] - small.shape()[d]) as i64;
            out = out.pad(&pads, 0.0)?;
        }
        Ok(out)
    }

    /// `torch.where(self, a, b)` with `self` as the condition; broadcasts all three.
    pub fn where_(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let cond = if self.dtype() == DType::Bool {
            self.clone()
        } else {
            return Err(Error::Runtime(format!("where expected condition to be a boolean tensor, but got a tensor with dtype {}", self.dtype())));
        };
        let dt = result_type(&[a.operand(), b.operand()]);
        broadcast_shapes(&broadcast_shapes(self.shape(), a.shape())?, b.shape())?;
        let out = crate::ops::dispatch::run1(&crate::op::Op::Where, &[self, &a.cast_plain(dt)?, &b.cast_plain(dt)?])?;
        if !dt.is_float() {
            return Ok(out);
        }
        let Some(rec) = Recorder::new("WhereBackward0", &[a, b]) else { return Ok(out) };
        let (sa, sb) = ((a.shape().to_vec(), a.dtype()), (b.shape().to_vec(), b.dtype()));
        let cond = cond.clone();
        Ok(rec.finish(out, false, move |ctx, g| {
            let zero = Tensor::zeros(&[], g.dtype())?;
            let ga = if ctx.needs(0) { crate::ops::binary::reduce_grad(Some(cond.where_(g, &zero)?), &sa)? } else { None };
            let gb = if ctx.needs(1) { crate::ops::binary::reduce_grad(Some(cond.where_(&zero, g)?), &sb)? } else { None };
            Ok(vec![ga, gb])
        }))
    }

    /// Indices of non-zero elements as an [n, ndim] int64 tensor.
    pub fn nonzero(&self) -> Result<Tensor> {
        run1(&Op::Nonzero, &[&self.cast_plain(DType::Bool)?])
    }

    /// These int64 positions along dim `dim` of `size` elements, wrapped into `0..size`
    /// (negative ones count from the end), flattened; PyTorch's IndexError naming the dim for
    /// one out of range. The kernels check the values, so no host code reads them.
    pub fn wrap_positions(&self, size: usize, dim: usize) -> Result<Tensor> {
        let positions = long_index(self, "index")?;
        run1(&Op::WrapIndex { size, dim }, &[&positions.reshape_usize(&[positions.numel()])?])
    }

    /// Elements of the flattened tensor at int64 `index` (any shape); the result has index's shape.
    pub fn take(&self, index: &Tensor) -> Result<Tensor> {
        crate::op::op_device(&[self, index])?;
        let index = &long_index(index, "take")?;
        let flat = self.reshape_usize(&[self.numel()])?;
        let idx = index.wrap_positions(self.numel(), 0)?;
        flat.index_select(0, &idx)?.reshape_usize(index.shape())
    }

    /// A copy of `self` with `values` (broadcast to index's shape) written, or added when
    /// `accumulate`, at int64 positions of the flattened tensor (negative positions count from
    /// the end, as in PyTorch's indexing).
    pub fn put(&self, index: &Tensor, values: &Tensor, accumulate: bool) -> Result<Tensor> {
        let dev = crate::op::op_device(&[self, index, values])?;
        let index = &long_index(index, "index_put")?;
        let numel = self.numel();
        let idx = index.wrap_positions(numel, 0)?;
        let vals = values.to_dtype(self.dtype())?;
        let vals = if vals.device() == dev { vals } else { vals.to_device(dev)? };
        let vals = vals.expand_to(index.shape()).map_err(|_| {
            Error::Shape(format!(
                "shape mismatch: value tensor of shape {:?} cannot be broadcast to indexing result of shape {:?}",
                values.shape(),
                index.shape()
            ))
        })?;
        let vals = vals.reshape_usize(&[idx.numel()])?;
        let flat = self.reshape_usize(&[numel])?;
        let out = if accumulate { flat.index_add(0, &idx, &vals)? } else { flat.scatter(0, &idx, &vals)? };
        out.reshape_usize(self.shape())
    }
}

fn check_scatter_shapes(x: &Tensor, index: &Tensor, d: usize, op: &str) -> Result<()> {
    let xn = x.ndim().max(1);
    let inn = index.ndim().max(1);
    if xn != inn {
        return Err(Error::Shape(format!(
            "Index tensor must have the same number of dimensions as input tensor ({op}: index {:?}, input {:?})",
            index.shape(),
            x.shape()
        )));
    }
    for k in 0..index.ndim() {
        if k != d && index.shape()[k] > x.shape().get(k).copied().unwrap_or(1) {
            return Err(Error::Shape(format!(
                "Size does not match at dimension {k} expected index {:?} to be smaller than self {:?} apart from dimension {d}",
                index.shape(),
                x.shape()
            )));
        }
    }
    Ok(())
}
