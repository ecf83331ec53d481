//! Local APIServices (upstream's autoregister and crdregistration
//! controllers): one per built-in group-version, written on start and
//! labelled `kube-aggregator.kubernetes.io/automanaged: onstart`, and one
//! per served CRD group-version, labelled `true`, kept in step with the
//! CRDs (created when a version is served, deleted when none is).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::priorities::{self, Priority};
use crate::app::ApiServer;
use crate::registry::Resource;
use crate::registry::delete::{self, DeleteOptions};
use crate::registry::store::{self, UpdateTarget, WriteOptions};

/// The label marking APIServices this controller manages.
pub const AUTOMANAGED_LABEL: &str = "kube-aggregator.kubernetes.io/automanaged";
/// Written on start, then left to the user.
pub const ON_START: &str = "onstart";
/// Kept in sync continuously (CRD group-versions).
pub const CONTINUOUS: &str = "true";

fn apiservices(server: &ApiServer) -> Option<std::sync::Arc<Resource>> {
    server
        .registry
        .resource("apiregistration.k8s.io", "v1", "apiservices")
}

/// The APIService object for a local group-version.
pub fn local_apiservice(group: &str, version: &str, p: Priority, managed: &str) -> Value {
    json!({
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {
            "name": corten_api::apiregistration::required_name(group, version),
            "labels": {AUTOMANAGED_LABEL: managed},
        },
        "spec": {
            "group": group,
            "version": version,
            "groupPriorityMinimum": p.group,
            "versionPriority": p.version,
        },
    })
}

/// The built-in group-versions upstream registers, with their priorities
/// (the aggregator's own group has no APIService).
pub fn builtin_group_versions() -> Vec<(String, String, Priority)> {
    let mut out = Vec::new();
    let served = corten_api::groups()
        .iter()
        .flat_map(|g| g.versions.iter().map(move |v| (g.name, *v)))
        .chain(std::iter::once(("apiextensions.k8s.io", "v1")));
    for (g, v) in served {
        if g == "apiregistration.k8s.io" {
            continue;
        }
        if let Some(p) = priorities::builtin(g, v) {
            out.push((g.to_string(), v.to_string(), p));
        }
    }
    out
}

/// Whether the spec of `existing` differs from `desired` in what this
/// controller owns.
fn spec_differs(existing: &Value, desired: &Value) -> bool {
    let e = &existing["spec"];
    let d = &desired["spec"];
    [
        "group",
        "version",
        "groupPriorityMinimum",
        "versionPriority",
    ]
    .iter()
    .any(|k| e.get(*k).unwrap_or(&Value::Null) != d.get(*k).unwrap_or(&Value::Null))
        || e.get("service").is_some_and(|s| !s.is_null())
}

