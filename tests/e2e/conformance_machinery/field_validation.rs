//! Server-side field validation of typed objects and custom resources:
//! unknown and repeated fields in create, update, patch and apply bodies,
//! JSON and YAML (upstream test/e2e/apimachinery/field_validation.go and
//! the integration cases behind it).

use corten_e2e::TestCluster;
use corten_e2e::fixtures::{Answer, install_crd, send_raw};

const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";

/// A Deployment body (JSON) that repeats and invents fields at several
/// depths: the metadata, the spec and a container.
fn messy_deployment_json(name: &str) -> String {
    format!(
        r#"{{
  "apiVersion": "apps/v1",
  "kind": "Deployment",
  "metadata": {{"name": "x", "name": "{name}", "bogusMeta": 1, "labels": {{"app": "web"}}}},
  "spec": {{
    "zzUnknown": 1,
    "dupUnknown": 1,
    "dupUnknown": 2,
    "paused": true,
    "paused": false,
    "selector": {{"matchLabels": {{"app": "web"}}}},
    "template": {{
      "metadata": {{"labels": {{"app": "web"}}}},
      "spec": {{"containers": [{{"name": "web", "image": "nginx", "nested": 1,
        "imagePullPolicy": "Always", "imagePullPolicy": "Never"}}]}}
    }}
  }}
}}"#
    )
}

/// The same object as YAML (line numbers matter: see the expectations).
fn messy_deployment_yaml(name: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: x
  name: {name}
  bogusMeta: 1
  labels:
    app: web
spec:
  zzUnknown: 1
  dupUnknown: 1
  dupUnknown: 2
  paused: true
  paused: false
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx
        nested: 1
        imagePullPolicy: Always
        imagePullPolicy: Never
"
    )
}

/// Upstream's strict errors for the JSON body: document order, a field
/// both unknown and repeated reported once as unknown.
const JSON_ERRORS: [&str; 7] = [
    "duplicate field \"metadata.name\"",
    "unknown field \"metadata.bogusMeta\"",
    "unknown field \"spec.zzUnknown\"",
    "unknown field \"spec.dupUnknown\"",
    "duplicate field \"spec.paused\"",
    "unknown field \"spec.template.spec.containers[0].nested\"",
    "duplicate field \"spec.template.spec.containers[0].imagePullPolicy\"",
];

/// For the YAML body: go-yaml's lines, then the unknown fields in the
/// key order of the JSON the YAML became.
const YAML_LINES: [&str; 4] = [
    "line 5: key \"name\" already set in map",
    "line 12: key \"dupUnknown\" already set in map",
    "line 14: key \"paused\" already set in map",
    "line 28: key \"imagePullPolicy\" already set in map",
];
const YAML_UNKNOWN: [&str; 4] = [
    "unknown field \"metadata.bogusMeta\"",
    "unknown field \"spec.dupUnknown\"",
    "unknown field \"spec.template.spec.containers[0].nested\"",
    "unknown field \"spec.zzUnknown\"",
];

fn validation_query(mode: &str) -> String {
    if mode.is_empty() {
        String::new()
    } else {
        format!("?fieldValidation={mode}")
    }
}

/// A name part for a `fieldValidation` value (none given: `default`).
fn mode_name(mode: &str) -> String {
    if mode.is_empty() {
        "default".into()
    } else {
        mode.to_lowercase()
    }
}

/// Checks one answer against upstream's: Strict refuses with `errors`
/// joined, Warn (and no choice) warns `warnings` one by one, Ignore says
/// nothing.
fn check_answer(
    a: &Answer,
    mode: &str,
    ok: u16,
    (kind, version): (&str, &str),
    errors: &[String],
    warnings: &[String],
) {
    match mode {
        "Strict" => {
            assert_eq!(a.code, 400, "{}", a.body);
            assert_eq!(a.body["reason"], "BadRequest");
            assert_eq!(
                a.body["message"],
                format!(
                    "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
                    errors.join(", ")
                )
            );
        }
        "Ignore" => {
            assert_eq!(a.code, ok, "{}", a.body);
            assert!(a.warnings.is_empty(), "{:?}", a.warnings);
        }
        _ => {
            assert_eq!(a.code, ok, "{mode}: {}", a.body);
            assert_eq!(a.warnings, warnings, "{mode}");
        }
    }
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(ToString::to_string).collect()
}

