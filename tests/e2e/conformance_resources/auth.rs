//! sig-auth entries: ServiceAccounts, token automount, subject reviews,
//! the CertificateSigningRequest API with its subresources.

use super::*;
use corten_e2e::TestCluster;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};

/// "ServiceAccount lifecycle test" (watched from creation to deletion),
/// "ServiceAccount, update a ServiceAccount", "SubjectReview, API
/// Operations" (a review's answer matches an impersonated request) and
/// "Service account tokens auto mount optionally" (with the
/// ServiceAccount admission plugin on).
#[tokio::test]
async fn service_accounts_and_subject_reviews() {
    crate::with_timeout!(async {
        let c = TestCluster::start_with(&[
            "--disable-admission-plugins=TaintNodesByCondition,StorageObjectInUseProtection",
        ])
        .await
        .unwrap();
        let client = c.client().await.unwrap();
        use k8s_openapi::api::core::v1::ServiceAccount;
        let sas: Api<ServiceAccount> = Api::default_namespaced(client.clone());
        let rv = sas
            .list(&ListParams::default())
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        let sa: ServiceAccount = serde_json::from_value(
            json!({"metadata": {"name": "testserviceaccount", "labels": {"test-serviceaccount-static": "true"}}}),
        )
        .unwrap();
        sas.create(&PostParams::default(), &sa).await.unwrap();
        let patched = sas
            .patch(
                "testserviceaccount",
                &PatchParams::default(),
                &Patch::Merge(json!({"automountServiceAccountToken": false})),
            )
            .await
            .unwrap();
        assert_eq!(patched.automount_service_account_token, Some(false));
        let lp = ListParams::default().labels("test-serviceaccount-static=true");
        let listed = sas.list(&lp).await.unwrap();
        assert_eq!(listed.items[0].automount_service_account_token, Some(false));
        // Update: a replaced field comes back.
        let mut cur = sas.get("testserviceaccount").await.unwrap();
        cur.automount_service_account_token = Some(true);
        let updated = sas
            .replace("testserviceaccount", &PostParams::default(), &cur)
            .await
            .unwrap();
        assert_eq!(updated.automount_service_account_token, Some(true));
        sas.delete_collection(&DeleteParams::default(), &lp)
            .await
            .unwrap();
        let (mut added, mut deleted) = (false, false);
        watch_until(&sas, "test-serviceaccount-static=true", &rv, |ev| {
            match ev {
                WatchEvent::Added(_) => added = true,
                WatchEvent::Deleted(_) => deleted = true,
                _ => {}
            }
            added && deleted
        })
        .await;

        // SubjectReview: the review and the impersonated request agree.
        sas.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "e2e"}})).unwrap(),
        )
        .await
        .unwrap();
        let uid = sas.get("e2e").await.unwrap().metadata.uid.unwrap();
        let user = "system:serviceaccount:default:e2e";
        let groups = [
            "system:authenticated",
            "system:serviceaccounts",
            "system:serviceaccounts:default",
        ];
        let spec = json!({"resourceAttributes": {"verb": "list", "resource": "configmaps",
            "namespace": "default", "version": "v1"}, "user": user, "groups": groups, "uid": uid});
        let (code, sar) = create_code(
            &client,
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}),
        )
        .await;
        assert_eq!(code, 201, "{sar}");
        let mut req = http::Request::get("/api/v1/namespaces/default/configmaps")
            .header("Impersonate-User", user)
            .header("Impersonate-Uid", uid.as_str());
        for g in groups {
            req = req.header("Impersonate-Group", g);
        }
        let allowed = match client.request::<Value>(req.body(Vec::new()).unwrap()).await {
            Ok(_) => true,
            Err(e) if is_code(&e, 403) => false,
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(
            sar["status"]["allowed"].as_bool().unwrap_or(false),
            allowed,
            "{sar}"
        );
        let mut local_spec = spec.clone();
        local_spec["user"] = json!("e2e");
        let (code, lsar) = create_code(
            &client,
            "/apis/authorization.k8s.io/v1/namespaces/default/localsubjectaccessreviews",
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview",
                "metadata": {"namespace": "default"}, "spec": local_spec}),
        )
        .await;
        assert_eq!(code, 201, "{lsar}");
        assert_eq!(
            lsar["status"]["allowed"].as_bool().unwrap_or(false),
            allowed,
            "{lsar}"
        );

        // Token automount: the pod's setting wins, then the account's,
        // then mounting.
        let sa_settings = [
            ("nomount-default", None),
            ("nomount-true", Some(true)),
            ("nomount-false", Some(false)),
        ];
        for (name, automount) in sa_settings {
            let mut body = json!({"metadata": {"name": name}});
            if let Some(a) = automount {
                body["automountServiceAccountToken"] = json!(a);
            }
            sas.create(
                &PostParams::default(),
                &serde_json::from_value(body).unwrap(),
            )
            .await
            .unwrap();
        }
        let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::default_namespaced(client.clone());
        let mut i = 0;
        for (sa_name, sa_auto) in sa_settings {
            for pod_auto in [None, Some(true), Some(false)] {
                i += 1;
                let mut spec = container_spec();
                spec["serviceAccountName"] = json!(sa_name);
                if let Some(a) = pod_auto {
                    spec["automountServiceAccountToken"] = json!(a);
                }
                let pod = pods
                    .create(
                        &PostParams::default(),
                        &serde_json::from_value(
                            json!({"metadata": {"name": format!("pod-{i}")}, "spec": spec}),
                        )
                        .unwrap(),
                    )
                    .await
                    .unwrap();
                let mounted = pod.spec.unwrap().containers[0]
                    .volume_mounts
                    .iter()
                    .flatten()
                    .any(|m| m.mount_path == "/var/run/secrets/kubernetes.io/serviceaccount");
                let expected = pod_auto.or(sa_auto).unwrap_or(true);
                assert_eq!(mounted, expected, "sa {sa_name:?}, pod {pod_auto:?}");
            }
        }
    });
}

