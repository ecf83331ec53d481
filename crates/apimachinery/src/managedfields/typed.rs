//! Walks over an object together with its [`Schema`]: the set of fields a
//! value sets, the fields two values differ in, the merge of an applied
//! configuration into a live object, and removal of a set of fields.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::path::{Path, PathElement};
use super::schema::{ListType, Node, NodeId, Schema, UNTYPED};
use super::set::Set;

/// What a list item is called in paths.
pub fn item_element(
    schema: &Schema,
    list_type: &ListType,
    items: NodeId,
    index: usize,
    item: &Value,
) -> Result<PathElement, String> {
    match list_type {
        ListType::Atomic => Ok(PathElement::Index(index)),
        ListType::Set => match item {
            Value::Object(_) | Value::Array(_) => Err(format!(
                "element {index}: associative list without keys has an element that's a map or list"
            )),
            v => Ok(PathElement::Value(v.clone())),
        },
        ListType::Map(keys) => {
            let Value::Object(m) = item else {
                return Err(format!(
                    "element {index}: associative list with keys has an element that's not a map"
                ));
            };
            let mut k = Vec::with_capacity(keys.len());
            for key in keys {
                match m.get(key) {
                    Some(v) if !v.is_null() => k.push((key.clone(), v.clone())),
                    _ => match key_default(schema, items, key) {
                        Some(d) => k.push((key.clone(), d)),
                        None => {
                            return Err(format!(
                                "element {index}: associative list with keys has an element that omits key field {key:?} (and doesn't have default value)"
                            ));
                        }
                    },
                }
            }
            k.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(k))
        }
    }
}

/// Defaults of list-map key fields that objects may omit before
/// defaulting (upstream reads them from the schema's `default`).
fn key_default(_schema: &Schema, _items: NodeId, key: &str) -> Option<Value> {
    (key == "protocol").then(|| Value::String("TCP".into()))
}

/// The items of an associative list by path element (first occurrence
/// wins for duplicates), and their order.
fn index_items<'v>(
    schema: &Schema,
    list_type: &ListType,
    items: NodeId,
    list: &'v [Value],
) -> Result<(Vec<PathElement>, HashMap<String, &'v Value>), String> {
    let mut order = Vec::with_capacity(list.len());
    let mut by_key = HashMap::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let pe = item_element(schema, list_type, items, i, item)?;
        let k = pe.to_fields_key();
        if by_key.contains_key(&k) {
            continue;
        }
        by_key.insert(k, item);
        order.push(pe);
    }
    Ok((order, by_key))
}

/// How a node treats a value.
pub(super) enum Shape<'s> {
    Leaf,
    Fields {
        node: NodeId,
    },
    Items {
        items: NodeId,
        list_type: &'s ListType,
    },
}

pub(super) fn shape<'s>(schema: &'s Schema, node: NodeId, v: Option<&Value>) -> Shape<'s> {
    match schema.node(node) {
        Node::Struct { atomic: false, .. } | Node::Map { atomic: false, .. } => match v {
            Some(Value::Object(_)) | None => Shape::Fields { node },
            _ => Shape::Leaf,
        },
        Node::Untyped => match v {
            Some(Value::Object(_)) => Shape::Fields { node },
            _ => Shape::Leaf,
        },
        Node::List {
            items,
            list_type: list_type @ (ListType::Set | ListType::Map(_)),
        } => match v {
            Some(Value::Array(_)) | None => Shape::Items {
                items: *items,
                list_type,
            },
            _ => Shape::Leaf,
        },
        _ => Shape::Leaf,
    }
}

/// The fields a value sets (upstream `ToFieldSet`): every leaf, every list
/// item, every map entry that is not a declared struct field, and empty or
/// null values.
pub fn to_field_set(schema: &Schema, v: &Value) -> Result<Set, String> {
    let mut set = Set::new();
    field_set(schema, schema.root(), v, &mut Vec::new(), &mut set)?;
    Ok(set)
}

fn field_set(
    schema: &Schema,
    node: NodeId,
    v: &Value,
    path: &mut Path,
    set: &mut Set,
) -> Result<(), String> {
    match shape(schema, node, Some(v)) {
        Shape::Leaf => set.insert(path),
        Shape::Fields { node } => {
            let Value::Object(m) = v else { return Ok(()) };
            for (k, child) in m {
                let named = schema.is_named_field(node, k);
                let child_node = schema.field(node, k).unwrap_or(UNTYPED);
                path.push(PathElement::Field(k.clone()));
                field_set(schema, child_node, child, path, set)?;
                let empty = child.is_null() || child.as_object().is_some_and(Map::is_empty);
                if empty || !named {
                    set.insert(path);
                }
                path.pop();
            }
        }
        Shape::Items { items, list_type } => {
            let Value::Array(list) = v else { return Ok(()) };
            for (i, item) in list.iter().enumerate() {
                let pe = item_element(schema, list_type, items, i, item)
                    .map_err(|e| format!("{}: {e}", super::path::path_string(path)))?;
                path.push(pe);
                field_set(schema, items, item, path, set)?;
                set.insert(path);
                path.pop();
            }
        }
    }
    Ok(())
}

