//! resource.Quantity: parsing, canonical formatting and comparison.
//!
//! Upstream canonicalizes quantities on the way in (`0.5` -> `500m`,
//! `1024Mi` -> `1Gi`); clients see the canonical string in responses.
//!
//! The rules follow upstream `k8s.io/apimachinery/pkg/api/resource`:
//! - values are exact (arbitrary precision), rounded up (away from zero)
//!   to nano precision on parse; binary-suffixed values are capped at
//!   2^63-1;
//! - the canonical form keeps the format (binary, decimal SI, decimal
//!   exponent) and uses the largest suffix that keeps an integer mantissa,
//!   with the exponent a multiple of 3 (`1.5Gi` -> `1536Mi`, `1.5` ->
//!   `1500m`, `1000` -> `1k`, `1.5e3` -> `1500`); binary values below 1024
//!   or with a fraction are shown in decimal SI;
//! - like upstream, an input that is already in canonical shape (e.g.
//!   `100m`, `12e6`, `1Ki`) is echoed as written, sign and leading zeros
//!   included (`+1` stays `+1`).

mod magnitude;

use std::cmp::Ordering;
use std::fmt;

use magnitude::Magnitude;

/// How a quantity was written, which its canonical form keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `Ki`, `Mi`, `Gi`, ...
    BinarySI,
    /// `m`, `k`, `M`, `G`, ... or no suffix
    DecimalSI,
    /// `e3`, `E6`, ...
    DecimalExponent,
}

/// A parse failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)]
pub struct QuantityError;

/// The input string upstream keeps and echoes because it was already in
/// canonical shape, with the scale of its fast-path representation (which
/// decides whether `round_up` keeps it).
#[derive(Debug, Clone)]
struct Kept {
    text: String,
    scale: i64,
}

/// A parsed quantity.
#[derive(Debug, Clone)]
pub struct Quantity {
    negative: bool,
    magnitude: Magnitude,
    /// The format to keep in the canonical form.
    format: Format,
    kept: Option<Kept>,
}

impl PartialEq for Quantity {
    /// Same value and format; how it was spelled does not matter.
    fn eq(&self, other: &Self) -> bool {
        self.negative == other.negative
            && self.magnitude == other.magnitude
            && self.format == other.format
    }
}

impl Eq for Quantity {}

/// 2^63 - 1, the cap on binary-suffixed values.
const MAX_ALLOWED: u64 = i64::MAX as u64;
/// Values are rounded up to nano units (10^-9).
const NANO: i64 = -9;

/// The pieces of a quantity string (upstream `parseQuantityString`).
struct Scanned<'a> {
    positive: bool,
    /// Integer digits without leading zeros ("0" if there are none).
    num: &'a str,
    /// Fraction digits as written.
    denom: &'a str,
    suffix: &'a str,
}

fn scan(s: &str) -> Result<Scanned<'_>, QuantityError> {
    let b = s.as_bytes();
    let end = b.len();
    let mut pos = 0;
    let mut positive = true;
    match b.first() {
        Some(b'-') => {
            positive = false;
            pos = 1;
        }
        Some(b'+') => pos = 1,
        _ => {}
    }
    let number_start = pos;
    while pos < end && b[pos] == b'0' {
        pos += 1;
    }
    let num_start = pos;
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    let num = if pos == num_start {
        "0"
    } else {
        &s[num_start..pos]
    };
    let mut denom = "";
    if pos < end && b[pos] == b'.' {
        pos += 1;
        let denom_start = pos;
        while pos < end && b[pos].is_ascii_digit() {
            pos += 1;
        }
        denom = &s[denom_start..pos];
    }
    // Upstream's scanner reads an empty number as 0 ("Mi", "-", "k"), but
    // its own error message's regex requires one; we follow the regex.
    if pos == number_start {
        return Err(QuantityError);
    }
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < end && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos != end {
        return Err(QuantityError);
    }
    Ok(Scanned {
        positive,
        num,
        denom,
        suffix: &s[suffix_start..],
    })
}

/// Upstream `suffixer.interpret`: (base, exponent, format).
fn interpret(suffix: &str) -> Option<(u32, i64, Format)> {
    let dec = |e| Some((10, e, Format::DecimalSI));
    let bin = |e| Some((2, e, Format::BinarySI));
    match suffix {
        "" => dec(0),
        "n" => dec(-9),
        "u" => dec(-6),
        "m" => dec(-3),
        "k" => dec(3),
        "M" => dec(6),
        "G" => dec(9),
        "T" => dec(12),
        "P" => dec(15),
        "E" => dec(18),
        "Ki" => bin(10),
        "Mi" => bin(20),
        "Gi" => bin(30),
        "Ti" => bin(40),
        "Pi" => bin(50),
        "Ei" => bin(60),
        _ => {
            let rest = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))
                .filter(|r| !r.is_empty())?;
            let e: i64 = rest.parse().ok()?;
            // Exponents outside the int32 scale are rejected (upstream
            // 1.33 silently truncated them to an unrelated value).
            (e.unsigned_abs() <= i32::MAX as u64).then_some((10, e, Format::DecimalExponent))
        }
    }
}

