//! cross-venue-binary: one yes/no question listed on two venues.
//!
//! Buying YES on one venue and NO on the other pays exactly $1 whatever
//! happens, so when the two cost less than $1 after fees (and gas, for the
//! on-chain pool) the difference is locked in. This strategy:
//!
//! - **matches** a Kalshi market with the Polymarket market (order book or
//!   AMM pool) that asks the same question: titles compared as normalised
//!   token sets, numbers in the question required to agree, close dates
//!   compared, rule differences spelled out for the human who approves the
//!   link. A link has two outcomes: YES legs `[kalshi YES, poly YES]` and NO
//!   legs `[kalshi NO, poly NO]`.
//! - **scores** a candidate with the SDK's exact sizing, accepting only
//!   bundles whose two legs are on different venues (a same-venue YES+NO is
//!   another strategy's business), under the limits from its parameters.
//! - **exits** when selling the bundle back beats holding it to settlement.
//!
//! Parameters (all optional): `max_capital`, `min_profit`, `min_return_ppm`,
//! `min_apy_ppm`, `max_slippage_ppm`, `lot`, `max_qty` (see
//! [`Limits::from_params`]); `min_confidence_ppm` (default 700000) and
//! `max_close_gap_hours` (default 72) for matching; `exit_min_edge` and
//! `exit_hurdle_apy_ppm` for exits.

use std::collections::BTreeSet;

use arbytron_sdk::exit::{self, ExitPolicy};
use arbytron_sdk::matching::{self, TokenIndex};
use arbytron_sdk::prelude::*;
use arbytron_sdk::sizing::{self, Limits};
use arbytron_sdk::state;

/// What the strategy counts; carried across hot reloads.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub links_proposed: u64,
    pub scored: u64,
    pub opportunities: u64,
    pub exits: u64,
}

pub struct CrossVenueBinary {
    limits: Limits,
    exit: ExitPolicy,
    min_confidence_ppm: u32,
    max_close_gap_hours: i64,
    stats: Stats,
}

const SNAPSHOT_MAGIC: &[u8; 4] = b"CVB1";
const SNAPSHOT_VERSION: u8 = 1;

impl CrossVenueBinary {
    pub fn stats(&self) -> Stats {
        self.stats
    }
}

/// A binary question as one venue lists it.
struct Question<'a> {
    listing: &'a Listing,
    text: String,
    tokens: BTreeSet<String>,
    numbers: BTreeSet<String>,
}

impl<'a> Question<'a> {
    fn new(listing: &'a Listing) -> Question<'a> {
        // A market inside a multi-outcome event names its outcome ("Gavin Newsom"); a
        // plain binary says "Yes". The question is the title plus any such outcome.
        let outcome = listing.outcome.trim();
        let text = if outcome.is_empty() || ["yes", "no"].contains(&outcome.to_ascii_lowercase().as_str()) {
            listing.title.clone()
        } else {
            format!("{} {}", listing.title, outcome)
        };
        Question { listing, tokens: matching::tokens(&text), numbers: matching::numbers(&text), text }
    }
}

fn venue_name(v: Venue) -> &'static str {
    match v {
        Venue::Kalshi => "Kalshi",
        Venue::PolymarketClob => "Polymarket",
        Venue::PolymarketAmm => "the Polymarket AMM",
    }
}

impl CrossVenueBinary {
    /// Confidence and reasons for `k` and `p` being the same question; `None` if they are not.
    fn compare(&self, k: &Question<'_>, p: &Question<'_>) -> Option<(u32, Vec<String>)> {
        let sim = matching::similarity_ppm(&k.tokens, &p.tokens) as u64;
        let gap = matching::gap_hours(k.listing.closes_at, p.listing.closes_at);
        if gap > self.max_close_gap_hours {
            return None;
        }
        let pv = venue_name(p.listing.venue);
        let mut reasons = vec![format!("titles match {}%: {:?} (Kalshi) ~ {:?} ({pv})", sim / 10_000, k.text, p.text)];
        // Dates: full weight on the same day, half at the largest gap allowed.
        let date_ppm = 1_000_000 - (gap as u64 * 500_000 / self.max_close_gap_hours.max(1) as u64);
        reasons.push(if gap < 24 {
            format!("close within {gap} h of each other")
        } else {
            format!("close dates {} days apart: check both settle on the same event", gap / 24)
        });
        // Different thresholds or dates in the question are different questions.
        let mut numbers_ppm = 1_000_000u64;
        if k.numbers != p.numbers {
            numbers_ppm = 250_000;
            let show = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
            reasons.push(format!(
                "numbers in the questions differ: Kalshi [{}] vs {pv} [{}]",
                show(&k.numbers),
                show(&p.numbers)
            ));
        }
        reasons.extend(matching::rule_differences("Kalshi", &k.listing.rules, pv, &p.listing.rules));
        if p.listing.venue == Venue::PolymarketAmm {
            reasons.push("the Polymarket leg is an on-chain AMM pool: gas per trade, prices move with size".into());
        }
        let confidence = sim * date_ppm / 1_000_000 * numbers_ppm / 1_000_000;
        Some((confidence as u32, reasons))
    }
}

