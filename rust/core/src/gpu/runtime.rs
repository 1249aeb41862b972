//! The GPU runtime: one lazily created wgpu context per process (instance, adapter, device,
//! queue), a pipeline cache keyed by (shader, entry point, specialisation constants), a pool
//! of freed buffers by size class, and a command encoder that collects dispatches until a
//! batch is full or data has to come back to the host.
//!
//! Shape/stride metadata of every dispatch of a batch is appended to one host-side arena and
//! written into one storage buffer (`info`) right before the batch is submitted; each
//! dispatch binds its own aligned window of it. No buffer is created per dispatch.
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Dispatches recorded before a batch is submitted (so the GPU starts working early).
const BATCH_DISPATCHES: usize = 64;
/// Bytes of the per-batch metadata arena.
const INFO_BYTES: u64 = 256 * 1024;
/// Freed buffers kept for reuse, in bytes, before further frees go back to the driver.
const POOL_LIMIT: u64 = 1 << 30;
/// What a pooled buffer is charged at least: a small buffer really holds about a page (the
/// driver's allocation granularity and wgpu's bookkeeping), not its 256-byte size class.
const MIN_BUFFER_COST: u64 = 4096;
/// Uploads written through the queue since the last submission, in bytes (each at least
/// `MIN_BUFFER_COST`: the queue stages every write in a buffer of its own), before one is
/// made: staged writes are held until a submission, so a loop of uploads must submit.
const UPLOAD_BATCH_BYTES: u64 = 4 << 20;
/// Buffers from this size up are created under an out-of-memory error scope, so a driver's
/// refusal becomes an error and leaves the device usable.
const CHECKED_ALLOC_BYTES: u64 = 16 << 20;
/// Usage of every tensor buffer.
const TENSOR_USAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC).union(wgpu::BufferUsages::COPY_DST);

pub struct Context {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    state: Mutex<State>,
    /// The first validation error wgpu reported since the last check.
    error: Arc<Mutex<Option<String>>>,
    /// Device-side error bits (`DeviceError`) that kernels set with atomicOr, bound as an
    /// extra output; read with every download, as CUDA reports device-side asserts at the
    /// next synchronisation.
    flags: wgpu::Buffer,
}

/// What a kernel reports through the device-side error flags.
#[derive(Clone, Copy)]
pub enum DeviceError {
    GatherIndex = 1,
    ScatterIndex = 2,
}

impl DeviceError {
    fn message(bits: u32) -> String {
        let what = [(DeviceError::GatherIndex, "gather / index_select"), (DeviceError::ScatterIndex, "scatter_add / index_add")]
            .iter()
            .filter(|(e, _)| bits & *e as u32 != 0)
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join(" and ");
        format!("index out of range in a GPU {what} (device-side check, reported at the next read of GPU data, as CUDA does)")
    }
}

struct State {
    modules: HashMap<&'static str, wgpu::ShaderModule>,
    pipelines: HashMap<String, Arc<wgpu::ComputePipeline>>,
    /// Bind group layouts by number of read-only inputs and of read-write outputs (then
    /// `info`).
    layouts: HashMap<(usize, usize), (wgpu::BindGroupLayout, wgpu::PipelineLayout)>,
    pool: HashMap<u64, Vec<wgpu::Buffer>>,
    pool_bytes: u64,
    /// Bytes written by uploads through the queue since the last submission.
    uploaded_bytes: u64,
    encoder: Option<wgpu::CommandEncoder>,
    pending: usize,
    /// While set (a captured graph's replay), a full batch does not submit: the replay's
    /// kernels go in one submission (made when it ends, or earlier only if the metadata arena
    /// fills or data must come back).
    held: bool,
    /// Submissions made so far (for tests and benchmarks).
    submissions: u64,
    info_buf: wgpu::Buffer,
    info: Vec<u32>,
    dummy: wgpu::Buffer,
}

