//! The CPU kernels' threads: a team that runs one parallel loop at a time together with the
//! calling thread, OpenMP style. Between loops the workers keep polling for a short while
//! before they park, so the back-to-back loops of a training step start without waking
//! anybody, and the caller works on the loop itself instead of blocking until it is done.
//!
//! rayon, used before, parks its workers within microseconds and blocks a calling thread that
//! is not one of its own: every parallel op of a step paid two thread wake-ups. On this
//! 2-vCPU VM a 128x64 @ 64x784 gemm run 100 us after the previous op took 167 us on two
//! threads against 128 us on one. (One case still uses the gemm crate's rayon threads: a
//! convolution of a single large sample, see `ops::conv`.)
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Mutex, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long an idle worker keeps polling for the next loop before it parks.
const POLL: Duration = Duration::from_micros(1000);

/// `Team::state`: bits 0..32 count the workers inside the current loop, bit 32 says the loop
/// is open to joiners, the bits above number the loops.
const OPEN: u64 = 1 << 32;
const ACTIVE: u64 = OPEN - 1;
const LOOP_SHIFT: u32 = 33;

/// One parallel loop: `body(i)` for every part `i` in 0..parts.
struct Job {
    parts: usize,
    body: *const (dyn Fn(usize) + Sync + 'static),
}

struct Team {
    state: AtomicU64,
    job: AtomicPtr<Job>,
    next_part: AtomicUsize,
    parts_done: AtomicUsize,
    panicked: AtomicBool,
    parked: Vec<AtomicBool>,
    threads: OnceLock<Vec<Thread>>,
    /// One loop at a time; a second caller (another Python thread) runs its loop alone.
    busy: Mutex<()>,
}

thread_local! {
    /// Set on the team's workers and on a caller inside its loop: a nested loop runs inline.
    static IN_LOOP: Cell<bool> = const { Cell::new(false) };
}

fn cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// The thread count `set_threads` last set; 0 until first asked.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Threads the CPU kernels use, the caller included: what `set_threads` set, else
/// FERROGRAD_NUM_THREADS (or RAYON_NUM_THREADS, which earlier versions read), else the cores.
pub fn threads() -> usize {
    match THREADS.load(Relaxed) {
        0 => {
            let n = ["FERROGRAD_NUM_THREADS", "RAYON_NUM_THREADS"]
                .iter()
                .find_map(|v| std::env::var(v).ok()?.parse::<usize>().ok().filter(|&n| n > 0))
                .unwrap_or_else(cores);
            let _ = THREADS.compare_exchange(0, n, Relaxed, Relaxed);
            THREADS.load(Relaxed)
        }
        n => n,
    }
}

/// Sets the thread count (torch.set_num_threads). The team has one worker per core beyond the
/// caller (or as many as the environment asked for at start-up), so more than that runs as
/// that many.
pub fn set_threads(n: usize) -> crate::Result<()> {
    if n == 0 {
        return Err(crate::Error::Runtime("set_num_threads expects a positive integer".into()));
    }
    THREADS.store(n, Relaxed);
    Ok(())
}

fn team() -> &'static Team {
    static TEAM: OnceLock<&'static Team> = OnceLock::new();
    TEAM.get_or_init(|| {
        let workers = threads().max(cores()) - 1;
        let team: &'static Team = Box::leak(Box::new(Team {
            state: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            next_part: AtomicUsize::new(0),
            parts_done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            parked: (0..workers).map(|_| AtomicBool::new(false)).collect(),
            threads: OnceLock::new(),
            busy: Mutex::new(()),
        }));
        let handles = (0..workers)
            .filter_map(|i| thread::Builder::new().name(format!("ferrograd-cpu-{i}")).spawn(move || team.worker(i)).ok())
            .map(|h| h.thread().clone())
            .collect();
        let _ = team.threads.set(handles);
        team
    })
}

impl Team {
    /// Claims and runs parts of `job` until none are left.
    fn work(&self, job: &Job) {
        loop {
            let part = self.next_part.fetch_add(1, Relaxed);
            if part >= job.parts {
                return;
            }
            // SAFETY: `run` keeps the body alive until every worker has left the loop.
            let body = unsafe { &*job.body };
            if catch_unwind(AssertUnwindSafe(|| body(part))).is_err() {
                self.panicked.store(true, Relaxed);
            }
            self.parts_done.fetch_add(1, Release);
        }
    }

