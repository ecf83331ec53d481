//! The table of built-in resources and the lookups the apiserver derives
//! its routes and discovery documents from.
//!
//! Every served group/version/resource has one [`ResourceDef`]. Resources
//! served in several versions or groups share one etcd key space
//! (`storage_resource`) and one persisted version (`storage_group` /
//! `storage_version`); a def whose version differs from its storage
//! version carries a [`Conversion`].
//!
//! # Multi-version flow
//!
//! `ResourceDef::strategy` always works on objects **in the storage
//! version**. For a def with a `conversion`, the apiserver:
//!
//! * on create/update: `conversion.to_storage(body)` (which also rejects
//!   malformed bodies, like a decode error), then runs the strategy hooks on
//!   the result and persists it;
//! * on every response and watch event: `conversion.from_storage(stored)`;
//! * for patches: converts the stored object with `from_storage`, applies
//!   the patch in the served version, then `to_storage`;
//! * for field selectors: maps each label with
//!   `conversion.field_label_to_storage` (`None` = not supported) before
//!   matching against `strategy.field_attrs` of the stored object.
//!
//! The strategy of a non-storage def may differ from the storage def's when
//! upstream validates by request version (events.k8s.io Events are stricter
//! than core Events).

pub mod reviews;
mod table;

use serde_json::Value;

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
    /// `certificatesigningrequests/approval`: get/update/patch of the
    /// Approved/Denied conditions.
    Approval,
    /// `pods/ephemeralcontainers`: get/update/patch of
    /// `spec.ephemeralContainers` (through the strategy's
    /// `prepare_for_subresource_update`).
    EphemeralContainers,
    /// `pods/resize`: get/update/patch of container resources (through the
    /// strategy's `prepare_for_subresource_update`).
    Resize,
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
            Subresource::Approval => "approval",
            Subresource::EphemeralContainers => "ephemeralcontainers",
            Subresource::Resize => "resize",
            Subresource::Proxy(n) => n,
        }
    }

    /// The verbs discovery lists for the subresource (upstream's, e.g.
    /// `pods/exec` is `create, get`, `pods/log` is `get`).
    pub fn verbs(self) -> &'static [&'static str] {
        match self {
            Subresource::Status
            | Subresource::Scale
            | Subresource::Approval
            | Subresource::EphemeralContainers
            | Subresource::Resize => &["get", "patch", "update"],
            Subresource::Binding | Subresource::Eviction | Subresource::Token => &["create"],
            Subresource::Finalize => &["update"],
            Subresource::Proxy("log") => &["get"],
            Subresource::Proxy("proxy") => &["create", "delete", "get", "patch", "update"],
            Subresource::Proxy(_) => &["create", "get"],
        }
    }
}

/// Converts whole objects (with `apiVersion`/`kind`) between a served
/// version and the storage version of a resource.
pub trait Conversion: Send + Sync {
    /// Served version -> storage version. Decodes the body in the served
    /// version first, so a malformed body is an `Err` (a 400 message).
    fn to_storage(&self, obj: Value) -> Result<Value, String>;

    /// Storage version -> served version.
    // The name mirrors `to_storage`; it converts an argument, not `self`.
    #[allow(clippy::wrong_self_convention)]
    fn from_storage(&self, obj: Value) -> Result<Value, String>;

    /// Fields of a served-version body unknown to the served version's
    /// typed form (for `fieldValidation=Strict|Warn`; the strategy only sees
    /// the converted object). Default: none detected.
    fn unknown_fields(&self, _obj: &Value) -> Vec<String> {
        Vec::new()
    }

