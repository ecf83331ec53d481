//! Container logs in the CRI format, as containerd writes them:
//!
//! ```text
//! 2024-05-01T10:00:00.123456789Z stdout F a full line
//! 2024-05-01T10:00:00.223456789Z stderr P a partial li
//! 2024-05-01T10:00:00.223456790Z stderr F ne, completed
//! ```
//!
//! Reading them like upstream's `ReadLogs`: tailLines, sinceSeconds/sinceTime,
//! timestamps, limitBytes, stream selection and follow (which ends when the
//! container has exited and the file is drained).

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

/// One parsed log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// The RFC 3339 timestamp text.
    pub timestamp: String,
    /// Seconds since the epoch of the timestamp (for since filters).
    pub seconds: i64,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The line is complete (`F`), not partial (`P`).
    pub full: bool,
    /// The content, without the trailing newline.
    pub content: Vec<u8>,
}

/// Parses one CRI log line.
pub fn parse_line(line: &[u8]) -> Option<LogLine> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let mut parts = line.splitn(4, |b| *b == b' ');
    let timestamp = std::str::from_utf8(parts.next()?).ok()?.to_string();
    let stream = std::str::from_utf8(parts.next()?).ok()?.to_string();
    let tag = parts.next()?;
    let content = parts.next().unwrap_or_default().to_vec();
    let seconds = timestamp.parse::<jiff::Timestamp>().ok()?.as_second();
    Some(LogLine {
        timestamp,
        seconds,
        stream,
        full: !tag.starts_with(b"P"),
        content,
    })
}

/// `containerLogs` query options (upstream `PodLogOptions`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogOptions {
    /// Keep streaming new lines.
    pub follow: bool,
    /// Only the last N lines.
    pub tail_lines: Option<usize>,
    /// Only lines at or after this time (seconds since the epoch).
    pub since: Option<i64>,
    /// Prefix lines with their timestamp.
    pub timestamps: bool,
    /// Stop after this many bytes.
    pub limit_bytes: Option<usize>,
    /// The previous container instance.
    pub previous: bool,
    /// Only `stdout` or `stderr`.
    pub stream: Option<String>,
}

impl LogOptions {
    /// Parses the query string; `Err` is a 400 message.
    pub fn from_query(query: &str) -> Result<Self, String> {
        let mut options = LogOptions::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let flag = || matches!(value.as_ref(), "" | "true" | "1" | "True");
            let number = |what: &str| {
                value
                    .parse::<i64>()
                    .map_err(|_| format!("invalid {what}: {value:?}"))
            };
            match key.as_ref() {
                "follow" => options.follow = flag(),
                "timestamps" => options.timestamps = flag(),
                "previous" => options.previous = flag(),
                "tailLines" => {
                    let n = number("tailLines")?;
                    if n < 0 {
                        return Err("tailLines must be non-negative".into());
                    }
                    options.tail_lines = Some(usize::try_from(n).unwrap_or(0));
                }
                "limitBytes" => {
                    let n = number("limitBytes")?;
                    if n < 1 {
                        return Err("limitBytes must be positive".into());
                    }
                    options.limit_bytes = Some(usize::try_from(n).unwrap_or(usize::MAX));
                }
                "sinceSeconds" => {
                    let n = number("sinceSeconds")?;
                    if n < 1 {
                        return Err("sinceSeconds must be positive".into());
                    }
                    options.since = Some(jiff::Timestamp::now().as_second() - n);
                }
                "sinceTime" => {
                    let t = value
                        .parse::<jiff::Timestamp>()
                        .map_err(|_| format!("invalid sinceTime: {value:?}"))?;
                    options.since = Some(t.as_second());
                }
                "stream" => match value.as_ref() {
                    "Stdout" | "stdout" => options.stream = Some("stdout".into()),
                    "Stderr" | "stderr" => options.stream = Some("stderr".into()),
                    "All" | "" => {}
                    other => return Err(format!("invalid stream {other:?}")),
                },
                _ => {}
            }
        }
        if options.since.is_some() && options.tail_lines.is_some() {
            // Both are allowed upstream; tail applies after since.
        }
        Ok(options)
    }
}

