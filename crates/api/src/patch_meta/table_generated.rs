//! The built-in types' fields as k8s-openapi describes them, generated from
//! k8s-openapi-0.29.0 (`src/v1_33`) by `generate.rs`. Do not edit: run
//! `cargo test -p corten-api --lib patch_meta::generate::regenerate -- --ignored`.
//! Corrections for strategic merge patch belong in `overrides.rs`.

use super::table::{Field, Kind, Lists::*, Type};

/// Every type reachable from a kind. Struct fields are sorted by JSON name.
pub(super) static TYPES: &[Type] = &[
    // 0
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.AuditAnnotation", name: "AuditAnnotation", fields: &[
        Field::new("key", 623, Plain),
        Field::new("valueExpression", 623, Plain),
    ] },
    // 1
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.ExpressionWarning", name: "ExpressionWarning", fields: &[
        Field::new("fieldRef", 623, Plain),
        Field::new("warning", 623, Plain),
    ] },
    // 2
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.MatchCondition", name: "MatchCondition", fields: &[
        Field::new("expression", 623, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 3
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.MatchResources", name: "MatchResources", fields: &[
        Field::new("excludeResourceRules", 624, Atomic),
        Field::new("matchPolicy", 623, Plain),
        Field::new("namespaceSelector", 603, Plain),
        Field::new("objectSelector", 603, Plain),
        Field::new("resourceRules", 624, Atomic),
    ] },
    // 4
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.MutatingWebhook", name: "MutatingWebhook", fields: &[
        Field::new("admissionReviewVersions", 625, Atomic),
        Field::new("clientConfig", 21, Plain),
        Field::new("failurePolicy", 623, Plain),
        Field::new("matchConditions", 626, Keyed(&["name"])),
        Field::new("matchPolicy", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("namespaceSelector", 603, Plain),
        Field::new("objectSelector", 603, Plain),
        Field::new("reinvocationPolicy", 623, Plain),
        Field::new("rules", 627, Atomic),
        Field::new("sideEffects", 623, Plain),
        Field::new("timeoutSeconds", 628, Plain),
    ] },
    // 5
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.MutatingWebhookConfiguration", name: "MutatingWebhookConfiguration", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("webhooks", 629, Keyed(&["name"])),
    ] },
    // 6
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.NamedRuleWithOperations", name: "NamedRuleWithOperations", fields: &[
        Field::new("apiGroups", 625, Atomic),
        Field::new("apiVersions", 625, Atomic),
        Field::new("operations", 625, Atomic),
        Field::new("resourceNames", 625, Atomic),
        Field::new("resources", 625, Atomic),
        Field::new("scope", 623, Plain),
    ] },
    // 7
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.ParamKind", name: "ParamKind", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
    ] },
    // 8
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.ParamRef", name: "ParamRef", fields: &[
        Field::new("name", 623, Plain),
        Field::new("namespace", 623, Plain),
        Field::new("parameterNotFoundAction", 623, Plain),
        Field::new("selector", 603, Plain),
    ] },
    // 9
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.RuleWithOperations", name: "RuleWithOperations", fields: &[
        Field::new("apiGroups", 625, Atomic),
        Field::new("apiVersions", 625, Atomic),
        Field::new("operations", 625, Atomic),
        Field::new("resources", 625, Atomic),
        Field::new("scope", 623, Plain),
    ] },
    // 10
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.ServiceReference", name: "ServiceReference", fields: &[
        Field::new("name", 623, Plain),
        Field::new("namespace", 623, Plain),
        Field::new("path", 623, Plain),
        Field::new("port", 628, Plain),
    ] },
    // 11
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.TypeChecking", name: "TypeChecking", fields: &[
        Field::new("expressionWarnings", 630, Atomic),
    ] },
    // 12
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicy", name: "ValidatingAdmissionPolicy", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 15, Plain),
        Field::new("status", 16, Plain),
    ] },
    // 13
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicyBinding", name: "ValidatingAdmissionPolicyBinding", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 14, Plain),
    ] },
    // 14
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpec", name: "ValidatingAdmissionPolicyBindingSpec", fields: &[
        Field::new("matchResources", 3, Plain),
        Field::new("paramRef", 8, Plain),
        Field::new("policyName", 623, Plain),
        Field::new("validationActions", 625, Set),
    ] },
    // 15
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicySpec", name: "ValidatingAdmissionPolicySpec", fields: &[
        Field::new("auditAnnotations", 631, Atomic),
        Field::new("failurePolicy", 623, Plain),
        Field::new("matchConditions", 626, Keyed(&["name"])),
        Field::new("matchConstraints", 3, Plain),
        Field::new("paramKind", 7, Plain),
        Field::new("validations", 632, Atomic),
        Field::new("variables", 633, Keyed(&["name"])),
    ] },
    // 16
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicyStatus", name: "ValidatingAdmissionPolicyStatus", fields: &[
        Field::new("conditions", 634, Keyed(&["type"])),
        Field::new("observedGeneration", 635, Plain),
        Field::new("typeChecking", 11, Plain),
    ] },
    // 17
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.ValidatingWebhook", name: "ValidatingWebhook", fields: &[
        Field::new("admissionReviewVersions", 625, Atomic),
        Field::new("clientConfig", 21, Plain),
        Field::new("failurePolicy", 623, Plain),
        Field::new("matchConditions", 626, Keyed(&["name"])),
        Field::new("matchPolicy", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("namespaceSelector", 603, Plain),
        Field::new("objectSelector", 603, Plain),
        Field::new("rules", 627, Atomic),
        Field::new("sideEffects", 623, Plain),
        Field::new("timeoutSeconds", 628, Plain),
    ] },
    // 18
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.ValidatingWebhookConfiguration", name: "ValidatingWebhookConfiguration", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("webhooks", 636, Keyed(&["name"])),
    ] },
    // 19
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.Validation", name: "Validation", fields: &[
        Field::new("expression", 623, Plain),
        Field::new("message", 623, Plain),
        Field::new("messageExpression", 623, Plain),
        Field::new("reason", 623, Plain),
    ] },
    // 20
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.Variable", name: "Variable", fields: &[
        Field::new("expression", 623, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 21
    Type::Struct { def: "io.k8s.api.admissionregistration.v1.WebhookClientConfig", name: "WebhookClientConfig", fields: &[
        Field::new("caBundle", 637, Plain),
        Field::new("service", 10, Plain),
        Field::new("url", 623, Plain),
    ] },
    // 22
    Type::Struct { def: "io.k8s.api.admissionregistration.v1alpha1.ApplyConfiguration", name: "ApplyConfiguration", fields: &[
        Field::new("expression", 623, Plain),
    ] },
    // 23
    Type::Struct { def: "io.k8s.api.admissionregistration.v1alpha1.JSONPatch", name: "JSONPatch", fields: &[
        Field::new("expression", 623, Plain),
    ] },
    // 24
    Type::Struct { def: "io.k8s.api.admissionregistration.v1alpha1.MatchCondition", name: "MatchCondition", fields: &[
        Field::new("expression", 623, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 25
    Type::Struct { def: "io.k8s.api.admissionregistration.v1alpha1.MatchResources", name: "MatchResources", fields: &[
        Field::new("excludeResourceRules", 638, Atomic),
        Field::new("matchPolicy", 623, Plain),
        Field::new("namespaceSelector", 603, Plain),
        Field::new("objectSelector", 603, Plain),
        Field::new("resourceRules", 638, Atomic),
    ] },
    // 26
    Type::Struct { def: "io.k8s.api.admissionregistration.v1alpha1.MutatingAdmissionPolicy", name: "MutatingAdmissionPolicy", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 29, Plain),
    ] },
    // 27
    Type::Struct { def: "io.k8s.api.admissionregistration.v1alpha1.MutatingAdmissionPolicyBinding", name: "MutatingAdmissionPolicyBinding", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 28, Plain),
    ] },
    // 28
    Type::Struct { def: "io.k8s.api.admissionregistration.v1alpha1.MutatingAdmissionPolicyBindingSpec", name: "MutatingAdmissionPolicyBindingSpec", fields: &[
        Field::new("matchResources", 25, Plain),
        Field::new("paramRef", 33, Plain),
        Field::new("policyName", 623, Plain),
    ] },
    // 29
    Type::Struct { def: "io.k8s.api.admissionregistration.v1alpha1.MutatingAdmissionPolicySpec", name: "MutatingAdmissionPolicySpec", fields: &[
        Field::new("failurePolicy", 623, Plain),
        Field::new("matchConditions", 639, Keyed(&["name"])),
        Field::new("matchConstraints", 25, Plain),
        Field::new("mutations", 640, Atomic),
        Field::new("paramKind", 32, Plain),
        Field::new("reinvocationPolicy", 623, Plain),
        Field::new("variables", 641, Atomic),
    ] },
    // 30
    Type::Struct { def: "io.k8s.api.admissionregistration.v1alpha1.Mutation", name: "Mutation", fields: &[
        Field::new("applyConfiguration", 22, Plain),
        Field::new("jsonPatch", 23, Plain),
        Field::new("patchType", 623, Plain),
    ] },
    // 31
    Type::Struct { def: "io.k8s.api.admissionregistration.v1alpha1.NamedRuleWithOperations", name: "NamedRuleWithOperations", fields: &[
        Field::new("apiGroups", 625, Atomic),
        Field::new("apiVersions", 625, Atomic),
        Field::new("operations", 625, Atomic),
        Field::new("resourceNames", 625, Atomic),
        Field::new("resources", 625, Atomic),
        Field::new("scope", 623, Plain),
    ] },
    // 32
    Type::Struct { def: "io.k8s.api.admissionregistration.v1alpha1.ParamKind", name: "ParamKind", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
    ] },
    // 33
    Type::Struct { def: "io.k8s.api.admissionregistration.v1alpha1.ParamRef", name: "ParamRef", fields: &[
        Field::new("name", 623, Plain),
        Field::new("namespace", 623, Plain),
        Field::new("parameterNotFoundAction", 623, Plain),
        Field::new("selector", 603, Plain),
    ] },
    // 34
    Type::Struct { def: "io.k8s.api.admissionregistration.v1alpha1.Variable", name: "Variable", fields: &[
        Field::new("expression", 623, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 35
    Type::Struct { def: "io.k8s.api.admissionregistration.v1beta1.AuditAnnotation", name: "AuditAnnotation", fields: &[
        Field::new("key", 623, Plain),
        Field::new("valueExpression", 623, Plain),
    ] },
    // 36
    Type::Struct { def: "io.k8s.api.admissionregistration.v1beta1.ExpressionWarning", name: "ExpressionWarning", fields: &[
        Field::new("fieldRef", 623, Plain),
        Field::new("warning", 623, Plain),
    ] },
    // 37
    Type::Struct { def: "io.k8s.api.admissionregistration.v1beta1.MatchCondition", name: "MatchCondition", fields: &[
        Field::new("expression", 623, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 38
    Type::Struct { def: "io.k8s.api.admissionregistration.v1beta1.MatchResources", name: "MatchResources", fields: &[
        Field::new("excludeResourceRules", 642, Atomic),
        Field::new("matchPolicy", 623, Plain),
        Field::new("namespaceSelector", 603, Plain),
        Field::new("objectSelector", 603, Plain),
        Field::new("resourceRules", 642, Atomic),
    ] },
    // 39
    Type::Struct { def: "io.k8s.api.admissionregistration.v1beta1.NamedRuleWithOperations", name: "NamedRuleWithOperations", fields: &[
        Field::new("apiGroups", 625, Atomic),
        Field::new("apiVersions", 625, Atomic),
        Field::new("operations", 625, Atomic),
        Field::new("resourceNames", 625, Atomic),
        Field::new("resources", 625, Atomic),
        Field::new("scope", 623, Plain),
    ] },
    // 40
    Type::Struct { def: "io.k8s.api.admissionregistration.v1beta1.ParamKind", name: "ParamKind", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
    ] },
    // 41
    Type::Struct { def: "io.k8s.api.admissionregistration.v1beta1.ParamRef", name: "ParamRef", fields: &[
        Field::new("name", 623, Plain),
        Field::new("namespace", 623, Plain),
        Field::new("parameterNotFoundAction", 623, Plain),
        Field::new("selector", 603, Plain),
    ] },
    // 42
    Type::Struct { def: "io.k8s.api.admissionregistration.v1beta1.TypeChecking", name: "TypeChecking", fields: &[
        Field::new("expressionWarnings", 643, Atomic),
    ] },
    // 43
    Type::Struct { def: "io.k8s.api.admissionregistration.v1beta1.ValidatingAdmissionPolicy", name: "ValidatingAdmissionPolicy", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 46, Plain),
        Field::new("status", 47, Plain),
    ] },
    // 44
    Type::Struct { def: "io.k8s.api.admissionregistration.v1beta1.ValidatingAdmissionPolicyBinding", name: "ValidatingAdmissionPolicyBinding", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 45, Plain),
    ] },
    // 45
    Type::Struct { def: "io.k8s.api.admissionregistration.v1beta1.ValidatingAdmissionPolicyBindingSpec", name: "ValidatingAdmissionPolicyBindingSpec", fields: &[
        Field::new("matchResources", 38, Plain),
        Field::new("paramRef", 41, Plain),
        Field::new("policyName", 623, Plain),
        Field::new("validationActions", 625, Set),
    ] },
    // 46
    Type::Struct { def: "io.k8s.api.admissionregistration.v1beta1.ValidatingAdmissionPolicySpec", name: "ValidatingAdmissionPolicySpec", fields: &[
        Field::new("auditAnnotations", 644, Atomic),
        Field::new("failurePolicy", 623, Plain),
        Field::new("matchConditions", 645, Keyed(&["name"])),
        Field::new("matchConstraints", 38, Plain),
        Field::new("paramKind", 40, Plain),
        Field::new("validations", 646, Atomic),
        Field::new("variables", 647, Keyed(&["name"])),
    ] },
    // 47
    Type::Struct { def: "io.k8s.api.admissionregistration.v1beta1.ValidatingAdmissionPolicyStatus", name: "ValidatingAdmissionPolicyStatus", fields: &[
        Field::new("conditions", 634, Keyed(&["type"])),
        Field::new("observedGeneration", 635, Plain),
        Field::new("typeChecking", 42, Plain),
    ] },
    // 48
    Type::Struct { def: "io.k8s.api.admissionregistration.v1beta1.Validation", name: "Validation", fields: &[
        Field::new("expression", 623, Plain),
        Field::new("message", 623, Plain),
        Field::new("messageExpression", 623, Plain),
        Field::new("reason", 623, Plain),
    ] },
    // 49
    Type::Struct { def: "io.k8s.api.admissionregistration.v1beta1.Variable", name: "Variable", fields: &[
        Field::new("expression", 623, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 50
    Type::Struct { def: "io.k8s.api.apiserverinternal.v1alpha1.ServerStorageVersion", name: "ServerStorageVersion", fields: &[
        Field::new("apiServerID", 623, Plain),
        Field::new("decodableVersions", 625, Set),
        Field::new("encodingVersion", 623, Plain),
        Field::new("servedVersions", 625, Set),
    ] },
    // 51
    Type::Struct { def: "io.k8s.api.apiserverinternal.v1alpha1.StorageVersion", name: "StorageVersion", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 53, Plain),
        Field::new("status", 54, Plain),
    ] },
    // 52
    Type::Struct { def: "io.k8s.api.apiserverinternal.v1alpha1.StorageVersionCondition", name: "StorageVersionCondition", fields: &[
        Field::new("lastTransitionTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("observedGeneration", 635, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 53
    Type::Struct { def: "io.k8s.api.apiserverinternal.v1alpha1.StorageVersionSpec", name: "StorageVersionSpec", fields: &[
    ] },
    // 54
    Type::Struct { def: "io.k8s.api.apiserverinternal.v1alpha1.StorageVersionStatus", name: "StorageVersionStatus", fields: &[
        Field::new("commonEncodingVersion", 623, Plain),
        Field::new("conditions", 648, Keyed(&["type"])),
        Field::new("storageVersions", 649, Keyed(&["apiServerID"])),
    ] },
    // 55
    Type::Struct { def: "io.k8s.api.apps.v1.ControllerRevision", name: "ControllerRevision", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("data", 616, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("revision", 635, Plain),
    ] },
    // 56
    Type::Struct { def: "io.k8s.api.apps.v1.DaemonSet", name: "DaemonSet", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 58, Plain),
        Field::new("status", 59, Plain),
    ] },
    // 57
    Type::Struct { def: "io.k8s.api.apps.v1.DaemonSetCondition", name: "DaemonSetCondition", fields: &[
        Field::new("lastTransitionTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 58
    Type::Struct { def: "io.k8s.api.apps.v1.DaemonSetSpec", name: "DaemonSetSpec", fields: &[
        Field::new("minReadySeconds", 628, Plain),
        Field::new("revisionHistoryLimit", 628, Plain),
        Field::new("selector", 603, Plain),
        Field::new("template", 297, Plain),
        Field::new("updateStrategy", 60, Plain),
    ] },
    // 59
    Type::Struct { def: "io.k8s.api.apps.v1.DaemonSetStatus", name: "DaemonSetStatus", fields: &[
        Field::new("collisionCount", 628, Plain),
        Field::new("conditions", 650, Keyed(&["type"])),
        Field::new("currentNumberScheduled", 628, Plain),
        Field::new("desiredNumberScheduled", 628, Plain),
        Field::new("numberAvailable", 628, Plain),
        Field::new("numberMisscheduled", 628, Plain),
        Field::new("numberReady", 628, Plain),
        Field::new("numberUnavailable", 628, Plain),
        Field::new("observedGeneration", 635, Plain),
        Field::new("updatedNumberScheduled", 628, Plain),
    ] },
    // 60
    Type::Struct { def: "io.k8s.api.apps.v1.DaemonSetUpdateStrategy", name: "DaemonSetUpdateStrategy", fields: &[
        Field::new("rollingUpdate", 70, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 61
    Type::Struct { def: "io.k8s.api.apps.v1.Deployment", name: "Deployment", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 63, Plain),
        Field::new("status", 64, Plain),
    ] },
    // 62
    Type::Struct { def: "io.k8s.api.apps.v1.DeploymentCondition", name: "DeploymentCondition", fields: &[
        Field::new("lastTransitionTime", 615, Plain),
        Field::new("lastUpdateTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 63
    Type::Struct { def: "io.k8s.api.apps.v1.DeploymentSpec", name: "DeploymentSpec", fields: &[
        Field::new("minReadySeconds", 628, Plain),
        Field::new("paused", 651, Plain),
        Field::new("progressDeadlineSeconds", 628, Plain),
        Field::new("replicas", 628, Plain),
        Field::new("revisionHistoryLimit", 628, Plain),
        Field::new("selector", 603, Plain),
        Field::new("strategy", 65, Plain),
        Field::new("template", 297, Plain),
    ] },
    // 64
    Type::Struct { def: "io.k8s.api.apps.v1.DeploymentStatus", name: "DeploymentStatus", fields: &[
        Field::new("availableReplicas", 628, Plain),
        Field::new("collisionCount", 628, Plain),
        Field::new("conditions", 652, Keyed(&["type"])),
        Field::new("observedGeneration", 635, Plain),
        Field::new("readyReplicas", 628, Plain),
        Field::new("replicas", 628, Plain),
        Field::new("terminatingReplicas", 628, Plain),
        Field::new("unavailableReplicas", 628, Plain),
        Field::new("updatedReplicas", 628, Plain),
    ] },
    // 65
    Type::Struct { def: "io.k8s.api.apps.v1.DeploymentStrategy", name: "DeploymentStrategy", fields: &[
        Field::new("rollingUpdate", 71, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 66
    Type::Struct { def: "io.k8s.api.apps.v1.ReplicaSet", name: "ReplicaSet", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 68, Plain),
        Field::new("status", 69, Plain),
    ] },
    // 67
    Type::Struct { def: "io.k8s.api.apps.v1.ReplicaSetCondition", name: "ReplicaSetCondition", fields: &[
        Field::new("lastTransitionTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 68
    Type::Struct { def: "io.k8s.api.apps.v1.ReplicaSetSpec", name: "ReplicaSetSpec", fields: &[
        Field::new("minReadySeconds", 628, Plain),
        Field::new("replicas", 628, Plain),
        Field::new("selector", 603, Plain),
        Field::new("template", 297, Plain),
    ] },
    // 69
    Type::Struct { def: "io.k8s.api.apps.v1.ReplicaSetStatus", name: "ReplicaSetStatus", fields: &[
        Field::new("availableReplicas", 628, Plain),
        Field::new("conditions", 653, Keyed(&["type"])),
        Field::new("fullyLabeledReplicas", 628, Plain),
        Field::new("observedGeneration", 635, Plain),
        Field::new("readyReplicas", 628, Plain),
        Field::new("replicas", 628, Plain),
        Field::new("terminatingReplicas", 628, Plain),
    ] },
    // 70
    Type::Struct { def: "io.k8s.api.apps.v1.RollingUpdateDaemonSet", name: "RollingUpdateDaemonSet", fields: &[
        Field::new("maxSurge", 617, Plain),
        Field::new("maxUnavailable", 617, Plain),
    ] },
    // 71
    Type::Struct { def: "io.k8s.api.apps.v1.RollingUpdateDeployment", name: "RollingUpdateDeployment", fields: &[
        Field::new("maxSurge", 617, Plain),
        Field::new("maxUnavailable", 617, Plain),
    ] },
    // 72
    Type::Struct { def: "io.k8s.api.apps.v1.RollingUpdateStatefulSetStrategy", name: "RollingUpdateStatefulSetStrategy", fields: &[
        Field::new("maxUnavailable", 617, Plain),
        Field::new("partition", 628, Plain),
    ] },
    // 73
    Type::Struct { def: "io.k8s.api.apps.v1.StatefulSet", name: "StatefulSet", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 77, Plain),
        Field::new("status", 78, Plain),
    ] },
    // 74
    Type::Struct { def: "io.k8s.api.apps.v1.StatefulSetCondition", name: "StatefulSetCondition", fields: &[
        Field::new("lastTransitionTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 75
    Type::Struct { def: "io.k8s.api.apps.v1.StatefulSetOrdinals", name: "StatefulSetOrdinals", fields: &[
        Field::new("start", 628, Plain),
    ] },
    // 76
    Type::Struct { def: "io.k8s.api.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicy", name: "StatefulSetPersistentVolumeClaimRetentionPolicy", fields: &[
        Field::new("whenDeleted", 623, Plain),
        Field::new("whenScaled", 623, Plain),
    ] },
    // 77
    Type::Struct { def: "io.k8s.api.apps.v1.StatefulSetSpec", name: "StatefulSetSpec", fields: &[
        Field::new("minReadySeconds", 628, Plain),
        Field::new("ordinals", 75, Plain),
        Field::new("persistentVolumeClaimRetentionPolicy", 76, Plain),
        Field::new("podManagementPolicy", 623, Plain),
        Field::new("replicas", 628, Plain),
        Field::new("revisionHistoryLimit", 628, Plain),
        Field::new("selector", 603, Plain),
        Field::new("serviceName", 623, Plain),
        Field::new("template", 297, Plain),
        Field::new("updateStrategy", 79, Plain),
        Field::new("volumeClaimTemplates", 654, Keyed(&["metadata.name"])),
    ] },
    // 78
    Type::Struct { def: "io.k8s.api.apps.v1.StatefulSetStatus", name: "StatefulSetStatus", fields: &[
        Field::new("availableReplicas", 628, Plain),
        Field::new("collisionCount", 628, Plain),
        Field::new("conditions", 655, Keyed(&["type"])),
        Field::new("currentReplicas", 628, Plain),
        Field::new("currentRevision", 623, Plain),
        Field::new("observedGeneration", 635, Plain),
        Field::new("readyReplicas", 628, Plain),
        Field::new("replicas", 628, Plain),
        Field::new("updateRevision", 623, Plain),
        Field::new("updatedReplicas", 628, Plain),
    ] },
    // 79
    Type::Struct { def: "io.k8s.api.apps.v1.StatefulSetUpdateStrategy", name: "StatefulSetUpdateStrategy", fields: &[
        Field::new("rollingUpdate", 72, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 80
    Type::Struct { def: "io.k8s.api.authentication.v1.BoundObjectReference", name: "BoundObjectReference", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("uid", 623, Plain),
    ] },
    // 81
    Type::Struct { def: "io.k8s.api.authentication.v1.SelfSubjectReview", name: "SelfSubjectReview", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("status", 82, Plain),
    ] },
    // 82
    Type::Struct { def: "io.k8s.api.authentication.v1.SelfSubjectReviewStatus", name: "SelfSubjectReviewStatus", fields: &[
        Field::new("userInfo", 89, Plain),
    ] },
    // 83
    Type::Struct { def: "io.k8s.api.authentication.v1.TokenRequest", name: "TokenRequest", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 84, Plain),
        Field::new("status", 85, Plain),
    ] },
    // 84
    Type::Struct { def: "io.k8s.api.authentication.v1.TokenRequestSpec", name: "TokenRequestSpec", fields: &[
        Field::new("audiences", 625, Atomic),
        Field::new("boundObjectRef", 80, Plain),
        Field::new("expirationSeconds", 635, Plain),
    ] },
    // 85
    Type::Struct { def: "io.k8s.api.authentication.v1.TokenRequestStatus", name: "TokenRequestStatus", fields: &[
        Field::new("expirationTimestamp", 615, Plain),
        Field::new("token", 623, Plain),
    ] },
    // 86
    Type::Struct { def: "io.k8s.api.authentication.v1.TokenReview", name: "TokenReview", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 87, Plain),
        Field::new("status", 88, Plain),
    ] },
    // 87
    Type::Struct { def: "io.k8s.api.authentication.v1.TokenReviewSpec", name: "TokenReviewSpec", fields: &[
        Field::new("audiences", 625, Atomic),
        Field::new("token", 623, Plain),
    ] },
    // 88
    Type::Struct { def: "io.k8s.api.authentication.v1.TokenReviewStatus", name: "TokenReviewStatus", fields: &[
        Field::new("audiences", 625, Atomic),
        Field::new("authenticated", 651, Plain),
        Field::new("error", 623, Plain),
        Field::new("user", 89, Plain),
    ] },
    // 89
    Type::Struct { def: "io.k8s.api.authentication.v1.UserInfo", name: "UserInfo", fields: &[
        Field::new("extra", 656, Plain),
        Field::new("groups", 625, Atomic),
        Field::new("uid", 623, Plain),
        Field::new("username", 623, Plain),
    ] },
    // 90
    Type::Struct { def: "io.k8s.api.authorization.v1.FieldSelectorAttributes", name: "FieldSelectorAttributes", fields: &[
        Field::new("rawSelector", 623, Plain),
        Field::new("requirements", 657, Atomic),
    ] },
    // 91
    Type::Struct { def: "io.k8s.api.authorization.v1.LabelSelectorAttributes", name: "LabelSelectorAttributes", fields: &[
        Field::new("rawSelector", 623, Plain),
        Field::new("requirements", 658, Atomic),
    ] },
    // 92
    Type::Struct { def: "io.k8s.api.authorization.v1.LocalSubjectAccessReview", name: "LocalSubjectAccessReview", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 102, Plain),
        Field::new("status", 103, Plain),
    ] },
    // 93
    Type::Struct { def: "io.k8s.api.authorization.v1.NonResourceAttributes", name: "NonResourceAttributes", fields: &[
        Field::new("path", 623, Plain),
        Field::new("verb", 623, Plain),
    ] },
    // 94
    Type::Struct { def: "io.k8s.api.authorization.v1.NonResourceRule", name: "NonResourceRule", fields: &[
        Field::new("nonResourceURLs", 625, Atomic),
        Field::new("verbs", 625, Atomic),
    ] },
    // 95
    Type::Struct { def: "io.k8s.api.authorization.v1.ResourceAttributes", name: "ResourceAttributes", fields: &[
        Field::new("fieldSelector", 90, Plain),
        Field::new("group", 623, Plain),
        Field::new("labelSelector", 91, Plain),
        Field::new("name", 623, Plain),
        Field::new("namespace", 623, Plain),
        Field::new("resource", 623, Plain),
        Field::new("subresource", 623, Plain),
        Field::new("verb", 623, Plain),
        Field::new("version", 623, Plain),
    ] },
    // 96
    Type::Struct { def: "io.k8s.api.authorization.v1.ResourceRule", name: "ResourceRule", fields: &[
        Field::new("apiGroups", 625, Atomic),
        Field::new("resourceNames", 625, Atomic),
        Field::new("resources", 625, Atomic),
        Field::new("verbs", 625, Atomic),
    ] },
    // 97
    Type::Struct { def: "io.k8s.api.authorization.v1.SelfSubjectAccessReview", name: "SelfSubjectAccessReview", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 98, Plain),
        Field::new("status", 103, Plain),
    ] },
    // 98
    Type::Struct { def: "io.k8s.api.authorization.v1.SelfSubjectAccessReviewSpec", name: "SelfSubjectAccessReviewSpec", fields: &[
        Field::new("nonResourceAttributes", 93, Plain),
        Field::new("resourceAttributes", 95, Plain),
    ] },
    // 99
    Type::Struct { def: "io.k8s.api.authorization.v1.SelfSubjectRulesReview", name: "SelfSubjectRulesReview", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 100, Plain),
        Field::new("status", 104, Plain),
    ] },
    // 100
    Type::Struct { def: "io.k8s.api.authorization.v1.SelfSubjectRulesReviewSpec", name: "SelfSubjectRulesReviewSpec", fields: &[
        Field::new("namespace", 623, Plain),
    ] },
    // 101
    Type::Struct { def: "io.k8s.api.authorization.v1.SubjectAccessReview", name: "SubjectAccessReview", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 102, Plain),
        Field::new("status", 103, Plain),
    ] },
    // 102
    Type::Struct { def: "io.k8s.api.authorization.v1.SubjectAccessReviewSpec", name: "SubjectAccessReviewSpec", fields: &[
        Field::new("extra", 656, Plain),
        Field::new("groups", 625, Atomic),
        Field::new("nonResourceAttributes", 93, Plain),
        Field::new("resourceAttributes", 95, Plain),
        Field::new("uid", 623, Plain),
        Field::new("user", 623, Plain),
    ] },
    // 103
    Type::Struct { def: "io.k8s.api.authorization.v1.SubjectAccessReviewStatus", name: "SubjectAccessReviewStatus", fields: &[
        Field::new("allowed", 651, Plain),
        Field::new("denied", 651, Plain),
        Field::new("evaluationError", 623, Plain),
        Field::new("reason", 623, Plain),
    ] },
    // 104
    Type::Struct { def: "io.k8s.api.authorization.v1.SubjectRulesReviewStatus", name: "SubjectRulesReviewStatus", fields: &[
        Field::new("evaluationError", 623, Plain),
        Field::new("incomplete", 651, Plain),
        Field::new("nonResourceRules", 659, Atomic),
        Field::new("resourceRules", 660, Atomic),
    ] },
    // 105
    Type::Struct { def: "io.k8s.api.autoscaling.v1.CrossVersionObjectReference", name: "CrossVersionObjectReference", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 106
    Type::Struct { def: "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler", name: "HorizontalPodAutoscaler", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 107, Plain),
        Field::new("status", 108, Plain),
    ] },
    // 107
    Type::Struct { def: "io.k8s.api.autoscaling.v1.HorizontalPodAutoscalerSpec", name: "HorizontalPodAutoscalerSpec", fields: &[
        Field::new("maxReplicas", 628, Plain),
        Field::new("minReplicas", 628, Plain),
        Field::new("scaleTargetRef", 105, Plain),
        Field::new("targetCPUUtilizationPercentage", 628, Plain),
    ] },
    // 108
    Type::Struct { def: "io.k8s.api.autoscaling.v1.HorizontalPodAutoscalerStatus", name: "HorizontalPodAutoscalerStatus", fields: &[
        Field::new("currentCPUUtilizationPercentage", 628, Plain),
        Field::new("currentReplicas", 628, Plain),
        Field::new("desiredReplicas", 628, Plain),
        Field::new("lastScaleTime", 615, Plain),
        Field::new("observedGeneration", 635, Plain),
    ] },
    // 109
    Type::Struct { def: "io.k8s.api.autoscaling.v1.Scale", name: "Scale", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 110, Plain),
        Field::new("status", 111, Plain),
    ] },
    // 110
    Type::Struct { def: "io.k8s.api.autoscaling.v1.ScaleSpec", name: "ScaleSpec", fields: &[
        Field::new("replicas", 628, Plain),
    ] },
    // 111
    Type::Struct { def: "io.k8s.api.autoscaling.v1.ScaleStatus", name: "ScaleStatus", fields: &[
        Field::new("replicas", 628, Plain),
        Field::new("selector", 623, Plain),
    ] },
    // 112
    Type::Struct { def: "io.k8s.api.autoscaling.v2.ContainerResourceMetricSource", name: "ContainerResourceMetricSource", fields: &[
        Field::new("container", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("target", 127, Plain),
    ] },
    // 113
    Type::Struct { def: "io.k8s.api.autoscaling.v2.ContainerResourceMetricStatus", name: "ContainerResourceMetricStatus", fields: &[
        Field::new("container", 623, Plain),
        Field::new("current", 128, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 114
    Type::Struct { def: "io.k8s.api.autoscaling.v2.CrossVersionObjectReference", name: "CrossVersionObjectReference", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 115
    Type::Struct { def: "io.k8s.api.autoscaling.v2.ExternalMetricSource", name: "ExternalMetricSource", fields: &[
        Field::new("metric", 124, Plain),
        Field::new("target", 127, Plain),
    ] },
    // 116
    Type::Struct { def: "io.k8s.api.autoscaling.v2.ExternalMetricStatus", name: "ExternalMetricStatus", fields: &[
        Field::new("current", 128, Plain),
        Field::new("metric", 124, Plain),
    ] },
    // 117
    Type::Struct { def: "io.k8s.api.autoscaling.v2.HPAScalingPolicy", name: "HPAScalingPolicy", fields: &[
        Field::new("periodSeconds", 628, Plain),
        Field::new("type", 623, Plain),
        Field::new("value", 628, Plain),
    ] },
    // 118
    Type::Struct { def: "io.k8s.api.autoscaling.v2.HPAScalingRules", name: "HPAScalingRules", fields: &[
        Field::new("policies", 661, Atomic),
        Field::new("selectPolicy", 623, Plain),
        Field::new("stabilizationWindowSeconds", 628, Plain),
        Field::new("tolerance", 592, Plain),
    ] },
    // 119
    Type::Struct { def: "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler", name: "HorizontalPodAutoscaler", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 122, Plain),
        Field::new("status", 123, Plain),
    ] },
    // 120
    Type::Struct { def: "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerBehavior", name: "HorizontalPodAutoscalerBehavior", fields: &[
        Field::new("scaleDown", 118, Plain),
        Field::new("scaleUp", 118, Plain),
    ] },
    // 121
    Type::Struct { def: "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerCondition", name: "HorizontalPodAutoscalerCondition", fields: &[
        Field::new("lastTransitionTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 122
    Type::Struct { def: "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec", name: "HorizontalPodAutoscalerSpec", fields: &[
        Field::new("behavior", 120, Plain),
        Field::new("maxReplicas", 628, Plain),
        Field::new("metrics", 662, Atomic),
        Field::new("minReplicas", 628, Plain),
        Field::new("scaleTargetRef", 114, Plain),
    ] },
    // 123
    Type::Struct { def: "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus", name: "HorizontalPodAutoscalerStatus", fields: &[
        Field::new("conditions", 663, Keyed(&["type"])),
        Field::new("currentMetrics", 664, Atomic),
        Field::new("currentReplicas", 628, Plain),
        Field::new("desiredReplicas", 628, Plain),
        Field::new("lastScaleTime", 615, Plain),
        Field::new("observedGeneration", 635, Plain),
    ] },
    // 124
    Type::Struct { def: "io.k8s.api.autoscaling.v2.MetricIdentifier", name: "MetricIdentifier", fields: &[
        Field::new("name", 623, Plain),
        Field::new("selector", 603, Plain),
    ] },
    // 125
    Type::Struct { def: "io.k8s.api.autoscaling.v2.MetricSpec", name: "MetricSpec", fields: &[
        Field::new("containerResource", 112, Plain),
        Field::new("external", 115, Plain),
        Field::new("object", 129, Plain),
        Field::new("pods", 131, Plain),
        Field::new("resource", 133, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 126
    Type::Struct { def: "io.k8s.api.autoscaling.v2.MetricStatus", name: "MetricStatus", fields: &[
        Field::new("containerResource", 113, Plain),
        Field::new("external", 116, Plain),
        Field::new("object", 130, Plain),
        Field::new("pods", 132, Plain),
        Field::new("resource", 134, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 127
    Type::Struct { def: "io.k8s.api.autoscaling.v2.MetricTarget", name: "MetricTarget", fields: &[
        Field::new("averageUtilization", 628, Plain),
        Field::new("averageValue", 592, Plain),
        Field::new("type", 623, Plain),
        Field::new("value", 592, Plain),
    ] },
    // 128
    Type::Struct { def: "io.k8s.api.autoscaling.v2.MetricValueStatus", name: "MetricValueStatus", fields: &[
        Field::new("averageUtilization", 628, Plain),
        Field::new("averageValue", 592, Plain),
        Field::new("value", 592, Plain),
    ] },
    // 129
    Type::Struct { def: "io.k8s.api.autoscaling.v2.ObjectMetricSource", name: "ObjectMetricSource", fields: &[
        Field::new("describedObject", 114, Plain),
        Field::new("metric", 124, Plain),
        Field::new("target", 127, Plain),
    ] },
    // 130
    Type::Struct { def: "io.k8s.api.autoscaling.v2.ObjectMetricStatus", name: "ObjectMetricStatus", fields: &[
        Field::new("current", 128, Plain),
        Field::new("describedObject", 114, Plain),
        Field::new("metric", 124, Plain),
    ] },
    // 131
    Type::Struct { def: "io.k8s.api.autoscaling.v2.PodsMetricSource", name: "PodsMetricSource", fields: &[
        Field::new("metric", 124, Plain),
        Field::new("target", 127, Plain),
    ] },
    // 132
    Type::Struct { def: "io.k8s.api.autoscaling.v2.PodsMetricStatus", name: "PodsMetricStatus", fields: &[
        Field::new("current", 128, Plain),
        Field::new("metric", 124, Plain),
    ] },
    // 133
    Type::Struct { def: "io.k8s.api.autoscaling.v2.ResourceMetricSource", name: "ResourceMetricSource", fields: &[
        Field::new("name", 623, Plain),
        Field::new("target", 127, Plain),
    ] },
    // 134
    Type::Struct { def: "io.k8s.api.autoscaling.v2.ResourceMetricStatus", name: "ResourceMetricStatus", fields: &[
        Field::new("current", 128, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 135
    Type::Struct { def: "io.k8s.api.batch.v1.CronJob", name: "CronJob", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 136, Plain),
        Field::new("status", 137, Plain),
    ] },
    // 136
    Type::Struct { def: "io.k8s.api.batch.v1.CronJobSpec", name: "CronJobSpec", fields: &[
        Field::new("concurrencyPolicy", 623, Plain),
        Field::new("failedJobsHistoryLimit", 628, Plain),
        Field::new("jobTemplate", 142, Plain),
        Field::new("schedule", 623, Plain),
        Field::new("startingDeadlineSeconds", 635, Plain),
        Field::new("successfulJobsHistoryLimit", 628, Plain),
        Field::new("suspend", 651, Plain),
        Field::new("timeZone", 623, Plain),
    ] },
    // 137
    Type::Struct { def: "io.k8s.api.batch.v1.CronJobStatus", name: "CronJobStatus", fields: &[
        Field::new("active", 665, Atomic),
        Field::new("lastScheduleTime", 615, Plain),
        Field::new("lastSuccessfulTime", 615, Plain),
    ] },
    // 138
    Type::Struct { def: "io.k8s.api.batch.v1.Job", name: "Job", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 140, Plain),
        Field::new("status", 141, Plain),
    ] },
    // 139
    Type::Struct { def: "io.k8s.api.batch.v1.JobCondition", name: "JobCondition", fields: &[
        Field::new("lastProbeTime", 615, Plain),
        Field::new("lastTransitionTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 140
    Type::Struct { def: "io.k8s.api.batch.v1.JobSpec", name: "JobSpec", fields: &[
        Field::new("activeDeadlineSeconds", 635, Plain),
        Field::new("backoffLimit", 628, Plain),
        Field::new("backoffLimitPerIndex", 628, Plain),
        Field::new("completionMode", 623, Plain),
        Field::new("completions", 628, Plain),
        Field::new("managedBy", 623, Plain),
        Field::new("manualSelector", 651, Plain),
        Field::new("maxFailedIndexes", 628, Plain),
        Field::new("parallelism", 628, Plain),
        Field::new("podFailurePolicy", 143, Plain),
        Field::new("podReplacementPolicy", 623, Plain),
        Field::new("selector", 603, Plain),
        Field::new("successPolicy", 147, Plain),
        Field::new("suspend", 651, Plain),
        Field::new("template", 297, Plain),
        Field::new("ttlSecondsAfterFinished", 628, Plain),
    ] },
    // 141
    Type::Struct { def: "io.k8s.api.batch.v1.JobStatus", name: "JobStatus", fields: &[
        Field::new("active", 628, Plain),
        Field::new("completedIndexes", 623, Plain),
        Field::new("completionTime", 615, Plain),
        Field::new("conditions", 666, Keyed(&["type"])),
        Field::new("failed", 628, Plain),
        Field::new("failedIndexes", 623, Plain),
        Field::new("ready", 628, Plain),
        Field::new("startTime", 615, Plain),
        Field::new("succeeded", 628, Plain),
        Field::new("terminating", 628, Plain),
        Field::new("uncountedTerminatedPods", 149, Plain),
    ] },
    // 142
    Type::Struct { def: "io.k8s.api.batch.v1.JobTemplateSpec", name: "JobTemplateSpec", fields: &[
        Field::new("metadata", 608, Plain),
        Field::new("spec", 140, Plain),
    ] },
    // 143
    Type::Struct { def: "io.k8s.api.batch.v1.PodFailurePolicy", name: "PodFailurePolicy", fields: &[
        Field::new("rules", 667, Atomic),
    ] },
    // 144
    Type::Struct { def: "io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement", name: "PodFailurePolicyOnExitCodesRequirement", fields: &[
        Field::new("containerName", 623, Plain),
        Field::new("operator", 623, Plain),
        Field::new("values", 668, Set),
    ] },
    // 145
    Type::Struct { def: "io.k8s.api.batch.v1.PodFailurePolicyOnPodConditionsPattern", name: "PodFailurePolicyOnPodConditionsPattern", fields: &[
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 146
    Type::Struct { def: "io.k8s.api.batch.v1.PodFailurePolicyRule", name: "PodFailurePolicyRule", fields: &[
        Field::new("action", 623, Plain),
        Field::new("onExitCodes", 144, Plain),
        Field::new("onPodConditions", 669, Atomic),
    ] },
    // 147
    Type::Struct { def: "io.k8s.api.batch.v1.SuccessPolicy", name: "SuccessPolicy", fields: &[
        Field::new("rules", 670, Atomic),
    ] },
    // 148
    Type::Struct { def: "io.k8s.api.batch.v1.SuccessPolicyRule", name: "SuccessPolicyRule", fields: &[
        Field::new("succeededCount", 628, Plain),
        Field::new("succeededIndexes", 623, Plain),
    ] },
    // 149
    Type::Struct { def: "io.k8s.api.batch.v1.UncountedTerminatedPods", name: "UncountedTerminatedPods", fields: &[
        Field::new("failed", 625, Set),
        Field::new("succeeded", 625, Set),
    ] },
    // 150
    Type::Struct { def: "io.k8s.api.certificates.v1.CertificateSigningRequest", name: "CertificateSigningRequest", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 152, Plain),
        Field::new("status", 153, Plain),
    ] },
    // 151
    Type::Struct { def: "io.k8s.api.certificates.v1.CertificateSigningRequestCondition", name: "CertificateSigningRequestCondition", fields: &[
        Field::new("lastTransitionTime", 615, Plain),
        Field::new("lastUpdateTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 152
    Type::Struct { def: "io.k8s.api.certificates.v1.CertificateSigningRequestSpec", name: "CertificateSigningRequestSpec", fields: &[
        Field::new("expirationSeconds", 628, Plain),
        Field::new("extra", 656, Plain),
        Field::new("groups", 625, Atomic),
        Field::new("request", 637, Plain),
        Field::new("signerName", 623, Plain),
        Field::new("uid", 623, Plain),
        Field::new("usages", 625, Atomic),
        Field::new("username", 623, Plain),
    ] },
    // 153
    Type::Struct { def: "io.k8s.api.certificates.v1.CertificateSigningRequestStatus", name: "CertificateSigningRequestStatus", fields: &[
        Field::new("certificate", 637, Plain),
        Field::new("conditions", 671, Keyed(&["type"])),
    ] },
    // 154
    Type::Struct { def: "io.k8s.api.certificates.v1alpha1.ClusterTrustBundle", name: "ClusterTrustBundle", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 155, Plain),
    ] },
    // 155
    Type::Struct { def: "io.k8s.api.certificates.v1alpha1.ClusterTrustBundleSpec", name: "ClusterTrustBundleSpec", fields: &[
        Field::new("signerName", 623, Plain),
        Field::new("trustBundle", 623, Plain),
    ] },
    // 156
    Type::Struct { def: "io.k8s.api.certificates.v1beta1.ClusterTrustBundle", name: "ClusterTrustBundle", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 157, Plain),
    ] },
    // 157
    Type::Struct { def: "io.k8s.api.certificates.v1beta1.ClusterTrustBundleSpec", name: "ClusterTrustBundleSpec", fields: &[
        Field::new("signerName", 623, Plain),
        Field::new("trustBundle", 623, Plain),
    ] },
    // 158
    Type::Struct { def: "io.k8s.api.coordination.v1.Lease", name: "Lease", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 159, Plain),
    ] },
    // 159
    Type::Struct { def: "io.k8s.api.coordination.v1.LeaseSpec", name: "LeaseSpec", fields: &[
        Field::new("acquireTime", 607, Plain),
        Field::new("holderIdentity", 623, Plain),
        Field::new("leaseDurationSeconds", 628, Plain),
        Field::new("leaseTransitions", 628, Plain),
        Field::new("preferredHolder", 623, Plain),
        Field::new("renewTime", 607, Plain),
        Field::new("strategy", 623, Plain),
    ] },
    // 160
    Type::Struct { def: "io.k8s.api.coordination.v1alpha2.LeaseCandidate", name: "LeaseCandidate", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 161, Plain),
    ] },
    // 161
    Type::Struct { def: "io.k8s.api.coordination.v1alpha2.LeaseCandidateSpec", name: "LeaseCandidateSpec", fields: &[
        Field::new("binaryVersion", 623, Plain),
        Field::new("emulationVersion", 623, Plain),
        Field::new("leaseName", 623, Plain),
        Field::new("pingTime", 607, Plain),
        Field::new("renewTime", 607, Plain),
        Field::new("strategy", 623, Plain),
    ] },
    // 162
    Type::Struct { def: "io.k8s.api.coordination.v1beta1.LeaseCandidate", name: "LeaseCandidate", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 163, Plain),
    ] },
    // 163
    Type::Struct { def: "io.k8s.api.coordination.v1beta1.LeaseCandidateSpec", name: "LeaseCandidateSpec", fields: &[
        Field::new("binaryVersion", 623, Plain),
        Field::new("emulationVersion", 623, Plain),
        Field::new("leaseName", 623, Plain),
        Field::new("pingTime", 607, Plain),
        Field::new("renewTime", 607, Plain),
        Field::new("strategy", 623, Plain),
    ] },
    // 164
    Type::Struct { def: "io.k8s.api.core.v1.AWSElasticBlockStoreVolumeSource", name: "AWSElasticBlockStoreVolumeSource", fields: &[
        Field::new("fsType", 623, Plain),
        Field::new("partition", 628, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("volumeID", 623, Plain),
    ] },
    // 165
    Type::Struct { def: "io.k8s.api.core.v1.Affinity", name: "Affinity", fields: &[
        Field::new("nodeAffinity", 253, Plain),
        Field::new("podAffinity", 281, Plain),
        Field::new("podAntiAffinity", 283, Plain),
    ] },
    // 166
    Type::Struct { def: "io.k8s.api.core.v1.AppArmorProfile", name: "AppArmorProfile", fields: &[
        Field::new("localhostProfile", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 167
    Type::Struct { def: "io.k8s.api.core.v1.AttachedVolume", name: "AttachedVolume", fields: &[
        Field::new("devicePath", 623, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 168
    Type::Struct { def: "io.k8s.api.core.v1.AzureDiskVolumeSource", name: "AzureDiskVolumeSource", fields: &[
        Field::new("cachingMode", 623, Plain),
        Field::new("diskName", 623, Plain),
        Field::new("diskURI", 623, Plain),
        Field::new("fsType", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("readOnly", 651, Plain),
    ] },
    // 169
    Type::Struct { def: "io.k8s.api.core.v1.AzureFilePersistentVolumeSource", name: "AzureFilePersistentVolumeSource", fields: &[
        Field::new("readOnly", 651, Plain),
        Field::new("secretName", 623, Plain),
        Field::new("secretNamespace", 623, Plain),
        Field::new("shareName", 623, Plain),
    ] },
    // 170
    Type::Struct { def: "io.k8s.api.core.v1.AzureFileVolumeSource", name: "AzureFileVolumeSource", fields: &[
        Field::new("readOnly", 651, Plain),
        Field::new("secretName", 623, Plain),
        Field::new("shareName", 623, Plain),
    ] },
    // 171
    Type::Struct { def: "io.k8s.api.core.v1.Binding", name: "Binding", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("target", 269, Plain),
    ] },
    // 172
    Type::Struct { def: "io.k8s.api.core.v1.CSIPersistentVolumeSource", name: "CSIPersistentVolumeSource", fields: &[
        Field::new("controllerExpandSecretRef", 328, Plain),
        Field::new("controllerPublishSecretRef", 328, Plain),
        Field::new("driver", 623, Plain),
        Field::new("fsType", 623, Plain),
        Field::new("nodeExpandSecretRef", 328, Plain),
        Field::new("nodePublishSecretRef", 328, Plain),
        Field::new("nodeStageSecretRef", 328, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("volumeAttributes", 672, Plain),
        Field::new("volumeHandle", 623, Plain),
    ] },
    // 173
    Type::Struct { def: "io.k8s.api.core.v1.CSIVolumeSource", name: "CSIVolumeSource", fields: &[
        Field::new("driver", 623, Plain),
        Field::new("fsType", 623, Plain),
        Field::new("nodePublishSecretRef", 243, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("volumeAttributes", 672, Plain),
    ] },
    // 174
    Type::Struct { def: "io.k8s.api.core.v1.Capabilities", name: "Capabilities", fields: &[
        Field::new("add", 625, Atomic),
        Field::new("drop", 625, Atomic),
    ] },
    // 175
    Type::Struct { def: "io.k8s.api.core.v1.CephFSPersistentVolumeSource", name: "CephFSPersistentVolumeSource", fields: &[
        Field::new("monitors", 625, Atomic),
        Field::new("path", 623, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("secretFile", 623, Plain),
        Field::new("secretRef", 328, Plain),
        Field::new("user", 623, Plain),
    ] },
    // 176
    Type::Struct { def: "io.k8s.api.core.v1.CephFSVolumeSource", name: "CephFSVolumeSource", fields: &[
        Field::new("monitors", 625, Atomic),
        Field::new("path", 623, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("secretFile", 623, Plain),
        Field::new("secretRef", 243, Plain),
        Field::new("user", 623, Plain),
    ] },
    // 177
    Type::Struct { def: "io.k8s.api.core.v1.CinderPersistentVolumeSource", name: "CinderPersistentVolumeSource", fields: &[
        Field::new("fsType", 623, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("secretRef", 328, Plain),
        Field::new("volumeID", 623, Plain),
    ] },
    // 178
    Type::Struct { def: "io.k8s.api.core.v1.CinderVolumeSource", name: "CinderVolumeSource", fields: &[
        Field::new("fsType", 623, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("secretRef", 243, Plain),
        Field::new("volumeID", 623, Plain),
    ] },
    // 179
    Type::Struct { def: "io.k8s.api.core.v1.ClientIPConfig", name: "ClientIPConfig", fields: &[
        Field::new("timeoutSeconds", 628, Plain),
    ] },
    // 180
    Type::Struct { def: "io.k8s.api.core.v1.ClusterTrustBundleProjection", name: "ClusterTrustBundleProjection", fields: &[
        Field::new("labelSelector", 603, Plain),
        Field::new("name", 623, Plain),
        Field::new("optional", 651, Plain),
        Field::new("path", 623, Plain),
        Field::new("signerName", 623, Plain),
    ] },
    // 181
    Type::Struct { def: "io.k8s.api.core.v1.ComponentCondition", name: "ComponentCondition", fields: &[
        Field::new("error", 623, Plain),
        Field::new("message", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 182
    Type::Struct { def: "io.k8s.api.core.v1.ComponentStatus", name: "ComponentStatus", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("conditions", 673, Keyed(&["type"])),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
    ] },
    // 183
    Type::Struct { def: "io.k8s.api.core.v1.ConfigMap", name: "ConfigMap", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("binaryData", 674, Plain),
        Field::new("data", 672, Plain),
        Field::new("immutable", 651, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
    ] },
    // 184
    Type::Struct { def: "io.k8s.api.core.v1.ConfigMapEnvSource", name: "ConfigMapEnvSource", fields: &[
        Field::new("name", 623, Plain),
        Field::new("optional", 651, Plain),
    ] },
    // 185
    Type::Struct { def: "io.k8s.api.core.v1.ConfigMapKeySelector", name: "ConfigMapKeySelector", fields: &[
        Field::new("key", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("optional", 651, Plain),
    ] },
    // 186
    Type::Struct { def: "io.k8s.api.core.v1.ConfigMapNodeConfigSource", name: "ConfigMapNodeConfigSource", fields: &[
        Field::new("kubeletConfigKey", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("namespace", 623, Plain),
        Field::new("resourceVersion", 623, Plain),
        Field::new("uid", 623, Plain),
    ] },
    // 187
    Type::Struct { def: "io.k8s.api.core.v1.ConfigMapProjection", name: "ConfigMapProjection", fields: &[
        Field::new("items", 675, Atomic),
        Field::new("name", 623, Plain),
        Field::new("optional", 651, Plain),
    ] },
    // 188
    Type::Struct { def: "io.k8s.api.core.v1.ConfigMapVolumeSource", name: "ConfigMapVolumeSource", fields: &[
        Field::new("defaultMode", 628, Plain),
        Field::new("items", 675, Atomic),
        Field::new("name", 623, Plain),
        Field::new("optional", 651, Plain),
    ] },
    // 189
    Type::Struct { def: "io.k8s.api.core.v1.Container", name: "Container", fields: &[
        Field::new("args", 625, Atomic),
        Field::new("command", 625, Atomic),
        Field::new("env", 676, Keyed(&["name"])),
        Field::new("envFrom", 677, Atomic),
        Field::new("image", 623, Plain),
        Field::new("imagePullPolicy", 623, Plain),
        Field::new("lifecycle", 235, Plain),
        Field::new("livenessProbe", 301, Plain),
        Field::new("name", 623, Plain),
        Field::new("ports", 678, Keyed(&["containerPort"])),
        Field::new("readinessProbe", 301, Plain),
        Field::new("resizePolicy", 679, Atomic),
        Field::new("resources", 316, Plain),
        Field::new("restartPolicy", 623, Plain),
        Field::new("securityContext", 330, Plain),
        Field::new("startupProbe", 301, Plain),
        Field::new("stdin", 651, Plain),
        Field::new("stdinOnce", 651, Plain),
        Field::new("terminationMessagePath", 623, Plain),
        Field::new("terminationMessagePolicy", 623, Plain),
        Field::new("tty", 651, Plain),
        Field::new("volumeDevices", 680, Keyed(&["devicePath"])),
        Field::new("volumeMounts", 681, Keyed(&["mountPath"])),
        Field::new("workingDir", 623, Plain),
    ] },
    // 190
    Type::Struct { def: "io.k8s.api.core.v1.ContainerImage", name: "ContainerImage", fields: &[
        Field::new("names", 625, Atomic),
        Field::new("sizeBytes", 635, Plain),
    ] },
    // 191
    Type::Struct { def: "io.k8s.api.core.v1.ContainerPort", name: "ContainerPort", fields: &[
        Field::new("containerPort", 628, Plain),
        Field::new("hostIP", 623, Plain),
        Field::new("hostPort", 628, Plain),
        Field::new("name", 623, Plain),
        Field::new("protocol", 623, Plain),
    ] },
    // 192
    Type::Struct { def: "io.k8s.api.core.v1.ContainerResizePolicy", name: "ContainerResizePolicy", fields: &[
        Field::new("resourceName", 623, Plain),
        Field::new("restartPolicy", 623, Plain),
    ] },
    // 193
    Type::Struct { def: "io.k8s.api.core.v1.ContainerState", name: "ContainerState", fields: &[
        Field::new("running", 194, Plain),
        Field::new("terminated", 195, Plain),
        Field::new("waiting", 196, Plain),
    ] },
    // 194
    Type::Struct { def: "io.k8s.api.core.v1.ContainerStateRunning", name: "ContainerStateRunning", fields: &[
        Field::new("startedAt", 615, Plain),
    ] },
    // 195
    Type::Struct { def: "io.k8s.api.core.v1.ContainerStateTerminated", name: "ContainerStateTerminated", fields: &[
        Field::new("containerID", 623, Plain),
        Field::new("exitCode", 628, Plain),
        Field::new("finishedAt", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("reason", 623, Plain),
        Field::new("signal", 628, Plain),
        Field::new("startedAt", 615, Plain),
    ] },
    // 196
    Type::Struct { def: "io.k8s.api.core.v1.ContainerStateWaiting", name: "ContainerStateWaiting", fields: &[
        Field::new("message", 623, Plain),
        Field::new("reason", 623, Plain),
    ] },
    // 197
    Type::Struct { def: "io.k8s.api.core.v1.ContainerStatus", name: "ContainerStatus", fields: &[
        Field::new("allocatedResources", 682, Plain),
        Field::new("allocatedResourcesStatus", 683, Keyed(&["name"])),
        Field::new("containerID", 623, Plain),
        Field::new("image", 623, Plain),
        Field::new("imageID", 623, Plain),
        Field::new("lastState", 193, Plain),
        Field::new("name", 623, Plain),
        Field::new("ready", 651, Plain),
        Field::new("resources", 316, Plain),
        Field::new("restartCount", 628, Plain),
        Field::new("started", 651, Plain),
        Field::new("state", 193, Plain),
        Field::new("stopSignal", 623, Plain),
        Field::new("user", 198, Plain),
        Field::new("volumeMounts", 684, Keyed(&["mountPath"])),
    ] },
    // 198
    Type::Struct { def: "io.k8s.api.core.v1.ContainerUser", name: "ContainerUser", fields: &[
        Field::new("linux", 240, Plain),
    ] },
    // 199
    Type::Struct { def: "io.k8s.api.core.v1.DaemonEndpoint", name: "DaemonEndpoint", fields: &[
        Field::new("Port", 628, Plain),
    ] },
    // 200
    Type::Struct { def: "io.k8s.api.core.v1.DownwardAPIProjection", name: "DownwardAPIProjection", fields: &[
        Field::new("items", 685, Atomic),
    ] },
    // 201
    Type::Struct { def: "io.k8s.api.core.v1.DownwardAPIVolumeFile", name: "DownwardAPIVolumeFile", fields: &[
        Field::new("fieldRef", 268, Plain),
        Field::new("mode", 628, Plain),
        Field::new("path", 623, Plain),
        Field::new("resourceFieldRef", 311, Plain),
    ] },
    // 202
    Type::Struct { def: "io.k8s.api.core.v1.DownwardAPIVolumeSource", name: "DownwardAPIVolumeSource", fields: &[
        Field::new("defaultMode", 628, Plain),
        Field::new("items", 685, Atomic),
    ] },
    // 203
    Type::Struct { def: "io.k8s.api.core.v1.EmptyDirVolumeSource", name: "EmptyDirVolumeSource", fields: &[
        Field::new("medium", 623, Plain),
        Field::new("sizeLimit", 592, Plain),
    ] },
    // 204
    Type::Struct { def: "io.k8s.api.core.v1.EndpointAddress", name: "EndpointAddress", fields: &[
        Field::new("hostname", 623, Plain),
        Field::new("ip", 623, Plain),
        Field::new("nodeName", 623, Plain),
        Field::new("targetRef", 269, Plain),
    ] },
    // 205
    Type::Struct { def: "io.k8s.api.core.v1.EndpointPort", name: "EndpointPort", fields: &[
        Field::new("appProtocol", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("port", 628, Plain),
        Field::new("protocol", 623, Plain),
    ] },
    // 206
    Type::Struct { def: "io.k8s.api.core.v1.EndpointSubset", name: "EndpointSubset", fields: &[
        Field::new("addresses", 686, Atomic),
        Field::new("notReadyAddresses", 686, Atomic),
        Field::new("ports", 687, Atomic),
    ] },
    // 207
    Type::Struct { def: "io.k8s.api.core.v1.Endpoints", name: "Endpoints", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("subsets", 688, Atomic),
    ] },
    // 208
    Type::Struct { def: "io.k8s.api.core.v1.EnvFromSource", name: "EnvFromSource", fields: &[
        Field::new("configMapRef", 184, Plain),
        Field::new("prefix", 623, Plain),
        Field::new("secretRef", 325, Plain),
    ] },
    // 209
    Type::Struct { def: "io.k8s.api.core.v1.EnvVar", name: "EnvVar", fields: &[
        Field::new("name", 623, Plain),
        Field::new("value", 623, Plain),
        Field::new("valueFrom", 210, Plain),
    ] },
    // 210
    Type::Struct { def: "io.k8s.api.core.v1.EnvVarSource", name: "EnvVarSource", fields: &[
        Field::new("configMapKeyRef", 185, Plain),
        Field::new("fieldRef", 268, Plain),
        Field::new("resourceFieldRef", 311, Plain),
        Field::new("secretKeyRef", 326, Plain),
    ] },
    // 211
    Type::Struct { def: "io.k8s.api.core.v1.EphemeralContainer", name: "EphemeralContainer", fields: &[
        Field::new("args", 625, Atomic),
        Field::new("command", 625, Atomic),
        Field::new("env", 676, Keyed(&["name"])),
        Field::new("envFrom", 677, Atomic),
        Field::new("image", 623, Plain),
        Field::new("imagePullPolicy", 623, Plain),
        Field::new("lifecycle", 235, Plain),
        Field::new("livenessProbe", 301, Plain),
        Field::new("name", 623, Plain),
        Field::new("ports", 678, Keyed(&["containerPort"])),
        Field::new("readinessProbe", 301, Plain),
        Field::new("resizePolicy", 679, Atomic),
        Field::new("resources", 316, Plain),
        Field::new("restartPolicy", 623, Plain),
        Field::new("securityContext", 330, Plain),
        Field::new("startupProbe", 301, Plain),
        Field::new("stdin", 651, Plain),
        Field::new("stdinOnce", 651, Plain),
        Field::new("targetContainerName", 623, Plain),
        Field::new("terminationMessagePath", 623, Plain),
        Field::new("terminationMessagePolicy", 623, Plain),
        Field::new("tty", 651, Plain),
        Field::new("volumeDevices", 680, Keyed(&["devicePath"])),
        Field::new("volumeMounts", 681, Keyed(&["mountPath"])),
        Field::new("workingDir", 623, Plain),
    ] },
    // 212
    Type::Struct { def: "io.k8s.api.core.v1.EphemeralVolumeSource", name: "EphemeralVolumeSource", fields: &[
        Field::new("volumeClaimTemplate", 275, Plain),
    ] },
    // 213
    Type::Struct { def: "io.k8s.api.core.v1.Event", name: "Event", fields: &[
        Field::new("action", 623, Plain),
        Field::new("apiVersion", 623, Plain),
        Field::new("count", 628, Plain),
        Field::new("eventTime", 607, Plain),
        Field::new("firstTimestamp", 615, Plain),
        Field::new("involvedObject", 269, Plain),
        Field::new("kind", 623, Plain),
        Field::new("lastTimestamp", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("reason", 623, Plain),
        Field::new("related", 269, Plain),
        Field::new("reportingComponent", 623, Plain),
        Field::new("reportingInstance", 623, Plain),
        Field::new("series", 214, Plain),
        Field::new("source", 215, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 214
    Type::Struct { def: "io.k8s.api.core.v1.EventSeries", name: "EventSeries", fields: &[
        Field::new("count", 628, Plain),
        Field::new("lastObservedTime", 607, Plain),
    ] },
    // 215
    Type::Struct { def: "io.k8s.api.core.v1.EventSource", name: "EventSource", fields: &[
        Field::new("component", 623, Plain),
        Field::new("host", 623, Plain),
    ] },
    // 216
    Type::Struct { def: "io.k8s.api.core.v1.ExecAction", name: "ExecAction", fields: &[
        Field::new("command", 625, Atomic),
    ] },
    // 217
    Type::Struct { def: "io.k8s.api.core.v1.FCVolumeSource", name: "FCVolumeSource", fields: &[
        Field::new("fsType", 623, Plain),
        Field::new("lun", 628, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("targetWWNs", 625, Atomic),
        Field::new("wwids", 625, Atomic),
    ] },
    // 218
    Type::Struct { def: "io.k8s.api.core.v1.FlexPersistentVolumeSource", name: "FlexPersistentVolumeSource", fields: &[
        Field::new("driver", 623, Plain),
        Field::new("fsType", 623, Plain),
        Field::new("options", 672, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("secretRef", 328, Plain),
    ] },
    // 219
    Type::Struct { def: "io.k8s.api.core.v1.FlexVolumeSource", name: "FlexVolumeSource", fields: &[
        Field::new("driver", 623, Plain),
        Field::new("fsType", 623, Plain),
        Field::new("options", 672, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("secretRef", 243, Plain),
    ] },
    // 220
    Type::Struct { def: "io.k8s.api.core.v1.FlockerVolumeSource", name: "FlockerVolumeSource", fields: &[
        Field::new("datasetName", 623, Plain),
        Field::new("datasetUUID", 623, Plain),
    ] },
    // 221
    Type::Struct { def: "io.k8s.api.core.v1.GCEPersistentDiskVolumeSource", name: "GCEPersistentDiskVolumeSource", fields: &[
        Field::new("fsType", 623, Plain),
        Field::new("partition", 628, Plain),
        Field::new("pdName", 623, Plain),
        Field::new("readOnly", 651, Plain),
    ] },
    // 222
    Type::Struct { def: "io.k8s.api.core.v1.GRPCAction", name: "GRPCAction", fields: &[
        Field::new("port", 628, Plain),
        Field::new("service", 623, Plain),
    ] },
    // 223
    Type::Struct { def: "io.k8s.api.core.v1.GitRepoVolumeSource", name: "GitRepoVolumeSource", fields: &[
        Field::new("directory", 623, Plain),
        Field::new("repository", 623, Plain),
        Field::new("revision", 623, Plain),
    ] },
    // 224
    Type::Struct { def: "io.k8s.api.core.v1.GlusterfsPersistentVolumeSource", name: "GlusterfsPersistentVolumeSource", fields: &[
        Field::new("endpoints", 623, Plain),
        Field::new("endpointsNamespace", 623, Plain),
        Field::new("path", 623, Plain),
        Field::new("readOnly", 651, Plain),
    ] },
    // 225
    Type::Struct { def: "io.k8s.api.core.v1.GlusterfsVolumeSource", name: "GlusterfsVolumeSource", fields: &[
        Field::new("endpoints", 623, Plain),
        Field::new("path", 623, Plain),
        Field::new("readOnly", 651, Plain),
    ] },
    // 226
    Type::Struct { def: "io.k8s.api.core.v1.HTTPGetAction", name: "HTTPGetAction", fields: &[
        Field::new("host", 623, Plain),
        Field::new("httpHeaders", 689, Atomic),
        Field::new("path", 623, Plain),
        Field::new("port", 617, Plain),
        Field::new("scheme", 623, Plain),
    ] },
    // 227
    Type::Struct { def: "io.k8s.api.core.v1.HTTPHeader", name: "HTTPHeader", fields: &[
        Field::new("name", 623, Plain),
        Field::new("value", 623, Plain),
    ] },
    // 228
    Type::Struct { def: "io.k8s.api.core.v1.HostAlias", name: "HostAlias", fields: &[
        Field::new("hostnames", 625, Atomic),
        Field::new("ip", 623, Plain),
    ] },
    // 229
    Type::Struct { def: "io.k8s.api.core.v1.HostIP", name: "HostIP", fields: &[
        Field::new("ip", 623, Plain),
    ] },
    // 230
    Type::Struct { def: "io.k8s.api.core.v1.HostPathVolumeSource", name: "HostPathVolumeSource", fields: &[
        Field::new("path", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 231
    Type::Struct { def: "io.k8s.api.core.v1.ISCSIPersistentVolumeSource", name: "ISCSIPersistentVolumeSource", fields: &[
        Field::new("chapAuthDiscovery", 651, Plain),
        Field::new("chapAuthSession", 651, Plain),
        Field::new("fsType", 623, Plain),
        Field::new("initiatorName", 623, Plain),
        Field::new("iqn", 623, Plain),
        Field::new("iscsiInterface", 623, Plain),
        Field::new("lun", 628, Plain),
        Field::new("portals", 625, Atomic),
        Field::new("readOnly", 651, Plain),
        Field::new("secretRef", 328, Plain),
        Field::new("targetPortal", 623, Plain),
    ] },
    // 232
    Type::Struct { def: "io.k8s.api.core.v1.ISCSIVolumeSource", name: "ISCSIVolumeSource", fields: &[
        Field::new("chapAuthDiscovery", 651, Plain),
        Field::new("chapAuthSession", 651, Plain),
        Field::new("fsType", 623, Plain),
        Field::new("initiatorName", 623, Plain),
        Field::new("iqn", 623, Plain),
        Field::new("iscsiInterface", 623, Plain),
        Field::new("lun", 628, Plain),
        Field::new("portals", 625, Atomic),
        Field::new("readOnly", 651, Plain),
        Field::new("secretRef", 243, Plain),
        Field::new("targetPortal", 623, Plain),
    ] },
    // 233
    Type::Struct { def: "io.k8s.api.core.v1.ImageVolumeSource", name: "ImageVolumeSource", fields: &[
        Field::new("pullPolicy", 623, Plain),
        Field::new("reference", 623, Plain),
    ] },
    // 234
    Type::Struct { def: "io.k8s.api.core.v1.KeyToPath", name: "KeyToPath", fields: &[
        Field::new("key", 623, Plain),
        Field::new("mode", 628, Plain),
        Field::new("path", 623, Plain),
    ] },
    // 235
    Type::Struct { def: "io.k8s.api.core.v1.Lifecycle", name: "Lifecycle", fields: &[
        Field::new("postStart", 236, Plain),
        Field::new("preStop", 236, Plain),
        Field::new("stopSignal", 623, Plain),
    ] },
    // 236
    Type::Struct { def: "io.k8s.api.core.v1.LifecycleHandler", name: "LifecycleHandler", fields: &[
        Field::new("exec", 216, Plain),
        Field::new("httpGet", 226, Plain),
        Field::new("sleep", 338, Plain),
        Field::new("tcpSocket", 342, Plain),
    ] },
    // 237
    Type::Struct { def: "io.k8s.api.core.v1.LimitRange", name: "LimitRange", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 239, Plain),
    ] },
    // 238
    Type::Struct { def: "io.k8s.api.core.v1.LimitRangeItem", name: "LimitRangeItem", fields: &[
        Field::new("default", 682, Plain),
        Field::new("defaultRequest", 682, Plain),
        Field::new("max", 682, Plain),
        Field::new("maxLimitRequestRatio", 682, Plain),
        Field::new("min", 682, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 239
    Type::Struct { def: "io.k8s.api.core.v1.LimitRangeSpec", name: "LimitRangeSpec", fields: &[
        Field::new("limits", 690, Atomic),
    ] },
    // 240
    Type::Struct { def: "io.k8s.api.core.v1.LinuxContainerUser", name: "LinuxContainerUser", fields: &[
        Field::new("gid", 635, Plain),
        Field::new("supplementalGroups", 691, Atomic),
        Field::new("uid", 635, Plain),
    ] },
    // 241
    Type::Struct { def: "io.k8s.api.core.v1.LoadBalancerIngress", name: "LoadBalancerIngress", fields: &[
        Field::new("hostname", 623, Plain),
        Field::new("ip", 623, Plain),
        Field::new("ipMode", 623, Plain),
        Field::new("ports", 692, Atomic),
    ] },
    // 242
    Type::Struct { def: "io.k8s.api.core.v1.LoadBalancerStatus", name: "LoadBalancerStatus", fields: &[
        Field::new("ingress", 693, Atomic),
    ] },
    // 243
    Type::Struct { def: "io.k8s.api.core.v1.LocalObjectReference", name: "LocalObjectReference", fields: &[
        Field::new("name", 623, Plain),
    ] },
    // 244
    Type::Struct { def: "io.k8s.api.core.v1.LocalVolumeSource", name: "LocalVolumeSource", fields: &[
        Field::new("fsType", 623, Plain),
        Field::new("path", 623, Plain),
    ] },
    // 245
    Type::Struct { def: "io.k8s.api.core.v1.ModifyVolumeStatus", name: "ModifyVolumeStatus", fields: &[
        Field::new("status", 623, Plain),
        Field::new("targetVolumeAttributesClassName", 623, Plain),
    ] },
    // 246
    Type::Struct { def: "io.k8s.api.core.v1.NFSVolumeSource", name: "NFSVolumeSource", fields: &[
        Field::new("path", 623, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("server", 623, Plain),
    ] },
    // 247
    Type::Struct { def: "io.k8s.api.core.v1.Namespace", name: "Namespace", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 249, Plain),
        Field::new("status", 250, Plain),
    ] },
    // 248
    Type::Struct { def: "io.k8s.api.core.v1.NamespaceCondition", name: "NamespaceCondition", fields: &[
        Field::new("lastTransitionTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 249
    Type::Struct { def: "io.k8s.api.core.v1.NamespaceSpec", name: "NamespaceSpec", fields: &[
        Field::new("finalizers", 625, Atomic),
    ] },
    // 250
    Type::Struct { def: "io.k8s.api.core.v1.NamespaceStatus", name: "NamespaceStatus", fields: &[
        Field::new("conditions", 694, Keyed(&["type"])),
        Field::new("phase", 623, Plain),
    ] },
    // 251
    Type::Struct { def: "io.k8s.api.core.v1.Node", name: "Node", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 264, Plain),
        Field::new("status", 265, Plain),
    ] },
    // 252
    Type::Struct { def: "io.k8s.api.core.v1.NodeAddress", name: "NodeAddress", fields: &[
        Field::new("address", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 253
    Type::Struct { def: "io.k8s.api.core.v1.NodeAffinity", name: "NodeAffinity", fields: &[
        Field::new("preferredDuringSchedulingIgnoredDuringExecution", 695, Atomic),
        Field::new("requiredDuringSchedulingIgnoredDuringExecution", 261, Plain),
    ] },
    // 254
    Type::Struct { def: "io.k8s.api.core.v1.NodeCondition", name: "NodeCondition", fields: &[
        Field::new("lastHeartbeatTime", 615, Plain),
        Field::new("lastTransitionTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 255
    Type::Struct { def: "io.k8s.api.core.v1.NodeConfigSource", name: "NodeConfigSource", fields: &[
        Field::new("configMap", 186, Plain),
    ] },
    // 256
    Type::Struct { def: "io.k8s.api.core.v1.NodeConfigStatus", name: "NodeConfigStatus", fields: &[
        Field::new("active", 255, Plain),
        Field::new("assigned", 255, Plain),
        Field::new("error", 623, Plain),
        Field::new("lastKnownGood", 255, Plain),
    ] },
    // 257
    Type::Struct { def: "io.k8s.api.core.v1.NodeDaemonEndpoints", name: "NodeDaemonEndpoints", fields: &[
        Field::new("kubeletEndpoint", 199, Plain),
    ] },
    // 258
    Type::Struct { def: "io.k8s.api.core.v1.NodeFeatures", name: "NodeFeatures", fields: &[
        Field::new("supplementalGroupsPolicy", 651, Plain),
    ] },
    // 259
    Type::Struct { def: "io.k8s.api.core.v1.NodeRuntimeHandler", name: "NodeRuntimeHandler", fields: &[
        Field::new("features", 260, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 260
    Type::Struct { def: "io.k8s.api.core.v1.NodeRuntimeHandlerFeatures", name: "NodeRuntimeHandlerFeatures", fields: &[
        Field::new("recursiveReadOnlyMounts", 651, Plain),
        Field::new("userNamespaces", 651, Plain),
    ] },
    // 261
    Type::Struct { def: "io.k8s.api.core.v1.NodeSelector", name: "NodeSelector", fields: &[
        Field::new("nodeSelectorTerms", 696, Atomic),
    ] },
    // 262
    Type::Struct { def: "io.k8s.api.core.v1.NodeSelectorRequirement", name: "NodeSelectorRequirement", fields: &[
        Field::new("key", 623, Plain),
        Field::new("operator", 623, Plain),
        Field::new("values", 625, Atomic),
    ] },
    // 263
    Type::Struct { def: "io.k8s.api.core.v1.NodeSelectorTerm", name: "NodeSelectorTerm", fields: &[
        Field::new("matchExpressions", 697, Atomic),
        Field::new("matchFields", 697, Atomic),
    ] },
    // 264
    Type::Struct { def: "io.k8s.api.core.v1.NodeSpec", name: "NodeSpec", fields: &[
        Field::new("configSource", 255, Plain),
        Field::new("externalID", 623, Plain),
        Field::new("podCIDR", 623, Plain),
        Field::new("podCIDRs", 625, Set),
        Field::new("providerID", 623, Plain),
        Field::new("taints", 698, Atomic),
        Field::new("unschedulable", 651, Plain),
    ] },
    // 265
    Type::Struct { def: "io.k8s.api.core.v1.NodeStatus", name: "NodeStatus", fields: &[
        Field::new("addresses", 699, Keyed(&["type"])),
        Field::new("allocatable", 682, Plain),
        Field::new("capacity", 682, Plain),
        Field::new("conditions", 700, Keyed(&["type"])),
        Field::new("config", 256, Plain),
        Field::new("daemonEndpoints", 257, Plain),
        Field::new("features", 258, Plain),
        Field::new("images", 701, Atomic),
        Field::new("nodeInfo", 267, Plain),
        Field::new("phase", 623, Plain),
        Field::new("runtimeHandlers", 702, Atomic),
        Field::new("volumesAttached", 703, Atomic),
        Field::new("volumesInUse", 625, Atomic),
    ] },
    // 266
    Type::Struct { def: "io.k8s.api.core.v1.NodeSwapStatus", name: "NodeSwapStatus", fields: &[
        Field::new("capacity", 635, Plain),
    ] },
    // 267
    Type::Struct { def: "io.k8s.api.core.v1.NodeSystemInfo", name: "NodeSystemInfo", fields: &[
        Field::new("architecture", 623, Plain),
        Field::new("bootID", 623, Plain),
        Field::new("containerRuntimeVersion", 623, Plain),
        Field::new("kernelVersion", 623, Plain),
        Field::new("kubeProxyVersion", 623, Plain),
        Field::new("kubeletVersion", 623, Plain),
        Field::new("machineID", 623, Plain),
        Field::new("operatingSystem", 623, Plain),
        Field::new("osImage", 623, Plain),
        Field::new("swap", 266, Plain),
        Field::new("systemUUID", 623, Plain),
    ] },
    // 268
    Type::Struct { def: "io.k8s.api.core.v1.ObjectFieldSelector", name: "ObjectFieldSelector", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("fieldPath", 623, Plain),
    ] },
    // 269
    Type::Struct { def: "io.k8s.api.core.v1.ObjectReference", name: "ObjectReference", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("fieldPath", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("namespace", 623, Plain),
        Field::new("resourceVersion", 623, Plain),
        Field::new("uid", 623, Plain),
    ] },
    // 270
    Type::Struct { def: "io.k8s.api.core.v1.PersistentVolume", name: "PersistentVolume", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 277, Plain),
        Field::new("status", 278, Plain),
    ] },
    // 271
    Type::Struct { def: "io.k8s.api.core.v1.PersistentVolumeClaim", name: "PersistentVolumeClaim", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 273, Plain),
        Field::new("status", 274, Plain),
    ] },
    // 272
    Type::Struct { def: "io.k8s.api.core.v1.PersistentVolumeClaimCondition", name: "PersistentVolumeClaimCondition", fields: &[
        Field::new("lastProbeTime", 615, Plain),
        Field::new("lastTransitionTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 273
    Type::Struct { def: "io.k8s.api.core.v1.PersistentVolumeClaimSpec", name: "PersistentVolumeClaimSpec", fields: &[
        Field::new("accessModes", 625, Atomic),
        Field::new("dataSource", 348, Plain),
        Field::new("dataSourceRef", 349, Plain),
        Field::new("resources", 356, Plain),
        Field::new("selector", 603, Plain),
        Field::new("storageClassName", 623, Plain),
        Field::new("volumeAttributesClassName", 623, Plain),
        Field::new("volumeMode", 623, Plain),
        Field::new("volumeName", 623, Plain),
    ] },
    // 274
    Type::Struct { def: "io.k8s.api.core.v1.PersistentVolumeClaimStatus", name: "PersistentVolumeClaimStatus", fields: &[
        Field::new("accessModes", 625, Atomic),
        Field::new("allocatedResourceStatuses", 672, Plain),
        Field::new("allocatedResources", 682, Plain),
        Field::new("capacity", 682, Plain),
        Field::new("conditions", 704, Keyed(&["type"])),
        Field::new("currentVolumeAttributesClassName", 623, Plain),
        Field::new("modifyVolumeStatus", 245, Plain),
        Field::new("phase", 623, Plain),
    ] },
    // 275
    Type::Struct { def: "io.k8s.api.core.v1.PersistentVolumeClaimTemplate", name: "PersistentVolumeClaimTemplate", fields: &[
        Field::new("metadata", 608, Plain),
        Field::new("spec", 273, Plain),
    ] },
    // 276
    Type::Struct { def: "io.k8s.api.core.v1.PersistentVolumeClaimVolumeSource", name: "PersistentVolumeClaimVolumeSource", fields: &[
        Field::new("claimName", 623, Plain),
        Field::new("readOnly", 651, Plain),
    ] },
    // 277
    Type::Struct { def: "io.k8s.api.core.v1.PersistentVolumeSpec", name: "PersistentVolumeSpec", fields: &[
        Field::new("accessModes", 625, Atomic),
        Field::new("awsElasticBlockStore", 164, Plain),
        Field::new("azureDisk", 168, Plain),
        Field::new("azureFile", 169, Plain),
        Field::new("capacity", 682, Plain),
        Field::new("cephfs", 175, Plain),
        Field::new("cinder", 177, Plain),
        Field::new("claimRef", 269, Plain),
        Field::new("csi", 172, Plain),
        Field::new("fc", 217, Plain),
        Field::new("flexVolume", 218, Plain),
        Field::new("flocker", 220, Plain),
        Field::new("gcePersistentDisk", 221, Plain),
        Field::new("glusterfs", 224, Plain),
        Field::new("hostPath", 230, Plain),
        Field::new("iscsi", 231, Plain),
        Field::new("local", 244, Plain),
        Field::new("mountOptions", 625, Atomic),
        Field::new("nfs", 246, Plain),
        Field::new("nodeAffinity", 354, Plain),
        Field::new("persistentVolumeReclaimPolicy", 623, Plain),
        Field::new("photonPersistentDisk", 279, Plain),
        Field::new("portworxVolume", 299, Plain),
        Field::new("quobyte", 303, Plain),
        Field::new("rbd", 304, Plain),
        Field::new("scaleIO", 319, Plain),
        Field::new("storageClassName", 623, Plain),
        Field::new("storageos", 339, Plain),
        Field::new("volumeAttributesClassName", 623, Plain),
        Field::new("volumeMode", 623, Plain),
        Field::new("vsphereVolume", 357, Plain),
    ] },
    // 278
    Type::Struct { def: "io.k8s.api.core.v1.PersistentVolumeStatus", name: "PersistentVolumeStatus", fields: &[
        Field::new("lastPhaseTransitionTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("phase", 623, Plain),
        Field::new("reason", 623, Plain),
    ] },
    // 279
    Type::Struct { def: "io.k8s.api.core.v1.PhotonPersistentDiskVolumeSource", name: "PhotonPersistentDiskVolumeSource", fields: &[
        Field::new("fsType", 623, Plain),
        Field::new("pdID", 623, Plain),
    ] },
    // 280
    Type::Struct { def: "io.k8s.api.core.v1.Pod", name: "Pod", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 294, Plain),
        Field::new("status", 295, Plain),
    ] },
    // 281
    Type::Struct { def: "io.k8s.api.core.v1.PodAffinity", name: "PodAffinity", fields: &[
        Field::new("preferredDuringSchedulingIgnoredDuringExecution", 705, Atomic),
        Field::new("requiredDuringSchedulingIgnoredDuringExecution", 706, Atomic),
    ] },
    // 282
    Type::Struct { def: "io.k8s.api.core.v1.PodAffinityTerm", name: "PodAffinityTerm", fields: &[
        Field::new("labelSelector", 603, Plain),
        Field::new("matchLabelKeys", 625, Atomic),
        Field::new("mismatchLabelKeys", 625, Atomic),
        Field::new("namespaceSelector", 603, Plain),
        Field::new("namespaces", 625, Atomic),
        Field::new("topologyKey", 623, Plain),
    ] },
    // 283
    Type::Struct { def: "io.k8s.api.core.v1.PodAntiAffinity", name: "PodAntiAffinity", fields: &[
        Field::new("preferredDuringSchedulingIgnoredDuringExecution", 705, Atomic),
        Field::new("requiredDuringSchedulingIgnoredDuringExecution", 706, Atomic),
    ] },
    // 284
    Type::Struct { def: "io.k8s.api.core.v1.PodCondition", name: "PodCondition", fields: &[
        Field::new("lastProbeTime", 615, Plain),
        Field::new("lastTransitionTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("observedGeneration", 635, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 285
    Type::Struct { def: "io.k8s.api.core.v1.PodDNSConfig", name: "PodDNSConfig", fields: &[
        Field::new("nameservers", 625, Atomic),
        Field::new("options", 707, Atomic),
        Field::new("searches", 625, Atomic),
    ] },
    // 286
    Type::Struct { def: "io.k8s.api.core.v1.PodDNSConfigOption", name: "PodDNSConfigOption", fields: &[
        Field::new("name", 623, Plain),
        Field::new("value", 623, Plain),
    ] },
    // 287
    Type::Struct { def: "io.k8s.api.core.v1.PodIP", name: "PodIP", fields: &[
        Field::new("ip", 623, Plain),
    ] },
    // 288
    Type::Struct { def: "io.k8s.api.core.v1.PodOS", name: "PodOS", fields: &[
        Field::new("name", 623, Plain),
    ] },
    // 289
    Type::Struct { def: "io.k8s.api.core.v1.PodReadinessGate", name: "PodReadinessGate", fields: &[
        Field::new("conditionType", 623, Plain),
    ] },
    // 290
    Type::Struct { def: "io.k8s.api.core.v1.PodResourceClaim", name: "PodResourceClaim", fields: &[
        Field::new("name", 623, Plain),
        Field::new("resourceClaimName", 623, Plain),
        Field::new("resourceClaimTemplateName", 623, Plain),
    ] },
    // 291
    Type::Struct { def: "io.k8s.api.core.v1.PodResourceClaimStatus", name: "PodResourceClaimStatus", fields: &[
        Field::new("name", 623, Plain),
        Field::new("resourceClaimName", 623, Plain),
    ] },
    // 292
    Type::Struct { def: "io.k8s.api.core.v1.PodSchedulingGate", name: "PodSchedulingGate", fields: &[
        Field::new("name", 623, Plain),
    ] },
    // 293
    Type::Struct { def: "io.k8s.api.core.v1.PodSecurityContext", name: "PodSecurityContext", fields: &[
        Field::new("appArmorProfile", 166, Plain),
        Field::new("fsGroup", 635, Plain),
        Field::new("fsGroupChangePolicy", 623, Plain),
        Field::new("runAsGroup", 635, Plain),
        Field::new("runAsNonRoot", 651, Plain),
        Field::new("runAsUser", 635, Plain),
        Field::new("seLinuxChangePolicy", 623, Plain),
        Field::new("seLinuxOptions", 318, Plain),
        Field::new("seccompProfile", 323, Plain),
        Field::new("supplementalGroups", 691, Atomic),
        Field::new("supplementalGroupsPolicy", 623, Plain),
        Field::new("sysctls", 708, Atomic),
        Field::new("windowsOptions", 359, Plain),
    ] },
    // 294
    Type::Struct { def: "io.k8s.api.core.v1.PodSpec", name: "PodSpec", fields: &[
        Field::new("activeDeadlineSeconds", 635, Plain),
        Field::new("affinity", 165, Plain),
        Field::new("automountServiceAccountToken", 651, Plain),
        Field::new("containers", 709, Keyed(&["name"])),
        Field::new("dnsConfig", 285, Plain),
        Field::new("dnsPolicy", 623, Plain),
        Field::new("enableServiceLinks", 651, Plain),
        Field::new("ephemeralContainers", 710, Keyed(&["name"])),
        Field::new("hostAliases", 711, Keyed(&["ip"])),
        Field::new("hostIPC", 651, Plain),
        Field::new("hostNetwork", 651, Plain),
        Field::new("hostPID", 651, Plain),
        Field::new("hostUsers", 651, Plain),
        Field::new("hostname", 623, Plain),
        Field::new("imagePullSecrets", 712, Keyed(&["name"])),
        Field::new("initContainers", 709, Keyed(&["name"])),
        Field::new("nodeName", 623, Plain),
        Field::new("nodeSelector", 672, Plain),
        Field::new("os", 288, Plain),
        Field::new("overhead", 682, Plain),
        Field::new("preemptionPolicy", 623, Plain),
        Field::new("priority", 628, Plain),
        Field::new("priorityClassName", 623, Plain),
        Field::new("readinessGates", 713, Atomic),
        Field::new("resourceClaims", 714, Keyed(&["name"])),
        Field::new("resources", 316, Plain),
        Field::new("restartPolicy", 623, Plain),
        Field::new("runtimeClassName", 623, Plain),
        Field::new("schedulerName", 623, Plain),
        Field::new("schedulingGates", 715, Keyed(&["name"])),
        Field::new("securityContext", 293, Plain),
        Field::new("serviceAccount", 623, Plain),
        Field::new("serviceAccountName", 623, Plain),
        Field::new("setHostnameAsFQDN", 651, Plain),
        Field::new("shareProcessNamespace", 651, Plain),
        Field::new("subdomain", 623, Plain),
        Field::new("terminationGracePeriodSeconds", 635, Plain),
        Field::new("tolerations", 716, Atomic),
        Field::new("topologySpreadConstraints", 717, Keyed(&["topologyKey"])),
        Field::new("volumes", 718, Keyed(&["name"])),
    ] },
    // 295
    Type::Struct { def: "io.k8s.api.core.v1.PodStatus", name: "PodStatus", fields: &[
        Field::new("conditions", 719, Keyed(&["type"])),
        Field::new("containerStatuses", 720, Atomic),
        Field::new("ephemeralContainerStatuses", 720, Atomic),
        Field::new("hostIP", 623, Plain),
        Field::new("hostIPs", 721, Keyed(&["ip"])),
        Field::new("initContainerStatuses", 720, Atomic),
        Field::new("message", 623, Plain),
        Field::new("nominatedNodeName", 623, Plain),
        Field::new("observedGeneration", 635, Plain),
        Field::new("phase", 623, Plain),
        Field::new("podIP", 623, Plain),
        Field::new("podIPs", 722, Keyed(&["ip"])),
        Field::new("qosClass", 623, Plain),
        Field::new("reason", 623, Plain),
        Field::new("resize", 623, Plain),
        Field::new("resourceClaimStatuses", 723, Keyed(&["name"])),
        Field::new("startTime", 615, Plain),
    ] },
    // 296
    Type::Struct { def: "io.k8s.api.core.v1.PodTemplate", name: "PodTemplate", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("template", 297, Plain),
    ] },
    // 297
    Type::Struct { def: "io.k8s.api.core.v1.PodTemplateSpec", name: "PodTemplateSpec", fields: &[
        Field::new("metadata", 608, Plain),
        Field::new("spec", 294, Plain),
    ] },
    // 298
    Type::Struct { def: "io.k8s.api.core.v1.PortStatus", name: "PortStatus", fields: &[
        Field::new("error", 623, Plain),
        Field::new("port", 628, Plain),
        Field::new("protocol", 623, Plain),
    ] },
    // 299
    Type::Struct { def: "io.k8s.api.core.v1.PortworxVolumeSource", name: "PortworxVolumeSource", fields: &[
        Field::new("fsType", 623, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("volumeID", 623, Plain),
    ] },
    // 300
    Type::Struct { def: "io.k8s.api.core.v1.PreferredSchedulingTerm", name: "PreferredSchedulingTerm", fields: &[
        Field::new("preference", 263, Plain),
        Field::new("weight", 628, Plain),
    ] },
    // 301
    Type::Struct { def: "io.k8s.api.core.v1.Probe", name: "Probe", fields: &[
        Field::new("exec", 216, Plain),
        Field::new("failureThreshold", 628, Plain),
        Field::new("grpc", 222, Plain),
        Field::new("httpGet", 226, Plain),
        Field::new("initialDelaySeconds", 628, Plain),
        Field::new("periodSeconds", 628, Plain),
        Field::new("successThreshold", 628, Plain),
        Field::new("tcpSocket", 342, Plain),
        Field::new("terminationGracePeriodSeconds", 635, Plain),
        Field::new("timeoutSeconds", 628, Plain),
    ] },
    // 302
    Type::Struct { def: "io.k8s.api.core.v1.ProjectedVolumeSource", name: "ProjectedVolumeSource", fields: &[
        Field::new("defaultMode", 628, Plain),
        Field::new("sources", 724, Atomic),
    ] },
    // 303
    Type::Struct { def: "io.k8s.api.core.v1.QuobyteVolumeSource", name: "QuobyteVolumeSource", fields: &[
        Field::new("group", 623, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("registry", 623, Plain),
        Field::new("tenant", 623, Plain),
        Field::new("user", 623, Plain),
        Field::new("volume", 623, Plain),
    ] },
    // 304
    Type::Struct { def: "io.k8s.api.core.v1.RBDPersistentVolumeSource", name: "RBDPersistentVolumeSource", fields: &[
        Field::new("fsType", 623, Plain),
        Field::new("image", 623, Plain),
        Field::new("keyring", 623, Plain),
        Field::new("monitors", 625, Atomic),
        Field::new("pool", 623, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("secretRef", 328, Plain),
        Field::new("user", 623, Plain),
    ] },
    // 305
    Type::Struct { def: "io.k8s.api.core.v1.RBDVolumeSource", name: "RBDVolumeSource", fields: &[
        Field::new("fsType", 623, Plain),
        Field::new("image", 623, Plain),
        Field::new("keyring", 623, Plain),
        Field::new("monitors", 625, Atomic),
        Field::new("pool", 623, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("secretRef", 243, Plain),
        Field::new("user", 623, Plain),
    ] },
    // 306
    Type::Struct { def: "io.k8s.api.core.v1.ReplicationController", name: "ReplicationController", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 308, Plain),
        Field::new("status", 309, Plain),
    ] },
    // 307
    Type::Struct { def: "io.k8s.api.core.v1.ReplicationControllerCondition", name: "ReplicationControllerCondition", fields: &[
        Field::new("lastTransitionTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 308
    Type::Struct { def: "io.k8s.api.core.v1.ReplicationControllerSpec", name: "ReplicationControllerSpec", fields: &[
        Field::new("minReadySeconds", 628, Plain),
        Field::new("replicas", 628, Plain),
        Field::new("selector", 672, Plain),
        Field::new("template", 297, Plain),
    ] },
    // 309
    Type::Struct { def: "io.k8s.api.core.v1.ReplicationControllerStatus", name: "ReplicationControllerStatus", fields: &[
        Field::new("availableReplicas", 628, Plain),
        Field::new("conditions", 725, Keyed(&["type"])),
        Field::new("fullyLabeledReplicas", 628, Plain),
        Field::new("observedGeneration", 635, Plain),
        Field::new("readyReplicas", 628, Plain),
        Field::new("replicas", 628, Plain),
    ] },
    // 310
    Type::Struct { def: "io.k8s.api.core.v1.ResourceClaim", name: "ResourceClaim", fields: &[
        Field::new("name", 623, Plain),
        Field::new("request", 623, Plain),
    ] },
    // 311
    Type::Struct { def: "io.k8s.api.core.v1.ResourceFieldSelector", name: "ResourceFieldSelector", fields: &[
        Field::new("containerName", 623, Plain),
        Field::new("divisor", 592, Plain),
        Field::new("resource", 623, Plain),
    ] },
    // 312
    Type::Struct { def: "io.k8s.api.core.v1.ResourceHealth", name: "ResourceHealth", fields: &[
        Field::new("health", 623, Plain),
        Field::new("resourceID", 623, Plain),
    ] },
    // 313
    Type::Struct { def: "io.k8s.api.core.v1.ResourceQuota", name: "ResourceQuota", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 314, Plain),
        Field::new("status", 315, Plain),
    ] },
    // 314
    Type::Struct { def: "io.k8s.api.core.v1.ResourceQuotaSpec", name: "ResourceQuotaSpec", fields: &[
        Field::new("hard", 682, Plain),
        Field::new("scopeSelector", 321, Plain),
        Field::new("scopes", 625, Atomic),
    ] },
    // 315
    Type::Struct { def: "io.k8s.api.core.v1.ResourceQuotaStatus", name: "ResourceQuotaStatus", fields: &[
        Field::new("hard", 682, Plain),
        Field::new("used", 682, Plain),
    ] },
    // 316
    Type::Struct { def: "io.k8s.api.core.v1.ResourceRequirements", name: "ResourceRequirements", fields: &[
        Field::new("claims", 726, Keyed(&["name"])),
        Field::new("limits", 682, Plain),
        Field::new("requests", 682, Plain),
    ] },
    // 317
    Type::Struct { def: "io.k8s.api.core.v1.ResourceStatus", name: "ResourceStatus", fields: &[
        Field::new("name", 623, Plain),
        Field::new("resources", 727, Keyed(&["resourceID"])),
    ] },
    // 318
    Type::Struct { def: "io.k8s.api.core.v1.SELinuxOptions", name: "SELinuxOptions", fields: &[
        Field::new("level", 623, Plain),
        Field::new("role", 623, Plain),
        Field::new("type", 623, Plain),
        Field::new("user", 623, Plain),
    ] },
    // 319
    Type::Struct { def: "io.k8s.api.core.v1.ScaleIOPersistentVolumeSource", name: "ScaleIOPersistentVolumeSource", fields: &[
        Field::new("fsType", 623, Plain),
        Field::new("gateway", 623, Plain),
        Field::new("protectionDomain", 623, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("secretRef", 328, Plain),
        Field::new("sslEnabled", 651, Plain),
        Field::new("storageMode", 623, Plain),
        Field::new("storagePool", 623, Plain),
        Field::new("system", 623, Plain),
        Field::new("volumeName", 623, Plain),
    ] },
    // 320
    Type::Struct { def: "io.k8s.api.core.v1.ScaleIOVolumeSource", name: "ScaleIOVolumeSource", fields: &[
        Field::new("fsType", 623, Plain),
        Field::new("gateway", 623, Plain),
        Field::new("protectionDomain", 623, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("secretRef", 243, Plain),
        Field::new("sslEnabled", 651, Plain),
        Field::new("storageMode", 623, Plain),
        Field::new("storagePool", 623, Plain),
        Field::new("system", 623, Plain),
        Field::new("volumeName", 623, Plain),
    ] },
    // 321
    Type::Struct { def: "io.k8s.api.core.v1.ScopeSelector", name: "ScopeSelector", fields: &[
        Field::new("matchExpressions", 728, Atomic),
    ] },
    // 322
    Type::Struct { def: "io.k8s.api.core.v1.ScopedResourceSelectorRequirement", name: "ScopedResourceSelectorRequirement", fields: &[
        Field::new("operator", 623, Plain),
        Field::new("scopeName", 623, Plain),
        Field::new("values", 625, Atomic),
    ] },
    // 323
    Type::Struct { def: "io.k8s.api.core.v1.SeccompProfile", name: "SeccompProfile", fields: &[
        Field::new("localhostProfile", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 324
    Type::Struct { def: "io.k8s.api.core.v1.Secret", name: "Secret", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("data", 674, Plain),
        Field::new("immutable", 651, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("stringData", 672, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 325
    Type::Struct { def: "io.k8s.api.core.v1.SecretEnvSource", name: "SecretEnvSource", fields: &[
        Field::new("name", 623, Plain),
        Field::new("optional", 651, Plain),
    ] },
    // 326
    Type::Struct { def: "io.k8s.api.core.v1.SecretKeySelector", name: "SecretKeySelector", fields: &[
        Field::new("key", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("optional", 651, Plain),
    ] },
    // 327
    Type::Struct { def: "io.k8s.api.core.v1.SecretProjection", name: "SecretProjection", fields: &[
        Field::new("items", 675, Atomic),
        Field::new("name", 623, Plain),
        Field::new("optional", 651, Plain),
    ] },
    // 328
    Type::Struct { def: "io.k8s.api.core.v1.SecretReference", name: "SecretReference", fields: &[
        Field::new("name", 623, Plain),
        Field::new("namespace", 623, Plain),
    ] },
    // 329
    Type::Struct { def: "io.k8s.api.core.v1.SecretVolumeSource", name: "SecretVolumeSource", fields: &[
        Field::new("defaultMode", 628, Plain),
        Field::new("items", 675, Atomic),
        Field::new("optional", 651, Plain),
        Field::new("secretName", 623, Plain),
    ] },
    // 330
    Type::Struct { def: "io.k8s.api.core.v1.SecurityContext", name: "SecurityContext", fields: &[
        Field::new("allowPrivilegeEscalation", 651, Plain),
        Field::new("appArmorProfile", 166, Plain),
        Field::new("capabilities", 174, Plain),
        Field::new("privileged", 651, Plain),
        Field::new("procMount", 623, Plain),
        Field::new("readOnlyRootFilesystem", 651, Plain),
        Field::new("runAsGroup", 635, Plain),
        Field::new("runAsNonRoot", 651, Plain),
        Field::new("runAsUser", 635, Plain),
        Field::new("seLinuxOptions", 318, Plain),
        Field::new("seccompProfile", 323, Plain),
        Field::new("windowsOptions", 359, Plain),
    ] },
    // 331
    Type::Struct { def: "io.k8s.api.core.v1.Service", name: "Service", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 335, Plain),
        Field::new("status", 336, Plain),
    ] },
    // 332
    Type::Struct { def: "io.k8s.api.core.v1.ServiceAccount", name: "ServiceAccount", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("automountServiceAccountToken", 651, Plain),
        Field::new("imagePullSecrets", 712, Atomic),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("secrets", 665, Keyed(&["name"])),
    ] },
    // 333
    Type::Struct { def: "io.k8s.api.core.v1.ServiceAccountTokenProjection", name: "ServiceAccountTokenProjection", fields: &[
        Field::new("audience", 623, Plain),
        Field::new("expirationSeconds", 635, Plain),
        Field::new("path", 623, Plain),
    ] },
    // 334
    Type::Struct { def: "io.k8s.api.core.v1.ServicePort", name: "ServicePort", fields: &[
        Field::new("appProtocol", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("nodePort", 628, Plain),
        Field::new("port", 628, Plain),
        Field::new("protocol", 623, Plain),
        Field::new("targetPort", 617, Plain),
    ] },
    // 335
    Type::Struct { def: "io.k8s.api.core.v1.ServiceSpec", name: "ServiceSpec", fields: &[
        Field::new("allocateLoadBalancerNodePorts", 651, Plain),
        Field::new("clusterIP", 623, Plain),
        Field::new("clusterIPs", 625, Atomic),
        Field::new("externalIPs", 625, Atomic),
        Field::new("externalName", 623, Plain),
        Field::new("externalTrafficPolicy", 623, Plain),
        Field::new("healthCheckNodePort", 628, Plain),
        Field::new("internalTrafficPolicy", 623, Plain),
        Field::new("ipFamilies", 625, Atomic),
        Field::new("ipFamilyPolicy", 623, Plain),
        Field::new("loadBalancerClass", 623, Plain),
        Field::new("loadBalancerIP", 623, Plain),
        Field::new("loadBalancerSourceRanges", 625, Atomic),
        Field::new("ports", 729, Keyed(&["port"])),
        Field::new("publishNotReadyAddresses", 651, Plain),
        Field::new("selector", 672, Plain),
        Field::new("sessionAffinity", 623, Plain),
        Field::new("sessionAffinityConfig", 337, Plain),
        Field::new("trafficDistribution", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 336
    Type::Struct { def: "io.k8s.api.core.v1.ServiceStatus", name: "ServiceStatus", fields: &[
        Field::new("conditions", 634, Keyed(&["type"])),
        Field::new("loadBalancer", 242, Plain),
    ] },
    // 337
    Type::Struct { def: "io.k8s.api.core.v1.SessionAffinityConfig", name: "SessionAffinityConfig", fields: &[
        Field::new("clientIP", 179, Plain),
    ] },
    // 338
    Type::Struct { def: "io.k8s.api.core.v1.SleepAction", name: "SleepAction", fields: &[
        Field::new("seconds", 635, Plain),
    ] },
    // 339
    Type::Struct { def: "io.k8s.api.core.v1.StorageOSPersistentVolumeSource", name: "StorageOSPersistentVolumeSource", fields: &[
        Field::new("fsType", 623, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("secretRef", 269, Plain),
        Field::new("volumeName", 623, Plain),
        Field::new("volumeNamespace", 623, Plain),
    ] },
    // 340
    Type::Struct { def: "io.k8s.api.core.v1.StorageOSVolumeSource", name: "StorageOSVolumeSource", fields: &[
        Field::new("fsType", 623, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("secretRef", 243, Plain),
        Field::new("volumeName", 623, Plain),
        Field::new("volumeNamespace", 623, Plain),
    ] },
    // 341
    Type::Struct { def: "io.k8s.api.core.v1.Sysctl", name: "Sysctl", fields: &[
        Field::new("name", 623, Plain),
        Field::new("value", 623, Plain),
    ] },
    // 342
    Type::Struct { def: "io.k8s.api.core.v1.TCPSocketAction", name: "TCPSocketAction", fields: &[
        Field::new("host", 623, Plain),
        Field::new("port", 617, Plain),
    ] },
    // 343
    Type::Struct { def: "io.k8s.api.core.v1.Taint", name: "Taint", fields: &[
        Field::new("effect", 623, Plain),
        Field::new("key", 623, Plain),
        Field::new("timeAdded", 615, Plain),
        Field::new("value", 623, Plain),
    ] },
    // 344
    Type::Struct { def: "io.k8s.api.core.v1.Toleration", name: "Toleration", fields: &[
        Field::new("effect", 623, Plain),
        Field::new("key", 623, Plain),
        Field::new("operator", 623, Plain),
        Field::new("tolerationSeconds", 635, Plain),
        Field::new("value", 623, Plain),
    ] },
    // 345
    Type::Struct { def: "io.k8s.api.core.v1.TopologySelectorLabelRequirement", name: "TopologySelectorLabelRequirement", fields: &[
        Field::new("key", 623, Plain),
        Field::new("values", 625, Atomic),
    ] },
    // 346
    Type::Struct { def: "io.k8s.api.core.v1.TopologySelectorTerm", name: "TopologySelectorTerm", fields: &[
        Field::new("matchLabelExpressions", 730, Atomic),
    ] },
    // 347
    Type::Struct { def: "io.k8s.api.core.v1.TopologySpreadConstraint", name: "TopologySpreadConstraint", fields: &[
        Field::new("labelSelector", 603, Plain),
        Field::new("matchLabelKeys", 625, Atomic),
        Field::new("maxSkew", 628, Plain),
        Field::new("minDomains", 628, Plain),
        Field::new("nodeAffinityPolicy", 623, Plain),
        Field::new("nodeTaintsPolicy", 623, Plain),
        Field::new("topologyKey", 623, Plain),
        Field::new("whenUnsatisfiable", 623, Plain),
    ] },
    // 348
    Type::Struct { def: "io.k8s.api.core.v1.TypedLocalObjectReference", name: "TypedLocalObjectReference", fields: &[
        Field::new("apiGroup", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 349
    Type::Struct { def: "io.k8s.api.core.v1.TypedObjectReference", name: "TypedObjectReference", fields: &[
        Field::new("apiGroup", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("namespace", 623, Plain),
    ] },
    // 350
    Type::Struct { def: "io.k8s.api.core.v1.Volume", name: "Volume", fields: &[
        Field::new("awsElasticBlockStore", 164, Plain),
        Field::new("azureDisk", 168, Plain),
        Field::new("azureFile", 170, Plain),
        Field::new("cephfs", 176, Plain),
        Field::new("cinder", 178, Plain),
        Field::new("configMap", 188, Plain),
        Field::new("csi", 173, Plain),
        Field::new("downwardAPI", 202, Plain),
        Field::new("emptyDir", 203, Plain),
        Field::new("ephemeral", 212, Plain),
        Field::new("fc", 217, Plain),
        Field::new("flexVolume", 219, Plain),
        Field::new("flocker", 220, Plain),
        Field::new("gcePersistentDisk", 221, Plain),
        Field::new("gitRepo", 223, Plain),
        Field::new("glusterfs", 225, Plain),
        Field::new("hostPath", 230, Plain),
        Field::new("image", 233, Plain),
        Field::new("iscsi", 232, Plain),
        Field::new("name", 623, Plain),
        Field::new("nfs", 246, Plain),
        Field::new("persistentVolumeClaim", 276, Plain),
        Field::new("photonPersistentDisk", 279, Plain),
        Field::new("portworxVolume", 299, Plain),
        Field::new("projected", 302, Plain),
        Field::new("quobyte", 303, Plain),
        Field::new("rbd", 305, Plain),
        Field::new("scaleIO", 320, Plain),
        Field::new("secret", 329, Plain),
        Field::new("storageos", 340, Plain),
        Field::new("vsphereVolume", 357, Plain),
    ] },
    // 351
    Type::Struct { def: "io.k8s.api.core.v1.VolumeDevice", name: "VolumeDevice", fields: &[
        Field::new("devicePath", 623, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 352
    Type::Struct { def: "io.k8s.api.core.v1.VolumeMount", name: "VolumeMount", fields: &[
        Field::new("mountPath", 623, Plain),
        Field::new("mountPropagation", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("recursiveReadOnly", 623, Plain),
        Field::new("subPath", 623, Plain),
        Field::new("subPathExpr", 623, Plain),
    ] },
    // 353
    Type::Struct { def: "io.k8s.api.core.v1.VolumeMountStatus", name: "VolumeMountStatus", fields: &[
        Field::new("mountPath", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("readOnly", 651, Plain),
        Field::new("recursiveReadOnly", 623, Plain),
    ] },
    // 354
    Type::Struct { def: "io.k8s.api.core.v1.VolumeNodeAffinity", name: "VolumeNodeAffinity", fields: &[
        Field::new("required", 261, Plain),
    ] },
    // 355
    Type::Struct { def: "io.k8s.api.core.v1.VolumeProjection", name: "VolumeProjection", fields: &[
        Field::new("clusterTrustBundle", 180, Plain),
        Field::new("configMap", 187, Plain),
        Field::new("downwardAPI", 200, Plain),
        Field::new("secret", 327, Plain),
        Field::new("serviceAccountToken", 333, Plain),
    ] },
    // 356
    Type::Struct { def: "io.k8s.api.core.v1.VolumeResourceRequirements", name: "VolumeResourceRequirements", fields: &[
        Field::new("limits", 682, Plain),
        Field::new("requests", 682, Plain),
    ] },
    // 357
    Type::Struct { def: "io.k8s.api.core.v1.VsphereVirtualDiskVolumeSource", name: "VsphereVirtualDiskVolumeSource", fields: &[
        Field::new("fsType", 623, Plain),
        Field::new("storagePolicyID", 623, Plain),
        Field::new("storagePolicyName", 623, Plain),
        Field::new("volumePath", 623, Plain),
    ] },
    // 358
    Type::Struct { def: "io.k8s.api.core.v1.WeightedPodAffinityTerm", name: "WeightedPodAffinityTerm", fields: &[
        Field::new("podAffinityTerm", 282, Plain),
        Field::new("weight", 628, Plain),
    ] },
    // 359
    Type::Struct { def: "io.k8s.api.core.v1.WindowsSecurityContextOptions", name: "WindowsSecurityContextOptions", fields: &[
        Field::new("gmsaCredentialSpec", 623, Plain),
        Field::new("gmsaCredentialSpecName", 623, Plain),
        Field::new("hostProcess", 651, Plain),
        Field::new("runAsUserName", 623, Plain),
    ] },
    // 360
    Type::Struct { def: "io.k8s.api.discovery.v1.Endpoint", name: "Endpoint", fields: &[
        Field::new("addresses", 625, Set),
        Field::new("conditions", 361, Plain),
        Field::new("deprecatedTopology", 672, Plain),
        Field::new("hints", 362, Plain),
        Field::new("hostname", 623, Plain),
        Field::new("nodeName", 623, Plain),
        Field::new("targetRef", 269, Plain),
        Field::new("zone", 623, Plain),
    ] },
    // 361
    Type::Struct { def: "io.k8s.api.discovery.v1.EndpointConditions", name: "EndpointConditions", fields: &[
        Field::new("ready", 651, Plain),
        Field::new("serving", 651, Plain),
        Field::new("terminating", 651, Plain),
    ] },
    // 362
    Type::Struct { def: "io.k8s.api.discovery.v1.EndpointHints", name: "EndpointHints", fields: &[
        Field::new("forNodes", 731, Atomic),
        Field::new("forZones", 732, Atomic),
    ] },
    // 363
    Type::Struct { def: "io.k8s.api.discovery.v1.EndpointPort", name: "EndpointPort", fields: &[
        Field::new("appProtocol", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("port", 628, Plain),
        Field::new("protocol", 623, Plain),
    ] },
    // 364
    Type::Struct { def: "io.k8s.api.discovery.v1.EndpointSlice", name: "EndpointSlice", fields: &[
        Field::new("addressType", 623, Plain),
        Field::new("apiVersion", 623, Plain),
        Field::new("endpoints", 733, Atomic),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("ports", 734, Atomic),
    ] },
    // 365
    Type::Struct { def: "io.k8s.api.discovery.v1.ForNode", name: "ForNode", fields: &[
        Field::new("name", 623, Plain),
    ] },
    // 366
    Type::Struct { def: "io.k8s.api.discovery.v1.ForZone", name: "ForZone", fields: &[
        Field::new("name", 623, Plain),
    ] },
    // 367
    Type::Struct { def: "io.k8s.api.events.v1.Event", name: "Event", fields: &[
        Field::new("action", 623, Plain),
        Field::new("apiVersion", 623, Plain),
        Field::new("deprecatedCount", 628, Plain),
        Field::new("deprecatedFirstTimestamp", 615, Plain),
        Field::new("deprecatedLastTimestamp", 615, Plain),
        Field::new("deprecatedSource", 215, Plain),
        Field::new("eventTime", 607, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("note", 623, Plain),
        Field::new("reason", 623, Plain),
        Field::new("regarding", 269, Plain),
        Field::new("related", 269, Plain),
        Field::new("reportingController", 623, Plain),
        Field::new("reportingInstance", 623, Plain),
        Field::new("series", 368, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 368
    Type::Struct { def: "io.k8s.api.events.v1.EventSeries", name: "EventSeries", fields: &[
        Field::new("count", 628, Plain),
        Field::new("lastObservedTime", 607, Plain),
    ] },
    // 369
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.ExemptPriorityLevelConfiguration", name: "ExemptPriorityLevelConfiguration", fields: &[
        Field::new("lendablePercent", 628, Plain),
        Field::new("nominalConcurrencyShares", 628, Plain),
    ] },
    // 370
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.FlowDistinguisherMethod", name: "FlowDistinguisherMethod", fields: &[
        Field::new("type", 623, Plain),
    ] },
    // 371
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.FlowSchema", name: "FlowSchema", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 373, Plain),
        Field::new("status", 374, Plain),
    ] },
    // 372
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.FlowSchemaCondition", name: "FlowSchemaCondition", fields: &[
        Field::new("lastTransitionTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 373
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.FlowSchemaSpec", name: "FlowSchemaSpec", fields: &[
        Field::new("distinguisherMethod", 370, Plain),
        Field::new("matchingPrecedence", 628, Plain),
        Field::new("priorityLevelConfiguration", 382, Plain),
        Field::new("rules", 735, Atomic),
    ] },
    // 374
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.FlowSchemaStatus", name: "FlowSchemaStatus", fields: &[
        Field::new("conditions", 736, Keyed(&["type"])),
    ] },
    // 375
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.GroupSubject", name: "GroupSubject", fields: &[
        Field::new("name", 623, Plain),
    ] },
    // 376
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.LimitResponse", name: "LimitResponse", fields: &[
        Field::new("queuing", 385, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 377
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.LimitedPriorityLevelConfiguration", name: "LimitedPriorityLevelConfiguration", fields: &[
        Field::new("borrowingLimitPercent", 628, Plain),
        Field::new("lendablePercent", 628, Plain),
        Field::new("limitResponse", 376, Plain),
        Field::new("nominalConcurrencyShares", 628, Plain),
    ] },
    // 378
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.NonResourcePolicyRule", name: "NonResourcePolicyRule", fields: &[
        Field::new("nonResourceURLs", 625, Set),
        Field::new("verbs", 625, Set),
    ] },
    // 379
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.PolicyRulesWithSubjects", name: "PolicyRulesWithSubjects", fields: &[
        Field::new("nonResourceRules", 737, Atomic),
        Field::new("resourceRules", 738, Atomic),
        Field::new("subjects", 739, Atomic),
    ] },
    // 380
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.PriorityLevelConfiguration", name: "PriorityLevelConfiguration", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 383, Plain),
        Field::new("status", 384, Plain),
    ] },
    // 381
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.PriorityLevelConfigurationCondition", name: "PriorityLevelConfigurationCondition", fields: &[
        Field::new("lastTransitionTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 382
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.PriorityLevelConfigurationReference", name: "PriorityLevelConfigurationReference", fields: &[
        Field::new("name", 623, Plain),
    ] },
    // 383
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.PriorityLevelConfigurationSpec", name: "PriorityLevelConfigurationSpec", fields: &[
        Field::new("exempt", 369, Plain),
        Field::new("limited", 377, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 384
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.PriorityLevelConfigurationStatus", name: "PriorityLevelConfigurationStatus", fields: &[
        Field::new("conditions", 740, Keyed(&["type"])),
    ] },
    // 385
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.QueuingConfiguration", name: "QueuingConfiguration", fields: &[
        Field::new("handSize", 628, Plain),
        Field::new("queueLengthLimit", 628, Plain),
        Field::new("queues", 628, Plain),
    ] },
    // 386
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.ResourcePolicyRule", name: "ResourcePolicyRule", fields: &[
        Field::new("apiGroups", 625, Set),
        Field::new("clusterScope", 651, Plain),
        Field::new("namespaces", 625, Set),
        Field::new("resources", 625, Set),
        Field::new("verbs", 625, Set),
    ] },
    // 387
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.ServiceAccountSubject", name: "ServiceAccountSubject", fields: &[
        Field::new("name", 623, Plain),
        Field::new("namespace", 623, Plain),
    ] },
    // 388
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.Subject", name: "Subject", fields: &[
        Field::new("group", 375, Plain),
        Field::new("kind", 623, Plain),
        Field::new("serviceAccount", 387, Plain),
        Field::new("user", 389, Plain),
    ] },
    // 389
    Type::Struct { def: "io.k8s.api.flowcontrol.v1.UserSubject", name: "UserSubject", fields: &[
        Field::new("name", 623, Plain),
    ] },
    // 390
    Type::Struct { def: "io.k8s.api.networking.v1.HTTPIngressPath", name: "HTTPIngressPath", fields: &[
        Field::new("backend", 396, Plain),
        Field::new("path", 623, Plain),
        Field::new("pathType", 623, Plain),
    ] },
    // 391
    Type::Struct { def: "io.k8s.api.networking.v1.HTTPIngressRuleValue", name: "HTTPIngressRuleValue", fields: &[
        Field::new("paths", 741, Atomic),
    ] },
    // 392
    Type::Struct { def: "io.k8s.api.networking.v1.IPAddress", name: "IPAddress", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 393, Plain),
    ] },
    // 393
    Type::Struct { def: "io.k8s.api.networking.v1.IPAddressSpec", name: "IPAddressSpec", fields: &[
        Field::new("parentRef", 414, Plain),
    ] },
    // 394
    Type::Struct { def: "io.k8s.api.networking.v1.IPBlock", name: "IPBlock", fields: &[
        Field::new("cidr", 623, Plain),
        Field::new("except", 625, Atomic),
    ] },
    // 395
    Type::Struct { def: "io.k8s.api.networking.v1.Ingress", name: "Ingress", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 405, Plain),
        Field::new("status", 406, Plain),
    ] },
    // 396
    Type::Struct { def: "io.k8s.api.networking.v1.IngressBackend", name: "IngressBackend", fields: &[
        Field::new("resource", 348, Plain),
        Field::new("service", 404, Plain),
    ] },
    // 397
    Type::Struct { def: "io.k8s.api.networking.v1.IngressClass", name: "IngressClass", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 399, Plain),
    ] },
    // 398
    Type::Struct { def: "io.k8s.api.networking.v1.IngressClassParametersReference", name: "IngressClassParametersReference", fields: &[
        Field::new("apiGroup", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("namespace", 623, Plain),
        Field::new("scope", 623, Plain),
    ] },
    // 399
    Type::Struct { def: "io.k8s.api.networking.v1.IngressClassSpec", name: "IngressClassSpec", fields: &[
        Field::new("controller", 623, Plain),
        Field::new("parameters", 398, Plain),
    ] },
    // 400
    Type::Struct { def: "io.k8s.api.networking.v1.IngressLoadBalancerIngress", name: "IngressLoadBalancerIngress", fields: &[
        Field::new("hostname", 623, Plain),
        Field::new("ip", 623, Plain),
        Field::new("ports", 742, Atomic),
    ] },
    // 401
    Type::Struct { def: "io.k8s.api.networking.v1.IngressLoadBalancerStatus", name: "IngressLoadBalancerStatus", fields: &[
        Field::new("ingress", 743, Atomic),
    ] },
    // 402
    Type::Struct { def: "io.k8s.api.networking.v1.IngressPortStatus", name: "IngressPortStatus", fields: &[
        Field::new("error", 623, Plain),
        Field::new("port", 628, Plain),
        Field::new("protocol", 623, Plain),
    ] },
    // 403
    Type::Struct { def: "io.k8s.api.networking.v1.IngressRule", name: "IngressRule", fields: &[
        Field::new("host", 623, Plain),
        Field::new("http", 391, Plain),
    ] },
    // 404
    Type::Struct { def: "io.k8s.api.networking.v1.IngressServiceBackend", name: "IngressServiceBackend", fields: &[
        Field::new("name", 623, Plain),
        Field::new("port", 415, Plain),
    ] },
    // 405
    Type::Struct { def: "io.k8s.api.networking.v1.IngressSpec", name: "IngressSpec", fields: &[
        Field::new("defaultBackend", 396, Plain),
        Field::new("ingressClassName", 623, Plain),
        Field::new("rules", 744, Atomic),
        Field::new("tls", 745, Atomic),
    ] },
    // 406
    Type::Struct { def: "io.k8s.api.networking.v1.IngressStatus", name: "IngressStatus", fields: &[
        Field::new("loadBalancer", 401, Plain),
    ] },
    // 407
    Type::Struct { def: "io.k8s.api.networking.v1.IngressTLS", name: "IngressTLS", fields: &[
        Field::new("hosts", 625, Atomic),
        Field::new("secretName", 623, Plain),
    ] },
    // 408
    Type::Struct { def: "io.k8s.api.networking.v1.NetworkPolicy", name: "NetworkPolicy", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 413, Plain),
    ] },
    // 409
    Type::Struct { def: "io.k8s.api.networking.v1.NetworkPolicyEgressRule", name: "NetworkPolicyEgressRule", fields: &[
        Field::new("ports", 746, Atomic),
        Field::new("to", 747, Atomic),
    ] },
    // 410
    Type::Struct { def: "io.k8s.api.networking.v1.NetworkPolicyIngressRule", name: "NetworkPolicyIngressRule", fields: &[
        Field::new("from", 747, Atomic),
        Field::new("ports", 746, Atomic),
    ] },
    // 411
    Type::Struct { def: "io.k8s.api.networking.v1.NetworkPolicyPeer", name: "NetworkPolicyPeer", fields: &[
        Field::new("ipBlock", 394, Plain),
        Field::new("namespaceSelector", 603, Plain),
        Field::new("podSelector", 603, Plain),
    ] },
    // 412
    Type::Struct { def: "io.k8s.api.networking.v1.NetworkPolicyPort", name: "NetworkPolicyPort", fields: &[
        Field::new("endPort", 628, Plain),
        Field::new("port", 617, Plain),
        Field::new("protocol", 623, Plain),
    ] },
    // 413
    Type::Struct { def: "io.k8s.api.networking.v1.NetworkPolicySpec", name: "NetworkPolicySpec", fields: &[
        Field::new("egress", 748, Atomic),
        Field::new("ingress", 749, Atomic),
        Field::new("podSelector", 603, Plain),
        Field::new("policyTypes", 625, Atomic),
    ] },
    // 414
    Type::Struct { def: "io.k8s.api.networking.v1.ParentReference", name: "ParentReference", fields: &[
        Field::new("group", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("namespace", 623, Plain),
        Field::new("resource", 623, Plain),
    ] },
    // 415
    Type::Struct { def: "io.k8s.api.networking.v1.ServiceBackendPort", name: "ServiceBackendPort", fields: &[
        Field::new("name", 623, Plain),
        Field::new("number", 628, Plain),
    ] },
    // 416
    Type::Struct { def: "io.k8s.api.networking.v1.ServiceCIDR", name: "ServiceCIDR", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 417, Plain),
        Field::new("status", 418, Plain),
    ] },
    // 417
    Type::Struct { def: "io.k8s.api.networking.v1.ServiceCIDRSpec", name: "ServiceCIDRSpec", fields: &[
        Field::new("cidrs", 625, Atomic),
    ] },
    // 418
    Type::Struct { def: "io.k8s.api.networking.v1.ServiceCIDRStatus", name: "ServiceCIDRStatus", fields: &[
        Field::new("conditions", 634, Keyed(&["type"])),
    ] },
    // 419
    Type::Struct { def: "io.k8s.api.networking.v1beta1.IPAddress", name: "IPAddress", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 420, Plain),
    ] },
    // 420
    Type::Struct { def: "io.k8s.api.networking.v1beta1.IPAddressSpec", name: "IPAddressSpec", fields: &[
        Field::new("parentRef", 421, Plain),
    ] },
    // 421
    Type::Struct { def: "io.k8s.api.networking.v1beta1.ParentReference", name: "ParentReference", fields: &[
        Field::new("group", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("namespace", 623, Plain),
        Field::new("resource", 623, Plain),
    ] },
    // 422
    Type::Struct { def: "io.k8s.api.networking.v1beta1.ServiceCIDR", name: "ServiceCIDR", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 423, Plain),
        Field::new("status", 424, Plain),
    ] },
    // 423
    Type::Struct { def: "io.k8s.api.networking.v1beta1.ServiceCIDRSpec", name: "ServiceCIDRSpec", fields: &[
        Field::new("cidrs", 625, Atomic),
    ] },
    // 424
    Type::Struct { def: "io.k8s.api.networking.v1beta1.ServiceCIDRStatus", name: "ServiceCIDRStatus", fields: &[
        Field::new("conditions", 634, Keyed(&["type"])),
    ] },
    // 425
    Type::Struct { def: "io.k8s.api.node.v1.Overhead", name: "Overhead", fields: &[
        Field::new("podFixed", 682, Plain),
    ] },
    // 426
    Type::Struct { def: "io.k8s.api.node.v1.RuntimeClass", name: "RuntimeClass", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("handler", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("overhead", 425, Plain),
        Field::new("scheduling", 427, Plain),
    ] },
    // 427
    Type::Struct { def: "io.k8s.api.node.v1.Scheduling", name: "Scheduling", fields: &[
        Field::new("nodeSelector", 672, Plain),
        Field::new("tolerations", 716, Atomic),
    ] },
    // 428
    Type::Struct { def: "io.k8s.api.policy.v1.Eviction", name: "Eviction", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("deleteOptions", 599, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
    ] },
    // 429
    Type::Struct { def: "io.k8s.api.policy.v1.PodDisruptionBudget", name: "PodDisruptionBudget", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 430, Plain),
        Field::new("status", 431, Plain),
    ] },
    // 430
    Type::Struct { def: "io.k8s.api.policy.v1.PodDisruptionBudgetSpec", name: "PodDisruptionBudgetSpec", fields: &[
        Field::new("maxUnavailable", 617, Plain),
        Field::new("minAvailable", 617, Plain),
        Field::new("selector", 603, Plain),
        Field::new("unhealthyPodEvictionPolicy", 623, Plain),
    ] },
    // 431
    Type::Struct { def: "io.k8s.api.policy.v1.PodDisruptionBudgetStatus", name: "PodDisruptionBudgetStatus", fields: &[
        Field::new("conditions", 634, Keyed(&["type"])),
        Field::new("currentHealthy", 628, Plain),
        Field::new("desiredHealthy", 628, Plain),
        Field::new("disruptedPods", 750, Plain),
        Field::new("disruptionsAllowed", 628, Plain),
        Field::new("expectedPods", 628, Plain),
        Field::new("observedGeneration", 635, Plain),
    ] },
    // 432
    Type::Struct { def: "io.k8s.api.rbac.v1.AggregationRule", name: "AggregationRule", fields: &[
        Field::new("clusterRoleSelectors", 751, Atomic),
    ] },
    // 433
    Type::Struct { def: "io.k8s.api.rbac.v1.ClusterRole", name: "ClusterRole", fields: &[
        Field::new("aggregationRule", 432, Plain),
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("rules", 752, Atomic),
    ] },
    // 434
    Type::Struct { def: "io.k8s.api.rbac.v1.ClusterRoleBinding", name: "ClusterRoleBinding", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("roleRef", 438, Plain),
        Field::new("subjects", 753, Atomic),
    ] },
    // 435
    Type::Struct { def: "io.k8s.api.rbac.v1.PolicyRule", name: "PolicyRule", fields: &[
        Field::new("apiGroups", 625, Atomic),
        Field::new("nonResourceURLs", 625, Atomic),
        Field::new("resourceNames", 625, Atomic),
        Field::new("resources", 625, Atomic),
        Field::new("verbs", 625, Atomic),
    ] },
    // 436
    Type::Struct { def: "io.k8s.api.rbac.v1.Role", name: "Role", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("rules", 752, Atomic),
    ] },
    // 437
    Type::Struct { def: "io.k8s.api.rbac.v1.RoleBinding", name: "RoleBinding", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("roleRef", 438, Plain),
        Field::new("subjects", 753, Atomic),
    ] },
    // 438
    Type::Struct { def: "io.k8s.api.rbac.v1.RoleRef", name: "RoleRef", fields: &[
        Field::new("apiGroup", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 439
    Type::Struct { def: "io.k8s.api.rbac.v1.Subject", name: "Subject", fields: &[
        Field::new("apiGroup", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("namespace", 623, Plain),
    ] },
    // 440
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.AllocatedDeviceStatus", name: "AllocatedDeviceStatus", fields: &[
        Field::new("conditions", 634, Keyed(&["type"])),
        Field::new("data", 616, Plain),
        Field::new("device", 623, Plain),
        Field::new("driver", 623, Plain),
        Field::new("networkData", 466, Plain),
        Field::new("pool", 623, Plain),
    ] },
    // 441
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.AllocationResult", name: "AllocationResult", fields: &[
        Field::new("devices", 448, Plain),
        Field::new("nodeSelector", 261, Plain),
    ] },
    // 442
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.BasicDevice", name: "BasicDevice", fields: &[
        Field::new("allNodes", 651, Plain),
        Field::new("attributes", 754, Plain),
        Field::new("capacity", 682, Plain),
        Field::new("consumesCounters", 755, Atomic),
        Field::new("nodeName", 623, Plain),
        Field::new("nodeSelector", 261, Plain),
        Field::new("taints", 756, Atomic),
    ] },
    // 443
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.CELDeviceSelector", name: "CELDeviceSelector", fields: &[
        Field::new("expression", 623, Plain),
    ] },
    // 444
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.Counter", name: "Counter", fields: &[
        Field::new("value", 592, Plain),
    ] },
    // 445
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.CounterSet", name: "CounterSet", fields: &[
        Field::new("counters", 757, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 446
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.Device", name: "Device", fields: &[
        Field::new("basic", 442, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 447
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.DeviceAllocationConfiguration", name: "DeviceAllocationConfiguration", fields: &[
        Field::new("opaque", 467, Plain),
        Field::new("requests", 625, Atomic),
        Field::new("source", 623, Plain),
    ] },
    // 448
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.DeviceAllocationResult", name: "DeviceAllocationResult", fields: &[
        Field::new("config", 758, Atomic),
        Field::new("results", 759, Atomic),
    ] },
    // 449
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.DeviceAttribute", name: "DeviceAttribute", fields: &[
        Field::new("bool", 651, Plain),
        Field::new("int", 635, Plain),
        Field::new("string", 623, Plain),
        Field::new("version", 623, Plain),
    ] },
    // 450
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.DeviceClaim", name: "DeviceClaim", fields: &[
        Field::new("config", 760, Atomic),
        Field::new("constraints", 761, Atomic),
        Field::new("requests", 762, Atomic),
    ] },
    // 451
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.DeviceClaimConfiguration", name: "DeviceClaimConfiguration", fields: &[
        Field::new("opaque", 467, Plain),
        Field::new("requests", 625, Atomic),
    ] },
    // 452
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.DeviceClass", name: "DeviceClass", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 454, Plain),
    ] },
    // 453
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.DeviceClassConfiguration", name: "DeviceClassConfiguration", fields: &[
        Field::new("opaque", 467, Plain),
    ] },
    // 454
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.DeviceClassSpec", name: "DeviceClassSpec", fields: &[
        Field::new("config", 763, Atomic),
        Field::new("selectors", 764, Atomic),
    ] },
    // 455
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.DeviceConstraint", name: "DeviceConstraint", fields: &[
        Field::new("matchAttribute", 623, Plain),
        Field::new("requests", 625, Atomic),
    ] },
    // 456
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.DeviceCounterConsumption", name: "DeviceCounterConsumption", fields: &[
        Field::new("counterSet", 623, Plain),
        Field::new("counters", 757, Plain),
    ] },
    // 457
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.DeviceRequest", name: "DeviceRequest", fields: &[
        Field::new("adminAccess", 651, Plain),
        Field::new("allocationMode", 623, Plain),
        Field::new("count", 635, Plain),
        Field::new("deviceClassName", 623, Plain),
        Field::new("firstAvailable", 765, Atomic),
        Field::new("name", 623, Plain),
        Field::new("selectors", 764, Atomic),
        Field::new("tolerations", 766, Atomic),
    ] },
    // 458
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.DeviceRequestAllocationResult", name: "DeviceRequestAllocationResult", fields: &[
        Field::new("adminAccess", 651, Plain),
        Field::new("device", 623, Plain),
        Field::new("driver", 623, Plain),
        Field::new("pool", 623, Plain),
        Field::new("request", 623, Plain),
        Field::new("tolerations", 766, Atomic),
    ] },
    // 459
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.DeviceSelector", name: "DeviceSelector", fields: &[
        Field::new("cel", 443, Plain),
    ] },
    // 460
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.DeviceSubRequest", name: "DeviceSubRequest", fields: &[
        Field::new("allocationMode", 623, Plain),
        Field::new("count", 635, Plain),
        Field::new("deviceClassName", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("selectors", 764, Atomic),
        Field::new("tolerations", 766, Atomic),
    ] },
    // 461
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.DeviceTaint", name: "DeviceTaint", fields: &[
        Field::new("effect", 623, Plain),
        Field::new("key", 623, Plain),
        Field::new("timeAdded", 615, Plain),
        Field::new("value", 623, Plain),
    ] },
    // 462
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.DeviceTaintRule", name: "DeviceTaintRule", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 463, Plain),
    ] },
    // 463
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.DeviceTaintRuleSpec", name: "DeviceTaintRuleSpec", fields: &[
        Field::new("deviceSelector", 464, Plain),
        Field::new("taint", 461, Plain),
    ] },
    // 464
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.DeviceTaintSelector", name: "DeviceTaintSelector", fields: &[
        Field::new("device", 623, Plain),
        Field::new("deviceClassName", 623, Plain),
        Field::new("driver", 623, Plain),
        Field::new("pool", 623, Plain),
        Field::new("selectors", 764, Atomic),
    ] },
    // 465
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.DeviceToleration", name: "DeviceToleration", fields: &[
        Field::new("effect", 623, Plain),
        Field::new("key", 623, Plain),
        Field::new("operator", 623, Plain),
        Field::new("tolerationSeconds", 635, Plain),
        Field::new("value", 623, Plain),
    ] },
    // 466
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.NetworkDeviceData", name: "NetworkDeviceData", fields: &[
        Field::new("hardwareAddress", 623, Plain),
        Field::new("interfaceName", 623, Plain),
        Field::new("ips", 625, Atomic),
    ] },
    // 467
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.OpaqueDeviceConfiguration", name: "OpaqueDeviceConfiguration", fields: &[
        Field::new("driver", 623, Plain),
        Field::new("parameters", 616, Plain),
    ] },
    // 468
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.ResourceClaim", name: "ResourceClaim", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 470, Plain),
        Field::new("status", 471, Plain),
    ] },
    // 469
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.ResourceClaimConsumerReference", name: "ResourceClaimConsumerReference", fields: &[
        Field::new("apiGroup", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("resource", 623, Plain),
        Field::new("uid", 623, Plain),
    ] },
    // 470
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.ResourceClaimSpec", name: "ResourceClaimSpec", fields: &[
        Field::new("devices", 450, Plain),
    ] },
    // 471
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.ResourceClaimStatus", name: "ResourceClaimStatus", fields: &[
        Field::new("allocation", 441, Plain),
        Field::new("devices", 767, Keyed(&["driver", "device", "pool"])),
        Field::new("reservedFor", 768, Keyed(&["uid"])),
    ] },
    // 472
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.ResourceClaimTemplate", name: "ResourceClaimTemplate", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 473, Plain),
    ] },
    // 473
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.ResourceClaimTemplateSpec", name: "ResourceClaimTemplateSpec", fields: &[
        Field::new("metadata", 608, Plain),
        Field::new("spec", 470, Plain),
    ] },
    // 474
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.ResourcePool", name: "ResourcePool", fields: &[
        Field::new("generation", 635, Plain),
        Field::new("name", 623, Plain),
        Field::new("resourceSliceCount", 635, Plain),
    ] },
    // 475
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.ResourceSlice", name: "ResourceSlice", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 476, Plain),
    ] },
    // 476
    Type::Struct { def: "io.k8s.api.resource.v1alpha3.ResourceSliceSpec", name: "ResourceSliceSpec", fields: &[
        Field::new("allNodes", 651, Plain),
        Field::new("devices", 769, Atomic),
        Field::new("driver", 623, Plain),
        Field::new("nodeName", 623, Plain),
        Field::new("nodeSelector", 261, Plain),
        Field::new("perDeviceNodeSelection", 651, Plain),
        Field::new("pool", 474, Plain),
        Field::new("sharedCounters", 770, Atomic),
    ] },
    // 477
    Type::Struct { def: "io.k8s.api.resource.v1beta1.AllocatedDeviceStatus", name: "AllocatedDeviceStatus", fields: &[
        Field::new("conditions", 634, Keyed(&["type"])),
        Field::new("data", 616, Plain),
        Field::new("device", 623, Plain),
        Field::new("driver", 623, Plain),
        Field::new("networkData", 501, Plain),
        Field::new("pool", 623, Plain),
    ] },
    // 478
    Type::Struct { def: "io.k8s.api.resource.v1beta1.AllocationResult", name: "AllocationResult", fields: &[
        Field::new("devices", 485, Plain),
        Field::new("nodeSelector", 261, Plain),
    ] },
    // 479
    Type::Struct { def: "io.k8s.api.resource.v1beta1.BasicDevice", name: "BasicDevice", fields: &[
        Field::new("allNodes", 651, Plain),
        Field::new("attributes", 771, Plain),
        Field::new("capacity", 772, Plain),
        Field::new("consumesCounters", 773, Atomic),
        Field::new("nodeName", 623, Plain),
        Field::new("nodeSelector", 261, Plain),
        Field::new("taints", 774, Atomic),
    ] },
    // 480
    Type::Struct { def: "io.k8s.api.resource.v1beta1.CELDeviceSelector", name: "CELDeviceSelector", fields: &[
        Field::new("expression", 623, Plain),
    ] },
    // 481
    Type::Struct { def: "io.k8s.api.resource.v1beta1.Counter", name: "Counter", fields: &[
        Field::new("value", 592, Plain),
    ] },
    // 482
    Type::Struct { def: "io.k8s.api.resource.v1beta1.CounterSet", name: "CounterSet", fields: &[
        Field::new("counters", 775, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 483
    Type::Struct { def: "io.k8s.api.resource.v1beta1.Device", name: "Device", fields: &[
        Field::new("basic", 479, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 484
    Type::Struct { def: "io.k8s.api.resource.v1beta1.DeviceAllocationConfiguration", name: "DeviceAllocationConfiguration", fields: &[
        Field::new("opaque", 502, Plain),
        Field::new("requests", 625, Atomic),
        Field::new("source", 623, Plain),
    ] },
    // 485
    Type::Struct { def: "io.k8s.api.resource.v1beta1.DeviceAllocationResult", name: "DeviceAllocationResult", fields: &[
        Field::new("config", 776, Atomic),
        Field::new("results", 777, Atomic),
    ] },
    // 486
    Type::Struct { def: "io.k8s.api.resource.v1beta1.DeviceAttribute", name: "DeviceAttribute", fields: &[
        Field::new("bool", 651, Plain),
        Field::new("int", 635, Plain),
        Field::new("string", 623, Plain),
        Field::new("version", 623, Plain),
    ] },
    // 487
    Type::Struct { def: "io.k8s.api.resource.v1beta1.DeviceCapacity", name: "DeviceCapacity", fields: &[
        Field::new("value", 592, Plain),
    ] },
    // 488
    Type::Struct { def: "io.k8s.api.resource.v1beta1.DeviceClaim", name: "DeviceClaim", fields: &[
        Field::new("config", 778, Atomic),
        Field::new("constraints", 779, Atomic),
        Field::new("requests", 780, Atomic),
    ] },
    // 489
    Type::Struct { def: "io.k8s.api.resource.v1beta1.DeviceClaimConfiguration", name: "DeviceClaimConfiguration", fields: &[
        Field::new("opaque", 502, Plain),
        Field::new("requests", 625, Atomic),
    ] },
    // 490
    Type::Struct { def: "io.k8s.api.resource.v1beta1.DeviceClass", name: "DeviceClass", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 492, Plain),
    ] },
    // 491
    Type::Struct { def: "io.k8s.api.resource.v1beta1.DeviceClassConfiguration", name: "DeviceClassConfiguration", fields: &[
        Field::new("opaque", 502, Plain),
    ] },
    // 492
    Type::Struct { def: "io.k8s.api.resource.v1beta1.DeviceClassSpec", name: "DeviceClassSpec", fields: &[
        Field::new("config", 781, Atomic),
        Field::new("selectors", 782, Atomic),
    ] },
    // 493
    Type::Struct { def: "io.k8s.api.resource.v1beta1.DeviceConstraint", name: "DeviceConstraint", fields: &[
        Field::new("matchAttribute", 623, Plain),
        Field::new("requests", 625, Atomic),
    ] },
    // 494
    Type::Struct { def: "io.k8s.api.resource.v1beta1.DeviceCounterConsumption", name: "DeviceCounterConsumption", fields: &[
        Field::new("counterSet", 623, Plain),
        Field::new("counters", 775, Plain),
    ] },
    // 495
    Type::Struct { def: "io.k8s.api.resource.v1beta1.DeviceRequest", name: "DeviceRequest", fields: &[
        Field::new("adminAccess", 651, Plain),
        Field::new("allocationMode", 623, Plain),
        Field::new("count", 635, Plain),
        Field::new("deviceClassName", 623, Plain),
        Field::new("firstAvailable", 783, Atomic),
        Field::new("name", 623, Plain),
        Field::new("selectors", 782, Atomic),
        Field::new("tolerations", 784, Atomic),
    ] },
    // 496
    Type::Struct { def: "io.k8s.api.resource.v1beta1.DeviceRequestAllocationResult", name: "DeviceRequestAllocationResult", fields: &[
        Field::new("adminAccess", 651, Plain),
        Field::new("device", 623, Plain),
        Field::new("driver", 623, Plain),
        Field::new("pool", 623, Plain),
        Field::new("request", 623, Plain),
        Field::new("tolerations", 784, Atomic),
    ] },
    // 497
    Type::Struct { def: "io.k8s.api.resource.v1beta1.DeviceSelector", name: "DeviceSelector", fields: &[
        Field::new("cel", 480, Plain),
    ] },
    // 498
    Type::Struct { def: "io.k8s.api.resource.v1beta1.DeviceSubRequest", name: "DeviceSubRequest", fields: &[
        Field::new("allocationMode", 623, Plain),
        Field::new("count", 635, Plain),
        Field::new("deviceClassName", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("selectors", 782, Atomic),
        Field::new("tolerations", 784, Atomic),
    ] },
    // 499
    Type::Struct { def: "io.k8s.api.resource.v1beta1.DeviceTaint", name: "DeviceTaint", fields: &[
        Field::new("effect", 623, Plain),
        Field::new("key", 623, Plain),
        Field::new("timeAdded", 615, Plain),
        Field::new("value", 623, Plain),
    ] },
    // 500
    Type::Struct { def: "io.k8s.api.resource.v1beta1.DeviceToleration", name: "DeviceToleration", fields: &[
        Field::new("effect", 623, Plain),
        Field::new("key", 623, Plain),
        Field::new("operator", 623, Plain),
        Field::new("tolerationSeconds", 635, Plain),
        Field::new("value", 623, Plain),
    ] },
    // 501
    Type::Struct { def: "io.k8s.api.resource.v1beta1.NetworkDeviceData", name: "NetworkDeviceData", fields: &[
        Field::new("hardwareAddress", 623, Plain),
        Field::new("interfaceName", 623, Plain),
        Field::new("ips", 625, Atomic),
    ] },
    // 502
    Type::Struct { def: "io.k8s.api.resource.v1beta1.OpaqueDeviceConfiguration", name: "OpaqueDeviceConfiguration", fields: &[
        Field::new("driver", 623, Plain),
        Field::new("parameters", 616, Plain),
    ] },
    // 503
    Type::Struct { def: "io.k8s.api.resource.v1beta1.ResourceClaim", name: "ResourceClaim", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 505, Plain),
        Field::new("status", 506, Plain),
    ] },
    // 504
    Type::Struct { def: "io.k8s.api.resource.v1beta1.ResourceClaimConsumerReference", name: "ResourceClaimConsumerReference", fields: &[
        Field::new("apiGroup", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("resource", 623, Plain),
        Field::new("uid", 623, Plain),
    ] },
    // 505
    Type::Struct { def: "io.k8s.api.resource.v1beta1.ResourceClaimSpec", name: "ResourceClaimSpec", fields: &[
        Field::new("devices", 488, Plain),
    ] },
    // 506
    Type::Struct { def: "io.k8s.api.resource.v1beta1.ResourceClaimStatus", name: "ResourceClaimStatus", fields: &[
        Field::new("allocation", 478, Plain),
        Field::new("devices", 785, Keyed(&["driver", "device", "pool"])),
        Field::new("reservedFor", 786, Keyed(&["uid"])),
    ] },
    // 507
    Type::Struct { def: "io.k8s.api.resource.v1beta1.ResourceClaimTemplate", name: "ResourceClaimTemplate", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 508, Plain),
    ] },
    // 508
    Type::Struct { def: "io.k8s.api.resource.v1beta1.ResourceClaimTemplateSpec", name: "ResourceClaimTemplateSpec", fields: &[
        Field::new("metadata", 608, Plain),
        Field::new("spec", 505, Plain),
    ] },
    // 509
    Type::Struct { def: "io.k8s.api.resource.v1beta1.ResourcePool", name: "ResourcePool", fields: &[
        Field::new("generation", 635, Plain),
        Field::new("name", 623, Plain),
        Field::new("resourceSliceCount", 635, Plain),
    ] },
    // 510
    Type::Struct { def: "io.k8s.api.resource.v1beta1.ResourceSlice", name: "ResourceSlice", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 511, Plain),
    ] },
    // 511
    Type::Struct { def: "io.k8s.api.resource.v1beta1.ResourceSliceSpec", name: "ResourceSliceSpec", fields: &[
        Field::new("allNodes", 651, Plain),
        Field::new("devices", 787, Atomic),
        Field::new("driver", 623, Plain),
        Field::new("nodeName", 623, Plain),
        Field::new("nodeSelector", 261, Plain),
        Field::new("perDeviceNodeSelection", 651, Plain),
        Field::new("pool", 509, Plain),
        Field::new("sharedCounters", 788, Atomic),
    ] },
    // 512
    Type::Struct { def: "io.k8s.api.resource.v1beta2.AllocatedDeviceStatus", name: "AllocatedDeviceStatus", fields: &[
        Field::new("conditions", 634, Keyed(&["type"])),
        Field::new("data", 616, Plain),
        Field::new("device", 623, Plain),
        Field::new("driver", 623, Plain),
        Field::new("networkData", 536, Plain),
        Field::new("pool", 623, Plain),
    ] },
    // 513
    Type::Struct { def: "io.k8s.api.resource.v1beta2.AllocationResult", name: "AllocationResult", fields: &[
        Field::new("devices", 519, Plain),
        Field::new("nodeSelector", 261, Plain),
    ] },
    // 514
    Type::Struct { def: "io.k8s.api.resource.v1beta2.CELDeviceSelector", name: "CELDeviceSelector", fields: &[
        Field::new("expression", 623, Plain),
    ] },
    // 515
    Type::Struct { def: "io.k8s.api.resource.v1beta2.Counter", name: "Counter", fields: &[
        Field::new("value", 592, Plain),
    ] },
    // 516
    Type::Struct { def: "io.k8s.api.resource.v1beta2.CounterSet", name: "CounterSet", fields: &[
        Field::new("counters", 789, Plain),
        Field::new("name", 623, Plain),
    ] },
    // 517
    Type::Struct { def: "io.k8s.api.resource.v1beta2.Device", name: "Device", fields: &[
        Field::new("allNodes", 651, Plain),
        Field::new("attributes", 790, Plain),
        Field::new("capacity", 791, Plain),
        Field::new("consumesCounters", 792, Atomic),
        Field::new("name", 623, Plain),
        Field::new("nodeName", 623, Plain),
        Field::new("nodeSelector", 261, Plain),
        Field::new("taints", 793, Atomic),
    ] },
    // 518
    Type::Struct { def: "io.k8s.api.resource.v1beta2.DeviceAllocationConfiguration", name: "DeviceAllocationConfiguration", fields: &[
        Field::new("opaque", 537, Plain),
        Field::new("requests", 625, Atomic),
        Field::new("source", 623, Plain),
    ] },
    // 519
    Type::Struct { def: "io.k8s.api.resource.v1beta2.DeviceAllocationResult", name: "DeviceAllocationResult", fields: &[
        Field::new("config", 794, Atomic),
        Field::new("results", 795, Atomic),
    ] },
    // 520
    Type::Struct { def: "io.k8s.api.resource.v1beta2.DeviceAttribute", name: "DeviceAttribute", fields: &[
        Field::new("bool", 651, Plain),
        Field::new("int", 635, Plain),
        Field::new("string", 623, Plain),
        Field::new("version", 623, Plain),
    ] },
    // 521
    Type::Struct { def: "io.k8s.api.resource.v1beta2.DeviceCapacity", name: "DeviceCapacity", fields: &[
        Field::new("value", 592, Plain),
    ] },
    // 522
    Type::Struct { def: "io.k8s.api.resource.v1beta2.DeviceClaim", name: "DeviceClaim", fields: &[
        Field::new("config", 796, Atomic),
        Field::new("constraints", 797, Atomic),
        Field::new("requests", 798, Atomic),
    ] },
    // 523
    Type::Struct { def: "io.k8s.api.resource.v1beta2.DeviceClaimConfiguration", name: "DeviceClaimConfiguration", fields: &[
        Field::new("opaque", 537, Plain),
        Field::new("requests", 625, Atomic),
    ] },
    // 524
    Type::Struct { def: "io.k8s.api.resource.v1beta2.DeviceClass", name: "DeviceClass", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 526, Plain),
    ] },
    // 525
    Type::Struct { def: "io.k8s.api.resource.v1beta2.DeviceClassConfiguration", name: "DeviceClassConfiguration", fields: &[
        Field::new("opaque", 537, Plain),
    ] },
    // 526
    Type::Struct { def: "io.k8s.api.resource.v1beta2.DeviceClassSpec", name: "DeviceClassSpec", fields: &[
        Field::new("config", 799, Atomic),
        Field::new("selectors", 800, Atomic),
    ] },
    // 527
    Type::Struct { def: "io.k8s.api.resource.v1beta2.DeviceConstraint", name: "DeviceConstraint", fields: &[
        Field::new("matchAttribute", 623, Plain),
        Field::new("requests", 625, Atomic),
    ] },
    // 528
    Type::Struct { def: "io.k8s.api.resource.v1beta2.DeviceCounterConsumption", name: "DeviceCounterConsumption", fields: &[
        Field::new("counterSet", 623, Plain),
        Field::new("counters", 789, Plain),
    ] },
    // 529
    Type::Struct { def: "io.k8s.api.resource.v1beta2.DeviceRequest", name: "DeviceRequest", fields: &[
        Field::new("exactly", 535, Plain),
        Field::new("firstAvailable", 801, Atomic),
        Field::new("name", 623, Plain),
    ] },
    // 530
    Type::Struct { def: "io.k8s.api.resource.v1beta2.DeviceRequestAllocationResult", name: "DeviceRequestAllocationResult", fields: &[
        Field::new("adminAccess", 651, Plain),
        Field::new("device", 623, Plain),
        Field::new("driver", 623, Plain),
        Field::new("pool", 623, Plain),
        Field::new("request", 623, Plain),
        Field::new("tolerations", 802, Atomic),
    ] },
    // 531
    Type::Struct { def: "io.k8s.api.resource.v1beta2.DeviceSelector", name: "DeviceSelector", fields: &[
        Field::new("cel", 514, Plain),
    ] },
    // 532
    Type::Struct { def: "io.k8s.api.resource.v1beta2.DeviceSubRequest", name: "DeviceSubRequest", fields: &[
        Field::new("allocationMode", 623, Plain),
        Field::new("count", 635, Plain),
        Field::new("deviceClassName", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("selectors", 800, Atomic),
        Field::new("tolerations", 802, Atomic),
    ] },
    // 533
    Type::Struct { def: "io.k8s.api.resource.v1beta2.DeviceTaint", name: "DeviceTaint", fields: &[
        Field::new("effect", 623, Plain),
        Field::new("key", 623, Plain),
        Field::new("timeAdded", 615, Plain),
        Field::new("value", 623, Plain),
    ] },
    // 534
    Type::Struct { def: "io.k8s.api.resource.v1beta2.DeviceToleration", name: "DeviceToleration", fields: &[
        Field::new("effect", 623, Plain),
        Field::new("key", 623, Plain),
        Field::new("operator", 623, Plain),
        Field::new("tolerationSeconds", 635, Plain),
        Field::new("value", 623, Plain),
    ] },
    // 535
    Type::Struct { def: "io.k8s.api.resource.v1beta2.ExactDeviceRequest", name: "ExactDeviceRequest", fields: &[
        Field::new("adminAccess", 651, Plain),
        Field::new("allocationMode", 623, Plain),
        Field::new("count", 635, Plain),
        Field::new("deviceClassName", 623, Plain),
        Field::new("selectors", 800, Atomic),
        Field::new("tolerations", 802, Atomic),
    ] },
    // 536
    Type::Struct { def: "io.k8s.api.resource.v1beta2.NetworkDeviceData", name: "NetworkDeviceData", fields: &[
        Field::new("hardwareAddress", 623, Plain),
        Field::new("interfaceName", 623, Plain),
        Field::new("ips", 625, Atomic),
    ] },
    // 537
    Type::Struct { def: "io.k8s.api.resource.v1beta2.OpaqueDeviceConfiguration", name: "OpaqueDeviceConfiguration", fields: &[
        Field::new("driver", 623, Plain),
        Field::new("parameters", 616, Plain),
    ] },
    // 538
    Type::Struct { def: "io.k8s.api.resource.v1beta2.ResourceClaim", name: "ResourceClaim", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 540, Plain),
        Field::new("status", 541, Plain),
    ] },
    // 539
    Type::Struct { def: "io.k8s.api.resource.v1beta2.ResourceClaimConsumerReference", name: "ResourceClaimConsumerReference", fields: &[
        Field::new("apiGroup", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("resource", 623, Plain),
        Field::new("uid", 623, Plain),
    ] },
    // 540
    Type::Struct { def: "io.k8s.api.resource.v1beta2.ResourceClaimSpec", name: "ResourceClaimSpec", fields: &[
        Field::new("devices", 522, Plain),
    ] },
    // 541
    Type::Struct { def: "io.k8s.api.resource.v1beta2.ResourceClaimStatus", name: "ResourceClaimStatus", fields: &[
        Field::new("allocation", 513, Plain),
        Field::new("devices", 803, Keyed(&["driver", "device", "pool"])),
        Field::new("reservedFor", 804, Keyed(&["uid"])),
    ] },
    // 542
    Type::Struct { def: "io.k8s.api.resource.v1beta2.ResourceClaimTemplate", name: "ResourceClaimTemplate", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 543, Plain),
    ] },
    // 543
    Type::Struct { def: "io.k8s.api.resource.v1beta2.ResourceClaimTemplateSpec", name: "ResourceClaimTemplateSpec", fields: &[
        Field::new("metadata", 608, Plain),
        Field::new("spec", 540, Plain),
    ] },
    // 544
    Type::Struct { def: "io.k8s.api.resource.v1beta2.ResourcePool", name: "ResourcePool", fields: &[
        Field::new("generation", 635, Plain),
        Field::new("name", 623, Plain),
        Field::new("resourceSliceCount", 635, Plain),
    ] },
    // 545
    Type::Struct { def: "io.k8s.api.resource.v1beta2.ResourceSlice", name: "ResourceSlice", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 546, Plain),
    ] },
    // 546
    Type::Struct { def: "io.k8s.api.resource.v1beta2.ResourceSliceSpec", name: "ResourceSliceSpec", fields: &[
        Field::new("allNodes", 651, Plain),
        Field::new("devices", 805, Atomic),
        Field::new("driver", 623, Plain),
        Field::new("nodeName", 623, Plain),
        Field::new("nodeSelector", 261, Plain),
        Field::new("perDeviceNodeSelection", 651, Plain),
        Field::new("pool", 544, Plain),
        Field::new("sharedCounters", 806, Atomic),
    ] },
    // 547
    Type::Struct { def: "io.k8s.api.scheduling.v1.PriorityClass", name: "PriorityClass", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("description", 623, Plain),
        Field::new("globalDefault", 651, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("preemptionPolicy", 623, Plain),
        Field::new("value", 628, Plain),
    ] },
    // 548
    Type::Struct { def: "io.k8s.api.storage.v1.CSIDriver", name: "CSIDriver", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 549, Plain),
    ] },
    // 549
    Type::Struct { def: "io.k8s.api.storage.v1.CSIDriverSpec", name: "CSIDriverSpec", fields: &[
        Field::new("attachRequired", 651, Plain),
        Field::new("fsGroupPolicy", 623, Plain),
        Field::new("nodeAllocatableUpdatePeriodSeconds", 635, Plain),
        Field::new("podInfoOnMount", 651, Plain),
        Field::new("requiresRepublish", 651, Plain),
        Field::new("seLinuxMount", 651, Plain),
        Field::new("storageCapacity", 651, Plain),
        Field::new("tokenRequests", 807, Atomic),
        Field::new("volumeLifecycleModes", 625, Set),
    ] },
    // 550
    Type::Struct { def: "io.k8s.api.storage.v1.CSINode", name: "CSINode", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 552, Plain),
    ] },
    // 551
    Type::Struct { def: "io.k8s.api.storage.v1.CSINodeDriver", name: "CSINodeDriver", fields: &[
        Field::new("allocatable", 561, Plain),
        Field::new("name", 623, Plain),
        Field::new("nodeID", 623, Plain),
        Field::new("topologyKeys", 625, Atomic),
    ] },
    // 552
    Type::Struct { def: "io.k8s.api.storage.v1.CSINodeSpec", name: "CSINodeSpec", fields: &[
        Field::new("drivers", 808, Keyed(&["name"])),
    ] },
    // 553
    Type::Struct { def: "io.k8s.api.storage.v1.CSIStorageCapacity", name: "CSIStorageCapacity", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("capacity", 592, Plain),
        Field::new("kind", 623, Plain),
        Field::new("maximumVolumeSize", 592, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("nodeTopology", 603, Plain),
        Field::new("storageClassName", 623, Plain),
    ] },
    // 554
    Type::Struct { def: "io.k8s.api.storage.v1.StorageClass", name: "StorageClass", fields: &[
        Field::new("allowVolumeExpansion", 651, Plain),
        Field::new("allowedTopologies", 809, Atomic),
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("mountOptions", 625, Atomic),
        Field::new("parameters", 672, Plain),
        Field::new("provisioner", 623, Plain),
        Field::new("reclaimPolicy", 623, Plain),
        Field::new("volumeBindingMode", 623, Plain),
    ] },
    // 555
    Type::Struct { def: "io.k8s.api.storage.v1.TokenRequest", name: "TokenRequest", fields: &[
        Field::new("audience", 623, Plain),
        Field::new("expirationSeconds", 635, Plain),
    ] },
    // 556
    Type::Struct { def: "io.k8s.api.storage.v1.VolumeAttachment", name: "VolumeAttachment", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 558, Plain),
        Field::new("status", 559, Plain),
    ] },
    // 557
    Type::Struct { def: "io.k8s.api.storage.v1.VolumeAttachmentSource", name: "VolumeAttachmentSource", fields: &[
        Field::new("inlineVolumeSpec", 277, Plain),
        Field::new("persistentVolumeName", 623, Plain),
    ] },
    // 558
    Type::Struct { def: "io.k8s.api.storage.v1.VolumeAttachmentSpec", name: "VolumeAttachmentSpec", fields: &[
        Field::new("attacher", 623, Plain),
        Field::new("nodeName", 623, Plain),
        Field::new("source", 557, Plain),
    ] },
    // 559
    Type::Struct { def: "io.k8s.api.storage.v1.VolumeAttachmentStatus", name: "VolumeAttachmentStatus", fields: &[
        Field::new("attachError", 560, Plain),
        Field::new("attached", 651, Plain),
        Field::new("attachmentMetadata", 672, Plain),
        Field::new("detachError", 560, Plain),
    ] },
    // 560
    Type::Struct { def: "io.k8s.api.storage.v1.VolumeError", name: "VolumeError", fields: &[
        Field::new("errorCode", 628, Plain),
        Field::new("message", 623, Plain),
        Field::new("time", 615, Plain),
    ] },
    // 561
    Type::Struct { def: "io.k8s.api.storage.v1.VolumeNodeResources", name: "VolumeNodeResources", fields: &[
        Field::new("count", 628, Plain),
    ] },
    // 562
    Type::Struct { def: "io.k8s.api.storage.v1alpha1.VolumeAttributesClass", name: "VolumeAttributesClass", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("driverName", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("parameters", 672, Plain),
    ] },
    // 563
    Type::Struct { def: "io.k8s.api.storage.v1beta1.VolumeAttributesClass", name: "VolumeAttributesClass", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("driverName", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("parameters", 672, Plain),
    ] },
    // 564
    Type::Struct { def: "io.k8s.api.storagemigration.v1alpha1.GroupVersionResource", name: "GroupVersionResource", fields: &[
        Field::new("group", 623, Plain),
        Field::new("resource", 623, Plain),
        Field::new("version", 623, Plain),
    ] },
    // 565
    Type::Struct { def: "io.k8s.api.storagemigration.v1alpha1.MigrationCondition", name: "MigrationCondition", fields: &[
        Field::new("lastUpdateTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 566
    Type::Struct { def: "io.k8s.api.storagemigration.v1alpha1.StorageVersionMigration", name: "StorageVersionMigration", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 567, Plain),
        Field::new("status", 568, Plain),
    ] },
    // 567
    Type::Struct { def: "io.k8s.api.storagemigration.v1alpha1.StorageVersionMigrationSpec", name: "StorageVersionMigrationSpec", fields: &[
        Field::new("continueToken", 623, Plain),
        Field::new("resource", 564, Plain),
    ] },
    // 568
    Type::Struct { def: "io.k8s.api.storagemigration.v1alpha1.StorageVersionMigrationStatus", name: "StorageVersionMigrationStatus", fields: &[
        Field::new("conditions", 810, Keyed(&["type"])),
        Field::new("resourceVersion", 623, Plain),
    ] },
    // 569
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceColumnDefinition", name: "CustomResourceColumnDefinition", fields: &[
        Field::new("description", 623, Plain),
        Field::new("format", 623, Plain),
        Field::new("jsonPath", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("priority", 628, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 570
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceConversion", name: "CustomResourceConversion", fields: &[
        Field::new("strategy", 623, Plain),
        Field::new("webhook", 591, Plain),
    ] },
    // 571
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition", name: "CustomResourceDefinition", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 574, Plain),
        Field::new("status", 575, Plain),
    ] },
    // 572
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionCondition", name: "CustomResourceDefinitionCondition", fields: &[
        Field::new("lastTransitionTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 573
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionNames", name: "CustomResourceDefinitionNames", fields: &[
        Field::new("categories", 625, Atomic),
        Field::new("kind", 623, Plain),
        Field::new("listKind", 623, Plain),
        Field::new("plural", 623, Plain),
        Field::new("shortNames", 625, Atomic),
        Field::new("singular", 623, Plain),
    ] },
    // 574
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionSpec", name: "CustomResourceDefinitionSpec", fields: &[
        Field::new("conversion", 570, Plain),
        Field::new("group", 623, Plain),
        Field::new("names", 573, Plain),
        Field::new("preserveUnknownFields", 651, Plain),
        Field::new("scope", 623, Plain),
        Field::new("versions", 811, Atomic),
    ] },
    // 575
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionStatus", name: "CustomResourceDefinitionStatus", fields: &[
        Field::new("acceptedNames", 573, Plain),
        Field::new("conditions", 812, Keyed(&["type"])),
        Field::new("storedVersions", 625, Atomic),
    ] },
    // 576
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionVersion", name: "CustomResourceDefinitionVersion", fields: &[
        Field::new("additionalPrinterColumns", 813, Atomic),
        Field::new("deprecated", 651, Plain),
        Field::new("deprecationWarning", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("schema", 580, Plain),
        Field::new("selectableFields", 814, Atomic),
        Field::new("served", 651, Plain),
        Field::new("storage", 651, Plain),
        Field::new("subresources", 579, Plain),
    ] },
    // 577
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceSubresourceScale", name: "CustomResourceSubresourceScale", fields: &[
        Field::new("labelSelectorPath", 623, Plain),
        Field::new("specReplicasPath", 623, Plain),
        Field::new("statusReplicasPath", 623, Plain),
    ] },
    // 578
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceSubresourceStatus", name: "CustomResourceSubresourceStatus", fields: &[
    ] },
    // 579
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceSubresources", name: "CustomResourceSubresources", fields: &[
        Field::new("scale", 577, Plain),
        Field::new("status", 578, Plain),
    ] },
    // 580
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceValidation", name: "CustomResourceValidation", fields: &[
        Field::new("openAPIV3Schema", 583, Plain),
    ] },
    // 581
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.ExternalDocumentation", name: "ExternalDocumentation", fields: &[
        Field::new("description", 623, Plain),
        Field::new("url", 623, Plain),
    ] },
    // 582
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON", name: "JSON", fields: &[
    ] },
    // 583
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps", name: "JSONSchemaProps", fields: &[
        Field::new("$ref", 623, Plain),
        Field::new("$schema", 623, Plain),
        Field::new("additionalItems", 585, Plain),
        Field::new("additionalProperties", 585, Plain),
        Field::new("allOf", 815, Atomic),
        Field::new("anyOf", 815, Atomic),
        Field::new("default", 582, Plain),
        Field::new("definitions", 816, Plain),
        Field::new("dependencies", 817, Plain),
        Field::new("description", 623, Plain),
        Field::new("enum", 818, Atomic),
        Field::new("example", 582, Plain),
        Field::new("exclusiveMaximum", 651, Plain),
        Field::new("exclusiveMinimum", 651, Plain),
        Field::new("externalDocs", 581, Plain),
        Field::new("format", 623, Plain),
        Field::new("id", 623, Plain),
        Field::new("items", 584, Plain),
        Field::new("maxItems", 635, Plain),
        Field::new("maxLength", 635, Plain),
        Field::new("maxProperties", 635, Plain),
        Field::new("maximum", 819, Plain),
        Field::new("minItems", 635, Plain),
        Field::new("minLength", 635, Plain),
        Field::new("minProperties", 635, Plain),
        Field::new("minimum", 819, Plain),
        Field::new("multipleOf", 819, Plain),
        Field::new("not", 583, Plain),
        Field::new("nullable", 651, Plain),
        Field::new("oneOf", 815, Atomic),
        Field::new("pattern", 623, Plain),
        Field::new("patternProperties", 816, Plain),
        Field::new("properties", 816, Plain),
        Field::new("required", 625, Atomic),
        Field::new("title", 623, Plain),
        Field::new("type", 623, Plain),
        Field::new("uniqueItems", 651, Plain),
        Field::new("x-kubernetes-embedded-resource", 651, Plain),
        Field::new("x-kubernetes-int-or-string", 651, Plain),
        Field::new("x-kubernetes-list-map-keys", 625, Atomic),
        Field::new("x-kubernetes-list-type", 623, Plain),
        Field::new("x-kubernetes-map-type", 623, Plain),
        Field::new("x-kubernetes-preserve-unknown-fields", 651, Plain),
        Field::new("x-kubernetes-validations", 820, Keyed(&["rule"])),
    ] },
    // 584
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray", name: "JSONSchemaPropsOrArray", fields: &[
    ] },
    // 585
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool", name: "JSONSchemaPropsOrBool", fields: &[
    ] },
    // 586
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray", name: "JSONSchemaPropsOrStringArray", fields: &[
    ] },
    // 587
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.SelectableField", name: "SelectableField", fields: &[
        Field::new("jsonPath", 623, Plain),
    ] },
    // 588
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.ServiceReference", name: "ServiceReference", fields: &[
        Field::new("name", 623, Plain),
        Field::new("namespace", 623, Plain),
        Field::new("path", 623, Plain),
        Field::new("port", 628, Plain),
    ] },
    // 589
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.ValidationRule", name: "ValidationRule", fields: &[
        Field::new("fieldPath", 623, Plain),
        Field::new("message", 623, Plain),
        Field::new("messageExpression", 623, Plain),
        Field::new("optionalOldSelf", 651, Plain),
        Field::new("reason", 623, Plain),
        Field::new("rule", 623, Plain),
    ] },
    // 590
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.WebhookClientConfig", name: "WebhookClientConfig", fields: &[
        Field::new("caBundle", 637, Plain),
        Field::new("service", 588, Plain),
        Field::new("url", 623, Plain),
    ] },
    // 591
    Type::Struct { def: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.WebhookConversion", name: "WebhookConversion", fields: &[
        Field::new("clientConfig", 590, Plain),
        Field::new("conversionReviewVersions", 625, Atomic),
    ] },
    // 592
    Type::Struct { def: "io.k8s.apimachinery.pkg.api.resource.Quantity", name: "Quantity", fields: &[
    ] },
    // 593
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup", name: "APIGroup", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("preferredVersion", 602, Plain),
        Field::new("serverAddressByClientCIDRs", 821, Atomic),
        Field::new("versions", 822, Atomic),
    ] },
    // 594
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList", name: "APIGroupList", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("groups", 823, Atomic),
        Field::new("kind", 623, Plain),
    ] },
    // 595
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.APIResource", name: "APIResource", fields: &[
        Field::new("categories", 625, Atomic),
        Field::new("group", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("namespaced", 651, Plain),
        Field::new("shortNames", 625, Atomic),
        Field::new("singularName", 623, Plain),
        Field::new("storageVersionHash", 623, Plain),
        Field::new("verbs", 625, Atomic),
        Field::new("version", 623, Plain),
    ] },
    // 596
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList", name: "APIResourceList", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("groupVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("resources", 824, Atomic),
    ] },
    // 597
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions", name: "APIVersions", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("serverAddressByClientCIDRs", 821, Atomic),
        Field::new("versions", 625, Atomic),
    ] },
    // 598
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.Condition", name: "Condition", fields: &[
        Field::new("lastTransitionTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("observedGeneration", 635, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 599
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", name: "DeleteOptions", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("dryRun", 625, Atomic),
        Field::new("gracePeriodSeconds", 635, Plain),
        Field::new("ignoreStoreReadErrorWithClusterBreakingPotential", 651, Plain),
        Field::new("kind", 623, Plain),
        Field::new("orphanDependents", 651, Plain),
        Field::new("preconditions", 610, Plain),
        Field::new("propagationPolicy", 623, Plain),
    ] },
    // 600
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.FieldSelectorRequirement", name: "FieldSelectorRequirement", fields: &[
        Field::new("key", 623, Plain),
        Field::new("operator", 623, Plain),
        Field::new("values", 625, Atomic),
    ] },
    // 601
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1", name: "FieldsV1", fields: &[
    ] },
    // 602
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.GroupVersionForDiscovery", name: "GroupVersionForDiscovery", fields: &[
        Field::new("groupVersion", 623, Plain),
        Field::new("version", 623, Plain),
    ] },
    // 603
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector", name: "LabelSelector", fields: &[
        Field::new("matchExpressions", 658, Atomic),
        Field::new("matchLabels", 672, Plain),
    ] },
    // 604
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement", name: "LabelSelectorRequirement", fields: &[
        Field::new("key", 623, Plain),
        Field::new("operator", 623, Plain),
        Field::new("values", 625, Atomic),
    ] },
    // 605
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta", name: "ListMeta", fields: &[
        Field::new("continue", 623, Plain),
        Field::new("remainingItemCount", 635, Plain),
        Field::new("resourceVersion", 623, Plain),
        Field::new("selfLink", 623, Plain),
    ] },
    // 606
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry", name: "ManagedFieldsEntry", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("fieldsType", 623, Plain),
        Field::new("fieldsV1", 601, Plain),
        Field::new("manager", 623, Plain),
        Field::new("operation", 623, Plain),
        Field::new("subresource", 623, Plain),
        Field::new("time", 615, Plain),
    ] },
    // 607
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime", name: "MicroTime", fields: &[
    ] },
    // 608
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", name: "ObjectMeta", fields: &[
        Field::new("annotations", 672, Plain),
        Field::new("creationTimestamp", 615, Plain),
        Field::new("deletionGracePeriodSeconds", 635, Plain),
        Field::new("deletionTimestamp", 615, Plain),
        Field::new("finalizers", 625, Set),
        Field::new("generateName", 623, Plain),
        Field::new("generation", 635, Plain),
        Field::new("labels", 672, Plain),
        Field::new("managedFields", 825, Atomic),
        Field::new("name", 623, Plain),
        Field::new("namespace", 623, Plain),
        Field::new("ownerReferences", 826, Keyed(&["uid"])),
        Field::new("resourceVersion", 623, Plain),
        Field::new("selfLink", 623, Plain),
        Field::new("uid", 623, Plain),
    ] },
    // 609
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference", name: "OwnerReference", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("blockOwnerDeletion", 651, Plain),
        Field::new("controller", 651, Plain),
        Field::new("kind", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("uid", 623, Plain),
    ] },
    // 610
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.Preconditions", name: "Preconditions", fields: &[
        Field::new("resourceVersion", 623, Plain),
        Field::new("uid", 623, Plain),
    ] },
    // 611
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.ServerAddressByClientCIDR", name: "ServerAddressByClientCIDR", fields: &[
        Field::new("clientCIDR", 623, Plain),
        Field::new("serverAddress", 623, Plain),
    ] },
    // 612
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.Status", name: "Status", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("code", 628, Plain),
        Field::new("details", 614, Plain),
        Field::new("kind", 623, Plain),
        Field::new("message", 623, Plain),
        Field::new("metadata", 605, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
    ] },
    // 613
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.StatusCause", name: "StatusCause", fields: &[
        Field::new("field", 623, Plain),
        Field::new("message", 623, Plain),
        Field::new("reason", 623, Plain),
    ] },
    // 614
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.StatusDetails", name: "StatusDetails", fields: &[
        Field::new("causes", 827, Atomic),
        Field::new("group", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("name", 623, Plain),
        Field::new("retryAfterSeconds", 628, Plain),
        Field::new("uid", 623, Plain),
    ] },
    // 615
    Type::Struct { def: "io.k8s.apimachinery.pkg.apis.meta.v1.Time", name: "Time", fields: &[
    ] },
    // 616
    Type::Struct { def: "io.k8s.apimachinery.pkg.runtime.RawExtension", name: "RawExtension", fields: &[
    ] },
    // 617
    Type::Struct { def: "io.k8s.apimachinery.pkg.util.intstr.IntOrString", name: "IntOrString", fields: &[
    ] },
    // 618
    Type::Struct { def: "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIService", name: "APIService", fields: &[
        Field::new("apiVersion", 623, Plain),
        Field::new("kind", 623, Plain),
        Field::new("metadata", 608, Plain),
        Field::new("spec", 620, Plain),
        Field::new("status", 621, Plain),
    ] },
    // 619
    Type::Struct { def: "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceCondition", name: "APIServiceCondition", fields: &[
        Field::new("lastTransitionTime", 615, Plain),
        Field::new("message", 623, Plain),
        Field::new("reason", 623, Plain),
        Field::new("status", 623, Plain),
        Field::new("type", 623, Plain),
    ] },
    // 620
    Type::Struct { def: "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceSpec", name: "APIServiceSpec", fields: &[
        Field::new("caBundle", 637, Plain),
        Field::new("group", 623, Plain),
        Field::new("groupPriorityMinimum", 628, Plain),
        Field::new("insecureSkipTLSVerify", 651, Plain),
        Field::new("service", 622, Plain),
        Field::new("version", 623, Plain),
        Field::new("versionPriority", 628, Plain),
    ] },
    // 621
    Type::Struct { def: "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceStatus", name: "APIServiceStatus", fields: &[
        Field::new("conditions", 828, Keyed(&["type"])),
    ] },
    // 622
    Type::Struct { def: "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.ServiceReference", name: "ServiceReference", fields: &[
        Field::new("name", 623, Plain),
        Field::new("namespace", 623, Plain),
        Field::new("port", 628, Plain),
    ] },
    Type::Scalar("string"), // 623
    Type::List(6), // 624
    Type::List(623), // 625
    Type::List(2), // 626
    Type::List(9), // 627
    Type::Scalar("int32"), // 628
    Type::List(4), // 629
    Type::List(1), // 630
    Type::List(0), // 631
    Type::List(19), // 632
    Type::List(20), // 633
    Type::List(598), // 634
    Type::Scalar("int64"), // 635
    Type::List(17), // 636
    Type::Scalar("slice"), // 637
    Type::List(31), // 638
    Type::List(24), // 639
    Type::List(30), // 640
    Type::List(34), // 641
    Type::List(39), // 642
    Type::List(36), // 643
    Type::List(35), // 644
    Type::List(37), // 645
    Type::List(48), // 646
    Type::List(49), // 647
    Type::List(52), // 648
    Type::List(50), // 649
    Type::List(57), // 650
    Type::Scalar("bool"), // 651
    Type::List(62), // 652
    Type::List(67), // 653
    Type::List(271), // 654
    Type::List(74), // 655
    Type::Map(625), // 656
    Type::List(600), // 657
    Type::List(604), // 658
    Type::List(94), // 659
    Type::List(96), // 660
    Type::List(117), // 661
    Type::List(125), // 662
    Type::List(121), // 663
    Type::List(126), // 664
    Type::List(269), // 665
    Type::List(139), // 666
    Type::List(146), // 667
    Type::List(628), // 668
    Type::List(145), // 669
    Type::List(148), // 670
    Type::List(151), // 671
    Type::Map(623), // 672
    Type::List(181), // 673
    Type::Map(637), // 674
    Type::List(234), // 675
    Type::List(209), // 676
    Type::List(208), // 677
    Type::List(191), // 678
    Type::List(192), // 679
    Type::List(351), // 680
    Type::List(352), // 681
    Type::Map(592), // 682
    Type::List(317), // 683
    Type::List(353), // 684
    Type::List(201), // 685
    Type::List(204), // 686
    Type::List(205), // 687
    Type::List(206), // 688
    Type::List(227), // 689
    Type::List(238), // 690
    Type::List(635), // 691
    Type::List(298), // 692
    Type::List(241), // 693
    Type::List(248), // 694
    Type::List(300), // 695
    Type::List(263), // 696
    Type::List(262), // 697
    Type::List(343), // 698
    Type::List(252), // 699
    Type::List(254), // 700
    Type::List(190), // 701
    Type::List(259), // 702
    Type::List(167), // 703
    Type::List(272), // 704
    Type::List(358), // 705
    Type::List(282), // 706
    Type::List(286), // 707
    Type::List(341), // 708
    Type::List(189), // 709
    Type::List(211), // 710
    Type::List(228), // 711
    Type::List(243), // 712
    Type::List(289), // 713
    Type::List(290), // 714
    Type::List(292), // 715
    Type::List(344), // 716
    Type::List(347), // 717
    Type::List(350), // 718
    Type::List(284), // 719
    Type::List(197), // 720
    Type::List(229), // 721
    Type::List(287), // 722
    Type::List(291), // 723
    Type::List(355), // 724
    Type::List(307), // 725
    Type::List(310), // 726
    Type::List(312), // 727
    Type::List(322), // 728
    Type::List(334), // 729
    Type::List(345), // 730
    Type::List(365), // 731
    Type::List(366), // 732
    Type::List(360), // 733
    Type::List(363), // 734
    Type::List(379), // 735
    Type::List(372), // 736
    Type::List(378), // 737
    Type::List(386), // 738
    Type::List(388), // 739
    Type::List(381), // 740
    Type::List(390), // 741
    Type::List(402), // 742
    Type::List(400), // 743
    Type::List(403), // 744
    Type::List(407), // 745
    Type::List(412), // 746
    Type::List(411), // 747
    Type::List(409), // 748
    Type::List(410), // 749
    Type::Map(615), // 750
    Type::List(603), // 751
    Type::List(435), // 752
    Type::List(439), // 753
    Type::Map(449), // 754
    Type::List(456), // 755
    Type::List(461), // 756
    Type::Map(444), // 757
    Type::List(447), // 758
    Type::List(458), // 759
    Type::List(451), // 760
    Type::List(455), // 761
    Type::List(457), // 762
    Type::List(453), // 763
    Type::List(459), // 764
    Type::List(460), // 765
    Type::List(465), // 766
    Type::List(440), // 767
    Type::List(469), // 768
    Type::List(446), // 769
    Type::List(445), // 770
    Type::Map(486), // 771
    Type::Map(487), // 772
    Type::List(494), // 773
    Type::List(499), // 774
    Type::Map(481), // 775
    Type::List(484), // 776
    Type::List(496), // 777
    Type::List(489), // 778
    Type::List(493), // 779
    Type::List(495), // 780
    Type::List(491), // 781
    Type::List(497), // 782
    Type::List(498), // 783
    Type::List(500), // 784
    Type::List(477), // 785
    Type::List(504), // 786
    Type::List(483), // 787
    Type::List(482), // 788
    Type::Map(515), // 789
    Type::Map(520), // 790
    Type::Map(521), // 791
    Type::List(528), // 792
    Type::List(533), // 793
    Type::List(518), // 794
    Type::List(530), // 795
    Type::List(523), // 796
    Type::List(527), // 797
    Type::List(529), // 798
    Type::List(525), // 799
    Type::List(531), // 800
    Type::List(532), // 801
    Type::List(534), // 802
    Type::List(512), // 803
    Type::List(539), // 804
    Type::List(517), // 805
    Type::List(516), // 806
    Type::List(555), // 807
    Type::List(551), // 808
    Type::List(346), // 809
    Type::List(565), // 810
    Type::List(576), // 811
    Type::List(572), // 812
    Type::List(569), // 813
    Type::List(587), // 814
    Type::List(583), // 815
    Type::Map(583), // 816
    Type::Map(586), // 817
    Type::List(582), // 818
    Type::Scalar("float64"), // 819
    Type::List(589), // 820
    Type::List(611), // 821
    Type::List(602), // 822
    Type::List(593), // 823
    Type::List(595), // 824
    Type::List(606), // 825
    Type::List(609), // 826
    Type::List(613), // 827
    Type::List(619), // 828
];