/// Where two versions of an object differ.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Comparison {
    /// Present only in the new one (maps, structs and list items that
    /// appear are added as a whole and field by field).
    pub added: Set,
    /// Leaves whose value changed.
    pub modified: Set,
    /// Present only in the old one.
    pub removed: Set,
}

impl Comparison {
    /// Drops the paths in or below `ignored` (reset fields).
    pub fn without(&self, ignored: &Set) -> Comparison {
        Comparison {
            added: self.added.recursive_difference(ignored),
            modified: self.modified.recursive_difference(ignored),
            removed: self.removed.recursive_difference(ignored),
        }
    }

    /// [`Comparison::without`] in place.
    pub fn remove_ignored(&mut self, ignored: &Set) {
        if ignored.is_empty() {
            return;
        }
        self.added.remove_recursive(ignored);
        self.modified.remove_recursive(ignored);
        self.removed.remove_recursive(ignored);
    }

    /// `added ∪ modified`.
    pub fn changed(&self) -> Set {
        self.added.union(&self.modified)
    }
}

/// Compares two versions. `old` is `None` on create: it then reads as the
/// zero object of the kind, in which the fields the schema marks as
/// zero-present (non-pointer Go structs) already exist.
pub fn compare(schema: &Schema, old: Option<&Value>, new: &Value) -> Result<Comparison, String> {
    let mut c = Comparison::default();
    let empty = Value::Object(Map::new());
    let zero = old.is_none();
    let old = old.unwrap_or(&empty);
    cmp(
        schema,
        schema.root(),
        Some(old),
        Some(new),
        zero,
        &mut Vec::new(),
        &mut c,
    )?;
    Ok(c)
}

fn cmp(
    schema: &Schema,
    node: NodeId,
    old: Option<&Value>,
    new: Option<&Value>,
    zero: bool,
    path: &mut Path,
    c: &mut Comparison,
) -> Result<(), String> {
    let (o, n) = match (old, new) {
        (None, None) => return Ok(()),
        pair => pair,
    };
    let shape_o = shape(schema, node, o);
    let shape_n = shape(schema, node, n);
    let leaf = matches!(shape_o, Shape::Leaf) || matches!(shape_n, Shape::Leaf);
    if leaf {
        match (o, n) {
            (None, Some(_)) => c.added.insert(path),
            (Some(_), None) => c.removed.insert(path),
            (Some(a), Some(b)) if a != b => c.modified.insert(path),
            _ => {}
        }
        return Ok(());
    }
    if !path.is_empty() {
        match (o, n) {
            (None, Some(_)) => c.added.insert(path),
            (Some(_), None) => c.removed.insert(path),
            _ => {}
        }
    }
    match shape_n {
        Shape::Fields { node } => {
            let empty = Map::new();
            let om = o.and_then(Value::as_object);
            let nm = n.and_then(Value::as_object);
            // On create, `old` is Go's zero object of the kind: it already
            // holds the non-pointer struct fields (recursively), so those
            // are not added as a whole.
            let zero_obj = Value::Object(Map::new());
            let zero_fields: &[String] = match (zero, schema.node(node)) {
                (true, Node::Struct { zero_present, .. }) => zero_present,
                _ => &[],
            };
            let om_ref = om.unwrap_or(&empty);
            let nm_ref = nm.unwrap_or(&empty);
            for (k, nv) in nm_ref {
                let child = schema.field(node, k).unwrap_or(UNTYPED);
                let child_zero = zero && zero_fields.contains(k) && nv.is_object();
                let ov = om_ref.get(k).or(child_zero.then_some(&zero_obj));
                path.push(PathElement::Field(k.clone()));
                cmp(schema, child, ov, Some(nv), child_zero, path, c)?;
                path.pop();
            }
            for (k, ov) in om_ref {
                if nm_ref.contains_key(k) {
                    continue;
                }
                let child = schema.field(node, k).unwrap_or(UNTYPED);
                path.push(PathElement::Field(k.clone()));
                cmp(schema, child, Some(ov), None, false, path, c)?;
                path.pop();
            }
        }
        Shape::Items { items, list_type } => {
            let none: Vec<Value> = Vec::new();
            let ol = o.and_then(Value::as_array).unwrap_or(&none);
            let nl = n.and_then(Value::as_array).unwrap_or(&none);
            let (o_order, o_by) = index_items(schema, list_type, items, ol)?;
            let (n_order, n_by) = index_items(schema, list_type, items, nl)?;
            for pe in &n_order {
                let k = pe.to_fields_key();
                path.push(pe.clone());
                cmp(
                    schema,
                    items,
                    o_by.get(&k).copied(),
                    n_by.get(&k).copied(),
                    false,
                    path,
                    c,
                )?;
                path.pop();
            }
            for pe in &o_order {
                let k = pe.to_fields_key();
                if n_by.contains_key(&k) {
                    continue;
                }
                path.push(pe.clone());
                cmp(schema, items, o_by.get(&k).copied(), None, false, path, c)?;
                path.pop();
            }
        }
        Shape::Leaf => {}
    }
    Ok(())
}

