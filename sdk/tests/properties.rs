//! Properties of the money math, checked on random inputs against
//! independent recomputations (exact rationals in arbitrary precision, the
//! contract's formula written out literally, brute force over every size).
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use arbytron_sdk::amm::{self, ONE};
use arbytron_sdk::book;
use arbytron_sdk::sizing::{self, Limits};
use arbytron_sdk::wide::{Nat, U256};
use arbytron_sdk::wire::{LegHeader, LegsBuf};
use arbytron_sdk::{Candidate, FeeSchedule, Level, Money, Price, Qty, Side, Venue};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

const DAY: i64 = 86_400_000;

fn fee_schedule() -> impl Strategy<Value = FeeSchedule> {
    prop_oneof![
        Just(FeeSchedule::None),
        (prop_oneof![Just(35_000u32), Just(70_000)], prop_oneof![Just(0u32), Just(17_500)], 0u32..=2_000_000)
            .prop_map(|(t, m, k)| FeeSchedule::Kalshi { taker_ppm: t, maker_ppm: m, multiplier_ppm: k }),
        (0u32..=300_000, 0u32..=4).prop_map(|(r, e)| FeeSchedule::Polymarket { rate_ppm: r, exponent: e }),
    ]
}

/// Asks best first: strictly rising prices on a 0.001 grid, 0.01-contract sizes.
fn asks(max_levels: usize, max_hundredths: i64) -> impl Strategy<Value = Vec<Level>> {
    asks_from(0..=0, max_levels, max_hundredths)
}

/// Asks starting above `base` thousandths of a dollar.
fn asks_from(
    base: std::ops::RangeInclusive<i64>,
    max_levels: usize,
    max_hundredths: i64,
) -> impl Strategy<Value = Vec<Level>> {
    (base, prop::collection::vec((1i64..=30, 1i64..=max_hundredths), 1..=max_levels)).prop_map(|(base, v)| {
        let mut price = base * 1_000;
        v.into_iter()
            .filter_map(|(step, q)| {
                price += step * 1_000;
                (price < 1_000_000).then(|| Level::new(Price::from_micros_const(price), Qty::from_hundredths(q)))
            })
            .collect::<Vec<_>>()
    })
}

fn header(
    outcome: u32,
    market: u32,
    venue: Venue,
    side: Side,
    fee: FeeSchedule,
    min_qty: Qty,
    fixed: Money,
) -> LegHeader {
    LegHeader {
        tick: Price::from_micros_const(1_000),
        min_qty,
        fixed_cost: fixed,
        ..LegHeader::new(outcome, market, venue, side, fee)
    }
}

/// Exact fee as a rational `num / den` dollars-in-micro (i.e. micro-dollars = num / den).
fn exact_fee_micros(f: &FeeSchedule, q: Qty, p: Price) -> (Nat, Nat) {
    let v = p.variance_micros2() as u128;
    let q = q.micros() as u128;
    match *f {
        FeeSchedule::None | FeeSchedule::Amm { .. } => (Nat::zero(), Nat::from_u128(1)),
        FeeSchedule::Kalshi { taker_ppm, multiplier_ppm, .. } => {
            // micro-dollars = coef/1e6 * mult/1e6 * q * v/1e12
            let num = Nat::from_u128(taker_ppm as u128).mul_u128(multiplier_ppm as u128).mul_u128(q).mul_u128(v);
            (num, Nat::from_u128(10u128.pow(24)))
        }
        FeeSchedule::Polymarket { rate_ppm, exponent } => {
            let mut num = Nat::from_u128(rate_ppm as u128).mul_u128(q);
            let mut den = Nat::from_u128(1_000_000);
            for _ in 0..exponent {
                num = num.mul_u128(v);
                den = den.mul_u128(10u128.pow(12));
            }
            (num, den)
        }
    }
}

/// A book leg for a test candidate: outcome, venue, side, fee, asks, minimum size.
type BookLeg = (u32, Venue, Side, FeeSchedule, Vec<Level>, Qty);

