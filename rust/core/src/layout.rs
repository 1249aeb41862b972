//! Shape, strides (in elements) and offset into storage; broadcasting; the index math of
//! zero-copy views.
use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    pub shape: Vec<usize>,
    pub strides: Vec<usize>,
    pub offset: usize,
}

pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1usize;
    for i in (0..shape.len()).rev() {
        strides[i] = acc;
        acc = acc.saturating_mul(shape[i].max(1));
    }
    strides
}

/// The number of elements of `shape`, refusing products that overflow.
pub fn checked_numel(shape: &[usize]) -> Result<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| {
        Error::OutOfMemory(format!("shape {shape:?} has more elements than can be addressed"))
    })
}

/// Wraps a possibly negative dim into `0..ndim`, with PyTorch's IndexError message.
pub fn wrap_dim(dim: i64, ndim: usize) -> Result<usize> {
    let n = ndim.max(1) as i64;
    if dim < -n || dim >= n {
        return Err(Error::Index(format!(
            "Dimension out of range (expected to be in range of [{}, {}], but got {})",
            -n,
            n - 1,
            dim
        )));
    }
    Ok(if dim < 0 { (dim + n) as usize } else { dim as usize })
}

/// NumPy/PyTorch broadcasting of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::Shape(format!(
                "The size of tensor a ({}) must match the size of tensor b ({}) at non-singleton dimension {}",
                da, db, i
            )));
        };
    }
    Ok(out)
}

