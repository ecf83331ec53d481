//! The per-source volume validators (upstream `validateVolumeSource`).

use corten_apimachinery::names::{is_dns1123_label, is_dns1123_subdomain};
use corten_apimachinery::quantity::Quantity as ParsedQuantity;
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::Volume;

use super::field_rules::{opt, shown};
use super::volumes::{
    required_str, validate_downward_file, validate_key_to_path, validate_local_descending_path,
    validate_mode, validate_no_backsteps, validate_projected, validate_pvc_template,
};

/// Counts the set sources; the second and later ones are reported as
/// `may not specify more than 1 volume type`, in upstream's source order.
struct SourceCounter<'a> {
    path: &'a Path,
    count: usize,
    errs: ErrorList,
}

impl SourceCounter<'_> {
    fn source(&mut self, present: bool, name: &str, validate: impl FnOnce(&Path) -> ErrorList) {
        if !present {
            return;
        }
        if self.count > 0 {
            self.errs.push(FieldError::forbidden(
                &self.path.child(name),
                "may not specify more than 1 volume type",
            ));
        } else {
            self.count += 1;
            self.errs.extend(validate(&self.path.child(name)));
        }
    }
}

pub(super) fn validate_volume_source(
    v: &Volume,
    path: &Path,
    pod_name: Option<&str>,
    resource_is_pod: bool,
) -> ErrorList {
    let mut errs = Vec::new();
    let mut sc = SourceCounter {
        path,
        count: 0,
        errs: Vec::new(),
    };
    if let Some(e) = v.empty_dir.as_ref() {
        sc.count += 1;
        if let Some(q) = e.size_limit.as_ref()
            && ParsedQuantity::parse(&q.0).is_ok_and(|p| p.is_negative())
        {
            errs.push(FieldError::forbidden(
                &path.child("emptyDir").child("sizeLimit"),
                "SizeLimit field must be a valid resource quantity",
            ));
        }
    }
    sc.source(v.host_path.is_some(), "hostPath", |p| {
        let mut e = Vec::new();
        let Some(h) = v.host_path.as_ref() else {
            return e;
        };
        if h.path.is_empty() {
            e.push(FieldError::required(&p.child("path"), ""));
            return e;
        }
        e.extend(validate_no_backsteps(&h.path, &p.child("path")));
        const TYPES: &[&str] = &[
            "",
            "BlockDevice",
            "CharDevice",
            "Directory",
            "DirectoryOrCreate",
            "File",
            "FileOrCreate",
            "Socket",
        ];
        if let Some(t) = h.type_.as_deref()
            && !TYPES.contains(&t)
        {
            e.push(FieldError::not_supported(&p.child("type"), t, TYPES));
        }
        e
    });
    sc.source(v.git_repo.is_some(), "gitRepo", |p| {
        let mut e = Vec::new();
        if let Some(g) = v.git_repo.as_ref() {
            required_str(&g.repository, &p.child("repository"), &mut e);
            e.extend(validate_local_descending_path(
                opt(&g.directory),
                &p.child("directory"),
            ));
        }
        e
    });
    sc.source(v.gce_persistent_disk.is_some(), "gcePersistentDisk", |_| {
        let mut e = Vec::new();
        if let Some(d) = v.gce_persistent_disk.as_ref() {
            let pp = path.child("persistentDisk");
            required_str(&d.pd_name, &pp.child("pdName"), &mut e);
            let part = d.partition.unwrap_or(0);
            if !(0..=255).contains(&part) {
                e.push(FieldError::invalid(
                    &pp.child("partition"),
                    part,
                    "must be between 1 and 255, inclusive",
                ));
            }
        }
        e
    });
    sc.source(
        v.aws_elastic_block_store.is_some(),
        "awsElasticBlockStore",
        |p| {
            let mut e = Vec::new();
            if let Some(d) = v.aws_elastic_block_store.as_ref() {
                required_str(&d.volume_id, &p.child("volumeID"), &mut e);
                let part = d.partition.unwrap_or(0);
                if !(0..=255).contains(&part) {
                    e.push(FieldError::invalid(
                        &p.child("partition"),
                        part,
                        "must be between 1 and 255, inclusive",
                    ));
                }
            }
            e
        },
    );
    sc.source(v.secret.is_some(), "secret", |p| {
        let mut e = Vec::new();
        if let Some(s) = v.secret.as_ref() {
            required_str(opt(&s.secret_name), &p.child("secretName"), &mut e);
            validate_mode(s.default_mode, &p.child("defaultMode"), &mut e);
            for (i, kp) in s.items.iter().flatten().enumerate() {
                e.extend(validate_key_to_path(kp, &p.child("items").index(i)));
            }
        }
        e
    });
    sc.source(v.nfs.is_some(), "nfs", |p| {
        let mut e = Vec::new();
        if let Some(n) = v.nfs.as_ref() {
            required_str(&n.server, &p.child("server"), &mut e);
            required_str(&n.path, &p.child("path"), &mut e);
            if !n.path.starts_with('/') {
                e.push(FieldError::invalid(
                    &p.child("path"),
                    n.path.as_str(),
                    "must be an absolute path",
                ));
            }
        }
        e
    });
    sc.source(v.iscsi.is_some(), "iscsi", |p| {
        let mut e = Vec::new();
        if let Some(i) = v.iscsi.as_ref() {
            required_str(&i.target_portal, &p.child("targetPortal"), &mut e);
            if i.iqn.is_empty() {
                e.push(FieldError::required(&p.child("iqn"), ""));
            } else if !["iqn", "eui", "naa"]
                .iter()
                .any(|pre| i.iqn.starts_with(pre))
            {
                e.push(FieldError::invalid(
                    &p.child("iqn"),
                    i.iqn.as_str(),
                    "must be valid format starting with iqn, eui, or naa",
                ));
            }
            if !(0..=255).contains(&i.lun) {
                e.push(FieldError::invalid(
                    &p.child("lun"),
                    i.lun,
                    "must be between 0 and 255, inclusive",
                ));
            }
            let chap =
                i.chap_auth_discovery.unwrap_or(false) || i.chap_auth_session.unwrap_or(false);
            if chap && i.secret_ref.is_none() {
                e.push(FieldError::required(&p.child("secretRef"), ""));
            }
        }
        e
    });
    sc.source(v.glusterfs.is_some(), "glusterfs", |p| {
        let mut e = Vec::new();
        if let Some(g) = v.glusterfs.as_ref() {
            required_str(&g.endpoints, &p.child("endpoints"), &mut e);
            required_str(&g.path, &p.child("path"), &mut e);
        }
        e
    });
    sc.source(v.flocker.is_some(), "flocker", |p| {
        let mut e = Vec::new();
        if let Some(f) = v.flocker.as_ref() {
            let (name, uuid) = (opt(&f.dataset_name), opt(&f.dataset_uuid));
            if name.is_empty() && uuid.is_empty() {
                e.push(FieldError::required(
                    p,
                    "one of datasetName and datasetUUID is required",
                ));
            }
            if !name.is_empty() && !uuid.is_empty() {
                e.push(FieldError::invalid(
                    p,
                    "resource",
                    "datasetName and datasetUUID can not be specified simultaneously",
                ));
            }
            if name.contains('/') {
                e.push(FieldError::invalid(
                    &p.child("datasetName"),
                    name,
                    "must not contain '/'",
                ));
            }
        }
        e
    });
    sc.source(
        v.persistent_volume_claim.is_some(),
        "persistentVolumeClaim",
        |p| {
            let mut e = Vec::new();
            if let Some(c) = v.persistent_volume_claim.as_ref() {
                required_str(&c.claim_name, &p.child("claimName"), &mut e);
            }
            e
        },
    );
    sc.source(v.rbd.is_some(), "rbd", |p| {
        let mut e = Vec::new();
        if let Some(r) = v.rbd.as_ref() {
            if r.monitors.is_empty() {
                e.push(FieldError::required(&p.child("monitors"), ""));
            }
            required_str(&r.image, &p.child("image"), &mut e);
        }
        e
    });
    sc.source(v.cinder.is_some(), "cinder", |p| {
        let mut e = Vec::new();
        if let Some(c) = v.cinder.as_ref() {
            required_str(&c.volume_id, &p.child("volumeID"), &mut e);
            if let Some(s) = c.secret_ref.as_ref() {
                required_str(&s.name, &p.child("secretRef").child("name"), &mut e);
            }
        }
        e
    });
    sc.source(v.cephfs.is_some(), "cephFS", |_| {
        let mut e = Vec::new();
        if v.cephfs.as_ref().is_some_and(|c| c.monitors.is_empty()) {
            e.push(FieldError::required(
                &path.child("cephfs").child("monitors"),
                "",
            ));
        }
        e
    });
    sc.source(v.quobyte.is_some(), "quobyte", |p| {
        let mut e = Vec::new();
        if let Some(q) = v.quobyte.as_ref() {
            if q.registry.is_empty() {
                e.push(FieldError::required(
                    &p.child("registry"),
                    "must be a host:port pair or multiple pairs separated by commas",
                ));
            }
            required_str(&q.volume, &p.child("volume"), &mut e);
        }
        e
    });
    // Upstream reports a second source here under the misspelled "downwarAPI".
    let downward_name = if sc.count > 0 {
        "downwarAPI"
    } else {
        "downwardAPI"
    };
    sc.source(v.downward_api.is_some(), downward_name, |_| {
        let mut e = Vec::new();
        if let Some(d) = v.downward_api.as_ref() {
            let pp = path.child("downwardAPI");
            validate_mode(d.default_mode, &pp.child("defaultMode"), &mut e);
            for file in d.items.iter().flatten() {
                e.extend(validate_downward_file(file, &pp));
            }
        }
        e
    });
    sc.source(v.fc.is_some(), "fc", |p| {
        let mut e = Vec::new();
        if let Some(f) = v.fc.as_ref() {
            let wwns = f.target_wwns.as_deref().unwrap_or_default();
            let wwids = f.wwids.as_deref().unwrap_or_default();
            if wwns.is_empty() && wwids.is_empty() {
                e.push(FieldError::required(
                    &p.child("targetWWNs"),
                    "must specify either targetWWNs or wwids, but not both",
                ));
            }
            if !wwns.is_empty() && !wwids.is_empty() {
                e.push(FieldError::invalid(
                    &p.child("targetWWNs"),
                    shown(&wwns),
                    "targetWWNs and wwids can not be specified simultaneously",
                ));
            }
            if !wwns.is_empty() {
                match f.lun {
                    None => e.push(FieldError::required(
                        &p.child("lun"),
                        "lun is required if targetWWNs is specified",
                    )),
                    Some(l) if !(0..=255).contains(&l) => e.push(FieldError::invalid(
                        &p.child("lun"),
                        l,
                        "must be between 0 and 255, inclusive",
                    )),
                    Some(_) => {}
                }
            }
        }
        e
    });
    sc.source(v.flex_volume.is_some(), "flexVolume", |p| {
        let mut e = Vec::new();
        if let Some(f) = v.flex_volume.as_ref() {
            required_str(&f.driver, &p.child("driver"), &mut e);
            for k in f.options.iter().flat_map(|o| o.keys()) {
                let ns = k.split_once('/').map_or(k.as_str(), |(ns, _)| ns);
                let normalized = format!(".{}", ns.to_lowercase());
                if normalized.ends_with(".kubernetes.io") || normalized.ends_with(".k8s.io") {
                    e.push(FieldError::invalid(
                        &p.child("options").key(k),
                        k.as_str(),
                        "kubernetes.io and k8s.io namespaces are reserved",
                    ));
                }
            }
        }
        e
    });
    sc.source(v.config_map.is_some(), "configMap", |p| {
        let mut e = Vec::new();
        if let Some(c) = v.config_map.as_ref() {
            required_str(&c.name, &p.child("name"), &mut e);
            validate_mode(c.default_mode, &p.child("defaultMode"), &mut e);
            for (i, kp) in c.items.iter().flatten().enumerate() {
                e.extend(validate_key_to_path(kp, &p.child("items").index(i)));
            }
        }
        e
    });
    sc.source(v.azure_file.is_some(), "azureFile", |p| {
        let mut e = Vec::new();
        if let Some(a) = v.azure_file.as_ref() {
            required_str(&a.secret_name, &p.child("secretName"), &mut e);
            required_str(&a.share_name, &p.child("shareName"), &mut e);
        }
        e
    });
    sc.source(v.vsphere_volume.is_some(), "vsphereVolume", |p| {
        let mut e = Vec::new();
        if let Some(s) = v.vsphere_volume.as_ref() {
            required_str(&s.volume_path, &p.child("volumePath"), &mut e);
        }
        e
    });
    sc.source(
        v.photon_persistent_disk.is_some(),
        "photonPersistentDisk",
        |p| {
            let mut e = Vec::new();
            if let Some(d) = v.photon_persistent_disk.as_ref() {
                required_str(&d.pd_id, &p.child("pdID"), &mut e);
            }
            e
        },
    );
    sc.source(v.portworx_volume.is_some(), "portworxVolume", |p| {
        let mut e = Vec::new();
        if let Some(d) = v.portworx_volume.as_ref() {
            required_str(&d.volume_id, &p.child("volumeID"), &mut e);
        }
        e
    });
    sc.source(v.azure_disk.is_some(), "azureDisk", |p| {
        let mut e = Vec::new();
        if let Some(a) = v.azure_disk.as_ref() {
            required_str(&a.disk_name, &p.child("diskName"), &mut e);
            required_str(&a.disk_uri, &p.child("diskURI"), &mut e);
            const CACHING: &[&str] = &["None", "ReadOnly", "ReadWrite"];
            if let Some(m) = a.caching_mode.as_deref().filter(|m| !CACHING.contains(m)) {
                e.push(FieldError::not_supported(
                    &p.child("cachingMode"),
                    m,
                    CACHING,
                ));
            }
            const KINDS: &[&str] = &["Dedicated", "Managed", "Shared"];
            if let Some(k) = a.kind.as_deref().filter(|k| !KINDS.contains(k)) {
                e.push(FieldError::not_supported(&p.child("kind"), k, KINDS));
            }
        }
        e
    });
    sc.source(v.storageos.is_some(), "storageos", |p| {
        let mut e = Vec::new();
        if let Some(s) = v.storageos.as_ref() {
            let name = opt(&s.volume_name);
            if name.is_empty() {
                e.push(FieldError::required(&p.child("volumeName"), ""));
            } else {
                for msg in is_dns1123_label(name) {
                    e.push(FieldError::invalid(&p.child("volumeName"), name, &msg));
                }
            }
        }
        e
    });
    sc.source(v.projected.is_some(), "projected", |p| {
        v.projected
            .as_ref()
            .map(|pr| validate_projected(pr, p))
            .unwrap_or_default()
    });
    sc.source(v.scale_io.is_some(), "scaleIO", |p| {
        let mut e = Vec::new();
        if let Some(s) = v.scale_io.as_ref() {
            required_str(&s.gateway, &p.child("gateway"), &mut e);
            required_str(&s.system, &p.child("system"), &mut e);
            required_str(opt(&s.volume_name), &p.child("volumeName"), &mut e);
        }
        e
    });
    sc.source(v.csi.is_some(), "csi", |p| {
        let mut e = Vec::new();
        if let Some(c) = v.csi.as_ref() {
            let dp = p.child("driver");
            if c.driver.is_empty() {
                e.push(FieldError::required(&dp, ""));
            }
            if c.driver.len() > 63 {
                e.push(FieldError::too_long(&dp, 63));
            }
            for msg in is_dns1123_subdomain(&c.driver.to_lowercase()) {
                e.push(FieldError::invalid(&dp, c.driver.as_str(), &msg));
            }
            if let Some(s) = c.node_publish_secret_ref.as_ref() {
                if s.name.is_empty() {
                    e.push(FieldError::required(
                        &p.child("nodePublishSecretRef").child("name"),
                        "",
                    ));
                } else {
                    for msg in is_dns1123_subdomain(&s.name) {
                        e.push(FieldError::invalid(&p.child("name"), s.name.as_str(), &msg));
                    }
                }
            }
        }
        e
    });
    sc.source(v.ephemeral.is_some(), "ephemeral", |p| {
        let mut e = Vec::new();
        let Some(eph) = v.ephemeral.as_ref() else {
            return e;
        };
        match eph.volume_claim_template.as_ref() {
            None => e.push(FieldError::required(&p.child("volumeClaimTemplate"), "")),
            Some(t) => e.extend(validate_pvc_template(t, &p.child("volumeClaimTemplate"))),
        }
        if let Some(pod) = pod_name.filter(|n| !n.is_empty())
            && !v.name.is_empty()
        {
            let pvc = format!("{pod}-{}", v.name);
            for msg in is_dns1123_subdomain(&pvc) {
                e.push(FieldError::invalid(
                    &path.child("name"),
                    v.name.as_str(),
                    &format!("PVC name {pvc:?}: {msg}"),
                ));
            }
        }
        e
    });
    sc.source(v.image.is_some(), "image", |p| {
        let mut e = Vec::new();
        if let Some(i) = v.image.as_ref() {
            if resource_is_pod && opt(&i.reference).is_empty() {
                e.push(FieldError::required(&p.child("reference"), ""));
            }
            e.extend(super::containers::validate_pull_policy(
                opt(&i.pull_policy),
                &p.child("pullPolicy"),
            ));
        }
        e
    });
    errs.extend(sc.errs);
    if sc.count == 0 {
        errs.push(FieldError::required(path, "must specify a volume type"));
    }
    errs
}
