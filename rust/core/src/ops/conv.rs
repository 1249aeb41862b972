//! conv2d, checks to backward: one kernel call forward (`Op::Conv2d`) and one per gradient in
//! backward. When the gradient's own graph is wanted (double backward) the gradients are
//! composed from differentiable ops (im2col, matmul, col2im) instead.
use crate::autograd::{is_grad_enabled, Recorder};
use crate::error::{Error, Result};
use crate::op::{ConvPart, ConvShape, Op, Window};
use crate::ops::dispatch::{run, run1};
use crate::tensor::Tensor;

/// The backward from differentiable ops (so it can itself be differentiated).
fn backward_composed(x: Option<&Tensor>, weight: Option<&Tensor>, g: &Tensor, s: ConvShape) -> Result<[Option<Tensor>; 2]> {
    let nl = s.n * s.l();
    let gm = g.transpose(0, 1)?.contiguous()?.reshape_usize(&[s.groups, s.out_per_group(), nl])?;
    let gx = match weight {
        Some(w) => {
            let wt = w.reshape_usize(&[s.groups, s.out_per_group(), s.group_rows()])?.transpose(1, 2)?;
            let dcols = wt.matmul(&gm)?.reshape_usize(&[s.c * s.kk(), nl])?;
            Some(dcols.col2im(s.size, s.window, true, s.n)?)
        }
        None => None,
    };
    let gw = match x {
        Some(x) => {
            let cols = x.im2col(s.window, 0.0, true)?.reshape_usize(&[s.groups, s.group_rows(), nl])?;
            Some(gm.matmul(&cols.transpose(1, 2)?)?.reshape_usize(&s.weight_shape())?)
        }
        None => None,
    };
    Ok([gx, gw])
}

impl Tensor {
    /// F.conv2d of a batched [N, C, H, W] input with a [O, C/groups, kh, kw] weight.
    pub fn conv2d(&self, weight: &Tensor, bias: Option<&Tensor>, stride: (usize, usize), padding: (usize, usize), dilation: (usize, usize), groups: usize) -> Result<Tensor> {
        if self.ndim() != 4 || weight.ndim() != 4 {
            return Err(Error::Shape(format!(
                "conv2d: expected a 4-D input and a 4-D weight, got input of size {:?} and weight of size {:?}",
                self.shape(),
                weight.shape()
            )));
        }
        let (n, c, h, wd) = (self.shape()[0], self.shape()[1], self.shape()[2], self.shape()[3]);
        let (o, cg, kh, kw) = (weight.shape()[0], weight.shape()[1], weight.shape()[2], weight.shape()[3]);
        if groups == 0 {
            return Err(Error::Shape("non-positive groups is not supported".into()));
        }
        if c != cg * groups {
            return Err(Error::Shape(format!(
                "Given groups={groups}, weight of size {:?}, expected input{:?} to have {} channels, but got {c} channels instead",
                weight.shape(),
                self.shape(),
                cg * groups
            )));
        }
        if o % groups != 0 {
            return Err(Error::Shape(format!("out_channels ({o}) must be divisible by groups ({groups})")));
        }
        if self.dtype() != weight.dtype() || bias.is_some_and(|b| b.dtype() != self.dtype()) {
            return Err(Error::Runtime(format!(
                "Input type (torch.{}), weight type (torch.{}) and bias type ({}) should be the same",
                self.dtype(),
                weight.dtype(),
                bias.map_or("None".to_string(), |b| format!("torch.{}", b.dtype()))
            )));
        }
        if let Some(b) = bias {
            if b.shape() != [o] {
                return Err(Error::Shape(format!("conv2d: bias of size {:?} does not match {o} output channels", b.shape())));
            }
        }
        let window = Window { kernel: (kh, kw), dilation, padding, stride };
        let out_size = window.output_size(h, wd)?;
        let s = ConvShape { n, c, size: (h, wd), out: o, groups, window, out_size };
        let mut operands = vec![self, weight];
        operands.extend(bias);
        let out = run1(&Op::Conv2d { shape: s, part: ConvPart::Forward }, &operands)?;
        let Some(mut rec) = Recorder::new("ConvolutionBackward0", &operands) else { return Ok(out) };
        let has_bias = bias.is_some();
        let need_bias = has_bias && rec.needs(2);
        // The input's gradient needs the weight, the weight's needs the input.
        let saved_w = rec.needs(0).then(|| rec.save(weight));
        let saved_x = rec.needs(1).then(|| rec.save(self));
        Ok(rec.finish(out, false, move |ctx, g| {
            // Every kernel below reads the gradient contiguously: one copy (of an expanded
            // gradient, typically) serves them all, the bias's sum included.
            let g = &g.contiguous()?;
            let x = saved_x.map(|i| ctx.saved(i)).transpose()?;
            let w = saved_w.map(|i| ctx.saved(i)).transpose()?;
            // Grad mode is on inside backward only when the gradient's own graph is wanted.
            let [gx, gw] = if is_grad_enabled() {
                backward_composed(x.as_ref(), w.as_ref(), g, s)?
            } else {
                let op = |part| Op::Conv2d { shape: s, part };
                match (&x, &w) {
                    (Some(x), Some(w)) => {
                        let (gx, gw) = run(&op(ConvPart::Grads), &[g, x, w])?.two()?;
                        [Some(gx), Some(gw)]
                    }
                    (None, Some(w)) => [Some(run1(&op(ConvPart::InputGrad), &[g, w])?), None],
                    (Some(x), None) => [None, Some(run1(&op(ConvPart::WeightGrad), &[g, x])?)],
                    (None, None) => [None, None],
                }
            };
            let mut grads = vec![gx, gw];
            if has_bias {
                grads.push(if need_bias { Some(g.sum(Some(&[0, 2, 3]), false)?) } else { None });
            }
            Ok(grads)
        }))
    }
}
