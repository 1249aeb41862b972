//! Zero-copy views (reshape, permute, expand, squeeze, slicing, ...) and their backward rules.
use crate::autograd::{Node, Recorder};
use crate::error::{Error, Result};
use crate::layout::{infer_shape, wrap_dim, Layout};
use crate::storage::{try_vec, try_with_capacity};
use crate::tensor::Tensor;
use std::sync::Arc;

/// Where the elements of `view` sit among the elements of `base` (row-major positions), both
/// laid over the same memory, as an int64 tensor on `device`: how a gradient moves between a
/// view and its base whatever their strides.
fn positions_in_base(base: &Layout, view: &Layout, device: crate::Device) -> Result<Tensor> {
    let mut slot = try_vec::<i64>(base.storage_extent().max(view.storage_extent()), -1)?;
    let mut k = 0;
    base.for_each_offset(|o| {
        slot[o] = k;
        k += 1;
    });
    let mut pos = try_with_capacity::<i64>(view.numel())?;
    view.for_each_offset(|o| pos.push(slot[o]));
    if pos.contains(&-1) {
        return Err(Error::Runtime(format!(
            "a view (shape {:?}, strides {:?}, offset {}) reaches memory outside its base (shape {:?}, strides {:?}, offset {})",
            view.shape, view.strides, view.offset, base.shape, base.strides, base.offset
        )));
    }
    Tensor::from_vec(pos, &[view.numel()])?.to_device(device)
}

/// The gradient of a view's base from the gradient `g` of the view: each element's gradient
/// added at its place in the base (elements a broadcast view repeats add up). Differentiable.
pub(crate) fn view_grad_to_base(g: &Tensor, base: &Layout, view: &Layout) -> Result<Tensor> {
    let pos = positions_in_base(base, view, g.device())?;
    let flat = Tensor::zeros_on(&[base.numel()], g.dtype(), g.device())?;
    flat.index_add(0, &pos, &g.reshape_usize(&[g.numel()])?)?.reshape_usize(&base.shape)
}

/// A view's history remade from its base's current one (PyTorch's AsStridedBackward0), for a
/// view whose memory was changed in place after it was taken; None when the base needs no
/// gradient.
pub(crate) fn view_history(base: &Tensor, view: &Layout) -> Option<Arc<Node>> {
    let rec = Recorder::in_any_mode("AsStridedBackward0", &[base])?;
    let (base_layout, view_layout) = (base.layout().clone(), view.clone());
    Some(rec.into_node(move |_, g| Ok(vec![Some(view_grad_to_base(g, &base_layout, &view_layout)?)])))
}

/// The history of `base` after an in-place op wrote `result` into its view laid out as
/// `view` (PyTorch's CopySlices): the base's old history receives the gradient outside the
/// view, `result`'s the gradient inside it.
pub(crate) fn record_copy_slices(base: &Tensor, view: &Layout, result: &Tensor) -> Result<()> {
    let result = result.expand_to(&view.shape)?;
    let Some(rec) = Recorder::new("CopySlices", &[base, &result]) else { return Ok(()) };
    let (base_layout, view_layout) = (base.layout().clone(), view.clone());
    let node = rec.into_node(move |ctx, g| {
        let pos = positions_in_base(&base_layout, &view_layout, g.device())?;
        let flat = g.reshape_usize(&[g.numel()])?;
        let outside = if ctx.needs(0) {
            let zeros = Tensor::zeros_on(&[pos.numel()], g.dtype(), g.device())?;
            Some(flat.scatter(0, &pos, &zeros)?.reshape_usize(&base_layout.shape)?)
        } else {
            None
        };
        let inside = if ctx.needs(1) { Some(flat.index_select(0, &pos)?.reshape_usize(&view_layout.shape)?) } else { None };
        Ok(vec![outside, inside])
    });
    base.set_grad_fn(Some(node));
    Ok(())
}

impl Tensor {
    /// A view of this tensor with `layout`, recording `backward` for autograd.
    fn make_view(
        &self,
        layout: Layout,
        name: &'static str,
        backward: impl Fn(&Tensor) -> Result<Tensor> + Send + Sync + 'static,
    ) -> Tensor {
        let out = self.view_of_base(layout);
        match Recorder::new(name, &[self]) {
            Some(rec) => rec.finish(out, false, move |_, g| Ok(vec![Some(backward(g)?)])),
            None => out,
        }
    }

