//! sig-api-machinery conformance, checked the way upstream's e2e tests
//! (test/e2e/apimachinery) drive the apiserver: server-side field
//! validation of typed objects and custom resources (unknown and repeated
//! fields in create, update, patch and apply bodies, JSON and YAML).

use corten_e2e::TestCluster;
use corten_e2e::fixtures::{Answer, install_crd, send_raw, stderr};
use serde_json::Value;

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
    });
}

/// Conformance "API Chunking" (the compacted case): a continue token whose
/// revision etcd compacted away is answered 410 Expired with a token in
/// the Status's `metadata.continue`; that token lists the rest at the
/// latest revision, and its own continue tokens stay at that revision.
#[tokio::test]
async fn chunked_lists_continue_after_their_revision_was_compacted() {
    crate::with_timeout!(async {
        let c = TestCluster::start_with(&["--etcd-compaction-interval=1s"])
            .await
            .unwrap();
        let client = c.client().await.unwrap();
        let templates = "/api/v1/namespaces/default/podtemplates";
        let total = 20;
        for i in 0..total {
            let body = format!(
                r#"{{"apiVersion": "v1", "kind": "PodTemplate", "metadata": {{"name": "template-{i:04}"}},
                "template": {{"spec": {{"containers": [{{"name": "c", "image": "busybox"}}]}}}}}}"#
            );
            let a = send_raw(&client, "POST", templates, "application/json", body).await;
            assert_eq!(a.code, 201, "{}", a.body);
        }
        let get = |q: String| {
            let client = client.clone();
            async move {
                send_raw(
                    &client,
                    "GET",
                    &format!("{templates}?{q}"),
                    "application/json",
                    "",
                )
                .await
            }
        };
        let names = |list: &Answer| -> Vec<String> {
            list.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
                .collect()
        };
        let first = get("limit=2".into()).await;
        assert_eq!(first.code, 200, "{}", first.body);
        assert_eq!(names(&first), ["template-0000", "template-0001"]);
        assert_eq!(first.body["metadata"]["remainingItemCount"], total - 2);
        let first_rv = first.body["metadata"]["resourceVersion"].clone();
        let token = first.body["metadata"]["continue"]
            .as_str()
            .unwrap()
            .to_string();

        // Writes move the revision on; the compactor then compacts the
        // first page's revision away.
        let mut expired = None;
        for _ in 0..100 {
            let a = send_raw(
                &client,
                "POST",
                "/api/v1/namespaces/default/configmaps",
                "application/json",
                r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "tick-"}}"#,
            )
            .await;
            assert_eq!(a.code, 201, "{}", a.body);
            let a = get(format!("limit=2&continue={token}")).await;
            if a.code != 200 {
                expired = Some(a);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        let expired = expired.expect("the continue token never expired");
        assert_eq!(expired.code, 410, "{}", expired.body);
        assert_eq!(expired.body["reason"], "Expired");
        assert!(
            expired.body["message"].as_str().unwrap().starts_with(
                "The provided continue parameter is too old to display a consistent list result."
            ),
            "{}",
            expired.body
        );
        let inconsistent = expired.body["metadata"]["continue"]
            .as_str()
            .expect("a continue token in the Status")
            .to_string();

        let second = get(format!("limit=2&continue={inconsistent}")).await;
        assert_eq!(second.code, 200, "{}", second.body);
        assert_ne!(second.body["metadata"]["resourceVersion"], first_rv);
        assert_eq!(names(&second), ["template-0002", "template-0003"]);
        assert_eq!(second.body["metadata"]["remainingItemCount"], total - 4);
        let last_rv = second.body["metadata"]["resourceVersion"].clone();
        let mut found = 4;
        let mut next = second.body["metadata"]["continue"]
            .as_str()
            .map(str::to_string);
        while let Some(t) = next {
            let page = get(format!("limit=2&continue={t}")).await;
            assert_eq!(page.code, 200, "{}", page.body);
            assert_eq!(page.body["metadata"]["resourceVersion"], last_rv);
            for n in names(&page) {
                assert_eq!(n, format!("template-{found:04}"));
                found += 1;
            }
            next = page.body["metadata"]["continue"]
                .as_str()
                .map(str::to_string);
        }
        assert_eq!(found, total);
    });
}

