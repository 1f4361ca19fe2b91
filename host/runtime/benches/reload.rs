//! Reload latency: from writing a module file into the watched folder to the
//! new version answering calls. `cargo bench -p arbytron-runtime --bench reload`
//! (`PARALLEL=1`: compile on every core; `MODULE=cross-venue-binary`: cold
//! reloads of that module).
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::sync::Arc;
use std::time::{Duration, Instant};

use arbytron_runtime::{Runtime, RuntimeConfig, StrategySet, testing::module, watch};
use arbytron_sdk::Params;

fn run(label: &str, versions: [Vec<u8>; 2], cache: bool, rounds: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("strategies");
    std::fs::create_dir_all(&dir).unwrap();
    // `PARALLEL=1`: compile on every core (the `strategies.parallel_compilation` setting).
    let parallel = std::env::var("PARALLEL").is_ok_and(|v| v == "1");
    let cfg = RuntimeConfig {
        cache_dir: cache.then(|| tmp.path().join("cache")),
        parallel_compilation: parallel,
        ..RuntimeConfig::default()
    };
    let set = Arc::new(StrategySet::new(Runtime::new(cfg).unwrap(), Arc::new(|_| Params::default())));
    let file = dir.join("s.wasm");
    std::fs::write(&file, &versions[0]).unwrap();
    set.load_dir(&dir).unwrap();
    let _w = watch(set.clone(), &dir, Duration::from_millis(20)).unwrap();
    let slot = set.slot("s").unwrap();
    let mut times = Vec::new();
    for i in 1..=rounds {
        let before = slot.live().unwrap().version_id;
        // Make each module distinct when the cache is off (else it would hit the same hash).
        let mut bytes = versions[i % 2].clone();
        if !cache {
            bytes.extend_from_slice(&[0, 5, 3, b'p', b'a', b'd', i as u8]); // a custom section named "pad"
        }
        let tmpf = dir.join(".next");
        std::fs::write(&tmpf, &bytes).unwrap();
        let t = Instant::now();
        std::fs::rename(&tmpf, &file).unwrap();
        while slot.live().map(|l| l.version_id) == Some(before) {
            std::thread::sleep(Duration::from_micros(200));
            assert!(t.elapsed() < Duration::from_secs(10));
        }
        times.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(60));
    }
    times.sort();
    let p = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "reload {label}: n={} p50 {:?} p95 {:?} max {:?} (file write -> live, watcher debounce 20 ms)",
        times.len(),
        p(0.5),
        p(0.95),
        times.last().unwrap()
    );
}

fn main() {
    // `MODULE=NAME`: cold reloads of that module instead (e.g. an example strategy).
    if let Ok(name) = std::env::var("MODULE") {
        let m = module(&name);
        return run(&format!("cold compile of {name} ({} KB)", m.len() / 1024), [m.clone(), m], false, 10);
    }
    let versions = || [module("versioned-v1"), module("versioned-v2")];
    run("cached compile", versions(), true, 40);
    run("cold compile (versioned, 66 KB)", versions(), false, 20);
}
