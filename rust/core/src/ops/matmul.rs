//! Matrix products: `matmul` with PyTorch's 1-D/2-D/batched-broadcast rules, `mm`, `bmm`,
//! `dot`, `linear`: shape and dtype checks, one `Op::Matmul` kernel call, backward rules.
use crate::autograd::Recorder;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layout::broadcast_shapes;
use crate::op::Op;
use crate::ops::dispatch::run1;
use crate::tensor::Tensor;

impl Tensor {
    /// Batched matmul of operands with >= 2 dims, broadcasting the batch dims.
    fn matmul_nd(&self, other: &Tensor) -> Result<Tensor> {
        self.matmul_recorded(other, "MmBackward0")
    }

    /// `matmul_nd` whose autograd node is named `grad_fn`.
    fn matmul_recorded(&self, other: &Tensor, grad_fn: &'static str) -> Result<Tensor> {
        let (a, b) = (self, other);
        let (m, k) = (a.shape()[a.ndim() - 2], a.shape()[a.ndim() - 1]);
        let (k2, n) = (b.shape()[b.ndim() - 2], b.shape()[b.ndim() - 1]);
        if k != k2 {
            return Err(Error::Shape(format!(
                "mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{})",
                a.shape()[..a.ndim() - 1].iter().product::<usize>(),
                k,
                k2,
                n
            )));
        }
        let batch = broadcast_shapes(&a.shape()[..a.ndim() - 2], &b.shape()[..b.ndim() - 2])?;
        let mut sa = batch.clone();
        sa.extend([m, k]);
        let mut sb = batch.clone();
        sb.extend([k, n]);
        let (ae, be) = (a.detach().expand_to(&sa)?, b.detach().expand_to(&sb)?);
        let out = run1(&Op::Matmul { batch: &batch }, &[&ae, &be])?;
        let Some(mut rec) = Recorder::new(grad_fn, &[a, b]) else { return Ok(out) };
        let (na, nb) = (rec.needs(0), rec.needs(1));
        let ia = nb.then(|| rec.save(a));
        let ib = na.then(|| rec.save(b));
        let (shape_a, shape_b) = (a.shape().to_vec(), b.shape().to_vec());
        Ok(rec.finish(out, false, move |ctx, g| {
            let batched = g.ndim() > 2;
            let ga = match ib {
                // A 2-D `a` shared by every batch: one product over the batch, not a sum of many.
                Some(i) if batched && shape_a.len() == 2 => {
                    let b = ctx.saved(i)?;
                    let mut full = g.shape()[..g.ndim() - 2].to_vec();
                    full.extend_from_slice(&b.shape()[b.ndim() - 2..]);
                    let (m, k) = (shape_a[0] as i64, shape_a[1] as i64);
                    let gm = g.movedim(-2, 0)?.reshape(&[m, -1])?;
                    let bm = b.expand_to(&full)?.movedim(-2, 0)?.reshape(&[k, -1])?;
                    Some(gm.matmul_nd(&bm.t()?)?)
                }
                Some(i) => Some(g.matmul_nd(&ctx.saved(i)?.transpose(-1, -2)?)?.sum_to_shape(&shape_a)?),
                None => None,
            };
            let gb = match ia {
                Some(i) if batched && shape_b.len() == 2 => {
                    let a = ctx.saved(i)?;
                    let mut full = g.shape()[..g.ndim() - 2].to_vec();
                    full.extend_from_slice(&a.shape()[a.ndim() - 2..]);
                    let (k, n) = (shape_b[0] as i64, shape_b[1] as i64);
                    let am = a.expand_to(&full)?.reshape(&[-1, k])?;
                    Some(am.t()?.matmul_nd(&g.reshape(&[-1, n])?)?)
                }
                Some(i) => Some(ctx.saved(i)?.transpose(-1, -2)?.matmul_nd(g)?.sum_to_shape(&shape_b)?),
                None => None,
            };
            Ok(vec![ga, gb])
        }))
    }

    fn check_matmul_dtypes(&self, other: &Tensor) -> Result<()> {
        if self.dtype() != other.dtype() {
            return Err(Error::Runtime(format!(
                "expected m1 and m2 to have the same dtype, but got: {} != {}",
                self.dtype(),
                other.dtype()
            )));
        }
        if self.dtype() == DType::Bool {
            return Err(Error::DType("\"addmm_impl_cpu_\" not implemented for 'Bool'".into()));
        }
        Ok(())
    }

