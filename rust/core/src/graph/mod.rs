//! Captured graphs: a function's kernel calls recorded once while it runs eagerly, then replayed
//! from Rust with new inputs (`ferrograd.compile`, `ferrograd.jit.trace`).
//!
//! Recording happens in `ops::dispatch`, the one place every kernel call passes, so a graph holds
//! exactly the `Op`s the eager run performed — forward ops, the backward rules' ops, optimizer
//! steps — and nothing of Python. A value is a storage: an op's operand is (value, layout), because
//! views change only layouts and layouts are fixed once the inputs' layouts are (the guards).
//! Memory that existed before the trace (parameters, optimizer state, constants) is read by
//! reference at each replay, so in-place updates between calls are seen.
mod fuse;
mod passes;
pub mod record;

use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::op::optim::OptimOptions;
use crate::op::{Fused, Op, OwnedAttrs};
use std::ops::Range;
use crate::storage::Storage;
use crate::tensor::Tensor;
use std::fmt::Write as _;
use std::sync::Arc;

pub type ValueId = usize;

/// An operand: a value seen through a layout.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Port {
    pub value: ValueId,
    pub layout: Layout,
}

/// Where a value's storage comes from at replay.
pub enum Source {
    /// The storage of argument `i` of the call.
    Arg(usize),
    /// Memory that existed before the trace, read by reference.
    Captured(Arc<Storage>),
    /// The `.grad` of a leaf as it is when the replay starts (a gradient accumulated across calls).
    GradOf(Leaf),
    /// Output `index` of node `node`.
    Node { node: usize, index: usize },
}

pub struct Value {
    pub source: Source,
    pub dtype: DType,
    pub device: Device,
    /// Elements in the storage.
    pub len: usize,
    /// The shape of the tensor it was first seen as.
    pub shape: Vec<usize>,
}

/// An op as a graph keeps it.
enum Stored {
    /// The op with its borrowed slices emptied, and the slices (see `Op::with_attrs`).
    Op(Op<'static>, OwnedAttrs),
    Fused(Box<Fused>),
}

/// One recorded kernel call.
pub struct Node {
    stored: Stored,
    pub inputs: Vec<Port>,
    pub outputs: Vec<ValueId>,
    /// For each input whose memory is captured: the operand, made once.
    prebuilt: Vec<Option<Tensor>>,
    /// Its position in the trace (before the passes), which trace marks refer to.
    pub origin: usize,
}

impl Node {
    fn new(op: &Op<'_>, inputs: Vec<Port>, outputs: Vec<ValueId>) -> Node {
        let stored = match (op.detached(), op) {
            (Some(template), _) => Stored::Op(template, op.owned_attrs()),
            (None, Op::Fused(f)) => Stored::Fused(Box::new((*f).clone())),
            (None, _) => unreachable!("only a fused chain has no detached form"),
        };
        Node { stored, inputs, outputs, prebuilt: vec![], origin: 0 }
    }
    pub fn op(&self) -> Op<'_> {
        match &self.stored {
            Stored::Op(template, attrs) => template.with_attrs(attrs),
            Stored::Fused(f) => Op::Fused(f),
        }
    }
}

/// A leaf whose `.grad` a graph reads or sets: an argument of the call, or a tensor from
/// before the trace (a parameter).
#[derive(Clone)]
pub enum Leaf {
    Arg(usize),
    Captured(Tensor),
}

impl Leaf {
    fn resolve<'t>(&'t self, args: &'t [Tensor]) -> &'t Tensor {
        match self {
            Leaf::Arg(i) => &args[*i],
            Leaf::Captured(t) => t,
        }
    }
}

/// What a replay checks of each argument (the rest of the guards live in the caller).
#[derive(Clone, Debug, PartialEq)]
pub struct ArgSpec {
    pub layout: Layout,
    pub dtype: DType,
    pub device: Device,
    pub requires_grad: bool,
}

impl ArgSpec {
    fn of(t: &Tensor) -> ArgSpec {
        ArgSpec { layout: t.layout().clone(), dtype: t.dtype(), device: t.device(), requires_grad: t.requires_grad() }
    }

    fn matches(&self, t: &Tensor) -> bool {
        t.layout() == &self.layout && t.dtype() == self.dtype && t.device() == self.device && t.requires_grad() == self.requires_grad
    }
}