/// Upstream's int64 fast path keeps the input string when it already has
/// canonical shape; this reproduces that decision.
fn kept_string(s: &str, sc: &Scanned<'_>, base: u32, exponent: i64) -> Option<Kept> {
    let digits = sc.num.len() + sc.denom.len();
    let (precision, mut scale, mantissa): (i64, i64, i64) = if base == 10 {
        (18 - digits as i64, exponent, 1)
    } else if sc.denom.is_empty() {
        (
            15 - sc.num.len() as i64 - exponent * 3 / 10 - 1,
            0,
            1i64.checked_shl(u32::try_from(exponent).ok()?)?,
        )
    } else {
        return None;
    };
    if precision < 0 {
        return None;
    }
    scale -= sc.denom.len() as i64;
    if scale < NANO {
        return None;
    }
    let shifted = format!("{}{}", sc.num, sc.denom);
    let value: i64 = shifted.parse().ok()?;
    value.checked_mul(mantissa)?;
    let canonical_shape = if base == 2 {
        exponent % 10 == 0 && value & 0x07 != 0
    } else {
        scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0')
    };
    canonical_shape.then(|| Kept {
        text: s.to_string(),
        scale,
    })
}

impl Quantity {
    /// Parses a quantity string.
    pub fn parse(s: &str) -> Result<Self, QuantityError> {
        if s.is_empty() {
            return Err(QuantityError);
        }
        if s == "0" {
            return Ok(Quantity {
                negative: false,
                magnitude: Magnitude::default(),
                format: Format::DecimalSI,
                kept: Some(Kept {
                    text: s.to_string(),
                    scale: 0,
                }),
            });
        }
        let sc = scan(s)?;
        let (base, exponent, mut format) = interpret(sc.suffix).ok_or(QuantityError)?;
        let kept = kept_string(s, &sc, base, exponent);

        let digits = format!("{}{}", sc.num, sc.denom);
        let frac = sc.denom.len() as i64;
        let mut magnitude = if base == 10 {
            Magnitude::from_ascii(digits.as_bytes(), exponent - frac)
        } else {
            let mut m = Magnitude::from_ascii(digits.as_bytes(), -frac);
            // Binary exponents are 10..=60.
            m.mul_pow2(u32::try_from(exponent).unwrap_or(0));
            m
        };
        magnitude.round_up_to(NANO);
        if format == Format::BinarySI {
            let max = Magnitude::from_u64(MAX_ALLOWED);
            if magnitude > max {
                magnitude = max;
            }
            if !magnitude.is_zero() && magnitude < Magnitude::from_u64(1) {
                format = Format::DecimalSI;
            }
        }
        let negative = !sc.positive && !magnitude.is_zero();
        Ok(Quantity {
            negative,
            magnitude,
            format,
            kept,
        })
    }

    /// The value in milli-units, rounded up (upstream `MilliValue`).
    /// Saturates at the `i64` bounds.
    pub fn milli_value(&self) -> i64 {
        self.scaled_value(-3)
    }

    /// The value in whole units, rounded up (upstream `Value`).
    /// Saturates at the `i64` bounds.
    pub fn value(&self) -> i64 {
        self.scaled_value(0)
    }

    /// `ceil(value / 10^scale)`, rounded away from zero (upstream
    /// `ScaledValue`; `-3` is milli, `0` units, `3` kilo). Saturates at the
    /// `i64` bounds.
    pub fn scaled_value(&self, scale: i32) -> i64 {
        let magnitude = self.magnitude.ceil_scaled(i64::from(scale));
        if self.negative {
            magnitude
                .and_then(|m| i128::try_from(m).ok())
                .and_then(|m| i64::try_from(-m).ok())
                .unwrap_or(i64::MIN)
        } else {
            magnitude
                .and_then(|m| i64::try_from(m).ok())
                .unwrap_or(i64::MAX)
        }
    }

