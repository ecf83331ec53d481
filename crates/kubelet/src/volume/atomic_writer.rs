//! Upstream's `AtomicWriter`: projects a set of files into a directory so
//! that readers always see a complete, consistent version.
//!
//! ```text
//! <dir>/..2024_05_01_10_00_00.123456789/   the current version (real files)
//! <dir>/..data -> ..2024_05_01_10_00_00.123456789
//! <dir>/key    -> ..data/key               one symlink per top-level entry
//! ```
//!
//! An update writes a new version directory, then swaps `..data` with a
//! rename (atomic), fixes the top-level symlinks and removes the old version.
//! Nothing is written when the payload equals the current version.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Component, Path};

/// One file of the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileProjection {
    /// Contents.
    pub data: Vec<u8>,
    /// Permission bits.
    pub mode: u32,
}

const DATA_LINK: &str = "..data";
const DATA_TMP_LINK: &str = "..data_tmp";

/// Checks a payload path like upstream (`validatePath`): relative, no `..`
/// component, not starting with `..`, not empty.
pub fn validate_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("invalid path: must not be empty".into());
    }
    if path.len() > 4096 {
        return Err(format!(
            "invalid path: must be less than or equal to 4096 characters: {path:?}"
        ));
    }
    let p = Path::new(path);
    if p.is_absolute() {
        return Err(format!("invalid path: must be relative path: {path}"));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(format!("invalid path: must not contain '..': {path}"));
    }
    if path.starts_with("..") {
        return Err(format!("invalid path: must not start with '..': {path}"));
    }
    Ok(())
}

/// Whether `dir` holds a complete version (its `..data` link resolves).
pub fn has_version(dir: &Path) -> bool {
    dir.join(DATA_LINK).is_dir()
}

fn current_version(dir: &Path) -> Option<String> {
    std::fs::read_link(dir.join(DATA_LINK))
        .ok()
        .map(|t| t.display().to_string())
}

fn read_version(
    version_dir: &Path,
    prefix: &Path,
    out: &mut BTreeMap<String, FileProjection>,
) -> io::Result<()> {
    for entry in std::fs::read_dir(version_dir.join(prefix))? {
        let entry = entry?;
        let relative = prefix.join(entry.file_name());
        let meta = entry.metadata()?;
        if meta.is_dir() {
            read_version(version_dir, &relative, out)?;
        } else {
            out.insert(
                relative.display().to_string(),
                FileProjection {
                    data: std::fs::read(entry.path())?,
                    mode: meta.permissions().mode() & 0o7777,
                },
            );
        }
    }
    Ok(())
}

fn top_level(path: &str) -> &str {
    path.split('/').next().unwrap_or(path)
}

fn version_name() -> String {
    let now = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC);
    format!(
        "..{}.{:09}",
        now.strftime("%Y_%m_%d_%H_%M_%S"),
        now.timestamp().subsec_nanosecond()
    )
}

/// Writes `payload` into `dir` atomically. Returns whether anything changed.
pub fn write(dir: &Path, payload: &BTreeMap<String, FileProjection>) -> io::Result<bool> {
    for path in payload.keys() {
        validate_path(path).map_err(io::Error::other)?;
    }
    std::fs::create_dir_all(dir)?;
    let old = current_version(dir);
    if let Some(old) = &old {
        let mut existing = BTreeMap::new();
        if read_version(&dir.join(old), Path::new(""), &mut existing).is_ok()
            && existing == *payload
        {
            ensure_user_links(dir, payload)?;
            return Ok(false);
        }
    }
    let mut version = version_name();
    while dir.join(&version).exists() {
        version.push('x');
    }
    let version_dir = dir.join(&version);
    std::fs::create_dir(&version_dir)?;
    std::fs::set_permissions(&version_dir, std::fs::Permissions::from_mode(0o755))?;
    for (path, file) in payload {
        let target = version_dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, &file.data)?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(file.mode))?;
    }
    let tmp = dir.join(DATA_TMP_LINK);
    let _ = std::fs::remove_file(&tmp);
    symlink(&version, &tmp)?;
    std::fs::rename(&tmp, dir.join(DATA_LINK))?;
    ensure_user_links(dir, payload)?;
    remove_stale_links(dir, payload)?;
    if let Some(old) = old
        && old != version
    {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(true)
}

fn ensure_user_links(dir: &Path, payload: &BTreeMap<String, FileProjection>) -> io::Result<()> {
    let tops: BTreeSet<&str> = payload.keys().map(|p| top_level(p)).collect();
    for top in tops {
        let link = dir.join(top);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(Path::new(DATA_LINK).join(top), &link)?;
        }
    }
    Ok(())
}

fn remove_stale_links(dir: &Path, payload: &BTreeMap<String, FileProjection>) -> io::Result<()> {
    let tops: BTreeSet<&str> = payload.keys().map(|p| top_level(p)).collect();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("..") || tops.contains(name.as_str()) {
            continue;
        }
        if entry.file_type()?.is_symlink() {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(items: &[(&str, &str)]) -> BTreeMap<String, FileProjection> {
        items
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    FileProjection {
                        data: v.as_bytes().to_vec(),
                        mode: 0o644,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn writes_updates_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(write(d, &payload(&[("a", "1"), ("sub/b", "2")])).unwrap());
        assert_eq!(std::fs::read_to_string(d.join("a")).unwrap(), "1");
        assert_eq!(std::fs::read_to_string(d.join("sub/b")).unwrap(), "2");
        assert_eq!(
            std::fs::read_link(d.join("a")).unwrap(),
            Path::new("..data/a")
        );
        let first = current_version(d).unwrap();
        assert!(!write(d, &payload(&[("a", "1"), ("sub/b", "2")])).unwrap());
        assert_eq!(current_version(d).unwrap(), first);
        assert!(write(d, &payload(&[("a", "changed"), ("c", "3")])).unwrap());
        assert_eq!(std::fs::read_to_string(d.join("a")).unwrap(), "changed");
        assert!(std::fs::symlink_metadata(d.join("sub")).is_err());
        assert!(!d.join(&first).exists());
        let versions = std::fs::read_dir(d)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("..2")
            })
            .count();
        assert_eq!(versions, 1);
    }

    #[test]
    fn rejects_bad_paths() {
        for bad in ["", "/abs", "../x", "a/../b", "..x"] {
            assert!(validate_path(bad).is_err(), "{bad}");
        }
        assert!(validate_path("a/b.txt").is_ok());
        let dir = tempfile::tempdir().unwrap();
        assert!(write(dir.path(), &payload(&[("../escape", "x")])).is_err());
    }
}
