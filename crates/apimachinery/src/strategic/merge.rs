//! The merge itself: upstream's `mergeMap` / `mergeSlice` and the handling
//! of every directive, applied in upstream's order:
//!
//! 1. a `$patch` directive on the map decides everything (`replace`,
//!    `delete`, anything else is an error);
//! 2. `$retainKeys` drops the original's fields it does not list;
//! 3. `$setElementOrder/<list>` merges that list and orders it;
//! 4. every other patch key is merged: `null` deletes, new keys are taken
//!    from the patch (nulls and `$patch` items removed), maps recurse, lists
//!    merge or are replaced per the field's strategy, scalars are replaced,
//!    `$deleteFromPrimitiveList/<list>` removes values.
//!
//! Lists of maps are merged on a model of Go's slices: deleting items
//! shifts the original's backing array in place and appending writes into
//! the freed tail. Upstream reads that backing array again when it orders a
//! list under `$setElementOrder`, so the model is needed to order items
//! exactly as upstream does (its own tests depend on it).

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::go::{
    GoType, err_bad_patch_type, err_expected_list, err_no_merge_key, go_type, hash_key,
    unhashable_panic,
};
use super::order::{
    MapFinder, dedupe_scalars, delete_from_slice, find_map_linear, non_delete_items,
    normalize_element_order, partition_maps, partition_primitives, slice_element_type,
};
use super::{
    DELETE_FROM_PRIMITIVE_LIST_PREFIX, DIRECTIVE_MARKER, FieldMeta, ListStrategy, PatchMeta,
    RETAIN_KEYS_DIRECTIVE, SET_ELEMENT_ORDER_PREFIX, SchemaId, Shape, SmpError,
};
use crate::go_format::go_quote;

const ERR_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
const ERR_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const ERR_SET_ELEMENT_ORDER: &str = "invalid patch format of setElementOrder list";

/// How one field merges, resolved from its [`FieldMeta`].
#[derive(Clone, Debug, Default)]
struct Strategy {
    /// `patchStrategy:"merge"`: lists merge instead of being replaced.
    merge: bool,
    /// `patchMergeKey`, empty when the field has none.
    key: String,
    /// `patchStrategy:"replace"`: maps are replaced instead of merged.
    replace: bool,
}

impl Strategy {
    fn of(f: &FieldMeta<'_>) -> Self {
        let (merge, key) = match f.strategy {
            ListStrategy::Replace => (false, String::new()),
            ListStrategy::Merge { key } => (true, key.to_string()),
            ListStrategy::MergePrimitives => (true, String::new()),
        };
        Strategy {
            merge,
            key,
            replace: f.replace,
        }
    }
}

/// A merged list, and what upstream's view of the original list's backing
/// array holds afterwards (only computed when asked for).
struct SliceMerge {
    merged: Vec<Value>,
    alias: Vec<Value>,
}

/// Applies patches against one schema.
pub(super) struct Merger<'m> {
    pub(super) meta: &'m dyn PatchMeta,
}

