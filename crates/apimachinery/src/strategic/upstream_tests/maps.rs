//! Upstream cases about maps and directives on them: null deletion,
//! `$patch`, `$retainKeys`, `$deleteFromPrimitiveList`, the `replace`
//! strategy and fields unknown to the schema.

use serde_json::json;

use super::*;

#[test]
fn custom_cases() {
    check(
        "unique scalars when merging lists",
        json!({"mergingIntList": [1, 2]}),
        json!({"mergingIntList": [2, 3]}),
        json!({"mergingIntList": [1, 2, 3]}),
    );
    check(
        "delete map from nested map",
        json!({"simpleMap": {"key1": 1, "key2": 1}}),
        json!({"simpleMap": {"$patch": "delete"}}),
        json!({"simpleMap": {}}),
    );
    check(
        "delete all items from merging list",
        json!({"mergingList": names(&[1, 2])}),
        json!({"mergingList": [{"$patch": "replace"}]}),
        json!({"mergingList": []}),
    );
    check(
        "merge empty merging lists",
        json!({"mergingList": []}),
        json!({"mergingList": []}),
        json!({"mergingList": []}),
    );
    check(
        "delete all keys from map",
        json!({"name": 1, "value": 1}),
        json!({"$patch": "replace"}),
        json!({}),
    );
    check(
        "add key and delete all keys from map",
        json!({"name": 1, "value": 1}),
        json!({"other": "a", "$patch": "replace"}),
        json!({"other": "a"}),
    );
    check(
        "delete all duplicate entries in a merging list",
        json!({"mergingList": [{"name": 1}, {"name": 1}, {"name": 2, "value": "a"}, {"name": 3}, {"name": 3}]}),
        json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 3, "$patch": "delete"}]}),
        json!({"mergingList": [{"name": 2, "value": "a"}]}),
    );
    check(
        "retainKeys map can add a field when no retainKeys directive present",
        json!({"retainKeysMap": {"name": "foo"}}),
        json!({"retainKeysMap": {"value": "bar"}}),
        json!({"retainKeysMap": {"name": "foo", "value": "bar"}}),
    );
    check(
        "retainKeys map can change a field when no retainKeys directive present",
        json!({"retainKeysMap": {"name": "foo", "value": "a"}}),
        json!({"retainKeysMap": {"value": "b"}}),
        json!({"retainKeysMap": {"name": "foo", "value": "b"}}),
    );
    check(
        "retainKeys map can delete a field when no retainKeys directive present",
        json!({"retainKeysMap": {"name": "foo", "value": "a"}}),
        json!({"retainKeysMap": {"value": null}}),
        json!({"retainKeysMap": {"name": "foo"}}),
    );
    check(
        "retainKeys map merge an empty map",
        json!({"retainKeysMap": {"name": "foo", "value": "a"}}),
        json!({"retainKeysMap": {}}),
        json!({"retainKeysMap": {"name": "foo", "value": "a"}}),
    );
    check(
        "retainKeys list can add a field when no retainKeys directive present",
        json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}]}),
        json!({"retainKeysMergingList": [{"name": "foo", "value": "a"}]}),
        json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]}),
    );
    check(
        "retainKeys list can delete a field when no retainKeys directive present",
        json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]}),
        json!({"retainKeysMergingList": [{"name": "foo", "value": null}]}),
        json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}]}),
    );
    check(
        "preserve the order from the patch in a merging list",
        json!({"mergingList": [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}]}),
        json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}, {"name": 2, "other": "x"}]}),
        json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}, {"name": 2, "value": "b", "other": "x"}]}),
    );
    check(
        "preserve the order from the patch in a merging list 2",
        json!({"mergingList": [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}]}),
        json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}]}),
        json!({"mergingList": [{"name": 2, "value": "b"}, {"name": 3, "value": "c"}, {"name": 1, "value": "a"}]}),
    );
    check(
        "preserve the order from the patch in a merging int list",
        json!({"mergingIntList": [1, 2, 3]}),
        json!({"mergingIntList": [3, 1, 2]}),
        json!({"mergingIntList": [3, 1, 2]}),
    );
    check(
        "preserve the order from the patch in a merging int list 2",
        json!({"mergingIntList": [1, 2, 3]}),
        json!({"mergingIntList": [3, 1]}),
        json!({"mergingIntList": [2, 3, 1]}),
    );
}

