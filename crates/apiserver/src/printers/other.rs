//! The remaining groups: policy, rbac, certificates, coordination,
//! scheduling, node, flowcontrol, internal.apiserver, resource,
//! storagemigration and apiregistration.

use std::cmp::Ordering;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::access::{
    age, at, condition_status, int, is_deleting, list, list_with_more, name, opt_bool, opt_int,
    opt_text, text,
};
use super::duration::human_signed_duration;
use super::{AGE, Column, NAME, Printer};

pub(super) fn printer(group: &str, kind: &str) -> Option<&'static Printer> {
    Some(match (group, kind) {
        ("policy", "PodDisruptionBudget") => &POD_DISRUPTION_BUDGET,
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => &ROLE_BINDING,
        ("certificates.k8s.io", "CertificateSigningRequest") => &CSR,
        ("certificates.k8s.io", "ClusterTrustBundle") => &CLUSTER_TRUST_BUNDLE,
        ("coordination.k8s.io", "Lease") => &LEASE,
        ("coordination.k8s.io", "LeaseCandidate") => &LEASE_CANDIDATE,
        ("scheduling.k8s.io", "PriorityClass") => &PRIORITY_CLASS,
        ("node.k8s.io", "RuntimeClass") => &RUNTIME_CLASS,
        ("flowcontrol.apiserver.k8s.io", "FlowSchema") => &FLOW_SCHEMA,
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration") => &PRIORITY_LEVEL,
        ("internal.apiserver.k8s.io", "StorageVersion") => &STORAGE_VERSION,
        ("resource.k8s.io", "DeviceClass" | "ResourceClaimTemplate") => &NAME_AND_AGE,
        ("resource.k8s.io", "ResourceClaim") => &RESOURCE_CLAIM,
        ("resource.k8s.io", "ResourceSlice") => &RESOURCE_SLICE,
        ("storagemigration.k8s.io", "StorageVersionMigration") => &STORAGE_VERSION_MIGRATION,
        ("apiregistration.k8s.io", "APIService") => &API_SERVICE,
        _ => return None,
    })
}

static NAME_AND_AGE: Printer = Printer::new(&[NAME, AGE], |obj, now| {
    vec![json!(name(obj)), json!(age(obj, now))]
});

static POD_DISRUPTION_BUDGET: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Min Available",
            "string",
            "The minimum number of pods that must be available.",
        ),
        Column::new(
            "Max Unavailable",
            "string",
            "The maximum number of pods that may be unavailable.",
        ),
        Column::new(
            "Allowed Disruptions",
            "integer",
            "Calculated number of pods that may be disrupted at this time.",
        ),
        AGE,
    ],
    |obj, now| {
        let bound = |field: &str| match at(obj, &["spec", field]) {
            Value::Null => "N/A".to_string(),
            v => super::access::int_or_string(v),
        };
        vec![
            json!(name(obj)),
            json!(bound("minAvailable")),
            json!(bound("maxUnavailable")),
            json!(int(obj, &["status", "disruptionsAllowed"])),
            json!(age(obj, now)),
        ]
    },
);

static ROLE_BINDING: Printer = Printer::new(
    &[
        NAME,
        Column::new("Role", "string", "The role the binding grants."),
        AGE,
        Column::wide("Users", "string", "Users in the binding"),
        Column::wide("Groups", "string", "Groups in the binding"),
        Column::wide(
            "ServiceAccounts",
            "string",
            "ServiceAccounts in the binding",
        ),
    ],
    |obj, now| {
        let mut users: Vec<String> = Vec::new();
        let mut groups: Vec<String> = Vec::new();
        let mut service_accounts: Vec<String> = Vec::new();
        for subject in list(obj, &["subjects"]) {
            let subject_name = text(subject, &["name"]).to_string();
            match text(subject, &["kind"]) {
                "ServiceAccount" => service_accounts
                    .push(format!("{}/{subject_name}", text(subject, &["namespace"]))),
                "User" => users.push(subject_name),
                "Group" => groups.push(subject_name),
                _ => {}
            }
        }
        vec![
            json!(name(obj)),
            json!(format!(
                "{}/{}",
                text(obj, &["roleRef", "kind"]),
                text(obj, &["roleRef", "name"])
            )),
            json!(age(obj, now)),
            json!(users.join(", ")),
            json!(groups.join(", ")),
            json!(service_accounts.join(", ")),
        ]
    },
);

static CSR: Printer = Printer::new(
    &[
        NAME,
        AGE,
        Column::new(
            "SignerName",
            "string",
            "The signer asked to sign the certificate.",
        ),
        Column::new("Requestor", "string", "The user who created the request."),
        Column::new(
            "RequestedDuration",
            "string",
            "The validity duration asked for the certificate.",
        ),
        Column::new("Condition", "string", "Approval and issuance state."),
    ],
    |obj, now| {
        let requested = opt_int(obj, &["spec", "expirationSeconds"]).map_or_else(
            || "<none>".to_string(),
            |s| human_signed_duration(SignedDuration::from_secs(s)),
        );
        vec![
            json!(name(obj)),
            json!(age(obj, now)),
            json!(super::core::or_none(text(obj, &["spec", "signerName"]))),
            json!(text(obj, &["spec", "username"])),
            json!(requested),
            json!(csr_condition(obj)),
        ]
    },
);

