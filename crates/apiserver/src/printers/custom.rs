//! Tables for custom resources, from a CRD version's
//! `additionalPrinterColumns` (upstream apiextensions `tableconvertor`).

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::access::{as_int, name, time_since};
use super::jsonpath::JsonPath;
use super::{IncludeObject, NAME, assemble, row_object, table_metadata};

/// One parsed printer column.
#[derive(Debug, Clone)]
struct CustomColumn {
    definition: Value,
    ty: String,
    path: JsonPath,
}

/// The columns of a custom resource's table, parsed once from the CRD
/// version's `additionalPrinterColumns` (the JSON array as in the CRD).
///
/// Like upstream: with no printer columns the table is `Name` and `Age`
/// (the creation time as a `date` column); the `Name` column is always
/// first; and a column whose `jsonPath` does not parse ends the column list
/// (upstream keeps the columns before it and logs the error).
#[derive(Debug, Clone)]
pub struct CustomColumns {
    columns: Vec<CustomColumn>,
}

impl CustomColumns {
    /// Parses `additionalPrinterColumns` (each `{name, type, format,
    /// description, priority, jsonPath}`).
    pub fn new(printer_columns: &[Value]) -> CustomColumns {
        let default_age = [json!({
            "name": "Age",
            "type": "date",
            "description": "Time since the object was created (metadata.creationTimestamp).",
            "jsonPath": ".metadata.creationTimestamp",
        })];
        let specs = if printer_columns.is_empty() {
            &default_age[..]
        } else {
            printer_columns
        };
        let mut columns = Vec::new();
        for spec in specs {
            let json_path = spec.get("jsonPath").and_then(Value::as_str).unwrap_or("");
            let Ok(path) = JsonPath::parse(json_path) else {
                break;
            };
            let text = |k: &str| {
                spec.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let description = match text("description") {
                d if d.is_empty() => format!("Custom resource column, JSONPath {json_path}"),
                d => d,
            };
            let ty = text("type");
            columns.push(CustomColumn {
                definition: json!({
                    "name": text("name"),
                    "type": ty,
                    "format": text("format"),
                    "description": description,
                    "priority": spec.get("priority").and_then(as_int).unwrap_or(0),
                }),
                ty,
                path,
            });
        }
        CustomColumns { columns }
    }

    /// The `columnDefinitions` array: `Name`, then the printer columns.
    pub fn column_definitions(&self) -> Value {
        let mut defs = vec![NAME.to_json()];
        defs.extend(self.columns.iter().map(|c| c.definition.clone()));
        Value::Array(defs)
    }

    /// One row for one custom resource.
    pub fn row(&self, object: &Value, include: IncludeObject, now: Timestamp) -> Value {
        let mut cells = vec![json!(name(object))];
        for column in &self.columns {
            let cell = match column.path.find(object).first() {
                None => Value::Null,
                Some(v) => cell_for(&column.ty, v, now),
            };
            cells.push(cell);
        }
        let mut row = Map::new();
        row.insert("cells".into(), Value::Array(cells));
        row.insert("object".into(), row_object(object, include));
        Value::Object(row)
    }

    /// A whole Table; see [`super::table`] for `list_meta`.
    pub fn table(
        &self,
        objects: &[Value],
        include: IncludeObject,
        list_meta: Option<Value>,
        now: Timestamp,
    ) -> Value {
        let rows = objects.iter().map(|o| self.row(o, include, now)).collect();
        assemble(
            table_metadata(list_meta.as_ref(), objects),
            self.column_definitions(),
            rows,
        )
    }

    /// One watch event's Table; see [`super::watch_event_table`].
    pub fn watch_event_table(
        &self,
        object: &Value,
        include: IncludeObject,
        first: bool,
        now: Timestamp,
    ) -> Value {
        let columns = if first {
            self.column_definitions()
        } else {
            Value::Null
        };
        assemble(
            table_metadata(None, std::slice::from_ref(object)),
            columns,
            vec![self.row(object, include, now)],
        )
    }
}

/// Builds a Table for custom resources; shorthand for
/// [`CustomColumns::new`] then [`CustomColumns::table`].
pub fn custom_resource_table(
    printer_columns: &[Value],
    objects: &[Value],
    include: IncludeObject,
    list_meta: Option<Value>,
    now: Timestamp,
) -> Value {
    CustomColumns::new(printer_columns).table(objects, include, list_meta, now)
}

/// The `columnDefinitions` of a custom resource's table.
pub fn custom_resource_column_definitions(printer_columns: &[Value]) -> Value {
    CustomColumns::new(printer_columns).column_definitions()
}

/// One row of a custom resource's table.
pub fn custom_resource_row(
    printer_columns: &[Value],
    object: &Value,
    include: IncludeObject,
    now: Timestamp,
) -> Value {
    CustomColumns::new(printer_columns).row(object, include, now)
}

/// A cell of a column type from the first value the path selects.
fn cell_for(ty: &str, v: &Value, now: Timestamp) -> Value {
    if v.is_null() {
        return Value::Null;
    }
    match ty {
        "string" => Value::String(go_print(v)),
        "integer" => as_int(v).map_or(Value::Null, |i| json!(i)),
        "number" => v.as_f64().map_or(Value::Null, go_json_float),
        "boolean" => v.as_bool().map_or(Value::Null, Value::Bool),
        "date" => match v.as_str() {
            Some(s) if s.is_empty() || s == "null" => json!("<unknown>"),
            Some(s) => match s.parse::<Timestamp>() {
                Ok(_) => json!(time_since(v, now)),
                Err(_) => json!("<invalid>"),
            },
            None => Value::Null,
        },
        _ => Value::Null,
    }
}

/// A float as Go's encoding/json writes it: integral values without a
/// fraction.
fn go_json_float(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        // In range, so the conversion is exact.
        json!(f as i64)
    } else {
        json!(f)
    }
}

