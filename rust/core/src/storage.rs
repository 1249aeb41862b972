//! Tensor memory: one allocation (ours, borrowed from a foreign owner such as a numpy
//! array, or a GPU buffer), its dtype, its device, and the version counter in-place ops bump.
//!
//! Host memory is reached through `slice`/`slice_mut` (CPU kernels) or the checked
//! `cpu_slice`; GPU memory only through `gpu_buffer`. A CPU kernel handed a GPU storage gets
//! an error from `cpu_slice`, and `slice` refuses it with a panic naming the bug rather than
//! reading device memory as host memory: the op entry points check devices first.
use crate::device::Device;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use std::any::Any;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The graph break of host code touching tensor memory outside a kernel call: an op computed
/// outside `ops::dispatch`, which a captured graph could not replay.
const OUTSIDE_KERNEL: &str = "an op touched tensor memory outside a kernel call (it is not captured)";

pub struct Storage {
    ptr: NonNull<u8>,
    len: usize,
    dtype: DType,
    device: Device,
    version: AtomicU64,
    // Keeps the memory behind `ptr` alive.
    _owner: Owner,
}

// SAFETY: the memory behind `ptr` is owned by `_owner`, which is Send + Sync; concurrent
// writes are the user's responsibility exactly as in PyTorch (in-place ops are not atomic).
unsafe impl Send for Storage {}
// SAFETY: see Send above.
unsafe impl Sync for Storage {}

