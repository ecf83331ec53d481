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
//! Like upstream's decoder, the step drops the fields the kind does not
//! know and judges them by `fieldValidation` at that point (the store,
//! which then gets an object without them, does not judge again).
//! Only built-in kinds written in their storage version are defaulted
//! here; custom resources (defaulted from their schema by the store) and
//! other versions (converted by the store) keep the old order.

use corten_apimachinery::StatusError;
use serde_json::Value;

use crate::registry::Resource;
use crate::registry::store::{self, WriteOptions};

/// Decode-time defaulting of one write's object.
#[derive(Clone, Copy)]
pub struct Defaulting<'a> {
    res: &'a Resource,
    opts: &'a WriteOptions,
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
    pub fn for_write(res: &'a Resource, subresource: &str, opts: &'a WriteOptions) -> Option<Self> {
        let whole_object = matches!(subresource, "" | "ephemeralcontainers");
        (whole_object && res.custom.is_none() && res.is_storage_version())
            .then_some(Defaulting { res, opts })
    }

    /// The request's object as upstream decodes it: `apiVersion`/`kind`
    /// checked and filled, decoded as the kind (unknown fields dropped and
    /// judged by `fieldValidation`, values canonical), defaulted.
    pub fn decode(&self, obj: &mut Value) -> Result<(), StatusError> {
        store::check_type_meta(self.res, obj)?;
        let input = std::mem::take(obj);
        let judge = !self.opts.dropped_fields_done();
        let mut canonical = if judge {
            let canonical = store::canonicalize(self.res, input.clone())?;
            let dropped = corten_api::pipeline::dropped_json_fields(&input, &canonical);
            store::check_dropped_fields(self.res, dropped, self.opts)?;
            self.opts
                .dropped_fields_checked
                .store(true, std::sync::atomic::Ordering::Relaxed);
            canonical
        } else {
            store::canonicalize(self.res, input)?
        };
        self.res.storage_def.strategy.default(&mut canonical);
        *obj = canonical;
        Ok(())
    }

    /// A mutating webhook's patched object decoded again: dropped fields
    /// go silently and defaults fill what the patch left out. A result
    /// that no longer decodes is the server's error (500), as upstream.
    pub fn decode_patched(&self, webhook: &str, obj: &mut Value) -> Result<(), StatusError> {
        let input = std::mem::take(obj);
        let mut canonical = self
            .res
            .storage_def
            .strategy
            .canonicalize(input)
            .map_err(|e| {
                StatusError::internal(format!(
                    "decoding the object patched by webhook \"{webhook}\": {e}"
                ))
            })?;
        self.res.storage_def.strategy.default(&mut canonical);
        *obj = canonical;
        Ok(())
    }
}