/// Creates `desired`, or brings an existing object's spec and label in
/// line with it.
async fn ensure(server: &ApiServer, res: &Resource, desired: Value) {
    let name = desired["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let reg = &server.registry;
    match store::get(reg, res, None, &name, None).await {
        Ok(bytes) => {
            let Ok(mut existing) = serde_json::from_slice::<Value>(&bytes) else {
                return;
            };
            let label = &existing["metadata"]["labels"][AUTOMANAGED_LABEL];
            let wanted = &desired["metadata"]["labels"][AUTOMANAGED_LABEL];
            if !spec_differs(&existing, &desired) && label == wanted {
                return;
            }
            existing["spec"] = desired["spec"].clone();
            existing["metadata"]["labels"][AUTOMANAGED_LABEL] = wanted.clone();
            let opts = WriteOptions::default();
            if let Err(e) =
                store::update(reg, res, None, &name, existing, UpdateTarget::Main, &opts).await
                && e.code != 409
            {
                tracing::warn!(apiservice = %name, error = %e.message, "updating a local APIService");
            }
        }
        Err(e) if e.code == 404 => {
            if let Err(e) = store::create(reg, res, None, desired, &WriteOptions::default()).await
                && e.code != 409
            {
                tracing::warn!(apiservice = %name, error = %e.message, "creating a local APIService");
            }
        }
        Err(e) => {
            tracing::warn!(apiservice = %name, error = %e.message, "reading a local APIService")
        }
    }
}

/// Writes the APIServices of the built-in group-versions (on start).
pub async fn register_builtin(server: &ApiServer) {
    let Some(res) = apiservices(server) else {
        return;
    };
    for (g, v, p) in builtin_group_versions() {
        ensure(server, &res, local_apiservice(&g, &v, p, ON_START)).await;
    }
}

/// The CRD group-versions served now (not those a built-in one covers).
pub fn served_crd_group_versions(server: &ApiServer) -> BTreeSet<(String, String)> {
    server
        .registry
        .crds
        .resources()
        .iter()
        .map(|r| (r.def.group.to_string(), r.def.version.to_string()))
        .filter(|(g, v)| priorities::builtin(g, v).is_none())
        .collect()
}

/// One pass over CRD group-versions: creates the missing APIServices and
/// deletes those (labelled `true`) whose group-version is no longer served.
pub async fn sync_crds(server: &ApiServer) {
    let Some(res) = apiservices(server) else {
        return;
    };
    let desired = served_crd_group_versions(server);
    let snap = server.aggregator.snapshot(&server.registry);
    for (g, v) in &desired {
        let name = corten_api::apiregistration::required_name(g, v);
        if snap.all.iter().any(|e| e.name == name) {
            continue;
        }
        ensure(
            server,
            &res,
            local_apiservice(g, v, priorities::CRD, CONTINUOUS),
        )
        .await;
    }
    let Some(cache) = server.registry.cache("apiservices") else {
        return;
    };
    let listed = cache.list(&corten_storage::ListRequest {
        prefix: "apiservices/".into(),
        filter: Default::default(),
        start_after: None,
        limit: None,
    });
    for o in &listed.items {
        if o.labels.get(AUTOMANAGED_LABEL).map(String::as_str) != Some(CONTINUOUS) {
            continue;
        }
        let Ok(v) = serde_json::from_slice::<Value>(&o.json) else {
            continue;
        };
        let gv = (
            v["spec"]["group"].as_str().unwrap_or("").to_string(),
            v["spec"]["version"].as_str().unwrap_or("").to_string(),
        );
        if desired.contains(&gv) {
            continue;
        }
        let opts = DeleteOptions::default();
        if let Err(e) = delete::delete(&server.registry, &res, None, &o.name, &opts).await
            && e.code != 404
        {
            tracing::warn!(apiservice = %o.name, error = %e.message, "deleting a CRD APIService");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_apiservices_follow_upstream_priorities() {
        let all = builtin_group_versions();
        let find = |g: &str, v: &str| {
            all.iter()
                .find(|(ag, av, _)| ag == g && av == v)
                .map(|(_, _, p)| *p)
        };
        assert_eq!(find("", "v1").unwrap().group, 18000);
        assert_eq!(find("autoscaling", "v2").unwrap().version, 30);
        assert_eq!(find("apiextensions.k8s.io", "v1").unwrap().group, 16700);
        assert!(find("apiregistration.k8s.io", "v1").is_none());
        let obj = local_apiservice("", "v1", find("", "v1").unwrap(), ON_START);
        assert_eq!(obj["metadata"]["name"], "v1.");
        assert_eq!(obj["metadata"]["labels"][AUTOMANAGED_LABEL], "onstart");
        assert!(obj["spec"].get("service").is_none());
    }

    #[test]
    fn user_changes_to_owned_fields_are_detected() {
        let p = priorities::CRD;
        let desired = local_apiservice("stable.example.com", "v1", p, CONTINUOUS);
        let mut existing = desired.clone();
        existing["status"] = json!({"conditions": []});
        assert!(!spec_differs(&existing, &desired));
        existing["spec"]["service"] = json!({"namespace": "x", "name": "y"});
        assert!(spec_differs(&existing, &desired));
        let mut other = desired.clone();
        other["spec"]["versionPriority"] = json!(7);
        assert!(spec_differs(&other, &desired));
    }
}
