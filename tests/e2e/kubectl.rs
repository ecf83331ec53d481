//! The everyday kubectl session against Corten, with the real
//! /usr/bin/kubectl.

use corten_e2e::TestCluster;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
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
        image: nginx:1.27
        ports:
        - containerPort: 80
"#;

const SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
"#;

#[tokio::test]
async fn create_get_label_annotate_delete() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let out = c
            .kubectl_stdin(&["create", "-f", "-"], Some(DEPLOYMENT))
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "deployment.apps/web created"
        );

        let out = c
            .kubectl_stdin(&["create", "-f", "-"], Some(SERVICE))
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        // -o json / yaml / name / wide
        let json = c
            .kubectl_ok(&["get", "deployment", "web", "-o", "json"])
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["spec"]["replicas"], 2);
        assert_eq!(v["spec"]["strategy"]["type"], "RollingUpdate");
        let yaml = c
            .kubectl_ok(&["get", "svc", "web", "-o", "yaml"])
            .await
            .unwrap();
        let svc: serde_json::Value = serde_yaml::from_str(&yaml).unwrap();
        let ip = svc["spec"]["clusterIP"].as_str().unwrap();
        assert!(ip.starts_with("10.96."), "{ip}");
        let np = svc["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
        assert!((30000..=32767).contains(&np), "{np}");
        let names = c
            .kubectl_ok(&["get", "deploy,svc", "-o", "name"])
            .await
            .unwrap();
        assert!(names.contains("deployment.apps/web"), "{names}");
        assert!(names.contains("service/web"), "{names}");
        let wide = c
            .kubectl_ok(&["get", "deployments", "-o", "wide"])
            .await
            .unwrap();
        assert!(wide.contains("web"), "{wide}");

        // label / annotate, with -l and --overwrite
        c.kubectl_ok(&["label", "deployment", "web", "tier=frontend"])
            .await
            .unwrap();
        let out = c
            .kubectl(&["label", "deployment", "web", "tier=backend"])
            .await
            .unwrap();
        assert!(
            !out.status.success(),
            "relabel without --overwrite must fail"
        );
        c.kubectl_ok(&["label", "deployment", "web", "tier=backend", "--overwrite"])
            .await
            .unwrap();
        let sel = c
            .kubectl_ok(&["get", "deployments", "-l", "tier=backend", "-o", "name"])
            .await
            .unwrap();
        assert_eq!(sel.trim(), "deployment.apps/web");
        let none = c
            .kubectl_ok(&["get", "deployments", "-l", "tier=frontend", "-o", "name"])
            .await
            .unwrap();
        assert_eq!(none.trim(), "");
        c.kubectl_ok(&["annotate", "deployment", "web", "owner=team-a"])
            .await
            .unwrap();
        let ann = c
            .kubectl_ok(&[
                "get",
                "deployment",
                "web",
                "-o",
                "jsonpath={.metadata.annotations.owner}",
            ])
            .await
            .unwrap();
        assert_eq!(ann, "team-a");
        c.kubectl_ok(&["label", "deployment", "web", "tier-"])
            .await
            .unwrap();
        let labels = c
            .kubectl_ok(&[
                "get",
                "deployment",
                "web",
                "-o",
                "jsonpath={.metadata.labels}",
            ])
            .await
            .unwrap();
        assert!(!labels.contains("tier"), "{labels}");

        // field selectors
        let by_name = c
            .kubectl_ok(&[
                "get",
                "services",
                "--field-selector",
                "metadata.name=web",
                "-o",
                "name",
            ])
            .await
            .unwrap();
        assert_eq!(by_name.trim(), "service/web");

        // delete
        let out = c
            .kubectl_ok(&["delete", "deployment", "web"])
            .await
            .unwrap();
        assert!(out.contains("deployment.apps \"web\" deleted"), "{out}");
        let out = c.kubectl(&["get", "deployment", "web"]).await.unwrap();
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("deployments.apps \"web\" not found"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        c.kubectl_ok(&["delete", "service", "web"]).await.unwrap();
    });
}

#[tokio::test]
async fn api_resources_and_get_all() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let out = c.kubectl_ok(&["api-resources"]).await.unwrap();
        for line in [
            "pods",
            "deployments",
            "services",
            "configmaps",
            "secrets",
            "namespaces",
            "nodes",
            "statefulsets",
            "daemonsets",
            "jobs",
            "cronjobs",
            "ingresses",
            "leases",
            "endpointslices",
            "clusterroles",
            "priorityclasses",
            "runtimeclasses",
            "horizontalpodautoscalers",
            "poddisruptionbudgets",
            "storageclasses",
        ] {
            assert!(
                out.lines().any(|l| l.starts_with(line)),
                "{line} missing from:\n{out}"
            );
        }
        let po = out.lines().find(|l| l.starts_with("pods ")).unwrap();
        assert!(po.contains(" po "), "{po}");
        let out = c.kubectl_ok(&["api-versions"]).await.unwrap();
        assert!(out.lines().any(|l| l == "apps/v1"), "{out}");
        assert!(out.lines().any(|l| l == "autoscaling/v2"), "{out}");

        c.kubectl_stdin(&["create", "-f", "-"], Some(DEPLOYMENT))
            .await
            .unwrap();
        let all = c.kubectl_ok(&["get", "all", "-o", "name"]).await.unwrap();
        assert!(all.contains("deployment.apps/web"), "{all}");
        assert!(all.contains("service/kubernetes"), "{all}");
        // short names resolve
        let out = c
            .kubectl_ok(&["get", "deploy", "-o", "name"])
            .await
            .unwrap();
        assert_eq!(out.trim(), "deployment.apps/web");
        let out = c.kubectl_ok(&["get", "ns", "-o", "name"]).await.unwrap();
        assert!(out.contains("namespace/kube-system"), "{out}");
    });
}

