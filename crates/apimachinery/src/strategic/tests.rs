//! Unit tests of the engine: every directive, error classes and messages,
//! upstream's quirks, the design document's examples on a small Pod-like
//! schema, and property tests (no input panics; with no schema and no
//! directives the result is an RFC 7386 merge patch's).

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{
    FieldMeta, ListStrategy, MAX_DEPTH, PatchMeta, SchemaId, Shape, SmpError, Untyped,
    apply_strategic_merge_patch, lookup_path,
};

/// A miniature Pod schema: `metadata` (finalizers merge as a set, labels
/// map), `spec.containers` merged by name (with `ports` by containerPort,
/// `env` by name, `args` atomic), `spec.volumes` merged by name,
/// `spec.tolerations` atomic, `spec.strategy` a retainKeys struct.
struct PodSchema;

const POD: u32 = 0;
const META: u32 = 1;
const SPEC: u32 = 2;
const CONTAINER: u32 = 3;
const CONTAINERS: u32 = 4;
const PORT: u32 = 5;
const PORTS: u32 = 6;
const STRINGS: u32 = 7;
const STRING: u32 = 8;
const STRING_MAP: u32 = 9;
const ENV: u32 = 10;
const ENVS: u32 = 11;
const VOLUME: u32 = 12;
const VOLUMES: u32 = 13;
const STRATEGY: u32 = 14;
const INT: u32 = 15;
const MAPS: u32 = 16;

fn f(schema: u32, strategy: ListStrategy<'static>) -> Option<FieldMeta<'static>> {
    Some(FieldMeta {
        schema: SchemaId(schema),
        strategy,
        retain_keys: false,
        replace: false,
    })
}

impl PatchMeta for PodSchema {
    fn root(&self) -> SchemaId {
        SchemaId(POD)
    }
    fn shape(&self, schema: SchemaId) -> Shape<'_> {
        let list = |items| Shape::List {
            items: SchemaId(items),
        };
        match schema.0 {
            POD => Shape::Struct { name: "Pod" },
            META => Shape::Struct { name: "ObjectMeta" },
            SPEC => Shape::Struct { name: "PodSpec" },
            CONTAINER => Shape::Struct { name: "Container" },
            CONTAINERS => list(CONTAINER),
            PORT => Shape::Struct {
                name: "ContainerPort",
            },
            PORTS => list(PORT),
            STRINGS => list(STRING),
            STRING => Shape::Scalar { kind: "string" },
            STRING_MAP => Shape::Map {
                values: SchemaId(STRING),
            },
            ENV => Shape::Struct { name: "EnvVar" },
            ENVS => list(ENV),
            VOLUME => Shape::Struct { name: "Volume" },
            VOLUMES => list(VOLUME),
            STRATEGY => Shape::Struct {
                name: "DeploymentStrategy",
            },
            INT => Shape::Scalar { kind: "int32" },
            _ => list(STRING_MAP),
        }
    }
    fn field(&self, schema: SchemaId, name: &str) -> Option<FieldMeta<'_>> {
        use ListStrategy::*;
        match (schema.0, name) {
            (POD, "apiVersion" | "kind") => f(STRING, Replace),
            (POD, "metadata") => f(META, Replace),
            (POD, "spec") => f(SPEC, Replace),
            (META, "name" | "namespace") => f(STRING, Replace),
            (META, "labels" | "annotations") => f(STRING_MAP, Replace),
            (META, "finalizers") => f(STRINGS, MergePrimitives),
            (SPEC, "containers") => f(CONTAINERS, Merge { key: "name" }),
            (SPEC, "volumes") => Some(FieldMeta {
                retain_keys: true,
                ..f(VOLUMES, Merge { key: "name" })?
            }),
            (SPEC, "tolerations") => f(MAPS, Replace),
            (SPEC, "nodeName") => f(STRING, Replace),
            (SPEC, "strategy") => Some(FieldMeta {
                retain_keys: true,
                ..f(STRATEGY, Replace)?
            }),
            (CONTAINER, "name" | "image") => f(STRING, Replace),
            (CONTAINER, "args") => f(STRINGS, Replace),
            (CONTAINER, "ports") => f(
                PORTS,
                Merge {
                    key: "containerPort",
                },
            ),
            (CONTAINER, "env") => f(ENVS, Merge { key: "name" }),
            (PORT, "containerPort") => f(INT, Replace),
            (PORT, "protocol" | "name") => f(STRING, Replace),
            (ENV, "name" | "value") => f(STRING, Replace),
            (VOLUME, "name") => f(STRING, Replace),
            (VOLUME, "emptyDir" | "configMap" | "secret") => f(STRING_MAP, Replace),
            (STRATEGY, "type") => f(STRING, Replace),
            (STRATEGY, "rollingUpdate") => f(STRING_MAP, Replace),
            _ => None,
        }
    }
}