/// GETs `path` with `accept`: the code, the Content-Type and the JSON body.
async fn get_accept(client: &kube::Client, path: &str, accept: &str) -> (u16, String, Value) {
    use http_body_util::BodyExt;
    let req = http::Request::builder()
        .uri(path)
        .header("accept", accept)
        .body(Vec::new())
        .unwrap();
    let resp = client
        .send(req.map(kube::client::Body::from))
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        code,
        ct,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an APIGroupDiscoveryList serves `resource` in `group/version`.
fn discovered(list: &Value, group: &str, version: &str, resource: &str) -> bool {
    list["items"].as_array().into_iter().flatten().any(|g| {
        g["metadata"]["name"].as_str().unwrap_or("") == group
            && g["versions"].as_array().into_iter().flatten().any(|v| {
                v["version"] == version
                    && v["resources"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|r| r["resource"] == resource)
            })
    })
}

/// Conformance "Aggregated Discovery" (endpoint Accept headers, CRDs) and
/// "Discovery" (groupVersion and a resource from each group; the
/// PreferredVersion of each group).
#[tokio::test]
async fn discovery_serves_every_group_like_upstream() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();

        let (code, ct, apis) = get_accept(&client, "/apis", AGGREGATED).await;
        assert_eq!(code, 200, "{apis}");
        assert!(ct.starts_with(AGGREGATED), "{ct}");
        for (g, v, r) in [
            (
                "admissionregistration.k8s.io",
                "v1",
                "validatingwebhookconfigurations",
            ),
            ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
            ("apiregistration.k8s.io", "v1", "apiservices"),
            ("apps", "v1", "deployments"),
            ("authentication.k8s.io", "v1", "tokenreviews"),
            ("authorization.k8s.io", "v1", "subjectaccessreviews"),
            ("autoscaling", "v1", "horizontalpodautoscalers"),
            ("autoscaling", "v2", "horizontalpodautoscalers"),
            ("batch", "v1", "jobs"),
            ("certificates.k8s.io", "v1", "certificatesigningrequests"),
            ("coordination.k8s.io", "v1", "leases"),
            ("discovery.k8s.io", "v1", "endpointslices"),
            ("events.k8s.io", "v1", "events"),
            ("networking.k8s.io", "v1", "ingresses"),
            ("node.k8s.io", "v1", "runtimeclasses"),
            ("policy", "v1", "poddisruptionbudgets"),
            ("scheduling.k8s.io", "v1", "priorityclasses"),
            ("storage.k8s.io", "v1", "csinodes"),
        ] {
            assert!(discovered(&apis, g, v, r), "{g}/{v} {r} missing");
        }
        let (code, ct, api) = get_accept(&client, "/api", AGGREGATED).await;
        assert_eq!(code, 200, "{api}");
        assert!(ct.starts_with(AGGREGATED), "{ct}");
        for r in [
            "pods",
            "services",
            "configmaps",
            "namespaces",
            "nodes",
            "secrets",
        ] {
            assert!(discovered(&api, "", "v1", r), "v1 {r} missing");
        }

        // Legacy discovery: every group's document names its preferred
        // version as /apis does, and each version lists its resources.
        let (code, _, groups) = get_accept(&client, "/apis", "application/json").await;
        assert_eq!(code, 200);
        assert_eq!(groups["kind"], "APIGroupList");
        for g in groups["groups"].as_array().unwrap() {
            let name = g["name"].as_str().unwrap();
            let (code, _, group) =
                get_accept(&client, &format!("/apis/{name}"), "application/json").await;
            assert_eq!(code, 200, "{name}");
            assert_eq!(group["kind"], "APIGroup");
            assert_eq!(group["preferredVersion"], g["preferredVersion"], "{name}");
            for v in g["versions"].as_array().unwrap() {
                let gv = v["groupVersion"].as_str().unwrap();
                let (code, _, list) =
                    get_accept(&client, &format!("/apis/{gv}"), "application/json").await;
                assert_eq!(code, 200, "{gv}");
                assert_eq!(list["kind"], "APIResourceList");
                assert_eq!(list["groupVersion"], gv);
                assert!(!list["resources"].as_array().unwrap().is_empty(), "{gv}");
            }
        }

        // A CRD appears in aggregated discovery.
        install_crd(
            &c,
            "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: testcrds.group1.example.com}
spec:
  group: group1.example.com
  scope: Namespaced
  names: {plural: testcrds, singular: testcrd, kind: testcrd, listKind: testcrdList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
",
            "testcrds.group1.example.com",
        )
        .await;
        let mut seen = false;
        for _ in 0..50 {
            let (_, _, apis) = get_accept(&client, "/apis", AGGREGATED).await;
            if discovered(&apis, "group1.example.com", "v1", "testcrds") {
                seen = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert!(seen, "the CRD never appeared in aggregated discovery");
    });
}

/// The schema of upstream's "Foo" CRD (descriptions, a required field,
/// an enum, a pattern), indented for a version's `openAPIV3Schema`.
const FOO_SCHEMA: &str = r#"{"description": "Foo CRD for Testing", "type": "object",
  "properties": {
    "spec": {"type": "object", "description": "Specification of Foo", "properties": {
      "bars": {"description": "List of Bars and their specs.", "type": "array", "items": {
        "type": "object", "required": ["name"], "properties": {
          "name": {"description": "Name of Bar.", "type": "string"},
          "age": {"description": "Age of Bar.", "type": "string"},
          "feeling": {"description": "Whether Bar is feeling great.", "type": "string", "enum": ["Great", "Down"]},
          "bazs": {"description": "List of Bazs.", "items": {"type": "string"}, "type": "array"}}}}}},
    "status": {"description": "Status of Foo", "type": "object", "properties": {
      "bars": {"description": "List of Bars and their statuses.", "type": "array", "items": {
        "type": "object", "properties": {
          "name": {"description": "Name of Bar.", "type": "string"},
          "available": {"description": "Whether the Bar is installed.", "type": "boolean"},
          "quxType": {"description": "Indicates to external qux type.", "pattern": "in-tree|out-of-tree", "type": "string"}}}}}}}}"#;