impl Merger<'_> {
    /// Upstream's `mergeMap`.
    pub(super) fn merge_map(
        &self,
        mut original: Map<String, Value>,
        mut patch: Map<String, Value>,
        schema: SchemaId,
    ) -> Result<Map<String, Value>, SmpError> {
        if let Some(directive) = patch.get(DIRECTIVE_MARKER) {
            return match directive.as_str() {
                Some("replace") => {
                    patch.shift_remove(DIRECTIVE_MARKER);
                    Ok(patch)
                }
                Some("delete") => Ok(Map::new()),
                _ => Err(err_bad_patch_type(directive, &patch)),
            };
        }
        apply_retain_keys(&mut original, &mut patch)?;
        self.merge_ordered_lists(&mut original, &mut patch, schema)?;

        for (key, patch_value) in patch {
            let (key, is_delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
                let target = extract_key(&key, DELETE_FROM_PRIMITIVE_LIST_PREFIX)?;
                // Upstream keeps the full key when nothing follows the slash.
                (if target.is_empty() { key } else { target }, true)
            } else {
                (key, false)
            };
            if patch_value.is_null() {
                original.shift_remove(&key);
                continue;
            }
            // A missing key, or a value of another Go type, is taken from
            // the patch (deletion lists only ever delete).
            let same_type = original
                .get(&key)
                .map(|v| go_type(v) == go_type(&patch_value));
            if same_type != Some(true) {
                if !is_delete_list {
                    insert_from_patch(&mut original, key, patch_value);
                }
                continue;
            }
            let Some(current) = original.get_mut(&key) else {
                continue;
            };
            match (std::mem::take(current), patch_value) {
                (Value::Object(cur), Value::Object(p)) => {
                    let (sub, strategy) = self.lookup_struct(schema, &key)?;
                    *current = Value::Object(if strategy.replace {
                        p
                    } else {
                        self.merge_map(cur, p, sub)?
                    });
                }
                (Value::Array(cur), Value::Array(p)) => {
                    let (items, strategy) = self.lookup_slice(schema, &key)?;
                    let merged =
                        self.merge_slice_handler(cur, p, items, &strategy, is_delete_list, false)?;
                    *current = Value::Array(merged.merged);
                }
                (_, scalar) => *current = scalar,
            }
        }
        Ok(original)
    }

    /// Upstream's `mergePatchIntoOriginal`: merges and orders every list
    /// named by a `$setElementOrder/<list>` directive, removing both the
    /// directive and the list from the patch.
    fn merge_ordered_lists(
        &self,
        original: &mut Map<String, Value>,
        patch: &mut Map<String, Value>,
        schema: SchemaId,
    ) -> Result<(), SmpError> {
        let directives: Vec<String> = patch
            .keys()
            .filter(|k| k.starts_with(SET_ELEMENT_ORDER_PREFIX))
            .cloned()
            .collect();
        for directive in directives {
            let Some(order) = patch.shift_remove(&directive) else {
                continue;
            };
            let Value::Array(order) = order else {
                return Err(err_expected_list(Some(&order)));
            };
            let list_key = extract_key(&directive, SET_ELEMENT_ORDER_PREFIX)?;
            let original_list = match original.get(&list_key) {
                None => None,
                Some(Value::Array(items)) => Some(items.clone()),
                Some(other) => return Err(err_expected_list(Some(other))),
            };
            let patch_list = match patch.get(&list_key) {
                None => None,
                Some(Value::Array(items)) => Some(items.clone()),
                Some(other) => return Err(err_expected_list(Some(other))),
            };
            let (items, strategy) = self.lookup_slice(schema, &list_key)?;
            validate_patch_with_set_order_list(
                patch_list.as_deref().unwrap_or(&[]),
                &order,
                &strategy.key,
            )?;
            let patch_list_for_type = patch_list.clone().unwrap_or_default();
            let SliceMerge { merged, alias } = match (original_list, patch_list) {
                (Some(o), None) => SliceMerge {
                    merged: o.clone(),
                    alias: o,
                },
                (None, Some(p)) => SliceMerge {
                    merged: p.into_iter().filter_map(remove_directives).collect(),
                    alias: Vec::new(),
                },
                (Some(o), Some(p)) => {
                    self.merge_slice_handler(o, p, items, &strategy, false, true)?
                }
                (None, None) => continue,
            };
            let (patch_items, server_only) = if strategy.key.is_empty() {
                partition_primitives(merged, &order)?
            } else {
                partition_maps(merged, &order, &strategy.key)?
            };
            let kind = slice_element_type(&[&alias, &patch_list_for_type])?;
            let ordered = normalize_element_order(
                patch_items,
                server_only,
                &order,
                &alias,
                &strategy.key,
                kind == GoType::Map,
            )?;
            original.insert(list_key.clone(), Value::Array(ordered));
            patch.shift_remove(&list_key);
        }
        Ok(())
    }

    /// Upstream's `mergeSliceHandler`: merges when the field's strategy is
    /// `merge` (or the patch is a deletion list), else takes the patch list.
    fn merge_slice_handler(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        items: SchemaId,
        strategy: &Strategy,
        is_delete_list: bool,
        want_alias: bool,
    ) -> Result<SliceMerge, SmpError> {
        if strategy.merge || is_delete_list {
            self.merge_slice(
                original,
                patch,
                items,
                &strategy.key,
                is_delete_list,
                want_alias,
            )
        } else {
            Ok(SliceMerge {
                merged: patch,
                alias: if want_alias { original } else { Vec::new() },
            })
        }
    }

    /// Upstream's `mergeSlice`.
    fn merge_slice(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        items: SchemaId,
        key: &str,
        is_delete_list: bool,
        want_alias: bool,
    ) -> Result<SliceMerge, SmpError> {
        if original.is_empty() && patch.is_empty() {
            return Ok(SliceMerge {
                merged: original,
                alias: Vec::new(),
            });
        }
        let kind = slice_element_type(&[&original, &patch])?;
        if kind != GoType::Map {
            if is_delete_list {
                let merged = delete_from_slice(original.clone(), &patch)?;
                return Ok(SliceMerge {
                    merged,
                    alias: if want_alias { original } else { Vec::new() },
                });
            }
            // Upstream appends in place; when the original's backing array
            // has spare capacity the deduplication can also rewrite it. That
            // depends on Go allocation sizes and is not modelled: the
            // original is taken as unchanged.
            let mut both = original.clone();
            both.extend(patch.iter().cloned());
            let merged = dedupe_scalars(both)?;
            let (patch_items, server_only) = if key.is_empty() {
                partition_primitives(merged, &patch)?
            } else {
                partition_maps(merged, &patch, key)?
            };
            let merged =
                normalize_element_order(patch_items, server_only, &patch, &original, key, false)?;
            return Ok(SliceMerge {
                merged,
                alias: if want_alias { original } else { Vec::new() },
            });
        }
        if key.is_empty() {
            return Err(SmpError::Internal(format!(
                "cannot merge lists without merge key for {}",
                self.kind_name(items)
            )));
        }
        self.merge_map_list(original, patch, items, key, want_alias)
    }

    /// The list-of-maps half of `mergeSlice`, on a model of Go's slices.
    fn merge_map_list(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        items: SchemaId,
        key: &str,
        want_alias: bool,
    ) -> Result<SliceMerge, SmpError> {
        let n = original.len();
        // Items live in an arena; `backing` is the original slice's backing
        // array (as item ids) and `live` its current length.
        let mut arena = original;
        let mut backing: Vec<usize> = (0..n).collect();
        let mut live = n;

        // Special elements: `$patch: delete` removes matching items in
        // place, `$patch: replace` discards the original.
        let mut rest = Vec::with_capacity(patch.len());
        let mut replace = false;
        for item in patch {
            let Value::Object(m) = &item else {
                return Err(super::go::err_expected_map(Some(&item)));
            };
            let Some(directive) = m.get(DIRECTIVE_MARKER) else {
                rest.push(item);
                continue;
            };
            match directive.as_str() {
                Some("delete") => {
                    let Some(value) = m.get(key) else {
                        return Err(err_no_merge_key(m, key));
                    };
                    while let Some(i) = find_map_linear(
                        backing[..live].iter().map(|&id| &arena[id]),
                        key,
                        Some(value),
                    )? {
                        // append(s[:i], s[i+1:]...): shift left, the old last
                        // slot keeps its value.
                        for j in i..live - 1 {
                            backing[j] = backing[j + 1];
                        }
                        live -= 1;
                    }
                }
                Some("replace") => replace = true,
                Some("merge") => {
                    return Err(SmpError::Internal(
                        "merging lists cannot yet be specified in the patch".into(),
                    ));
                }
                _ => return Err(err_bad_patch_type(directive, m)),
            }
        }

        let stub = |v: &Value| order_stub(v, key);
        if replace {
            let alias = if want_alias {
                backing.iter().map(|&id| stub(&arena[id])).collect()
            } else {
                Vec::new()
            };
            let server_order: Vec<Value> = rest.iter().map(stub).collect();
            let (patch_items, server_only) = partition_maps(rest, &[], key)?;
            let merged =
                normalize_element_order(patch_items, server_only, &[], &server_order, key, true)?;
            return Ok(SliceMerge { merged, alias });
        }

        let mut live_ids: Vec<usize> = backing[..live].to_vec();
        let server_ids = live_ids.clone();
        let mut finder = MapFinder::new(live_ids.iter().map(|&id| &arena[id]), key);
        for item in &rest {
            let Value::Object(m) = item else {
                return Err(super::go::err_expected_map(Some(item)));
            };
            let Some(value) = m.get(key) else {
                return Err(err_no_merge_key(m, key));
            };
            match finder.find(Some(value))? {
                Some(pos) => {
                    let id = live_ids[pos];
                    let Value::Object(current) = std::mem::take(&mut arena[id]) else {
                        return Err(super::go::err_expected_map(None));
                    };
                    let merged = self.merge_map(current, m.clone(), items)?;
                    let key_changed = hash_key(merged.get(key)) != hash_key(Some(value));
                    arena[id] = Value::Object(merged);
                    if key_changed {
                        finder = MapFinder::new(live_ids.iter().map(|&id| &arena[id]), key);
                    }
                }
                None => {
                    arena.push(item.clone());
                    let id = arena.len() - 1;
                    live_ids.push(id);
                    finder.push(&arena[id], key);
                    // Appending within the original length writes into the
                    // original's backing array.
                    if live_ids.len() <= n {
                        backing[live_ids.len() - 1] = id;
                    }
                }
            }
        }

        let server_order: Vec<Value> = server_ids.iter().map(|&id| stub(&arena[id])).collect();
        let alias = if want_alias {
            backing.iter().map(|&id| stub(&arena[id])).collect()
        } else {
            Vec::new()
        };
        let merged: Vec<Value> = live_ids
            .iter()
            .map(|&id| std::mem::take(&mut arena[id]))
            .collect();
        let (patch_items, server_only) = partition_maps(merged, &rest, key)?;
        let merged =
            normalize_element_order(patch_items, server_only, &rest, &server_order, key, true)?;
        Ok(SliceMerge { merged, alias })
    }

    /// Upstream's `LookupPatchMetadataForStruct`.
    fn lookup_struct(&self, parent: SchemaId, key: &str) -> Result<(SchemaId, Strategy), SmpError> {
        match self.meta.shape(parent) {
            Shape::Struct { name } => match self.meta.field(parent, key) {
                Some(f) => Ok((f.schema, Strategy::of(&f))),
                None => Err(SmpError::Internal(format!(
                    "unable to find api field in struct {name} for the json field {}",
                    go_quote(key)
                ))),
            },
            Shape::Map { values } => Ok((values, Strategy::default())),
            Shape::Any => Ok((parent, Strategy::default())),
            Shape::List { .. } | Shape::Scalar { .. } => Err(SmpError::Internal(format!(
                "merging an object in json but data type is not map or struct, provided data type {}",
                self.kind_name(parent)
            ))),
        }
    }

    /// Upstream's `LookupPatchMetadataForSlice`: the field must be a list;
    /// returns the schema of its items.
    fn lookup_slice(&self, parent: SchemaId, key: &str) -> Result<(SchemaId, Strategy), SmpError> {
        let (sub, strategy) = self.lookup_struct(parent, key)?;
        match self.meta.shape(sub) {
            Shape::List { items } => {
                if matches!(self.meta.shape(items), Shape::List { .. }) {
                    Err(SmpError::Internal("unexpected slice of slice".into()))
                } else {
                    Ok((items, strategy))
                }
            }
            Shape::Any => Ok((sub, strategy)),
            _ => Err(SmpError::Internal(format!(
                "expected slice or array type, but got: {}",
                self.kind_name(parent)
            ))),
        }
    }

    /// The Go reflect kind of a schema's values, as upstream names it.
    fn kind_name(&self, schema: SchemaId) -> String {
        match self.meta.shape(schema) {
            Shape::Struct { .. } => "struct".into(),
            Shape::Map { .. } => "map".into(),
            Shape::List { .. } => "slice".into(),
            Shape::Scalar { kind } => kind.to_string(),
            Shape::Any => "interface".into(),
        }
    }
}

