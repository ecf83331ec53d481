use serde_json::{Value, json};

use super::*;
use crate::strategy::Strategy;

fn created(s: &dyn Strategy, obj: Value) -> Value {
    crate::pipeline::testing::assert_same_create(s, &obj);
    let mut o = s.canonicalize(obj).unwrap();
    s.prepare_for_create(&mut o);
    s.default(&mut o);
    o
}

fn updated(s: &dyn Strategy, new: Value, old: &Value) -> Value {
    crate::pipeline::testing::assert_same_updates(s, &new, old);
    let mut o = s.canonicalize(new).unwrap();
    s.prepare_for_update(&mut o, old);
    s.default(&mut o);
    o
}

fn texts(errs: corten_apimachinery::ErrorList) -> Vec<String> {
    errs.iter().map(|e| e.to_string()).collect()
}

fn meta(name: &str, namespace: Option<&str>) -> Value {
    let mut m = json!({"name": name, "resourceVersion": "1"});
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
}

mod namespaces {
    use super::*;

    #[test]
    fn create_sets_finalizer_phase_and_label() {
        let s = &NAMESPACE_STRATEGY;
        let o = created(
            s,
            json!({"metadata": meta("team-a", None), "status": {"phase": "Terminating"}}),
        );
        assert_eq!(o["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(o["status"]["phase"], "Active");
        assert_eq!(o["metadata"]["labels"][LABEL_METADATA_NAME], "team-a");
        assert!(s.validate(&o).is_empty(), "{:?}", s.validate(&o));
        assert_eq!(
            s.field_attrs(&o),
            vec![("status.phase".to_string(), "Active".to_string())]
        );

        let o = created(
            s,
            json!({"metadata": meta("b", None), "spec": {"finalizers": ["example.com/x"]}}),
        );
        assert_eq!(
            o["spec"]["finalizers"],
            json!(["example.com/x", "kubernetes"])
        );
    }

    #[test]
    fn name_is_a_dns_label() {
        let o = created(&NAMESPACE_STRATEGY, json!({"metadata": meta("a.b", None)}));
        let errs = texts(NAMESPACE_STRATEGY.validate(&o));
        assert_eq!(
            errs,
            vec!["metadata.name: Invalid value: \"a.b\": must not contain dots"]
        );
    }

    #[test]
    fn updates_keep_finalizers_only_finalize_changes_them() {
        let s = &NAMESPACE_STRATEGY;
        let old = created(s, json!({"metadata": meta("a", None)}));
        let mut body = old.clone();
        body["spec"]["finalizers"] = json!([]);
        body["metadata"]["labels"]["x"] = json!("y");
        let new = updated(s, body, &old);
        assert_eq!(new["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(new["metadata"]["labels"]["x"], "y");

        let mut fin = old.clone();
        fin["spec"]["finalizers"] = json!([]);
        fin["metadata"]["labels"]["x"] = json!("y");
        fin["status"]["phase"] = json!("Terminating");
        s.prepare_for_subresource_update("finalize", &mut fin, &old);
        assert_eq!(fin["spec"]["finalizers"], json!([]));
        assert!(fin["metadata"]["labels"].get("x").is_none());
        assert_eq!(fin["status"]["phase"], "Active");
        assert!(
            s.validate_subresource_update("finalize", &fin, &old)
                .is_empty()
        );

        let mut bad = old.clone();
        bad["spec"]["finalizers"] = json!(["custom"]);
        let errs = texts(s.validate_subresource_update("finalize", &bad, &old));
        assert_eq!(
            errs,
            vec![
                "spec.finalizers[0]: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"
            ]
        );
    }

    #[test]
    fn status_phase_follows_deletion() {
        let s = &NAMESPACE_STRATEGY;
        let old = created(s, json!({"metadata": meta("a", None)}));
        let mut new = old.clone();
        new["status"]["phase"] = json!("Terminating");
        s.prepare_for_status_update(&mut new, &old);
        let errs = texts(s.validate_status_update(&new, &old));
        assert_eq!(
            errs,
            vec![
                "status.Phase: Invalid value: \"Terminating\": may only be 'Active' if `deletionTimestamp` is empty"
            ]
        );
    }
}

mod configmaps {
    use super::*;

    #[test]
    fn keys_and_duplicates() {
        let o = created(
            &CONFIG_MAP_STRATEGY,
            json!({"metadata": meta("c", Some("d")), "data": {"ok.key": "v", "bad key": "v", "dup": "x"},
                   "binaryData": {"dup": "AA=="}}),
        );
        let errs = texts(CONFIG_MAP_STRATEGY.validate(&o));
        assert!(
            errs.contains(
                &"data[dup]: Invalid value: \"dup\": duplicate of key present in binaryData"
                    .to_string()
            )
        );
        assert!(errs.iter().any(|e| {
            e.starts_with("data[bad key]: Invalid value: \"bad key\": a valid config key")
        }));
        assert_eq!(errs.len(), 2);
    }

    #[test]
    fn total_size_is_limited() {
        let big = "x".repeat(MAX_DATA_SIZE);
        let o = created(
            &CONFIG_MAP_STRATEGY,
            json!({"metadata": meta("c", Some("d")), "data": {"a": big, "b": "y"}}),
        );
        let errs = CONFIG_MAP_STRATEGY.validate(&o);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "");
        assert_eq!(
            errs[0].error_type,
            corten_apimachinery::FieldErrorType::TooLong
        );
        assert!(errs[0].detail.contains("1048576"));
    }

    #[test]
    fn immutable_configmaps() {
        let s = &CONFIG_MAP_STRATEGY;
        let old = created(
            s,
            json!({"metadata": meta("c", Some("d")), "data": {"a": "1"}, "immutable": true}),
        );
        let mut new = old.clone();
        new["data"]["a"] = json!("2");
        new["immutable"] = json!(false);
        let errs = texts(s.validate_update(&new, &old));
        assert_eq!(
            errs,
            vec![
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "data: Forbidden: field is immutable when `immutable` is set",
            ]
        );
        let mut labels_only = old.clone();
        labels_only["metadata"]["labels"] = json!({"a": "b"});
        assert!(s.validate_update(&labels_only, &old).is_empty());
    }
}

mod secrets {
    use super::*;

    fn secret(extra: Value) -> Value {
        let mut o = json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta("s", Some("d"))});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            o[k] = v;
        }
        o
    }

