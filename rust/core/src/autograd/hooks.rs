//! Gradient hooks: closures the engine calls on a tensor's gradient before it is used (a leaf's
//! before it is accumulated into `.grad`), and on a leaf once its `.grad` is accumulated. They
//! are plain Rust closures; the bindings wrap Python callables in them.
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// Sees a gradient; returns a replacement (same shape, dtype and device) or None to keep it.
pub type GradHook = dyn Fn(&Tensor) -> Result<Option<Tensor>> + Send + Sync;
/// Sees a leaf after its gradient was accumulated into its `.grad`.
pub type PostAccumulateGradHook = dyn Fn(&Tensor) -> Result<()> + Send + Sync;
/// Sees the gradients of the tensors given to `hook_gradients_together` all at once (None for
/// one that received none) and returns the gradients to pass on (None: no gradient).
pub type GradsHook = dyn Fn(Vec<Option<Tensor>>) -> Result<Vec<Option<Tensor>>> + Send + Sync;

#[derive(Default)]
pub struct HookList {
    grad: Vec<(u64, Arc<GradHook>)>,
    post_accumulate: Vec<(u64, Arc<PostAccumulateGradHook>)>,
}

/// A leaf's or a node's hooks. Shared, so that `tensor.data = other` keeps them and handles
/// can remove hooks without holding the tensor alive.
pub(crate) type SharedHooks = Arc<Mutex<HookList>>;

static NEXT_HOOK_ID: AtomicU64 = AtomicU64::new(0);

fn lock(list: &SharedHooks) -> MutexGuard<'_, HookList> {
    // A poisoned lock only means a thread panicked mid-update; the list is still whole.
    list.lock().unwrap_or_else(|e| e.into_inner())
}

/// Unregisters one hook; removing twice, or after the tensor is gone, does nothing.
pub struct HookHandle {
    list: Weak<Mutex<HookList>>,
    id: u64,
}

impl HookHandle {
    pub fn id(&self) -> u64 {
        self.id
    }
    pub fn remove(&self) {
        if let Some(list) = self.list.upgrade() {
            let mut l = lock(&list);
            l.grad.retain(|(id, _)| *id != self.id);
            l.post_accumulate.retain(|(id, _)| *id != self.id);
        }
    }
}

fn handle(list: &SharedHooks, id: u64) -> HookHandle {
    HookHandle { list: Arc::downgrade(list), id }
}

pub(crate) fn add_grad_hook(list: &SharedHooks, hook: Arc<GradHook>) -> HookHandle {
    let id = NEXT_HOOK_ID.fetch_add(1, Ordering::Relaxed);
    lock(list).grad.push((id, hook));
    handle(list, id)
}

pub(crate) fn add_post_accumulate_hook(list: &SharedHooks, hook: Arc<PostAccumulateGradHook>) -> HookHandle {
    let id = NEXT_HOOK_ID.fetch_add(1, Ordering::Relaxed);
    lock(list).post_accumulate.push((id, hook));
    handle(list, id)
}

/// Runs the grad hooks in registration order, each on the previous one's result. The list is
/// copied first so a hook may register or remove hooks (or touch the tensor) without deadlock.
pub(crate) fn run_grad_hooks(list: Option<&SharedHooks>, mut grad: Tensor) -> Result<Tensor> {
    let Some(list) = list else { return Ok(grad) };
    let hooks: Vec<Arc<GradHook>> = lock(list).grad.iter().map(|(_, h)| h.clone()).collect();
    for hook in hooks {
        let Some(new) = hook(&grad)? else { continue };
        if new.shape() != grad.shape() {
            return Err(Error::Shape(format!(
                "hook has changed the size of value: expected {:?}, got {:?}",
                grad.shape(),
                new.shape()
            )));
        }
        if new.dtype() != grad.dtype() || new.device() != grad.device() {
            return Err(Error::DType(format!(
                "hook has changed the type of value (was {} on {} got {} on {})",
                grad.dtype().tensor_type_name(),
                grad.device(),
                new.dtype().tensor_type_name(),
                new.device()
            )));
        }
        grad = new;
    }
    Ok(grad)
}

pub(crate) fn run_post_accumulate_hooks(list: Option<&SharedHooks>, leaf: &Tensor) -> Result<()> {
    let Some(list) = list else { return Ok(()) };
    let hooks: Vec<Arc<PostAccumulateGradHook>> = lock(list).post_accumulate.iter().map(|(_, h)| h.clone()).collect();
    hooks.iter().try_for_each(|hook| hook(leaf))
}

