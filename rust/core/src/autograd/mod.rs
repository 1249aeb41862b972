//! The tape: nodes recorded on op outputs, saved tensors with version checks, grad mode, and
//! the backward engine. Backward rules are written with differentiable tensor ops, so running
//! them with grad mode on (`create_graph`) records the graph of the gradient itself.
use crate::error::{Error, Result};
use crate::tensor::{Tensor, TensorImpl};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

mod hooks;
pub use hooks::{hook_gradients_together, GradHook, GradsHook, HookHandle, PostAccumulateGradHook};
pub(crate) use hooks::SharedHooks;

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
    /// While GradientTapes record on this thread: how many, and (sequence number, leaf id) for
    /// each leaf a recorded node reads — which trainable variables a tape watched.
    static LEAF_READS: RefCell<(usize, Vec<(u64, usize)>)> = const { RefCell::new((0, Vec::new())) };
}

/// How many leaf-read logs are on, over all threads: recording a node looks at its thread's
/// log only when some is, so ops outside any GradientTape pay one atomic load.
static LEAF_LOGS_ON: AtomicUsize = AtomicUsize::new(0);

/// Turns the log of leaf reads on (nested: counted) or off; the log empties when the last user
/// turns it off.
pub fn log_leaf_reads(on: bool) {
    LEAF_READS.with(|log| {
        let mut log = log.borrow_mut();
        if on {
            log.0 += 1;
            LEAF_LOGS_ON.fetch_add(1, Ordering::Relaxed);
        } else if log.0 > 0 {
            log.0 -= 1;
            LEAF_LOGS_ON.fetch_sub(1, Ordering::Relaxed);
            if log.0 == 0 {
                log.1 = Vec::new();
            }
        }
    })
}

/// (sequence number, `Tensor::id`) of the first read of each leaf read by nodes recorded
/// within `recorded` on this thread while the log was on, in order.
pub fn leaf_reads(recorded: &[Range<u64>]) -> Vec<(u64, usize)> {
    let mut seen = std::collections::HashSet::new();
    LEAF_READS.with(|log| {
        log.borrow().1.iter()
            .filter(|(seq, id)| recorded.iter().any(|r| r.contains(seq)) && seen.insert(*id))
            .copied()
            .collect()
    })
}

pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}
/// Sets grad mode for this thread and returns the previous mode.
pub fn set_grad_enabled(enabled: bool) -> bool {
    GRAD_ENABLED.with(|g| g.replace(enabled))
}

/// Restores the previous grad mode when dropped.
pub struct GradModeGuard(bool);
impl GradModeGuard {
    pub fn new(enabled: bool) -> Self {
        GradModeGuard(set_grad_enabled(enabled))
    }
}
impl Drop for GradModeGuard {
    fn drop(&mut self) {
        set_grad_enabled(self.0);
    }
}

/// Where a gradient flowing out of a node goes.
pub enum Edge {
    /// Into the node that produced the input.
    Node(Arc<Node>),
    /// Into the `.grad` of a leaf that requires grad.
    Leaf(Tensor),
}

/// A tensor a backward rule needs, with the version it had when saved.
pub struct SavedTensor {
    tensor: SavedRef,
    version: u64,
    producer: Option<&'static str>,
    desc: String,
}
enum SavedRef {
    Input(Tensor),
    // An op's own output is held as a detached alias: a reference to the output itself would
    // make a cycle through its grad_fn. Unpacked with grad mode on (create_graph), the alias
    // gets the running node back as its grad_fn, so higher-order gradients flow through it.
    Output(Tensor),
}

impl SavedTensor {
    fn new(t: &Tensor, is_output: bool) -> Self {
        SavedTensor {
            tensor: if is_output { SavedRef::Output(t.detach()) } else { SavedRef::Input(t.clone()) },
            version: t.storage().version(),
            producer: t.grad_fn().map(|n| n.name),
            desc: format!("torch.{} {:?}", t.dtype().tensor_type_name(), t.shape()),
        }
    }
    fn unpack(&self, node: &Arc<Node>) -> Result<Tensor> {
        let t = match &self.tensor {
            SavedRef::Input(t) => t.clone(),
            SavedRef::Output(alias) if is_grad_enabled() => {
                let t = alias.detach();
                t.set_grad_fn(Some(node.clone()));
                t
            }
            SavedRef::Output(alias) => alias.clone(),
        };
        let now = t.storage().version();
        if now != self.version {
            let of = self.producer.map(|p| format!(", which is output 0 of {p},")).unwrap_or_default();
            return Err(Error::Autograd(format!(
                "one of the variables needed for gradient computation has been modified by an inplace operation: [{}]{} is at version {}; expected version {} instead. Hint: the tensor was changed in place after it was saved for backward; clone it before the in-place op.",
                self.desc, of, now, self.version
            )));
        }
        Ok(t)
    }
}

