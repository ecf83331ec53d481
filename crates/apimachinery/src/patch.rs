//! JSON patch (RFC 6902) and JSON merge patch (RFC 7386).
//!
//! Strategic merge patch lives in its own module (kubectl parity work).
//!
//! The semantics and messages follow the library upstream uses
//! (`gopkg.in/evanphx/json-patch.v4`): e.g. `replace` of a missing object
//! key adds it, negative array indices count from the end, `test` of a
//! missing path passes only against `null`, and a merge patch prunes
//! `null` members from the objects it inserts. Every failure is an error
//! naming the operation and path; nothing here panics on any input, and
//! the document is never walked recursively deeper than the patch itself
//! (a patch can nest a document arbitrarily through `move`).

use serde_json::{Map, Value};

/// A patch that could not be decoded or applied; the message is shown to
/// the client in a 400 / 422 Status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch body is not valid for its type.
    #[error("{0}")]
    Malformed(String),
    /// The patch is well formed but cannot be applied to this document
    /// (e.g. a `test` op failed or a path does not exist).
    #[error("{0}")]
    CannotApply(String),
}

/// The most bytes (as serialized JSON, approximately) all `copy` operations
/// of one patch may add, so a short patch cannot grow a document without
/// bound by copying it into itself.
pub const ACCUMULATED_COPY_SIZE_LIMIT: usize = 10 * 1024 * 1024;

/// The deepest nesting a patched document may have (serializers and
/// parsers elsewhere recurse on it).
pub const MAX_DOCUMENT_DEPTH: usize = 1000;

/// Applies an RFC 6902 JSON patch (`application/json-patch+json`) to `doc`.
pub fn apply_json_patch(doc: &Value, patch: &[u8]) -> Result<Value, PatchError> {
    let ops = decode_json_patch(patch)?;
    let mut work = doc.clone();
    let mut copied = 0usize;
    for op in &ops {
        if let Err(msg) = apply_op(&mut work, op, &mut copied) {
            dismantle(work);
            return Err(PatchError::CannotApply(msg));
        }
    }
    if !depth_at_most(&work, MAX_DOCUMENT_DEPTH) {
        dismantle(work);
        return Err(PatchError::CannotApply(format!(
            "the patched document is nested more than {MAX_DOCUMENT_DEPTH} levels deep"
        )));
    }
    Ok(work)
}

/// Applies an RFC 7386 merge patch (`application/merge-patch+json`) to `doc`.
/// `patch` must be a JSON object.
pub fn apply_merge_patch(doc: &Value, patch: &[u8]) -> Result<Value, PatchError> {
    let patch: Value = serde_json::from_slice(patch)
        .map_err(|e| PatchError::Malformed(format!("Invalid JSON Patch: {e}")))?;
    let Value::Object(patch) = patch else {
        return Err(PatchError::Malformed(format!(
            "Invalid JSON Patch: a merge patch must be a JSON object, not {}",
            kind_name(&patch)
        )));
    };
    let mut out = match doc {
        Value::Object(_) => doc.clone(),
        _ => Value::Object(Map::new()),
    };
    if let Value::Object(target) = &mut out {
        merge_objects(target, patch);
    }
    Ok(out)
}

/// Go's name for a JSON value's type in `json: cannot unmarshal` errors.
fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Decodes the operation list. As upstream, `null` is an empty patch and a
/// `null` entry is an operation of unknown kind.
fn decode_json_patch(patch: &[u8]) -> Result<Vec<Value>, PatchError> {
    let v: Value = serde_json::from_slice(patch)
        .map_err(|e| PatchError::Malformed(format!("invalid JSON patch: {e}")))?;
    let ops = match v {
        Value::Null => Vec::new(),
        Value::Array(ops) => ops,
        other => {
            return Err(PatchError::Malformed(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                kind_name(&other)
            )));
        }
    };
    if let Some(bad) = ops.iter().find(|o| !o.is_object() && !o.is_null()) {
        return Err(PatchError::Malformed(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
            kind_name(bad)
        )));
    }
    Ok(ops)
}

