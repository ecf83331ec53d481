//! The controller framework: what every controller is built from.
//!
//! | module | upstream counterpart |
//! | --- | --- |
//! | [`informer`] | client-go shared informers and listers (one list+watch per type) |
//! | [`queue`], [`rate_limiter`] | client-go `workqueue` (dedup, delays, per-item backoff, token bucket) |
//! | [`worker`] | the `processNextWorkItem` loop: level-triggered `reconcile(key) -> Action` |
//! | [`controller`] | `ControllerContext`, the `Controller` interface, a queue-driven controller |
//! | [`discovery`] | client-go `ServerPreferredResources` (custom resources included) |
//! | [`events`] | client-go `record`: core/v1 Events with dedup and aggregation |
//! | [`metrics`] | `workqueue_*` and `leader_election_master_status` |
//! | [`api_errors`] | `apierrors.IsNotFound` and friends for kube-rs errors |
//! | [`label_index`] | `lister.List(selector)` answered from an index by label instead of a scan |
//! | [`key`] | `namespace/name` keys (`cache.MetaNamespaceKeyFunc`) |
//! | [`selector`] | `metav1.LabelSelectorAsSelector`, `labels.SelectorFromSet` |
//! | [`expectations`] | `ControllerExpectations` / `UIDTrackingControllerExpectations` |
//! | [`controller_history`] | `pkg/controller/history`: ControllerRevisions of DaemonSets and StatefulSets |
//! | [`controller_ref`] | `ControllerRefManager`: claim, adopt, release |
//! | [`pod_control`] | `RealPodControl` (create/delete pods with events), `slowStartBatch` |
//! | [`pod_create`] | creating a controller-built Pod with events; removing a pod finalizer |
//! | [`pod_readiness`] | `podutil.IsPodReady`/`IsPodAvailable`, `controller.IsPodActive` |
//! | [`hashing`] | `ComputeHash`, `HashControllerRevision`, `EqualIgnoreHash` |
//! | [`node_taints`] | `v1helper.TolerationsTolerateTaint`, well-known node taints |
//!
//! A controller is a module with a constructor (registered by its upstream
//! name in [`crate::registry`]) that takes informers from the shared
//! [`informer::InformerFactory`], adds handlers that enqueue keys, and returns
//! a [`controller::QueueController`] running its [`worker::Reconciler`].

pub mod api_errors;
pub mod controller;
pub mod controller_history;
pub mod controller_ref;
pub mod discovery;
pub mod events;
pub mod expectations;
pub mod hashing;
pub mod informer;
pub mod key;
pub mod label_index;
pub mod metrics;
pub mod node_taints;
pub mod pod_control;
pub mod pod_create;
pub mod pod_readiness;
pub mod queue;
pub mod rate_limiter;
pub mod selector;
pub mod worker;
