//! emptyDir modes and sharing, subPath of atomic-writer volumes and the
//! emptyDir wrapper cases: the pods and their expected output, run by
//! the content scenario (`content.rs`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::content::{as_user, mount, pod};
use super::script_container;
use super::show_container;

/// EmptyDir modes: files created with 0644/0666/0777 by root and by a
/// non-root user (1001) keep their modes, the volume itself is 0777, and
/// `medium: Memory` is a tmpfs.
pub(super) fn empty_dir_pod(name: &str, medium: Option<&str>) -> Value {
    let script = |who: &str| {
        format!(
            "for m in 644 666 777; do f=/test-volume/{who}-$m; echo mount-tester new file > $f; \
             chmod $m $f; printf '%s=%s %s\\n' $f \"$(cat $f)\" \"$(stat -c %A $f)\"; done; \
             stat -c %a /test-volume; stat -f -c %T /test-volume"
        )
    };
    let mounts = json!([mount("test-volume", "/test-volume")]);
    let empty_dir = match medium {
        Some(m) => json!({"medium": m}),
        None => json!({}),
    };
    pod(
        name,
        json!([{"name": "test-volume", "emptyDir": empty_dir}]),
        vec![
            script_container("root", mounts.clone(), &script("root")),
            as_user(
                script_container("non-root", mounts, &script("non-root")),
                1001,
            ),
        ],
        json!({}),
    )
}

pub(super) fn check_empty_dir(logs: &BTreeMap<String, String>, memory: bool) {
    for who in ["root", "non-root"] {
        let mut expected = String::new();
        for (m, mode) in [
            ("644", "-rw-r--r--"),
            ("666", "-rw-rw-rw-"),
            ("777", "-rwxrwxrwx"),
        ] {
            expected.push_str(&format!(
                "/test-volume/{who}-{m}=mount-tester new file {mode}\n"
            ));
        }
        expected.push_str("777\n");
        let log = &logs[who];
        let (body, fs_type) = log
            .trim_end()
            .rsplit_once('\n')
            .unwrap_or_else(|| panic!("{log}"));
        assert_eq!(format!("{body}\n"), expected, "{who}");
        if memory {
            assert_eq!(fs_type, "tmpfs", "{who}");
        }
    }
}

/// EmptyDir "Shared volumes between containers": what one container
/// writes, the other reads.
pub(super) fn shared_pod() -> Value {
    let mounts = json!([mount("shared-data", "/usr/share/volumeshare")]);
    pod(
        "emptydir-shared",
        json!([{"name": "shared-data", "emptyDir": {}}]),
        vec![
            script_container(
                "busybox-sub-container",
                mounts.clone(),
                "echo Hello from the busy-box sub-container > /usr/share/volumeshare/shareddata.txt",
            ),
            script_container(
                "busybox-main-container",
                mounts,
                "i=0; while [ ! -s /usr/share/volumeshare/shareddata.txt ] && [ $i -lt 300 ]; \
                 do sleep 0.1; i=$((i+1)); done; cat /usr/share/volumeshare/shareddata.txt",
            ),
        ],
        json!({}),
    )
}

/// SubPath of atomic-writer volumes (upstream `SubpathTestPod` +
/// `TestBasicSubpath`): a key of a ConfigMap (also over an existing file,
/// /etc/resolv.conf), of a Secret, a downwardAPI item in a subdirectory and
/// a projected item in a subdirectory, each mounted alone.
pub(super) fn subpath_pod() -> Value {
    let volumes = json!([
        {"name": "configmap", "configMap": {"name": "my-configmap"}},
        {"name": "secret", "secret": {"secretName": "my-secret"}},
        {"name": "downward", "downwardAPI": {"items": [{"path": "downward/podname", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}]}},
        {"name": "projected", "projected": {"sources": [{"configMap": {"name": "my-configmap", "items": [{"key": "configmap-key", "path": "projected/configmap-key"}]}}]}},
    ]);
    let reader = |name: &str, volume: &str, sub_path: &str, path: &str| {
        script_container(
            name,
            json!([{"name": volume, "mountPath": path, "subPath": sub_path}]),
            &format!("cat {path}"),
        )
    };
    pod(
        "subpath-volumes",
        volumes,
        vec![
            reader("configmap", "configmap", "configmap-key", "/test-volume"),
            reader(
                "configmap-file",
                "configmap",
                "configmap-key",
                "/etc/resolv.conf",
            ),
            reader("secret", "secret", "secret-key", "/test-volume"),
            reader("downward", "downward", "downward/podname", "/test-volume"),
            reader(
                "projected",
                "projected",
                "projected/configmap-key",
                "/test-volume",
            ),
        ],
        json!({}),
    )
}

pub(super) fn check_subpath(logs: &BTreeMap<String, String>) {
    for (container, expected) in [
        ("configmap", "configmap-value"),
        ("configmap-file", "configmap-value"),
        ("secret", "secret-value"),
        ("downward", "subpath-volumes"),
        ("projected", "configmap-value"),
    ] {
        assert_eq!(logs[container], expected, "{container}");
    }
}

/// EmptyDir wrapper volumes: a Secret and a ConfigMap volume side by side
/// ("no conflict") and many ConfigMap volumes in pods started together
/// ("no race"; upstream uses 50 ConfigMaps in 5 replicas).
pub(super) fn wrapper_pod() -> Value {
    pod(
        "wrapper-volumes",
        json!([
            {"name": "secret-volume", "secret": {"secretName": "wrapper-secret"}},
            {"name": "configmap-volume", "configMap": {"name": "wrapper-configmap"}},
        ]),
        vec![show_container(
            "c",
            json!([
                mount("secret-volume", "/etc/secret-volume"),
                mount("configmap-volume", "/etc/configmap-volume")
            ]),
            &["/etc/secret-volume/data-1", "/etc/configmap-volume/data-1"],
        )],
        json!({}),
    )
}

pub(super) const RACE_CONFIG_MAPS: usize = 50;
pub(super) const RACE_PODS: usize = 3;

pub(super) fn race_pod(i: usize) -> Value {
    let volumes: Vec<Value> = (0..RACE_CONFIG_MAPS)
        .map(|j| json!({"name": format!("racey-configmap-{j}"), "configMap": {"name": format!("racey-configmap-{j}")}}))
        .collect();
    let mounts: Vec<Value> = (0..RACE_CONFIG_MAPS)
        .map(|j| mount(&format!("racey-configmap-{j}"), &format!("/etc/config-{j}")))
        .collect();
    pod(
        &format!("wrapped-volume-race-{i}"),
        Value::Array(volumes),
        vec![script_container(
            "c",
            Value::Array(mounts),
            "for f in /etc/config-*/data-1; do cat $f; echo; done | grep -c '^value-1$'",
        )],
        json!({}),
    )
}
