//! resource.Quantity: parsing, canonical formatting and comparison.
//!
//! Upstream canonicalizes quantities on the way in (`0.5` -> `500m`,
//! `1024Mi` -> `1Gi`); clients see the canonical string in responses.

use std::cmp::Ordering;
use std::fmt;

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

/// A parsed quantity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    /// The value scaled to nano-units (enough precision for every suffix
    /// upstream accepts on realistic values; saturates on overflow).
    nanos: i128,
    /// The format to keep in the canonical form.
    format: Format,
}

impl Quantity {
    /// Parses a quantity string.
    pub fn parse(_s: &str) -> Result<Self, QuantityError> {
        todo!("implemented by the apimachinery work")
    }

    /// The value in milli-units, rounded up (upstream `MilliValue`).
    pub fn milli_value(&self) -> i64 {
        todo!("implemented by the apimachinery work")
    }

    /// The value in whole units, rounded up (upstream `Value`).
    pub fn value(&self) -> i64 {
        todo!("implemented by the apimachinery work")
    }

    /// The format the quantity was written in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// True if negative.
    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// True if zero.
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// Compares the numeric values.
    pub fn cmp_value(&self, other: &Quantity) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl fmt::Display for Quantity {
    /// The canonical string (upstream `Quantity.String()`).
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!("implemented by the apimachinery work")
    }
}

/// Parses and re-renders a quantity in canonical form.
pub fn canonicalize(s: &str) -> Result<String, QuantityError> {
    Ok(Quantity::parse(s)?.to_string())
}
