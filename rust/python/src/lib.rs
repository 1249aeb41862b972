//! PyO3 bindings of ferrograd-core, exposed as `ferrograd._core`. Only translation lives here:
//! argument conversion, numpy interop, error mapping and releasing the GIL around long
//! kernels. The Python package builds the PyTorch-shaped API on top.
use ferrograd_core::autograd::{self, Node};
use ferrograd_core::ops::loss::Reduction;
use ferrograd_core::ops::{BinaryOp, UnaryOp};
use ferrograd_core::storage::Storage;
use ferrograd_core::op::{Extremum, ScanOp, SoftmaxOp};
use ferrograd_core::{DType, Error, ExternalError, Layout, Tensor, Window};
use numpy::npyffi::{self, npy_intp, PY_ARRAY_API};
use numpy::{Element as NpElement, PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyIndexError, PyNotImplementedError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PyTuple, PyWeakrefMethods, PyWeakrefReference};
use std::sync::Arc;

// Tensor buffers are large and short-lived; mimalloc keeps freed pages for reuse instead of
// returning them to the OS, which made each new buffer pay page faults again (measured: a
// conv2d forward went from ~2.5 ms to ~0.5 ms on the seed CNN's first layer).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (libmimalloc-sys names no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// Milliseconds freed pages stay committed before mimalloc returns them to the OS. A training
/// step frees and re-allocates the same large buffers every few milliseconds; with mimalloc's
/// default 10 ms they page-faulted again each step (seed CNN step: 4.7 -> 4.0 ms at 1 s).
const PURGE_DELAY_MS: std::ffi::c_long = 1000;

mod graph;
mod optim;
mod records;

/// Maps core errors to the exception type PyTorch raises for the same failure.
fn to_py(e: Error) -> PyErr {
    match e {
        Error::Index(m) => PyIndexError::new_err(m),
        Error::Value(m) => PyValueError::new_err(m),
        Error::Type(m) => PyTypeError::new_err(m),
        Error::NotImplemented(m) | Error::DType(m) => PyNotImplementedError::new_err(m),
        Error::Shape(m)
        | Error::Autograd(m)
        | Error::Device(m)
        | Error::Runtime(m)
        | Error::OutOfMemory(m) => PyRuntimeError::new_err(m),
        Error::External(ExternalError(payload)) => match payload.downcast::<PyErr>() {
            Ok(err) => Python::attach(|py| err.clone_ref(py)),
            Err(_) => PyRuntimeError::new_err("an error was raised inside a hook"),
        },
    }
}

/// A Python exception raised inside a hook, carried through the core back to the caller.
fn hook_error(err: PyErr) -> Error {
    Error::External(ExternalError(Arc::new(err)))
}

trait IntoPyResult<T> {
    fn py(self) -> PyResult<T>;
}
impl<T> IntoPyResult<T> for ferrograd_core::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

fn parse_dtype(name: &str) -> PyResult<DType> {
    DType::from_name(name).ok_or_else(|| PyTypeError::new_err(format!("unsupported dtype '{name}'")))
}

#[pyclass(name = "Tensor", module = "ferrograd", subclass, weakref, skip_from_py_object)]
pub struct PyTensor {
    pub inner: Tensor,
    /// A weak reference to the Python object last handed out as `.grad`, handed out again
    /// while it lives and still wraps the gradient: `x.grad is x.grad`, as in PyTorch.
    grad_object: std::sync::Mutex<Option<Py<PyWeakrefReference>>>,
}

impl Clone for PyTensor {
    fn clone(&self) -> Self {
        wrap(self.inner.clone())
    }
}

fn wrap(t: Tensor) -> PyTensor {
    PyTensor { inner: t, grad_object: std::sync::Mutex::new(None) }
}

/// A tensor operand: a tensor, or a Python number wrapped as a scalar.
fn operand(obj: &Bound<'_, PyAny>) -> PyResult<Option<Tensor>> {
    if let Ok(t) = obj.cast::<PyTensor>() {
        return Ok(Some(t.borrow().inner.clone()));
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(Some(Tensor::wrapped_scalar(obj.extract::<bool>()?)));
    }
    if obj.is_instance_of::<PyInt>() {
        return match obj.extract::<i64>() {
            Ok(v) => Ok(Some(Tensor::wrapped_scalar(v))),
            Err(_) => Err(PyRuntimeError::new_err(format!("Overflow when unpacking long: {obj}"))),
        };
    }
    if obj.is_instance_of::<PyFloat>() {
        return Ok(Some(Tensor::wrapped_scalar(obj.extract::<f64>()?)));
    }
    // numpy scalars and 0-d arrays.
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        if a.ndim() == 0 {
            let kind = a.dtype().kind();
            return Ok(Some(match kind {
                b'b' => Tensor::wrapped_scalar(obj.call_method0("item")?.extract::<bool>()?),
                b'i' | b'u' => Tensor::wrapped_scalar(obj.call_method0("item")?.extract::<i64>()?),
                _ => Tensor::wrapped_scalar(obj.call_method0("item")?.extract::<f64>()?),
            }));
        }
        return Ok(None);
    }
    let ty = obj.get_type();
    let module: String = ty.getattr("__module__").and_then(|m| m.extract()).unwrap_or_default();
    if module == "numpy" {
        if let Ok(item) = obj.call_method0("item") {
            return operand(&item);
        }
    }
    Ok(None)
}

