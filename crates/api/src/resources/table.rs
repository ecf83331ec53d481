//! The rows of the built-in resource table, as upstream 1.33's
//! `kubectl api-resources -o wide` shows them for these groups.

use super::{ApiGroup, ResourceDef, Subresource};
use crate::strategy::Strategy;
use crate::{
    admissionregistration, apiregistration, apps, autoscaling, batch, certificates, coordination,
    corev1, discovery, events, flowcontrol, networking, node, pod, policy, rbac, scheduling,
    service, storage,
};

/// The verbs of an ordinary resource.
const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Namespaces and services-like resources whose REST storage has no
/// collection delete.
const NO_DELETECOLLECTION: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

const ALL: &[&str] = &["all"];
const API_EXTENSIONS: &[&str] = &["api-extensions"];
const STATUS: &[Subresource] = &[Subresource::Status];
const SCALE_STATUS: &[Subresource] = &[Subresource::Scale, Subresource::Status];

/// A row with the defaults: no short names, categories or subresources,
/// all verbs, stored as itself.
const fn row(
    group: &'static str,
    version: &'static str,
    resource: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    strategy: &'static dyn Strategy,
) -> ResourceDef {
    ResourceDef {
        group,
        version,
        resource,
        singular,
        kind,
        namespaced,
        short_names: &[],
        categories: &[],
        subresources: &[],
        verbs: ALL_VERBS,
        storage_resource: resource,
        storage_group: group,
        storage_version: version,
        strategy,
        conversion: None,
    }
}

/// A create-only review resource (`tokenreviews`, `subjectaccessreviews`,
/// ...): virtual, answered by the apiserver, never stored.
const fn review(
    group: &'static str,
    resource: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    strategy: &'static dyn Strategy,
) -> ResourceDef {
    ResourceDef {
        verbs: &["create"],
        ..row(group, "v1", resource, singular, kind, namespaced, strategy)
    }
}

/// Groups in upstream's discovery order (descending `GroupPriorityMinimum`,
/// then name), versions preferred first.
pub(super) static GROUPS: &[ApiGroup] = &[
    ApiGroup {
        name: "",
        versions: &["v1"],
        priority: 18000,
    },
    // kube-aggregator's own group: upstream lists it first under /apis
    // (it has no APIService of its own).
    ApiGroup {
        name: "apiregistration.k8s.io",
        versions: &["v1"],
        priority: 18000,
    },
    ApiGroup {
        name: "apps",
        versions: &["v1"],
        priority: 17800,
    },
    ApiGroup {
        name: "events.k8s.io",
        versions: &["v1"],
        priority: 17750,
    },
    ApiGroup {
        name: "authentication.k8s.io",
        versions: &["v1"],
        priority: 17700,
    },
    ApiGroup {
        name: "authorization.k8s.io",
        versions: &["v1"],
        priority: 17600,
    },
    ApiGroup {
        name: "autoscaling",
        versions: &["v2", "v1"],
        priority: 17500,
    },
    ApiGroup {
        name: "batch",
        versions: &["v1"],
        priority: 17400,
    },
    ApiGroup {
        name: "certificates.k8s.io",
        versions: &["v1"],
        priority: 17300,
    },
    ApiGroup {
        name: "networking.k8s.io",
        versions: &["v1"],
        priority: 17200,
    },
    ApiGroup {
        name: "policy",
        versions: &["v1"],
        priority: 17100,
    },
    ApiGroup {
        name: "rbac.authorization.k8s.io",
        versions: &["v1"],
        priority: 17000,
    },
    ApiGroup {
        name: "storage.k8s.io",
        versions: &["v1"],
        priority: 16800,
    },
    ApiGroup {
        name: "admissionregistration.k8s.io",
        versions: &["v1"],
        priority: 16700,
    },
    ApiGroup {
        name: "scheduling.k8s.io",
        versions: &["v1"],
        priority: 16600,
    },
    ApiGroup {
        name: "coordination.k8s.io",
        versions: &["v1"],
        priority: 16500,
    },
    ApiGroup {
        name: "node.k8s.io",
        versions: &["v1"],
        priority: 16300,
    },
    ApiGroup {
        name: "discovery.k8s.io",
        versions: &["v1"],
        priority: 16200,
    },
    ApiGroup {
        name: "flowcontrol.apiserver.k8s.io",
        versions: &["v1"],
        priority: 16100,
    },
];