/// Renders a line for output.
fn render(line: &LogLine, options: &LogOptions, out: &mut Vec<u8>) {
    if options.timestamps {
        out.extend_from_slice(line.timestamp.as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(&line.content);
    if line.full {
        out.push(b'\n');
    }
}

fn wanted(line: &LogLine, options: &LogOptions) -> bool {
    options.since.is_none_or(|s| line.seconds >= s)
        && options.stream.as_ref().is_none_or(|s| *s == line.stream)
}

/// Reads what the file holds now; returns the output and the byte offset read up to.
pub fn read_all(path: &Path, options: &LogOptions) -> std::io::Result<(Vec<u8>, u64)> {
    let file = std::fs::File::open(path)?;
    let mut reader = BufReader::new(file);
    let mut lines: Vec<LogLine> = Vec::new();
    let mut offset = 0u64;
    let mut raw = Vec::new();
    loop {
        raw.clear();
        let n = reader.read_until(b'\n', &mut raw)?;
        if n == 0 || !raw.ends_with(b"\n") {
            break;
        }
        offset += n as u64;
        if let Some(line) = parse_line(&raw)
            && wanted(&line, options)
        {
            lines.push(line);
        }
    }
    if let Some(tail) = options.tail_lines {
        // Count full lines from the end; partials belong to the following full line.
        let mut full_seen = 0;
        let mut start = lines.len();
        while start > 0 {
            if lines[start - 1].full {
                if full_seen == tail {
                    break;
                }
                full_seen += 1;
            }
            start -= 1;
        }
        lines.drain(..start);
    }
    let mut out = Vec::new();
    for line in &lines {
        render(line, options, &mut out);
    }
    if let Some(limit) = options.limit_bytes {
        out.truncate(limit);
    }
    Ok((out, offset))
}

/// Streams the log: what is there, then (with `follow`) new lines until
/// `still_running` says the container stopped and the file is drained.
pub fn stream(
    path: PathBuf,
    options: LogOptions,
    still_running: impl Fn() -> futures::future::BoxFuture<'static, bool> + Send + 'static,
) -> mpsc::Receiver<Result<Bytes, std::io::Error>> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let (first, offset) = match tokio::task::spawn_blocking({
            let path = path.clone();
            let options = options.clone();
            move || read_all(&path, &options)
        })
        .await
        {
            Ok(Ok(r)) => r,
            Ok(Err(err)) => {
                let _ = tx.send(Err(err)).await;
                return;
            }
            Err(err) => {
                let _ = tx.send(Err(std::io::Error::other(err.to_string()))).await;
                return;
            }
        };
        let mut sent = first.len();
        if !first.is_empty() && tx.send(Ok(Bytes::from(first))).await.is_err() {
            return;
        }
        if !options.follow || options.limit_bytes.is_some_and(|l| sent >= l) {
            return;
        }
        let follow = LogOptions {
            tail_lines: None,
            ..options.clone()
        };
        let mut follower = match Follower::open(&path, offset) {
            Ok(f) => f,
            Err(err) => {
                let _ = tx.send(Err(err)).await;
                return;
            }
        };
        let mut idle_checks = 0u32;
        loop {
            match follower.poll(&follow) {
                Ok(Some(out)) => {
                    idle_checks = 0;
                    if !out.is_empty() {
                        let mut out = out;
                        if let Some(limit) = follow.limit_bytes {
                            out.truncate(limit.saturating_sub(sent));
                        }
                        sent += out.len();
                        if tx.send(Ok(Bytes::from(out))).await.is_err() {
                            return;
                        }
                        if follow.limit_bytes.is_some_and(|l| sent >= l) {
                            return;
                        }
                    }
                }
                Ok(None) => {
                    idle_checks += 1;
                    // Check the container every second of silence.
                    if idle_checks.is_multiple_of(10) && !still_running().await {
                        // One last read for lines written just before exit.
                        if let Ok(Some(out)) = follower.poll(&follow)
                            && !out.is_empty()
                        {
                            let _ = tx.send(Ok(Bytes::from(out))).await;
                        }
                        return;
                    }
                    if tx.is_closed() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => {
                    let _ = tx.send(Err(err)).await;
                    return;
                }
            }
        }
    });
    rx
}

