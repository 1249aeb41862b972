//! Binding of captured graphs (`ferrograd_core::graph`): start and end a trace of the calling
//! thread, replay a graph, print it. Guards on Python state (grad mode, training flags) and the
//! cache live in `ferrograd._compile`.
use super::optim::parse_options;
use super::{tensors, wrap, IntoPyResult, PyTensor};
use pyo3::types::PyDict;
use ferrograd_core::graph::record::{self, Traced};
use ferrograd_core::graph::{Graph, Replay};
use pyo3::prelude::*;

/// A captured graph.
#[pyclass(name = "Graph", module = "ferrograd._core", frozen)]
pub struct PyGraph(Graph);

#[pymethods]
impl PyGraph {
    /// Replays the graph on `args`: `(True, outputs)`, or `(False, why)` when an argument or a
    /// captured gradient no longer matches the trace.
    /// `steps`: `(first, end, kind, options)` for optimizer steps recorded between trace marks
    /// `first` and `end`, whose hyper-parameters this replay takes from `options` (the graph's
    /// inputs, so that a scheduler changing them needs no new trace).
    #[pyo3(signature = (args, steps=None))]
    fn run(&self, py: Python<'_>, args: &Bound<'_, PyAny>, steps: Option<Vec<(usize, usize, String, Bound<'_, PyDict>)>>) -> PyResult<(bool, Py<PyAny>)> {
        let args = tensors(args)?;
        let options = steps
            .unwrap_or_default()
            .iter()
            .map(|(first, end, kind, o)| Ok((*first..*end, parse_options(kind, o)?)))
            .collect::<PyResult<Vec<_>>>()?;
        let graph = &self.0;
        match py.detach(|| graph.run(&args, &options)).py()? {
            Replay::Done(outs) => Ok((true, outs.into_iter().map(wrap).collect::<Vec<PyTensor>>().into_pyobject(py)?.into_any().unbind())),
            Replay::GuardFailed(why) => Ok((false, why.into_pyobject(py)?.into_any().unbind())),
        }
    }
    fn __str__(&self) -> String {
        self.0.describe()
    }
    /// Kernel calls per replay.
    #[getter]
    fn kernel_count(&self) -> usize {
        self.0.kernel_count()
    }
    /// Calls the passes removed: (dead, merged as common subexpressions).
    #[getter]
    fn removed(&self) -> (usize, usize) {
        (self.0.removed_dead, self.0.merged_common)
    }
    /// Fused element-wise runs: (runs, the calls they replaced).
    #[getter]
    fn fused(&self) -> (usize, usize) {
        (self.0.fused_groups, self.0.fused_calls)
    }
}

/// Starts recording this thread's kernel calls; `args` are bound anew at each replay.
#[pyfunction]
pub fn trace_begin(args: &Bound<'_, PyAny>) -> PyResult<()> {
    record::begin(&tensors(args)?).py()
}

/// Stops recording after the traced function raised.
#[pyfunction]
pub fn trace_abort() {
    record::abort()
}

/// Stops recording: `(graph or None, graph breaks, reason to trace again or None)`.
#[pyfunction]
pub fn trace_end(outputs: &Bound<'_, PyAny>) -> PyResult<(Option<PyGraph>, Vec<String>, Option<String>)> {
    let Traced { graph, breaks, retry } = record::end(&tensors(outputs)?).py()?;
    Ok((graph.map(PyGraph), breaks, retry))
}

/// The number of kernel calls recorded so far in this thread's trace (marks a span of calls).
#[pyfunction]
pub fn trace_mark() -> usize {
    record::mark()
}

/// Whether this thread is tracing.
#[pyfunction]
pub fn is_tracing() -> bool {
    record::recording()
}

/// Sets the callable that names the user's source line of a graph break.
#[pyfunction]
pub fn set_graph_break_locator(locator: Py<PyAny>) {
    record::set_location_provider(Box::new(move || {
        Python::attach(|py| locator.call0(py).and_then(|s| s.extract::<String>(py)).unwrap_or_default())
    }));
}
