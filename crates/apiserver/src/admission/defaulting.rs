//! Upstream's defaulting order around admission.
//!
//! Upstream kube-apiserver applies the `SetDefaults_*` functions while it
//! decodes a request body, so every write's object is defaulted before
//! the admission chain sees it; built-in mutating plugins then change that
//! typed object in place (their output is not defaulted again), and each
//! mutating webhook's patched object is decoded, and so defaulted, again
//! (conformance: "mutate pod and apply defaults after mutation").
//! Validating admission judges the defaulted result.
//!
//! Corten's store defaults inside its pipeline (`corten_api::pipeline`:
//! canonicalize -> store metadata -> prepare -> default -> validate),
//! after admission. Before this module, admission therefore saw bodies as
//! the client sent them:
//!
//! | write | defaults ran | admission saw |
//! | --- | --- | --- |
//! | create (POST), apply that creates | store, after admission | the body |
//! | update (PUT) | store, after admission | the body |
//! | patch (JSON, merge, strategic), apply | store, after admission | the patch result |
//! | `/status` PUT and PATCH | never (the store keeps the stored spec) | the body / patch result |
//! | `/scale` PUT and PATCH | store, on the parent, after admission | the `Scale` |
//! | `pods/ephemeralcontainers` | store's subresource step, after admission | the body / patch result |
//! | `certificatesigningrequests/approval`, `namespaces/finalize` | never (no defaults apply) | the body / patch result |
//! | mutating webhook output | store, after all admission | the undefaulted patch result |
//!
//! Now ([`Defaulting`], called by `hooks::Write` before the mutating
//! chain, and by the webhook dispatcher after every patch that changed
//! the object):
//!
//! | write | defaults run | admission sees |
//! | --- | --- | --- |
//! | create, update, every patch type, apply | decode (before mutating admission) and again in the store | the defaulted object |
//! | `pods/ephemeralcontainers` | decode and the store's subresource step | the defaulted pod |
//! | mutating webhook output | after each changing patch, and in the store | the re-defaulted object (next webhooks, validation) |
//! | `/status` | unchanged: never | the body (the store does not default status writes; upstream does, a known gap) |
//! | `/scale` | unchanged: the store, on the parent | the `Scale` (upstream has no `Scale` defaults either) |
//! | approval, finalize | unchanged | the body |
//!
//! The decode-time step converts the body to the kind's typed form and
//! back, which costs a little; defaults are idempotent, so the store's
//! own defaulting gives the same stored object either way. The step
//! therefore runs only when admission can tell the difference: a
//! webhook or ValidatingAdmissionPolicy matches the write, or a built-in
//! plugin that reads defaulted fields has something to judge (LimitRanger
//! with LimitRanges in the namespace, ResourceQuota with quotas there:
//! both read the requests a container's limits default). The other
//! built-in plugins read nothing `SetDefaults_*` sets (service accounts,
//! priority classes, tolerations, runtime classes, storage and ingress
//! classes, PodSecurity's fields). The usual create, with no webhook and
//! no quota or LimitRange, pays nothing.
//!
//! Upstream's decoder also drops the fields the kind does not know and
//! judges them by `fieldValidation`; the store does that here, later, on
//! the body as the client sent it. So that it still can, the step adds to
//! the object only what defaulting changed (the difference between the
//! decoded body and the defaulted one) and keeps the rest as sent:
//! unknown fields, write-only fields (a Secret's `stringData`), values in
//! their original spelling. A body that does not decode is left alone for
//! the store to refuse with its 400, as before.
//! Only built-in kinds written in their storage version are defaulted
//! here; custom resources (defaulted from their schema by the store) and
//! other versions (converted by the store) keep the old order.

use serde_json::Value;

use crate::registry::{Resource, store};

/// Decode-time defaulting of one write's object.
#[derive(Clone, Copy)]
pub struct Defaulting<'a> {
    res: &'a Resource,
}

impl std::fmt::Debug for Defaulting<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Defaulting")
            .field("resource", &self.res.def.resource)
            .finish()
    }
}

