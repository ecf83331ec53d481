//! Queue keys naming one object: `namespace/name`, or `name` for
//! cluster-scoped objects (upstream `cache.MetaNamespaceKeyFunc`).

use std::fmt;

use kube::{Resource, ResourceExt};

/// The key of one object in a work queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

impl ObjectKey {
    /// The key of `obj`.
    pub fn of<K: Resource>(obj: &K) -> Self {
        Self {
            namespace: obj.namespace(),
            name: obj.name_any(),
        }
    }

    /// Parses `namespace/name` or `name`.
    pub fn parse(key: &str) -> Self {
        match key.split_once('/') {
            Some((namespace, name)) => Self {
                namespace: Some(namespace.to_string()),
                name: name.to_string(),
            },
            None => Self {
                namespace: None,
                name: key.to_string(),
            },
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn keys_look_like_client_go() {
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some("cm".into()),
                namespace: Some("ns".into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        };
        assert_eq!(ObjectKey::of(&cm).to_string(), "ns/cm");
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some("ns".into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        assert_eq!(ObjectKey::of(&ns).to_string(), "ns");
        assert_eq!(
            ObjectKey::parse("a/b"),
            ObjectKey::of(&cm).clone().with_names("a", "b")
        );
        assert_eq!(ObjectKey::parse("x").namespace, None);
    }

    impl ObjectKey {
        fn with_names(mut self, ns: &str, name: &str) -> Self {
            self.namespace = Some(ns.into());
            self.name = name.into();
            self
        }
    }
}