impl Layout {
    pub fn contiguous(shape: &[usize]) -> Layout {
        Layout { shape: shape.to_vec(), strides: contiguous_strides(shape), offset: 0 }
    }
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    /// Row-major contiguous, ignoring the strides of size-1 dims (as PyTorch does).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1;
        for i in (0..self.shape.len()).rev() {
            if self.shape[i] == 1 {
                continue;
            }
            if self.strides[i] != expected {
                return false;
            }
            expected *= self.shape[i];
        }
        true
    }
    /// Some elements share a memory location (a broadcast dim): PyTorch's cheap check, which
    /// in-place writes and gradient accumulation refuse.
    pub fn has_internal_overlap(&self) -> bool {
        self.shape.iter().zip(&self.strides).any(|(&d, &s)| d > 1 && s == 0)
    }
    /// The storage range `offset..offset+numel` when contiguous.
    pub fn contiguous_range(&self) -> Option<std::ops::Range<usize>> {
        self.is_contiguous().then(|| self.offset..self.offset + self.numel())
    }
    /// Whether the layout is a permutation of a contiguous one (a transpose, `permute`): it
    /// covers `offset..offset + numel` exactly once.
    pub fn is_dense(&self) -> bool {
        let mut dims: Vec<(usize, usize)> = self.shape.iter().zip(&self.strides).filter(|(&d, _)| d != 1).map(|(&d, &s)| (s, d)).collect();
        dims.sort_unstable();
        let mut expected = 1;
        dims.iter().all(|&(stride, size)| {
            let ok = stride == expected;
            expected *= size;
            ok
        })
    }
    /// One past the largest storage index this layout touches (0 when empty).
    pub fn storage_extent(&self) -> usize {
        if self.shape.contains(&0) {
            return 0;
        }
        self.offset + self.shape.iter().zip(&self.strides).map(|(&d, &s)| (d - 1) * s).sum::<usize>() + 1
    }

    pub fn permute(&self, dims: &[usize]) -> Result<Layout> {
        let n = self.ndim();
        if dims.len() != n {
            return Err(Error::Shape(format!(
                "permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired ordering of dimensions i.e. input.dim() = {} is not equal to len(dims) = {}",
                n,
                dims.len()
            )));
        }
        let mut seen = vec![false; n];
        for &d in dims {
            if d >= n || seen[d] {
                return Err(Error::Shape(format!("permute(): duplicate or out-of-range dims {dims:?} for a tensor of {n} dims")));
            }
            seen[d] = true;
        }
        Ok(Layout {
            shape: dims.iter().map(|&d| self.shape[d]).collect(),
            strides: dims.iter().map(|&d| self.strides[d]).collect(),
            offset: self.offset,
        })
    }
    pub fn transpose(&self, a: usize, b: usize) -> Layout {
        let mut l = self.clone();
        l.shape.swap(a, b);
        l.strides.swap(a, b);
        l
    }
    pub fn unsqueeze(&self, dim: usize) -> Layout {
        let mut l = self.clone();
        let stride = if dim < self.ndim() { self.strides[dim] * self.shape[dim] } else { 1 };
        l.shape.insert(dim, 1);
        l.strides.insert(dim, stride);
        l
    }
    pub fn squeeze_dims(&self, dims: &[usize]) -> Layout {
        let mut l = Layout { shape: vec![], strides: vec![], offset: self.offset };
        for i in 0..self.ndim() {
            if !(dims.contains(&i) && self.shape[i] == 1) {
                l.shape.push(self.shape[i]);
                l.strides.push(self.strides[i]);
            }
        }
        l
    }
    /// Elements `start, start+step, ...` below `stop` along `dim` (all in range, step > 0).
    pub fn slice(&self, dim: usize, start: usize, stop: usize, step: usize) -> Layout {
        let mut l = self.clone();
        let len = if stop > start { (stop - start).div_ceil(step) } else { 0 };
        if len > 0 {
            l.offset += start * self.strides[dim];
        }
        l.shape[dim] = len;
        l.strides[dim] *= step;
        l
    }
    pub fn select(&self, dim: usize, index: usize) -> Layout {
        let mut l = self.clone();
        l.offset += index * self.strides[dim];
        l.shape.remove(dim);
        l.strides.remove(dim);
        l
    }
    /// Broadcasts to `shape` with stride 0 on expanded dims (PyTorch's expand).
    pub fn expand(&self, shape: &[usize]) -> Result<Layout> {
        let n = shape.len();
        if n < self.ndim() {
            return Err(Error::Shape(format!(
                "expand: the number of sizes provided ({}) must be greater or equal to the number of dimensions in the tensor ({})",
                n,
                self.ndim()
            )));
        }
        let lead = n - self.ndim();
        let mut strides = vec![0; n];
        for i in 0..n {
            if i < lead {
                continue;
            }
            let (d, s) = (self.shape[i - lead], self.strides[i - lead]);
            if d == shape[i] {
                strides[i] = s;
            } else if d != 1 {
                return Err(Error::Shape(format!(
                    "The expanded size of the tensor ({}) must match the existing size ({}) at non-singleton dimension {}.  Target sizes: {:?}.  Tensor sizes: {:?}",
                    shape[i], d, i, shape, self.shape
                )));
            }
        }
        Ok(Layout { shape: shape.to_vec(), strides, offset: self.offset })
    }
    /// A view with a new shape, when the strides allow it without a copy (PyTorch's
    /// computeStride); None when a copy is needed.
    pub fn view(&self, shape: &[usize]) -> Option<Layout> {
        let numel = self.numel();
        if numel == 0 || self.ndim() == 0 {
            return Some(Layout { shape: shape.to_vec(), strides: contiguous_strides(shape), offset: self.offset });
        }
        let mut new_strides = vec![0usize; shape.len()];
        let mut view_d = shape.len() as isize - 1;
        let mut chunk_base_stride = *self.strides.last().unwrap();
        let mut tensor_numel = 1usize;
        let mut view_numel = 1usize;
        for tensor_d in (0..self.ndim()).rev() {
            tensor_numel *= self.shape[tensor_d];
            if tensor_d == 0
                || (self.shape[tensor_d - 1] != 1 && self.strides[tensor_d - 1] != tensor_numel * chunk_base_stride)
            {
                while view_d >= 0 && (view_numel < tensor_numel || shape[view_d as usize] == 1) {
                    new_strides[view_d as usize] = view_numel * chunk_base_stride;
                    view_numel *= shape[view_d as usize];
                    view_d -= 1;
                }
                if view_numel != tensor_numel {
                    return None;
                }
                if tensor_d > 0 {
                    chunk_base_stride = self.strides[tensor_d - 1];
                    tensor_numel = 1;
                    view_numel = 1;
                }
            }
        }
        if view_d != -1 {
            return None;
        }
        Some(Layout { shape: shape.to_vec(), strides: new_strides, offset: self.offset })
    }

    /// Calls `f` with the storage index of every element, in row-major order.
    #[inline]
    pub fn for_each_offset(&self, mut f: impl FnMut(usize)) {
        let n = self.numel();
        if n == 0 {
            return;
        }
        let nd = self.ndim();
        if nd == 0 {
            f(self.offset);
            return;
        }
        let inner = self.shape[nd - 1];
        let inner_stride = self.strides[nd - 1];
        let mut idx = vec![0usize; nd];
        let mut base = self.offset;
        loop {
            let mut off = base;
            for _ in 0..inner {
                f(off);
                off += inner_stride;
            }
            // Advance the outer multi-index.
            let mut d = nd - 1;
            loop {
                if d == 0 {
                    return;
                }
                d -= 1;
                idx[d] += 1;
                base += self.strides[d];
                if idx[d] < self.shape[d] {
                    break;
                }
                base -= self.strides[d] * idx[d];
                idx[d] = 0;
            }
        }
    }
}

