use serde_json::{Value, json};

use super::testing::{assert_same_create, assert_same_updates};
use super::*;
use crate::builtin_resources;

fn dropped_by_decode<T: DeserializeOwned>(obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    decode_body::<T>(obj, Some(&mut out)).unwrap();
    out
}

fn dropped_by_round_trip<T: DeserializeOwned + serde::Serialize>(obj: &Value) -> Vec<String> {
    let canonical = crate::typed::round_trip::<T>(obj.clone()).unwrap();
    dropped_json_fields(obj, &canonical)
}

#[test]
fn decoding_reports_the_fields_a_round_trip_drops() {
    use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
    let cm = json!({
        "metadata": {"name": "a", "bogus": 1, "labels": {"k": "v"}},
        "data": {"k": "v"},
        "extra": {"x": 1},
        "binaryData": null,
        "nullUnknown": null
    });
    assert_eq!(
        dropped_by_decode::<ConfigMap>(&cm),
        vec!["metadata.bogus", "extra"]
    );
    assert_eq!(
        dropped_by_decode::<ConfigMap>(&cm),
        dropped_by_round_trip::<ConfigMap>(&cm)
    );

    let svc =
        json!({"spec": {"ports": [{"port": 80}, {"port": 81, "nope": true, "deep": {"x": null}}]}});
    assert_eq!(
        dropped_by_decode::<Service>(&svc),
        vec!["spec.ports[1].nope", "spec.ports[1].deep"]
    );
    assert_eq!(
        dropped_by_decode::<Service>(&svc),
        dropped_by_round_trip::<Service>(&svc)
    );

    let pod = json!({
        "metadata": {"name": "p", "annotations": {"a": "b"}},
        "spec": {
            "containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1"}, "weird": {}},
                            "env": [{"name": "A", "value": "1", "valueFromm": {}}]}],
            "extra": [1, 2]
        },
        "status": {"phase": "Running", "bogus": "x"}
    });
    let expected = vec![
        "spec.containers[0].resources.weird",
        "spec.containers[0].env[0].valueFromm",
        "spec.extra",
        "status.bogus",
    ];
    assert_eq!(dropped_by_decode::<Pod>(&pod), expected);
    assert_eq!(dropped_by_round_trip::<Pod>(&pod), expected);
}

#[test]
fn decode_errors_match_the_owned_decode() {
    use k8s_openapi::api::core::v1::Pod;
    for bad in [
        json!({"metadata": {"name": 5}}),
        json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": "80"}]}]}}),
        json!({"spec": "nope"}),
        json!({"apiVersion": "v2", "kind": "Pod"}),
    ] {
        let owned = crate::typed::from_value::<Pod>(bad.clone()).unwrap_err();
        let borrowed = decode_body::<Pod>(&bad, None).unwrap_err();
        let tracked = decode_body::<Pod>(&bad, Some(&mut Vec::new())).unwrap_err();
        assert_eq!(owned, borrowed);
        assert_eq!(owned, tracked);
    }
}

/// Generic bodies for a kind: plain, with unknown fields, with a status,
/// with a generated name, and undecodable.
fn generic_bodies(api_version: &str, kind: &str, namespaced: bool) -> Vec<Value> {
    let mut meta = json!({"name": "a", "labels": {"app": "x"}, "annotations": {"n": "v"}});
    if namespaced {
        meta["namespace"] = json!("ns");
    }
    let base = json!({"apiVersion": api_version, "kind": kind, "metadata": meta});
    let mut unknown = base.clone();
    unknown["bogus"] = json!({"x": 1});
    unknown["nothing"] = Value::Null;
    unknown["metadata"]["bogusMeta"] = json!(1);
    let mut status = base.clone();
    status["status"] = json!({});
    let mut null_status = base.clone();
    null_status["status"] = Value::Null;
    let mut generated = base.clone();
    generated["metadata"] = json!({"generateName": "gen-", "namespace": "ns"});
    let mut undecodable = base.clone();
    undecodable["metadata"]["name"] = json!(5);
    vec![base, unknown, status, null_status, generated, undecodable]
}