    fn worker(&'static self, index: usize) {
        IN_LOOP.with(|f| f.set(true));
        let mut seen = 0u64;
        let mut idle_since = Instant::now();
        let mut polls = 0u32;
        loop {
            let state = self.state.load(Acquire);
            if state & OPEN != 0 && state >> LOOP_SHIFT != seen && ((state & ACTIVE) as usize) < threads() - 1 {
                // Join (count ourselves in) only while the same loop is still open and the
                // thread count leaves room.
                if self.state.compare_exchange_weak(state, state + 1, Acquire, Relaxed).is_ok() {
                    seen = state >> LOOP_SHIFT;
                    // SAFETY: the job was published before the loop opened, and stays alive
                    // until the caller has seen every joined worker leave.
                    self.work(unsafe { &*self.job.load(Relaxed) });
                    self.state.fetch_sub(1, Release);
                    idle_since = Instant::now();
                }
                continue;
            }
            polls = polls.wrapping_add(1);
            if polls.is_multiple_of(64) {
                if idle_since.elapsed() > POLL {
                    self.parked[index].store(true, SeqCst);
                    let state = self.state.load(SeqCst);
                    if !(state & OPEN != 0 && state >> LOOP_SHIFT != seen) {
                        thread::park();
                    }
                    self.parked[index].store(false, SeqCst);
                    idle_since = Instant::now();
                } else {
                    // Leave the core to anything else runnable while polling.
                    thread::yield_now();
                }
            }
            std::hint::spin_loop();
        }
    }
}

