//! MutatingAdmissionWebhook and ValidatingAdmissionWebhook: the
//! configurations from the apiserver's own watch caches, matched against
//! each write (rules, match policy, namespace/object selectors,
//! matchConditions), called over HTTPS with an AdmissionReview v1.
//!
//! Mutating webhooks run one after another (configurations sorted by
//! name), each seeing the previous one's JSONPatch applied; those with
//! `reinvocationPolicy: IfNeeded` run once more when a later webhook
//! changed the object. Validating webhooks run concurrently. Denials come
//! back as upstream's `admission webhook "x" denied the request: ...`,
//! failed calls as `failed calling webhook "x": ...` (500) unless the
//! webhook's `failurePolicy` is `Ignore`.

pub mod client;
pub mod config;
pub mod matching;
pub mod metrics;
pub mod review;

use std::sync::Arc;
use std::time::Instant;

use corten_apimachinery::StatusError;
use serde_json::Value;

use super::Operation;
use crate::app::ApiServer;
use crate::auth::UserInfo;
use crate::registry::store::WriteOptions;
use config::{Hook, HookCache, Kind};
use matching::Target;

/// One admission request as dynamic admission (webhooks, policies) sees it.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    /// The server.
    pub server: &'a Arc<ApiServer>,
    /// Who asks.
    pub user: &'a UserInfo,
    /// The operation.
    pub operation: Operation,
    /// Group, version and plural resource of the URL.
    pub resource: (&'a str, &'a str, &'a str),
    /// Group, version and kind of the object sent (`Scale` for `/scale`).
    pub kind: (&'a str, &'a str, &'a str),
    /// Subresource or "".
    pub subresource: &'a str,
    /// Namespace or "".
    pub namespace: &'a str,
    /// Object name ("" for creates with generateName).
    pub name: &'a str,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// Write options: `fieldManager`, and the response's warnings.
    pub opts: &'a WriteOptions,
    /// Decodes (and so defaults) each mutating webhook's patched object
    /// again, as upstream does; `None` where admission's object is not
    /// defaulted (see `admission::defaulting`).
    pub defaulting: Option<super::defaulting::Defaulting<'a>>,
}

impl<'a> Call<'a> {
    /// `CREATE`, `UPDATE`, `DELETE`.
    pub fn operation_name(&self) -> &'static str {
        match self.operation {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }

    /// The attributes rules are matched against.
    pub fn target(&self) -> Target<'a> {
        Target {
            operation: self.operation_name(),
            group: self.resource.0,
            version: self.resource.1,
            resource: self.resource.2,
            subresource: self.subresource,
            namespace: self.namespace,
        }
    }

    /// The AdmissionReview request fields (a fresh uid).
    pub fn request_info(&self) -> review::RequestInfo<'a> {
        review::RequestInfo {
            uid: uuid::Uuid::new_v4().to_string(),
            kind: self.kind,
            resource: self.resource,
            subresource: self.subresource,
            name: self.name,
            namespace: self.namespace,
            operation: self.operation_name(),
            user: self.user,
            dry_run: self.dry_run,
            options: review::options(
                self.operation_name(),
                self.dry_run,
                self.opts.field_manager.as_deref(),
            ),
        }
    }
}

/// Both webhook plugins' state: the parsed configurations.
#[derive(Debug)]
pub struct Webhooks {
    mutating: HookCache,
    validating: HookCache,
    /// Kept connections to the backends.
    pool: client::Pool,
}

impl Default for Webhooks {
    fn default() -> Self {
        Webhooks {
            mutating: HookCache::new(Kind::Mutating),
            validating: HookCache::new(Kind::Validating),
            pool: client::Pool::default(),
        }
    }
}

/// The webhooks whose rules match a request, with their index among all
/// webhooks of their kind (audit annotations name it); selectors and
/// conditions are checked later, per object.
fn by_rules(hooks: &[Arc<Hook>], call: &Call<'_>) -> Vec<(usize, Arc<Hook>)> {
    let t = call.target();
    let reg = &call.server.registry;
    hooks
        .iter()
        .enumerate()
        .filter(|(_, h)| matching::rules_match(&h.rules, h.exact, &t, Some(reg)))
        .map(|(i, h)| (i, h.clone()))
        .collect()
}

/// Upstream's audit annotation prefixes.
const MUTATION_ANNOTATION: &str = "mutation.webhook.admission.k8s.io/";
const PATCH_ANNOTATION: &str = "patch.webhook.admission.k8s.io/";
const FAILED_OPEN_MUTATING: &str = "failed-open.mutation.webhook.admission.k8s.io/";
const FAILED_OPEN_VALIDATING: &str = "failed-open.validating.webhook.admission.k8s.io/";

/// Which call of a webhook this is: `round` 1 for reinvocations, `index`
/// among all webhooks of its kind.
#[derive(Clone, Copy)]
struct Invocation {
    round: usize,
    index: usize,
    mutating: bool,
}

