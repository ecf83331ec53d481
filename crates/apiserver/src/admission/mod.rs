//! The admission chain: upstream's plugins, by upstream's names, in
//! upstream's order, mutating first then validating.
//!
//! The resource handler calls [`Chain::admit`] (mutating) and then
//! [`Chain::validate`] on the decoded object before it reaches the store.
//! NamespaceLifecycle is the exception: the store calls it right before the
//! write (see [`namespace_lifecycle`]), and it cannot be disabled.
//!
//! `--enable-admission-plugins` / `--disable-admission-plugins` pick from
//! upstream's list. Default-on upstream plugins that Corten does not
//! implement yet are accepted and skipped (logged once at startup);
//! enabling an off-by-default plugin that is not implemented is an error,
//! so nobody believes a policy is enforced when it is not.

pub mod admitted;
pub mod cel;
pub mod certificates;
pub mod config;
pub mod default_class;
pub mod defaulting;
pub mod hooks;
pub mod limit_ranger;
pub mod namespace_lifecycle;
pub mod node_restriction;
pub mod node_taint;
pub mod pod_security;
pub mod policy;
pub mod priority;
pub mod pvc_resize;
pub mod resource_quota;
pub mod runtime_class;
pub mod service_account;
pub mod storage_protection;
pub mod tolerations;
pub mod webhook;

use corten_apimachinery::{GroupResource, StatusError};
use serde_json::Value;

use crate::app::ApiServer;
use crate::auth::UserInfo;

/// Upstream's plugin order (`AllOrderedPlugins`, 1.33).
pub const ORDERED: &[&str] = &[
    "AlwaysAdmit",
    "NamespaceAutoProvision",
    "NamespaceLifecycle",
    "NamespaceExists",
    "LimitPodHardAntiAffinityTopology",
    "LimitRanger",
    "ServiceAccount",
    "NodeRestriction",
    "TaintNodesByCondition",
    "AlwaysPullImages",
    "ImagePolicyWebhook",
    "PodSecurity",
    "PodNodeSelector",
    "Priority",
    "DefaultTolerationSeconds",
    "PodTolerationRestriction",
    "EventRateLimit",
    "ExtendedResourceToleration",
    "DefaultStorageClass",
    "StorageObjectInUseProtection",
    "OwnerReferencesPermissionEnforcement",
    "PersistentVolumeClaimResize",
    "RuntimeClass",
    "CertificateApproval",
    "CertificateSigning",
    "ClusterTrustBundleAttest",
    "CertificateSubjectRestriction",
    "DefaultIngressClass",
    "DenyServiceExternalIPs",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionWebhook",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionWebhook",
    "ResourceQuota",
    "AlwaysDeny",
];

/// Plugins upstream enables when no flag says otherwise.
pub const DEFAULT_ON: &[&str] = &[
    "NamespaceLifecycle",
    "LimitRanger",
    "ServiceAccount",
    "TaintNodesByCondition",
    "PodSecurity",
    "Priority",
    "DefaultTolerationSeconds",
    "DefaultStorageClass",
    "StorageObjectInUseProtection",
    "PersistentVolumeClaimResize",
    "RuntimeClass",
    "CertificateApproval",
    "CertificateSigning",
    "ClusterTrustBundleAttest",
    "CertificateSubjectRestriction",
    "DefaultIngressClass",
    "MutatingAdmissionWebhook",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionWebhook",
    "ResourceQuota",
];

/// Plugins Corten implements.
pub const IMPLEMENTED: &[&str] = &[
    "AlwaysAdmit",
    "NamespaceLifecycle",
    "LimitRanger",
    "ServiceAccount",
    "NodeRestriction",
    "TaintNodesByCondition",
    "PodSecurity",
    "Priority",
    "DefaultTolerationSeconds",
    "DefaultStorageClass",
    "StorageObjectInUseProtection",
    "PersistentVolumeClaimResize",
    "RuntimeClass",
    "CertificateApproval",
    "CertificateSigning",
    "CertificateSubjectRestriction",
    "DefaultIngressClass",
    "ResourceQuota",
    "MutatingAdmissionWebhook",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionWebhook",
    "AlwaysDeny",
];

