//! Server-side printing: the meta.k8s.io `Table` responses behind
//! `kubectl get`.
//!
//! kubectl asks for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`
//! and prints exactly the columns and cells it gets back, so each kind's
//! columns, cell types and cell strings follow upstream kube-apiserver 1.33
//! (`pkg/printers/internalversion`). Like upstream, the server always
//! prints the wide form: every row carries the priority-1 cells too, and
//! kubectl hides those columns unless `-o wide`.
//!
//! Kinds without a printer get upstream's default table (`Name`,
//! `Created At`); custom resources get their CRD's
//! `additionalPrinterColumns` (see [`custom_resource_table`]).
//!
//! Objects are JSON as served (with `apiVersion`/`kind`). Upstream prints
//! its internal form, the same for every served version; where versions
//! differ in shape (Events, autoscaling/v1 HPAs), both are read. Printing
//! never fails: a missing field prints as upstream prints the unset field
//! of a typed object (`<none>`, `0`, `<unknown>`, ...), and where
//! upstream's storage defaulting guarantees a value (e.g. `spec.replicas`),
//! the default is assumed.

mod access;
mod admission;
mod apps;
mod autoscaling;
mod batch;
mod core;
mod custom;
mod duration;
mod events;
mod jsonpath;
mod networking;
mod other;
mod pod;
mod storage;

#[cfg(test)]
mod core_tests;
#[cfg(test)]
mod other_tests;
#[cfg(test)]
mod pod_tests;
#[cfg(test)]
mod table_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod workload_tests;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

pub use custom::{
    CustomColumns, custom_resource_column_definitions, custom_resource_row, custom_resource_table,
};
pub use duration::{
    human_duration, human_signed_duration, short_human_duration, short_human_signed_duration,
};

/// The API version of the Tables this module builds.
pub const TABLE_API_VERSION: &str = "meta.k8s.io/v1";

/// The `includeObject` query parameter of a Table request: what each row's
/// `object` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// `None`: `"object": null`.
    None,
    /// `Metadata` (the default): a `PartialObjectMetadata` with the
    /// object's `metadata`.
    #[default]
    Metadata,
    /// `Object`: the full object as served.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter. Absent or empty means
    /// `Metadata`. The error is upstream's 400 message for an unknown value
    /// (`Unable to convert to Table as requested: includeObject: Invalid
    /// value: "x": must be 'Metadata', 'Object', 'None', or empty`).
    pub fn parse(s: Option<&str>) -> Result<IncludeObject, String> {
        match s.unwrap_or("") {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "Object" => Ok(IncludeObject::Object),
            "None" => Ok(IncludeObject::None),
            other => Err(format!(
                "Unable to convert to Table as requested: includeObject: Invalid value: {}: \
                 must be 'Metadata', 'Object', 'None', or empty",
                go_quote(other)
            )),
        }
    }
}

/// Builds a meta.k8s.io/v1 `Table` for objects of one kind, one row per
/// object in the given order (upstream sorts only FlowSchemas, by matching
/// precedence then name).
///
/// `group` is the API group ("" for core) and `kind` the object kind; both
/// pick the printer, and unknown kinds get the default `Name`/`Created At`
/// table. `list_meta` is the list's `metadata`: its `resourceVersion`,
/// `continue` and `remainingItemCount` are copied. For a single-object GET
/// pass `None` and the one object: the Table's `resourceVersion` is then
/// the object's, as upstream.
pub fn table(
    group: &str,
    kind: &str,
    objects: &[Value],
    include: IncludeObject,
    list_meta: Option<Value>,
    now: Timestamp,
) -> Value {
    let printer = printer(group, kind);
    let mut order: Vec<&Value> = objects.iter().collect();
    if let Some(sort) = printer.sort {
        order.sort_by(|a, b| sort(a, b));
    }
    let rows: Vec<Value> = order
        .into_iter()
        .map(|o| build_row(printer, o, include, now))
        .collect();
    assemble(
        table_metadata(list_meta.as_ref(), objects),
        column_definitions(group, kind),
        rows,
    )
}