fn need_operand(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Tensor> {
    operand(obj)?.ok_or_else(|| {
        PyTypeError::new_err(format!(
            "{what}: expected a Tensor or a number, but got {}",
            obj.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
    })
}

fn binary_op(name: &str) -> PyResult<BinaryOp> {
    BinaryOp::from_name(name).ok_or_else(|| PyValueError::new_err(format!("unknown binary op '{name}'")))
}

fn unary_op(name: &str) -> PyResult<UnaryOp> {
    UnaryOp::from_name(name).ok_or_else(|| PyValueError::new_err(format!("unknown unary op '{name}'")))
}

/// The unary ops' names, from the core's op table (the Python registry is built from them).
#[pyfunction]
fn unary_op_names() -> Vec<&'static str> {
    UnaryOp::ALL.iter().map(|op| op.name()).collect()
}

/// The dtypes, from the core's table: (name, PyTorch alias, legacy tensor type, capitalised
/// name, is floating point, bytes per element), in promotion order.
#[pyfunction]
fn dtype_table() -> Vec<(&'static str, &'static str, &'static str, &'static str, bool, usize)> {
    DType::ALL.iter().map(|&d| (d.name(), d.alias(), d.tensor_type_name(), d.titled(), d.is_float(), d.size_of())).collect()
}

/// `torch.promote_types`: the dtype two dtypes meet in.
#[pyfunction]
fn promote_types(a: &str, b: &str) -> PyResult<&'static str> {
    Ok(ferrograd_core::dtype::promote(parse_dtype(a)?, parse_dtype(b)?).name())
}

/// `torch.result_type`: the dtype an element-wise op of two tensors or numbers computes in.
#[pyfunction]
fn result_type(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<&'static str> {
    let (a, b) = (need_operand(a, "result_type")?, need_operand(b, "result_type")?);
    Ok(ferrograd_core::dtype::result_type(&[a.operand(), b.operand()]).name())
}

/// Applies a binary op with `obj` on the right (or the left when `reflected`).
fn binary_dunder(py: Python<'_>, a: &Tensor, obj: &Bound<'_, PyAny>, op: BinaryOp, reflected: bool) -> PyResult<Py<PyAny>> {
    let Some(b) = operand(obj)? else { return Ok(py.NotImplemented()) };
    let r = if reflected { b.binary(op, a) } else { a.binary(op, &b) }.py()?;
    Ok(Py::new(py, wrap(r))?.into_any())
}

#[pymethods]
impl PyTensor {
    /// `Tensor(data)`: a float32 tensor from data, or an alias of a tensor (used by subclasses
    /// such as `nn.Parameter`).
    #[new]
    #[pyo3(signature = (*args))]
    fn py_new(py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        if args.len() == 1 {
            let a = args.get_item(0)?;
            if let Ok(t) = a.cast::<PyTensor>() {
                return Ok(wrap(t.borrow().inner.detach()));
            }
            let ferro = py.import("ferrograd")?;
            let t = ferro.getattr("tensor")?.call1((a, ferro.getattr("float32")?))?;
            return Ok(wrap(t.cast::<PyTensor>()?.borrow().inner.clone()));
        }
        if args.is_empty() {
            return Ok(wrap(Tensor::zeros(&[0], DType::F32).py()?));
        }
        let shape: Vec<usize> = args.extract()?;
        Ok(wrap(Tensor::zeros(&shape, DType::F32).py()?))
    }

    #[getter]
    fn _shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.inner.shape())
    }
    fn _strides<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.inner.strides())
    }
    fn storage_offset(&self) -> usize {
        self.inner.offset()
    }
    #[getter]
    fn _dtype(&self) -> &'static str {
        self.inner.dtype().name()
    }
    #[getter]
    fn _device(&self) -> String {
        self.inner.device().to_string()
    }
    #[getter]
    fn ndim(&self) -> usize {
        self.inner.ndim()
    }
    fn dim(&self) -> usize {
        self.inner.ndim()
    }
    fn numel(&self) -> usize {
        self.inner.numel()
    }
    fn nelement(&self) -> usize {
        self.inner.numel()
    }
    fn element_size(&self) -> usize {
        self.inner.dtype().size_of()
    }
    fn is_contiguous(&self) -> bool {
        self.inner.is_contiguous()
    }
    fn data_ptr(&self) -> usize {
        self.inner.storage().data_ptr() as usize + self.inner.offset() * self.inner.dtype().size_of()
    }
    #[getter]
    fn _version(&self) -> u64 {
        self.inner.storage().version()
    }
    #[getter]
    fn is_leaf(&self) -> bool {
        self.inner.is_leaf()
    }
    #[getter]
    fn get_requires_grad(&self) -> bool {
        self.inner.requires_grad()
    }
    #[setter]
    fn set_requires_grad(&self, flag: bool) -> PyResult<()> {
        self.inner.set_requires_grad(flag).py()
    }
    #[getter]
    fn get_grad<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(grad) = self.inner.grad() else { return Ok(None) };
        let mut cached = self.grad_object.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(obj) = cached.as_ref().and_then(|w| w.bind(py).upgrade()) {
            if obj.cast::<PyTensor>().is_ok_and(|t| t.borrow().inner.id() == grad.id()) {
                return Ok(Some(obj));
            }
        }
        let obj = Bound::new(py, wrap(grad))?.into_any();
        *cached = Some(PyWeakrefReference::new(&obj)?.unbind());
        Ok(Some(obj))
    }
    #[setter]
    fn set_grad(&self, g: Option<Bound<'_, PyTensor>>) -> PyResult<()> {
        self.inner.set_grad(g.as_ref().map(|g| g.borrow().inner.clone())).py()?;
        *self.grad_object.lock().unwrap_or_else(|e| e.into_inner()) = match g {
            Some(g) => Some(PyWeakrefReference::new(g.as_any())?.unbind()),
            None => None,
        };
        Ok(())
    }
    #[getter]
    fn grad_fn(&self) -> Option<PyNode> {
        self.inner.grad_fn().map(PyNode)
    }
    #[getter]
    fn retains_grad(&self) -> bool {
        self.inner.retains_grad()
    }
    fn retain_grad(&self) -> PyResult<()> {
        self.inner.retain_grad().py()
    }
    /// `hook(grad) -> Tensor or None`, called with the GIL from inside backward.
    fn _register_hook(&self, hook: Py<PyAny>) -> PyResult<PyHookHandle> {
        let call = move |g: &Tensor| -> ferrograd_core::Result<Option<Tensor>> {
            Python::attach(|py| {
                let out = hook.call1(py, (wrap(g.clone()),)).map_err(hook_error)?;
                if out.is_none(py) {
                    return Ok(None);
                }
                match out.bind(py).cast::<PyTensor>() {
                    Ok(t) => Ok(Some(t.borrow().inner.clone())),
                    Err(_) => Err(Error::Type(format!(
                        "a tensor hook must return a Tensor or None, but returned {}",
                        out.bind(py).get_type().name().map(|n| n.to_string()).unwrap_or_default()
                    ))),
                }
            })
        };
        Ok(PyHookHandle(self.inner.register_hook(Arc::new(call)).py()?))
    }
    /// `hook(tensor)`, called with this very Python object (a Parameter stays a Parameter)
    /// while it lives; held weakly, so the hook does not keep the tensor alive.
    fn _register_post_accumulate_grad_hook(slf: &Bound<'_, Self>, hook: Py<PyAny>) -> PyResult<PyHookHandle> {
        let this = PyWeakrefReference::new(slf)?.unbind();
        let call = move |leaf: &Tensor| -> ferrograd_core::Result<()> {
            Python::attach(|py| {
                let arg = match this.bind(py).upgrade() {
                    Some(obj) => obj,
                    None => Bound::new(py, wrap(leaf.clone())).map_err(hook_error)?.into_any(),
                };
                hook.call1(py, (arg,)).map(|_| ()).map_err(hook_error)
            })
        };
        Ok(PyHookHandle(slf.borrow().inner.register_post_accumulate_grad_hook(Arc::new(call)).py()?))
    }
    fn detach(&self) -> PyTensor {
        wrap(self.inner.detach())
    }
    fn detach_<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        slf.borrow().inner.detach_().py()?;
        Ok(slf)
    }
    /// `.data`: the same memory without history.
    #[getter]
    fn get_data(&self) -> PyTensor {
        wrap(self.inner.detach())
    }
    /// `tensor.data = other`: this Python object now views `other`'s memory (any shape or
    /// dtype), keeping its identity, `requires_grad` and (when it fits) `.grad`.
    #[setter]
    fn set_data(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let src = match value.cast::<PyTensor>() {
            Ok(v) => match v.try_borrow() {
                Ok(v) => v.inner.clone(),
                Err(_) => return Ok(()), // `t.data = t`: already borrowed by this call, nothing to do
            },
            Err(_) => return Err(PyTypeError::new_err("data must be a Tensor")),
        };
        self.inner = self.inner.with_data_of(&src);
        Ok(())
    }
    /// Identity of the core tensor this object wraps (Python wrappers of one tensor share it).
    fn _impl_id(&self) -> usize {
        self.inner.id()
    }
    fn _is_view(&self) -> bool {
        self.inner.is_view()
    }
    fn _same_storage(&self, other: PyRef<'_, PyTensor>) -> bool {
        self.inner.same_storage(&other.inner)
    }

    #[pyo3(signature = (gradient=None, retain_graph=None, create_graph=false))]
    fn _backward(&self, py: Python<'_>, gradient: Option<PyRef<'_, PyTensor>>, retain_graph: Option<bool>, create_graph: bool) -> PyResult<()> {
        let g = gradient.map(|g| g.inner.clone());
        let t = self.inner.clone();
        py.detach(|| t.backward(g, retain_graph.unwrap_or(create_graph), create_graph)).py()
    }

    fn item<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let t = host(py, &self.inner)?;
        match t.dtype() {
            DType::Bool => Ok(PyBool::new(py, t.item::<bool>().py()?).to_owned().into_any()),
            d if d.is_int() => Ok(t.item::<i64>().py()?.into_pyobject(py)?.into_any()),
            _ => Ok(t.item::<f64>().py()?.into_pyobject(py)?.into_any()),
        }
    }
    /// Flat list of the elements in row-major order (the Python layer nests it).
    fn _flat_list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let t = host(py, &self.inner)?;
        match t.dtype() {
            DType::Bool => PyList::new(py, t.to_vec::<bool>()),
            d if d.is_int() => PyList::new(py, t.to_vec::<i64>()),
            _ => PyList::new(py, t.to_vec::<f64>()),
        }
    }

    /// A numpy array viewing this tensor's memory (no copy).
    fn _numpy<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let t = slf.borrow().inner.clone();
        let py = slf.py();
        ferrograd_core::graph::record::host_read("viewing a tensor's memory from numpy (.numpy(), np.asarray)");
        if t.device().is_gpu() {
            return Err(PyTypeError::new_err(format!(
                "can't convert {} device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first.",
                t.device()
            )));
        }
        let descr = np_descr(py, t.dtype())?;
        let size = t.dtype().size_of();
        let mut dims: Vec<npy_intp> = t.shape().iter().map(|&d| d as npy_intp).collect();
        let mut strides: Vec<npy_intp> = t.strides().iter().map(|&s| (s * size) as npy_intp).collect();
        // SAFETY: the array views memory owned by the tensor's storage, kept alive by making
        // the tensor object the array's base; shape and strides describe the tensor's layout,
        // which lies within the storage.
        unsafe {
            let data = t.storage().data_ptr().add(t.offset() * size);
            let ptr = PY_ARRAY_API.PyArray_NewFromDescr(
                py,
                npyffi::get_type_object(py, npyffi::NpyTypes::PyArray_Type),
                descr.into_dtype_ptr(),
                dims.len() as i32,
                dims.as_mut_ptr(),
                strides.as_mut_ptr(),
                data as *mut std::ffi::c_void,
                npyffi::NPY_ARRAY_WRITEABLE,
                std::ptr::null_mut(),
            );
            if ptr.is_null() {
                return Err(PyErr::fetch(py));
            }
            let base = slf.into_any().into_ptr();
            if PY_ARRAY_API.PyArray_SetBaseObject(py, ptr as *mut npyffi::PyArrayObject, base) < 0 {
                return Err(PyErr::fetch(py));
            }
            Ok(Bound::from_owned_ptr(py, ptr))
        }
    }

    fn __len__(&self) -> PyResult<usize> {
        if self.inner.ndim() == 0 {
            return Err(PyTypeError::new_err("len() of a 0-d tensor"));
        }
        Ok(self.inner.shape()[0])
    }
    fn __hash__(slf: &Bound<'_, Self>) -> isize {
        slf.as_ptr() as isize
    }

    // Arithmetic operators, here for speed; everything else is added by the Python layer.
    fn __add__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::Add, false)
    }
    fn __radd__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::Add, true)
    }
    fn __sub__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::Sub, false)
    }
    fn __rsub__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::Sub, true)
    }
    fn __mul__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::Mul, false)
    }
    fn __rmul__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::Mul, true)
    }
    fn __truediv__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::Div, false)
    }
    fn __rtruediv__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::Div, true)
    }
    fn __floordiv__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::FloorDivide, false)
    }
    fn __rfloordiv__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::FloorDivide, true)
    }
    fn __mod__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::Remainder, false)
    }
    fn __rmod__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::Remainder, true)
    }
    fn __pow__(&self, py: Python<'_>, o: &Bound<'_, PyAny>, _modulo: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::Pow, false)
    }
    fn __rpow__(&self, py: Python<'_>, o: &Bound<'_, PyAny>, _modulo: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::Pow, true)
    }
    fn __and__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::BitAnd, false)
    }
    fn __rand__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::BitAnd, true)
    }
    fn __or__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::BitOr, false)
    }
    fn __ror__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::BitOr, true)
    }
    fn __xor__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::BitXor, false)
    }
    fn __rxor__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        binary_dunder(py, &self.inner, o, BinaryOp::BitXor, true)
    }
    fn __matmul__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let Ok(b) = o.cast::<PyTensor>() else { return Ok(py.NotImplemented()) };
        let (a, b) = (self.inner.clone(), b.borrow().inner.clone());
        let r = py.detach(|| a.matmul(&b)).py()?;
        Ok(Py::new(py, wrap(r))?.into_any())
    }
    fn __rmatmul__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let Ok(b) = o.cast::<PyTensor>() else { return Ok(py.NotImplemented()) };
        let (a, b) = (self.inner.clone(), b.borrow().inner.clone());
        let r = py.detach(|| b.matmul(&a)).py()?;
        Ok(Py::new(py, wrap(r))?.into_any())
    }
    fn __richcmp__(&self, py: Python<'_>, o: &Bound<'_, PyAny>, op: pyo3::basic::CompareOp) -> PyResult<Py<PyAny>> {
        use pyo3::basic::CompareOp::*;
        let bop = match op {
            Lt => BinaryOp::Lt,
            Le => BinaryOp::Le,
            Eq => BinaryOp::Eq,
            Ne => BinaryOp::Ne,
            Gt => BinaryOp::Gt,
            Ge => BinaryOp::Ge,
        };
        binary_dunder(py, &self.inner, o, bop, false)
    }
    fn __neg__(&self) -> PyResult<PyTensor> {
        Ok(wrap(self.inner.neg().py()?))
    }
    fn __pos__(&self) -> PyTensor {
        self.clone()
    }
    fn __abs__(&self) -> PyResult<PyTensor> {
        Ok(wrap(self.inner.unary(UnaryOp::Abs).py()?))
    }
    fn __invert__(&self) -> PyResult<PyTensor> {
        Ok(wrap(self.inner.unary(UnaryOp::BitwiseNot).py()?))
    }
}

