//! ferrograd-core: tensor storage, layouts, CPU kernels and tape autodiff. Knows nothing of
//! Python; the bindings crate translates.
pub mod autograd;
pub mod cpu;
pub mod device;
pub mod dtype;
pub mod error;
pub mod graph;
pub mod gpu;
pub mod layout;
pub mod op;
pub mod ops;
pub mod records;
pub mod storage;
pub mod tensor;

pub use device::Device;
pub use dtype::DType;
pub use error::{Error, ExternalError, Result};
pub use layout::Layout;
pub use cpu::random::manual_seed;
pub use ops::nn::Window;
pub use tensor::Tensor;