    /// Maps a field-selector label of the served version to the storage
    /// version's label; `None` if the served version does not support it.
    fn field_label_to_storage(&self, label: &str) -> Option<String> {
        Some(label.to_string())
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
    /// Verbs on the main resource, as discovery lists them. A resource
    /// with only `create` (`bindings`) is a virtual one: it has no storage
    /// of its own and the apiserver handles it specially.
    pub verbs: &'static [&'static str],
    /// The etcd key segment (`/registry/<storage_resource>/...`); resources
    /// served in several groups/versions share it.
    pub storage_resource: &'static str,
    /// The group of the version persisted in etcd.
    pub storage_group: &'static str,
    /// The version persisted in etcd.
    pub storage_version: &'static str,
    /// Per-kind hooks, working on objects in the storage version.
    pub strategy: &'static dyn Strategy,
    /// Conversion between this served version and the storage version;
    /// `None` when they are the same.
    pub conversion: Option<&'static dyn Conversion>,
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
        join_api_version(self.group, self.version)
    }

    /// `apiVersion` string of the storage version.
    pub fn storage_api_version(&self) -> String {
        join_api_version(self.storage_group, self.storage_version)
    }

    /// Whether a subresource is served.
    pub fn has_subresource(&self, name: &str) -> bool {
        self.subresources.iter().any(|s| s.name() == name)
    }

    /// The subresource with that path segment, if served.
    pub fn subresource(&self, name: &str) -> Option<Subresource> {
        self.subresources.iter().copied().find(|s| s.name() == name)
    }

    /// Whether a verb is served on the main resource.
    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// Whether this def is the storage version of its resource.
    pub fn is_storage_version(&self) -> bool {
        self.group == self.storage_group
            && self.version == self.storage_version
            && self.resource == self.storage_resource
    }

    /// The def of the storage version (itself if it is one).
    pub fn storage_def(&self) -> Option<&'static ResourceDef> {
        find_resource(
            self.storage_group,
            self.storage_version,
            self.storage_resource,
        )
    }
}

fn join_api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// An API group as discovery lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiGroup {
    /// The group name ("" for core, served under `/api`).
    pub name: &'static str,
    /// Served versions, the preferred one first.
    pub versions: &'static [&'static str],
    /// Upstream's `GroupPriorityMinimum` for the group; discovery lists
    /// groups by descending priority, then by name. Lets the apiserver
    /// place groups not in this table (authentication.k8s.io 17700,
    /// authorization.k8s.io 17600, apiextensions.k8s.io 16700,
    /// flowcontrol.apiserver.k8s.io 16100) where upstream does.
    pub priority: u32,
}

/// Every built-in resource, in every served version.
pub fn builtin_resources() -> &'static [ResourceDef] {
    table::BUILTIN
}

/// The groups of [`builtin_resources`], in upstream's discovery order:
/// core first, then `/apis` groups by priority (apps, events.k8s.io,
/// autoscaling, batch, ...).
pub fn groups() -> &'static [ApiGroup] {
    table::GROUPS
}

/// The served versions of a group, preferred first (empty if unknown).
pub fn versions(group: &str) -> &'static [&'static str] {
    groups()
        .iter()
        .find(|g| g.name == group)
        .map(|g| g.versions)
        .unwrap_or(&[])
}

/// The preferred version of a group (`autoscaling` -> `v2`).
pub fn preferred_version(group: &str) -> Option<&'static str> {
    versions(group).first().copied()
}

/// The resources served in one group/version, in table order
/// (alphabetical by plural, as upstream's discovery).
pub fn resources_in<'a>(
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static ResourceDef> + 'a {
    builtin_resources()
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

/// Looks up a resource by group, version and plural name.
pub fn find_resource(group: &str, version: &str, resource: &str) -> Option<&'static ResourceDef> {
    builtin_resources()
        .iter()
        .find(|r| r.group == group && r.version == version && r.resource == resource)
}

/// Looks up a resource by group, version and kind.
pub fn find_by_kind(group: &str, version: &str, kind: &str) -> Option<&'static ResourceDef> {
    builtin_resources()
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// Looks up a resource by `apiVersion` string and kind (`apps/v1`,
/// `Deployment`).
pub fn find_by_api_version_kind(api_version: &str, kind: &str) -> Option<&'static ResourceDef> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    find_by_kind(group, version, kind)
}

#[cfg(test)]
mod tests;
