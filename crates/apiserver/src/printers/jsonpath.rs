//! The JSONPath subset used by CRD `additionalPrinterColumns`
//! (upstream `k8s.io/client-go/util/jsonpath` with missing keys allowed).
//!
//! Supported: `.field` (with `\.` escapes), `.*`, `..field` (recursive),
//! `[n]` (negative from the end), `[start:end]`, `[*]`, `['key']`, and
//! filters `[?(@.path)]` / `[?(@.path OP literal)]` with `==`, `!=`, `<`,
//! `>`, `<=`, `>=` against a string, number, boolean or another `@` path.

use serde_json::Value;

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JsonPath {
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    AllFields,
    Recursive(String),
    Index(i64),
    Slice(Option<i64>, Option<i64>),
    AllItems,
    Filter(Filter),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    left: JsonPath,
    op: Option<(Op, Operand)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Literal(Value),
    Path(JsonPath),
}

impl JsonPath {
    /// Parses a path such as `.status.conditions[?(@.type=="Ready")].status`
    /// (optionally wrapped in `{...}`).
    pub(crate) fn parse(s: &str) -> Result<JsonPath, String> {
        let s = s.trim();
        let s = s
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or(s);
        let chars: Vec<char> = s.chars().collect();
        let mut pos = 0;
        let path = parse_steps(&chars, &mut pos, false)?;
        if pos != chars.len() {
            return Err(format!("unexpected {:?} in path", chars[pos]));
        }
        Ok(path)
    }

    /// All values the path selects, in document order; missing keys select
    /// nothing.
    pub(crate) fn find<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        let mut current = vec![root];
        for step in &self.steps {
            let mut next = Vec::new();
            for v in current {
                apply(step, v, &mut next);
            }
            current = next;
        }
        current
    }
}

fn parse_steps(chars: &[char], pos: &mut usize, in_filter: bool) -> Result<JsonPath, String> {
    let mut steps = Vec::new();
    // A leading `$` or `@` names the root / current item.
    if matches!(chars.get(*pos), Some('$') | Some('@')) {
        *pos += 1;
    }
    while let Some(&c) = chars.get(*pos) {
        match c {
            '.' => {
                *pos += 1;
                if chars.get(*pos) == Some(&'.') {
                    *pos += 1;
                    steps.push(Step::Recursive(read_field(chars, pos)));
                    continue;
                }
                let field = read_field(chars, pos);
                if field == "*" {
                    steps.push(Step::AllFields);
                } else if !field.is_empty() {
                    steps.push(Step::Field(field));
                }
            }
            '[' => {
                *pos += 1;
                steps.push(parse_bracket(chars, pos)?);
            }
            _ if in_filter => break,
            ' ' => *pos += 1,
            other => return Err(format!("unexpected {other:?} in path")),
        }
    }
    Ok(JsonPath { steps })
}

/// A field name up to the next unescaped `.` or `[` (or filter operator).
fn read_field(chars: &[char], pos: &mut usize) -> String {
    let mut out = String::new();
    while let Some(&c) = chars.get(*pos) {
        match c {
            '\\' if chars.get(*pos + 1).is_some() => {
                out.push(chars[*pos + 1]);
                *pos += 2;
            }
            '.' | '[' | ']' | ')' | ' ' | '=' | '!' | '<' | '>' => break,
            c => {
                out.push(c);
                *pos += 1;
            }
        }
    }
    out
}

fn parse_bracket(chars: &[char], pos: &mut usize) -> Result<Step, String> {
    if chars.get(*pos) == Some(&'?') {
        *pos += 1;
        expect(chars, pos, '(')?;
        let filter = parse_filter(chars, pos)?;
        expect(chars, pos, ')')?;
        expect(chars, pos, ']')?;
        return Ok(Step::Filter(filter));
    }
    let start = *pos;
    let end = chars[start..]
        .iter()
        .position(|&c| c == ']')
        .map(|i| start + i)
        .ok_or("unterminated [")?;
    let inner: String = chars[start..end].iter().collect();
    *pos = end + 1;
    let inner = inner.trim();
    if inner == "*" {
        return Ok(Step::AllItems);
    }
    if let Some(quoted) = quoted(inner) {
        return Ok(Step::Field(quoted));
    }
    if let Some((a, b)) = inner.split_once(':') {
        let bound = |s: &str| -> Result<Option<i64>, String> {
            let s = s.split(':').next().unwrap_or("").trim();
            if s.is_empty() {
                Ok(None)
            } else {
                s.parse()
                    .map(Some)
                    .map_err(|_| format!("bad slice bound {s:?}"))
            }
        };
        return Ok(Step::Slice(bound(a)?, bound(b)?));
    }
    inner
        .parse()
        .map(Step::Index)
        .map_err(|_| format!("bad index {inner:?}"))
}

