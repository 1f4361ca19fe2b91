//! Hostile modules are rejected at load or quarantined at call, while a
//! well-behaved strategy beside them keeps answering throughout.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arbytron_runtime::{CallError, LoadError, LoadOutcome, SlotStatus, TrapKind, synthetic_candidate};
use common::{module, now_ms};

#[test]
fn hostile_modules_are_contained_and_a_good_one_keeps_answering() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("strategies");
    std::fs::create_dir_all(&dir).unwrap();
    let set = common::set(&tmp);

    std::fs::write(dir.join("good.wasm"), module("versioned-v1")).unwrap();
    assert!(matches!(set.load_file(&dir.join("good.wasm")), Ok(LoadOutcome::Live { .. })));
    let good = set.slot("good").unwrap();

    // The good strategy is called continuously from another thread the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let caller = {
        let (good, stop, answered) = (good.clone(), stop.clone(), answered.clone());
        std::thread::spawn(move || {
            let mut legs = synthetic_candidate(now_ms());
            while !stop.load(Ordering::Relaxed) {
                let a = good.score(9, now_ms(), now_ms() + 86_400_000, &mut legs).expect("good strategy answers");
                let opp = a.value.expect("good strategy returns an opportunity on real candidates");
                assert_eq!(opp.return_ppm, 1);
                answered.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    // Rejected at load, with the reason.
    let load = |name: &str, bytes: Vec<u8>| {
        let path = dir.join(format!("{name}.wasm"));
        std::fs::write(&path, bytes).unwrap();
        set.load_file(&path)
    };
    let err = load("failing-init", module("hostile-failing-init")).unwrap_err();
    assert!(matches!(&err, LoadError::Init(m) if m.contains("parameter `edge` is required")), "{err}");
    let err = load("looping-init", module("hostile-looping-init")).unwrap_err();
    assert!(matches!(&err, LoadError::Init(m) if m.contains("timeout") && m.contains("deadline")), "{err}");
    let err = load("read-file", module("hostile-read-file")).unwrap_err();
    assert!(matches!(&err, LoadError::Init(m) if m.contains("file read failed")), "{err}");
    let err = load("open-socket", module("hostile-open-socket")).unwrap_err();
    assert!(matches!(&err, LoadError::Init(m) if m.contains("refused")), "{err}");
    let err = load("wrong-world", module("wrong-world")).unwrap_err();
    assert!(matches!(&err, LoadError::WrongWorld(_) | LoadError::Link(_)), "{err}");
    // A core module (not a component), and garbage.
    let err = load("core", b"\0asm\x01\0\0\0".to_vec()).unwrap_err();
    assert_eq!(err, LoadError::NotAComponent);
    let err = load("garbage", b"definitely not wasm".to_vec()).unwrap_err();
    assert!(matches!(err, LoadError::Compile(_)), "{err}");
    for name in ["failing-init", "looping-init", "read-file", "open-socket", "wrong-world", "core", "garbage"] {
        let slot = set.slot(name).expect("failed loads are listed");
        assert!(slot.live().is_none());
        assert!(matches!(slot.status(), SlotStatus::Failed { .. }));
    }

    // Pass the self-test, then misbehave on a real candidate: quarantined at call.
    type Expect = fn(&CallError) -> bool;
    let cases: [(&str, Expect); 5] = [
        ("hostile-loop-score", |e| matches!(e, CallError::Trap { kind: TrapKind::Timeout, .. })),
        ("hostile-memory-bomb", |e| matches!(e, CallError::Trap { kind: TrapKind::MemoryLimit, .. })),
        (
            "hostile-panic-score",
            |e| matches!(e, CallError::Trap { kind: TrapKind::Panic, message, .. } if message.contains("strategy bug: unexpected candidate")),
        ),
        ("hostile-stack-overflow", |e| {
            matches!(e, CallError::Trap { kind: TrapKind::StackOverflow, .. })
                || matches!(e, CallError::Trap { kind: TrapKind::MemoryFault, message, .. } if message.contains("stack overflow"))
        }),
        (
            "hostile-huge-return",
            |e| matches!(e, CallError::Invalid { message, .. } if message.contains("10000 orders")),
        ),
    ];
    for (name, expected) in cases {
        assert!(matches!(load(name, module(name)), Ok(LoadOutcome::Live { .. })), "{name} passes the self-test");
        let slot = set.slot(name).unwrap();
        let mut legs = synthetic_candidate(now_ms());
        let err = slot.score(3, now_ms(), now_ms() + 1000, &mut legs).unwrap_err();
        assert!(expected(&err), "{name}: unexpected error {err:?}");
        assert!(matches!(slot.status(), SlotStatus::Quarantined { .. }), "{name} is quarantined");
        assert!(slot.live().is_none());
        let again = slot.score(3, now_ms(), now_ms() + 1000, &mut legs).unwrap_err();
        assert!(matches!(again, CallError::Unavailable(ref m) if m.contains("quarantined")), "{again:?}");
        assert_eq!(
            arbytron_runtime::metrics::QUARANTINED.with_label_values(&["hostile"]).get(),
            1,
            "quarantine is visible in metrics"
        );
    }

    let before = answered.load(Ordering::Relaxed);
    std::thread::sleep(std::time::Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    caller.join().expect("the good strategy never failed");
    assert!(answered.load(Ordering::Relaxed) > before, "still answering at the end");
    assert!(matches!(good.status(), SlotStatus::Live { .. }));
}

#[test]
fn a_quarantined_strategy_comes_back_with_a_fixed_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("strat.wasm");
    let set = common::set(&tmp);
    std::fs::write(&path, module("hostile-panic-score")).unwrap();
    set.load_file(&path).unwrap();
    let slot = set.slot("strat").unwrap();
    let mut legs = synthetic_candidate(now_ms());
    assert!(slot.score(1, now_ms(), now_ms() + 1, &mut legs).is_err());
    assert!(matches!(slot.status(), SlotStatus::Quarantined { .. }));

    std::fs::write(&path, module("versioned-v2")).unwrap();
    assert!(matches!(set.load_file(&path), Ok(LoadOutcome::Live { .. })));
    let a = slot.score(1, now_ms(), now_ms() + 1, &mut legs).unwrap();
    assert_eq!(a.value.unwrap().return_ppm, 2);
}

#[test]
fn cached_compilation_is_reused_and_a_corrupt_cache_is_recompiled() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = common::runtime(&tmp);
    let bytes = module("versioned-v1");
    let first = rt.compile(&bytes).unwrap();
    assert!(!first.from_cache);
    let second = rt.compile(&bytes).unwrap();
    assert!(second.from_cache, "second compile comes from the cache");
    assert_eq!(first.wit_version.as_deref(), Some("0.1.0"));
    for entry in std::fs::read_dir(tmp.path().join("cache")).unwrap() {
        std::fs::write(entry.unwrap().path(), b"corrupt").unwrap();
    }
    let third = rt.compile(&bytes).unwrap();
    assert!(!third.from_cache, "a corrupt entry is dropped and the module recompiled");
    let mut inst = rt.instantiate(&third, "x").unwrap();
    assert_eq!(inst.describe().unwrap().version, "1.0.0");
}

#[test]
fn reloading_identical_bytes_neither_recompiles_nor_swaps() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("strat.wasm");
    let set = common::set(&tmp);
    std::fs::write(&path, module("versioned-v1")).unwrap();
    assert!(matches!(set.load_file(&path), Ok(LoadOutcome::Live { .. })));
    let slot = set.slot("strat").unwrap();
    let version = slot.live().unwrap().version_id;
    // Emptying the cache makes any compile visible: it would store the artifact again.
    let cache = tmp.path().join("cache");
    std::fs::remove_dir_all(&cache).unwrap();
    std::fs::create_dir_all(&cache).unwrap();

    assert!(matches!(set.load_file(&path), Ok(LoadOutcome::Unchanged)));
    assert_eq!(slot.live().unwrap().version_id, version, "the live version stays");
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0, "identical bytes were not compiled again");
}
