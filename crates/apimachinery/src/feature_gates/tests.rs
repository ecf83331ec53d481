use super::*;

#[test]
fn table_is_sorted_unique_and_has_upstream_gates() {
    let all = known();
    assert!(all.len() > 180, "only {} gates", all.len());
    for pair in all.windows(2) {
        assert!(
            pair[0].name < pair[1].name,
            "{} / {}",
            pair[0].name,
            pair[1].name
        );
    }
    let check = |name: &str, stage: Stage, default: bool, locked: bool| {
        let spec = spec(name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(
            (spec.stage, spec.default, spec.locked),
            (stage, default, locked),
            "{name}"
        );
    };
    check("MaxUnavailableStatefulSet", Stage::Alpha, false, false);
    check("SidecarContainers", Stage::Ga, true, true);
    check("InPlacePodVerticalScaling", Stage::Beta, true, false);
    check("KMSv1", Stage::Deprecated, false, false);
    check("MultiCIDRServiceAllocator", Stage::Ga, true, false);
    check("WatchList", Stage::Beta, true, false);
    check("AllAlpha", Stage::Alpha, false, false);
    check("AllBeta", Stage::Beta, false, false);
    // Removed upstream before 1.33.
    assert!(spec("AppArmor").is_none());
    assert!(spec("CPUManager").is_none());
}

#[test]
fn defaults_apply_when_nothing_is_set() {
    let gates = FeatureGates::new();
    assert_eq!(gates.enabled("MaxUnavailableStatefulSet"), Some(false));
    assert_eq!(gates.enabled("SidecarContainers"), Some(true));
    assert_eq!(gates.enabled("NoSuchGate"), None);
    assert!(gates.warnings().is_empty());
}

#[test]
fn set_parses_pairs_with_spaces_and_empty_items() {
    let mut gates = FeatureGates::new();
    gates
        .set(" MaxUnavailableStatefulSet = true ,,WatchList=false,")
        .unwrap();
    assert_eq!(gates.enabled("MaxUnavailableStatefulSet"), Some(true));
    assert_eq!(gates.enabled("WatchList"), Some(false));
    // Go's ParseBool spellings.
    gates.set("WatchList=T,ImageVolume=1").unwrap();
    assert_eq!(gates.enabled("WatchList"), Some(true));
    assert_eq!(gates.enabled("ImageVolume"), Some(true));
}

#[test]
fn later_values_win_and_earlier_ones_stay() {
    let mut gates = FeatureGates::new();
    gates
        .set("MaxUnavailableStatefulSet=true,WatchList=false")
        .unwrap();
    gates.set("MaxUnavailableStatefulSet=false").unwrap();
    assert_eq!(gates.enabled("MaxUnavailableStatefulSet"), Some(false));
    assert_eq!(gates.enabled("WatchList"), Some(false));
}

#[test]
fn errors_have_upstream_messages_and_change_nothing() {
    let mut gates = FeatureGates::new();
    gates.set("WatchList=false").unwrap();
    let before = gates.clone();
    assert_eq!(
        gates.set("Foo=true").unwrap_err(),
        "unrecognized feature gate: Foo"
    );
    assert_eq!(
        gates.set("SidecarContainers=false").unwrap_err(),
        "cannot set feature gate SidecarContainers to false, feature is locked to true"
    );
    assert_eq!(
        gates.set("WatchList=maybe").unwrap_err(),
        "invalid value of WatchList=maybe, err: strconv.ParseBool: parsing \"maybe\": invalid syntax"
    );
    assert_eq!(
        gates.set("WatchList").unwrap_err(),
        "missing bool value for WatchList"
    );
    assert_eq!(
        gates
            .set("SidecarContainers=false,NFTablesProxyMode=false")
            .unwrap_err(),
        "[cannot set feature gate NFTablesProxyMode to false, feature is locked to true, \
         cannot set feature gate SidecarContainers to false, feature is locked to true]"
    );
    assert_eq!(gates, before);
    // Setting a locked gate to its default is fine.
    gates.set("SidecarContainers=true").unwrap();
}

#[test]
fn ga_and_deprecated_gates_warn_like_upstream() {
    let mut gates = FeatureGates::new();
    gates
        .set("SidecarContainers=true,KMSv1=true,WatchList=true")
        .unwrap();
    assert_eq!(
        gates.warnings(),
        [
            "Setting deprecated feature gate KMSv1=true. It will be removed in a future release.",
            "Setting GA feature gate SidecarContainers=true. It will be removed in a future release.",
        ]
    );
}

#[test]
fn all_alpha_and_all_beta_set_unset_gates_only() {
    let mut gates = FeatureGates::new();
    gates
        .set("AllAlpha=true,MaxUnavailableStatefulSet=false")
        .unwrap();
    assert_eq!(gates.enabled("AllAlpha"), Some(true));
    assert_eq!(gates.enabled("ImageVolume"), Some(false), "beta untouched");
    assert_eq!(gates.enabled("PodLevelResources"), Some(true));
    assert_eq!(gates.enabled("MaxUnavailableStatefulSet"), Some(false));
    assert_eq!(gates.enabled("AllBeta"), Some(false));

    let mut gates = FeatureGates::new();
    gates.set("AllBeta=false,WatchList=true").unwrap();
    assert_eq!(gates.enabled("ConsistentListFromCache"), Some(false));
    assert_eq!(gates.enabled("WatchList"), Some(true));
    assert_eq!(
        gates.enabled("SidecarContainers"),
        Some(true),
        "GA untouched"
    );
    assert!(gates.warnings().is_empty());
}