#[tokio::test]
async fn namespaces_create_and_delete() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let out = c
            .kubectl_ok(&["create", "namespace", "team-a"])
            .await
            .unwrap();
        assert_eq!(out.trim(), "namespace/team-a created");
        c.kubectl_ok(&[
            "create",
            "configmap",
            "settings",
            "-n",
            "team-a",
            "--from-literal=a=b",
        ])
        .await
        .unwrap();
        let out = c
            .kubectl_ok(&["get", "configmaps", "-n", "team-a", "-o", "name"])
            .await
            .unwrap();
        assert!(out.contains("configmap/settings"), "{out}");
        // Creating in a missing namespace is a 404 on the namespace.
        let out = c
            .kubectl(&["create", "configmap", "x", "-n", "nope"])
            .await
            .unwrap();
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("namespaces \"nope\" not found"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // System namespaces stay.
        let out = c
            .kubectl(&["delete", "namespace", "kube-system", "--wait=false"])
            .await
            .unwrap();
        assert!(!out.status.success());
        let out = c
            .kubectl_ok(&["delete", "namespace", "team-a", "--wait=false"])
            .await
            .unwrap();
        assert!(out.contains("namespace \"team-a\" deleted"), "{out}");
        let phase = c
            .kubectl_ok(&[
                "get",
                "namespace",
                "team-a",
                "-o",
                "jsonpath={.status.phase}",
            ])
            .await
            .unwrap();
        assert_eq!(phase, "Terminating");
        // A terminating namespace refuses new content.
        let out = c
            .kubectl(&["create", "configmap", "y", "-n", "team-a"])
            .await
            .unwrap();
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("because it is being terminated"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

#[tokio::test]
async fn unknown_fields_follow_field_validation() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let bad = DEPLOYMENT.replace("  replicas: 2\n", "  replicas: 2\n  replicaz: 3\n");
        // kubectl validates strictly by default: the server rejects the field.
        let out = c
            .kubectl_stdin(&["create", "-f", "-"], Some(&bad))
            .await
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("strict decoding error: unknown field \"spec.replicaz\""),
            "{err}"
        );
        // --validate=warn creates it and prints the server's warning.
        let out = c
            .kubectl_stdin(&["create", "--validate=warn", "-f", "-"], Some(&bad))
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("unknown field \"spec.replicaz\""), "{err}");
        let json = c
            .kubectl_ok(&["get", "deployment", "web", "-o", "json"])
            .await
            .unwrap();
        assert!(!json.contains("replicaz"));
    });
}

#[tokio::test]
async fn server_side_tables_match_upstream_columns() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        c.kubectl_stdin(&["create", "-f", "-"], Some(DEPLOYMENT))
            .await
            .unwrap();
        c.kubectl_stdin(&["create", "-f", "-"], Some(SERVICE))
            .await
            .unwrap();
        let pod = r#"
apiVersion: v1
kind: Pod
metadata:
  name: lone
spec:
  containers:
  - name: c
    image: busybox
"#;
        c.kubectl_stdin(&["create", "-f", "-"], Some(pod))
            .await
            .unwrap();
        let node = r#"
apiVersion: v1
kind: Node
metadata:
  name: worker-1
  labels:
    node-role.kubernetes.io/worker: ""
"#;
        c.kubectl_stdin(&["create", "-f", "-"], Some(node))
            .await
            .unwrap();

        let out = c.kubectl_ok(&["get", "pods"]).await.unwrap();
        let mut lines = out.lines();
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            "{out}"
        );
        let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(&row[..4], ["lone", "0/1", "Pending", "0"], "{out}");

        let out = c.kubectl_ok(&["get", "pods", "-o", "wide"]).await.unwrap();
        assert!(
            out.lines().next().unwrap().contains("NOMINATED NODE"),
            "{out}"
        );

        let out = c.kubectl_ok(&["get", "deployments"]).await.unwrap();
        let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
            "{out}"
        );
        assert!(out.lines().nth(1).unwrap().starts_with("web "), "{out}");
        assert!(out.contains("0/2"), "{out}");

        let out = c.kubectl_ok(&["get", "services", "web"]).await.unwrap();
        let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            [
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE"
            ],
            "{out}"
        );
        let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(row[1], "NodePort", "{out}");
        assert_eq!(row[3], "<none>", "{out}");
        assert!(
            row[4].starts_with("80:3") && row[4].ends_with("/TCP"),
            "{out}"
        );

        let out = c.kubectl_ok(&["get", "nodes"]).await.unwrap();
        let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
            "{out}"
        );
        let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(&row[..3], ["worker-1", "Unknown", "worker"], "{out}");

        let out = c.kubectl_ok(&["get", "namespaces"]).await.unwrap();
        assert!(
            out.lines()
                .any(|l| l.starts_with("kube-system") && l.contains("Active")),
            "{out}"
        );

        // --show-labels and -L work on server-side tables.
        let out = c
            .kubectl_ok(&["get", "deployments", "--show-labels"])
            .await
            .unwrap();
        assert!(out.contains("app=web"), "{out}");
        let out = c.kubectl_ok(&["get", "pods", "-L", "app"]).await.unwrap();
        assert!(out.lines().next().unwrap().contains("APP"), "{out}");
    });
}