fn foo_crd(versions: &[(&str, bool)]) -> String {
    let versions: Vec<Value> = versions
        .iter()
        .enumerate()
        .map(|(i, (name, served))| {
            serde_json::json!({"name": name, "served": served, "storage": i == 0,
                "schema": {"openAPIV3Schema": serde_json::from_str::<Value>(FOO_SCHEMA).unwrap()}})
        })
        .collect();
    serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "e2e-test-foos.crd-publish-openapi-test.example.com"},
        "spec": {"group": "crd-publish-openapi-test.example.com", "scope": "Namespaced",
            "names": {"plural": "e2e-test-foos", "singular": "e2e-test-foo", "kind": "E2eTestFoo",
                "listKind": "E2eTestFooList"},
            "versions": versions}
    })
    .to_string()
}

/// The /openapi/v2 definition of E2eTestFoo in `version`, without what
/// the server adds (metadata, apiVersion, kind, the GVK extension), as
/// upstream's test compares it.
async fn foo_definition(client: &kube::Client, version: &str) -> Option<Value> {
    let (code, _, doc) = get_accept(client, "/openapi/v2", "application/json").await;
    assert_eq!(code, 200);
    let name = format!("com.example.crd-publish-openapi-test.{version}.E2eTestFoo");
    let mut d = doc["definitions"].get(&name)?.clone();
    let o = d.as_object_mut().unwrap();
    o.remove("x-kubernetes-group-version-kind");
    if let Some(p) = o.get_mut("properties").and_then(Value::as_object_mut) {
        for k in ["metadata", "apiVersion", "kind"] {
            p.remove(k);
        }
    }
    Some(d)
}