#[test]
fn custom_raw_cases() {
    check(
        "$setElementOrder contains item that is not present in the list to be merged",
        json!({"mergingList": names(&[1, 3])}),
        json!({"$setElementOrder/mergingList": names(&[3, 2, 1]),
               "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
        json!({"mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
    );
    check(
        "$setElementOrder contains item that is not present in the int list to be merged",
        json!({"mergingIntList": [1, 3]}),
        json!({"$setElementOrder/mergingIntList": [3, 2, 1]}),
        json!({"mergingIntList": [3, 1]}),
    );
    check_err(
        "should check if order in $setElementOrder and patch list match",
        json!({"mergingList": names(&[1, 3, 2])}),
        json!({"$setElementOrder/mergingList": names(&[1, 2, 3]),
               "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
        SmpError::Internal(
            "the order in patch list:\n[map[name:3 value:3] map[name:1 value:1]]\n doesn't match $setElementOrder list:\n[map[name:1] map[name:2] map[name:3]]".into(),
        ),
    );
    check_err_contains(
        "should check if order in $setElementOrder and patch int list match",
        json!({"mergingIntList": [1, 3, 2]}),
        json!({"$setElementOrder/mergingIntList": [1, 2, 3], "mergingIntList": [3, 1]}),
        "doesn't match",
    );
    check_err(
        "missing merge key should error out",
        json!({"mergingList": [{"name": 1, "value": "a"}]}),
        json!({"mergingList": [{"value": "b"}]}),
        SmpError::Internal("map: map[value:b] does not contain declared merge key: name".into()),
    );
    check(
        "$deleteFromPrimitiveList of nonexistent item in primitive list should not add the item to the list",
        json!({"mergingIntList": [1, 2]}),
        json!({"$deleteFromPrimitiveList/mergingIntList": [3]}),
        json!({"mergingIntList": [1, 2]}),
    );
    check(
        "$deleteFromPrimitiveList on empty primitive list should not add the item to the list",
        json!({"mergingIntList": null}),
        json!({"$deleteFromPrimitiveList/mergingIntList": [3]}),
        json!({"mergingIntList": null}),
    );
    check(
        "$deleteFromPrimitiveList on nonexistent primitive list should not add the primitive list",
        json!({"foo": ["bar"]}),
        json!({"$deleteFromPrimitiveList/mergingIntList": [3]}),
        json!({"foo": ["bar"]}),
    );
    check(
        "$deleteFromPrimitiveList should delete item from a list with merge patch strategy",
        json!({"mergingIntList": [1, 2, 3]}),
        json!({"$deleteFromPrimitiveList/mergingIntList": [2]}),
        json!({"mergingIntList": [1, 3]}),
    );
    check(
        "$deleteFromPrimitiveList should delete item from a list without merge patch strategy",
        json!({"nonMergingIntList": [1, 2, 3]}),
        json!({"$deleteFromPrimitiveList/nonMergingIntList": [2]}),
        json!({"nonMergingIntList": [1, 3]}),
    );
}

#[test]
fn create_patch_cases_applied() {
    check(
        "nil original",
        json!({}),
        json!({"name": 1, "value": 1}),
        json!({"name": 1, "value": 1}),
    );
    check(
        "nil original, three-way",
        json!({"name": 1, "other": "a"}),
        json!({"value": 1}),
        json!({"name": 1, "value": 1, "other": "a"}),
    );
    check(
        "add field and delete field from map",
        json!({"name": 1, "other": "a"}),
        json!({"name": null, "value": 1}),
        json!({"value": 1, "other": "a"}),
    );
    check(
        "delete field from nested map",
        json!({"simpleMap": {"key1": 1, "key2": 1, "other": "a"}}),
        json!({"simpleMap": {"key2": null}}),
        json!({"simpleMap": {"key1": 1, "other": "a"}}),
    );
    check(
        "delete all fields from map",
        json!({"name": 1, "value": 1, "other": "a"}),
        json!({"name": null, "value": null}),
        json!({"other": "a"}),
    );
    check(
        "replace list of scalars",
        json!({"nonMergingIntList": [1, 4]}),
        json!({"nonMergingIntList": [2, 3]}),
        json!({"nonMergingIntList": [2, 3]}),
    );
    check(
        "delete all maps from merging list with conflict",
        json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "other": "b"}]}),
        json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 2, "$patch": "delete"}]}),
        json!({"mergingList": []}),
    );
    check(
        "delete all maps from empty merging list",
        json!({"mergingList": []}),
        json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 2, "$patch": "delete"}]}),
        json!({"mergingList": []}),
    );
    check(
        "defined null values should propagate overwrite current fields",
        json!({"name": "a", "other": "a"}),
        json!({"name": 1, "value": 1, "other": null}),
        json!({"name": 1, "value": 1}),
    );
    check(
        "defined null values should propagate removing original fields",
        json!({"name": "original-name", "value": "original-value", "other": "current-other"}),
        json!({"name": "modified-name", "value": null}),
        json!({"name": "modified-name", "other": "current-other"}),
    );
}