/// Resolves the two flags into the implemented plugins to run, in order.
pub fn plugins_from_flags(
    enable: &[String],
    disable: &[String],
) -> Result<Vec<&'static str>, String> {
    let clean = |v: &[String]| -> Vec<String> {
        v.iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let (enable, disable) = (clean(enable), clean(disable));
    for (flag, list) in [
        ("--enable-admission-plugins", &enable),
        ("--disable-admission-plugins", &disable),
    ] {
        for name in list {
            if !ORDERED.contains(&name.as_str()) {
                return Err(format!("{flag}: admission plugin {name:?} is unknown"));
            }
        }
    }
    for name in &enable {
        if disable.contains(name) {
            return Err(format!(
                "{name} in enable-admission-plugins and disable-admission-plugins overlapped"
            ));
        }
        if !IMPLEMENTED.contains(&name.as_str()) && !DEFAULT_ON.contains(&name.as_str()) {
            return Err(format!(
                "--enable-admission-plugins: admission plugin {name} is not implemented by Corten yet"
            ));
        }
    }
    Ok(ORDERED
        .iter()
        .copied()
        .filter(|p| DEFAULT_ON.contains(p) || enable.iter().any(|e| e == p))
        .filter(|p| !disable.iter().any(|d| d == p))
        .filter(|p| IMPLEMENTED.contains(p))
        .collect())
}

/// The admission operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// POST.
    Create,
    /// PUT / PATCH.
    Update,
    /// DELETE.
    Delete,
}

/// What is being admitted.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Who asks.
    pub user: &'a UserInfo,
    /// The operation.
    pub operation: Operation,
    /// API group of the resource.
    pub group: &'a str,
    /// Plural resource.
    pub resource: &'a str,
    /// Subresource ("" for the main resource).
    pub subresource: &'a str,
    /// Namespace ("" for cluster scope).
    pub namespace: &'a str,
    /// Object name ("" when generated).
    pub name: &'a str,
    /// `dryRun=All`: no side effects (quota usage is not written).
    pub dry_run: bool,
}

impl Request<'_> {
    /// Whether this addresses `group/resource` (main resource only).
    pub fn is(&self, group: &str, resource: &str) -> bool {
        self.group == group && self.resource == resource && self.subresource.is_empty()
    }

    /// Whether this addresses a subresource of `group/resource`.
    pub fn is_subresource_of(&self, group: &str, resource: &str) -> bool {
        self.group == group && self.resource == resource && !self.subresource.is_empty()
    }

    /// Upstream's `admission.NewForbidden`: `pods "x" is forbidden: ...`.
    pub fn forbidden(&self, detail: &str) -> StatusError {
        StatusError::forbidden(
            &GroupResource::new(self.group, self.resource),
            self.name,
            detail,
        )
    }
}

/// The configured chain.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    plugins: Vec<&'static str>,
    /// PodSecurity's defaults and exemptions.
    pod_security: std::sync::Arc<pod_security::PodSecurityConfig>,
    /// MutatingAdmissionWebhook / ValidatingAdmissionWebhook state.
    pub webhooks: std::sync::Arc<webhook::Webhooks>,
    /// ValidatingAdmissionPolicy state.
    pub policies: std::sync::Arc<policy::Policies>,
    /// ResourceQuota's per-namespace write serialization.
    quota_locks: std::sync::Arc<resource_quota::QuotaLocks>,
}

impl Chain {
    /// A chain of the given (implemented, ordered) plugins, configured by
    /// `--admission-control-config-file`; a bad plugin configuration is an
    /// error naming the field.
    pub fn new(
        plugins: Vec<&'static str>,
        config: &config::AdmissionConfig,
    ) -> anyhow::Result<Self> {
        let skipped: Vec<&&str> = DEFAULT_ON
            .iter()
            .filter(|p| !IMPLEMENTED.contains(p))
            .collect();
        tracing::debug!(?plugins, ?skipped, "admission plugins");
        let pod_security = match config.plugin("PodSecurity") {
            Some(v) => {
                pod_security::PodSecurityConfig::from_value(v).map_err(anyhow::Error::msg)?
            }
            None => Default::default(),
        };
        pod_security::metrics::init();
        Ok(Chain {
            plugins,
            pod_security: std::sync::Arc::new(pod_security),
            webhooks: Default::default(),
            policies: Default::default(),
            quota_locks: Default::default(),
        })
    }

