//! Content, modes and ownership of configMap, secret, projected,
//! downwardAPI and emptyDir volumes, subPath mounts of atomic-writer
//! volumes and the emptyDir wrapper cases: pods that run once and print
//! what they see.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use super::empty_dir::*;
use super::*;
use crate::harness::can_run;

const CM: &str = "configmap-test-volume";
const SECRET: &str = "secret-test";

pub(super) fn pod(name: &str, volumes: Value, containers: Vec<Value>, security: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "securityContext": security,
            "volumes": volumes,
            "containers": containers,
        }
    })
}

pub(super) fn mount(name: &str, path: &str) -> Value {
    json!({"name": name, "mountPath": path})
}

pub(super) fn as_user(mut container: Value, uid: i64) -> Value {
    container["securityContext"] = json!({"runAsUser": uid});
    container
}

/// Upstream's expected `mounttest` facts, one `<path>=<content> <mode> <gid>`
/// line per file.
fn lines(items: &[(&str, &str, &str)], gid: u32) -> String {
    items
        .iter()
        .map(|(path, content, mode)| format!("{path}={content} {mode} {gid}\n"))
        .collect()
}

const RW: &str = "-rw-r--r--";
const RO: &str = "-r--------";

/// ConfigMap Volume: without mapping (default mode, defaultMode 0400,
/// non-root), with mapping (default, item mode 0400, non-root), multiple
/// volumes of one ConfigMap, text and binary data, the `..data` layout.
fn configmap_pod() -> Value {
    let volumes = json!([
        {"name": "cm", "configMap": {"name": CM}},
        {"name": "cm-again", "configMap": {"name": CM}},
        {"name": "cm-0400", "configMap": {"name": CM, "defaultMode": 0o400}},
        {"name": "cm-map", "configMap": {"name": CM, "items": [{"key": "data-2", "path": "path/to/data-2"}]}},
        {"name": "cm-map-0400", "configMap": {"name": CM, "items": [{"key": "data-2", "path": "path/to/data-2", "mode": 0o400}]}},
        {"name": "cm-bin", "configMap": {"name": "configmap-test-binary"}},
    ]);
    let all = json!([
        mount("cm", "/etc/cm"),
        mount("cm-again", "/etc/cm-again"),
        mount("cm-0400", "/etc/cm-0400"),
        mount("cm-map", "/etc/cm-map"),
        mount("cm-map-0400", "/etc/cm-map-0400"),
    ]);
    let root = show_container(
        "root",
        all.clone(),
        &[
            "/etc/cm/data-1",
            "/etc/cm-again/data-1",
            "/etc/cm-0400/data-1",
            "/etc/cm-map/path/to/data-2",
            "/etc/cm-map-0400/path/to/data-2",
        ],
    );
    let non_root = as_user(
        script_container(
            "non-root",
            all.clone(),
            &format!(
                "id -u; {}",
                show_files(&["/etc/cm/data-1", "/etc/cm-map/path/to/data-2"])
            ),
        ),
        1000,
    );
    // The atomic writer's layout: a top-level symlink per key into
    // `..data`, itself a symlink to the timestamped version directory;
    // only the mapped keys of a mapped volume.
    let layout = script_container(
        "layout",
        all,
        "readlink /etc/cm/data-1; readlink /etc/cm/..data | cut -c1-4; ls /etc/cm-map; \
         test -e /etc/cm-map/data-1 || echo no-data-1",
    );
    let binary = script_container(
        "binary",
        json!([{"name": "cm-bin", "mountPath": "/etc/configmap-volume", "readOnly": true}]),
        "cat /etc/configmap-volume/data-1; echo; hexdump -C /etc/configmap-volume/dump.bin",
    );
    pod(
        "configmap-volumes",
        volumes,
        vec![root, non_root, layout, binary],
        json!({}),
    )
}

fn check_configmap(logs: &BTreeMap<String, String>) {
    assert_eq!(
        logs["root"],
        lines(
            &[
                ("/etc/cm/data-1", "value-1", RW),
                ("/etc/cm-again/data-1", "value-1", RW),
                ("/etc/cm-0400/data-1", "value-1", RO),
                ("/etc/cm-map/path/to/data-2", "value-2", RW),
                ("/etc/cm-map-0400/path/to/data-2", "value-2", RO),
            ],
            0
        )
    );
    assert_eq!(
        logs["non-root"],
        format!(
            "1000\n{}",
            lines(
                &[
                    ("/etc/cm/data-1", "value-1", RW),
                    ("/etc/cm-map/path/to/data-2", "value-2", RW),
                ],
                0
            )
        )
    );
    assert_eq!(logs["layout"], "..data/data-1\n..20\npath\nno-data-1\n");
    assert!(
        logs["binary"].starts_with("value-1\n"),
        "{}",
        logs["binary"]
    );
    assert!(
        logs["binary"].contains("de ca fe ba d0 fe ff"),
        "{}",
        logs["binary"]
    );
}