    #[test]
    fn string_data_merges_into_data_and_type_defaults() {
        let o = created(
            &SECRET_STRATEGY,
            secret(
                json!({"data": {"a": "YQ==", "b": "Yg=="}, "stringData": {"b": "override", "c": "new"}}),
            ),
        );
        assert_eq!(o["type"], "Opaque");
        assert_eq!(o["data"]["a"], "YQ==");
        assert_eq!(o["data"]["b"], "b3ZlcnJpZGU=");
        assert_eq!(o["data"]["c"], "bmV3");
        assert!(o.get("stringData").is_none());
        assert!(SECRET_STRATEGY.validate(&o).is_empty());
        assert_eq!(
            SECRET_STRATEGY.field_attrs(&o),
            vec![("type".to_string(), "Opaque".to_string())]
        );
    }

    #[test]
    fn invalid_base64_is_a_decode_error() {
        assert!(
            SECRET_STRATEGY
                .canonicalize(secret(json!({"data": {"a": "!!!"}})))
                .is_err()
        );
    }

    #[test]
    fn typed_secrets_need_their_keys() {
        let cases = [
            (
                "kubernetes.io/service-account-token",
                json!({}),
                "metadata.annotations[kubernetes.io/service-account.name]: Required value",
            ),
            (
                "kubernetes.io/dockerconfigjson",
                json!({}),
                "data[.dockerconfigjson]: Required value",
            ),
            (
                "kubernetes.io/tls",
                json!({"tls.crt": "YQ=="}),
                "data[tls.key]: Required value",
            ),
            (
                "kubernetes.io/basic-auth",
                json!({}),
                "data[username]: Required value",
            ),
            (
                "kubernetes.io/ssh-auth",
                json!({}),
                "data[ssh-privatekey]: Required value",
            ),
        ];
        for (ty, data, want) in cases {
            let o = created(&SECRET_STRATEGY, secret(json!({"type": ty, "data": data})));
            let errs = texts(SECRET_STRATEGY.validate(&o));
            assert!(errs.contains(&want.to_string()), "{ty}: {errs:?}");
        }
        let o = created(
            &SECRET_STRATEGY,
            secret(
                json!({"type": "kubernetes.io/dockerconfigjson", "stringData": {".dockerconfigjson": "{not json"}}),
            ),
        );
        let errs = SECRET_STRATEGY.validate(&o);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "data[.dockerconfigjson]");
        assert_eq!(errs[0].bad_value, Some(json!("<secret contents redacted>")));
        let mut sa = secret(json!({"type": "kubernetes.io/service-account-token"}));
        sa["metadata"]["annotations"] = json!({SA_NAME_ANNOTATION: "default"});
        let o = created(&SECRET_STRATEGY, sa);
        assert!(SECRET_STRATEGY.validate(&o).is_empty());
    }

    #[test]
    fn type_and_immutable_data_cannot_change() {
        let s = &SECRET_STRATEGY;
        let old = created(s, secret(json!({"data": {"a": "YQ=="}, "immutable": true})));
        let mut new = old.clone();
        new["type"] = json!("kubernetes.io/basic-auth");
        new["data"] = json!({"username": "YQ=="});
        let errs = texts(s.validate_update(&new, &old));
        assert!(errs.contains(
            &"type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable".to_string()
        ));
        assert!(
            errs.contains(
                &"data: Forbidden: field is immutable when `immutable` is set".to_string()
            )
        );
        let mut unset = old.clone();
        unset.as_object_mut().unwrap().remove("immutable");
        let errs = texts(s.validate_update(&unset, &old));
        assert_eq!(
            errs,
            vec!["immutable: Forbidden: field is immutable when `immutable` is set"]
        );
    }

    #[test]
    fn size_is_limited() {
        let big = "x".repeat(MAX_DATA_SIZE + 1);
        let o = created(&SECRET_STRATEGY, secret(json!({"stringData": {"a": big}})));
        let errs = SECRET_STRATEGY.validate(&o);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "data");
        assert_eq!(
            errs[0].error_type,
            corten_apimachinery::FieldErrorType::TooLong
        );
    }
}

