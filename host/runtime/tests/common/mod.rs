//! Shared helpers: where the built wasm modules are, and a runtime in a temp dir.
#![allow(dead_code)]

use std::sync::Arc;

use arbytron_runtime::{Runtime, RuntimeConfig, StrategySet};
use arbytron_sdk::Params;

pub use arbytron_runtime::testing::module;

pub fn runtime(cache: &tempfile::TempDir) -> Runtime {
    Runtime::new(RuntimeConfig { cache_dir: Some(cache.path().join("cache")), ..RuntimeConfig::default() })
        .expect("runtime")
}

pub fn set(cache: &tempfile::TempDir) -> Arc<StrategySet> {
    Arc::new(StrategySet::new(runtime(cache), Arc::new(|_| Params::default())))
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}
