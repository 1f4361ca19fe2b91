//! Shared helpers: where the built wasm modules are, and a runtime in a temp dir.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use arbytron_runtime::{Runtime, RuntimeConfig, StrategySet};
use arbytron_sdk::Params;

/// `$ARBYTRON_WASM_DIR`, else `<target dir>/arbytron-wasm` (found from this test binary's path).
pub fn wasm_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ARBYTRON_WASM_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("test binary path");
    // <target>/debug/deps/<test-binary>
    let target = exe.ancestors().nth(3).expect("target dir").to_path_buf();
    target.join("arbytron-wasm")
}

/// The bytes of a module built by scripts/build-wasm.sh; fails loudly if it is missing.
pub fn module(name: &str) -> Vec<u8> {
    let path = wasm_dir().join(format!("{name}.wasm"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}\nbuild the strategy modules first: scripts/build-wasm.sh", path.display()))
}

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
