//! Group and version priorities: upstream's table for the built-in
//! group-versions (kube-apiserver's `apiVersionPriorities`), the values
//! CRD group-versions get, and the order discovery lists APIServices in.

use std::cmp::Ordering;

use crate::crd::discovery::compare_versions;

/// `GroupPriorityMinimum` and `VersionPriority` of an APIService.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    /// Orders groups (higher first).
    pub group: i32,
    /// Orders versions inside a group (higher first).
    pub version: i32,
}

/// What a CRD's APIService gets (upstream: CRDs sort after every built-in
/// group, their versions by Kubernetes version order).
pub const CRD: Priority = Priority {
    group: 1000,
    version: 100,
};

/// Upstream's priorities of the built-in group-versions Corten serves (and
/// a few it does not, so an APIService for them sorts where upstream puts
/// it). `None` for a group-version upstream would not register.
pub fn builtin(group: &str, version: &str) -> Option<Priority> {
    let (g, v) = match (group, version) {
        ("", "v1") => (18000, 1),
        ("apps", "v1") => (17800, 15),
        ("events.k8s.io", "v1") => (17750, 15),
        ("authentication.k8s.io", "v1") => (17700, 15),
        ("authorization.k8s.io", "v1") => (17600, 15),
        ("autoscaling", "v2") => (17500, 30),
        ("autoscaling", "v1") => (17500, 15),
        ("batch", "v1") => (17400, 15),
        ("certificates.k8s.io", "v1") => (17300, 15),
        ("networking.k8s.io", "v1") => (17200, 15),
        ("policy", "v1") => (17100, 15),
        ("rbac.authorization.k8s.io", "v1") => (17000, 15),
        ("storage.k8s.io", "v1") => (16800, 15),
        ("apiextensions.k8s.io", "v1") => (16700, 15),
        ("admissionregistration.k8s.io", "v1") => (16700, 15),
        ("scheduling.k8s.io", "v1") => (16600, 15),
        ("coordination.k8s.io", "v1") => (16500, 15),
        ("node.k8s.io", "v1") => (16300, 15),
        ("discovery.k8s.io", "v1") => (16200, 15),
        ("flowcontrol.apiserver.k8s.io", "v1") => (16100, 21),
        ("internal.apiserver.k8s.io", "v1alpha1") => (16000, 9),
        ("storagemigration.k8s.io", "v1alpha1") => (15800, 9),
        _ => return None,
    };
    Some(Priority {
        group: g,
        version: v,
    })
}

/// The group priority discovery places a locally served group at (used to
/// slot remote groups in between): upstream's table, 1000 for CRD groups.
pub fn local_group_priority(group: &str) -> i32 {
    corten_api::resources::versions(group)
        .iter()
        .chain(["v1"].iter())
        .find_map(|v| builtin(group, v))
        .map(|p| p.group)
        .unwrap_or(CRD.group)
}

/// One APIService as the sort sees it.
pub trait Sortable {
    /// `metadata.name`.
    fn name(&self) -> &str;
    /// `spec.group`.
    fn group(&self) -> &str;
    /// `spec.version`.
    fn version(&self) -> &str;
    /// The priorities.
    fn priority(&self) -> Priority;
}

/// Groups APIServices like upstream's discovery: groups in the order of
/// their highest `groupPriorityMinimum` (ties by APIService name), versions
/// inside a group by `versionPriority`, then Kubernetes version order.
pub fn by_group_and_version<T: Sortable>(items: &[T]) -> Vec<Vec<&T>> {
    let mut sorted: Vec<&T> = items.iter().collect();
    sorted.sort_by(|a, b| {
        b.priority()
            .group
            .cmp(&a.priority().group)
            .then_with(|| a.name().cmp(b.name()))
    });
    let mut groups: Vec<Vec<&T>> = Vec::new();
    for item in sorted {
        match groups.iter_mut().find(|g| g[0].group() == item.group()) {
            Some(g) => g.push(item),
            None => groups.push(vec![item]),
        }
    }
    for g in &mut groups {
        g.sort_by(|a, b| compare_by_version(*a, *b));
    }
    groups
}

fn compare_by_version<T: Sortable>(a: &T, b: &T) -> Ordering {
    b.priority()
        .version
        .cmp(&a.priority().version)
        .then_with(|| compare_versions(a.version(), b.version()))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct S(&'static str, &'static str, i32, i32, String);

    fn s(g: &'static str, v: &'static str, gp: i32, vp: i32) -> S {
        S(g, v, gp, vp, format!("{v}.{g}"))
    }

    impl Sortable for S {
        fn name(&self) -> &str {
            &self.4
        }
        fn group(&self) -> &str {
            self.0
        }
        fn version(&self) -> &str {
            self.1
        }
        fn priority(&self) -> Priority {
            Priority {
                group: self.2,
                version: self.3,
            }
        }
    }

    #[test]
    fn groups_by_priority_then_name_versions_by_priority_then_kube_order() {
        let items = [
            s("wardle.example.com", "v1alpha1", 1000, 15),
            s("wardle.example.com", "v1beta1", 1000, 15),
            s("apps", "v1", 17800, 15),
            s("metrics.k8s.io", "v1beta1", 100, 100),
            s("autoscaling", "v1", 17500, 15),
            s("autoscaling", "v2", 17500, 30),
            s("bar.io", "v1", 1000, 15),
            // A low minimum on one version does not demote the group.
            s("zeta.io", "v2", 50, 5),
            s("zeta.io", "v1", 2000, 20),
        ];
        let order: Vec<Vec<&str>> = by_group_and_version(&items)
            .iter()
            .map(|g| g.iter().map(|s| s.1).collect())
            .collect();
        let groups: Vec<&str> = by_group_and_version(&items)
            .iter()
            .map(|g| g[0].0)
            .collect();
        assert_eq!(
            groups,
            [
                "apps",
                "autoscaling",
                "zeta.io",
                "bar.io",
                "wardle.example.com",
                "metrics.k8s.io"
            ]
        );
        assert_eq!(order[1], ["v2", "v1"]);
        assert_eq!(order[2], ["v1", "v2"]);
        assert_eq!(order[4], ["v1beta1", "v1alpha1"]);
    }

    #[test]
    fn upstream_table() {
        assert_eq!(
            builtin("", "v1"),
            Some(Priority {
                group: 18000,
                version: 1
            })
        );
        assert_eq!(builtin("autoscaling", "v2").unwrap().version, 30);
        assert_eq!(builtin("apps", "v1beta1"), None);
        assert_eq!(local_group_priority("apps"), 17800);
        assert_eq!(local_group_priority("stable.example.com"), 1000);
    }
}
