//! Turning a request path into what it addresses (upstream `RequestInfo`).
//!
//! `/apis/apps/v1/namespaces/default/deployments/web/scale` ->
//! group `apps`, version `v1`, namespace `default`, resource `deployments`,
//! name `web`, subresource `scale`, verb from the HTTP method.

use http::Method;

/// What a resource request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRequest {
    /// API group ("" for `/api`).
    pub group: String,
    /// API version.
    pub version: String,
    /// Namespace from the path, if any.
    pub namespace: Option<String>,
    /// Plural resource.
    pub resource: String,
    /// Object name, if any.
    pub name: Option<String>,
    /// Subresource, if any.
    pub subresource: Option<String>,
    /// Path segments after the subresource (proxy paths).
    pub rest: Vec<String>,
    /// The Kubernetes verb.
    pub verb: Verb,
}

/// Kubernetes verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// GET one object.
    Get,
    /// GET a collection.
    List,
    /// GET with watch=true, or under the legacy /watch/ prefix.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH.
    Patch,
    /// DELETE one object.
    Delete,
    /// DELETE a collection.
    DeleteCollection,
    /// OPTIONS, which only the proxy subresources serve (passed on to the
    /// backend, as upstream's connecters list it among their methods).
    Options,
}

impl Verb {
    /// The lower-case verb name used in metrics, audit and authorization.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
            Verb::Options => "options",
        }
    }

    /// The metrics verb label (upstream uses upper-case HTTP-ish verbs:
    /// GET, LIST, WATCH, POST, PUT, PATCH, DELETE, DELETECOLLECTION).
    pub fn metric_label(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::List => "LIST",
            Verb::Watch => "WATCH",
            Verb::Create => "POST",
            Verb::Update => "PUT",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
            Verb::DeleteCollection => "DELETECOLLECTION",
            Verb::Options => "OPTIONS",
        }
    }
}

/// The classification of any request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestTarget {
    /// A resource request.
    Resource(ResourceRequest),
    /// `/api` (legacy discovery versions).
    ApiVersions,
    /// `/apis` (group list).
    ApiGroups,
    /// `/api/v1` or `/apis/<group>/<version>` (resource list).
    ApiResources {
        /// Group.
        group: String,
        /// Version.
        version: String,
    },
    /// `/apis/<group>` (one group).
    ApiGroup {
        /// Group.
        group: String,
    },
    /// Anything else (`/version`, `/healthz`, `/metrics`, `/openapi/...`).
    NonResource(String),
}

/// Why a path could not be classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPath(pub String);

