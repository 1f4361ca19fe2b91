//! Kalshi's number formats: prices as 4-decimal dollar strings, counts with 2
//! decimals, money in dollars (strings) or whole cents (integers).

use arbytron_sdk::{Money, Price, Qty};

pub fn price(p: Price) -> String {
    p.to_decimal_string(4).unwrap_or_else(|_| p.to_decimal_string(6).unwrap_or_default())
}

pub fn count(q: Qty) -> String {
    q.to_decimal_string(2).unwrap_or_else(|_| q.to_decimal_string(6).unwrap_or_default())
}

pub fn dollars(m: Money) -> String {
    m.to_decimal_string(4).unwrap_or_else(|_| m.to_decimal_string(6).unwrap_or_default())
}

/// Whole cents, rounded down (what a non-direct member's balance shows).
pub fn cents(m: Money) -> i64 {
    m.micros().div_euclid(10_000)
}

pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}
