//! Fixed-product market maker math for N outcomes, integer-exact as the Gnosis
//! `FixedProductMarketMaker` contract computes it (Polymarket's legacy AMM).
//!
//! Every function reproduces the contract's `uint256` arithmetic step by step:
//! the same floor divisions, the same `ceildiv(x, y) = x > 0 ? (x - 1) / y + 1 : x / y`,
//! the same order of operations. Where the contract would revert (an
//! underflowing subtraction, a division by zero, a 256-bit overflow, a failed
//! `require`), these functions return an [`AmmError`] instead of a number, so
//! a quote the chain would refuse is never traded on.
//!
//! Units: collateral and outcome tokens are 6-decimal base units. One base unit
//! of an outcome token is one [`crate::Qty`] micro-contract, one base unit of
//! collateral one [`crate::Money`] micro-dollar. The fee is 1e18-scaled
//! (`fee_wad = 2e16` is 2%).
//!
//! The contract, for reference (Solidity, `ONE = 1e18`):
//! - buy: `x' = x - x*fee/ONE`; `e = b_i*ONE`; for `j != i`: `e = ceildiv(e*b_j, b_j + x')`;
//!   tokens out `= b_i + x' - ceildiv(e, ONE)`; the fee stays in the pool's fee pool.
//! - sell: `R = r*ONE/(ONE - fee)` (return plus fee); `e = b_i*ONE`; for `j != i`:
//!   `e = ceildiv(e*b_j, b_j - R)`; tokens in `= R + ceildiv(e, ONE) - b_i`.
//! - addFunding: first funding mints `F` shares and, with a distribution hint,
//!   keeps `F*hint_k/max(hint)` of outcome `k` and sends the rest back; later
//!   fundings keep `F*b_k/max(b)` and mint `F*supply/max(b)`.
//! - removeFunding: sends `b_k*shares/supply` of every outcome token.

use crate::money::{Price, SCALE};
use crate::wide::{U256, mul_div_floor};

/// The contract's fixed-point one: fees are `fee_wad / ONE`.
pub const ONE: u128 = 1_000_000_000_000_000_000;

/// Investments searched by [`max_investment_at_or_below`] stop here
/// (about $18 trillion of 6-decimal collateral): beyond it nothing is a trade.
pub const INVESTMENT_SEARCH_CAP: u128 = u64::MAX as u128;

