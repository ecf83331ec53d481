//! List bookkeeping of the merge: finding items by merge key, set
//! operations on scalar lists, and the ordering rules that decide where
//! patched, new and server-only items end up.
//!
//! The ordering follows upstream exactly, including its quirks: items of
//! the patch keep the patch's order, server-only items keep the live
//! order, and the two are interleaved by their positions in the live list,
//! a patch item that the live list does not know coming first. Sorting
//! uses Go's `sort.SliceStable` algorithm (insertion sort in blocks of 20,
//! then SymMerge) so that even upstream's inconsistent "less" function
//! (true whenever an item is missing from the order) gives the same
//! permutation.

use std::collections::HashMap;

use serde_json::Value;

use super::SmpError;
use super::go::{
    GoType, HashKey, err_expected_map, err_no_merge_key, go_eq, go_type, hash_key, unhashable_panic,
};

/// Where `items` holds a map whose `key` equals `value`
/// (`findMapInSliceBasedOnKeyValue`), scanning in order: the first
/// non-map item is an error, comparing uncomparable values panics.
pub(super) fn find_map_linear<'a>(
    items: impl IntoIterator<Item = &'a Value>,
    key: &str,
    value: Option<&Value>,
) -> Result<Option<usize>, SmpError> {
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(SmpError::Internal(format!(
                "value for key {i} is not a map"
            )));
        };
        if let Some(v) = m.get(key)
            && go_eq(Some(v), value)?
        {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// An index answering [`find_map_linear`] in constant time for a list
/// that only grows at the end.
#[derive(Default)]
pub(super) struct MapFinder {
    first_by_key: HashMap<HashKey, usize>,
    first_non_map: Option<usize>,
    first_map_valued: Option<usize>,
    first_list_valued: Option<usize>,
    len: usize,
}

impl MapFinder {
    /// Indexes `items` by the value of `key`.
    pub(super) fn new<'a>(items: impl IntoIterator<Item = &'a Value>, key: &str) -> Self {
        let mut finder = MapFinder::default();
        for item in items {
            finder.push(item, key);
        }
        finder
    }

    /// Records an item appended to the indexed list.
    pub(super) fn push(&mut self, item: &Value, key: &str) {
        let i = self.len;
        self.len += 1;
        let Value::Object(m) = item else {
            self.first_non_map.get_or_insert(i);
            return;
        };
        let Some(v) = m.get(key) else { return };
        match hash_key(Some(v)) {
            Ok(k) => {
                self.first_by_key.entry(k).or_insert(i);
            }
            Err(GoType::Map) => {
                self.first_map_valued.get_or_insert(i);
            }
            Err(_) => {
                self.first_list_valued.get_or_insert(i);
            }
        }
    }

    /// Same answer as [`find_map_linear`] over the indexed items.
    pub(super) fn find(&self, value: Option<&Value>) -> Result<Option<usize>, SmpError> {
        let (hit, panics) = match hash_key(value) {
            Ok(k) => (self.first_by_key.get(&k).copied(), None),
            Err(t) => {
                let at = if t == GoType::Map {
                    self.first_map_valued
                } else {
                    self.first_list_valued
                };
                (None, at.map(|i| (i, t)))
            }
        };
        let first_bad = self.first_non_map;
        let stop = [hit, panics.map(|p| p.0), first_bad]
            .into_iter()
            .flatten()
            .min();
        match stop {
            None => Ok(None),
            Some(i) if Some(i) == first_bad => Err(SmpError::Internal(format!(
                "value for key {i} is not a map"
            ))),
            Some(i) if Some(i) == hit => Ok(Some(i)),
            Some(_) => Err(super::go::uncomparable_panic(
                panics.map_or(GoType::Map, |p| p.1),
            )),
        }
    }
}

/// What upstream's `index()` compares an item by: its merge key for lists
/// of maps (nil when absent or not a map), the item itself otherwise.
fn order_value<'a>(item: &'a Value, key: &str, maps: bool) -> Option<&'a Value> {
    if maps {
        item.as_object().and_then(|m| m.get(key))
    } else {
        Some(item)
    }
}

