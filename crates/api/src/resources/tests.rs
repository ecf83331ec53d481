//! Consistency of the built-in resource table.

use std::any::TypeId;
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::{NamespaceResourceScope, Resource};
use serde_json::json;

use super::*;

/// (group, version, plural, kind, namespaced) as k8s-openapi knows it.
type Known = (&'static str, &'static str, &'static str, &'static str, bool);

fn known<T: Resource + 'static>() -> Known
where
    T::Scope: 'static,
{
    (
        T::GROUP,
        T::VERSION,
        T::URL_PATH_SEGMENT,
        T::KIND,
        TypeId::of::<T::Scope>() == TypeId::of::<NamespaceResourceScope>(),
    )
}

fn openapi_resources() -> Vec<Known> {
    use k8s_openapi::api::*;
    vec![
        known::<core::v1::Binding>(),
        known::<core::v1::ConfigMap>(),
        known::<core::v1::Endpoints>(),
        known::<core::v1::Event>(),
        known::<core::v1::LimitRange>(),
        known::<core::v1::Namespace>(),
        known::<core::v1::Node>(),
        known::<core::v1::PersistentVolumeClaim>(),
        known::<core::v1::PersistentVolume>(),
        known::<core::v1::Pod>(),
        known::<core::v1::PodTemplate>(),
        known::<core::v1::ReplicationController>(),
        known::<core::v1::ResourceQuota>(),
        known::<core::v1::Secret>(),
        known::<core::v1::ServiceAccount>(),
        known::<core::v1::Service>(),
        known::<k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService>(),
        known::<apps::v1::ControllerRevision>(),
        known::<apps::v1::DaemonSet>(),
        known::<apps::v1::Deployment>(),
        known::<apps::v1::ReplicaSet>(),
        known::<apps::v1::StatefulSet>(),
        known::<events::v1::Event>(),
        known::<authentication::v1::SelfSubjectReview>(),
        known::<authentication::v1::TokenReview>(),
        known::<authorization::v1::LocalSubjectAccessReview>(),
        known::<authorization::v1::SelfSubjectAccessReview>(),
        known::<authorization::v1::SelfSubjectRulesReview>(),
        known::<authorization::v1::SubjectAccessReview>(),
        known::<autoscaling::v2::HorizontalPodAutoscaler>(),
        known::<autoscaling::v1::HorizontalPodAutoscaler>(),
        known::<batch::v1::CronJob>(),
        known::<batch::v1::Job>(),
        known::<certificates::v1::CertificateSigningRequest>(),
        known::<networking::v1::IngressClass>(),
        known::<networking::v1::Ingress>(),
        known::<networking::v1::NetworkPolicy>(),
        known::<policy::v1::PodDisruptionBudget>(),
        known::<rbac::v1::ClusterRoleBinding>(),
        known::<rbac::v1::ClusterRole>(),
        known::<rbac::v1::RoleBinding>(),
        known::<rbac::v1::Role>(),
        known::<storage::v1::CSIDriver>(),
        known::<storage::v1::CSINode>(),
        known::<storage::v1::CSIStorageCapacity>(),
        known::<storage::v1::StorageClass>(),
        known::<storage::v1::VolumeAttachment>(),
        known::<admissionregistration::v1::MutatingWebhookConfiguration>(),
        known::<admissionregistration::v1::ValidatingAdmissionPolicy>(),
        known::<admissionregistration::v1::ValidatingAdmissionPolicyBinding>(),
        known::<admissionregistration::v1::ValidatingWebhookConfiguration>(),
        known::<scheduling::v1::PriorityClass>(),
        known::<coordination::v1::Lease>(),
        known::<node::v1::RuntimeClass>(),
        known::<discovery::v1::EndpointSlice>(),
        known::<flowcontrol::v1::FlowSchema>(),
        known::<flowcontrol::v1::PriorityLevelConfiguration>(),
    ]
}

#[test]
fn table_matches_the_openapi_types() {
    let table: Vec<Known> = builtin_resources()
        .iter()
        .map(|r| (r.group, r.version, r.resource, r.kind, r.namespaced))
        .collect();
    assert_eq!(table, openapi_resources());
}

