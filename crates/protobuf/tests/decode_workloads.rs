//! apps/v1 and batch/v1 objects: the pod template exercises most of core/v1.

mod common;

use common::*;
use k8s_openapi::api::{apps::v1 as apps, batch::v1 as batch};
use k8s_pb::api::apps::v1 as pbapps;
use k8s_pb::api::batch::v1 as pbbatch;
use k8s_pb::api::core::v1 as pb;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as pbmeta;
use serde_json::{Value, json};

fn selector() -> Option<pbmeta::LabelSelector> {
    Some(pbmeta::LabelSelector {
        match_labels: map(&[("app", "web".to_string())]),
        match_expressions: vec![pbmeta::LabelSelectorRequirement {
            key: s("tier"),
            operator: s("In"),
            values: vec!["front".into(), "edge".into()],
        }],
    })
}

fn container() -> pb::Container {
    pb::Container {
        name: s("web"),
        image: s("nginx:1.27"),
        command: vec!["nginx".into()],
        args: vec!["-g".into(), "daemon off;".into()],
        ports: vec![pb::ContainerPort {
            name: s("http"),
            container_port: Some(80),
            protocol: s("TCP"),
            host_port: Some(0),
            host_ip: s(""),
        }],
        env: vec![
            pb::EnvVar {
                name: s("MODE"),
                value: s("prod"),
                value_from: None,
            },
            pb::EnvVar {
                name: s("PASSWORD"),
                value: s(""),
                value_from: Some(pb::EnvVarSource {
                    secret_key_ref: Some(pb::SecretKeySelector {
                        local_object_reference: Some(pb::LocalObjectReference { name: s("creds") }),
                        key: s("password"),
                        optional: Some(false),
                    }),
                    ..Default::default()
                }),
            },
            pb::EnvVar {
                name: s("POD_IP"),
                value: None,
                value_from: Some(pb::EnvVarSource {
                    field_ref: Some(pb::ObjectFieldSelector {
                        api_version: s("v1"),
                        field_path: s("status.podIP"),
                    }),
                    ..Default::default()
                }),
            },
        ],
        env_from: vec![pb::EnvFromSource {
            prefix: s("CFG_"),
            config_map_ref: Some(pb::ConfigMapEnvSource {
                local_object_reference: Some(pb::LocalObjectReference {
                    name: s("settings"),
                }),
                optional: None,
            }),
            secret_ref: None,
        }],
        resources: Some(pb::ResourceRequirements {
            limits: map(&[("cpu", q("500m")), ("memory", q("128Mi"))]),
            requests: map(&[("cpu", q("250m")), ("memory", q("64Mi"))]),
            claims: vec![],
        }),
        volume_mounts: vec![pb::VolumeMount {
            name: s("config"),
            read_only: Some(true),
            mount_path: s("/etc/nginx/conf.d"),
            sub_path: s(""),
            ..Default::default()
        }],
        liveness_probe: Some(pb::Probe {
            handler: Some(pb::ProbeHandler {
                http_get: Some(pb::HttpGetAction {
                    path: s("/healthz"),
                    port: string("http"),
                    scheme: s("HTTP"),
                    http_headers: vec![pb::HttpHeader {
                        name: s("X-Probe"),
                        value: s("1"),
                    }],
                    host: None,
                }),
                ..Default::default()
            }),
            initial_delay_seconds: Some(5),
            period_seconds: Some(10),
            failure_threshold: Some(3),
            ..Default::default()
        }),
        readiness_probe: Some(pb::Probe {
            handler: Some(pb::ProbeHandler {
                tcp_socket: Some(pb::TcpSocketAction {
                    port: int(80),
                    host: None,
                }),
                ..Default::default()
            }),
            timeout_seconds: Some(1),
            ..Default::default()
        }),
        startup_probe: Some(pb::Probe {
            handler: Some(pb::ProbeHandler {
                exec: Some(pb::ExecAction {
                    command: vec!["cat".into(), "/tmp/ready".into()],
                }),
                ..Default::default()
            }),
            termination_grace_period_seconds: Some(0),
            ..Default::default()
        }),
        image_pull_policy: s("IfNotPresent"),
        security_context: Some(pb::SecurityContext {
            run_as_user: Some(0),
            run_as_non_root: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(pb::Capabilities {
                add: vec!["NET_BIND_SERVICE".into()],
                drop: vec!["ALL".into()],
            }),
            ..Default::default()
        }),
        stdin: Some(false),
        tty: Some(false),
        ..Default::default()
    }
}

