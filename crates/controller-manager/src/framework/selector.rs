//! Label selectors as controllers use them (upstream
//! `metav1.LabelSelectorAsSelector` and `labels.SelectorFromSet`).
//!
//! - An absent `LabelSelector` selects nothing; an empty one (`{}`)
//!   selects everything.
//! - `matchLabels` entries are `In` requirements with one value.
//! - `In`/`NotIn` need at least one value, `Exists`/`DoesNotExist` none;
//!   any other operator is an error. A controller with an invalid selector
//!   reports it and leaves its pods alone (it never crashes).

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Why a `LabelSelector` could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// An operator other than `In`, `NotIn`, `Exists`, `DoesNotExist`.
    #[error("{0:?} is not a valid label selector operator")]
    UnknownOperator(String),
    /// `In`/`NotIn` without values.
    #[error("for 'in', 'notin' operators, values set can't be empty")]
    MissingValues,
    /// `Exists`/`DoesNotExist` with values.
    #[error("values set must be empty for exists and does not exist")]
    UnexpectedValues,
}

/// A requirement's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// The label has one of the values.
    In,
    /// The label is absent or has none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

/// One `key op values` requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

/// A converted label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Selects nothing (an absent selector).
    Nothing,
    /// Selects what matches every requirement (none: everything).
    Requirements(Vec<Requirement>),
}

impl Selector {
    /// Upstream `LabelSelectorAsSelector` (`None` selects nothing).
    pub fn from_label_selector(selector: Option<&LabelSelector>) -> Result<Self, SelectorError> {
        let Some(selector) = selector else {
            return Ok(Selector::Nothing);
        };
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement {
                key: key.clone(),
                operator: Operator::In,
                values: vec![value.clone()],
            });
        }
        for expression in selector.match_expressions.iter().flatten() {
            let operator = match expression.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => return Err(SelectorError::UnknownOperator(other.to_string())),
            };
            let values = expression.values.clone().unwrap_or_default();
            match operator {
                Operator::In | Operator::NotIn if values.is_empty() => {
                    return Err(SelectorError::MissingValues);
                }
                Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                    return Err(SelectorError::UnexpectedValues);
                }
                _ => {}
            }
            requirements.push(Requirement {
                key: expression.key.clone(),
                operator,
                values,
            });
        }
        Ok(Selector::Requirements(requirements))
    }

    /// Upstream `labels.SelectorFromSet` (a ReplicationController's
    /// selector): every pair must match; an empty set selects everything.
    pub fn from_set(set: &BTreeMap<String, String>) -> Self {
        Selector::Requirements(
            set.iter()
                .map(|(key, value)| Requirement {
                    key: key.clone(),
                    operator: Operator::In,
                    values: vec![value.clone()],
                })
                .collect(),
        )
    }

    /// Whether `labels` (absent: no labels) are selected.
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        let labels = labels.unwrap_or(&EMPTY);
        match self {
            Selector::Nothing => false,
            Selector::Requirements(requirements) => requirements.iter().all(|r| r.matches(labels)),
        }
    }

    /// The `In` requirements (`matchLabels` included) as key and allowed
    /// values: a selected object carries one of the values under each key,
    /// which lets an index by label narrow the candidates.
    pub fn required_values(&self) -> impl Iterator<Item = (&str, &[String])> {
        let requirements = match self {
            Selector::Nothing => &[][..],
            Selector::Requirements(r) => r.as_slice(),
        };
        requirements
            .iter()
            .filter(|r| r.operator == Operator::In)
            .map(|r| (r.key.as_str(), r.values.as_slice()))
    }

    /// Whether this selects every object (`{}`).
    pub fn is_everything(&self) -> bool {
        matches!(self, Selector::Requirements(r) if r.is_empty())
    }
}

impl fmt::Display for Selector {
    /// The label selector string (`app=web,tier in (a,b)`), as used in a
    /// `labelSelector` query parameter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Selector::Requirements(requirements) = self else {
            // Nothing has no string form upstream either; this never
            // matches a real label key.
            return f.write_str("!nothing.corten.dev/never");
        };
        let parts: Vec<String> = requirements
            .iter()
            .map(|r| match r.operator {
                Operator::In if r.values.len() == 1 => format!("{}={}", r.key, r.values[0]),
                Operator::In => format!("{} in ({})", r.key, r.values.join(",")),
                Operator::NotIn => format!("{} notin ({})", r.key, r.values.join(",")),
                Operator::Exists => r.key.clone(),
                Operator::DoesNotExist => format!("!{}", r.key),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// A label selector the way Go's `%+v` prints it, as upstream's event
/// texts show it (`nil`, `&LabelSelector{MatchLabels:map[string]string{a: b,},...}`).
pub fn go_selector_text(selector: Option<&LabelSelector>) -> String {
    let Some(selector) = selector else {
        return "nil".to_string();
    };
    let labels: String = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}: {v},"))
        .collect();
    let expressions: String = selector
        .match_expressions
        .iter()
        .flatten()
        .map(|e| {
            format!(
                "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},",
                e.key,
                e.operator,
                e.values.as_deref().unwrap_or_default().join(" ")
            )
        })
        .collect();
    format!(
        "&LabelSelector{{MatchLabels:map[string]string{{{labels}}},MatchExpressions:[]LabelSelectorRequirement{{{expressions}}},}}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn absent_selects_nothing_and_empty_everything() {
        let nothing = Selector::from_label_selector(None).unwrap();
        assert!(!nothing.matches(Some(&labels(&[("a", "b")]))));
        let everything = Selector::from_label_selector(Some(&LabelSelector::default())).unwrap();
        assert!(everything.is_everything());
        assert!(everything.matches(None));
    }

    #[test]
    fn labels_and_expressions_must_all_match() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                expr("tier", "In", &["fe", "be"]),
                expr("canary", "DoesNotExist", &[]),
                expr("env", "NotIn", &["prod"]),
                expr("team", "Exists", &[]),
            ]),
        };
        let s = Selector::from_label_selector(Some(&sel)).unwrap();
        assert!(s.matches(Some(&labels(&[
            ("app", "web"),
            ("tier", "fe"),
            ("team", "x")
        ]))));
        assert!(!s.matches(Some(&labels(&[
            ("app", "web"),
            ("tier", "fe"),
            ("team", "x"),
            ("env", "prod")
        ]))));
        assert!(!s.matches(Some(&labels(&[("app", "web"), ("tier", "fe")]))));
        assert_eq!(
            s.to_string(),
            "app=web,tier in (fe,be),!canary,env notin (prod),team"
        );
    }

    #[test]
    fn invalid_selectors_are_errors() {
        let bad = |e| LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![e]),
        };
        assert_eq!(
            Selector::from_label_selector(Some(&bad(expr("a", "Near", &["x"])))),
            Err(SelectorError::UnknownOperator("Near".into()))
        );
        assert_eq!(
            Selector::from_label_selector(Some(&bad(expr("a", "In", &[])))),
            Err(SelectorError::MissingValues)
        );
        assert_eq!(
            Selector::from_label_selector(Some(&bad(expr("a", "Exists", &["x"])))),
            Err(SelectorError::UnexpectedValues)
        );
    }

    #[test]
    fn sets_select_like_selector_from_set() {
        let s = Selector::from_set(&labels(&[("app", "web")]));
        assert!(s.matches(Some(&labels(&[("app", "web"), ("x", "y")]))));
        assert!(!s.matches(Some(&labels(&[("app", "db")]))));
        assert!(Selector::from_set(&BTreeMap::new()).matches(None));
    }
}
