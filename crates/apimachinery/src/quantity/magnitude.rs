//! An arbitrary-precision non-negative decimal `digits × 10^exp`, with just
//! the arithmetic quantities need (upstream uses `inf.Dec` for the same).
//!
//! Invariant: `digits` holds decimal digit values (0..=9), most significant
//! first, with no leading and no trailing zeros; zero is the empty vector
//! with `exp == 0`. Equal values therefore have equal representations.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Magnitude {
    digits: Vec<u8>,
    exp: i64,
}

impl Magnitude {
    /// `digits × 10^exp` from ASCII digits (leading/trailing zeros allowed).
    pub(super) fn from_ascii(ascii: &[u8], exp: i64) -> Self {
        let mut m = Magnitude {
            digits: ascii.iter().map(|c| c.wrapping_sub(b'0')).collect(),
            exp,
        };
        m.normalize();
        m
    }

    /// The value of a `u64`.
    pub(super) fn from_u64(v: u64) -> Self {
        Self::from_ascii(v.to_string().as_bytes(), 0)
    }

    fn normalize(&mut self) {
        let lead = self.digits.iter().take_while(|&&d| d == 0).count();
        self.digits.drain(..lead);
        let trail = self.digits.iter().rev().take_while(|&&d| d == 0).count();
        self.digits.truncate(self.digits.len() - trail);
        if self.digits.is_empty() {
            self.exp = 0;
        } else {
            self.exp = self.exp.saturating_add(trail as i64);
        }
    }

    pub(super) fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// The power of ten of the last significant digit.
    pub(super) fn exp(&self) -> i64 {
        self.exp
    }

    /// The significant digits as ASCII.
    pub(super) fn digits_ascii(&self) -> String {
        self.digits.iter().map(|&d| char::from(b'0' + d)).collect()
    }