/// Upstream's `index(l, item, mergeKey, kind)` over a fixed list, in
/// constant time: the first position whose order value equals the item's.
struct OrderIndex {
    first: HashMap<HashKey, usize>,
    has_map: bool,
    has_list: bool,
    key: String,
    maps: bool,
}

impl OrderIndex {
    fn new(order: &[Value], key: &str, maps: bool) -> Self {
        let mut idx = OrderIndex {
            first: HashMap::new(),
            has_map: false,
            has_list: false,
            key: key.to_string(),
            maps,
        };
        for (i, item) in order.iter().enumerate() {
            match hash_key(order_value(item, key, maps)) {
                Ok(k) => {
                    idx.first.entry(k).or_insert(i);
                }
                Err(GoType::Map) => idx.has_map = true,
                Err(_) => idx.has_list = true,
            }
        }
        idx
    }

    fn position(&self, item: &Value) -> Result<Option<usize>, SmpError> {
        match hash_key(order_value(item, &self.key, self.maps)) {
            Ok(k) => Ok(self.first.get(&k).copied()),
            Err(t) => {
                let clash = if t == GoType::Map {
                    self.has_map
                } else {
                    self.has_list
                };
                if clash {
                    Err(super::go::uncomparable_panic(t))
                } else {
                    Ok(None)
                }
            }
        }
    }
}

/// Go's `deduplicateScalars`: removes repeated values in place by moving
/// the last item into the hole, so the order of what remains changes the
/// way upstream's does.
pub(super) fn dedupe_scalars(mut s: Vec<Value>) -> Result<Vec<Value>, SmpError> {
    if s.is_empty() {
        return Ok(s);
    }
    let mut length = s.len() - 1;
    let mut i = 0;
    while i < length {
        let mut j = i + 1;
        while j <= length {
            if go_eq(Some(&s[i]), Some(&s[j]))? {
                s.swap(j, length);
                s.truncate(length);
                length -= 1;
                // Upstream re-examines position j, which now holds the
                // former last item.
                continue;
            }
            j += 1;
        }
        i += 1;
    }
    Ok(s)
}

/// Go's `deleteFromSlice`: drops every item equal to one in `to_delete`.
pub(super) fn delete_from_slice(
    current: Vec<Value>,
    to_delete: &[Value],
) -> Result<Vec<Value>, SmpError> {
    let mut set = std::collections::HashSet::new();
    for v in to_delete {
        set.insert(hash_key(Some(v)).map_err(unhashable_panic)?);
    }
    let mut out = Vec::with_capacity(current.len());
    for v in current {
        let k = hash_key(Some(&v)).map_err(unhashable_panic)?;
        if !set.contains(&k) {
            out.push(v);
        }
    }
    Ok(out)
}

/// Splits scalars into those present in `by` and the others, keeping order.
pub(super) fn partition_primitives(
    items: Vec<Value>,
    by: &[Value],
) -> Result<(Vec<Value>, Vec<Value>), SmpError> {
    let mut set = std::collections::HashSet::new();
    for v in by {
        set.insert(hash_key(Some(v)).map_err(unhashable_panic)?);
    }
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for v in items {
        let k = hash_key(Some(&v)).map_err(unhashable_panic)?;
        if set.contains(&k) {
            inside.push(v);
        } else {
            outside.push(v);
        }
    }
    Ok((inside, outside))
}

/// Splits maps into those whose merge key appears in `by` and the others.
pub(super) fn partition_maps(
    items: Vec<Value>,
    by: &[Value],
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), SmpError> {
    let finder = MapFinder::new(by, key);
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for v in items {
        let Value::Object(m) = &v else {
            return Err(err_expected_map(Some(&v)));
        };
        let Some(kv) = m.get(key) else {
            return Err(err_no_merge_key(m, key));
        };
        if finder.find(Some(kv))?.is_some() {
            inside.push(v);
        } else {
            outside.push(v);
        }
    }
    Ok((inside, outside))
}