type Rule = dyn Fn(&Ctx, &Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync;

pub struct Node {
    pub name: &'static str,
    /// When the node was recorded: numbers grow with every node of the process, so a range
    /// of them is the part of the graph recorded in a span of time (a GradientTape's block).
    pub sequence_nr: u64,
    edges: Vec<Option<Edge>>,
    saved: Mutex<Option<Vec<SavedTensor>>>,
    saved_any: bool,
    rule: Box<Rule>,
    retained: Mutex<Vec<Weak<TensorImpl>>>,
    /// Hooks of the tensor this node produced; allocated on first registration.
    hooks: OnceLock<SharedHooks>,
}

/// What a backward rule sees: its saved tensors and which inputs need a gradient.
pub struct Ctx<'a> {
    saved: &'a [SavedTensor],
    needs: Vec<bool>,
    node: &'a Arc<Node>,
}
impl Ctx<'_> {
    pub fn saved(&self, i: usize) -> Result<Tensor> {
        self.saved[i].unpack(self.node)
    }
    pub fn needs(&self, i: usize) -> bool {
        self.needs[i]
    }
}

fn freed_error() -> Error {
    Error::Autograd("Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed). Saved intermediate values of the graph are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or if you need to access saved tensors after calling backward.".into())
}

impl Node {
    pub(crate) fn add_retained(&self, t: &Tensor) {
        let mut r = self.retained.lock().unwrap_or_else(|e| e.into_inner());
        if !r.iter().any(|w| w.as_ptr() == Arc::as_ptr(&t.0)) {
            r.push(t.downgrade());
        }
    }
    pub(crate) fn retains(&self, t: &Tensor) -> bool {
        let r = self.retained.lock().unwrap_or_else(|e| e.into_inner());
        r.iter().any(|w| w.as_ptr() == Arc::as_ptr(&t.0))
    }
    pub(crate) fn hooks(&self) -> &SharedHooks {
        self.hooks.get_or_init(Default::default)
    }
    fn key(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as *const u8 as usize
    }
}

static NEXT_SEQUENCE_NR: AtomicU64 = AtomicU64::new(0);

/// The sequence number the next recorded node will get.
pub fn next_sequence_nr() -> u64 {
    NEXT_SEQUENCE_NR.load(Ordering::Relaxed)
}

/// Whether an op on these inputs must be recorded.
pub fn any_requires_grad(inputs: &[&Tensor]) -> bool {
    is_grad_enabled() && inputs.iter().any(|t| t.requires_grad())
}

/// Records how to differentiate an op.
pub struct Recorder {
    name: &'static str,
    edges: Vec<Option<Edge>>,
    saved: Vec<SavedTensor>,
}