static CONTEXT: OnceLock<std::result::Result<Context, String>> = OnceLock::new();

/// The context, created on first use; an error naming why when no adapter can be used.
pub fn context() -> Result<&'static Context> {
    CONTEXT.get_or_init(Context::create).as_ref().map_err(|e| Error::Runtime(e.clone()))
}

/// Whether a GPU adapter is usable (creates the context on first call).
pub fn is_available() -> bool {
    context().is_ok()
}

fn backend_rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

/// The adapters this process may use: Vulkan/Metal/DX12 ones, filtered by
/// `FERROGRAD_GPU_BACKEND` (vulkan, metal, dx12) and `FERROGRAD_GPU_ADAPTER` (a substring of
/// the adapter name, case-insensitive), best first (discrete, integrated, virtual, software).
fn candidate_adapters(instance: &wgpu::Instance) -> std::result::Result<Vec<wgpu::Adapter>, String> {
    let mut backends = wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12;
    if let Ok(b) = std::env::var("FERROGRAD_GPU_BACKEND") {
        backends = match b.to_ascii_lowercase().as_str() {
            "vulkan" | "vk" => wgpu::Backends::VULKAN,
            "metal" | "mtl" => wgpu::Backends::METAL,
            "dx12" | "d3d12" => wgpu::Backends::DX12,
            "" => backends,
            other => return Err(format!("FERROGRAD_GPU_BACKEND={other:?} is not one of vulkan, metal, dx12")),
        };
    }
    let mut adapters = pollster::block_on(instance.enumerate_adapters(backends));
    if let Ok(name) = std::env::var("FERROGRAD_GPU_ADAPTER") {
        let want = name.to_ascii_lowercase();
        adapters.retain(|a| a.get_info().name.to_ascii_lowercase().contains(&want));
        if adapters.is_empty() {
            return Err(format!("no GPU adapter's name contains FERROGRAD_GPU_ADAPTER={name:?}"));
        }
    }
    adapters.sort_by_key(|a| backend_rank(a.get_info().device_type));
    Ok(adapters)
}

