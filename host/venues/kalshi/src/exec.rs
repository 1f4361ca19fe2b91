//! Order entry and account state: V2 orders in, `OrderReport`s out.

use arbytron_model::venue::{Action, OrderReport, OrderRequest, OrderStatus, TimeInForce, VenueError};
use arbytron_model::{Money, Price, Qty, Side};
use arbytron_sdk::Rounding;

use crate::convert::{self, BookSide};
use crate::rest::{invalid, malformed};
use crate::wire;

/// Build the V2 body for an order, after checking what Kalshi would refuse anyway.
pub fn v2_order(
    order: &OrderRequest,
    ranges: Option<&[wire::PriceRange]>,
    self_trade_prevention: &str,
) -> Result<wire::CreateOrderV2, VenueError> {
    if order.market.venue != arbytron_model::Venue::Kalshi {
        return Err(invalid(format!("{} is not a Kalshi market", order.market)));
    }
    if !order.quantity.is_positive() {
        return Err(invalid(format!("quantity {} must be positive", order.quantity)));
    }
    let (side, price) = convert::to_v2(order.side, order.action, order.limit_price);
    if price <= Price::ZERO || price >= Price::ONE {
        return Err(invalid(format!("price {} is outside (0, 1)", order.limit_price)));
    }
    if let Some(r) = ranges
        && !convert::on_grid(r, price)
    {
        return Err(invalid(format!("YES price {price} is off {}'s price grid", order.market.symbol)));
    }
    Ok(wire::CreateOrderV2 {
        ticker: order.market.symbol.clone(),
        side: side.as_str().into(),
        count: convert::format_count(order.quantity).map_err(invalid)?,
        price: convert::format_price(price),
        time_in_force: convert::tif_str(order.time_in_force).into(),
        self_trade_prevention_type: self_trade_prevention.into(),
        client_order_id: Some(order.client_order_id.clone()),
        post_only: None,
        reduce_only: None,
        expiration_time: None,
    })
}

fn qty(field: &str, s: &str) -> Result<Qty, VenueError> {
    Qty::parse_non_negative(s).map_err(|e| malformed(format!("{field}: {e}")))
}

fn money(field: &str, s: Option<&str>) -> Result<Money, VenueError> {
    match s {
        None | Some("") => Ok(Money::ZERO),
        Some(s) => Money::parse(s).map_err(|e| malformed(format!("{field}: {e}"))),
    }
}

fn status(filled: Qty, requested: Qty, resting: Qty) -> OrderStatus {
    if filled >= requested && filled.is_positive() {
        OrderStatus::Filled
    } else if filled.is_positive() {
        OrderStatus::PartiallyFilled { resting: resting.is_positive() }
    } else if resting.is_positive() {
        OrderStatus::Resting
    } else {
        OrderStatus::Cancelled
    }
}

/// What the trader paid (buy) or received (sell) given the cost of the
/// order's outcome side: a V2 bid buys YES, an ask buys NO, and selling a
/// contract is buying its complement, so proceeds are `filled - cost`.
fn notional(action: Action, filled: Qty, outcome_cost: Money) -> Money {
    match action {
        Action::Buy => outcome_cost,
        Action::Sell => filled.payout() - outcome_cost,
    }
}

/// The report straight from the create response, with cost and fee from
/// Kalshi's per-contract averages (rounded against us).
pub fn report_from_create(order: &OrderRequest, r: &wire::CreateOrderResponse) -> Result<OrderReport, VenueError> {
    let filled = qty("fill_count", &r.fill_count)?;
    let remaining = qty("remaining_count", &r.remaining_count)?;
    let resting = if order.time_in_force == TimeInForce::GoodTillCanceled { remaining } else { Qty::ZERO };
    let (book_side, _) = convert::to_v2(order.side, order.action, order.limit_price);
    let (mut cost, mut fee) = (Money::ZERO, Money::ZERO);
    if filled.is_positive() {
        let avg = Price::parse(r.average_fill_price.as_deref().unwrap_or_default())
            .map_err(|e| malformed(format!("average_fill_price: {e}")))?;
        let outcome_price = if book_side == BookSide::Bid { avg } else { avg.complement() };
        let rounding = if order.action == Action::Buy { Rounding::Up } else { Rounding::Down };
        cost = filled.value_at(outcome_price, rounding);
        if let Some(f) = r.average_fee_paid.as_deref() {
            let per = Money::parse(f).map_err(|e| malformed(format!("average_fee_paid: {e}")))?;
            let per = Price::from_micros(per.micros()).map_err(|e| malformed(format!("average_fee_paid: {e}")))?;
            fee = filled.value_at(per, Rounding::Up).ceil_to(100);
        }
    }
    Ok(OrderReport {
        client_order_id: order.client_order_id.clone(),
        venue_order_id: r.order_id.clone(),
        status: status(filled, order.quantity, resting),
        filled,
        notional: notional(order.action, filled, cost),
        fee,
    })
}

