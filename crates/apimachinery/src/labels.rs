//! Label selectors (upstream `k8s.io/apimachinery/pkg/labels`).
//!
//! String syntax: `a=b,c!=d,e in (f,g),h notin (i),j,!k,l>5`. An empty
//! selector matches everything.

use std::collections::BTreeMap;
use std::fmt;

/// A label selector operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `=` / `==`
    Equals,
    /// `!=`
    NotEquals,
    /// `in (...)`
    In,
    /// `notin (...)`
    NotIn,
    /// bare key
    Exists,
    /// `!key`
    DoesNotExist,
    /// `>` (numeric)
    GreaterThan,
    /// `<` (numeric)
    LessThan,
}

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// The operator.
    pub operator: Operator,
    /// Values (sorted, deduplicated for In/NotIn).
    pub values: Vec<String>,
}

/// A parse or validation failure; the message is upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

/// A parsed label selector: the AND of its requirements.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// The selector that matches everything.
    pub fn everything() -> Self {
        Selector::default()
    }

    /// Parses the string syntax, validating keys and values like upstream.
    pub fn parse(_s: &str) -> Result<Self, SelectorError> {
        todo!("implemented by the apimachinery work")
    }

    /// Converts a metav1.LabelSelector (as JSON: `matchLabels`,
    /// `matchExpressions`) to a selector. A null/absent selector matches
    /// nothing in upstream's `LabelSelectorAsSelector` only when the pointer
    /// is nil; callers decide. An empty object matches everything.
    pub fn from_label_selector(_ls: &serde_json::Value) -> Result<Self, SelectorError> {
        todo!("implemented by the apimachinery work")
    }

    /// Builds a selector from `key=value` pairs (e.g. a Service's selector).
    pub fn from_set(set: &BTreeMap<String, String>) -> Self {
        Selector {
            requirements: set
                .iter()
                .map(|(k, v)| Requirement {
                    key: k.clone(),
                    operator: Operator::Equals,
                    values: vec![v.clone()],
                })
                .collect(),
        }
    }

    /// True if the selector has no requirements (matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The requirements, in order.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether `labels` satisfies every requirement.
    pub fn matches(&self, _labels: &BTreeMap<String, String>) -> bool {
        todo!("implemented by the apimachinery work")
    }
}

impl fmt::Display for Selector {
    /// The canonical string form (upstream `Selector.String()`).
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!("implemented by the apimachinery work")
    }
}
