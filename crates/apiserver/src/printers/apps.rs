//! apps: ReplicaSet, Deployment, StatefulSet, DaemonSet, ControllerRevision.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::access::{
    age, at, container_cells, format_label_selector, format_labels, int, list, name, opt_int,
    selector_string, text,
};
use super::{AGE, CONTAINERS, Column, IMAGES, NAME, Printer};

pub(super) fn printer(kind: &str) -> Option<&'static Printer> {
    Some(match kind {
        "ReplicaSet" => &REPLICA_SET,
        "Deployment" => &DEPLOYMENT,
        "StatefulSet" => &STATEFUL_SET,
        "DaemonSet" => &DAEMON_SET,
        "ControllerRevision" => &CONTROLLER_REVISION,
        _ => return None,
    })
}

/// The pod template's containers.
fn template_containers(obj: &Value) -> (String, String) {
    container_cells(list(obj, &["spec", "template", "spec", "containers"]))
}

/// `spec.replicas`, which upstream defaults to 1.
fn desired_replicas(obj: &Value) -> i64 {
    opt_int(obj, &["spec", "replicas"]).unwrap_or(1)
}

const SELECTOR: Column = Column::wide(
    "Selector",
    "string",
    "Label query over the pods the controller manages.",
);

static REPLICA_SET: Printer = Printer::new(
    &[
        NAME,
        Column::new("Desired", "integer", "Number of desired pods."),
        Column::new(
            "Current",
            "integer",
            "Number of pods the controller has created.",
        ),
        Column::new("Ready", "integer", "Number of ready pods."),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    |obj, now| {
        let (names, images) = template_containers(obj);
        vec![
            json!(name(obj)),
            json!(desired_replicas(obj)),
            json!(int(obj, &["status", "replicas"])),
            json!(int(obj, &["status", "readyReplicas"])),
            json!(age(obj, now)),
            json!(names),
            json!(images),
            json!(format_label_selector(at(obj, &["spec", "selector"]))),
        ]
    },
);

static DEPLOYMENT: Printer = Printer::new(
    &[
        NAME,
        Column::new("Ready", "string", "Number of the pod with ready state"),
        Column::new(
            "Up-to-date",
            "string",
            "Number of pods running the latest pod template.",
        ),
        Column::new("Available", "string", "Number of available pods."),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    deployment_cells,
);

fn deployment_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    // Unlike the other workloads, an empty selector prints as "".
    let selector =
        selector_string(at(obj, &["spec", "selector"])).unwrap_or_else(|| "<invalid>".to_string());
    vec![
        json!(name(obj)),
        json!(format!(
            "{}/{}",
            int(obj, &["status", "readyReplicas"]),
            desired_replicas(obj)
        )),
        json!(int(obj, &["status", "updatedReplicas"])),
        json!(int(obj, &["status", "availableReplicas"])),
        json!(age(obj, now)),
        json!(names),
        json!(images),
        json!(selector),
    ]
}

static STATEFUL_SET: Printer = Printer::new(
    &[
        NAME,
        Column::new("Ready", "string", "Number of the pod with ready state"),
        AGE,
        CONTAINERS,
        IMAGES,
    ],
    |obj, now| {
        let (names, images) = template_containers(obj);
        vec![
            json!(name(obj)),
            json!(format!(
                "{}/{}",
                int(obj, &["status", "readyReplicas"]),
                desired_replicas(obj)
            )),
            json!(age(obj, now)),
            json!(names),
            json!(images),
        ]
    },
);

static DAEMON_SET: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Desired",
            "integer",
            "Number of nodes that should run the daemon pod.",
        ),
        Column::new(
            "Current",
            "integer",
            "Number of nodes running at least one daemon pod that should.",
        ),
        Column::new(
            "Ready",
            "integer",
            "Number of nodes with a ready daemon pod.",
        ),
        Column::new(
            "Up-to-date",
            "integer",
            "Number of nodes running the updated daemon pod.",
        ),
        Column::new(
            "Available",
            "integer",
            "Number of nodes with an available daemon pod.",
        ),
        Column::new(
            "Node Selector",
            "string",
            "Node labels the daemon pods are restricted to.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    |obj, now| {
        let (names, images) = template_containers(obj);
        vec![
            json!(name(obj)),
            json!(int(obj, &["status", "desiredNumberScheduled"])),
            json!(int(obj, &["status", "currentNumberScheduled"])),
            json!(int(obj, &["status", "numberReady"])),
            json!(int(obj, &["status", "updatedNumberScheduled"])),
            json!(int(obj, &["status", "numberAvailable"])),
            json!(format_labels(at(
                obj,
                &["spec", "template", "spec", "nodeSelector"]
            ))),
            json!(age(obj, now)),
            json!(names),
            json!(images),
            json!(format_label_selector(at(obj, &["spec", "selector"]))),
        ]
    },
);

static CONTROLLER_REVISION: Printer = Printer::new(
    &[
        NAME,
        Column::new("Controller", "string", "Controller of the object"),
        Column::new("Revision", "string", "The revision number of the state."),
        AGE,
    ],
    controller_revision_cells,
);

/// The `kind.group/name` of an object's controller owner, `<none>` if it
/// has none.
pub(super) fn controller_of(obj: &Value) -> String {
    let Some(owner) = list(obj, &["metadata", "ownerReferences"])
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
    else {
        return "<none>".to_string();
    };
    let api_version = text(owner, &["apiVersion"]);
    let group = match api_version.split_once('/') {
        Some((group, _)) => group,
        None => "",
    };
    let kind = text(owner, &["kind"]);
    let owner_name = text(owner, &["name"]);
    if kind.is_empty() && group.is_empty() {
        return owner_name.to_string();
    }
    let group_kind = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    format!("{}/{owner_name}", group_kind.to_lowercase())
}

fn controller_revision_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(controller_of(obj)),
        json!(int(obj, &["revision"])),
        json!(age(obj, now)),
    ]
}
