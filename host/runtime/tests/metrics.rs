//! The runtime's metrics as `/metrics` renders them: calls, latency, reloads by
//! result (with the failing step), and the live version.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

mod common;

use arbytron_runtime::{LoadOutcome, synthetic_candidate};
use common::{module, now_ms};

/// The value of the sample line starting with `prefix` (name and labels).
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

#[test]
fn calls_latency_reloads_and_the_live_version_are_exported() {
    let tmp = tempfile::tempdir().unwrap();
    let set = common::set(&tmp);
    let records = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let r = records.clone();
    set.on_load(Box::new(move |rec| r.lock().unwrap().push(rec.clone())));
    let path = tmp.path().join("metered.wasm");
    std::fs::write(&path, module("versioned-v1")).unwrap();
    let LoadOutcome::Live { name, hash, .. } = set.load_file(&path).unwrap() else { panic!("not live") };
    let slot = set.slot("metered").expect("the slot is keyed by file name");
    for _ in 0..3 {
        let mut legs = synthetic_candidate(now_ms());
        slot.score(1, now_ms(), now_ms() + 1, &mut legs).unwrap();
    }
    // A broken file: the reload fails at its first step and is counted with it.
    std::fs::write(&path, b"\0asm garbage").unwrap();
    let err = set.load_file(&path).unwrap_err();

    // The same two attempts reach a load listener (the host's store history).
    let records = records.lock().unwrap().clone();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(
        (records[0].result, records[0].version.as_str(), records[0].hash.as_str()),
        ("ok", "1.0.0", hash.as_str())
    );
    assert_eq!(records[1].result, err.label());
    assert_eq!(records[1].reason, err.to_string());
    assert_eq!(records[1].name, name, "named after the version still live");

    let text = arbytron_telemetry::render_metrics();
    let calls = format!(r#"arbytron_strategy_calls_total{{fn="score",strategy="{name}"}}"#);
    assert!(sample(&text, &calls).unwrap_or(0.0) >= 3.0, "score calls counted:\n{text}");
    let count = format!(r#"arbytron_strategy_call_seconds_count{{fn="score",strategy="{name}"}}"#);
    assert!(sample(&text, &count).unwrap_or(0.0) >= 3.0, "score latency observed");
    let ok = format!(r#"arbytron_strategy_reloads_total{{result="ok",strategy="{name}"}}"#);
    assert_eq!(sample(&text, &ok), Some(1.0));
    let failed = format!(r#"arbytron_strategy_reloads_total{{result="{}",strategy="{name}"}}"#, err.label());
    assert_eq!(sample(&text, &failed), Some(1.0), "the failed reload, by step:\n{text}");
    let info = format!(r#"arbytron_strategy_info{{hash="{}",strategy="{name}",version="1.0.0"}}"#, &hash[..12]);
    assert_eq!(sample(&text, &info), Some(1.0), "the live version (still v1 after the failure)");
}
