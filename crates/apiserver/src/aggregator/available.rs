//! The `Available` condition of every APIService (upstream's
//! AvailableConditionController), one level-triggered pass at a time: a
//! pass runs when APIServices, Services, EndpointSlices or served CRDs
//! changed, and every [`RESYNC`] anyway (a backend can die without any
//! object changing).
//!
//! Local APIServices are `True`/`Local`. A remote one must have its
//! Service (`ServiceNotFound`), the port (`ServicePortError`),
//! EndpointSlices (`EndpointsNotFound`) with a ready address on that port
//! (`MissingEndpoints`), and its backend must answer
//! `GET /apis/<group>/<version>` with a 2xx (`FailedDiscoveryCheck`); then
//! it is `True`/`Passed`. A passed check is followed (when the APIService
//! just became available, and every [`DISCOVERY_REFRESH`]) by reading what
//! the backend serves, which the aggregator merges into `/apis`.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::backend;
use super::metrics::{UNAVAILABLE, UNAVAILABLE_TOTAL};
use super::snapshot::{Entry, ServiceRef};
use crate::app::ApiServer;
use crate::proxy::forward::{Backend, forward};
use crate::registry::store::{self, UpdateTarget, WriteOptions};

/// How often every APIService is checked without a change.
pub const RESYNC: Duration = Duration::from_secs(5);
/// How often the discovery of an available APIService is read again.
pub const DISCOVERY_REFRESH: Duration = Duration::from_secs(30);
/// How often the caches are looked at for changes.
const POLL: Duration = Duration::from_millis(250);
/// How long the discovery check may take (upstream: 5 s).
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The `Available` condition without its timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    /// `True`, `False` or `Unknown`.
    pub status: &'static str,
    /// Upstream's reason.
    pub reason: &'static str,
    /// Upstream's message.
    pub message: String,
}

impl Availability {
    fn unavailable(reason: &'static str, message: String) -> Self {
        Availability {
            status: "False",
            reason,
            message,
        }
    }

    /// The condition of a local APIService.
    pub fn local() -> Self {
        Availability {
            status: "True",
            reason: "Local",
            message: "Local APIServices are always available".into(),
        }
    }

    fn passed() -> Self {
        Availability {
            status: "True",
            reason: "Passed",
            message: "all checks passed".into(),
        }
    }
}

/// Checks the Service and its endpoints (everything but the backend).
pub fn check_service(
    service: Option<&Value>,
    slices: &[Value],
    svc: &ServiceRef,
) -> Result<(), Availability> {
    let Some(service) = service else {
        return Err(Availability::unavailable(
            "ServiceNotFound",
            format!("service/{} in {:?} is not present", svc.name, svc.namespace),
        ));
    };
    let kind = service["spec"]["type"].as_str().unwrap_or("ClusterIP");
    if kind != "ClusterIP" {
        // Upstream checks ports and endpoints of ClusterIP Services only.
        return Ok(());
    }
    let Some(port_name) = backend::port_name(service, svc.port) else {
        return Err(Availability::unavailable(
            "ServicePortError",
            format!(
                "service/{} in {:?} is not listening on port {}",
                svc.name, svc.namespace, svc.port
            ),
        ));
    };
    let own: Vec<&Value> = slices
        .iter()
        .filter(|s| {
            s.pointer("/metadata/labels/kubernetes.io~1service-name") == Some(&json!(svc.name))
        })
        .collect();
    if own.is_empty() {
        return Err(Availability::unavailable(
            "EndpointsNotFound",
            format!(
                "cannot find endpoints for service/{} in {:?}",
                svc.name, svc.namespace
            ),
        ));
    }
    let ready = own.iter().any(|s| {
        let has_port = s["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"].as_str().unwrap_or("") == port_name);
        let has_address = s["endpoints"].as_array().into_iter().flatten().any(|e| {
            e.pointer("/conditions/ready")
                .and_then(Value::as_bool)
                .unwrap_or(true)
                && e["addresses"].as_array().is_some_and(|a| !a.is_empty())
        });
        has_port && has_address
    });
    if !ready {
        return Err(Availability::unavailable(
            "MissingEndpoints",
            format!(
                "endpoints for service/{} in {:?} have no addresses with port name {:?}",
                svc.name, svc.namespace, port_name
            ),
        ));
    }
    Ok(())
}

