//! Validate a module without the service: what `arbytron strategy check` runs.

use std::time::Instant;

use arbytron_sdk::wire::{LegHeader, LegsBuf, Level};
use arbytron_sdk::{Capabilities, FeeSchedule, HeldLeg, Money, Params, Position, Price, Qty, Side, TimestampMs, Venue};

use crate::engine::Runtime;
use crate::error::LoadError;

/// What a module is and what it did when exercised.
#[derive(Debug, Clone)]
pub struct CheckReport {
    pub name: String,
    pub version: String,
    pub wit_version: Option<String>,
    pub capabilities: Capabilities,
    pub hash: String,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    pub compile_ms: u128,
}

/// Load a module the way the host would, then exercise every export it
/// claims on synthetic inputs (a two-venue candidate, a held position). Any
/// trap, timeout, memory overrun, invalid return or init error is the reason
/// it fails.
pub fn check_module(runtime: &Runtime, bytes: &[u8], params: &Params) -> Result<CheckReport, LoadError> {
    let started = Instant::now();
    let module = runtime.compile(bytes)?;
    let compile_ms = started.elapsed().as_millis();
    let mut instance = runtime.instantiate(&module, "check")?;
    let info = instance.describe().map_err(|e| LoadError::Describe(e.to_string()))?;
    let now: TimestampMs = 1_767_225_600_000; // 2026-01-01, fixed so checks are reproducible
    instance.init(params, now).map_err(|e| LoadError::Init(e.to_string()))?;
    let st = |what: &str, e: crate::CallError| LoadError::SelfTest(format!("{what}: {e}"));

    let mut empty = LegsBuf::default();
    instance.score(0, now, now + 86_400_000, &mut empty).map_err(|e| st("score on an empty candidate", e))?;
    let mut legs = synthetic_candidate(now);
    instance.score(1, now, now + 30 * 86_400_000, &mut legs).map_err(|e| st("score on a two-venue candidate", e))?;
    if info.capabilities.match_markets {
        instance.match_markets(&[], now).map_err(|e| st("match-markets", e))?;
    }
    if info.capabilities.decide_exit {
        let position = Position {
            bundle: 1,
            link: 1,
            quantity: Qty::from_contracts(10),
            legs: vec![
                HeldLeg { market: 1, side: Side::Yes, quantity: Qty::from_contracts(10), cost: Money::from_dollars(4) },
                HeldLeg { market: 2, side: Side::No, quantity: Qty::from_contracts(10), cost: Money::from_dollars(5) },
            ],
            cost: Money::from_dollars(9),
            opened_at: now - 86_400_000,
            resolves_at: now + 30 * 86_400_000,
        };
        instance.decide_exit(&position, now, &legs).map_err(|e| st("decide-exit", e))?;
    }
    if info.capabilities.snapshot {
        let state = instance.snapshot(now).map_err(|e| st("snapshot", e))?;
        instance.restore(&state, now).map_err(|e| st("restore of its own snapshot", e))?;
    }
    Ok(CheckReport {
        name: info.name,
        version: info.version,
        wit_version: module.wit_version.clone(),
        capabilities: info.capabilities,
        hash: module.hash.clone(),
        imports: module.imports.clone(),
        exports: module.exports.clone(),
        compile_ms,
    })
}

/// YES on Kalshi at 0.40-0.43 and NO on Polymarket at 0.55-0.58, ten levels each.
pub fn synthetic_candidate(now: TimestampMs) -> LegsBuf {
    let mut legs = LegsBuf::default();
    let ladder = |start: i64| {
        (0..10).map(move |i| Level::new(Price::from_micros_const(start + i * 3_000), Qty::from_contracts(50)))
    };
    let kalshi = LegHeader {
        outcome: 0,
        market: 1,
        venue: Venue::Kalshi,
        side: Side::Yes,
        fee: FeeSchedule::Kalshi { taker_ppm: 70_000, maker_ppm: 0, multiplier_ppm: 1_000_000 },
        tick: Price::from_micros_const(10_000),
        min_qty: Qty::from_hundredths(1),
        fixed_cost: Money::ZERO,
        updated_at: now,
    };
    legs.push_book(&kalshi, ladder(400_000), 10);
    let poly = LegHeader {
        outcome: 1,
        market: 2,
        venue: Venue::PolymarketClob,
        side: Side::No,
        fee: FeeSchedule::Polymarket { rate_ppm: 40_000, exponent: 1 },
        tick: Price::from_micros_const(1_000),
        min_qty: Qty::from_contracts(5),
        ..kalshi
    };
    legs.push_book(&poly, ladder(550_000), 10);
    legs
}
