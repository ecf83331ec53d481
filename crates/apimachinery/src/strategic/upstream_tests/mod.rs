//! Cases mirroring upstream's own strategic-merge-patch tests: the same
//! schema shape (`MergeItem`: a merging list keyed by `name`, a merging
//! list of ints, non-merging lists, a map, a `retainKeys` map and list, a
//! `replace` field) and the same inputs and results, rewritten as JSON.
//! Each case applies a patch to a document and checks the exact result,
//! list order included.

mod lists;
mod maps;

use serde_json::{Value, json};

use super::{
    FieldMeta, ListStrategy, PatchMeta, SchemaId, Shape, SmpError, apply_strategic_merge_patch,
};

const MERGE_ITEM: u32 = 0;
const RETAIN_ITEM: u32 = 1;
const ITEM_LIST: u32 = 2;
const INT_LIST: u32 = 3;
const INT: u32 = 4;
const STRING: u32 = 5;
const STRING_MAP: u32 = 6;
const RAW: u32 = 7;

/// The test schema: `MergeItem` and `RetainKeysMergeItem`.
pub(super) struct MergeItemSchema;

fn field(schema: u32, strategy: ListStrategy<'static>) -> FieldMeta<'static> {
    FieldMeta {
        schema: SchemaId(schema),
        strategy,
        retain_keys: false,
        replace: false,
    }
}

impl PatchMeta for MergeItemSchema {
    fn root(&self) -> SchemaId {
        SchemaId(MERGE_ITEM)
    }

    fn shape(&self, schema: SchemaId) -> Shape<'_> {
        match schema.0 {
            MERGE_ITEM => Shape::Struct { name: "MergeItem" },
            RETAIN_ITEM => Shape::Struct {
                name: "RetainKeysMergeItem",
            },
            ITEM_LIST => Shape::List {
                items: SchemaId(MERGE_ITEM),
            },
            INT_LIST => Shape::List {
                items: SchemaId(INT),
            },
            INT => Shape::Scalar { kind: "int" },
            STRING => Shape::Scalar { kind: "string" },
            STRING_MAP => Shape::Map {
                values: SchemaId(STRING),
            },
            _ => Shape::Struct {
                name: "RawExtension",
            },
        }
    }

    fn field(&self, schema: SchemaId, name: &str) -> Option<FieldMeta<'_>> {
        use ListStrategy::*;
        let by_name = Merge { key: "name" };
        let f = match (schema.0, name) {
            (MERGE_ITEM | RETAIN_ITEM, "name" | "value" | "other") => field(STRING, Replace),
            (MERGE_ITEM | RETAIN_ITEM, "mergingList") => field(ITEM_LIST, by_name),
            (MERGE_ITEM | RETAIN_ITEM, "nonMergingList") => field(ITEM_LIST, Replace),
            (MERGE_ITEM | RETAIN_ITEM, "mergingIntList") => field(INT_LIST, MergePrimitives),
            (MERGE_ITEM | RETAIN_ITEM, "simpleMap") => field(STRING_MAP, Replace),
            (MERGE_ITEM, "nonMergingIntList") => field(INT_LIST, Replace),
            (MERGE_ITEM, "mergeItemPtr") => field(ITEM_LIST, by_name),
            (MERGE_ITEM, "replacingItem") => FieldMeta {
                replace: true,
                ..field(RAW, Replace)
            },
            (MERGE_ITEM, "retainKeysMap") => FieldMeta {
                retain_keys: true,
                ..field(RETAIN_ITEM, Replace)
            },
            (MERGE_ITEM, "retainKeysMergingList") => FieldMeta {
                retain_keys: true,
                ..field(ITEM_LIST, by_name)
            },
            _ => return None,
        };
        Some(f)
    }
}

#[track_caller]
pub(super) fn check(description: &str, original: Value, patch: Value, expected: Value) {
    let got = apply_strategic_merge_patch(&original, &patch, &MergeItemSchema)
        .unwrap_or_else(|e| panic!("{description}: unexpected error {e}"));
    assert_eq!(got, expected, "{description}");
    // Key order of maps is not significant, list order is: compare the
    // serialized lists too.
    assert_eq!(
        serde_json::to_string(&sorted(&got)).unwrap(),
        serde_json::to_string(&sorted(&expected)).unwrap(),
        "{description}"
    );
}

#[track_caller]
pub(super) fn check_err(description: &str, original: Value, patch: Value, expected: SmpError) {
    let got = apply_strategic_merge_patch(&original, &patch, &MergeItemSchema);
    assert_eq!(got, Err(expected), "{description}");
}

#[track_caller]
pub(super) fn check_err_contains(description: &str, original: Value, patch: Value, needle: &str) {
    match apply_strategic_merge_patch(&original, &patch, &MergeItemSchema) {
        Err(e) => assert!(
            e.to_string().contains(needle),
            "{description}: error {e:?} lacks {needle:?}"
        ),
        Ok(v) => panic!("{description}: expected an error, got {v}"),
    }
}

/// A copy with map keys sorted (serialization then compares list order).
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

pub(super) fn names(ns: &[i64]) -> Value {
    Value::Array(ns.iter().map(|n| json!({ "name": n })).collect())
}
