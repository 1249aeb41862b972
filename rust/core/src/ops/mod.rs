//! Ops, one file per family: argument checks, the kernel call, and the backward rule.
pub mod binary;
pub mod conv;
pub mod copy;
pub mod creation;
pub mod dispatch;
pub mod index;
pub mod loss;
pub mod matmul;
pub mod nn;
pub mod optim;
pub mod reduce;
pub mod shape;
pub mod sort;
pub mod unary;
pub mod view;

pub use crate::op::BinaryOp;
pub use crate::op::UnaryOp;
