//! Copies: dtype casts into new contiguous memory, and writes into an existing tensor's memory
//! through its layout.
use crate::dtype::{DType, Element};
use crate::error::Result;
use crate::op::{no_kernel, Op};
use crate::tensor::Tensor;

/// A contiguous copy of `x` in `dtype`.
pub fn cast(x: &Tensor, dtype: DType) -> Result<Tensor> {
    crate::with_dtype!(dtype, T, Tensor::from_vec(x.contiguous_data::<T>().into_owned(), x.shape()))
}

/// `src` as a tensor of `T` that does not share `dst`'s memory (so that reads never see
/// half-written data).
fn readable_source<T: Element>(dst: &Tensor, src: &Tensor) -> Result<Tensor> {
    if src.dtype() != T::DTYPE || src.same_storage(dst) {
        cast(src, T::DTYPE)
    } else {
        Ok(src.clone())
    }
}

/// Writes `src` (broadcast, cast to `dst`'s dtype) into `dst`'s memory and bumps its version.
pub fn write(dst: &Tensor, src: &Tensor) -> Result<()> {
    crate::with_dtype!(dst.dtype(), T, {
        let src = readable_source::<T>(dst, src)?;
        let src_layout = src.layout().expand(dst.shape())?;
        // SAFETY: `src` does not share `dst`'s storage (copied above), so this is the only
        // reference into it while it lives.
        let out = unsafe { dst.storage().slice_mut::<T>() };
        super::zip_assign(out, dst.layout(), src.storage().slice::<T>(), &src_layout, |d, v| *d = v);
    });
    dst.storage().bump_version();
    Ok(())
}

/// `dst += src` in place for float tensors, and bumps `dst`'s version.
pub fn add_into(dst: &Tensor, src: &Tensor) -> Result<()> {
    crate::with_float!(
        dst.dtype(),
        T,
        {
            let src = readable_source::<T>(dst, src)?;
            let src_layout = src.layout().expand(dst.shape())?;
            // SAFETY: as in `write`: the source is not this storage.
            let out = unsafe { dst.storage().slice_mut::<T>() };
            super::zip_assign(out, dst.layout(), src.storage().slice::<T>(), &src_layout, |d, v| *d = *d + v);
        },
        return Err(no_kernel(&Op::AddInto, dst.dtype(), dst.device()))
    );
    dst.storage().bump_version();
    Ok(())
}