/// Upstream `extractCSRStatus`: Denied, Approved or Pending, then
/// `,Failed` and `,Issued`. Only condition types count, not their status.
fn csr_condition(csr: &Value) -> String {
    let conditions = list(csr, &["status", "conditions"]);
    let has = |t: &str| conditions.iter().any(|c| text(c, &["type"]) == t);
    let mut status = if has("Denied") {
        "Denied".to_string()
    } else if has("Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if has("Failed") {
        status.push_str(",Failed");
    }
    if !text(csr, &["status", "certificate"]).is_empty() {
        status.push_str(",Issued");
    }
    status
}

static CLUSTER_TRUST_BUNDLE: Printer = Printer::new(
    &[
        NAME,
        Column::new("SignerName", "string", "The signer the bundle belongs to."),
    ],
    |obj, _now| {
        vec![
            json!(name(obj)),
            json!(super::core::or_none(text(obj, &["spec", "signerName"]))),
        ]
    },
);

static LEASE: Printer = Printer::new(
    &[
        NAME,
        Column::new("Holder", "string", "The current holder of the lease."),
        AGE,
    ],
    |obj, now| {
        vec![
            json!(name(obj)),
            json!(text(obj, &["spec", "holderIdentity"])),
            json!(age(obj, now)),
        ]
    },
);

static LEASE_CANDIDATE: Printer = Printer::new(
    &[
        NAME,
        Column::new("LeaseName", "string", "The lease the candidate runs for."),
        Column::new("BinaryVersion", "string", "The candidate's binary version."),
        Column::new(
            "EmulationVersion",
            "string",
            "The candidate's emulation version.",
        ),
        AGE,
    ],
    |obj, now| {
        vec![
            json!(name(obj)),
            json!(text(obj, &["spec", "leaseName"])),
            json!(text(obj, &["spec", "binaryVersion"])),
            json!(text(obj, &["spec", "emulationVersion"])),
            json!(age(obj, now)),
        ]
    },
);

static PRIORITY_CLASS: Printer = Printer::new(
    &[
        NAME,
        Column::new("Value", "integer", "The priority of pods using the class."),
        Column::new(
            "Global-Default",
            "boolean",
            "Whether the class applies to pods without a priority class.",
        ),
        AGE,
        Column::new(
            "PreemptionPolicy",
            "string",
            "Whether pods of the class may preempt lower-priority pods.",
        ),
    ],
    |obj, now| {
        vec![
            json!(name(obj)),
            json!(int(obj, &["value"])),
            json!(opt_bool(obj, &["globalDefault"]).unwrap_or(false)),
            json!(age(obj, now)),
            json!(opt_text(obj, &["preemptionPolicy"]).unwrap_or("PreemptLowerPriority")),
        ]
    },
);

static RUNTIME_CLASS: Printer = Printer::new(
    &[
        NAME,
        Column::new("Handler", "string", "The CRI handler that runs the pods."),
        AGE,
    ],
    |obj, now| {
        vec![
            json!(name(obj)),
            json!(text(obj, &["handler"])),
            json!(age(obj, now)),
        ]
    },
);

/// `spec.matchingPrecedence`, which upstream defaults to 1000.
fn matching_precedence(fs: &Value) -> i64 {
    match int(fs, &["spec", "matchingPrecedence"]) {
        0 => 1000,
        p => p,
    }
}

static FLOW_SCHEMA: Printer = Printer {
    columns: &[
        NAME,
        Column::new(
            "PriorityLevel",
            "string",
            "The priority level of matching requests.",
        ),
        Column::new(
            "MatchingPrecedence",
            "string",
            "Lower values are matched first.",
        ),
        Column::new(
            "DistinguisherMethod",
            "string",
            "How matching requests are split into flows.",
        ),
        AGE,
        Column::new(
            "MissingPL",
            "string",
            "references a broken or non-existent PriorityLevelConfiguration",
        ),
    ],
    cells: |fs, now| {
        let method = opt_text(fs, &["spec", "distinguisherMethod", "type"]).unwrap_or("<none>");
        let dangling =
            condition_status(list(fs, &["status", "conditions"]), "Dangling").unwrap_or("?");
        vec![
            json!(name(fs)),
            json!(text(fs, &["spec", "priorityLevelConfiguration", "name"])),
            json!(matching_precedence(fs)),
            json!(method),
            json!(age(fs, now)),
            json!(dangling),
        ]
    },
    conditions: |_| None,
    sort: Some(flow_schema_order),
};

/// Upstream lists FlowSchemas by matching precedence, then name.
fn flow_schema_order(a: &Value, b: &Value) -> Ordering {
    matching_precedence(a)
        .cmp(&matching_precedence(b))
        .then_with(|| name(a).cmp(name(b)))
}