/// What `register_hook` returns: `remove()` unregisters the hook (also as a context manager).
#[pyclass(name = "RemovableHandle", module = "ferrograd._core", frozen)]
pub struct PyHookHandle(autograd::HookHandle);

#[pymethods]
impl PyHookHandle {
    #[getter]
    fn id(&self) -> u64 {
        self.0.id()
    }
    fn remove(&self) {
        self.0.remove()
    }
    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }
    fn __exit__(&self, _exc_type: &Bound<'_, PyAny>, _exc: &Bound<'_, PyAny>, _tb: &Bound<'_, PyAny>) {
        self.0.remove()
    }
}

/// A node of the autograd graph (`tensor.grad_fn`).
#[pyclass(name = "Node", module = "ferrograd.autograd", frozen)]
pub struct PyNode(Arc<Node>);

#[pymethods]
impl PyNode {
    fn name(&self) -> &'static str {
        self.0.name
    }
    /// PyTorch's `Node._sequence_nr()`: the order in which nodes were recorded.
    fn _sequence_nr(&self) -> u64 {
        self.0.sequence_nr
    }
    fn __repr__(&self) -> String {
        format!("<{} object at {:#x}>", self.0.name, Arc::as_ptr(&self.0) as *const u8 as usize)
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PyNode>().is_ok_and(|o| Arc::ptr_eq(&self.0, &o.get().0))
    }
    fn __hash__(&self) -> isize {
        Arc::as_ptr(&self.0) as *const u8 as isize
    }
}


