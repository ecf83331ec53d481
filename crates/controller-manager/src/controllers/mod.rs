//! The controllers, one module each, named after their upstream
//! counterparts. Each module exports `NAME` (the upstream name) and
//! `new_controller` (the constructor registered in [`crate::registry`]).
//!
//! Still to come, in the same shape: endpoints, endpointslice,
//! endpointslice-mirroring,
//! podgc, resourcequota, disruption, nodeipam, node-lifecycle,
//! persistentvolume-binder, csrapproving/csrsigning, serviceaccount-token,
//! horizontal-pod-autoscaler.

pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod garbagecollector;
pub mod job;
pub mod namespace;
pub mod replicaset;
pub mod replicationcontroller;
pub mod root_ca_cert_publisher;
pub mod serviceaccount;
pub mod statefulset;
pub mod ttlafterfinished;
