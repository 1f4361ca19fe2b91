//! Generated host-side bindings for `wit/strategy.wit` and conversions to the
//! SDK's plain types (which the rest of the host works with).

use arbytron_sdk::{
    self as sdk, Capabilities, LegRef, Link, Listing, Money, Opportunity, Order, Position, Price, Qty, StrategyInfo,
};

mod generated {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "arbytron:strategy/strategy",
    });
}

pub use generated::arbytron;
pub use generated::arbytron::strategy::types as wit;
pub use generated::{Strategy, StrategyPre};

/// Limits on what a strategy may hand back; anything larger is treated as hostile.
#[derive(Clone, Debug)]
pub struct ReturnLimits {
    pub max_orders: usize,
    pub max_links: usize,
    pub max_outcomes: usize,
    pub max_legs_per_outcome: usize,
    pub max_string_bytes: usize,
}

impl Default for ReturnLimits {
    fn default() -> ReturnLimits {
        ReturnLimits {
            max_orders: 64,
            max_links: 100_000,
            max_outcomes: 64,
            max_legs_per_outcome: 16,
            max_string_bytes: 4096,
        }
    }
}

pub fn info_in(i: wit::StrategyInfo) -> StrategyInfo {
    let c = i.capabilities;
    StrategyInfo {
        name: i.name,
        version: i.version,
        capabilities: Capabilities {
            match_markets: c.contains(wit::Capabilities::MATCH_MARKETS),
            score: c.contains(wit::Capabilities::SCORE),
            decide_exit: c.contains(wit::Capabilities::DECIDE_EXIT),
            snapshot: c.contains(wit::Capabilities::SNAPSHOT),
        },
    }
}

pub fn venue_out(v: sdk::Venue) -> wit::Venue {
    match v {
        sdk::Venue::Kalshi => wit::Venue::Kalshi,
        sdk::Venue::PolymarketClob => wit::Venue::PolymarketClob,
        sdk::Venue::PolymarketAmm => wit::Venue::PolymarketAmm,
    }
}

fn side_in(s: wit::Side) -> sdk::Side {
    match s {
        wit::Side::Yes => sdk::Side::Yes,
        wit::Side::No => sdk::Side::No,
    }
}

fn side_out(s: sdk::Side) -> wit::Side {
    match s {
        sdk::Side::Yes => wit::Side::Yes,
        sdk::Side::No => wit::Side::No,
    }
}

pub fn listing_out(l: &Listing) -> wit::Listing {
    wit::Listing {
        market: l.market,
        venue: venue_out(l.venue),
        event: l.event.clone(),
        symbol: l.symbol.clone(),
        title: l.title.clone(),
        outcome: l.outcome.clone(),
        rules: l.rules.clone(),
        closes_at: l.closes_at,
        mutually_exclusive: l.mutually_exclusive,
    }
}

pub fn position_out(p: &Position) -> wit::Position {
    wit::Position {
        bundle: p.bundle,
        link: p.link,
        quantity: p.quantity.micros(),
        legs: p
            .legs
            .iter()
            .map(|l| wit::HeldLeg {
                market: l.market,
                side: side_out(l.side),
                quantity: l.quantity.micros(),
                cost: l.cost.micros(),
            })
            .collect(),
        cost: p.cost.micros(),
        opened_at: p.opened_at,
        resolves_at: p.resolves_at,
    }
}

/// Check and convert what `score` returned.
pub fn opportunity_in(o: wit::Opportunity, limits: &ReturnLimits) -> Result<Opportunity, String> {
    if o.orders.len() > limits.max_orders {
        return Err(format!("opportunity has {} orders (at most {})", o.orders.len(), limits.max_orders));
    }
    let orders = o.orders.into_iter().map(order_in).collect::<Result<Vec<_>, _>>()?;
    if o.quantity < 0 {
        return Err(format!("negative bundle quantity {}", o.quantity));
    }
    Ok(Opportunity {
        link: o.link,
        quantity: Qty::from_micros(o.quantity),
        orders,
        cost: Money::from_micros(o.cost),
        fees: Money::from_micros(o.fees),
        payout: Money::from_micros(o.payout),
        profit: Money::from_micros(o.profit),
        return_ppm: o.return_ppm,
        annualized_ppm: o.annualized_ppm,
    })
}

pub fn order_in(o: wit::Order) -> Result<Order, String> {
    let limit_price = Price::from_micros(o.limit_price).map_err(|e| format!("order limit price: {e}"))?;
    if o.quantity < 0 || o.amount < 0 || o.fee < 0 {
        return Err(format!(
            "order on market {} has a negative quantity, amount or fee ({}, {}, {})",
            o.market, o.quantity, o.amount, o.fee
        ));
    }
    Ok(Order {
        market: o.market,
        side: side_in(o.side),
        quantity: Qty::from_micros(o.quantity),
        limit_price,
        amount: Money::from_micros(o.amount),
        fee: Money::from_micros(o.fee),
    })
}

pub fn exit_in(d: wit::ExitDecision, limits: &ReturnLimits) -> Result<sdk::ExitDecision, String> {
    match d {
        wit::ExitDecision::Hold => Ok(sdk::ExitDecision::Hold),
        wit::ExitDecision::Exit(orders) => {
            if orders.len() > limits.max_orders {
                return Err(format!("exit has {} orders (at most {})", orders.len(), limits.max_orders));
            }
            Ok(sdk::ExitDecision::Exit(orders.into_iter().map(order_in).collect::<Result<_, _>>()?))
        }
    }
}

pub fn links_in(links: Vec<wit::Link>, limits: &ReturnLimits) -> Result<Vec<Link>, String> {
    if links.len() > limits.max_links {
        return Err(format!("{} links (at most {})", links.len(), limits.max_links));
    }
    links
        .into_iter()
        .map(|l| {
            if l.outcomes.len() > limits.max_outcomes {
                return Err(format!("link with {} outcomes (at most {})", l.outcomes.len(), limits.max_outcomes));
            }
            if let Some(o) = l.outcomes.iter().find(|o| o.len() > limits.max_legs_per_outcome) {
                return Err(format!("outcome with {} legs (at most {})", o.len(), limits.max_legs_per_outcome));
            }
            if let Some(r) = l.reasons.iter().find(|r| r.len() > limits.max_string_bytes) {
                return Err(format!("reason of {} bytes (at most {})", r.len(), limits.max_string_bytes));
            }
            Ok(Link {
                outcomes: l
                    .outcomes
                    .into_iter()
                    .map(|legs| legs.into_iter().map(|r| LegRef { market: r.market, side: side_in(r.side) }).collect())
                    .collect(),
                confidence_ppm: l.confidence_ppm,
                reasons: l.reasons,
            })
        })
        .collect()
}