/// "CertificateSigningRequest API": discovery of the subresources, the
/// main resource's verbs, and get/patch/update of `/approval` and
/// `/status` as the upstream test sends them (a custom condition type
/// patched into approval, then Approved; a certificate patched into
/// status, then a custom condition).
#[tokio::test]
async fn certificate_signing_request_api() {
    crate::with_timeout!(async {
        use base64::Engine;
        use k8s_openapi::api::certificates::v1::CertificateSigningRequest as Csr;
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let res = corten_e2e::fixtures::get_raw(&c, "/apis/certificates.k8s.io/v1").await;
        let served: Vec<&str> = res["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        for r in [
            "certificatesigningrequests",
            "certificatesigningrequests/approval",
            "certificatesigningrequests/status",
        ] {
            assert!(served.contains(&r), "{served:?}");
        }

        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "e2e.example.com");
        let request = params.serialize_request(&key).unwrap().pem().unwrap();
        let cert = params.self_signed(&key).unwrap().pem();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);

        let csrs: Api<Csr> = Api::all(client.clone());
        let pp = PostParams::default();
        let new_csr = |name: &str| -> Csr {
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"e2e": "csr"}},
                "spec": {"request": b64(&request), "signerName": "example.com/e2e-signer",
                    "usages": ["digital signature", "key encipherment", "server auth"]}}))
            .unwrap()
        };
        let created = csrs.create(&pp, &new_csr("csr-1")).await.unwrap();
        assert_eq!(
            csrs.get("csr-1").await.unwrap().metadata.uid,
            created.metadata.uid
        );
        let by_name = ListParams::default().fields("metadata.name=csr-1");
        assert_eq!(csrs.list(&by_name).await.unwrap().items.len(), 1);
        let patched = csrs
            .patch(
                "csr-1",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {"patched": "true"}}})),
            )
            .await
            .unwrap();
        let mut upd = patched.clone();
        upd.metadata
            .annotations
            .get_or_insert_default()
            .insert("updated".into(), "true".into());
        csrs.replace("csr-1", &pp, &upd).await.unwrap();

        // /approval
        let gvk = GroupVersionKind::gvk("certificates.k8s.io", "v1", "CertificateSigningRequest");
        let ar = ApiResource::from_gvk_with_plural(&gvk, "certificatesigningrequests");
        let dynamic: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let approval: Value = client
            .request(
                http::Request::get(
                    "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval",
                )
                .body(Vec::new())
                .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(approval["metadata"]["name"], "csr-1");
        let patch_approval = |body: Value| {
            http::Request::patch(
                "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval",
            )
            .header("content-type", "application/merge-patch+json")
            .body(serde_json::to_vec(&body).unwrap())
            .unwrap()
        };
        let patched: Value = client
            .request(patch_approval(json!({"metadata": {"annotations": {"patchedapproval": "true"}},
                "status": {"conditions": [{"type": "ApprovalPatch", "status": "True", "reason": "e2e"}]}})))
            .await
            .unwrap();
        assert_eq!(
            patched["metadata"]["annotations"]["patchedapproval"],
            "true"
        );
        assert_eq!(patched["status"]["conditions"].as_array().unwrap().len(), 1);
        let mut to_approve: Csr = serde_json::from_value(patched).unwrap();
        let mut conds = to_approve.status.clone().unwrap().conditions.unwrap();
        conds.push(serde_json::from_value(json!({"type": "Approved", "status": "True", "reason": "E2E", "message": "Set from an e2e test"})).unwrap());
        to_approve.status.as_mut().unwrap().conditions = Some(conds);
        let put = http::Request::put(
            "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval",
        )
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&to_approve).unwrap())
        .unwrap();
        let approved: Csr = client.request(put).await.unwrap();
        let conds = approved.status.unwrap().conditions.unwrap();
        assert_eq!(conds.len(), 2);
        assert_eq!(conds[1].type_, "Approved");

        // /status
        let status = csrs.get_status("csr-1").await.unwrap();
        assert_eq!(status.metadata.uid, created.metadata.uid);
        let patched = dynamic
            .patch_status(
                "csr-1",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"metadata": {"annotations": {"patchedstatus": "true"}},
                    "status": {"certificate": b64(&cert)}}),
                ),
            )
            .await
            .unwrap();
        assert_eq!(patched.data["status"]["certificate"], b64(&cert));
        assert_eq!(
            patched.metadata.annotations.as_ref().unwrap()["patchedstatus"],
            "true"
        );
        let mut cur = csrs.get("csr-1").await.unwrap();
        let st = cur.status.as_mut().unwrap();
        st.conditions.as_mut().unwrap().push(
            serde_json::from_value(json!({"type": "StatusUpdate", "status": "True", "reason": "E2E", "message": "Set from an e2e test"})).unwrap(),
        );
        let updated = csrs.replace_status("csr-1", &pp, &cur).await.unwrap();
        assert_eq!(updated.status.unwrap().conditions.unwrap().len(), 3);

        // delete, deletecollection
        csrs.create(&pp, &new_csr("csr-2")).await.unwrap();
        csrs.delete("csr-1", &DeleteParams::default())
            .await
            .unwrap();
        assert!(is_code(&csrs.get("csr-1").await.unwrap_err(), 404));
        let lp = ListParams::default().labels("e2e=csr");
        assert_eq!(csrs.list(&lp).await.unwrap().items.len(), 1);
        csrs.delete_collection(&DeleteParams::default(), &lp)
            .await
            .unwrap();
        assert!(csrs.list(&lp).await.unwrap().items.is_empty());
    });
}