/// One GET on a backend as `system:kube-aggregator` (group
/// `system:masters`): the status and body, or the transport error.
async fn get(target: Backend, path: &str, accept: &str, url: &str) -> Result<(u16, Bytes), String> {
    let req = http::Request::get(path)
        .header("accept", accept)
        .header(super::proxy::USER_HEADER, "system:kube-aggregator")
        .header(super::proxy::GROUP_HEADER, "system:masters")
        .body(http_body_util::Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let exchange = async {
        let resp = forward(target, CHECK_TIMEOUT, req, None, path)
            .await
            .map_err(|e| format!("Get {url:?}: {}", e.message))?;
        let code = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        Ok((code, body))
    };
    match tokio::time::timeout(CHECK_TIMEOUT, exchange).await {
        Ok(r) => r,
        Err(_) => Err(format!("Get {url:?}: context deadline exceeded")),
    }
}

fn version_path(entry: &Entry) -> String {
    if entry.name == "v1." {
        format!("/api/{}", entry.version)
    } else {
        format!("/apis/{}/{}", entry.group, entry.version)
    }
}

/// Upstream's discovery check: `GET /apis/<group>/<version>` must answer
/// 2xx. Like upstream, the backend's certificate is not verified here
/// (the check only asks whether something answers).
async fn discovery_check(
    server: &ApiServer,
    entry: &Entry,
    svc: &ServiceRef,
) -> Result<(), String> {
    let agg = &server.aggregator;
    let authority = backend::resolve(&server.registry, svc, agg.endpoint_routing(), 0)?;
    let path = version_path(entry);
    let url = format!("https://{authority}{path}");
    let fail = |e: String| format!("failing or missing response from {url}: {e}");
    let target = Backend::Tls {
        config: agg.probe_tls().map_err(fail)?,
        host: backend::server_name(svc),
        authority,
    };
    let (code, _) = get(target, &path, "application/json", &url)
        .await
        .map_err(fail)?;
    if !(200..300).contains(&code) {
        return Err(fail(format!("bad status from {url}: {code}")));
    }
    Ok(())
}

/// The accept header asking for aggregated discovery.
const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

/// The resources of a group-version in an aggregated `/apis` document.
pub fn resources_in_aggregated(doc: &Value, group: &str, version: &str) -> Option<Vec<Value>> {
    if doc["kind"] != "APIGroupDiscoveryList" {
        return None;
    }
    doc["items"]
        .as_array()?
        .iter()
        .find(|g| {
            g.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                == group
        })?
        .get("versions")?
        .as_array()?
        .iter()
        .find(|v| v["version"] == version)?
        .get("resources")?
        .as_array()
        .cloned()
}

/// What the backend says it serves for this group-version, over the
/// APIService's verified TLS: its aggregated `/apis` document, or else
/// its legacy `/apis/<group>/<version>` list.
async fn fetch_resources(
    server: &ApiServer,
    entry: &Entry,
    svc: &ServiceRef,
) -> Option<Vec<Value>> {
    let agg = &server.aggregator;
    let authority = backend::resolve(&server.registry, svc, agg.endpoint_routing(), 0).ok()?;
    let tls = agg.tls_for(entry).ok()?;
    let target = |authority: &str| Backend::Tls {
        config: tls.clone(),
        host: backend::server_name(svc),
        authority: authority.to_string(),
    };
    if entry.name != "v1." {
        let url = format!("https://{authority}/apis");
        if let Ok((200, body)) = get(target(&authority), "/apis", AGGREGATED, &url).await
            && let Ok(doc) = serde_json::from_slice::<Value>(&body)
            && let Some(r) = resources_in_aggregated(&doc, &entry.group, &entry.version)
        {
            return Some(r);
        }
    }
    let path = version_path(entry);
    let url = format!("https://{authority}{path}");
    let (code, body) = get(target(&authority), &path, "application/json", &url)
        .await
        .ok()?;
    if !(200..300).contains(&code) {
        return None;
    }
    let list = serde_json::from_slice::<Value>(&body).ok()?;
    Some(super::discovery::aggregated_from_legacy(
        &list,
        &entry.group,
        &entry.version,
    ))
}

/// The OpenAPI v3 document of the APIService's group-version, read from its
/// backend's `/openapi/v3` index (None when the backend has none).
async fn fetch_openapi(server: &ApiServer, entry: &Entry) -> Option<(String, Bytes)> {
    let svc = entry.service.as_ref()?;
    let agg = &server.aggregator;
    let authority = backend::resolve(&server.registry, svc, agg.endpoint_routing(), 0).ok()?;
    let tls = agg.tls_for(entry).ok()?;
    let target = || Backend::Tls {
        config: tls.clone(),
        host: backend::server_name(svc),
        authority: authority.clone(),
    };
    let url = format!("https://{authority}/openapi/v3");
    let (code, body) = get(target(), "/openapi/v3", "application/json", &url)
        .await
        .ok()?;
    if code != 200 {
        return None;
    }
    let index: Value = serde_json::from_slice(&body).ok()?;
    let key = if entry.name == "v1." {
        "api/v1".to_string()
    } else {
        super::openapi::key_for(&entry.group, &entry.version)
    };
    let path = super::openapi::document_url(&index, &key)?;
    let url = format!("https://{authority}{path}");
    match get(target(), &path, "application/json", &url).await {
        Ok((200, doc)) => Some((key, doc)),
        _ => None,
    }
}

/// The availability of one APIService, and the resources its backend
/// reported when the check passed.
/// With `refresh`, a passed check also reads the backend's discovery.
async fn evaluate(
    server: &ApiServer,
    entry: &Entry,
    refresh: bool,
) -> (Availability, Option<Vec<Value>>) {
    let Some(svc) = &entry.service else {
        return (Availability::local(), None);
    };
    let reg = &server.registry;
    let service: Option<Value> = reg
        .cache("services")
        .and_then(|c| c.get(&format!("services/{}/{}", svc.namespace, svc.name)))
        .and_then(|o| serde_json::from_slice(&o.json).ok());
    let slices = backend::endpoint_slices(reg, &svc.namespace);
    if let Err(a) = check_service(service.as_ref(), &slices, svc) {
        return (a, None);
    }
    match discovery_check(server, entry, svc).await {
        Ok(()) => {
            let resources = if refresh {
                fetch_resources(server, entry, svc).await
            } else {
                None
            };
            (Availability::passed(), resources)
        }
        Err(message) => (
            Availability::unavailable("FailedDiscoveryCheck", message),
            None,
        ),
    }
}

fn current_condition(obj: &Value) -> Option<&Value> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == "Available")
}

