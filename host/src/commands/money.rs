//! `arbytron fees` and `arbytron quote`: the SDK's money math, by hand.
//!
//! Both print exactly what the trading path computes (the same
//! `arbytron_sdk` functions), so a user can check a number before trusting it.
//!
//! # `arbytron fees`
//!
//! ```text
//! arbytron fees --venue kalshi --price 0.50 --count 100
//! $1.75
//! Kalshi taker: round_up_to_cent(0.07 x multiplier 1 x 100 contracts x 0.5 x (1 - 0.5)) = round_up_to_cent(1.75)
//! ```
//!
//! # `arbytron quote FILE.json`
//!
//! Sizes a leg set with [`arbytron_sdk::sizing`] and prints the best bundle
//! (per-leg quantity, limit price, amount, fee) and the profit curve. The
//! file (example: `config/examples/quote.json`):
//!
//! ```json
//! {
//!   "link": 1,
//!   "days_to_resolution": "30",
//!   "limits": { "max_capital": "500", "min_profit": "0.01", "max_slippage_ppm": 50000, "lot": "0.01" },
//!   "legs": [
//!     { "outcome": 0, "market": 1, "venue": "kalshi", "side": "yes",
//!       "fee": { "model": "kalshi", "series": "KXFED", "fee_type": "quadratic", "multiplier": "1" },
//!       "asks": [["0.40", "10"], ["0.45", "10"]] },
//!     { "outcome": 1, "market": 2, "venue": "polymarket-clob", "side": "no",
//!       "fee": { "model": "polymarket", "rate": "0.04", "exponent": 1 }, "min_qty": "5",
//!       "asks": [["0.50", "15"]] },
//!     { "outcome": 1, "market": 3, "venue": "polymarket-amm", "side": "no",
//!       "fee": { "model": "amm", "fee": "0.02" }, "fixed_cost": "0.03",
//!       "pool": { "balances": ["1000", "1500"], "outcome": 1 } }
//!   ]
//! }
//! ```
//!
//! - `link` (optional, default 0) and `days_to_resolution` (decimal days,
//!   default 30) feed the annualised return.
//! - `limits`: any of `max_capital`, `min_profit` (dollars), `min_return_ppm`,
//!   `min_apy_ppm`, `max_slippage_ppm`, `lot`, `max_qty` (contracts); omitted
//!   ones take the SDK defaults (no capital cap, 0.01 lot).
//! - `legs`: each buys one `outcome` (0-based; the outcomes together pay $1);
//!   `venue` is `kalshi`, `polymarket-clob` or `polymarket-amm`; `side` `yes`
//!   or `no`; `fee` one of `{"model": "none"}`, `{"model": "kalshi", "series",
//!   "fee_type", "multiplier"}`, `{"model": "polymarket", "rate", "exponent"}`,
//!   `{"model": "amm", "fee"}` (a fraction, `"0.02"` = 2%); optional
//!   `min_qty` and `fixed_cost` (gas, dollars); and either `asks` (best
//!   first, `[price, size]` decimal strings) or `pool` (`balances` in dollars
//!   of each outcome token, `outcome` this leg buys).
//!
//! Every amount is a decimal string parsed exactly; a malformed one is an
//! error naming the leg and field.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use arbytron_sdk::sizing::{self, Limits};
use arbytron_sdk::wire::{LegHeader, LegsBuf};
use arbytron_sdk::{Candidate, FeeSchedule, Level, Money, Price, Qty, Side, Venue};
use serde::Deserialize;

/// Which venue's fee formula.
#[derive(clap::ValueEnum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum FeeVenue {
    Kalshi,
    Polymarket,
}

/// `arbytron fees`: one order's fee.
#[derive(clap::Args, Debug, Clone)]
pub struct FeesArgs {
    /// Whose fee schedule.
    #[arg(long, value_enum)]
    pub venue: FeeVenue,
    /// Price per contract in dollars, e.g. 0.50.
    #[arg(long)]
    pub price: String,
    /// Contracts (shares), e.g. 100 or 12.5.
    #[arg(long)]
    pub count: String,
    /// The order rests on the book (maker) instead of taking liquidity.
    #[arg(long)]
    pub maker: bool,
    /// Polymarket: the market's fee rate (feeSchedule.rate), e.g. 0.07.
    #[arg(long)]
    pub rate: Option<String>,
    /// Kalshi: series ticker (INX / NASDAQ100 series pay half).
    #[arg(long)]
    pub series: Option<String>,
    /// Polymarket: the fee schedule's exponent (default 1).
    #[arg(long)]
    pub exponent: Option<u32>,
    /// Kalshi: the series' fee_type, quadratic (default) or quadratic_with_maker_fees.
    #[arg(long = "fee-type")]
    pub fee_type: Option<String>,
    /// Kalshi: the series' (or event's) fee_multiplier (default 1).
    #[arg(long)]
    pub multiplier: Option<String>,
}