/// Merges an applied configuration into the live object (upstream
/// `TypedValue.Merge`): the configuration's values win, maps and structs
/// merge field by field unless atomic, associative lists merge item by
/// item (shared items in the configuration's order), atomic lists and
/// scalars are replaced.
pub fn merge(schema: &Schema, live: &Value, config: &Value) -> Result<Value, String> {
    merge_node(schema, schema.root(), Some(live), Some(config)).map(|v| v.unwrap_or(Value::Null))
}

fn merge_node(
    schema: &Schema,
    node: NodeId,
    live: Option<&Value>,
    config: Option<&Value>,
) -> Result<Option<Value>, String> {
    let (l, r) = match (live, config) {
        (None, None) => return Ok(None),
        (l, None) => return Ok(l.cloned()),
        (None, Some(r)) => return Ok(Some(r.clone())),
        (Some(l), Some(r)) => (l, r),
    };
    match (shape(schema, node, Some(l)), shape(schema, node, Some(r))) {
        (Shape::Fields { node }, Shape::Fields { .. }) => {
            let (Value::Object(lm), Value::Object(rm)) = (l, r) else {
                return Ok(Some(r.clone()));
            };
            let mut out = lm.clone();
            for (k, rv) in rm {
                let child = schema.field(node, k).unwrap_or(UNTYPED);
                if let Some(v) = merge_node(schema, child, lm.get(k), Some(rv))? {
                    out.insert(k.clone(), v);
                }
            }
            Ok(Some(Value::Object(out)))
        }
        (Shape::Items { items, list_type }, Shape::Items { .. }) => {
            let (Value::Array(ll), Value::Array(rl)) = (l, r) else {
                return Ok(Some(r.clone()));
            };
            merge_items(schema, items, list_type, ll, rl).map(|v| Some(Value::Array(v)))
        }
        _ => Ok(Some(r.clone())),
    }
}

/// Associative list merge: items only in the live list keep their place,
/// items of the configuration come in its order.
fn merge_items(
    schema: &Schema,
    items: NodeId,
    list_type: &ListType,
    live: &[Value],
    config: &[Value],
) -> Result<Vec<Value>, String> {
    let (l_order, l_by) = index_items(schema, list_type, items, live)?;
    let (r_order, r_by) = index_items(schema, list_type, items, config)?;
    let key = PathElement::to_fields_key;
    // The shared items in the configuration's order.
    let mut shared: std::collections::VecDeque<String> = r_order
        .iter()
        .map(key)
        .filter(|k| l_by.contains_key(k))
        .collect();
    let mut out = Vec::with_capacity(l_order.len().max(r_order.len()));
    let mut merged = std::collections::HashSet::new();
    let (mut li, mut ri) = (0, 0);
    let merge_one = |k: &str, out: &mut Vec<Value>| -> Result<(), String> {
        if let Some(v) = merge_node(schema, items, l_by.get(k).copied(), r_by.get(k).copied())? {
            out.push(v);
        }
        Ok(())
    };
    while li < l_order.len() || ri < r_order.len() {
        if li < l_order.len() && ri < r_order.len() {
            let lk = key(&l_order[li]);
            let rk = key(&r_order[ri]);
            if lk == rk {
                merged.insert(lk.clone());
                merge_one(&lk, &mut out)?;
                li += 1;
                ri += 1;
                if shared.front() == Some(&lk) {
                    shared.pop_front();
                }
                continue;
            }
            if r_by.contains_key(&lk) && shared.front().is_some_and(|s| *s != lk) {
                // Shared, but not the next one the configuration wants.
                li += 1;
                continue;
            }
        }
        if li < l_order.len() {
            let lk = key(&l_order[li]);
            if !r_by.contains_key(&lk) {
                merge_one(&lk, &mut out)?;
                li += 1;
                continue;
            } else if merged.contains(&lk) {
                li += 1;
                continue;
            }
        }
        if ri < r_order.len() {
            let rk = key(&r_order[ri]);
            merged.insert(rk.clone());
            merge_one(&rk, &mut out)?;
            ri += 1;
            if shared.front() == Some(&rk) {
                shared.pop_front();
            }
            continue;
        }
        // Only shared live items already merged (or skipped) remain.
        li += 1;
    }
    Ok(out)
}

