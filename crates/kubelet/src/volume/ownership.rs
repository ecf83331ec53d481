//! The pod's `fsGroup` applied to a volume (upstream `SetVolumeOwnership`):
//! everything below the volume directory joins the group, files gain group
//! read (and write, unless the volume is read-only) permission, directories
//! also gain search permission and the setgid bit so new files inherit the
//! group. Symlinks only change group: chmod would follow them and undo the
//! modes of the files they point at.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Group read and write (`rwMask`).
const READ_WRITE: u32 = 0o660;
/// Group read (`roMask`): what read-only volumes (configMap, secret,
/// downwardAPI, projected) get.
const READ_ONLY: u32 = 0o440;
/// Search permission for owner and group on directories (`execMask`).
const SEARCH: u32 = 0o110;
const SETGID: u32 = 0o2000;

/// The mode a file of a volume ends up with once `fsGroup` is applied.
pub fn file_mode(mode: u32, read_only: bool) -> u32 {
    mode | if read_only { READ_ONLY } else { READ_WRITE }
}

/// Applies group `gid` to `dir` and everything below it.
pub fn apply(dir: &Path, gid: u32, read_only: bool) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    std::os::unix::fs::lchown(dir, None, Some(gid))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode() & 0o7777;
    let wanted = if meta.is_dir() {
        file_mode(mode, read_only) | SEARCH | SETGID
    } else {
        file_mode(mode, read_only)
    };
    if wanted != mode {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(wanted))?;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(dir)? {
            apply(&entry?.path(), gid, read_only)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, symlink};

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn group_modes_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("vol");
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(d.join("sub"), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(d.join("sub/f"), b"x").unwrap();
        std::fs::set_permissions(d.join("sub/f"), std::fs::Permissions::from_mode(0o400)).unwrap();
        symlink("sub/f", d.join("link")).unwrap();
        apply(&d, 4321, true).unwrap();
        assert_eq!(mode(&d), 0o2755);
        assert_eq!(mode(&d.join("sub")), 0o2750);
        assert_eq!(mode(&d.join("sub/f")), 0o440);
        for p in [d.clone(), d.join("sub"), d.join("sub/f"), d.join("link")] {
            assert_eq!(std::fs::symlink_metadata(&p).unwrap().gid(), 4321, "{p:?}");
        }
        // Writable volumes (emptyDir) get group write too.
        apply(&d, 4321, false).unwrap();
        assert_eq!(mode(&d.join("sub/f")), 0o660);
        assert_eq!(file_mode(0o644, true), 0o644);
        assert_eq!(file_mode(0o400, true), 0o440);
    }
}
