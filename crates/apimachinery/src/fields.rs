//! Field selectors (upstream `k8s.io/apimachinery/pkg/fields`).
//!
//! Syntax: `metadata.name=foo,status.phase!=Running` (also `==`). Values may
//! escape `\,`, `\=` and `\\` with a backslash (upstream's escapes); `\!`
//! is accepted too as a convenience. Nothing is trimmed: whitespace is part
//! of the field or value, as upstream.

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

impl FieldRequirement {
    /// Whether a field value satisfies this term (a missing field is "").
    pub fn matches(&self, value: &str) -> bool {
        match self.operator {
            FieldOperator::Equals => value == self.value,
            FieldOperator::NotEquals => value != self.value,
        }
    }
}

impl fmt::Display for FieldRequirement {
    /// `field=value` or `field!=value` with the value escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            FieldOperator::Equals => "=",
            FieldOperator::NotEquals => "!=",
        };
        write!(f, "{}{op}{}", self.field, escape_value(&self.value))
    }
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

    /// Parses the string syntax. As upstream, terms are sorted by their
    /// text before parsing and empty terms are skipped.
    pub fn parse(s: &str) -> Result<Self, FieldSelectorError> {
        let mut parts = split_terms(s);
        parts.sort_unstable();
        let mut requirements = Vec::with_capacity(parts.len());
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((field, operator, rhs)) = split_term(part) else {
                return Err(FieldSelectorError(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            requirements.push(FieldRequirement {
                field: field.to_string(),
                operator,
                value: unescape_value(rhs)?,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// A selector of the given terms, in the given order.
    pub fn from_requirements(requirements: Vec<FieldRequirement>) -> Self {
        FieldSelector { requirements }
    }

    /// The AND of two selectors (`self`'s terms, then `other`'s).
    pub fn and(mut self, other: &FieldSelector) -> Self {
        self.requirements.extend(other.requirements.iter().cloned());
        self
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
    pub fn matches(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        self.requirements
            .iter()
            .all(|r| r.matches(get(&r.field).as_deref().unwrap_or("")))
    }
}

impl fmt::Display for FieldSelector {
    /// The canonical string form with values escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// Escapes `\`, `,` and `=` in a value (upstream `fields.EscapeValue`).
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Undoes [`escape_value`] (upstream `fields.UnescapeValue`): unescaped `,`
/// and `=` are errors, as are unknown escapes and a trailing backslash.
/// `\!` is also accepted and stands for `!`.
pub fn unescape_value(s: &str) -> Result<String, FieldSelectorError> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=' | '!') {
                return Err(FieldSelectorError(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                )));
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => {
                // Upstream prints the rune with %v: its code point number.
                return Err(FieldSelectorError(format!(
                    "invalid field selector: unescaped character in value: {}",
                    u32::from(c)
                )));
            }
            c => out.push(c),
        }
    }
    if in_slash {
        return Err(FieldSelectorError(
            "invalid field selector: invalid escape sequence: \\".to_string(),
        ));
    }
    Ok(out)
}

/// Splits at commas that are not escaped; escapes stay in the terms.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// The first operator occurrence splits the term (fields cannot escape).
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, kind) in [
            ("!=", FieldOperator::NotEquals),
            ("==", FieldOperator::Equals),
            ("=", FieldOperator::Equals),
        ] {
            if let Some(rhs) = rest.strip_prefix(op) {
                return Some((&term[..i], kind, rhs));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn canon(s: &str) -> String {
        FieldSelector::parse(s)
            .unwrap_or_else(|e| panic!("{s:?}: {e}"))
            .to_string()
    }

    fn err(s: &str) -> String {
        match FieldSelector::parse(s) {
            Ok(sel) => panic!("{s:?} parsed as {sel}"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn parses_like_upstream() {
        let cases = [
            ("", ""),
            ("a=b", "a=b"),
            ("a==b", "a=b"),
            ("a!=b", "a!=b"),
            ("b=c,a=b", "a=b,b=c"),
            ("a=b,,", "a=b"),
            ("a=", "a="),
            ("a!=", "a!="),
            ("metadata.name=x\\,y", "metadata.name=x\\,y"),
            ("a=b\\=c", "a=b\\=c"),
            ("a=b\\\\c", "a=b\\\\c"),
            ("a=b!c", "a=b!c"),
            ("a=b\\!c", "a=b!c"),
            (" a = b ", " a = b "),
        ];
        for (input, want) in cases {
            assert_eq!(canon(input), want, "{input:?}");
        }
        let sel = FieldSelector::parse("a=x\\,y\\=z\\\\").unwrap();
        assert_eq!(sel.requirements()[0].value, "x,y=z\\");
        let sel = FieldSelector::parse("a!=\\=b").unwrap();
        assert_eq!(sel.requirements()[0].operator, FieldOperator::NotEquals);
        assert_eq!(sel.requirements()[0].value, "=b");
        // The first operator splits the term, so the rest is the value.
        assert!(FieldSelector::parse("a!==b").is_err());
    }

    #[test]
    fn reports_upstream_errors() {
        assert_eq!(
            err("foo"),
            "invalid selector: 'foo'; can't understand 'foo'"
        );
        assert_eq!(
            err("a=b,foo"),
            "invalid selector: 'a=b,foo'; can't understand 'foo'"
        );
        assert_eq!(
            err("a=b=c"),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            err("a=b\\c"),
            "invalid field selector: invalid escape sequence: \\c"
        );
        assert_eq!(
            err("a=b\\"),
            "invalid field selector: invalid escape sequence: \\"
        );
    }

    #[test]
    fn matches_with_missing_fields_as_empty() {
        let fields: BTreeMap<&str, &str> = [("metadata.name", "web"), ("status.phase", "Running")]
            .into_iter()
            .collect();
        let get = |f: &str| fields.get(f).map(|v| v.to_string());
        let m = |s: &str| FieldSelector::parse(s).unwrap().matches(&get);
        assert!(m(""));
        assert!(m("metadata.name=web"));
        assert!(m("metadata.name=web,status.phase!=Pending"));
        assert!(m("spec.nodeName="));
        assert!(m("spec.nodeName!=node-1"));
        assert!(!m("spec.nodeName=node-1"));
        assert!(!m("metadata.name!=web"));
        let sel = FieldSelector::parse("metadata.namespace=ns,metadata.name!=x").unwrap();
        assert_eq!(sel.exact_value("metadata.namespace"), Some("ns"));
        assert_eq!(sel.exact_value("metadata.name"), None);
    }

    #[test]
    fn escapes_round_trip() {
        assert_eq!(escape_value("a,b=c\\d!"), "a\\,b\\=c\\\\d!");
        assert_eq!(unescape_value("a\\,b\\=c\\\\d!").unwrap(), "a,b=c\\d!");
        let sel = FieldSelector::from_requirements(vec![FieldRequirement {
            field: "x".into(),
            operator: FieldOperator::Equals,
            value: "1,2".into(),
        }])
        .and(&FieldSelector::parse("y!=3").unwrap());
        assert_eq!(sel.to_string(), "x=1\\,2,y!=3");
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(
            terms in prop::collection::vec(("[a-z][a-z.]{0,8}", any::<bool>(), "\\PC{0,10}"), 0..4)
        ) {
            let mut reqs: Vec<FieldRequirement> = terms
                .into_iter()
                .map(|(field, ne, value)| FieldRequirement {
                    field,
                    operator: if ne { FieldOperator::NotEquals } else { FieldOperator::Equals },
                    value,
                })
                .collect();
            let text = FieldSelector::from_requirements(reqs.clone()).to_string();
            let parsed = FieldSelector::parse(&text);
            prop_assert!(parsed.is_ok(), "{} -> {:?}", text, parsed);
            // Parsing sorts the terms by their text.
            reqs.sort_by_key(ToString::to_string);
            let got = parsed.map(|p| p.requirements().to_vec()).unwrap_or_default();
            prop_assert_eq!(got, reqs);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = FieldSelector::parse(&s);
        }
    }
}