/// Secrets Volume: default, defaultMode 0400, mapping, mapping with item
/// mode 0400, one Secret in two volumes, a Secret of the same name in
/// another namespace; secret volumes are tmpfs.
fn secret_pod() -> Value {
    let volumes = json!([
        {"name": "s", "secret": {"secretName": SECRET}},
        {"name": "s-again", "secret": {"secretName": SECRET}},
        {"name": "s-0400", "secret": {"secretName": SECRET, "defaultMode": 0o400}},
        {"name": "s-map", "secret": {"secretName": SECRET, "items": [{"key": "data-1", "path": "new-path-data-1"}]}},
        {"name": "s-map-0400", "secret": {"secretName": SECRET, "items": [{"key": "data-1", "path": "new-path-data-1", "mode": 0o400}]}},
    ]);
    let mounts = json!([
        mount("s", "/etc/s"),
        mount("s-again", "/etc/s-again"),
        mount("s-0400", "/etc/s-0400"),
        mount("s-map", "/etc/s-map"),
        mount("s-map-0400", "/etc/s-map-0400"),
    ]);
    let root = script_container(
        "root",
        mounts,
        &format!(
            "{}; stat -f -c %T /etc/s; ls /etc/s",
            show_files(&[
                "/etc/s/data-1",
                "/etc/s-again/data-1",
                "/etc/s-0400/data-1",
                "/etc/s-map/new-path-data-1",
                "/etc/s-map-0400/new-path-data-1",
            ])
        ),
    );
    pod("secret-volumes", volumes, vec![root], json!({}))
}

fn check_secret(logs: &BTreeMap<String, String>) {
    let expected = lines(
        &[
            ("/etc/s/data-1", "value-1", RW),
            ("/etc/s-again/data-1", "value-1", RW),
            ("/etc/s-0400/data-1", "value-1", RO),
            ("/etc/s-map/new-path-data-1", "value-1", RW),
            ("/etc/s-map-0400/new-path-data-1", "value-1", RO),
        ],
        0,
    );
    // Only this namespace's Secret's keys: the other namespace's
    // same-named Secret has different ones.
    assert_eq!(
        logs["root"],
        format!("{expected}tmpfs\ndata-1\ndata-2\ndata-3\n")
    );
}

/// Secrets Volume "volume mode 0440, fsGroup 1001 and uid 1000" and
/// "Project Volume, Secrets, non-root, custom fsGroup": the files belong
/// to the fsGroup, keep mode 0440 and are readable by the non-root user.
fn fs_group_pod() -> Value {
    let volumes = json!([
        {"name": "s", "secret": {"secretName": SECRET, "defaultMode": 0o440}},
        {"name": "p", "projected": {"defaultMode": 0o440, "sources": [{"secret": {"name": SECRET}}]}},
    ]);
    let c = script_container(
        "c",
        json!([mount("s", "/etc/s"), mount("p", "/etc/p")]),
        &format!("id -u; {}", show_files(&["/etc/s/data-1", "/etc/p/data-1"])),
    );
    pod(
        "fsgroup-volumes",
        volumes,
        vec![c],
        json!({"runAsUser": 1000, "fsGroup": 1001}),
    )
}

fn check_fs_group(logs: &BTreeMap<String, String>) {
    let expected = lines(
        &[
            ("/etc/s/data-1", "value-1", "-r--r-----"),
            ("/etc/p/data-1", "value-1", "-r--r-----"),
        ],
        1001,
    );
    assert_eq!(logs["c"], format!("1000\n{expected}"));
}