impl Invocation {
    fn key(&self, prefix: &str) -> String {
        format!("{prefix}round_{}_index_{}", self.round, self.index)
    }
}

/// Upstream's error for a webhook that cannot be called on a dry run.
fn dry_run_unsupported(name: &str) -> StatusError {
    StatusError::bad_request(format!(
        "admission webhook \"{name}\" does not support dry run"
    ))
}

/// What a call to one webhook came to.
enum Outcome {
    /// Not called: selectors or conditions excluded it.
    Skipped,
    /// Allowed, with the webhook's patch (if any).
    Allowed(Option<Vec<u8>>),
}

impl Webhooks {
    /// Whether any mutating (`mutating`) or validating webhook's rules
    /// match the request, i.e. whether the objects are worth computing.
    pub fn rules_match(&self, call: &Call<'_>, mutating: bool) -> bool {
        let cache = if mutating {
            &self.mutating
        } else {
            &self.validating
        };
        !by_rules(&cache.hooks(&call.server.registry), call).is_empty()
    }

    /// MutatingAdmissionWebhook: calls each matching webhook in order and
    /// applies its patch to `obj`.
    pub async fn mutate(
        &self,
        call: &Call<'_>,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), StatusError> {
        let hooks = by_rules(&self.mutating.hooks(&call.server.registry), call);
        if hooks.is_empty() {
            return Ok(());
        }
        let mut last_change: Option<usize> = None;
        for (n, (index, h)) in hooks.iter().enumerate() {
            let at = Invocation {
                round: 0,
                index: *index,
                mutating: true,
            };
            if self.call_one(call, h, at, Some(obj), old).await? {
                last_change = Some(n);
            }
        }
        // Reinvocation: webhooks that asked for it and ran before the last
        // change see the object once more.
        if let Some(last) = last_change {
            for (index, h) in hooks
                .iter()
                .take(last)
                .filter(|(_, h)| h.reinvoke_if_needed)
            {
                let at = Invocation {
                    round: 1,
                    index: *index,
                    mutating: true,
                };
                self.call_one(call, h, at, Some(obj), old).await?;
            }
        }
        Ok(())
    }

    /// ValidatingAdmissionWebhook: calls the matching webhooks concurrently;
    /// the first refusal (in webhook order) is returned.
    pub async fn validate(
        &self,
        call: &Call<'_>,
        obj: Option<&Value>,
        old: Option<&Value>,
    ) -> Result<(), StatusError> {
        let hooks = by_rules(&self.validating.hooks(&call.server.registry), call);
        if hooks.is_empty() {
            return Ok(());
        }
        let calls = hooks.iter().map(|(index, h)| async move {
            let mut copy = obj.cloned();
            let at = Invocation {
                round: 0,
                index: *index,
                mutating: false,
            };
            self.call_one(call, h, at, copy.as_mut(), old).await
        });
        for r in futures::future::join_all(calls).await {
            r?;
        }
        Ok(())
    }

    /// Matches one webhook against the objects and calls it; returns
    /// whether it changed `obj`.
    async fn call_one(
        &self,
        call: &Call<'_>,
        h: &Hook,
        at: Invocation,
        obj: Option<&mut Value>,
        old: Option<&Value>,
    ) -> Result<bool, StatusError> {
        let mutating = at.mutating;
        let outcome = self.invoke(call, h, mutating, obj.as_deref(), old).await;
        // Upstream records whether each mutating webhook it called changed
        // the object, whatever the call came to.
        let called = !matches!(outcome, Ok(Outcome::Skipped));
        let changed = match outcome {
            Ok(Outcome::Skipped) | Ok(Outcome::Allowed(None)) => Ok(false),
            Ok(Outcome::Allowed(Some(patch))) => apply_webhook_patch(call, h, at, obj, &patch),
            Err(e) => self.failed(call, h, at, e),
        };
        if mutating && called {
            let value = serde_json::json!({
                "configuration": h.configuration,
                "webhook": h.name,
                "mutated": changed.as_ref().is_ok_and(|c| *c),
            });
            call.opts
                .annotate(at.key(MUTATION_ANNOTATION), value.to_string());
        }
        changed
    }

    /// A call that did not allow the request: its error, or nothing when
    /// the webhook fails open.
    fn failed(
        &self,
        call: &Call<'_>,
        h: &Hook,
        at: Invocation,
        failure: Failure,
    ) -> Result<bool, StatusError> {
        let ty = if at.mutating { "admit" } else { "validating" };
        let op = call.operation_name();
        match failure {
            Failure::Denied(e) => {
                metrics::rejected(&h.name, ty, op, "no_error", e.code);
                Err(e)
            }
            Failure::Fatal(e) => Err(e),
            Failure::Call(detail) => {
                let msg = format!("failed calling webhook \"{}\": {detail}", h.name);
                if h.ignore_failures {
                    tracing::warn!(webhook = %h.name, error = %msg, "failed calling webhook, failing open");
                    let prefix = if at.mutating {
                        FAILED_OPEN_MUTATING
                    } else {
                        FAILED_OPEN_VALIDATING
                    };
                    call.opts.annotate(at.key(prefix), h.name.clone());
                    return Ok(false);
                }
                tracing::warn!(webhook = %h.name, error = %msg, "failed calling webhook, failing closed");
                metrics::rejected(&h.name, ty, op, "calling_webhook_error", 0);
                Err(StatusError::internal(msg))
            }
        }
    }

