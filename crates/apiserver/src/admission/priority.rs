//! Priority: resolves `spec.priorityClassName` to `spec.priority` (and
//! `preemptionPolicy`) on pod creation, using the global default class when
//! none is named; also keeps the two system classes in place.

use corten_apimachinery::StatusError;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Operation, Request};
use crate::app::ApiServer;
use crate::registry::lookup::consistent_get;

/// `system-cluster-critical` and `system-node-critical` with upstream's values.
pub const SYSTEM_CLASSES: [(&str, i64, &str); 2] = [
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

/// Creates the system PriorityClasses if missing (upstream's
/// `scheduling/bootstrap-system-priority-classes` post-start hook).
pub async fn ensure_system_classes(server: &ApiServer) -> Result<(), StatusError> {
    use crate::registry::store::{self, WriteOptions};
    let reg = &server.registry;
    let Some(res) = reg.resource("scheduling.k8s.io", "v1", "priorityclasses") else {
        return Ok(());
    };
    for (name, value, description) in SYSTEM_CLASSES {
        match store::get(reg, &res, None, name, None).await {
            Ok(_) => continue,
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
        let obj = json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "description": description,
            "preemptionPolicy": "PreemptLowerPriority",
        });
        match store::create(reg, &res, None, obj, &WriteOptions::default()).await {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What the plugin reads of a PriorityClass (decoding only these fields
/// skips building the rest on every pod create).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Class {
    #[serde(skip)]
    name: String,
    value: Option<Value>,
    preemption_policy: Option<Value>,
    global_default: Option<Value>,
}

impl Class {
    fn decode(o: &corten_storage::CachedObject) -> Option<Class> {
        let mut c: Class = serde_json::from_slice(&o.json).ok()?;
        c.name = o.name.clone();
        Some(c)
    }

    fn value(&self) -> i64 {
        self.value.as_ref().and_then(Value::as_i64).unwrap_or(0)
    }
}

fn global_default(server: &ApiServer) -> Option<Class> {
    let cache = server.registry.cache("priorityclasses")?;
    let listed = cache.list(&corten_storage::ListRequest {
        prefix: "priorityclasses/".into(),
        filter: Default::default(),
        start_after: None,
        limit: None,
    });
    listed
        .items
        .iter()
        .filter_map(|o| Class::decode(o))
        .filter(|pc| pc.global_default.as_ref().and_then(Value::as_bool) == Some(true))
        // Several defaults (a race upstream also allows): the lowest wins.
        .min_by_key(Class::value)
}

/// Sets `spec.priority` of a new pod.
pub async fn admit(
    server: &ApiServer,
    req: &Request<'_>,
    obj: &mut Value,
) -> Result<(), StatusError> {
    if req.operation != Operation::Create || !req.is("", "pods") {
        return Ok(());
    }
    let name = obj
        .pointer("/spec/priorityClassName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let class = if name.is_empty() {
        global_default(server)
    } else {
        let missing = || req.forbidden(&format!("no PriorityClass with name {name} was found"));
        let found = consistent_get(
            &server.registry,
            "priorityclasses",
            &format!("priorityclasses/{name}"),
        )
        .await
        .map_err(|_| missing())?
        .ok_or_else(missing)?;
        Some(Class::decode(&found).ok_or_else(missing)?)
    };
    let (class_name, value, policy) = match &class {
        Some(pc) => (
            pc.name.clone(),
            pc.value(),
            pc.preemption_policy
                .as_ref()
                .and_then(Value::as_str)
                .unwrap_or("PreemptLowerPriority")
                .to_string(),
        ),
        None => (String::new(), 0, "PreemptLowerPriority".to_string()),
    };
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    if let Some(given) = spec.get("priority").and_then(Value::as_i64)
        && given != value
    {
        return Err(req.forbidden(&format!(
            "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {value} from the given PriorityClass name"
        )));
    }
    if let Some(given) = spec.get("preemptionPolicy").and_then(Value::as_str)
        && class.is_some()
        && given != policy
    {
        return Err(req.forbidden(&format!(
            "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name"
        )));
    }
    if !class_name.is_empty() {
        spec.insert("priorityClassName".into(), json!(class_name));
    }
    spec.insert("priority".into(), json!(value));
    if class.is_some() {
        spec.insert("preemptionPolicy".into(), json!(policy));
    }
    Ok(())
}
