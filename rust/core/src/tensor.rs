//! The tensor handle: shared storage, a layout into it, and autograd metadata.
use crate::autograd::{self, Node};
use crate::device::Device;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::layout::{checked_numel, Layout};
use crate::storage::{try_vec, Storage};
use std::borrow::Cow;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

#[derive(Default)]
pub struct AutogradMeta {
    /// The leaf flag; a tensor with a grad_fn always requires grad.
    pub requires_grad: bool,
    pub grad: Option<Tensor>,
    pub grad_fn: Option<Arc<Node>>,
    /// A leaf's gradient hooks (a non-leaf's live on its grad_fn).
    pub(crate) hooks: Option<autograd::SharedHooks>,
    /// For a view: the storage version its `grad_fn` was made at. An in-place change of the
    /// memory since (through the base or any view of it) makes the view's history stale.
    pub view_version: u64,
}

pub struct TensorImpl {
    pub(crate) storage: Arc<Storage>,
    pub(crate) layout: Layout,
    pub(crate) meta: Mutex<AutogradMeta>,
    /// A Python number turned into a 0-d tensor: it takes part in promotion as a scalar.
    pub(crate) wrapped_number: bool,
    /// Created as a view of another tensor's storage.
    pub(crate) is_view: bool,
    /// The tensor a view op's output shares memory with (never itself a view): after an
    /// in-place change, the view's history is remade from the base's, and an in-place op on
    /// the view rewrites the base's history (PyTorch's differentiable views).
    pub(crate) view_base: Option<Tensor>,
    /// The view was made with grad mode off: an in-place op on it may not be recorded.
    pub(crate) view_no_grad: bool,
    /// Held while a gradient is accumulated into `.grad`, so that threads running backward
    /// into the same leaf take turns (PyTorch's AccumulateGrad lock).
    pub(crate) grad_lock: Mutex<()>,
}

impl TensorImpl {
    fn new(storage: Arc<Storage>, layout: Layout, wrapped_number: bool, is_view: bool) -> TensorImpl {
        TensorImpl {
            storage,
            layout,
            meta: Mutex::new(AutogradMeta::default()),
            wrapped_number,
            is_view,
            view_base: None,
            view_no_grad: false,
            grad_lock: Mutex::new(()),
        }
    }
}

/// A cheap, clonable handle; clones share everything, including autograd metadata.
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<TensorImpl>);

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor(shape={:?}, dtype={})", self.shape(), self.dtype())
    }
}

