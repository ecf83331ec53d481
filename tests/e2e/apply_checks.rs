//! Apply configurations checked like upstream 1.33: a configuration must
//! become a typed object of the kind's schema (undeclared fields and
//! wrong types are a 500 `failed to create typed patch object`), name the
//! endpoint's kind (400 `invalid object type`), and repeated keys obey
//! `fieldValidation` once the merge succeeded. Also: CEL transition rules
//! of a CRD see old objects with the defaults the CRD gained since.

use corten_e2e::TestCluster;
use corten_e2e::fixtures::{Answer, apply_ok, install_crd, kubectl_manifest, send_raw, stderr};
use serde_json::Value;

async fn apply_raw(client: &kube::Client, path: &str, query: &str, body: &str) -> Answer {
    send_raw(
        client,
        "PATCH",
        &format!("{path}?fieldManager=t{query}"),
        "application/apply-patch+yaml",
        body,
    )
    .await
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";
const PODS: &str = "/api/v1/namespaces/default/pods";
const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";

fn deployment(spec_extra: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n{spec_extra}"
    )
}

#[tokio::test]
async fn apply_configurations_must_fit_the_kinds_schema() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();

        // kubectl: an undeclared field fails whatever --validate says
        // (kubectl's own check is off so the server answers).
        let out = kubectl_manifest(
            &c,
            "apply",
            &deployment("  foo: 1\n"),
            &["--server-side", "--validate=false"],
        )
        .await;
        assert!(!out.status.success());
        assert_eq!(
            stderr(&out).trim(),
            "Error from server: failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.foo: field not declared in schema"
        );

        // Keyed list items are named by their keys; the core group shows
        // as an empty group.
        let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: default\nspec:\n  containers:\n  - name: c\n    image: busybox\n    bogus: true\n";
        let a = apply_raw(&client, &format!("{PODS}/p"), "", pod).await;
        assert_eq!(a.code, 500, "{}", a.body);
        assert_eq!(a.body["reason"], Value::Null, "{}", a.body);
        assert_eq!(
            a.body["message"],
            "failed to create typed patch object (default/p; /v1, Kind=Pod): .spec.containers[name=\"c\"].bogus: field not declared in schema"
        );

        // Wrong types, several at once.
        let a = apply_raw(
            &client,
            &format!("{DEPLOYS}/web"),
            "",
            &deployment("  replicas: \"3\"\n  paused: yes-please\n"),
        )
        .await;
        assert_eq!(a.code, 500, "{}", a.body);
        assert_eq!(
            a.body["message"],
            "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): errors:\n  .spec.replicas: expected numeric (int or float), got string\n  .spec.paused: expected boolean, got &{yes-please}"
        );
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: default\ndata:\n  n: 1\n";
        let a = apply_raw(&client, &format!("{CMS}/cm"), "", cm).await;
        assert_eq!(a.code, 500, "{}", a.body);
        assert_eq!(
            a.body["message"],
            "failed to create typed patch object (default/cm; /v1, Kind=ConfigMap): .data.n: expected string, got &value.valueUnstructured{Value:1}"
        );

        // A configuration of another kind, or of none: 400.
        let a = apply_raw(&client, &format!("{CMS}/cm"), "", &deployment("")).await;
        assert_eq!(a.code, 400);
        assert_eq!(a.body["reason"], "BadRequest");
        assert_eq!(
            a.body["message"],
            "invalid object type: apps/v1, Kind=Deployment"
        );
        let a = apply_raw(&client, &format!("{CMS}/cm"), "", "metadata:\n  name: cm\n").await;
        assert_eq!(a.code, 400);
        assert_eq!(a.body["message"], "invalid object type: /, Kind=");
        let a = apply_raw(
            &client,
            &format!("{CMS}/cm"),
            "",
            "apiVersion: v2\nkind: ConfigMap\nmetadata:\n  name: cm\n",
        )
        .await;
        assert_eq!(
            a.body["message"],
            "invalid object type: /v2, Kind=ConfigMap"
        );

        // Nothing was stored.
        for what in ["deployment/web", "pod/p", "configmap/cm"] {
            let out = c.kubectl(&["get", what]).await.unwrap();
            assert!(!out.status.success(), "{what} exists");
        }

        // Quantities take numbers and strings; int-or-string both.
        let ok = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: q\n  namespace: default\nspec:\n  containers:\n  - name: c\n    image: busybox\n    resources:\n      limits: {cpu: 1, memory: 64Mi}\n    readinessProbe:\n      httpGet: {port: 8080}\n";
        let a = apply_raw(&client, &format!("{PODS}/q"), "", ok).await;
        assert_eq!(a.code, 201, "{}", a.body);
    });
}

