//! hostPath type checks (upstream `checkType`).

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// Checks (and for the `...OrCreate` types creates) `path` for `kind`.
pub fn check(path: &str, kind: Option<&str>) -> Result<(), String> {
    let p = Path::new(path);
    let meta = std::fs::metadata(p);
    let fail = |what: &str| {
        Err(format!(
            "hostPath type check failed: {path} is not a {what}"
        ))
    };
    match kind.unwrap_or("") {
        "" => Ok(()),
        "DirectoryOrCreate" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => fail("directory"),
            Err(_) => {
                std::fs::create_dir_all(p).map_err(|e| format!("creating {path}: {e}"))?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| e.to_string())
            }
        },
        "Directory" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            _ => fail("directory"),
        },
        "FileOrCreate" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => fail("file"),
            Err(_) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map(drop)
                .map_err(|e| format!("creating {path}: {e}")),
        },
        "File" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            _ => fail("file"),
        },
        "Socket" => match meta {
            Ok(m) if m.file_type().is_socket() => Ok(()),
            _ => fail("socket"),
        },
        "CharDevice" => match meta {
            Ok(m) if m.file_type().is_char_device() => Ok(()),
            _ => fail("character device"),
        },
        "BlockDevice" => match meta {
            Ok(m) if m.file_type().is_block_device() => Ok(()),
            _ => fail("block device"),
        },
        other => Err(format!("invalid hostPath type {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("new/dir");
        let d = d.to_str().unwrap();
        assert!(check(d, Some("Directory")).is_err());
        check(d, Some("DirectoryOrCreate")).unwrap();
        check(d, Some("Directory")).unwrap();
        let f = dir.path().join("f");
        let f = f.to_str().unwrap();
        check(f, Some("FileOrCreate")).unwrap();
        check(f, Some("File")).unwrap();
        assert_eq!(
            check(f, Some("Directory")).unwrap_err(),
            format!("hostPath type check failed: {f} is not a directory")
        );
        check("/dev/null", Some("CharDevice")).unwrap();
        assert!(check("/dev/null", Some("Socket")).is_err());
        assert!(check(f, Some("Weird")).is_err());
        check("/does/not/exist", None).unwrap();
    }
}