/// The tensor's data in host memory: itself on the CPU, a copy read back from a GPU (for
/// `.item()`, `.tolist()`, printing: the explicit reads).
fn host(py: Python<'_>, x: &Tensor) -> PyResult<Tensor> {
    if !x.device().is_gpu() {
        return Ok(x.clone());
    }
    let x = x.detach();
    py.detach(|| ferrograd_core::gpu::ops::to_cpu(&x)).py()
}

// ---- devices ----

#[pyfunction]
fn to_device(py: Python<'_>, x: PyRef<'_, PyTensor>, device: &str) -> PyResult<PyTensor> {
    let d = ferrograd_core::Device::parse(device).py()?;
    let x = x.inner.clone();
    Ok(wrap(py.detach(|| x.to_device(d)).py()?))
}
#[pyfunction]
fn gpu_is_available(py: Python<'_>) -> bool {
    py.detach(ferrograd_core::gpu::is_available)
}
#[pyfunction]
fn gpu_device_count(py: Python<'_>) -> usize {
    py.detach(ferrograd_core::gpu::device_count)
}
#[pyfunction]
fn gpu_device_name(py: Python<'_>) -> PyResult<String> {
    py.detach(ferrograd_core::gpu::device_name).py()
}
#[pyfunction]
fn gpu_synchronize(py: Python<'_>) -> PyResult<()> {
    py.detach(ferrograd_core::gpu::synchronize).py()
}

/// Submissions made to the GPU so far.
#[pyfunction]
fn gpu_submission_count() -> u64 {
    ferrograd_core::gpu::submission_count()
}
/// Why no GPU is usable (None when one is).
#[pyfunction]
fn gpu_unavailable_reason(py: Python<'_>) -> Option<String> {
    py.detach(|| ferrograd_core::gpu::context().err().map(|e| e.to_string()))
}

fn t(obj: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    match obj.cast::<PyTensor>() {
        Ok(t) => Ok(t.borrow().inner.clone()),
        Err(_) => Err(PyTypeError::new_err(format!(
            "expected Tensor as argument, but got {}",
            obj.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))),
    }
}

fn tensors(objs: &Bound<'_, PyAny>) -> PyResult<Vec<Tensor>> {
    objs.try_iter()?.map(|o| t(&o?)).collect()
}

// ---- creation and conversion ----

#[pyfunction]
#[pyo3(signature = (shape, value, dtype, device="cpu"))]
fn full(py: Python<'_>, shape: Vec<usize>, value: f64, dtype: &str, device: &str) -> PyResult<PyTensor> {
    let (dtype, device) = (parse_dtype(dtype)?, ferrograd_core::Device::parse(device).py()?);
    Ok(wrap(py.detach(|| if device.is_gpu() { ferrograd_core::gpu::ops::full(&shape, value, dtype, device) } else { Tensor::full_dtype(&shape, value, dtype) }).py()?))
}
/// Refuses, with PyTorch's out-of-memory error, a tensor of `shape` and `dtype` larger than the
/// host can hold: for Python loops that would build one piece by piece.
#[pyfunction]
fn check_alloc(shape: Vec<usize>, dtype: &str) -> PyResult<()> {
    let n = ferrograd_core::layout::checked_numel(&shape).py()?;
    ferrograd_core::with_dtype!(parse_dtype(dtype)?, T, ferrograd_core::storage::check_host_alloc::<T>(n).py())
}
#[pyfunction]
fn full_int(shape: Vec<usize>, value: i64) -> PyResult<PyTensor> {
    Ok(wrap(Tensor::full(&shape, value).py()?))
}
#[pyfunction]
fn arange(start: f64, end: f64, step: f64, dtype: &str) -> PyResult<PyTensor> {
    Ok(wrap(Tensor::arange(start, end, step, parse_dtype(dtype)?).py()?))
}
#[pyfunction]
fn linspace(start: f64, end: f64, steps: usize, dtype: &str) -> PyResult<PyTensor> {
    Ok(wrap(Tensor::linspace(start, end, steps, parse_dtype(dtype)?).py()?))
}
#[pyfunction]
fn eye(n: usize, m: usize, dtype: &str) -> PyResult<PyTensor> {
    Ok(wrap(Tensor::eye(n, m, parse_dtype(dtype)?).py()?))
}
#[pyfunction]
fn rand_uniform(shape: Vec<usize>, low: f64, high: f64, dtype: &str) -> PyResult<PyTensor> {
    Ok(wrap(Tensor::rand_uniform(&shape, low, high, parse_dtype(dtype)?).py()?))
}
#[pyfunction]
fn rand_normal(shape: Vec<usize>, mean: f64, std: f64, dtype: &str) -> PyResult<PyTensor> {
    Ok(wrap(Tensor::rand_normal(&shape, mean, std, parse_dtype(dtype)?).py()?))
}
#[pyfunction]
fn randint(low: i64, high: i64, shape: Vec<usize>, dtype: &str) -> PyResult<PyTensor> {
    Ok(wrap(Tensor::randint(low, high, &shape, parse_dtype(dtype)?).py()?))
}
#[pyfunction]
fn randperm(n: usize) -> PyResult<PyTensor> {
    Ok(wrap(Tensor::randperm(n).py()?))
}
#[pyfunction]
fn bernoulli_mask(shape: Vec<usize>, p: f64, dtype: &str) -> PyResult<PyTensor> {
    Ok(wrap(Tensor::bernoulli_mask(&shape, p, parse_dtype(dtype)?).py()?))
}
#[pyfunction]
fn manual_seed(seed: u64) {
    ferrograd_core::manual_seed(seed)
}
#[pyfunction]
fn set_num_threads(n: i64) -> PyResult<()> {
    ferrograd_core::cpu::team::set_threads(usize::try_from(n).unwrap_or(0)).py()
}
#[pyfunction]
fn get_num_threads() -> usize {
    ferrograd_core::cpu::team::threads()
}

/// Scalar tensor from a Python number (as a 0-d tensor, not a wrapped number).
#[pyfunction]
fn scalar(value: &Bound<'_, PyAny>, dtype: Option<&str>) -> PyResult<PyTensor> {
    let v = need_operand(value, "scalar")?;
    let v = Tensor::from_parts(v.storage().clone(), Layout::contiguous(&[]));
    Ok(wrap(match dtype {
        Some(d) => v.to_dtype(parse_dtype(d)?).py()?,
        None => v,
    }))
}

