//! Criterion benches: order signing and market-channel decode + apply.
fn main() {}