/// Checks that every item of every list is a map holding the merge key.
pub(super) fn validate_merge_key_in_lists(key: &str, lists: &[&[Value]]) -> Result<(), SmpError> {
    for list in lists {
        for item in *list {
            let Value::Object(m) = item else {
                return Err(err_expected_map(Some(item)));
            };
            if !m.contains_key(key) {
                return Err(err_no_merge_key(m, key));
            }
        }
    }
    Ok(())
}

/// Whether a list item is a map carrying `$patch: delete`.
fn is_delete_item(m: &serde_json::Map<String, Value>) -> bool {
    matches!(m.get(super::DIRECTIVE_MARKER), Some(Value::String(s)) if s == "delete")
}

/// Splits a list of maps into items to keep and `$patch: delete` items.
pub(super) fn extract_to_delete_items(
    items: Vec<Value>,
) -> Result<(Vec<Value>, Vec<Value>), SmpError> {
    let (mut keep, mut delete) = (Vec::new(), Vec::new());
    for v in items {
        let Value::Object(m) = &v else {
            return Err(err_expected_map(Some(&v)));
        };
        if is_delete_item(m) {
            delete.push(v);
        } else {
            keep.push(v);
        }
    }
    Ok((keep, delete))
}

/// Borrowing variant of [`extract_to_delete_items`] that keeps only the
/// items that are not deletions.
pub(super) fn non_delete_items(items: &[Value]) -> Result<Vec<&Value>, SmpError> {
    let mut keep = Vec::new();
    for v in items {
        let Value::Object(m) = v else {
            return Err(err_expected_map(Some(v)));
        };
        if !is_delete_item(m) {
            keep.push(v);
        }
    }
    Ok(keep)
}

/// Go's `normalizeSliceOrder`: sorts `to_sort` by the positions of its
/// items in `order` (stable; deletions moved to the end).
pub(super) fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    key: &str,
    maps: bool,
) -> Result<Vec<Value>, SmpError> {
    let (mut to_sort, to_delete) = if maps {
        validate_merge_key_in_lists(key, &[&to_sort, order])?;
        extract_to_delete_items(to_sort)?
    } else {
        (to_sort, Vec::new())
    };
    let idx = OrderIndex::new(order, key, maps);
    go_stable_sort(&mut to_sort, &mut |a, b| {
        if let Some(ia) = idx.position(a)?
            && let Some(ib) = idx.position(b)?
        {
            return Ok(ia < ib);
        }
        Ok(true)
    })?;
    to_sort.extend(to_delete);
    Ok(to_sort)
}

/// Go's `mergeSortedSlice`: interleaves server-only items (`left`) with
/// patch items (`right`), both already sorted. A left item goes first only
/// when both items are in `server_order` and it comes earlier there.
pub(super) fn merge_sorted_slice(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    key: &str,
    maps: bool,
) -> Result<Vec<Value>, SmpError> {
    let idx = OrderIndex::new(server_order, key, maps);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                let li = idx.position(l)?;
                let ri = idx.position(r)?;
                matches!((li, ri), (Some(li), Some(ri)) if li < ri)
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    Ok(out)
}

/// Go's `normalizeElementOrder`: orders the patch items by `patch_order`,
/// the server-only items by `server_order`, then interleaves them.
pub(super) fn normalize_element_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: &str,
    maps: bool,
) -> Result<Vec<Value>, SmpError> {
    let patch_items = normalize_slice_order(patch_items, patch_order, key, maps)?;
    let server_only = normalize_slice_order(server_only, server_order, key, maps)?;
    merge_sorted_slice(server_only, patch_items, server_order, key, maps)
}

