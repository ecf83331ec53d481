//! Quota arithmetic on resource lists (upstream's `quota.Add`, `Mask`,
//! `SubtractWithNonNegativeResult`, `RemoveZeros`), with quantities kept
//! as milli-units plus the format to print them in.

use std::collections::BTreeMap;

use corten_apimachinery::quantity::{Format, Quantity};
use serde_json::Value;

/// One quantity: its value in milli-units and whether it prints with
/// binary suffixes (`Mi`, `Gi`), as the quantity it came from did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amount {
    /// The value in milli-units.
    pub milli: i128,
    /// Print with binary suffixes.
    pub binary: bool,
}

impl Amount {
    /// `n` whole units (object counts).
    pub fn count(n: i128) -> Self {
        Amount {
            milli: n * 1000,
            binary: false,
        }
    }

    /// Parses a quantity string; `None` when it is not one.
    pub fn parse(s: &str) -> Option<Self> {
        let q = Quantity::parse(s).ok()?;
        Some(Amount {
            milli: i128::from(q.milli_value()),
            binary: q.format() == Format::BinarySI,
        })
    }

    /// The quantity string upstream's `Quantity.String()` would print.
    pub fn to_quantity(self) -> String {
        corten_apimachinery::quantity::format_milli_sum(self.milli, self.binary)
    }
}

/// Resource name -> amount (upstream `ResourceList`).
pub type ResourceList = BTreeMap<String, Amount>;

/// Reads a `{name: quantity}` map (`status.hard`, `status.used`);
/// entries that are not quantities are left out.
pub fn from_json(v: Option<&Value>) -> ResourceList {
    v.and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, q)| Some((k.clone(), Amount::parse(q.as_str()?)?)))
        .collect()
}

/// Writes a resource list as JSON quantities.
pub fn to_json(list: &ResourceList) -> Value {
    Value::Object(
        list.iter()
            .map(|(k, a)| (k.clone(), Value::String(a.to_quantity())))
            .collect(),
    )
}

/// `a + b`; a sum keeps the format of its first operand.
pub fn add(a: &ResourceList, b: &ResourceList) -> ResourceList {
    let mut out = a.clone();
    for (k, v) in b {
        out.entry(k.clone())
            .and_modify(|e| e.milli += v.milli)
            .or_insert(*v);
    }
    out
}

/// `a - b`, never below zero per resource.
pub fn subtract_non_negative(a: &ResourceList, b: &ResourceList) -> ResourceList {
    a.iter()
        .map(|(k, v)| {
            let minus = b.get(k).map_or(0, |w| w.milli);
            (
                k.clone(),
                Amount {
                    milli: (v.milli - minus).max(0),
                    binary: v.binary,
                },
            )
        })
        .collect()
}

/// Only the entries named in `names`.
pub fn mask<'a>(list: &ResourceList, names: impl IntoIterator<Item = &'a String>) -> ResourceList {
    names
        .into_iter()
        .filter_map(|n| list.get(n).map(|a| (n.clone(), *a)))
        .collect()
}

/// Upstream's `prettyPrint`: `name=quantity` sorted by name, comma-joined.
pub fn pretty(list: &ResourceList) -> String {
    list.iter()
        .map(|(k, a)| format!("{k}={}", a.to_quantity()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[(&str, &str)]) -> ResourceList {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), Amount::parse(v).unwrap()))
            .collect()
    }

    #[test]
    fn sums_keep_the_first_format_and_print_like_quantities() {
        let sum = add(
            &list(&[("requests.memory", "1Gi"), ("requests.cpu", "500m")]),
            &list(&[("requests.memory", "512Mi"), ("pods", "1")]),
        );
        assert_eq!(
            pretty(&sum),
            "pods=1,requests.cpu=500m,requests.memory=1536Mi"
        );
        assert_eq!(Amount::count(2000).to_quantity(), "2k");
        assert_eq!(Amount::parse("1500m").unwrap().to_quantity(), "1500m");
        let diff = subtract_non_negative(
            &list(&[("pods", "1"), ("requests.cpu", "1")]),
            &list(&[("requests.cpu", "2")]),
        );
        assert_eq!(pretty(&diff), "pods=1,requests.cpu=0");
        let names = ["pods".to_string()];
        assert_eq!(pretty(&mask(&sum, &names)), "pods=1");
    }
}
