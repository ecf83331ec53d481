use serde_json::{Value, json};

use super::managers::{self, ApplyError, Entry, ManagerId, Managers, Operation};
use super::path::PathElement;
use super::schema::Schema;
use super::set::Set;
use super::typed::to_field_set;

/// A cut-down Deployment schema in OpenAPI v3 component form.
fn deployment_schema() -> Schema {
    let comps = json!({
        "Deployment": {"type": "object", "properties": {
            "apiVersion": {"type": "string"}, "kind": {"type": "string"},
            "metadata": {"$ref": "#/components/schemas/ObjectMeta"},
            "spec": {"$ref": "#/components/schemas/DeploymentSpec"},
            "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}
        }},
        "ObjectMeta": {"type": "object", "properties": {
            "name": {"type": "string"}, "namespace": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            "finalizers": {"type": "array", "items": {"type": "string"},
                "x-kubernetes-list-type": "set"},
            "managedFields": {"type": "array", "items": {"type": "object"},
                "x-kubernetes-list-type": "atomic"}
        }},
        "DeploymentSpec": {"type": "object", "properties": {
            "replicas": {"type": "integer"},
            "selector": {"$ref": "#/components/schemas/LabelSelector"},
            "template": {"$ref": "#/components/schemas/PodTemplateSpec"}
        }},
        "LabelSelector": {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {
            "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}
        }},
        "PodTemplateSpec": {"type": "object", "properties": {
            "metadata": {"$ref": "#/components/schemas/ObjectMeta"},
            "spec": {"$ref": "#/components/schemas/PodSpec"}
        }},
        "PodSpec": {"type": "object", "properties": {
            "containers": {"type": "array", "items": {"$ref": "#/components/schemas/Container"},
                "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name",
                "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
            "dnsPolicy": {"type": "string"}
        }},
        "Container": {"type": "object", "properties": {
            "name": {"type": "string"}, "image": {"type": "string"},
            "args": {"type": "array", "items": {"type": "string"}},
            "ports": {"type": "array", "items": {"$ref": "#/components/schemas/ContainerPort"},
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["containerPort", "protocol"]},
            "resources": {"type": "object", "properties": {
                "limits": {"type": "object", "additionalProperties": {"type": "string"}}}}
        }},
        "ContainerPort": {"type": "object", "properties": {
            "containerPort": {"type": "integer"}, "protocol": {"type": "string"}, "name": {"type": "string"}
        }}
    });
    let root = comps["Deployment"].clone();
    let zero = |c: &str| -> Vec<String> {
        match c {
            "PodTemplateSpec" => vec!["metadata".into(), "spec".into()],
            "DeploymentSpec" => vec!["template".into()],
            "Container" => vec!["resources".into()],
            _ => vec![],
        }
    };
    // The root is inline here; top-level metadata/spec/status come from a
    // wrapper component.
    let wrapper = json!({"$ref": "#/components/schemas/Deployment"});
    let _ = root;
    let zero_root = move |c: &str| -> Vec<String> {
        if c == "Deployment" {
            vec!["metadata".into(), "spec".into(), "status".into()]
        } else {
            zero(c)
        }
    };
    // Leak for the test's lifetime convenience.
    let comps_static: &'static Value = Box::leak(Box::new(comps));
    let wrapper_static: &'static Value = Box::leak(Box::new(wrapper));
    Schema::compile(wrapper_static, &|n| comps_static.get(n), &zero_root)
}

fn deployment(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": image,
                    "ports": [{"containerPort": 80, "protocol": "TCP"}], "resources": {}}],
                    "dnsPolicy": "ClusterFirst"}
            }
        }
    })
}

fn id(manager: &str, op: Operation) -> ManagerId {
    ManagerId {
        manager: manager.into(),
        operation: op,
        api_version: "apps/v1".into(),
        subresource: String::new(),
    }
}

fn status_ignored() -> Set {
    managers::reset_fields("", true)
}

#[test]
fn fields_v1_round_trip_and_format() {
    let s = deployment_schema();
    let set = to_field_set(&s, &deployment(1, "nginx")).unwrap();
    let v = set.to_fields_v1();
    let c = &v["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"];
    assert_eq!(c["."], json!({}));
    assert_eq!(
        c["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"]["f:containerPort"],
        json!({})
    );
    assert_eq!(
        v["f:spec"]["f:selector"],
        json!({}),
        "atomic struct is a leaf"
    );
    assert_eq!(Set::from_fields_v1(&v).unwrap(), set);
}

#[test]
fn create_owns_everything_with_zero_structs_not_added() {
    let s = deployment_schema();
    let me = id("kubectl-create", Operation::Update);
    let m = managers::update(
        &s,
        None,
        &deployment(1, "nginx"),
        Managers::default(),
        &me,
        &status_ignored(),
        "2025-01-01T00:00:00Z",
    )
    .unwrap();
    let enc = m.encode();
    let f = &enc[0]["fieldsV1"];
    assert_eq!(f["f:metadata"]["f:labels"]["."], json!({}));
    assert!(f["f:metadata"].get(".").is_none());
    assert!(f["f:metadata"].get("f:name").is_none(), "name is stripped");
    assert!(f["f:spec"].get(".").is_none());
    assert!(f["f:spec"]["f:template"].get(".").is_none());
    let c = &f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"];
    assert_eq!(c["."], json!({}));
    assert_eq!(c["f:resources"], json!({}));
    assert_eq!(enc[0]["manager"], "kubectl-create");
    assert_eq!(enc[0]["operation"], "Update");
}

