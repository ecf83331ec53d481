use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMapProjection, ConfigMapVolumeSource, DownwardAPIVolumeSource, EmptyDirVolumeSource,
    HostPathVolumeSource, ObjectFieldSelector, PodSpec, ProjectedVolumeSource, SecretVolumeSource,
    ServiceAccountTokenProjection,
};

use super::*;
use crate::pod::objects::MemoryObjects;

fn pod(volumes: Vec<Volume>) -> Pod {
    Pod {
        metadata: kube::api::ObjectMeta {
            name: Some("p".into()),
            namespace: Some("ns".into()),
            uid: Some("uid-1".into()),
            labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
            ..Default::default()
        },
        spec: Some(PodSpec {
            volumes: Some(volumes),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn volume(name: &str) -> Volume {
    Volume {
        name: name.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn content_volumes() {
    let dir = tempfile::tempdir().unwrap();
    let objects = Arc::new(MemoryObjects::default());
    objects.add_config_map("ns", "cfg", &[("a.txt", "hello"), ("b.txt", "world")]);
    let manager = VolumeManager::new(dir.path(), objects.clone());
    let mut cm = volume("cfg");
    cm.config_map = Some(ConfigMapVolumeSource {
        name: "cfg".into(),
        ..Default::default()
    });
    let mut downward = volume("info");
    downward.downward_api = Some(DownwardAPIVolumeSource {
        items: Some(vec![DownwardAPIVolumeFile {
            path: "labels".into(),
            field_ref: Some(ObjectFieldSelector {
                field_path: "metadata.labels".into(),
                api_version: None,
            }),
            ..Default::default()
        }]),
        ..Default::default()
    });
    let mut projected = volume("proj");
    projected.projected = Some(ProjectedVolumeSource {
        sources: Some(vec![
            VolumeProjection {
                config_map: Some(ConfigMapProjection {
                    name: "cfg".into(),
                    items: Some(vec![KeyToPath {
                        key: "a.txt".into(),
                        path: "sub/a".into(),
                        mode: Some(0o600),
                    }]),
                    optional: None,
                }),
                ..Default::default()
            },
            VolumeProjection {
                service_account_token: Some(ServiceAccountTokenProjection {
                    path: "token".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ]),
        default_mode: None,
    });
    let mut empty = volume("scratch");
    empty.empty_dir = Some(EmptyDirVolumeSource::default());
    let mut host = volume("host");
    host.host_path = Some(HostPathVolumeSource {
        path: dir.path().join("hostdir").display().to_string(),
        type_: Some("DirectoryOrCreate".into()),
    });
    let p = pod(vec![cm, downward, projected, empty, host]);
    let volumes = manager.setup(&p, &RuntimeFacts::default()).await.unwrap();
    let cfg = &volumes["cfg"];
    assert!(cfg.read_only);
    assert_eq!(
        std::fs::read_to_string(cfg.host_path.join("a.txt")).unwrap(),
        "hello"
    );
    assert!(
        cfg.host_path
            .ends_with("pods/uid-1/volumes/kubernetes.io~configmap/cfg")
    );
    assert_eq!(
        std::fs::read_to_string(volumes["info"].host_path.join("labels")).unwrap(),
        "app=\"web\""
    );
    let proj = &volumes["proj"].host_path;
    assert_eq!(
        std::fs::read_to_string(proj.join("sub/a")).unwrap(),
        "hello"
    );
    assert_eq!(
        std::fs::read_to_string(proj.join("token")).unwrap(),
        "fake-token-for-p"
    );
    assert!(volumes["scratch"].host_path.is_dir());
    assert!(dir.path().join("hostdir").is_dir());

    // An update is projected on the next setup.
    objects.add_config_map("ns", "cfg", &[("a.txt", "changed")]);
    manager.setup(&p, &RuntimeFacts::default()).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(cfg.host_path.join("a.txt")).unwrap(),
        "changed"
    );
    assert!(!cfg.host_path.join("b.txt").exists());

    // Deleted after the first setup: the last content stays (upstream
    // keeps a mounted volume when a remount fails).
    objects
        .config_maps
        .lock()
        .unwrap()
        .remove(&("ns".to_string(), "cfg".to_string()));
    let kept = manager.setup(&p, &RuntimeFacts::default()).await.unwrap();
    assert_eq!(&kept["cfg"], cfg);
    assert_eq!(
        std::fs::read_to_string(cfg.host_path.join("a.txt")).unwrap(),
        "changed"
    );

    manager.teardown("uid-1").unwrap();
    assert!(!manager.pod_dir("uid-1").exists());
    // A pod whose ConfigMap never existed still fails.
    assert!(manager.setup(&p, &RuntimeFacts::default()).await.is_err());
}

#[tokio::test]
async fn missing_objects_fail_like_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let manager = VolumeManager::new(dir.path(), Arc::new(MemoryObjects::default()));
    let mut cm = volume("cfg");
    cm.config_map = Some(ConfigMapVolumeSource {
        name: "nope".into(),
        ..Default::default()
    });
    let err = manager
        .setup(&pod(vec![cm.clone()]), &RuntimeFacts::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "MountVolume.SetUp failed for volume \"cfg\" : configmap \"nope\" not found"
    );
    cm.config_map.as_mut().unwrap().optional = Some(true);
    manager
        .setup(&pod(vec![cm]), &RuntimeFacts::default())
        .await
        .unwrap();
    let mut secret = volume("s");
    secret.secret = Some(SecretVolumeSource {
        secret_name: Some("gone".into()),
        ..Default::default()
    });
    let err = manager
        .setup(&pod(vec![secret]), &RuntimeFacts::default())
        .await
        .unwrap_err();
    assert!(err.message.contains("secret \"gone\" not found"), "{err}");

    // A missing key of `items` fails unless the source is optional, in
    // each plugin's own words (on a fresh pod: a set-up volume would keep
    // its last content).
    manager.teardown("uid-1").unwrap();
    let objects = Arc::new(MemoryObjects::default());
    objects.add_config_map("ns", "cfg", &[("a", "1")]);
    objects.add_secret("ns", "sec", &[("a", b"1".as_slice())]);
    let keyed = VolumeManager::new(dir.path(), objects);
    let items = Some(vec![KeyToPath {
        key: "b".into(),
        path: "b".into(),
        mode: None,
    }]);
    let mut cm = volume("cfg");
    cm.config_map = Some(ConfigMapVolumeSource {
        name: "cfg".into(),
        items: items.clone(),
        ..Default::default()
    });
    let err = keyed
        .setup(&pod(vec![cm.clone()]), &RuntimeFacts::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "configmap references non-existent config key: b"
    );
    cm.config_map.as_mut().unwrap().optional = Some(true);
    keyed
        .setup(&pod(vec![cm]), &RuntimeFacts::default())
        .await
        .unwrap();
    let mut secret = volume("sec");
    secret.secret = Some(SecretVolumeSource {
        secret_name: Some("sec".into()),
        items,
        ..Default::default()
    });
    let err = keyed
        .setup(&pod(vec![secret]), &RuntimeFacts::default())
        .await
        .unwrap_err();
    assert_eq!(err.message, "references non-existent secret key: b");
    manager.teardown("uid-1").unwrap();
}