/// Reads a log file as the runtime appends to it, and carries on with the
/// new file when the kubelet rotates the log (the path then names another
/// file: the old one is drained first, then the new one read from its
/// start).
struct Follower {
    path: PathBuf,
    reader: BufReader<std::fs::File>,
    inode: u64,
    position: u64,
    /// An incomplete last line, completed by a later read.
    pending: Vec<u8>,
    /// The path named another file at the last poll: the runtime may
    /// still be switching, so the old file gets one more poll.
    rotation_seen: bool,
}

impl Follower {
    fn open(path: &Path, offset: u64) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let mut file = std::fs::File::open(path)?;
        let inode = file.metadata()?.ino();
        file.seek(SeekFrom::Start(offset))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader: BufReader::new(file),
            inode,
            position: offset,
            pending: Vec::new(),
            rotation_seen: false,
        })
    }

    /// Complete lines appended since the last call, rendered; `None` when
    /// nothing new was written.
    fn read_available(&mut self, options: &LogOptions) -> std::io::Result<Option<Vec<u8>>> {
        let mut out = Vec::new();
        let mut advanced = false;
        loop {
            let n = self.reader.read_until(b'\n', &mut self.pending)?;
            if n == 0 || !self.pending.ends_with(b"\n") {
                // End of what is written (a partial line stays pending).
                break;
            }
            advanced = true;
            self.position += self.pending.len() as u64;
            let raw = std::mem::take(&mut self.pending);
            if let Some(line) = parse_line(&raw)
                && wanted(&line, options)
            {
                render(&line, options, &mut out);
            }
        }
        Ok(advanced.then_some(out))
    }

    fn poll(&mut self, options: &LogOptions) -> std::io::Result<Option<Vec<u8>>> {
        use std::os::unix::fs::MetadataExt;
        if let Some(out) = self.read_available(options)? {
            return Ok(Some(out));
        }
        let Ok(current) = std::fs::metadata(&self.path) else {
            // Renamed away and not reopened yet.
            return Ok(None);
        };
        if current.ino() != self.inode {
            // Rotated. The runtime creates the new file a moment before it
            // stops writing the old one: the old file is read until a
            // poll finds nothing more in it, then the new one from its start.
            if !std::mem::replace(&mut self.rotation_seen, true) {
                return Ok(None);
            }
            *self = Follower::open(&self.path, 0)?;
            return Ok(Some(self.read_available(options)?.unwrap_or_default()));
        }
        if current.len() < self.position + self.pending.len() as u64 {
            // Truncated in place: start over.
            *self = Follower::open(&self.path, 0)?;
            return Ok(Some(Vec::new()));
        }
        Ok(None)
    }
}