/// Conformance "Server side field validation, typed object" and "typed
/// unknown metadata", plus the integration cases behind them: POST and
/// PUT in JSON and YAML, merge and strategic merge patches.
#[tokio::test]
async fn typed_objects_report_unknown_and_repeated_fields_like_upstream() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();

        // The conformance test's own request.
        let body = r#"{"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "my-dep", "labels": {"app": "nginx"}},
            "spec": {"unknownField": "foo", "replicas": 2, "replicas": 3,
              "selector": {"matchLabels": {"app": "nginx"}},
              "template": {"metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]}}}}"#;
        let a = send_raw(
            &client,
            "POST",
            &format!("{DEPLOYS}?fieldManager=field_validation_mgr&fieldValidation=Strict"),
            "application/json",
            body,
        )
        .await;
        assert_eq!(a.code, 400, "{}", a.body);
        assert_eq!(
            a.body["message"],
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.unknownField\", duplicate field \"spec.replicas\""
        );
        let meta = body
            .replace(
                "\"unknownField\": \"foo\", \"replicas\": 2, \"replicas\": 3,",
                "",
            )
            .replace(
                "\"name\": \"my-dep\",",
                "\"name\": \"my-dep\", \"unknownMeta\": \"foo\",",
            );
        let a = send_raw(
            &client,
            "POST",
            &format!("{DEPLOYS}?fieldManager=field_validation_mgr&fieldValidation=Strict"),
            "application/json",
            meta,
        )
        .await;
        assert_eq!(a.code, 400, "{}", a.body);
        assert_eq!(
            a.body["message"],
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"metadata.unknownMeta\""
        );

        let json_errors = strings(&JSON_ERRORS);
        let mut yaml_errors = vec![format!(
            "yaml: unmarshal errors:\n  {}",
            YAML_LINES.join("\n  ")
        )];
        yaml_errors.extend(strings(&YAML_UNKNOWN));
        let mut yaml_warnings = strings(&YAML_LINES);
        yaml_warnings.extend(strings(&YAML_UNKNOWN));

        // POST, then PUT onto the object the non-strict POSTs made.
        for mode in ["Strict", "Warn", "Ignore", ""] {
            let name = format!("post-{}", mode_name(mode));
            let q = validation_query(mode);
            let a = send_raw(
                &client,
                "POST",
                &format!("{DEPLOYS}{q}"),
                "application/json",
                messy_deployment_json(&name),
            )
            .await;
            check_answer(
                &a,
                mode,
                201,
                ("Deployment", "v1"),
                &json_errors,
                &json_errors,
            );
            if mode != "Strict" {
                // The last value of a repeated key wins.
                assert_eq!(a.body["spec"]["paused"], false);
                assert_eq!(
                    a.body["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
                    "Never"
                );
            }
            let yname = format!("yaml-{}", mode_name(mode));
            let a = send_raw(
                &client,
                "POST",
                &format!("{DEPLOYS}{q}"),
                "application/yaml",
                messy_deployment_yaml(&yname),
            )
            .await;
            check_answer(
                &a,
                mode,
                201,
                ("Deployment", "v1"),
                &yaml_errors,
                &yaml_warnings,
            );
        }
        for mode in ["Strict", "Warn", "Ignore", ""] {
            let name = "post-warn";
            let q = validation_query(mode);
            let a = send_raw(
                &client,
                "PUT",
                &format!("{DEPLOYS}/{name}{q}"),
                "application/json",
                messy_deployment_json(name),
            )
            .await;
            check_answer(
                &a,
                mode,
                200,
                ("Deployment", "v1"),
                &json_errors,
                &json_errors,
            );
            let a = send_raw(
                &client,
                "PUT",
                &format!("{DEPLOYS}/{name}{q}"),
                "application/yaml",
                messy_deployment_yaml(name),
            )
            .await;
            check_answer(
                &a,
                mode,
                200,
                ("Deployment", "v1"),
                &yaml_errors,
                &yaml_warnings,
            );
        }

        // A version that is not the storage one (autoscaling/v1 HPAs are
        // stored as v2): repeated keys still count.
        let hpa = r#"{"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "h"}, "spec": {"maxReplicas": 2, "maxReplicas": 3,
              "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"}}}"#;
        let hpas = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers";
        let dup = strings(&["duplicate field \"spec.maxReplicas\""]);
        let a = send_raw(
            &client,
            "POST",
            &format!("{hpas}?fieldValidation=Strict"),
            "application/json",
            hpa,
        )
        .await;
        check_answer(
            &a,
            "Strict",
            201,
            ("HorizontalPodAutoscaler", "v1"),
            &dup,
            &[],
        );
        let a = send_raw(&client, "POST", hpas, "application/json", hpa).await;
        check_answer(&a, "", 201, ("HorizontalPodAutoscaler", "v1"), &[], &dup);
        assert_eq!(a.body["spec"]["maxReplicas"], 3);

        // Patches: the patch's repeated keys first (all of them), then the
        // patched object's unknown fields in Go map order.
        let patch = r#"{"spec": {"zzUnknown": 1, "dupUnknown": 1, "dupUnknown": 2,
            "paused": true, "paused": false,
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx", "nested": 1,
              "imagePullPolicy": "Always", "imagePullPolicy": "Never"}]}}}}"#;
        let patch_errors = strings(&[
            "duplicate field \"spec.dupUnknown\"",
            "duplicate field \"spec.paused\"",
            "duplicate field \"spec.template.spec.containers[0].imagePullPolicy\"",
            "unknown field \"spec.dupUnknown\"",
            "unknown field \"spec.template.spec.containers[0].nested\"",
            "unknown field \"spec.zzUnknown\"",
        ]);
        for ct in [
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
        ] {
            for mode in ["Strict", "Warn", "Ignore", ""] {
                let q = validation_query(mode);
                let a = send_raw(
                    &client,
                    "PATCH",
                    &format!("{DEPLOYS}/post-ignore{q}"),
                    ct,
                    patch,
                )
                .await;
                check_answer(
                    &a,
                    mode,
                    200,
                    ("Deployment", "v1"),
                    &patch_errors,
                    &patch_errors,
                );
            }
        }
        // A JSON patch: its operations decoded strictly first.
        let ops = r#"[{"op": "add", "path": "/spec/zzUnknown", "value": 1, "foo": "bar"},
            {"op": "add", "path": "/spec/x", "path": "/spec/dupUnknown", "value": 1},
            {"op": "add", "path": "/spec/template/spec/containers/0/nested", "value": 1}]"#;
        let ops_errors = strings(&[
            "json patch unknown field \"[0].foo\"",
            "json patch duplicate field \"[1].path\"",
            "unknown field \"spec.dupUnknown\"",
            "unknown field \"spec.template.spec.containers[0].nested\"",
            "unknown field \"spec.zzUnknown\"",
        ]);
        for mode in ["Strict", "Warn", "Ignore", ""] {
            let q = validation_query(mode);
            let path = format!("{DEPLOYS}/post-ignore{q}");
            let a = send_raw(&client, "PATCH", &path, "application/json-patch+json", ops).await;
            check_answer(
                &a,
                mode,
                200,
                ("Deployment", "v1"),
                &ops_errors,
                &ops_errors,
            );
        }
    });
}

