//! Every failure a user can cause, as one enum. The bindings map each variant to the Python
//! exception PyTorch raises for it.
use std::any::Any;
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// Shapes, sizes or dims that do not fit together (RuntimeError in PyTorch).
    #[error("{0}")]
    Shape(String),
    /// A dim or element index out of range (IndexError in PyTorch).
    #[error("{0}")]
    Index(String),
    /// An argument value that is not allowed (ValueError in PyTorch).
    #[error("{0}")]
    Value(String),
    /// A dtype an op has no kernel for ("\"op\" not implemented for 'Bool'"): PyTorch 2.15 raises
    /// NotImplementedError, a subclass of RuntimeError. A dtype an op rejects as an argument
    /// error (an index that is not int64, a float condition) is `Runtime`.
    #[error("{0}")]
    DType(String),
    /// A wrong argument type (TypeError in PyTorch).
    #[error("{0}")]
    Type(String),
    /// Autograd misuse: missing grad_fn, freed graph, in-place modification of saved tensors.
    #[error("{0}")]
    Autograd(String),
    /// Tensors on different devices, or an op a device cannot run.
    #[error("{0}")]
    Device(String),
    /// An op not implemented for the given arguments (NotImplementedError).
    #[error("{0}")]
    NotImplemented(String),
    /// Any other runtime failure (RuntimeError in PyTorch).
    #[error("{0}")]
    Runtime(String),
    /// An allocation that cannot be satisfied.
    #[error("{0}")]
    OutOfMemory(String),
    /// An error raised inside a user's hook (for the bindings, a Python exception), carried
    /// through the engine untouched so the caller gets it back as it was raised.
    #[error("an error was raised inside a hook")]
    External(ExternalError),
}

/// The opaque payload of `Error::External`; the layer that raised it downcasts it back.
#[derive(Clone)]
pub struct ExternalError(pub Arc<dyn Any + Send + Sync>);

impl std::fmt::Debug for ExternalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExternalError")
    }
}
impl PartialEq for ExternalError {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[macro_export]
macro_rules! bail {
    ($kind:ident, $($arg:tt)*) => {
        return Err($crate::error::Error::$kind(format!($($arg)*)))
    };
}