#[track_caller]
fn apply(original: Value, patch: Value) -> Value {
    apply_strategic_merge_patch(&original, &patch, &PodSchema)
        .unwrap_or_else(|e| panic!("unexpected error: {e:?}"))
}

#[track_caller]
fn apply_err(original: Value, patch: Value) -> SmpError {
    match apply_strategic_merge_patch(&original, &patch, &PodSchema) {
        Err(e) => e,
        Ok(v) => panic!("expected an error, got {v}"),
    }
}

fn pod(containers: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}})
}

// --- Maps -------------------------------------------------------------

#[test]
fn maps_merge_recursively_and_null_deletes() {
    let got = apply(
        json!({"metadata": {"labels": {"a": "1", "b": "2"}, "name": "p"}}),
        json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
    );
    assert_eq!(
        got,
        json!({"metadata": {"labels": {"b": "2", "c": "3"}, "name": "p"}})
    );
}

#[test]
fn null_for_a_missing_key_is_ignored() {
    let got = apply(
        json!({"metadata": {"name": "p"}}),
        json!({"metadata": {"labels": null}}),
    );
    assert_eq!(got, json!({"metadata": {"name": "p"}}));
}

#[test]
fn patch_directive_replace_on_a_map_replaces_it() {
    let got = apply(
        json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
        json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}}),
    );
    assert_eq!(got, json!({"metadata": {"labels": {"c": "3"}}}));
}

#[test]
fn patch_directive_delete_on_a_map_empties_it() {
    let got = apply(
        json!({"metadata": {"labels": {"a": "1"}, "name": "p"}}),
        json!({"metadata": {"labels": {"$patch": "delete"}}}),
    );
    assert_eq!(got, json!({"metadata": {"labels": {}, "name": "p"}}));
}

#[test]
fn patch_directive_on_the_root() {
    assert_eq!(
        apply(json!({"a": 1}), json!({"$patch": "delete"})),
        json!({})
    );
    assert_eq!(
        apply(json!({"a": 1}), json!({"$patch": "replace", "kind": "Pod"})),
        json!({"kind": "Pod"})
    );
}

#[test]
fn unknown_or_merge_patch_directive_on_a_map_is_an_error() {
    assert_eq!(
        apply_err(
            json!({"metadata": {}}),
            json!({"metadata": {"$patch": "merge", "name": "x"}})
        ),
        SmpError::Internal("unknown patch type: merge in map: map[$patch:merge name:x]".into())
    );
    // Directives only act on keys the original has: a new value that is a
    // `$patch` map is dropped whatever its directive.
    assert_eq!(
        apply(json!({}), json!({"metadata": {"$patch": "merge"}})),
        json!({})
    );
    assert_eq!(
        apply_err(json!({}), json!({"$patch": 5})),
        SmpError::Internal("unknown patch type: %!s(int64=5) in map: map[$patch:5]".into())
    );
}

#[test]
fn a_value_of_another_type_is_replaced_with_nulls_and_directives_removed() {
    let got = apply(
        json!({"spec": {"nodeName": "n1"}}),
        json!({"spec": {"nodeName": {"x": null, "y": {"$patch": "delete"}, "z": 1}}}),
    );
    assert_eq!(got, json!({"spec": {"nodeName": {"z": 1}}}));
    // int64 and float64 are different Go types: 1 is replaced by 1.0.
    let got = apply(json!({"n": 1}), json!({"n": 1.0}));
    assert_eq!(got["n"].as_f64(), Some(1.0));
    assert!(!got["n"].is_i64());
}

#[test]
fn new_values_drop_nulls_and_patch_maps_but_keep_other_directives() {
    // Upstream's removeDirectives only removes maps that carry `$patch`;
    // the typed decode that follows drops the other directive keys.
    let got = apply(
        json!({}),
        json!({"spec": {"containers": [
            {"name": "a", "image": null, "$setElementOrder/env": [{"name": "x"}]},
            {"name": "gone", "$patch": "delete"}
        ]}}),
    );
    assert_eq!(
        got,
        json!({"spec": {"containers": [{"name": "a", "$setElementOrder/env": [{"name": "x"}]}]}})
    );
    // `$patch: replace` for a key the original lacks drops the key.
    let got = apply(
        json!({"metadata": {}}),
        json!({"metadata": {"labels": {"$patch": "replace", "a": "1"}}}),
    );
    assert_eq!(got, json!({"metadata": {}}));
}