impl Context {
    fn create() -> std::result::Result<Context, String> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12;
        let instance = wgpu::Instance::new(desc);
        let adapters = candidate_adapters(&instance)?;
        let adapter = adapters.into_iter().next().ok_or_else(|| {
            "no GPU adapter found (Vulkan, Metal or DX12); on Linux without a GPU, install Mesa's lavapipe (apt-get install mesa-vulkan-drivers)".to_string()
        })?;
        let info = adapter.get_info();
        let mut limits = adapter.limits();
        // A lower binding size than the adapter's, requested from the device so that wgpu
        // enforces it: how tensors larger than one binding are tested on any adapter.
        if let Ok(v) = std::env::var("FERROGRAD_GPU_MAX_BINDING_BYTES") {
            let bytes: u64 = v.trim().parse().ok().filter(|&b: &u64| b >= 1024 && b % 256 == 0).ok_or_else(|| {
                format!("FERROGRAD_GPU_MAX_BINDING_BYTES={v:?} is not a byte count (a multiple of 256, at least 1024)")
            })?;
            limits.max_storage_buffer_binding_size = limits.max_storage_buffer_binding_size.min(bytes);
        }
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("ferrograd"),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| format!("cannot open GPU adapter {}: {e}", info.name))?;
        if limits.max_storage_buffers_per_shader_stage < 5 {
            return Err(format!("GPU adapter {} allows only {} storage buffers per stage (5 needed)", info.name, limits.max_storage_buffers_per_shader_stage));
        }
        let error = Arc::new(Mutex::new(None::<String>));
        let sink = error.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(e.to_string());
            }
        }));
        let info_buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("ferrograd info"),
            size: INFO_BYTES,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let dummy = device.create_buffer(&wgpu::BufferDescriptor { label: Some("ferrograd dummy"), size: 16, usage: TENSOR_USAGE, mapped_at_creation: false });
        let flags = device.create_buffer(&wgpu::BufferDescriptor { label: Some("ferrograd error flags"), size: 16, usage: TENSOR_USAGE, mapped_at_creation: false });
        Ok(Context {
            device,
            queue,
            info,
            limits,
            state: Mutex::new(State {
                modules: HashMap::new(),
                pipelines: HashMap::new(),
                layouts: HashMap::new(),
                pool: HashMap::new(),
                pool_bytes: 0,
                uploaded_bytes: 0,
                encoder: None,
                pending: 0,
                held: false,
                submissions: 0,
                info_buf,
                info: Vec::new(),
                dummy,
            }),
            error,
            flags,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A validation error wgpu reported since the last check, as an Error.
    fn take_error(&self) -> Result<()> {
        match self.error.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(e) => Err(Error::Runtime(format!("GPU error: {e}"))),
            None => Ok(()),
        }
    }

    /// The adapter's name and backend, e.g. "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)".
    pub fn name(&self) -> String {
        format!("{} ({:?})", self.info.name, self.info.backend)
    }

    /// The device-side error flags, for kernels that check their indices (bind it as an output).
    pub fn error_flags(&self) -> &wgpu::Buffer {
        &self.flags
    }

    /// Largest buffer one binding may cover.
    pub fn max_binding(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }

    // ---- buffers ----

    /// A buffer of at least `bytes` bytes, from the pool when one of its size class is free.
    pub fn alloc(&self, bytes: u64) -> Result<GpuBuffer> {
        let class = self.checked_class(bytes)?;
        let reused = self.state().take_pooled(class);
        let buf = match reused {
            Some(b) => b,
            None => self.create_buffer(class, false)?,
        };
        Ok(GpuBuffer { buf: Some(buf), class })
    }

    /// The size class of a `bytes`-byte buffer, or the error PyTorch gives for an allocation
    /// the device cannot hold, before any work.
    fn checked_class(&self, bytes: u64) -> Result<u64> {
        let class = size_class(bytes);
        if class > self.limits.max_buffer_size {
            return Err(Error::OutOfMemory(format!(
                "GPU out of memory: tried to allocate {bytes} bytes, more than the adapter's max buffer size ({} bytes)",
                self.limits.max_buffer_size
            )));
        }
        // A software adapter (lavapipe) allocates host memory.
        if self.info.device_type == wgpu::DeviceType::Cpu && class as u128 > crate::storage::host_memory_budget() {
            return Err(Error::OutOfMemory(format!(
                "GPU out of memory: tried to allocate {bytes} bytes on {}, more than the host's memory ({} bytes)",
                self.name(),
                crate::storage::host_memory_budget()
            )));
        }
        Ok(class)
    }

    /// A new buffer of `class` bytes; a large one under an error scope, so that the driver's
    /// out-of-memory becomes an error (and the device stays usable).
    fn create_buffer(&self, class: u64, mapped_at_creation: bool) -> Result<wgpu::Buffer> {
        let desc = wgpu::BufferDescriptor { label: None, size: class, usage: TENSOR_USAGE, mapped_at_creation };
        if class < CHECKED_ALLOC_BYTES {
            return Ok(self.device.create_buffer(&desc));
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buf = self.device.create_buffer(&desc);
        match pollster::block_on(scope.pop()) {
            None => Ok(buf),
            Some(e) => Err(Error::OutOfMemory(format!("GPU out of memory: tried to allocate {class} bytes on {}: {e}", self.name()))),
        }
    }

    fn release(&self, buf: wgpu::Buffer, class: u64) {
        let mut st = self.state();
        let cost = class.max(MIN_BUFFER_COST);
        if st.pool_bytes + cost <= POOL_LIMIT {
            st.pool_bytes += cost;
            st.pool.entry(class).or_default().push(buf);
        }
    }

    /// A buffer holding `data`: a pooled one written through the queue when no recorded work
    /// is waiting (queue writes land before the next submission's commands, so a pooled
    /// buffer that waiting work still reads must not be written that way), else a new buffer
    /// mapped at creation, which orders itself before any later dispatch.
    pub fn upload(&self, data: &[u8]) -> Result<GpuBuffer> {
        let class = self.checked_class(data.len() as u64)?;
        let mut st = self.state();
        if st.encoder.is_none() {
            if let Some(buf) = st.take_pooled(class) {
                let whole = data.len() / 4 * 4;
                self.queue.write_buffer(&buf, 0, &data[..whole]);
                if whole < data.len() {
                    let mut tail = [0u8; 4];
                    tail[..data.len() - whole].copy_from_slice(&data[whole..]);
                    self.queue.write_buffer(&buf, whole as u64, &tail);
                }
                st.uploaded_bytes += (data.len() as u64).max(MIN_BUFFER_COST);
                if st.uploaded_bytes >= UPLOAD_BATCH_BYTES {
                    self.submit_locked(&mut st);
                }
                return Ok(GpuBuffer { buf: Some(buf), class });
            }
        }
        drop(st);
        let buf = self.create_buffer(class, true)?;
        {
            let mut view = buf.slice(..).get_mapped_range_mut().map_err(|e| Error::Runtime(format!("GPU upload: {e:?}")))?;
            // wgpu zero-initialises new buffers, so the padding past `data` is zero.
            view.slice(..data.len()).copy_from_slice(data);
        }
        buf.unmap();
        Ok(GpuBuffer { buf: Some(buf), class })
    }

    /// `bytes` bytes of `src` from byte `offset`, read back to the host (submits pending work
    /// and waits for it).
    pub fn download(&self, src: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        if bytes == 0 {
            return Ok(vec![]);
        }
        let size = bytes.div_ceil(4) * 4;
        // The error flags' word rides along after the data.
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("ferrograd readback"),
            size: size + 4,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        {
            let mut st = self.state();
            let enc = st.encoder_mut(&self.device);
            enc.copy_buffer_to_buffer(src, offset, &staging, 0, size);
            enc.copy_buffer_to_buffer(&self.flags, 0, &staging, size, 4);
            self.submit_locked(&mut st);
        }
        let slot: Arc<Mutex<Option<std::result::Result<(), wgpu::BufferAsyncError>>>> = Arc::new(Mutex::new(None));
        let s2 = slot.clone();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            *s2.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
        });
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| Error::Runtime(format!("GPU wait failed: {e}")))?;
        self.take_error()?;
        match slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(Ok(())) => {}
            other => return Err(Error::Runtime(format!("GPU readback failed: {other:?}"))),
        }
        let (out, flags) = {
            let view = staging.slice(..).get_mapped_range().map_err(|e| Error::Runtime(format!("GPU readback: {e:?}")))?;
            let end = size as usize;
            (view[..bytes as usize].to_vec(), u32::from_le_bytes([view[end], view[end + 1], view[end + 2], view[end + 3]]))
        };
        staging.unmap();
        if flags != 0 {
            self.queue.write_buffer(&self.flags, 0, &[0; 4]);
            return Err(Error::Runtime(DeviceError::message(flags)));
        }
        Ok(out)
    }

    /// Records a buffer-to-buffer copy (byte offsets and size multiples of 4).
    pub fn copy(&self, src: &wgpu::Buffer, src_off: u64, dst: &wgpu::Buffer, dst_off: u64, bytes: u64) -> Result<()> {
        if bytes == 0 {
            return Ok(());
        }
        let mut st = self.state();
        st.encoder_mut(&self.device).copy_buffer_to_buffer(src, src_off, dst, dst_off, bytes);
        st.pending += 1;
        if st.pending >= BATCH_DISPATCHES && !st.held {
            self.submit_locked(&mut st);
        }
        Ok(())
    }

    // ---- pipelines and dispatch ----

    fn layout<'a>(&self, st: &'a mut State, inputs: usize, outputs: usize) -> &'a (wgpu::BindGroupLayout, wgpu::PipelineLayout) {
        st.layouts.entry((inputs, outputs)).or_insert_with(|| {
            let storage = |binding: u32, read_only: bool| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer { ty: wgpu::BufferBindingType::Storage { read_only }, has_dynamic_offset: false, min_binding_size: None },
                count: None,
            };
            let mut entries: Vec<_> = (0..inputs as u32).map(|i| storage(i, true)).collect();
            entries.extend((0..outputs as u32).map(|o| storage(inputs as u32 + o, false)));
            entries.push(storage((inputs + outputs) as u32, true));
            let bgl = self.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: None, entries: &entries });
            let pl = self.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor { label: None, bind_group_layouts: &[Some(&bgl)], immediate_size: 0 });
            (bgl, pl)
        })
    }

    fn pipeline(&self, st: &mut State, k: &Kernel<'_>, outputs: usize) -> Result<Arc<wgpu::ComputePipeline>> {
        let key = format!("{}:{}:{:?}:{outputs}", k.shader.name, k.entry, k.constants);
        if let Some(p) = st.pipelines.get(&key) {
            return Ok(p.clone());
        }
        if !st.modules.contains_key(k.shader.name) {
            let src = k.shader.source();
            let m = self.device.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(k.shader.name), source: wgpu::ShaderSource::Wgsl(src.into()) });
            st.modules.insert(k.shader.name, m);
        }
        let layout = self.layout(st, k.inputs, outputs).1.clone();
        let consts: Vec<(&str, f64)> = k.constants.iter().map(|(n, v)| (*n, *v)).collect();
        let module = &st.modules[k.shader.name];
        let p = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(k.entry),
            layout: Some(&layout),
            module,
            entry_point: Some(k.entry),
            compilation_options: wgpu::PipelineCompilationOptions { constants: &consts, zero_initialize_workgroup_memory: false },
            cache: None,
        });
        self.take_error()?;
        let p = Arc::new(p);
        st.pipelines.insert(key, p.clone());
        Ok(p)
    }

    /// Records one dispatch of `k` over `groups` workgroups reading `inputs` (None binds a
    /// dummy buffer), writing `output`, with `info` as its metadata words.
    pub fn dispatch(&self, k: &Kernel<'_>, inputs: &[Option<&wgpu::Buffer>], output: &wgpu::Buffer, info: &[u32], groups: (u32, u32, u32)) -> Result<()> {
        self.dispatch_multi(k, inputs, &[output], info, groups)
    }

    /// As `dispatch`, for kernels that write several buffers (bound read-write after the
    /// inputs, in order; then `info`). The outputs must be distinct buffers, none of them an
    /// input.
    pub fn dispatch_multi(&self, k: &Kernel<'_>, inputs: &[Option<&wgpu::Buffer>], outputs: &[&wgpu::Buffer], info: &[u32], groups: (u32, u32, u32)) -> Result<()> {
        let inputs: Vec<Option<Window>> = inputs.iter().map(|b| b.map(Window::whole)).collect();
        let outputs: Vec<Window> = outputs.iter().map(|&b| Window::whole(b)).collect();
        self.dispatch_windows(k, &inputs, &outputs, info, groups)
    }

    /// As `dispatch_multi`, binding byte windows of the buffers (see `Window`).
    pub fn dispatch_windows(&self, k: &Kernel<'_>, inputs: &[Option<Window>], outputs: &[Window], info: &[u32], groups: (u32, u32, u32)) -> Result<()> {
        assert_eq!(inputs.len(), k.inputs, "kernel {} binds {} inputs", k.entry, k.inputs);
        let nbind = (k.inputs + outputs.len() + 1) as u32;
        if nbind > self.limits.max_storage_buffers_per_shader_stage {
            return Err(Error::NotImplemented(format!(
                "{}: needs {nbind} storage buffers per stage, the adapter allows {}",
                k.entry, self.limits.max_storage_buffers_per_shader_stage
            )));
        }
        let max = self.limits.max_compute_workgroups_per_dimension;
        if groups.0 > max || groups.1 > max || groups.2 > max {
            return Err(Error::Runtime(format!("dispatch of {groups:?} workgroups exceeds the adapter's {max} per dimension")));
        }
        for w in inputs.iter().flatten().chain(outputs.iter()) {
            if w.size > self.max_binding() {
                return Err(Error::NotImplemented(format!(
                    "'{}' on the GPU does not split tensors across storage bindings: it needs {} bytes of a tensor in one binding, more than the adapter's max storage binding size ({} bytes)",
                    k.entry.trim_end_matches("_main"),
                    w.size,
                    self.max_binding()
                )));
            }
        }
        if groups.0 == 0 || groups.1 == 0 || groups.2 == 0 {
            return Ok(());
        }
        let mut st = self.state();
        let align = (self.limits.min_storage_buffer_offset_alignment.max(4) / 4) as usize;
        let slot = info.len().max(1).div_ceil(align) * align;
        if (st.info.len() + slot) as u64 * 4 > INFO_BYTES {
            self.submit_locked(&mut st);
        }
        let start = st.info.len();
        st.info.extend_from_slice(info);
        st.info.resize(start + slot, 0);
        let pipeline = self.pipeline(&mut st, k, outputs.len())?;
        let bgl = self.layout(&mut st, k.inputs, outputs.len()).0.clone();
        let mut entries: Vec<wgpu::BindGroupEntry> = Vec::with_capacity(k.inputs + outputs.len() + 1);
        let dummy = Window::whole(&st.dummy);
        for (i, w) in inputs.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry { binding: i as u32, resource: w.unwrap_or(dummy).resource() });
        }
        for (o, w) in outputs.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry { binding: (k.inputs + o) as u32, resource: w.resource() });
        }
        entries.push(wgpu::BindGroupEntry {
            binding: nbind - 1,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &st.info_buf,
                offset: start as u64 * 4,
                size: std::num::NonZeroU64::new(slot as u64 * 4),
            }),
        });
        let bg = self.device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &bgl, entries: &entries });
        drop(entries);
        {
            let enc = st.encoder_mut(&self.device);
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bg, &[]);
            pass.dispatch_workgroups(groups.0, groups.1, groups.2);
        }
        st.pending += 1;
        if st.pending >= BATCH_DISPATCHES && !st.held {
            self.submit_locked(&mut st);
        }
        Ok(())
    }

    fn submit_locked(&self, st: &mut State) {
        let submitted = if let Some(enc) = st.encoder.take() {
            if !st.info.is_empty() {
                let bytes: &[u8] = bytemuck::cast_slice(&st.info);
                self.queue.write_buffer(&st.info_buf, 0, bytes);
            }
            self.queue.submit([enc.finish()]);
            true
        } else if st.uploaded_bytes > 0 {
            // Only queue writes are waiting: an empty submission flushes them.
            self.queue.submit([]);
            true
        } else {
            false
        };
        if submitted {
            st.submissions += 1;
            // Lets wgpu free resources of finished submissions and run callbacks.
            let _ = self.device.poll(wgpu::PollType::Poll);
        }
        st.info.clear();
        st.pending = 0;
        st.uploaded_bytes = 0;
    }

    /// Submits recorded work and waits for the GPU to finish it.
    pub fn synchronize(&self) -> Result<()> {
        {
            let mut st = self.state();
            self.submit_locked(&mut st);
        }
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| Error::Runtime(format!("GPU wait failed: {e}")))?;
        self.take_error()
    }

    /// Holds (or releases and submits) the batch: see `State::held`.
    pub fn hold_batch(&self, held: bool) {
        let mut st = self.state();
        st.held = held;
        if !held {
            self.submit_locked(&mut st);
        }
    }

    /// Submissions made so far.
    pub fn submissions(&self) -> u64 {
        self.state().submissions
    }

    /// Submits recorded work without waiting.
    pub fn flush(&self) -> Result<()> {
        let mut st = self.state();
        self.submit_locked(&mut st);
        drop(st);
        self.take_error()
    }
}