    /// `matmul` with PyTorch's rules for 1-D, 2-D and batched operands.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        self.check_matmul_dtypes(other)?;
        let (da, db) = (self.ndim(), other.ndim());
        if da == 0 || db == 0 {
            return Err(Error::Shape(format!(
                "both arguments to matmul need to be at least 1D, but they are {da}D and {db}D"
            )));
        }
        let product = match (da, db) {
            (1, 1) => return self.dot(other),
            (2, 1) => return self.mv(other),
            (2, 2) => return self.matmul_nd(other),
            (1, _) => self.unsqueeze(0)?.matmul_nd(other)?,
            (_, 1) => self.matmul_nd(&other.unsqueeze(1)?)?,
            _ => self.matmul_nd(other)?,
        };
        let mut shape = product.shape().to_vec();
        if da == 1 {
            shape.remove(shape.len() - 2);
        } else if db == 1 {
            shape.pop();
        }
        product.result_view(&shape, matmul_grad_fn(self.shape(), other.shape()))
    }

    /// Matrix [m, k] times vector [k] as one node (PyTorch's `MvBackward0`).
    fn mv(&self, v: &Tensor) -> Result<Tensor> {
        let out = self.detach().matmul_nd(&v.detach().unsqueeze(1)?)?.squeeze(Some(&[-1]))?;
        let Some(mut rec) = Recorder::new("MvBackward0", &[self, v]) else { return Ok(out) };
        let (na, nv) = (rec.needs(0), rec.needs(1));
        let ia = nv.then(|| rec.save(self));
        let iv = na.then(|| rec.save(v));
        Ok(rec.finish(out, false, move |ctx, g| {
            let g1 = g.unsqueeze(1)?;
            let ga = match iv {
                Some(i) => Some(g1.matmul_nd(&ctx.saved(i)?.unsqueeze(0)?)?),
                None => None,
            };
            let gv = match ia {
                Some(i) => Some(ctx.saved(i)?.t()?.matmul_nd(&g1)?.squeeze(Some(&[-1]))?),
                None => None,
            };
            Ok(vec![ga, gv])
        }))
    }

    pub fn mm(&self, other: &Tensor) -> Result<Tensor> {
        if self.ndim() != 2 {
            return Err(Error::Shape(format!("self must be a matrix, got {}D", self.ndim())));
        }
        if other.ndim() != 2 {
            return Err(Error::Shape(format!("mat2 must be a matrix, got {}D", other.ndim())));
        }
        self.check_matmul_dtypes(other)?;
        self.matmul_nd(other)
    }

    pub fn bmm(&self, other: &Tensor) -> Result<Tensor> {
        if self.ndim() != 3 || other.ndim() != 3 {
            return Err(Error::Shape(format!(
                "batch1 must be a 3D tensor and batch2 must be a 3D tensor, got {}D and {}D",
                self.ndim(),
                other.ndim()
            )));
        }
        if self.shape()[0] != other.shape()[0] {
            return Err(Error::Shape(format!(
                "batch1 and batch2 must have same number of batches, got {} and {}",
                self.shape()[0],
                other.shape()[0]
            )));
        }
        self.check_matmul_dtypes(other)?;
        self.matmul_recorded(other, "BmmBackward0")
    }

    pub fn dot(&self, other: &Tensor) -> Result<Tensor> {
        if self.ndim() != 1 || other.ndim() != 1 {
            return Err(Error::Shape(format!(
                "1D tensors expected, but got {}D and {}D tensors",
                self.ndim(),
                other.ndim()
            )));
        }
        if self.shape() != other.shape() {
            return Err(Error::Shape(format!(
                "inconsistent tensor size, expected tensor [{}] and src [{}] to have the same number of elements, but got {} and {} elements respectively",
                self.shape()[0],
                other.shape()[0],
                self.shape()[0],
                other.shape()[0]
            )));
        }
        self.check_matmul_dtypes(other)?;
        let out = self.detach().unsqueeze(0)?.matmul_nd(&other.detach().unsqueeze(1)?)?.reshape_usize(&[])?;
        let Some(mut rec) = Recorder::new("DotBackward0", &[self, other]) else { return Ok(out) };
        let (ia, ib) = (rec.save(self), rec.save(other));
        Ok(rec.finish(out, false, move |ctx, g| {
            let ga = if ctx.needs(0) { Some(g.mul(&ctx.saved(ib)?)?) } else { None };
            let gb = if ctx.needs(1) { Some(g.mul(&ctx.saved(ia)?)?) } else { None };
            Ok(vec![ga, gb])
        }))
    }
}