/// What the ordering code needs of a list item: the map with just its
/// merge key (items without one are kept whole for error messages).
fn order_stub(v: &Value, key: &str) -> Value {
    match v {
        Value::Object(m) => match m.get(key) {
            Some(k) => {
                let mut stub = Map::new();
                stub.insert(key.to_string(), k.clone());
                Value::Object(stub)
            }
            None => v.clone(),
        },
        other => other.clone(),
    }
}

/// Stores a patch value for a key the original lacks (or holds with another
/// type): nulls are dropped and `$patch` maps removed, as upstream does;
/// a value that is itself a `$patch` map removes the key.
fn insert_from_patch(original: &mut Map<String, Value>, key: String, mut value: Value) {
    discard_nulls(&mut value);
    match remove_directives(value) {
        Some(v) => {
            original.insert(key, v);
        }
        None => {
            original.shift_remove(&key);
        }
    }
}

/// Upstream's `discardNullValuesFromPatch`: removes null members of maps,
/// at any depth (null list items stay).
fn discard_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            for v in m.values_mut() {
                discard_nulls(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// Upstream's `removeDirectives`: drops every map that carries `$patch`
/// (`None` when the value itself is one). Other directive keys stay.
fn remove_directives(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE_MARKER) {
                return None;
            }
            Some(Value::Object(
                m.into_iter()
                    .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                    .collect(),
            ))
        }
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

/// Upstream's `applyRetainKeysDirective`: with `$retainKeys`, every key the
/// patch sets must be listed, and the original keeps only listed keys.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), SmpError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS_DIRECTIVE) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(SmpError::BadRequest(ERR_RETAIN_KEYS.into()));
    };
    let mut keep = HashSet::new();
    for v in &retain {
        keep.insert(hash_key(Some(v)).map_err(unhashable_panic)?);
    }
    let listed = |k: &str| keep.contains(&super::go::HashKey::Str(k.to_string()));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
            || k.starts_with(SET_ELEMENT_ORDER_PREFIX)
        {
            continue;
        }
        if !listed(k) {
            return Err(SmpError::BadRequest(ERR_RETAIN_KEYS.into()));
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// Upstream's `extractKey`: the list name after `<prefix>/`.
fn extract_key(directive: &str, prefix: &str) -> Result<String, SmpError> {
    match directive.split_once('/') {
        Some((head, rest)) if head == prefix => Ok(rest.to_string()),
        _ => Err(SmpError::BadRequest(
            if prefix == DELETE_FROM_PRIMITIVE_LIST_PREFIX {
                ERR_PRIMITIVE_LIST
            } else {
                ERR_SET_ELEMENT_ORDER
            }
            .into(),
        )),
    }
}

/// Upstream's `mergeKeyValueEqual`.
fn merge_key_value_equal(left: &Value, right: &Value, key: &str) -> Result<bool, SmpError> {
    if key.is_empty() {
        return super::go::go_eq(Some(left), Some(right));
    }
    let Value::Object(l) = left else {
        return Err(super::go::err_expected_map(Some(left)));
    };
    let Value::Object(r) = right else {
        return Err(super::go::err_expected_map(Some(right)));
    };
    let Some(lv) = l.get(key) else {
        return Err(err_no_merge_key(l, key));
    };
    let Some(rv) = r.get(key) else {
        return Err(err_no_merge_key(r, key));
    };
    super::go::go_eq(Some(lv), Some(rv))
}

/// Upstream's `validatePatchWithSetOrderList`: the patch list's items (but
/// deletions and other `$patch` items) must appear in the
/// `$setElementOrder` list, in the same relative order.
fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    order: &[Value],
    key: &str,
) -> Result<(), SmpError> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let candidates: Vec<&Value> = if key.is_empty() {
        patch_list.iter().collect()
    } else {
        non_delete_items(patch_list)?
    };
    let (mut pi, mut si) = (0, 0);
    while pi < candidates.len() && si < order.len() {
        let item = candidates[pi];
        if item
            .as_object()
            .is_some_and(|m| m.contains_key(DIRECTIVE_MARKER))
        {
            pi += 1;
            continue;
        }
        if merge_key_value_equal(item, &order[si], key)? {
            pi += 1;
        }
        si += 1;
    }
    if pi < candidates.len() && si >= order.len() {
        return Err(SmpError::Internal(format!(
            "the order in patch list:\n{}\n doesn't match {} list:\n{}",
            super::go::fmt_v_list(patch_list),
            SET_ELEMENT_ORDER_PREFIX,
            super::go::fmt_v_list(order)
        )));
    }
    Ok(())
}