impl State {
    /// A pooled buffer of size class `class`, if one is free.
    fn take_pooled(&mut self, class: u64) -> Option<wgpu::Buffer> {
        let b = self.pool.get_mut(&class).and_then(|v| v.pop());
        if b.is_some() {
            self.pool_bytes -= class.max(MIN_BUFFER_COST);
        }
        b
    }

    fn encoder_mut(&mut self, device: &wgpu::Device) -> &mut wgpu::CommandEncoder {
        self.encoder.get_or_insert_with(|| device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ferrograd batch") }))
    }
}

/// Buffer sizes are rounded up to one of four classes per power of two (at least 256 bytes),
/// so a freed buffer serves later requests of similar size with at most 25% waste.
pub fn size_class(bytes: u64) -> u64 {
    let b = bytes.max(256);
    let p = 63 - (b - 1).leading_zeros() as u64; // 2^p < b <= 2^(p+1) for b > 1
    let quarter = (1u64 << p) / 4;
    let q = b.div_ceil(quarter.max(1)) * quarter.max(1);
    q.max(256)
}

/// A storage binding: `size` bytes of `buffer` from byte `offset`, a multiple of the
/// adapter's `min_storage_buffer_offset_alignment` (how a tensor larger than one binding is
/// bound piece by piece).
#[derive(Clone, Copy)]
pub struct Window<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub offset: u64,
    pub size: u64,
}