impl Strategy for CrossVenueBinary {
    const NAME: &'static str = "cross-venue-binary";
    const VERSION: &'static str = "0.2.0";
    const CAPABILITIES: Capabilities = Capabilities::ALL;

    fn init(params: &Params) -> Result<Self, String> {
        let min_confidence_ppm: u32 = params.parse_or("min_confidence_ppm", 700_000)?;
        if min_confidence_ppm > 1_000_000 {
            return Err(format!("parameter min_confidence_ppm={min_confidence_ppm}: at most 1000000"));
        }
        let max_close_gap_hours: i64 = params.parse_or("max_close_gap_hours", 72)?;
        if max_close_gap_hours < 0 {
            return Err(format!("parameter max_close_gap_hours={max_close_gap_hours}: must not be negative"));
        }
        Ok(CrossVenueBinary {
            limits: Limits::from_params(params)?,
            exit: ExitPolicy::from_params(params)?,
            min_confidence_ppm,
            max_close_gap_hours,
            stats: Stats::default(),
        })
    }

    fn match_markets(&mut self, listings: &[Listing]) -> Result<Vec<Link>, String> {
        let kalshi: Vec<Question<'_>> =
            listings.iter().filter(|l| l.venue == Venue::Kalshi).map(Question::new).collect();
        let poly: Vec<Question<'_>> = listings
            .iter()
            .filter(|l| matches!(l.venue, Venue::PolymarketClob | Venue::PolymarketAmm))
            .map(Question::new)
            .collect();
        let mut index = TokenIndex::new();
        for (i, q) in poly.iter().enumerate() {
            index.insert(i, &q.tokens);
        }
        // Every plausible pair, then the most confident first, each market used once.
        let mut pairs: Vec<(u32, usize, usize, Vec<String>)> = Vec::new();
        for (ki, k) in kalshi.iter().enumerate() {
            for (pi, _) in index.candidates(&k.tokens, 2, 200_000).into_iter().take(20) {
                if let Some((c, reasons)) = self.compare(k, &poly[pi])
                    && c >= self.min_confidence_ppm
                {
                    pairs.push((c, ki, pi, reasons));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let (mut used_k, mut used_p) = (BTreeSet::new(), BTreeSet::new());
        let mut links = Vec::new();
        for (confidence, ki, pi, reasons) in pairs {
            if !used_k.insert(ki) || !used_p.insert(pi) {
                continue;
            }
            let (k, p) = (kalshi[ki].listing.market, poly[pi].listing.market);
            let leg = |market, side| LegRef { market, side };
            links.push(Link {
                outcomes: vec![vec![leg(k, Side::Yes), leg(p, Side::Yes)], vec![leg(k, Side::No), leg(p, Side::No)]],
                confidence_ppm: confidence,
                reasons,
            });
        }
        self.stats.links_proposed += links.len() as u64;
        Ok(links)
    }

    fn score(&mut self, c: &Candidate<'_>) -> Option<Opportunity> {
        self.stats.scored += 1;
        let legs = c.legs;
        // Legs on different venues only: one venue's YES + NO is not this strategy's trade.
        let plan = sizing::best_plan_with(c, &self.limits, |choice| {
            choice.windows(2).any(|w| legs.leg(w[0]).venue != legs.leg(w[1]).venue)
        })?;
        self.stats.opportunities += 1;
        Some(plan.to_opportunity(c.link))
    }

    fn decide_exit(&mut self, position: &Position, view: &MarketView<'_>) -> ExitDecision {
        let d = exit::decide(position, view, &self.exit);
        if matches!(d, ExitDecision::Exit(_)) {
            self.stats.exits += 1;
        }
        d
    }

    fn snapshot(&self) -> Vec<u8> {
        let s = self.stats;
        state::encode_words(SNAPSHOT_MAGIC, SNAPSHOT_VERSION, &[s.links_proposed, s.scored, s.opportunities, s.exits])
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String> {
        let [links_proposed, scored, opportunities, exits] =
            state::decode_words::<4>(snapshot, SNAPSHOT_MAGIC, SNAPSHOT_VERSION)?;
        self.stats = Stats { links_proposed, scored, opportunities, exits };
        Ok(())
    }
}

arbytron_sdk::export_strategy!(CrossVenueBinary);

#[cfg(test)]
mod tests {
    use super::*;
    use arbytron_sdk::wire::{LegHeader, LegsBuf};

    const DAY: i64 = 86_400_000;

    fn params(kv: &[(&str, &str)]) -> Params {
        Params(kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    fn listing(market: u32, venue: Venue, title: &str, rules: &str, closes_at: i64) -> Listing {
        Listing {
            market,
            venue,
            event: format!("E{market}"),
            symbol: format!("M{market}"),
            title: title.into(),
            outcome: "Yes".into(),
            rules: rules.into(),
            closes_at,
            mutually_exclusive: false,
        }
    }

    fn header(outcome: u32, market: u32, venue: Venue, side: Side, fee: FeeSchedule) -> LegHeader {
        LegHeader::new(outcome, market, venue, side, fee)
    }

    fn lv(p: &str, q: i64) -> Level {
        Level::new(Price::parse(p).unwrap(), Qty::from_contracts(q))
    }

    fn kalshi() -> FeeSchedule {
        FeeSchedule::kalshi("KXFED", "quadratic", "1").unwrap()
    }

    #[test]
    fn init_parses_params_with_clear_errors() {
        assert!(CrossVenueBinary::init(&Params::default()).is_ok());
        let e = CrossVenueBinary::init(&params(&[("min_profit", "a lot")])).err().unwrap();
        assert!(e.starts_with("parameter min_profit=\"a lot\""), "{e}");
        let e = CrossVenueBinary::init(&params(&[("min_confidence_ppm", "2000000")])).err().unwrap();
        assert!(e.contains("at most 1000000"), "{e}");
        let s = CrossVenueBinary::init(&params(&[("max_capital", "250"), ("min_apy_ppm", "100000")])).unwrap();
        assert_eq!(s.limits.max_capital, Money::from_dollars(250));
        assert_eq!(s.limits.min_annualized_ppm, 100_000);
    }

    #[test]
    fn matches_the_same_question_and_explains_why() {
        let close = 1_800_000_000_000;
        let listings = vec![
            listing(
                1,
                Venue::Kalshi,
                "Will the Fed cut rates in March 2026?",
                "Per the Federal Reserve FOMC statement.",
                close,
            ),
            listing(
                2,
                Venue::Kalshi,
                "Will Bitcoin be above $100,000 on Dec 31, 2026?",
                "CF Benchmarks BRTI.",
                close + 200 * DAY,
            ),
            listing(
                10,
                Venue::PolymarketClob,
                "Fed rate cut in March 2026?",
                "Resolves per the Federal Reserve.",
                close + 3_600_000,
            ),
            listing(
                11,
                Venue::PolymarketClob,
                "Bitcoin above $90k on December 31, 2026?",
                "Binance BTC/USDT.",
                close + 200 * DAY,
            ),
            listing(
                12,
                Venue::PolymarketAmm,
                "Bitcoin above 100k on December 31 2026?",
                "Binance BTC/USDT 12:00 ET close.",
                close + 200 * DAY + 5 * 3_600_000,
            ),
            listing(13, Venue::PolymarketClob, "Will it snow in Miami in 2026?", "", close),
        ];
        let mut s = CrossVenueBinary::init(&Params::default()).unwrap();
        let links = s.match_markets(&listings).unwrap();
        assert_eq!(links.len(), 2, "{links:#?}");
        let fed = links.iter().find(|l| l.outcomes[0][0].market == 1).unwrap();
        assert_eq!(
            fed.outcomes,
            vec![
                vec![LegRef { market: 1, side: Side::Yes }, LegRef { market: 10, side: Side::Yes }],
                vec![LegRef { market: 1, side: Side::No }, LegRef { market: 10, side: Side::No }],
            ]
        );
        assert!(fed.confidence_ppm >= 700_000);
        assert!(fed.reasons.iter().any(|r| r.starts_with("titles match")));
        assert!(fed.reasons.iter().any(|r| r.contains("close within 1 h")));
        // Bitcoin: the $100k AMM market, not the $90k book.
        let btc = links.iter().find(|l| l.outcomes[0][0].market == 2).unwrap();
        assert_eq!(btc.outcomes[0][1].market, 12);
        assert!(btc.reasons.iter().any(|r| r.contains("AMM")), "{:?}", btc.reasons);
        assert!(btc.reasons.iter().any(|r| r.contains("rules mention")), "{:?}", btc.reasons);
        assert_eq!(s.stats().links_proposed, 2);
    }

    #[test]
    fn refuses_far_apart_dates_and_different_numbers() {
        let listings = vec![
            listing(1, Venue::Kalshi, "Will CPI be above 3% in May 2026?", "", 0),
            listing(2, Venue::PolymarketClob, "Will CPI be above 4% in May 2026?", "", 0),
            listing(3, Venue::Kalshi, "Will the Lakers win the 2026 NBA Finals?", "", 0),
            listing(4, Venue::PolymarketClob, "Will the Lakers win the 2026 NBA Finals?", "", 30 * DAY),
        ];
        let mut s = CrossVenueBinary::init(&Params::default()).unwrap();
        assert!(s.match_markets(&listings).unwrap().is_empty());
        // A looser threshold shows the number mismatch as a reason.
        let mut loose = CrossVenueBinary::init(&params(&[("min_confidence_ppm", "100000")])).unwrap();
        let links = loose.match_markets(&listings).unwrap();
        assert_eq!(links.len(), 1);
        assert!(links[0].reasons.iter().any(|r| r.contains("numbers in the questions differ: Kalshi [2026, 3]")));
    }

    /// YES cheap on Kalshi, NO cheap on Polymarket; same-venue pairs would be better but are refused.
    fn candidate_buf() -> LegsBuf {
        let mut buf = LegsBuf::default();
        let pm = FeeSchedule::Polymarket { rate_ppm: 40_000, exponent: 1 };
        buf.push_book(&header(0, 1, Venue::Kalshi, Side::Yes, kalshi()), [lv("0.40", 50), lv("0.42", 50)], 10);
        buf.push_book(&header(0, 2, Venue::PolymarketClob, Side::Yes, pm), [lv("0.45", 100)], 10);
        buf.push_book(&header(1, 1, Venue::Kalshi, Side::No, kalshi()), [lv("0.50", 100)], 10);
        buf.push_book(&header(1, 2, Venue::PolymarketClob, Side::No, pm), [lv("0.55", 30), lv("0.56", 100)], 10);
        buf
    }

    #[test]
    fn scores_only_cross_venue_bundles() {
        let buf = candidate_buf();
        let c = Candidate::new(9, 0, 30 * DAY, &buf.legs, &buf.data).unwrap();
        let mut s = CrossVenueBinary::init(&Params::default()).unwrap();
        let opp = s.score(&c).unwrap();
        assert_eq!(opp.link, 9);
        assert_eq!(opp.orders.len(), 2);
        let venues: BTreeSet<u32> = opp.orders.iter().map(|o| o.market).collect();
        assert_eq!(venues.len(), 2, "legs on two venues: {opp:?}");
        assert!(opp.profit.is_positive());
        assert_eq!(opp.payout, opp.quantity.payout());
        assert_eq!(opp.profit, opp.payout - opp.cost);
        // Independent check of the chosen legs against the SDK's evaluator.
        let choice: Vec<usize> = opp
            .orders
            .iter()
            .map(|o| c.legs.iter().position(|l| l.market == o.market && l.side == o.side).unwrap())
            .collect();
        let plan = sizing::plan_at(&c, opp.quantity, &choice).unwrap();
        assert_eq!(plan.profit, opp.profit);
        // Polymarket YES 0.45 + Kalshi NO 0.50 for 100 beats Kalshi YES + Polymarket NO (30 at 0.95, then 0.96+);
        // Kalshi YES 0.40 + Kalshi NO 0.50 would be best of all but is one venue.
        assert_eq!((opp.orders[0].market, opp.orders[1].market), (2, 1));
        assert_eq!(opp.quantity, Qty::from_contracts(100));
        assert_eq!((s.stats().scored, s.stats().opportunities), (1, 1));
    }

    #[test]
    fn limits_bind_and_losers_are_refused() {
        let buf = candidate_buf();
        let c = Candidate::new(9, 0, 30 * DAY, &buf.legs, &buf.data).unwrap();
        let mut rich = CrossVenueBinary::init(&params(&[("min_profit", "100")])).unwrap();
        assert_eq!(rich.score(&c), None);
        let mut small = CrossVenueBinary::init(&params(&[("max_capital", "19.30")])).unwrap();
        let opp = small.score(&c).unwrap();
        assert!(opp.cost <= Money::parse("19.30").unwrap());
        // An annualised floor no 30-day trade can meet.
        let mut greedy = CrossVenueBinary::init(&params(&[("min_apy_ppm", "100000000")])).unwrap();
        assert_eq!(greedy.score(&c), None);
        // A market where the two venues sum to more than $1.
        let mut buf = LegsBuf::default();
        buf.push_book(&header(0, 1, Venue::Kalshi, Side::Yes, kalshi()), [lv("0.50", 50)], 10);
        buf.push_book(&header(1, 2, Venue::PolymarketClob, Side::No, FeeSchedule::None), [lv("0.51", 50)], 10);
        let c = Candidate::new(1, 0, DAY, &buf.legs, &buf.data).unwrap();
        assert_eq!(CrossVenueBinary::init(&Params::default()).unwrap().score(&c), None);
    }

    #[test]
    fn exits_when_selling_back_beats_holding() {
        let mut buf = LegsBuf::default();
        buf.push_book(&header(0, 1, Venue::Kalshi, Side::Yes, FeeSchedule::None), [lv("0.62", 100)], 10);
        buf.push_book(&header(1, 2, Venue::PolymarketClob, Side::No, FeeSchedule::None), [lv("0.41", 100)], 10);
        let view = MarketView::new(DAY, &buf.legs, &buf.data).unwrap();
        let position = Position {
            bundle: 7,
            link: 9,
            quantity: Qty::from_contracts(10),
            legs: vec![
                HeldLeg { market: 1, side: Side::Yes, quantity: Qty::from_contracts(10), cost: Money::from_dollars(4) },
                HeldLeg {
                    market: 2,
                    side: Side::No,
                    quantity: Qty::from_contracts(10),
                    cost: Money::parse("5.5").unwrap(),
                },
            ],
            cost: Money::parse("9.5").unwrap(),
            opened_at: 0,
            resolves_at: 30 * DAY,
        };
        let mut s = CrossVenueBinary::init(&Params::default()).unwrap();
        match s.decide_exit(&position, &view) {
            ExitDecision::Exit(orders) => {
                assert_eq!(orders.len(), 2);
                assert_eq!(orders[0].amount + orders[1].amount, Money::parse("10.30").unwrap());
            }
            ExitDecision::Hold => panic!("10.30 now beats 10.00 at settlement"),
        }
        let mut patient = CrossVenueBinary::init(&params(&[("exit_min_edge", "0.50")])).unwrap();
        assert_eq!(patient.decide_exit(&position, &view), ExitDecision::Hold);
        assert_eq!(s.stats().exits, 1);
    }

    #[test]
    fn snapshot_round_trips_and_rejects_garbage() {
        let mut s = CrossVenueBinary::init(&Params::default()).unwrap();
        s.stats = Stats { links_proposed: 3, scored: 1_000, opportunities: 12, exits: 2 };
        let bytes = s.snapshot();
        assert_eq!(&bytes[..5], b"CVB1\x01");
        let mut fresh = CrossVenueBinary::init(&Params::default()).unwrap();
        fresh.restore(&bytes).unwrap();
        assert_eq!(fresh.stats(), s.stats());
        assert!(fresh.restore(b"nope").is_err());
        let mut future = bytes.clone();
        future[4] = 2;
        assert_eq!(fresh.restore(&future).unwrap_err(), "snapshot version 2 is not 1");
        assert!(fresh.restore(&bytes[..20]).unwrap_err().contains("expected 32"));
    }
}