#[tokio::test]
async fn typed_create_commands() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let dir = c.dir().to_path_buf();
        std::fs::write(dir.join("app.properties"), "a=1\nb=2\n").unwrap();
        let file_arg = format!("--from-file={}", dir.join("app.properties").display());
        let cmds: Vec<Vec<&str>> = vec![
            vec![
                "create",
                "deployment",
                "web",
                "--image=nginx:1.27",
                "--replicas=3",
                "--port=80",
            ],
            vec!["create", "service", "clusterip", "web", "--tcp=80:8080"],
            vec!["create", "service", "nodeport", "web-np", "--tcp=80:8080"],
            vec![
                "create",
                "configmap",
                "lit",
                "--from-literal=k=v",
                "--from-literal=x=y",
            ],
            vec!["create", "configmap", "file", &file_arg],
            vec![
                "create",
                "secret",
                "generic",
                "s1",
                "--from-literal=password=hunter2",
            ],
            vec![
                "create",
                "secret",
                "docker-registry",
                "regcred",
                "--docker-server=r.local",
                "--docker-username=u",
                "--docker-password=p",
            ],
            vec![
                "create",
                "job",
                "once",
                "--image=busybox",
                "--",
                "echo",
                "hi",
            ],
            vec![
                "create",
                "cronjob",
                "tick",
                "--image=busybox",
                "--schedule=*/5 * * * *",
                "--",
                "date",
            ],
            vec!["create", "serviceaccount", "robot"],
            vec![
                "create",
                "role",
                "reader",
                "--verb=get,list",
                "--resource=pods",
            ],
            vec![
                "create",
                "rolebinding",
                "reader-binding",
                "--role=reader",
                "--serviceaccount=default:robot",
            ],
            vec![
                "create",
                "clusterrole",
                "node-reader",
                "--verb=get",
                "--resource=nodes",
            ],
            vec![
                "create",
                "clusterrolebinding",
                "node-reader-binding",
                "--clusterrole=node-reader",
                "--user=alice",
            ],
            vec!["create", "quota", "q", "--hard=pods=10,requests.cpu=2"],
            vec![
                "create",
                "priorityclass",
                "high",
                "--value=1000",
                "--description=important",
            ],
            vec![
                "create",
                "ingress",
                "ing",
                "--rule=foo.example.com/bar=web:80",
            ],
            vec![
                "create",
                "poddisruptionbudget",
                "pdb",
                "--selector=app=web",
                "--min-available=1",
            ],
        ];
        for cmd in &cmds {
            let out = c.kubectl(cmd).await.unwrap();
            assert!(
                out.status.success(),
                "kubectl {}: {}",
                cmd.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let v: serde_json::Value = serde_json::from_str(
            &c.kubectl_ok(&["get", "deployment", "web", "-o", "json"])
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(v["spec"]["replicas"], 3);
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
            80
        );
        let data = c
            .kubectl_ok(&[
                "get",
                "configmap",
                "file",
                "-o",
                "jsonpath={.data.app\\.properties}",
            ])
            .await
            .unwrap();
        assert_eq!(data, "a=1\nb=2\n");
        let t = c
            .kubectl_ok(&["get", "secret", "regcred", "-o", "jsonpath={.type}"])
            .await
            .unwrap();
        assert_eq!(t, "kubernetes.io/dockerconfigjson");
        let sched = c
            .kubectl_ok(&["get", "cronjob", "tick", "-o", "jsonpath={.spec.schedule}"])
            .await
            .unwrap();
        assert_eq!(sched, "*/5 * * * *");
        let hard = c
            .kubectl_ok(&[
                "get",
                "quota",
                "q",
                "-o",
                "jsonpath={.spec.hard.requests\\.cpu}",
            ])
            .await
            .unwrap();
        assert_eq!(hard, "2");
        let port = c
            .kubectl_ok(&[
                "get",
                "svc",
                "web",
                "-o",
                "jsonpath={.spec.ports[0].targetPort}",
            ])
            .await
            .unwrap();
        assert_eq!(port, "8080");
    });
}