impl<'a> Defaulting<'a> {
    /// For a write of `res` through `subresource` (`""` for the main
    /// resource): `None` when admission does not see an object this module
    /// defaults (see the table above).
    pub fn for_write(res: &'a Resource, subresource: &str) -> Option<Self> {
        let whole_object = matches!(subresource, "" | "ephemeralcontainers");
        (whole_object && res.custom.is_none() && res.is_storage_version())
            .then_some(Defaulting { res })
    }

    /// Applies the kind's defaults to `obj` as upstream's decoder would,
    /// keeping what the store must still judge (see the module docs).
    /// Leaves an object that does not decode as the kind untouched.
    pub fn apply(&self, obj: &mut Value) {
        let strategy = self.res.storage_def.strategy;
        let mut body = obj.clone();
        if store::check_type_meta(self.res, &mut body).is_err() {
            return;
        }
        let Ok(decoded) = strategy.canonicalize(body) else {
            return;
        };
        let mut defaulted = decoded.clone();
        strategy.default(&mut defaulted);
        merge_changes(obj, &decoded, &defaulted);
    }
}

/// Makes to `target` the changes that turned `before` into `after`:
/// members added, removed or changed, recursively; lists of the same
/// length item by item; anything else replaced whole.
fn merge_changes(target: &mut Value, before: &Value, after: &Value) {
    if before == after {
        return;
    }
    match (target, before, after) {
        (Value::Object(t), Value::Object(b), Value::Object(a)) => {
            for (key, av) in a {
                match (t.get_mut(key), b.get(key)) {
                    (Some(tv), Some(bv)) => merge_changes(tv, bv, av),
                    // Made by decoding (a Secret's `data` from its
                    // `stringData`), not by defaulting.
                    (None, Some(bv)) if bv == av => {}
                    _ => {
                        t.insert(key.clone(), av.clone());
                    }
                }
            }
            for key in b.keys().filter(|k| !a.contains_key(*k)) {
                t.shift_remove(key);
            }
        }
        (Value::Array(t), Value::Array(b), Value::Array(a))
            if t.len() == b.len() && b.len() == a.len() =>
        {
            for ((tv, bv), av) in t.iter_mut().zip(b).zip(a) {
                merge_changes(tv, bv, av);
            }
        }
        (t, _, a) => *t = a.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::merge_changes;

    #[test]
    fn only_what_defaulting_changed_reaches_the_object() {
        let mut sent = json!({
            "spec": {"containers": [{"name": "c", "image": "x", "bogus": 1,
                                     "resources": {"limits": {"cpu": "1000m"}}}],
                     "restartPolicy": null},
            "stringData": {"k": "v"}
        });
        let decoded = json!({
            "spec": {"containers": [{"name": "c", "image": "x",
                                     "resources": {"limits": {"cpu": "1"}}}]},
            "data": {"k": "dg=="}
        });
        let defaulted = json!({
            "spec": {"containers": [{"name": "c", "image": "x",
                                     "imagePullPolicy": "IfNotPresent",
                                     "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}}],
                     "restartPolicy": "Always"},
            "data": {"k": "dg=="}
        });
        merge_changes(&mut sent, &decoded, &defaulted);
        assert_eq!(
            sent,
            json!({
                "spec": {"containers": [{"name": "c", "image": "x", "bogus": 1,
                                         "resources": {"limits": {"cpu": "1000m"}, "requests": {"cpu": "1"}},
                                         "imagePullPolicy": "IfNotPresent"}],
                         "restartPolicy": "Always"},
                "stringData": {"k": "v"}
            })
        );
    }

    #[test]
    fn removals_and_reshaped_lists_follow_the_defaults() {
        let mut sent =
            json!({"spec": {"sessionAffinityConfig": {"clientIP": {}}, "ports": [{"port": 80}]}});
        let decoded =
            json!({"spec": {"sessionAffinityConfig": {"clientIP": {}}, "ports": [{"port": 80}]}});
        let defaulted = json!({"spec": {"ports": [{"port": 80, "protocol": "TCP"}, {"port": 81}]}});
        merge_changes(&mut sent, &decoded, &defaulted);
        assert_eq!(
            sent,
            json!({"spec": {"ports": [{"port": 80, "protocol": "TCP"}, {"port": 81}]}})
        );
    }
}
