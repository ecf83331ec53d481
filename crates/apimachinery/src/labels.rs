//! Label selectors (upstream `k8s.io/apimachinery/pkg/labels`).
//!
//! String syntax: `a=b,c!=d,e in (f,g),h notin (i),j,!k,l>5`. An empty
//! selector matches everything.
//!
//! The lexer and parser follow upstream token for token, so the accepted
//! language and the error messages (`unable to parse requirement: ...`,
//! `found '...', expected: ...`) are the same.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::go_format::{go_quote, go_string_slice};
use crate::names::{is_qualified_name, is_valid_label_value};

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

impl Requirement {
    /// Builds a requirement with upstream `NewRequirement`'s validation: the
    /// key must be a qualified name, the values label values, and the value
    /// count must fit the operator. Values are sorted and deduplicated.
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, SelectorError> {
        let mut values = values;
        values.sort();
        values.dedup();
        let mut errs: Vec<String> = Vec::new();
        if let Some(e) = key_error(key, "key") {
            errs.push(e);
        }
        let n = values.len();
        match operator {
            Operator::In | Operator::NotIn if n == 0 => errs.push(format!(
                "values: Invalid value: {}: for 'in', 'notin' operators, values set can't be empty",
                go_string_slice(&values)
            )),
            Operator::Equals | Operator::NotEquals if n != 1 => errs.push(format!(
                "values: Invalid value: {}: exact-match compatibility requires one single value",
                go_string_slice(&values)
            )),
            Operator::Exists | Operator::DoesNotExist if n != 0 => errs.push(format!(
                "values: Invalid value: {}: values set must be empty for exists and does not exist",
                go_string_slice(&values)
            )),
            Operator::GreaterThan | Operator::LessThan => {
                if n != 1 {
                    errs.push(format!(
                        "values: Invalid value: {}: for 'Gt', 'Lt' operators, exactly one value is required",
                        go_string_slice(&values)
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(format!(
                            "values[{i}]: Invalid value: {}: for 'Gt', 'Lt' operators, the value must be an integer",
                            go_quote(v)
                        ));
                    }
                }
            }
            _ => {}
        }
        for (i, v) in values.iter().enumerate() {
            let msgs = is_valid_label_value(v);
            if !msgs.is_empty() {
                errs.push(format!(
                    "values[{i}][{key}]: Invalid value: {}: {}",
                    go_quote(v),
                    msgs.join("; ")
                ));
            }
        }
        if errs.is_empty() {
            Ok(Requirement {
                key: key.to_string(),
                operator,
                values,
            })
        } else {
            Err(SelectorError(aggregate(errs)))
        }
    }

    /// Whether `labels` satisfies this requirement (upstream
    /// `Requirement.Matches`): `!=` and `notin` match objects lacking the
    /// key; `>`/`<` need the label to parse as an integer.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::Equals | Operator::In => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotEquals | Operator::NotIn => {
                !value.is_some_and(|v| self.values.contains(v))
            }
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(v), [limit]) = (value, self.values.as_slice()) else {
                    return false;
                };
                let (Ok(v), Ok(limit)) = (v.parse::<i64>(), limit.parse::<i64>()) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    v > limit
                } else {
                    v < limit
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    /// Upstream `Requirement.String()`: `!k`, `k`, `k=v`, `k!=v`,
    /// `k in (a,b)`, `k notin (a,b)`, `k>5`, `k<5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            Operator::DoesNotExist => return write!(f, "!{}", self.key),
            Operator::Exists => return f.write_str(&self.key),
            Operator::Equals => "=",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
        };
        let mut values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        values.sort_unstable();
        let joined = values.join(",");
        match self.operator {
            Operator::In | Operator::NotIn => write!(f, "{}{op}({joined})", self.key),
            _ => write!(f, "{}{op}{joined}", self.key),
        }
    }
}

/// A parse or validation failure; the message is upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

/// A parsed label selector: the AND of its requirements.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Selector {
    requirements: Vec<Requirement>,
    /// Upstream `labels.Nothing()`: matches no object at all.
    nothing: bool,
}

impl Selector {
    /// The selector that matches everything.
    pub fn everything() -> Self {
        Selector::default()
    }