/// Waits until `version`'s definition is `want` (`None`: gone).
async fn wait_definition(client: &kube::Client, version: &str, want: Option<&Value>) {
    let mut last = None;
    for _ in 0..50 {
        last = foo_definition(client, version).await;
        if last.as_ref() == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("definition of {version}: want {want:?}, got {last:?}");
}

/// Conformance "Custom Resource OpenAPI Publish": the CRD's schema is
/// published per served version (renames and unserved versions follow),
/// `kubectl create/apply` accept valid objects and `kubectl explain`
/// describes them.
#[tokio::test]
async fn crd_schemas_are_published_like_upstream() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        install_crd(
            &c,
            &foo_crd(&[("v2", true), ("v3", true)]),
            "e2e-test-foos.crd-publish-openapi-test.example.com",
        )
        .await;
        let schema: Value = serde_json::from_str(FOO_SCHEMA).unwrap();
        wait_definition(&client, "v2", Some(&schema)).await;
        wait_definition(&client, "v3", Some(&schema)).await;

        let cr = r#"{"apiVersion": "crd-publish-openapi-test.example.com/v2", "kind": "E2eTestFoo",
            "metadata": {"name": "test-foo"}, "spec": {"bars": [{"name": "test-bar"}]}}"#;
        for verb in ["create", "apply"] {
            let o = c
                .kubectl_stdin(&[verb, "--validate=true", "-f", "-"], Some(cr))
                .await
                .unwrap();
            assert!(o.status.success(), "{verb}: {}", stderr(&o));
            c.kubectl_ok(&["delete", "e2e-test-foos", "test-foo"])
                .await
                .unwrap();
        }

        let explain = |what: &'static str| {
            let c = &c;
            async move { c.kubectl_ok(&["explain", what]).await.unwrap() }
        };
        let in_order = |out: &str, parts: &[&str]| {
            let mut rest = out;
            for p in parts {
                let Some(i) = rest.find(p) else {
                    panic!("{p:?} missing (in order) from:\n{out}");
                };
                rest = &rest[i + p.len()..];
            }
        };
        let out = explain("e2e-test-foos").await;
        in_order(
            &out,
            &[
                "DESCRIPTION:",
                "Foo CRD for Testing",
                "FIELDS:",
                "apiVersion",
                "<string>",
                "APIVersion defines",
                "spec",
                "<Object>",
                "Specification of Foo",
            ],
        );
        let out = explain("e2e-test-foos.metadata").await;
        in_order(
            &out,
            &[
                "DESCRIPTION:",
                "Standard object's metadata",
                "FIELDS:",
                "creationTimestamp",
                "<string>",
                "CreationTimestamp is a timestamp",
            ],
        );
        let out = explain("e2e-test-foos.spec").await;
        in_order(
            &out,
            &[
                "DESCRIPTION:",
                "Specification of Foo",
                "FIELDS:",
                "bars",
                "<[]Object>",
                "List of Bars and their specs",
            ],
        );
        let out = explain("e2e-test-foos.spec.bars").await;
        in_order(
            &out,
            &[
                "bars",
                "<[]Object>",
                "DESCRIPTION:",
                "List of Bars and their specs",
                "FIELDS:",
                "bazs",
                "<[]string>",
                "List of Bazs",
                "name",
                "<string>",
                "Name of Bar",
            ],
        );
        let out = c
            .kubectl(&["explain", "e2e-test-foos.spec.bars2"])
            .await
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("field \"bars2\" does not exist"), "{err}");

        // A renamed version moves in the document; an unserved one leaves.
        c.kubectl_ok(&[
            "patch",
            "crd",
            "e2e-test-foos.crd-publish-openapi-test.example.com",
            "--type=json",
            "-p",
            r#"[{"op": "replace", "path": "/spec/versions/1/name", "value": "v4"}]"#,
        ])
        .await
        .unwrap();
        wait_definition(&client, "v4", Some(&schema)).await;
        wait_definition(&client, "v3", None).await;
        wait_definition(&client, "v2", Some(&schema)).await;
        c.kubectl_ok(&[
            "patch",
            "crd",
            "e2e-test-foos.crd-publish-openapi-test.example.com",
            "--type=json",
            "-p",
            r#"[{"op": "replace", "path": "/spec/versions/1/served", "value": false}]"#,
        ])
        .await
        .unwrap();
        wait_definition(&client, "v4", None).await;
        wait_definition(&client, "v2", Some(&schema)).await;
    });
}

