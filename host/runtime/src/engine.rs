//! The wasmtime engine, its linker, the sandbox every instance runs in, and
//! compilation with an on-disk artifact cache.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{self, StrategyPre};
use crate::cache::ArtifactCache;
use crate::error::LoadError;
use crate::instance::Instance;

/// Sandbox and deadline settings; the defaults are the issue's.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Linear-memory cap per instance.
    pub memory_limit_bytes: usize,
    /// Deadline for one `score` call (hot path).
    pub score_deadline: Duration,
    /// Deadline for `decide-exit`.
    pub exit_deadline: Duration,
    /// Deadline for `init`, `match-markets`, `snapshot`, `restore`.
    pub slow_deadline: Duration,
    /// How often the epoch advances; deadlines are rounded up to whole ticks.
    pub epoch_tick: Duration,
    /// Where compiled modules are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Log lines a strategy may emit per call before the rest are dropped (and counted).
    pub max_log_lines_per_call: u32,
    /// Bytes of a strategy's stderr kept for the error report when it traps.
    pub stderr_capture_bytes: usize,
    /// Seed for the strategy's (deterministic) WASI random source.
    pub random_seed: u64,
    pub limits: bindings::ReturnLimits,
    /// Compile modules on several threads (faster reloads, but competes with hot-path threads).
    pub parallel_compilation: bool,
}

impl Default for RuntimeConfig {
    fn default() -> RuntimeConfig {
        RuntimeConfig {
            memory_limit_bytes: 64 << 20,
            score_deadline: Duration::from_millis(5),
            exit_deadline: Duration::from_millis(50),
            slow_deadline: Duration::from_secs(1),
            epoch_tick: Duration::from_millis(1),
            cache_dir: default_cache_dir(),
            max_log_lines_per_call: 20,
            stderr_capture_bytes: 4096,
            random_seed: 0x00A2_B7E0,
            limits: bindings::ReturnLimits::default(),
            parallel_compilation: false,
        }
    }
}

/// `$XDG_CACHE_HOME/arbytron/modules`, else `$HOME/.cache/arbytron/modules`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("arbytron").join("modules"))
}

impl RuntimeConfig {
    pub(crate) fn ticks(&self, d: Duration) -> u64 {
        // +1: the tick in progress may be almost over when the call starts.
        (d.as_nanos().div_ceil(self.epoch_tick.as_nanos().max(1)) as u64).max(1) + 1
    }
}

/// What each instance's `Store` holds.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: InstanceLimits,
    /// The host's notion of now for this instance (ms); also backs its WASI clocks.
    pub(crate) now: Arc<AtomicI64>,
    pub(crate) name: Arc<str>,
    pub(crate) logs_left: u32,
    pub(crate) logs_dropped: u64,
    pub(crate) stderr: MemoryOutputPipe,
    /// The running call's deadline bookkeeping (see [`deadline_callback`]).
    pub(crate) call: CallClock,
}

/// Deadlines are first checked against wall time (the epoch ticker), but a
/// thread that was merely preempted on a busy machine has not used its
/// budget. So when the wall deadline passes, the call gets a grace period
/// measured in its own thread's CPU time, and traps only if it really spends
/// its budget again (or exceeds a hard wall-clock cap). A runaway loop is still
/// stopped within about twice its deadline; the fast path pays nothing extra.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallClock {
    pub(crate) started: std::time::Instant,
    pub(crate) budget: Duration,
    pub(crate) grace_cpu_start: Option<Duration>,
    pub(crate) tick: Duration,
}

impl CallClock {
    fn new(tick: Duration) -> CallClock {
        CallClock { started: std::time::Instant::now(), budget: Duration::ZERO, grace_cpu_start: None, tick }
    }

    fn wall_cap(&self) -> Duration {
        (self.budget * 10).max(self.budget + Duration::from_millis(250))
    }
}

/// CPU time used by the calling thread.
#[allow(unsafe_code)] // one libc call, see SAFETY below
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid clock id and a valid out-pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::MAX;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The deadline was hit: the error that ends the call.
#[derive(Debug)]
pub(crate) struct DeadlineExceeded {
    pub(crate) cpu: Duration,
    pub(crate) wall: Duration,
}

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "deadline exceeded after {:?} of CPU in the grace period ({:?} wall)", self.cpu, self.wall)
    }
}

impl std::error::Error for DeadlineExceeded {}