/// The last `lines` lines (at most `max_bytes`) of a container log, for
/// `terminationMessagePolicy: FallbackToLogsOnError`.
pub fn tail_message(path: &Path, lines: usize, max_bytes: usize) -> String {
    let options = LogOptions {
        tail_lines: Some(lines),
        ..Default::default()
    };
    let Ok((out, _)) = read_all(path, &options) else {
        return String::new();
    };
    let start = out.len().saturating_sub(max_bytes);
    String::from_utf8_lossy(&out[start..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "2024-05-01T10:00:00.000000001Z stdout F one\n\
2024-05-01T10:00:01.000000000Z stderr P two-\n\
2024-05-01T10:00:01.000000001Z stderr F halves\n\
2024-05-01T10:00:02.000000000Z stdout F three\n\
2024-05-01T10:00:03.000000000Z stdout F four\n";

    fn write() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(&path, LOG).unwrap();
        (dir, path)
    }

    fn read(path: &Path, query: &str) -> String {
        let options = LogOptions::from_query(query).unwrap();
        String::from_utf8(read_all(path, &options).unwrap().0).unwrap()
    }

    #[test]
    fn options_and_reads() {
        let (_dir, path) = write();
        assert_eq!(read(&path, ""), "one\ntwo-halves\nthree\nfour\n");
        assert_eq!(read(&path, "tailLines=2"), "three\nfour\n");
        assert_eq!(read(&path, "tailLines=3"), "two-halves\nthree\nfour\n");
        assert_eq!(read(&path, "tailLines=0"), "");
        assert_eq!(
            read(&path, "sinceTime=2024-05-01T10:00:02Z"),
            "three\nfour\n"
        );
        assert_eq!(read(&path, "limitBytes=5"), "one\nt");
        assert_eq!(read(&path, "stream=Stderr"), "two-halves\n");
        assert_eq!(
            read(&path, "timestamps=true&tailLines=1"),
            "2024-05-01T10:00:03.000000000Z four\n"
        );
        assert!(LogOptions::from_query("tailLines=x").is_err());
        assert!(LogOptions::from_query("limitBytes=0").is_err());
        assert!(LogOptions::from_query("sinceTime=yesterday").is_err());
        assert_eq!(tail_message(&path, 2, 6), "\nfour\n");
    }

    #[tokio::test]
    async fn follow_carries_on_across_a_rotation() {
        use std::io::Write;
        let (dir, path) = write();
        let mut rx = stream(
            path.clone(),
            LogOptions::from_query("follow=true&tailLines=1").unwrap(),
            || Box::pin(async { true }),
        );
        assert_eq!(rx.recv().await.unwrap().unwrap(), Bytes::from("four\n"));
        // The kubelet renames the log; the runtime writes one more line to
        // the old file before it reopens a new one.
        let rotated = dir.path().join("0.log.20240501-100005");
        std::fs::rename(&path, &rotated).unwrap();
        let mut old = std::fs::OpenOptions::new()
            .append(true)
            .open(&rotated)
            .unwrap();
        old.write_all(b"2024-05-01T10:00:04.000000000Z stdout P fi")
            .unwrap();
        old.write_all(b"\n2024-05-01T10:00:04.500000000Z stdout F ve\n")
            .unwrap();
        std::fs::write(&path, "2024-05-01T10:00:05.000000000Z stdout F six\n").unwrap();
        let mut got = Vec::new();
        while got.len() < "five\nsix\n".len() {
            let chunk = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("more output")
                .unwrap()
                .unwrap();
            got.extend_from_slice(&chunk);
        }
        assert_eq!(String::from_utf8(got).unwrap(), "five\nsix\n");
    }

    #[tokio::test]
    async fn follow_until_the_container_stops() {
        let (_dir, path) = write();
        let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = running.clone();
        let mut rx = stream(
            path.clone(),
            LogOptions::from_query("follow=true&tailLines=1").unwrap(),
            move || {
                let flag = flag.clone();
                Box::pin(async move { flag.load(std::sync::atomic::Ordering::SeqCst) })
            },
        );
        let first = rx.recv().await.unwrap().unwrap();
        assert_eq!(first, Bytes::from("four\n"));
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            f.write_all(b"2024-05-01T10:00:04.000000000Z stdout F five\n")
                .unwrap();
        }
        let next = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(next, Bytes::from("five\n"));
        running.store(false, std::sync::atomic::Ordering::SeqCst);
        let end = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap();
        assert!(end.is_none());
    }
}