/// Upstream's field validation test body: JSON, the second `paused` on
/// line 10, the second `imagePullPolicy` on line 27.
const REPEATED: &str = r#"{
		"apiVersion": "apps/v1",
		"kind": "Deployment",
		"metadata": {
			"name": "%NAME%",
			"labels": {"app": "nginx"}
		},
		"spec": {
			"paused": false,
			"paused": true,
			"selector": {
				"matchLabels": {
					"app": "nginx"
				}
			},
			"template": {
				"metadata": {
					"labels": {
						"app": "nginx"
					}
				},
				"spec": {
					"containers": [{
						"name":  "nginx",
						"image": "nginx:latest",
						"imagePullPolicy": "Never",
						"imagePullPolicy": "Always"
					}]
				}
			}
		}
	}"#;

#[tokio::test]
async fn repeated_keys_in_apply_bodies_follow_field_validation() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let lines = [
            "line 10: key \"paused\" already set in map",
            "line 27: key \"imagePullPolicy\" already set in map",
        ];
        for (validation, name) in [
            ("Strict", "strict"),
            ("Warn", "warn"),
            ("Ignore", "ignore"),
            ("", "default"),
        ] {
            let body = REPEATED.replace("%NAME%", name);
            let query = if validation.is_empty() {
                String::new()
            } else {
                format!("&fieldValidation={validation}")
            };
            let a = apply_raw(&client, &format!("{DEPLOYS}/{name}"), &query, &body).await;
            if validation == "Strict" {
                assert_eq!(a.code, 400, "{}", a.body);
                assert_eq!(a.body["reason"], "BadRequest");
                assert_eq!(
                    a.body["message"],
                    format!(
                        "error strict decoding YAML: error converting YAML to JSON: yaml: unmarshal errors:\n  {}\n  {}",
                        lines[0], lines[1]
                    )
                );
                let out = c.kubectl(&["get", "deployment", name]).await.unwrap();
                assert!(!out.status.success(), "nothing stored");
                continue;
            }
            assert_eq!(a.code, 201, "{validation}: {}", a.body);
            // The last value of a repeated key wins.
            assert_eq!(a.body["spec"]["paused"], true);
            assert_eq!(
                a.body["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
                "Always"
            );
            if validation == "Ignore" {
                assert!(a.warnings.is_empty(), "{:?}", a.warnings);
            } else {
                assert_eq!(a.warnings, lines, "{validation}");
            }
        }
        // An apply that conflicts is answered by the conflict first, as
        // upstream judges repetitions after the merge.
        c.kubectl_ok(&["scale", "deployment", "warn", "--replicas=3"])
            .await
            .unwrap();
        let body = REPEATED
            .replace("%NAME%", "warn")
            .replace("\"paused\": true,", "\"paused\": true,\n\"replicas\": 1,");
        let a = apply_raw(
            &client,
            &format!("{DEPLOYS}/warn"),
            "&fieldValidation=Strict",
            &body,
        )
        .await;
        assert_eq!(a.code, 409, "{}", a.body);
    });
}

const MODES_V1: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: modes.tr.example.com
spec:
  group: tr.example.com
  scope: Namespaced
  names: {plural: modes, singular: mode, kind: Mode}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              n: {type: integer}
"#;