/// Writes the condition through `/status` if it changed; the transition
/// time moves only when the status does. Returns whether it wrote.
async fn record(server: &ApiServer, name: &str, a: &Availability) -> bool {
    let reg = &server.registry;
    let Some(res) = reg.resource("apiregistration.k8s.io", "v1", "apiservices") else {
        return false;
    };
    let Some(cached) = reg
        .cache("apiservices")
        .and_then(|c| c.get(&format!("apiservices/{name}")))
    else {
        return false;
    };
    let Ok(mut obj) = serde_json::from_slice::<Value>(&cached.json) else {
        return false;
    };
    let old = current_condition(&obj).cloned();
    let same = old.as_ref().is_some_and(|c| {
        c["status"] == a.status && c["reason"] == a.reason && c["message"] == a.message.as_str()
    });
    if same {
        return false;
    }
    let transition = match &old {
        Some(c) if c["status"] == a.status => c["lastTransitionTime"].clone(),
        _ => json!(corten_apimachinery::time::format_time(
            jiff::Timestamp::now()
        )),
    };
    let condition = json!({
        "type": "Available",
        "status": a.status,
        "lastTransitionTime": transition,
        "reason": a.reason,
        "message": a.message,
    });
    let mut conditions: Vec<Value> = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c["type"] != "Available")
        .collect();
    conditions.push(condition);
    obj["status"] = json!({"conditions": conditions});
    let opts = WriteOptions::default();
    match store::update(reg, &res, None, name, obj, UpdateTarget::Status, &opts).await {
        Ok(_) => {
            if old.as_ref().map(|c| &c["status"]) != Some(&json!(a.status)) {
                tracing::info!(apiservice = %name, status = a.status, reason = a.reason, message = %a.message, "changing APIService availability");
            }
            true
        }
        Err(e) => {
            if e.code != 409 && e.code != 404 {
                tracing::warn!(apiservice = %name, error = %e.message, "updating APIService status");
            }
            false
        }
    }
}

