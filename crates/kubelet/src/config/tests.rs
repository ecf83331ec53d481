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

#[test]
fn topology_manager_settings_with_upstream_messages() {
    let config = KubeletConfiguration::default().defaulted();
    assert_eq!(config.topology_manager_policy.as_deref(), Some("none"));
    assert_eq!(config.topology_manager_scope.as_deref(), Some("container"));
    config.validate().unwrap();

    let (config, unknown) = KubeletConfiguration::parse(
        "topologyManagerPolicy: single-numa-node\ntopologyManagerScope: pod\n\
         topologyManagerPolicyOptions: {prefer-closest-numa-nodes: \"true\", max-allowable-numa-nodes: \"16\"}\n",
        Path::new("k.yaml"),
    )
    .unwrap();
    assert!(unknown.is_empty(), "{unknown:?}");
    let config = config.defaulted();
    config.validate().unwrap();
    assert_eq!(
        topology::policy_options(config.topology_manager_policy_options.as_ref().unwrap()),
        Ok(topology::PolicyOptions {
            prefer_closest_numa: true,
            max_allowable_numa_nodes: 16
        })
    );
    for policy in topology::POLICIES {
        for scope in topology::SCOPES {
            topology::validate(policy, scope).unwrap();
        }
    }

    let check = |yaml: &str| {
        let (config, _) = KubeletConfiguration::parse(yaml, Path::new("k.yaml")).unwrap();
        config.defaulted().validate().unwrap_err().to_string()
    };
    assert_eq!(
        check("topologyManagerPolicy: invalid-policy\n"),
        r#"invalid configuration: topologyManagerPolicy (--topology-manager-policy) "invalid-policy" must be one of: ["none" "best-effort" "restricted" "single-numa-node"]"#
    );
    assert_eq!(
        check("topologyManagerScope: invalid-scope\n"),
        r#"invalid configuration: topologyManagerScope (--topology-manager-scope) "invalid-scope" must be one of: "container", or "pod""#
    );
    assert_eq!(
        check("topologyManagerPolicyOptions: {no-such-option: \"true\"}\n"),
        r#"unknown Topology Manager Policy option: "no-such-option""#
    );
    assert_eq!(
        check("topologyManagerPolicyOptions: {prefer-closest-numa-nodes: \"yes\"}\n"),
        r#"bad value for option "prefer-closest-numa-nodes": strconv.ParseBool: parsing "yes": invalid syntax"#
    );
    assert_eq!(
        check("topologyManagerPolicyOptions: {max-allowable-numa-nodes: \"many\"}\n"),
        r#"bad value for option "max-allowable-numa-nodes": strconv.Atoi: parsing "many": invalid syntax"#
    );
    // Unset: upstream's limit of 8 NUMA nodes.
    assert_eq!(
        topology::policy_options(&BTreeMap::new())
            .unwrap()
            .max_allowable_numa_nodes,
        8
    );
}