/// Drops a value without recursion (a patched document may be nested far
/// deeper than the recursive `Drop` of `Value` can take).
fn dismantle(v: Value) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(a) => stack.extend(a),
            Value::Object(m) => stack.extend(m.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

/// Whether `v` nests at most `max` containers deep (iterative).
fn depth_at_most(v: &Value, max: usize) -> bool {
    let mut stack = vec![(v, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(a) => Box::new(a.iter()),
            Value::Object(m) => Box::new(m.values()),
            _ => continue,
        };
        if depth + 1 > max {
            return false;
        }
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    true
}

/// The approximate serialized size of `v`, or `None` once it passes
/// `budget` (iterative, stops early).
fn size_within(v: &Value, budget: usize) -> Option<usize> {
    let mut total = 0usize;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        total += match v {
            Value::Null => 4,
            Value::Bool(_) => 5,
            Value::Number(_) => 8,
            Value::String(s) => s.len() + 2,
            Value::Array(a) => {
                stack.extend(a.iter());
                a.len() + 2
            }
            Value::Object(m) => {
                stack.extend(m.values());
                m.keys().map(|k| k.len() + 4).sum::<usize>() + 2
            }
        };
        if total > budget {
            return None;
        }
    }
    Some(total)
}

/// RFC 6901 token unescaping (`~1` is `/`, `~0` is `~`).
fn decode_token(t: &str) -> String {
    if !t.contains('~') {
        return t.to_string();
    }
    let mut out = String::with_capacity(t.len());
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.peek() {
                Some('1') => {
                    out.push('/');
                    chars.next();
                }
                Some('0') => {
                    out.push('~');
                    chars.next();
                }
                _ => out.push('~'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

const INVALID_INDEX: &str = "invalid index referenced";
const MISSING: &str = "missing value";

fn parse_index(key: &str) -> Result<i64, String> {
    key.parse::<i64>()
        .map_err(|_| format!("value was not a proper array index: '{key}'"))
}

fn invalid_index(idx: i64) -> String {
    format!("Unable to access invalid index: {idx}: {INVALID_INDEX}")
}

/// An existing element's position: negative indices count from the end.
fn existing_index(key: &str, len: usize) -> Result<usize, String> {
    let idx = parse_index(key)?;
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let resolved = if idx < 0 { idx + len_i } else { idx };
    if resolved < 0 || resolved >= len_i {
        return Err(invalid_index(idx));
    }
    usize::try_from(resolved).map_err(|_| invalid_index(idx))
}

/// The container holding the last token of `path`, and that token.
/// `None` if the path is malformed, empty (the root has no parent), or an
/// intermediate location is missing or not a container.
fn parent<'a>(doc: &'a mut Value, path: &str) -> Option<(&'a mut Value, String)> {
    let rest = path.strip_prefix('/')?;
    let mut tokens: Vec<String> = rest.split('/').map(decode_token).collect();
    let last = tokens.pop()?;
    let mut cur = doc;
    for t in &tokens {
        cur = match cur {
            Value::Object(m) => m.get_mut(t.as_str())?,
            Value::Array(a) => {
                let i = existing_index(t, a.len()).ok()?;
                a.get_mut(i)?
            }
            _ => return None,
        };
    }
    matches!(cur, Value::Object(_) | Value::Array(_)).then_some((cur, last))
}

/// The value at `key` in a container (`Ok(None)`: missing object key).
fn get<'a>(container: &'a Value, key: &str) -> Result<Option<&'a Value>, String> {
    match container {
        Value::Object(m) => Ok(m.get(key)),
        Value::Array(a) => Ok(a.get(existing_index(key, a.len())?)),
        _ => Ok(None),
    }
}

fn add(container: &mut Value, key: &str, value: Value) -> Result<(), String> {
    match container {
        Value::Object(m) => {
            m.insert(key.to_string(), value);
            Ok(())
        }
        Value::Array(a) => {
            if key == "-" {
                a.push(value);
                return Ok(());
            }
            let idx = parse_index(key)?;
            // The array after insertion has len + 1 slots.
            let slots = i64::try_from(a.len()).unwrap_or(i64::MAX).saturating_add(1);
            let resolved = if idx < 0 { idx + slots } else { idx };
            if resolved < 0 || resolved >= slots {
                return Err(invalid_index(idx));
            }
            let at = usize::try_from(resolved).map_err(|_| invalid_index(idx))?;
            a.insert(at, value);
            Ok(())
        }
        _ => Err(MISSING.to_string()),
    }
}

fn remove(container: &mut Value, key: &str) -> Result<Value, String> {
    match container {
        Value::Object(m) => m
            .shift_remove(key)
            .ok_or_else(|| format!("Unable to remove nonexistent key: {key}: {MISSING}")),
        Value::Array(a) => {
            let i = existing_index(key, a.len())?;
            Ok(a.remove(i))
        }
        _ => Err(MISSING.to_string()),
    }
}

/// One decoded operation; values borrow from the patch.
enum Op<'a> {
    Add { path: &'a str, value: &'a Value },
    Remove { path: &'a str },
    Replace { path: &'a str, value: &'a Value },
    Move { from: &'a str, path: &'a str },
    Copy { from: &'a str, path: &'a str },
    Test { path: &'a str, value: &'a Value },
}

/// A string member of an operation (`path`, `from`, `op`).
fn member<'a>(op: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    op.get(name).and_then(Value::as_str)
}

