use super::*;

#[test]
fn parses_upstream_files_with_acronyms_and_defaults() {
    let text = r#"
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
clusterDNS: ["10.96.0.10"]
clusterDomain: cluster.local
cgroupsPerQOS: false
podCIDR: 10.244.1.0/24
syncFrequency: 30s
staticPodPath: /etc/kubernetes/manifests
authentication:
  anonymous:
    enabled: false
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
registerWithTaints:
- key: dedicated
  value: infra
  effect: NoSchedule
somethingNew: 1
"#;
    let (config, unknown) = KubeletConfiguration::parse(text, Path::new("k.yaml")).unwrap();
    assert_eq!(unknown, ["somethingNew"]);
    assert_eq!(
        config.cluster_dns.as_deref(),
        Some(&["10.96.0.10".to_string()][..])
    );
    assert_eq!(config.cgroups_per_qos, Some(false));
    assert_eq!(config.pod_cidr.as_deref(), Some("10.244.1.0/24"));
    let config = config.defaulted();
    config.validate().unwrap();
    assert_eq!(config.sync_frequency, Some(Duration::from_secs(30)));
    assert_eq!(config.port, Some(10250));
    assert_eq!(config.healthz_port, Some(10248));
    assert_eq!(
        config.register_with_taints.as_ref().unwrap()[0].key,
        "dedicated"
    );
    assert_eq!(
        config.eviction_hard.as_ref().unwrap()["memory.available"],
        "100Mi"
    );
}

#[test]
fn rejects_wrong_kind_and_bad_values() {
    let err = KubeletConfiguration::parse("kind: Pod\n", Path::new("x")).unwrap_err();
    assert!(
        err.to_string().contains("is not KubeletConfiguration"),
        "{err}"
    );
    let err = KubeletConfiguration::parse("syncFrequency: soon\n", Path::new("x")).unwrap_err();
    assert!(
        err.to_string().contains("syncFrequency") || err.to_string().contains("soon"),
        "{err}"
    );
    let (config, _) =
        KubeletConfiguration::parse("cgroupDriver: systemd\n", Path::new("x")).unwrap();
    assert!(config.defaulted().validate().is_err());
    let (config, _) = KubeletConfiguration::parse("clusterDNS: [nope]\n", Path::new("x")).unwrap();
    assert!(config.defaulted().validate().is_err());
}

#[test]
fn taints() {
    let t = parse_taint("key=value:NoSchedule").unwrap();
    assert_eq!(
        (t.key.as_str(), t.value.as_deref(), t.effect.as_str()),
        ("key", Some("value"), "NoSchedule")
    );
    let t = parse_taint("node-role.kubernetes.io/control-plane:NoExecute").unwrap();
    assert_eq!(t.value, None);
    assert!(parse_taint("key=value").is_err());
    assert!(parse_taint("key=value:Sometimes").is_err());
}