/// Who owns a storage's memory: one of our typed Vecs (no extra allocation), or a foreign
/// owner such as a numpy array.
enum Owner {
    Own(#[allow(dead_code)] OwnedVec),
    Foreign(#[allow(dead_code)] Box<dyn Any + Send + Sync>),
    /// Device memory: `ptr` is dangling and never dereferenced.
    Gpu(crate::gpu::GpuBuffer),
}

/// A Vec of one of the element types, held only to keep its buffer alive.
pub enum OwnedVec {
    Bool(Vec<bool>),
    U8(Vec<u8>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F16(Vec<half::f16>),
    BF16(Vec<half::bf16>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Storage {
    pub fn from_vec<T: Element>(mut v: Vec<T>) -> Arc<Storage> {
        let len = v.len();
        let ptr = NonNull::new(v.as_mut_ptr() as *mut u8).expect("Vec pointer is never null");
        // Moving the Vec into the box does not move its heap buffer, so `ptr` stays valid.
        Arc::new(Storage {
            ptr,
            len,
            dtype: T::DTYPE,
            device: Device::Cpu,
            version: AtomicU64::new(0),
            _owner: Owner::Own(T::into_owned_vec(v)),
        })
    }

    /// Wraps memory owned by someone else (a numpy array) without copying.
    ///
    /// # Safety
    /// `ptr` must point to at least `len` initialised, aligned elements of `dtype` that stay
    /// valid as long as `owner` lives.
    pub unsafe fn from_foreign(ptr: *mut u8, len: usize, dtype: DType, owner: Box<dyn Any + Send + Sync>) -> Result<Arc<Storage>> {
        let ptr = NonNull::new(ptr).ok_or_else(|| Error::Value("null data pointer".into()))?;
        Ok(Arc::new(Storage { ptr, len, dtype, device: Device::Cpu, version: AtomicU64::new(0), _owner: Owner::Foreign(owner) }))
    }

    /// A storage of `len` elements of `dtype` in a GPU buffer.
    pub fn from_gpu(buf: crate::gpu::GpuBuffer, len: usize, dtype: DType, device: Device) -> Arc<Storage> {
        Arc::new(Storage { ptr: NonNull::dangling(), len, dtype, device, version: AtomicU64::new(0), _owner: Owner::Gpu(buf) })
    }

    /// The GPU buffer holding this storage, None for host memory.
    pub fn gpu_buffer(&self) -> Option<&wgpu::Buffer> {
        match &self._owner {
            Owner::Gpu(b) => Some(b.buffer()),
            _ => None,
        }
    }

    pub fn is_gpu(&self) -> bool {
        matches!(self._owner, Owner::Gpu(_))
    }

    /// The elements for a CPU kernel of `op`: an error naming the op when the memory is on a GPU.
    pub fn cpu_slice<T: Element>(&self, op: &str) -> Result<&[T]> {
        if self.is_gpu() {
            return Err(Error::NotImplemented(format!("'{op}' has no GPU kernel yet (tensor on {})", self.device)));
        }
        Ok(self.slice::<T>())
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn device(&self) -> Device {
        self.device
    }
    /// Host address of the elements (null for GPU memory).
    pub fn data_ptr(&self) -> *mut u8 {
        if self.is_gpu() {
            return std::ptr::null_mut();
        }
        self.ptr.as_ptr()
    }
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }
    pub fn bump_version(&self) {
        self.version.fetch_add(1, Ordering::Relaxed);
    }

    /// The elements, read-only. Panics if `T` is not this storage's dtype (a bug, not user input).
    pub fn slice<T: Element>(&self) -> &[T] {
        assert_eq!(T::DTYPE, self.dtype, "storage dtype mismatch");
        assert!(!self.is_gpu(), "bug: a CPU kernel was handed {} memory (an op entry point lacks its device check)", self.device);
        crate::graph::record::host_read(OUTSIDE_KERNEL);
        // SAFETY: ptr points to `len` initialised elements of T (checked dtype), alive while self is.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr() as *const T, self.len) }
    }

    /// The elements, writable, for in-place ops.
    ///
    /// # Safety
    /// No other reference into this storage may be used while the returned slice lives.
    /// In-place ops copy a source that shares this storage before writing.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice_mut<T: Element>(&self) -> &mut [T] {
        assert_eq!(T::DTYPE, self.dtype, "storage dtype mismatch");
        assert!(!self.is_gpu(), "bug: a CPU kernel was handed {} memory (an op entry point lacks its device check)", self.device);
        crate::graph::record::host_read(OUTSIDE_KERNEL);
        std::slice::from_raw_parts_mut(self.ptr.as_ptr() as *mut T, self.len)
    }
}

/// Bytes of host memory a single allocation may take: RAM plus swap, and no more than the
/// cgroup's memory limit (Linux). An allocation past it would either fail or, where memory is
/// overcommitted, be filled until the OOM killer ends the process; refusing it up front gives
/// the error at once. Unlimited where the figures are unknown.
pub(crate) fn host_memory_budget() -> u128 {
    static BUDGET: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(|| {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kib = |key: &str| -> Option<u128> {
            let line = meminfo.lines().find(|l| l.starts_with(key))?;
            line.split_whitespace().nth(1)?.parse().ok()
        };
        let mut budget = match (kib("MemTotal:"), kib("SwapTotal:")) {
            (Some(ram), swap) => (ram + swap.unwrap_or(0)) * 1024,
            _ => u128::MAX,
        };
        if let Ok(limit) = std::fs::read_to_string("/sys/fs/cgroup/memory.max") {
            if let Ok(bytes) = limit.trim().parse::<u128>() {
                budget = budget.min(bytes);
            }
        }
        budget
    })
}

/// PyTorch's out-of-memory error for `n` elements of `T`.
fn alloc_error<T: Element>(n: usize) -> Error {
    Error::OutOfMemory(format!(
        "DefaultCPUAllocator: can't allocate memory: you tried to allocate {} bytes ({} elements of {}). Error code 12 (Cannot allocate memory)",
        n as u128 * T::DTYPE.size_of() as u128,
        n,
        T::DTYPE
    ))
}

/// Allocates an empty vector with room for `n` elements, refusing, before any work, sizes
/// past the host's memory and allocations the system refuses (an error, not an abort).
pub fn try_with_capacity<T: Element>(n: usize) -> Result<Vec<T>> {
    check_host_alloc::<T>(n)?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| alloc_error::<T>(n))?;
    Ok(v)
}

/// Refuses `n` elements of `T` when they exceed the host's memory (see `host_memory_budget`).
pub fn check_host_alloc<T: Element>(n: usize) -> Result<()> {
    if n as u128 * T::DTYPE.size_of() as u128 > host_memory_budget() {
        return Err(alloc_error::<T>(n));
    }
    Ok(())
}

/// Allocates a vector of `n` elements set to `value`, refusing absurd sizes with an error.
pub fn try_vec<T: Element>(n: usize, value: T) -> Result<Vec<T>> {
    let mut v = try_with_capacity(n)?;
    v.resize(n, value);
    Ok(v)
}