    /// The selector that matches nothing (upstream `labels.Nothing()`, what
    /// a nil metav1.LabelSelector converts to). Renders as the empty string.
    pub fn nothing() -> Self {
        Selector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// Parses the string syntax, validating keys and values like upstream.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut requirements = Parser::new(s).parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector {
            requirements,
            nothing: false,
        })
    }

    /// Converts a metav1.LabelSelector (as JSON: `matchLabels`,
    /// `matchExpressions`) to a selector, as upstream
    /// `LabelSelectorAsSelector`: JSON `null` (a nil pointer) matches
    /// nothing, an empty object matches everything. Operators are `In`,
    /// `NotIn` (values required), `Exists`, `DoesNotExist` (no values).
    pub fn from_label_selector(ls: &Value) -> Result<Self, SelectorError> {
        let obj = match ls {
            Value::Null => return Ok(Selector::nothing()),
            Value::Object(m) => m,
            other => {
                return Err(SelectorError(format!(
                    "a label selector must be an object, not {other}"
                )));
            }
        };
        let mut requirements = Vec::new();
        match obj.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    let Some(v) = v.as_str() else {
                        return Err(SelectorError(format!(
                            "matchLabels[{k}]: label values must be strings, not {v}"
                        )));
                    };
                    requirements.push(Requirement::new(k, Operator::Equals, vec![v.to_string()])?);
                }
            }
            Some(other) => {
                return Err(SelectorError(format!(
                    "matchLabels must be an object, not {other}"
                )));
            }
        }
        let exprs = match obj.get("matchExpressions") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(a)) => a.as_slice(),
            Some(other) => {
                return Err(SelectorError(format!(
                    "matchExpressions must be an array, not {other}"
                )));
            }
        };
        for (i, expr) in exprs.iter().enumerate() {
            requirements.push(expression_requirement(i, expr)?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector {
            requirements,
            nothing: false,
        })
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
            nothing: false,
        }
    }

    /// True if the selector has no requirements (matches everything).
    /// False for [`Selector::nothing`].
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty() && !self.nothing
    }

    /// True for [`Selector::nothing`] (matches no object).
    pub fn matches_nothing(&self) -> bool {
        self.nothing
    }

    /// The requirements, in order.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Adds a requirement, keeping the requirements sorted by key (upstream
    /// `Selector.Add`). Has no effect on [`Selector::nothing`].
    pub fn with_requirement(mut self, requirement: Requirement) -> Self {
        if !self.nothing {
            let at = self
                .requirements
                .partition_point(|r| r.key <= requirement.key);
            self.requirements.insert(at, requirement);
        }
        self
    }

    /// If the selector pins `key` to a single value (`=`, or `in` with one
    /// value), that value (upstream `RequiresExactMatch`).
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == key)?;
        match (r.operator, r.values.as_slice()) {
            (Operator::Equals | Operator::In, [v]) => Some(v.as_str()),
            _ => None,
        }
    }

    /// Whether `labels` satisfies every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl fmt::Display for Selector {
    /// The canonical string form (upstream `Selector.String()`).
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

/// One `matchExpressions` entry to a requirement.
fn expression_requirement(i: usize, expr: &Value) -> Result<Requirement, SelectorError> {
    let bad = |what: &str| SelectorError(format!("matchExpressions[{i}]: {what}"));
    let Some(expr) = expr.as_object() else {
        return Err(bad("must be an object"));
    };
    let key = match expr.get("key") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(bad("key must be a string")),
    };
    let operator = match expr.get("operator") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(bad("operator must be a string")),
    };
    let values = match expr.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("values must be strings"))?,
        Some(_) => return Err(bad("values must be an array")),
    };
    let op = match operator {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        other => {
            return Err(SelectorError(format!(
                "{} is not a valid label selector operator",
                go_quote(other)
            )));
        }
    };
    Requirement::new(key, op, values)
}

/// Upstream `validateLabelKey` rendered as a field error at `path`
/// (`<nil>` when the parser has no path, as upstream prints it).
fn key_error(key: &str, path: &str) -> Option<String> {
    let msgs = is_qualified_name(key);
    (!msgs.is_empty()).then(|| {
        format!(
            "{path}: Invalid value: {}: {}",
            go_quote(key),
            msgs.join("; ")
        )
    })
}

/// Upstream `utilerrors.Aggregate.Error()`: one message as is, several
/// (deduplicated) in brackets.
fn aggregate(mut errs: Vec<String>) -> String {
    let mut seen = std::collections::HashSet::new();
    errs.retain(|e| seen.insert(e.clone()));
    if errs.len() == 1 {
        errs.remove(0)
    } else {
        format!("[{}]", errs.join(", "))
    }
}