/// The downwardAPI items of upstream's `downwardAPIVolumeBasePod` (pod
/// name, client-container's requests and limits) plus the limits of a
/// container without any (node allocatable).
fn downward_items() -> Value {
    let resource = |path: &str, container: &str, resource: &str| json!({"path": path, "resourceFieldRef": {"containerName": container, "resource": resource}});
    json!([
        {"path": "podname", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
        resource("cpu_limit", "client-container", "limits.cpu"),
        resource("cpu_request", "client-container", "requests.cpu"),
        resource("memory_limit", "client-container", "limits.memory"),
        resource("memory_request", "client-container", "requests.memory"),
        resource("default_cpu_limit", "no-limits", "limits.cpu"),
        resource("default_memory_limit", "no-limits", "limits.memory"),
    ])
}

fn podname_item(mode: Option<i32>) -> Value {
    let mut item =
        json!({"path": "podname", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}});
    if let Some(mode) = mode {
        item["mode"] = json!(mode);
    }
    item
}

/// The two containers of the downward API pods: `client-container` with
/// upstream's requests (250m, 32Mi) and limits (1250m, 64Mi) printing the
/// files, and `no-limits` printing the defaults (node allocatable).
fn downward_containers(dir: &str, extra: &[&str]) -> Vec<Value> {
    let mounts = json!([
        mount("podinfo", dir),
        mount("podinfo-0400", &format!("{dir}-0400")),
        mount("podinfo-item-0400", &format!("{dir}-item-0400"))
    ]);
    let mut files: Vec<String> = [
        "podname",
        "cpu_limit",
        "cpu_request",
        "memory_limit",
        "memory_request",
    ]
    .iter()
    .map(|f| format!("{dir}/{f}"))
    .collect();
    files.push(format!("{dir}-0400/podname"));
    files.push(format!("{dir}-item-0400/podname"));
    files.extend(extra.iter().map(|f| f.to_string()));
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let mut client = show_container("client-container", mounts.clone(), &files);
    client["resources"] = json!({
        "requests": {"cpu": "250m", "memory": "32Mi"},
        "limits": {"cpu": "1250m", "memory": "64Mi"},
    });
    let no_limits = script_container(
        "no-limits",
        mounts,
        &format!("cat {dir}/default_cpu_limit; echo; cat {dir}/default_memory_limit; echo"),
    );
    vec![client, no_limits]
}

fn downward_expected(name: &str, dir: &str) -> String {
    lines(
        &[
            (&format!("{dir}/podname"), name, RW),
            (&format!("{dir}/cpu_limit"), "2", RW),
            (&format!("{dir}/cpu_request"), "1", RW),
            (&format!("{dir}/memory_limit"), "67108864", RW),
            (&format!("{dir}/memory_request"), "33554432", RW),
            (&format!("{dir}-0400/podname"), name, RO),
            (&format!("{dir}-item-0400/podname"), name, RO),
        ],
        0,
    )
}

/// Both lines of `no-limits` are positive numbers (upstream matches `[1-9]`).
fn check_defaults(log: &str) {
    let values: Vec<u64> = log
        .lines()
        .map(|l| l.parse().unwrap_or_else(|_| panic!("not a number: {log}")))
        .collect();
    assert_eq!(values.len(), 2, "{log}");
    assert!(values.iter().all(|v| *v > 0), "{log}");
}

/// DownwardAPI volume: pod name, CPU/memory limits and requests, the
/// node-allocatable defaults, defaultMode 0400 and item mode 0400.
fn downward_pod() -> Value {
    let volumes = json!([
        {"name": "podinfo", "downwardAPI": {"items": downward_items()}},
        {"name": "podinfo-0400", "downwardAPI": {"defaultMode": 0o400, "items": [podname_item(None)]}},
        {"name": "podinfo-item-0400", "downwardAPI": {"items": [podname_item(Some(0o400))]}},
    ]);
    pod(
        "downward-volumes",
        volumes,
        downward_containers("/etc/podinfo", &[]),
        json!({}),
    )
}

