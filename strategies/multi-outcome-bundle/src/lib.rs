//! multi-outcome-bundle: every outcome of one event, bought where it is cheapest.
//!
//! When an event's outcomes are mutually exclusive and exhaustive, one YES
//! contract of each pays exactly $1. This strategy:
//!
//! - **matches** a Kalshi event whose markets are mutually exclusive with the
//!   Polymarket neg-risk event for the same thing: event titles compared as
//!   normalised token sets, outcomes paired by name, close dates compared. A
//!   Polymarket neg-risk event is exhaustive by construction, so a link is
//!   proposed only when every Kalshi outcome pairs with a Polymarket one (an
//!   outcome only Polymarket lists is bought there alone). Each link outcome
//!   lists the YES legs of every venue that offers it.
//! - **scores** with the SDK's sizing: the cheapest leg per outcome at the
//!   chosen size, any venues, under the limits from its parameters.
//! - **exits** when selling the bundle back beats holding it to settlement.
//!
//! Parameters (all optional): `max_capital`, `min_profit`, `min_return_ppm`,
//! `min_apy_ppm`, `max_slippage_ppm`, `lot`, `max_qty` (see
//! [`Limits::from_params`]); `min_confidence_ppm` (default 600000),
//! `min_outcome_match_ppm` (default 700000) and `max_close_gap_hours`
//! (default 72) for matching; `exit_min_edge` and `exit_hurdle_apy_ppm` for
//! exits.

use std::collections::{BTreeMap, BTreeSet};

use arbytron_sdk::exit::{self, ExitPolicy};
use arbytron_sdk::matching;
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

pub struct MultiOutcomeBundle {
    limits: Limits,
    exit: ExitPolicy,
    min_confidence_ppm: u32,
    min_outcome_match_ppm: u32,
    max_close_gap_hours: i64,
    stats: Stats,
}

const SNAPSHOT_MAGIC: &[u8; 4] = b"MOB1";
const SNAPSHOT_VERSION: u8 = 1;

impl MultiOutcomeBundle {
    pub fn stats(&self) -> Stats {
        self.stats
    }
}

/// One venue's mutually exclusive markets of one event.
struct Group<'a> {
    venue: Venue,
    event: &'a str,
    title: String,
    tokens: BTreeSet<String>,
    closes_at: i64,
    /// `(outcome name, its tokens, listing)`.
    outcomes: Vec<(String, BTreeSet<String>, &'a Listing)>,
}

fn outcome_name(l: &Listing) -> String {
    let o = l.outcome.trim();
    if o.is_empty() || ["yes", "no"].contains(&o.to_ascii_lowercase().as_str()) {
        l.title.clone()
    } else {
        o.to_string()
    }
}

/// Group mutually exclusive listings by venue family and event.
fn groups(listings: &[Listing]) -> (Vec<Group<'_>>, Vec<Group<'_>>) {
    let mut by_event: BTreeMap<(bool, &str), Vec<&Listing>> = BTreeMap::new();
    for l in listings.iter().filter(|l| l.mutually_exclusive) {
        by_event.entry((l.venue == Venue::Kalshi, l.event.as_str())).or_default().push(l);
    }
    let (mut kalshi, mut poly) = (Vec::new(), Vec::new());
    for ((is_kalshi, event), members) in by_event {
        if members.len() < 2 {
            continue;
        }
        // The event's title: the one most of its markets carry.
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for m in &members {
            *counts.entry(m.title.as_str()).or_default() += 1;
        }
        let title = counts.iter().max_by_key(|(t, n)| (**n, core::cmp::Reverse(*t))).map_or("", |(t, _)| t).to_string();
        let g = Group {
            venue: members[0].venue,
            event,
            tokens: matching::tokens(&title),
            title,
            closes_at: members.iter().map(|m| m.closes_at).max().unwrap_or(0),
            outcomes: members
                .iter()
                .map(|m| {
                    let name = outcome_name(m);
                    (name.clone(), matching::tokens(&name), *m)
                })
                .collect(),
        };
        if is_kalshi { kalshi.push(g) } else { poly.push(g) }
    }
    (kalshi, poly)
}