impl Recorder {
    /// None when nothing needs a gradient (grad mode off, or no input requires grad).
    pub fn new(name: &'static str, inputs: &[&Tensor]) -> Option<Recorder> {
        if !is_grad_enabled() {
            return None;
        }
        Recorder::in_any_mode(name, inputs)
    }
    /// As `new`, whatever the grad mode: for history that is remade rather than recorded (a
    /// view's, after its memory changed in place), which PyTorch does in any mode.
    pub(crate) fn in_any_mode(name: &'static str, inputs: &[&Tensor]) -> Option<Recorder> {
        let edges: Vec<Option<Edge>> = inputs
            .iter()
            .map(|t| {
                let m = t.meta();
                match &m.grad_fn {
                    Some(n) => Some(Edge::Node(n.clone())),
                    None if m.requires_grad => Some(Edge::Leaf((*t).clone())),
                    None => None,
                }
            })
            .collect();
        if edges.iter().all(|e| e.is_none()) {
            return None;
        }
        Some(Recorder { name, edges, saved: vec![] })
    }
    pub fn needs(&self, i: usize) -> bool {
        self.edges[i].is_some()
    }
    /// Saves an input (or any tensor that is not this op's output); returns its index.
    pub fn save(&mut self, t: &Tensor) -> usize {
        self.saved.push(SavedTensor::new(t, false));
        self.saved.len() - 1
    }
    /// Attaches the rule to `out` and returns it. `out` may be saved by the rule as index
    /// `saved_len` when `save_output` is set.
    pub fn finish(
        mut self,
        out: Tensor,
        save_output: bool,
        rule: impl Fn(&Ctx, &Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static,
    ) -> Tensor {
        if save_output {
            self.saved.push(SavedTensor::new(&out, true));
        }
        out.set_grad_fn(Some(self.into_node(rule)));
        out
    }
    /// The node, for a caller that attaches it itself.
    pub(crate) fn into_node(self, rule: impl Fn(&Ctx, &Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static) -> Arc<Node> {
        let sequence_nr = NEXT_SEQUENCE_NR.fetch_add(1, Ordering::Relaxed);
        if LEAF_LOGS_ON.load(Ordering::Relaxed) > 0 {
            LEAF_READS.with(|log| {
                let mut log = log.borrow_mut();
                if log.0 > 0 {
                    let leaves = self.edges.iter().flatten().filter_map(|e| match e {
                        Edge::Leaf(t) => Some((sequence_nr, t.id())),
                        Edge::Node(_) => None,
                    });
                    log.1.extend(leaves);
                }
            });
        }
        Arc::new(Node {
            name: self.name,
            sequence_nr,
            saved_any: !self.saved.is_empty(),
            edges: self.edges,
            saved: Mutex::new(Some(self.saved)),
            rule: Box::new(rule),
            retained: Mutex::new(vec![]),
            hooks: OnceLock::new(),
        })
    }
}

/// What a node or tensor being freed still owns that may own further nodes.
enum Owned {
    Node(Arc<Node>),
    Tensor(Tensor),
}

impl Drop for Node {
    // A graph of a million chained ops is a million nested Arcs; freeing them by the default
    // recursive drop overflows the stack. The parts this node owns are moved out and freed
    // from a loop instead: an owner held elsewhere only loses a count, and a last owner is
    // emptied into the same list before it goes.
    fn drop(&mut self) {
        let mut pending = vec![];
        self.move_out(&mut pending);
        while let Some(owned) = pending.pop() {
            match owned {
                Owned::Node(n) => {
                    if let Ok(mut node) = Arc::try_unwrap(n) {
                        node.move_out(&mut pending);
                    }
                }
                Owned::Tensor(t) => {
                    if let Ok(imp) = Arc::try_unwrap(t.0) {
                        let m = imp.meta.into_inner().unwrap_or_else(|e| e.into_inner());
                        pending.extend(m.grad_fn.map(Owned::Node));
                        pending.extend(m.grad.map(Owned::Tensor));
                        pending.extend(imp.view_base.map(Owned::Tensor));
                    }
                }
            }
        }
    }
}

impl Node {
    fn move_out(&mut self, pending: &mut Vec<Owned>) {
        for edge in std::mem::take(&mut self.edges).into_iter().flatten() {
            pending.push(match edge {
                Edge::Node(n) => Owned::Node(n),
                Edge::Leaf(t) => Owned::Tensor(t),
            });
        }
        let saved = self.saved.get_mut().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default();
        for s in saved {
            pending.push(Owned::Tensor(match s.tensor {
                SavedRef::Input(t) | SavedRef::Output(t) => t,
            }));
        }
    }
}

/// Runs backward from `roots`, accumulating into the `.grad` of leaves and of tensors that
/// retain grad.
pub fn backward(roots: &[Tensor], grads: Vec<Option<Tensor>>, retain_graph: bool, create_graph: bool) -> Result<()> {
    run(roots, grads, retain_graph, create_graph, None, None).map(|_| ())
}

/// `torch.autograd.grad`: gradients of `roots` with respect to `inputs`, leaving `.grad` alone.
pub fn grad(
    roots: &[Tensor],
    grads: Vec<Option<Tensor>>,
    inputs: &[Tensor],
    retain_graph: bool,
    create_graph: bool,
    allow_unused: bool,
) -> Result<Vec<Option<Tensor>>> {
    grad_within(roots, grads, inputs, retain_graph, create_graph, allow_unused, None)
}

/// `grad` through only the nodes whose sequence numbers lie in `recorded` (all when None):
/// what a GradientTape recorded. Other nodes are constants — nothing flows past them — but the
/// gradient reaching one is still returned when its tensor is among `inputs`.
pub fn grad_within(
    roots: &[Tensor],
    grads: Vec<Option<Tensor>>,
    inputs: &[Tensor],
    retain_graph: bool,
    create_graph: bool,
    allow_unused: bool,
    recorded: Option<&[Range<u64>]>,
) -> Result<Vec<Option<Tensor>>> {
    check_differentiable(inputs)?;
    let out = run(roots, grads, retain_graph, create_graph, Some(inputs), recorded)?;
    // A leaf's hooks see its gradient as they would before accumulation.
    let out = inputs
        .iter()
        .zip(out)
        .map(|(t, g)| match g {
            Some(g) if t.is_leaf() => {
                let hooks = t.meta().hooks.clone();
                hooks::run_grad_hooks(hooks.as_ref(), g).map(Some)
            }
            g => Ok(g),
        })
        .collect::<Result<Vec<_>>>()?;
    if !allow_unused && out.iter().any(|g| g.is_none()) {
        return Err(Error::Autograd(
            "One of the differentiated Tensors appears to not have been used in the graph. Set allow_unused=True if this is the desired behavior.".into(),
        ));
    }
    Ok(out)
}

/// PyTorch's error for an input of `grad`/`backward(inputs=)` that does not require grad.
fn check_differentiable(inputs: &[Tensor]) -> Result<()> {
    if inputs.iter().any(|t| !t.requires_grad()) {
        return Err(Error::Autograd("One of the differentiated Tensors does not require grad".into()));
    }
    Ok(())
}

/// Whether backward runs through `node`: recorded within one of the ranges, or no ranges given.
fn runs_through(node: &Node, recorded: Option<&[Range<u64>]>) -> bool {
    recorded.is_none_or(|ranges| ranges.iter().any(|r| r.contains(&node.sequence_nr)))
}

/// `backward(inputs=...)`: accumulates into the `.grad` of `inputs` only, running their hooks
/// (a leaf's post-accumulate hooks too) as a full backward does.
pub fn backward_to(roots: &[Tensor], grads: Vec<Option<Tensor>>, inputs: &[Tensor], retain_graph: bool, create_graph: bool) -> Result<()> {
    check_differentiable(inputs)?;
    let out = run(roots, grads, retain_graph, create_graph, Some(inputs), None)?;
    for (t, g) in inputs.iter().zip(out) {
        let Some(g) = g else { continue };
        if t.is_leaf() {
            finish_leaf(t, g, create_graph)?;
        } else {
            accumulate_into_grad(t, g, create_graph)?;
        }
    }
    Ok(())
}

fn accumulate(slot: &mut Option<Tensor>, g: Tensor) -> Result<()> {
    *slot = Some(match slot.take() {
        None => g,
        Some(prev) => prev.add(&g)?,
    });
    Ok(())
}

/// Adds a gradient into a leaf's `.grad`, as PyTorch's AccumulateGrad does: under the leaf's
/// lock, so that threads running backward into the same leaf do not lose updates.
fn accumulate_into_grad(t: &Tensor, g: Tensor, create_graph: bool) -> Result<()> {
    let _turn = t.0.grad_lock.lock().unwrap_or_else(|e| e.into_inner());
    let new = match t.grad() {
        None if create_graph => g,
        // Steal a contiguous gradient nobody else holds; copy one the caller may still use
        // (e.g. the `gradient` argument), or a strided view, so that `.grad` is a dense tensor
        // later in-place accumulation and the optimizers can update cheaply.
        None if g.is_contiguous() && Arc::strong_count(&g.0) == 1 && Arc::strong_count(g.storage()) == 1 => g.detach(),
        None => g.detach().clone_data()?,
        Some(prev) if create_graph || prev.requires_grad() => prev.add(&g)?,
        Some(prev) => {
            if prev.layout().has_internal_overlap() {
                return Err(Error::Runtime(
                    "unsupported operation: more than one element of the written-to tensor refers to a single memory location. Please clone() the tensor before performing the operation.".into(),
                ));
            }
            prev.add_assign_plain(&g)?;
            prev
        }
    };
    crate::graph::record::grad_set(t);
    t.meta().grad = Some(new);
    Ok(())
}

fn run(
    roots: &[Tensor],
    root_grads: Vec<Option<Tensor>>,
    retain_graph: bool,
    create_graph: bool,
    capture: Option<&[Tensor]>,
    recorded: Option<&[Range<u64>]>,
) -> Result<Vec<Option<Tensor>>> {
    let _mode = GradModeGuard::new(create_graph);
    crate::graph::record::backward_ran();
    // Gradients waiting at each node (keyed by node) and at each leaf (keyed by tensor id).
    let mut node_grads: HashMap<usize, Tensor> = HashMap::new();
    let mut leaf_grads: HashMap<usize, (Tensor, Option<Tensor>)> = HashMap::new();
    let mut root_nodes = vec![];
    for (i, (root, g)) in roots.iter().zip(root_grads).enumerate() {
        if !root.requires_grad() {
            return Err(Error::Autograd(format!(
                "element {i} of tensors does not require grad and does not have a grad_fn"
            )));
        }
        let g = match g {
            Some(g) => {
                if g.shape() != root.shape() {
                    return Err(Error::Shape(format!(
                        "Mismatch in shape: grad_output[{i}] has a shape of {:?} and output[{i}] has a shape of {:?}.",
                        g.shape(),
                        root.shape()
                    )));
                }
                g
            }
            None => {
                if root.numel() != 1 {
                    return Err(Error::Autograd("grad can be implicitly created only for scalar outputs".into()));
                }
                Tensor::full_on(root.shape(), 1.0, root.dtype(), root.device())?
            }
        };
        match root.grad_fn() {
            Some(node) => {
                let slot = node_grads.remove(&node.key());
                let mut s = slot;
                accumulate(&mut s, g)?;
                node_grads.insert(node.key(), s.expect("just accumulated"));
                root_nodes.push(node);
            }
            None => {
                let e = leaf_grads.entry(root.id()).or_insert((root.clone(), None));
                accumulate(&mut e.1, g)?;
            }
        }
    }

    // Topological order of the nodes reachable from the roots (inputs after consumers).
    let order = topological_order(&root_nodes, recorded);
    let capture_keys: Vec<usize> = capture
        .map(|ts| ts.iter().map(|t| t.grad_fn().map_or(t.id(), |n| n.key())).collect())
        .unwrap_or_default();
    let mut captured: HashMap<usize, Tensor> = HashMap::new();

    // How many nodes still have to run before each leaf's gradient is complete: a leaf is
    // accumulated (and its post-accumulate hooks run) as soon as the last one has, so hooks
    // such as DDP's can start communication while the rest of the backward runs.
    let mut leaf_feeders: HashMap<usize, usize> = HashMap::new();
    if capture.is_none() {
        for node in &order {
            for edge in node.edges.iter().flatten() {
                if let Edge::Leaf(t) = edge {
                    *leaf_feeders.entry(t.id()).or_default() += 1;
                }
            }
        }
    }

    for node in &order {
        if let Some(g) = node_grads.remove(&node.key()) {
            run_node(node, g, capture, &capture_keys, &mut captured, &mut node_grads, &mut leaf_grads, retain_graph, create_graph, recorded)?;
        }
        if capture.is_some() {
            continue;
        }
        for edge in node.edges.iter().flatten() {
            let Edge::Leaf(t) = edge else { continue };
            let left = leaf_feeders.entry(t.id()).or_default();
            *left = left.saturating_sub(1);
            if *left == 0 {
                if let Some((t, Some(g))) = leaf_grads.remove(&t.id()) {
                    finish_leaf(&t, g, create_graph)?;
                }
            }
        }
    }

    match capture {
        Some(inputs) => Ok(inputs
            .iter()
            .zip(&capture_keys)
            .map(|(t, k)| match t.grad_fn() {
                Some(_) => captured.remove(k),
                None => leaf_grads.get(k).and_then(|(_, g)| g.clone()),
            })
            .collect()),
        None => {
            // Leaves that were roots themselves (no node feeds them).
            for (_, (t, g)) in leaf_grads {
                if let Some(g) = g {
                    finish_leaf(&t, g, create_graph)?;
                }
            }
            Ok(vec![])
        }
    }
}

/// Runs one node's backward rule on its gradient `g` and passes the input gradients on.
#[allow(clippy::too_many_arguments)]
fn run_node(
    node: &Arc<Node>,
    g: Tensor,
    capture: Option<&[Tensor]>,
    capture_keys: &[usize],
    captured: &mut HashMap<usize, Tensor>,
    node_grads: &mut HashMap<usize, Tensor>,
    leaf_grads: &mut HashMap<usize, (Tensor, Option<Tensor>)>,
    retain_graph: bool,
    create_graph: bool,
    recorded: Option<&[Range<u64>]>,
) -> Result<()> {
    let g = hooks::run_grad_hooks(node.hooks.get(), g)?;
    if capture.is_some() {
        if capture_keys.contains(&node.key()) {
            let mut s = captured.remove(&node.key());
            accumulate(&mut s, g.clone())?;
            captured.insert(node.key(), s.expect("just accumulated"));
        }
    } else {
        let retained: Vec<Tensor> = {
            let r = node.retained.lock().unwrap_or_else(|e| e.into_inner());
            r.iter().filter_map(|w| w.upgrade().map(Tensor)).collect()
        };
        for t in retained {
            accumulate_into_grad(&t, g.clone(), create_graph)?;
        }
    }
    if !runs_through(node, recorded) {
        return Ok(());
    }
    let input_grads = {
        let mut saved_guard = node.saved.lock().unwrap_or_else(|e| e.into_inner());
        let saved = match saved_guard.as_ref() {
            Some(s) => s,
            None if !node.saved_any => &vec![],
            None => return Err(freed_error()),
        };
        let ctx = Ctx { saved, needs: node.edges.iter().map(|e| e.is_some()).collect(), node };
        let grads = (node.rule)(&ctx, &g)?;
        if !retain_graph {
            *saved_guard = None;
        }
        grads
    };
    for (edge, grad) in node.edges.iter().zip(input_grads) {
        let (Some(edge), Some(grad)) = (edge, grad) else { continue };
        match edge {
            Edge::Node(n) => {
                let mut s = node_grads.remove(&n.key());
                accumulate(&mut s, grad)?;
                node_grads.insert(n.key(), s.expect("just accumulated"));
            }
            Edge::Leaf(t) => {
                let e = leaf_grads.entry(t.id()).or_insert((t.clone(), None));
                accumulate(&mut e.1, grad)?;
            }
        }
    }
    Ok(())
}

/// A leaf's gradient is complete: its hooks see it, it goes into `.grad`, then the
/// post-accumulate hooks see the leaf.
fn finish_leaf(t: &Tensor, g: Tensor, create_graph: bool) -> Result<()> {
    let hooks = t.meta().hooks.clone();
    let g = hooks::run_grad_hooks(hooks.as_ref(), g)?;
    accumulate_into_grad(t, g, create_graph)?;
    hooks::run_post_accumulate_hooks(hooks.as_ref(), t)
}

/// The leaves that require grad and that a backward from `roots` would reach (what DDP's
/// `find_unused_parameters` looks for), each once.
pub fn reachable_leaves(roots: &[Tensor]) -> Vec<Tensor> {
    let mut seen = std::collections::HashSet::new();
    let mut leaves: Vec<Tensor> = roots.iter().filter(|t| t.is_leaf() && t.requires_grad()).cloned().collect();
    let nodes: Vec<Arc<Node>> = roots.iter().filter_map(|t| t.grad_fn()).collect();
    for node in topological_order(&nodes, None) {
        for edge in node.edges.iter().flatten() {
            if let Edge::Leaf(t) = edge {
                leaves.push(t.clone());
            }
        }
    }
    leaves.retain(|t| seen.insert(t.id()));
    leaves
}

/// Nodes reachable from `roots` without passing through a node outside `recorded`, each after
/// every node that feeds gradient into it.
fn topological_order(roots: &[Arc<Node>], recorded: Option<&[Range<u64>]>) -> Vec<Arc<Node>> {
    let mut visited = std::collections::HashSet::new();
    let mut post = vec![];
    // Iterative DFS: graphs of long loops (RNNs) would overflow a recursive one.
    let mut stack: Vec<(Arc<Node>, usize)> = vec![];
    for r in roots {
        if visited.insert(r.key()) {
            stack.push((r.clone(), 0));
        }
        while let Some((node, i)) = stack.pop() {
            if i < node.edges.len() && runs_through(&node, recorded) {
                stack.push((node.clone(), i + 1));
                if let Some(Edge::Node(child)) = &node.edges[i] {
                    if visited.insert(child.key()) {
                        stack.push((child.clone(), 0));
                    }
                }
            } else {
                post.push(node);
            }
        }
    }
    post.reverse();
    post
}

#[cfg(test)]
mod tests {
    use crate::tensor::Tensor;

    const DEEP: usize = 1_000_000;

    fn leaf() -> Tensor {
        let x = Tensor::from_vec(vec![1.0f32, 1.0], &[2]).unwrap();
        x.set_requires_grad(true).unwrap();
        x
    }

    /// `grad_within` treats nodes recorded outside its ranges as constants, yet returns the
    /// gradient that reaches one for its tensor; `grad` goes through everything.
    #[test]
    fn grad_within_stops_at_nodes_recorded_outside_the_ranges() {
        let x = Tensor::from_vec(vec![2.0f32, 3.0], &[2]).unwrap();
        x.set_requires_grad(true).unwrap();
        let before = x.mul(&x).unwrap();
        let start = super::next_sequence_nr();
        let y = before.mul(&x).unwrap().sum(None, false).unwrap();
        let span = [start..super::next_sequence_nr()];
        assert!(before.grad_fn().unwrap().sequence_nr < start);
        let inputs = [x.clone(), before.clone()];
        let g = super::grad_within(&[y.clone()], vec![None], &inputs, true, false, true, Some(&span)).unwrap();
        assert_eq!(g[0].as_ref().unwrap().to_vec::<f32>(), vec![4.0, 9.0]);
        assert_eq!(g[1].as_ref().unwrap().to_vec::<f32>(), vec![2.0, 3.0]);
        let g = super::grad(&[y], vec![None], &[x], false, false, false).unwrap();
        assert_eq!(g[0].as_ref().unwrap().to_vec::<f32>(), vec![12.0, 27.0]);
    }

    /// While the log is on, each recorded node's leaf inputs are logged with its sequence number.
    #[test]
    fn leaf_reads_are_logged_while_on() {
        let (a, b) = (leaf(), leaf());
        super::log_leaf_reads(true);
        let start = super::next_sequence_nr();
        let _ = b.mul(&a.detach()).unwrap().add(&a).unwrap();
        let reads = super::leaf_reads(&[start..super::next_sequence_nr()]);
        super::log_leaf_reads(false);
        assert_eq!(reads.iter().map(|&(_, id)| id).collect::<Vec<_>>(), vec![b.id(), a.id()]);
        assert!(super::leaf_reads(&[0..u64::MAX]).is_empty());
    }

    /// A chain of a million nodes (with saved tensors) is freed without overflowing the stack
    /// (the test thread's stack is only 2 MiB), after backward or without it.
    #[test]
    fn million_deep_graphs_are_freed() {
        let x = leaf();
        let one = Tensor::wrapped_scalar(1.0f64);
        let mut y = x.clone();
        for _ in 0..DEEP {
            y = y.mul(&x.detach()).unwrap();
        }
        y.sum(None, false).unwrap().backward(None, false, false).unwrap();
        assert_eq!(x.grad().unwrap().to_vec::<f32>(), vec![1.0, 1.0]);
        drop(y);
        let mut y = x.clone();
        for _ in 0..DEEP {
            y = y.add(&one).unwrap();
        }
        drop(y);
        let mut y = x.clone();
        for _ in 0..DEEP {
            y = y.view(&[2]).unwrap();
        }
        y.sum(None, false).unwrap().backward(None, false, false).unwrap();
        drop(y);
        let mut y = x.clone();
        for _ in 0..DEEP {
            y = y.view(&[1, 2]).unwrap().view(&[2]).unwrap();
        }
        drop(y);
    }
}