    async fn invoke(
        &self,
        call: &Call<'_>,
        h: &Hook,
        mutating: bool,
        obj: Option<&Value>,
        old: Option<&Value>,
    ) -> Result<Outcome, Failure> {
        let reg = &call.server.registry;
        let t = call.target();
        let ns_labels = matching::namespace_labels(reg, &t, obj, old);
        if !matching::namespace_selector_matches(&h.namespace_selector, ns_labels.as_ref())
            || !matching::object_selector_matches(&h.object_selector, obj, old)
        {
            return Ok(Outcome::Skipped);
        }
        let info = call.request_info();
        if !h.match_conditions.is_empty() {
            let request = review::request(&info, None, None);
            match super::cel::match_conditions(call, &h.match_conditions, &request, obj, old) {
                Ok(true) => {}
                Ok(false) => return Ok(Outcome::Skipped),
                Err(e) => return Err(Failure::Call(e)),
            }
        }
        if call.dry_run && !h.dry_run_safe {
            return Err(Failure::Fatal(dry_run_unsupported(&h.name)));
        }
        let ty = if mutating { "admit" } else { "validating" };
        let op = call.operation_name();
        let endpoint =
            client::resolve(reg, &h.client, h.timeout).map_err(|e| Failure::Call(e.to_string()))?;
        let body = serde_json::to_vec(&review::review(&info, obj, old))
            .map_err(|e| Failure::Fatal(StatusError::internal(e)))?;
        let started = Instant::now();
        let answer = self
            .pool
            .post(&endpoint, &h.client.ca_bundle, body, h.timeout)
            .await;
        let secs = started.elapsed().as_secs_f64();
        let bytes = match answer {
            Ok(b) => b,
            Err(e) => {
                let code = match &e {
                    client::CallError::Status(c, _) => *c,
                    client::CallError::Transport(_) => 0,
                };
                metrics::observe(&h.name, ty, op, code, true, secs);
                return Err(Failure::Call(format!("failed to call webhook: {e}")));
            }
        };
        let resp = match review::parse_response(&bytes, &info.uid, mutating) {
            Ok(r) => r,
            Err(e) => {
                metrics::observe(&h.name, ty, op, 200, true, secs);
                return Err(Failure::Call(e));
            }
        };
        metrics::observe(&h.name, ty, op, 200, !resp.allowed, secs);
        for w in &resp.warnings {
            call.opts.warn(w.clone());
        }
        for (k, v) in &resp.audit_annotations {
            call.opts.annotate(format!("{}/{k}", h.name), v.clone());
        }
        if !resp.allowed {
            return Err(Failure::Denied(review::denial(
                &h.name,
                resp.status.as_ref(),
            )));
        }
        Ok(Outcome::Allowed(resp.patch))
    }
}

/// Applies a mutating webhook's JSONPatch to `obj`; returns whether it
/// changed it. The patch is recorded for audit levels Request and up.
fn apply_webhook_patch(
    call: &Call<'_>,
    h: &Hook,
    at: Invocation,
    obj: Option<&mut Value>,
    patch: &[u8],
) -> Result<bool, StatusError> {
    let Some(obj) = obj else {
        return Ok(false);
    };
    let patched = corten_apimachinery::patch::apply_json_patch(obj, patch)
        .map_err(|e| StatusError::internal(format!("{e:?}")))?;
    if !patched.is_object() {
        return Err(StatusError::internal(format!(
            "the patch of webhook \"{}\" did not produce an object",
            h.name
        )));
    }
    let ops: Value = serde_json::from_slice(patch).unwrap_or(Value::Null);
    if ops.as_array().is_some_and(|a| !a.is_empty()) {
        let value = serde_json::json!({
            "configuration": h.configuration,
            "webhook": h.name,
            "patch": ops,
            "patchType": "JSONPatch",
        });
        call.opts.annotate_at(
            at.key(PATCH_ANNOTATION),
            value.to_string(),
            crate::audit::Level::Request,
        );
    }
    let changed = patched != *obj;
    *obj = patched;
    // Upstream decodes the patched object into the kind again, which
    // defaults what the webhook added (an init container without an
    // imagePullPolicy, ...).
    if changed && let Some(d) = &call.defaulting {
        d.apply(obj);
    }
    Ok(changed)
}

/// Why a webhook did not allow the request.
enum Failure {
    /// It said no.
    Denied(StatusError),
    /// It could not be called or answered nonsense (subject to
    /// `failurePolicy`).
    Call(String),
    /// A refusal no failure policy overrides (dry run unsupported, ...).
    Fatal(StatusError),
}
