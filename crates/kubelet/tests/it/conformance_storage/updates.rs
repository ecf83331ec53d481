//! Updates reaching mounted volumes within the sync period: ConfigMap and
//! Secret changes (plain and projected, optional sources created, updated
//! and deleted, a required one deleted keeping its last content) and pod
//! label/annotation changes in downwardAPI files. One
//! long-running pod prints every watched file each second, as upstream's
//! `mounttest --file_content_in_loop` does, and the test reads its log.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, LogParams, Patch, PatchParams};
use serde_json::{Value, json};

use super::*;
use crate::harness::can_run;

/// The optional-source trio of upstream's "create, update and delete"
/// tests: `<prefix>-del` exists and is deleted, `<prefix>-upd` exists and
/// loses data-1 but gains data-3, `<prefix>-create` appears later.
const TRIO: [&str; 3] = ["del", "upd", "create"];

fn optional_volumes(kind: &str, prefix: &str) -> Vec<Value> {
    TRIO.iter()
        .map(|t| {
            let name = format!("{prefix}-{t}");
            let source = match kind {
                "configMap" => json!({"configMap": {"name": name, "optional": true}}),
                "secret" => json!({"secret": {"secretName": name, "optional": true}}),
                "projectedConfigMap" => json!({"projected": {"sources": [
                    {"configMap": {"name": name, "optional": true}}]}}),
                _ => json!({"projected": {"sources": [
                    {"secret": {"name": name, "optional": true}}]}}),
            };
            let mut volume = source;
            volume["name"] = json!(name);
            volume
        })
        .collect()
}

const PREFIXES: [(&str, &str); 4] = [
    ("configMap", "cm-test-opt"),
    ("secret", "s-test-opt"),
    ("projectedConfigMap", "p-cm-test-opt"),
    ("projectedSecret", "p-s-test-opt"),
];

/// Every watched file; upstream reads `delete/data-1`, `update/data-3` and
/// `create/data-1` of each trio.
fn watched() -> Vec<String> {
    let mut files = vec![
        "/etc/cm-keep/data-1".to_string(),
        "/etc/cm-upd/data-1".to_string(),
        "/etc/p-cm-upd/data-1".to_string(),
        "/etc/podinfo/labels".to_string(),
        "/etc/podinfo/annotations".to_string(),
        "/etc/p-podinfo/labels".to_string(),
        "/etc/p-podinfo/annotations".to_string(),
    ];
    for (_, prefix) in PREFIXES {
        for (t, key) in [
            ("del", "data-1"),
            ("upd", "data-1"),
            ("upd", "data-3"),
            ("create", "data-1"),
        ] {
            files.push(format!("/etc/{prefix}-{t}/{key}"));
        }
    }
    files
}

fn update_pod() -> Value {
    let podinfo_items = json!([
        {"path": "labels", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}},
        {"path": "annotations", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.annotations"}},
    ]);
    let mut volumes = vec![
        // First on purpose: its refresh fails once the ConfigMap is gone,
        // and that must neither drop its content nor stop the refresh of
        // the volumes after it.
        json!({"name": "cm-keep", "configMap": {"name": "configmap-test-keep"}}),
        json!({"name": "cm-upd", "configMap": {"name": "configmap-test-upd"}}),
        json!({"name": "p-cm-upd", "projected": {"sources": [{"configMap": {"name": "projected-configmap-test-upd"}}]}}),
        json!({"name": "podinfo", "downwardAPI": {"items": podinfo_items.clone()}}),
        json!({"name": "p-podinfo", "projected": {"sources": [{"downwardAPI": {"items": podinfo_items}}]}}),
    ];
    for (kind, prefix) in PREFIXES {
        volumes.extend(optional_volumes(kind, prefix));
    }
    let mounts: Vec<Value> = volumes
        .iter()
        .map(|v| {
            let name = v["name"].as_str().unwrap_or_default();
            json!({"name": name, "mountPath": format!("/etc/{name}"), "readOnly": true})
        })
        .collect();
    let script = format!(
        "while true; do for f in {}; do if [ -e $f ]; then printf '%s=%s\\n' $f \"$(cat $f)\"; \
         else echo \"$f missing\"; fi; done; echo ---; sleep 1; done",
        watched().join(" ")
    );
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "volume-updates",
            "labels": {"key1": "value1", "key2": "value2"},
            "annotations": {"builder": "bar"},
        },
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "volumes": volumes,
            "containers": [script_container("client-container", Value::Array(mounts), &script)],
        }
    })
}