fn container_json() -> Value {
    json!({
        "name": "web",
        "image": "nginx:1.27",
        "command": ["nginx"],
        "args": ["-g", "daemon off;"],
        "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP", "hostPort": 0}],
        "env": [
            {"name": "MODE", "value": "prod"},
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password", "optional": false}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
        ],
        "envFrom": [{"prefix": "CFG_", "configMapRef": {"name": "settings"}}],
        "resources": {
            "limits": {"cpu": "500m", "memory": "128Mi"},
            "requests": {"cpu": "250m", "memory": "64Mi"},
        },
        "volumeMounts": [{"name": "config", "readOnly": true, "mountPath": "/etc/nginx/conf.d"}],
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP", "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
            "initialDelaySeconds": 5,
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "readinessProbe": {"tcpSocket": {"port": 80}, "timeoutSeconds": 1},
        "startupProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "terminationGracePeriodSeconds": 0},
        "imagePullPolicy": "IfNotPresent",
        "securityContext": {
            "runAsUser": 0,
            "runAsNonRoot": false,
            "readOnlyRootFilesystem": true,
            "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
        },
        "stdin": false,
        "tty": false,
    })
}

fn pod_spec() -> pb::PodSpec {
    pb::PodSpec {
        volumes: vec![
            pb::Volume {
                name: s("config"),
                volume_source: Some(pb::VolumeSource {
                    config_map: Some(pb::ConfigMapVolumeSource {
                        local_object_reference: Some(pb::LocalObjectReference {
                            name: s("settings"),
                        }),
                        items: vec![pb::KeyToPath {
                            key: s("a.conf"),
                            path: s("a.conf"),
                            mode: Some(0o644),
                        }],
                        default_mode: Some(0o420),
                        optional: None,
                    }),
                    ..Default::default()
                }),
            },
            pb::Volume {
                name: s("scratch"),
                volume_source: Some(pb::VolumeSource {
                    empty_dir: Some(pb::EmptyDirVolumeSource {
                        medium: s("Memory"),
                        size_limit: Some(q("1Gi")),
                    }),
                    ..Default::default()
                }),
            },
        ],
        init_containers: vec![pb::Container {
            name: s("init"),
            image: s("busybox"),
            ..Default::default()
        }],
        containers: vec![container()],
        restart_policy: s("Always"),
        termination_grace_period_seconds: Some(30),
        dns_policy: s("ClusterFirst"),
        node_selector: map(&[("kubernetes.io/os", "linux".to_string())]),
        service_account_name: s("web"),
        automount_service_account_token: Some(false),
        host_network: Some(false),
        security_context: Some(pb::PodSecurityContext {
            fs_group: Some(2000),
            sysctls: vec![pb::Sysctl {
                name: s("net.core.somaxconn"),
                value: s("1024"),
            }],
            ..Default::default()
        }),
        affinity: Some(pb::Affinity {
            node_affinity: Some(pb::NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(pb::NodeSelector {
                    node_selector_terms: vec![pb::NodeSelectorTerm {
                        match_expressions: vec![pb::NodeSelectorRequirement {
                            key: s("topology.kubernetes.io/zone"),
                            operator: s("In"),
                            values: vec!["a".into(), "b".into()],
                        }],
                        match_fields: vec![],
                    }],
                }),
                preferred_during_scheduling_ignored_during_execution: vec![
                    pb::PreferredSchedulingTerm {
                        weight: Some(10),
                        preference: Some(pb::NodeSelectorTerm {
                            match_expressions: vec![pb::NodeSelectorRequirement {
                                key: s("disk"),
                                operator: s("Exists"),
                                values: vec![],
                            }],
                            match_fields: vec![],
                        }),
                    },
                ],
            }),
            pod_anti_affinity: Some(pb::PodAntiAffinity {
                preferred_during_scheduling_ignored_during_execution: vec![
                    pb::WeightedPodAffinityTerm {
                        weight: Some(100),
                        pod_affinity_term: Some(pb::PodAffinityTerm {
                            label_selector: selector(),
                            topology_key: s("kubernetes.io/hostname"),
                            ..Default::default()
                        }),
                    },
                ],
                ..Default::default()
            }),
            pod_affinity: None,
        }),
        tolerations: vec![
            pb::Toleration {
                key: s("node.kubernetes.io/not-ready"),
                operator: s("Exists"),
                value: s(""),
                effect: s("NoExecute"),
                toleration_seconds: Some(300),
            },
            pb::Toleration {
                key: s("dedicated"),
                operator: s("Equal"),
                value: s("web"),
                effect: s("NoSchedule"),
                ..Default::default()
            },
        ],
        priority: Some(0),
        enable_service_links: Some(true),
        ..Default::default()
    }
}