/// The `columnDefinitions` array for a kind (all columns, priority 0 and
/// 1), as in the first Table of a list or watch.
pub fn column_definitions(group: &str, kind: &str) -> Value {
    columns_json(printer(group, kind).columns)
}

/// One Table row (`{"cells": [...], "object": ...}`, plus `conditions` for
/// finished pods) for one object.
pub fn row(
    group: &str,
    kind: &str,
    object: &Value,
    include: IncludeObject,
    now: Timestamp,
) -> Value {
    build_row(printer(group, kind), object, include, now)
}

/// The object of one watch event as upstream sends it in a Table watch: a
/// whole `Table` with one row and the object's `resourceVersion`.
///
/// Upstream sends the column definitions with the first event of the
/// stream only (`first == true`); every later event has
/// `"columnDefinitions": null`. Events whose object is a `Status` (ERROR
/// events) are sent untransformed, but they still count as the first event.
/// BOOKMARK objects are converted like any other object (upstream gives
/// them a row of mostly empty cells).
pub fn watch_event_table(
    group: &str,
    kind: &str,
    object: &Value,
    include: IncludeObject,
    first: bool,
    now: Timestamp,
) -> Value {
    let columns = if first {
        column_definitions(group, kind)
    } else {
        Value::Null
    };
    assemble(
        table_metadata(None, std::slice::from_ref(object)),
        columns,
        vec![row(group, kind, object, include, now)],
    )
}

/// Rewrites a Table built here for another meta.k8s.io version (e.g.
/// `meta.k8s.io/v1beta1`, which kubectl can also ask for): the Table's and
/// each `PartialObjectMetadata` row object's `apiVersion`.
pub fn with_meta_api_version(mut table: Value, api_version: &str) -> Value {
    if let Some(t) = table.as_object_mut() {
        t.insert("apiVersion".into(), json!(api_version));
        if let Some(rows) = t.get_mut("rows").and_then(Value::as_array_mut) {
            for row in rows {
                if let Some(obj) = row.get_mut("object").and_then(Value::as_object_mut)
                    && obj.get("kind").and_then(Value::as_str) == Some("PartialObjectMetadata")
                {
                    obj.insert("apiVersion".into(), json!(api_version));
                }
            }
        }
    }
    table
}

/// One column of a kind's table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    name: &'static str,
    ty: &'static str,
    format: &'static str,
    description: &'static str,
    priority: i32,
}

impl Column {
    /// A default (priority 0) column.
    pub(crate) const fn new(
        name: &'static str,
        ty: &'static str,
        description: &'static str,
    ) -> Self {
        Column {
            name,
            ty,
            format: "",
            description,
            priority: 0,
        }
    }

    /// A priority-1 column (shown by `kubectl get -o wide`).
    pub(crate) const fn wide(
        name: &'static str,
        ty: &'static str,
        description: &'static str,
    ) -> Self {
        Column {
            name,
            ty,
            format: "",
            description,
            priority: 1,
        }
    }

    /// The same column with a `format` (e.g. `name`).
    pub(crate) const fn with_format(mut self, format: &'static str) -> Self {
        self.format = format;
        self
    }

