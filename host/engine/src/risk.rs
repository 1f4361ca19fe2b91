//! Risk limits the host enforces whatever a strategy says.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arbytron_model::TimestampMs;
use arbytron_sdk::{MarketId, Money, Price, Venue};
use serde::Deserialize;

/// Configured limits (`[risk]`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RiskLimits {
    /// Least profit per bundle after every fee.
    pub min_profit: Money,
    /// Least gross edge per contract: $1 minus the average prices paid, before fees.
    pub min_spread: Price,
    /// Least annualised return, as a fraction (0.10 = 10%).
    pub min_apy: Money,
    /// Most a leg may pay above its best price, as a fraction of that price.
    pub max_slippage: Money,
    /// Most capital one bundle may use.
    pub max_trade_capital: Money,
    /// Most capital at risk on any one venue.
    pub max_venue_exposure: Money,
    /// Most capital at risk in any one venue event.
    pub max_event_exposure: Money,
    /// Most capital at risk in all.
    pub max_exposure: Money,
    pub max_open_bundles: u32,
    /// Stop opening bundles once today's realised loss reaches this.
    pub daily_loss_limit: Money,
    /// Books older than this are stale.
    pub max_book_age_ms: i64,
    /// Venue errors within `breaker_window_ms` that open the venue's circuit breaker.
    pub breaker_errors: u32,
    pub breaker_window_ms: i64,
    /// How long an open breaker keeps the venue out of new trades.
    pub breaker_cooldown_ms: i64,
}

impl Default for RiskLimits {
    fn default() -> RiskLimits {
        RiskLimits {
            min_profit: Money::from_cents(1),
            min_spread: Price::from_micros_const(5_000),
            min_apy: Money::ZERO,
            max_slippage: Money::parse("0.05").unwrap_or(Money::ZERO),
            max_trade_capital: Money::from_dollars(100),
            max_venue_exposure: Money::from_dollars(1_000),
            max_event_exposure: Money::from_dollars(500),
            max_exposure: Money::from_dollars(2_000),
            max_open_bundles: 20,
            daily_loss_limit: Money::from_dollars(100),
            max_book_age_ms: 5_000,
            breaker_errors: 5,
            breaker_window_ms: 60_000,
            breaker_cooldown_ms: 120_000,
        }
    }
}

impl RiskLimits {
    /// Slippage as parts per million.
    pub fn max_slippage_ppm(&self) -> u32 {
        self.max_slippage.micros().clamp(0, u32::MAX as i64) as u32
    }

    /// Annualised return floor as parts per million.
    pub fn min_apy_ppm(&self) -> i64 {
        self.min_apy.micros()
    }
}

/// Why an opportunity or exit was not taken. The label is the metric's `reason`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("kill switch engaged")]
    KillSwitch,
    /// A condition outside the engine holds new entries back (the store is
    /// away, say); exits and repairs go on.
    #[error("new entries paused: {0}")]
    Paused(&'static str),
    #[error("daily loss limit reached (realised {0} today)")]
    DailyLoss(Money),
    #[error("circuit breaker open for {0}")]
    CircuitBreaker(Venue),
    #[error("market {0} blocked until reconciled: {1}")]
    MarketBlocked(String, String),
    #[error("link already has a bundle in flight")]
    LinkBusy,
    #[error("stale or untradable book: {0}")]
    Stale(String),
    #[error("strategy's opportunity is inconsistent: {0}")]
    Invalid(String),
    #[error("cannot fill at the current books: {0}")]
    CannotFill(String),
    #[error("not profitable after fees on the current books (profit {0})")]
    Unprofitable(Money),
    #[error("profit {0} below the minimum {1}")]
    BelowMinProfit(Money, Money),
    #[error("spread {0} per contract below the minimum {1}")]
    BelowMinSpread(Money, Price),
    #[error("annualised return {0} ppm below the minimum {1} ppm")]
    BelowMinApy(i64, i64),
    #[error("leg on market {0} slips {1} ppm past its best price (max {2})")]
    Slippage(String, i64, u32),
    #[error("bundle cost {0} over the per-trade cap {1}")]
    OverTradeCapital(Money, Money),
    #[error("{0} exposure would reach {1} (cap {2})")]
    OverVenueExposure(Venue, Money, Money),
    #[error("event {0} exposure would reach {1} (cap {2})")]
    OverEventExposure(String, Money, Money),
    #[error("total exposure would reach {0} (cap {1})")]
    OverExposure(Money, Money),
    #[error("{0} bundles open (cap {1})")]
    MaxOpenBundles(u32, u32),
}