fn pod_spec_json() -> Value {
    json!({
        "volumes": [
            {"name": "config", "configMap": {"name": "settings", "items": [{"key": "a.conf", "path": "a.conf", "mode": 420}], "defaultMode": 272}},
            {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
        ],
        "initContainers": [{"name": "init", "image": "busybox"}],
        "containers": [container_json()],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "serviceAccountName": "web",
        "automountServiceAccountToken": false,
        "hostNetwork": false,
        "securityContext": {"fsGroup": 2000, "sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]},
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a", "b"]}]}],
                },
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 10, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}},
                ],
            },
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [{
                    "weight": 100,
                    "podAffinityTerm": {
                        "labelSelector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "edge"]}]},
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }],
            },
        },
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"},
        ],
        "priority": 0,
        "enableServiceLinks": true,
    })
}

#[test]
fn full_deployment() {
    let deployment = pbapps::Deployment {
        metadata: Some(pbmeta::ObjectMeta {
            name: s("web"),
            namespace: s("prod"),
            uid: s("6f1c1f7e-2b1a-4a57-9d59-2b0c9e8b1a11"),
            resource_version: s("42"),
            generation: Some(3),
            creation_timestamp: time(1_704_164_645),
            deletion_grace_period_seconds: Some(0),
            labels: map(&[("app", "web".to_string()), ("tier", "front".to_string())]),
            annotations: map(&[("deployment.kubernetes.io/revision", "2".to_string())]),
            owner_references: vec![pbmeta::OwnerReference {
                api_version: s("example.com/v1"),
                kind: s("WebApp"),
                name: s("web"),
                uid: s("0b7e3c55-6d7f-4e0d-8b55-8f1f6f1d2c33"),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }],
            finalizers: vec!["example.com/cleanup".into()],
            managed_fields: vec![pbmeta::ManagedFieldsEntry {
                manager: s("kubectl-create"),
                operation: s("Update"),
                api_version: s("apps/v1"),
                time: Some(pbmeta::Time {
                    seconds: Some(1_704_164_645),
                    nanos: Some(999_000_000),
                }),
                fields_type: s("FieldsV1"),
                fields_v1: Some(pbmeta::FieldsV1 {
                    raw: Some(br#"{"f:spec":{"f:replicas":{}}}"#.to_vec()),
                }),
                subresource: s(""),
            }],
            ..Default::default()
        }),
        spec: Some(pbapps::DeploymentSpec {
            replicas: Some(0),
            selector: selector(),
            template: Some(pb::PodTemplateSpec {
                metadata: Some(pbmeta::ObjectMeta {
                    labels: map(&[("app", "web".to_string()), ("tier", "front".to_string())]),
                    creation_timestamp: Some(pbmeta::Time::default()),
                    ..Default::default()
                }),
                spec: Some(pod_spec()),
            }),
            strategy: Some(pbapps::DeploymentStrategy {
                r#type: s("RollingUpdate"),
                rolling_update: Some(pbapps::RollingUpdateDeployment {
                    max_unavailable: string("25%"),
                    max_surge: int(1),
                }),
            }),
            min_ready_seconds: Some(0),
            revision_history_limit: Some(10),
            paused: Some(false),
            progress_deadline_seconds: Some(600),
        }),
        status: Some(pbapps::DeploymentStatus {
            observed_generation: Some(3),
            replicas: Some(2),
            conditions: vec![pbapps::DeploymentCondition {
                r#type: s("Available"),
                status: s("True"),
                last_update_time: time(1_704_164_700),
                last_transition_time: time(1_704_164_700),
                reason: s("MinimumReplicasAvailable"),
                message: s(""),
            }],
            ..Default::default()
        }),
    };
    let expected = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "prod",
            "uid": "6f1c1f7e-2b1a-4a57-9d59-2b0c9e8b1a11",
            "resourceVersion": "42",
            "generation": 3,
            "creationTimestamp": "2024-01-02T03:04:05Z",
            "deletionGracePeriodSeconds": 0,
            "labels": {"app": "web", "tier": "front"},
            "annotations": {"deployment.kubernetes.io/revision": "2"},
            "ownerReferences": [{
                "apiVersion": "example.com/v1",
                "kind": "WebApp",
                "name": "web",
                "uid": "0b7e3c55-6d7f-4e0d-8b55-8f1f6f1d2c33",
                "controller": true,
                "blockOwnerDeletion": true,
            }],
            "finalizers": ["example.com/cleanup"],
            "managedFields": [{
                "manager": "kubectl-create",
                "operation": "Update",
                "apiVersion": "apps/v1",
                "time": "2024-01-02T03:04:05Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:replicas": {}}},
            }],
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "edge"]}]},
            "template": {"metadata": {"labels": {"app": "web", "tier": "front"}}, "spec": pod_spec_json()},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
            "minReadySeconds": 0,
            "revisionHistoryLimit": 10,
            "paused": false,
            "progressDeadlineSeconds": 600,
        },
        "status": {
            "observedGeneration": 3,
            "replicas": 2,
            "conditions": [{
                "type": "Available",
                "status": "True",
                "lastUpdateTime": "2024-01-02T03:05:00Z",
                "lastTransitionTime": "2024-01-02T03:05:00Z",
                "reason": "MinimumReplicasAvailable",
            }],
        },
    });
    check::<apps::Deployment>(
        &body("apps/v1", "Deployment", &deployment),
        expected.clone(),
    );
    check_json_round_trip(&expected);
}