impl Tensor {
    pub fn from_parts(storage: Arc<Storage>, layout: Layout) -> Tensor {
        Tensor(Arc::new(TensorImpl::new(storage, layout, false, false)))
    }
    /// A new handle on the same memory with another layout, without autograd history.
    pub(crate) fn view_with_layout(&self, layout: Layout) -> Tensor {
        Tensor(Arc::new(TensorImpl::new(self.0.storage.clone(), layout, false, true)))
    }
    /// A view op's output: as `view_with_layout`, remembering the base whose history the
    /// view's follows after in-place changes.
    pub(crate) fn view_of_base(&self, layout: Layout) -> Tensor {
        let mut imp = TensorImpl::new(self.0.storage.clone(), layout, false, true);
        imp.view_base = Some(self.0.view_base.clone().unwrap_or_else(|| self.clone()));
        imp.view_no_grad = !autograd::is_grad_enabled() || (self.0.view_base.is_some() && self.0.view_no_grad);
        imp.meta.get_mut().unwrap_or_else(|e| e.into_inner()).view_version = self.storage().version();
        Tensor(Arc::new(imp))
    }
    /// The base of a view op's output (see `view_base`).
    pub(crate) fn view_base(&self) -> Option<&Tensor> {
        self.0.view_base.as_ref()
    }
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        let n = checked_numel(shape)?;
        if n != data.len() {
            return Err(Error::Shape(format!("{} values cannot fill a tensor of shape {:?}", data.len(), shape)));
        }
        Ok(Tensor::from_parts(Storage::from_vec(data), Layout::contiguous(shape)))
    }
    pub fn full<T: Element>(shape: &[usize], value: T) -> Result<Tensor> {
        let n = checked_numel(shape)?;
        Tensor::from_vec(try_vec(n, value)?, shape)
    }
    pub fn full_dtype(shape: &[usize], value: f64, dtype: DType) -> Result<Tensor> {
        crate::with_dtype!(dtype, T, Tensor::full::<T>(shape, T::from_f64(value)))
    }
    pub fn zeros(shape: &[usize], dtype: DType) -> Result<Tensor> {
        Tensor::full_dtype(shape, 0.0, dtype)
    }
    pub fn scalar<T: Element>(v: T) -> Tensor {
        Tensor::from_parts(Storage::from_vec(vec![v]), Layout::contiguous(&[]))
    }
    /// A Python number as a 0-d tensor that promotes like a scalar.
    pub fn wrapped_scalar<T: Element>(v: T) -> Tensor {
        Tensor(Arc::new(TensorImpl::new(Storage::from_vec(vec![v]), Layout::contiguous(&[]), true, false)))
    }

    pub fn storage(&self) -> &Arc<Storage> {
        &self.0.storage
    }
    pub fn layout(&self) -> &Layout {
        &self.0.layout
    }
    pub fn shape(&self) -> &[usize] {
        &self.0.layout.shape
    }
    pub fn strides(&self) -> &[usize] {
        &self.0.layout.strides
    }
    pub fn offset(&self) -> usize {
        self.0.layout.offset
    }
    pub fn ndim(&self) -> usize {
        self.0.layout.shape.len()
    }
    pub fn numel(&self) -> usize {
        self.0.layout.numel()
    }
    pub fn dtype(&self) -> DType {
        self.0.storage.dtype()
    }
    pub fn device(&self) -> Device {
        self.0.storage.device()
    }
    pub fn is_contiguous(&self) -> bool {
        self.0.layout.is_contiguous()
    }
    pub fn is_wrapped_number(&self) -> bool {
        self.0.wrapped_number
    }
    pub fn is_view(&self) -> bool {
        self.0.is_view
    }
    /// Identity of this handle's impl (shared by clones of the handle).
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
    pub fn same_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0.storage, &other.0.storage)
    }
    pub(crate) fn downgrade(&self) -> Weak<TensorImpl> {
        Arc::downgrade(&self.0)
    }
    pub(crate) fn meta(&self) -> MutexGuard<'_, AutogradMeta> {
        // A poisoned lock only means another thread panicked mid-update; the data is plain.
        let mut m = self.0.meta.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(base) = &self.0.view_base {
            let now = self.storage().version();
            if m.view_version != now {
                // The memory changed in place since this view's history was made: its values
                // now come from the base's current history (PyTorch regenerates the grad_fn
                // of a view the same way). A base never is a view, so this does not recurse.
                m.view_version = now;
                if !self.0.view_no_grad && (m.grad_fn.is_some() || base.requires_grad()) {
                    m.grad_fn = crate::ops::view::view_history(base, self.layout());
                }
            }
        }
        m
    }
    /// Operand kind for type promotion.
    pub fn operand(&self) -> crate::dtype::Operand {
        use crate::dtype::Operand;
        if self.0.wrapped_number {
            Operand::Wrapped(self.dtype())
        } else if self.ndim() == 0 {
            Operand::ZeroDim(self.dtype())
        } else {
            Operand::Dim(self.dtype())
        }
    }

    /// The elements in row-major order as `T`, borrowed when already contiguous and of type `T`.
    pub fn contiguous_data<T: Element>(&self) -> Cow<'_, [T]> {
        let l = &self.0.layout;
        if self.dtype() == T::DTYPE {
            let data = self.0.storage.slice::<T>();
            if let Some(r) = l.contiguous_range() {
                return Cow::Borrowed(&data[r]);
            }
            return Cow::Owned(gather_strided(data, l));
        }
        crate::with_dtype!(self.dtype(), S, {
            let data = self.0.storage.slice::<S>();
            if let Some(r) = l.contiguous_range() {
                if let Some(v) = crate::dtype::convert_f16_slice::<S, T>(&data[r.clone()]) {
                    return Cow::Owned(v);
                }
                // A plain slice loop, which the compiler vectorises.
                return Cow::Owned(data[r].iter().map(|v| v.cast::<T>()).collect());
            }
            let mut out = Vec::with_capacity(l.numel());
            l.for_each_offset(|o| out.push(data[o].cast::<T>()));
            Cow::Owned(out)
        })
    }
    /// The elements in row-major order, read into host code (not a kernel).
    pub fn to_vec<T: Element>(&self) -> Vec<T> {
        crate::graph::record::host_read("reading a tensor's values into Python (.tolist(), print, iteration)");
        self.contiguous_data::<T>().into_owned()
    }
    /// The single element of a one-element tensor.
    pub fn item<T: Element>(&self) -> Result<T> {
        if self.numel() != 1 {
            return Err(Error::Runtime(format!(
                "a Tensor with {} elements cannot be converted to Scalar",
                self.numel()
            )));
        }
        crate::graph::record::host_read("reading a tensor's value into Python (.item(), float(), int(), bool())");
        Ok(self.contiguous_data::<T>()[0])
    }

    // ---- autograd metadata ----

    pub fn requires_grad(&self) -> bool {
        let m = self.meta();
        m.requires_grad || m.grad_fn.is_some()
    }
    pub fn set_requires_grad(&self, flag: bool) -> Result<()> {
        let mut m = self.meta();
        if m.grad_fn.is_some() {
            if !flag {
                return Err(Error::Autograd(
                    "you can only change requires_grad flags of leaf variables. If you want to use a computed variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().".into(),
                ));
            }
            return Ok(());
        }
        if flag && !self.dtype().is_float() {
            return Err(Error::Autograd(format!(
                "only Tensors of floating point dtype can require gradients (got {})",
                self.dtype()
            )));
        }
        m.requires_grad = flag;
        Ok(())
    }
    pub fn grad_fn(&self) -> Option<Arc<Node>> {
        self.meta().grad_fn.clone()
    }
    pub(crate) fn set_grad_fn(&self, node: Option<Arc<Node>>) {
        let mut m = self.meta();
        m.requires_grad = node.is_some() || m.requires_grad;
        m.grad_fn = node;
    }
    pub fn is_leaf(&self) -> bool {
        self.meta().grad_fn.is_none()
    }
    pub fn grad(&self) -> Option<Tensor> {
        let grad = self.meta().grad.clone();
        if let Some(g) = &grad {
            crate::graph::record::grad_read(self, g);
        }
        grad
    }
    pub fn set_grad(&self, grad: Option<Tensor>) -> Result<()> {
        if let Some(g) = &grad {
            if Arc::ptr_eq(&g.0, &self.0) {
                return Err(Error::Autograd("can't assign Variable as its own grad".into()));
            }
            if g.shape() != self.shape() {
                return Err(Error::Shape(format!(
                    "assigned grad has data of a different size: grad shape {:?}, tensor shape {:?}",
                    g.shape(),
                    self.shape()
                )));
            }
            if g.dtype() != self.dtype() {
                return Err(Error::Runtime(format!(
                    "assigned grad has data of a different type: grad dtype {}, tensor dtype {}",
                    g.dtype(),
                    self.dtype()
                )));
            }
            if g.device() != self.device() {
                return Err(Error::Runtime(format!(
                    "assigned grad has data located on a different device: grad on {}, tensor on {}",
                    g.device(),
                    self.device()
                )));
            }
        }
        crate::graph::record::grad_set(self);
        self.meta().grad = grad;
        Ok(())
    }
    /// Keep `.grad` for a non-leaf tensor after backward.
    pub fn retain_grad(&self) -> Result<()> {
        match self.grad_fn() {
            Some(node) => {
                node.add_retained(self);
                Ok(())
            }
            None if self.requires_grad() => Ok(()),
            None => Err(Error::Autograd("can't retain_grad on Tensor that has requires_grad=False".into())),
        }
    }
    pub fn retains_grad(&self) -> bool {
        self.grad_fn().is_some_and(|n| n.retains(self))
    }
    /// Same data, no history.
    pub fn detach(&self) -> Tensor {
        Tensor(Arc::new(TensorImpl::new(self.0.storage.clone(), self.0.layout.clone(), self.0.wrapped_number, self.0.is_view)))
    }
    /// A leaf handle on `src`'s memory carrying this tensor's `requires_grad`, hooks and, when it
    /// still fits, its `.grad` (what assigning `tensor.data = src` does).
    pub fn with_data_of(&self, src: &Tensor) -> Tensor {
        let out = Tensor::from_parts(src.storage().clone(), src.layout().clone());
        let (requires_grad, grad, hooks) = {
            let m = self.meta();
            (m.requires_grad || m.grad_fn.is_some(), m.grad.clone(), m.hooks.clone())
        };
        {
            let mut m = out.meta();
            m.hooks = hooks;
            m.requires_grad = requires_grad && src.dtype().is_float();
            m.grad = grad.filter(|g| g.shape() == src.shape() && g.dtype() == src.dtype());
        }
        out
    }
    /// Detaches in place; a view refuses, as in PyTorch (its base would keep the history).
    pub fn detach_(&self) -> Result<()> {
        if self.is_view() {
            return Err(Error::Runtime("Can't detach views in-place. Use detach() instead.".into()));
        }
        let mut m = self.meta();
        m.grad_fn = None;
        m.requires_grad = false;
        Ok(())
    }
    /// Runs backward from this tensor, accumulating into leaves' `.grad`.
    pub fn backward(&self, gradient: Option<Tensor>, retain_graph: bool, create_graph: bool) -> Result<()> {
        autograd::backward(&[self.clone()], vec![gradient], retain_graph, create_graph)
    }
}

