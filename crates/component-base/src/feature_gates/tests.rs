use std::collections::BTreeMap;

use clap::Parser;

use super::*;

fn map(pairs: &[(&str, bool)]) -> BTreeMap<String, bool> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[derive(Parser)]
struct Demo {
    #[command(flatten)]
    gates: FeatureGateOptions,
}

#[test]
fn repeated_flags_accumulate_and_flags_override_the_file() {
    let demo = Demo::try_parse_from([
        "demo",
        "--feature-gates=WatchList=false,ImageVolume=true",
        "--feature-gates",
        "WatchList=true",
    ])
    .unwrap();
    let gates = demo.gates.gates().unwrap();
    assert_eq!(gates.enabled("WatchList"), Some(true));
    assert_eq!(gates.enabled("ImageVolume"), Some(true));

    let file = map(&[("ImageVolume", false), ("PodLevelResources", true)]);
    let gates = demo.gates.gates_over(&file).unwrap();
    assert_eq!(gates.enabled("ImageVolume"), Some(true), "flag wins");
    assert_eq!(gates.enabled("PodLevelResources"), Some(true), "file kept");
}

#[test]
fn option_errors_name_the_flag_or_the_file() {
    let demo = Demo::try_parse_from(["demo", "--feature-gates=Foo=true"]).unwrap();
    assert_eq!(
        demo.gates.gates().unwrap_err(),
        "invalid argument \"Foo=true\" for \"--feature-gates\" flag: unrecognized feature gate: Foo"
    );
    let demo = Demo::try_parse_from(["demo"]).unwrap();
    let err = demo
        .gates
        .gates_over(&map(&[("SidecarContainers", false)]))
        .unwrap_err();
    assert_eq!(
        err,
        "invalid featureGates in the config file: cannot set feature gate SidecarContainers to false, feature is locked to true"
    );
}

#[test]
fn metric_has_one_sample_per_gate() {
    let mut gates = FeatureGates::new();
    gates.set("MaxUnavailableStatefulSet=true").unwrap();
    let gauge = feature_gauge(&gates).unwrap();
    let on = |name: &str, stage: &str| gauge.with_label_values(&[name, stage]).get();
    assert_eq!(on("MaxUnavailableStatefulSet", "ALPHA"), 1);
    assert_eq!(on("SidecarContainers", ""), 1);
    assert_eq!(on("KMSv1", "DEPRECATED"), 0);
    assert_eq!(on("AllAlpha", "ALPHA"), 0);
    use prometheus::core::Collector;
    let samples: usize = gauge.collect().iter().map(|f| f.get_metric().len()).sum();
    assert_eq!(samples, known().len());
}