#[test]
fn apply_conflicts_with_updater_and_force_takes_over() {
    let s = deployment_schema();
    let creator = id("kubectl-client-side-apply", Operation::Update);
    let obj = deployment(1, "nginx");
    let m = managers::update(
        &s,
        None,
        &obj,
        Managers::default(),
        &creator,
        &status_ignored(),
        "t",
    )
    .unwrap();
    let me = id("kubectl", Operation::Apply);
    let err = managers::apply(
        &s,
        &obj,
        &deployment(3, "nginx"),
        m.clone(),
        &me,
        false,
        &status_ignored(),
        "t",
    )
    .unwrap_err();
    let ApplyError::Conflicts(c) = err else {
        panic!("want conflicts")
    };
    assert_eq!(
        c.message(),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
    );
    // Same values: shared ownership, no conflict.
    let (_, shared) = managers::apply(
        &s,
        &obj,
        &deployment(1, "nginx"),
        m.clone(),
        &me,
        false,
        &status_ignored(),
        "t",
    )
    .unwrap();
    assert_eq!(shared.entries.len(), 2);
    let (merged, forced) = managers::apply(
        &s,
        &obj,
        &deployment(3, "nginx:2"),
        m,
        &me,
        true,
        &status_ignored(),
        "t",
    )
    .unwrap();
    assert_eq!(merged["spec"]["replicas"], 3);
    let enc = forced.encode();
    assert_eq!(enc[0]["manager"], "kubectl", "Apply entries sort first");
    assert!(enc[1]["fieldsV1"]["f:spec"].get("f:replicas").is_none());
}

#[test]
fn apply_removes_fields_it_no_longer_applies_unless_owned_elsewhere() {
    let s = deployment_schema();
    let me = id("mgr", Operation::Apply);
    let mut cfg = deployment(1, "nginx");
    cfg["metadata"]["labels"]["extra"] = json!("x");
    cfg["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "side", "image": "busybox"}));
    let empty = json!({});
    let (obj, m) = managers::apply(
        &s,
        &empty,
        &cfg,
        Managers::default(),
        &me,
        false,
        &status_ignored(),
        "t",
    )
    .unwrap();
    assert_eq!(
        obj["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Another manager takes the label value.
    let mut edited = obj.clone();
    edited["metadata"]["labels"]["extra"] = json!("y");
    let m = managers::update(
        &s,
        Some(&obj),
        &edited,
        m,
        &id("kubectl-edit", Operation::Update),
        &status_ignored(),
        "t",
    )
    .unwrap();
    // Re-apply without the label and without the sidecar.
    let (after, _) = managers::apply(
        &s,
        &edited,
        &deployment(1, "nginx"),
        m,
        &me,
        false,
        &status_ignored(),
        "t",
    )
    .unwrap();
    assert_eq!(
        after["metadata"]["labels"]["extra"], "y",
        "owned by kubectl-edit"
    );
    let containers = after["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1, "sidecar pruned: {after}");
    assert_eq!(containers[0]["name"], "nginx");
}

#[test]
fn list_merge_keeps_live_only_items_in_place() {
    let s = deployment_schema();
    let mut live = deployment(1, "a");
    live["spec"]["template"]["spec"]["containers"] = json!([
        {"name": "x", "image": "x"}, {"name": "nginx", "image": "a"}, {"name": "y", "image": "y"}
    ]);
    let cfg = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "z", "image": "z"}, {"name": "nginx", "image": "b"}
    ]}}}});
    let merged = super::typed::merge(&s, &live, &cfg).unwrap();
    let names: Vec<&str> = merged["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["x", "z", "nginx", "y"]);
}

#[test]
fn missing_key_field_is_an_error() {
    let s = deployment_schema();
    let cfg = json!({"spec": {"template": {"spec": {"containers": [{"image": "z"}]}}}});
    let err = to_field_set(&s, &cfg).unwrap_err();
    assert!(err.contains("omits key field \"name\""), "{err}");
}

#[test]
fn update_managers_are_capped_into_ancient_changes() {
    let s = deployment_schema();
    let mut obj = deployment(1, "nginx");
    let mut m = Managers::default();
    for i in 0..12 {
        let mut next = obj.clone();
        next["metadata"]["labels"][format!("l{i}")] = json!("x");
        let t = format!("2025-01-01T00:00:{i:02}Z");
        m = managers::update(
            &s,
            Some(&obj),
            &next,
            m,
            &id(&format!("m{i:02}"), Operation::Update),
            &status_ignored(),
            &t,
        )
        .unwrap();
        obj = next;
    }
    let enc = m.encode();
    let names: Vec<&str> = enc
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 10, "{names:?}");
    assert!(names.contains(&"ancient-changes"), "{names:?}");
    assert!(
        !names.contains(&"m00") && !names.contains(&"m01") && !names.contains(&"m02"),
        "{names:?}"
    );
    let ancient = enc
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == "ancient-changes")
        .unwrap();
    let labels = &ancient["fieldsV1"]["f:metadata"]["f:labels"];
    for l in ["f:l0", "f:l1", "f:l2"] {
        assert!(labels[l].is_object(), "{labels}");
    }
    assert_eq!(ancient["time"], "2025-01-01T00:00:02Z");
}

