use serde_json::{Value, json};

use super::managers::{self, ApplyError, ManagerId, Managers, Operation};
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