fn candidate_buf(legs: &[BookLeg]) -> LegsBuf {
    let mut buf = LegsBuf::default();
    for (i, (o, v, s, f, lv, min)) in legs.iter().enumerate() {
        buf.push_book(&header(*o, i as u32, *v, *s, *f, *min, Money::ZERO), lv.iter().copied(), 32);
    }
    buf
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// Fees are never negative, and never below the exact formula (rounding against us).
    #[test]
    fn fees_are_non_negative_and_never_below_exact(f in fee_schedule(), q in 0i64..=10_000_000_000, p in 0i64..=1_000_000) {
        let (q, p) = (Qty::from_micros(q), Price::from_micros(p).unwrap());
        let t = f.taker_fee(q, p);
        prop_assert!(!t.is_negative());
        prop_assert!(!f.maker_fee(q, p).is_negative());
        prop_assert!(!f.charged_fill_fee(q, p, false).is_negative());
        let (num, den) = exact_fee_micros(&f, q, p);
        // t (micro-dollars) >= num / den
        prop_assert!(den.mul_u128(t.micros() as u128) >= num, "{f:?} {q} @ {p}: {t}");
        // The charged fee is within one venue unit below the estimate.
        let charged = f.charged_fill_fee(q, p, false);
        prop_assert!(charged <= t);
    }

    /// Buying more from a book never costs less, and the cash is never below the exact price times quantity.
    #[test]
    fn buying_more_never_costs_less(levels in asks(8, 500), f in fee_schedule(), a in 1i64..=5_000, b in 1i64..=5_000) {
        let depth = book::depth(&levels).micros() / 10_000;
        let (lo, hi) = (a.min(b).min(depth), a.max(b).min(depth));
        let w_lo = book::buy(&levels, Qty::from_hundredths(lo), &f).unwrap();
        let w_hi = book::buy(&levels, Qty::from_hundredths(hi), &f).unwrap();
        prop_assert!(w_hi.total >= w_lo.total);
        prop_assert!(w_hi.notional >= w_lo.notional);
        // Exact: sum of p * q over the fills, in micro-dollars * 1e6.
        let mut left = hi * 10_000;
        let mut exact: i128 = 0;
        for l in &levels {
            let take = l.qty.micros().min(left);
            exact += take as i128 * l.price.micros() as i128;
            left -= take;
        }
        prop_assert!(w_hi.notional.micros() as i128 * 1_000_000 >= exact);
        let s = book::sell(&levels, Qty::from_hundredths(hi), &f).unwrap();
        prop_assert!(s.notional.micros() as i128 * 1_000_000 <= exact);
        prop_assert!(s.total <= s.notional);
    }

    /// AMM: tokens bought never exceed the exact (real-number) amount; tokens a
    /// sale needs never fall short of it; more investment never buys fewer tokens.
    #[test]
    fn amm_rounding_favours_the_pool(
        b in prop::collection::vec(1_000u128..=10_000_000_000_000, 2..=5),
        fee in prop_oneof![Just(0u64), Just(10_000_000_000_000_000), Just(20_000_000_000_000_000), 0u64..100_000_000_000_000_000],
        x in 1u128..=1_000_000_000_000,
        i in 0usize..5,
    ) {
        let i = i % b.len();
        let t = amm::calc_buy_amount(&b, fee, x, i).unwrap();
        let x_net = x - amm::buy_fee(fee, x);
        // Exact: t <= b_i + x' - b_i * prod b_j / prod (b_j + x')
        //   <=> (b_i + x' - t) * prod(b_j + x') >= b_i * prod b_j
        let mut lhs = Nat::from_u128(b[i] + x_net - t);
        let mut rhs = Nat::from_u128(b[i]);
        for (j, &bj) in b.iter().enumerate() {
            if j != i {
                lhs = lhs.mul_u128(bj + x_net);
                rhs = rhs.mul_u128(bj);
            }
        }
        prop_assert!(lhs >= rhs);
        prop_assert!(amm::calc_buy_amount(&b, fee, x + 1, i).unwrap() >= t);
        // Sale: tokens needed s >= R + b_i * prod b_j / prod(b_j - R) - b_i.
        let r = x / 3 + 1;
        if let Ok(s) = amm::calc_sell_amount(&b, fee, r, i) {
            let rg = r * ONE / (ONE - fee as u128);
            let mut lhs = Nat::from_u128(s + b[i] - rg);
            let mut rhs = Nat::from_u128(b[i]);
            for (j, &bj) in b.iter().enumerate() {
                if j != i {
                    lhs = lhs.mul_u128(bj - rg);
                    rhs = rhs.mul_u128(bj);
                }
            }
            prop_assert!(lhs >= rhs);
        }
    }

    /// AMM: buying and selling the same tokens back never returns more than was put in.
    #[test]
    fn amm_round_trip_never_profits(
        b in prop::collection::vec(1_000_000u128..=1_000_000_000_000, 2..=4),
        fee in prop_oneof![Just(0u64), Just(10_000_000_000_000_000), Just(30_000_000_000_000_000)],
        x in 1u128..=10_000_000_000,
        i in 0usize..4,
    ) {
        let i = i % b.len();
        let t = amm::calc_buy_amount(&b, fee, x, i).unwrap();
        let x_net = x - amm::buy_fee(fee, x);
        let after: Vec<u128> = b.iter().enumerate().map(|(k, &v)| if k == i { v + x_net - t } else { v + x_net }).collect();
        // Largest return whose required tokens are at most t (sell amounts rise with the return).
        let (mut lo, mut hi) = (0u128, 2 * x + 2);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match amm::calc_sell_amount(&after, fee, mid, i) {
                Ok(need) if need <= t => lo = mid,
                _ => hi = mid,
            }
        }
        prop_assert!(lo <= x, "bought {t} for {x}, sold back for {lo}");
    }

    /// investment_for_tokens is the smallest sufficient investment.
    #[test]
    fn investment_for_tokens_is_minimal(
        b in prop::collection::vec(10_000u128..=1_000_000_000_000, 2..=4),
        fee in prop_oneof![Just(0u64), Just(20_000_000_000_000_000)],
        t in 1u128..=100_000_000_000,
        i in 0usize..4,
    ) {
        let i = i % b.len();
        let x = amm::investment_for_tokens(&b, fee, i, t).unwrap();
        prop_assert!(amm::calc_buy_amount(&b, fee, x, i).unwrap() >= t);
        if x > 0 {
            prop_assert!(amm::calc_buy_amount(&b, fee, x - 1, i).unwrap() < t);
        }
    }

    /// Sizing: what is reported is exactly what the books deliver at that size
    /// (recomputed with the independent book walk), profit is positive only
    /// when cost is below payout, and every limit holds.
    #[test]
    fn reported_plans_are_deliverable(
        a in asks(6, 2_000), b in asks(6, 2_000), c2 in asks(6, 2_000),
        fa in fee_schedule(), fb in fee_schedule(),
        cap in 1i64..=50_000_000,
        min_a in 1i64..=300,
    ) {
        let legs = vec![
            (0, Venue::Kalshi, Side::Yes, fa, a, Qty::from_hundredths(min_a)),
            (0, Venue::PolymarketClob, Side::Yes, fb, c2, Qty::from_hundredths(1)),
            (1, Venue::PolymarketClob, Side::No, fb, b, Qty::from_hundredths(1)),
        ];
        let buf = candidate_buf(&legs);
        let c = Candidate::new(3, 0, 10 * DAY, &buf.legs, &buf.data).unwrap();
        let limits = Limits { max_capital: Money::from_micros(cap), ..Limits::default() };
        let plan = sizing::best_plan(&c, &limits);
        // The convenience entry point reports exactly the same bundle.
        prop_assert_eq!(sizing::best_opportunity(&c, &limits), plan.as_ref().map(|p| p.to_opportunity(c.link)));
        if let Some(plan) = plan {
            let mut cost = Money::ZERO;
            for l in &plan.legs {
                let (_, _, _, f, levels, _) = &legs[l.leg];
                let w = book::buy(levels, l.qty, f).unwrap();
                prop_assert_eq!(w.total, l.amount);
                prop_assert_eq!(w.worst_price, l.limit_price);
                cost += w.total + l.fixed_cost;
            }
            prop_assert_eq!(cost, plan.cost);
            prop_assert_eq!(plan.payout, plan.quantity.payout());
            prop_assert_eq!(plan.profit, plan.payout - cost);
            prop_assert!(plan.profit.is_positive());
            prop_assert!(plan.cost < plan.payout);
            prop_assert!(plan.cost <= limits.max_capital);
            prop_assert_eq!(plan.legs.iter().map(|l| l.outcome).collect::<Vec<_>>(), vec![0, 1]);
        }
    }

    /// A bundle whose cheapest prices already cost at least $1 is never profitable.
    #[test]
    fn bundles_at_or_above_a_dollar_are_never_profitable(
        a in asks(5, 1_000), b in asks(5, 1_000), fa in fee_schedule(), fb in fee_schedule(),
    ) {
        // Shift the second book so its best ask plus the first's is at least $1.
        let best_a = a[0].price.micros();
        let shift = (1_000_000 - best_a) - b[0].price.micros();
        let b: Vec<Level> = b.iter().filter_map(|l| {
            let p = l.price.micros() + shift.max(0);
            (p <= 1_000_000).then(|| Level::new(Price::from_micros_const(p), l.qty))
        }).collect();
        prop_assume!(!b.is_empty());
        let legs = vec![
            (0, Venue::Kalshi, Side::Yes, fa, a, Qty::from_hundredths(1)),
            (1, Venue::PolymarketClob, Side::No, fb, b, Qty::from_hundredths(1)),
        ];
        let buf = candidate_buf(&legs);
        let c = Candidate::new(1, 0, DAY, &buf.legs, &buf.data).unwrap();
        prop_assert!(sizing::best_plan(&c, &Limits::default()).is_none());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    /// With a pool leg, the reported bundle is what the contract delivers:
    /// the pool's amount buys at least the quantity (the contract's own
    /// formula), the book leg walks to the reported amount, and profit is
    /// payout minus the recomputed cost.
    #[test]
    fn pool_plans_are_deliverable(
        levels in asks_from(300..=500, 4, 3_000),
        y in 1_000_000i64..=50_000_000, n in 1_000_000i64..=50_000_000,
        fee in 0u64..=30_000_000_000_000_000, gas in 0i64..=50_000,
        cap in prop_oneof![Just(i64::MAX), 1_000_000i64..=20_000_000],
    ) {
        let mut buf = LegsBuf::default();
        buf.push_book(&header(0, 0, Venue::Kalshi, Side::Yes, FeeSchedule::None, Qty::from_hundredths(1), Money::ZERO), levels.iter().copied(), 32);
        buf.push_pool(
            &header(1, 1, Venue::PolymarketAmm, Side::No, FeeSchedule::Amm { fee_wad: fee }, Qty::from_micros(1), Money::from_micros(gas)),
            1,
            [y, n],
        );
        let c = Candidate::new(1, 0, DAY, &buf.legs, &buf.data).unwrap();
        let limits = Limits { max_capital: Money::from_micros(cap), lot: Qty::from_hundredths(10), ..Limits::default() };
        if let Some(plan) = sizing::best_plan(&c, &limits) {
            let book = &plan.legs[0];
            let w = book::buy(&levels, book.qty, &FeeSchedule::None).unwrap();
            prop_assert_eq!(w.total, book.amount);
            let pool = &plan.legs[1];
            let x = pool.amount.micros() as u128;
            let tokens = amm::calc_buy_amount(&[y as u128, n as u128], fee, x, 1).unwrap();
            prop_assert!(tokens >= pool.qty.micros() as u128);
            prop_assert_eq!(tokens, pool.received.micros() as u128);
            prop_assert_eq!(pool.fee.micros() as u128, amm::buy_fee(fee, x));
            prop_assert_eq!(pool.cost, pool.amount + Money::from_micros(gas));
            let cost = w.total + pool.cost;
            prop_assert_eq!(cost, plan.cost);
            prop_assert_eq!(plan.profit, plan.quantity.payout() - cost);
            prop_assert!(plan.profit.is_positive());
            prop_assert!(plan.cost <= limits.max_capital);
        }
    }
}

