//! Kernel and autograd checks from Rust (no Python needed).
use ferrograd_core::autograd;
use ferrograd_core::ops::{BinaryOp, UnaryOp};
use ferrograd_core::{DType, Tensor};

fn t(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

#[test]
fn matmul_with_transposed_operand_matches_naive() {
    let a = t(&(0..6).map(|x| x as f64).collect::<Vec<_>>(), &[2, 3]);
    let b = t(&(0..6).map(|x| x as f64 * 0.5).collect::<Vec<_>>(), &[2, 3]);
    let c = a.matmul(&b.t().unwrap()).unwrap();
    assert_eq!(c.shape(), &[2, 2]);
    // a = [[0,1,2],[3,4,5]], b^T = [[0,1.5],[0.5,2],[1,2.5]]
    assert_eq!(c.to_vec::<f64>(), vec![2.5, 7.0, 7.0, 25.0]);
}

#[test]
fn broadcasting_add_and_promotion() {
    let a = t(&[1.0, 2.0, 3.0], &[3, 1]);
    let b = Tensor::from_vec(vec![10i64, 20], &[2]).unwrap();
    let c = a.add(&b).unwrap();
    assert_eq!(c.shape(), &[3, 2]);
    assert_eq!(c.dtype(), DType::F64);
    assert_eq!(c.to_vec::<f64>(), vec![11.0, 21.0, 12.0, 22.0, 13.0, 23.0]);
}

#[test]
fn backward_of_composed_ops() {
    let x = t(&[1.0, 2.0], &[2]);
    x.set_requires_grad(true).unwrap();
    let y = x.unary(UnaryOp::Exp).unwrap().mul(&x).unwrap().sum(None, false).unwrap();
    y.backward(None, false, false).unwrap();
    let g = x.grad().unwrap().to_vec::<f64>();
    for (gi, xi) in g.iter().zip([1.0f64, 2.0]) {
        assert!((gi - xi.exp() * (1.0 + xi)).abs() < 1e-12);
    }
}

#[test]
fn second_derivative_through_saved_output() {
    let x = t(&[0.3], &[1]);
    x.set_requires_grad(true).unwrap();
    let y = x.unary(UnaryOp::Tanh).unwrap().sum(None, false).unwrap();
    let g = autograd::grad(&[y], vec![None], &[x.clone()], true, true, false).unwrap()[0].clone().unwrap();
    let h = autograd::grad(&[g.sum(None, false).unwrap()], vec![None], &[x.clone()], false, false, false).unwrap()[0].clone().unwrap();
    let th = 0.3f64.tanh();
    assert!((h.to_vec::<f64>()[0] - (-2.0 * th * (1.0 - th * th))).abs() < 1e-12);
}

#[test]
fn softmax_rows_sum_to_one_and_survive_large_logits() {
    let x = t(&[1000.0, 0.0, -1000.0, 1.0, 2.0, 3.0], &[2, 3]);
    let s = x.softmax(1, ferrograd_core::op::SoftmaxOp::Softmax).unwrap().sum(Some(&[1]), false).unwrap();
    for v in s.to_vec::<f64>() {
        assert!((v - 1.0).abs() < 1e-12);
    }
}

#[test]
fn im2col_col2im_are_adjoint() {
    use ferrograd_core::Window;
    let w = Window { kernel: (2, 2), dilation: (1, 1), padding: (1, 1), stride: (1, 1) };
    let x = t(&(0..9).map(|v| v as f64).collect::<Vec<_>>(), &[1, 1, 3, 3]);
    for batch_major in [false, true] {
        let cols = x.im2col(w, 0.0, batch_major).unwrap();
        let y = t(&(0..cols.numel()).map(|v| (v % 7) as f64).collect::<Vec<_>>(), cols.shape());
        // <im2col(x), y> == <x, col2im(y)>
        let lhs: f64 = cols.mul(&y).unwrap().sum(None, false).unwrap().item().unwrap();
        let rhs: f64 = x.mul(&y.col2im((3, 3), w, batch_major, 1).unwrap()).unwrap().sum(None, false).unwrap().item().unwrap();
        assert!((lhs - rhs).abs() < 1e-9);
    }
}

#[test]
fn errors_not_panics() {
    let a = t(&[1.0, 2.0, 3.0], &[3]);
    let b = t(&[1.0, 2.0], &[2]);
    assert!(a.binary(BinaryOp::Add, &b).is_err());
    assert!(a.reshape(&[2, 2]).is_err());
    assert!(Tensor::zeros(&[usize::MAX, 4], DType::F32).is_err());
    assert!(a.select(0, 7).is_err());
}