mod nodes {
    use super::*;

    #[test]
    fn status_is_kept_on_create_and_allocatable_defaults() {
        let o = created(
            &NODE_STRATEGY,
            json!({"metadata": meta("n1", None), "spec": {"podCIDR": "10.244.1.0/24"},
                   "status": {"capacity": {"cpu": "4", "memory": "8Gi"}}}),
        );
        assert_eq!(o["status"]["allocatable"]["cpu"], "4");
        assert_eq!(o["spec"]["podCIDRs"], json!(["10.244.1.0/24"]));
        assert!(
            NODE_STRATEGY.validate(&o).is_empty(),
            "{:?}",
            NODE_STRATEGY.validate(&o)
        );
        assert_eq!(
            NODE_STRATEGY.field_attrs(&o),
            vec![("spec.unschedulable".to_string(), "false".to_string())]
        );
    }

    #[test]
    fn pod_cidrs_are_valid_and_immutable() {
        let s = &NODE_STRATEGY;
        let o = created(
            s,
            json!({"metadata": meta("n1", None), "spec": {"podCIDRs": ["10.0.0.0/24", "10.1.0.0/24"]}}),
        );
        let errs = texts(s.validate(&o));
        assert!(errs.contains(&"spec.podCIDRs: Invalid value: [\"10.0.0.0/24\",\"10.1.0.0/24\"]: may specify no more than one CIDR for each IP family".to_string()), "{errs:?}");

        let old = created(
            s,
            json!({"metadata": meta("n1", None), "spec": {"podCIDRs": ["10.0.0.0/24"]}}),
        );
        let mut body = old.clone();
        body["spec"]["podCIDRs"] = json!(["10.9.0.0/24"]);
        body["spec"]["podCIDR"] = json!("10.9.0.0/24");
        let new = updated(s, body, &old);
        let errs = texts(s.validate_update(&new, &old));
        assert_eq!(
            errs,
            vec![
                "spec.podCIDRs: Forbidden: node updates may not change podCIDR except from \"\" to valid"
            ]
        );
        // Setting it for the first time is fine.
        let empty = created(s, json!({"metadata": meta("n1", None)}));
        let new = updated(s, old.clone(), &empty);
        assert!(s.validate_update(&new, &empty).is_empty());
    }

