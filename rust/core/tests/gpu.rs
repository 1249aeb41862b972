//! GPU backend tests: every WGSL file is parsed and validated by naga on its own (no adapter
//! needed), so a shader bug is told apart from a dispatch bug; the runtime smoke tests run
//! when an adapter is present (required when FERROGRAD_REQUIRE_GPU=1).
use ferrograd_core::{gpu, Device, Tensor};

#[test]
fn shaders_validate() {
    for s in gpu::shaders() {
        let src = s.source();
        let module = naga::front::wgsl::parse_str(&src).unwrap_or_else(|e| panic!("{}.wgsl: {}", s.name, e.emit_to_string(&src)));
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{}.wgsl does not validate: {e:?}", s.name));
    }
}

#[test]
fn op_codes_file_matches_the_op_tables() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shaders/op_codes.wgsl");
    let expected = ferrograd_core::op::wgsl_constants();
    if std::env::var("FERROGRAD_BLESS").as_deref() == Ok("1") {
        std::fs::write(path, &expected).expect("writing shaders/op_codes.wgsl");
    }
    let found = std::fs::read_to_string(path).unwrap_or_default();
    assert_eq!(found, expected, "shaders/op_codes.wgsl is stale: run FERROGRAD_BLESS=1 cargo test -p ferrograd-core --test gpu");
}

fn gpu_or_skip() -> bool {
    if gpu::is_available() {
        return true;
    }
    assert!(std::env::var("FERROGRAD_REQUIRE_GPU").as_deref() != Ok("1"), "FERROGRAD_REQUIRE_GPU=1 but no GPU adapter: {:?}", gpu::context().err());
    eprintln!("skipped: no GPU adapter");
    false
}

#[test]
fn add_matmul_sum_round_trip() {
    if !gpu_or_skip() {
        return;
    }
    let dev = Device::Gpu(0);
    let a = Tensor::from_vec((0..6).map(|v| v as f32).collect(), &[2, 3]).unwrap();
    let b = Tensor::from_vec(vec![1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0], &[3, 2]).unwrap();
    let (ga, gb) = (a.to_device(dev).unwrap(), b.to_device(dev).unwrap());
    assert_eq!(ga.device(), dev);
    let c = ga.matmul(&gb).unwrap().add(&Tensor::wrapped_scalar(1.0f64)).unwrap();
    assert_eq!(c.to_device(Device::Cpu).unwrap().to_vec::<f32>(), vec![3.0, 4.0, 9.0, 10.0]);
    let s = ga.sum(None, false).unwrap().to_device(Device::Cpu).unwrap();
    assert_eq!(s.to_vec::<f32>(), vec![15.0]);
}

#[test]
fn cpu_kernels_refuse_gpu_memory() {
    if !gpu_or_skip() {
        return;
    }
    let g = Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap().to_device(Device::Gpu(0)).unwrap();
    assert!(g.storage().cpu_slice::<f32>("test").is_err());
    // float64 has no GPU scan kernel
    let g64 = Tensor::from_vec(vec![1.0f64, 2.0], &[2]).unwrap().to_device(Device::Gpu(0)).unwrap();
    let err = g64.cumulative(0, ferrograd_core::op::ScanOp::Sum).unwrap_err();
    assert!(matches!(err, ferrograd_core::Error::NotImplemented(ref m) if m.contains("gpu:0")), "{err:?}");
    let cpu = Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
    assert!(matches!(g.add(&cpu), Err(ferrograd_core::Error::Device(_))));
}