#[tokio::test]
async fn transition_rules_see_defaults_added_after_the_object_was_stored() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        install_crd(&c, MODES_V1, "modes.tr.example.com").await;
        apply_ok(
            &c,
            "apiVersion: tr.example.com/v1\nkind: Mode\nmetadata:\n  name: m\n  namespace: default\nspec:\n  n: 1\n",
        )
        .await;
        // The CRD gains a defaulted field and a rule that keeps it fixed.
        let v2 = MODES_V1.replace(
            "            properties:\n              n: {type: integer}\n",
            "            x-kubernetes-validations:\n            - rule: self.mode == oldSelf.mode\n              message: mode is immutable\n            properties:\n              n: {type: integer}\n              mode: {type: string, default: fast}\n",
        );
        install_crd(&c, &v2, "modes.tr.example.com").await;
        // The stored object reads with the default (once the new schema
        // serves)...
        let mut m = Value::Null;
        for _ in 0..50 {
            m = corten_e2e::fixtures::get_json(&c, &["mode", "m"]).await;
            if m["spec"]["mode"] == "fast" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert_eq!(m["spec"]["mode"], "fast", "{m}");
        // ... and an update compares against it: the rule holds.
        let out = c
            .kubectl(&[
                "patch",
                "mode",
                "m",
                "--type=merge",
                "-p",
                r#"{"spec":{"n":2}}"#,
            ])
            .await
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        // A real change of the field still breaks it.
        let out = c
            .kubectl(&[
                "patch",
                "mode",
                "m",
                "--type=merge",
                "-p",
                r#"{"spec":{"mode":"slow"}}"#,
            ])
            .await
            .unwrap();
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("spec: Invalid value: \"object\": mode is immutable"),
            "{}",
            stderr(&out)
        );
    });
}

const PORTS_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: fvs.fv.example.com
spec:
  group: fv.example.com
  scope: Namespaced
  names: {plural: fvs, singular: fv, kind: Fv}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              knownField1: {type: string}
              embeddedObj:
                type: object
                x-kubernetes-embedded-resource: true
                properties:
                  apiVersion: {type: string}
                  kind: {type: string}
                  metadata: {type: object}
              ports:
                type: array
                items:
                  type: object
                  properties:
                    name: {type: string}
"#;

/// Upstream's decoder order for custom resources, whatever the body's:
/// the root's metadata, the pruned fields sorted, embedded metadata.
#[tokio::test]
async fn custom_resource_unknown_fields_come_in_upstream_order() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        install_crd(&c, PORTS_CRD, "fvs.fv.example.com").await;
        let client = c.client().await.unwrap();
        let body = |name: &str| {
            format!(
                r#"{{"apiVersion": "fv.example.com/v1", "kind": "Fv",
                "metadata": {{"name": "{name}", "unknownMeta": "metaVal"}},
                "spec": {{"unknown1": "val1", "knownField1": "val1",
                    "ports": [{{"name": "p", "unknownNested": "val"}}],
                    "embeddedObj": {{"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {{"name": "my-cm", "unknownEmbeddedMeta": "foo"}}}}}}}}"#
            )
        };
        let want = [
            "unknown field \"metadata.unknownMeta\"",
            "unknown field \"spec.ports[0].unknownNested\"",
            "unknown field \"spec.unknown1\"",
            "unknown field \"spec.embeddedObj.metadata.unknownEmbeddedMeta\"",
        ];
        let path = "/apis/fv.example.com/v1/namespaces/default/fvs";
        let a = send_raw(
            &client,
            "POST",
            &format!("{path}?fieldValidation=Warn"),
            "application/json",
            body("warn"),
        )
        .await;
        assert_eq!(a.code, 201, "{}", a.body);
        assert_eq!(a.warnings, want);
        let a = send_raw(
            &client,
            "POST",
            &format!("{path}?fieldValidation=Strict"),
            "application/json",
            body("strict"),
        )
        .await;
        assert_eq!(a.code, 400, "{}", a.body);
        assert_eq!(
            a.body["message"],
            format!(
                "Fv in version \"v1\" cannot be handled as a Fv: strict decoding error: {}",
                want.join(", ")
            )
        );
    });
}