/// Classifies `path` with `method` and whether the query asks for a watch.
pub fn parse(method: &Method, path: &str, watch_param: bool) -> Result<RequestTarget, BadPath> {
    let trimmed = path.trim_matches('/');
    let parts: Vec<&str> = if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    };
    let (group, version, rest): (&str, &str, &[&str]) = match parts.as_slice() {
        ["api"] => return Ok(RequestTarget::ApiVersions),
        ["apis"] => return Ok(RequestTarget::ApiGroups),
        ["api", version] => {
            return Ok(RequestTarget::ApiResources {
                group: String::new(),
                version: version.to_string(),
            });
        }
        ["apis", group] => {
            return Ok(RequestTarget::ApiGroup {
                group: group.to_string(),
            });
        }
        ["apis", group, version] => {
            return Ok(RequestTarget::ApiResources {
                group: group.to_string(),
                version: version.to_string(),
            });
        }
        ["api", version, rest @ ..] => ("", version, rest),
        ["apis", group, version, rest @ ..] => (group, version, rest),
        _ => return Ok(RequestTarget::NonResource(path.to_string())),
    };
    let mut rest = rest;
    let mut legacy_watch = false;
    if rest.first() == Some(&"watch") {
        legacy_watch = true;
        rest = &rest[1..];
    }
    if rest.iter().any(|p| p.is_empty()) {
        return Err(BadPath(format!("invalid path {path:?}: empty segment")));
    }
    let mut namespace = None;
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        namespace = Some(rest[1].to_string());
        // `/namespaces/<ns>/status` and `/finalize` are subresources of the
        // namespace itself; anything else after the name is a resource
        // inside the namespace.
        if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
            rest = &rest[2..];
        }
    }
    let Some(resource) = rest.first() else {
        return Err(BadPath(format!("invalid path {path:?}")));
    };
    let name = rest.get(1).map(|s| s.to_string());
    let subresource = rest.get(2).map(|s| s.to_string());
    let tail: Vec<String> = rest.iter().skip(3).map(|s| s.to_string()).collect();
    let verb = match *method {
        Method::GET | Method::HEAD => {
            if legacy_watch || (watch_param && subresource.is_none()) {
                Verb::Watch
            } else if name.is_some() {
                Verb::Get
            } else {
                Verb::List
            }
        }
        Method::POST => Verb::Create,
        Method::PUT => Verb::Update,
        Method::PATCH => Verb::Patch,
        Method::DELETE => {
            if name.is_some() {
                Verb::Delete
            } else {
                Verb::DeleteCollection
            }
        }
        Method::OPTIONS if subresource.as_deref() == Some("proxy") => Verb::Options,
        _ => {
            return Err(BadPath(format!(
                "method {method} is not supported on {path:?}"
            )));
        }
    };
    Ok(RequestTarget::Resource(ResourceRequest {
        group: group.to_string(),
        version: version.to_string(),
        namespace,
        resource: resource.to_string(),
        name,
        subresource,
        rest: tail,
        verb,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(method: Method, path: &str, watch: bool) -> ResourceRequest {
        match parse(&method, path, watch).unwrap() {
            RequestTarget::Resource(r) => r,
            other => panic!("not a resource: {other:?}"),
        }
    }

    #[test]
    fn namespaced_paths() {
        let r = res(
            Method::GET,
            "/apis/apps/v1/namespaces/default/deployments/web/scale",
            false,
        );
        assert_eq!(r.group, "apps");
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(r.resource, "deployments");
        assert_eq!(r.name.as_deref(), Some("web"));
        assert_eq!(r.subresource.as_deref(), Some("scale"));
        assert_eq!(r.verb, Verb::Get);
    }

    #[test]
    fn namespace_itself_and_its_subresources() {
        let r = res(Method::GET, "/api/v1/namespaces/kube-system", false);
        assert_eq!(r.resource, "namespaces");
        assert_eq!(r.name.as_deref(), Some("kube-system"));
        let r = res(Method::PUT, "/api/v1/namespaces/x/finalize", false);
        assert_eq!(r.resource, "namespaces");
        assert_eq!(r.name.as_deref(), Some("x"));
        assert_eq!(r.subresource.as_deref(), Some("finalize"));
        assert_eq!(r.verb, Verb::Update);
        let r = res(Method::GET, "/api/v1/namespaces", true);
        assert_eq!(r.verb, Verb::Watch);
        assert_eq!(r.namespace, None);
    }

    #[test]
    fn verbs_and_watch_forms() {
        assert_eq!(
            res(Method::GET, "/api/v1/namespaces/a/pods", false).verb,
            Verb::List
        );
        assert_eq!(
            res(Method::GET, "/api/v1/watch/namespaces/a/pods", false).verb,
            Verb::Watch
        );
        assert_eq!(res(Method::GET, "/api/v1/pods", true).verb, Verb::Watch);
        assert_eq!(
            res(Method::DELETE, "/api/v1/namespaces/a/pods", false).verb,
            Verb::DeleteCollection
        );
        assert_eq!(
            res(Method::POST, "/api/v1/namespaces/a/pods/p/binding", false).verb,
            Verb::Create
        );
        // OPTIONS is a proxy method only.
        let options = res(
            Method::OPTIONS,
            "/api/v1/namespaces/a/pods/p/proxy/x",
            false,
        );
        assert_eq!(options.verb, Verb::Options);
        assert_eq!(options.verb.as_str(), "options");
        assert!(parse(&Method::OPTIONS, "/api/v1/namespaces/a/pods/p", false).is_err());
    }

    proptest::proptest! {
        /// Path classification never panics and never yields empty names.
        #[test]
        fn arbitrary_paths_never_panic(path in "(/[a-z0-9.%-]{0,12}){0,9}/?") {
            for m in [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
                if let Ok(RequestTarget::Resource(r)) = parse(&m, &path, false) {
                    proptest::prop_assert!(!r.resource.is_empty());
                    proptest::prop_assert!(r.name.as_deref() != Some(""));
                }
            }
        }
    }

    #[test]
    fn discovery_and_non_resource() {
        assert_eq!(
            parse(&Method::GET, "/api", false).unwrap(),
            RequestTarget::ApiVersions
        );
        assert_eq!(
            parse(&Method::GET, "/apis/apps", false).unwrap(),
            RequestTarget::ApiGroup {
                group: "apps".into()
            }
        );
        assert_eq!(
            parse(&Method::GET, "/healthz", false).unwrap(),
            RequestTarget::NonResource("/healthz".into())
        );
        assert!(parse(&Method::OPTIONS, "/api/v1/pods", false).is_err());
    }
}
