//! Runs Arbytron strategies as sandboxed WebAssembly components.
//!
//! - One wasmtime [`Engine`](wasmtime::Engine) (component model, epoch
//!   interruption, no async concurrency support: it would triple the cost of
//!   every call) and one linker for all strategies.
//! - Each instance has its own store with a memory cap and per-call deadlines;
//!   its WASI is only what Rust's std needs: no files, sockets, environment or
//!   inherited stdio, and clocks and randomness that are deterministic and
//!   host-supplied, so recorded feeds replay exactly.
//! - [`StrategySet`] hot-reloads modules with one atomic swap and quarantines a
//!   strategy that traps, times out, exceeds memory or returns garbage, while
//!   the host and the other strategies carry on.

mod bindings;
mod cache;
mod check;
mod engine;
mod error;
mod instance;
pub mod metrics;
mod set;
pub mod testing;
mod watch;

pub use bindings::ReturnLimits;
pub use check::{CheckReport, check_module, synthetic_candidate};
pub use engine::{Module, Runtime, RuntimeConfig, default_cache_dir, module_hash};
pub use error::{CallError, LoadError, TrapKind};
pub use instance::{Func, Instance};
pub use set::{Answer, Live, LoadListener, LoadOutcome, LoadRecord, ParamsFn, Slot, SlotStatus, StrategySet};
pub use watch::{WatchHandle, watch};