/// PyTorch's `BackwardHookFunction`, which module full backward hooks stand on: aliases of
/// `tensors` (the same memory) whose gradients meet in one node. Each alias's node stores the
/// gradient it receives and hands the join node a scalar token; the engine runs the join node
/// after every node that feeds it, so `hook` sees all the gradients that arrive together and
/// may replace any of them. Tensors that do not require grad come back as they are.
pub fn hook_gradients_together(tensors: &[Tensor], hook: Arc<GradsHook>) -> Vec<Tensor> {
    const NAME: &str = "BackwardHookFunctionBackward";
    let inputs: Vec<&Tensor> = tensors.iter().collect();
    let Some(recorder) = super::Recorder::new(NAME, &inputs) else { return tensors.to_vec() };
    let needs: Vec<bool> = (0..tensors.len()).map(|i| recorder.needs(i)).collect();
    let arrived: Arc<Mutex<Vec<Option<Tensor>>>> = Arc::new(Mutex::new(vec![None; tensors.len()]));
    let expected: Vec<(Vec<usize>, crate::DType, crate::Device)> =
        tensors.iter().map(|t| (t.shape().to_vec(), t.dtype(), t.device())).collect();
    let join = recorder.into_node({
        let arrived = arrived.clone();
        move |ctx, _token| {
            let grads = std::mem::replace(&mut *arrived.lock().unwrap_or_else(|e| e.into_inner()), vec![None; expected.len()]);
            let out = hook(grads)?;
            if out.len() != expected.len() {
                return Err(Error::Runtime(format!(
                    "a backward hook returned {} gradients for {} tensors",
                    out.len(),
                    expected.len()
                )));
            }
            for (i, (g, (shape, dtype, device))) in out.iter().zip(&expected).enumerate() {
                let Some(g) = g else { continue };
                if g.shape() != shape.as_slice() || g.dtype() != *dtype || g.device() != *device {
                    return Err(Error::Runtime(format!(
                        "a backward hook returned a gradient for tensor {i} of shape {:?}, {} on {}, but the tensor is {:?}, {} on {}",
                        g.shape(),
                        g.dtype().tensor_type_name(),
                        g.device(),
                        shape,
                        dtype.tensor_type_name(),
                        device
                    )));
                }
            }
            Ok(out.into_iter().enumerate().map(|(i, g)| g.filter(|_| ctx.needs(i))).collect())
        }
    });
    tensors
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if !needs[i] {
                return t.clone();
            }
            let arrived = arrived.clone();
            let edges = vec![Some(super::Edge::Node(join.clone()))];
            let node = super::Recorder { name: NAME, edges, saved: vec![] }.into_node(move |_, g| {
                arrived.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(g.clone());
                Ok(vec![Some(Tensor::wrapped_scalar(0.0f64))])
            });
            let alias = t.detach();
            alias.set_grad_fn(Some(node));
            alias
        })
        .collect()
}

impl Tensor {
    /// `Tensor.register_hook`: on a leaf, the hook sees the gradient before it is accumulated
    /// into `.grad`; on a non-leaf, before it flows on to the inputs (and into a retained `.grad`).
    pub fn register_hook(&self, hook: Arc<GradHook>) -> Result<HookHandle> {
        if !self.requires_grad() {
            return Err(Error::Autograd("cannot register a hook on a tensor that doesn't require gradient".into()));
        }
        let list = match self.grad_fn() {
            Some(node) => node.hooks().clone(),
            None => self.meta().hooks.get_or_insert_with(Default::default).clone(),
        };
        Ok(add_grad_hook(&list, hook))
    }
    /// `Tensor.register_post_accumulate_grad_hook`: the hook sees the leaf once its `.grad`
    /// holds this backward's gradient.
    pub fn register_post_accumulate_grad_hook(&self, hook: Arc<PostAccumulateGradHook>) -> Result<HookHandle> {
        if !self.requires_grad() {
            return Err(Error::Autograd("cannot register a hook on a tensor that doesn't require gradient".into()));
        }
        if !self.is_leaf() {
            return Err(Error::Autograd("post accumulate grad hooks cannot be registered on non-leaf tensors".into()));
        }
        let list = self.meta().hooks.get_or_insert_with(Default::default).clone();
        Ok(add_post_accumulate_hook(&list, hook))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn leaf(values: Vec<f64>) -> Tensor {
        let n = values.len();
        let t = Tensor::from_vec(values, &[n]).unwrap();
        t.set_requires_grad(true).unwrap();
        t
    }

    #[test]
    fn grad_hook_replaces_the_leaf_gradient_then_post_hook_sees_it() {
        let x = leaf(vec![1.0, 2.0]);
        let seen = Arc::new(Mutex::new(vec![]));
        x.register_hook(Arc::new(|g: &Tensor| g.mul_scalar(10.0).map(Some))).unwrap();
        let log = seen.clone();
        x.register_post_accumulate_grad_hook(Arc::new(move |t: &Tensor| {
            log.lock().unwrap().push(t.grad().unwrap().to_vec::<f64>());
            Ok(())
        }))
        .unwrap();
        x.mul(&x).unwrap().sum(None, false).unwrap().backward(None, false, false).unwrap();
        assert_eq!(x.grad().unwrap().to_vec::<f64>(), vec![20.0, 40.0]);
        assert_eq!(*seen.lock().unwrap(), vec![vec![20.0, 40.0]]);
    }

    #[test]
    fn removed_hooks_stop_and_errors_come_back() {
        let x = leaf(vec![1.0]);
        let handle = x.register_hook(Arc::new(|_: &Tensor| Err(Error::Runtime("from the hook".into())))).unwrap();
        let err = x.mul_scalar(2.0).unwrap().sum(None, false).unwrap().backward(None, false, false).unwrap_err();
        assert_eq!(err, Error::Runtime("from the hook".into()));
        handle.remove();
        x.mul_scalar(2.0).unwrap().sum(None, false).unwrap().backward(None, false, false).unwrap();
        assert_eq!(x.grad().unwrap().to_vec::<f64>(), vec![2.0]);
    }
}
