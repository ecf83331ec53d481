//! `conversion: Webhook`: a CRD's objects are converted between versions
//! by POSTing a `ConversionReview` to the CRD's conversion webhook over
//! HTTPS, trusting the `caBundle` (upstream `webhookConverter`).
//!
//! Calls go through a [`Pool`] shared by every CRD: one client per
//! caBundle and address, whose HTTPS connections are kept for the next
//! call (as the admission webhooks' calls are). The objects of a list are
//! converted in one review ([`WebhookClient::convert_many`]), as upstream
//! converts an `UnstructuredList`; objects already in the desired version
//! are not sent.
//!
//! Calls run on a small runtime of their own, so the kept connections
//! live on whatever runtime the caller is on. The store's conversion
//! hooks are synchronous: a call from them blocks the calling thread
//! (inside `block_in_place` on a multi-threaded runtime) for at most
//! [`TIMEOUT`].

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine;
use corten_storage::WatchCache;
use serde_json::{Value, json};

use super::metrics::{self, Failure};
use crate::admission::webhook::client::{Endpoint, Pool};

/// Upstream's conversion webhook timeout.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The runtime conversion calls and their connections run on.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("conversion-webhook")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("starting the conversion webhook runtime: {e}"))
    })
}

/// Where the webhook is and how to trust it.
pub struct WebhookClient {
    target: Target,
    path: String,
    ca_bundle: Vec<u8>,
    /// `v1` or `v1beta1` of `apiextensions.k8s.io` ConversionReview.
    review_version: String,
    pool: Arc<Pool>,
    /// The CRD's name, for metrics.
    crd_name: String,
    /// Recent answers (see [`super::memo`]).
    memo: super::memo::ConversionMemo,
}

enum Target {
    /// `clientConfig.url`: host (name or IP) and port.
    Url { host: String, port: u16 },
    /// `clientConfig.service`: resolved at call time like upstream's
    /// ClusterIP service resolver (see
    /// [`crate::admission::webhook::client::resolve_service`]): the
    /// Service's ClusterIP and `port` (default 443), which must be a port
    /// of the Service, or an `ExternalName` Service's external name; TLS
    /// server name `<name>.<namespace>.svc`.
    Service {
        namespace: String,
        name: String,
        port: i64,
        services: Option<Arc<WatchCache>>,
    },
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `group/version, Kind=Kind`, as upstream names an object's kind in
/// conversion errors.
fn gvk_of(obj: &Value) -> String {
    let av = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    format!("{av}, Kind={kind}")
}

impl WebhookClient {
    /// Builds the client of a CRD's `spec.conversion` (None unless the
    /// strategy is `Webhook`). `services` is the Services watch cache;
    /// calls go through `pool`.
    pub fn from_crd(
        crd: &Value,
        services: Option<Arc<WatchCache>>,
        pool: Arc<Pool>,
    ) -> Result<Option<WebhookClient>, String> {
        let Some(conv) = crd.pointer("/spec/conversion") else {
            return Ok(None);
        };
        if conv.get("strategy").and_then(Value::as_str) != Some("Webhook") {
            return Ok(None);
        }
        let cc = conv
            .pointer("/webhook/clientConfig")
            .ok_or("spec.conversion.webhook.clientConfig is required")?;
        let ca_bundle = match cc.get("caBundle").and_then(Value::as_str) {
            Some(b) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| format!("caBundle: {e}"))?,
            None => Vec::new(),
        };
        let versions: Vec<&str> = conv
            .pointer("/webhook/conversionReviewVersions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let review_version = if versions.contains(&"v1") || versions.is_empty() {
            "v1"
        } else {
            "v1beta1"
        }
        .to_string();
        let (target, path) = if let Some(url) = cc.get("url").and_then(Value::as_str) {
            let rest = url
                .strip_prefix("https://")
                .ok_or("the webhook URL must be https")?;
            let (authority, path) = match rest.find('/') {
                Some(i) => (&rest[..i], rest[i..].to_string()),
                None => (rest, "/".to_string()),
            };
            let (host, port) = split_host_port(authority)?;
            (Target::Url { host, port }, path)
        } else if let Some(svc) = cc.get("service") {
            let s = |k: &str| svc.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let port = svc.get("port").and_then(Value::as_i64).unwrap_or(443);
            let path = match s("path") {
                p if p.is_empty() => "/".to_string(),
                p => p,
            };
            (
                Target::Service {
                    namespace: s("namespace"),
                    name: s("name"),
                    port,
                    services,
                },
                path,
            )
        } else {
            return Err("the webhook clientConfig needs a url or a service".into());
        };
        Ok(Some(WebhookClient {
            target,
            path,
            ca_bundle,
            review_version,
            pool,
            crd_name: corten_apimachinery::meta::name(crd)
                .unwrap_or_default()
                .to_string(),
            memo: Default::default(),
        }))
    }