static PRIORITY_LEVEL: Printer = Printer::new(
    &[
        NAME,
        Column::new("Type", "string", "Exempt or Limited."),
        Column::new(
            "NominalConcurrencyShares",
            "string",
            "The level's share of the server's concurrency limit.",
        ),
        Column::new("Queues", "string", "Number of queues."),
        Column::new("HandSize", "string", "Queues considered for each flow."),
        Column::new("QueueLengthLimit", "string", "Requests a queue may hold."),
        AGE,
    ],
    |pl, now| {
        let none = || json!("<none>");
        let (mut shares, mut queues, mut hand_size, mut queue_length) =
            (none(), none(), none(), none());
        let limited = at(pl, &["spec", "limited"]);
        if limited.is_object() {
            shares = json!(opt_int(limited, &["nominalConcurrencyShares"]).unwrap_or(30));
            let queuing = at(limited, &["limitResponse", "queuing"]);
            if queuing.is_object() {
                let or_default = |field: &str, default: i64| match int(queuing, &[field]) {
                    0 => default,
                    n => n,
                };
                queues = json!(or_default("queues", 64));
                hand_size = json!(or_default("handSize", 8));
                queue_length = json!(or_default("queueLengthLimit", 50));
            }
        }
        vec![
            json!(name(pl)),
            json!(text(pl, &["spec", "type"])),
            shares,
            queues,
            hand_size,
            queue_length,
            json!(age(pl, now)),
        ]
    },
);

static STORAGE_VERSION: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "CommonEncodingVersion",
            "string",
            "The encoding version all API servers agree on.",
        ),
        Column::new(
            "StorageVersions",
            "string",
            "The encoding version of each API server.",
        ),
        AGE,
    ],
    |obj, now| {
        const MAX: usize = 3;
        let versions = list(obj, &["status", "storageVersions"]);
        let shown: Vec<String> = versions
            .iter()
            .take(MAX)
            .map(|v| {
                format!(
                    "{}={}",
                    text(v, &["apiServerID"]),
                    text(v, &["encodingVersion"])
                )
            })
            .collect();
        vec![
            json!(name(obj)),
            json!(opt_text(obj, &["status", "commonEncodingVersion"]).unwrap_or("<unset>")),
            json!(list_with_more(
                &shown,
                versions.len() > MAX,
                versions.len(),
                MAX
            )),
            json!(age(obj, now)),
        ]
    },
);

static RESOURCE_CLAIM: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "State",
            "string",
            "A summary of the current state (allocated, pending, reserved, etc.).",
        ),
        AGE,
    ],
    |obj, now| {
        vec![
            json!(name(obj)),
            json!(claim_state(obj)),
            json!(age(obj, now)),
        ]
    },
);

fn claim_state(claim: &Value) -> String {
    let mut states: Vec<&str> = Vec::new();
    let deleting = is_deleting(claim);
    if deleting {
        states.push("deleted");
    }
    if at(claim, &["status", "allocation"]).is_null() {
        if !deleting {
            states.push("pending");
        }
    } else {
        states.push("allocated");
        if !list(claim, &["status", "reservedFor"]).is_empty() {
            states.push("reserved");
        }
    }
    states.join(",")
}

static RESOURCE_SLICE: Printer = Printer::new(
    &[
        NAME,
        Column::new("Node", "string", "The node the devices are local to."),
        Column::new("Driver", "string", "The DRA driver publishing the slice."),
        Column::new("Pool", "string", "The pool the slice belongs to."),
        AGE,
    ],
    |obj, now| {
        vec![
            json!(name(obj)),
            json!(text(obj, &["spec", "nodeName"])),
            json!(text(obj, &["spec", "driver"])),
            json!(text(obj, &["spec", "pool", "name"])),
            json!(age(obj, now)),
        ]
    },
);

static STORAGE_VERSION_MIGRATION: Printer = Printer::new(
    &[
        Column::new("Name", "string", "Name of the migration."),
        Column::new("Resource", "string", "Fully qualified resource to migrate"),
    ],
    |obj, _now| {
        let r = at(obj, &["spec", "resource"]);
        vec![
            json!(name(obj)),
            json!(format!(
                "{}.{}.{}",
                text(r, &["resource"]),
                text(r, &["version"]),
                text(r, &["group"])
            )),
        ]
    },
);

static API_SERVICE: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Service",
            "string",
            "The reference to the service that hosts this API endpoint.",
        ),
        Column::new("Available", "string", "Whether this service is available."),
        AGE,
    ],
    api_service_cells,
);

fn api_service_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let svc = at(obj, &["spec", "service"]);
    let service = if svc.is_object() {
        format!("{}/{}", text(svc, &["namespace"]), text(svc, &["name"]))
    } else {
        "Local".to_string()
    };
    let available = match list(obj, &["status", "conditions"])
        .iter()
        .find(|c| text(c, &["type"]) == "Available")
    {
        None => "Unknown".to_string(),
        Some(c) => {
            let status = text(c, &["status"]);
            let reason = text(c, &["reason"]);
            if status == "True" || reason.is_empty() {
                status.to_string()
            } else {
                format!("{status} ({reason})")
            }
        }
    };
    vec![
        json!(name(obj)),
        json!(service),
        json!(available),
        json!(age(obj, now)),
    ]
}