    /// `view`: a new shape over the same memory; fails where the strides do not allow it.
    pub fn view(&self, shape: &[i64]) -> Result<Tensor> {
        let shape = infer_shape(shape, self.numel())?;
        let layout = self.layout().view(&shape).ok_or_else(|| {
            Error::Shape(
                "view size is not compatible with input tensor's size and stride (at least one dimension spans across two contiguous subspaces). Use .reshape(...) instead.".into(),
            )
        })?;
        let src = self.shape().to_vec();
        Ok(self.make_view(layout, "ViewBackward0", move |g| g.reshape_usize(&src)))
    }

    /// `reshape`: a view when possible, else a contiguous copy.
    pub fn reshape(&self, shape: &[i64]) -> Result<Tensor> {
        let shape = infer_shape(shape, self.numel())?;
        self.reshape_usize(&shape)
    }

    pub fn reshape_usize(&self, shape: &[usize]) -> Result<Tensor> {
        if shape == self.shape() {
            return Ok(self.clone());
        }
        if crate::layout::checked_numel(shape)? != self.numel() {
            return Err(Error::Shape(format!("shape '{:?}' is invalid for input of size {}", shape, self.numel())));
        }
        let src = self.shape().to_vec();
        match self.layout().view(shape) {
            Some(layout) => Ok(self.make_view(layout, "ViewBackward0", move |g| g.reshape_usize(&src))),
            None => self.clone_data()?.reshape_usize(shape),
        }
    }

    /// A reshape of a fresh (contiguous) result whose autograd node carries `grad_fn`: the name
    /// of the last step PyTorch's decomposition of a composite op records (`UnsafeViewBackward0`
    /// after a folded matmul, for instance).
    pub(crate) fn result_view(&self, shape: &[usize], grad_fn: &'static str) -> Result<Tensor> {
        let layout = self.layout().view(shape).ok_or_else(|| Error::Runtime(format!("result_view: {:?} is not a view of {:?}", shape, self.shape())))?;
        let src = self.shape().to_vec();
        Ok(self.make_view(layout, grad_fn, move |g| g.reshape_usize(&src)))
    }

    pub fn permute(&self, dims: &[i64]) -> Result<Tensor> {
        let n = self.ndim();
        let dims = dims.iter().map(|&d| wrap_dim(d, n)).collect::<Result<Vec<_>>>()?;
        let layout = self.layout().permute(&dims)?;
        let mut inverse = vec![0i64; n];
        for (i, &d) in dims.iter().enumerate() {
            inverse[d] = i as i64;
        }
        Ok(self.make_view(layout, "PermuteBackward0", move |g| g.permute(&inverse)))
    }

    pub fn transpose(&self, a: i64, b: i64) -> Result<Tensor> {
        let n = self.ndim();
        let (a, b) = (wrap_dim(a, n)?, wrap_dim(b, n)?);
        if n == 0 {
            return Ok(self.clone());
        }
        let layout = self.layout().transpose(a, b);
        Ok(self.make_view(layout, "TransposeBackward0", move |g| g.transpose(a as i64, b as i64)))
    }

    /// `.t()`: transpose of a tensor with at most 2 dims.
    pub fn t(&self) -> Result<Tensor> {
        if self.ndim() > 2 {
            return Err(Error::Shape(format!("t() expects a tensor with <= 2 dimensions, but self is {}D", self.ndim())));
        }
        if self.ndim() < 2 {
            return Ok(self.clone());
        }
        self.transpose(0, 1)
    }

