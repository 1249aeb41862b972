//! Where a tensor's memory lives: host memory, or a GPU driven through wgpu.
use crate::error::{Error, Result};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    Cpu,
    /// A GPU adapter by index (the runtime drives one, index 0).
    Gpu(usize),
}

impl Device {
    /// "cpu", "gpu", "gpu:N"; "cuda"/"cuda:N" are aliases of the GPU.
    pub fn parse(s: &str) -> Result<Device> {
        let (kind, index) = match s.split_once(':') {
            Some((k, i)) => (k, Some(i.parse::<usize>().map_err(|_| Error::Device(format!("Invalid device string: '{s}'")))?)),
            None => (s, None),
        };
        match kind {
            "cpu" => Ok(Device::Cpu),
            "gpu" | "cuda" => Ok(Device::Gpu(index.unwrap_or(0))),
            _ => Err(Error::Device(format!(
                "Expected one of cpu, gpu, cuda device type at start of device string: {s}"
            ))),
        }
    }
    pub fn is_gpu(self) -> bool {
        matches!(self, Device::Gpu(_))
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Gpu(i) => write!(f, "gpu:{i}"),
        }
    }
}