/// Go's `sliceElementType`: the common Go type of the items of the lists.
/// Lists of lists, lists with a leading `null` and mixed lists fail.
pub(super) fn slice_element_type(lists: &[&[Value]]) -> Result<GoType, SmpError> {
    let mut prev: Option<GoType> = None;
    for list in lists {
        for v in *list {
            let t = go_type(v);
            match prev {
                None => {
                    if t == GoType::Nil {
                        // reflect.TypeOf(nil).Kind() dereferences a nil interface.
                        return Err(SmpError::Panic(
                            "runtime error: invalid memory address or nil pointer dereference"
                                .into(),
                        ));
                    }
                    if t == GoType::Slice {
                        return Err(SmpError::Unprocessable(
                            "lists of lists are not supported".into(),
                        ));
                    }
                    prev = Some(t);
                }
                Some(p) if p != t => {
                    let all: Vec<Value> = lists.iter().map(|l| Value::Array(l.to_vec())).collect();
                    return Err(SmpError::Internal(format!(
                        "list element types are not identical: {}",
                        super::go::fmt_v_list(&all)
                    )));
                }
                Some(_) => {}
            }
        }
    }
    prev.ok_or_else(|| SmpError::Internal("no elements in any of the given slices".into()))
}

/// Go's `sort.SliceStable` (insertion sort on blocks of 20 items, then
/// repeated SymMerge), with a "less" that may fail.
pub(super) fn go_stable_sort<T>(
    v: &mut [T],
    less: &mut dyn FnMut(&T, &T) -> Result<bool, SmpError>,
) -> Result<(), SmpError> {
    let n = v.len();
    let mut block = 20;
    let (mut a, mut b) = (0, block);
    while b <= n {
        insertion_sort(v, a, b, less)?;
        a = b;
        b += block;
    }
    insertion_sort(v, a, n, less)?;
    while block < n {
        let (mut a, mut b) = (0, 2 * block);
        while b <= n {
            sym_merge(v, a, a + block, b, less)?;
            a = b;
            b += 2 * block;
        }
        let m = a + block;
        if m < n {
            sym_merge(v, a, m, n, less)?;
        }
        block *= 2;
    }
    Ok(())
}