impl<'a> Window<'a> {
    pub fn whole(buffer: &'a wgpu::Buffer) -> Window<'a> {
        Window { buffer, offset: 0, size: buffer.size() }
    }

    fn resource(self) -> wgpu::BindingResource<'a> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: self.buffer, offset: self.offset, size: std::num::NonZeroU64::new(self.size) })
    }
}

/// A tensor's device memory; returned to the pool when dropped.
pub struct GpuBuffer {
    buf: Option<wgpu::Buffer>,
    class: u64,
}

impl GpuBuffer {
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.buf.as_ref().expect("buffer present until drop")
    }
}

impl Drop for GpuBuffer {
    fn drop(&mut self) {
        if let (Some(b), Some(Ok(ctx))) = (self.buf.take(), CONTEXT.get()) {
            ctx.release(b, self.class);
        }
    }
}

/// A WGSL source file: the shared prelude and op codes, then the op family's file.
pub struct Shader {
    pub name: &'static str,
    pub body: &'static str,
}

pub const PRELUDE: &str = include_str!("../../../../shaders/common.wgsl");
/// The op tables' kernel codes (`crate::op::wgsl_constants`, checked equal by a test).
pub const OP_CODES: &str = include_str!("../../../../shaders/op_codes.wgsl");

impl Shader {
    pub fn source(&self) -> String {
        format!("{PRELUDE}\n{OP_CODES}\n{}", self.body)
    }
}

/// One pipeline: a shader's entry point, its specialisation constants, and how many
/// read-only inputs it binds (bindings 0..inputs; then the output; then `info`).
pub struct Kernel<'a> {
    pub shader: &'static Shader,
    pub entry: &'static str,
    pub constants: &'a [(&'static str, f64)],
    pub inputs: usize,
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_cover_requests() {
        for b in [0u64, 1, 255, 256, 257, 1000, 4096, 4097, 1 << 20, (1 << 20) + 1, 123_456_789] {
            let c = size_class(b);
            assert!(c >= b && c >= 256, "{b} -> {c}");
            assert!(c <= (b.max(256) * 5).div_ceil(4) + 4, "{b} -> {c} wastes too much");
            assert_eq!(c % 4, 0);
        }
    }
}