/// One pass: autoregisters CRD group-versions, then evaluates and records
/// every APIService.
///
/// `fetched` remembers when each APIService's discovery was last read: it
/// is read again when the APIService was not available before, or after
/// [`DISCOVERY_REFRESH`].
pub async fn sync_once(server: &Arc<ApiServer>, fetched: &mut HashMap<String, Option<Instant>>) {
    super::autoregister::sync_crds(server).await;
    let snap = server.aggregator.snapshot(&server.registry);
    let results = futures::future::join_all(snap.all.iter().map(|e| {
        let server = server.clone();
        let e = e.clone();
        let refresh = !e.available
            || fetched
                .get(&e.name)
                .copied()
                .flatten()
                .is_none_or(|t| t.elapsed() >= DISCOVERY_REFRESH);
        async move {
            let (a, resources) = evaluate(&server, &e, refresh).await;
            // The OpenAPI is read whenever the discovery is.
            let openapi = match resources {
                Some(_) => Some(fetch_openapi(&server, &e).await),
                None => None,
            };
            (e, a, resources, openapi)
        }
    }))
    .await;
    let mut seen = HashSet::new();
    for (entry, a, resources, openapi) in results {
        seen.insert(entry.name.clone());
        if let Some(doc) = openapi {
            server.aggregator.openapi.set(&entry.name, doc);
        }
        if resources.is_some() {
            fetched.insert(entry.name.clone(), Some(Instant::now()));
            server.aggregator.set_resources(&entry.name, resources);
        } else {
            fetched.entry(entry.name.clone()).or_insert(None);
        }
        let wrote = record(server, &entry.name, &a).await;
        let unavailable = a.status != "True";
        UNAVAILABLE
            .with_label_values(&[&entry.name])
            .set(i64::from(unavailable));
        if wrote && unavailable {
            UNAVAILABLE_TOTAL
                .with_label_values(&[&entry.name, a.reason])
                .inc();
        }
    }
    let gone: Vec<String> = fetched
        .keys()
        .filter(|n| !seen.contains(*n))
        .cloned()
        .collect();
    for name in gone {
        let _ = UNAVAILABLE.remove_label_values(&[&name]);
        server.aggregator.set_resources(&name, None);
        server.aggregator.openapi.set(&name, None);
        fetched.remove(&name);
    }
}

/// What the loop watches for changes.
fn fingerprint(server: &ApiServer) -> Vec<(usize, i64)> {
    let reg = &server.registry;
    let mut f: Vec<(usize, i64)> = ["apiservices", "services", "endpointslices"]
        .iter()
        .map(|r| reg.cache(r).map_or((0, 0), |c| (c.len(), c.revision())))
        .collect();
    let crds = super::autoregister::served_crd_group_versions(server);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    crds.hash(&mut h);
    f.push((crds.len(), h.finish() as i64));
    f
}