/// Every served group/version/resource; within a group/version sorted by
/// plural name like upstream's discovery.
pub(super) static BUILTIN: &[ResourceDef] = &[
    // ---- core/v1 ----
    // `bindings` is virtual: creating one binds the named pod (like
    // `pods/binding`); it is never stored itself.
    ResourceDef {
        verbs: &["create"],
        storage_resource: "pods",
        ..row(
            "",
            "v1",
            "bindings",
            "binding",
            "Binding",
            true,
            &corev1::BINDING_STRATEGY,
        )
    },
    ResourceDef {
        short_names: &["cm"],
        ..row(
            "",
            "v1",
            "configmaps",
            "configmap",
            "ConfigMap",
            true,
            &corev1::CONFIG_MAP_STRATEGY,
        )
    },
    ResourceDef {
        short_names: &["ep"],
        ..row(
            "",
            "v1",
            "endpoints",
            "endpoints",
            "Endpoints",
            true,
            &service::ENDPOINTS_STRATEGY,
        )
    },
    ResourceDef {
        short_names: &["ev"],
        ..row(
            "",
            "v1",
            "events",
            "event",
            "Event",
            true,
            &corev1::EVENT_STRATEGY,
        )
    },
    ResourceDef {
        short_names: &["limits"],
        ..row(
            "",
            "v1",
            "limitranges",
            "limitrange",
            "LimitRange",
            true,
            &corev1::LIMIT_RANGE_STRATEGY,
        )
    },
    ResourceDef {
        short_names: &["ns"],
        subresources: &[Subresource::Finalize, Subresource::Status],
        verbs: NO_DELETECOLLECTION,
        ..row(
            "",
            "v1",
            "namespaces",
            "namespace",
            "Namespace",
            false,
            &corev1::NAMESPACE_STRATEGY,
        )
    },
    ResourceDef {
        short_names: &["no"],
        subresources: &[Subresource::Proxy("proxy"), Subresource::Status],
        ..row(
            "",
            "v1",
            "nodes",
            "node",
            "Node",
            false,
            &corev1::NODE_STRATEGY,
        )
    },
    ResourceDef {
        short_names: &["pvc"],
        subresources: STATUS,
        ..row(
            "",
            "v1",
            "persistentvolumeclaims",
            "persistentvolumeclaim",
            "PersistentVolumeClaim",
            true,
            &corev1::PERSISTENT_VOLUME_CLAIM_STRATEGY,
        )
    },
    ResourceDef {
        short_names: &["pv"],
        subresources: STATUS,
        ..row(
            "",
            "v1",
            "persistentvolumes",
            "persistentvolume",
            "PersistentVolume",
            false,
            &corev1::PERSISTENT_VOLUME_STRATEGY,
        )
    },
    ResourceDef {
        short_names: &["po"],
        categories: ALL,
        subresources: &[
            Subresource::Proxy("attach"),
            Subresource::Binding,
            Subresource::EphemeralContainers,
            Subresource::Eviction,
            Subresource::Proxy("exec"),
            Subresource::Proxy("log"),
            Subresource::Proxy("portforward"),
            Subresource::Proxy("proxy"),
            Subresource::Resize,
            Subresource::Status,
        ],
        ..row("", "v1", "pods", "pod", "Pod", true, &pod::POD_STRATEGY)
    },
    row(
        "",
        "v1",
        "podtemplates",
        "podtemplate",
        "PodTemplate",
        true,
        &pod::POD_TEMPLATE_STRATEGY,
    ),
    ResourceDef {
        short_names: &["rc"],
        categories: ALL,
        subresources: SCALE_STATUS,
        ..row(
            "",
            "v1",
            "replicationcontrollers",
            "replicationcontroller",
            "ReplicationController",
            true,
            &pod::REPLICATION_CONTROLLER_STRATEGY,
        )
    },
    ResourceDef {
        short_names: &["quota"],
        subresources: STATUS,
        ..row(
            "",
            "v1",
            "resourcequotas",
            "resourcequota",
            "ResourceQuota",
            true,
            &corev1::RESOURCE_QUOTA_STRATEGY,
        )
    },
    row(
        "",
        "v1",
        "secrets",
        "secret",
        "Secret",
        true,
        &corev1::SECRET_STRATEGY,
    ),
    ResourceDef {
        short_names: &["sa"],
        subresources: &[Subresource::Token],
        ..row(
            "",
            "v1",
            "serviceaccounts",
            "serviceaccount",
            "ServiceAccount",
            true,
            &corev1::SERVICE_ACCOUNT_STRATEGY,
        )
    },
    ResourceDef {
        short_names: &["svc"],
        categories: ALL,
        subresources: &[Subresource::Proxy("proxy"), Subresource::Status],
        ..row(
            "",
            "v1",
            "services",
            "service",
            "Service",
            true,
            &service::SERVICE_STRATEGY,
        )
    },
    // ---- apiregistration.k8s.io/v1 ----
    ResourceDef {
        categories: API_EXTENSIONS,
        subresources: STATUS,
        ..row(
            "apiregistration.k8s.io",
            "v1",
            "apiservices",
            "apiservice",
            "APIService",
            false,
            &apiregistration::API_SERVICE_STRATEGY,
        )
    },
    // ---- apps/v1 ----
    row(
        "apps",
        "v1",
        "controllerrevisions",
        "controllerrevision",
        "ControllerRevision",
        true,
        &apps::CONTROLLER_REVISION_STRATEGY,
    ),
    ResourceDef {
        short_names: &["ds"],
        categories: ALL,
        subresources: STATUS,
        ..row(
            "apps",
            "v1",
            "daemonsets",
            "daemonset",
            "DaemonSet",
            true,
            &apps::DAEMON_SET_STRATEGY,
        )
    },
    ResourceDef {
        short_names: &["deploy"],
        categories: ALL,
        subresources: SCALE_STATUS,
        ..row(
            "apps",
            "v1",
            "deployments",
            "deployment",
            "Deployment",
            true,
            &apps::DEPLOYMENT_STRATEGY,
        )
    },
    ResourceDef {
        short_names: &["rs"],
        categories: ALL,
        subresources: SCALE_STATUS,
        ..row(
            "apps",
            "v1",
            "replicasets",
            "replicaset",
            "ReplicaSet",
            true,
            &apps::REPLICA_SET_STRATEGY,
        )
    },
    ResourceDef {
        short_names: &["sts"],
        categories: ALL,
        subresources: SCALE_STATUS,
        ..row(
            "apps",
            "v1",
            "statefulsets",
            "statefulset",
            "StatefulSet",
            true,
            &apps::STATEFUL_SET_STRATEGY,
        )
    },
    // ---- events.k8s.io/v1 (stored as core/v1 events) ----
    ResourceDef {
        short_names: &["ev"],
        storage_group: "",
        storage_version: "v1",
        conversion: Some(&events::EVENTS_V1_CONVERSION),
        ..row(
            "events.k8s.io",
            "v1",
            "events",
            "event",
            "Event",
            true,
            &events::EVENTS_V1_EVENT_STRATEGY,
        )
    },
    // ---- authentication.k8s.io/v1 and authorization.k8s.io/v1: create-only
    // reviews answered from memory (never stored) ----
    review(
        "authentication.k8s.io",
        "selfsubjectreviews",
        "selfsubjectreview",
        "SelfSubjectReview",
        false,
        &super::reviews::SELF_SUBJECT_REVIEW_STRATEGY,
    ),
    review(
        "authentication.k8s.io",
        "tokenreviews",
        "tokenreview",
        "TokenReview",
        false,
        &super::reviews::TOKEN_REVIEW_STRATEGY,
    ),
    review(
        "authorization.k8s.io",
        "localsubjectaccessreviews",
        "localsubjectaccessreview",
        "LocalSubjectAccessReview",
        true,
        &super::reviews::LOCAL_SUBJECT_ACCESS_REVIEW_STRATEGY,
    ),
    review(
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        "SelfSubjectAccessReview",
        false,
        &super::reviews::SELF_SUBJECT_ACCESS_REVIEW_STRATEGY,
    ),
    review(
        "authorization.k8s.io",
        "selfsubjectrulesreviews",
        "selfsubjectrulesreview",
        "SelfSubjectRulesReview",
        false,
        &super::reviews::SELF_SUBJECT_RULES_REVIEW_STRATEGY,
    ),
    review(
        "authorization.k8s.io",
        "subjectaccessreviews",
        "subjectaccessreview",
        "SubjectAccessReview",
        false,
        &super::reviews::SUBJECT_ACCESS_REVIEW_STRATEGY,
    ),
    // ---- autoscaling (stored as v2) ----
    ResourceDef {
        short_names: &["hpa"],
        categories: ALL,
        subresources: STATUS,
        ..row(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            "horizontalpodautoscaler",
            "HorizontalPodAutoscaler",
            true,
            &autoscaling::HORIZONTAL_POD_AUTOSCALER_STRATEGY,
        )
    },
    ResourceDef {
        short_names: &["hpa"],
        categories: ALL,
        subresources: STATUS,
        storage_version: "v2",
        conversion: Some(&autoscaling::HPA_V1_CONVERSION),
        ..row(
            "autoscaling",
            "v1",
            "horizontalpodautoscalers",
            "horizontalpodautoscaler",
            "HorizontalPodAutoscaler",
            true,
            &autoscaling::HORIZONTAL_POD_AUTOSCALER_STRATEGY,
        )
    },
    // ---- batch/v1 ----
    ResourceDef {
        short_names: &["cj"],
        categories: ALL,
        subresources: STATUS,
        ..row(
            "batch",
            "v1",
            "cronjobs",
            "cronjob",
            "CronJob",
            true,
            &batch::CRON_JOB_STRATEGY,
        )
    },
    ResourceDef {
        categories: ALL,
        subresources: STATUS,
        ..row(
            "batch",
            "v1",
            "jobs",
            "job",
            "Job",
            true,
            &batch::JOB_STRATEGY,
        )
    },
    // ---- certificates.k8s.io/v1 ----
    ResourceDef {
        short_names: &["csr"],
        subresources: &[Subresource::Approval, Subresource::Status],
        ..row(
            "certificates.k8s.io",
            "v1",
            "certificatesigningrequests",
            "certificatesigningrequest",
            "CertificateSigningRequest",
            false,
            &certificates::CERTIFICATE_SIGNING_REQUEST_STRATEGY,
        )
    },
    // ---- networking.k8s.io/v1 ----
    row(
        "networking.k8s.io",
        "v1",
        "ingressclasses",
        "ingressclass",
        "IngressClass",
        false,
        &networking::INGRESS_CLASS_STRATEGY,
    ),
    ResourceDef {
        short_names: &["ing"],
        subresources: STATUS,
        ..row(
            "networking.k8s.io",
            "v1",
            "ingresses",
            "ingress",
            "Ingress",
            true,
            &networking::INGRESS_STRATEGY,
        )
    },
    ResourceDef {
        short_names: &["netpol"],
        ..row(
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            "networkpolicy",
            "NetworkPolicy",
            true,
            &networking::NETWORK_POLICY_STRATEGY,
        )
    },
    // ---- policy/v1 ----
    ResourceDef {
        short_names: &["pdb"],
        subresources: STATUS,
        ..row(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "poddisruptionbudget",
            "PodDisruptionBudget",
            true,
            &policy::POD_DISRUPTION_BUDGET_STRATEGY,
        )
    },
    // ---- rbac.authorization.k8s.io/v1 ----
    row(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        false,
        &rbac::CLUSTER_ROLE_BINDING_STRATEGY,
    ),
    row(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "clusterrole",
        "ClusterRole",
        false,
        &rbac::CLUSTER_ROLE_STRATEGY,
    ),
    row(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "rolebinding",
        "RoleBinding",
        true,
        &rbac::ROLE_BINDING_STRATEGY,
    ),
    row(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "role",
        "Role",
        true,
        &rbac::ROLE_STRATEGY,
    ),
    // ---- storage.k8s.io/v1 ----
    row(
        "storage.k8s.io",
        "v1",
        "csidrivers",
        "csidriver",
        "CSIDriver",
        false,
        &storage::CSI_DRIVER_STRATEGY,
    ),
    row(
        "storage.k8s.io",
        "v1",
        "csinodes",
        "csinode",
        "CSINode",
        false,
        &storage::CSI_NODE_STRATEGY,
    ),
    row(
        "storage.k8s.io",
        "v1",
        "csistoragecapacities",
        "csistoragecapacity",
        "CSIStorageCapacity",
        true,
        &storage::CSI_STORAGE_CAPACITY_STRATEGY,
    ),
    ResourceDef {
        short_names: &["sc"],
        ..row(
            "storage.k8s.io",
            "v1",
            "storageclasses",
            "storageclass",
            "StorageClass",
            false,
            &storage::STORAGE_CLASS_STRATEGY,
        )
    },
    ResourceDef {
        subresources: STATUS,
        ..row(
            "storage.k8s.io",
            "v1",
            "volumeattachments",
            "volumeattachment",
            "VolumeAttachment",
            false,
            &storage::VOLUME_ATTACHMENT_STRATEGY,
        )
    },
    // ---- admissionregistration.k8s.io/v1 ----
    ResourceDef {
        categories: API_EXTENSIONS,
        ..row(
            "admissionregistration.k8s.io",
            "v1",
            "mutatingwebhookconfigurations",
            "mutatingwebhookconfiguration",
            "MutatingWebhookConfiguration",
            false,
            &admissionregistration::MUTATING_WEBHOOK_CONFIGURATION_STRATEGY,
        )
    },
    ResourceDef {
        categories: API_EXTENSIONS,
        subresources: STATUS,
        ..row(
            "admissionregistration.k8s.io",
            "v1",
            "validatingadmissionpolicies",
            "validatingadmissionpolicy",
            "ValidatingAdmissionPolicy",
            false,
            &admissionregistration::VALIDATING_ADMISSION_POLICY_STRATEGY,
        )
    },
    ResourceDef {
        categories: API_EXTENSIONS,
        ..row(
            "admissionregistration.k8s.io",
            "v1",
            "validatingadmissionpolicybindings",
            "validatingadmissionpolicybinding",
            "ValidatingAdmissionPolicyBinding",
            false,
            &admissionregistration::VALIDATING_ADMISSION_POLICY_BINDING_STRATEGY,
        )
    },
    ResourceDef {
        categories: API_EXTENSIONS,
        ..row(
            "admissionregistration.k8s.io",
            "v1",
            "validatingwebhookconfigurations",
            "validatingwebhookconfiguration",
            "ValidatingWebhookConfiguration",
            false,
            &admissionregistration::VALIDATING_WEBHOOK_CONFIGURATION_STRATEGY,
        )
    },
    // ---- scheduling.k8s.io/v1 ----
    ResourceDef {
        short_names: &["pc"],
        ..row(
            "scheduling.k8s.io",
            "v1",
            "priorityclasses",
            "priorityclass",
            "PriorityClass",
            false,
            &scheduling::PRIORITY_CLASS_STRATEGY,
        )
    },
    // ---- coordination.k8s.io/v1 ----
    row(
        "coordination.k8s.io",
        "v1",
        "leases",
        "lease",
        "Lease",
        true,
        &coordination::LEASE_STRATEGY,
    ),
    // ---- node.k8s.io/v1 ----
    row(
        "node.k8s.io",
        "v1",
        "runtimeclasses",
        "runtimeclass",
        "RuntimeClass",
        false,
        &node::RUNTIME_CLASS_STRATEGY,
    ),
    // ---- discovery.k8s.io/v1 ----
    row(
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        "endpointslice",
        "EndpointSlice",
        true,
        &discovery::ENDPOINT_SLICE_STRATEGY,
    ),
    // ---- flowcontrol.apiserver.k8s.io/v1 ----
    ResourceDef {
        subresources: STATUS,
        ..row(
            "flowcontrol.apiserver.k8s.io",
            "v1",
            "flowschemas",
            "flowschema",
            "FlowSchema",
            false,
            &flowcontrol::FLOW_SCHEMA_STRATEGY,
        )
    },
    ResourceDef {
        subresources: STATUS,
        ..row(
            "flowcontrol.apiserver.k8s.io",
            "v1",
            "prioritylevelconfigurations",
            "prioritylevelconfiguration",
            "PriorityLevelConfiguration",
            false,
            &flowcontrol::PRIORITY_LEVEL_STRATEGY,
        )
    },
];