fn decode_op(op: &Value) -> Result<Op<'_>, String> {
    let Some(op) = op.as_object() else {
        return Err("Unexpected kind: unknown".to_string());
    };
    let kind = member(op, "op").unwrap_or("unknown");
    if !matches!(
        kind,
        "add" | "remove" | "replace" | "move" | "copy" | "test"
    ) {
        return Err(format!("Unexpected kind: {kind}"));
    }
    let path = member(op, "path")
        .ok_or_else(|| format!("{kind} operation failed to decode path: {MISSING}"))?;
    let from = || {
        member(op, "from")
            .ok_or_else(|| format!("{kind} operation failed to decode from: {MISSING}"))
    };
    let value = || {
        op.get("value").ok_or_else(|| {
            format!("{kind} operation is missing the \"value\" member for path: {path}")
        })
    };
    Ok(match kind {
        "add" => Op::Add {
            path,
            value: value()?,
        },
        "remove" => Op::Remove { path },
        "replace" => Op::Replace {
            path,
            value: value()?,
        },
        "move" => Op::Move {
            from: from()?,
            path,
        },
        "copy" => Op::Copy {
            from: from()?,
            path,
        },
        // As upstream, a missing value tests for `null`.
        _ => Op::Test {
            path,
            value: op.get("value").unwrap_or(&Value::Null),
        },
    })
}

fn apply_op(doc: &mut Value, op: &Value, copied: &mut usize) -> Result<(), String> {
    match decode_op(op)? {
        Op::Add { path, value } => op_add(doc, path, value.clone()),
        Op::Remove { path } => op_remove(doc, path),
        Op::Replace { path, value } => op_replace(doc, path, value.clone()),
        Op::Move { from, path } => op_move(doc, from, path),
        Op::Copy { from, path } => op_copy(doc, from, path, copied),
        Op::Test { path, value } => op_test(doc, path, value),
    }
}

fn op_add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let Some((con, key)) = parent(doc, path) else {
        dismantle(value);
        return Err(format!(
            "add operation does not apply: doc is missing path: \"{path}\": {MISSING}"
        ));
    };
    add(con, &key, value).map_err(|e| format!("error in add for path: '{path}': {e}"))
}

fn op_remove(doc: &mut Value, path: &str) -> Result<(), String> {
    let (con, key) = parent(doc, path).ok_or_else(|| {
        format!("remove operation does not apply: doc is missing path: \"{path}\": {MISSING}")
    })?;
    remove(con, &key)
        .map(dismantle)
        .map_err(|e| format!("error in remove for path: '{path}': {e}"))
}

/// As upstream, `replace` of a missing object key adds it.
fn op_replace(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        dismantle(std::mem::replace(doc, value));
        return Ok(());
    }
    let missing_path =
        || format!("replace operation does not apply: doc is missing path: {path}: {MISSING}");
    let Some((con, key)) = parent(doc, path) else {
        return Err(missing_path());
    };
    let old = match con {
        Value::Object(m) => m.insert(key, value),
        Value::Array(a) => {
            let i = existing_index(&key, a.len()).map_err(|_| {
                format!("replace operation does not apply: doc is missing key: {path}: {MISSING}")
            })?;
            a.get_mut(i).map(|slot| std::mem::replace(slot, value))
        }
        _ => return Err(missing_path()),
    };
    if let Some(old) = old {
        dismantle(old);
    }
    Ok(())
}