#[test]
fn singular_names_are_lowercase_kinds() {
    for r in builtin_resources() {
        assert_eq!(r.singular, r.kind.to_lowercase(), "{r:?}");
    }
}

#[test]
fn short_names_name_one_resource() {
    let mut by_short: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in builtin_resources() {
        for s in r.short_names {
            by_short.entry(s).or_default().insert(r.resource);
        }
    }
    for (short, resources) in &by_short {
        assert_eq!(resources.len(), 1, "{short} names {resources:?}");
    }
    let plurals: BTreeSet<&str> = builtin_resources().iter().map(|r| r.resource).collect();
    for short in by_short.keys() {
        assert!(!plurals.contains(short), "{short} is also a plural");
    }
}

#[test]
fn storage_versions_exist_and_are_self_consistent() {
    for r in builtin_resources() {
        let storage = r
            .storage_def()
            .unwrap_or_else(|| panic!("{r:?} has no storage def"));
        assert!(storage.is_storage_version(), "{r:?}");
        if r.verbs == ["create"] {
            // Virtual resources (bindings) point at what they write.
            continue;
        }
        assert_eq!(storage.kind, r.kind);
        assert_eq!(storage.namespaced, r.namespaced, "{r:?}");
        assert_eq!(
            r.is_storage_version(),
            r.conversion.is_none(),
            "{r:?}: a conversion is needed exactly when served != stored"
        );
    }
}

#[test]
fn groups_list_every_served_version_preferred_first() {
    let gs = groups();
    assert_eq!(gs[0].name, "");
    let names: Vec<&str> = gs.iter().map(|g| g.name).collect();
    assert_eq!(
        &names[..8],
        &[
            "",
            "apiregistration.k8s.io",
            "apps",
            "events.k8s.io",
            "authentication.k8s.io",
            "authorization.k8s.io",
            "autoscaling",
            "batch"
        ]
    );
    for w in gs.windows(2) {
        assert!(
            w[0].priority > w[1].priority
                || (w[0].priority == w[1].priority && w[0].name < w[1].name),
            "{w:?}"
        );
    }
    let served: BTreeSet<(&str, &str)> = builtin_resources()
        .iter()
        .map(|r| (r.group, r.version))
        .collect();
    let listed: BTreeSet<(&str, &str)> = gs
        .iter()
        .flat_map(|g| g.versions.iter().map(move |v| (g.name, *v)))
        .collect();
    assert_eq!(served, listed);
    assert_eq!(preferred_version("autoscaling"), Some("v2"));
    assert_eq!(versions("autoscaling"), &["v2", "v1"]);
    assert_eq!(preferred_version(""), Some("v1"));
    assert_eq!(preferred_version("nope.example.com"), None);
}

#[test]
fn resources_sorted_within_group_version() {
    for g in groups() {
        for v in g.versions {
            let names: Vec<&str> = resources_in(g.name, v).map(|r| r.resource).collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            assert_eq!(names, sorted, "{}/{}", g.name, v);
        }
    }
}

#[test]
fn lookups() {
    let pods = find_resource("", "v1", "pods").unwrap();
    assert_eq!(pods.kind, "Pod");
    assert_eq!(pods.short_names, &["po"]);
    assert_eq!(pods.categories, &["all"]);
    for sub in [
        "status",
        "binding",
        "eviction",
        "log",
        "exec",
        "attach",
        "portforward",
        "proxy",
    ] {
        assert!(pods.has_subresource(sub), "pods/{sub}");
    }
    assert_eq!(
        pods.subresource("log").map(Subresource::verbs),
        Some(&["get"][..])
    );
    let ns = find_by_kind("", "v1", "Namespace").unwrap();
    assert!(!ns.has_verb("deletecollection"));
    assert!(ns.has_subresource("finalize"));
    assert!(
        find_resource("", "v1", "services")
            .unwrap()
            .has_verb("deletecollection")
    );
    let hpa1 = find_by_api_version_kind("autoscaling/v1", "HorizontalPodAutoscaler").unwrap();
    assert_eq!(hpa1.storage_api_version(), "autoscaling/v2");
    let ev = find_resource("events.k8s.io", "v1", "events").unwrap();
    assert_eq!(ev.storage_def().unwrap().api_version(), "v1");
    assert_eq!(ev.storage_resource, "events");
    let csr = find_resource("certificates.k8s.io", "v1", "certificatesigningrequests").unwrap();
    assert_eq!(csr.subresource("approval"), Some(Subresource::Approval));
    let bindings = find_resource("", "v1", "bindings").unwrap();
    assert_eq!(bindings.verbs, &["create"]);
    for r in builtin_resources()
        .iter()
        .filter(|r| r.group == "admissionregistration.k8s.io")
    {
        assert_eq!(r.categories, &["api-extensions"], "{r:?}");
    }
}