/// numpy's descriptor of `dtype`. numpy has no bfloat16: the `ml_dtypes` package provides one,
/// and without it the conversion fails as PyTorch's does.
fn np_descr(py: Python<'_>, dtype: DType) -> PyResult<Bound<'_, numpy::PyArrayDescr>> {
    Ok(match dtype {
        DType::Bool => bool::get_dtype(py),
        DType::U8 => u8::get_dtype(py),
        DType::I8 => i8::get_dtype(py),
        DType::I16 => i16::get_dtype(py),
        DType::I32 => i32::get_dtype(py),
        DType::I64 => i64::get_dtype(py),
        DType::F16 => half::f16::get_dtype(py),
        DType::BF16 => {
            py.import("ml_dtypes").map_err(|_| PyTypeError::new_err("Got unsupported ScalarType BFloat16 (numpy has no bfloat16; install ml_dtypes to convert it)"))?;
            numpy::PyArrayDescr::new(py, "bfloat16")?
        }
        DType::F32 => f32::get_dtype(py),
        DType::F64 => f64::get_dtype(py),
    })
}

fn np_dtype(a: &Bound<'_, PyUntypedArray>) -> Option<DType> {
    let d = a.dtype();
    // ml_dtypes' bfloat16 is a user-defined ("V") type: look for it only then.
    DType::ALL
        .into_iter()
        .filter(|&dt| (dt == DType::BF16) == (d.kind() == b'V'))
        .find(|&dt| np_descr(a.py(), dt).is_ok_and(|nd| d.is_equiv_to(&nd)))
}

/// A tensor sharing a numpy array's memory (every dtype numpy and ferrograd share).
#[pyfunction]
fn from_numpy(arr: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    let a = arr.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!("expected np.ndarray (got {})", arr.get_type().name().map(|n| n.to_string()).unwrap_or_default()))
    })?;
    let dtype = np_dtype(a).ok_or_else(|| {
        PyTypeError::new_err(format!(
            "can't convert np.ndarray of type {}. The only supported types are: float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, and bool.",
            a.dtype()
        ))
    })?;
    let size = dtype.size_of() as isize;
    let shape: Vec<usize> = a.shape().to_vec();
    let mut strides = vec![];
    for &s in a.strides() {
        if s < 0 {
            return Err(PyValueError::new_err(
                "At least one stride in the given numpy array is negative, and tensors with negative strides are not currently supported. (You can probably work around this by making a copy of your array  with array.copy().) ",
            ));
        }
        if s % size != 0 {
            return Err(PyValueError::new_err("given numpy array strides not a multiple of the element byte size. Copy the numpy array to reallocate the memory."));
        }
        strides.push((s / size) as usize);
    }
    let layout = Layout { shape, strides, offset: 0 };
    let len = layout.storage_extent();
    // SAFETY: numpy guarantees `data` points to the array's elements, which span `len`
    // elements from the pointer for non-negative strides; `owner` keeps the array alive.
    let data = unsafe { (*a.as_array_ptr()).data as *mut u8 };
    if len == 0 {
        return Ok(wrap(Tensor::from_parts(Storage::from_vec(Vec::<f32>::new()), Layout::contiguous(&layout.shape)).to_dtype(dtype).py()?));
    }
    if (data as usize) % dtype.size_of() != 0 {
        return Err(PyValueError::new_err("the numpy array's data is not aligned; copy it first"));
    }
    let owner: Box<dyn std::any::Any + Send + Sync> = Box::new(arr.clone().unbind());
    let storage = unsafe { Storage::from_foreign(data, len, dtype, owner) }.py()?;
    Ok(wrap(Tensor::from_parts(storage, layout)))
}

// ---- generic op entry points ----

#[pyfunction]
fn unary(x: PyRef<'_, PyTensor>, op: &str) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.unary(unary_op(op)?).py()?))
}
#[pyfunction]
fn binary(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>, op: &str) -> PyResult<PyTensor> {
    let op = binary_op(op)?;
    let (a, b) = (need_operand(a, op.name())?, need_operand(b, op.name())?);
    Ok(wrap(a.binary(op, &b).py()?))
}
#[pyfunction]
fn to_dtype(x: PyRef<'_, PyTensor>, dtype: &str) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.to_dtype(parse_dtype(dtype)?).py()?))
}
#[pyfunction]
fn clone(x: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.clone_data().py()?))
}
#[pyfunction]
fn contiguous(x: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.contiguous().py()?))
}

// ---- views ----

#[pyfunction]
fn view(x: PyRef<'_, PyTensor>, shape: Vec<i64>) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.view(&shape).py()?))
}
#[pyfunction]
fn reshape(x: PyRef<'_, PyTensor>, shape: Vec<i64>) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.reshape(&shape).py()?))
}
#[pyfunction]
fn permute(x: PyRef<'_, PyTensor>, dims: Vec<i64>) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.permute(&dims).py()?))
}
#[pyfunction]
fn transpose(x: PyRef<'_, PyTensor>, a: i64, b: i64) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.transpose(a, b).py()?))
}
#[pyfunction]
fn t_(x: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.t().py()?))
}
#[pyfunction]
fn expand(x: PyRef<'_, PyTensor>, shape: Vec<i64>) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.expand(&shape).py()?))
}
#[pyfunction]
fn squeeze(x: PyRef<'_, PyTensor>, dims: Option<Vec<i64>>) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.squeeze(dims.as_deref()).py()?))
}
#[pyfunction]
fn unsqueeze(x: PyRef<'_, PyTensor>, dim: i64) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.unsqueeze(dim).py()?))
}
#[pyfunction]
fn flatten(x: PyRef<'_, PyTensor>, start: i64, end: i64) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.flatten(start, end).py()?))
}
#[pyfunction]
fn slice(x: PyRef<'_, PyTensor>, dim: i64, start: Option<i64>, stop: Option<i64>, step: i64) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.slice(dim, start, stop, step).py()?))
}
#[pyfunction]
fn select(x: PyRef<'_, PyTensor>, dim: i64, index: i64) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.select(dim, index).py()?))
}
#[pyfunction]
fn narrow(x: PyRef<'_, PyTensor>, dim: i64, start: i64, length: i64) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.narrow(dim, start, length).py()?))
}
#[pyfunction]
fn diagonal(x: PyRef<'_, PyTensor>, offset: i64, dim1: i64, dim2: i64) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.diagonal(offset, dim1, dim2).py()?))
}
#[pyfunction]
fn unfold_dim(x: PyRef<'_, PyTensor>, dim: i64, size: usize, step: usize) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.unfold_dim(dim, size, step).py()?))
}
#[pyfunction]
fn movedim(x: PyRef<'_, PyTensor>, src: i64, dst: i64) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.movedim(src, dst).py()?))
}

// ---- reductions ----

#[pyfunction]
fn sum(x: PyRef<'_, PyTensor>, dims: Option<Vec<i64>>, keepdim: bool) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.sum(dims.as_deref(), keepdim).py()?))
}
#[pyfunction]
fn mean(x: PyRef<'_, PyTensor>, dims: Option<Vec<i64>>, keepdim: bool) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.mean(dims.as_deref(), keepdim).py()?))
}
#[pyfunction]
fn prod(x: PyRef<'_, PyTensor>, dims: Option<Vec<i64>>, keepdim: bool) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.prod(dims.as_deref(), keepdim).py()?))
}
/// The op kind a Python `is_max` flag selects.
fn extremum(is_max: bool) -> Extremum {
    if is_max { Extremum::Max } else { Extremum::Min }
}
#[pyfunction]
fn amax(x: PyRef<'_, PyTensor>, dims: Option<Vec<i64>>, keepdim: bool, is_max: bool) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.amax(dims.as_deref(), keepdim, extremum(is_max)).py()?))
}
#[pyfunction]
fn max_all(x: PyRef<'_, PyTensor>, is_max: bool) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.max_all(extremum(is_max)).py()?))
}
#[pyfunction]
fn selected(x: PyRef<'_, PyTensor>, op: &str, dim: Option<i64>, values: PyRef<'_, PyTensor>, indices: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.selected(op, dim, &values.inner, &indices.inner).py()?))
}
#[pyfunction]
fn max_dim(x: PyRef<'_, PyTensor>, dim: i64, keepdim: bool, is_max: bool) -> PyResult<(PyTensor, PyTensor)> {
    let (v, i) = x.inner.max_dim(dim, keepdim, extremum(is_max)).py()?;
    Ok((wrap(v), wrap(i)))
}
#[pyfunction]
fn sort(x: PyRef<'_, PyTensor>, dim: i64, descending: bool) -> PyResult<(PyTensor, PyTensor)> {
    let (v, i) = x.inner.sort(dim, descending).py()?;
    Ok((wrap(v), wrap(i)))
}
#[pyfunction]
fn argmax(x: PyRef<'_, PyTensor>, dim: Option<i64>, keepdim: bool, is_max: bool) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.argmax(dim, keepdim, extremum(is_max)).py()?))
}
#[pyfunction]
fn var(x: PyRef<'_, PyTensor>, dims: Option<Vec<i64>>, correction: f64, keepdim: bool) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.var(dims.as_deref(), correction, keepdim).py()?))
}
#[pyfunction]
#[pyo3(name = "std")]
fn std_dev(x: PyRef<'_, PyTensor>, dims: Option<Vec<i64>>, correction: f64, keepdim: bool) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.std(dims.as_deref(), correction, keepdim).py()?))
}
#[pyfunction]
fn logsumexp(x: PyRef<'_, PyTensor>, dims: Vec<i64>, keepdim: bool) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.logsumexp(&dims, keepdim).py()?))
}
#[pyfunction]
fn norm(x: PyRef<'_, PyTensor>, p: f64, dims: Option<Vec<i64>>, keepdim: bool) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.norm(p, dims.as_deref(), keepdim).py()?))
}
#[pyfunction]
fn any(x: PyRef<'_, PyTensor>, dims: Option<Vec<i64>>, keepdim: bool) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.any(dims.as_deref(), keepdim).py()?))
}
#[pyfunction]
fn all(x: PyRef<'_, PyTensor>, dims: Option<Vec<i64>>, keepdim: bool) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.all(dims.as_deref(), keepdim).py()?))
}
#[pyfunction]
fn cumulative(x: PyRef<'_, PyTensor>, dim: i64, prod: bool) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.cumulative(dim, if prod { ScanOp::Prod } else { ScanOp::Sum }).py()?))
}