fn deadline_callback(mut ctx: wasmtime::StoreContextMut<'_, HostState>) -> wasmtime::Result<wasmtime::UpdateDeadline> {
    let call = &mut ctx.data_mut().call;
    let ticks = |d: Duration| (d.as_nanos().div_ceil(call.tick.as_nanos().max(1)) as u64).max(1);
    let now_cpu = thread_cpu_time();
    match call.grace_cpu_start {
        None => {
            call.grace_cpu_start = Some(now_cpu);
            Ok(wasmtime::UpdateDeadline::Continue(ticks(call.budget)))
        }
        Some(start) => {
            let cpu = now_cpu.saturating_sub(start);
            let wall = call.started.elapsed();
            if cpu >= call.budget || wall >= call.wall_cap() {
                Err(wasmtime::Error::new(DeadlineExceeded { cpu, wall }))
            } else {
                Ok(wasmtime::UpdateDeadline::Continue(1))
            }
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl bindings::arbytron::strategy::types::Host for HostState {}

impl bindings::arbytron::strategy::host::Host for HostState {
    fn log(&mut self, level: bindings::arbytron::strategy::types::LogLevel, message: String) {
        use bindings::arbytron::strategy::types::LogLevel as L;
        if self.logs_left == 0 {
            self.logs_dropped += 1;
            return;
        }
        self.logs_left -= 1;
        let message = arbytron_telemetry::truncate(&message, 1024);
        let strategy = &*self.name;
        match level {
            L::Trace => tracing::trace!(strategy, "{message}"),
            L::Debug => tracing::debug!(strategy, "{message}"),
            L::Info => tracing::info!(strategy, "{message}"),
            L::Warn => tracing::warn!(strategy, "{message}"),
            L::Error => tracing::error!(strategy, "{message}"),
        }
    }

    fn now(&mut self) -> i64 {
        self.now.load(Ordering::Relaxed)
    }
}

/// Wall and monotonic clocks that read the host-supplied time, so a strategy
/// that asks WASI for the time still sees the same value the host passed in
/// (and a replay sees recorded time).
struct HostClock(Arc<AtomicI64>);

impl wasmtime_wasi::HostWallClock for HostClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }
    fn now(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::Relaxed).max(0) as u64)
    }
}

impl wasmtime_wasi::HostMonotonicClock for HostClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }
    fn now(&self) -> u64 {
        (self.0.load(Ordering::Relaxed).max(0) as u64).saturating_mul(1_000_000)
    }
}

/// SplitMix64: a deterministic "random" source, so the same inputs give the same decisions.
struct SeededRandom(u64);

