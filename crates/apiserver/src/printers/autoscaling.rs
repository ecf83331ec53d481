//! autoscaling: HorizontalPodAutoscaler (v1 and v2 shapes) and Scale.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::access::{age, at, int, list, name, opt_int, quantity, text};
use super::{AGE, Column, NAME, Printer};

pub(super) fn printer(kind: &str) -> Option<&'static Printer> {
    match kind {
        "HorizontalPodAutoscaler" => Some(&HPA),
        "Scale" => Some(&SCALE),
        _ => None,
    }
}

static HPA: Printer = Printer::new(
    &[
        NAME,
        Column::new("Reference", "string", "The workload being scaled."),
        Column::new(
            "Targets",
            "string",
            "Current and target values of the scaling metrics.",
        ),
        Column::new("MinPods", "string", "The lower limit of replicas."),
        Column::new("MaxPods", "string", "The upper limit of replicas."),
        Column::new("Replicas", "string", "The current number of replicas."),
        AGE,
    ],
    hpa_cells,
);

/// Upstream's default when no metric is given: 80% average CPU.
fn default_cpu_metric(target_percent: i64) -> Value {
    json!({"type": "Resource", "resource": {"name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": target_percent}}})
}

/// The metric specs and statuses as upstream's internal (v2-shaped) type
/// holds them, converting the autoscaling/v1 CPU fields. Storage
/// defaulting never leaves the specs empty, so neither does this.
fn metrics(hpa: &Value) -> (Vec<Value>, Vec<Value>) {
    if text(hpa, &["apiVersion"]) == "autoscaling/v1" {
        let target = opt_int(hpa, &["spec", "targetCPUUtilizationPercentage"]).unwrap_or(80);
        let statuses = match opt_int(hpa, &["status", "currentCPUUtilizationPercentage"]) {
            Some(current) => vec![json!({"type": "Resource", "resource": {"name": "cpu",
                "current": {"averageUtilization": current}}})],
            None => Vec::new(),
        };
        return (vec![default_cpu_metric(target)], statuses);
    }
    let mut specs = list(hpa, &["spec", "metrics"]).to_vec();
    if specs.is_empty() {
        specs.push(default_cpu_metric(80));
    }
    (specs, list(hpa, &["status", "currentMetrics"]).to_vec())
}

/// A `*Quantity` as Go prints it: `<nil>` when unset.
fn quantity_ptr(v: &Value) -> String {
    if v.is_null() {
        "<nil>".to_string()
    } else {
        quantity(v)
    }
}

/// The status entry of a metric's source (e.g. `resource`), if the status
/// at the same index has one.
fn status_source<'a>(statuses: &'a [Value], i: usize, source: &str) -> Option<&'a Value> {
    statuses
        .get(i)
        .and_then(|s| s.get(source))
        .filter(|s| s.is_object())
}

/// Object and External metrics: `current/target`, `(avg)` for average
/// values.
fn value_metric(spec: &Value, status: Option<&Value>) -> String {
    let target = at(spec, &["target"]);
    if !at(target, &["averageValue"]).is_null() {
        let current = status
            .map(|s| at(s, &["current", "averageValue"]))
            .filter(|v| !v.is_null())
            .map_or_else(|| "<unknown>".to_string(), quantity);
        return format!(
            "{current}/{} (avg)",
            quantity(at(target, &["averageValue"]))
        );
    }
    let current = status.map_or_else(
        || "<unknown>".to_string(),
        |s| quantity_ptr(at(s, &["current", "value"])),
    );
    format!("{current}/{}", quantity_ptr(at(target, &["value"])))
}

/// Resource and ContainerResource metrics: `cpu: 40%/80%` or
/// `memory: 100Mi/200Mi`.
fn resource_metric(spec: &Value, status: Option<&Value>) -> String {
    let resource = text(spec, &["name"]);
    let target = at(spec, &["target"]);
    if !at(target, &["averageValue"]).is_null() {
        let current = status.map_or_else(
            || "<unknown>".to_string(),
            |s| quantity_ptr(at(s, &["current", "averageValue"])),
        );
        return format!(
            "{resource}: {current}/{}",
            quantity(at(target, &["averageValue"]))
        );
    }
    let current = status
        .and_then(|s| opt_int(s, &["current", "averageUtilization"]))
        .map_or_else(|| "<unknown>".to_string(), |u| format!("{u}%"));
    let wanted = opt_int(target, &["averageUtilization"])
        .map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
    format!("{resource}: {current}/{wanted}")
}

/// Upstream `formatHPAMetrics`: the first two metrics, then `+ N more...`.
fn format_metrics(specs: &[Value], statuses: &[Value]) -> String {
    const MAX: usize = 2;
    if specs.is_empty() {
        return "<none>".to_string();
    }
    let mut out: Vec<String> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let entry = match text(spec, &["type"]) {
            "External" => value_metric(
                at(spec, &["external"]),
                status_source(statuses, i, "external"),
            ),
            "Object" => value_metric(at(spec, &["object"]), status_source(statuses, i, "object")),
            "Pods" => {
                let current = status_source(statuses, i, "pods").map_or_else(
                    || "<unknown>".to_string(),
                    |s| quantity_ptr(at(s, &["current", "averageValue"])),
                );
                let target = quantity_ptr(at(spec, &["pods", "target", "averageValue"]));
                format!("{current}/{target}")
            }
            "Resource" => resource_metric(
                at(spec, &["resource"]),
                status_source(statuses, i, "resource"),
            ),
            "ContainerResource" => resource_metric(
                at(spec, &["containerResource"]),
                status_source(statuses, i, "containerResource"),
            ),
            _ => "<unknown type>".to_string(),
        };
        out.push(entry);
    }
    let count = out.len();
    if count > MAX {
        out.truncate(MAX);
        return format!("{} + {} more...", out.join(", "), count - MAX);
    }
    out.join(", ")
}

fn hpa_cells(hpa: &Value, now: Timestamp) -> Vec<Value> {
    let reference = format!(
        "{}/{}",
        text(hpa, &["spec", "scaleTargetRef", "kind"]),
        text(hpa, &["spec", "scaleTargetRef", "name"])
    );
    let (specs, statuses) = metrics(hpa);
    // minReplicas defaults to 1 upstream.
    let min_pods = opt_int(hpa, &["spec", "minReplicas"]).unwrap_or(1);
    vec![
        json!(name(hpa)),
        json!(reference),
        json!(format_metrics(&specs, &statuses)),
        json!(min_pods.to_string()),
        json!(int(hpa, &["spec", "maxReplicas"])),
        json!(int(hpa, &["status", "currentReplicas"])),
        json!(age(hpa, now)),
    ]
}

static SCALE: Printer = Printer::new(
    &[
        Column::new("Name", "string", "Name of the scaled object."),
        Column::new("Desired", "integer", "Desired number of replicas."),
        Column::new("Available", "integer", "Current number of replicas."),
        AGE,
    ],
    |obj, now| {
        vec![
            json!(name(obj)),
            json!(int(obj, &["spec", "replicas"])),
            json!(int(obj, &["status", "replicas"])),
            json!(age(obj, now)),
        ]
    },
);