    /// Whether a plugin runs.
    pub fn enabled(&self, name: &str) -> bool {
        self.plugins.contains(&name)
    }

    /// Whether a built-in plugin judges an update of `group/resource`
    /// against the stored object, so the update path must read it.
    pub fn needs_old(&self, group: &str, resource: &str, subresource: &str) -> bool {
        let main = subresource.is_empty();
        match (group, resource) {
            // PodSecurity re-checks significant pod updates and dry-runs a
            // tightened namespace policy against existing pods.
            ("", "pods") => {
                self.enabled("PodSecurity") && pod_security::judges_pod_subresource(subresource)
                    // LimitRanger and ResourceQuota judge a resize by its
                    // difference from the stored pod.
                    || subresource == "resize"
                        && (self.enabled("LimitRanger") || self.enabled("ResourceQuota"))
            }
            ("", "namespaces") => main && self.enabled("PodSecurity"),
            ("", "persistentvolumeclaims") => {
                main && (self.enabled("PersistentVolumeClaimResize")
                    || self.enabled("LimitRanger")
                    || self.enabled("ResourceQuota"))
            }
            // ResourceQuota charges what an update adds.
            ("", "services") => main && self.enabled("ResourceQuota"),
            _ => false,
        }
    }

    /// Whether a built-in plugin will judge `req`'s object by fields
    /// upstream's decode-time defaults set (see [`defaulting`]):
    /// LimitRanger and ResourceQuota read the requests a container's limits
    /// default, when the namespace has a LimitRange or a quota.
    pub fn reads_defaults(&self, server: &ApiServer, req: &Request<'_>) -> bool {
        (self.enabled("LimitRanger") && limit_ranger::judges(server, req))
            || (self.enabled("ResourceQuota") && resource_quota::judges(server, req))
    }

