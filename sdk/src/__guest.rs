//! Guest-side glue: the generated bindings and the adapters the
//! [`crate::export_strategy!`] macro calls. Authors never touch this module.

use core::cell::UnsafeCell;

use crate::money::{Money, Price, Qty};
use crate::strategy::Strategy;
use crate::types as t;
use crate::wire::{Candidate, MarketView};

pub use wit_bindgen;

// Generated code: wit-bindgen's ABI glue is unsafe by nature.
#[allow(clippy::all, missing_docs, unsafe_code)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "arbytron:strategy/strategy",
        pub_export_macro: true,
        export_macro_name: "__export_strategy_world",
        default_bindings_module: "::arbytron_sdk::__guest::bindings",
        runtime_path: "::arbytron_sdk::__guest::wit_bindgen::rt",
        bitflags_path: "::arbytron_sdk::__guest::wit_bindgen::rt::bitflags",
    });
}

use bindings::arbytron::strategy::host as h;
use bindings::arbytron::strategy::types as b;

/// The strategy instance. A component instance is single-threaded and the host
/// imports never call back into it, so there is no concurrent or re-entrant access.
pub struct GuestCell<T>(UnsafeCell<Option<T>>);

// SAFETY: wasm32 guests run on one thread; see the type's doc comment.
#[allow(unsafe_code)]
unsafe impl<T> Sync for GuestCell<T> {}

impl<T> GuestCell<T> {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        GuestCell(UnsafeCell::new(None))
    }

    #[allow(unsafe_code)] // see the type's doc comment
    fn with<R>(&self, f: impl FnOnce(&mut Option<T>) -> R) -> R {
        // SAFETY: single-threaded and never re-entered (see above).
        f(unsafe { &mut *self.0.get() })
    }
}

pub(crate) fn log(level: t::LogLevel, message: &str) {
    let level = match level {
        t::LogLevel::Trace => b::LogLevel::Trace,
        t::LogLevel::Debug => b::LogLevel::Debug,
        t::LogLevel::Info => b::LogLevel::Info,
        t::LogLevel::Warn => b::LogLevel::Warn,
        t::LogLevel::Error => b::LogLevel::Error,
    };
    h::log(level, message);
}

pub(crate) fn now() -> t::TimestampMs {
    h::now()
}

pub fn describe<S: Strategy>() -> b::StrategyInfo {
    let c = S::CAPABILITIES;
    let mut caps = b::Capabilities::empty();
    caps.set(b::Capabilities::MATCH_MARKETS, c.match_markets);
    caps.set(b::Capabilities::SCORE, c.score);
    caps.set(b::Capabilities::DECIDE_EXIT, c.decide_exit);
    caps.set(b::Capabilities::SNAPSHOT, c.snapshot);
    b::StrategyInfo { name: S::NAME.into(), version: S::VERSION.into(), capabilities: caps }
}

pub fn init<S: Strategy>(cell: &GuestCell<S>, params: Vec<b::Param>) -> Result<(), String> {
    let params = t::Params(params.into_iter().map(|p| (p.key, p.value)).collect());
    let s = S::init(&params)?;
    cell.with(|slot| *slot = Some(s));
    Ok(())
}

pub fn match_markets<S: Strategy>(cell: &GuestCell<S>, listings: Vec<b::Listing>) -> Result<Vec<b::Link>, String> {
    let listings: Vec<t::Listing> = listings.into_iter().map(listing_in).collect();
    cell.with(|slot| {
        let s = slot.as_mut().ok_or("match-markets called before init")?;
        let links = s.match_markets(&listings)?;
        Ok(links.into_iter().map(link_out).collect())
    })
}

pub fn score<S: Strategy>(cell: &GuestCell<S>, c: b::Candidate) -> Option<b::Opportunity> {
    let candidate = match Candidate::new(c.link, c.now, c.resolves_at, &c.legs, &c.data) {
        Ok(c) => c,
        Err(e) => {
            crate::log(t::LogLevel::Warn, &format!("undecodable candidate: {e}"));
            return None;
        }
    };
    cell.with(|slot| slot.as_mut()?.score(&candidate)).map(opportunity_out)
}