#[test]
fn retain_keys() {
    check(
        "retainKeys map should clear defaulted field",
        json!({"retainKeysMap": {"value": "foo"}}),
        json!({"retainKeysMap": {"$retainKeys": ["other"], "other": "bar"}}),
        json!({"retainKeysMap": {"other": "bar"}}),
    );
    check(
        "retainKeys map should clear defaulted field with conflict (discriminated union)",
        json!({"retainKeysMap": {"name": "type1", "value": "foo"}}),
        json!({"retainKeysMap": {"$retainKeys": ["name", "other"], "name": "type2", "other": "bar"}}),
        json!({"retainKeysMap": {"name": "type2", "other": "bar"}}),
    );
    check(
        "retainKeys map adds a field and clear a field",
        json!({"retainKeysMap": {"name": "foo", "other": "a"}}),
        json!({"retainKeysMap": {"$retainKeys": ["name", "value"], "value": "bar"}}),
        json!({"retainKeysMap": {"name": "foo", "value": "bar"}}),
    );
    check(
        "retainKeys map deletes a field and clears a field",
        json!({"retainKeysMap": {"name": "foo", "value": "bar", "other": "a"}}),
        json!({"retainKeysMap": {"$retainKeys": ["name"], "value": null}}),
        json!({"retainKeysMap": {"name": "foo"}}),
    );
    check(
        "retainKeys map adds a field in a nested map",
        json!({"retainKeysMap": {"name": "foo", "value": "bar", "simpleMap": {"key1": "a", "key3": "c"}}}),
        json!({"retainKeysMap": {"$retainKeys": ["name", "simpleMap", "value"], "simpleMap": {"key2": "b"}}}),
        json!({"retainKeysMap": {"name": "foo", "value": "bar", "simpleMap": {"key1": "a", "key2": "b", "key3": "c"}}}),
    );
    check(
        "retainKeys map replaces non-merging list",
        json!({"retainKeysMap": {"name": "foo", "value": "bar", "nonMergingList": [{"name": "a"}, {"name": "b"}]}}),
        json!({"retainKeysMap": {"$retainKeys": ["name", "nonMergingList", "value"],
                                 "nonMergingList": [{"name": "a"}, {"name": "c"}, {"name": "b"}]}}),
        json!({"retainKeysMap": {"name": "foo", "value": "bar",
                                 "nonMergingList": [{"name": "a"}, {"name": "c"}, {"name": "b"}]}}),
    );
    check(
        "retainKeys map nested merging int list with no change",
        json!({"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2, 3]}}),
        json!({"retainKeysMap": {"$retainKeys": ["mergingIntList", "name", "value"],
                                 "$setElementOrder/mergingIntList": [1, 2], "value": "bar"}}),
        json!({"retainKeysMap": {"name": "foo", "value": "bar", "mergingIntList": [1, 2, 3]}}),
    );
    check(
        "retainKeys map adds an item in nested merging int list",
        json!({"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2, 3]}}),
        json!({"retainKeysMap": {"$setElementOrder/mergingIntList": [1, 2, 4],
                                 "$retainKeys": ["mergingIntList", "name"], "mergingIntList": [4]}}),
        json!({"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2, 4, 3]}}),
    );
    check(
        "retainKeys map deletes an item in nested merging int list",
        json!({"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2, 3, 4]}}),
        json!({"retainKeysMap": {"$retainKeys": ["mergingIntList", "name"],
                                 "$deleteFromPrimitiveList/mergingIntList": [2],
                                 "$setElementOrder/mergingIntList": [1, 3]}}),
        json!({"retainKeysMap": {"name": "foo", "mergingIntList": [1, 3, 4]}}),
    );
    check(
        "retainKeys map adds an item and deletes an item in nested merging int list",
        json!({"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2, 3, 4]}}),
        json!({"retainKeysMap": {"$retainKeys": ["mergingIntList", "name"], "mergingIntList": [5],
                                 "$deleteFromPrimitiveList/mergingIntList": [2],
                                 "$setElementOrder/mergingIntList": [1, 3, 5]}}),
        json!({"retainKeysMap": {"name": "foo", "mergingIntList": [1, 3, 5, 4]}}),
    );
    check(
        "retainKeys map deletes nested merging int list",
        json!({"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2, 3]}}),
        json!({"retainKeysMap": {"$retainKeys": ["name"], "mergingIntList": null}}),
        json!({"retainKeysMap": {"name": "foo"}}),
    );
    check(
        "retainKeys map adds an item in nested merging list",
        json!({"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "b"}, {"name": "x"}]}}),
        json!({"retainKeysMap": {"$retainKeys": ["mergingList", "name"],
                                 "$setElementOrder/mergingList": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
                                 "mergingList": [{"name": "c"}]}}),
        json!({"retainKeysMap": {"name": "foo",
                                 "mergingList": [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "x"}]}}),
    );
    check(
        "retainKeys map deletes an item in nested merging list",
        json!({"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "b"}, {"name": "x"}]}}),
        json!({"retainKeysMap": {"$retainKeys": ["mergingList", "name"],
                                 "$setElementOrder/mergingList": [{"name": "a"}],
                                 "mergingList": [{"name": "b", "$patch": "delete"}]}}),
        json!({"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "x"}]}}),
    );
    check(
        "retainKeys list of maps clears a field",
        json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a", "other": "x"}]}),
        json!({"$setElementOrder/retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}],
               "retainKeysMergingList": [{"$retainKeys": ["name", "value"], "name": "foo"}]}),
        json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]}),
    );
    check(
        "retainKeys list of maps deletes a field and clear a field",
        json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a", "other": "x"}]}),
        json!({"$setElementOrder/retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}],
               "retainKeysMergingList": [{"$retainKeys": ["name"], "name": "foo", "value": null}]}),
        json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}]}),
    );
}

#[test]
fn replace_strategy_and_unknown_fields() {
    check(
        "replace RawExtension field, rest unchanged",
        json!({"name": "my-object", "value": "some-value", "other": "current-other",
               "replacingItem": {"Some": "Generic", "Yaml": "Inside", "The": "RawExtension", "Field": "Period"}}),
        json!({"mergingList": names(&[1, 2, 3]),
               "replacingItem": {"Newly": "Modified", "Yaml": "Inside", "The": "RawExtension"}}),
        json!({"name": "my-object", "value": "some-value", "other": "current-other",
               "mergingList": names(&[1, 2, 3]),
               "replacingItem": {"Newly": "Modified", "Yaml": "Inside", "The": "RawExtension"}}),
    );
    check(
        "replace RawExtension field and merge list",
        json!({"name": "my-object", "mergingList": names(&[1, 3]),
               "replacingItem": {"Some": "Generic", "Field": "Period"}}),
        json!({"$setElementOrder/mergingList": names(&[1, 2]), "mergingList": names(&[2]),
               "replacingItem": {"Newly": "Modified"}}),
        json!({"name": "my-object", "mergingList": names(&[1, 2, 3]),
               "replacingItem": {"Newly": "Modified"}}),
    );
    check_err(
        "a field unknown to the schema cannot be merged",
        json!({"array": [1, 2, 3], "complex": {"nested": true}, "name": "foo"}),
        json!({"complex": {"nested": false}}),
        SmpError::Internal(
            "unable to find api field in struct MergeItem for the json field \"complex\"".into(),
        ),
    );
    check(
        "discard nulls in nested and adds not nulls",
        json!({"name": "foo"}),
        json!({"complex_nullable": {"key": {"keynotnull": "value", "keynull": null}}}),
        json!({"name": "foo", "complex_nullable": {"key": {"keynotnull": "value"}}}),
    );
    check(
        "discard if modified all nulls",
        json!({}),
        json!({"complex": {"nested": null}}),
        json!({"complex": {}}),
    );
    check(
        "null values in original are preserved",
        json!({"thing": null}),
        json!({"nested": {"value": 5}}),
        json!({"nested": {"value": 5}, "thing": null}),
    );
    check(
        "filter nulls from nested slices",
        json!({}),
        json!({"complex_nullable": [{"inner_one": {"key_one": "foo", "key_two": null}}]}),
        json!({"complex_nullable": [{"inner_one": {"key_one": "foo"}}]}),
    );
    check(
        "not filter nulls from non-associative slice",
        json!({}),
        json!({"complex_nullable": ["key1", null, "key2"]}),
        json!({"complex_nullable": ["key1", null, "key2"]}),
    );
    check(
        "add empty slices",
        json!({"name": "foo"}),
        json!({"complex_nullable": []}),
        json!({"name": "foo", "complex_nullable": []}),
    );
}