// --- Lists with a merge key -------------------------------------------

#[test]
fn merge_key_lists_merge_matching_items_and_add_new_ones() {
    // The design document's example: a new container joins the list. Without
    // $setElementOrder a patch item unknown to the live list goes first.
    let got = apply(
        pod(json!([{"name": "nginx", "image": "nginx-1.0"}])),
        json!({"spec": {"containers": [{"name": "log-tailer", "image": "log-tailer-1.0"}]}}),
    );
    assert_eq!(
        got,
        pod(
            json!([{"name": "log-tailer", "image": "log-tailer-1.0"}, {"name": "nginx", "image": "nginx-1.0"}])
        )
    );
    let got = apply(
        pod(json!([{"name": "a", "image": "a:1", "args": ["x"]}, {"name": "b", "image": "b:1"}])),
        json!({"spec": {"containers": [{"name": "b", "image": "b:2"}]}}),
    );
    assert_eq!(
        got,
        pod(json!([{"name": "a", "image": "a:1", "args": ["x"]}, {"name": "b", "image": "b:2"}]))
    );
}

#[test]
fn new_list_items_are_appended_raw() {
    // Matching items merge (nulls delete); appended items are taken as they
    // are, nulls included, like upstream.
    let got = apply(
        pod(json!([{"name": "a", "image": "a:1"}])),
        json!({"spec": {"containers": [{"name": "a", "image": null}, {"name": "b", "image": null}]}}),
    );
    assert_eq!(
        got,
        pod(json!([{"name": "a"}, {"name": "b", "image": null}]))
    );
}

#[test]
fn patch_delete_removes_every_item_with_the_key() {
    let got = apply(
        pod(json!([{"name": "a"}, {"name": "b"}, {"name": "a", "image": "dup"}])),
        json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}),
    );
    assert_eq!(got, pod(json!([{"name": "b"}])));
}

#[test]
fn patch_replace_in_a_list_replaces_the_list() {
    let got = apply(
        pod(json!([{"name": "a", "image": "a:1"}, {"name": "b"}])),
        json!({"spec": {"containers": [{"name": "c"}, {"$patch": "replace"}]}}),
    );
    assert_eq!(got, pod(json!([{"name": "c"}])));
}

#[test]
fn list_directive_errors() {
    let orig = pod(json!([{"name": "a"}]));
    assert_eq!(
        apply_err(
            orig.clone(),
            json!({"spec": {"containers": [{"$patch": "merge", "name": "a"}]}})
        ),
        SmpError::Internal("merging lists cannot yet be specified in the patch".into())
    );
    assert_eq!(
        apply_err(
            orig.clone(),
            json!({"spec": {"containers": [{"$patch": "drop", "name": "a"}]}})
        ),
        SmpError::Internal("unknown patch type: drop in map: map[$patch:drop name:a]".into())
    );
    assert_eq!(
        apply_err(
            orig.clone(),
            json!({"spec": {"containers": [{"$patch": "delete"}]}})
        ),
        SmpError::Internal(
            "map: map[$patch:delete] does not contain declared merge key: name".into()
        )
    );
    assert_eq!(
        apply_err(
            orig.clone(),
            json!({"spec": {"containers": [{"image": "x"}]}})
        ),
        SmpError::Internal("map: map[image:x] does not contain declared merge key: name".into())
    );
    assert_eq!(
        apply_err(orig.clone(), json!({"spec": {"containers": ["a"]}})),
        SmpError::Internal("list element types are not identical: [[map[name:a]] [a]]".into())
    );
    assert_eq!(
        apply_err(orig, json!({"spec": {"containers": [[1]]}})),
        SmpError::Internal("list element types are not identical: [[map[name:a]] [[1]]]".into())
    );
    assert_eq!(
        apply_err(pod(json!([])), json!({"spec": {"containers": [[1]]}})),
        SmpError::Unprocessable("lists of lists are not supported".into())
    );
    assert!(matches!(
        apply_err(pod(json!([])), json!({"spec": {"containers": [null]}})),
        SmpError::Panic(_)
    ));
    // Comparing two maps panics in Go.
    assert_eq!(
        apply_err(
            pod(json!([{"name": {"x": 1}}])),
            json!({"spec": {"containers": [{"name": {"x": 1}}]}})
        ),
        SmpError::Panic(
            "runtime error: comparing uncomparable type map[string]interface {}".into()
        )
    );
}