#[test]
fn every_builtin_kind_behaves_like_its_hooks() {
    for def in builtin_resources() {
        let s = def.strategy;
        for body in generic_bodies(&def.api_version(), def.kind, def.namespaced) {
            assert_same_create(s, &body);
            let mut steps_free = body.clone();
            let Ok(mut old) = s.canonicalize(steps_free.take()) else {
                continue;
            };
            s.prepare_for_create(&mut old);
            s.default(&mut old);
            corten_apimachinery::meta::set(&mut old, "uid", json!("uid-1"));
            corten_apimachinery::meta::set(&mut old, "resourceVersion", json!("7"));
            let mut relabeled = old.clone();
            relabeled["metadata"]["labels"] = json!({"app": "y"});
            let mut with_status = old.clone();
            with_status["status"] = json!({});
            for new in [&old, &relabeled, &with_status, &body] {
                assert_same_updates(s, new, &old);
            }
        }
    }
}

fn bench_pod(i: usize) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("bench-{i:06}"),
            "namespace": "bench",
            "labels": {"app": "bench", "shard": format!("s{}", i % 16)},
            "annotations": {"bench.corten.dev/note": "x".repeat(20)},
        },
        "spec": {
            "containers": [{
                "name": "app",
                "image": "registry.local/bench/app:1.0",
                "args": ["--port=8080", "--verbose"],
                "ports": [{"containerPort": 8080, "name": "http"}],
                "env": [{"name": "MODE", "value": "bench"}],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
            }],
            "nodeSelector": {"kubernetes.io/os": "linux"},
        },
    })
}

#[test]
fn pod_writes_behave_like_the_hooks() {
    let s = &crate::pod::POD_STRATEGY;
    let body = bench_pod(1);
    assert_same_create(s, &body);
    let mut old = s.canonicalize(body.clone()).unwrap();
    s.prepare_for_create(&mut old);
    s.default(&mut old);
    corten_apimachinery::meta::set(&mut old, "uid", json!("uid-1"));
    corten_apimachinery::meta::set(&mut old, "resourceVersion", json!("7"));

    let mut bound = old.clone();
    bound["spec"]["nodeName"] = json!("node-1");
    let mut running = old.clone();
    running["status"] = json!({"phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}],
        "conditions": [{"type": "Ready", "status": "True"}]});
    let mut image = old.clone();
    image["spec"]["containers"][0]["image"] = json!("registry.local/bench/app:2.0");
    let mut bad_rv = old.clone();
    bad_rv["metadata"]["resourceVersion"] = json!(3);
    let mut no_spec = old.clone();
    no_spec.as_object_mut().unwrap().remove("spec");
    let mut extra_top = old.clone();
    extra_top["unknownTop"] = json!(1);
    for new in [&old, &bound, &running, &image, &bad_rv, &no_spec, &body] {
        assert_same_updates(s, new, &old);
    }
    // A stored object with a field the typed form does not know (written by
    // another version): the spec counts as changed.
    assert_same_updates(s, &old, &extra_top);
    // A stored object that does not decode.
    let mut broken = old.clone();
    broken["spec"] = json!("nope");
    assert_same_updates(s, &old, &broken);
}

