//! Strategy call cost: the same logic in WASM and native, plus instantiation
//! and compilation. `cargo bench -p arbytron-runtime --bench strategy`
//! (build the modules first: scripts/build-wasm.sh).
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::hint::black_box;

use arbytron_runtime::{Runtime, RuntimeConfig, synthetic_candidate, testing::module};
use arbytron_sdk::{Candidate, Params, Strategy};
use criterion::{Criterion, criterion_group, criterion_main};

const NOW: i64 = 1_767_225_600_000;

fn bench(c: &mut Criterion) {
    let rt = Runtime::new(RuntimeConfig { cache_dir: None, ..RuntimeConfig::default() }).unwrap();
    let mut legs = synthetic_candidate(NOW);

    // The example strategy: WASM vs the same crate compiled natively.
    let bytes = module("cross-venue-binary");
    let m = rt.compile(&bytes).unwrap();
    let mut inst = rt.instantiate(&m, "bench").unwrap();
    inst.describe().unwrap();
    inst.init(&Params::default(), NOW).unwrap();
    let found = inst.score(1, NOW, NOW + 30 * 86_400_000, &mut legs).unwrap();
    assert!(found.is_some(), "the synthetic candidate is an opportunity (so both sides do the full work)");
    c.bench_function("score/wasm/cross-venue-binary (2 legs x 10 levels)", |b| {
        b.iter(|| black_box(inst.score(1, NOW, NOW + 30 * 86_400_000, &mut legs).unwrap()))
    });
    arbytron_sdk::strategy::native::set_quiet(true);
    let mut native = cross_venue_binary::CrossVenueBinary::init(&Params::default()).unwrap();
    c.bench_function("score/native/cross-venue-binary (2 legs x 10 levels)", |b| {
        b.iter(|| {
            let cand = Candidate::new(1, NOW, NOW + 30 * 86_400_000, &legs.legs, &legs.data).unwrap();
            black_box(native.score(&cand))
        })
    });

    // The boundary alone: a strategy that answers at once.
    let m2 = rt.compile(&module("versioned-v1")).unwrap();
    let mut trivial = rt.instantiate(&m2, "bench").unwrap();
    trivial.describe().unwrap();
    trivial.init(&Params::default(), NOW).unwrap();
    c.bench_function("score/wasm/boundary only (2 legs x 10 levels in, opportunity out)", |b| {
        b.iter(|| black_box(trivial.score(1, NOW, NOW + 1, &mut legs).unwrap()))
    });
    let mut empty = arbytron_sdk::wire::LegsBuf::default();
    c.bench_function("score/wasm/boundary only (empty candidate, none out)", |b| {
        b.iter(|| black_box(trivial.score(0, NOW, NOW + 1, &mut empty).unwrap()))
    });

    c.bench_function("instantiate cross-venue-binary (compiled)", |b| {
        b.iter(|| black_box(rt.instantiate(&m, "bench").unwrap()))
    });
    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    g.bench_function("compile cross-venue-binary (no cache)", |b| b.iter(|| black_box(rt.compile(&bytes).unwrap())));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