/// Brute force: every lot of every choice of legs, compared with the search.
/// The search's profit may fall short only by the venues' rounding inside a
/// segment (documented bound); we also count how often it is exactly optimal.
#[test]
fn sizing_matches_brute_force_on_small_books() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 300, ..ProptestConfig::default() });
    // Prices near a dollar together, so that fees, fixed costs and minimum sizes decide.
    let strategy = (
        asks_from(300..=560, 4, 150),
        asks_from(380..=620, 4, 150),
        asks_from(300..=560, 4, 150),
        fee_schedule(),
        fee_schedule(),
        1i64..=120,
        0i64..=20_000,
        prop_oneof![Just(i64::MAX), 100_000i64..=6_000_000],
    );
    let (mut exact, mut total, mut profitable) = (0usize, 0usize, 0usize);
    for _ in 0..300 {
        let tree = strategy.new_tree(&mut runner).expect("strategy");
        let (a, b, c2, fa, fb, min_a, fixed, cap) = tree.current();
        let legs = [(0u32, fa, a, min_a, fixed), (0, fb, c2, 1, 0), (1, fb, b, 1, 0)];
        let mut buf = LegsBuf::default();
        for (i, (o, f, lv, min, fx)) in legs.iter().enumerate() {
            let venue = if i == 0 { Venue::Kalshi } else { Venue::PolymarketClob };
            buf.push_book(
                &header(*o, i as u32, venue, Side::Yes, *f, Qty::from_hundredths(*min), Money::from_micros(*fx)),
                lv.iter().copied(),
                32,
            );
        }
        let c = Candidate::new(1, 0, DAY, &buf.legs, &buf.data).unwrap();
        let limits = Limits { max_capital: Money::from_micros(cap), ..Limits::default() };
        let found = sizing::best_plan(&c, &limits).map_or(0, |p| p.profit.micros());
        let mut brute = 0i64;
        for choice in [[0usize, 2], [1, 2]] {
            for n in 1..=600 {
                if let Ok(p) = sizing::plan_at(&c, Qty::from_hundredths(n), &choice)
                    && p.cost.micros() <= cap
                {
                    brute = brute.max(p.profit.micros());
                }
            }
        }
        // Bound: a cent per Kalshi leg plus each fill's rounding unit, per outcome.
        let rounding = |f: &FeeSchedule, levels: usize| -> i64 {
            let per_fill = match f {
                FeeSchedule::Kalshi { .. } => 100,
                FeeSchedule::Polymarket { .. } => 10,
                _ => 0,
            } + 1;
            (if matches!(f, FeeSchedule::Kalshi { .. }) { 10_000 } else { 0 }) + per_fill * levels as i64
        };
        let bound = rounding(&fa, legs[0].2.len()).max(rounding(&fb, legs[1].2.len())) + rounding(&fb, legs[2].2.len());
        assert!(found <= brute, "search {found} above brute force {brute}: impossible");
        assert!(found >= brute - bound, "search {found} vs brute force {brute} (bound {bound}) on {legs:?}");
        total += 1;
        exact += (found == brute) as usize;
        profitable += (brute > 0) as usize;
    }
    // The bound is rarely needed: the cent-step walks recover almost all of it.
    assert!(exact * 100 >= total * 95, "exactly optimal in only {exact} of {total} cases");
    assert!(profitable * 4 >= total, "only {profitable} of {total} cases had any profit: the test proves little");
    eprintln!("sizing exactly optimal in {exact} of {total} random cases ({profitable} with a profit)");
}

