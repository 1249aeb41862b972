//! Random draws from the process's one seedable generator (`torch.manual_seed`).
use crate::dtype::{DType, Element};
use crate::error::Result;
use crate::op::RandomDist;
use crate::tensor::Tensor;
use rand::{rngs::SmallRng, Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use std::sync::Mutex;

static RNG: Mutex<Option<SmallRng>> = Mutex::new(None);

/// Seeds the global generator.
pub fn manual_seed(seed: u64) {
    *RNG.lock().unwrap_or_else(|e| e.into_inner()) = Some(SmallRng::seed_from_u64(seed));
}

fn with_rng<R>(f: impl FnOnce(&mut SmallRng) -> R) -> R {
    let mut guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let rng = guard.get_or_insert_with(|| SmallRng::seed_from_u64(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)));
    f(rng)
}

fn fill_with<T: Element>(shape: &[usize], mut f: impl FnMut(&mut SmallRng) -> T) -> Result<Tensor> {
    let n = crate::layout::checked_numel(shape)?;
    let mut v = crate::storage::try_with_capacity::<T>(n)?;
    with_rng(|rng| v.extend((0..n).map(|_| f(rng))));
    Tensor::from_vec(v, shape)
}

/// A new tensor of `shape` and `dtype` drawn from `dist` (arguments checked by the caller).
pub fn random(dist: RandomDist, shape: &[usize], dtype: DType) -> Result<Tensor> {
    match dist {
        RandomDist::Uniform { low, high } => crate::with_dtype!(dtype, T, fill_with::<T>(shape, |r| T::from_f64(low + (high - low) * r.random::<f64>()))),
        RandomDist::Normal { mean, std } => crate::with_dtype!(
            dtype,
            T,
            fill_with::<T>(shape, |r| {
                let z: f64 = StandardNormal.sample(r);
                T::from_f64(mean + std * z)
            })
        ),
        RandomDist::Int { low, high } => crate::with_dtype!(dtype, T, fill_with::<T>(shape, |r| T::from_i64(r.random_range(low..high)))),
        RandomDist::Permutation => {
            let n = shape.first().copied().unwrap_or(0);
            let mut v = crate::storage::try_with_capacity::<i64>(n)?;
            v.extend(0..n as i64);
            with_rng(|r| {
                for i in (1..n).rev() {
                    let j = r.random_range(0..=i);
                    v.swap(i, j);
                }
            });
            Tensor::from_vec(v, &[n])
        }
    }
}
