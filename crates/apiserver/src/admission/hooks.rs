//! Where the resource handler meets admission and the RBAC escalation
//! checks: one call before each create, update and delete.

use corten_apimachinery::{StatusError, meta};
use serde_json::Value;

use super::defaulting::Defaulting;
use super::webhook::Call;
use super::{Operation, Request};
use crate::app::ApiServer;
use crate::auth::{UserInfo, escalation};
use crate::registry::store::WriteOptions;
use crate::registry::{Resource, store};

/// The request a write belongs to.
#[derive(Clone, Copy)]
pub struct Write<'a> {
    /// The server.
    pub server: &'a std::sync::Arc<ApiServer>,
    /// Who writes.
    pub user: &'a UserInfo,
    /// The resource written.
    pub res: &'a Resource,
    /// URL namespace.
    pub namespace: Option<&'a str>,
    /// Subresource ("" for the main resource).
    pub subresource: &'a str,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// Collects warnings for the response.
    pub opts: &'a WriteOptions,
}

impl<'a> Write<'a> {
    fn request(&self, operation: Operation, name: &'a str) -> Request<'a> {
        Request {
            user: self.user,
            operation,
            group: self.res.def.group,
            resource: self.res.def.resource,
            subresource: self.subresource,
            namespace: self.namespace.unwrap_or(""),
            name,
            dry_run: self.dry_run,
        }
    }

    /// The request as webhooks and policies see it.
    pub fn call(&self, operation: Operation, name: &'a str) -> Call<'a> {
        let def = self.res.def;
        let kind = match self.subresource {
            "scale" => ("autoscaling", "v1", "Scale"),
            "eviction" => ("policy", "v1", "Eviction"),
            "binding" => ("", "v1", "Binding"),
            "token" => ("authentication.k8s.io", "v1", "TokenRequest"),
            _ => (def.group, def.version, def.kind),
        };
        Call {
            server: self.server,
            user: self.user,
            operation,
            resource: (def.group, def.version, def.resource),
            kind,
            subresource: self.subresource,
            namespace: self.namespace.unwrap_or(""),
            name,
            dry_run: self.dry_run,
            opts: self.opts,
            defaulting: self.defaulting(),
        }
    }

    /// Decode-time defaulting of this write's object, where it applies.
    fn defaulting(&self) -> Option<Defaulting<'a>> {
        Defaulting::for_write(self.res, self.subresource)
    }

    /// Upstream defaults the object while decoding the request, before
    /// any admission plugin sees it; here that happens when some plugin,
    /// webhook or policy would see the difference (see
    /// [`super::defaulting`]).
    fn default_for_admission(&self, operation: Operation, name: &'a str, obj: &mut Value) {
        let Some(defaulting) = self.defaulting() else {
            return;
        };
        let req = self.request(operation, name);
        let observed = self.dynamic_admission(operation, name)
            || self.server.admission.reads_defaults(self.server, &req);
        if observed {
            defaulting.apply(obj);
        }
    }

    /// Whether a webhook's (or policy's) rules match this write, so that
    /// the objects involved must be computed for it.
    pub fn dynamic_admission(&self, operation: Operation, name: &'a str) -> bool {
        let chain = &self.server.admission;
        let call = self.call(operation, name);
        (chain.enabled("MutatingAdmissionWebhook") && chain.webhooks.rules_match(&call, true))
            || (chain.enabled("ValidatingAdmissionWebhook")
                && chain.webhooks.rules_match(&call, false))
            || (chain.enabled("ValidatingAdmissionPolicy") && chain.policies.rules_match(&call))
    }

    /// Whether role/binding writes by this user need the escalation check.
    pub fn needs_rbac_check(&self) -> bool {
        self.res.def.group == "rbac.authorization.k8s.io"
            && self.subresource.is_empty()
            && self.server.authz.uses_rbac()
            && !self.user.in_group(crate::auth::SYSTEM_PRIVILEGED_GROUP)
    }

    /// The escalation checks for a Role, ClusterRole or binding about to be
    /// written.
    pub fn rbac_checks(&self, obj: &Value) -> Result<(), StatusError> {
        if !self.needs_rbac_check() {
            return Ok(());
        }
        let reg = &self.server.registry;
        let authz = &self.server.authz;
        let ns = self.namespace.unwrap_or("");
        match self.res.def.resource {
            "roles" => escalation::check_role(reg, authz, self.user, ns, obj),
            "clusterroles" => escalation::check_role(reg, authz, self.user, "", obj),
            "rolebindings" => escalation::check_binding(reg, authz, self.user, ns, obj),
            "clusterrolebindings" => escalation::check_binding(reg, authz, self.user, "", obj),
            _ => Ok(()),
        }
    }

    async fn old(&self, operation: Operation, name: &'a str) -> Option<Value> {
        let def = self.res.def;
        let chain = &self.server.admission;
        let needed = (chain.enabled("NodeRestriction") && self.user.node_name().is_some())
            || super::certificates::concerns(def.group, def.resource, self.subresource)
            || (operation == Operation::Update
                && chain.needs_old(def.group, def.resource, self.subresource))
            || self.dynamic_admission(operation, name);
        if !needed || name.is_empty() {
            return None;
        }
        let bytes = store::get(&self.server.registry, self.res, self.namespace, name, None)
            .await
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Before a create: mutating then validating admission, then the
    /// escalation checks.
    pub async fn create(&self, obj: &mut Value) -> Result<(), StatusError> {
        let name = meta::name(obj).unwrap_or_default().to_string();
        let req = self.request(Operation::Create, &name);
        let call = self.call(Operation::Create, &name);
        let chain = &self.server.admission;
        self.default_for_admission(Operation::Create, &name, obj);
        chain
            .admit(self.server, &req, obj, None, Some(&call))
            .await?;
        // Upstream's strategy records the requester while preparing the
        // create: validating admission sees it, whatever the path (POST
        // or an apply that creates).
        set_csr_requester(self.res, obj, self.user);
        self.own_validation_first(Operation::Create, &name, obj)
            .await?;
        self.warn(
            chain
                .validate(self.server, &req, Some(obj), None, Some(&call))
                .await?,
        );
        self.rbac_checks(obj)
    }

    /// Before an update of `name` (`new` is the PUT body).
    pub async fn update(&self, name: &'a str, new: &mut Value) -> Result<(), StatusError> {
        let old = self.old(Operation::Update, name).await;
        self.update_from(name, new, old.as_ref()).await
    }

    /// [`Write::update`] with the stored object (served version) at hand.
    pub async fn update_from(
        &self,
        name: &'a str,
        new: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), StatusError> {
        self.admit_update(name, new, old).await?;
        self.validate_update(name, new, old).await?;
        self.rbac_checks(new)
    }

    /// The mutating half of an update's admission.
    pub async fn admit_update(
        &self,
        name: &'a str,
        new: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), StatusError> {
        let req = self.request(Operation::Update, name);
        let call = self.call(Operation::Update, name);
        self.default_for_admission(Operation::Update, name, new);
        self.server
            .admission
            .admit(self.server, &req, new, old, Some(&call))
            .await
    }

    /// The validating half of an update's admission.
    pub async fn validate_update(
        &self,
        name: &'a str,
        new: &Value,
        old: Option<&Value>,
    ) -> Result<(), StatusError> {
        self.own_validation_first(Operation::Update, name, new)
            .await?;
        let req = self.request(Operation::Update, name);
        let call = self.call(Operation::Update, name);
        let warnings = self
            .server
            .admission
            .validate(self.server, &req, Some(new), old, Some(&call))
            .await?;
        self.warn(warnings);
        Ok(())
    }

    /// Before a delete of `name`.
    pub async fn delete(&self, name: &'a str) -> Result<(), StatusError> {
        let req = self.request(Operation::Delete, name);
        let call = self.call(Operation::Delete, name);
        let old = if self.dynamic_admission(Operation::Delete, name) {
            // Like upstream, a missing object is a 404 before any webhook
            // hears of it; webhooks get the object being deleted.
            let bytes =
                store::get(&self.server.registry, self.res, self.namespace, name, None).await?;
            Some(serde_json::from_slice(&bytes).map_err(StatusError::internal)?)
        } else {
            self.old(Operation::Delete, name).await
        };
        let warnings = self
            .server
            .admission
            .validate(self.server, &req, None, old.as_ref(), Some(&call))
            .await?;
        self.warn(warnings);
        Ok(())
    }

    /// Upstream validates an object by its resource's own rules (the
    /// strategy's `Validate`, a CRD's schema) before validating admission
    /// sees it, so a request both would refuse gets the 422. Here the
    /// store validates as it writes, after admission: when a validating
    /// webhook or ValidatingAdmissionPolicy is about to judge this write,
    /// the write is first run as a dry run and its 422 answered. Writes
    /// no validating webhook or policy matches pay nothing; other errors
    /// of the dry run (404, 409, ...) are left to the write itself.
    async fn own_validation_first(
        &self,
        operation: Operation,
        name: &'a str,
        obj: &Value,
    ) -> Result<(), StatusError> {
        let chain = &self.server.admission;
        let call = self.call(operation, name);
        let judged = (chain.enabled("ValidatingAdmissionWebhook")
            && chain.webhooks.rules_match(&call, false))
            || (chain.enabled("ValidatingAdmissionPolicy") && chain.policies.rules_match(&call));
        let target = match self.subresource {
            "" => store::UpdateTarget::Main,
            "status" => store::UpdateTarget::Status,
            // Other subresources (scale, binding, ...) are not the
            // object the store validates.
            _ => return Ok(()),
        };
        if !judged {
            return Ok(());
        }
        let dry = WriteOptions {
            dry_run: true,
            field_validation: self.opts.field_validation,
            service_cidr_is_v4: self.opts.service_cidr_is_v4,
            subresource: self.subresource.to_string(),
            managed_fields_done: true,
            ..Default::default()
        };
        let reg = &self.server.registry;
        let result = match operation {
            Operation::Create => store::create(reg, self.res, self.namespace, obj.clone(), &dry)
                .await
                .map(|_| ()),
            _ => store::update(
                reg,
                self.res,
                self.namespace,
                name,
                obj.clone(),
                target,
                &dry,
            )
            .await
            .map(|_| ()),
        };
        match result {
            Err(e) if e.code == 422 => Err(e),
            _ => Ok(()),
        }
    }

    fn warn(&self, warnings: Vec<String>) {
        for w in warnings {
            self.opts.warn(w);
        }
    }
}

/// A CertificateSigningRequest records who asked: upstream's strategy
/// overwrites `spec.username`, `uid`, `groups` and `extra` with the
/// requesting user on create (approvers decide on them).
fn set_csr_requester(res: &Resource, obj: &mut Value, user: &UserInfo) {
    if res.def.group != "certificates.k8s.io" || res.def.resource != "certificatesigningrequests" {
        return;
    }
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let info = user.to_json();
    for field in ["username", "uid", "groups", "extra"] {
        match info.get(field) {
            Some(v) => spec.insert(field.to_string(), v.clone()),
            None => spec.remove(field),
        };
    }
}