fn quoted(s: &str) -> Option<String> {
    let inner = s
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| s.strip_prefix('"').and_then(|s| s.strip_suffix('"')))?;
    Some(inner.replace("\\'", "'").replace("\\\"", "\""))
}

fn expect(chars: &[char], pos: &mut usize, want: char) -> Result<(), String> {
    skip_spaces(chars, pos);
    if chars.get(*pos) == Some(&want) {
        *pos += 1;
        Ok(())
    } else {
        Err(format!("expected {want:?}"))
    }
}

fn skip_spaces(chars: &[char], pos: &mut usize) {
    while chars.get(*pos) == Some(&' ') {
        *pos += 1;
    }
}

fn parse_filter(chars: &[char], pos: &mut usize) -> Result<Filter, String> {
    skip_spaces(chars, pos);
    let left = parse_steps(chars, pos, true)?;
    skip_spaces(chars, pos);
    let two: String = chars[*pos..].iter().take(2).collect();
    let op = match two.as_str() {
        "==" => Some((Op::Eq, 2)),
        "!=" => Some((Op::Ne, 2)),
        "<=" => Some((Op::Le, 2)),
        ">=" => Some((Op::Ge, 2)),
        _ if two.starts_with('<') => Some((Op::Lt, 1)),
        _ if two.starts_with('>') => Some((Op::Gt, 1)),
        _ => None,
    };
    let Some((op, len)) = op else {
        return Ok(Filter { left, op: None });
    };
    *pos += len;
    skip_spaces(chars, pos);
    let right = match chars.get(*pos) {
        Some('@') | Some('$') => Operand::Path(parse_steps(chars, pos, true)?),
        Some(&q @ ('\'' | '"')) => {
            let start = *pos + 1;
            let end = chars[start..]
                .iter()
                .position(|&c| c == q)
                .map(|i| start + i)
                .ok_or("unterminated string")?;
            *pos = end + 1;
            Operand::Literal(Value::String(chars[start..end].iter().collect()))
        }
        _ => {
            let start = *pos;
            while chars.get(*pos).is_some_and(|c| *c != ')' && *c != ' ') {
                *pos += 1;
            }
            let word: String = chars[start..*pos].iter().collect();
            let literal = match word.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                w => serde_json::from_str::<serde_json::Number>(w)
                    .map(Value::Number)
                    .map_err(|_| format!("bad literal {w:?}"))?,
            };
            Operand::Literal(literal)
        }
    };
    Ok(Filter {
        left,
        op: Some((op, right)),
    })
}

fn apply<'a>(step: &Step, v: &'a Value, out: &mut Vec<&'a Value>) {
    match step {
        Step::Field(name) => {
            if let Some(found) = v.get(name.as_str()) {
                out.push(found);
            }
        }
        Step::AllFields => match v {
            Value::Object(m) => out.extend(m.values()),
            Value::Array(a) => out.extend(a.iter()),
            _ => {}
        },
        Step::Recursive(name) => recurse(name, v, out),
        Step::Index(i) => {
            if let Value::Array(a) = v
                && let Some(idx) = resolve_index(*i, a.len())
                && idx < a.len()
            {
                out.push(&a[idx]);
            }
        }
        Step::Slice(start, end) => {
            if let Value::Array(a) = v {
                let len = a.len();
                let s = start
                    .and_then(|s| resolve_index(s, len))
                    .unwrap_or(0)
                    .min(len);
                let e = end.map_or(len, |e| resolve_index(e, len).unwrap_or(0).min(len));
                if s < e {
                    out.extend(a[s..e].iter());
                }
            }
        }
        Step::AllItems => match v {
            Value::Array(a) => out.extend(a.iter()),
            Value::Object(m) => out.extend(m.values()),
            _ => {}
        },
        Step::Filter(f) => {
            if let Value::Array(a) = v {
                out.extend(a.iter().filter(|item| f.matches(item)));
            }
        }
    }
}