/// Projected Volume: ConfigMap and Secret sources (default, defaultMode
/// 0400, mapped, mapped with item mode 0400, the same source in two
/// volumes, non-root), DownwardAPI sources (as the downwardAPI volume),
/// and all three kinds in one volume.
fn projected_pod() -> Value {
    let projected = |sources: Value, default_mode: Option<i32>| {
        let mut p = json!({"sources": sources});
        if let Some(mode) = default_mode {
            p["defaultMode"] = json!(mode);
        }
        p
    };
    let cm = |items: Value| json!([{"configMap": {"name": CM, "items": items}}]);
    let secret = |items: Value| json!([{"secret": {"name": SECRET, "items": items}}]);
    let volumes = json!([
        {"name": "p-cm", "projected": projected(cm(Value::Null), None)},
        {"name": "p-cm-again", "projected": projected(cm(Value::Null), None)},
        {"name": "p-cm-0400", "projected": projected(cm(Value::Null), Some(0o400))},
        {"name": "p-cm-map", "projected": projected(cm(json!([{"key": "data-2", "path": "path/to/data-2"}])), None)},
        {"name": "p-cm-map-0400", "projected": projected(cm(json!([{"key": "data-2", "path": "path/to/data-2", "mode": 0o400}])), None)},
        {"name": "p-s", "projected": projected(secret(Value::Null), None)},
        {"name": "p-s-again", "projected": projected(secret(Value::Null), None)},
        {"name": "p-s-0400", "projected": projected(secret(Value::Null), Some(0o400))},
        {"name": "p-s-map", "projected": projected(secret(json!([{"key": "data-1", "path": "new-path-data-1"}])), None)},
        {"name": "p-s-map-0400", "projected": projected(secret(json!([{"key": "data-1", "path": "new-path-data-1", "mode": 0o400}])), None)},
        {"name": "p-all", "projected": projected(json!([
            {"downwardAPI": {"items": [podname_item(None)]}},
            {"secret": {"name": SECRET, "items": [{"key": "data-1", "path": "secret-data"}]}},
            {"configMap": {"name": CM, "items": [{"key": "data-1", "path": "configmap-data"}]}},
        ]), None)},
        {"name": "podinfo", "projected": projected(json!([{"downwardAPI": {"items": downward_items()}}]), None)},
        {"name": "podinfo-0400", "projected": projected(json!([{"downwardAPI": {"items": [podname_item(None)]}}]), Some(0o400))},
        {"name": "podinfo-item-0400", "projected": projected(json!([{"downwardAPI": {"items": [podname_item(Some(0o400))]}}]), None)},
    ]);
    let names = [
        "p-cm",
        "p-cm-again",
        "p-cm-0400",
        "p-cm-map",
        "p-cm-map-0400",
        "p-s",
        "p-s-again",
        "p-s-0400",
        "p-s-map",
        "p-s-map-0400",
        "p-all",
    ];
    let source_mounts: Vec<Value> = names
        .iter()
        .map(|n| mount(n, &format!("/etc/{n}")))
        .collect();
    let files = [
        "/etc/p-cm/data-1",
        "/etc/p-cm-again/data-1",
        "/etc/p-cm-0400/data-1",
        "/etc/p-cm-map/path/to/data-2",
        "/etc/p-cm-map-0400/path/to/data-2",
        "/etc/p-s/data-1",
        "/etc/p-s-again/data-1",
        "/etc/p-s-0400/data-1",
        "/etc/p-s-map/new-path-data-1",
        "/etc/p-s-map-0400/new-path-data-1",
        "/etc/p-all/podname",
        "/etc/p-all/secret-data",
        "/etc/p-all/configmap-data",
    ];
    let mut containers = downward_containers("/etc/podinfo", &files);
    for c in &mut containers {
        c["volumeMounts"]
            .as_array_mut()
            .expect("mounts")
            .extend(source_mounts.iter().cloned());
    }
    containers.push(as_user(
        show_container(
            "non-root",
            Value::Array(source_mounts),
            &["/etc/p-cm/data-1", "/etc/p-cm-map/path/to/data-2"],
        ),
        1000,
    ));
    pod("projected-volumes", volumes, containers, json!({}))
}

fn check_projected(logs: &BTreeMap<String, String>) {
    let sources = lines(
        &[
            ("/etc/p-cm/data-1", "value-1", RW),
            ("/etc/p-cm-again/data-1", "value-1", RW),
            ("/etc/p-cm-0400/data-1", "value-1", RO),
            ("/etc/p-cm-map/path/to/data-2", "value-2", RW),
            ("/etc/p-cm-map-0400/path/to/data-2", "value-2", RO),
            ("/etc/p-s/data-1", "value-1", RW),
            ("/etc/p-s-again/data-1", "value-1", RW),
            ("/etc/p-s-0400/data-1", "value-1", RO),
            ("/etc/p-s-map/new-path-data-1", "value-1", RW),
            ("/etc/p-s-map-0400/new-path-data-1", "value-1", RO),
            ("/etc/p-all/podname", "projected-volumes", RW),
            ("/etc/p-all/secret-data", "value-1", RW),
            ("/etc/p-all/configmap-data", "value-1", RW),
        ],
        0,
    );
    assert_eq!(
        logs["client-container"],
        format!(
            "{}{sources}",
            downward_expected("projected-volumes", "/etc/podinfo")
        )
    );
    check_defaults(&logs["no-limits"]);
    assert_eq!(
        logs["non-root"],
        lines(
            &[
                ("/etc/p-cm/data-1", "value-1", RW),
                ("/etc/p-cm-map/path/to/data-2", "value-2", RW),
            ],
            0
        )
    );
}

