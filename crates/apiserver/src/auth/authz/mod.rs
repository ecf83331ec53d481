//! Authorization: `--authorization-mode` authorizers asked in order until
//! one allows or denies (upstream's union authorizer), with members of
//! `system:masters` always allowed first.

pub mod node;
pub mod rbac;
pub mod rules;

use corten_apimachinery::{GroupResource, Reason, StatusError};

use super::{SYSTEM_PRIVILEGED_GROUP, UserInfo};
use crate::registry::Registry;

/// What a request wants to do (upstream `authorizer.Attributes`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    /// Who.
    pub user: UserInfo,
    /// `get`, `list`, `create`, ... (resource requests) or the lower-case
    /// HTTP method (non-resource requests); also `impersonate`, `bind`,
    /// `escalate`, `approve`, ...
    pub verb: String,
    /// Whether this is a resource request (else a non-resource path).
    pub resource_request: bool,
    /// Namespace ("" for cluster scope).
    pub namespace: String,
    /// API group.
    pub api_group: String,
    /// API version.
    pub api_version: String,
    /// Plural resource.
    pub resource: String,
    /// Subresource.
    pub subresource: String,
    /// Object name (for list/watch: from a `metadata.name` field selector).
    pub name: String,
    /// The URL path (non-resource requests).
    pub path: String,
    /// The raw field selector of list/watch requests.
    pub field_selector: String,
}

impl Attributes {
    /// Attributes of a resource request.
    pub fn resource(
        user: &UserInfo,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> Self {
        Attributes {
            user: user.clone(),
            verb: verb.into(),
            resource_request: true,
            api_group: group.into(),
            resource: resource.into(),
            namespace: namespace.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    /// Attributes of a non-resource request.
    pub fn non_resource(user: &UserInfo, verb: &str, path: &str) -> Self {
        Attributes {
            user: user.clone(),
            verb: verb.into(),
            path: path.into(),
            ..Default::default()
        }
    }

    /// `resource` or `resource/subresource`.
    pub fn full_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// An authorizer's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed, with a reason for reviews.
    Allow(String),
    /// Explicitly denied (later authorizers are not asked).
    Deny(String),
    /// No opinion, with a reason (shown when nobody allows).
    NoOpinion(String),
}

impl Decision {
    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// The reason text.
    pub fn reason(&self) -> &str {
        match self {
            Decision::Allow(r) | Decision::Deny(r) | Decision::NoOpinion(r) => r,
        }
    }
}

/// One `--authorization-mode` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Allows everything.
    AlwaysAllow,
    /// Denies everything.
    AlwaysDeny,
    /// Kubelets' access to their own node's objects.
    Node,
    /// Roles and bindings.
    Rbac,
}

impl Mode {
    /// Parses an upstream mode name.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "AlwaysAllow" => Ok(Mode::AlwaysAllow),
            "AlwaysDeny" => Ok(Mode::AlwaysDeny),
            "Node" => Ok(Mode::Node),
            "RBAC" => Ok(Mode::Rbac),
            "ABAC" | "Webhook" => Err(format!(
                "--authorization-mode {s} is not implemented by Corten yet"
            )),
            other => Err(format!(
                "--authorization-mode: unknown authorization mode {other:?} (supported: AlwaysAllow, AlwaysDeny, Node, RBAC)"
            )),
        }
    }
}

/// The configured authorizers.
pub struct Authorizer {
    modes: Vec<Mode>,
    /// RBAC evaluation over the watch caches.
    pub rbac: rbac::Rbac,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("modes", &self.modes)
            .finish_non_exhaustive()
    }
}

impl Authorizer {
    /// Authorizers in the given order.
    pub fn new(modes: Vec<Mode>) -> Self {
        Authorizer {
            modes,
            rbac: rbac::Rbac::default(),
        }
    }

    /// The modes, in order.
    pub fn modes(&self) -> &[Mode] {
        &self.modes
    }

    /// Whether RBAC is one of the modes (bootstrap policy, escalation
    /// checks and aggregation only matter then).
    pub fn uses_rbac(&self) -> bool {
        self.modes.contains(&Mode::Rbac)
    }

    /// Asks each authorizer in turn.
    pub fn authorize(&self, reg: &Registry, attrs: &Attributes) -> Decision {
        if attrs.user.in_group(SYSTEM_PRIVILEGED_GROUP) {
            return Decision::Allow(String::new());
        }
        let mut reasons = Vec::new();
        for mode in &self.modes {
            let d = match mode {
                Mode::AlwaysAllow => Decision::Allow(String::new()),
                Mode::AlwaysDeny => Decision::Deny("Everything is forbidden.".into()),
                Mode::Node => node::authorize(reg, attrs),
                Mode::Rbac => self.rbac.authorize(reg, attrs),
            };
            match d {
                Decision::NoOpinion(r) => {
                    if !r.is_empty() {
                        reasons.push(r);
                    }
                }
                other => return other,
            }
        }
        Decision::NoOpinion(reasons.join(", "))
    }
}

/// Upstream's 403 for a refused request: `pods is forbidden: User "alice"
/// cannot list resource "pods" in API group "" in the namespace "default"`.
pub fn forbidden(attrs: &Attributes, reason: &str) -> StatusError {
    let user = &attrs.user.name;
    let msg = if !attrs.resource_request {
        format!("User {user:?} cannot {} path {:?}", attrs.verb, attrs.path)
    } else if !attrs.namespace.is_empty() {
        format!(
            "User {user:?} cannot {} resource {:?} in API group {:?} in the namespace {:?}",
            attrs.verb,
            attrs.full_resource(),
            attrs.api_group,
            attrs.namespace
        )
    } else {
        format!(
            "User {user:?} cannot {} resource {:?} in API group {:?} at the cluster scope",
            attrs.verb,
            attrs.full_resource(),
            attrs.api_group
        )
    };
    let detail = if reason.is_empty() {
        msg
    } else {
        format!("{msg}: {reason}")
    };
    if !attrs.resource_request || attrs.resource.is_empty() {
        return StatusError::new(Reason::Forbidden, format!("forbidden: {detail}"));
    }
    StatusError::forbidden(
        &GroupResource::new(&attrs.api_group, &attrs.resource),
        &attrs.name,
        &detail,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_messages_match_upstream() {
        let alice = UserInfo::new("alice", &["system:authenticated"]);
        let a = Attributes::resource(&alice, "list", "", "pods", "default", "");
        assert_eq!(
            forbidden(&a, "").message,
            "pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        );
        let mut a = Attributes::resource(&alice, "get", "apps", "deployments", "", "web");
        a.subresource = "scale".into();
        assert_eq!(
            forbidden(&a, "").message,
            "deployments.apps \"web\" is forbidden: User \"alice\" cannot get resource \"deployments/scale\" in API group \"apps\" at the cluster scope"
        );
        let a = Attributes::non_resource(&alice, "get", "/metrics");
        let e = forbidden(&a, "");
        assert_eq!(
            e.message,
            "forbidden: User \"alice\" cannot get path \"/metrics\""
        );
        assert_eq!(e.code, 403);
    }

    #[test]
    fn modes_parse() {
        assert_eq!(Mode::parse("RBAC").unwrap(), Mode::Rbac);
        assert!(Mode::parse("Webhook").is_err());
        assert!(Mode::parse("rbac").is_err());
    }
}
