//! Helpers for tests across the workspace: where `scripts/build-wasm.sh` put the modules.

use std::path::PathBuf;

/// `$ARBYTRON_WASM_DIR`, else `<target dir>/arbytron-wasm`, found from the
/// running test binary's path (`<target>/<profile>/deps/<binary>`).
pub fn wasm_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ARBYTRON_WASM_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let target = exe.ancestors().nth(3).map(PathBuf::from).unwrap_or_default();
    target.join("arbytron-wasm")
}

/// The path of a built module; panics with the command to build it if missing.
pub fn module_path(name: &str) -> PathBuf {
    let path = wasm_dir().join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: build the strategy modules first with scripts/build-wasm.sh",
        path.display()
    );
    path
}

/// The bytes of a built module (see [`module_path`]).
pub fn module(name: &str) -> Vec<u8> {
    let path = module_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
