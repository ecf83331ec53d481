//! Field selectors (upstream `k8s.io/apimachinery/pkg/fields`).
//!
//! Syntax: `metadata.name=foo,status.phase!=Running` (also `==`). Values may
//! escape `\,`, `\=`, `\!` and `\\` with a backslash.

use std::fmt;

/// A field selector operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `=` or `==`
    Equals,
    /// `!=`
    NotEquals,
}

/// One `field op value` term.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    /// The field path, e.g. `spec.nodeName`.
    pub field: String,
    /// The operator.
    pub operator: FieldOperator,
    /// The unescaped value.
    pub value: String,
}

/// A parse failure; the message is upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FieldSelectorError(pub String);

/// A parsed field selector: the AND of its terms.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// The selector that matches everything.
    pub fn everything() -> Self {
        FieldSelector::default()
    }

    /// Parses the string syntax.
    pub fn parse(_s: &str) -> Result<Self, FieldSelectorError> {
        todo!("implemented by the apimachinery work")
    }

    /// True if there are no terms.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The terms, in order.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// If the selector pins `field` with `=`, the value (used to narrow a
    /// list to one name or namespace).
    pub fn exact_value(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == FieldOperator::Equals)
            .map(|r| r.value.as_str())
    }

    /// Whether the object's fields satisfy every term. `get` returns the
    /// value of a field; a missing field reads as the empty string, as upstream.
    pub fn matches(&self, _get: &dyn Fn(&str) -> Option<String>) -> bool {
        todo!("implemented by the apimachinery work")
    }
}

impl fmt::Display for FieldSelector {
    /// The canonical string form with values escaped.
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!("implemented by the apimachinery work")
    }
}