/// Pools: the golden-section search against brute force over whole lots.
#[test]
fn pool_sizing_matches_brute_force() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 60, ..ProptestConfig::default() });
    let strategy = (
        asks(4, 3_000),
        1_000_000u64..=50_000_000,
        1_000_000u64..=50_000_000,
        0u64..=30_000_000_000_000_000,
        0i64..=50_000,
    );
    for _ in 0..60 {
        let (levels, y, n, fee, gas) = strategy.new_tree(&mut runner).expect("strategy").current();
        let mut buf = LegsBuf::default();
        buf.push_book(
            &header(0, 0, Venue::Kalshi, Side::Yes, FeeSchedule::None, Qty::from_hundredths(1), Money::ZERO),
            levels.iter().copied(),
            32,
        );
        buf.push_pool(
            &header(
                1,
                1,
                Venue::PolymarketAmm,
                Side::No,
                FeeSchedule::Amm { fee_wad: fee },
                Qty::from_micros(1),
                Money::from_micros(gas),
            ),
            1,
            [y as i64, n as i64],
        );
        let c = Candidate::new(1, 0, DAY, &buf.legs, &buf.data).unwrap();
        let limits = Limits { lot: Qty::from_hundredths(10), ..Limits::default() };
        let found = sizing::best_plan(&c, &limits).map_or(0, |p| p.profit.micros());
        let mut brute = 0i64;
        let depth = book::depth(&levels).micros() / 100_000;
        for k in 1..=depth {
            if let Ok(p) = sizing::plan_at(&c, Qty::from_hundredths(10 * k), &[0, 1]) {
                brute = brute.max(p.profit.micros());
            }
        }
        assert!(found <= brute, "search {found} above brute {brute}");
        // Integer rounding in the pool makes plateaus of a few micro-dollars.
        assert!(
            found >= brute - 20,
            "pool search {found} vs brute {brute}: {levels:?} pool [{y}, {n}] fee {fee} gas {gas}"
        );
    }
}

#[test]
fn wide_matches_nat() {
    // A cross-check of the two wide types the properties rely on.
    let a = U256::from_u128(u128::MAX).checked_mul(U256::from_u128(3)).unwrap();
    let (q, r) = a.div_rem(U256::from_u128(7)).unwrap();
    assert_eq!(q.checked_mul(U256::from_u128(7)).unwrap().checked_add(r).unwrap(), a);
    assert!(Nat::from_u128(u128::MAX).mul_u128(3) > Nat::from_u128(u128::MAX));
}
