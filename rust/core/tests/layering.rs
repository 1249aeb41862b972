//! The layering rule of rust/core (CONTRIBUTING.md): `op` (ops as data) sits below everything;
//! the backends `cpu/` and `gpu/` hold kernels only — they never name `autograd` or `ops` and
//! never call a tensor op (a method defined in `ops/`); `autograd/` never names a
//! backend or `ops` (backward rules reach kernels through tensor ops). So there is no import cycle
//! between `ops`, `autograd`, `cpu` and `gpu`.
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for entry in fs::read_dir(dir).expect("reading a source folder") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The source without comments (doc comments may name any module).
fn code_of(path: &Path) -> String {
    fs::read_to_string(path).expect("reading a source file").lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// Modules a file names through `crate::x` paths.
fn named_modules(code: &str) -> BTreeSet<String> {
    code.match_indices("crate::").map(|(i, _)| code[i + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()).collect()
}

/// Methods the ops layer defines on `Tensor`, except those whose names std or `Layout` also use
/// (`x.max(y)` on a usize, `layout.transpose(..)` or `Option::transpose` are not tensor ops; a
/// text check cannot tell them apart, so those names go unchecked).
fn tensor_ops() -> BTreeSet<String> {
    const STD_NAMES: &[&str] = &[
        "abs", "add", "sub", "mul", "div", "neg", "exp", "ln", "log", "log2", "log10", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh", "asin", "acos",
        "atan", "atan2", "floor", "ceil", "round", "trunc", "max", "min", "sum", "product", "clamp", "pow", "powf", "powi", "rem", "signum", "fract", "len",
        "is_empty", "contains", "reverse", "sort", "chunks", "split", "fill", "copy_from_slice", "clone", "eq", "ne", "lt", "le", "gt", "ge", "any", "all",
        "flip", "swap", "iter", "map", "zip", "exp_m1", "ln_1p", "recip", "erf", "shape", "dtype", "device", "numel", "ndim", "layout", "storage", "to_vec",
        "item", "is_contiguous", "offset", "strides", "same_storage", "contiguous_data", "from_vec", "from_parts", "full", "full_dtype", "zeros", "scalar",
        "wrapped_scalar", "detach", "requires_grad", "view_with_layout", "expand", "slice", "transpose", "permute", "unsqueeze", "select", "view",
        "contiguous", "take", "flatten",
    ];
    let mut names = BTreeSet::new();
    for path in rust_files(&src().join("ops")) {
        let code = code_of(&path);
        for block in code.split("impl Tensor {").skip(1) {
            for (i, _) in block.match_indices("fn ") {
                let name: String = block[i + 3..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !STD_NAMES.contains(&name.as_str()) && !name.is_empty() {
                    names.insert(name);
                }
            }
        }
    }
    names
}

fn violations(dir: &str, forbidden: &[&str], check_tensor_ops: bool) -> Vec<String> {
    let ops = if check_tensor_ops { tensor_ops() } else { BTreeSet::new() };
    let mut found = vec![];
    for path in rust_files(&src().join(dir)) {
        let code = code_of(&path);
        let rel = path.strip_prefix(src()).unwrap_or(&path).display().to_string();
        for m in named_modules(&code) {
            if forbidden.contains(&m.as_str()) {
                found.push(format!("{rel} names crate::{m}"));
            }
        }
        if check_tensor_ops && code.contains("Recorder") {
            found.push(format!("{rel} records autograd (Recorder)"));
        }
        for op in &ops {
            if code.contains(&format!(".{op}(")) || code.contains(&format!("Tensor::{op}(")) {
                found.push(format!("{rel} calls the tensor op `{op}`"));
            }
        }
    }
    found
}

#[test]
fn backends_hold_kernels_only() {
    let mut found = violations("cpu", &["autograd", "ops"], true);
    found.extend(violations("gpu", &["autograd", "ops"], true));
    assert!(found.is_empty(), "backend modules break the layering rule:\n{}", found.join("\n"));
}

#[test]
fn autograd_names_no_backend_and_no_op() {
    let found = violations("autograd", &["cpu", "gpu", "ops"], false);
    assert!(found.is_empty(), "autograd breaks the layering rule:\n{}", found.join("\n"));
}

#[test]
fn ops_as_data_sit_below_everything() {
    for path in std::iter::once(src().join("op.rs")).chain(rust_files(&src().join("op"))) {
        let named: Vec<String> = named_modules(&code_of(&path)).into_iter().filter(|m| ["ops", "cpu", "gpu", "autograd"].contains(&m.as_str())).collect();
        assert!(named.is_empty(), "{} names {named:?}", path.display());
    }
}
