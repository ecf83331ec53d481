//! Where strategic merge patch differs from what the generated table
//! implies.
//!
//! k8s-openapi marks a list as a keyed map or a set either because the
//! field has `patchStrategy:"merge"` (then its `patchMergeKey` is the only
//! key, which is right for strategic merge patch) or because it has
//! `+listType=map` / `+listType=set` for server-side apply only. The second
//! kind has no patch strategy, so strategic merge patch replaces those
//! lists: they are listed here as [`ListStrategy::Replace`]. Lists keyed by
//! several fields never have a single merge key and are replaced without an
//! entry. `retainKeys` is not in the OpenAPI-derived data at all; the
//! fields whose tags carry it are listed with their derived strategy kept.
//!
//! Checked against the upstream 1.33 Go types. Keyed lists and sets not
//! listed here do have `patchStrategy:"merge"` upstream: finalizers,
//! ownerReferences, containers, initContainers, ephemeralContainers, ports
//! (containerPort / port), env, volumeMounts, volumeDevices, volumes,
//! imagePullSecrets, hostAliases, topologySpreadConstraints (topologyKey),
//! resourceClaims, schedulingGates, podCIDRs, the `conditions` of pods,
//! nodes, namespaces, PVCs, replication controllers, component statuses,
//! services, workloads, jobs, HPAs, PDBs, ServiceCIDRs, storage version
//! migrations and APIServices, node addresses, pod and host IPs,
//! ServiceAccount secrets, CSINode drivers, webhooks and match conditions,
//! admission policy variables, ResourceClaim `reservedFor`, container
//! status `volumeMounts` and `allocatedResourcesStatus`, and CRD schemas'
//! `x-kubernetes-validations` (by rule).

use corten_apimachinery::strategic::ListStrategy;

/// A correction of one field's strategic-merge-patch metadata.
#[derive(Debug)]
pub(super) struct Override {
    /// The OpenAPI definition of the struct holding the field.
    pub(super) def: &'static str,
    /// The field's JSON name.
    pub(super) field: &'static str,
    /// The list strategy, or `None` to keep the derived one.
    pub(super) strategy: Option<ListStrategy<'static>>,
    /// Whether the field's `patchStrategy` includes `retainKeys`.
    pub(super) retain_keys: bool,
}

/// A list-type map or set without a patch strategy: replaced by a patch.
const fn atomic(def: &'static str, field: &'static str) -> Override {
    Override {
        def,
        field,
        strategy: Some(ListStrategy::Replace),
        retain_keys: false,
    }
}

/// A field whose patch strategy includes `retainKeys`.
const fn retain_keys(def: &'static str, field: &'static str) -> Override {
    Override {
        def,
        field,
        strategy: None,
        retain_keys: true,
    }
}

/// Every correction, grouped by reason.
pub(super) static OVERRIDES: &[Override] = &[
    // `patchStrategy:"merge,retainKeys"`: a volume's source is a union, and
    // kubectl apply sends `$retainKeys` to clear the old member.
    retain_keys("io.k8s.api.core.v1.PodSpec", "volumes"),
    retain_keys("io.k8s.api.core.v1.PodSpec", "resourceClaims"),
    retain_keys("io.k8s.api.core.v1.PodStatus", "resourceClaimStatuses"),
    // `patchStrategy:"retainKeys"` on a struct: switching the deployment
    // strategy type drops `rollingUpdate`.
    retain_keys("io.k8s.api.apps.v1.DeploymentSpec", "strategy"),
    // Conditions with `+listType=map +listMapKey=type` but no patch strategy
    // (CRD, CSR, flow control, admission policy, DRA device and storage
    // version conditions).
    atomic(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionStatus",
        "conditions",
    ),
    atomic(
        "io.k8s.api.certificates.v1.CertificateSigningRequestStatus",
        "conditions",
    ),
    atomic("io.k8s.api.flowcontrol.v1.FlowSchemaStatus", "conditions"),
    atomic(
        "io.k8s.api.flowcontrol.v1.PriorityLevelConfigurationStatus",
        "conditions",
    ),
    atomic(
        "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicyStatus",
        "conditions",
    ),
    atomic(
        "io.k8s.api.admissionregistration.v1beta1.ValidatingAdmissionPolicyStatus",
        "conditions",
    ),
    atomic(
        "io.k8s.api.resource.v1alpha3.AllocatedDeviceStatus",
        "conditions",
    ),
    atomic(
        "io.k8s.api.resource.v1beta1.AllocatedDeviceStatus",
        "conditions",
    ),
    atomic(
        "io.k8s.api.resource.v1beta2.AllocatedDeviceStatus",
        "conditions",
    ),
    atomic(
        "io.k8s.api.apiserverinternal.v1alpha1.StorageVersionStatus",
        "conditions",
    ),
    // Other list-type maps without a patch strategy.
    atomic(
        "io.k8s.api.apiserverinternal.v1alpha1.StorageVersionStatus",
        "storageVersions",
    ),
    atomic("io.k8s.api.core.v1.ResourceRequirements", "claims"),
    atomic("io.k8s.api.core.v1.ResourceStatus", "resources"),
    // k8s-openapi keys volumeClaimTemplates by `metadata`; upstream has no
    // patch strategy for it.
    atomic("io.k8s.api.apps.v1.StatefulSetSpec", "volumeClaimTemplates"),
    // List-type sets without a patch strategy.
    atomic("io.k8s.api.discovery.v1.Endpoint", "addresses"),
    atomic(
        "io.k8s.api.apiserverinternal.v1alpha1.ServerStorageVersion",
        "decodableVersions",
    ),
    atomic(
        "io.k8s.api.apiserverinternal.v1alpha1.ServerStorageVersion",
        "servedVersions",
    ),
    atomic(
        "io.k8s.api.storage.v1.CSIDriverSpec",
        "volumeLifecycleModes",
    ),
    atomic(
        "io.k8s.api.flowcontrol.v1.NonResourcePolicyRule",
        "nonResourceURLs",
    ),
    atomic("io.k8s.api.flowcontrol.v1.NonResourcePolicyRule", "verbs"),
    atomic("io.k8s.api.flowcontrol.v1.ResourcePolicyRule", "apiGroups"),
    atomic("io.k8s.api.flowcontrol.v1.ResourcePolicyRule", "namespaces"),
    atomic("io.k8s.api.flowcontrol.v1.ResourcePolicyRule", "resources"),
    atomic("io.k8s.api.flowcontrol.v1.ResourcePolicyRule", "verbs"),
    atomic(
        "io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement",
        "values",
    ),
    atomic("io.k8s.api.batch.v1.UncountedTerminatedPods", "failed"),
    atomic("io.k8s.api.batch.v1.UncountedTerminatedPods", "succeeded"),
    atomic(
        "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpec",
        "validationActions",
    ),
    atomic(
        "io.k8s.api.admissionregistration.v1beta1.ValidatingAdmissionPolicyBindingSpec",
        "validationActions",
    ),
];
