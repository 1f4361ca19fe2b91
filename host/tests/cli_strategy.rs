//! `arbytron strategy check` and `arbytron strategy new`, run as a user would.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::process::Command;

use arbytron_runtime::testing::module_path;

fn arbytron() -> Command {
    Command::new(env!("CARGO_BIN_EXE_arbytron"))
}

#[test]
fn check_accepts_the_examples() {
    for name in ["cross-venue-binary", "multi-outcome-bundle"] {
        let out = arbytron().args(["strategy", "check"]).arg(module_path(name)).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {}{}", stdout, String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(&format!("name:        {name}")), "{stdout}");
        assert!(stdout.contains("wit:         arbytron:strategy@0.1.0"), "{stdout}");
        assert!(stdout.contains("implements:  ") && stdout.contains("score"), "{stdout}");
    }
}

#[test]
fn check_rejects_each_bad_module_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let cases: Vec<(std::path::PathBuf, &str)> = vec![
        (module_path("hostile-loop-score"), "deadline"),
        (module_path("hostile-memory-bomb"), "memory cap"),
        (module_path("hostile-panic-score"), "strategy bug: unexpected candidate"),
        (module_path("hostile-stack-overflow"), "stack overflow"),
        (module_path("hostile-failing-init"), "parameter `edge` is required"),
        (module_path("hostile-looping-init"), "deadline"),
        (module_path("hostile-huge-return"), "10000 orders"),
        (module_path("hostile-read-file"), "file read failed"),
        (module_path("hostile-open-socket"), "refused"),
        (module_path("wrong-world"), "arbytron:strategy"),
        (core, "not a WebAssembly component"),
        (dir.path().join("missing.wasm"), "cannot read"),
    ];
    for (path, reason) in cases {
        let out = arbytron().args(["strategy", "check"]).arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{} should fail the check", path.display());
        assert!(stderr.contains(reason), "{}: expected {reason:?} in: {stderr}", path.display());
    }
}

#[test]
fn new_scaffolds_a_crate_that_builds_and_passes_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let crate_dir = dir.path().join("my-edge");
    let out = arbytron().args(["strategy", "new", "my-edge", "--dir"]).arg(&crate_dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Refuses to overwrite.
    let again = arbytron().args(["strategy", "new", "my-edge", "--dir"]).arg(&crate_dir).output().unwrap();
    assert!(!again.status.success());

    let target = arbytron_runtime::testing::wasm_dir().join("../scaffold-target");
    let build = Command::new(env!("CARGO"))
        .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"])
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(build.status.success(), "scaffold build failed: {}", String::from_utf8_lossy(&build.stderr));
    let wasm = target.join("wasm32-wasip2/release/my_edge.wasm");
    let out = arbytron().args(["strategy", "check"]).arg(&wasm).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("name:        my-edge"), "{stdout}");
}

#[test]
fn sim_prints_one_line_per_endpoint_and_accepts_a_test_key() {
    use std::io::{BufRead, BufReader};
    let key = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo/kalshi-sim.pub.pem");
    let mut child = arbytron()
        .args(["sim", "--seed", "3", "--scenario", "none", "--kalshi-key-id", "my-test-key", "--kalshi-public-key"])
        .arg(&key)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for line in out.lines() {
        let line = line.unwrap();
        if line == "ready" {
            break;
        }
        lines.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    let names: Vec<&str> = lines.iter().filter_map(|l| l.split_once(' ').map(|(n, _)| n)).collect();
    for expected in ["kalshi-rest", "kalshi-ws", "polymarket-gamma", "polymarket-clob", "polymarket-ws"] {
        assert!(names.contains(&expected), "{expected} missing from {lines:?}");
    }
    let rest = lines.iter().find(|l| l.starts_with("kalshi-rest ")).unwrap();
    assert!(rest.ends_with("/trade-api/v2") && rest.contains("http://127.0.0.1:"), "{rest}");
    let ws = lines.iter().find(|l| l.starts_with("kalshi-ws ")).unwrap();
    assert!(ws.ends_with("/trade-api/ws/v2") && ws.contains("ws://127.0.0.1:"), "{ws}");
}