/// Rough costs of pod writes through the hooks one by one and through the
/// pipelines, and of their steps (run with `--release --ignored
/// --nocapture`); not a test of anything.
#[test]
#[ignore]
fn pod_write_costs() {
    use k8s_openapi::api::core::v1::Pod;
    use std::time::Instant;
    let s = &crate::pod::POD_STRATEGY;
    let mut body = bench_pod(1);
    body["metadata"]["annotations"]["bench.corten.dev/note"] = json!("x".repeat(200));
    let n = 20_000;
    let time = |label: &str, f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("{label:>34}: {us:>7.2} us");
    };
    let mut steps = testing::FixedSteps::default();
    time("create, hooks (+ validate, encode)", &mut || {
        let p = prepare_create_with_hooks(s, body.clone(), &mut steps).unwrap();
        std::hint::black_box(s.validate(p.value()));
        std::hint::black_box(serde_json::to_vec(p.value()).unwrap());
    });
    time("create, pipeline (same)", &mut || {
        let p = s.prepare_create(body.clone(), &mut steps).unwrap();
        std::hint::black_box(s.validate_create(&p));
        std::hint::black_box(p.to_json().unwrap());
    });
    let mut old = prepare_create_with_hooks(s, body.clone(), &mut steps)
        .unwrap()
        .into_value();
    corten_apimachinery::meta::set(&mut old, "resourceVersion", json!("7"));
    let mut running = old.clone();
    running["status"] = json!({"phase": "Running", "podIP": "10.0.0.1",
        "podIPs": [{"ip": "10.0.0.1"}], "conditions": [{"type": "Ready", "status": "True"}]});
    for (label, target, new) in [
        ("status update", UpdateTarget::Status, &running),
        ("update", UpdateTarget::Main, &old),
    ] {
        time(&format!("{label}, hooks"), &mut || {
            let p = prepare_update_with_hooks(s, new.clone(), &old, target, &mut steps).unwrap();
            let errs = match target {
                UpdateTarget::Main => s.validate_update(p.value(), &old),
                UpdateTarget::Status => s.validate_status_update(p.value(), &old),
            };
            std::hint::black_box(errs);
            std::hint::black_box(p.into_value());
        });
        time(&format!("{label}, pipeline"), &mut || {
            let p = s
                .prepare_update(new.clone(), &old, target, &mut steps)
                .unwrap();
            std::hint::black_box(s.validate_prepared_update(&p, &old, target));
            std::hint::black_box(p.into_value());
        });
    }
    let lease_strategy = &crate::coordination::LEASE_STRATEGY;
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "node-1", "namespace": "kube-node-lease", "resourceVersion": "7",
                     "uid": "u", "creationTimestamp": "2024-01-02T03:04:05Z"},
        "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40,
                 "renewTime": "2024-01-02T03:04:05.000000Z"}});
    let mut renewed = lease.clone();
    renewed["spec"]["renewTime"] = json!("2024-01-02T03:04:15.000000Z");
    time("lease renewal, hooks", &mut || {
        let p = prepare_update_with_hooks(
            lease_strategy,
            renewed.clone(),
            &lease,
            UpdateTarget::Main,
            &mut steps,
        )
        .unwrap();
        std::hint::black_box(lease_strategy.validate_update(p.value(), &lease));
        std::hint::black_box(p.into_value());
    });
    time("lease renewal, pipeline", &mut || {
        let p = lease_strategy
            .prepare_update(renewed.clone(), &lease, UpdateTarget::Main, &mut steps)
            .unwrap();
        std::hint::black_box(lease_strategy.validate_prepared_update(
            &p,
            &lease,
            UpdateTarget::Main,
        ));
        std::hint::black_box(p.into_value());
    });
    println!("steps of a create:");
    let text = serde_json::to_vec(&body).unwrap();
    time("parse body", &mut || {
        std::hint::black_box(serde_json::from_slice::<Value>(&text).unwrap());
    });
    time("decode", &mut || {
        std::hint::black_box(decode_body::<Pod>(&body, None).unwrap());
    });
    time("decode + dropped fields", &mut || {
        let mut d = Vec::new();
        std::hint::black_box(decode_body::<Pod>(&body, Some(&mut d)).unwrap());
    });
    let p = s.prepare_create(body.clone(), &mut steps).unwrap();
    time("validate_create", &mut || {
        std::hint::black_box(s.validate_create(&p));
    });
    time("to_json", &mut || {
        std::hint::black_box(p.to_json().unwrap());
    });
    time("to_value", &mut || {
        std::hint::black_box(crate::typed::to_value(&p.typed::<Pod>().unwrap().object));
    });
}
