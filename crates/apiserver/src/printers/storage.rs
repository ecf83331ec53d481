//! storage.k8s.io: StorageClass, CSIDriver, CSINode, VolumeAttachment,
//! CSIStorageCapacity, VolumeAttributesClass.

use serde_json::{Value, json};

use super::access::{age, annotation, at, list, name, opt_bool, opt_text, quantity, text};
use super::{AGE, Column, NAME, Printer};

pub(super) fn printer(kind: &str) -> Option<&'static Printer> {
    Some(match kind {
        "StorageClass" => &STORAGE_CLASS,
        "CSIDriver" => &CSI_DRIVER,
        "CSINode" => &CSI_NODE,
        "VolumeAttachment" => &VOLUME_ATTACHMENT,
        "CSIStorageCapacity" => &CSI_STORAGE_CAPACITY,
        "VolumeAttributesClass" => &VOLUME_ATTRIBUTES_CLASS,
        _ => return None,
    })
}

/// Whether a StorageClass carries the GA or beta default-class annotation.
fn is_default_class(obj: &Value) -> bool {
    annotation(obj, "storageclass.kubernetes.io/is-default-class") == Some("true")
        || annotation(obj, "storageclass.beta.kubernetes.io/is-default-class") == Some("true")
}

static STORAGE_CLASS: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Provisioner",
            "string",
            "The provisioner of the class's volumes.",
        ),
        Column::new(
            "ReclaimPolicy",
            "string",
            "The reclaim policy of dynamically provisioned volumes.",
        ),
        Column::new(
            "VolumeBindingMode",
            "string",
            "When volumes are bound and provisioned.",
        ),
        Column::new(
            "AllowVolumeExpansion",
            "string",
            "Whether volumes of the class can be expanded.",
        ),
        AGE,
    ],
    |obj, now| {
        let mut class_name = name(obj).to_string();
        if is_default_class(obj) {
            class_name.push_str(" (default)");
        }
        vec![
            json!(class_name),
            json!(text(obj, &["provisioner"])),
            json!(opt_text(obj, &["reclaimPolicy"]).unwrap_or("Delete")),
            json!(opt_text(obj, &["volumeBindingMode"]).unwrap_or("Immediate")),
            json!(opt_bool(obj, &["allowVolumeExpansion"]).unwrap_or(false)),
            json!(age(obj, now)),
        ]
    },
);

static CSI_DRIVER: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "AttachRequired",
            "boolean",
            "Whether the driver needs an attach operation.",
        ),
        Column::new(
            "PodInfoOnMount",
            "boolean",
            "Whether the driver gets pod information on mount.",
        ),
        Column::new(
            "StorageCapacity",
            "boolean",
            "Whether the scheduler considers the driver's storage capacity.",
        ),
        Column::new(
            "TokenRequests",
            "string",
            "Audiences of the service account tokens the driver gets.",
        ),
        Column::new(
            "RequiresRepublish",
            "boolean",
            "Whether NodePublishVolume is called periodically.",
        ),
        Column::new(
            "Modes",
            "string",
            "The volume lifecycle modes the driver supports.",
        ),
        AGE,
    ],
    |obj, now| {
        let spec = at(obj, &["spec"]);
        let modes: Vec<&str> = list(spec, &["volumeLifecycleModes"])
            .iter()
            .map(|m| m.as_str().unwrap_or(""))
            .collect();
        // Upstream defaults an empty mode list to Persistent.
        let modes = if modes.is_empty() {
            "Persistent".to_string()
        } else {
            modes.join(",")
        };
        let token_requests = match spec.get("tokenRequests") {
            Some(Value::Array(requests)) => requests
                .iter()
                .map(|t| text(t, &["audience"]))
                .collect::<Vec<_>>()
                .join(","),
            _ => "<unset>".to_string(),
        };
        vec![
            json!(name(obj)),
            json!(opt_bool(spec, &["attachRequired"]).unwrap_or(true)),
            json!(opt_bool(spec, &["podInfoOnMount"]).unwrap_or(false)),
            json!(opt_bool(spec, &["storageCapacity"]).unwrap_or(false)),
            json!(token_requests),
            json!(opt_bool(spec, &["requiresRepublish"]).unwrap_or(false)),
            json!(modes),
            json!(age(obj, now)),
        ]
    },
);

static CSI_NODE: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Drivers",
            "integer",
            "Drivers indicates the number of CSI drivers registered on the node",
        ),
        AGE,
    ],
    |obj, now| {
        vec![
            json!(name(obj)),
            json!(list(obj, &["spec", "drivers"]).len()),
            json!(age(obj, now)),
        ]
    },
);

static VOLUME_ATTACHMENT: Printer = Printer::new(
    &[
        NAME,
        Column::new("Attacher", "string", "The driver that attaches the volume.")
            .with_format("name"),
        Column::new("PV", "string", "The persistent volume being attached."),
        Column::new("Node", "string", "The node the volume is attached to."),
        Column::new(
            "Attached",
            "boolean",
            "Whether the attach operation succeeded.",
        ),
        AGE,
    ],
    |obj, now| {
        vec![
            json!(name(obj)),
            json!(text(obj, &["spec", "attacher"])),
            json!(text(obj, &["spec", "source", "persistentVolumeName"])),
            json!(text(obj, &["spec", "nodeName"])),
            json!(opt_bool(obj, &["status", "attached"]).unwrap_or(false)),
            json!(age(obj, now)),
        ]
    },
);

static CSI_STORAGE_CAPACITY: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "StorageClassName",
            "string",
            "The storage class the capacity is for.",
        ),
        Column::new("Capacity", "string", "The reported available capacity."),
    ],
    |obj, _now| {
        let capacity = match at(obj, &["capacity"]) {
            Value::Null => "<unset>".to_string(),
            q => quantity(q),
        };
        vec![
            json!(name(obj)),
            json!(text(obj, &["storageClassName"])),
            json!(capacity),
        ]
    },
);

static VOLUME_ATTRIBUTES_CLASS: Printer = Printer::new(
    &[
        NAME,
        Column::new("DriverName", "string", "The CSI driver of the class."),
        AGE,
    ],
    |obj, now| {
        let mut class_name = name(obj).to_string();
        if annotation(
            obj,
            "volumeattributesclass.alpha.kubernetes.io/is-default-class",
        ) == Some("true")
        {
            class_name.push_str(" (default)");
        }
        vec![
            json!(class_name),
            json!(text(obj, &["driverName"])),
            json!(age(obj, now)),
        ]
    },
);