impl Reject {
    pub fn label(&self) -> &'static str {
        match self {
            Reject::KillSwitch => "kill_switch",
            Reject::Paused(why) => why,
            Reject::DailyLoss(_) => "daily_loss",
            Reject::CircuitBreaker(_) => "circuit_breaker",
            Reject::MarketBlocked(..) => "market_blocked",
            Reject::LinkBusy => "link_busy",
            Reject::Stale(_) => "stale",
            Reject::Invalid(_) => "invalid",
            Reject::CannotFill(_) => "cannot_fill",
            Reject::Unprofitable(_) => "unprofitable",
            Reject::BelowMinProfit(..) => "min_profit",
            Reject::BelowMinSpread(..) => "min_spread",
            Reject::BelowMinApy(..) => "min_apy",
            Reject::Slippage(..) => "slippage",
            Reject::OverTradeCapital(..) => "trade_capital",
            Reject::OverVenueExposure(..) => "venue_exposure",
            Reject::OverEventExposure(..) => "event_exposure",
            Reject::OverExposure(..) => "exposure",
            Reject::MaxOpenBundles(..) => "open_bundles",
        }
    }
}

/// Capital a bundle ties up, by venue and event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exposure {
    pub by_venue: Vec<(Venue, Money)>,
    pub by_event: Vec<(String, Money)>,
    pub total: Money,
}

impl Exposure {
    pub fn add(&mut self, venue: Venue, event: &str, amount: Money) {
        match self.by_venue.iter_mut().find(|(v, _)| *v == venue) {
            Some((_, m)) => *m += amount,
            None => self.by_venue.push((venue, amount)),
        }
        let key = format!("{venue}:{event}");
        match self.by_event.iter_mut().find(|(e, _)| *e == key) {
            Some((_, m)) => *m += amount,
            None => self.by_event.push((key, amount)),
        }
        self.total += amount;
    }
}

#[derive(Clone, Debug, Default)]
struct Breaker {
    errors: Vec<TimestampMs>,
    open_until: TimestampMs,
}

/// Live risk bookkeeping.
pub struct RiskState {
    pub limits: RiskLimits,
    kill: Arc<AtomicBool>,
    /// Each flag, while set, pauses new entries with its reason.
    pauses: Vec<(&'static str, Arc<AtomicBool>)>,
    reservations: HashMap<u64, Exposure>,
    by_venue: HashMap<Venue, Money>,
    by_event: HashMap<String, Money>,
    total: Money,
    realized_today: Money,
    day: i64,
    breakers: HashMap<Venue, Breaker>,
    blocked: HashMap<MarketId, (String, String)>,
    busy_links: HashSet<u32>,
}

const DAY_MS: i64 = 86_400_000;

impl RiskState {
    pub fn new(limits: RiskLimits, kill: Arc<AtomicBool>) -> RiskState {
        RiskState {
            limits,
            kill,
            pauses: Vec::new(),
            reservations: HashMap::new(),
            by_venue: HashMap::new(),
            by_event: HashMap::new(),
            total: Money::ZERO,
            realized_today: Money::ZERO,
            day: 0,
            breakers: HashMap::new(),
            blocked: HashMap::new(),
            busy_links: HashSet::new(),
        }
    }

    pub fn killed(&self) -> bool {
        self.kill.load(Ordering::Relaxed)
    }

    /// While `flag` is set, no new entry starts (reason `why`, also the
    /// rejection metric's label). Exits and repairs are not entries.
    pub fn add_pause(&mut self, why: &'static str, flag: Arc<AtomicBool>) {
        self.pauses.push((why, flag));
    }

    /// Checks that do not depend on the bundle: done before a strategy is even asked.
    pub fn gate(&self, now: TimestampMs) -> Result<(), Reject> {
        if self.killed() {
            return Err(Reject::KillSwitch);
        }
        if let Some((why, _)) = self.pauses.iter().find(|(_, f)| f.load(Ordering::Relaxed)) {
            return Err(Reject::Paused(why));
        }
        if now.div_euclid(DAY_MS) == self.day && self.realized_today <= -self.limits.daily_loss_limit {
            return Err(Reject::DailyLoss(self.realized_today));
        }
        Ok(())
    }

