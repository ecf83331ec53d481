//! The controllers, one module each, named after their upstream
//! counterparts. Each module exports `NAME` (the upstream name) and
//! `new_controller` (the constructor registered in [`crate::registry`]).
//!
//! Still to come, in the same shape: replicaset, replicationcontroller,
//! deployment, statefulset, daemonset, job, cronjob, ttl-after-finished,
//! endpoints, endpointslice, endpointslice-mirroring, garbage-collector,
//! podgc, resourcequota, disruption, nodeipam, node-lifecycle,
//! persistentvolume-binder, csrapproving/csrsigning, serviceaccount-token,
//! horizontal-pod-autoscaler.

pub mod namespace;
pub mod root_ca_cert_publisher;
pub mod serviceaccount;
