use std::collections::HashMap;
use std::path::Path;

use corten_cri::api;

use super::cgroup::Hierarchy;
use super::render::{FsUsage, Machine};
use super::*;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

/// A v1 cgroup with CPU and memory usage in every controller tree.
fn cgroup(root: &Path, path: &str, cpu_ns: u64, memory: u64, quota: i64) {
    let rel = path.trim_start_matches('/');
    let cpuacct = root.join("cpuacct").join(rel);
    write(&cpuacct, "cpuacct.usage", &format!("{cpu_ns}\n"));
    write(&cpuacct, "cpuacct.stat", "user 3\nsystem 1\n");
    let cpu = root.join("cpu").join(rel);
    write(&cpu, "cpu.shares", "102\n");
    write(&cpu, "cpu.cfs_period_us", "100000\n");
    write(&cpu, "cpu.cfs_quota_us", &format!("{quota}\n"));
    write(
        &cpu,
        "cpu.stat",
        "nr_periods 5\nnr_throttled 1\nthrottled_time 2000000\n",
    );
    write(&cpu, "cgroup.procs", &format!("{}\n", std::process::id()));
    let mem = root.join("memory").join(rel);
    write(&mem, "memory.usage_in_bytes", &format!("{memory}\n"));
    write(
        &mem,
        "memory.stat",
        "total_cache 100\ntotal_rss 200\ntotal_inactive_file 50\n",
    );
    write(&mem, "memory.limit_in_bytes", "134217728\n");
}

fn sandbox(id: &str, uid: &str) -> api::PodSandbox {
    api::PodSandbox {
        id: id.into(),
        metadata: Some(api::PodSandboxMetadata {
            name: "web".into(),
            uid: uid.into(),
            namespace: "default".into(),
            attempt: 0,
        }),
        state: api::PodSandboxState::SandboxReady as i32,
        created_at: 1_700_000_000_000_000_000,
        labels: [
            (labels::POD_NAME.to_string(), "web".to_string()),
            (labels::POD_NAMESPACE.to_string(), "default".to_string()),
            (labels::POD_UID.to_string(), uid.to_string()),
        ]
        .into(),
        ..Default::default()
    }
}