    pub fn check_venue(&self, venue: Venue, now: TimestampMs) -> Result<(), Reject> {
        match self.breakers.get(&venue) {
            Some(b) if b.open_until > now => Err(Reject::CircuitBreaker(venue)),
            _ => Ok(()),
        }
    }

    pub fn check_market(&self, market: MarketId) -> Result<(), Reject> {
        match self.blocked.get(&market) {
            Some((name, why)) => Err(Reject::MarketBlocked(name.clone(), why.clone())),
            None => Ok(()),
        }
    }

    pub fn link_busy(&self, link: u32) -> bool {
        self.busy_links.contains(&link)
    }

    /// Whether a new bundle with this exposure fits every cap.
    pub fn check_exposure(&self, e: &Exposure) -> Result<(), Reject> {
        let l = &self.limits;
        if e.total > l.max_trade_capital {
            return Err(Reject::OverTradeCapital(e.total, l.max_trade_capital));
        }
        let open = self.reservations.len() as u32;
        if open >= l.max_open_bundles {
            return Err(Reject::MaxOpenBundles(open, l.max_open_bundles));
        }
        if self.total + e.total > l.max_exposure {
            return Err(Reject::OverExposure(self.total + e.total, l.max_exposure));
        }
        for (v, m) in &e.by_venue {
            let now = self.by_venue.get(v).copied().unwrap_or_default() + *m;
            if now > l.max_venue_exposure {
                return Err(Reject::OverVenueExposure(*v, now, l.max_venue_exposure));
            }
        }
        for (ev, m) in &e.by_event {
            let now = self.by_event.get(ev).copied().unwrap_or_default() + *m;
            if now > l.max_event_exposure {
                return Err(Reject::OverEventExposure(ev.clone(), now, l.max_event_exposure));
            }
        }
        Ok(())
    }

    /// Hold capital for a bundle about to execute, and lock its link.
    pub fn reserve(&mut self, bundle: u64, link: u32, e: Exposure) {
        self.busy_links.insert(link);
        self.apply(&e, true);
        self.reservations.insert(bundle, e);
    }

    /// Replace a bundle's reservation with what it really holds (after fills).
    pub fn adjust(&mut self, bundle: u64, e: Exposure) {
        if let Some(old) = self.reservations.remove(&bundle) {
            self.apply(&old, false);
        }
        self.apply(&e, true);
        self.reservations.insert(bundle, e);
    }

    /// The link may be traded again (its execution finished).
    pub fn unlock_link(&mut self, link: u32) {
        self.busy_links.remove(&link);
    }

    /// A bundle is gone (closed, settled, or never filled).
    pub fn release(&mut self, bundle: u64) {
        if let Some(e) = self.reservations.remove(&bundle) {
            self.apply(&e, false);
        }
    }

    fn apply(&mut self, e: &Exposure, add: bool) {
        let sign = |m: Money| if add { m } else { -m };
        for (v, m) in &e.by_venue {
            *self.by_venue.entry(*v).or_default() += sign(*m);
        }
        for (ev, m) in &e.by_event {
            *self.by_event.entry(ev.clone()).or_default() += sign(*m);
        }
        self.total += sign(e.total);
    }

    pub fn exposure_by_venue(&self) -> &HashMap<Venue, Money> {
        &self.by_venue
    }

    pub fn total_exposure(&self) -> Money {
        self.total
    }

    pub fn open_bundles(&self) -> usize {
        self.reservations.len()
    }

    /// Book realised PnL toward the daily loss limit (UTC days).
    pub fn record_realized(&mut self, pnl: Money, now: TimestampMs) {
        let day = now.div_euclid(DAY_MS);
        if day != self.day {
            self.day = day;
            self.realized_today = Money::ZERO;
        }
        self.realized_today += pnl;
    }

    pub fn realized_today(&self) -> Money {
        self.realized_today
    }

    /// Count a venue error; enough of them open the venue's breaker.
    pub fn venue_error(&mut self, venue: Venue, now: TimestampMs) -> bool {
        let l = &self.limits;
        let b = self.breakers.entry(venue).or_default();
        b.errors.retain(|&t| now - t < l.breaker_window_ms);
        b.errors.push(now);
        if b.errors.len() as u32 >= l.breaker_errors && b.open_until <= now {
            b.open_until = now + l.breaker_cooldown_ms;
            b.errors.clear();
            tracing::error!(%venue, cooldown_ms = l.breaker_cooldown_ms, "circuit breaker opened: no new trades on this venue");
            return true;
        }
        false
    }