/// The fee in dollars, and on a second line the formula that produced it.
pub fn fees(args: &FeesArgs) -> anyhow::Result<String> {
    let price = Price::parse(&args.price).with_context(|| format!("--price {:?}", args.price))?;
    let count = Qty::parse_non_negative(&args.count).with_context(|| format!("--count {:?}", args.count))?;
    let role = if args.maker { "maker" } else { "taker" };
    let (schedule, explanation) = match args.venue {
        FeeVenue::Kalshi => {
            if args.rate.is_some() || args.exponent.is_some() {
                bail!(
                    "--rate and --exponent are Polymarket parameters; Kalshi takes --series, --fee-type, --multiplier"
                );
            }
            let series = args.series.as_deref().unwrap_or("");
            let fee_type = args.fee_type.as_deref().unwrap_or("quadratic");
            let multiplier = args.multiplier.as_deref().unwrap_or("1");
            let schedule = FeeSchedule::kalshi(series, fee_type, multiplier).map_err(anyhow::Error::msg)?;
            let FeeSchedule::Kalshi { taker_ppm, maker_ppm, multiplier_ppm } = schedule else {
                bail!("internal: Kalshi schedule expected");
            };
            let coef = if args.maker { maker_ppm } else { taker_ppm };
            let exact = exact_decimal(
                &[coef as u128, multiplier_ppm as u128, count.micros() as u128, price.variance_micros2() as u128],
                30,
            );
            let text = format!(
                "Kalshi {role}: round_up_to_cent({} x multiplier {} x {} contracts x {price} x (1 - {price})) = round_up_to_cent({exact})",
                ppm(coef),
                ppm(multiplier_ppm),
                plain(count.to_string())
            );
            (schedule, text)
        }
        FeeVenue::Polymarket => {
            if args.series.is_some() || args.fee_type.is_some() || args.multiplier.is_some() {
                bail!(
                    "--series, --fee-type and --multiplier are Kalshi parameters; Polymarket takes --rate and --exponent"
                );
            }
            let rate =
                args.rate.as_deref().context("--rate is required for Polymarket (the market's feeSchedule.rate)")?;
            let exponent = args.exponent.unwrap_or(1);
            let schedule = FeeSchedule::polymarket(rate, &exponent.to_string()).map_err(anyhow::Error::msg)?;
            let FeeSchedule::Polymarket { rate_ppm, .. } = schedule else {
                bail!("internal: Polymarket schedule expected");
            };
            let text = if args.maker {
                "Polymarket maker: makers pay no fee".to_string()
            } else {
                let mut factors = vec![rate_ppm as u128, count.micros() as u128];
                factors.extend(std::iter::repeat_n(price.variance_micros2() as u128, exponent as usize));
                let power = if exponent == 1 { String::new() } else { format!("^{exponent}") };
                format!(
                    "Polymarket taker: round_up_to_0.00001({} shares x {} x ({price} x (1 - {price})){power}) = round_up_to_0.00001({}); the venue rounds to the nearest: {}",
                    plain(count.to_string()),
                    ppm(rate_ppm),
                    exact_decimal(&factors, 12 + 12 * exponent),
                    dollars(schedule.charged_fill_fee(count, price, false))
                )
            };
            (schedule, text)
        }
    };
    let fee = if args.maker { schedule.maker_fee(count, price) } else { schedule.taker_fee(count, price) };
    Ok(format!("{}\n{explanation}", dollars(fee)))
}

/// A ppm coefficient as a decimal: 70000 -> "0.07".
fn ppm(v: u32) -> String {
    plain(Money::from_micros(v as i64).to_string())
}

/// A decimal without trailing zeros: "100.00" -> "100", "0.50" -> "0.5".
fn plain(s: String) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

fn dollars(m: Money) -> String {
    format!("${m}")
}