    fn to_json(self) -> Value {
        json!({
            "name": self.name,
            "type": self.ty,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// The `Name` column most tables start with.
pub(crate) const NAME: Column = Column::new(
    "Name",
    "string",
    "Name of the object, unique within its namespace (or the cluster for cluster-scoped kinds).",
)
.with_format("name");

/// The `Age` column.
pub(crate) const AGE: Column = Column::new(
    "Age",
    "string",
    "Time since the object was created (metadata.creationTimestamp).",
);

/// The `Containers` wide column of workload tables.
pub(crate) const CONTAINERS: Column = Column::wide(
    "Containers",
    "string",
    "Names of each container in the template.",
);

/// The `Images` wide column of workload tables.
pub(crate) const IMAGES: Column = Column::wide(
    "Images",
    "string",
    "Images referenced by each container in the template.",
);

/// How one kind is printed.
pub(crate) struct Printer {
    /// All columns, in order.
    pub(crate) columns: &'static [Column],
    /// The cells of one object's row, one per column.
    pub(crate) cells: fn(&Value, Timestamp) -> Vec<Value>,
    /// The row's `conditions` (upstream sets them for finished pods only).
    pub(crate) conditions: fn(&Value) -> Option<Value>,
    /// The row order of a list, if upstream sorts it.
    pub(crate) sort: Option<fn(&Value, &Value) -> std::cmp::Ordering>,
}

impl Printer {
    /// A printer with no row conditions and no sorting.
    pub(crate) const fn new(
        columns: &'static [Column],
        cells: fn(&Value, Timestamp) -> Vec<Value>,
    ) -> Self {
        Printer {
            columns,
            cells,
            conditions: no_conditions,
            sort: None,
        }
    }
}

fn no_conditions(_: &Value) -> Option<Value> {
    None
}

/// Upstream's default table for kinds without a printer (LimitRange,
/// Role, ClusterRole, CustomResourceDefinition, ...).
static DEFAULT: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Created At",
            "date",
            "Time the object was created (metadata.creationTimestamp).",
        ),
    ],
    default_cells,
);

/// The default `Created At` cell is an RFC 3339 time in UTC, Go's zero
/// time when unset.
fn default_cells(obj: &Value, _now: Timestamp) -> Vec<Value> {
    let created = access::timestamp(access::at(obj, &["metadata", "creationTimestamp"]))
        .map_or_else(
            || "0001-01-01T00:00:00Z".to_string(),
            corten_apimachinery::time::format_time,
        );
    vec![json!(access::name(obj)), json!(created)]
}

/// The printer for a group and kind (the default table if none).
fn printer(group: &str, kind: &str) -> &'static Printer {
    let found = match group {
        "" => core::printer(kind),
        "events.k8s.io" => (kind == "Event").then_some(&events::EVENT),
        "apps" => apps::printer(kind),
        "batch" => batch::printer(kind),
        "autoscaling" => autoscaling::printer(kind),
        "networking.k8s.io" | "discovery.k8s.io" => networking::printer(group, kind),
        "storage.k8s.io" => storage::printer(kind),
        "admissionregistration.k8s.io" => admission::printer(kind),
        _ => other::printer(group, kind),
    };
    found.unwrap_or(&DEFAULT)
}

/// Builds one row with a prepared printer.
fn build_row(printer: &Printer, obj: &Value, include: IncludeObject, now: Timestamp) -> Value {
    let mut row = Map::new();
    row.insert("cells".into(), Value::Array((printer.cells)(obj, now)));
    if let Some(conditions) = (printer.conditions)(obj) {
        row.insert("conditions".into(), conditions);
    }
    row.insert("object".into(), row_object(obj, include));
    Value::Object(row)
}

/// A row's `object` for an `includeObject` choice.
pub(crate) fn row_object(obj: &Value, include: IncludeObject) -> Value {
    match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => obj.clone(),
        IncludeObject::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": TABLE_API_VERSION,
            "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
        }),
    }
}

/// The Table's `metadata` (ListMeta).
pub(crate) fn table_metadata(list_meta: Option<&Value>, objects: &[Value]) -> Value {
    let mut meta = Map::new();
    match list_meta {
        Some(lm) => {
            for key in ["resourceVersion", "continue"] {
                if let Some(s) = lm
                    .get(key)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                {
                    meta.insert(key.into(), json!(s));
                }
            }
            if let Some(n) = lm.get("remainingItemCount").filter(|v| v.is_number()) {
                meta.insert("remainingItemCount".into(), n.clone());
            }
        }
        None => {
            if let [obj] = objects {
                let rv = access::text(obj, &["metadata", "resourceVersion"]);
                if !rv.is_empty() {
                    meta.insert("resourceVersion".into(), json!(rv));
                }
            }
        }
    }
    Value::Object(meta)
}

/// A whole Table from its parts.
pub(crate) fn assemble(metadata: Value, columns: Value, rows: Vec<Value>) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": TABLE_API_VERSION,
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

fn columns_json(columns: &[Column]) -> Value {
    Value::Array(columns.iter().map(|c| c.to_json()).collect())
}

/// Go's `%q` for the strings we quote in messages.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