/// Polls `done` until it holds, yielding the core after a short spin.
fn wait_until(done: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !done() {
        spins = spins.wrapping_add(1);
        if spins > 256 {
            thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Runs `body(i)` for every i in 0..parts on the team, the calling thread included; parts are
/// handed out one at a time, so uneven parts balance. Returns when all are done; a panic in a
/// part is raised here once the loop has finished.
pub fn run(parts: usize, body: impl Fn(usize) + Sync) {
    let team = team();
    let nested = IN_LOOP.with(|f| f.get());
    let guard = if parts <= 1 || nested || team.parked.is_empty() || threads() == 1 { None } else { team.busy.try_lock().ok() };
    if guard.is_none() {
        (0..parts).for_each(body);
        return;
    }
    let body: &(dyn Fn(usize) + Sync + '_) = &body;
    // SAFETY: only the lifetime is erased; the loop below is closed and every worker has left
    // it (ACTIVE == 0) before this function returns, so nobody calls `body` afterwards.
    let body: *const (dyn Fn(usize) + Sync + 'static) = unsafe { std::mem::transmute(body) };
    let job = Job { parts, body };
    team.job.store(&job as *const Job as *mut Job, Relaxed);
    team.next_part.store(0, Relaxed);
    team.parts_done.store(0, Relaxed);
    team.panicked.store(false, Relaxed);
    let next_loop = (team.state.load(Relaxed) >> LOOP_SHIFT) + 1;
    team.state.store((next_loop << LOOP_SHIFT) | OPEN, SeqCst);
    if let Some(threads) = team.threads.get() {
        for (parked, t) in team.parked.iter().zip(threads) {
            if parked.load(SeqCst) {
                t.unpark();
            }
        }
    }
    IN_LOOP.with(|f| f.set(true));
    team.work(&job);
    wait_until(|| team.parts_done.load(Acquire) == parts);
    team.state.fetch_and(!OPEN, SeqCst);
    wait_until(|| team.state.load(Acquire) & ACTIVE == 0);
    IN_LOOP.with(|f| f.set(false));
    drop(guard);
    if team.panicked.load(Relaxed) {
        panic!("a CPU kernel panicked on one of ferrograd's threads");
    }
}

/// A pointer handed to the parts that write disjoint pieces of one buffer.
pub(crate) struct SendPtr<T>(pub(crate) *mut T);
// Copy for any T (derive would ask T: Copy).
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}
// SAFETY: every use hands each part a piece of the buffer no other part touches.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SendPtr<T> {}

/// The parts `n` chunks are grouped into: a few per thread, so uneven chunks balance.
fn groups(n: usize) -> usize {
    n.min(4 * threads())
}

/// `body(i, chunk)` for each `chunk`-long piece of `data` (the last may be shorter), on the
/// team.
pub fn chunks_mut<T: Send>(data: &mut [T], chunk: usize, body: impl Fn(usize, &mut [T]) + Sync) {
    zip_chunks_mut(data, chunk, &mut [] as &mut [u8], 0, |i, a, _| body(i, a));
}

/// Like `chunks_mut` over two buffers at once: `body(i, a_i, b_i)` with `a` cut into
/// `a_chunk`-long and `b` into `b_chunk`-long pieces (`b` may be empty, then every `b_i` is).
pub fn zip_chunks_mut<A: Send, B: Send>(a: &mut [A], a_chunk: usize, b: &mut [B], b_chunk: usize, body: impl Fn(usize, &mut [A], &mut [B]) + Sync) {
    if a.is_empty() {
        return;
    }
    let a_chunk = a_chunk.max(1);
    let n = a.len().div_ceil(a_chunk);
    assert!(b.is_empty() || b.len().div_ceil(b_chunk.max(1)) == n, "zip_chunks_mut: buffers of different chunk counts");
    let (a_len, b_len) = (a.len(), b.len());
    let (pa, pb) = (SendPtr(a.as_mut_ptr()), SendPtr(b.as_mut_ptr()));
    let parts = groups(n);
    run(parts, |p| {
        let (pa, pb) = (pa, pb);
        for i in p * n / parts..(p + 1) * n / parts {
            let (a0, a1) = (i * a_chunk, ((i + 1) * a_chunk).min(a_len));
            let (b0, b1) = if b_len == 0 { (0, 0) } else { (i * b_chunk, ((i + 1) * b_chunk).min(b_len)) };
            // SAFETY: chunk i of each buffer is in bounds and handed to this part alone
            // (parts cover disjoint chunk ranges); the buffers outlive `run`.
            let (ca, cb) = unsafe { (std::slice::from_raw_parts_mut(pa.0.add(a0), a1 - a0), std::slice::from_raw_parts_mut(pb.0.add(b0), b1 - b0)) };
            body(i, ca, cb);
        }
    });
}

/// `body` applied to each item on the team, the results in the items' order.
pub fn map<T: Send, R: Send>(items: Vec<T>, body: impl Fn(T) -> R + Sync) -> Vec<R> {
    let slots: Vec<Mutex<(Option<T>, Option<R>)>> = items.into_iter().map(|t| Mutex::new((Some(t), None))).collect();
    run(slots.len(), |i| {
        let item = slots[i].lock().unwrap_or_else(|e| e.into_inner()).0.take();
        if let Some(item) = item {
            let r = body(item);
            slots[i].lock().unwrap_or_else(|e| e.into_inner()).1 = Some(r);
        }
    });
    slots.into_iter().map(|s| s.into_inner().unwrap_or_else(|e| e.into_inner()).1.expect("every part ran")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_once_and_nested_loops_inline() {
        let mut v = vec![0usize; 10_007];
        chunks_mut(&mut v, 100, |i, c| {
            for x in c.iter_mut() {
                *x += i + 1;
            }
            // A nested loop runs on the calling thread and still covers everything.
            let mut inner = vec![0u8; 10];
            chunks_mut(&mut inner, 3, |_, c| c.fill(1));
            assert!(inner.iter().all(|&b| b == 1));
        });
        assert!(v.iter().enumerate().all(|(j, &x)| x == j / 100 + 1));
        let squares = map((0..50).collect(), |i: usize| i * i);
        assert_eq!(squares, (0..50).map(|i| i * i).collect::<Vec<_>>());
    }

    #[test]
    fn a_panicking_part_is_raised_after_the_loop() {
        let hits = AtomicUsize::new(0);
        let r = catch_unwind(AssertUnwindSafe(|| {
            run(8, |i| {
                hits.fetch_add(1, Relaxed);
                assert!(i != 3, "part 3 fails");
            })
        }));
        assert!(r.is_err());
        assert_eq!(hits.load(Relaxed), 8);
        // The team still works afterwards.
        let mut v = vec![0u32; 1000];
        chunks_mut(&mut v, 10, |_, c| c.fill(7));
        assert!(v.iter().all(|&x| x == 7));
    }
}