/// `prod(factors) / 10^scale` as an exact decimal string ("too large" past 128 bits).
fn exact_decimal(factors: &[u128], scale: u32) -> String {
    let Some(n) = factors.iter().try_fold(1u128, |acc, &f| acc.checked_mul(f)) else {
        return "(too large to show exactly)".into();
    };
    let digits = format!("{n:0>width$}", width = scale as usize + 1);
    let (int, frac) = digits.split_at(digits.len() - scale as usize);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() { int.to_string() } else { format!("{int}.{frac}") }
}

/// `arbytron quote FILE.json`: size a leg set and print the table.
#[derive(clap::Args, Debug, Clone)]
pub struct QuoteArgs {
    /// The leg set (format in `arbytron quote --help` and config/examples/quote.json).
    pub file: PathBuf,
    /// Override the file's max_capital (dollars).
    #[arg(long)]
    pub max_capital: Option<String>,
    /// Print the whole profit curve, not just the sizes around the best.
    #[arg(long)]
    pub curve: bool,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct QuoteFile {
    #[serde(default)]
    link: u32,
    #[serde(default = "thirty")]
    days_to_resolution: Money,
    #[serde(default)]
    limits: QuoteLimits,
    legs: Vec<QuoteLeg>,
}

fn thirty() -> Money {
    Money::from_dollars(30)
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct QuoteLimits {
    max_capital: Option<Money>,
    min_profit: Option<Money>,
    min_return_ppm: Option<i64>,
    min_apy_ppm: Option<i64>,
    max_slippage_ppm: Option<u32>,
    lot: Option<Qty>,
    max_qty: Option<Qty>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct QuoteLeg {
    outcome: u32,
    #[serde(default)]
    market: Option<u32>,
    venue: Venue,
    side: Side,
    fee: QuoteFee,
    #[serde(default)]
    min_qty: Option<Qty>,
    #[serde(default)]
    fixed_cost: Option<Money>,
    #[serde(default)]
    asks: Option<Vec<(Price, Qty)>>,
    #[serde(default)]
    pool: Option<QuotePool>,
}

#[derive(Deserialize, Debug)]
#[serde(tag = "model", rename_all = "kebab-case", deny_unknown_fields)]
enum QuoteFee {
    None,
    Kalshi {
        #[serde(default)]
        series: String,
        #[serde(default = "quadratic")]
        fee_type: String,
        #[serde(default = "one")]
        multiplier: String,
    },
    Polymarket {
        rate: String,
        #[serde(default = "one_u32")]
        exponent: u32,
    },
    Amm {
        fee: Price,
    },
}

fn quadratic() -> String {
    "quadratic".into()
}
fn one() -> String {
    "1".into()
}
fn one_u32() -> u32 {
    1
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct QuotePool {
    balances: Vec<Money>,
    outcome: usize,
}

impl QuoteFee {
    fn schedule(&self) -> Result<FeeSchedule, String> {
        match self {
            QuoteFee::None => Ok(FeeSchedule::None),
            QuoteFee::Kalshi { series, fee_type, multiplier } => FeeSchedule::kalshi(series, fee_type, multiplier),
            QuoteFee::Polymarket { rate, exponent } => FeeSchedule::polymarket(rate, &exponent.to_string()),
            // A fraction in millionths -> 1e18-scaled.
            QuoteFee::Amm { fee } => Ok(FeeSchedule::Amm { fee_wad: fee.micros() as u64 * 1_000_000_000_000 }),
        }
    }
}

/// Size the leg set in `args.file` and format the result.
pub fn quote(args: &QuoteArgs) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let file: QuoteFile =
        serde_json::from_str(&text).with_context(|| format!("{} is not a valid leg set", args.file.display()))?;
    let max_capital = match &args.max_capital {
        Some(s) => Some(Money::parse(s).with_context(|| format!("--max-capital {s:?}"))?),
        None => file.limits.max_capital,
    };
    quote_file(&file, max_capital, args.curve)
}

fn quote_file(file: &QuoteFile, max_capital: Option<Money>, full_curve: bool) -> anyhow::Result<String> {
    if file.legs.is_empty() {
        bail!("the leg set has no legs");
    }
    let d = Limits::default();
    let l = &file.limits;
    let limits = Limits {
        max_capital: max_capital.unwrap_or(d.max_capital),
        min_profit: l.min_profit.unwrap_or(d.min_profit),
        min_return_ppm: l.min_return_ppm.unwrap_or(d.min_return_ppm),
        min_annualized_ppm: l.min_apy_ppm.unwrap_or(d.min_annualized_ppm),
        max_slippage_ppm: l.max_slippage_ppm.unwrap_or(d.max_slippage_ppm),
        lot: l.lot.unwrap_or(d.lot),
        max_qty: l.max_qty.unwrap_or(d.max_qty),
    };
    if !limits.lot.is_positive() {
        bail!("limits.lot must be positive");
    }
    let millis = i64::try_from(file.days_to_resolution.micros() as i128 * 86_400_000 / 1_000_000)
        .ok()
        .filter(|&m| m > 0)
        .context("days_to_resolution must be positive")?;

    let mut buf = LegsBuf::default();
    for (i, leg) in file.legs.iter().enumerate() {
        let fee = leg.fee.schedule().map_err(|e| anyhow::anyhow!("leg {i}: fee: {e}"))?;
        let header = LegHeader {
            outcome: leg.outcome,
            market: leg.market.unwrap_or(i as u32),
            venue: leg.venue,
            side: leg.side,
            fee,
            tick: Price::ZERO,
            min_qty: leg.min_qty.unwrap_or(Qty::ZERO),
            fixed_cost: leg.fixed_cost.unwrap_or(Money::ZERO),
            updated_at: 0,
        };
        if header.min_qty.micros() < 0 || header.fixed_cost.is_negative() {
            bail!("leg {i}: min_qty and fixed_cost must not be negative");
        }
        match (&leg.asks, &leg.pool) {
            (Some(asks), None) => {
                if let Some(bad) = asks.iter().find(|(_, q)| q.micros() < 0) {
                    bail!("leg {i}: ask size {} is negative", bad.1);
                }
                buf.push_book(&header, asks.iter().map(|&(p, q)| Level::new(p, q)), usize::MAX);
            }
            (None, Some(pool)) => {
                if !matches!(fee, FeeSchedule::Amm { .. }) {
                    bail!("leg {i}: a pool leg needs the amm fee model");
                }
                if pool.balances.len() < 2 || pool.outcome >= pool.balances.len() {
                    bail!("leg {i}: a pool needs at least 2 balances and an outcome index among them");
                }
                if pool.balances.iter().any(|b| b.is_negative()) {
                    bail!("leg {i}: pool balances must not be negative");
                }
                buf.push_pool(&header, pool.outcome, pool.balances.iter().map(|b| b.micros()));
            }
            _ => bail!("leg {i}: give exactly one of asks (a book) or pool"),
        }
    }
    let c = Candidate::new(file.link, 0, millis, &buf.legs, &buf.data).context("the leg set does not encode")?;
    let outcomes = c.legs.outcome_count();
    for o in 0..outcomes {
        if !c.legs.iter().any(|l| l.outcome as usize == o) {
            bail!("outcome {o} has no leg: outcomes must be numbered 0..{} without gaps", outcomes - 1);
        }
    }

    let mut out = String::new();
    let days = file.days_to_resolution;
    match sizing::best_plan(&c, &limits) {
        Some(p) => {
            writeln!(
                out,
                "best bundle: {} contracts per outcome; cost ${}, fees ${}, payout ${}, profit ${} (return {}, {} annualised over {days} days)",
                p.quantity,
                p.cost,
                p.fees,
                p.payout,
                p.profit,
                percent(p.return_ppm),
                percent(p.annualized_ppm)
            )?;
            writeln!(
                out,
                "{:<8} {:<4} {:<16} {:<7} {:<5} {:>12} {:>9} {:>12} {:>10} {:>8} {:>12}",
                "outcome", "leg", "venue", "market", "side", "qty", "limit", "amount", "fee", "fixed", "cost"
            )?;
            for l in &p.legs {
                writeln!(
                    out,
                    "{:<8} {:<4} {:<16} {:<7} {:<5} {:>12} {:>9} {:>12} {:>10} {:>8} {:>12}",
                    l.outcome,
                    l.leg,
                    l.venue.as_str(),
                    l.market,
                    l.side.as_str(),
                    l.qty.to_string(),
                    l.limit_price.to_string(),
                    l.amount.to_string(),
                    l.fee.to_string(),
                    l.fixed_cost.to_string(),
                    l.cost.to_string()
                )?;
                if l.received != l.qty {
                    writeln!(out, "{:<8} (pool leg receives {} tokens)", "", l.received)?;
                }
            }
        }
        None => {
            writeln!(out, "no profitable bundle under these limits")?;
        }
    }
    let curve = sizing::profit_curve(&c, &limits);
    if !curve.is_empty() {
        writeln!(out, "profit curve (cheapest leg per outcome at each breakpoint):")?;
        writeln!(out, "{:>12} {:>12} {:>12}", "qty", "cost", "profit")?;
        let shown = if full_curve || curve.len() <= 24 { curve.len() } else { 24 };
        for pt in &curve[..shown] {
            writeln!(out, "{:>12} {:>12} {:>12}", pt.qty.to_string(), pt.cost.to_string(), pt.profit.to_string())?;
        }
        if shown < curve.len() {
            writeln!(out, "... {} more points (--curve shows all)", curve.len() - shown)?;
        }
    }
    Ok(out)
}

/// ppm as a percentage with two decimals, rounded toward zero: 53321 -> "5.33%".
fn percent(ppm: i64) -> String {
    let sign = if ppm < 0 { "-" } else { "" };
    let a = ppm.unsigned_abs();
    format!("{sign}{}.{:02}%", a / 10_000, (a % 10_000) / 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kalshi(price: &str, count: &str) -> FeesArgs {
        FeesArgs {
            venue: FeeVenue::Kalshi,
            price: price.into(),
            count: count.into(),
            maker: false,
            rate: None,
            series: None,
            exponent: None,
            fee_type: None,
            multiplier: None,
        }
    }

    #[test]
    fn kalshi_published_examples() {
        let out = fees(&kalshi("0.50", "100")).unwrap();
        assert_eq!(
            out,
            "$1.75\nKalshi taker: round_up_to_cent(0.07 x multiplier 1 x 100 contracts x 0.50 x (1 - 0.50)) = round_up_to_cent(1.75)"
        );
        assert!(fees(&kalshi("0.50", "1")).unwrap().starts_with("$0.02\n"));
        let index = FeesArgs { series: Some("INXD".into()), ..kalshi("0.50", "100") };
        assert!(fees(&index).unwrap().starts_with("$0.88\n"));
        let maker =
            FeesArgs { maker: true, fee_type: Some("quadratic_with_maker_fees".into()), ..kalshi("0.50", "100") };
        assert!(fees(&maker).unwrap().starts_with("$0.44\nKalshi maker: round_up_to_cent(0.0175 x"));
        let half = FeesArgs { multiplier: Some("0.5".into()), ..kalshi("0.50", "100") };
        assert!(fees(&half).unwrap().starts_with("$0.88\n"));
    }

    #[test]
    fn polymarket_published_example_and_nearest_rounding() {
        let args = FeesArgs { venue: FeeVenue::Polymarket, rate: Some("0.07".into()), ..kalshi("0.50", "100") };
        let out = fees(&args).unwrap();
        assert_eq!(
            out,
            "$1.75\nPolymarket taker: round_up_to_0.00001(100 shares x 0.07 x (0.50 x (1 - 0.50))) = round_up_to_0.00001(1.75); the venue rounds to the nearest: $1.75"
        );
        let small = FeesArgs { venue: FeeVenue::Polymarket, rate: Some("0.07".into()), ..kalshi("0.01", "1") };
        let out = fees(&small).unwrap();
        assert!(out.starts_with("$0.0007\n"), "{out}");
        assert!(out.contains("= round_up_to_0.00001(0.000693)"), "{out}");
        assert!(out.ends_with("the venue rounds to the nearest: $0.00069"), "{out}");
        let squared = FeesArgs {
            venue: FeeVenue::Polymarket,
            rate: Some("0.25".into()),
            exponent: Some(2),
            ..kalshi("0.50", "100")
        };
        assert!(fees(&squared).unwrap().starts_with("$1.5625\n"));
        let maker =
            FeesArgs { venue: FeeVenue::Polymarket, rate: Some("0.07".into()), maker: true, ..kalshi("0.5", "10") };
        assert_eq!(fees(&maker).unwrap(), "$0.00\nPolymarket maker: makers pay no fee");
    }

    #[test]
    fn fees_refuse_bad_input_with_reasons() {
        let e = fees(&kalshi("1.5", "100")).unwrap_err();
        assert!(format!("{e:#}").contains("--price \"1.5\""), "{e:#}");
        let e = fees(&kalshi("0.5", "-3")).unwrap_err();
        assert!(format!("{e:#}").contains("--count"), "{e:#}");
        let e = fees(&FeesArgs { venue: FeeVenue::Polymarket, ..kalshi("0.5", "1") }).unwrap_err();
        assert!(e.to_string().contains("--rate is required"));
        let e = fees(&FeesArgs { rate: Some("0.07".into()), ..kalshi("0.5", "1") }).unwrap_err();
        assert!(e.to_string().contains("Polymarket parameters"));
        let e = fees(&FeesArgs { fee_type: Some("flat".into()), ..kalshi("0.5", "1") }).unwrap_err();
        assert!(e.to_string().contains("unsupported Kalshi fee_type"));
    }

    fn example() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/examples/quote.json")
    }

    #[test]
    fn quotes_the_example_file() {
        let out = quote(&QuoteArgs { file: example(), max_capital: None, curve: false }).unwrap();
        assert!(out.starts_with("best bundle: "), "{out}");
        assert!(out.contains("kalshi"), "{out}");
        assert!(out.contains("profit curve"), "{out}");
        // The same numbers the SDK gives for the same legs.
        let file: QuoteFile = serde_json::from_str(&std::fs::read_to_string(example()).unwrap()).unwrap();
        let again = quote_file(&file, None, false).unwrap();
        assert_eq!(out, again);
        // A tight capital limit shrinks the bundle.
        let small = quote(&QuoteArgs { file: example(), max_capital: Some("5".into()), curve: false }).unwrap();
        assert!(
            small.contains("cost $4.") || small.contains("cost $5.00") || small.starts_with("no profitable"),
            "{small}"
        );
    }

    #[test]
    fn quote_sizes_a_pair_exactly() {
        let json = r#"{
            "days_to_resolution": "30",
            "legs": [
                { "outcome": 0, "market": 1, "venue": "kalshi", "side": "yes",
                  "fee": { "model": "none" }, "asks": [["0.40", "100"]] },
                { "outcome": 1, "market": 2, "venue": "polymarket-clob", "side": "no",
                  "fee": { "model": "none" }, "asks": [["0.50", "100"]] }
            ]
        }"#;
        let file: QuoteFile = serde_json::from_str(json).unwrap();
        let out = quote_file(&file, Some(Money::from_dollars(45)), false).unwrap();
        assert!(
            out.starts_with("best bundle: 50.00 contracts per outcome; cost $45.00, fees $0.00, payout $50.00, profit $5.00 (return 11.11%, 135.18% annualised over 30.00 days)"),
            "{out}"
        );
    }

    #[test]
    fn quote_refuses_malformed_leg_sets() {
        let bad = |json: &str| {
            let file: Result<QuoteFile, _> = serde_json::from_str(json);
            match file {
                Err(e) => e.to_string(),
                Ok(f) => quote_file(&f, None, false).unwrap_err().to_string(),
            }
        };
        let e = bad(
            r#"{"legs": [{"outcome": 0, "venue": "kalshi", "side": "yes", "fee": {"model": "none"}, "asks": [["1.5", "1"]]}]}"#,
        );
        assert!(e.contains("outside [0, 1]"), "{e}");
        let e = bad(r#"{"legs": [{"outcome": 0, "venue": "kalshi", "side": "yes", "fee": {"model": "none"}}]}"#);
        assert!(e.contains("exactly one of asks"), "{e}");
        let e = bad(
            r#"{"legs": [{"outcome": 1, "venue": "kalshi", "side": "yes", "fee": {"model": "none"}, "asks": []}]}"#,
        );
        assert!(e.contains("outcome 0 has no leg"), "{e}");
        let e =
            bad(r#"{"legs": [{"outcome": 0, "venue": "nyse", "side": "yes", "fee": {"model": "none"}, "asks": []}]}"#);
        assert!(e.contains("unknown variant"), "{e}");
        let e = bad(
            r#"{"legs": [{"outcome": 0, "venue": "kalshi", "side": "yes", "fee": {"model": "kalshi", "fee_type": "flat"}, "asks": []}]}"#,
        );
        assert!(e.contains("leg 0: fee: unsupported Kalshi fee_type"), "{e}");
        let e = bad(r#"{"legs": [], "extra": 1}"#);
        assert!(e.contains("unknown field"), "{e}");
    }

    #[test]
    fn exact_decimals_and_percentages() {
        assert_eq!(exact_decimal(&[70_000, 1_000_000, 100_000_000, 250_000_000_000], 30), "1.75");
        assert_eq!(exact_decimal(&[7, 1], 4), "0.0007");
        assert_eq!(exact_decimal(&[u128::MAX, 2], 1), "(too large to show exactly)");
        assert_eq!(percent(53_321), "5.33%");
        assert_eq!(percent(-1_234), "-0.12%");
        assert_eq!(ppm(70_000), "0.07");
        assert_eq!(ppm(1_000_000), "1");
    }
}