    /// Runs the mutating plugins in order (`dynamic`: the request as
    /// webhooks see it).
    pub async fn admit(
        &self,
        server: &ApiServer,
        req: &Request<'_>,
        obj: &mut Value,
        old: Option<&Value>,
        dynamic: Option<&webhook::Call<'_>>,
    ) -> Result<(), StatusError> {
        for p in &self.plugins {
            match *p {
                "AlwaysDeny" => {
                    return Err(req.forbidden("admission control is denying all modifications"));
                }
                "LimitRanger" => limit_ranger::admit(server, req, obj).await?,
                "ServiceAccount" => service_account::admit(server, req, obj).await?,
                "Priority" => priority::admit(server, req, obj).await?,
                "TaintNodesByCondition" => node_taint::admit(req, obj),
                "DefaultTolerationSeconds" => tolerations::admit(req, obj),
                "DefaultStorageClass" => default_class::admit_claim(server, req, obj)?,
                "StorageObjectInUseProtection" => storage_protection::admit(req, obj),
                "RuntimeClass" => runtime_class::admit(server, req, obj).await?,
                "DefaultIngressClass" => default_class::admit_ingress(server, req, obj)?,
                "MutatingAdmissionWebhook" => {
                    if let Some(call) = dynamic {
                        self.webhooks.mutate(call, obj, old).await?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Runs the validating plugins in order; returns warnings for the
    /// response's `Warning` headers.
    pub async fn validate(
        &self,
        server: &ApiServer,
        req: &Request<'_>,
        obj: Option<&Value>,
        old: Option<&Value>,
        dynamic: Option<&webhook::Call<'_>>,
    ) -> Result<Vec<String>, StatusError> {
        let mut warnings = Vec::new();
        for p in &self.plugins {
            match *p {
                "LimitRanger" => {
                    if let Some(o) = obj {
                        limit_ranger::validate(server, req, o, old).await?;
                    }
                }
                "ServiceAccount" => {
                    if let Some(o) = obj {
                        service_account::validate(req, o)?;
                    }
                }
                "NodeRestriction" => node_restriction::validate(server, req, obj, old).await?,
                "PodSecurity" => {
                    if let Some(o) = obj {
                        let opts = dynamic.map(|c| c.opts);
                        let annotate = |key: &str, value: String| {
                            if let Some(opts) = opts {
                                opts.annotate(key.to_string(), value);
                            }
                        };
                        let config = &self.pod_security;
                        warnings.extend(
                            pod_security::validate(server, config, req, o, old, &annotate).await?,
                        );
                    }
                }
                "PersistentVolumeClaimResize" => {
                    if let (Some(o), Some(old)) = (obj, old) {
                        pvc_resize::validate(server, req, o, old).await?;
                    }
                }
                "RuntimeClass" => {
                    if let Some(o) = obj {
                        runtime_class::validate(server, req, o).await?;
                    }
                }
                "CertificateApproval" => certificates::validate_approval(server, req, old)?,
                "CertificateSigning" => certificates::validate_signing(server, req, obj, old)?,
                "CertificateSubjectRestriction" => certificates::validate_subject(req, obj)?,
                "ValidatingAdmissionPolicy" => {
                    if let Some(call) = dynamic {
                        self.policies.validate(call, obj, old).await?;
                    }
                }
                "ValidatingAdmissionWebhook" => {
                    if let Some(call) = dynamic {
                        self.webhooks.validate(call, obj, old).await?;
                    }
                }
                "ResourceQuota" => {
                    if let Some(o) = obj {
                        resource_quota::validate(server, &self.quota_locks, req, o, old).await?;
                    }
                }
                _ => {}
            }
        }
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn a_bad_plugin_configuration_stops_the_chain() {
        let text = "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: PodSecurity\n  configuration:\n    apiVersion: pod-security.admission.config.k8s.io/v1\n    kind: PodSecurityConfiguration\n    defaults: {warn: loud}\n";
        let config = config::AdmissionConfig::parse(text, std::path::Path::new(".")).unwrap();
        let err = Chain::new(vec!["PodSecurity"], &config).unwrap_err();
        assert!(
            err.to_string()
                .contains("defaults.warn: Invalid value: \"loud\""),
            "{err}"
        );
        assert!(Chain::new(vec!["PodSecurity"], &Default::default()).is_ok());
    }

    #[test]
    fn flags_pick_plugins_in_upstream_order() {
        let d = plugins_from_flags(&[], &[]).unwrap();
        assert_eq!(
            d,
            [
                "NamespaceLifecycle",
                "LimitRanger",
                "ServiceAccount",
                "TaintNodesByCondition",
                "PodSecurity",
                "Priority",
                "DefaultTolerationSeconds",
                "DefaultStorageClass",
                "StorageObjectInUseProtection",
                "PersistentVolumeClaimResize",
                "RuntimeClass",
                "CertificateApproval",
                "CertificateSigning",
                "CertificateSubjectRestriction",
                "DefaultIngressClass",
                "MutatingAdmissionWebhook",
                "ValidatingAdmissionPolicy",
                "ValidatingAdmissionWebhook",
                "ResourceQuota"
            ]
        );
        let d = plugins_from_flags(&s(&["NodeRestriction"]), &s(&["ServiceAccount"])).unwrap();
        assert_eq!(d[2], "NodeRestriction");
        assert!(!d.contains(&"ServiceAccount"));
        assert!(plugins_from_flags(&s(&["Nope"]), &[]).is_err());
        assert!(plugins_from_flags(&s(&["AlwaysPullImages"]), &[]).is_err());
        assert!(plugins_from_flags(&s(&["Priority"]), &s(&["Priority"])).is_err());
        // Default-on plugins Corten lacks are accepted (and skipped).
        let d = plugins_from_flags(&s(&["ClusterTrustBundleAttest"]), &[]).unwrap();
        assert!(!d.contains(&"ClusterTrustBundleAttest"));
    }
}