    #[test]
    fn taints_are_validated_under_metadata() {
        let o = created(
            &NODE_STRATEGY,
            json!({"metadata": meta("n1", None), "spec": {"taints": [
                {"key": "a", "effect": "NoSchedule"},
                {"key": "a", "effect": "NoSchedule"},
                {"key": "b", "effect": "Sometimes"}]}}),
        );
        let errs = NODE_STRATEGY.validate(&o);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(errs[0].field, "metadata.taints[1]");
        assert_eq!(
            errs[0].detail,
            "taints must be unique by key and effect pair"
        );
        assert_eq!(
            errs[1].to_string(),
            "metadata.taints[2].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""
        );
    }

    #[test]
    fn main_updates_keep_status() {
        let s = &NODE_STRATEGY;
        let old = created(
            s,
            json!({"metadata": meta("n1", None), "status": {"phase": "Running"}}),
        );
        let mut body = old.clone();
        body["status"] = json!({"phase": "Pending"});
        body["spec"] = json!({"unschedulable": true});
        let new = updated(s, body, &old);
        assert_eq!(new["status"]["phase"], "Running");
        assert_eq!(new["spec"]["unschedulable"], true);
    }
}

mod events {
    use super::*;

    fn event(extra: Value) -> Value {
        let mut o = json!({"apiVersion": "v1", "kind": "Event", "metadata": meta("pod.17a", Some("default")),
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "p", "uid": "u1"},
            "reason": "Started", "message": "ok", "type": "Normal", "source": {"component": "kubelet", "host": "n1"}});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            o[k] = v;
        }
        o
    }

    #[test]
    fn legacy_events_need_matching_namespaces() {
        let o = created(&EVENT_STRATEGY, event(json!({})));
        assert!(
            EVENT_STRATEGY.validate(&o).is_empty(),
            "{:?}",
            EVENT_STRATEGY.validate(&o)
        );
        let o = created(
            &EVENT_STRATEGY,
            event(json!({"involvedObject": {"kind": "Pod", "namespace": "other", "name": "p"}})),
        );
        assert_eq!(
            texts(EVENT_STRATEGY.validate(&o)),
            vec![
                "involvedObject.namespace: Invalid value: \"other\": does not match event.namespace"
            ]
        );
    }

    #[test]
    fn new_style_events_need_reporting_fields() {
        let o = created(
            &EVENT_STRATEGY,
            event(json!({"eventTime": "2024-01-01T00:00:00.000000Z"})),
        );
        let errs = texts(EVENT_STRATEGY.validate(&o));
        assert!(
            errs.contains(&"reportingComponent: Required value".to_string()),
            "{errs:?}"
        );
        assert!(errs.contains(&"reportingInstance: Required value".to_string()));
        assert!(errs.contains(&"action: Required value".to_string()));
    }

    #[test]
    fn field_selectors() {
        let o = created(&EVENT_STRATEGY, event(json!({})));
        let attrs = EVENT_STRATEGY.field_attrs(&o);
        for (k, v) in [
            ("involvedObject.kind", "Pod"),
            ("involvedObject.name", "p"),
            ("involvedObject.uid", "u1"),
            ("reason", "Started"),
            ("source", "kubelet"),
            ("type", "Normal"),
            ("reportingComponent", ""),
        ] {
            assert!(attrs.contains(&(k.to_string(), v.to_string())), "{k}");
        }
        assert_eq!(EVENT_STRATEGY.field_labels().len(), attrs.len());
    }
}

mod quotas {
    use super::*;

