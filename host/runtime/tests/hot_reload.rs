//! Hot reload under load: the module file is replaced 20 times while a thread
//! calls `score` continuously. No call fails, every call is answered by exactly
//! one version, the version changes each time, and state carries over.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arbytron_runtime::{LoadOutcome, watch};
use common::{module, now_ms};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn twenty_reloads_under_load_lose_no_call() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("strategies");
    std::fs::create_dir_all(&dir).unwrap();
    let versions = [module("versioned-v1"), module("versioned-v2")];
    let file = dir.join("versioned.wasm");
    std::fs::write(&file, &versions[0]).unwrap();

    let set = common::set(&tmp);
    let loaded = set.load_dir(&dir).unwrap();
    assert!(matches!(loaded[0].1, Ok(LoadOutcome::Live { .. })));
    let _watch = watch(set.clone(), &dir, Duration::from_millis(20)).unwrap();
    let slot = set.slot("versioned").unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let caller = {
        let (slot, stop) = (slot.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut legs = arbytron_runtime::synthetic_candidate(now_ms());
            let mut calls = Vec::new(); // (at, version_id, n, counter, latency)
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let a = slot.score(42, now_ms(), now_ms() + 86_400_000, &mut legs).expect("no call fails");
                let latency = t.elapsed();
                let o = a.value.expect("answered");
                calls.push((t, a.version_id, o.return_ppm, o.profit.micros(), latency));
            }
            calls
        })
    };

    std::thread::sleep(Duration::from_millis(100));
    let mut reload_times = Vec::new();
    let mut windows = Vec::new();
    let mut last_version = slot.live().unwrap().version_id;
    for i in 1..=20 {
        let tmp_file = dir.join(".incoming.tmp");
        std::fs::write(&tmp_file, &versions[i % 2]).unwrap();
        let t = Instant::now();
        std::fs::rename(&tmp_file, &file).unwrap();
        loop {
            let v = slot.live().map(|l| l.version_id).unwrap_or(last_version);
            if v != last_version {
                last_version = v;
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(10), "reload {i} did not go live");
            std::thread::sleep(Duration::from_micros(200));
        }
        reload_times.push(t.elapsed());
        windows.push((t, Instant::now()));
        std::thread::sleep(Duration::from_millis(30));
    }
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let calls = caller.join().expect("caller never failed");

    // Every call came from exactly one version, versions only move forward,
    // each version id maps to one module, and the ids alternate between them.
    let mut seen = Vec::new();
    for w in calls.windows(2) {
        assert!(w[1].1 >= w[0].1, "a call was answered by an older version after a newer one");
    }
    for c in &calls {
        if seen.last().map(|s: &(u64, i64)| s.0) != Some(c.1) {
            seen.push((c.1, c.2));
        }
    }
    assert_eq!(seen.len(), 21, "the caller saw all 21 versions: {seen:?}");
    for (i, (_, n)) in seen.iter().enumerate() {
        assert_eq!(*n, if i % 2 == 0 { 1 } else { 2 }, "version {i} answered as module v{n}");
    }
    // State (a call counter) carried over every reload: strictly increasing.
    for w in calls.windows(2) {
        assert_eq!(w[1].3, w[0].3 + 1, "counter continues across versions");
    }

    let in_window = |t: Instant| windows.iter().any(|(a, b)| t >= *a && t <= *b);
    let mut during: Vec<Duration> = calls.iter().filter(|c| in_window(c.0)).map(|c| c.4).collect();
    let mut steady: Vec<Duration> = calls.iter().filter(|c| !in_window(c.0)).map(|c| c.4).collect();
    during.sort();
    steady.sort();
    reload_times.sort();
    eprintln!(
        "calls: {} ; p99 latency steady {:?} (n={}), during reloads {:?} (n={}) ; reload write->live p50 {:?} p95 {:?} max {:?}",
        calls.len(),
        percentile(&steady, 0.99),
        steady.len(),
        percentile(&during, 0.99),
        during.len(),
        percentile(&reload_times, 0.5),
        percentile(&reload_times, 0.95),
        reload_times.last().unwrap()
    );
}

#[test]
fn deleting_unloads_garbage_keeps_the_old_version_and_a_new_file_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("strategies");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("v.wasm");
    std::fs::write(&file, module("versioned-v1")).unwrap();
    let set = common::set(&tmp);
    set.load_dir(&dir).unwrap();
    let _watch = watch(set.clone(), &dir, Duration::from_millis(20)).unwrap();
    let slot = set.slot("v").unwrap();
    let v1 = slot.live().unwrap().version_id;

    std::fs::write(&file, b"\0asm garbage").unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(slot.live().unwrap().version_id, v1, "a broken file leaves the old version live");
    let mut legs = arbytron_runtime::synthetic_candidate(now_ms());
    assert_eq!(slot.score(1, now_ms(), now_ms() + 1, &mut legs).unwrap().value.unwrap().return_ppm, 1);

    std::fs::remove_file(&file).unwrap();
    let t = Instant::now();
    while set.slot("v").is_some() {
        assert!(t.elapsed() < Duration::from_secs(10), "never unloaded");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(slot.live().is_none());

    // A module dropped into the folder while it is watched goes live.
    std::fs::write(dir.join("added.wasm"), module("versioned-v2")).unwrap();
    let t = Instant::now();
    let added = loop {
        if let Some(s) = set.slot("added").filter(|s| s.live().is_some()) {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "a new module never went live");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(added.score(1, now_ms(), now_ms() + 1, &mut legs).unwrap().value.unwrap().return_ppm, 2);
}
