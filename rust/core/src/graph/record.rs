//! The recorder: while a trace runs on a thread, each kernel call that thread makes through
//! `ops::dispatch` becomes a node. With no trace running, the eager path pays one atomic load.
use super::{ArgSpec, Graph, Leaf, Node, Port, Source, Value, ValueId};
use crate::error::{Error, Result};
use crate::op::{Op, Outputs};
use crate::storage::Storage;
use crate::tensor::Tensor;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// Traces running on any thread.
static TRACES: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static RECORDER: RefCell<Option<Recorder>> = const { RefCell::new(None) };
    /// Set while a recorded call runs its kernel: what the kernel does belongs to that call.
    static IN_KERNEL: Cell<bool> = const { Cell::new(false) };
}

/// Gives the user's source line where a graph break happened (the bindings provide it).
static LOCATION: OnceLock<Box<dyn Fn() -> String + Send + Sync>> = OnceLock::new();

/// Sets how graph breaks name their place in the user's code (once per process).
pub fn set_location_provider(f: Box<dyn Fn() -> String + Send + Sync>) {
    let _ = LOCATION.set(f);
}

#[derive(Default)]
struct Recorder {
    values: Vec<Value>,
    nodes: Vec<Node>,
    /// Storage address -> value.
    ids: HashMap<usize, ValueId>,
    /// Every storage seen, so that no address is reused while the trace runs.
    keep: Vec<Arc<Storage>>,
    args: Vec<ArgSpec>,
    arg_values: Vec<ValueId>,
    /// The argument tensors, to tell an argument's `.grad` from a captured leaf's.
    arg_tensors: Vec<Tensor>,
    /// Leaves whose `.grad` the function set or accumulated into.
    grad_slots: Vec<Tensor>,
    breaks: Vec<String>,
    /// Why this trace cannot be replayed although the next may be.
    retry: Option<String>,
    backward_ran: bool,
}

impl Recorder {
    /// The value `t`'s memory is, added with `source` when new.
    fn value_of(&mut self, t: &Tensor, source: impl FnOnce() -> Source) -> ValueId {
        let s = t.storage();
        let key = Arc::as_ptr(s) as usize;
        if let Some(&v) = self.ids.get(&key) {
            return v;
        }
        let v = self.values.len();
        self.values.push(Value { source: source(), dtype: s.dtype(), device: s.device(), len: s.len(), shape: t.shape().to_vec() });
        self.ids.insert(key, v);
        self.keep.push(s.clone());
        v
    }

    fn leaf(&self, t: Tensor) -> Leaf {
        match self.arg_tensors.iter().position(|a| a.id() == t.id()) {
            Some(i) => Leaf::Arg(i),
            None => Leaf::Captured(t),
        }
    }

    fn port(&mut self, t: &Tensor) -> Port {
        let value = self.value_of(t, || Source::Captured(t.storage().clone()));
        Port { value, layout: t.layout().clone() }
    }

    fn record(&mut self, op: &Op<'_>, inputs: &[&Tensor], out: &Outputs) {
        if let Op::OptimStep { fresh, .. } = op {
            if fresh.iter().any(|&f| f) {
                self.retry = Some("an optimizer step created its state (the first step differs from the next)".into());
            }
        }
        let ports = inputs.iter().map(|t| self.port(t)).collect();
        let node = self.nodes.len();
        let outputs = out.tensors().into_iter().enumerate().map(|(index, t)| self.value_of(t, || Source::Node { node, index })).collect();
        let mut n = Node::new(op, ports, outputs);
        n.origin = node;
        self.nodes.push(n);
    }

    /// Values made during the trace that something besides the outputs and gradients still
    /// holds: state created on a first call (an optimizer's buffers), which a replay could not
    /// hand back.
    fn escaped(&self, kept: &[&Tensor]) -> Option<String> {
        self.values.iter().enumerate().find_map(|(v, value)| {
            let Source::Node { node, .. } = value.source else { return None };
            let s = &self.keep[v];
            let mut holders: Vec<usize> = kept.iter().filter(|t| Arc::ptr_eq(t.storage(), s)).map(|t| t.id()).collect();
            holders.sort_unstable();
            holders.dedup();
            (Arc::strong_count(s) > 1 + holders.len()).then(|| format!("{}{:?} made by '{}'", value.dtype, value.shape, self.nodes[node].op().name()))
        })
    }
}

/// What a finished trace gives.
pub struct Traced {
    /// None when the function cannot be replayed.
    pub graph: Option<Graph>,
    /// Why it cannot be captured at all (values read into Python, ...), each with its place.
    pub breaks: Vec<String>,
    /// Why this trace cannot be replayed although a later one may (first-call state).
    pub retry: Option<String>,
}

fn with_recorder<R>(f: impl FnOnce(&mut Recorder) -> R) -> Option<R> {
    RECORDER.with(|r| r.try_borrow_mut().ok().and_then(|mut r| r.as_mut().map(f)))
}

/// The number of calls recorded so far in this thread's trace (0 when none runs).
pub fn mark() -> usize {
    with_recorder(|rec| rec.nodes.len()).unwrap_or(0)
}

/// Whether this thread's kernel calls are recorded now.
#[inline]
pub fn recording() -> bool {
    TRACES.load(Ordering::Relaxed) != 0 && !IN_KERNEL.with(Cell::get) && RECORDER.with(|r| r.try_borrow().map(|r| r.is_some()).unwrap_or(false))
}