#[test]
fn merge_keys_compare_with_go_types() {
    // 80 (int64) and 80.0 (float64) are different merge keys.
    let orig = pod(json!([{"name": "a", "ports": [{"containerPort": 80}]}]));
    let got = apply(
        orig,
        json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80.0, "name": "f"}]}]}}),
    );
    let ports = &got["spec"]["containers"][0]["ports"];
    assert_eq!(ports.as_array().map(Vec::len), Some(2));
}

#[test]
fn lists_without_strategy_are_replaced() {
    let got = apply(
        json!({"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}}),
        json!({"spec": {"tolerations": [{"key": "c", "x": null}]}}),
    );
    // Replaced wholesale, raw (upstream keeps the null inside the list).
    assert_eq!(
        got,
        json!({"spec": {"tolerations": [{"key": "c", "x": null}]}})
    );
}

// --- Primitive lists --------------------------------------------------

#[test]
fn primitive_merge_lists_are_unions_with_new_values_first() {
    let meta = |f: Value| json!({"metadata": {"finalizers": f}});
    assert_eq!(
        apply(meta(json!(["a", "b"])), meta(json!(["c"]))),
        meta(json!(["c", "a", "b"]))
    );
    assert_eq!(
        apply(meta(json!(["a", "b"])), meta(json!(["b", "c"]))),
        meta(json!(["a", "b", "c"]))
    );
    assert_eq!(
        apply(
            meta(json!(["a", "b"])),
            json!({"metadata": {"$setElementOrder/finalizers": ["a", "b", "c"], "finalizers": ["c"]}})
        ),
        meta(json!(["a", "b", "c"]))
    );
}

#[test]
fn delete_from_primitive_list() {
    let meta = |f: Value| json!({"metadata": {"finalizers": f, "name": "p"}});
    assert_eq!(
        apply(
            meta(json!(["a", "b", "a", "c"])),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "zz"]}})
        ),
        meta(json!(["b", "c"]))
    );
    // A deletion list for a missing list adds nothing.
    assert_eq!(
        apply(
            json!({"metadata": {"name": "p"}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
        ),
        json!({"metadata": {"name": "p"}})
    );
    // Upstream maps a null deletion list to a deletion of the list itself.
    assert_eq!(
        apply(
            meta(json!(["a"])),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": null}})
        ),
        json!({"metadata": {"name": "p"}})
    );
    // Works on lists without a merge strategy too.
    assert_eq!(
        apply(
            pod(json!([{"name": "a", "args": ["x", "y"]}])),
            json!({"spec": {"containers": [{"name": "a", "$deleteFromPrimitiveList/args": ["x"]}]}})
        ),
        pod(json!([{"name": "a", "args": ["y"]}]))
    );
}

#[test]
fn malformed_parallel_list_keys_are_bad_requests() {
    assert_eq!(
        apply_err(
            json!({"metadata": {}}),
            json!({"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}})
        ),
        SmpError::BadRequest("invalid patch format of primitive list".into())
    );
    assert_eq!(
        apply_err(json!({}), json!({"$setElementOrderX/a": []})),
        SmpError::BadRequest("invalid patch format of setElementOrder list".into())
    );
    assert_eq!(
        apply_err(
            json!({"metadata": {}}),
            json!({"metadata": {"$setElementOrder/finalizers": "a"}})
        ),
        SmpError::Internal("expected a []interface {}, but received a string".into())
    );
}

// --- $setElementOrder ---------------------------------------------------

#[test]
fn set_element_order_reorders_and_keeps_server_only_items() {
    let orig = pod(json!([{"name": "a"}, {"name": "b"}, {"name": "sidecar"}, {"name": "c"}]));
    let got = apply(
        orig,
        json!({"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]}}),
    );
    // The ordered items follow the directive; `sidecar` (not in it) keeps
    // its place relative to them in the live list, so it stays before `c`.
    assert_eq!(
        got,
        pod(json!([{"name": "sidecar"}, {"name": "c"}, {"name": "a"}, {"name": "b"}]))
    );
}

#[test]
fn set_element_order_errors() {
    assert_eq!(
        apply_err(
            pod(json!([{"name": "a"}])),
            json!({"spec": {"$setElementOrder/nodeName": []}})
        ),
        SmpError::Internal("expected slice or array type, but got: struct".into())
    );
    assert_eq!(
        apply_err(
            json!({"spec": {}}),
            json!({"spec": {"$setElementOrder/bogus": []}})
        ),
        SmpError::Internal(
            "unable to find api field in struct PodSpec for the json field \"bogus\"".into()
        )
    );
    assert_eq!(
        apply_err(
            json!({"metadata": {"finalizers": []}}),
            json!({"metadata": {"$setElementOrder/finalizers": []}})
        ),
        SmpError::Internal("no elements in any of the given slices".into())
    );
    // Ordering an atomic list of maps hashes maps: a Go panic.
    assert!(matches!(
        apply_err(
            json!({"spec": {"tolerations": [{"key": "a"}]}}),
            json!({"spec": {"$setElementOrder/tolerations": [{"key": "a"}]}})
        ),
        SmpError::Panic(_)
    ));
}

// --- $retainKeys ----------------------------------------------------------

#[test]
fn retain_keys_clears_unlisted_fields() {
    let got = apply(
        json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}}}),
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
    );
    assert_eq!(got, json!({"spec": {"strategy": {"type": "Recreate"}}}));
}

#[test]
fn retain_keys_errors() {
    assert_eq!(
        apply_err(
            json!({"spec": {"strategy": {"type": "Recreate"}}}),
            json!({"spec": {"strategy": {"$retainKeys": "type"}}})
        ),
        SmpError::BadRequest("invalid patch format of retainKeys".into())
    );
    assert_eq!(
        apply_err(
            json!({"spec": {"strategy": {"type": "Recreate"}}}),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}})
        ),
        SmpError::BadRequest("invalid patch format of retainKeys".into())
    );
    assert!(matches!(
        apply_err(json!({}), json!({"$retainKeys": [{}]})),
        SmpError::Panic(_)
    ));
}