/// A minimal object of each kind, in its served version.
fn example(r: &ResourceDef) -> serde_json::Value {
    let mut meta = json!({"name": "example"});
    if r.namespaced {
        meta["namespace"] = json!("default");
    }
    json!({"apiVersion": r.api_version(), "kind": r.kind, "metadata": meta})
}

#[test]
fn every_kind_goes_through_its_strategy() {
    for r in builtin_resources() {
        let body = example(r);
        let stored = match r.conversion {
            Some(c) => c.to_storage(body).unwrap_or_else(|e| panic!("{r:?}: {e}")),
            None => body,
        };
        let mut obj = r
            .strategy
            .canonicalize(stored)
            .unwrap_or_else(|e| panic!("{r:?}: {e}"));
        r.strategy.prepare_for_create(&mut obj);
        r.strategy.default(&mut obj);
        // Validation may reject an empty example; it must not panic, and
        // it must be reported in the storage shape.
        let _ = r.strategy.validate(&obj);
        let old = obj.clone();
        r.strategy.prepare_for_update(&mut obj, &old);
        let _ = r.strategy.validate_update(&obj, &old);
        if let Some(c) = r.conversion {
            let served = c.from_storage(obj).unwrap_or_else(|e| panic!("{r:?}: {e}"));
            assert_eq!(served["apiVersion"], r.api_version().as_str(), "{r:?}");
            assert_eq!(served["kind"], r.kind, "{r:?}");
        }
        for label in r.strategy.field_labels() {
            assert!(!label.is_empty());
        }
    }
}

#[test]
fn strategy_scope_matches_the_table() {
    for r in builtin_resources().iter().filter(|r| r.verbs != ["create"]) {
        let storage = r.storage_def().unwrap();
        let mut obj = example(storage);
        if r.namespaced {
            obj["metadata"].as_object_mut().unwrap().remove("namespace");
        } else {
            obj["metadata"]["namespace"] = json!("default");
        }
        let obj = r.strategy.canonicalize(obj).unwrap();
        let errs = r.strategy.validate(&obj);
        assert!(
            errs.iter().any(|e| e.field == "metadata.namespace"),
            "{r:?}: {errs:?}"
        );
    }
}

#[test]
fn strategies_never_panic_on_garbage() {
    let garbage = [
        json!(null),
        json!(5),
        json!("x"),
        json!([1, 2]),
        json!({"metadata": 7}),
        json!({"spec": "nope", "status": [1]}),
    ];
    for r in builtin_resources() {
        for g in &garbage {
            let _ = r.strategy.canonicalize(g.clone());
            let mut v = g.clone();
            r.strategy.prepare_for_create(&mut v);
            r.strategy.default(&mut v);
            let _ = r.strategy.validate(&v);
            let _ = r.strategy.validate_update(&v, g);
            let _ = r.strategy.validate_status_update(&v, g);
            let _ = r.strategy.field_attrs(&v);
            let _ = r.strategy.unknown_fields(&v);
            let mut w = g.clone();
            r.strategy.prepare_for_update(&mut w, g);
            r.strategy.prepare_for_status_update(&mut w, g);
            for sub in r.subresources {
                let mut s = g.clone();
                r.strategy
                    .prepare_for_subresource_update(sub.name(), &mut s, g);
                let _ = r.strategy.validate_subresource_update(sub.name(), &s, g);
            }
            if let Some(c) = r.conversion {
                let _ = c.to_storage(g.clone());
                let _ = c.from_storage(g.clone());
            }
        }
    }
}