// ---- linear algebra ----

#[pyfunction]
fn matmul(py: Python<'_>, a: PyRef<'_, PyTensor>, b: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    let (a, b) = (a.inner.clone(), b.inner.clone());
    Ok(wrap(py.detach(|| a.matmul(&b)).py()?))
}
#[pyfunction]
fn mm(py: Python<'_>, a: PyRef<'_, PyTensor>, b: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    let (a, b) = (a.inner.clone(), b.inner.clone());
    Ok(wrap(py.detach(|| a.mm(&b)).py()?))
}
#[pyfunction]
fn bmm(py: Python<'_>, a: PyRef<'_, PyTensor>, b: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    let (a, b) = (a.inner.clone(), b.inner.clone());
    Ok(wrap(py.detach(|| a.bmm(&b)).py()?))
}
#[pyfunction]
fn linear(py: Python<'_>, x: PyRef<'_, PyTensor>, w: PyRef<'_, PyTensor>, b: Option<PyRef<'_, PyTensor>>) -> PyResult<PyTensor> {
    let (x, w, b) = (x.inner.clone(), w.inner.clone(), b.map(|b| b.inner.clone()));
    Ok(wrap(py.detach(|| x.linear(&w, b.as_ref())).py()?))
}
#[pyfunction]
fn dot(a: PyRef<'_, PyTensor>, b: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    Ok(wrap(a.inner.dot(&b.inner).py()?))
}

// ---- indexing ----

#[pyfunction]
fn index_select(x: PyRef<'_, PyTensor>, dim: i64, index: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.index_select(dim, &index.inner).py()?))
}
#[pyfunction]
fn index_add(x: PyRef<'_, PyTensor>, dim: i64, index: PyRef<'_, PyTensor>, source: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.index_add(dim, &index.inner, &source.inner).py()?))
}
#[pyfunction]
fn gather(x: PyRef<'_, PyTensor>, dim: i64, index: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.gather(dim, &index.inner).py()?))
}
#[pyfunction]
fn scatter(x: PyRef<'_, PyTensor>, dim: i64, index: PyRef<'_, PyTensor>, src: &Bound<'_, PyAny>, add: bool) -> PyResult<PyTensor> {
    let src = need_operand(src, "scatter")?;
    let r = if add { x.inner.scatter_add(dim, &index.inner, &src) } else { x.inner.scatter(dim, &index.inner, &src) };
    Ok(wrap(r.py()?))
}
#[pyfunction]
fn where_(cond: PyRef<'_, PyTensor>, a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    let (a, b) = (need_operand(a, "where")?, need_operand(b, "where")?);
    Ok(wrap(cond.inner.where_(&a, &b).py()?))
}
#[pyfunction]
fn nonzero(x: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.nonzero().py()?))
}
/// int64 positions along dim `dim` of `size` elements, wrapped into `0..size` and flattened
/// (IndexError naming the dim for one out of range; checked by the kernels).
#[pyfunction]
fn wrap_index(index: PyRef<'_, PyTensor>, size: usize, dim: usize) -> PyResult<PyTensor> {
    Ok(wrap(index.inner.wrap_positions(size, dim).py()?))
}
#[pyfunction]
fn take(x: PyRef<'_, PyTensor>, index: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.take(&index.inner).py()?))
}
#[pyfunction]
fn put(x: PyRef<'_, PyTensor>, index: PyRef<'_, PyTensor>, values: &Bound<'_, PyAny>, accumulate: bool) -> PyResult<PyTensor> {
    let v = need_operand(values, "index_put")?;
    Ok(wrap(x.inner.put(&index.inner, &v, accumulate).py()?))
}

// ---- joining, padding ----

#[pyfunction]
fn cat(ts: &Bound<'_, PyAny>, dim: i64) -> PyResult<PyTensor> {
    Ok(wrap(Tensor::cat(&tensors(ts)?, dim).py()?))
}
#[pyfunction]
fn flip(x: PyRef<'_, PyTensor>, dims: Vec<i64>) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.flip(&dims).py()?))
}
#[pyfunction]
fn pad(x: PyRef<'_, PyTensor>, pads: Vec<i64>, value: f64) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.pad(&pads, value).py()?))
}

// ---- nn kernels ----

#[pyfunction]
fn softmax(py: Python<'_>, x: PyRef<'_, PyTensor>, dim: i64, log: bool) -> PyResult<PyTensor> {
    let x = x.inner.clone();
    Ok(wrap(py.detach(|| x.softmax(dim, if log { SoftmaxOp::LogSoftmax } else { SoftmaxOp::Softmax })).py()?))
}
#[pyfunction]
fn cross_entropy(x: PyRef<'_, PyTensor>, target: PyRef<'_, PyTensor>, weight: Option<PyRef<'_, PyTensor>>, ignore_index: i64, reduction: &str) -> PyResult<PyTensor> {
    let reduction = Reduction::parse(reduction).py()?;
    Ok(wrap(x.inner.cross_entropy(&target.inner, weight.as_ref().map(|w| &w.inner), ignore_index, reduction).py()?))
}
#[pyfunction]
fn clamp(x: PyRef<'_, PyTensor>, min: Option<f64>, max: Option<f64>) -> PyResult<PyTensor> {
    Ok(wrap(x.inner.clamp(min, max).py()?))
}
fn window(kernel: (usize, usize), dilation: (usize, usize), padding: (usize, usize), stride: (usize, usize)) -> Window {
    Window { kernel, dilation, padding, stride }
}
#[pyfunction]
#[pyo3(signature = (x, kernel, dilation, padding, stride, pad_value, batch_major=false))]
#[allow(clippy::too_many_arguments)]
fn im2col(py: Python<'_>, x: PyRef<'_, PyTensor>, kernel: (usize, usize), dilation: (usize, usize), padding: (usize, usize), stride: (usize, usize), pad_value: f64, batch_major: bool) -> PyResult<PyTensor> {
    let x = x.inner.clone();
    let w = window(kernel, dilation, padding, stride);
    Ok(wrap(py.detach(|| x.im2col(w, pad_value, batch_major)).py()?))
}
#[pyfunction]
#[pyo3(signature = (x, size, kernel, dilation, padding, stride, batch_major=false, n=0))]
#[allow(clippy::too_many_arguments)]
fn col2im(py: Python<'_>, x: PyRef<'_, PyTensor>, size: (usize, usize), kernel: (usize, usize), dilation: (usize, usize), padding: (usize, usize), stride: (usize, usize), batch_major: bool, n: usize) -> PyResult<PyTensor> {
    let x = x.inner.clone();
    let w = window(kernel, dilation, padding, stride);
    Ok(wrap(py.detach(|| x.col2im(size, w, batch_major, n)).py()?))
}