impl Tensor {
    /// `F.linear`: x @ weight^T + bias in one op (PyTorch's addmm path, or mm without a bias). The weight's gradient
    /// comes out of one gemm already in the weight's layout (no transposed copy).
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        if weight.ndim() != 2 || self.ndim() == 0 {
            return Err(Error::Shape(format!(
                "linear: expected input with at least 1 dim and a 2-D weight, got input {:?} and weight {:?}",
                self.shape(),
                weight.shape()
            )));
        }
        let (out_f, in_f) = (weight.shape()[0], weight.shape()[1]);
        if self.shape()[self.ndim() - 1] != in_f {
            return Err(Error::Shape(format!(
                "mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{})",
                self.numel() / self.shape()[self.ndim() - 1].max(1),
                self.shape()[self.ndim() - 1],
                in_f,
                out_f
            )));
        }
        self.check_matmul_dtypes(weight)?;
        if let Some(b) = bias {
            if b.shape() != [out_f] {
                return Err(Error::Shape(format!("linear: bias of shape {:?} does not match {out_f} output features", b.shape())));
            }
        }
        let mut out_shape = self.shape()[..self.ndim() - 1].to_vec();
        out_shape.push(out_f);
        if self.ndim() > 2 {
            // As PyTorch: the batch dims folded into one mm/addmm, its result viewed back.
            let rows = self.numel() / in_f.max(1);
            return self.reshape_usize(&[rows, in_f])?.linear(weight, bias)?.result_view(&out_shape, "UnsafeViewBackward0");
        }
        let x2 = self.detach().reshape_usize(&[self.numel() / in_f.max(1), in_f])?;
        let wt = weight.detach().t()?;
        let mut out = run1(&Op::Matmul { batch: &[] }, &[&x2, &wt])?;
        if let Some(b) = bias {
            out = out.binary(crate::ops::BinaryOp::Add, &b.detach().to_dtype(out.dtype())?)?;
        }
        let out = out.reshape_usize(&out_shape)?;
        let inputs: Vec<&Tensor> = std::iter::once(self).chain(std::iter::once(weight)).chain(bias).collect();
        // PyTorch's node: addmm with a bias, mm without.
        let Some(mut rec) = Recorder::new(if bias.is_some() { "AddmmBackward0" } else { "MmBackward0" }, &inputs) else { return Ok(out) };
        let (nx, nw) = (rec.needs(0), rec.needs(1));
        let iw = nx.then(|| rec.save(weight));
        let ix = nw.then(|| rec.save(self));
        let x_shape = self.shape().to_vec();
        let has_bias = bias.is_some();
        Ok(rec.finish(out, false, move |ctx, g| {
            let g2 = g.reshape_usize(&[g.numel() / out_f.max(1), out_f])?;
            let gx = match iw {
                Some(i) => Some(g2.matmul_nd(&ctx.saved(i)?)?.reshape_usize(&x_shape)?),
                None => None,
            };
            let gw = match ix {
                Some(i) => {
                    let x = ctx.saved(i)?;
                    let x2 = x.reshape_usize(&[x.numel() / in_f.max(1), in_f])?;
                    Some(g2.t()?.matmul_nd(&x2)?)
                }
                None => None,
            };
            let mut grads = vec![gx, gw];
            if has_bias {
                grads.push(if ctx.needs(2) { Some(g2.sum(Some(&[0]), false)?) } else { None });
            }
            Ok(grads)
        }))
    }
}

/// The node PyTorch's `matmul` ends with for operands of these shapes (one of them not 2-D, not
/// a dot or matrix-vector product): it folds a >= 3-D left operand (or a right one, through
/// transposes, whose final contiguous copy is a clone) into one mm, or runs a bmm, then views
/// the result; a batch of ones counts as no batch.
fn matmul_grad_fn(a: &[usize], b: &[usize]) -> &'static str {
    let unbatched = |s: &[usize]| s.len() <= 2 || s[..s.len() - 2].iter().all(|&d| d == 1);
    match (a.len(), b.len()) {
        (1, 2) => "SqueezeBackward4",
        (da, _) if da >= 3 && unbatched(b) => "UnsafeViewBackward0",
        (da, db) if db >= 3 && da >= 2 && unbatched(a) => "CloneBackward0",
        _ => "UnsafeViewBackward0",
    }
}