    #[test]
    fn resource_quota_canonical_and_valid() {
        let s = &RESOURCE_QUOTA_STRATEGY;
        let o = created(
            s,
            json!({"metadata": meta("q", Some("d")),
            "spec": {"hard": {"cpu": "0.5", "memory": "1024Mi", "pods": "10"}}}),
        );
        assert_eq!(o["spec"]["hard"]["cpu"], "500m");
        assert_eq!(o["spec"]["hard"]["memory"], "1Gi");
        assert!(s.validate(&o).is_empty(), "{:?}", s.validate(&o));
        let o = created(
            s,
            json!({"metadata": meta("q", Some("d")),
            "spec": {"hard": {"cpu": "-1", "pods": "1.5", "gpus": "1"}, "scopes": ["BestEffort", "NotBestEffort"]}}),
        );
        let errs = texts(s.validate(&o));
        assert!(
            errs.contains(
                &"spec.hard[cpu]: Invalid value: \"-1\": must be greater than or equal to 0"
                    .to_string()
            ),
            "{errs:?}"
        );
        assert!(
            errs.contains(
                &"spec.hard[pods]: Invalid value: \"1500m\": must be an integer".to_string()
            ),
            "{errs:?}"
        );
        assert!(
            errs.contains(
                &"spec.hard[gpus]: Invalid value: \"gpus\": must be a standard resource for quota"
                    .to_string()
            ),
            "{errs:?}"
        );
        assert!(errs.contains(&"spec.scopes: Invalid value: [\"BestEffort\",\"NotBestEffort\"]: conflicting scopes".to_string()), "{errs:?}");
        assert!(
            s.canonicalize(
                json!({"metadata": meta("q", Some("d")), "spec": {"hard": {"cpu": "lots"}}})
            )
            .is_err()
        );
    }

    #[test]
    fn limit_range_defaults_and_consistency() {
        let s = &LIMIT_RANGE_STRATEGY;
        let o = created(
            s,
            json!({"metadata": meta("l", Some("d")), "spec": {"limits": [
            {"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}}]}}),
        );
        let item = &o["spec"]["limits"][0];
        assert_eq!(item["default"], json!({"cpu": "2"}));
        assert_eq!(
            item["defaultRequest"],
            json!({"cpu": "2", "memory": "64Mi"})
        );
        assert!(s.validate(&o).is_empty(), "{:?}", s.validate(&o));

        let o = created(
            s,
            json!({"metadata": meta("l", Some("d")), "spec": {"limits": [
            {"type": "Container", "max": {"cpu": "1"}, "min": {"cpu": "2"}},
            {"type": "Pod", "default": {"cpu": "1"}},
            {"type": "PersistentVolumeClaim"}]}}),
        );
        let errs = texts(s.validate(&o));
        assert!(errs.contains(&"spec.limits[0].min[cpu]: Invalid value: \"2\": min value 2 is greater than max value 1".to_string()), "{errs:?}");
        assert!(
            errs.contains(
                &"spec.limits[1].default: Forbidden: may not be specified when `type` is 'Pod'"
                    .to_string()
            ),
            "{errs:?}"
        );
        assert!(errs.contains(&"spec.limits[2].limits: Required value: either minimum or maximum storage value is required, but neither was provided".to_string()), "{errs:?}");
    }
}

mod volumes {
    use super::*;

    fn pv(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": meta("pv1", None), "spec": spec})
    }

    fn pvc(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta("c", Some("d")), "spec": spec})
    }

    #[test]
    fn pv_defaults_and_validation() {
        let s = &PERSISTENT_VOLUME_STRATEGY;
        let o = created(
            s,
            pv(
                json!({"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": "/data"}}),
            ),
        );
        assert_eq!(o["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(o["spec"]["volumeMode"], "Filesystem");
        assert_eq!(o["spec"]["hostPath"]["type"], "");
        assert_eq!(o["status"]["phase"], "Pending");
        assert!(s.validate(&o).is_empty(), "{:?}", s.validate(&o));

        let o = created(
            s,
            pv(json!({"accessModes": ["ReadWriteOncePod", "ReadWriteOnce"],
            "hostPath": {"path": "/a"}, "nfs": {"server": "s", "path": "/x"}})),
        );
        let errs = texts(s.validate(&o));
        assert!(
            errs.contains(&"spec.capacity: Required value".to_string()),
            "{errs:?}"
        );
        assert!(errs.contains(&"spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes".to_string()), "{errs:?}");
        assert!(
            errs.contains(
                &"spec.nfs: Forbidden: may not specify more than 1 volume type".to_string()
            ),
            "{errs:?}"
        );
        let o = created(
            s,
            pv(json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]})),
        );
        assert!(
            texts(s.validate(&o))
                .contains(&"spec: Required value: must specify a volume type".to_string())
        );
    }

    #[test]
    fn pv_source_is_immutable() {
        let s = &PERSISTENT_VOLUME_STRATEGY;
        let old = created(
            s,
            pv(
                json!({"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": "/data"}}),
            ),
        );
        let mut body = old.clone();
        body["spec"]["hostPath"]["path"] = json!("/other");
        let new = updated(s, body, &old);
        let errs = texts(s.validate_update(&new, &old));
        assert_eq!(
            errs,
            vec![
                "spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation"
            ]
        );
    }