/// Why the contract would refuse (revert) or why a quote cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmmError {
    #[error("a pool needs at least 2 outcomes, got {0}")]
    TooFewOutcomes(usize),
    #[error("invalid outcome index {index} for a pool of {outcomes} outcomes")]
    InvalidOutcome { index: usize, outcomes: usize },
    #[error("must have non-zero balances: the pool holds none of some outcome")]
    ZeroBalance,
    #[error("fee {fee_wad} (1e18 = 100%) leaves nothing to trade: the contract reverts")]
    FeeTooHigh { fee_wad: u64 },
    #[error(
        "selling needs {needed} (return plus fee) of outcome {outcome} from the pool, which holds {available}: the contract's subtraction underflows"
    )]
    InsufficientPoolBalance { outcome: usize, needed: u128, available: u128 },
    #[error("division by zero in {0}: the contract panics")]
    DivisionByZero(&'static str),
    #[error("uint256 overflow in {0}: the contract reverts")]
    Overflow(&'static str),
    #[error("{0} does not fit in 128 bits")]
    TooLarge(&'static str),
    #[error("funding must be non-zero")]
    ZeroFunding,
    #[error("cannot use distribution hint after initial funding")]
    HintAfterInitialFunding,
    #[error("hint length off: {hint} entries for a pool of {outcomes} outcomes")]
    HintLength { hint: usize, outcomes: usize },
    #[error("must hint a valid distribution: outcome {0} would get nothing")]
    InvalidHint(usize),
    #[error("cannot burn {shares} shares: only {total} exist")]
    BurnExceedsSupply { shares: u128, total: u128 },
    #[error("no investment buys {tokens} tokens of outcome {outcome}")]
    Unreachable { tokens: u128, outcome: usize },
}

#[inline]
fn check_outcome(balances: &[u128], outcome: usize) -> Result<(), AmmError> {
    if balances.len() < 2 {
        return Err(AmmError::TooFewOutcomes(balances.len()));
    }
    if outcome >= balances.len() {
        return Err(AmmError::InvalidOutcome { index: outcome, outcomes: balances.len() });
    }
    Ok(())
}

#[inline]
fn u(v: u128) -> U256 {
    U256::from_u128(v)
}

/// `floor(x * fee / ONE)` as a `uint256` (can pass 128 bits only for fees above 100%).
#[inline]
fn buy_fee_wide(fee_wad: u64, investment: u128) -> U256 {
    // x < 2^128 and fee < 2^64, so the product fits in 192 bits.
    let p = u(investment).checked_mul(U256::from(fee_wad)).unwrap_or(U256::MAX);
    p.checked_div(u(ONE)).unwrap_or(U256::ZERO)
}

/// Fee the pool keeps on a buy of `investment`: `floor(investment * fee / 1e18)`.
///
/// Saturates at `u128::MAX` (only reachable with a fee above 100%, which
/// [`calc_buy_amount`] refuses anyway).
pub fn buy_fee(fee_wad: u64, investment: u128) -> u128 {
    buy_fee_wide(fee_wad, investment).to_u128().unwrap_or(u128::MAX)
}

/// Fee the pool keeps on a sell returning `return_amount`:
/// `floor(return_amount * fee / (1e18 - fee))` (the contract grosses the return up).
pub fn sell_fee(fee_wad: u64, return_amount: u128) -> Result<u128, AmmError> {
    let fee = fee_wad as u128;
    if fee >= ONE {
        return Err(AmmError::FeeTooHigh { fee_wad });
    }
    mul_div_floor(return_amount, fee, ONE - fee).ok_or(AmmError::TooLarge("sell fee"))
}

/// Outcome tokens a buyer receives for `investment` collateral (the contract's `calcBuyAmount`).
pub fn calc_buy_amount(balances: &[u128], fee_wad: u64, investment: u128, outcome: usize) -> Result<u128, AmmError> {
    check_outcome(balances, outcome)?;
    let x_net = u(investment).checked_sub(buy_fee_wide(fee_wad, investment)).ok_or(AmmError::FeeTooHigh { fee_wad })?;
    let bi = balances[outcome];
    // Binary pools whose balances multiply within 128 bits: the contract's
    // ceildiv(ceildiv(b_i*ONE*b_j, b_j + x'), ONE) equals ceildiv(b_i*b_j, b_j + x')
    // (nested ceilings of positive divisions compose), and nothing can overflow
    // 256 bits, so this is the same number with two fewer wide divisions.
    if balances.len() == 2
        && let Some(prod) = bi.checked_mul(balances[1 - outcome])
        && let Some(x) = x_net.to_u128()
        && let Some(den) = balances[1 - outcome].checked_add(x)
    {
        if den == 0 {
            return Err(AmmError::DivisionByZero("calcBuyAmount"));
        }
        if prod == 0 {
            return Err(AmmError::ZeroBalance);
        }
        let ending = prod.div_ceil(den);
        // ending <= b_i, so this cannot underflow.
        return (bi - ending).checked_add(x).ok_or(AmmError::TooLarge("tokens bought"));
    }
    let mut e = u(bi).checked_mul(u(ONE)).ok_or(AmmError::Overflow("calcBuyAmount"))?;
    for (j, &bj) in balances.iter().enumerate() {
        if j == outcome {
            continue;
        }
        let den = u(bj).checked_add(x_net).ok_or(AmmError::Overflow("calcBuyAmount"))?;
        e = e
            .checked_mul(u(bj))
            .ok_or(AmmError::Overflow("calcBuyAmount"))?
            .ceil_div(den)
            .ok_or(AmmError::DivisionByZero("calcBuyAmount"))?;
    }
    if e.is_zero() {
        return Err(AmmError::ZeroBalance);
    }
    let ending = e.ceil_div(u(ONE)).ok_or(AmmError::DivisionByZero("calcBuyAmount"))?;
    u(bi)
        .checked_add(x_net)
        .and_then(|s| s.checked_sub(ending))
        .ok_or(AmmError::Overflow("calcBuyAmount"))?
        .to_u128()
        .ok_or(AmmError::TooLarge("tokens bought"))
}

/// Outcome tokens a seller must hand in to receive `return_amount` collateral
/// (the contract's `calcSellAmount`; the fee is grossed up on top of the return).
pub fn calc_sell_amount(
    balances: &[u128],
    fee_wad: u64,
    return_amount: u128,
    outcome: usize,
) -> Result<u128, AmmError> {
    check_outcome(balances, outcome)?;
    let fee = fee_wad as u128;
    if fee >= ONE {
        return Err(AmmError::FeeTooHigh { fee_wad });
    }
    // R = floor(r * ONE / (ONE - fee)) = r + floor(r * fee / (ONE - fee)): the return plus the fee.
    let r_gross = u(return_amount)
        .checked_mul(u(ONE))
        .and_then(|p| p.checked_div(u(ONE - fee)))
        .ok_or(AmmError::Overflow("calcSellAmount"))?;
    let r = r_gross.to_u128();
    let bi = balances[outcome];
    // Same composition of ceilings as in `calc_buy_amount`.
    if balances.len() == 2 {
        let j = 1 - outcome;
        let bj = balances[j];
        if let (Some(prod), Some(r)) = (bi.checked_mul(bj), r) {
            let den =
                bj.checked_sub(r).ok_or(AmmError::InsufficientPoolBalance { outcome: j, needed: r, available: bj })?;
            if den == 0 {
                return Err(AmmError::DivisionByZero("calcSellAmount (the sell would empty the pool)"));
            }
            if prod == 0 {
                return Err(AmmError::ZeroBalance);
            }
            let ending = prod.div_ceil(den);
            // ending >= b_i because b_j / (b_j - R) >= 1.
            return r.checked_add(ending - bi).ok_or(AmmError::TooLarge("tokens sold"));
        }
    }
    let mut e = u(bi).checked_mul(u(ONE)).ok_or(AmmError::Overflow("calcSellAmount"))?;
    for (j, &bj) in balances.iter().enumerate() {
        if j == outcome {
            continue;
        }
        let den = u(bj).checked_sub(r_gross).ok_or(AmmError::InsufficientPoolBalance {
            outcome: j,
            needed: r_gross.to_u128().unwrap_or(u128::MAX),
            available: bj,
        })?;
        e = e
            .checked_mul(u(bj))
            .ok_or(AmmError::Overflow("calcSellAmount"))?
            .ceil_div(den)
            .ok_or(AmmError::DivisionByZero("calcSellAmount (the sell would empty the pool)"))?;
    }
    if e.is_zero() {
        return Err(AmmError::ZeroBalance);
    }
    let ending = e.ceil_div(u(ONE)).ok_or(AmmError::DivisionByZero("calcSellAmount"))?;
    r_gross
        .checked_add(ending)
        .and_then(|s| s.checked_sub(u(bi)))
        .ok_or(AmmError::Overflow("calcSellAmount"))?
        .to_u128()
        .ok_or(AmmError::TooLarge("tokens sold"))
}

/// What `addFunding` does: shares minted, outcome tokens the pool keeps and
/// tokens sent back to the funder, per outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Funding {
    pub shares: u128,
    /// Added to the pool's balance of each outcome (the `FPMMFundingAdded` amounts).
    pub kept: Vec<u128>,
    /// Sent back to the funder, per outcome (`amount - kept`).
    pub returned: Vec<u128>,
}

/// `addFunding(amount, hint)` against a pool holding `balances` with `total_shares` LP shares.
///
/// `hint` only allowed when total_shares == 0 (first funding), as in the contract;
/// an empty hint is the same as none (the contract checks `hint.length`).
pub fn add_funding(
    balances: &[u128],
    total_shares: u128,
    amount: u128,
    hint: Option<&[u128]>,
) -> Result<Funding, AmmError> {
    let n = balances.len();
    if n < 2 {
        return Err(AmmError::TooFewOutcomes(n));
    }
    if amount == 0 {
        return Err(AmmError::ZeroFunding);
    }
    let hint = hint.filter(|h| !h.is_empty());
    let mut returned = vec![0u128; n];
    let shares = if total_shares > 0 {
        if hint.is_some() {
            return Err(AmmError::HintAfterInitialFunding);
        }
        let weight = balances.iter().copied().max().unwrap_or(0);
        if weight == 0 {
            return Err(AmmError::DivisionByZero("addFunding (the pool holds no tokens)"));
        }
        for (ret, &b) in returned.iter_mut().zip(balances) {
            // b <= weight, so remaining <= amount.
            let remaining = mul_div_floor(amount, b, weight).ok_or(AmmError::Overflow("addFunding"))?;
            *ret = amount - remaining;
        }
        mul_div_floor(amount, total_shares, weight).ok_or(AmmError::TooLarge("shares minted"))?
    } else {
        if let Some(hint) = hint {
            if hint.len() != n {
                return Err(AmmError::HintLength { hint: hint.len(), outcomes: n });
            }
            let max_hint = hint.iter().copied().max().unwrap_or(0);
            if max_hint == 0 {
                return Err(AmmError::DivisionByZero("addFunding (all hints are zero)"));
            }
            for (k, (ret, &h)) in returned.iter_mut().zip(hint).enumerate() {
                let remaining = mul_div_floor(amount, h, max_hint).ok_or(AmmError::Overflow("addFunding"))?;
                if remaining == 0 {
                    return Err(AmmError::InvalidHint(k));
                }
                *ret = amount - remaining;
            }
        }
        amount
    };
    let kept = returned.iter().map(|r| amount - r).collect();
    Ok(Funding { shares, kept, returned })
}

/// Outcome tokens sent to the LP for burning `shares`.
///
/// `removeFunding(shares)` sends `floor(b_k * shares / supply)` of every
/// outcome. The contract checks the burner's own share balance; here only the
/// total supply is known, so burning more than exists is the error.
pub fn remove_funding(balances: &[u128], total_shares: u128, shares: u128) -> Result<Vec<u128>, AmmError> {
    if balances.len() < 2 {
        return Err(AmmError::TooFewOutcomes(balances.len()));
    }
    if total_shares == 0 {
        return Err(AmmError::DivisionByZero("removeFunding (no shares exist)"));
    }
    if shares > total_shares {
        return Err(AmmError::BurnExceedsSupply { shares, total: total_shares });
    }
    balances
        .iter()
        .map(|&b| mul_div_floor(b, shares, total_shares).ok_or(AmmError::Overflow("removeFunding")))
        .collect()
}

/// Marginal price of every outcome (1/b_i / sum 1/b_k), as `Price` rounded down, documented.
///
/// Exact: `p_i = prod_{k != i} b_k / sum_j prod_{k != j} b_k`, compared in
/// arbitrary precision, so the prices are the true values rounded down to the
/// micro-dollar and never sum to more than $1. This is the price of an
/// infinitesimal buy before the fee (a buy's first token costs `p_i / (1 - fee)`).
pub fn marginal_prices(balances: &[u128]) -> Result<Vec<Price>, AmmError> {
    let n = balances.len();
    if n < 2 {
        return Err(AmmError::TooFewOutcomes(n));
    }
    if balances.contains(&0) {
        return Err(AmmError::ZeroBalance);
    }
    let to_price = |m: u128| Price::from_micros(m as i64).map_err(|_| AmmError::TooLarge("marginal price"));
    if n == 2 {
        let (a, b) = (balances[0], balances[1]);
        if let Some(sum) = a.checked_add(b) {
            let p0 = mul_div_floor(SCALE as u128, b, sum).ok_or(AmmError::TooLarge("marginal price"))?;
            let p1 = mul_div_floor(SCALE as u128, a, sum).ok_or(AmmError::TooLarge("marginal price"))?;
            return Ok(vec![to_price(p0)?, to_price(p1)?]);
        }
    }
    use crate::wide::Nat;
    let products: Vec<Nat> = (0..n)
        .map(|i| {
            balances.iter().enumerate().filter(|&(k, _)| k != i).fold(Nat::from_u128(1), |acc, (_, &b)| acc.mul_u128(b))
        })
        .collect();
    let total = products.iter().fold(Nat::zero(), |acc, p| acc.add(p));
    products.iter().map(|p| to_price(p.ratio_floor(SCALE as u128, &total, SCALE as u128))).collect()
}

/// Marginal price of one outcome, rounded down (see [`marginal_prices`]);
/// allocation-free for binary pools, which the sizing hot path meets.
pub fn marginal_price(balances: &[u128], outcome: usize) -> Result<Price, AmmError> {
    check_outcome(balances, outcome)?;
    if balances.len() == 2 {
        let (bi, bj) = (balances[outcome], balances[1 - outcome]);
        if bi == 0 || bj == 0 {
            return Err(AmmError::ZeroBalance);
        }
        if let Some(sum) = bi.checked_add(bj) {
            let p = mul_div_floor(SCALE as u128, bj, sum).ok_or(AmmError::TooLarge("marginal price"))?;
            return Price::from_micros(p as i64).map_err(|_| AmmError::TooLarge("marginal price"));
        }
    }
    Ok(marginal_prices(balances)?[outcome])
}

/// Largest investment whose bought tokens keep the average price (investment / tokens) <= limit.
///
/// The average price includes the fee (it is what the buyer pays per token).
/// Found by bisection keeping `avg(lo) <= limit < avg(hi)`, so the answer
/// always meets the limit. The average price rises with the investment except
/// for integer wobble: the token count is rounded, so right at the crossing
/// (and when only a handful of tokens are bought: on a pool of ten base units,
/// 3 may meet a limit that 1 and 2 miss) the limit can be met, missed and met
/// again a few base units apart. The search looks 32 base units past the
/// bisection for such a later fit, which makes it the largest investment in
/// every brute-force comparison in the tests; any miss is a few micro-dollars
/// of size, never a breach of the limit. Capped at
/// [`INVESTMENT_SEARCH_CAP`] when the limit is never reached (zero fee and a
/// $1 limit).
pub fn max_investment_at_or_below(
    balances: &[u128],
    fee_wad: u64,
    outcome: usize,
    limit: Price,
) -> Result<u128, AmmError> {
    check_outcome(balances, outcome)?;
    let fee = fee_wad as u128;
    if fee >= ONE {
        return Err(AmmError::FeeTooHigh { fee_wad });
    }
    let l = limit.micros() as u128;
    if l == 0 {
        return Ok(0);
    }
    let scale = SCALE as u128;
    let ok = |x: u128| -> Result<bool, AmmError> {
        let t = calc_buy_amount(balances, fee_wad, x, outcome)?;
        // x / t <= l / 1e6, with x < 2^64 and t < 2^129 checked in 256 bits.
        Ok(u(x).checked_mul(u(scale)) <= u(l).checked_mul(u(t)))
    };
    // Tokens never exceed b_i + x(1 - fee) + 1, so the limit fails beyond
    // x = l (b_i + 1) ONE / (1e6 ONE - l (ONE - fee)).
    let bi = balances[outcome];
    let slack = u(scale).checked_mul(u(ONE)).and_then(|a| a.checked_sub(u(l).checked_mul(u(ONE - fee))?));
    let mut hi = match slack {
        Some(s) if !s.is_zero() => u(l)
            .checked_mul(u(bi.saturating_add(1)))
            .and_then(|v| v.checked_mul(u(ONE)))
            .and_then(|v| v.checked_div(s))
            .and_then(|v| v.to_u128())
            .map_or(INVESTMENT_SEARCH_CAP, |v| v.saturating_add(2).min(INVESTMENT_SEARCH_CAP)),
        _ => INVESTMENT_SEARCH_CAP,
    };
    if ok(hi)? {
        return Ok(hi);
    }
    let mut lo = 0u128; // ok(0): 0 <= l * 0
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if ok(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    // Integer tokens make the average price wobble by a token around the
    // crossing; look a little past the bisection's answer for a later fit.
    let mut best = lo;
    for x in lo + 2..=lo.saturating_add(MAX_INVESTMENT_WOBBLE).min(INVESTMENT_SEARCH_CAP) {
        if ok(x)? {
            best = x;
        }
    }
    Ok(best)
}

/// How far past the bisection's answer [`max_investment_at_or_below`] looks
/// for an investment that meets the limit again after integer wobble.
const MAX_INVESTMENT_WOBBLE: u128 = 32;

/// The investment needed to receive at least `tokens` (for sizing a leg by quantity).
///
/// The smallest such investment: tokens bought never decrease as the
/// investment grows, so the answer is exact. Binary pools start from the
/// closed-form solution of the continuous curve (an integer square root),
/// larger pools from the bound below; a short gallop then brackets the answer
/// and regula falsi (Illinois variant) closes it to adjacent integers on the
/// exact contract function. Typically 2–3 evaluations for binary pools.
pub fn investment_for_tokens(balances: &[u128], fee_wad: u64, outcome: usize, tokens: u128) -> Result<u128, AmmError> {
    investment_for_tokens_near(balances, fee_wad, outcome, tokens, None)
}

/// [`investment_for_tokens`], starting from a nearby earlier answer
/// `(investment, tokens it bought)`: the same result, fewer evaluations when
/// a search asks about neighbouring sizes.
pub fn investment_for_tokens_near(
    balances: &[u128],
    fee_wad: u64,
    outcome: usize,
    tokens: u128,
    hint: Option<(u128, u128)>,
) -> Result<u128, AmmError> {
    check_outcome(balances, outcome)?;
    let fee = fee_wad as u128;
    if fee >= ONE {
        return Err(AmmError::FeeTooHigh { fee_wad });
    }
    if tokens == 0 {
        return Ok(0);
    }
    // Any buy returns at least x' = x - fee(x) tokens (the split alone gives x'
    // of each outcome), so x = ceil(tokens * ONE / (ONE - fee)) always suffices.
    let bound = crate::wide::mul_div_ceil(tokens, ONE, ONE - fee).ok_or(AmmError::TooLarge("investment"))?;
    let f = |x: u128| calc_buy_amount(balances, fee_wad, x, outcome);
    let guess = match hint {
        Some((x, t)) if t > 0 && x > 0 => mul_div_floor(x, tokens, t),
        _ => binary_guess(balances, fee, outcome, tokens),
    };
    let Some(guess) = guess.map(|g| g.clamp(1, bound)) else {
        // No guess: regula falsi over the whole bracket (0, bound].
        let f_hi = f(bound)?;
        if f_hi < tokens {
            return Err(AmmError::Unreachable { tokens, outcome });
        }
        return solve_min(0, 0, bound, f_hi, tokens, f);
    };
    // Gallop from the guess to a bracket f(lo) < tokens <= f(hi).
    let (mut lo, mut f_lo, mut hi, mut f_hi);
    let fg = f(guess)?;
    let mut step = 1u128;
    if fg >= tokens {
        (hi, f_hi) = (guess, fg);
        loop {
            lo = hi.saturating_sub(step);
            if lo == 0 {
                f_lo = 0;
                break;
            }
            f_lo = f(lo)?;
            if f_lo < tokens {
                break;
            }
            (hi, f_hi) = (lo, f_lo);
            step = step.saturating_mul(4);
        }
    } else {
        (lo, f_lo) = (guess, fg);
        loop {
            hi = lo.saturating_add(step).min(bound);
            f_hi = f(hi)?;
            if f_hi >= tokens {
                break;
            }
            if hi == bound {
                return Err(AmmError::Unreachable { tokens, outcome });
            }
            (lo, f_lo) = (hi, f_hi);
            step = step.saturating_mul(4);
        }
    }
    solve_min(lo, f_lo, hi, f_hi, tokens, f)
}

/// The continuous curve's answer for a binary pool: the buyer ends with
/// `t = b_i + x' - b_i b_j / (b_j + x')`, so `y = b_j + x'` solves
/// `y^2 - (t + b_j - b_i) y - b_i b_j = 0`; then `x = x' / (1 - fee)`.
fn binary_guess(balances: &[u128], fee: u128, outcome: usize, tokens: u128) -> Option<u128> {
    if balances.len() != 2 {
        return None;
    }
    let (bi, bj) = (balances[outcome], balances[1 - outcome]);
    let c = tokens.checked_add(bj)? as i128 - i128::try_from(bi).ok()?;
    let d = (c.unsigned_abs()).checked_mul(c.unsigned_abs())?.checked_add(bi.checked_mul(bj)?.checked_mul(4)?)?;
    let y = (c + isqrt(d) as i128) / 2;
    let x_net = u128::try_from(y).ok()?.checked_sub(bj)?;
    mul_div_floor(x_net, ONE, ONE - fee)
}

fn isqrt(n: u128) -> u128 {
    if n < 2 {
        return n;
    }
    // Newton from above: x = 2^ceil(bits/2) >= sqrt(n).
    let mut x = 1u128 << (128 - n.leading_zeros()).div_ceil(2);
    loop {
        let y = (x + n / x) / 2;
        if y >= x {
            return x;
        }
        x = y;
    }
}

/// The most collateral a sale of `tokens` outcome tokens returns: the
/// largest `r` whose [`calc_sell_amount`] is at most `tokens` (a seller names
/// the return and the contract takes the tokens it needs). Tokens needed rise
/// with the return, so this is exact; a return the pool cannot pay counts as
/// needing too many tokens.
pub fn max_return_for_tokens(balances: &[u128], fee_wad: u64, outcome: usize, tokens: u128) -> Result<u128, AmmError> {
    check_outcome(balances, outcome)?;
    if fee_wad as u128 >= ONE {
        return Err(AmmError::FeeTooHigh { fee_wad });
    }
    // Surfaces zero balances and the like before searching.
    calc_sell_amount(balances, fee_wad, 0, outcome)?;
    let fits = |r: u128| -> Result<bool, AmmError> {
        match calc_sell_amount(balances, fee_wad, r, outcome) {
            Ok(need) => Ok(need <= tokens),
            Err(AmmError::InsufficientPoolBalance { .. } | AmmError::DivisionByZero(_) | AmmError::Overflow(_)) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    };
    // A sale returns less than the tokens it takes (R <= tokens needed).
    let (mut lo, mut hi) = (0u128, tokens.saturating_add(1));
    if fits(hi)? {
        return Ok(hi);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// Smallest `x` in `(lo, hi]` with `f(x) >= target`, for a non-decreasing `f`
/// with `f(lo) < target <= f(hi)`.
pub(crate) fn solve_min<E>(
    mut lo: u128,
    mut f_lo: u128,
    mut hi: u128,
    mut f_hi: u128,
    target: u128,
    mut f: impl FnMut(u128) -> Result<u128, E>,
) -> Result<u128, E> {
    // Illinois: halve the weight of an endpoint that stays put twice in a row,
    // so the secant keeps converging from both sides on curved functions.
    let mut side = 0i8;
    let (mut w_lo, mut w_hi) = (1u128, 1u128);
    let mut steps = 0u32;
    while hi - lo > 1 {
        steps += 1;
        let mid = if steps > 48 {
            lo + (hi - lo) / 2 // guaranteed progress whatever the curve does
        } else {
            // Interpolate where the chord through (lo, f_lo/w) and (hi, f_hi/w) meets target.
            let need = (target - f_lo) / w_lo;
            let span = (f_hi - target) / w_hi + need;
            let guess = if span == 0 {
                lo + (hi - lo) / 2
            } else {
                lo + mul_div_floor(hi - lo, need, span).unwrap_or((hi - lo) / 2)
            };
            guess.clamp(lo + 1, hi - 1)
        };
        let v = f(mid)?;
        if v >= target {
            hi = mid;
            f_hi = v;
            if side == 1 {
                w_lo = w_lo.saturating_mul(2).min(1 << 20);
            }
            side = 1;
            w_hi = 1;
        } else {
            lo = mid;
            f_lo = v;
            if side == -1 {
                w_hi = w_hi.saturating_mul(2).min(1 << 20);
            }
            side = -1;
            w_lo = 1;
        }
    }
    Ok(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEE_1PCT: u64 = 10_000_000_000_000_000;
    const FEE_2PCT: u64 = 20_000_000_000_000_000;

    /// The contract's arithmetic, literally (no fast paths), for cross-checks.
    fn contract_buy(b: &[u128], fee: u64, x: u128, i: usize) -> Option<u128> {
        let x_net = u(x).checked_sub(u(x).checked_mul(U256::from(fee))?.checked_div(u(ONE))?)?;
        let mut e = u(b[i]).checked_mul(u(ONE))?;
        for (j, &bj) in b.iter().enumerate() {
            if j != i {
                e = e.checked_mul(u(bj))?.ceil_div(u(bj).checked_add(x_net)?)?;
            }
        }
        if e.is_zero() {
            return None;
        }
        u(b[i]).checked_add(x_net)?.checked_sub(e.ceil_div(u(ONE))?)?.to_u128()
    }

    fn contract_sell(b: &[u128], fee: u64, r: u128, i: usize) -> Option<u128> {
        let rg = u(r).checked_mul(u(ONE))?.checked_div(u(ONE).checked_sub(U256::from(fee))?)?;
        let mut e = u(b[i]).checked_mul(u(ONE))?;
        for (j, &bj) in b.iter().enumerate() {
            if j != i {
                e = e.checked_mul(u(bj))?.ceil_div(u(bj).checked_sub(rg)?)?;
            }
        }
        if e.is_zero() {
            return None;
        }
        rg.checked_add(e.ceil_div(u(ONE))?)?.checked_sub(u(b[i]))?.to_u128()
    }

    #[test]
    fn published_buy_vector() {
        // Polymarket amm-maths: 1,000,000 into [1e8, 1e8] at 1% -> 1,970,295 tokens.
        let b = [100_000_000u128, 100_000_000];
        assert_eq!(calc_buy_amount(&b, FEE_1PCT, 1_000_000, 0), Ok(1_970_295));
        assert_eq!(calc_buy_amount(&b, FEE_1PCT, 1_000_000, 1), Ok(1_970_295));
        assert_eq!(buy_fee(FEE_1PCT, 1_000_000), 10_000);
    }

    #[test]
    fn worked_buy_and_sell_examples() {
        // No fee, [100, 100] (in whole base units): buying with 100 gives
        // 100 + 100 - ceil(100*100/200) = 150 tokens.
        assert_eq!(calc_buy_amount(&[100, 100], 0, 100, 0), Ok(150));
        // Three outcomes [100, 200, 400], buy outcome 0 with 100 at 0 fee:
        // e = 100e18; e = ceil(e*200/300) = 66.67e18 (ceil), e = ceil(e*400/500) -> 53.33e18;
        // tokens = 100 + 100 - ceil(53.333..) = 146.
        assert_eq!(calc_buy_amount(&[100, 200, 400], 0, 100, 0), Ok(146));
        // Selling back: to get 50 out of [100, 100] at 0 fee: 50 + ceil(100*100/50) - 100 = 150.
        assert_eq!(calc_sell_amount(&[100, 100], 0, 50, 0), Ok(150));
        // 2% fee: R = floor(49 * 1e18 / 0.98e18) = 50: same tokens, and the pool keeps 1.
        assert_eq!(calc_sell_amount(&[100, 100], FEE_2PCT, 49, 0), Ok(150));
        assert_eq!(sell_fee(FEE_2PCT, 49), Ok(1));
        assert_eq!(sell_fee(FEE_2PCT, 1_000_000), Ok(20_408));
        assert_eq!(buy_fee(FEE_2PCT, 1_000_000), 20_000);
    }

    #[test]
    fn fast_paths_agree_with_the_contract_literally() {
        let pools: [&[u128]; 5] = [
            &[100_000_000, 100_000_000],
            &[123_456_789, 987_654],
            &[1, 1_000_000_000_000],
            &[5_000_000_000, 7_000_000_001, 3_333_333_333],
            &[u64::MAX as u128, 12_345],
        ];
        for b in pools {
            for fee in [0, FEE_1PCT, FEE_2PCT, 999_999_999_999_999_999] {
                for x in [0u128, 1, 7, 1_000, 999_999, 123_456_789, 10_000_000_000] {
                    for i in 0..b.len() {
                        assert_eq!(
                            calc_buy_amount(b, fee, x, i).ok(),
                            contract_buy(b, fee, x, i),
                            "buy {b:?} {fee} {x} {i}"
                        );
                        assert_eq!(
                            calc_sell_amount(b, fee, x, i).ok(),
                            contract_sell(b, fee, x, i),
                            "sell {b:?} {fee} {x} {i}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn reverts_become_errors() {
        let b = [100u128, 100];
        assert_eq!(calc_buy_amount(&b, 0, 1, 2), Err(AmmError::InvalidOutcome { index: 2, outcomes: 2 }));
        assert_eq!(calc_buy_amount(&[5], 0, 1, 0), Err(AmmError::TooFewOutcomes(1)));
        assert_eq!(calc_buy_amount(&[0, 100], 0, 1, 0), Err(AmmError::ZeroBalance));
        assert_eq!(calc_buy_amount(&[0, 0], 0, 0, 0), Err(AmmError::DivisionByZero("calcBuyAmount")));
        // Selling more than the pool holds underflows `b_j - R`.
        assert_eq!(
            calc_sell_amount(&b, 0, 101, 0),
            Err(AmmError::InsufficientPoolBalance { outcome: 1, needed: 101, available: 100 })
        );
        assert!(matches!(calc_sell_amount(&b, 0, 100, 0), Err(AmmError::DivisionByZero(_))));
        assert_eq!(calc_sell_amount(&b, ONE as u64, 1, 0), Err(AmmError::FeeTooHigh { fee_wad: ONE as u64 }));
        assert_eq!(sell_fee(u64::MAX, 1), Err(AmmError::FeeTooHigh { fee_wad: u64::MAX }));
        // A fee above 100% makes x - fee(x) underflow.
        assert_eq!(calc_buy_amount(&b, 2 * ONE as u64, 10, 0), Err(AmmError::FeeTooHigh { fee_wad: 2 * ONE as u64 }));
        // 256-bit overflow on huge balances: b_i * 1e18 * b_j * b_k.
        let huge = [u128::MAX, u128::MAX, u128::MAX];
        assert!(matches!(calc_buy_amount(&huge, 0, 1, 0), Err(AmmError::Overflow(_))));
    }

    #[test]
    fn funding_first_with_and_without_hint() {
        let f = add_funding(&[0, 0], 0, 1_000, None).unwrap();
        assert_eq!(f, Funding { shares: 1_000, kept: vec![1_000, 1_000], returned: vec![0, 0] });
        // Hint [1, 3]: keep 1000*1/3 = 333 of outcome 0 and all of outcome 1.
        let f = add_funding(&[0, 0], 0, 1_000, Some(&[1, 3])).unwrap();
        assert_eq!(f, Funding { shares: 1_000, kept: vec![333, 1_000], returned: vec![667, 0] });
        assert_eq!(
            add_funding(&[0, 0], 0, 1_000, Some(&[1, 2, 3])),
            Err(AmmError::HintLength { hint: 3, outcomes: 2 })
        );
        assert_eq!(add_funding(&[0, 0], 0, 1_000, Some(&[0, 3_000])), Err(AmmError::InvalidHint(0)));
        assert!(matches!(add_funding(&[0, 0], 0, 1_000, Some(&[0, 0])), Err(AmmError::DivisionByZero(_))));
        assert_eq!(add_funding(&[0, 0], 0, 0, None), Err(AmmError::ZeroFunding));
        // An empty hint is no hint, as `hint.length == 0` in the contract.
        assert_eq!(add_funding(&[0, 0], 0, 10, Some(&[])).unwrap().shares, 10);
    }

    #[test]
    fn funding_later_is_pro_rata_to_the_heaviest_outcome() {
        // Pool [400, 1000] with 1000 shares; add 500: keep 500*400/1000 = 200 and 500,
        // mint 500*1000/1000 = 500 shares, send back 300 of outcome 0.
        let f = add_funding(&[400, 1_000], 1_000, 500, None).unwrap();
        assert_eq!(f, Funding { shares: 500, kept: vec![200, 500], returned: vec![300, 0] });
        // Rounding down favours the pool: 7 * 3 / 1000 = 0.021 -> 0 kept.
        let f = add_funding(&[3, 1_000], 600, 7, None).unwrap();
        assert_eq!(f, Funding { shares: 4, kept: vec![0, 7], returned: vec![7, 0] });
        assert_eq!(add_funding(&[400, 1_000], 1_000, 500, Some(&[1, 1])), Err(AmmError::HintAfterInitialFunding));
        assert!(matches!(add_funding(&[0, 0], 5, 500, None), Err(AmmError::DivisionByZero(_))));
    }

    #[test]
    fn remove_funding_pro_rata_rounded_down() {
        assert_eq!(remove_funding(&[400, 1_000], 1_000, 250), Ok(vec![100, 250]));
        assert_eq!(remove_funding(&[401, 999], 1_000, 1), Ok(vec![0, 0]));
        assert_eq!(remove_funding(&[400, 1_000], 1_000, 1_000), Ok(vec![400, 1_000]));
        assert_eq!(
            remove_funding(&[400, 1_000], 1_000, 1_001),
            Err(AmmError::BurnExceedsSupply { shares: 1_001, total: 1_000 })
        );
        assert!(matches!(remove_funding(&[400, 1_000], 0, 0), Err(AmmError::DivisionByZero(_))));
    }

    #[test]
    fn marginal_prices_round_down_and_sum_to_at_most_one() {
        let p = marginal_prices(&[100, 300]).unwrap();
        assert_eq!(p, vec![Price::from_micros_const(750_000), Price::from_micros_const(250_000)]);
        // [1, 2, 4]: 1/b = 1, .5, .25 -> 4/7, 2/7, 1/7.
        let p = marginal_prices(&[1, 2, 4]).unwrap();
        assert_eq!(p.iter().map(|p| p.micros()).collect::<Vec<_>>(), vec![571_428, 285_714, 142_857]);
        let big = [u128::MAX / 3, u128::MAX / 5, u128::MAX / 7, u128::MAX / 11];
        let p = marginal_prices(&big).unwrap();
        assert!(p.iter().map(|p| p.micros()).sum::<i64>() <= 1_000_000);
        assert_eq!(p[0].micros(), 115_384); // (1/3)/(1/3+1/5+1/7+1/11)... = 3/26 weighting: b ~ 1/3 -> p = 3/(3+5+7+11)
        assert_eq!(marginal_prices(&[0, 1]), Err(AmmError::ZeroBalance));
        assert_eq!(marginal_price(&[100, 300], 1), Ok(Price::from_micros_const(250_000)));
        assert_eq!(marginal_price(&[1, 2, 4], 2), Ok(Price::from_micros_const(142_857)));
        assert_eq!(marginal_price(&[0, 2], 1), Err(AmmError::ZeroBalance));
    }

    #[test]
    fn investment_for_tokens_is_the_smallest_sufficient() {
        let b = [100_000_000u128, 100_000_000];
        // 999,999 also buys 1,970,295 (its fee floors to 9,999), and it is the smallest that does.
        assert_eq!(investment_for_tokens(&b, FEE_1PCT, 0, 1_970_295), Ok(999_999));
        assert!(calc_buy_amount(&b, FEE_1PCT, 999_998, 0).unwrap() < 1_970_295);
        let cases: [(&[u128], u64, usize, u128); 4] = [
            (&[100_000_000, 100_000_000], FEE_2PCT, 1, 12_345_678),
            (&[5_000_000, 95_000_000], 0, 0, 50_000_000),
            (&[5_000_000_000, 7_000_000_001, 3_333_333_333], FEE_1PCT, 2, 1_000_000_000),
            (&[1_000, 1_000_000, 2_000_000, 3_000], FEE_2PCT, 3, 777),
        ];
        for (b, fee, i, t) in cases {
            let x = investment_for_tokens(b, fee, i, t).unwrap();
            assert!(calc_buy_amount(b, fee, x, i).unwrap() >= t);
            assert!(calc_buy_amount(b, fee, x - 1, i).unwrap() < t, "{b:?} {t}: {x} is not the smallest");
        }
        assert_eq!(investment_for_tokens(&b, FEE_1PCT, 0, 0), Ok(0));
        // Warm starts give the same answers.
        for (b, fee, i, t) in cases {
            let x = investment_for_tokens(b, fee, i, t).unwrap();
            for hint in [(x, t), (x / 2, t / 3), (x * 3, t), (1, 1)] {
                assert_eq!(investment_for_tokens_near(b, fee, i, t, Some(hint)), Ok(x));
            }
        }
        for n in [0u128, 1, 2, 3, 4, 99, 100, 101, u64::MAX as u128, u128::MAX] {
            let r = isqrt(n);
            assert!(r * r <= n && (r + 1).checked_mul(r + 1).is_none_or(|s| s > n), "{n}");
        }
        assert_eq!(investment_for_tokens(&b, ONE as u64, 0, 1), Err(AmmError::FeeTooHigh { fee_wad: ONE as u64 }));
    }

    #[test]
    fn max_investment_respects_the_limit_and_is_maximal() {
        let b = [60_000_000u128, 40_000_000]; // outcome 0 at 0.40
        let limit = Price::from_micros_const(450_000);
        let x = max_investment_at_or_below(&b, FEE_1PCT, 0, limit).unwrap();
        let t = calc_buy_amount(&b, FEE_1PCT, x, 0).unwrap();
        assert!(x * 1_000_000 <= 450_000 * t);
        let t1 = calc_buy_amount(&b, FEE_1PCT, x + 1, 0).unwrap();
        assert!((x + 1) * 1_000_000 > 450_000 * t1);
        // Below the first token's price (0.4 / 0.99) nothing but dust qualifies.
        let x = max_investment_at_or_below(&b, FEE_1PCT, 0, Price::from_micros_const(400_000)).unwrap();
        assert!(x <= 2, "{x}");
        assert_eq!(max_investment_at_or_below(&b, 0, 0, Price::ZERO), Ok(0));
        assert_eq!(max_investment_at_or_below(&b, 0, 0, Price::ONE), Ok(INVESTMENT_SEARCH_CAP));
    }

    #[test]
    fn brute_force_max_investment_on_small_pools() {
        for (b, fee, limit) in [
            ([50u128, 150], FEE_2PCT, 300_000i64),
            ([1_000, 3_000], FEE_1PCT, 500_000),
            ([777, 123], 0, 900_000),
            ([10_000, 10_000], FEE_2PCT, 600_000),
        ] {
            let x = max_investment_at_or_below(&b, fee, 0, Price::from_micros_const(limit)).unwrap();
            let best = (0u128..20_000)
                .filter(|&x| x * 1_000_000 <= limit as u128 * calc_buy_amount(&b, fee, x, 0).unwrap())
                .max()
                .unwrap();
            assert_eq!(x, best, "{b:?} {fee} {limit}");
        }
        // On a toy pool of 10 base units the average price wobbles with the
        // integer token count (x=1, 2 fail a 0.6 limit, x=3 meets it); the
        // answer still always meets the limit.
        let x = max_investment_at_or_below(&[10, 10], FEE_2PCT, 0, Price::from_micros_const(600_000)).unwrap();
        assert!(x * 1_000_000 <= 600_000 * calc_buy_amount(&[10, 10], FEE_2PCT, x, 0).unwrap());
    }

    #[test]
    fn max_return_for_tokens_is_the_largest_affordable() {
        let b = [100_000_000u128, 100_000_000];
        // Selling the 1,970,295 tokens just bought (pool now [101M - 1.97M... ]) returns less than 1,000,000.
        let after = [100_000_000 + 990_000 - 1_970_295, 100_000_000 + 990_000];
        let r = max_return_for_tokens(&after, FEE_1PCT, 0, 1_970_295).unwrap();
        assert!(r < 1_000_000 && r > 960_000, "{r}");
        assert!(calc_sell_amount(&after, FEE_1PCT, r, 0).unwrap() <= 1_970_295);
        assert!(calc_sell_amount(&after, FEE_1PCT, r + 1, 0).unwrap() > 1_970_295);
        assert_eq!(max_return_for_tokens(&b, 0, 0, 0), Ok(0));
        // More tokens than the pool could ever pay for: capped below the other balance.
        let r = max_return_for_tokens(&[100, 100], 0, 0, 1_000_000).unwrap();
        assert_eq!(r, 99);
        assert_eq!(max_return_for_tokens(&[0, 100], 0, 0, 10), Err(AmmError::ZeroBalance));
    }

    #[test]
    fn buy_then_sell_never_returns_more() {
        let b = [100_000_000u128, 250_000_000, 80_000_000];
        for fee in [0, FEE_1PCT, FEE_2PCT] {
            for x in [1u128, 999, 1_000_000, 77_777_777] {
                let t = calc_buy_amount(&b, fee, x, 1).unwrap();
                let mut after = b;
                let x_net = x - buy_fee(fee, x);
                for (k, bal) in after.iter_mut().enumerate() {
                    *bal += x_net;
                    if k == 1 {
                        *bal -= t;
                    }
                }
                // The largest return whose required tokens are at most t.
                let mut lo = 0u128;
                let mut hi = 2 * x + 2;
                while hi - lo > 1 {
                    let mid = (lo + hi) / 2;
                    match calc_sell_amount(&after, fee, mid, 1) {
                        Ok(need) if need <= t => lo = mid,
                        _ => hi = mid,
                    }
                }
                assert!(lo <= x, "fee {fee} x {x}: sold back for {lo}");
            }
        }
    }
}