/// Lexer tokens (upstream `labels.Token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword(s: &[u8]) -> Option<Token> {
    Some(match s {
        b")" => Token::ClosedPar,
        b"," => Token::Comma,
        b"!" => Token::DoesNotExist,
        b"==" => Token::DoubleEquals,
        b"=" => Token::Equals,
        b">" => Token::GreaterThan,
        b"in" => Token::In,
        b"<" => Token::LessThan,
        b"!=" => Token::NotEquals,
        b"notin" => Token::NotIn,
        b"(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special_symbol(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits the input into tokens. As upstream's byte lexer, a NUL byte
/// reads as end of input where a token would start, and otherwise ends
/// the current token and is skipped.
fn lex(s: &str) -> Vec<(Token, String)> {
    let b = s.as_bytes();
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        while is_whitespace(at(pos)) {
            pos += 1;
        }
        if at(pos) == 0 {
            out.push((Token::EndOfString, String::new()));
            return out;
        }
        let start = pos;
        let stop;
        let tok;
        if is_special_symbol(at(pos)) {
            // Longest run of symbols that is still a token ("!=", "==").
            let mut last = (Token::EndOfString, start);
            while is_special_symbol(at(pos)) {
                match b.get(start..=pos).and_then(keyword) {
                    Some(t) => {
                        last = (t, pos + 1);
                        pos += 1;
                    }
                    None => break,
                }
            }
            (tok, stop) = last;
            pos = stop;
        } else {
            while at(pos) != 0 && !is_special_symbol(at(pos)) && !is_whitespace(at(pos)) {
                pos += 1;
            }
            stop = pos;
            tok = b
                .get(start..stop)
                .and_then(keyword)
                .unwrap_or(Token::Identifier);
        }
        // A NUL right after a token is consumed with it.
        if pos < b.len() && at(pos) == 0 {
            pos += 1;
        }
        // Splits happen only at ASCII bytes, so the slice is valid UTF-8.
        let lit = b.get(start..stop).unwrap_or_default();
        out.push((tok, String::from_utf8_lossy(lit).into_owned()));
    }
}

/// Upstream's parser contexts: in `Values`, `in`/`notin` are identifiers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

const BINARY_OPERATORS: &str = "in, notin, =, ==, !=, gt, lt";

impl Parser {
    fn new(s: &str) -> Self {
        Parser {
            items: lex(s),
            position: 0,
        }
    }

    fn lookahead(&self, ctx: Context) -> (Token, String) {
        let (tok, lit) = self
            .items
            .get(self.position)
            .cloned()
            .unwrap_or((Token::EndOfString, String::new()));
        match (ctx, tok) {
            (Context::Values, Token::In | Token::NotIn) => (Token::Identifier, lit),
            _ => (tok, lit),
        }
    }

    fn consume(&mut self, ctx: Context) -> (Token, String) {
        let item = self.lookahead(ctx);
        self.position += 1;
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Context::Values);
            match tok {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| SelectorError(format!("unable to parse requirement: {e}")))?;
                    requirements.push(r);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(SelectorError(format!(
                                    "found '{l2}', expected: identifier after ','"
                                )));
                            }
                        }
                        _ => {
                            return Err(SelectorError(format!(
                                "found '{l}', expected: ',' or 'end of string'"
                            )));
                        }
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => {
                    return Err(SelectorError(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    )));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, operator) = self.parse_key_and_infer_operator()?;
        if let Some(op @ (Operator::Exists | Operator::DoesNotExist)) = operator {
            return Requirement::new(&key, op, Vec::new()).map_err(|e| e.0);
        }
        let op = self.parse_operator()?;
        let values = match op {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(&key, op, values).map_err(|e| e.0)
    }

    /// The key, and `Exists`/`DoesNotExist` when no binary operator follows.
    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut operator = None;
        let (mut tok, mut lit) = self.consume(Context::Values);
        if tok == Token::DoesNotExist {
            operator = Some(Operator::DoesNotExist);
            (tok, lit) = self.consume(Context::Values);
        }
        if tok != Token::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        if let Some(e) = key_error(&lit, "<nil>") {
            return Err(e);
        }
        let (next, _) = self.lookahead(Context::Values);
        if (next == Token::EndOfString || next == Token::Comma) && operator.is_none() {
            operator = Some(Operator::Exists);
        }
        Ok((lit, operator))
    }

    fn parse_operator(&mut self) -> Result<Operator, String> {
        let (tok, lit) = self.consume(Context::KeyAndOperator);
        Ok(match tok {
            Token::In => Operator::In,
            Token::Equals | Token::DoubleEquals => Operator::Equals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => return Err(format!("found '{lit}', expected: {BINARY_OPERATORS}")),
        })
    }

    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let (tok, lit) = self.consume(Context::Values);
        if tok != Token::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Context::Values);
        match tok {
            Token::Identifier | Token::Comma => {
                let values = self.parse_identifiers_list()?;
                let (tok, _) = self.consume(Context::Values);
                if tok != Token::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(values)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, String> {
        let mut values: Vec<String> = Vec::new();
        loop {
            let (tok, lit) = self.consume(Context::Values);
            match tok {
                Token::Identifier => {
                    values.push(lit);
                    let (tok2, lit2) = self.lookahead(Context::Values);
                    match tok2 {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(values),
                        _ => return Err(format!("found '{lit2}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    // "(," ",," and ",)" stand for empty values.
                    if values.is_empty() {
                        values.push(String::new());
                    }
                    let (tok2, _) = self.lookahead(Context::Values);
                    if tok2 == Token::ClosedPar {
                        values.push(String::new());
                        return Ok(values);
                    }
                    if tok2 == Token::Comma {
                        self.consume(Context::Values);
                        values.push(String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<Vec<String>, String> {
        let (tok, _) = self.lookahead(Context::Values);
        if tok == Token::EndOfString || tok == Token::Comma {
            return Ok(vec![String::new()]);
        }
        let (tok, lit) = self.consume(Context::Values);
        if tok == Token::Identifier {
            Ok(vec![lit])
        } else {
            Err(format!("found '{lit}', expected: identifier"))
        }
    }
}

#[cfg(test)]
#[path = "labels_tests.rs"]
mod tests;