/// A captured graph.
pub struct Graph {
    pub values: Vec<Value>,
    pub nodes: Vec<Node>,
    pub args: Vec<ArgSpec>,
    /// The value each argument's storage is.
    pub arg_values: Vec<ValueId>,
    pub outputs: Vec<Port>,
    /// Leaves whose `.grad` the traced function set, with the value it ended as (None: cleared).
    pub grad_effects: Vec<(Leaf, Option<Port>)>,
    /// Values whose last reader is node `i`: freed after it runs (outputs and grads are kept).
    frees: Vec<Vec<ValueId>>,
    /// Nodes the passes removed, for the log.
    pub removed_dead: usize,
    pub merged_common: usize,
    /// Fused element-wise runs, and the calls they replaced.
    pub fused_groups: usize,
    pub fused_calls: usize,
}

/// The result of a replay.
pub enum Replay {
    Done(Vec<Tensor>),
    /// An argument or captured gradient does not match the trace: the caller traces again.
    GuardFailed(String),
}

impl Graph {
    /// Checks the arguments and the captured gradients against the trace.
    fn guard(&self, args: &[Tensor]) -> Option<String> {
        if args.len() != self.args.len() {
            return Some(format!("{} tensor arguments, traced with {}", args.len(), self.args.len()));
        }
        for (i, (t, spec)) in args.iter().zip(&self.args).enumerate() {
            if !spec.matches(t) {
                let now = ArgSpec::of(t);
                return Some(format!(
                    "tensor argument {i}: shape {:?} (strides {:?}), {} on {}, requires_grad={}; traced with shape {:?} (strides {:?}), {} on {}, requires_grad={}",
                    now.layout.shape, now.layout.strides, now.dtype, now.device, now.requires_grad, spec.layout.shape, spec.layout.strides, spec.dtype, spec.device, spec.requires_grad
                ));
            }
        }
        // Arguments sharing memory in the trace share a value: they must share it again.
        for i in 0..args.len() {
            for j in i + 1..args.len() {
                if args[i].same_storage(&args[j]) != (self.arg_values[i] == self.arg_values[j]) {
                    return Some(format!("arguments {i} and {j} share memory differently than in the trace"));
                }
            }
        }
        for value in &self.values {
            if let Source::GradOf(leaf) = &value.source {
                match leaf.resolve(args).grad() {
                    Some(g) if g.dtype() == value.dtype && g.device() == value.device && g.storage().len() == value.len => {}
                    _ => return Some("a gradient the trace accumulated into changed (set to None or replaced)".into()),
                }
            }
        }
        None
    }

    /// Runs the graph on `args` (tensors laid out as in the trace); GPU kernels go in one
    /// submission. An optimizer step recorded within one of `steps`' spans of the trace runs with
    /// that span's options (hyper-parameters are inputs: a scheduler's new `lr` needs no trace).
    pub fn run(&self, args: &[Tensor], steps: &[(Range<usize>, OptimOptions)]) -> Result<Replay> {
        if let Some(why) = self.guard(args) {
            return Ok(Replay::GuardFailed(why));
        }
        let uses_gpu = self.values.iter().any(|v| v.device.is_gpu());
        crate::ops::dispatch::one_gpu_submission(uses_gpu, || self.replay(args, steps))
    }

