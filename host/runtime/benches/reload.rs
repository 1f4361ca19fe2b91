//! Reload latency: from writing a module file into the watched folder to the
//! new version answering calls. `cargo bench -p arbytron-runtime --bench reload`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arbytron_runtime::{Runtime, RuntimeConfig, StrategySet, testing::module, watch};
use arbytron_sdk::Params;

fn run(label: &str, cache: bool, rounds: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("strategies");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = RuntimeConfig { cache_dir: cache.then(|| tmp.path().join("cache")), ..RuntimeConfig::default() };
    let set = Arc::new(StrategySet::new(Runtime::new(cfg).unwrap(), Arc::new(|_| Params::default())));
    let versions = [module("versioned-v1"), module("versioned-v2")];
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
    run("cached compile", true, 40);
    run("cold compile", false, 20);
}