impl MultiOutcomeBundle {
    /// The link between a Kalshi event and a Polymarket neg-risk event, if they are the same.
    fn link(&self, k: &Group<'_>, p: &Group<'_>) -> Option<Link> {
        let gap = matching::gap_hours(k.closes_at, p.closes_at);
        if gap > self.max_close_gap_hours {
            return None;
        }
        // Pair outcomes by name, most similar first, each used once.
        let mut pairs: Vec<(u32, usize, usize)> = Vec::new();
        for (ki, (_, kt, _)) in k.outcomes.iter().enumerate() {
            for (pi, (_, pt, _)) in p.outcomes.iter().enumerate() {
                let s = matching::similarity_ppm(kt, pt);
                if s >= self.min_outcome_match_ppm {
                    pairs.push((s, ki, pi));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let (mut k_of, mut p_of) = (vec![None; k.outcomes.len()], vec![None; p.outcomes.len()]);
        let mut weakest = 1_000_000u32;
        for (s, ki, pi) in pairs {
            if k_of[ki].is_none() && p_of[pi].is_none() {
                k_of[ki] = Some(pi);
                p_of[pi] = Some(ki);
                weakest = weakest.min(s);
            }
        }
        // Every Kalshi outcome must be one of Polymarket's (whose set is exhaustive).
        if k_of.iter().any(Option::is_none) {
            return None;
        }
        let event_sim = matching::similarity_ppm(&k.tokens, &p.tokens) as u64;
        let date_ppm = 1_000_000 - (gap as u64 * 500_000 / self.max_close_gap_hours.max(1) as u64);
        let confidence = (event_sim * date_ppm / 1_000_000 * weakest as u64 / 1_000_000) as u32;
        if confidence < self.min_confidence_ppm {
            return None;
        }
        let yes = |l: &Listing| LegRef { market: l.market, side: Side::Yes };
        let mut outcomes = Vec::new();
        let mut only_poly = Vec::new();
        for (pi, (name, _, pl)) in p.outcomes.iter().enumerate() {
            match p_of[pi] {
                Some(ki) => outcomes.push(vec![yes(k.outcomes[ki].2), yes(pl)]),
                None => {
                    outcomes.push(vec![yes(pl)]);
                    only_poly.push(name.as_str());
                }
            }
        }
        let pv = if p.venue == Venue::PolymarketAmm { "the Polymarket AMM" } else { "Polymarket" };
        let mut reasons = vec![
            format!(
                "events match {}%: {:?} (Kalshi {}) ~ {:?} ({pv} {})",
                event_sim / 10_000,
                k.title,
                k.event,
                p.title,
                p.event
            ),
            format!(
                "{} outcomes paired by name (weakest pair {}%); {pv}'s neg-risk set is exhaustive",
                k.outcomes.len(),
                weakest / 10_000
            ),
            if gap < 24 {
                format!("close within {gap} h of each other")
            } else {
                format!("close dates {} days apart: check both settle on the same event", gap / 24)
            },
        ];
        if !only_poly.is_empty() {
            reasons.push(format!("only {pv} lists {}: bought there alone", only_poly.join(", ")));
        }
        for (ki, (name, _, kl)) in k.outcomes.iter().enumerate() {
            if let Some(pi) = k_of[ki] {
                for d in matching::rule_differences("Kalshi", &kl.rules, pv, &p.outcomes[pi].2.rules) {
                    reasons.push(format!("{name}: {d}"));
                }
            }
        }
        Some(Link { outcomes, confidence_ppm: confidence, reasons })
    }
}

impl Strategy for MultiOutcomeBundle {
    const NAME: &'static str = "multi-outcome-bundle";
    const VERSION: &'static str = "0.2.0";
    const CAPABILITIES: Capabilities = Capabilities::ALL;

    fn init(params: &Params) -> Result<Self, String> {
        let ppm = |key: &str, default: u32| -> Result<u32, String> {
            let v: u32 = params.parse_or(key, default)?;
            if v > 1_000_000 { Err(format!("parameter {key}={v}: at most 1000000")) } else { Ok(v) }
        };
        let max_close_gap_hours: i64 = params.parse_or("max_close_gap_hours", 72)?;
        if max_close_gap_hours < 0 {
            return Err(format!("parameter max_close_gap_hours={max_close_gap_hours}: must not be negative"));
        }
        Ok(MultiOutcomeBundle {
            limits: Limits::from_params(params)?,
            exit: ExitPolicy::from_params(params)?,
            min_confidence_ppm: ppm("min_confidence_ppm", 600_000)?,
            min_outcome_match_ppm: ppm("min_outcome_match_ppm", 700_000)?,
            max_close_gap_hours,
            stats: Stats::default(),
        })
    }

    fn match_markets(&mut self, listings: &[Listing]) -> Result<Vec<Link>, String> {
        let (kalshi, poly) = groups(listings);
        // Most confident first; each event linked once.
        let mut found: Vec<(u32, usize, usize, Link)> = Vec::new();
        for (ki, k) in kalshi.iter().enumerate() {
            for (pi, p) in poly.iter().enumerate() {
                if let Some(link) = self.link(k, p) {
                    found.push((link.confidence_ppm, ki, pi, link));
                }
            }
        }
        found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let (mut used_k, mut used_p) = (BTreeSet::new(), BTreeSet::new());
        let links: Vec<Link> = found
            .into_iter()
            .filter(|(_, ki, pi, _)| used_k.insert(*ki) & used_p.insert(*pi))
            .map(|(_, _, _, l)| l)
            .collect();
        self.stats.links_proposed += links.len() as u64;
        Ok(links)
    }

    fn score(&mut self, c: &Candidate<'_>) -> Option<Opportunity> {
        self.stats.scored += 1;
        let opp = sizing::best_opportunity(c, &self.limits)?;
        self.stats.opportunities += 1;
        Some(opp)
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

arbytron_sdk::export_strategy!(MultiOutcomeBundle);

#[cfg(test)]
mod tests {
    use super::*;
    use arbytron_sdk::wire::{LegHeader, LegsBuf};

    const DAY: i64 = 86_400_000;

    fn params(kv: &[(&str, &str)]) -> Params {
        Params(kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    fn member(market: u32, venue: Venue, event: &str, title: &str, outcome: &str, closes_at: i64) -> Listing {
        Listing {
            market,
            venue,
            event: event.into(),
            symbol: format!("M{market}"),
            title: title.into(),
            outcome: outcome.into(),
            rules: String::new(),
            closes_at,
            mutually_exclusive: true,
        }
    }

    fn election() -> Vec<Listing> {
        let t = 1_900_000_000_000;
        let k = "Who will win the 2028 Democratic presidential nomination?";
        let p = "Democratic Presidential Nominee 2028";
        vec![
            member(1, Venue::Kalshi, "KXDEM-28", k, "Gavin Newsom", t),
            member(2, Venue::Kalshi, "KXDEM-28", k, "Josh Shapiro", t),
            member(3, Venue::Kalshi, "KXDEM-28", k, "Pete Buttigieg", t),
            member(11, Venue::PolymarketClob, "democratic-nominee-2028", p, "Gavin Newsom", t + 3_600_000),
            member(12, Venue::PolymarketClob, "democratic-nominee-2028", p, "Josh Shapiro", t + 3_600_000),
            member(13, Venue::PolymarketClob, "democratic-nominee-2028", p, "Pete Buttigieg", t + 3_600_000),
            member(14, Venue::PolymarketClob, "democratic-nominee-2028", p, "Other", t + 3_600_000),
            // Another event that must not be mixed in.
            member(
                21,
                Venue::PolymarketClob,
                "republican-nominee-2028",
                "Republican Presidential Nominee 2028",
                "JD Vance",
                t,
            ),
            member(
                22,
                Venue::PolymarketClob,
                "republican-nominee-2028",
                "Republican Presidential Nominee 2028",
                "Other",
                t,
            ),
        ]
    }

    #[test]
    fn init_parses_params_with_clear_errors() {
        assert!(MultiOutcomeBundle::init(&Params::default()).is_ok());
        let e = MultiOutcomeBundle::init(&params(&[("min_outcome_match_ppm", "1200000")])).err().unwrap();
        assert_eq!(e, "parameter min_outcome_match_ppm=1200000: at most 1000000");
        let e = MultiOutcomeBundle::init(&params(&[("max_capital", "-3")])).err().unwrap();
        assert!(e.contains("max_capital"), "{e}");
    }

    #[test]
    fn groups_an_exhaustive_event_across_venues() {
        let mut s = MultiOutcomeBundle::init(&Params::default()).unwrap();
        let links = s.match_markets(&election()).unwrap();
        assert_eq!(links.len(), 1, "{links:#?}");
        let l = &links[0];
        let yes = |m| LegRef { market: m, side: Side::Yes };
        assert_eq!(
            l.outcomes,
            vec![vec![yes(1), yes(11)], vec![yes(2), yes(12)], vec![yes(3), yes(13)], vec![yes(14)]]
        );
        assert!(l.confidence_ppm >= 600_000, "{}", l.confidence_ppm);
        assert!(l.reasons.iter().any(|r| r.contains("3 outcomes paired by name")), "{:?}", l.reasons);
        assert!(l.reasons.iter().any(|r| r.contains("only Polymarket lists Other")), "{:?}", l.reasons);
        assert_eq!(s.stats().links_proposed, 1);
    }

    #[test]
    fn refuses_when_kalshi_has_an_outcome_polymarket_lacks() {
        let mut listings = election();
        listings.push(member(
            4,
            Venue::Kalshi,
            "KXDEM-28",
            &listings[0].title.clone(),
            "Alexandria Ocasio-Cortez",
            listings[0].closes_at,
        ));
        let mut s = MultiOutcomeBundle::init(&Params::default()).unwrap();
        assert!(s.match_markets(&listings).unwrap().is_empty());
        // Far-apart dates refuse too.
        let mut late = election();
        for l in late.iter_mut().filter(|l| l.venue != Venue::Kalshi) {
            l.closes_at += 30 * DAY;
        }
        assert!(s.match_markets(&late).unwrap().is_empty());
    }

    fn header(outcome: u32, market: u32, venue: Venue, fee: FeeSchedule) -> LegHeader {
        LegHeader::new(outcome, market, venue, Side::Yes, fee)
    }

    fn lv(p: &str, q: i64) -> Level {
        Level::new(Price::parse(p).unwrap(), Qty::from_contracts(q))
    }

    #[test]
    fn scores_the_cheapest_leg_per_outcome() {
        let k = FeeSchedule::kalshi("KXDEM", "quadratic", "1").unwrap();
        let pm = FeeSchedule::Polymarket { rate_ppm: 40_000, exponent: 1 };
        let mut buf = LegsBuf::default();
        // Newsom: Kalshi 0.30 vs Polymarket 0.28; Shapiro: Kalshi 0.20 vs Polymarket 0.22;
        // Buttigieg: Kalshi 0.15 vs Polymarket 0.16; Other: Polymarket 0.25 only. Best sum 0.88.
        buf.push_book(&header(0, 1, Venue::Kalshi, k), [lv("0.30", 100)], 10);
        buf.push_book(&header(0, 11, Venue::PolymarketClob, pm), [lv("0.28", 40), lv("0.33", 100)], 10);
        buf.push_book(&header(1, 2, Venue::Kalshi, k), [lv("0.20", 100)], 10);
        buf.push_book(&header(1, 12, Venue::PolymarketClob, pm), [lv("0.22", 100)], 10);
        buf.push_book(&header(2, 3, Venue::Kalshi, k), [lv("0.15", 100)], 10);
        buf.push_book(&header(2, 13, Venue::PolymarketClob, pm), [lv("0.16", 100)], 10);
        buf.push_book(&header(3, 14, Venue::PolymarketClob, pm), [lv("0.25", 60)], 10);
        let c = Candidate::new(5, 0, 60 * DAY, &buf.legs, &buf.data).unwrap();
        let mut s = MultiOutcomeBundle::init(&Params::default()).unwrap();
        let opp = s.score(&c).unwrap();
        assert_eq!(opp.orders.len(), 4);
        // Up to 60 contracts (Other's depth), one leg per outcome. Newsom: Polymarket's 40 @ 0.28
        // then 0.33 (fee 4% of p(1-p)) still beats Kalshi's 0.30 with its 7% fee; Shapiro and
        // Buttigieg are cheaper on Kalshi even after fees. Kalshi fees round up to the cent per
        // order, so just below 60 can beat 60 itself.
        assert!(opp.quantity > Qty::from_contracts(59) && opp.quantity <= Qty::from_contracts(60), "{opp:?}");
        let markets: Vec<u32> = opp.orders.iter().map(|o| o.market).collect();
        assert_eq!(markets, vec![11, 2, 3, 14]);
        let at60 = sizing::plan_at(&c, Qty::from_contracts(60), &[1, 2, 4, 6]).unwrap();
        assert!(opp.profit >= at60.profit);
        // Every other choice of legs at the same size earns no more.
        for newsom in [0, 1] {
            for shapiro in [2, 3] {
                for buttigieg in [4, 5] {
                    if let Ok(p) = sizing::plan_at(&c, opp.quantity, &[newsom, shapiro, buttigieg, 6]) {
                        assert!(p.profit <= opp.profit);
                    }
                }
            }
        }
        assert!(opp.profit.is_positive());
        assert_eq!(opp.profit, opp.payout - opp.cost);
        // Capital binds: the bundle shrinks to what $36 buys.
        let mut small = MultiOutcomeBundle::init(&params(&[("max_capital", "36")])).unwrap();
        let opp = small.score(&c).unwrap();
        assert!(opp.cost <= Money::from_dollars(36) && opp.cost > Money::from_dollars(35), "{opp:?}");
        assert_eq!(opp.orders[0].market, 11);
        assert_eq!(s.stats(), Stats { links_proposed: 0, scored: 1, opportunities: 1, exits: 0 });
    }

    #[test]
    fn scores_with_an_amm_leg() {
        let mut buf = LegsBuf::default();
        buf.push_book(&header(0, 1, Venue::Kalshi, FeeSchedule::None), [lv("0.40", 500)], 10);
        buf.push_book(&header(1, 2, Venue::Kalshi, FeeSchedule::None), [lv("0.35", 500)], 10);
        let mut h = header(2, 3, Venue::PolymarketAmm, FeeSchedule::Amm { fee_wad: 20_000_000_000_000_000 });
        h.fixed_cost = Money::parse("0.05").unwrap();
        // A binary pool pricing this outcome at 0.15: balances YES 850, NO 150 (dollars).
        buf.push_pool(&h, 0, [850_000_000, 150_000_000]);
        let c = Candidate::new(6, 0, 30 * DAY, &buf.legs, &buf.data).unwrap();
        let mut s = MultiOutcomeBundle::init(&Params::default()).unwrap();
        let opp = s.score(&c).unwrap();
        let pool = opp.orders.iter().find(|o| o.market == 3).unwrap();
        // The pool's price rises with size, so the bundle stops well before the books run out.
        assert!(opp.quantity < Qty::from_contracts(500) && opp.quantity > Qty::ONE, "{opp:?}");
        assert!(pool.limit_price > Price::parse("0.15").unwrap());
        let plan = sizing::plan_at(&c, opp.quantity, &[0, 1, 2]).unwrap();
        assert_eq!(plan.profit, opp.profit);
        assert!(plan.legs[2].received >= opp.quantity);
    }

    #[test]
    fn exits_and_snapshots() {
        let mut buf = LegsBuf::default();
        for (o, p) in [(1u32, "0.40"), (2, "0.35"), (3, "0.30")] {
            buf.push_book(&header(0, o, Venue::Kalshi, FeeSchedule::None), [lv(p, 100)], 10);
        }
        let view = MarketView::new(0, &buf.legs, &buf.data).unwrap();
        let held =
            |m| HeldLeg { market: m, side: Side::Yes, quantity: Qty::from_contracts(10), cost: Money::from_dollars(3) };
        let position = Position {
            bundle: 1,
            link: 5,
            quantity: Qty::from_contracts(10),
            legs: vec![held(1), held(2), held(3)],
            cost: Money::from_dollars(9),
            opened_at: 0,
            resolves_at: 30 * DAY,
        };
        let mut s = MultiOutcomeBundle::init(&Params::default()).unwrap();
        assert!(matches!(s.decide_exit(&position, &view), ExitDecision::Exit(o) if o.len() == 3));
        assert_eq!(s.stats().exits, 1);
        let bytes = s.snapshot();
        let mut fresh = MultiOutcomeBundle::init(&Params::default()).unwrap();
        fresh.restore(&bytes).unwrap();
        assert_eq!(fresh.stats(), s.stats());
        assert!(fresh.restore(b"CVB1\x01").is_err());
    }
}