impl rand_core::TryRng for SeededRandom {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        self.try_next_u64().map(|v| (v >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

/// One strategy's resource caps. The memory cap is for the whole instance,
/// summed over every linear memory its modules define (a per-memory cap would
/// let a component with many memories take a multiple of it). Growth past a
/// cap traps, so the call fails and the strategy is quarantined.
pub(crate) struct InstanceLimits {
    memory_cap: usize,
    memory_used: usize,
}

impl InstanceLimits {
    const MAX_TABLE_ELEMENTS: usize = 1 << 20;
    /// Generous for a component (a Rust strategy has a handful), small enough
    /// to bound what a hostile one can allocate in bookkeeping.
    const MAX_INSTANCES: usize = 64;
    const MAX_MEMORIES: usize = 16;
    const MAX_TABLES: usize = 64;

    fn new(memory_cap: usize) -> InstanceLimits {
        InstanceLimits { memory_cap, memory_used: 0 }
    }
}

impl ResourceLimiter for InstanceLimits {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.memory_used.saturating_sub(current).saturating_add(desired);
        if total > self.memory_cap {
            return Err(wasmtime::format_err!(
                "forcing trap when growing memory: {total} bytes in all exceed the {} byte limit",
                self.memory_cap
            ));
        }
        self.memory_used = total;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > Self::MAX_TABLE_ELEMENTS {
            return Err(wasmtime::format_err!("forcing trap when growing table: {desired} elements exceed the limit"));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        Self::MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        Self::MAX_TABLES
    }

    fn memories(&self) -> usize {
        Self::MAX_MEMORIES
    }
}

/// A compiled strategy module, ready to instantiate many times.
#[derive(Clone)]
pub struct Module {
    pub(crate) pre: StrategyPre<HostState>,
    /// SHA-256 of the module bytes, hex.
    pub hash: String,
    /// The `arbytron:strategy` version the module was built against (from its imports).
    pub wit_version: Option<String>,
    /// Every import and export name, for `strategy check`.
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    pub from_cache: bool,
}

impl Module {
    /// The first 12 hex digits of the hash, for logs and metric labels.
    pub fn short_hash(&self) -> &str {
        &self.hash[..12.min(self.hash.len())]
    }
}

struct Inner {
    engine: Engine,
    linker: Linker<HostState>,
    config: RuntimeConfig,
    cache: Option<ArtifactCache>,
    stop_ticker: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// One engine and linker for every strategy; cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Runtime, LoadError> {
        let mut c = Config::new();
        c.wasm_component_model(true)
            .epoch_interruption(true)
            // Concurrency support costs ~0.9 µs on every call; strategies are synchronous.
            .concurrency_support(false)
            .cranelift_opt_level(wasmtime::OptLevel::Speed)
            // Reloads compile off the hot path; on a small machine, leave the
            // other cores to the threads that are calling strategies.
            .parallel_compilation(config.parallel_compilation)
            .max_wasm_stack(1 << 20);
        let engine = Engine::new(&c).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        bindings::Strategy::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let cache = config.cache_dir.as_ref().map(|dir| ArtifactCache::new(dir.clone(), &engine));
        let stop_ticker = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.weak(), config.epoch_tick, stop_ticker.clone());
        Ok(Runtime { inner: Arc::new(Inner { engine, linker, config, cache, stop_ticker }) })
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Compile (or load from the cache) and link a module. Does not run any of its code.
    pub fn compile(&self, bytes: &[u8]) -> Result<Module, LoadError> {
        let hash = module_hash(bytes);
        let engine = &self.inner.engine;
        let cached = self.inner.cache.as_ref().and_then(|c| c.load(&hash));
        let (component, from_cache) = match cached {
            Some(c) => (c, true),
            None => {
                if wasmparser_is_core_module(bytes) {
                    return Err(LoadError::NotAComponent);
                }
                let c = Component::new(engine, bytes).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
                if let Some(cache) = &self.inner.cache {
                    cache.store(&hash, &c);
                }
                (c, false)
            }
        };
        let ty = component.component_type();
        let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
        let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
        let wit_version = imports.iter().chain(exports.iter()).find_map(|n| {
            n.strip_prefix("arbytron:strategy/").and_then(|r| r.split_once('@')).map(|(_, v)| v.to_string())
        });
        let instance_pre = self.inner.linker.instantiate_pre(&component).map_err(|e| link_error(&imports, e))?;
        let pre = StrategyPre::new(instance_pre).map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        Ok(Module { pre, hash, wit_version, imports, exports, from_cache })
    }

    /// A fresh instance in its own sandboxed store.
    pub fn instantiate(&self, module: &Module, name: &str) -> Result<Instance, LoadError> {
        let cfg = &self.inner.config;
        let now = Arc::new(AtomicI64::new(0));
        let stderr = MemoryOutputPipe::new(cfg.stderr_capture_bytes);
        // Nothing the guest could use to reach the outside: no preopened
        // directories, no environment, no arguments, no network, stdin empty,
        // stdout discarded, stderr captured (a panic message lands there).
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .wall_clock(HostClock(now.clone()))
            .monotonic_clock(HostClock(now.clone()))
            .secure_random(SeededRandom(cfg.random_seed))
            .insecure_random(SeededRandom(cfg.random_seed ^ 0x5555))
            .insecure_random_seed(cfg.random_seed as u128)
            .build();
        let limits = InstanceLimits::new(cfg.memory_limit_bytes);
        let state = HostState {
            wasi,
            table: ResourceTable::new(),
            limits,
            now: now.clone(),
            name: Arc::from(name),
            logs_left: cfg.max_log_lines_per_call,
            logs_dropped: 0,
            stderr,
            call: CallClock::new(cfg.epoch_tick),
        };
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_callback(deadline_callback);
        store.set_epoch_deadline(cfg.ticks(cfg.slow_deadline));
        let bindings = module.pre.instantiate(&mut store).map_err(|e| LoadError::Instantiate(format!("{e:#}")))?;
        Ok(Instance::new(store, bindings, module.hash.clone(), cfg.clone()))
    }
}

/// Turn a linker failure into the reason a user can act on.
fn link_error(imports: &[String], e: wasmtime::Error) -> LoadError {
    let msg = format!("{e:#}");
    let foreign = imports
        .iter()
        .find(|i| i.starts_with("arbytron:strategy/") && !i.ends_with(&format!("@{}", arbytron_sdk::WIT_VERSION)));
    match foreign {
        Some(i) => LoadError::WrongWorld(format!(
            "module imports {i}, but this host implements arbytron:strategy@{} ({msg})",
            arbytron_sdk::WIT_VERSION
        )),
        None => LoadError::Link(msg),
    }
}

/// The identity of a module: the SHA-256 of its bytes, in hex. Cheap next to
/// compiling (~1 ms for 250 KB), so reloads check it first.
pub fn module_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A core module starts with the same magic as a component but a different layer field.
fn wasmparser_is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[6..8] == [0, 0]
}

fn spawn_epoch_ticker(engine: wasmtime::EngineWeak, tick: Duration, stop: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new().name("arbytron-epoch".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(tick);
            match engine.upgrade() {
                Some(e) => e.increment_epoch(),
                None => return,
            }
        }
    });
    if let Err(e) = spawned {
        // Without the ticker no deadline fires: strategies would run unbounded.
        tracing::error!(error = %e, "cannot start the epoch ticker; strategy deadlines will not be enforced");
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    #[test]
    fn the_memory_cap_is_for_all_memories_together() {
        const MIB: usize = 1 << 20;
        let mut l = InstanceLimits::new(64 * MIB);
        // Two memories created at 40 MiB each: the second would make 80 MiB.
        assert!(l.memory_growing(0, 40 * MIB, None).unwrap());
        assert!(l.memory_growing(0, 40 * MIB, None).is_err());
        // The first one growing within the cap is fine, past it is not.
        assert!(l.memory_growing(40 * MIB, 64 * MIB, None).unwrap());
        assert!(l.memory_growing(64 * MIB, 64 * MIB + 65_536, None).is_err());
        assert!(l.table_growing(0, 1 << 20, None).unwrap());
        assert!(l.table_growing(0, (1 << 20) + 1, None).is_err());
    }
}
