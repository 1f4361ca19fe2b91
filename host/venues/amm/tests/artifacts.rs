//! The committed ABI and bytecode in `contracts/out/` are exactly what the sources compile to
//! with the pinned solcjs (`scripts/build-contracts.sh`); rebuild with that script after
//! editing `contracts/src/`.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn committed_artifacts_match_a_fresh_compile() {
    let root = repo_root();
    let solcjs = root.join("node_modules/.bin/solcjs");
    assert!(solcjs.exists(), "solcjs is not installed: run `npm ci` in {}", root.display());
    let out = std::env::temp_dir().join(format!("arbytron-contracts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let status = Command::new("bash")
        .arg(root.join("scripts/build-contracts.sh"))
        .arg(&out)
        .status()
        .expect("run scripts/build-contracts.sh");
    assert!(status.success(), "scripts/build-contracts.sh failed");

    let committed = root.join("contracts/out");
    assert_eq!(files(&committed), files(&out), "artifact set differs: run scripts/build-contracts.sh");
    for name in files(&committed) {
        let a = std::fs::read(committed.join(&name)).unwrap();
        let b = std::fs::read(out.join(&name)).unwrap();
        assert!(a == b, "contracts/out/{name} differs from a fresh compile: run scripts/build-contracts.sh");
    }
    assert!(files(&committed).iter().any(|f| f == "FixedProductMarketMaker.bin"));
    let _ = std::fs::remove_dir_all(&out);
}
