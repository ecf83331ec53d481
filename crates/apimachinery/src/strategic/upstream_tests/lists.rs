//! Upstream cases about lists of maps and of scalars: merging by key,
//! deleting, and ordering with and without `$setElementOrder`.

use serde_json::{Value, json};

use super::*;

#[test]
fn merging_lists_of_maps() {
    check(
        "nested patch merge with empty list (two-way)",
        json!({"name": "hi"}),
        json!({"mergingList": [{"name": "hello"}, {"$patch": "delete", "name": "doesntexist"}]}),
        json!({"name": "hi", "mergingList": [{"name": "hello"}]}),
    );
    check(
        "nested patch merge with empty list (three-way)",
        json!({"name": "hi", "mergingList": [{"name": "hello2"}]}),
        json!({"$setElementOrder/mergingList": [{"name": "hello"}, {"name": "doesntexist"}],
               "mergingList": [{"name": "hello"}, {"$patch": "delete", "name": "doesntexist"}]}),
        json!({"name": "hi", "mergingList": [{"name": "hello"}, {"name": "hello2"}]}),
    );
    check(
        "merge lists of maps",
        json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
        json!({"$setElementOrder/mergingList": names(&[4, 1, 2, 3]),
               "mergingList": [{"name": 4, "value": 4}, {"name": 3, "value": 3}]}),
        json!({"mergingList": [{"name": 4, "value": 4}, {"name": 1, "other": "a"},
                               {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}]}),
    );
    check(
        "add field to map in merging list with conflict",
        json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 3, "value": 2, "other": "b"}]}),
        json!({"$setElementOrder/mergingList": names(&[1, 2]),
               "mergingList": [{"name": 1, "value": 1}, {"name": 2, "value": 2}]}),
        json!({"mergingList": [{"name": 1, "value": 1, "other": "a"}, {"name": 2, "value": 2},
                               {"name": 3, "value": 2, "other": "b"}]}),
    );
    check(
        "replace map field value in merging list",
        json!({"mergingList": [{"name": 1, "value": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
        json!({"$setElementOrder/mergingList": names(&[1, 2]), "mergingList": [{"name": 1, "value": "a"}]}),
        json!({"mergingList": [{"name": 1, "value": "a", "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
    );
    check(
        "delete map from merging list",
        json!({"mergingList": [{"name": 1}, {"name": 2, "other": "b"}]}),
        json!({"$setElementOrder/mergingList": names(&[2]), "mergingList": [{"name": 1, "$patch": "delete"}]}),
        json!({"mergingList": [{"name": 2, "other": "b"}]}),
    );
    check(
        "delete missing map from merging list with conflict",
        json!({"mergingList": [{"name": 3, "other": "a"}]}),
        json!({"$setElementOrder/mergingList": names(&[2]),
               "mergingList": [{"name": 2}, {"name": 1, "$patch": "delete"}]}),
        json!({"mergingList": [{"name": 2}, {"name": 3, "other": "a"}]}),
    );
    check(
        "add map and delete map from merging list",
        json!({"mergingList": [{"name": 1}, {"name": 2, "other": "b"}, {"name": 4, "other": "c"}]}),
        json!({"$setElementOrder/mergingList": names(&[2, 3]),
               "mergingList": [{"name": 3}, {"name": 1, "$patch": "delete"}]}),
        json!({"mergingList": [{"name": 2, "other": "b"}, {"name": 4, "other": "c"}, {"name": 3}]}),
    );
    check(
        "add map and delete map from merging list with conflict",
        json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 4, "other": "c"}]}),
        json!({"$setElementOrder/mergingList": names(&[2, 3]),
               "mergingList": [{"name": 2}, {"name": 3}, {"name": 1, "$patch": "delete"}]}),
        json!({"mergingList": [{"name": 4, "other": "c"}, {"name": 2}, {"name": 3}]}),
    );
    check(
        "delete field from map in merging list",
        json!({"mergingList": [{"name": 1, "value": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
        json!({"$setElementOrder/mergingList": names(&[1, 2]), "mergingList": [{"name": 1, "value": null}]}),
        json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
    );
    check(
        "replace non merging list nested in merging list",
        json!({"mergingList": [{"name": 1, "other": "a", "nonMergingList": [{"name": 1}, {"name": 2, "value": 2}]},
                               {"name": 2, "other": "b"}]}),
        json!({"$setElementOrder/mergingList": names(&[1, 2]),
               "mergingList": [{"name": 1, "nonMergingList": [{"name": 1, "value": 1}]}]}),
        json!({"mergingList": [{"name": 1, "other": "a", "nonMergingList": [{"name": 1, "value": 1}]},
                               {"name": 2, "other": "b"}]}),
    );
    check(
        "add field to map in merging list nested in merging list",
        json!({"mergingList": [{"name": 1, "other": "a", "mergingList": [{"name": 1}, {"name": 2, "value": 2}]},
                               {"name": 2, "other": "b"}]}),
        json!({"$setElementOrder/mergingList": names(&[1, 2]),
               "mergingList": [{"$setElementOrder/mergingList": names(&[1, 2]), "name": 1,
                                "mergingList": [{"name": 1, "value": 1}]}]}),
        json!({"mergingList": [{"name": 1, "other": "a", "mergingList": [{"name": 1, "value": 1}, {"name": 2, "value": 2}]},
                               {"name": 2, "other": "b"}]}),
    );
    check(
        "add field to map in merging list nested in merging list with deletion conflict",
        json!({"mergingList": [{"name": 1, "other": "a", "mergingList": [{"name": 2, "value": 2, "other": "d"}]},
                               {"name": 2, "other": "b"}]}),
        json!({"$setElementOrder/mergingList": names(&[1, 2]),
               "mergingList": [{"$setElementOrder/mergingList": names(&[2, 1]), "name": 1,
                                "mergingList": [{"name": 1, "value": 1}]}]}),
        json!({"mergingList": [{"name": 1, "other": "a",
                                "mergingList": [{"name": 2, "value": 2, "other": "d"}, {"name": 1, "value": 1}]},
                               {"name": 2, "other": "b"}]}),
    );
    check(
        "add map to merging list by pointer",
        json!({"mergeItemPtr": [{"name": 1, "other": "a"}, {"name": 3}]}),
        json!({"$setElementOrder/mergeItemPtr": names(&[1, 2]), "mergeItemPtr": names(&[2])}),
        json!({"mergeItemPtr": [{"name": 1, "other": "a"}, {"name": 2}, {"name": 3}]}),
    );
    check(
        "add map to merging list by pointer with conflict",
        json!({"mergeItemPtr": names(&[3])}),
        json!({"$setElementOrder/mergeItemPtr": names(&[1, 2]), "mergeItemPtr": names(&[1, 2])}),
        json!({"mergeItemPtr": names(&[1, 2, 3])}),
    );
    check(
        "delete and reorder in one list, reorder in another",
        json!({"mergingList": [{"name": "a", "value": "a"}, {"name": "b", "value": "b"}],
               "mergeItemPtr": [{"name": "c", "value": "c"}, {"name": "d", "value": "d"}]}),
        json!({"$setElementOrder/mergingList": [{"name": "b"}],
               "$setElementOrder/mergeItemPtr": [{"name": "d"}, {"name": "c"}],
               "mergingList": [{"$patch": "delete", "name": "a"}]}),
        json!({"mergingList": [{"name": "b", "value": "b"}],
               "mergeItemPtr": [{"name": "d", "value": "d"}, {"name": "c", "value": "c"}]}),
    );
}

#[test]
fn merging_lists_of_scalars() {
    check(
        "delete items in lists of scalars",
        json!({"mergingIntList": [1, 2, 3, 4]}),
        json!({"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]}),
        json!({"mergingIntList": [1, 2, 4]}),
    );
    check(
        "delete all duplicate items in lists of scalars",
        json!({"mergingIntList": [1, 2, 3, 3, 4]}),
        json!({"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]}),
        json!({"mergingIntList": [1, 2, 4]}),
    );
    check(
        "add and delete items in lists of scalars",
        json!({"mergingIntList": [1, 2, 3]}),
        json!({"$setElementOrder/mergingIntList": [1, 2, 4],
               "$deleteFromPrimitiveList/mergingIntList": [3], "mergingIntList": [4]}),
        json!({"mergingIntList": [1, 2, 4]}),
    );
    check(
        "merge lists of scalars",
        json!({"mergingIntList": [1, 2, 4]}),
        json!({"$setElementOrder/mergingIntList": [1, 2, 3], "mergingIntList": [3]}),
        json!({"mergingIntList": [1, 2, 3, 4]}),
    );
    check(
        "add an item in a list of primitives and preserve order",
        json!({"mergingIntList": [1, 4, 2]}),
        json!({"$setElementOrder/mergingIntList": [3, 1, 2], "mergingIntList": [3]}),
        json!({"mergingIntList": [3, 1, 4, 2]}),
    );
    check(
        "delete an item in a list of primitives and preserve order",
        json!({"mergingIntList": [1, 2, 3]}),
        json!({"$setElementOrder/mergingIntList": [2, 1], "$deleteFromPrimitiveList/mergingIntList": [3]}),
        json!({"mergingIntList": [2, 1]}),
    );
    check(
        "add multiple items in a int list and preserve order",
        json!({"mergingIntList": [1, 2]}),
        json!({"$setElementOrder/mergingIntList": [1, 4, 2, 3], "mergingIntList": [4, 3]}),
        json!({"mergingIntList": [1, 4, 2, 3]}),
    );
    check(
        "add and delete an item in a int list and preserve order",
        json!({"mergingIntList": [1, 2, 3]}),
        json!({"$setElementOrder/mergingIntList": [4, 2, 1], "mergingIntList": [4],
               "$deleteFromPrimitiveList/mergingIntList": [3]}),
        json!({"mergingIntList": [4, 2, 1]}),
    );
    for (current, expected) in [
        (json!([1, 3, 4, 2]), json!([4, 2, 3, 1])),
        (json!([1, 3, 4, 2, 9]), json!([4, 2, 3, 1, 9])),
    ] {
        check(
            "set elements order in a int list (with server-only items)",
            json!({"mergingIntList": current}),
            json!({"$setElementOrder/mergingIntList": [4, 2, 3, 1]}),
            json!({"mergingIntList": expected}),
        );
    }
    for (current, expected) in [
        (json!([1, 2, 9, 3, 4]), json!([2, 1, 9, 4, 3])),
        (json!([1, 2, 7, 9, 8, 3, 4]), json!([2, 1, 7, 9, 8, 4, 3])),
    ] {
        check(
            "set elements order in a int list with server-only items 2/3",
            json!({"mergingIntList": current}),
            json!({"$setElementOrder/mergingIntList": [2, 1, 4, 3]}),
            json!({"mergingIntList": expected}),
        );
    }
    check(
        "behavior of set element order for a merging int list with duplicate",
        json!({"mergingIntList": [1, 2, 3, 2, 4]}),
        json!({"$setElementOrder/mergingIntList": [2, 1, 4, 3, 2]}),
        json!({"mergingIntList": [2, 2, 1, 4, 3]}),
    );
}

#[test]
fn ordering_lists_of_maps() {
    let current = || json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}]});
    check(
        "add an item in a list and preserve order",
        json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
        json!({"$setElementOrder/mergingList": names(&[3, 1, 2]), "mergingList": [{"name": 3, "value": 3}]}),
        json!({"mergingList": [{"name": 3, "value": 3}, {"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
    );
    check(
        "add multiple items in a list and preserve order",
        json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
        json!({"$setElementOrder/mergingList": names(&[1, 4, 2, 3]),
               "mergingList": [{"name": 4, "value": 4}, {"name": 3, "value": 3}]}),
        json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 4, "value": 4},
                               {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}]}),
    );
    check(
        "delete an item in a list and preserve order",
        current(),
        json!({"$setElementOrder/mergingList": names(&[2, 1]), "mergingList": [{"name": 3, "$patch": "delete"}]}),
        json!({"mergingList": [{"name": 2, "value": 2, "other": "b"}, {"name": 1, "other": "a"}]}),
    );
    check(
        "change an item in a list and preserve order",
        current(),
        json!({"$setElementOrder/mergingList": names(&[2, 3, 1]), "mergingList": [{"name": 3, "value": "x"}]}),
        json!({"mergingList": [{"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": "x"}, {"name": 1, "other": "a"}]}),
    );
    check(
        "add and delete an item in a list and preserve order",
        current(),
        json!({"$setElementOrder/mergingList": names(&[4, 2, 1]),
               "mergingList": [{"name": 4, "value": 4}, {"name": 3, "$patch": "delete"}]}),
        json!({"mergingList": [{"name": 4, "value": 4}, {"name": 2, "value": 2, "other": "b"}, {"name": 1, "other": "a"}]}),
    );
    check(
        "set elements order in a list with server-only items",
        json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 3, "value": 3}, {"name": 4, "value": 4},
                               {"name": 2, "value": 2}, {"name": 9}]}),
        json!({"$setElementOrder/mergingList": names(&[4, 2, 3, 1])}),
        json!({"mergingList": [{"name": 4, "value": 4}, {"name": 2, "value": 2}, {"name": 3, "value": 3},
                               {"name": 1, "other": "a"}, {"name": 9}]}),
    );
    check(
        "set elements order in a list with server-only items 2",
        json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2}, {"name": 9},
                               {"name": 3, "value": 3}, {"name": 4, "value": 4}]}),
        json!({"$setElementOrder/mergingList": names(&[2, 1, 4, 3])}),
        json!({"mergingList": [{"name": 2, "value": 2}, {"name": 1, "other": "a"}, {"name": 9},
                               {"name": 4, "value": 4}, {"name": 3, "value": 3}]}),
    );
    check(
        "set elements order in a list with server-only items 3",
        json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2}, {"name": 7}, {"name": 9},
                               {"name": 8}, {"name": 3, "value": 3}, {"name": 4, "value": 4}]}),
        json!({"$setElementOrder/mergingList": names(&[2, 1, 4, 3])}),
        json!({"mergingList": [{"name": 2, "value": 2}, {"name": 1, "other": "a"}, {"name": 7}, {"name": 9},
                               {"name": 8}, {"name": 4, "value": 4}, {"name": 3, "value": 3}]}),
    );
    check(
        "behavior of set element order for a merging list with duplicate",
        json!({"mergingList": [{"name": 1}, {"name": 2, "value": "dup1"}, {"name": 3},
                               {"name": 2, "value": "dup2"}, {"name": 4}]}),
        json!({"$setElementOrder/mergingList": names(&[2, 1, 4, 3, 2])}),
        json!({"mergingList": [{"name": 2, "value": "dup1"}, {"name": 2, "value": "dup2"},
                               {"name": 1}, {"name": 4}, {"name": 3}]}),
    );
}

#[test]
fn deepest_recursion_through_merging_lists_fits_a_small_stack() {
    // Each level is a list item holding a merging list: the longest call
    // chain per JSON level the merge has. Run on a 1 MiB stack, half of
    // what a default thread gets.
    // Two JSON levels per step: an item map and the list holding it.
    fn nest(levels: usize, leaf: Value) -> Value {
        let mut v = leaf;
        for _ in 0..levels {
            v = json!({"name": 1, "mergingList": [v]});
        }
        v
    }
    let levels = crate::strategic::MAX_DEPTH / 2 - 1;
    let original = nest(levels, json!({"name": 1, "value": "a"}));
    let mut patch = nest(levels, json!({"name": 1, "other": "b"}));
    patch["$setElementOrder/mergingList"] = json!([{"name": 1}]);
    let handle = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || apply_strategic_merge_patch(&original, &patch, &MergeItemSchema).map(|_| ()))
        .unwrap();
    assert_eq!(handle.join().unwrap(), Ok(()));
}