/// Parses a shape where one entry may be -1 (inferred), for `view`/`reshape`.
pub fn infer_shape(shape: &[i64], numel: usize) -> Result<Vec<usize>> {
    let mut infer = None;
    let mut known = 1usize;
    for (i, &d) in shape.iter().enumerate() {
        if d == -1 {
            if infer.is_some() {
                return Err(Error::Shape("only one dimension can be inferred".into()));
            }
            infer = Some(i);
        } else if d < 0 {
            return Err(Error::Shape(format!("invalid shape dimension {d}")));
        } else {
            known = known.checked_mul(d as usize).ok_or_else(|| Error::Shape(format!("shape {shape:?} is too large")))?;
        }
    }
    let mut out: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
    match infer {
        Some(i) => {
            if known == 0 || numel % known != 0 {
                return Err(Error::Shape(format!("shape '{shape:?}' is invalid for input of size {numel}")));
            }
            out[i] = numel / known;
        }
        None if known != numel => {
            return Err(Error::Shape(format!("shape '{shape:?}' is invalid for input of size {numel}")));
        }
        None => {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(l: &Layout) -> Vec<usize> {
        let mut v = vec![];
        l.for_each_offset(|o| v.push(o));
        v
    }

    #[test]
    fn broadcasting() {
        assert_eq!(broadcast_shapes(&[3, 1], &[4]).unwrap(), vec![3, 4]);
        assert_eq!(broadcast_shapes(&[], &[2, 2]).unwrap(), vec![2, 2]);
        assert!(broadcast_shapes(&[3], &[4]).is_err());
    }

    #[test]
    fn transpose_iterates_column_major() {
        let l = Layout::contiguous(&[2, 3]).transpose(0, 1);
        assert_eq!(offsets(&l), vec![0, 3, 1, 4, 2, 5]);
        assert!(!l.is_contiguous());
    }

    #[test]
    fn slicing_with_step() {
        let l = Layout::contiguous(&[10]).slice(0, 1, 8, 3);
        assert_eq!(offsets(&l), vec![1, 4, 7]);
    }

    #[test]
    fn expand_gives_zero_strides() {
        let l = Layout::contiguous(&[3, 1]).expand(&[2, 3, 4]).unwrap();
        assert_eq!(l.strides, vec![0, 1, 0]);
        assert_eq!(offsets(&l).len(), 24);
        assert!(Layout::contiguous(&[3]).expand(&[4]).is_err());
    }

    #[test]
    fn view_of_transposed_needs_copy() {
        let l = Layout::contiguous(&[2, 3]).transpose(0, 1);
        assert!(l.view(&[6]).is_none());
        assert_eq!(l.view(&[3, 2, 1]).unwrap().strides[..2], [1, 3]);
        let c = Layout::contiguous(&[2, 3, 4]);
        assert_eq!(c.view(&[6, 4]).unwrap().strides, vec![4, 1]);
    }

    #[test]
    fn infer_minus_one() {
        assert_eq!(infer_shape(&[-1, 4], 12).unwrap(), vec![3, 4]);
        assert!(infer_shape(&[-1, 5], 12).is_err());
        assert!(infer_shape(&[-1, -1], 12).is_err());
    }
}