/// The report from the order object, whose totals are exact.
pub fn report_from_order(action: Action, client_order_id: &str, o: &wire::Order) -> Result<OrderReport, VenueError> {
    let filled = qty("fill_count_fp", o.fill_count_fp.as_deref().unwrap_or("0"))?;
    let remaining = qty("remaining_count_fp", o.remaining_count_fp.as_deref().unwrap_or("0"))?;
    let initial = match o.initial_count_fp.as_deref() {
        Some(s) => qty("initial_count_fp", s)?,
        None => filled + remaining,
    };
    let resting = if o.status == "resting" { remaining } else { Qty::ZERO };
    let cost = money("taker_fill_cost_dollars", o.taker_fill_cost_dollars.as_deref())?
        + money("maker_fill_cost_dollars", o.maker_fill_cost_dollars.as_deref())?;
    let fee = money("taker_fees_dollars", o.taker_fees_dollars.as_deref())?
        + money("maker_fees_dollars", o.maker_fees_dollars.as_deref())?;
    Ok(OrderReport {
        client_order_id: o.client_order_id.clone().unwrap_or_else(|| client_order_id.to_string()),
        venue_order_id: o.order_id.clone(),
        status: status(filled, initial, resting),
        filled,
        notional: notional(action, filled, cost),
        fee,
    })
}

/// Side and action of an order we did not place in this process: its outcome
/// side is what it buys (Kalshi nets, so "sell YES" and "buy NO" are one thing).
pub fn default_intent(outcome_side: &str, book_side: &str) -> (Side, Action) {
    match (outcome_side, book_side) {
        ("no", _) | ("", "ask") => (Side::No, Action::Buy),
        _ => (Side::Yes, Action::Buy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbytron_model::{MarketKey, Venue};

    fn req(side: Side, action: Action, price: &str, n: i64, tif: TimeInForce) -> OrderRequest {
        OrderRequest {
            client_order_id: "c1".into(),
            market: MarketKey::new(Venue::Kalshi, "M"),
            side,
            action,
            quantity: Qty::from_contracts(n),
            limit_price: Price::parse(price).unwrap(),
            time_in_force: tif,
            amount: None,
        }
    }

    #[test]
    fn v2_bodies_for_each_intent() {
        let o =
            v2_order(&req(Side::No, Action::Buy, "0.37", 10, TimeInForce::FillOrKill), None, "taker_at_cross").unwrap();
        assert_eq!((o.side.as_str(), o.price.as_str(), o.count.as_str()), ("ask", "0.6300", "10.00"));
        assert_eq!(o.time_in_force, "fill_or_kill");
        let o =
            v2_order(&req(Side::No, Action::Sell, "0.37", 1, TimeInForce::ImmediateOrCancel), None, "maker").unwrap();
        assert_eq!((o.side.as_str(), o.price.as_str()), ("bid", "0.6300"));
        let o =
            v2_order(&req(Side::Yes, Action::Sell, "0.37", 1, TimeInForce::GoodTillCanceled), None, "maker").unwrap();
        assert_eq!(
            (o.side.as_str(), o.price.as_str(), o.time_in_force.as_str()),
            ("ask", "0.3700", "good_till_canceled")
        );
        let grid = vec![wire::PriceRange { start: "0".into(), end: "1".into(), step: "0.01".into() }];
        assert!(v2_order(&req(Side::Yes, Action::Buy, "0.375", 1, TimeInForce::FillOrKill), Some(&grid), "m").is_err());
        assert!(v2_order(&req(Side::Yes, Action::Buy, "1", 1, TimeInForce::FillOrKill), None, "m").is_err());
        assert!(v2_order(&req(Side::Yes, Action::Buy, "0.5", 0, TimeInForce::FillOrKill), None, "m").is_err());
    }

    #[test]
    fn reports_from_create_responses() {
        let r = wire::CreateOrderResponse {
            order_id: "o".into(),
            fill_count: "4.00".into(),
            remaining_count: "0.00".into(),
            average_fill_price: Some("0.6300".into()),
            average_fee_paid: Some("0.0175".into()),
            ..Default::default()
        };
        // Buying NO at 0.37 is an ask at 0.63: 4 NO contracts cost 4 * 0.37.
        let rep =
            report_from_create(&req(Side::No, Action::Buy, "0.37", 10, TimeInForce::ImmediateOrCancel), &r).unwrap();
        assert_eq!(rep.status, OrderStatus::PartiallyFilled { resting: false });
        assert_eq!(
            (rep.filled, rep.notional, rep.fee),
            (Qty::from_contracts(4), Money::parse("1.48").unwrap(), Money::parse("0.07").unwrap())
        );
        // Selling YES at the same fill receives 4 * 0.63.
        let rep = report_from_create(&req(Side::Yes, Action::Sell, "0.63", 4, TimeInForce::FillOrKill), &r).unwrap();
        assert_eq!((rep.status, rep.notional), (OrderStatus::Filled, Money::parse("2.52").unwrap()));
        let none = wire::CreateOrderResponse {
            order_id: "o".into(),
            fill_count: "0.00".into(),
            remaining_count: "0.00".into(),
            ..Default::default()
        };
        assert_eq!(
            report_from_create(&req(Side::Yes, Action::Buy, "0.5", 1, TimeInForce::FillOrKill), &none).unwrap().status,
            OrderStatus::Cancelled
        );
        let rest = wire::CreateOrderResponse { remaining_count: "1.00".into(), ..none };
        assert_eq!(
            report_from_create(&req(Side::Yes, Action::Buy, "0.5", 1, TimeInForce::GoodTillCanceled), &rest)
                .unwrap()
                .status,
            OrderStatus::Resting
        );
    }
}
