//! The controllers, one module each, named after their upstream
//! counterparts. Each module exports `NAME` (the upstream name) and
//! `new_controller` (the constructor registered in [`crate::registry`]).
//!
//! Still to come, in the same shape: endpoints, endpointslice,
//! Still to come, in the same shape: statefulset, daemonset, job, cronjob,
//! csrapproving/csrsigning, serviceaccount-token, horizontal-pod-autoscaler.
//! endpointslice-mirroring,
//! horizontal-pod-autoscaler.
//! persistentvolume-binder, csrapproving/csrsigning, serviceaccount-token,
//! podgc, resourcequota, disruption, nodeipam, node-lifecycle,
//! ttl-after-finished, resourcequota, persistentvolume-binder,

pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod endpointslicemirroring;
pub mod garbagecollector;
pub mod job;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod podgc;
pub mod replicaset;
pub mod replicationcontroller;
pub mod root_ca_cert_publisher;
pub mod service_pods;
pub mod serviceaccount;
pub mod statefulset;
pub mod taint_eviction;
pub mod ttlafterfinished;