mod watchers {
    //! Conformance "watch-*": label-selected watchers, watches from a
    //! resourceVersion, restarted watches, objects leaving a selector, and
    //! concurrent watches seeing one order; through kube-rs.

    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};

    use corten_e2e::TestCluster;

    type Events = futures::stream::BoxStream<'static, kube::Result<WatchEvent<ConfigMap>>>;

    const LABEL: &str = "watch-this-configmap";

    async fn watch(api: &Api<ConfigMap>, selector: &str, rv: &str) -> Events {
        api.watch(&WatchParams::default().labels(selector).timeout(60), rv)
            .await
            .unwrap()
            .boxed()
    }

    /// The next event that is not a bookmark: (type, name, data.mutation).
    async fn next(events: &mut Events) -> (&'static str, String, String) {
        loop {
            let e = tokio::time::timeout(std::time::Duration::from_secs(20), events.try_next())
                .await
                .expect("no watch event in time")
                .unwrap()
                .expect("watch ended");
            let (t, cm) = match e {
                WatchEvent::Added(cm) => ("ADDED", cm),
                WatchEvent::Modified(cm) => ("MODIFIED", cm),
                WatchEvent::Deleted(cm) => ("DELETED", cm),
                WatchEvent::Bookmark(_) => continue,
                WatchEvent::Error(e) => panic!("watch error {e:?}"),
            };
            let m = cm
                .data
                .as_ref()
                .and_then(|d| d.get("mutation").cloned())
                .unwrap_or_default();
            return (t, cm.metadata.name.unwrap_or_default(), m);
        }
    }

    fn cm(name: &str, label: &str) -> ConfigMap {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {LABEL: label}}
        }))
        .unwrap()
    }

    async fn mutate(api: &Api<ConfigMap>, name: &str, n: u32) -> String {
        let p = serde_json::json!({"data": {"mutation": n.to_string()}});
        let cm = api
            .patch(name, &PatchParams::default(), &Patch::Merge(&p))
            .await
            .unwrap();
        cm.metadata.resource_version.unwrap()
    }

    async fn relabel(api: &Api<ConfigMap>, name: &str, label: &str) {
        let p = serde_json::json!({"metadata": {"labels": {LABEL: label}}});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&p))
            .await
            .unwrap();
    }

    fn ev(t: &'static str, name: &str, m: &str) -> (&'static str, String, String) {
        (t, name.to_string(), m.to_string())
    }

    #[tokio::test]
    async fn watches_behave_like_upstream() {
        crate::with_timeout!(async {
            let c = TestCluster::start().await.unwrap();
            let client = c.client().await.unwrap();
            let api: Api<ConfigMap> = Api::namespaced(client, "default");
            let pp = PostParams::default();
            let dp = DeleteParams::default();

            // Multiple watchers, each with its own selector.
            let mut wa = watch(&api, &format!("{LABEL}=multiple-watchers-A"), "0").await;
            let mut wb = watch(&api, &format!("{LABEL}=multiple-watchers-B"), "0").await;
            let mut wab = watch(
                &api,
                &format!("{LABEL} in (multiple-watchers-A,multiple-watchers-B)"),
                "0",
            )
            .await;
            api.create(
                &pp,
                &cm("e2e-watch-test-configmap-a", "multiple-watchers-A"),
            )
            .await
            .unwrap();
            mutate(&api, "e2e-watch-test-configmap-a", 1).await;
            api.delete("e2e-watch-test-configmap-a", &dp).await.unwrap();
            api.create(
                &pp,
                &cm("e2e-watch-test-configmap-b", "multiple-watchers-B"),
            )
            .await
            .unwrap();
            api.delete("e2e-watch-test-configmap-b", &dp).await.unwrap();
            let a = "e2e-watch-test-configmap-a";
            let b = "e2e-watch-test-configmap-b";
            for (t, m) in [("ADDED", ""), ("MODIFIED", "1"), ("DELETED", "1")] {
                assert_eq!(next(&mut wa).await, ev(t, a, m));
                assert_eq!(next(&mut wab).await, ev(t, a, m));
            }
            for (t, m) in [("ADDED", ""), ("DELETED", "")] {
                assert_eq!(next(&mut wb).await, ev(t, b, m));
                assert_eq!(next(&mut wab).await, ev(t, b, m));
            }

            // From a specific resourceVersion: the changes after it.
            let n = "e2e-watch-test-resource-version";
            api.create(&pp, &cm(n, "from-resource-version"))
                .await
                .unwrap();
            let rv = mutate(&api, n, 1).await;
            mutate(&api, n, 2).await;
            api.delete(n, &dp).await.unwrap();
            let mut w = watch(&api, &format!("{LABEL}=from-resource-version"), &rv).await;
            assert_eq!(next(&mut w).await, ev("MODIFIED", n, "2"));
            assert_eq!(next(&mut w).await, ev("DELETED", n, "2"));

            // Closed and restarted from the last resourceVersion seen.
            let n = "e2e-watch-test-watch-closed";
            let sel = format!("{LABEL}=watch-closed-and-restarted");
            let mut w = watch(&api, &sel, "0").await;
            api.create(&pp, &cm(n, "watch-closed-and-restarted"))
                .await
                .unwrap();
            // The resourceVersion of the last event this watch sees.
            let last = mutate(&api, n, 1).await;
            assert_eq!(next(&mut w).await, ev("ADDED", n, ""));
            assert_eq!(next(&mut w).await, ev("MODIFIED", n, "1"));
            drop(w);
            mutate(&api, n, 2).await;
            api.delete(n, &dp).await.unwrap();
            let mut w = watch(&api, &sel, &last).await;
            assert_eq!(next(&mut w).await, ev("MODIFIED", n, "2"));
            assert_eq!(next(&mut w).await, ev("DELETED", n, "2"));

            // An object that stops matching the selector is deleted for
            // the watcher, and added again when it matches once more.
            let n = "e2e-watch-test-label-changed";
            let mut w = watch(&api, &format!("{LABEL}=label-changed-and-restored"), "0").await;
            api.create(&pp, &cm(n, "label-changed-and-restored"))
                .await
                .unwrap();
            mutate(&api, n, 1).await;
            relabel(&api, n, "wrong-value").await;
            mutate(&api, n, 2).await;
            relabel(&api, n, "label-changed-and-restored").await;
            mutate(&api, n, 3).await;
            api.delete(n, &dp).await.unwrap();
            for (t, m) in [
                ("ADDED", ""),
                ("MODIFIED", "1"),
                ("DELETED", "1"),
                ("ADDED", "2"),
                ("MODIFIED", "3"),
                ("DELETED", "3"),
            ] {
                assert_eq!(next(&mut w).await, ev(t, n, m));
            }

            // Concurrent watches started from different resourceVersions
            // see the same order.
            let writer = {
                let api = api.clone();
                tokio::spawn(async move {
                    for i in 0..30u32 {
                        let n = format!("e2e-watch-order-{}", i % 5);
                        if api.get_opt(&n).await.unwrap().is_none() {
                            api.create(&PostParams::default(), &cm(&n, "order"))
                                .await
                                .unwrap();
                        } else if i % 3 == 0 {
                            api.delete(&n, &DeleteParams::default()).await.unwrap();
                        } else {
                            mutate(&api, &n, i).await;
                        }
                    }
                })
            };
            let mut starts = Vec::new();
            let mut watches = Vec::new();
            for _ in 0..3 {
                let rv = api
                    .list(&kube::api::ListParams::default().limit(1))
                    .await
                    .unwrap()
                    .metadata
                    .resource_version
                    .unwrap();
                starts.push(rv.clone());
                watches.push(watch(&api, &format!("{LABEL}=order"), &rv).await);
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            writer.await.unwrap();
            // Collect each watch's events until the writer's last change.
            let last: u64 = api
                .list(&kube::api::ListParams::default().limit(1))
                .await
                .unwrap()
                .metadata
                .resource_version
                .unwrap()
                .parse()
                .unwrap();
            let mut seen: Vec<Vec<u64>> = Vec::new();
            for w in watches.iter_mut() {
                let mut rvs = Vec::new();
                loop {
                    let e =
                        tokio::time::timeout(std::time::Duration::from_secs(5), w.try_next()).await;
                    let Ok(Ok(Some(e))) = e else { break };
                    let rv = match &e {
                        WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
                            o.metadata.resource_version.clone().unwrap_or_default()
                        }
                        _ => continue,
                    };
                    let rv: u64 = rv.parse().unwrap();
                    rvs.push(rv);
                    if rv >= last {
                        break;
                    }
                }
                seen.push(rvs);
            }
            // Each later watch's events are the tail of the earlier ones'.
            assert!(!seen[0].is_empty());
            for s in &seen[1..] {
                assert!(seen[0].ends_with(s), "{seen:?} from {starts:?}");
            }
            assert!(seen[0].windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        });
    }
}