    fn replay(&self, args: &[Tensor], steps: &[(Range<usize>, OptimOptions)]) -> Result<Replay> {
        // Each value as a tensor on its memory: the argument or output itself (reused as the
        // operand when the layout matches, which is the common case), else a handle to view.
        let mut env: Vec<Option<Tensor>> = self
            .values
            .iter()
            .map(|v| match &v.source {
                Source::Arg(i) => Some(args[*i].clone()),
                Source::Captured(s) => Some(Tensor::from_parts(s.clone(), Layout::contiguous(&[s.len()]))),
                Source::GradOf(leaf) => leaf.resolve(args).grad(),
                Source::Node { .. } => None,
            })
            .collect();
        let tensor = |env: &[Option<Tensor>], p: &Port| -> Result<Tensor> {
            let t = env[p.value].as_ref().ok_or_else(|| Error::Runtime(format!("captured graph: value %{} read before it was made", p.value)))?;
            Ok(if t.layout() == &p.layout { t.clone() } else { t.view_with_layout(p.layout.clone()) })
        };
        let mut operands: Vec<Tensor> = Vec::with_capacity(4);
        for (i, node) in self.nodes.iter().enumerate() {
            operands.clear();
            for (j, p) in node.inputs.iter().enumerate() {
                operands.push(match node.prebuilt.get(j) {
                    Some(Some(t)) => t.clone(),
                    _ => tensor(&env, p)?,
                });
            }
            let refs: Vec<&Tensor> = operands.iter().collect();
            let mut op = node.op();
            if let Op::OptimStep { options, .. } = &mut op {
                if let Some((_, o)) = steps.iter().find(|(span, o)| span.contains(&node.origin) && o.kind() == options.kind()) {
                    *options = *o;
                }
            }
            let made = crate::ops::dispatch::run(&op, &refs)?;
            for (&v, t) in node.outputs.iter().zip(made.tensors()) {
                env[v] = Some(t.clone());
            }
            for &v in &self.frees[i] {
                env[v] = None;
            }
        }
        for (leaf, grad) in &self.grad_effects {
            leaf.resolve(args).set_grad(grad.as_ref().map(|p| tensor(&env, p)).transpose()?)?;
        }
        Ok(Replay::Done(self.outputs.iter().map(|p| tensor(&env, p)).collect::<Result<_>>()?))
    }

    /// Number of kernel calls a replay makes.
    pub fn kernel_count(&self) -> usize {
        self.nodes.len()
    }

    /// One line per node: `%5 = mul(%1, %4)  f32[64, 10] cpu`, the inputs and captured values
    /// first (as `jax.make_jaxpr` and `torch.fx` print theirs).
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let ty = |v: &Value| format!("{}{:?} {}", v.dtype, v.shape, v.device);
        for (id, v) in self.values.iter().enumerate() {
            let what = match &v.source {
                Source::Arg(i) => format!("argument {i}"),
                Source::Captured(_) => "captured".to_string(),
                Source::GradOf(_) => "captured .grad".to_string(),
                Source::Node { .. } => continue,
            };
            let _ = writeln!(s, "%{id}: {} ({what})", ty(v));
        }
        let port = |p: &Port| {
            let l = &p.layout;
            let v = &self.values[p.value];
            if l.is_contiguous() && l.offset == 0 && l.shape == v.shape {
                format!("%{}", p.value)
            } else {
                format!("%{}{:?}", p.value, l.shape)
            }
        };
        for node in &self.nodes {
            let op = node.op();
            let outs = node.outputs.iter().map(|o| format!("%{o}")).collect::<Vec<_>>().join(", ");
            let ins = node.inputs.iter().map(port).collect::<Vec<_>>().join(", ");
            if let Op::Fused(f) = op {
                let exprs = f.expressions(|k| port(&node.inputs[k]));
                let types = node.outputs.iter().map(|&o| ty(&self.values[o])).collect::<Vec<_>>().join(", ");
                let _ = writeln!(s, "{} = fused[{}]  {types}", node.outputs.iter().map(|o| format!("%{o}")).collect::<Vec<_>>().join(", "), exprs.join("; "));
                continue;
            }
            let attrs = attributes(&op);
            let lhs = if outs.is_empty() { "_".to_string() } else { outs };
            let types = node.outputs.iter().map(|&o| ty(&self.values[o])).collect::<Vec<_>>().join(", ");
            let _ = writeln!(s, "{lhs} = {}({ins}{}{attrs})  {types}", op.name(), if ins.is_empty() || attrs.is_empty() { "" } else { ", " });
        }
        let outs = self.outputs.iter().map(port).collect::<Vec<_>>().join(", ");
        let _ = writeln!(s, "return ({outs})");
        for (_, grad) in &self.grad_effects {
            match grad {
                Some(p) => {
                    let _ = writeln!(s, "grad <- {}", port(p));
                }
                None => s.push_str("grad <- None\n"),
            }
        }
        s
    }
}

/// An op's attributes as `name=value` pairs (its Debug form without the kind's name).
fn attributes(op: &Op<'_>) -> String {
    if matches!(op, Op::Unary(_) | Op::Binary(_)) {
        return String::new();
    }
    let debug = format!("{op:?}");
    match (debug.find(['{', '(']), debug.rfind(['}', ')'])) {
        (Some(a), Some(b)) if b > a + 1 => debug[a + 1..b].trim().replace(": ", "="),
        _ => String::new(),
    }
}