/// The CRD of upstream's field validation tests (one schema, two served
/// versions, cluster scoped), with `spec` preserving unknown fields or not.
fn noxu_crd(plural: &str, preserve: bool) -> String {
    let preserve = if preserve {
        "\n            x-kubernetes-preserve-unknown-fields: true"
    } else {
        ""
    };
    let version = |name: &str, storage: bool| {
        format!(
            r#"
  - name: {name}
    served: true
    storage: {storage}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object{preserve}
            properties:
              foo: {{type: string}}
              cronSpec:
                type: string
                pattern: '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){{4}}$'
              template:
                type: object
                x-kubernetes-embedded-resource: true
                properties:
                  metadata:
                    type: object
                    properties:
                      name: {{type: string}}
                  spec: {{type: object}}
              ports:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [containerPort, protocol]
                items:
                  type: object
                  required: [containerPort, protocol]
                  properties:
                    containerPort: {{type: integer, format: int32}}
                    hostIP: {{type: string}}
                    hostPort: {{type: integer, format: int32}}
                    name: {{type: string}}
                    protocol: {{type: string}}"#
        )
    };
    format!(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.fv.example.com
spec:
  group: fv.example.com
  scope: Cluster
  names: {{plural: {plural}, singular: {plural}1, kind: {plural}kind, listKind: {plural}kindList}}
  versions:{}{}
",
        version("v1beta1", true),
        version("v1", false)
    )
}