/// Every kind, sorted by group, kind and version.
pub(super) static KINDS: &[Kind] = &[
    Kind::new("", "v1", "APIGroup", 593),
    Kind::new("", "v1", "APIGroupList", 594),
    Kind::new("", "v1", "APIResourceList", 596),
    Kind::new("", "v1", "APIVersions", 597),
    Kind::new("", "v1", "Binding", 171),
    Kind::new("", "v1", "ComponentStatus", 182),
    Kind::new("", "v1", "ConfigMap", 183),
    Kind::new("", "v1", "Endpoints", 207),
    Kind::new("", "v1", "Event", 213),
    Kind::new("", "v1", "LimitRange", 237),
    Kind::new("", "v1", "Namespace", 247),
    Kind::new("", "v1", "Node", 251),
    Kind::new("", "v1", "PersistentVolume", 270),
    Kind::new("", "v1", "PersistentVolumeClaim", 271),
    Kind::new("", "v1", "Pod", 280),
    Kind::new("", "v1", "PodTemplate", 296),
    Kind::new("", "v1", "ReplicationController", 306),
    Kind::new("", "v1", "ResourceQuota", 313),
    Kind::new("", "v1", "Secret", 324),
    Kind::new("", "v1", "Service", 331),
    Kind::new("", "v1", "ServiceAccount", 332),
    Kind::new("", "v1", "Status", 612),
    Kind::new("admissionregistration.k8s.io", "v1alpha1", "MutatingAdmissionPolicy", 26),
    Kind::new("admissionregistration.k8s.io", "v1alpha1", "MutatingAdmissionPolicyBinding", 27),
    Kind::new("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration", 5),
    Kind::new("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy", 12),
    Kind::new("admissionregistration.k8s.io", "v1beta1", "ValidatingAdmissionPolicy", 43),
    Kind::new("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding", 13),
    Kind::new("admissionregistration.k8s.io", "v1beta1", "ValidatingAdmissionPolicyBinding", 44),
    Kind::new("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", 18),
    Kind::new("apiextensions.k8s.io", "v1", "CustomResourceDefinition", 571),
    Kind::new("apiregistration.k8s.io", "v1", "APIService", 618),
    Kind::new("apps", "v1", "ControllerRevision", 55),
    Kind::new("apps", "v1", "DaemonSet", 56),
    Kind::new("apps", "v1", "Deployment", 61),
    Kind::new("apps", "v1", "ReplicaSet", 66),
    Kind::new("apps", "v1", "StatefulSet", 73),
    Kind::new("authentication.k8s.io", "v1", "SelfSubjectReview", 81),
    Kind::new("authentication.k8s.io", "v1", "TokenRequest", 83),
    Kind::new("authentication.k8s.io", "v1", "TokenReview", 86),
    Kind::new("authorization.k8s.io", "v1", "LocalSubjectAccessReview", 92),
    Kind::new("authorization.k8s.io", "v1", "SelfSubjectAccessReview", 97),
    Kind::new("authorization.k8s.io", "v1", "SelfSubjectRulesReview", 99),
    Kind::new("authorization.k8s.io", "v1", "SubjectAccessReview", 101),
    Kind::new("autoscaling", "v1", "HorizontalPodAutoscaler", 106),
    Kind::new("autoscaling", "v2", "HorizontalPodAutoscaler", 119),
    Kind::new("autoscaling", "v1", "Scale", 109),
    Kind::new("batch", "v1", "CronJob", 135),
    Kind::new("batch", "v1", "Job", 138),
    Kind::new("certificates.k8s.io", "v1", "CertificateSigningRequest", 150),
    Kind::new("certificates.k8s.io", "v1alpha1", "ClusterTrustBundle", 154),
    Kind::new("certificates.k8s.io", "v1beta1", "ClusterTrustBundle", 156),
    Kind::new("coordination.k8s.io", "v1", "Lease", 158),
    Kind::new("coordination.k8s.io", "v1alpha2", "LeaseCandidate", 160),
    Kind::new("coordination.k8s.io", "v1beta1", "LeaseCandidate", 162),
    Kind::new("discovery.k8s.io", "v1", "EndpointSlice", 364),
    Kind::new("events.k8s.io", "v1", "Event", 367),
    Kind::new("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema", 371),
    Kind::new("flowcontrol.apiserver.k8s.io", "v1", "PriorityLevelConfiguration", 380),
    Kind::new("internal.apiserver.k8s.io", "v1alpha1", "StorageVersion", 51),
    Kind::new("networking.k8s.io", "v1", "IPAddress", 392),
    Kind::new("networking.k8s.io", "v1beta1", "IPAddress", 419),
    Kind::new("networking.k8s.io", "v1", "Ingress", 395),
    Kind::new("networking.k8s.io", "v1", "IngressClass", 397),
    Kind::new("networking.k8s.io", "v1", "NetworkPolicy", 408),
    Kind::new("networking.k8s.io", "v1", "ServiceCIDR", 416),
    Kind::new("networking.k8s.io", "v1beta1", "ServiceCIDR", 422),
    Kind::new("node.k8s.io", "v1", "RuntimeClass", 426),
    Kind::new("policy", "v1", "Eviction", 428),
    Kind::new("policy", "v1", "PodDisruptionBudget", 429),
    Kind::new("rbac.authorization.k8s.io", "v1", "ClusterRole", 433),
    Kind::new("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", 434),
    Kind::new("rbac.authorization.k8s.io", "v1", "Role", 436),
    Kind::new("rbac.authorization.k8s.io", "v1", "RoleBinding", 437),
    Kind::new("resource.k8s.io", "v1alpha3", "DeviceClass", 452),
    Kind::new("resource.k8s.io", "v1beta1", "DeviceClass", 490),
    Kind::new("resource.k8s.io", "v1beta2", "DeviceClass", 524),
    Kind::new("resource.k8s.io", "v1alpha3", "DeviceTaintRule", 462),
    Kind::new("resource.k8s.io", "v1alpha3", "ResourceClaim", 468),
    Kind::new("resource.k8s.io", "v1beta1", "ResourceClaim", 503),
    Kind::new("resource.k8s.io", "v1beta2", "ResourceClaim", 538),
    Kind::new("resource.k8s.io", "v1alpha3", "ResourceClaimTemplate", 472),
    Kind::new("resource.k8s.io", "v1beta1", "ResourceClaimTemplate", 507),
    Kind::new("resource.k8s.io", "v1beta2", "ResourceClaimTemplate", 542),
    Kind::new("resource.k8s.io", "v1alpha3", "ResourceSlice", 475),
    Kind::new("resource.k8s.io", "v1beta1", "ResourceSlice", 510),
    Kind::new("resource.k8s.io", "v1beta2", "ResourceSlice", 545),
    Kind::new("scheduling.k8s.io", "v1", "PriorityClass", 547),
    Kind::new("storage.k8s.io", "v1", "CSIDriver", 548),
    Kind::new("storage.k8s.io", "v1", "CSINode", 550),
    Kind::new("storage.k8s.io", "v1", "CSIStorageCapacity", 553),
    Kind::new("storage.k8s.io", "v1", "StorageClass", 554),
    Kind::new("storage.k8s.io", "v1", "VolumeAttachment", 556),
    Kind::new("storage.k8s.io", "v1alpha1", "VolumeAttributesClass", 562),
    Kind::new("storage.k8s.io", "v1beta1", "VolumeAttributesClass", 563),
    Kind::new("storagemigration.k8s.io", "v1alpha1", "StorageVersionMigration", 566),
];