    /// `expand`: broadcast to `shape` without copying; -1 keeps a size.
    pub fn expand(&self, shape: &[i64]) -> Result<Tensor> {
        let lead = shape.len() as isize - self.ndim() as isize;
        if lead < 0 {
            return Err(Error::Shape(format!(
                "expand(torch.FloatTensor{{{:?}}}, size=[{}]): the number of sizes provided ({}) must be greater or equal to the number of dimensions in the tensor ({})",
                self.shape(), shape.len(), shape.len(), self.ndim()
            )));
        }
        let target = shape
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                if d == -1 {
                    if (i as isize) < lead {
                        return Err(Error::Shape("expand: -1 is not allowed in a leading, non-existing dimension".into()));
                    }
                    Ok(self.shape()[i - lead as usize])
                } else if d < 0 {
                    Err(Error::Shape(format!("expand: invalid size {d}")))
                } else {
                    Ok(d as usize)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        self.expand_to(&target)
    }

    pub fn expand_to(&self, shape: &[usize]) -> Result<Tensor> {
        if shape == self.shape() {
            return Ok(self.clone());
        }
        let layout = self.layout().expand(shape)?;
        let src = self.shape().to_vec();
        Ok(self.make_view(layout, "ExpandBackward0", move |g| g.sum_to_shape(&src)))
    }

    /// Sums a broadcast result back down to `shape` (the backward of broadcasting).
    pub fn sum_to_shape(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let lead = self.ndim() - shape.len();
        let mut dims: Vec<i64> = (0..lead as i64).collect();
        for (i, &d) in shape.iter().enumerate() {
            if d == 1 && self.shape()[lead + i] != 1 {
                dims.push((lead + i) as i64);
            }
        }
        let summed = if dims.is_empty() { self.clone() } else { self.sum_dims(&dims, true)? };
        summed.reshape_usize(shape)
    }

    pub fn unsqueeze(&self, dim: i64) -> Result<Tensor> {
        let d = wrap_dim(dim, self.ndim() + 1)?;
        let layout = self.layout().unsqueeze(d);
        let src = self.shape().to_vec();
        Ok(self.make_view(layout, "UnsqueezeBackward0", move |g| g.reshape_usize(&src)))
    }

    /// `squeeze(dims)`; None squeezes every size-1 dim.
    pub fn squeeze(&self, dims: Option<&[i64]>) -> Result<Tensor> {
        let n = self.ndim();
        let dims: Vec<usize> = match dims {
            Some(ds) => ds.iter().map(|&d| wrap_dim(d, n)).collect::<Result<_>>()?,
            None => (0..n).collect(),
        };
        if n == 0 {
            return Ok(self.clone());
        }
        let layout = self.layout().squeeze_dims(&dims);
        if layout.shape == self.shape() {
            return Ok(self.clone());
        }
        let src = self.shape().to_vec();
        Ok(self.make_view(layout, "SqueezeBackward0", move |g| g.reshape_usize(&src)))
    }

    pub fn flatten(&self, start: i64, end: i64) -> Result<Tensor> {
        if self.ndim() == 0 {
            return self.reshape_usize(&[1]);
        }
        let (s, e) = (wrap_dim(start, self.ndim())?, wrap_dim(end, self.ndim())?);
        if s > e {
            return Err(Error::Shape("flatten() has invalid args: start_dim cannot come after end_dim".into()));
        }
        let mut shape: Vec<usize> = self.shape()[..s].to_vec();
        shape.push(self.shape()[s..=e].iter().product());
        shape.extend_from_slice(&self.shape()[e + 1..]);
        self.reshape_usize(&shape)
    }

    /// Python-style slice `start:stop:step` along `dim` (negative and out-of-range bounds are
    /// clamped as in Python; step must be positive).
    pub fn slice(&self, dim: i64, start: Option<i64>, stop: Option<i64>, step: i64) -> Result<Tensor> {
        let d = wrap_dim(dim, self.ndim())?;
        if step <= 0 {
            return Err(Error::Value("step must be greater than zero".into()));
        }
        let len = self.shape()[d] as i64;
        let clamp = |v: i64| if v < 0 { (v + len).max(0) } else { v.min(len) };
        let start = clamp(start.unwrap_or(0));
        let stop = clamp(stop.unwrap_or(len)).max(start);
        let (start, stop, step) = (start as usize, stop as usize, step as usize);
        if start == 0 && stop == len as usize && step == 1 {
            return Ok(self.clone());
        }
        let layout = self.layout().slice(d, start, stop, step);
        let src = self.shape().to_vec();
        Ok(self.make_view(layout, "SliceBackward0", move |g| g.slice_backward(&src, d, start, step)))
    }

    /// The backward of slicing: a zero tensor of `shape` holding `self` at the sliced place.
    pub fn slice_backward(&self, shape: &[usize], dim: usize, start: usize, step: usize) -> Result<Tensor> {
        let out = Tensor::zeros_on(shape, self.dtype(), self.device())?;
        let stop = start + self.shape()[dim] * step;
        out.view_with_layout(out.layout().slice(dim, start, stop.min(shape[dim]), step)).write_from(self)?;
        Ok(match Recorder::new("SliceBackwardBackward0", &[self]) {
            Some(rec) => rec.finish(out, false, move |_, g| {
                Ok(vec![Some(g.slice(dim as i64, Some(start as i64), Some(stop as i64), step as i64)?)])
            }),
            None => out,
        })
    }

    pub fn narrow(&self, dim: i64, start: i64, length: i64) -> Result<Tensor> {
        let d = wrap_dim(dim, self.ndim())?;
        let size = self.shape()[d] as i64;
        let start = if start < 0 { start + size } else { start };
        if start < 0 || start > size {
            return Err(Error::Index(format!("start out of range (expected to be in range of [{}, {size}], but got {start})", -size)));
        }
        if length < 0 || start + length > size {
            return Err(Error::Runtime(format!(
                "start ({start}) + length ({length}) exceeds dimension size ({size})."
            )));
        }
        self.slice(d as i64, Some(start), Some(start + length), 1)
    }

    /// `x[index]` along `dim`: the dim is removed.
    pub fn select(&self, dim: i64, index: i64) -> Result<Tensor> {
        if self.ndim() == 0 {
            return Err(Error::Index("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or `tensor.item<T>()` in C++ to convert a 0-dim tensor to a number".into()));
        }
        let d = wrap_dim(dim, self.ndim())?;
        let size = self.shape()[d] as i64;
        if index < -size || index >= size {
            return Err(Error::Index(format!(
                "index {index} is out of bounds for dimension {d} with size {size}"
            )));
        }
        let i = if index < 0 { index + size } else { index } as usize;
        let layout = self.layout().select(d, i);
        let src = self.shape().to_vec();
        Ok(self.make_view(layout, "SelectBackward0", move |g| {
            g.unsqueeze(d as i64)?.slice_backward(&src, d, i, 1)
        }))
    }

    /// `unfold(dim, size, step)`: sliding windows along `dim` as a new last dim (a view).
    pub fn unfold_dim(&self, dim: i64, size: usize, step: usize) -> Result<Tensor> {
        let d = wrap_dim(dim, self.ndim())?;
        let len = if self.ndim() == 0 { 1 } else { self.shape()[d] };
        if size > len {
            return Err(Error::Shape(format!("maximum size for tensor at dimension {d} is {len} but size is {size}")));
        }
        if step == 0 {
            return Err(Error::Shape("step is 0 but must be > 0".into()));
        }
        let mut l = self.layout().clone();
        l.shape[d] = (len - size) / step + 1;
        let st = l.strides[d];
        l.strides[d] = st * step;
        l.shape.push(size);
        l.strides.push(st);
        // Windows may overlap, so the backward gathers through indices.
        let idx: Vec<i64> = (0..l.shape[d]).flat_map(|w| (0..size).map(move |k| (w * step + k) as i64)).collect();
        let index = Tensor::from_vec(idx, &[l.shape[d] * size])?.to_device(self.device())?;
        let src = self.shape().to_vec();
        let (windows, nd) = (l.shape[d], self.ndim());
        Ok(self.make_view(l, "UnfoldBackward0", move |g| {
            // g: [..., windows(at d), ..., size] -> move size next to windows, flatten, index_add.
            let g = g.movedim(nd as i64, d as i64 + 1)?;
            let mut shape = g.shape().to_vec();
            shape[d] = windows * size;
            shape.remove(d + 1);
            let g = g.reshape_usize(&shape)?;
            Tensor::zeros_on(&src, g.dtype(), g.device())?.index_add(d as i64, &index, &g)
        }))
    }

    /// `diagonal(offset, dim1, dim2)`: the diagonal of the `dim1` x `dim2` planes as a new last
    /// dim (a view).
    pub fn diagonal(&self, offset: i64, dim1: i64, dim2: i64) -> Result<Tensor> {
        let n = self.ndim();
        let (d1, d2) = (wrap_dim(dim1, n)?, wrap_dim(dim2, n)?);
        if d1 == d2 {
            return Err(Error::Shape(format!("diagonal dimensions cannot be identical {dim1}, {dim2}")));
        }
        let l = self.layout();
        let (rows, cols) = (l.shape[d1] as i64, l.shape[d2] as i64);
        let len = if offset >= 0 { rows.min(cols - offset) } else { (rows + offset).min(cols) }.max(0) as usize;
        let mut view = Layout { shape: vec![], strides: vec![], offset: l.offset };
        if len > 0 {
            view.offset += if offset >= 0 { offset as usize * l.strides[d2] } else { offset.unsigned_abs() as usize * l.strides[d1] };
        }
        for d in (0..n).filter(|&d| d != d1 && d != d2) {
            view.shape.push(l.shape[d]);
            view.strides.push(l.strides[d]);
        }
        view.shape.push(len);
        view.strides.push(l.strides[d1] + l.strides[d2]);
        let (src, diag) = (l.clone(), view.clone());
        Ok(self.make_view(view, "DiagonalBackward0", move |g| view_grad_to_base(g, &src, &diag)))
    }

    /// Moves dim `src` to position `dst`.
    pub fn movedim(&self, src: i64, dst: i64) -> Result<Tensor> {
        let n = self.ndim();
        let (s, d) = (wrap_dim(src, n)?, wrap_dim(dst, n)?);
        let mut order: Vec<i64> = (0..n as i64).filter(|&i| i as usize != s).collect();
        order.insert(d, s as i64);
        self.permute(&order)
    }
}