/// An apply configuration of a `noxu` custom resource (the body starts
/// with a newline, as upstream's does, so its lines count from 2).
fn noxu_apply(plural: &str, name: &str, extra_root: &str, spec: &str) -> String {
    format!(
        "
apiVersion: fv.example.com/v1beta1
kind: {plural}kind
metadata:
  name: {name}
  finalizers:
  - test-finalizer
{extra_root}spec:
{spec}  cronSpec: \"* * * * */5\"
  ports:
  - name: x
    containerPort: 80
    protocol: TCP"
    )
}

async fn apply_cr(client: &kube::Client, plural: &str, name: &str, body: String) -> Answer {
    send_raw(
        client,
        "PATCH",
        &format!("/apis/fv.example.com/v1beta1/{plural}/{name}?fieldManager=field_validation_mgr&fieldValidation=Strict"),
        "application/apply-patch+yaml",
        body,
    )
    .await
}

/// Conformance "Server side field validation": valid CR, unknown fields
/// CR (no schema / fails validation), unknown metadata, CR duplicates;
/// all by apply with `fieldValidation=Strict`. Then POST and PUT of
/// custom resources that repeat keys.
#[tokio::test]
async fn custom_resources_report_unknown_and_repeated_fields_like_upstream() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        install_crd(
            &c,
            &noxu_crd("strictfvs", false),
            "strictfvs.fv.example.com",
        )
        .await;
        install_crd(&c, &noxu_crd("openfvs", true), "openfvs.fv.example.com").await;
        let client = c.client().await.unwrap();

        // A valid CR.
        let a = apply_cr(
            &client,
            "strictfvs",
            "valid",
            noxu_apply("strictfvs", "valid", "", "  foo: foo1\n"),
        )
        .await;
        assert_eq!(a.code, 201, "{}", a.body);

        // Unknown fields under a spec that preserves them.
        let a = apply_cr(
            &client,
            "openfvs",
            "open",
            noxu_apply("openfvs", "open", "", "  unknown: uk1\n"),
        )
        .await;
        assert_eq!(a.code, 201, "{}", a.body);
        assert_eq!(a.body["spec"]["unknown"], "uk1");

        // An undeclared root field.
        let a = apply_cr(
            &client,
            "strictfvs",
            "extra",
            noxu_apply(
                "strictfvs",
                "extra",
                "unknownField: unknown\n",
                "  foo: foo1\n",
            ),
        )
        .await;
        assert_eq!(a.code, 500, "{}", a.body);
        let msg = a.body["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains(".unknownField: field not declared in schema"),
            "{msg}"
        );

        // Unknown metadata fields at the root and in an embedded resource.
        let spec = "  template:\n    apiversion: foo/v1\n    kind: Sub\n    metadata:\n        unknownSubMeta: unknown\n        name: subobject\n        namespace: default\n  foo: foo1\n";
        let body = noxu_apply("openfvs", "meta", "", spec)
            .replace("  name: meta\n", "  name: meta\n  unknownMeta: unknown\n");
        let a = apply_cr(&client, "openfvs", "meta", body).await;
        let raw = a.body.to_string();
        assert!(
            raw.contains(".spec.template.metadata.unknownSubMeta: field not declared in schema")
                || raw.contains(".metadata.unknownMeta: field not declared in schema"),
            "{raw}"
        );

        // Repeated keys under a spec that preserves unknown fields.
        let a = apply_cr(
            &client,
            "openfvs",
            "dup",
            noxu_apply(
                "openfvs",
                "dup",
                "",
                "  unknown: uk1\n  foo: foo1\n  foo: foo2\n",
            ),
        )
        .await;
        assert_eq!(a.code, 400, "{}", a.body);
        assert!(
            a.body
                .to_string()
                .contains("line 11: key \\\"foo\\\" already set in map"),
            "{}",
            a.body
        );

        // POST and PUT: the repetitions (all of them, the body being
        // decoded as a map) first, then the unknown fields in the pruning
        // order.
        let path = "/apis/fv.example.com/v1beta1/strictfvs";
        let json = |name: &str| {
            format!(
                r#"{{"apiVersion": "fv.example.com/v1beta1", "kind": "strictfvskind",
                "metadata": {{"name": "{name}", "name": "{name}", "unknownMeta": 1}},
                "spec": {{"unknown1": "v", "unknownDupe": "a", "unknownDupe": "b", "foo": "a", "foo": "b",
                  "ports": [{{"name": "p", "containerPort": 80, "protocol": "TCP", "hostPort": 1, "hostPort": 2, "unknownNested": "v"}}]}}}}"#
            )
        };
        let yaml = |name: &str| {
            format!(
                "apiVersion: fv.example.com/v1beta1
kind: strictfvskind
metadata:
  name: {name}
  name: {name}
  unknownMeta: 1
spec:
  unknown1: v
  unknownDupe: a
  unknownDupe: b
  foo: a
  foo: b
  ports:
  - name: p
    containerPort: 80
    protocol: TCP
    hostPort: 1
    hostPort: 2
    unknownNested: v
"
            )
        };
        let unknown = strings(&[
            "unknown field \"metadata.unknownMeta\"",
            "unknown field \"spec.ports[0].unknownNested\"",
            "unknown field \"spec.unknown1\"",
            "unknown field \"spec.unknownDupe\"",
        ]);
        let mut json_errors = strings(&[
            "duplicate field \"metadata.name\"",
            "duplicate field \"spec.unknownDupe\"",
            "duplicate field \"spec.foo\"",
            "duplicate field \"spec.ports[0].hostPort\"",
        ]);
        json_errors.extend(unknown.clone());
        let lines = [
            "line 5: key \"name\" already set in map",
            "line 10: key \"unknownDupe\" already set in map",
            "line 12: key \"foo\" already set in map",
            "line 18: key \"hostPort\" already set in map",
        ];
        let mut yaml_errors = vec![format!("yaml: unmarshal errors:\n  {}", lines.join("\n  "))];
        yaml_errors.extend(unknown.clone());
        let mut yaml_warnings = strings(&lines);
        yaml_warnings.extend(unknown.clone());
        for mode in ["Strict", "Warn", "Ignore", ""] {
            let q = validation_query(mode);
            let name = format!("json-{}", mode_name(mode));
            let a = send_raw(
                &client,
                "POST",
                &format!("{path}{q}"),
                "application/json",
                json(&name),
            )
            .await;
            check_answer(
                &a,
                mode,
                201,
                ("strictfvskind", "v1beta1"),
                &json_errors,
                &json_errors,
            );
            let name = format!("yaml-{}", mode_name(mode));
            let a = send_raw(
                &client,
                "POST",
                &format!("{path}{q}"),
                "application/yaml",
                yaml(&name),
            )
            .await;
            check_answer(
                &a,
                mode,
                201,
                ("strictfvskind", "v1beta1"),
                &yaml_errors,
                &yaml_warnings,
            );
        }
        // PUT onto an object the POSTs made.
        for mode in ["Strict", "Warn", "Ignore", ""] {
            let q = validation_query(mode);
            let a = send_raw(
                &client,
                "PUT",
                &format!("{path}/json-warn{q}"),
                "application/json",
                json("json-warn"),
            )
            .await;
            check_answer(
                &a,
                mode,
                200,
                ("strictfvskind", "v1beta1"),
                &json_errors,
                &json_errors,
            );
        }
        // Under a spec that preserves unknown fields only the undeclared
        // ones of declared objects are unknown; repetitions count anywhere.
        let open = json("open-json").replace("strictfvskind", "openfvskind");
        let mut open_errors = json_errors[..4].to_vec();
        open_errors.extend(strings(&[
            "unknown field \"metadata.unknownMeta\"",
            "unknown field \"spec.ports[0].unknownNested\"",
        ]));
        let a = send_raw(
            &client,
            "POST",
            "/apis/fv.example.com/v1beta1/openfvs?fieldValidation=Strict",
            "application/json",
            open.clone(),
        )
        .await;
        check_answer(
            &a,
            "Strict",
            201,
            ("openfvskind", "v1beta1"),
            &open_errors,
            &[],
        );
        let a = send_raw(
            &client,
            "POST",
            "/apis/fv.example.com/v1beta1/openfvs",
            "application/json",
            open,
        )
        .await;
        check_answer(&a, "", 201, ("openfvskind", "v1beta1"), &[], &open_errors);
        assert_eq!(a.body["spec"]["unknownDupe"], "b");
    });
}