    /// Rounds the value away from zero to a multiple of `10^scale`
    /// (upstream `RoundUp`, e.g. `-3` for milli precision); returns whether
    /// the value was already exact. As upstream, an echoed input string
    /// survives only if its representation was already at that scale.
    pub fn round_up(&mut self, scale: i32) -> bool {
        let scale = i64::from(scale);
        if self.kept.as_ref().is_some_and(|k| k.scale < scale) {
            self.kept = None;
        }
        let exact = self.magnitude.round_up_to(scale);
        if !exact {
            self.kept = None;
        }
        exact
    }

    /// The format the quantity was written in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// True if negative.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// True if zero.
    pub fn is_zero(&self) -> bool {
        self.magnitude.is_zero()
    }

    /// Compares the numeric values.
    pub fn cmp_value(&self, other: &Quantity) -> Ordering {
        match (self.negative, other.negative) {
            (false, false) => self.magnitude.cmp(&other.magnitude),
            (true, true) => other.magnitude.cmp(&self.magnitude),
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
        }
    }

    /// An approximate `f64` of the value (upstream `AsApproximateFloat64`).
    pub fn as_approximate_f64(&self) -> f64 {
        let v = self.magnitude.to_f64();
        if self.negative { -v } else { v }
    }

    /// The canonical string computed from the value, ignoring any echoed
    /// input spelling (what upstream prints once the value was modified).
    pub fn canonical_string(&self) -> String {
        if self.magnitude.is_zero() {
            return "0".to_string();
        }
        let sign = if self.negative { "-" } else { "" };
        if self.format == Format::BinarySI
            && let Some(s) = self.binary_string()
        {
            return format!("{sign}{s}");
        }
        let r = self.magnitude.exp().rem_euclid(3);
        // r is 0..=2.
        let (digits, exp) = self
            .magnitude
            .with_trailing_zeros(usize::try_from(r).unwrap_or(0));
        let suffix = match (self.format, exp) {
            (Format::DecimalExponent, 0) => String::new(),
            (Format::DecimalExponent, e) => format!("e{e}"),
            (_, -9) => "n".into(),
            (_, -6) => "u".into(),
            (_, -3) => "m".into(),
            (_, 0) => String::new(),
            (_, 3) => "k".into(),
            (_, 6) => "M".into(),
            (_, 9) => "G".into(),
            (_, 12) => "T".into(),
            (_, 15) => "P".into(),
            (_, 18) => "E".into(),
            // Past the largest suffix: exponent notation keeps the value
            // (upstream 1.33 dropped the suffix here, printing 1000E as 1).
            (_, e) => format!("e{e}"),
        };
        format!("{sign}{digits}{suffix}")
    }

    /// The base-1024 form, if the value is an integer of at least 1024.
    fn binary_string(&self) -> Option<String> {
        let mut v = self.magnitude.to_u128()?;
        if v < 1024 {
            return None;
        }
        let mut exp = 0;
        while v % 1024 == 0 && exp < 6 {
            v /= 1024;
            exp += 1;
        }
        let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][exp];
        Some(format!("{v}{suffix}"))
    }
}

impl fmt::Display for Quantity {
    /// The canonical string (upstream `Quantity.String()`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kept {
            Some(k) => f.write_str(&k.text),
            None => f.write_str(&self.canonical_string()),
        }
    }
}

/// Parses and re-renders a quantity in canonical form, as a quantity
/// decoded from JSON and encoded again: like upstream's `UnmarshalJSON`,
/// surrounding whitespace is ignored (`Quantity::parse` rejects it).
pub fn canonicalize(s: &str) -> Result<String, QuantityError> {
    Ok(Quantity::parse(s.trim())?.to_string())
}

/// Renders a sum of quantities, kept in milli-units, the way upstream's
/// `Quantity.String()` prints the result of `Quantity.Add`: milli-units
/// when fractional, a binary suffix (`Mi`, `Gi`, ...) when `binary` (the
/// first quantity added was binary) and it divides evenly, otherwise the
/// canonical decimal form. Used by ResourceQuota admission and the
/// resourcequota controller, which must write identical `status.used`.
pub fn format_milli_sum(milli: i128, binary: bool) -> String {
    if milli % 1000 != 0 {
        return format!("{milli}m");
    }
    let value = milli / 1000;
    if value == 0 {
        return "0".to_string();
    }
    if binary {
        for (suffix, shift) in [
            ("Ei", 60),
            ("Pi", 50),
            ("Ti", 40),
            ("Gi", 30),
            ("Mi", 20),
            ("Ki", 10),
        ] {
            let unit = 1i128 << shift;
            if value % unit == 0 {
                return format!("{}{suffix}", value / unit);
            }
        }
        return value.to_string();
    }
    canonicalize(&value.to_string()).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests;