// --- Documents and schema -----------------------------------------------

#[test]
fn top_level_inputs() {
    let orig = json!({"a": 1});
    assert_eq!(
        apply_strategic_merge_patch(&orig, &Value::Null, &PodSchema),
        Ok(orig.clone())
    );
    assert_eq!(
        apply_strategic_merge_patch(&orig, &json!([1]), &PodSchema),
        Err(SmpError::BadRequest(
            "json: cannot unmarshal array into Go value of type map[string]interface {}".into()
        ))
    );
    assert_eq!(
        apply_strategic_merge_patch(&Value::Null, &json!({"a": 1}), &PodSchema),
        Ok(json!({"a": 1}))
    );
    assert!(matches!(
        apply_strategic_merge_patch(&json!("x"), &json!({}), &PodSchema),
        Err(SmpError::Internal(_))
    ));
}

#[test]
fn fields_missing_from_the_schema_fail_only_when_merged() {
    // A new key needs no metadata; merging two maps does.
    assert_eq!(
        apply(json!({}), json!({"extra": {"a": 1}})),
        json!({"extra": {"a": 1}})
    );
    assert_eq!(
        apply_err(json!({"extra": {"a": 1}}), json!({"extra": {"b": 1}})),
        SmpError::Internal(
            "unable to find api field in struct Pod for the json field \"extra\"".into()
        )
    );
    assert_eq!(
        apply_err(
            json!({"spec": {"nodeName": {"a": {"x": 1}}}}),
            json!({"spec": {"nodeName": {"a": {"y": 1}}}})
        ),
        SmpError::Internal(
            "merging an object in json but data type is not map or struct, provided data type string"
                .into()
        )
    );
}

#[test]
fn untyped_meta_replaces_lists_and_merges_maps() {
    let got = apply_strategic_merge_patch(
        &json!({"a": {"x": 1, "l": [1, 2]}, "b": 1}),
        &json!({"a": {"y": 2, "l": [3]}}),
        &Untyped,
    )
    .unwrap();
    assert_eq!(got, json!({"a": {"x": 1, "y": 2, "l": [3]}, "b": 1}));
}