fn resolve_index(i: i64, len: usize) -> Option<usize> {
    if i >= 0 {
        usize::try_from(i).ok()
    } else {
        let back = usize::try_from(-i).ok()?;
        len.checked_sub(back)
    }
}

fn recurse<'a>(name: &str, v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            if let Some(found) = m.get(name) {
                out.push(found);
            }
            for child in m.values() {
                recurse(name, child, out);
            }
        }
        Value::Array(a) => {
            for child in a {
                recurse(name, child, out);
            }
        }
        _ => {}
    }
}

impl Filter {
    fn matches(&self, item: &Value) -> bool {
        let left = self.left.find(item);
        let Some((op, right)) = &self.op else {
            return !left.is_empty();
        };
        let right: Vec<&Value> = match right {
            Operand::Literal(v) => vec![v],
            Operand::Path(p) => p.find(item),
        };
        left.iter()
            .any(|l| right.iter().any(|r| compare(*op, l, r)))
    }
}

fn compare(op: Op, l: &Value, r: &Value) -> bool {
    use std::cmp::Ordering;
    let ord = match (l, r) {
        (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) if matches!(op, Op::Eq | Op::Ne) => Some(a.cmp(b)),
        _ => None,
    };
    match (op, ord) {
        (Op::Eq, Some(o)) => o == Ordering::Equal,
        (Op::Ne, Some(o)) => o != Ordering::Equal,
        (Op::Ne, None) => true,
        (Op::Lt, Some(o)) => o == Ordering::Less,
        (Op::Gt, Some(o)) => o == Ordering::Greater,
        (Op::Le, Some(o)) => o != Ordering::Greater,
        (Op::Ge, Some(o)) => o != Ordering::Less,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn first(path: &str, v: &Value) -> Option<Value> {
        JsonPath::parse(path)
            .unwrap()
            .find(v)
            .first()
            .map(|v| (*v).clone())
    }

    #[test]
    fn selects_fields_indexes_and_filters() {
        let obj = json!({
            "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
            "spec": {"replicas": 3, "ports": [{"port": 80}, {"port": 443}]},
            "status": {"conditions": [
                {"type": "Synced", "status": "False"},
                {"type": "Ready", "status": "True"}
            ]}
        });
        assert_eq!(first(".spec.replicas", &obj), Some(json!(3)));
        assert_eq!(first("{.spec.replicas}", &obj), Some(json!(3)));
        assert_eq!(first(".spec.ports[1].port", &obj), Some(json!(443)));
        assert_eq!(first(".spec.ports[-1].port", &obj), Some(json!(443)));
        assert_eq!(first(".spec.ports[*].port", &obj), Some(json!(80)));
        assert_eq!(first(".spec.ports[1:].port", &obj), Some(json!(443)));
        assert_eq!(
            first(r#".status.conditions[?(@.type=="Ready")].status"#, &obj),
            Some(json!("True"))
        );
        assert_eq!(
            first(".status.conditions[?(@.type == 'Synced')].status", &obj),
            Some(json!("False"))
        );
        assert_eq!(
            first(".spec.ports[?(@.port > 100)].port", &obj),
            Some(json!(443))
        );
        assert_eq!(
            first(r".metadata.labels.app\.kubernetes\.io/name", &obj),
            Some(json!("web"))
        );
        assert_eq!(
            first(".metadata.labels['app.kubernetes.io/name']", &obj),
            Some(json!("web"))
        );
        assert_eq!(first("..port", &obj), Some(json!(80)));
        assert_eq!(first(".spec.missing.deeper", &obj), None);
        assert_eq!(first(".spec.ports[7]", &obj), None);
    }

    #[test]
    fn rejects_garbage() {
        assert!(JsonPath::parse(".spec[").is_err());
        assert!(JsonPath::parse(".a[?(@.b == nope)]").is_err());
        assert!(JsonPath::parse(".a[x]").is_err());
    }
}
