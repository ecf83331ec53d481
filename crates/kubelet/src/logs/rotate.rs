//! The file side of container log rotation, upstream's way: the current
//! log `0.log` is renamed to `0.log.<YYYYMMDD-hhmmss>`, older rotated files
//! are gzipped (`.gz`, written through a `.tmp` file), and files beyond
//! `containerLogMaxFiles` are removed oldest first, so a container keeps
//! its current log, the newest rotated one uncompressed, and compressed
//! older ones. Blocking: run off the async threads.

use std::io;
use std::path::{Path, PathBuf};

/// Suffix of compressed rotated logs.
const COMPRESS_SUFFIX: &str = ".gz";
/// Suffix of a compression in progress.
const TMP_SUFFIX: &str = ".tmp";

/// `<log>.*`: every rotated, compressed or temporary file of `log`, sorted
/// by name (rotation timestamps sort oldest first).
pub fn rotated_logs(log: &Path) -> io::Result<Vec<PathBuf>> {
    let Some(dir) = log.parent() else {
        return Ok(Vec::new());
    };
    let prefix = format!("{}.", log.file_name().unwrap_or_default().to_string_lossy());
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    logs.sort();
    Ok(logs)
}

fn has_suffix(path: &Path, suffix: &str) -> bool {
    path.to_string_lossy().ends_with(suffix)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

/// Removes leftovers of interrupted compressions (temporary files, and
/// originals whose compressed copy exists); returns the files in use.
pub fn cleanup_unused(logs: Vec<PathBuf>) -> io::Result<Vec<PathBuf>> {
    let (in_use, unused): (Vec<PathBuf>, Vec<PathBuf>) = logs.iter().cloned().partition(|log| {
        if has_suffix(log, TMP_SUFFIX) {
            return false;
        }
        has_suffix(log, COMPRESS_SUFFIX) || !logs.contains(&with_suffix(log, COMPRESS_SUFFIX))
    });
    for log in unused {
        remove(&log)?;
    }
    Ok(in_use)
}

/// Keeps the newest `max_files - 2` rotated files (the current log and
/// the one about to be rotated make up the rest), removing oldest first
/// so that a reader of the newest ones is not disturbed.
pub fn remove_excess(logs: Vec<PathBuf>, max_files: usize) -> io::Result<Vec<PathBuf>> {
    let keep = max_files.saturating_sub(2);
    let excess = logs.len().saturating_sub(keep);
    for log in &logs[..excess] {
        remove(log)?;
    }
    Ok(logs[excess..].to_vec())
}

fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// Gzips `log` into `log.gz` (written as `log.tmp` first, so that an
/// interrupted compression is recognized) and removes it.
pub fn compress(log: &Path) -> io::Result<()> {
    let tmp = with_suffix(log, TMP_SUFFIX);
    {
        let mut input = std::fs::File::open(log)?;
        let output = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        let mut encoder = flate2::write::GzEncoder::new(output, flate2::Compression::default());
        io::copy(&mut input, &mut encoder)?;
        encoder.finish()?.sync_all()?;
    }
    std::fs::rename(&tmp, with_suffix(log, COMPRESS_SUFFIX))?;
    remove(log)
}

/// Makes room for one more rotated file of `log`: cleans up, removes the
/// excess and compresses every rotated file (the one about to be made
/// stays uncompressed until the next rotation).
pub fn prepare(log: &Path, max_files: usize) -> io::Result<()> {
    let logs = cleanup_unused(rotated_logs(log)?)?;
    for rotated in remove_excess(logs, max_files)? {
        if !has_suffix(&rotated, COMPRESS_SUFFIX) {
            compress(&rotated)?;
        }
    }
    Ok(())
}

/// `<log>.<YYYYMMDD-hhmmss>` for a rotation at `now` (local time, as
/// upstream formats it).
pub fn rotated_name(log: &Path, now: &jiff::Zoned) -> PathBuf {
    with_suffix(log, &format!(".{}", now.strftime("%Y%m%d-%H%M%S")))
}

/// Removes `log` and every rotated file of it (a container being removed).
pub fn clean(log: &Path) -> io::Result<()> {
    for rotated in rotated_logs(log)? {
        remove(&rotated)?;
    }
    remove(log)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn prepare_compresses_older_files_and_keeps_max_files_minus_two() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("0.log");
        std::fs::write(&log, "current\n").unwrap();
        std::fs::write(dir.path().join("1.log"), "another container\n").unwrap();
        for (name, text) in [
            ("0.log.20240101-000000.gz", "x"),
            ("0.log.20240101-000100.gz", "x"),
            ("0.log.20240101-000200", "third\n"),
            // An interrupted compression: the original is still there.
            ("0.log.20240101-000300", "fourth\n"),
            ("0.log.20240101-000300.gz", "x"),
            ("0.log.20240101-000400.tmp", "x"),
            ("0.log.20240101-000500", "fifth\n"),
        ] {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        prepare(&log, 5).unwrap();
        assert_eq!(
            names(dir.path()),
            [
                "0.log",
                "0.log.20240101-000200.gz",
                "0.log.20240101-000300.gz",
                "0.log.20240101-000500.gz",
                "1.log",
            ]
        );
        let mut text = String::new();
        flate2::read::GzDecoder::new(
            std::fs::File::open(dir.path().join("0.log.20240101-000500.gz")).unwrap(),
        )
        .read_to_string(&mut text)
        .unwrap();
        assert_eq!(text, "fifth\n");
        // With the minimum of two files nothing rotated is kept.
        prepare(&log, 2).unwrap();
        assert_eq!(names(dir.path()), ["0.log", "1.log"]);
    }

    #[test]
    fn names_and_clean() {
        let now: jiff::Zoned = "2024-03-05T07:08:09[UTC]".parse().unwrap();
        assert_eq!(
            rotated_name(Path::new("/logs/c/0.log"), &now),
            PathBuf::from("/logs/c/0.log.20240305-070809")
        );
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("2.log");
        for name in [
            "2.log",
            "2.log.20240101-000000.gz",
            "2.log.20240101-000100",
            "3.log",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        clean(&log).unwrap();
        assert_eq!(names(dir.path()), ["3.log"]);
        clean(&log).unwrap();
    }
}
