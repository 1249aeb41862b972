//! Creation ops that need more than a fill: ranges, eye, random numbers (`Op::Random`, drawn
//! by the CPU backend from one seedable generator per process), and the in-place random fills.
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use crate::op::{Op, RandomDist};
use crate::ops::dispatch::run1;

fn require_float(dtype: DType, op: &str) -> Result<()> {
    if !dtype.is_float() {
        return Err(Error::DType(format!("\"{op}\" not implemented for '{}'", dtype.titled())));
    }
    Ok(())
}

impl Tensor {
    /// Uniform on [low, high).
    pub fn rand_uniform(shape: &[usize], low: f64, high: f64, dtype: DType) -> Result<Tensor> {
        require_float(dtype, "check_uniform_bounds")?;
        run1(&Op::Random { dist: RandomDist::Uniform { low, high }, shape, dtype }, &[])
    }
    /// Normal with the given mean and std.
    pub fn rand_normal(shape: &[usize], mean: f64, std: f64, dtype: DType) -> Result<Tensor> {
        require_float(dtype, "normal_kernel_cpu")?;
        if std < 0.0 {
            return Err(Error::Runtime(format!("normal expects std >= 0.0, but found std {std}")));
        }
        run1(&Op::Random { dist: RandomDist::Normal { mean, std }, shape, dtype }, &[])
    }
    /// Integers uniform on [low, high).
    pub fn randint(low: i64, high: i64, shape: &[usize], dtype: DType) -> Result<Tensor> {
        if high <= low {
            return Err(Error::Runtime(format!("random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")));
        }
        run1(&Op::Random { dist: RandomDist::Int { low, high }, shape, dtype }, &[])
    }
    /// A random permutation of 0..n.
    pub fn randperm(n: usize) -> Result<Tensor> {
        run1(&Op::Random { dist: RandomDist::Permutation, shape: &[n], dtype: DType::I64 }, &[])
    }
    /// Bernoulli draws with probability `p` (as the dtype of `like`).
    pub fn bernoulli_mask(shape: &[usize], p: f64, dtype: DType) -> Result<Tensor> {
        Tensor::rand_uniform(shape, 0.0, 1.0, DType::F64)?
            .binary(crate::ops::BinaryOp::Lt, &Tensor::wrapped_scalar(p))?
            .to_dtype(dtype)
    }

    /// `arange(start, end, step)` with PyTorch's length rule.
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Tensor> {
        if step == 0.0 {
            return Err(Error::Runtime("step must be nonzero".into()));
        }
        if !(start.is_finite() && end.is_finite()) {
            return Err(Error::Runtime(format!("unsupported range: {start} -> {end}")));
        }
        if (step > 0.0 && end < start) || (step < 0.0 && end > start) {
            return Err(Error::Runtime("upper bound and larger bound inconsistent with step sign".into()));
        }
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        crate::with_dtype!(dtype, T, {
            let mut v = crate::storage::try_with_capacity::<T>(n)?;
            if dtype == DType::I64 {
                v.extend((0..n).map(|i| T::from_i64(start as i64 + (i as i64) * step as i64)));
            } else {
                v.extend((0..n).map(|i| T::from_f64(start + i as f64 * step)));
            }
            Tensor::from_vec(v, &[n])
        })
    }

    pub fn linspace(start: f64, end: f64, steps: usize, dtype: DType) -> Result<Tensor> {
        let step = if steps > 1 { (end - start) / (steps - 1) as f64 } else { 0.0 };
        let half = steps / 2;
        crate::with_dtype!(dtype, T, {
            // Filled from both ends, as PyTorch does, so the last value is exactly `end`; a single
            // step is `start`.
            let mut v = crate::storage::try_with_capacity::<T>(steps)?;
            v.extend((0..steps).map(|i| T::from_f64(if i < half || steps == 1 { start + step * i as f64 } else { end - step * (steps - 1 - i) as f64 })));
            Tensor::from_vec(v, &[steps])
        })
    }

    pub fn eye(n: usize, m: usize, dtype: DType) -> Result<Tensor> {
        crate::with_dtype!(dtype, T, {
            let mut v = crate::storage::try_vec::<T>(crate::layout::checked_numel(&[n, m])?, T::zero())?;
            for i in 0..n.min(m) {
                v[i * m + i] = T::one();
            }
            Tensor::from_vec(v, &[n, m])
        })
    }
}