fn container(id: &str, sandbox: &str, name: &str) -> api::Container {
    api::Container {
        id: id.into(),
        pod_sandbox_id: sandbox.into(),
        metadata: Some(api::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(api::ImageSpec {
            image: "sha256:abc".into(),
            ..Default::default()
        }),
        state: api::ContainerState::ContainerRunning as i32,
        created_at: 1_700_000_001_500_000_000,
        labels: [(labels::CONTAINER_NAME.to_string(), name.to_string())].into(),
        ..Default::default()
    }
}

#[test]
fn a_pod_its_sandbox_and_container_with_upstream_names_and_labels() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path();
    let hierarchy = Hierarchy::V1 {
        cpu: Some(root.join("cpu")),
        cpuacct: Some(root.join("cpuacct")),
        memory: Some(root.join("memory")),
        pids: None,
    };
    cgroup(root, "/test/kubepods", 9_000_000_000, 1 << 30, -1);
    cgroup(root, "/test/kubepods/burstable", 5_000_000_000, 1 << 29, -1);
    cgroup(
        root,
        "/test/kubepods/burstable/podu1",
        2_000_000_000,
        4096,
        50000,
    );
    cgroup(root, "/test/kubepods/burstable/podu1/sb1", 1_000, 1024, -1);
    cgroup(
        root,
        "/test/kubepods/burstable/podu1/c1",
        1_500_000_000,
        3072,
        50000,
    );
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
        "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]},
    }))
    .unwrap();
    let pods: HashMap<String, Pod> = [("u1".to_string(), pod)].into();
    let sandboxes = [sandbox("sb1", "u1"), sandbox("gone", "u2")];
    let containers = [container("c1", "sb1", "app"), container("c9", "nope", "x")];
    let layers: HashMap<String, u64> = [("c1".to_string(), 8192)].into();
    let inventory = Inventory {
        cgroup_root: "/test",
        per_qos: true,
        sandbox_image: "registry.k8s.io/pause:3.10",
        sandboxes: &sandboxes,
        containers: &containers,
        pods: &pods,
        layer_usage: &layers,
        image_fs: Some(FsUsage {
            device: "/dev/vda".into(),
            usage: 0,
            limit: 1 << 40,
            inodes: 1000,
            inodes_free: 400,
        }),
    };
    let targets = targets(&hierarchy, &inventory);
    let ids: Vec<&str> = targets.iter().map(|t| t.labels.id.as_str()).collect();
    // u2 has no pod cgroup (it is gone): neither it nor its orphan container appears.
    assert_eq!(
        ids,
        [
            "/",
            "/test/kubepods",
            "/test/kubepods/burstable",
            "/test/kubepods/burstable/podu1",
            "/test/kubepods/burstable/podu1/sb1",
            "/test/kubepods/burstable/podu1/c1",
        ]
    );
    let series = read(&hierarchy, targets);
    let machine = Machine {
        cores: 2,
        physical_cores: 2,
        sockets: 1,
        memory_bytes: 1 << 34,
        machine_id: "m".into(),
        system_uuid: "s".into(),
        boot_id: "b".into(),
    };
    let text = render::render(&machine, &series, false, 1_700_000_100_000);
    let app = "container=\"app\",id=\"/test/kubepods/burstable/podu1/c1\",image=\"busybox:1.36\",name=\"c1\",namespace=\"default\",pod=\"web\"";
    let pod = "container=\"\",id=\"/test/kubepods/burstable/podu1\",image=\"\",name=\"\",namespace=\"default\",pod=\"web\"";
    let pause = "container=\"\",id=\"/test/kubepods/burstable/podu1/sb1\",image=\"registry.k8s.io/pause:3.10\",name=\"sb1\",namespace=\"default\",pod=\"web\"";
    for line in [
        "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.".to_string(),
        "# TYPE container_cpu_usage_seconds_total counter".to_string(),
        "container_cpu_usage_seconds_total{container=\"app\",cpu=\"total\",id=\"/test/kubepods/burstable/podu1/c1\",image=\"busybox:1.36\",name=\"c1\",namespace=\"default\",pod=\"web\"} 1.5 1700000100000".to_string(),
        "container_cpu_usage_seconds_total{container=\"\",cpu=\"total\",id=\"/test/kubepods/burstable/podu1\",image=\"\",name=\"\",namespace=\"default\",pod=\"web\"} 2 1700000100000".to_string(),
        format!("container_cpu_user_seconds_total{{{app}}} 0.03 1700000100000"),
        format!("container_memory_working_set_bytes{{{app}}} 3022 1700000100000"),
        format!("container_memory_usage_bytes{{{app}}} 3072 1700000100000"),
        format!("container_memory_rss{{{app}}} 200 1700000100000"),
        format!("container_memory_cache{{{app}}} 100 1700000100000"),
        format!("container_spec_memory_limit_bytes{{{app}}} 134217728"),
        format!("container_spec_cpu_shares{{{app}}} 102"),
        format!("container_spec_cpu_quota{{{app}}} 50000"),
        format!("container_spec_cpu_period{{{app}}} 100000"),
        format!("container_cpu_cfs_throttled_seconds_total{{{app}}} 0.002 1700000100000"),
        format!("container_start_time_seconds{{{app}}} 1700000001.5"),
        format!("container_last_seen{{{app}}} 1700000100 1700000100000"),
        "container_fs_usage_bytes{container=\"app\",device=\"/dev/vda\",id=\"/test/kubepods/burstable/podu1/c1\",image=\"busybox:1.36\",name=\"c1\",namespace=\"default\",pod=\"web\"} 8192 1700000100000".to_string(),
        format!("container_memory_working_set_bytes{{{pod}}} 4046 1700000100000"),
        format!("container_start_time_seconds{{{pause}}} 1700000000"),
        "container_memory_working_set_bytes{container=\"\",id=\"/test/kubepods\",image=\"\",name=\"\",namespace=\"\",pod=\"\"} 1073741774 1700000100000".to_string(),
        "container_memory_failures_total{container=\"app\",failure_type=\"pgfault\",id=\"/test/kubepods/burstable/podu1/c1\",image=\"busybox:1.36\",name=\"c1\",namespace=\"default\",pod=\"web\",scope=\"container\"} 0 1700000100000".to_string(),
        "machine_cpu_cores{boot_id=\"b\",machine_id=\"m\",system_uuid=\"s\"} 2 1700000100000".to_string(),
        "machine_memory_bytes{boot_id=\"b\",machine_id=\"m\",system_uuid=\"s\"} 17179869184 1700000100000".to_string(),
        "container_scrape_error 0".to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    // No quota: no CFS series for the sandbox; network only on the sandbox and `/`.
    assert!(!text.contains(&format!("container_cpu_cfs_periods_total{{{pause}}}")));
    let network: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("container_network_receive_bytes_total{"))
        .collect();
    assert!(
        network
            .iter()
            .all(|l| l.contains("id=\"/\"") || l.contains("name=\"sb1\"")),
        "{network:?}"
    );
    // Families come out sorted, each HELP/TYPE once.
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted);
}

#[test]
fn without_per_qos_cgroups_containers_sit_under_the_root() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path();
    let hierarchy = Hierarchy::V1 {
        cpu: Some(root.join("cpu")),
        cpuacct: Some(root.join("cpuacct")),
        memory: Some(root.join("memory")),
        pids: None,
    };
    cgroup(root, "/flat/sb1", 10, 10, -1);
    cgroup(root, "/flat/c1", 10, 10, -1);
    let pods = HashMap::new();
    let layers = HashMap::new();
    let sandboxes = [sandbox("sb1", "u1")];
    let containers = [container("c1", "sb1", "app")];
    let inventory = Inventory {
        cgroup_root: "/flat",
        per_qos: false,
        sandbox_image: "pause",
        sandboxes: &sandboxes,
        containers: &containers,
        pods: &pods,
        layer_usage: &layers,
        image_fs: None,
    };
    let series = read(&hierarchy, targets(&hierarchy, &inventory));
    let ids: Vec<&str> = series.iter().map(|s| s.labels.id.as_str()).collect();
    assert_eq!(ids, ["/", "/flat/sb1", "/flat/c1"]);
    // The image falls back to what the runtime says.
    assert_eq!(series[2].labels.image, "sha256:abc");
    assert_eq!(series[2].labels.container, "app");
}