    /// Where to connect, as the pool wants it.
    fn endpoint(&self) -> Result<Endpoint, String> {
        match &self.target {
            Target::Url { host, port } => {
                let sep = if self.path.contains('?') { '&' } else { '?' };
                let pq = format!("{}{sep}timeout={}s", self.path, TIMEOUT.as_secs());
                let hp = host_port(host, *port);
                Ok(Endpoint {
                    display_url: format!("https://{hp}{pq}"),
                    connect_host: host.clone(),
                    port: *port,
                    server_name: host.clone(),
                    path_and_query: pq,
                    host_header: hp,
                })
            }
            Target::Service {
                namespace,
                name,
                port,
                services,
            } => {
                let svc = services
                    .as_ref()
                    .and_then(|c| c.get(&format!("services/{namespace}/{name}")))
                    .and_then(|o| o.to_value().ok());
                crate::admission::webhook::client::resolve_service(
                    svc.as_ref(),
                    namespace,
                    name,
                    &self.path,
                    *port,
                    TIMEOUT,
                )
            }
        }
    }

    async fn post(&self, body: Vec<u8>) -> Result<Value, String> {
        let ep = self.endpoint()?;
        let bytes = self
            .pool
            .post(&ep, &self.ca_bundle, body, TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes).map_err(|e| format!("decoding the response: {e}"))
    }

    /// Converts the objects of a list to `desired` (`group/version`) in one
    /// ConversionReview; objects already in that version are not sent.
    /// The answer keeps the order of `objs`. Errors read like upstream's
    /// (`conversion webhook for <gvk> failed: ...`).
    pub async fn convert_many(
        self: &Arc<Self>,
        objs: Vec<Value>,
        desired: &str,
    ) -> Result<Vec<Value>, String> {
        let this = self.clone();
        let desired = desired.to_string();
        runtime()
            .spawn(async move { this.convert_here(&objs, &desired, false).await })
            .await
            .map_err(|e| format!("the conversion call failed: {e}"))?
    }

