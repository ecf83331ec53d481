//! The table of built-in resources.

use crate::strategy::Strategy;

/// A subresource served under `/<resource>/<name>/<sub>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    /// `status`: get/update/patch of the status only.
    Status,
    /// `scale`: autoscaling/v1 Scale view of replicas.
    Scale,
    /// `pods/binding`: create only.
    Binding,
    /// `pods/eviction`: create only.
    Eviction,
    /// `namespaces/finalize`: update only.
    Finalize,
    /// `serviceaccounts/token`: create only (TokenRequest).
    Token,
    /// `pods/log`, `pods/exec`, ... served by proxying to the kubelet.
    Proxy(&'static str),
}

impl Subresource {
    /// The path segment.
    pub fn name(self) -> &'static str {
        match self {
            Subresource::Status => "status",
            Subresource::Scale => "scale",
            Subresource::Binding => "binding",
            Subresource::Eviction => "eviction",
            Subresource::Finalize => "finalize",
            Subresource::Token => "token",
            Subresource::Proxy(n) => n,
        }
    }
}

/// One built-in resource in one served version.
pub struct ResourceDef {
    /// API group ("" for core).
    pub group: &'static str,
    /// Served version.
    pub version: &'static str,
    /// Plural name (URL segment).
    pub resource: &'static str,
    /// Singular name.
    pub singular: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names for kubectl (`po`, `svc`, ...).
    pub short_names: &'static [&'static str],
    /// Categories (`all`, ...).
    pub categories: &'static [&'static str],
    /// Subresources served.
    pub subresources: &'static [Subresource],
    /// Verbs on the main resource, as discovery lists them.
    pub verbs: &'static [&'static str],
    /// The etcd key segment (`/registry/<storage_resource>/...`); resources
    /// served in several groups/versions share it.
    pub storage_resource: &'static str,
    /// The group of the version persisted in etcd.
    pub storage_group: &'static str,
    /// The version persisted in etcd.
    pub storage_version: &'static str,
    /// Per-kind hooks.
    pub strategy: &'static dyn Strategy,
}

impl std::fmt::Debug for ResourceDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ResourceDef({}/{} {})",
            self.group, self.version, self.resource
        )
    }
}

impl ResourceDef {
    /// `apiVersion` string of the served version.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether a subresource is served.
    pub fn has_subresource(&self, name: &str) -> bool {
        self.subresources.iter().any(|s| s.name() == name)
    }
}

/// Every built-in resource, in every served version.
pub fn builtin_resources() -> &'static [ResourceDef] {
    &[]
}

/// Looks up a resource by group, version and plural name.
pub fn find_resource(group: &str, version: &str, resource: &str) -> Option<&'static ResourceDef> {
    builtin_resources()
        .iter()
        .find(|r| r.group == group && r.version == version && r.resource == resource)
}