fn job_spec() -> pbbatch::JobSpec {
    pbbatch::JobSpec {
        parallelism: Some(2),
        completions: Some(4),
        backoff_limit: Some(0),
        ttl_seconds_after_finished: Some(0),
        completion_mode: s("Indexed"),
        suspend: Some(true),
        pod_failure_policy: Some(pbbatch::PodFailurePolicy {
            rules: vec![pbbatch::PodFailurePolicyRule {
                action: s("FailJob"),
                on_exit_codes: Some(pbbatch::PodFailurePolicyOnExitCodesRequirement {
                    container_name: s("main"),
                    operator: s("In"),
                    values: vec![1, 42],
                }),
                on_pod_conditions: vec![],
            }],
        }),
        template: Some(pb::PodTemplateSpec {
            metadata: None,
            spec: Some(pb::PodSpec {
                containers: vec![pb::Container {
                    name: s("main"),
                    image: s("busybox"),
                    args: vec!["date".into()],
                    ..Default::default()
                }],
                restart_policy: s("Never"),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

fn job_spec_json() -> Value {
    json!({
        "parallelism": 2,
        "completions": 4,
        "backoffLimit": 0,
        "ttlSecondsAfterFinished": 0,
        "completionMode": "Indexed",
        "suspend": true,
        "podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [1, 42]}}]},
        "template": {"spec": {"containers": [{"name": "main", "image": "busybox", "args": ["date"]}], "restartPolicy": "Never"}},
    })
}

#[test]
fn job() {
    let job = pbbatch::Job {
        metadata: namespaced("once", "ci"),
        spec: Some(job_spec()),
        status: None,
    };
    let expected = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once", "namespace": "ci"}, "spec": job_spec_json()});
    check::<batch::Job>(&body("batch/v1", "Job", &job), expected.clone());
    check_encode(&job, &expected);
}

#[test]
fn cronjob() {
    let cronjob = pbbatch::CronJob {
        metadata: namespaced("nightly", "ci"),
        spec: Some(pbbatch::CronJobSpec {
            schedule: s("0 3 * * *"),
            time_zone: s("Etc/UTC"),
            starting_deadline_seconds: Some(60),
            concurrency_policy: s("Forbid"),
            suspend: Some(false),
            job_template: Some(pbbatch::JobTemplateSpec {
                metadata: meta("nightly"),
                spec: Some(job_spec()),
            }),
            successful_jobs_history_limit: Some(0),
            failed_jobs_history_limit: Some(1),
        }),
        status: Some(pbbatch::CronJobStatus {
            active: vec![],
            last_schedule_time: time(1_704_164_645),
            last_successful_time: Some(pbmeta::Time::default()),
        }),
    };
    let expected = json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "ci"},
        "spec": {
            "schedule": "0 3 * * *",
            "timeZone": "Etc/UTC",
            "startingDeadlineSeconds": 60,
            "concurrencyPolicy": "Forbid",
            "suspend": false,
            "jobTemplate": {"metadata": {"name": "nightly"}, "spec": job_spec_json()},
            "successfulJobsHistoryLimit": 0,
            "failedJobsHistoryLimit": 1,
        },
        "status": {"lastScheduleTime": "2024-01-02T03:04:05Z"},
    });
    check::<batch::CronJob>(&body("batch/v1", "CronJob", &cronjob), expected.clone());
    check_json_round_trip(&expected);
}
