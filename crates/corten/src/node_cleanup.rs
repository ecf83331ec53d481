//! What `corten down` removes from the node besides the daemons: the pods
//! (through CRI, so containerd stops their containers, tears down their
//! network namespaces and releases their IPs), then, once containerd is
//! gone, the CNI bridge and the cgroups the pods lived in.

use std::path::Path;
use std::time::Duration;

use corten_cri::remote::RemoteRuntime;
use corten_cri::service::RuntimeService;

use crate::images::{LOCAL_BRIDGE, containerd_socket};
use crate::state::StateLayout;

/// The cgroup parent of the local node's pods (`--cgroup-root`), so they
/// never mix with another kubelet's `kubepods` and can be removed on down.
pub const LOCAL_CGROUP_ROOT: &str = "/corten";

/// Stops and removes every pod sandbox (and so every container) of the
/// containerd `corten up` runs. Returns how many were removed.
pub async fn remove_pods(layout: &StateLayout) -> anyhow::Result<usize> {
    let socket = containerd_socket(layout);
    if !socket.exists() {
        return Ok(0);
    }
    let endpoint = format!("unix://{}", socket.display());
    let runtime = RemoteRuntime::new(&endpoint, Duration::from_secs(60))?;
    let sandboxes = runtime.list_pod_sandbox(None).await?;
    let mut removed = 0;
    for sandbox in sandboxes {
        let name = sandbox
            .metadata
            .as_ref()
            .map(|m| format!("{}/{}", m.namespace, m.name))
            .unwrap_or_else(|| sandbox.id.clone());
        // StopPodSandbox kills the containers and runs CNI DEL (netns,
        // IP, portmap and masquerade rules); RemovePodSandbox deletes them.
        if let Err(err) = runtime.stop_pod_sandbox(&sandbox.id).await {
            eprintln!("warning: stopping pod {name}: {}", err.message());
            continue;
        }
        if let Err(err) = runtime.remove_pod_sandbox(&sandbox.id).await {
            eprintln!("warning: removing pod {name}: {}", err.message());
            continue;
        }
        removed += 1;
    }
    Ok(removed)
}

/// Deletes the node's CNI bridge if it exists (its address and routes go
/// with it). Returns whether it existed.
pub fn remove_bridge() -> anyhow::Result<bool> {
    if !Path::new("/sys/class/net").join(LOCAL_BRIDGE).exists() {
        return Ok(false);
    }
    let out = std::process::Command::new("ip")
        .args(["link", "delete", LOCAL_BRIDGE])
        .output()?;
    if !out.status.success() {
        anyhow::bail!(
            "ip link delete {LOCAL_BRIDGE}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(true)
}

/// Removes the (empty) pod cgroups below [`LOCAL_CGROUP_ROOT`] in every
/// hierarchy, deepest first. Non-empty cgroups are left alone.
pub fn remove_cgroups() -> usize {
    let mut removed = 0;
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return 0;
    };
    let mut roots: Vec<std::path::PathBuf> = vec![Path::new("/sys/fs/cgroup").join("corten")];
    roots.extend(
        hierarchies
            .flatten()
            .map(|h| h.path().join(LOCAL_CGROUP_ROOT.trim_start_matches('/'))),
    );
    for root in roots.into_iter().filter(|r| r.is_dir()) {
        let mut dirs = Vec::new();
        collect_dirs(&root, &mut dirs);
        // Children before parents.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for dir in dirs {
            if std::fs::remove_dir(&dir).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

fn collect_dirs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    out.push(dir.to_path_buf());
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            // file_type() does not follow symlinks (cgroup v1 has some).
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&entry.path(), out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_to_remove_without_containerd() {
        let dir = tempfile::tempdir().unwrap();
        let layout = StateLayout::new(dir.path()).unwrap();
        assert_eq!(remove_pods(&layout).await.unwrap(), 0);
    }

    #[test]
    fn dirs_are_listed_children_last() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b/c")).unwrap();
        let mut dirs = Vec::new();
        collect_dirs(dir.path(), &mut dirs);
        assert_eq!(dirs.len(), 4);
    }
}