fn insertion_sort<T>(
    v: &mut [T],
    a: usize,
    b: usize,
    less: &mut dyn FnMut(&T, &T) -> Result<bool, SmpError>,
) -> Result<(), SmpError> {
    for i in a + 1..b {
        let mut j = i;
        while j > a && less(&v[j], &v[j - 1])? {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
    Ok(())
}

/// Merges the sorted runs `v[a..m]` and `v[m..b]` in place (Kim and
/// Kutzner's SymMerge, as Go implements it).
fn sym_merge<T>(
    v: &mut [T],
    a: usize,
    m: usize,
    b: usize,
    less: &mut dyn FnMut(&T, &T) -> Result<bool, SmpError>,
) -> Result<(), SmpError> {
    if m - a == 1 {
        // Binary search for where v[a] goes in v[m..b], then rotate it there.
        let (mut i, mut j) = (m, b);
        while i < j {
            let h = (i + j) / 2;
            if less(&v[h], &v[a])? {
                i = h + 1;
            } else {
                j = h;
            }
        }
        v[a..i].rotate_left(1);
        return Ok(());
    }
    if b - m == 1 {
        let (mut i, mut j) = (a, m);
        while i < j {
            let h = (i + j) / 2;
            if !less(&v[m], &v[h])? {
                i = h + 1;
            } else {
                j = h;
            }
        }
        v[i..=m].rotate_right(1);
        return Ok(());
    }
    let mid = (a + b) / 2;
    let n = mid + m;
    let (mut start, mut r) = if m > mid { (n - b, mid) } else { (a, m) };
    let p = n - 1;
    while start < r {
        let c = (start + r) / 2;
        if !less(&v[p - c], &v[c])? {
            start = c + 1;
        } else {
            r = c;
        }
    }
    let end = n - start;
    if start < m && m < end {
        v[start..end].rotate_left(m - start);
    }
    if a < start && start < mid {
        sym_merge(v, a, start, mid, less)?;
    }
    if mid < end && end < b {
        sym_merge(v, mid, end, b, less)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn dedupe_moves_the_last_item_into_holes_like_go() {
        let out = dedupe_scalars(vec![json!("a"), json!("b"), json!("a"), json!("c")]).unwrap();
        assert_eq!(out, vec![json!("a"), json!("b"), json!("c")]);
        let out = dedupe_scalars(vec![
            json!(1),
            json!(2),
            json!(1),
            json!(3),
            json!(4),
            json!(2),
        ])
        .unwrap();
        // i=0 finds 1 at j=2 and moves the trailing 2 there; i=1 then finds it.
        assert_eq!(out, vec![json!(1), json!(2), json!(4), json!(3)]);
        let out = dedupe_scalars(vec![json!("x"), json!("x"), json!("x")]).unwrap();
        assert_eq!(out, vec![json!("x")]);
    }

    #[test]
    fn element_type_errors_match_upstream() {
        assert_eq!(
            slice_element_type(&[&[json!([1])]]),
            Err(SmpError::Unprocessable(
                "lists of lists are not supported".into()
            ))
        );
        assert_eq!(
            slice_element_type(&[&[json!("a")], &[json!(1)]]),
            Err(SmpError::Internal(
                "list element types are not identical: [[a] [1]]".into()
            ))
        );
        assert_eq!(
            slice_element_type(&[&[], &[]]),
            Err(SmpError::Internal(
                "no elements in any of the given slices".into()
            ))
        );
        assert!(matches!(
            slice_element_type(&[&[Value::Null]]),
            Err(SmpError::Panic(_))
        ));
        assert_eq!(slice_element_type(&[&[], &[json!({})]]), Ok(GoType::Map));
    }

    /// Reference insertion-based stable sort for consistent comparators.
    fn reference_sort(v: &mut [u8]) {
        v.sort();
    }

    proptest! {
        #[test]
        fn go_stable_sort_sorts_with_consistent_less(mut v in proptest::collection::vec(0u8..20, 0..120)) {
            let mut expected = v.clone();
            reference_sort(&mut expected);
            go_stable_sort(&mut v, &mut |a, b| Ok(a < b)).unwrap();
            prop_assert_eq!(v, expected);
        }

        #[test]
        fn go_stable_sort_is_stable(v in proptest::collection::vec((0u8..5, 0u16..1000), 0..100)) {
            let mut sorted = v.clone();
            go_stable_sort(&mut sorted, &mut |a, b| Ok(a.0 < b.0)).unwrap();
            let mut expected = v.clone();
            expected.sort_by_key(|x| x.0);
            prop_assert_eq!(sorted, expected);
        }

        #[test]
        fn go_stable_sort_never_panics_on_inconsistent_less(mut v in proptest::collection::vec(0u8..10, 0..90), seed in 0u64..1000) {
            let mut state = seed;
            go_stable_sort(&mut v, &mut |_, _| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                Ok(state >> 63 == 1)
            }).unwrap();
        }

        #[test]
        fn map_finder_agrees_with_linear_scan(
            items in proptest::collection::vec(prop_oneof![
                Just(json!({"k": "a"})), Just(json!({"k": "b"})), Just(json!({"k": 1})),
                Just(json!({"k": 1.0})), Just(json!({"k": null})), Just(json!({"x": 1})),
                Just(json!({"k": {"m": 1}})), Just(json!({"k": [1]})), Just(json!("str")),
            ], 0..8),
            probe in prop_oneof![
                Just(json!("a")), Just(json!(1)), Just(json!(1.0)), Just(Value::Null),
                Just(json!({"m": 1})), Just(json!([1])), Just(json!("zz")),
            ],
        ) {
            let finder = MapFinder::new(&items, "k");
            let fast = finder.find(Some(&probe));
            let slow = find_map_linear(&items, "k", Some(&probe));
            prop_assert_eq!(fast, slow);
        }
    }
}
