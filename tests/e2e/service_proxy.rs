//! `services/{[scheme:]name[:port]}/proxy/{path}` without a reachable
//! endpoint: upstream's errors for unknown ports, Services without ready
//! endpoints, bad schemes, and RBAC. The happy path (a Service of real pods,
//! through `kubectl get --raw` and `kubectl proxy`) is in the kubelet
//! crate's `kubectl_workloads` test.

use corten_e2e::TestCluster;

async fn raw(c: &TestCluster, path: &str) -> (bool, String, String) {
    let out = c.kubectl(&["get", "--raw", path]).await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn services_proxy_explains_why_it_cannot() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        // 192.0.2.0/24 is TEST-NET-1: never dialed, as the endpoint is not
        // ready.
        let manifest = r#"
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports:
  - {name: http, port: 80, targetPort: 8080}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-a
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports:
- {name: http, port: 8080, protocol: TCP}
endpoints:
- addresses: [192.0.2.1]
  conditions: {ready: false}
---
apiVersion: v1
kind: Service
metadata: {name: idle}
spec:
  ports: [{port: 80}]
"#;
        let file = c.dir().join("svc.yaml");
        std::fs::write(&file, manifest).unwrap();
        c.kubectl_ok(&["apply", "-f", file.to_str().unwrap()])
            .await
            .unwrap();
        let base = "/api/v1/namespaces/default/services";
        for id in ["web:80", "web:http", "https:web:80"] {
            let (ok, _, err) = raw(&c, &format!("{base}/{id}/proxy/")).await;
            assert!(!ok);
            assert!(
                err.contains("(ServiceUnavailable)")
                    && err.contains(&format!("no endpoints available for service \"{id}\"")),
                "{id}: {err}"
            );
        }
        // Upstream's errors.
        let (ok, _, err) = raw(&c, &format!("{base}/web:81/proxy/")).await;
        assert!(!ok);
        assert!(
            err.contains("(ServiceUnavailable)")
                && err.contains("no service port 81 found for service \"web\""),
            "{err}"
        );
        // No port: the unnamed port, which web does not have.
        let (ok, _, err) = raw(&c, &format!("{base}/web/proxy/")).await;
        assert!(!ok);
        assert!(
            err.contains("no endpoints available for service \"web\""),
            "{err}"
        );
        let (ok, _, err) = raw(&c, &format!("{base}/idle/proxy/")).await;
        assert!(!ok);
        assert!(
            err.contains("no endpoints available for service \"idle\""),
            "{err}"
        );
        let (ok, _, err) = raw(&c, &format!("{base}/missing/proxy/")).await;
        assert!(!ok);
        assert!(err.contains("services \"missing\" not found"), "{err}");
        let (ok, _, err) = raw(&c, &format!("{base}/ftp:web:80/proxy/")).await;
        assert!(!ok);
        assert!(err.contains("(BadRequest)"), "{err}");

        // RBAC: reading services does not allow services/proxy.
        let alice = c.token_kubeconfig("alice-token").unwrap();
        let out = c
            .kubectl_with(&alice, &["get", "--raw", &format!("{base}/web:80/proxy/")])
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("cannot get resource \"services/proxy\""),
            "{err}"
        );
    })
}