#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn conv2d(py: Python<'_>, x: PyRef<'_, PyTensor>, w: PyRef<'_, PyTensor>, b: Option<PyRef<'_, PyTensor>>, stride: (usize, usize), padding: (usize, usize), dilation: (usize, usize), groups: usize) -> PyResult<PyTensor> {
    let (x, w, b) = (x.inner.clone(), w.inner.clone(), b.map(|b| b.inner.clone()));
    Ok(wrap(py.detach(|| x.conv2d(&w, b.as_ref(), stride, padding, dilation, groups)).py()?))
}
#[pyfunction]
fn max_pool2d(py: Python<'_>, x: PyRef<'_, PyTensor>, kernel: (usize, usize), dilation: (usize, usize), padding: (usize, usize), stride: (usize, usize), ceil_mode: bool) -> PyResult<(PyTensor, PyTensor)> {
    let x = x.inner.clone();
    let w = window(kernel, dilation, padding, stride);
    let (v, i) = py.detach(|| x.max_pool2d(w, ceil_mode)).py()?;
    Ok((wrap(v), wrap(i)))
}

// ---- in place ----

/// Runs `f(input) -> result` and writes the result into `x` with PyTorch's in-place autograd
/// semantics (leaf check, history rebase, version bump).
#[pyfunction]
#[pyo3(signature = (x, others, f, reads_self=true))]
fn inplace(x: PyRef<'_, PyTensor>, others: &Bound<'_, PyAny>, f: &Bound<'_, PyAny>, reads_self: bool) -> PyResult<()> {
    let others = tensors(others)?;
    let refs: Vec<&Tensor> = others.iter().collect();
    let mut py_err = None;
    let r = x.inner.apply_inplace(&refs, reads_self, |input| {
        let out = f.call1((wrap(input.clone()),)).and_then(|o| t(&o));
        out.map_err(|e| {
            py_err = Some(e);
            Error::Runtime("python callback failed".into())
        })
    });
    match (r, py_err) {
        (_, Some(e)) => Err(e),
        (r, None) => r.py(),
    }
}

// ---- autograd ----

#[pyfunction]
fn is_grad_enabled() -> bool {
    autograd::is_grad_enabled()
}
#[pyfunction]
fn set_grad_enabled(enabled: bool) -> bool {
    autograd::set_grad_enabled(enabled)
}
#[pyfunction]
#[pyo3(signature = (outputs, grad_outputs, retain_graph, create_graph))]
fn run_backward(py: Python<'_>, outputs: &Bound<'_, PyAny>, grad_outputs: &Bound<'_, PyAny>, retain_graph: bool, create_graph: bool) -> PyResult<()> {
    let outs = tensors(outputs)?;
    let grads = optional_tensors(grad_outputs)?;
    py.detach(|| autograd::backward(&outs, grads, retain_graph, create_graph)).py()
}
fn optional_tensors(objs: &Bound<'_, PyAny>) -> PyResult<Vec<Option<Tensor>>> {
    objs.try_iter()?.map(|o| {
        let o = o?;
        if o.is_none() { Ok(None) } else { t(&o).map(Some) }
    }).collect()
}
/// `recorded`: (start, end) ranges of node sequence numbers to differentiate through (all when None).
#[pyfunction]
#[pyo3(signature = (outputs, grad_outputs, inputs, retain_graph, create_graph, allow_unused, recorded=None))]
#[allow(clippy::too_many_arguments)]
fn grad(py: Python<'_>, outputs: &Bound<'_, PyAny>, grad_outputs: &Bound<'_, PyAny>, inputs: &Bound<'_, PyAny>, retain_graph: bool, create_graph: bool, allow_unused: bool, recorded: Option<Vec<(u64, u64)>>) -> PyResult<Vec<Option<PyTensor>>> {
    let outs = tensors(outputs)?;
    let grads = optional_tensors(grad_outputs)?;
    let ins = tensors(inputs)?;
    let recorded: Option<Vec<std::ops::Range<u64>>> = recorded.map(|rs| rs.into_iter().map(|(start, end)| start..end).collect());
    let r = py.detach(|| autograd::grad_within(&outs, grads, &ins, retain_graph, create_graph, allow_unused, recorded.as_deref())).py()?;
    Ok(r.into_iter().map(|g| g.map(wrap)).collect())
}

/// The sequence number the next recorded autograd node will get.
#[pyfunction]
fn next_sequence_nr() -> u64 {
    autograd::next_sequence_nr()
}

/// Counted on/off switch of this thread's log of the leaves recorded nodes read.
#[pyfunction]
fn log_leaf_reads(on: bool) {
    autograd::log_leaf_reads(on)
}
/// (sequence number, `_impl_id`) of the first read of each leaf read by nodes recorded within
/// the (start, end) ranges while the log was on, in order.
#[pyfunction]
fn leaf_reads(recorded: Vec<(u64, u64)>) -> Vec<(u64, usize)> {
    autograd::leaf_reads(&recorded.into_iter().map(|(start, end)| start..end).collect::<Vec<_>>())
}

/// `backward(inputs=...)`: accumulates into the `.grad` of `inputs` only.
#[pyfunction]
fn backward_to(py: Python<'_>, outputs: &Bound<'_, PyAny>, grad_outputs: &Bound<'_, PyAny>, inputs: &Bound<'_, PyAny>, retain_graph: bool, create_graph: bool) -> PyResult<()> {
    let outs = tensors(outputs)?;
    let grads = optional_tensors(grad_outputs)?;
    let ins = tensors(inputs)?;
    py.detach(|| autograd::backward_to(&outs, grads, &ins, retain_graph, create_graph)).py()
}

/// Aliases of `tensors` whose gradients reach `hook(grads) -> grads` together, as a list with
/// None where a tensor received none; the hook returns the gradients to pass on.
#[pyfunction]
fn hook_gradients_together(tensors_: &Bound<'_, PyAny>, hook: Py<PyAny>) -> PyResult<Vec<PyTensor>> {
    let call = move |grads: Vec<Option<Tensor>>| -> ferrograd_core::Result<Vec<Option<Tensor>>> {
        Python::attach(|py| {
            let grads: Vec<Option<PyTensor>> = grads.into_iter().map(|g| g.map(wrap)).collect();
            let out = hook.call1(py, (grads,)).map_err(hook_error)?;
            optional_tensors(out.bind(py)).map_err(hook_error)
        })
    };
    Ok(autograd::hook_gradients_together(&tensors(tensors_)?, Arc::new(call)).into_iter().map(wrap).collect())
}