/// Deployments also served as a made-up apps/v2 whose `spec.replicas` is
/// called `spec.size`; apps/v0 is not served.
struct RenamedReplicas;

impl managers::Versions for RenamedReplicas {
    fn schema(&self, api_version: &str) -> Option<std::sync::Arc<Schema>> {
        match api_version {
            "apps/v1" => Some(std::sync::Arc::new(deployment_schema())),
            "apps/v2" => Some(std::sync::Arc::new(Schema::untyped())),
            _ => None,
        }
    }

    fn convert(&self, obj: &Value, api_version: &str) -> Result<Value, String> {
        let mut out = obj.clone();
        let spec = out["spec"].as_object_mut().ok_or("no spec")?;
        let (from, to) = match api_version {
            "apps/v2" => ("replicas", "size"),
            "apps/v1" => ("size", "replicas"),
            other => return Err(format!("{other} is not served")),
        };
        if let Some(v) = spec.shift_remove(from) {
            spec.insert(to.into(), v);
        }
        out["apiVersion"] = json!(api_version);
        Ok(out)
    }
}

fn entry_in(manager: &str, op: Operation, api_version: &str, paths: &[&[&str]]) -> Entry {
    let mut fields = Set::new();
    for p in paths {
        let path: Vec<PathElement> = p
            .iter()
            .map(|f| PathElement::Field(f.to_string()))
            .collect();
        fields.insert(&path);
    }
    Entry {
        id: ManagerId {
            api_version: api_version.into(),
            ..id(manager, op)
        },
        time: Some("t".into()),
        fields,
    }
}

#[test]
fn entries_of_other_versions_are_judged_in_their_version() {
    let s = deployment_schema();
    let live = deployment(1, "nginx");
    let m = Managers {
        entries: vec![
            entry_in("sizer", Operation::Update, "apps/v2", &[&["spec", "size"]]),
            entry_in(
                "ancient",
                Operation::Update,
                "apps/v0",
                &[&["spec", "paused"]],
            ),
        ],
    };
    let versions: &dyn managers::Versions = &RenamedReplicas;
    // Apply in v1 changes what sizer owns in v2: a conflict named in v2.
    let err = managers::apply_versioned(
        &s,
        &live,
        &deployment(3, "nginx"),
        m.clone(),
        &id("kubectl", Operation::Apply),
        false,
        &status_ignored(),
        "t",
        Some(versions),
    )
    .unwrap_err();
    let ApplyError::Conflicts(c) = err else {
        panic!("want conflicts")
    };
    assert_eq!(
        c.message(),
        "Apply failed with 1 conflict: conflict with \"sizer\" using apps/v2: .spec.size"
    );
    // Without the versions the paths never meet.
    assert!(
        managers::apply(
            &s,
            &live,
            &deployment(3, "nginx"),
            m.clone(),
            &id("kubectl", Operation::Apply),
            false,
            &status_ignored(),
            "t",
        )
        .is_ok()
    );
    // An update in v1 takes the field from sizer; apps/v0 is gone.
    let after = managers::update_versioned(
        &s,
        Some(&live),
        &deployment(4, "nginx"),
        m,
        &id("scaler", Operation::Update),
        &status_ignored(),
        "t",
        Some(versions),
    )
    .unwrap();
    let names: Vec<&str> = after
        .entries
        .iter()
        .map(|e| e.id.manager.as_str())
        .collect();
    assert_eq!(names, ["scaler"]);
}

/// The in-place set operations the write path uses give what the copying
/// ones give.
#[test]
fn in_place_set_operations_match_the_copying_ones() {
    let schema = deployment_schema();
    let a = to_field_set(&schema, &deployment(3, "nginx:1")).unwrap();
    let mut b = to_field_set(
        &schema,
        &json!({"spec": {"replicas": 2, "template": {"metadata": {"labels": {"x": "y"}}}}, "status": {"replicas": 1}}),
    )
    .unwrap();
    b.insert(&[PathElement::Field("spec".into())]);
    for (x, y) in [
        (&a, &b),
        (&b, &a),
        (&a, &a),
        (&a, &Set::new()),
        (&Set::new(), &a),
    ] {
        let mut merged = x.clone();
        merged.merge(y.clone());
        assert_eq!(merged, x.union(y));
        let mut removed = x.clone();
        removed.remove(y);
        assert_eq!(removed, x.difference(y));
        let mut removed = x.clone();
        removed.remove_recursive(y);
        assert_eq!(removed, x.recursive_difference(y));
    }
}
