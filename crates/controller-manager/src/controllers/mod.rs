//! The controllers, one module each, named after their upstream
//! counterparts. Each module exports `NAME` (the upstream name) and
//! `new_controller` (the constructor registered in [`crate::registry`]).

pub mod bootstrapsigner;
pub mod certificates;
pub mod clusterrole_aggregation;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod endpointslicemirroring;
pub mod garbagecollector;
pub mod horizontal_pod_autoscaler;
pub mod job;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod persistentvolume;
pub mod podgc;
pub mod pvcprotection;
pub mod pvprotection;
pub mod replicaset;
pub mod replicationcontroller;
pub mod resourcequota;
pub mod root_ca_cert_publisher;
pub mod service_pods;
pub mod serviceaccount;
pub mod serviceaccount_token;
pub mod statefulset;
pub mod taint_eviction;
pub mod tokencleaner;
pub mod ttl;
pub mod ttlafterfinished;
