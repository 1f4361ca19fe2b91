//! Wide unsigned integers for the exact money math.
//!
//! [`U256`] reproduces Solidity's `uint256`: the AMM's intermediate products
//! (a balance times 1e18 times another balance) pass 2^128 on ordinary pools,
//! and the contract reverts where a 256-bit operation overflows, so every
//! operation here is checked and reports overflow instead of wrapping.
//! [`Nat`] is an arbitrary-size natural used off the hot path, where a result
//! must be exact but its intermediates have no fixed bound (products of many
//! balances, powers of `p (1 - p)`).
//!
//! Both are small on purpose: the SDK builds for `wasm32-wasip2` and pulls in
//! no big-number crate.

use core::cmp::Ordering;

/// A 256-bit unsigned integer, four little-endian 64-bit limbs.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default)]
pub struct U256([u64; 4]);

impl core::fmt::Debug for U256 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.to_u128() {
            Some(v) => write!(f, "U256({v})"),
            None => write!(f, "U256(0x{:016x}{:016x}{:016x}{:016x})", self.0[3], self.0[2], self.0[1], self.0[0]),
        }
    }
}

impl Ord for U256 {
    fn cmp(&self, o: &U256) -> Ordering {
        for i in (0..4).rev() {
            match self.0[i].cmp(&o.0[i]) {
                Ordering::Equal => continue,
                other => return other,
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for U256 {
    fn partial_cmp(&self, o: &U256) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl From<u128> for U256 {
    fn from(v: u128) -> U256 {
        U256::from_u128(v)
    }
}

impl From<u64> for U256 {
    fn from(v: u64) -> U256 {
        U256([v, 0, 0, 0])
    }
}

impl U256 {
    pub const ZERO: U256 = U256([0; 4]);
    pub const ONE: U256 = U256([1, 0, 0, 0]);
    pub const MAX: U256 = U256([u64::MAX; 4]);

    #[inline]
    pub const fn from_u128(v: u128) -> U256 {
        U256([v as u64, (v >> 64) as u64, 0, 0])
    }

    /// From little-endian limbs.
    pub const fn from_limbs(limbs: [u64; 4]) -> U256 {
        U256(limbs)
    }

    pub const fn limbs(&self) -> [u64; 4] {
        self.0
    }

    #[inline]
    pub const fn is_zero(&self) -> bool {
        self.0[0] == 0 && self.0[1] == 0 && self.0[2] == 0 && self.0[3] == 0
    }

    /// The value, if it fits in 128 bits.
    #[inline]
    pub const fn to_u128(&self) -> Option<u128> {
        if self.0[2] == 0 && self.0[3] == 0 { Some(self.0[0] as u128 | (self.0[1] as u128) << 64) } else { None }
    }

    /// Number of significant bits (0 for zero).
    pub const fn bits(&self) -> u32 {
        let mut i = 4;
        while i > 0 {
            i -= 1;
            if self.0[i] != 0 {
                return 64 * i as u32 + 64 - self.0[i].leading_zeros();
            }
        }
        0
    }

    pub fn checked_add(self, o: U256) -> Option<U256> {
        let mut r = [0u64; 4];
        let mut carry = false;
        for (i, limb) in r.iter_mut().enumerate() {
            let (s1, c1) = self.0[i].overflowing_add(o.0[i]);
            let (s2, c2) = s1.overflowing_add(carry as u64);
            *limb = s2;
            carry = c1 || c2;
        }
        if carry { None } else { Some(U256(r)) }
    }

    pub fn checked_sub(self, o: U256) -> Option<U256> {
        let mut r = [0u64; 4];
        let mut borrow = false;
        for (i, limb) in r.iter_mut().enumerate() {
            let (d1, b1) = self.0[i].overflowing_sub(o.0[i]);
            let (d2, b2) = d1.overflowing_sub(borrow as u64);
            *limb = d2;
            borrow = b1 || b2;
        }
        if borrow { None } else { Some(U256(r)) }
    }

    /// `self * o`, or `None` where Solidity 0.8 would revert with an overflow.
    pub fn checked_mul(self, o: U256) -> Option<U256> {
        let mut r = [0u64; 4];
        for i in 0..4 {
            if self.0[i] == 0 {
                continue;
            }
            let mut carry: u128 = 0;
            for j in 0..4 {
                let prod = self.0[i] as u128 * o.0[j] as u128 + carry;
                if i + j < 4 {
                    let sum = r[i + j] as u128 + (prod as u64) as u128;
                    r[i + j] = sum as u64;
                    carry = (prod >> 64) + (sum >> 64);
                } else if prod != 0 {
                    return None;
                } else {
                    carry = 0;
                }
            }
            if carry != 0 {
                return None;
            }
        }
        Some(U256(r))
    }

    fn shl(self, n: u32) -> U256 {
        debug_assert!(n < 256);
        let (limbs, bits) = ((n / 64) as usize, n % 64);
        let mut r = [0u64; 4];
        for i in (limbs..4).rev() {
            let src = i - limbs;
            r[i] = self.0[src] << bits;
            if bits > 0 && src > 0 {
                r[i] |= self.0[src - 1] >> (64 - bits);
            }
        }
        U256(r)
    }

    /// Quotient and remainder; `None` when dividing by zero (a Solidity panic).
    ///
    /// Divisors that fit in 64 bits (every pool denominator in practice) take
    /// four hardware divisions; wider ones fall back to shift-and-subtract.
    pub fn div_rem(self, d: U256) -> Option<(U256, U256)> {
        if d.is_zero() {
            return None;
        }
        if self < d {
            return Some((U256::ZERO, self));
        }
        if d.0[1] == 0 && d.0[2] == 0 && d.0[3] == 0 {
            let d = d.0[0] as u128;
            let mut q = [0u64; 4];
            let mut rem: u128 = 0;
            for i in (0..4).rev() {
                let cur = rem << 64 | self.0[i] as u128;
                q[i] = (cur / d) as u64;
                rem = cur % d;
            }
            return Some((U256(q), U256::from_u128(rem)));
        }
        // Binary long division over the bits where the quotient can be non-zero.
        let shift = self.bits() - d.bits();
        let mut rem = self;
        let mut q = U256::ZERO;
        let mut dd = d.shl(shift);
        let mut i = shift as i64;
        while i >= 0 {
            if rem >= dd {
                rem = rem.checked_sub(dd)?;
                q.0[(i / 64) as usize] |= 1 << (i % 64);
            }
            dd = dd.shr1();
            i -= 1;
        }
        Some((q, rem))
    }

    #[inline]
    fn shr1(self) -> U256 {
        U256([
            self.0[0] >> 1 | self.0[1] << 63,
            self.0[1] >> 1 | self.0[2] << 63,
            self.0[2] >> 1 | self.0[3] << 63,
            self.0[3] >> 1,
        ])
    }

    /// Floor division; `None` on a zero divisor.
    #[inline]
    pub fn checked_div(self, d: U256) -> Option<U256> {
        self.div_rem(d).map(|(q, _)| q)
    }

    /// The Gnosis contracts' `ceildiv`: `x > 0 ? (x - 1) / y + 1 : x / y`.
    /// Like the contract, a zero divisor is an error even when `x` is zero.
    pub fn ceil_div(self, d: U256) -> Option<U256> {
        if self.is_zero() {
            return if d.is_zero() { None } else { Some(U256::ZERO) };
        }
        let (q, _) = self.checked_sub(U256::ONE)?.div_rem(d)?;
        q.checked_add(U256::ONE)
    }

    /// `floor(sqrt(self))`, digit by digit in base 4.
    pub fn isqrt(self) -> U256 {
        if self.is_zero() {
            return U256::ZERO;
        }
        let mut rem = self;
        let mut res = U256::ZERO;
        // Largest power of four not above self.
        let mut bit = U256::ONE.shl((self.bits() - 1) & !1);
        while !bit.is_zero() {
            // res + bit never overflows: both are below 2^255 here.
            let trial = res.checked_add(bit).unwrap_or(U256::MAX);
            if rem >= trial {
                rem = rem.checked_sub(trial).unwrap_or(U256::ZERO);
                res = res.shr1().checked_add(bit).unwrap_or(U256::MAX);
            } else {
                res = res.shr1();
            }
            bit = bit.shr1().shr1();
        }
        res
    }
}

/// `a * b / d` rounded down in 256 bits; `None` on overflow of the result past
/// 128 bits or on a zero divisor.
#[inline]
pub fn mul_div_floor(a: u128, b: u128, d: u128) -> Option<u128> {
    if let Some(p) = a.checked_mul(b) {
        return p.checked_div(d);
    }
    U256::from_u128(a).checked_mul(U256::from_u128(b))?.checked_div(U256::from_u128(d))?.to_u128()
}

/// `a * b / d` rounded up in 256 bits; `None` on overflow or a zero divisor.
#[inline]
pub fn mul_div_ceil(a: u128, b: u128, d: u128) -> Option<u128> {
    if d == 0 {
        return None;
    }
    if let Some(p) = a.checked_mul(b) {
        return Some(p / d + (p % d != 0) as u128);
    }
    let (q, r) = U256::from_u128(a).checked_mul(U256::from_u128(b))?.div_rem(U256::from_u128(d))?;
    let q = q.to_u128()?;
    if r.is_zero() { Some(q) } else { q.checked_add(1) }
}

/// High 128 bits of a 128 x 128-bit product.
#[inline]
pub fn mulhi(a: u128, b: u128) -> u128 {
    let (a1, a0) = (a >> 64, a as u64 as u128);
    let (b1, b0) = (b >> 64, b as u64 as u128);
    let (lo, m1, m2, hi) = (a0 * b0, a1 * b0, a0 * b1, a1 * b1);
    let mid = (lo >> 64) + (m1 as u64 as u128) + (m2 as u64 as u128);
    hi + (m1 >> 64) + (m2 >> 64) + (mid >> 64)
}

/// Division by a fixed divisor without a division instruction (a
/// precomputed reciprocal, corrected to the exact quotient): the fee math on
/// the sizing hot path divides by the same power of ten millions of times.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Recip {
    d: u128,
    m: u128,
}

impl Recip {
    /// `d` must be positive.
    pub const fn new(d: u128) -> Recip {
        assert!(d > 0, "division by zero");
        Recip { d, m: u128::MAX / d }
    }

    pub const fn divisor(&self) -> u128 {
        self.d
    }

    /// Exact `(n / d, n % d)`.
    #[inline]
    pub fn div_rem(&self, n: u128) -> (u128, u128) {
        // m <= (2^128 - 1) / d, so the estimate never exceeds n / d and is at
        // most 2 below it.
        let mut q = mulhi(n, self.m);
        let mut r = n - q * self.d;
        while r >= self.d {
            q += 1;
            r -= self.d;
        }
        (q, r)
    }

    /// Exact `ceil(n / d)`.
    #[inline]
    pub fn div_ceil(&self, n: u128) -> u128 {
        let (q, r) = self.div_rem(n);
        q + (r != 0) as u128
    }
}

/// An arbitrary-size natural number, little-endian 64-bit limbs, no leading zero limbs.
///
/// Only what exact comparisons of large products need: multiply by a word,
/// add, compare. Division is done by the callers with a bounded search.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Nat(Vec<u64>);

impl Nat {
    pub fn zero() -> Nat {
        Nat(Vec::new())
    }

    pub fn from_u128(v: u128) -> Nat {
        let mut n = Nat(vec![v as u64, (v >> 64) as u64]);
        n.trim();
        n
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    /// `self * m`.
    pub fn mul_u128(&self, m: u128) -> Nat {
        let lo = self.mul_u64(m as u64);
        let hi = self.mul_u64((m >> 64) as u64);
        let mut hi_shifted = Vec::with_capacity(hi.0.len() + 1);
        if !hi.is_zero() {
            hi_shifted.push(0);
            hi_shifted.extend_from_slice(&hi.0);
        }
        lo.add(&Nat(hi_shifted))
    }

    fn mul_u64(&self, m: u64) -> Nat {
        let mut out = Vec::with_capacity(self.0.len() + 1);
        let mut carry: u128 = 0;
        for &limb in &self.0 {
            let p = limb as u128 * m as u128 + carry;
            out.push(p as u64);
            carry = p >> 64;
        }
        out.push(carry as u64);
        let mut n = Nat(out);
        n.trim();
        n
    }

    pub fn mul(&self, o: &Nat) -> Nat {
        let mut out = vec![0u64; self.0.len() + o.0.len()];
        for (i, &a) in self.0.iter().enumerate() {
            let mut carry: u128 = 0;
            for (j, &b) in o.0.iter().enumerate() {
                let cur = out[i + j] as u128 + a as u128 * b as u128 + carry;
                out[i + j] = cur as u64;
                carry = cur >> 64;
            }
            let mut k = i + o.0.len();
            while carry != 0 {
                let cur = out[k] as u128 + carry;
                out[k] = cur as u64;
                carry = cur >> 64;
                k += 1;
            }
        }
        let mut n = Nat(out);
        n.trim();
        n
    }

    pub fn add(&self, o: &Nat) -> Nat {
        let len = self.0.len().max(o.0.len());
        let mut out = Vec::with_capacity(len + 1);
        let mut carry = false;
        for i in 0..len {
            let a = self.0.get(i).copied().unwrap_or(0);
            let b = o.0.get(i).copied().unwrap_or(0);
            let (s1, c1) = a.overflowing_add(b);
            let (s2, c2) = s1.overflowing_add(carry as u64);
            out.push(s2);
            carry = c1 || c2;
        }
        if carry {
            out.push(1);
        }
        let mut n = Nat(out);
        n.trim();
        n
    }

    /// `floor(self * scale / den)` where the result is known to be at most `max`,
    /// found by bisection on exact comparisons (`den` must be non-zero).
    pub fn ratio_floor(&self, scale: u128, den: &Nat, max: u128) -> u128 {
        let num = self.mul_u128(scale);
        let (mut lo, mut hi) = (0u128, max); // invariant: lo*den <= num
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if den.mul_u128(mid) <= num {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    }
}

impl Ord for Nat {
    fn cmp(&self, o: &Nat) -> Ordering {
        self.0.len().cmp(&o.0.len()).then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
    }
}

impl PartialOrd for Nat {
    fn partial_cmp(&self, o: &Nat) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(v: u128) -> U256 {
        U256::from_u128(v)
    }

    #[test]
    fn multiplies_and_divides_past_128_bits() {
        // (2^100 + 7) * (2^90 + 3) / (2^90 + 3) == 2^100 + 7
        let a = u((1 << 100) + 7);
        let b = u((1 << 90) + 3);
        let p = a.checked_mul(b).unwrap();
        assert!(p.to_u128().is_none());
        assert_eq!(p.bits(), 191);
        assert_eq!(p.div_rem(b).unwrap(), (a, U256::ZERO));
        assert_eq!(p.div_rem(a).unwrap(), (b, U256::ZERO));
        // A 64-bit divisor takes the short path.
        let (q, r) = p.div_rem(u(1_000_000_007)).unwrap();
        assert_eq!(q.checked_mul(u(1_000_000_007)).unwrap().checked_add(r).unwrap(), p);
        assert!(r < u(1_000_000_007));
    }

    #[test]
    fn overflow_and_zero_divisor_are_errors() {
        assert_eq!(U256::MAX.checked_add(U256::ONE), None);
        assert_eq!(U256::ZERO.checked_sub(U256::ONE), None);
        assert_eq!(U256::ONE.shl(200).checked_mul(U256::ONE.shl(56)), None);
        assert_eq!(U256::ONE.shl(200).checked_mul(U256::ONE.shl(55)), Some(U256::ONE.shl(255)));
        assert_eq!(U256::ONE.div_rem(U256::ZERO), None);
        assert_eq!(U256::ZERO.ceil_div(U256::ZERO), None);
        assert_eq!(U256::ZERO.ceil_div(u(5)), Some(U256::ZERO));
        assert_eq!(u(10).ceil_div(u(5)), Some(u(2)));
        assert_eq!(u(11).ceil_div(u(5)), Some(u(3)));
    }

    #[test]
    fn wide_division_matches_reconstruction() {
        let n = U256::from_limbs([0x1234_5678_9abc_def0, 0xfedc_ba98_7654_3210, 0x0f0f_0f0f_0f0f_0f0f, 0x7]);
        let d = U256::from_limbs([0xdead_beef, 0x1_0000_0001, 0, 0]);
        let (q, r) = n.div_rem(d).unwrap();
        assert!(r < d);
        assert_eq!(q.checked_mul(d).unwrap().checked_add(r).unwrap(), n);
    }

    #[test]
    fn isqrt_is_the_floor() {
        for v in [0u128, 1, 2, 3, 4, 15, 16, 17, 1 << 100, (1 << 127) + 12345, u128::MAX] {
            let s = u(v).isqrt();
            let s1 = s.checked_add(U256::ONE).unwrap();
            assert!(s.checked_mul(s).unwrap() <= u(v), "{v}");
            assert!(s1.checked_mul(s1).unwrap() > u(v), "{v}");
        }
    }

    #[test]
    fn mul_div_rounds_both_ways() {
        assert_eq!(mul_div_floor(7, 3, 2), Some(10));
        assert_eq!(mul_div_ceil(7, 3, 2), Some(11));
        assert_eq!(mul_div_ceil(u128::MAX, 4, 8), Some(u128::MAX / 2 + 1));
        assert_eq!(mul_div_floor(u128::MAX, 2, 1), None);
        assert_eq!(mul_div_floor(1, 1, 0), None);
    }

    #[test]
    fn reciprocal_division_is_exact() {
        let mut x: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834;
        for d in [1u128, 3, 10, 10u128.pow(7), 10u128.pow(19), 10u128.pow(26), 10u128.pow(31), u128::MAX / 3, u128::MAX]
        {
            let r = Recip::new(d);
            for _ in 0..2_000 {
                // xorshift128-ish
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                for n in [x, x >> 17, x >> 64, x >> 100, d.wrapping_sub(1), d, d.saturating_add(1), u128::MAX, 0] {
                    assert_eq!(r.div_rem(n), (n / d, n % d), "{n} / {d}");
                    assert_eq!(r.div_ceil(n), n.div_ceil(d));
                }
            }
        }
        assert_eq!(mulhi(u128::MAX, u128::MAX), u128::MAX - 1);
        assert_eq!(mulhi(1 << 64, 1 << 64), 1);
    }

    #[test]
    fn nat_ratio_is_exact() {
        let a = Nat::from_u128(u128::MAX).mul(&Nat::from_u128(u128::MAX));
        let b = a.add(&a).add(&a);
        // a / (3a) = 1/3 -> floor(1e6/3)
        assert_eq!(a.ratio_floor(1_000_000, &b, 1_000_000), 333_333);
        assert!(Nat::from_u128(5) > Nat::from_u128(4));
        assert_eq!(Nat::from_u128(3).mul_u128(1 << 100), Nat::from_u128(3 << 100));
    }
}
