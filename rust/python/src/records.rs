//! Binding of the TFRecord framing (`ferrograd_core::records`) used by
//! `ferrograd.utils.tensorboard` to write event files.
use ferrograd_core::records;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;

/// Frames a batch of serialized records into one `bytes` ready to append to an event file;
/// the GIL is released while the CRCs are computed.
#[pyfunction]
fn tfrecord_frame<'py>(py: Python<'py>, records: Vec<PyBackedBytes>) -> Bound<'py, PyBytes> {
    let framed = py.detach(|| {
        let mut out = Vec::with_capacity(records.iter().map(|r| r.len() + 16).sum());
        for record in &records {
            records::append_record(&mut out, record);
        }
        out
    });
    PyBytes::new(py, &framed)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(tfrecord_frame, m)?)
}