#[test]
fn lookup_path_walks_lists() {
    let f = lookup_path(&PodSchema, &["spec", "containers", "ports"]).unwrap();
    assert_eq!(
        f.strategy,
        ListStrategy::Merge {
            key: "containerPort"
        }
    );
    let f = lookup_path(&PodSchema, &["spec", "volumes"]).unwrap();
    assert!(f.retain_keys);
    assert_eq!(f.strategy, ListStrategy::Merge { key: "name" });
    let f = lookup_path(&PodSchema, &["metadata", "labels", "anything"]).unwrap();
    assert_eq!(f.strategy, ListStrategy::Replace);
    assert!(lookup_path(&PodSchema, &["spec", "bogus"]).is_none());
}

#[test]
fn deep_documents_merge_without_overflow_and_deeper_ones_are_refused() {
    fn nest(depth: usize, leaf: Value) -> Value {
        let mut v = leaf;
        for _ in 0..depth {
            v = json!({ "n": v });
        }
        v
    }
    let ok = apply_strategic_merge_patch(
        &nest(MAX_DEPTH - 1, json!({"a": 1})),
        &nest(MAX_DEPTH - 1, json!({"b": 2})),
        &Untyped,
    )
    .unwrap();
    assert_eq!(ok, nest(MAX_DEPTH - 1, json!({"a": 1, "b": 2})));
    assert!(matches!(
        apply_strategic_merge_patch(&json!({}), &nest(MAX_DEPTH + 1, json!(1)), &Untyped),
        Err(SmpError::BadRequest(_))
    ));
}

// --- Properties -----------------------------------------------------------

/// JSON values built from the keys and directives the engine reacts to.
fn arb_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("name"),
        Just("image"),
        Just("metadata"),
        Just("spec"),
        Just("containers"),
        Just("finalizers"),
        Just("labels"),
        Just("ports"),
        Just("containerPort"),
        Just("tolerations"),
        Just("strategy"),
        Just("$patch"),
        Just("$retainKeys"),
        Just("$setElementOrder/containers"),
        Just("$setElementOrder/finalizers"),
        Just("$setElementOrder/ports"),
        Just("$deleteFromPrimitiveList/finalizers"),
        Just("$deleteFromPrimitiveList/containers"),
        Just("$deleteFromPrimitiveList/"),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0i64..4).prop_map(|n| json!(n)),
        Just(json!(1.0)),
        prop_oneof![
            Just("a"),
            Just("b"),
            Just("delete"),
            Just("replace"),
            Just("merge"),
            Just("name")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(5, 48, 5, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((key.clone(), inner), 0..5).prop_map(|kvs| {
                Value::Object(kvs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

fn arb_object() -> impl Strategy<Value = Value> {
    arb_value().prop_map(|v| match v {
        Value::Object(_) => v,
        other => json!({ "spec": other }),
    })
}

/// Values without `$` keys, nulls only as map members, lists of scalars.
fn arb_plain_value() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        (0i64..4).prop_map(|n| json!(n)),
        prop_oneof![Just("a"), Just("b")].prop_map(|s| json!(s)),
    ];
    let leaf = prop_oneof![
        scalar.clone(),
        proptest::collection::vec(scalar, 0..3).prop_map(Value::Array)
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        proptest::collection::vec(
            (
                prop_oneof![Just("a"), Just("b"), Just("c")],
                prop_oneof![3 => inner, 1 => Just(Value::Null)],
            ),
            0..4,
        )
        .prop_map(|kvs| Value::Object(kvs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics(original in arb_object(), patch in arb_value()) {
        let _ = apply_strategic_merge_patch(&original, &patch, &PodSchema);
        let _ = apply_strategic_merge_patch(&original, &patch, &Untyped);
        let _ = apply_strategic_merge_patch(&patch, &original, &PodSchema);
    }

    #[test]
    fn without_schema_or_directives_it_is_a_json_merge_patch(
        original in arb_plain_value(),
        patch in arb_plain_value(),
    ) {
        let original = match original { Value::Object(_) => original, _ => json!({}) };
        let patch = match patch { Value::Object(_) => patch, _ => json!({}) };
        let smp = apply_strategic_merge_patch(&original, &patch, &Untyped).unwrap();
        let rfc = crate::patch::apply_merge_patch(&original, patch.to_string().as_bytes()).unwrap();
        prop_assert_eq!(smp, rfc);
    }

    #[test]
    fn applying_a_patch_is_deterministic(original in arb_object(), patch in arb_value()) {
        let a = apply_strategic_merge_patch(&original, &patch, &PodSchema);
        let b = apply_strategic_merge_patch(&original, &patch, &PodSchema);
        prop_assert_eq!(a, b);
    }
}