/// Starts recording this thread's kernel calls; `args` are the tensors bound anew at each replay.
pub fn begin(args: &[Tensor]) -> Result<()> {
    RECORDER.with(|r| {
        let mut r = r.borrow_mut();
        if r.is_some() {
            return Err(Error::Runtime("a trace is already running on this thread".into()));
        }
        let mut rec = Recorder::default();
        for (i, t) in args.iter().enumerate() {
            let v = rec.value_of(t, || Source::Arg(i));
            rec.args.push(ArgSpec::of(t));
            rec.arg_values.push(v);
        }
        rec.arg_tensors = args.to_vec();
        *r = Some(rec);
        TRACES.fetch_add(1, Ordering::Relaxed);
        Ok(())
    })
}

/// Stops recording without a graph (the traced function raised).
pub fn abort() {
    if RECORDER.with(|r| r.borrow_mut().take()).is_some() {
        TRACES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Stops recording; `outputs` are the tensors the function returned.
pub fn end(outputs: &[Tensor]) -> Result<Traced> {
    let mut rec = RECORDER.with(|r| r.borrow_mut().take()).ok_or_else(|| Error::Runtime("no trace is running on this thread".into()))?;
    TRACES.fetch_sub(1, Ordering::Relaxed);
    for (i, t) in outputs.iter().enumerate() {
        if !t.requires_grad() {
            continue;
        }
        if rec.backward_ran {
            // The function ran its backward: what it returns is a result (a loss), detached as a
            // replay's outputs are, which also frees the graph behind it.
            if t.detach_().is_err() {
                rec.breaks.push(format!("output {i} is a view that requires grad after the function's backward"));
            }
        } else {
            rec.breaks.push(format!(
                "output {i} requires grad: a backward through the graph run after it returns is not captured (call backward inside the function, or run it under no_grad)"
            ));
        }
    }
    if !rec.breaks.is_empty() {
        return Ok(Traced { graph: None, breaks: rec.breaks, retry: None });
    }
    let ports: Vec<Port> = outputs.iter().map(|t| rec.port(t)).collect();
    let slots = std::mem::take(&mut rec.grad_slots);
    let grads: Vec<Option<Tensor>> = slots.iter().map(Tensor::grad).collect();
    let grad_effects: Vec<(Leaf, Option<Port>)> = slots.into_iter().zip(&grads).map(|(leaf, g)| (rec.leaf(leaf), g.as_ref().map(|g| rec.port(g)))).collect();
    let kept: Vec<&Tensor> = outputs.iter().chain(grads.iter().flatten()).collect();
    if let Some(why) = rec.retry.take() {
        return Ok(Traced { graph: None, breaks: vec![], retry: Some(why) });
    }
    if let Some(what) = rec.escaped(&kept) {
        return Ok(Traced {
            graph: None,
            breaks: vec![],
            retry: Some(format!("a tensor made during the trace ({what}) is kept after it (state created on a first call, such as an optimizer's buffers)")),
        });
    }
    let graph = Graph::new(rec.values, rec.nodes, rec.args, rec.arg_values, ports, grad_effects);
    Ok(Traced { graph: Some(graph), breaks: vec![], retry: None })
}

/// Runs `kernel` for `op` over `inputs`, recording the call when this thread is tracing.
pub(crate) fn run(op: &Op<'_>, inputs: &[&Tensor], kernel: impl FnOnce() -> Result<Outputs>) -> Result<Outputs> {
    if !recording() {
        return kernel();
    }
    struct InKernel;
    impl Drop for InKernel {
        fn drop(&mut self) {
            IN_KERNEL.with(|k| k.set(false));
        }
    }
    let out = {
        IN_KERNEL.with(|k| k.set(true));
        let _reset = InKernel;
        kernel()?
    };
    if op.has_value_dependent_shape() {
        host_read(&format!("'{}' makes an output whose shape depends on the values", op.name()));
    }
    with_recorder(|rec| rec.record(op, inputs, &out));
    Ok(out)
}

/// Notes that tensor values were read into host code outside a kernel: the function depends on
/// data a graph cannot replay, so the trace breaks.
pub fn host_read(what: &str) {
    if !recording() {
        return;
    }
    let place = LOCATION.get().map(|f| f()).unwrap_or_default();
    with_recorder(|rec| {
        let at = if place.is_empty() { String::new() } else { format!(" at {place}") };
        rec.breaks.push(format!("{what}{at}"));
    });
}

/// Notes that `leaf.grad` is being set: the replay sets it again.
pub(crate) fn grad_set(leaf: &Tensor) {
    if recording() {
        with_recorder(|rec| {
            if !rec.grad_slots.iter().any(|t| t.id() == leaf.id()) {
                rec.grad_slots.push(leaf.clone());
            }
        });
    }
}

/// Notes that `leaf.grad` was read as `grad`: memory from before the trace is the leaf's
/// gradient as it is when each replay starts.
pub(crate) fn grad_read(leaf: &Tensor, grad: &Tensor) {
    if recording() {
        with_recorder(|rec| {
            let leaf = rec.leaf(leaf.clone());
            rec.value_of(grad, || Source::GradOf(leaf));
        });
    }
}

/// Notes that a backward pass ran inside the trace.
pub(crate) fn backward_ran() {
    if recording() {
        with_recorder(|rec| rec.backward_ran = true);
    }
}
