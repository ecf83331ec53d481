//! Encryption at rest end to end: the API shows plaintext, etcd holds
//! ciphertext.

use corten_e2e::TestCluster;

#[tokio::test]
async fn secrets_are_encrypted_at_rest() {
    crate::with_timeout!(async {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("encryption.yaml");
        std::fs::write(
            &config,
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: key1\n        secret: c2VjcmV0IGlzIHNlY3VyZSwgb3IgaXMgaXQ/IDMyIGI=\n  - identity: {}\n",
        )
        .unwrap();
        let c = TestCluster::start_with(&[&format!(
            "--encryption-provider-config={}",
            config.display()
        )])
        .await
        .unwrap();
        c.kubectl_ok(&[
            "create",
            "secret",
            "generic",
            "s",
            "--from-literal=password=hunter2",
            "-n",
            "default",
        ])
        .await
        .unwrap();
        c.kubectl_ok(&[
            "create",
            "configmap",
            "cm",
            "--from-literal=plain=visible",
            "-n",
            "default",
        ])
        .await
        .unwrap();
        // The API returns plaintext ...
        let got = c
            .kubectl_ok(&[
                "get",
                "secret",
                "s",
                "-n",
                "default",
                "-o",
                "jsonpath={.data.password}",
            ])
            .await
            .unwrap();
        use base64::Engine;
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(got.trim())
                .unwrap(),
            b"hunter2"
        );
        // ... while etcd holds ciphertext (configmaps stay plain).
        let etcdctl = |key: &str| {
            let out = std::process::Command::new("etcdctl")
                .args([
                    &format!("--endpoints={}", c.etcd.endpoint()),
                    "get",
                    key,
                    "--print-value-only",
                ])
                .output()
                .unwrap();
            out.stdout
        };
        let raw = etcdctl("/registry/secrets/default/s");
        assert!(
            raw.starts_with(b"k8s:enc:aescbc:v1:key1:"),
            "{}",
            String::from_utf8_lossy(&raw)
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode("hunter2");
        assert!(!raw.windows(b64.len()).any(|w| w == b64.as_bytes()));
        let cm = etcdctl("/registry/configmaps/default/cm");
        assert!(String::from_utf8_lossy(&cm).contains("visible"));
        // Lists and watches (served from the cache) decrypt too.
        let list = c
            .kubectl_ok(&["get", "secrets", "-n", "default", "-o", "name"])
            .await
            .unwrap();
        assert!(list.contains("secret/s"), "{list}");
    });
}