    #[test]
    fn pvc_defaults_and_required_fields() {
        let s = &PERSISTENT_VOLUME_CLAIM_STRATEGY;
        let o = created(
            s,
            pvc(
                json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}),
            ),
        );
        assert_eq!(o["spec"]["volumeMode"], "Filesystem");
        assert_eq!(o["status"]["phase"], "Pending");
        assert!(s.validate(&o).is_empty(), "{:?}", s.validate(&o));
        let o = created(s, pvc(json!({})));
        let errs = texts(s.validate(&o));
        assert_eq!(
            errs,
            vec![
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.resources[storage]: Required value",
            ]
        );
    }

    #[test]
    fn pvc_spec_is_immutable_except_growth_when_bound() {
        let s = &PERSISTENT_VOLUME_CLAIM_STRATEGY;
        let mut old = created(
            s,
            pvc(
                json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}),
            ),
        );
        let mut body = old.clone();
        body["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
        let new = updated(s, body.clone(), &old);
        let errs = texts(s.validate_update(&new, &old));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("spec: Forbidden: spec is immutable after creation"));

        old["status"] = json!({"phase": "Bound", "capacity": {"storage": "1Gi"}});
        let new = updated(s, body, &old);
        assert!(
            s.validate_update(&new, &old).is_empty(),
            "{:?}",
            s.validate_update(&new, &old)
        );

        let mut shrink = old.clone();
        shrink["spec"]["resources"]["requests"]["storage"] = json!("512Mi");
        let new = updated(s, shrink, &old);
        let errs = texts(s.validate_update(&new, &old));
        assert_eq!(
            errs,
            vec![
                "spec.resources.requests.storage: Forbidden: field can not be less than status.capacity"
            ]
        );

        let mut vac = old.clone();
        vac["spec"]["volumeAttributesClassName"] = json!("gold");
        vac["spec"]["volumeName"] = json!("pv-1");
        let new = updated(s, vac, &old);
        assert!(s.validate_update(&new, &old).is_empty());
    }

    #[test]
    fn pvc_class_may_be_set_once_when_absent() {
        let s = &PERSISTENT_VOLUME_CLAIM_STRATEGY;
        let old = created(
            s,
            pvc(
                json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}),
            ),
        );
        let mut body = old.clone();
        body["spec"]["storageClassName"] = json!("standard");
        let new = updated(s, body.clone(), &old);
        assert!(s.validate_update(&new, &old).is_empty());
        // Changing a class that is set, or setting it to "", is not allowed.
        let mut again = body.clone();
        again["spec"]["storageClassName"] = json!("gold");
        let newer = updated(s, again, &new);
        assert_eq!(texts(s.validate_update(&newer, &new)).len(), 1);
        let mut empty = old.clone();
        empty["spec"]["storageClassName"] = json!("");
        let new = updated(s, empty, &old);
        assert_eq!(texts(s.validate_update(&new, &old)).len(), 1);
    }
}

#[test]
fn service_accounts_and_bindings_round_trip() {
    let o = created(
        &SERVICE_ACCOUNT_STRATEGY,
        json!({"metadata": meta("default", Some("d")), "automountServiceAccountToken": false}),
    );
    assert_eq!(o["automountServiceAccountToken"], false);
    assert!(SERVICE_ACCOUNT_STRATEGY.validate(&o).is_empty());
    let b = BINDING_STRATEGY
        .canonicalize(
            json!({"metadata": meta("p", Some("d")), "target": {"kind": "Node", "name": "n1"}}),
        )
        .unwrap();
    assert_eq!(b["target"]["name"], "n1");
}