/// Runs passes until the server is dropped.
pub fn spawn(server: &Arc<ApiServer>) {
    super::metrics::init();
    let weak = Arc::downgrade(server);
    tokio::spawn(async move {
        let mut fetched = HashMap::new();
        let mut last: Option<Vec<(usize, i64)>> = None;
        let mut last_pass = tokio::time::Instant::now();
        loop {
            let Some(server) = weak.upgrade() else { return };
            let now = fingerprint(&server);
            if last.as_ref() != Some(&now) || last_pass.elapsed() >= RESYNC {
                sync_once(&server, &mut fetched).await;
                // The pass's own status writes move the fingerprint; take
                // it after the pass so they do not trigger another one.
                last = Some(fingerprint(&server));
                last_pass = tokio::time::Instant::now();
            }
            drop(server);
            tokio::time::sleep(POLL).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc_ref() -> ServiceRef {
        ServiceRef {
            namespace: "wardle".into(),
            name: "api".into(),
            port: 443,
        }
    }

    fn slice(port: &str, ready: bool) -> Value {
        json!({
            "metadata": {"labels": {"kubernetes.io/service-name": "api"}},
            "ports": [{"name": port, "port": 8443}],
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": ready}}]
        })
    }

    #[test]
    fn resources_are_found_in_an_aggregated_document() {
        let doc = json!({"kind": "APIGroupDiscoveryList", "items": [
            {"metadata": {"name": "other.io"}, "versions": [{"version": "v1", "resources": [{"resource": "x"}]}]},
            {"metadata": {"name": "wardle.example.com"}, "versions": [
                {"version": "v1beta1", "resources": []},
                {"version": "v1alpha1", "resources": [{"resource": "flunders"}]}]}
        ]});
        let r = resources_in_aggregated(&doc, "wardle.example.com", "v1alpha1").unwrap();
        assert_eq!(r[0]["resource"], "flunders");
        assert!(resources_in_aggregated(&doc, "wardle.example.com", "v2").is_none());
        assert!(
            resources_in_aggregated(&json!({"kind": "APIGroupList"}), "other.io", "v1").is_none()
        );
    }

    #[test]
    fn service_checks_give_upstream_reasons_and_messages() {
        let svc = json!({"spec": {"type": "ClusterIP", "ports": [{"name": "https", "port": 443}]}});
        let e = check_service(None, &[], &svc_ref()).unwrap_err();
        assert_eq!(
            (e.reason, e.message.as_str()),
            (
                "ServiceNotFound",
                "service/api in \"wardle\" is not present"
            )
        );
        let other_port = json!({"spec": {"ports": [{"port": 80}]}});
        let e = check_service(Some(&other_port), &[], &svc_ref()).unwrap_err();
        assert_eq!(
            (e.reason, e.message.as_str()),
            (
                "ServicePortError",
                "service/api in \"wardle\" is not listening on port 443"
            )
        );
        let e = check_service(Some(&svc), &[], &svc_ref()).unwrap_err();
        assert_eq!(
            (e.reason, e.message.as_str()),
            (
                "EndpointsNotFound",
                "cannot find endpoints for service/api in \"wardle\""
            )
        );
        let e = check_service(
            Some(&svc),
            &[slice("https", false), slice("other", true)],
            &svc_ref(),
        )
        .unwrap_err();
        assert_eq!(
            (e.reason, e.message.as_str()),
            (
                "MissingEndpoints",
                "endpoints for service/api in \"wardle\" have no addresses with port name \"https\""
            )
        );
        assert!(check_service(Some(&svc), &[slice("https", true)], &svc_ref()).is_ok());
        let external = json!({"spec": {"type": "ExternalName", "externalName": "x.example"}});
        assert!(check_service(Some(&external), &[], &svc_ref()).is_ok());
    }
}
