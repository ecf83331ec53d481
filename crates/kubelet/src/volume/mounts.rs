//! The few mount operations volumes need: tmpfs for Memory emptyDirs and
//! secrets, and unmounting everything below a pod directory. Uses nix's
//! safe wrappers of mount(2)/umount2(2).

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};

/// Creates `dir` (and parents) and sets its mode.
pub fn ensure_dir(dir: &Path, mode: u32) -> io::Result<()> {
    if !dir.is_dir() {
        std::fs::create_dir_all(dir)?;
        chmod(dir, mode)?;
    }
    Ok(())
}

/// Sets the permission bits of `path`.
pub fn chmod(path: &Path, mode: u32) -> io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Whether `path` is a mount point (a different device than its parent).
pub fn is_mount_point(path: &Path) -> bool {
    let (Ok(me), Some(Ok(parent))) = (
        std::fs::metadata(path),
        path.parent().map(std::fs::metadata),
    ) else {
        return false;
    };
    me.dev() != parent.dev()
}

/// Mounts a tmpfs on `dir` unless something is mounted there already.
pub fn ensure_tmpfs(dir: &Path, size: Option<&str>) -> io::Result<()> {
    if is_mount_point(dir) {
        return Ok(());
    }
    let options = size.map(|s| format!("size={}", tmpfs_size(s)));
    nix::mount::mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        options.as_deref(),
    )
    .map_err(|e| io::Error::other(format!("mounting tmpfs on {}: {e}", dir.display())))
}

/// A Kubernetes quantity as a tmpfs `size=` value (bytes).
fn tmpfs_size(quantity: &str) -> String {
    corten_apimachinery::quantity::Quantity::parse(quantity)
        .map(|q| q.value().max(0).to_string())
        .unwrap_or_else(|_| quantity.to_string())
}

/// Unmounts every mount point at or below `dir` (deepest first, lazily).
/// Returns how many are still mounted afterwards.
pub fn unmount_all_below(dir: &Path) -> usize {
    let points = || -> Vec<String> {
        let prefix = dir.display().to_string();
        std::fs::read_to_string("/proc/self/mounts")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            // /proc/self/mounts escapes spaces as \040.
            .map(|p| p.replace("\\040", " "))
            .filter(|p| p == &prefix || p.starts_with(&format!("{prefix}/")))
            .collect()
    };
    let mut list = points();
    list.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in &list {
        if let Err(err) = nix::mount::umount2(Path::new(point), MntFlags::MNT_DETACH) {
            tracing::warn!(mount = %point, error = %err, "unmounting");
        }
    }
    points().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_mount_and_unmount() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("mem");
        ensure_dir(&target, 0o777).unwrap();
        assert!(!is_mount_point(&target));
        if let Err(err) = ensure_tmpfs(&target, Some("1Mi")) {
            eprintln!("skipping: cannot mount tmpfs here: {err}");
            return;
        }
        assert!(is_mount_point(&target));
        ensure_tmpfs(&target, Some("1Mi")).unwrap();
        std::fs::write(target.join("x"), b"1").unwrap();
        assert_eq!(unmount_all_below(dir.path()), 0);
        assert!(!is_mount_point(&target));
        assert!(!target.join("x").exists());
        assert_eq!(tmpfs_size("1Mi"), "1048576");
    }
}