/// The newest complete block the container printed.
async fn latest_block(node: &Node) -> String {
    let log = pods(node, "default")
        .logs(
            "volume-updates",
            &LogParams {
                tail_lines: Some(200),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_default();
    let blocks: Vec<&str> = log.split("---\n").collect();
    // The last element is the block being printed (or empty).
    blocks
        .len()
        .checked_sub(2)
        .map(|i| blocks[i].to_string())
        .unwrap_or_default()
}

/// Waits until the newest block contains every `expected` line.
async fn wait_block(node: &Node, what: &str, expected: &[String]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let block = latest_block(node).await;
        if expected.iter().all(|e| block.contains(e.as_str())) {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            let missing: Vec<&String> = expected
                .iter()
                .filter(|e| !block.contains(e.as_str()))
                .collect();
            panic!("{what}: missing {missing:#?}\nlatest block:\n{block}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn trio_lines(before: bool) -> Vec<String> {
    let mut out = Vec::new();
    for (_, prefix) in PREFIXES {
        let f = |t: &str, key: &str| format!("/etc/{prefix}-{t}/{key}");
        if before {
            out.push(format!("{}=value-1", f("del", "data-1")));
            out.push(format!("{}=value-1", f("upd", "data-1")));
            out.push(format!("{} missing", f("upd", "data-3")));
            out.push(format!("{} missing", f("create", "data-1")));
        } else {
            out.push(format!("{} missing", f("del", "data-1")));
            out.push(format!("{} missing", f("upd", "data-1")));
            out.push(format!("{}=value-3", f("upd", "data-3")));
            out.push(format!("{}=value-1", f("create", "data-1")));
        }
    }
    out
}

async fn updates_scenario(node: &Node) {
    let one = [("data-1", "value-1")];
    create_config_map(node, "default", "configmap-test-upd", &one).await;
    create_config_map(node, "default", "configmap-test-keep", &one).await;
    create_config_map(node, "default", "projected-configmap-test-upd", &one).await;
    for (kind, prefix) in PREFIXES {
        for t in ["del", "upd"] {
            let name = format!("{prefix}-{t}");
            if kind.to_lowercase().ends_with("configmap") {
                create_config_map(node, "default", &name, &one).await;
            } else {
                create_secret(node, "default", &name, &one).await;
            }
        }
    }
    create(node, update_pod()).await;

    let mut before = vec![
        "/etc/cm-keep/data-1=value-1".to_string(),
        "/etc/cm-upd/data-1=value-1".to_string(),
        "/etc/p-cm-upd/data-1=value-1".to_string(),
    ];
    for dir in ["podinfo", "p-podinfo"] {
        before.push(format!(
            "/etc/{dir}/labels=key1=\"value1\"\nkey2=\"value2\"\n"
        ));
        before.push(format!("/etc/{dir}/annotations=builder=\"bar\""));
    }
    before.extend(trio_lines(true));
    wait_block(node, "initial content", &before).await;

    // Every change at once; all must show up within the sync period.
    let config_maps: Api<ConfigMap> = Api::namespaced(node.client.clone(), "default");
    let secrets: Api<Secret> = Api::namespaced(node.client.clone(), "default");
    let merge = PatchParams::default();
    for name in ["configmap-test-upd", "projected-configmap-test-upd"] {
        config_maps
            .patch(
                name,
                &merge,
                &Patch::Merge(json!({"data": {"data-1": "value-2"}})),
            )
            .await
            .expect("update configmap");
    }
    config_maps
        .delete("configmap-test-keep", &DeleteParams::default())
        .await
        .expect("delete");
    for (kind, prefix) in PREFIXES {
        let is_cm = kind.to_lowercase().ends_with("configmap");
        let del = format!("{prefix}-del");
        let upd = format!("{prefix}-upd");
        let create = format!("{prefix}-create");
        if is_cm {
            config_maps
                .delete(&del, &DeleteParams::default())
                .await
                .expect("delete");
            config_maps
                .patch(
                    &upd,
                    &merge,
                    &Patch::Merge(json!({"data": {"data-1": null, "data-3": "value-3"}})),
                )
                .await
                .expect("update");
            create_config_map(node, "default", &create, &[("data-1", "value-1")]).await;
        } else {
            secrets
                .delete(&del, &DeleteParams::default())
                .await
                .expect("delete");
            // "dmFsdWUtMw==" is base64 of "value-3".
            secrets
                .patch(
                    &upd,
                    &merge,
                    &Patch::Merge(json!({"data": {"data-1": null, "data-3": "dmFsdWUtMw=="}})),
                )
                .await
                .expect("update");
            create_secret(node, "default", &create, &[("data-1", "value-1")]).await;
        }
    }
    pods(node, "default")
        .patch(
            "volume-updates",
            &merge,
            &Patch::Merge(json!({"metadata": {"labels": {"key3": "value3"}, "annotations": {"builder": "foo"}}})),
        )
        .await
        .expect("relabel");

    let mut after = vec![
        "/etc/cm-keep/data-1=value-1".to_string(),
        "/etc/cm-upd/data-1=value-2".to_string(),
        "/etc/p-cm-upd/data-1=value-2".to_string(),
    ];
    for dir in ["podinfo", "p-podinfo"] {
        after.push(format!(
            "/etc/{dir}/labels=key1=\"value1\"\nkey2=\"value2\"\nkey3=\"value3\"\n"
        ));
        after.push(format!("/etc/{dir}/annotations=builder=\"foo\""));
    }
    after.extend(trio_lines(false));
    wait_block(node, "updated content", &after).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn configmap_secret_and_downward_updates_reach_mounted_volumes() {
    if !can_run() {
        return;
    }
    on_node("node-storage-updates", updates_scenario).await;
}
