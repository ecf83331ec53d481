//! Removal of pod log directories (upstream `evictPodLogsDirectories`, run
//! with container garbage collection): `<podLogsDir>/<namespace>_<name>_<uid>`
//! goes once every source listed its pods, the pod's content may be removed
//! (deleted from the kubelet, or terminal and evicted) and the runtime holds
//! no container or sandbox of it any more (so `kubectl logs --previous` of a
//! container that garbage collection kept still works).

use std::collections::HashSet;
use std::path::Path;

use super::containers::PodState;

/// The pod UID of a pod log directory name (`<namespace>_<name>_<uid>`);
/// names of another shape are not the kubelet's and are left alone.
pub fn uid_of(dir_name: &str) -> Option<&str> {
    let mut parts = dir_name.split('_');
    let (_ns, _name, uid) = (parts.next()?, parts.next()?, parts.next()?);
    (parts.next().is_none() && !uid.is_empty()).then_some(uid)
}

/// The directory names (of `names`) to remove.
pub fn plan<'a>(
    names: impl IntoIterator<Item = &'a str>,
    pod_state: impl Fn(&str) -> PodState,
    in_runtime: &HashSet<String>,
) -> Vec<&'a str> {
    let mut out: Vec<&str> = names
        .into_iter()
        .filter(|name| {
            uid_of(name).is_some_and(|uid| {
                pod_state(uid) == PodState::Removable && !in_runtime.contains(uid)
            })
        })
        .collect();
    out.sort_unstable();
    out
}

/// Removes the directories [`plan`] picks under `logs_dir`; returns how many.
pub fn remove(
    logs_dir: &Path,
    pod_state: impl Fn(&str) -> PodState,
    in_runtime: &HashSet<String>,
) -> usize {
    let Ok(entries) = std::fs::read_dir(logs_dir) else {
        return 0;
    };
    let names: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    let mut removed = 0;
    for name in plan(names.iter().map(String::as_str), pod_state, in_runtime) {
        let path = logs_dir.join(name);
        match std::fs::remove_dir_all(&path) {
            Ok(()) => {
                tracing::info!(dir = %path.display(), "removed the log directory of a removed pod");
                removed += 1;
            }
            Err(err) => {
                tracing::warn!(dir = %path.display(), error = %err, "failed to remove a pod log directory")
            }
        }
    }
    removed
}
