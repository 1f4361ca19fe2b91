use arbytron_sdk::sizing::{self, Limits};
use arbytron_sdk::wire::{LegHeader, LegsBuf};
use arbytron_sdk::{Candidate, FeeSchedule, Level, Money, Price, Qty, Side, Venue};
fn header(outcome: u32, market: u32, venue: Venue, side: Side, fee: FeeSchedule) -> LegHeader {
    LegHeader {
        outcome,
        market,
        venue,
        side,
        fee,
        tick: Price::from_micros_const(10_000),
        min_qty: Qty::from_hundredths(1),
        fixed_cost: Money::ZERO,
        updated_at: 0,
    }
}
fn ladder(first: i64, step: i64, n: usize, qty: i64) -> Vec<Level> {
    (0..n as i64).map(|k| Level::new(Price::from_micros_const(first + k * step), Qty::from_contracts(qty))).collect()
}
fn main() {
    let mut buf = LegsBuf::default();
    buf.push_book(
        &header(0, 1, Venue::Kalshi, Side::Yes, FeeSchedule::kalshi("KXFED", "quadratic", "1").unwrap()),
        ladder(440_000, 5_000, 10, 25),
        10,
    );
    buf.push_book(
        &header(1, 2, Venue::PolymarketClob, Side::No, FeeSchedule::Polymarket { rate_ppm: 40_000, exponent: 1 }),
        ladder(520_000, 4_000, 10, 30),
        10,
    );
    let n: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(1_000_000);
    let mut acc = 0i64;
    let t = std::time::Instant::now();
    for _ in 0..n {
        let cand = Candidate::new(1, 0, 30 * 86_400_000, std::hint::black_box(&buf.legs), &buf.data).unwrap();
        acc += sizing::best_opportunity(&cand, &Limits::default()).map_or(0, |o| o.profit.micros());
    }
    eprintln!("{} ns/call ({acc})", t.elapsed().as_nanos() / n as u128);
}