/// Removes the paths of `set` from a value: a member goes with everything
/// below it; parents are kept even when emptied.
pub fn remove_items(schema: &Schema, v: &Value, set: &Set) -> Value {
    remove(schema, schema.root(), v, set)
}

fn remove(schema: &Schema, node: NodeId, v: &Value, set: &Set) -> Value {
    if set.is_empty() {
        return v.clone();
    }
    match shape(schema, node, Some(v)) {
        Shape::Fields { node } => {
            let Value::Object(m) = v else {
                return v.clone();
            };
            let mut out = Map::new();
            for (k, child) in m {
                let pe = PathElement::Field(k.clone());
                if set.has_member(&pe) {
                    continue;
                }
                let child_node = schema.field(node, k).unwrap_or(UNTYPED);
                let c = match set.with_prefix(&pe) {
                    Some(sub) => remove(schema, child_node, child, sub),
                    None => child.clone(),
                };
                out.insert(k.clone(), c);
            }
            Value::Object(out)
        }
        Shape::Items { items, list_type } => {
            let Value::Array(list) = v else {
                return v.clone();
            };
            let mut out = Vec::with_capacity(list.len());
            for (i, item) in list.iter().enumerate() {
                let Ok(pe) = item_element(schema, list_type, items, i, item) else {
                    out.push(item.clone());
                    continue;
                };
                if set.has_member(&pe) {
                    continue;
                }
                out.push(match set.with_prefix(&pe) {
                    Some(sub) => remove(schema, items, item, sub),
                    None => item.clone(),
                });
            }
            Value::Array(out)
        }
        Shape::Leaf => v.clone(),
    }
}

/// The set with every declared struct field that has paths below it made a
/// member too (upstream `EnsureNamedFieldsAreMembers`), so removing it
/// removes the field itself.
pub fn ensure_named_fields_are_members(schema: &Schema, set: &Set) -> Set {
    named(schema, schema.root(), set)
}

fn named(schema: &Schema, node: NodeId, set: &Set) -> Set {
    let mut out = Set::new();
    for m in set.members() {
        out.insert_member(m.clone());
    }
    for (pe, child) in set.children() {
        let child_node = match (pe, schema.node(node)) {
            (PathElement::Field(n), _) => {
                if schema.is_named_field(node, n) {
                    out.insert_member(pe.clone());
                }
                schema.field(node, n).unwrap_or(UNTYPED)
            }
            (_, Node::List { items, .. }) => *items,
            _ => UNTYPED,
        };
        out.set_child(pe.clone(), named(schema, child_node, child));
    }
    out
}

/// Drops fields the schema does not declare (and values of the wrong
/// shape are left to validation), returning their paths as
/// `spec.foo` / `spec.containers[0].foo` for `fieldValidation`.
pub fn prune_unknown(schema: &Schema, v: &mut Value) -> Vec<String> {
    let mut dropped = Vec::new();
    prune(schema, schema.root(), v, "", &mut dropped);
    dropped
}

fn prune(schema: &Schema, node: NodeId, v: &mut Value, path: &str, dropped: &mut Vec<String>) {
    match (schema.node(node), v) {
        (Node::Struct { fields, extra, .. }, Value::Object(m)) => {
            let unknown: Vec<String> = m
                .keys()
                .filter(|k| extra.is_none() && !fields.contains_key(*k))
                .cloned()
                .collect();
            for k in unknown {
                m.shift_remove(&k);
                dropped.push(join(path, &k));
            }
            for (k, child) in m.iter_mut() {
                if let Some(n) = schema.field(node, k) {
                    prune(schema, n, child, &join(path, k), dropped);
                }
            }
        }
        (Node::Map { values, .. }, Value::Object(m)) => {
            for (k, child) in m.iter_mut() {
                prune(schema, *values, child, &join(path, k), dropped);
            }
        }
        (Node::List { items, .. }, Value::Array(list)) => {
            for (i, child) in list.iter_mut().enumerate() {
                prune(schema, *items, child, &format!("{path}[{i}]"), dropped);
            }
        }
        _ => {}
    }
}

fn join(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}