/// Removes first, then adds, as upstream (so moving a value into itself
/// fails with a missing destination).
fn op_move(doc: &mut Value, from: &str, path: &str) -> Result<(), String> {
    let (con, key) = parent(doc, from).ok_or_else(|| {
        format!("move operation does not apply: doc is missing from path: {from}: {MISSING}")
    })?;
    let moved = remove(con, &key).map_err(|e| format!("error in move for path: '{key}': {e}"))?;
    let Some((con, key)) = parent(doc, path) else {
        dismantle(moved);
        return Err(format!(
            "move operation does not apply: doc is missing destination path: {path}: {MISSING}"
        ));
    };
    add(con, &key, moved).map_err(|e| format!("error in move for path: '{path}': {e}"))
}

fn op_copy(doc: &mut Value, from: &str, path: &str, copied: &mut usize) -> Result<(), String> {
    let missing_from =
        || format!("copy operation does not apply: doc is missing from path: {from}: {MISSING}");
    let source = match parent(doc, from) {
        Some((con, key)) => get(con, &key)
            .map_err(|e| format!("error in copy for from: '{from}': {e}"))?
            .ok_or_else(missing_from)?,
        None => return Err(missing_from()),
    };
    let budget = ACCUMULATED_COPY_SIZE_LIMIT.saturating_sub(*copied);
    let size = size_within(source, budget).ok_or_else(|| {
        format!(
            "Unable to complete the copy, the accumulated size increase of copy exceeds the limit {ACCUMULATED_COPY_SIZE_LIMIT}"
        )
    })?;
    // `clone` recurses: check the depth first.
    if !depth_at_most(source, MAX_DOCUMENT_DEPTH) {
        return Err(format!(
            "error in copy for from: '{from}': the value is nested more than {MAX_DOCUMENT_DEPTH} levels deep"
        ));
    }
    *copied += size;
    let value = source.clone();
    let Some((con, key)) = parent(doc, path) else {
        dismantle(value);
        return Err(format!(
            "copy operation does not apply: doc is missing destination path: {path}: {MISSING}"
        ));
    };
    add(con, &key, value).map_err(|e| format!("error in copy for path: '{path}': {e}"))
}

/// As upstream, a missing location passes only against `null`.
fn op_test(doc: &mut Value, path: &str, expected: &Value) -> Result<(), String> {
    let failed = || format!("testing value {path} failed: test failed");
    // `==` on `Value` recurses only while both sides are containers, so
    // never deeper than the (parser-bounded) expected value.
    if path.is_empty() {
        return if *doc == *expected {
            Ok(())
        } else {
            Err(failed())
        };
    }
    let (con, key) = parent(doc, path).ok_or_else(|| {
        format!("test operation does not apply: is missing path: {path}: {MISSING}")
    })?;
    let actual = get(con, &key).map_err(|e| format!("error in test for path: '{path}': {e}"))?;
    match actual {
        None | Some(Value::Null) if expected.is_null() => Ok(()),
        Some(v) if v == expected => Ok(()),
        _ => Err(failed()),
    }
}

/// Removes `null` members from objects, recursively (also inside arrays,
/// whose `null` elements are kept), as upstream's `pruneNulls`.
fn prune_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(prune_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(prune_nulls),
        _ => {}
    }
}

/// RFC 7386 `MergePatch` on two objects, with upstream's pruning rules.
fn merge_objects(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (k, mut v) in patch {
        if v.is_null() {
            target.shift_remove(&k);
            continue;
        }
        match target.get_mut(&k) {
            Some(Value::Object(cur)) => match v {
                Value::Object(p) => merge_objects(cur, p),
                // A non-object replaces an object as is.
                other => {
                    target.insert(k, other);
                }
            },
            Some(cur) if !cur.is_null() => {
                prune_nulls(&mut v);
                *cur = v;
            }
            _ => {
                prune_nulls(&mut v);
                target.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
#[path = "patch_tests.rs"]
mod tests;