/// A JSON value as Go's `fmt.Print` prints the unstructured value, which
/// is what upstream's JSONPath printer emits for `string` columns.
fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(u)) => u.to_string(),
            _ => go_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_print).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_print(&m[k.as_str()])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Go's `%v` of a float64: shortest digits, exponent form below 1e-4 or
/// from 1e6 (`1e+06`, `1.5e-05`).
fn go_float(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".to_string()
        } else if f > 0.0 {
            "+Inf".to_string()
        } else {
            "-Inf".to_string()
        };
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2024-06-01T12:00:00Z".parse().unwrap()
    }

    fn widget() -> Value {
        json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w1", "creationTimestamp": "2024-06-01T11:00:00Z",
                "resourceVersion": "42"},
            "spec": {"size": 3, "ratio": 2.5, "enabled": true, "tags": ["a", "b"],
                "nested": {"y": 1, "x": "s"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                "lastSync": "2024-06-01T11:58:00Z"}
        })
    }

    #[test]
    fn default_columns_are_name_and_age() {
        let cols = CustomColumns::new(&[]);
        let defs = cols.column_definitions();
        assert_eq!(defs[0]["name"], "Name");
        assert_eq!(defs[0]["format"], "name");
        assert_eq!(defs[1]["name"], "Age");
        assert_eq!(defs[1]["type"], "date");
        let row = cols.row(&widget(), IncludeObject::None, now());
        assert_eq!(row["cells"], json!(["w1", "60m"]));
        assert_eq!(row["object"], Value::Null);
    }

    #[test]
    fn typed_cells() {
        let columns = [
            json!({"name": "Size", "type": "integer", "jsonPath": ".spec.size"}),
            json!({"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"}),
            json!({"name": "SizeF", "type": "number", "jsonPath": ".spec.size"}),
            json!({"name": "On", "type": "boolean", "jsonPath": ".spec.enabled"}),
            json!({"name": "Ready", "type": "string",
                "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}),
            json!({"name": "Tags", "type": "string", "jsonPath": ".spec.tags"}),
            json!({"name": "Nested", "type": "string", "jsonPath": ".spec.nested", "priority": 1}),
            json!({"name": "Synced", "type": "date", "jsonPath": ".status.lastSync"}),
            json!({"name": "Missing", "type": "string", "jsonPath": ".spec.nope"}),
            json!({"name": "BadType", "type": "integer", "jsonPath": ".spec.enabled"}),
        ];
        let cols = CustomColumns::new(&columns);
        let row = cols.row(&widget(), IncludeObject::Metadata, now());
        assert_eq!(
            row["cells"],
            json!([
                "w1",
                3,
                2.5,
                3,
                true,
                "True",
                "[a b]",
                "map[x:s y:1]",
                "2m",
                null,
                null
            ])
        );
        assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(cols.column_definitions()[7]["priority"], 1);
    }

    #[test]
    fn invalid_path_ends_the_columns() {
        let columns = [
            json!({"name": "A", "type": "string", "jsonPath": ".spec.size"}),
            json!({"name": "B", "type": "string", "jsonPath": ".spec["}),
            json!({"name": "C", "type": "string", "jsonPath": ".spec.size"}),
        ];
        let defs = custom_resource_column_definitions(&columns);
        assert_eq!(defs.as_array().unwrap().len(), 2);
    }

    #[test]
    fn table_and_watch_shapes() {
        let t = custom_resource_table(&[], &[widget()], IncludeObject::None, None, now());
        assert_eq!(t["metadata"], json!({"resourceVersion": "42"}));
        let w =
            CustomColumns::new(&[]).watch_event_table(&widget(), IncludeObject::None, false, now());
        assert_eq!(w["columnDefinitions"], Value::Null);
        assert_eq!(w["rows"][0]["cells"][0], "w1");
    }

    #[test]
    fn go_number_printing() {
        assert_eq!(go_float(2.5), "2.5");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(123456789.0), "1.23456789e+08");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(-1e6), "-1e+06");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_print(&json!(null)), "<nil>");
        assert_eq!(
            cell_for("date", &json!("yesterday"), now()),
            json!("<invalid>")
        );
        assert_eq!(cell_for("date", &json!(""), now()), json!("<unknown>"));
    }
}