/// The elements of `layout` in row-major order. Rows whose last dim is contiguous are copied
/// as slices; large copies run on the CPU team, split over the outer rows.
pub(crate) fn gather_strided<T: Element>(data: &[T], l: &Layout) -> Vec<T> {
    let n = l.numel();
    let nd = l.ndim();
    if n == 0 {
        return vec![];
    }
    if nd == 0 || l.strides[nd - 1] != 1 {
        let mut out = Vec::with_capacity(n);
        l.for_each_offset(|o| out.push(data[o]));
        return out;
    }
    let inner = l.shape[nd - 1];
    let rows = Layout { shape: l.shape[..nd - 1].to_vec(), strides: l.strides[..nd - 1].to_vec(), offset: l.offset };
    let mut starts = Vec::with_capacity(n / inner);
    rows.for_each_offset(|o| starts.push(o));
    let mut out = vec![T::default(); n];
    if n >= crate::cpu::PAR_THRESHOLD {
        crate::cpu::team::chunks_mut(&mut out, inner, |r, dst| dst.copy_from_slice(&data[starts[r]..starts[r] + inner]));
    } else {
        for (dst, &s) in out.chunks_mut(inner).zip(&starts) {
            dst.copy_from_slice(&data[s..s + inner]);
        }
    }
    out
}