/// The leaves requiring grad that backward from `outputs` would reach.
#[pyfunction]
fn reachable_leaves(outputs: &Bound<'_, PyAny>) -> PyResult<Vec<PyTensor>> {
    Ok(autograd::reachable_leaves(&tensors(outputs)?).into_iter().map(wrap).collect())
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // SAFETY: mi_option_set stores one option value (an atomic write inside mimalloc); it has
    // no preconditions on the allocator's state.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    m.add_class::<PyTensor>()?;
    m.add_class::<PyNode>()?;
    m.add_class::<PyHookHandle>()?;
    m.add_class::<graph::PyGraph>()?;
    m.add_function(wrap_pyfunction!(graph::trace_begin, m)?)?;
    m.add_function(wrap_pyfunction!(graph::trace_abort, m)?)?;
    m.add_function(wrap_pyfunction!(graph::trace_end, m)?)?;
    m.add_function(wrap_pyfunction!(graph::is_tracing, m)?)?;
    m.add_function(wrap_pyfunction!(graph::trace_mark, m)?)?;
    m.add_function(wrap_pyfunction!(graph::set_graph_break_locator, m)?)?;
    m.add_function(wrap_pyfunction!(unary_op_names, m)?)?;
    m.add_function(wrap_pyfunction!(dtype_table, m)?)?;
    m.add_function(wrap_pyfunction!(promote_types, m)?)?;
    m.add_function(wrap_pyfunction!(result_type, m)?)?;
    m.add_function(wrap_pyfunction!(full, m)?)?;
    m.add_function(wrap_pyfunction!(full_int, m)?)?;
    m.add_function(wrap_pyfunction!(arange, m)?)?;
    m.add_function(wrap_pyfunction!(linspace, m)?)?;
    m.add_function(wrap_pyfunction!(eye, m)?)?;
    m.add_function(wrap_pyfunction!(rand_uniform, m)?)?;
    m.add_function(wrap_pyfunction!(rand_normal, m)?)?;
    m.add_function(wrap_pyfunction!(randint, m)?)?;
    m.add_function(wrap_pyfunction!(randperm, m)?)?;
    m.add_function(wrap_pyfunction!(bernoulli_mask, m)?)?;
    m.add_function(wrap_pyfunction!(manual_seed, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(scalar, m)?)?;
    m.add_function(wrap_pyfunction!(from_numpy, m)?)?;
    m.add_function(wrap_pyfunction!(unary, m)?)?;
    m.add_function(wrap_pyfunction!(binary, m)?)?;
    m.add_function(wrap_pyfunction!(to_dtype, m)?)?;
    m.add_function(wrap_pyfunction!(clone, m)?)?;
    m.add_function(wrap_pyfunction!(contiguous, m)?)?;
    m.add_function(wrap_pyfunction!(view, m)?)?;
    m.add_function(wrap_pyfunction!(reshape, m)?)?;
    m.add_function(wrap_pyfunction!(permute, m)?)?;
    m.add_function(wrap_pyfunction!(transpose, m)?)?;
    m.add_function(wrap_pyfunction!(t_, m)?)?;
    m.add_function(wrap_pyfunction!(expand, m)?)?;
    m.add_function(wrap_pyfunction!(squeeze, m)?)?;
    m.add_function(wrap_pyfunction!(unsqueeze, m)?)?;
    m.add_function(wrap_pyfunction!(flatten, m)?)?;
    m.add_function(wrap_pyfunction!(slice, m)?)?;
    m.add_function(wrap_pyfunction!(select, m)?)?;
    m.add_function(wrap_pyfunction!(narrow, m)?)?;
    m.add_function(wrap_pyfunction!(unfold_dim, m)?)?;
    m.add_function(wrap_pyfunction!(diagonal, m)?)?;
    m.add_function(wrap_pyfunction!(check_alloc, m)?)?;
    m.add_function(wrap_pyfunction!(movedim, m)?)?;
    m.add_function(wrap_pyfunction!(sum, m)?)?;
    m.add_function(wrap_pyfunction!(mean, m)?)?;
    m.add_function(wrap_pyfunction!(prod, m)?)?;
    m.add_function(wrap_pyfunction!(amax, m)?)?;
    m.add_function(wrap_pyfunction!(max_all, m)?)?;
    m.add_function(wrap_pyfunction!(selected, m)?)?;
    m.add_function(wrap_pyfunction!(max_dim, m)?)?;
    m.add_function(wrap_pyfunction!(sort, m)?)?;
    m.add_function(wrap_pyfunction!(argmax, m)?)?;
    m.add_function(wrap_pyfunction!(var, m)?)?;
    m.add_function(wrap_pyfunction!(std_dev, m)?)?;
    m.add_function(wrap_pyfunction!(logsumexp, m)?)?;
    m.add_function(wrap_pyfunction!(norm, m)?)?;
    m.add_function(wrap_pyfunction!(any, m)?)?;
    m.add_function(wrap_pyfunction!(all, m)?)?;
    m.add_function(wrap_pyfunction!(cumulative, m)?)?;
    m.add_function(wrap_pyfunction!(matmul, m)?)?;
    m.add_function(wrap_pyfunction!(mm, m)?)?;
    m.add_function(wrap_pyfunction!(bmm, m)?)?;
    m.add_function(wrap_pyfunction!(dot, m)?)?;
    m.add_function(wrap_pyfunction!(linear, m)?)?;
    m.add_function(wrap_pyfunction!(index_select, m)?)?;
    m.add_function(wrap_pyfunction!(index_add, m)?)?;
    m.add_function(wrap_pyfunction!(gather, m)?)?;
    m.add_function(wrap_pyfunction!(scatter, m)?)?;
    m.add_function(wrap_pyfunction!(where_, m)?)?;
    m.add_function(wrap_pyfunction!(nonzero, m)?)?;
    m.add_function(wrap_pyfunction!(take, m)?)?;
    m.add_function(wrap_pyfunction!(wrap_index, m)?)?;
    m.add_function(wrap_pyfunction!(put, m)?)?;
    m.add_function(wrap_pyfunction!(cat, m)?)?;
    m.add_function(wrap_pyfunction!(flip, m)?)?;
    m.add_function(wrap_pyfunction!(pad, m)?)?;
    m.add_function(wrap_pyfunction!(softmax, m)?)?;
    m.add_function(wrap_pyfunction!(cross_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(clamp, m)?)?;
    m.add_function(wrap_pyfunction!(conv2d, m)?)?;
    m.add_function(wrap_pyfunction!(im2col, m)?)?;
    m.add_function(wrap_pyfunction!(col2im, m)?)?;
    m.add_function(wrap_pyfunction!(max_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(inplace, m)?)?;
    m.add_function(wrap_pyfunction!(is_grad_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(set_grad_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(run_backward, m)?)?;
    m.add_function(wrap_pyfunction!(grad, m)?)?;
    m.add_function(wrap_pyfunction!(reachable_leaves, m)?)?;
    m.add_function(wrap_pyfunction!(next_sequence_nr, m)?)?;
    m.add_function(wrap_pyfunction!(log_leaf_reads, m)?)?;
    m.add_function(wrap_pyfunction!(leaf_reads, m)?)?;
    m.add_function(wrap_pyfunction!(backward_to, m)?)?;
    m.add_function(wrap_pyfunction!(hook_gradients_together, m)?)?;
    m.add_function(wrap_pyfunction!(to_device, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_is_available, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_device_count, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_device_name, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_synchronize, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_submission_count, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_unavailable_reason, m)?)?;
    optim::register(m)?;
    records::register(m)?;
    Ok(())
}
