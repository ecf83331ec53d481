//! Audit logging (`--audit-policy-file`, `--audit-log-path`): one
//! audit.k8s.io/v1 `Event` JSON line per request stage, at the level the
//! first matching policy rule gives (None, Metadata, Request,
//! RequestResponse).
//!
//! Stages: `RequestReceived` once the user and the request are known,
//! `ResponseStarted` for watches (their end is not logged yet) and
//! `ResponseComplete` for everything else; requests that panic get
//! `Panic`. Lines go through a channel to a writer thread, so a slow disk
//! never blocks a request (lines are dropped, with a warning, if the
//! writer falls 10,000 lines behind).

pub mod policy;

use std::io::Write;
use std::path::Path;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use anyhow::{Context, Result};
use serde_json::{Value, json};

pub use policy::{Level, Policy};

use crate::auth::UserInfo;
use crate::auth::authz::Attributes;
use crate::registry::store::AuditAnnotation;

/// Where events go and which ones.
pub struct Auditor {
    policy: Policy,
    sink: SyncSender<String>,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor").finish_non_exhaustive()
    }
}

impl Auditor {
    /// Loads the policy and opens the log (`-` is standard output). `None`
    /// when no `--audit-log-path` is set (like upstream, no backend means
    /// no auditing).
    pub fn new(policy_file: Option<&Path>, log_path: Option<&Path>) -> Result<Option<Self>> {
        let Some(log_path) = log_path else {
            return Ok(None);
        };
        let policy = match policy_file {
            Some(p) => Policy::from_file(p)?,
            // Upstream audits nothing without a policy file.
            None => return Ok(None),
        };
        let mut out: Box<dyn Write + Send> = if log_path.as_os_str() == "-" {
            Box::new(std::io::stdout())
        } else {
            if let Some(dir) = log_path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log_path)
                .with_context(|| format!("opening --audit-log-path {}", log_path.display()))?;
            Box::new(std::io::BufWriter::new(f))
        };
        let (tx, rx) = sync_channel::<String>(10_000);
        std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || {
                while let Ok(line) = rx.recv() {
                    let _ = out.write_all(line.as_bytes());
                    let _ = out.write_all(b"\n");
                    // Flush when the queue is empty: batches under load,
                    // prompt lines when idle.
                    while let Ok(more) = rx.try_recv() {
                        let _ = out.write_all(more.as_bytes());
                        let _ = out.write_all(b"\n");
                    }
                    let _ = out.flush();
                }
            })
            .context("starting the audit log writer")?;
        Ok(Some(Auditor { policy, sink: tx }))
    }

    fn emit(&self, event: &Value) {
        let line = event.to_string();
        match self.sink.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::warn!("audit log writer is behind; dropping an event")
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// One request's audit record, filled in as the request goes through the
/// pipeline.
#[derive(Debug, Clone, Default)]
pub struct Record {
    level: Option<Level>,
    omit: Vec<String>,
    event: Value,
}

impl Record {
    /// Starts a record for a request.
    pub fn new(method: &str, uri: &str, user_agent: Option<&str>, source: Option<String>) -> Self {
        let mut event = json!({
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "auditID": uuid::Uuid::new_v4().to_string(),
            "requestURI": uri,
            "verb": method.to_ascii_lowercase(),
            "sourceIPs": source.into_iter().collect::<Vec<_>>(),
            "requestReceivedTimestamp": now(),
        });
        if let Some(ua) = user_agent {
            event["userAgent"] = json!(ua);
        }
        Record {
            level: None,
            omit: Vec::new(),
            event,
        }
    }

    /// The audit ID (also sent as the `Audit-Id` response header).
    pub fn id(&self) -> &str {
        self.event["auditID"].as_str().unwrap_or("")
    }

    /// The level in effect (None before the policy was evaluated).
    pub fn level(&self) -> Option<Level> {
        self.level
    }

    /// Records who asks and what, evaluates the policy and logs the
    /// `RequestReceived` stage.
    pub fn received(
        &mut self,
        auditor: &Auditor,
        authenticated: &UserInfo,
        impersonated: Option<&UserInfo>,
        attrs: &Attributes,
    ) {
        let (level, omit) = auditor.policy.evaluate(attrs);
        self.level = Some(level);
        self.omit = omit;
        if level == Level::None {
            return;
        }
        let e = &mut self.event;
        e["level"] = json!(level.name());
        e["user"] = authenticated.to_json();
        if let Some(i) = impersonated {
            e["impersonatedUser"] = i.to_json();
        }
        e["verb"] = json!(attrs.verb);
        if attrs.resource_request {
            let mut r = json!({"resource": attrs.resource, "apiVersion": attrs.api_version});
            if !attrs.namespace.is_empty() {
                r["namespace"] = json!(attrs.namespace);
            }
            if !attrs.name.is_empty() {
                r["name"] = json!(attrs.name);
            }
            if !attrs.api_group.is_empty() {
                r["apiGroup"] = json!(attrs.api_group);
            }
            if !attrs.subresource.is_empty() {
                r["subresource"] = json!(attrs.subresource);
            }
            e["objectRef"] = r;
        }
        self.stage(auditor, "RequestReceived");
    }

    /// Adds the authorization decision annotations.
    pub fn decision(&mut self, allowed: bool, reason: &str) {
        let decision = if allowed { "allow" } else { "forbid" };
        self.annotate("authorization.k8s.io/decision", decision);
        if !reason.is_empty() {
            self.annotate("authorization.k8s.io/reason", reason);
        }
    }

    fn annotate(&mut self, key: &str, value: &str) {
        if !self.event["annotations"].is_object() {
            self.event["annotations"] = json!({});
        }
        self.event["annotations"][key] = json!(value);
    }

    /// Adds admission's annotations that the event's level records.
    pub fn admission_annotations(&mut self, annotations: &[AuditAnnotation]) {
        for a in annotations {
            if self.level.is_some_and(|l| l >= a.level) {
                self.annotate(&a.key, &a.value);
            }
        }
    }

    /// Completes `objectRef` from the request object's metadata (level
    /// Metadata and above: a create's name is only in its body) and
    /// attaches the object itself (level Request and above), as upstream's
    /// `LogRequestObject`.
    pub fn request_object(&mut self, obj: &Value) {
        if self.level.is_none_or(|l| l == Level::None) {
            return;
        }
        if let Some(r) = self
            .event
            .get_mut("objectRef")
            .and_then(Value::as_object_mut)
        {
            for field in ["namespace", "name", "uid", "resourceVersion"] {
                if let Some(v) = obj
                    .get("metadata")
                    .and_then(|m| m.get(field))
                    .and_then(Value::as_str)
                    .filter(|v| !v.is_empty())
                {
                    r.entry(field).or_insert_with(|| json!(v));
                }
            }
        }
        if self.level.is_some_and(|l| l >= Level::Request) {
            self.event["requestObject"] = obj.clone();
        }
    }

    /// Logs a final stage with the response status (and the response
    /// object at RequestResponse).
    pub fn complete(&mut self, auditor: &Auditor, stage: &str, code: u16, body: Option<&[u8]>) {
        if self.level.is_none_or(|l| l == Level::None) {
            return;
        }
        let parsed: Option<Value> = body.and_then(|b| serde_json::from_slice(b).ok());
        let status = match &parsed {
            Some(v) if code >= 400 && v.get("kind").and_then(Value::as_str) == Some("Status") => {
                let mut s = json!({"metadata": {}, "code": code});
                for k in ["status", "message", "reason"] {
                    if let Some(x) = v.get(k) {
                        s[k] = x.clone();
                    }
                }
                s
            }
            _ => json!({"metadata": {}, "code": code}),
        };
        self.event["responseStatus"] = status;
        if self.level == Some(Level::RequestResponse)
            && let Some(v) = parsed
        {
            self.event["responseObject"] = v;
        }
        self.stage(auditor, stage);
    }

    fn stage(&mut self, auditor: &Auditor, stage: &str) {
        if self.omit.iter().any(|s| s == stage) {
            return;
        }
        let mut e = self.event.clone();
        e["stage"] = json!(stage);
        e["stageTimestamp"] = json!(now());
        if stage == "RequestReceived"
            && let Some(m) = e.as_object_mut()
        {
            m.remove("responseStatus");
            m.remove("responseObject");
        }
        auditor.emit(&e);
    }
}

/// Where the resource handler leaves the decoded request object (levels
/// Request and RequestResponse) and admission's annotations for the audit
/// record.
#[derive(Clone, Debug, Default)]
pub struct RequestObjectSlot(std::sync::Arc<std::sync::Mutex<SlotContent>>);

/// What a [`RequestObjectSlot`] holds.
#[derive(Debug, Default)]
struct SlotContent {
    object: Option<Value>,
    annotations: Vec<AuditAnnotation>,
}

impl RequestObjectSlot {
    /// Stores the request object.
    pub fn set(&self, v: &Value) {
        if let Ok(mut g) = self.0.lock() {
            g.object = Some(v.clone());
        }
    }

    /// Takes it out.
    pub fn take(&self) -> Option<Value> {
        self.0.lock().ok().and_then(|mut g| g.object.take())
    }

    /// Adds annotations for the event.
    pub fn annotate(&self, annotations: Vec<AuditAnnotation>) {
        if let Ok(mut g) = self.0.lock() {
            g.annotations.extend(annotations);
        }
    }

    /// Takes the annotations out.
    pub fn take_annotations(&self) -> Vec<AuditAnnotation> {
        self.0
            .lock()
            .map(|mut g| std::mem::take(&mut g.annotations))
            .unwrap_or_default()
    }
}

/// The client address of a connection (audit `sourceIPs`).
#[derive(Clone, Copy, Debug)]
pub struct RemoteAddr(pub std::net::SocketAddr);