    /// Multiplies in place by `m` (small enough that `9 * m + carry` fits).
    pub(super) fn mul_small(&mut self, m: u32) {
        let mut carry: u64 = 0;
        for d in self.digits.iter_mut().rev() {
            let v = u64::from(*d) * u64::from(m) + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        let mut head = Vec::new();
        while carry > 0 {
            head.push((carry % 10) as u8);
            carry /= 10;
        }
        head.reverse();
        if !head.is_empty() {
            head.append(&mut self.digits);
            self.digits = head;
        }
        self.normalize();
    }

    /// Multiplies in place by `2^n`.
    pub(super) fn mul_pow2(&mut self, mut n: u32) {
        while n > 0 {
            let step = n.min(20);
            self.mul_small(1 << step);
            n -= step;
        }
    }

    /// Adds one unit of the last significant digit's place (`10^exp`).
    fn increment_last(&mut self) {
        for d in self.digits.iter_mut().rev() {
            if *d == 9 {
                *d = 0;
            } else {
                *d += 1;
                self.normalize();
                return;
            }
        }
        self.digits.insert(0, 1);
        self.normalize();
    }

    /// Rounds away from zero to a multiple of `10^scale`; returns whether
    /// the value was already exact.
    pub(super) fn round_up_to(&mut self, scale: i64) -> bool {
        if self.is_zero() || self.exp >= scale {
            return true;
        }
        let drop = scale.saturating_sub(self.exp);
        let len = self.digits.len() as i64;
        if drop >= len {
            // Every digit is below the unit: the result is one unit.
            self.digits = vec![1];
            self.exp = scale;
            return false;
        }
        // Dropped digits are never all zero: the last digit is non-zero.
        let keep = usize::try_from(len - drop).unwrap_or(0);
        self.digits.truncate(keep);
        self.exp = scale;
        self.increment_last();
        false
    }

    /// The number of digits before the decimal point (can be <= 0).
    fn int_digits(&self) -> i64 {
        self.digits.len() as i64 + self.exp
    }

    /// Whether the value is an integer.
    pub(super) fn is_integer(&self) -> bool {
        self.exp >= 0
    }

    /// The value if it is an integer that fits in `u128`.
    pub(super) fn to_u128(&self) -> Option<u128> {
        if !self.is_integer() || self.int_digits() > 38 {
            return None;
        }
        let mut v: u128 = 0;
        for &d in &self.digits {
            v = v.checked_mul(10)?.checked_add(u128::from(d))?;
        }
        for _ in 0..self.exp {
            v = v.checked_mul(10)?;
        }
        Some(v)
    }

    /// `ceil(self / 10^scale)` (the quotient rounded away from zero),
    /// `None` if it does not fit in `u128`.
    pub(super) fn ceil_scaled(&self, scale: i64) -> Option<u128> {
        let mut m = self.clone();
        m.round_up_to(scale);
        m.exp = m.exp.checked_sub(scale)?;
        m.to_u128()
    }

    /// Appends `n` zeros to the digits (lowering `exp`), for display only:
    /// breaks the no-trailing-zero invariant, so the result is not stored.
    pub(super) fn with_trailing_zeros(&self, n: usize) -> (String, i64) {
        let mut s = self.digits_ascii();
        for _ in 0..n {
            s.push('0');
        }
        (s, self.exp - n as i64)
    }

    /// An approximate `f64` of the value.
    pub(super) fn to_f64(&self) -> f64 {
        if self.is_zero() {
            return 0.0;
        }
        format!("{}e{}", self.digits_ascii(), self.exp)
            .parse()
            .unwrap_or(f64::INFINITY)
    }
}

impl PartialOrd for Magnitude {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Magnitude {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        // Without leading zeros, more integer digits means larger.
        self.int_digits().cmp(&other.int_digits()).then_with(|| {
            // Same magnitude order: compare digit by digit from the top;
            // a missing digit reads as zero.
            let n = self.digits.len().max(other.digits.len());
            (0..n)
                .map(|i| {
                    let a = self.digits.get(i).copied().unwrap_or(0);
                    let b = other.digits.get(i).copied().unwrap_or(0);
                    a.cmp(&b)
                })
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str, exp: i64) -> Magnitude {
        Magnitude::from_ascii(s.as_bytes(), exp)
    }

    #[test]
    fn normalizes() {
        assert_eq!(m("00120", 0), m("12", 1));
        assert!(m("000", 5).is_zero());
        assert_eq!(m("000", 5), Magnitude::default());
    }

    #[test]
    fn multiplies() {
        let mut x = m("15", -1);
        x.mul_pow2(30);
        assert_eq!(x.to_u128(), Some(1_610_612_736));
        let mut y = m("99", 0);
        y.mul_small(1 << 20);
        assert_eq!(y.to_u128(), Some(99 * (1 << 20)));
    }

    #[test]
    fn rounds_up() {
        let mut x = m("3001", -12);
        assert!(!x.round_up_to(-9));
        assert_eq!(x, m("4", -9));
        let mut y = m("999", -11);
        assert!(!y.round_up_to(-9));
        assert_eq!(y, m("1", -8));
        let mut z = m("5", -1_000_000_000);
        assert!(!z.round_up_to(-9));
        assert_eq!(z, m("1", -9));
        let mut w = m("5", -3);
        assert!(w.round_up_to(-9));
    }

    #[test]
    fn compares() {
        assert!(m("1", 3) > m("999", 0));
        assert!(m("1001", 0) > m("1", 3));
        assert!(m("1", -9) > Magnitude::default());
        assert_eq!(m("10", 2).cmp(&m("1", 3)), Ordering::Equal);
        assert!(m("12", 0) < m("13", 0));
        assert!(m("125", -2) > m("12", -1));
    }

    #[test]
    fn scales() {
        assert_eq!(m("15", -1).ceil_scaled(0), Some(2));
        assert_eq!(m("15", -1).ceil_scaled(-3), Some(1500));
        assert_eq!(m("1", 40).ceil_scaled(0), None);
        assert_eq!(m("1", -20).ceil_scaled(0), Some(1));
    }
}