    /// Converts `objs` to `desired`: objects already there stay, objects
    /// whose conversion the memo knows are taken from it (with
    /// `use_memo`: the single-object conversions of writes and reads, not
    /// lists and watches), the rest go to the webhook in one review.
    async fn convert_here(
        &self,
        objs: &[Value],
        desired: &str,
        use_memo: bool,
    ) -> Result<Vec<Value>, String> {
        let mut out: Vec<Option<Value>> = Vec::with_capacity(objs.len());
        let mut send: Vec<&Value> = Vec::new();
        for o in objs {
            if o.get("apiVersion").and_then(Value::as_str) == Some(desired) {
                out.push(Some(o.clone()));
                continue;
            }
            let known = if use_memo {
                self.memo.get(o, desired)
            } else {
                None
            };
            match known {
                Some(mut known) => {
                    restore_metadata(o, &mut known)
                        .map_err(|e| format!("conversion webhook for {} failed: {e}", gvk_of(o)))?;
                    out.push(Some(known));
                }
                None => {
                    out.push(None);
                    send.push(o);
                }
            }
        }
        if let Some(first) = send.first() {
            let version = |av: &str| av.rsplit_once('/').map_or(av, |(_, v)| v).to_string();
            let from = version(
                first
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            );
            let started = std::time::Instant::now();
            let result = self.call(&send, desired).await;
            let failure = result.as_ref().err().map(|(f, _)| *f);
            metrics::observe(
                &self.crd_name,
                &from,
                &version(desired),
                started.elapsed(),
                failure,
            );
            let mut converted = result.map_err(|(_, e)| e)?.into_iter();
            for slot in out.iter_mut().filter(|s| s.is_none()) {
                *slot = converted.next();
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// One ConversionReview of the objects `send` (none of them in
    /// `desired`); the answers in their order, remembered in the memo.
    async fn call(&self, send: &[&Value], desired: &str) -> Result<Vec<Value>, (Failure, String)> {
        let gvk = send.first().map(|o| gvk_of(o)).unwrap_or_default();
        let gvk = gvk.as_str();
        let failed =
            |f: Failure| move |e: String| (f, format!("conversion webhook for {gvk} failed: {e}"));
        let uid = uuid::Uuid::new_v4().to_string();
        let review = json!({
            "apiVersion": format!("apiextensions.k8s.io/{}", self.review_version),
            "kind": "ConversionReview",
            "request": {"uid": uid, "desiredAPIVersion": desired, "objects": send},
        });
        let body = serde_json::to_vec(&review).map_err(|e| (Failure::Call, e.to_string()))?;
        let answer = self.post(body).await.map_err(failed(Failure::Call))?;
        let converted = converted_objects(&answer, &uid, &self.review_version)
            .map_err(failed(Failure::MalformedResponse))?;
        if converted.len() != send.len() {
            let failure = if converted.is_empty() && send.len() == 1 {
                Failure::NoObjectsReturned
            } else {
                Failure::PartialResponse
            };
            return Err((
                failure,
                format!(
                    "conversion webhook for {gvk} returned {} objects, expected {}",
                    converted.len(),
                    send.len()
                ),
            ));
        }
        let mut out = Vec::with_capacity(send.len());
        for (i, (original, mut c)) in send.iter().zip(converted).enumerate() {
            let invalid = |e: String| {
                (
                    Failure::InvalidConvertedObject,
                    format!(
                        "conversion webhook for {gvk} returned invalid converted object at index {i}: {e}"
                    ),
                )
            };
            let got = c.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            if got != desired {
                return Err(invalid(format!(
                    "invalid groupVersion (expected {desired}, received {got})"
                )));
            }
            let (want_kind, got_kind) = (
                original.get("kind").and_then(Value::as_str).unwrap_or(""),
                c.get("kind").and_then(Value::as_str).unwrap_or(""),
            );
            if want_kind != got_kind {
                return Err(invalid(format!(
                    "invalid kind (expected {want_kind}, received {got_kind})"
                )));
            }
            validate_converted(original, &c).map_err(invalid)?;
            let answer = c.clone();
            restore_metadata(original, &mut c).map_err(|e| {
                (
                    Failure::InvalidConvertedObject,
                    format!(
                        "conversion webhook for {gvk} returned invalid metadata in object at index {i}: {e}"
                    ),
                )
            })?;
            self.memo.put(original, desired, &answer);
            out.push(c);
        }
        Ok(out)
    }

    /// Converts one object to `desired` from synchronous code.
    pub fn convert_blocking(self: &Arc<Self>, obj: &Value, desired: &str) -> Result<Value, String> {
        let this = self.clone();
        let (obj, desired) = (obj.clone(), desired.to_string());
        let call = runtime().spawn(async move {
            let mut out = this
                .convert_here(std::slice::from_ref(&obj), &desired, true)
                .await?;
            out.pop().ok_or_else(|| {
                format!(
                    "conversion webhook for {} failed, no objects returned",
                    gvk_of(&obj)
                )
            })
        });
        let wait = || futures::executor::block_on(call);
        let joined = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        };
        joined.map_err(|e| format!("the conversion call failed: {e}"))?
    }
}

/// The converted objects of a ConversionReview answer (upstream
/// `getConvertedObjectsFromResponse`).
fn converted_objects(
    answer: &Value,
    uid: &str,
    review_version: &str,
) -> Result<Vec<Value>, String> {
    if review_version == "v1" {
        let got = format!(
            "{}, Kind={}",
            answer
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or(""),
            answer.get("kind").and_then(Value::as_str).unwrap_or("")
        );
        let want = "apiextensions.k8s.io/v1, Kind=ConversionReview";
        if got != want {
            return Err(format!("expected webhook response of {want}, got {got}"));
        }
    }
    let resp = answer
        .get("response")
        .filter(|r| r.is_object())
        .ok_or("no response provided")?;
    let got_uid = resp.get("uid").and_then(Value::as_str).unwrap_or("");
    if review_version == "v1" && got_uid != uid {
        return Err(format!("expected response.uid={uid:?}, got {got_uid:?}"));
    }
    let status = resp
        .pointer("/result/status")
        .and_then(Value::as_str)
        .unwrap_or("");
    if status != "Success" {
        return Err(
            match resp.pointer("/result/message").and_then(Value::as_str) {
                Some(m) if !m.is_empty() => m.to_string(),
                _ => format!("response.result.status was '{status}', not 'Success'"),
            },
        );
    }
    Ok(resp
        .get("convertedObjects")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

/// Upstream `validateConvertedObject`: the identity of the object stays.
fn validate_converted(original: &Value, converted: &Value) -> Result<(), String> {
    let meta = |o: &Value, k: &str| -> String {
        o.pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    for (field, label) in [("name", "name"), ("namespace", "namespace"), ("uid", "UID")] {
        let (e, a) = (meta(original, field), meta(converted, field));
        if e != a {
            return Err(format!("must have the same {label}: {e} != {a}"));
        }
    }
    Ok(())
}

fn split_host_port(authority: &str) -> Result<(String, u16), String> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, port) = rest.split_once(']').ok_or("bad IPv6 host")?;
        let port = match port.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| "bad port")?,
            None => 443,
        };
        return Ok((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Ok((h.to_string(), p.parse().map_err(|_| "bad port")?)),
        None => Ok((authority.to_string(), 443)),
    }
}

/// Upstream `restoreObjectMeta`: a webhook may change only labels and
/// annotations; everything else in `metadata` is taken from the original.
fn restore_metadata(original: &Value, converted: &mut Value) -> Result<(), String> {
    let response = match converted.get("metadata") {
        None => return Err("missing metadata in converted object".into()),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            return Err(format!(
                "invalid metadata of type {} in converted object",
                json_type(other)
            ));
        }
    };
    let mut meta = original
        .get("metadata")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(m) = meta.as_object_mut() {
        for k in ["labels", "annotations"] {
            match response.get(k) {
                None | Some(Value::Null) => {
                    m.remove(k);
                }
                Some(Value::Object(fields)) => {
                    if let Some((key, v)) = fields.iter().find(|(_, v)| !v.is_string()) {
                        return Err(format!(
                            "metadata.{k}[{key}] must be a string, but is {} in converted object",
                            json_type(v)
                        ));
                    }
                    m.insert(k.into(), Value::Object(fields.clone()));
                }
                Some(other) => {
                    return Err(format!(
                        "invalid metadata.{k} of type {} in converted object",
                        json_type(other)
                    ));
                }
            }
        }
    }
    match converted.as_object_mut() {
        Some(o) => {
            o.insert("metadata".into(), meta);
            Ok(())
        }
        None => Err("the converted object is not a JSON object".into()),
    }
}

/// The Go type a JSON value decodes to, for messages.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports() {
        assert_eq!(
            split_host_port("127.0.0.1:8443").unwrap(),
            ("127.0.0.1".into(), 8443)
        );
        assert_eq!(
            split_host_port("example.com").unwrap(),
            ("example.com".into(), 443)
        );
        assert_eq!(split_host_port("[::1]:9").unwrap(), ("::1".into(), 9));
    }

    #[test]
    fn only_labels_and_annotations_change() {
        let orig = json!({"metadata": {"name": "a", "uid": "1", "labels": {"x": "1"}}});
        let mut conv =
            json!({"apiVersion": "g/v2", "metadata": {"name": "b", "labels": {"y": "2"}}});
        restore_metadata(&orig, &mut conv).unwrap();
        assert_eq!(
            conv["metadata"],
            json!({"name": "a", "uid": "1", "labels": {"y": "2"}})
        );
    }
}