    /// Keep new trades off a market until `unblock` (reconciliation found drift).
    pub fn block_market(&mut self, market: MarketId, name: &str, why: &str) {
        self.blocked.insert(market, (name.to_string(), why.to_string()));
    }

    pub fn unblock_market(&mut self, market: MarketId) {
        self.blocked.remove(&market);
    }

    pub fn blocked_markets(&self) -> impl Iterator<Item = (&MarketId, &(String, String))> {
        self.blocked.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposure(v: Venue, event: &str, dollars: i64) -> Exposure {
        let mut e = Exposure::default();
        e.add(v, event, Money::from_dollars(dollars));
        e
    }

    #[test]
    fn caps_apply_and_release_frees_capital() {
        let limits = RiskLimits {
            max_trade_capital: Money::from_dollars(50),
            max_venue_exposure: Money::from_dollars(80),
            max_event_exposure: Money::from_dollars(60),
            max_exposure: Money::from_dollars(100),
            max_open_bundles: 3,
            ..RiskLimits::default()
        };
        let mut r = RiskState::new(limits, Arc::new(AtomicBool::new(false)));
        assert!(matches!(r.check_exposure(&exposure(Venue::Kalshi, "E", 51)), Err(Reject::OverTradeCapital(..))));
        r.reserve(1, 10, exposure(Venue::Kalshi, "E", 40));
        assert!(r.link_busy(10));
        assert!(matches!(r.check_exposure(&exposure(Venue::Kalshi, "E", 30)), Err(Reject::OverEventExposure(..))));
        assert!(matches!(r.check_exposure(&exposure(Venue::Kalshi, "F", 45)), Err(Reject::OverVenueExposure(..))));
        r.reserve(2, 11, exposure(Venue::PolymarketClob, "G", 50));
        assert!(matches!(r.check_exposure(&exposure(Venue::PolymarketAmm, "H", 20)), Err(Reject::OverExposure(..))));
        r.release(1);
        r.unlock_link(10);
        assert!(!r.link_busy(10));
        assert_eq!(r.total_exposure(), Money::from_dollars(50));
        r.check_exposure(&exposure(Venue::Kalshi, "E", 40)).unwrap();
    }

    #[test]
    fn a_pause_holds_entries_while_its_flag_is_set() {
        let mut r = RiskState::new(RiskLimits::default(), Arc::new(AtomicBool::new(false)));
        let away = Arc::new(AtomicBool::new(false));
        r.add_pause("store_unavailable", away.clone());
        assert_eq!(r.gate(0), Ok(()));
        away.store(true, Ordering::Relaxed);
        assert_eq!(r.gate(0), Err(Reject::Paused("store_unavailable")));
        assert_eq!(Reject::Paused("store_unavailable").label(), "store_unavailable");
        away.store(false, Ordering::Relaxed);
        assert_eq!(r.gate(0), Ok(()));
    }

    #[test]
    fn kill_switch_daily_loss_and_breaker() {
        let kill = Arc::new(AtomicBool::new(false));
        let mut r = RiskState::new(RiskLimits { breaker_errors: 2, ..RiskLimits::default() }, kill.clone());
        let now = 1_767_225_600_000;
        r.gate(now).unwrap();
        kill.store(true, Ordering::Relaxed);
        assert_eq!(r.gate(now), Err(Reject::KillSwitch));
        kill.store(false, Ordering::Relaxed);
        r.record_realized(-Money::from_dollars(100), now);
        assert!(matches!(r.gate(now), Err(Reject::DailyLoss(_))));
        assert!(r.gate(now + DAY_MS).is_ok(), "a new day resets the limit");
        assert!(!r.venue_error(Venue::Kalshi, now));
        assert!(r.venue_error(Venue::Kalshi, now + 1));
        assert_eq!(r.check_venue(Venue::Kalshi, now + 2), Err(Reject::CircuitBreaker(Venue::Kalshi)));
        assert!(r.check_venue(Venue::Kalshi, now + 1 + r.limits.breaker_cooldown_ms).is_ok());
    }
}