pub fn decide_exit<S: Strategy>(cell: &GuestCell<S>, p: b::Position, v: b::MarketView) -> b::ExitDecision {
    let view = match MarketView::new(v.now, &v.legs, &v.data) {
        Ok(v) => v,
        Err(e) => {
            crate::log(t::LogLevel::Warn, &format!("undecodable market view: {e}"));
            return b::ExitDecision::Hold;
        }
    };
    let position = position_in(p);
    match cell.with(|slot| slot.as_mut().map(|s| s.decide_exit(&position, &view))) {
        Some(t::ExitDecision::Exit(orders)) => b::ExitDecision::Exit(orders.into_iter().map(order_out).collect()),
        _ => b::ExitDecision::Hold,
    }
}

pub fn snapshot<S: Strategy>(cell: &GuestCell<S>) -> Vec<u8> {
    cell.with(|slot| slot.as_ref().map(|s| s.snapshot()).unwrap_or_default())
}

pub fn restore<S: Strategy>(cell: &GuestCell<S>, state: Vec<u8>) -> Result<(), String> {
    cell.with(|slot| slot.as_mut().ok_or_else(|| "restore called before init".to_string())?.restore(&state))
}

fn venue_in(v: b::Venue) -> t::Venue {
    match v {
        b::Venue::Kalshi => t::Venue::Kalshi,
        b::Venue::PolymarketClob => t::Venue::PolymarketClob,
        b::Venue::PolymarketAmm => t::Venue::PolymarketAmm,
    }
}

fn side_in(s: b::Side) -> t::Side {
    match s {
        b::Side::Yes => t::Side::Yes,
        b::Side::No => t::Side::No,
    }
}

fn side_out(s: t::Side) -> b::Side {
    match s {
        t::Side::Yes => b::Side::Yes,
        t::Side::No => b::Side::No,
    }
}

fn listing_in(l: b::Listing) -> t::Listing {
    t::Listing {
        market: l.market,
        venue: venue_in(l.venue),
        event: l.event,
        symbol: l.symbol,
        title: l.title,
        outcome: l.outcome,
        rules: l.rules,
        closes_at: l.closes_at,
        mutually_exclusive: l.mutually_exclusive,
    }
}

fn link_out(l: t::Link) -> b::Link {
    b::Link {
        outcomes: l
            .outcomes
            .into_iter()
            .map(|legs| legs.into_iter().map(|r| b::LegRef { market: r.market, side: side_out(r.side) }).collect())
            .collect(),
        confidence_ppm: l.confidence_ppm,
        reasons: l.reasons,
    }
}

fn order_out(o: t::Order) -> b::Order {
    b::Order {
        market: o.market,
        side: side_out(o.side),
        quantity: o.quantity.micros(),
        limit_price: o.limit_price.micros(),
        amount: o.amount.micros(),
        fee: o.fee.micros(),
    }
}

fn opportunity_out(o: t::Opportunity) -> b::Opportunity {
    b::Opportunity {
        link: o.link,
        quantity: o.quantity.micros(),
        orders: o.orders.into_iter().map(order_out).collect(),
        cost: o.cost.micros(),
        fees: o.fees.micros(),
        payout: o.payout.micros(),
        profit: o.profit.micros(),
        return_ppm: o.return_ppm,
        annualized_ppm: o.annualized_ppm,
    }
}

fn position_in(p: b::Position) -> t::Position {
    t::Position {
        bundle: p.bundle,
        link: p.link,
        quantity: Qty::from_micros(p.quantity),
        legs: p
            .legs
            .into_iter()
            .map(|l| t::HeldLeg {
                market: l.market,
                side: side_in(l.side),
                quantity: Qty::from_micros(l.quantity),
                cost: Money::from_micros(l.cost),
            })
            .collect(),
        cost: Money::from_micros(p.cost),
        opened_at: p.opened_at,
        resolves_at: p.resolves_at,
    }
}

// Keep the import used on every path (prices cross as raw micros above).
const _: fn(i64) -> Result<Price, crate::AmountError> = Price::from_micros;