async fn content_scenario(node: &Node) {
    let data = [
        ("data-1", "value-1"),
        ("data-2", "value-2"),
        ("data-3", "value-3"),
    ];
    create_config_map(node, "default", CM, &data).await;
    let binary = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("configmap-test-binary".into()),
            ..Default::default()
        },
        data: Some([("data-1".to_string(), "value-1".to_string())].into()),
        binary_data: Some(
            [(
                "dump.bin".to_string(),
                ByteString(vec![0xde, 0xca, 0xfe, 0xba, 0xd0, 0xfe, 0xff]),
            )]
            .into(),
        ),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(node.client.clone(), "default")
        .create(&PostParams::default(), &binary)
        .await
        .expect("binary configmap");
    create_secret(node, "default", SECRET, &data).await;
    // Same name, other namespace, other keys: must not leak into the pod.
    create_namespace(node, "secret-namespace-other").await;
    create_secret(
        node,
        "secret-namespace-other",
        SECRET,
        &[("this_should_not_match_content_of_other_secret", "similarly")],
    )
    .await;
    create_config_map(
        node,
        "default",
        "my-configmap",
        &[("configmap-key", "configmap-value")],
    )
    .await;
    create_secret(
        node,
        "default",
        "my-secret",
        &[("secret-key", "secret-value")],
    )
    .await;
    create_config_map(
        node,
        "default",
        "wrapper-configmap",
        &[("data-1", "value-1")],
    )
    .await;
    create_secret(node, "default", "wrapper-secret", &[("data-1", "value-1")]).await;
    for j in 0..RACE_CONFIG_MAPS {
        create_config_map(
            node,
            "default",
            &format!("racey-configmap-{j}"),
            &[("data-1", "value-1")],
        )
        .await;
    }

    let mut all = vec![
        configmap_pod(),
        secret_pod(),
        fs_group_pod(),
        downward_pod(),
        projected_pod(),
        empty_dir_pod("emptydir-disk", None),
        empty_dir_pod("emptydir-memory", Some("Memory")),
        shared_pod(),
        subpath_pod(),
        wrapper_pod(),
    ];
    all.extend((0..RACE_PODS).map(race_pod));
    for p in all {
        create(node, p).await;
    }

    check_configmap(&finished_logs(node, "configmap-volumes").await);
    check_secret(&finished_logs(node, "secret-volumes").await);
    check_fs_group(&finished_logs(node, "fsgroup-volumes").await);
    let downward = finished_logs(node, "downward-volumes").await;
    assert_eq!(
        downward["client-container"],
        downward_expected("downward-volumes", "/etc/podinfo")
    );
    check_defaults(&downward["no-limits"]);
    check_projected(&finished_logs(node, "projected-volumes").await);
    check_empty_dir(&finished_logs(node, "emptydir-disk").await, false);
    check_empty_dir(&finished_logs(node, "emptydir-memory").await, true);
    assert_eq!(
        finished_logs(node, "emptydir-shared").await["busybox-main-container"],
        "Hello from the busy-box sub-container\n"
    );
    check_subpath(&finished_logs(node, "subpath-volumes").await);
    assert_eq!(
        finished_logs(node, "wrapper-volumes").await["c"],
        lines(
            &[
                ("/etc/secret-volume/data-1", "value-1", RW),
                ("/etc/configmap-volume/data-1", "value-1", RW),
            ],
            0
        )
    );
    for i in 0..RACE_PODS {
        assert_eq!(
            finished_logs(node, &format!("wrapped-volume-race-{i}")).await["c"],
            format!("{RACE_CONFIG_MAPS}\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn volume_contents_modes_owners_and_subpaths_match_upstream() {
    if !can_run() {
        return;
    }
    on_node("node-storage-content", content_scenario).await;
}
