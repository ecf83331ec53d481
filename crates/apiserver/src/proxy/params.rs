//! The option kinds of the connecter subresources (PodLogOptions,
//! PodExecOptions, PodAttachOptions, PodPortForwardOptions): parsing from
//! the query, validation with upstream's messages, and the query sent on to
//! the kubelet.

use corten_apimachinery::{ErrorList, FieldError, GroupKind, Path, StatusError};
use http::HeaderMap;
use serde_json::Value;

/// A raw query as ordered pairs (repeated keys kept: `command`, `ports`).
struct Pairs(Vec<(String, String)>);

impl Pairs {
    fn parse(raw: &str) -> Pairs {
        Pairs(
            form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The last value of `key` (upstream's decoder for scalars).
    fn last(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Go's strconv.ParseBool, as the query decoder uses.
    fn flag(&self, key: &str) -> Result<bool, StatusError> {
        match self.last(key) {
            None | Some("") => Ok(false),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(v) => Err(StatusError::bad_request(format!(
                "invalid value for {key}: strconv.ParseBool: parsing {v:?}: invalid syntax"
            ))),
        }
    }

    fn int(&self, key: &str) -> Result<Option<i64>, StatusError> {
        match self.last(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                StatusError::bad_request(format!(
                    "invalid value for {key}: strconv.ParseInt: parsing {v:?}: invalid syntax"
                ))
            }),
        }
    }
}

/// `PodLogOptions`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogOptions {
    /// `container`.
    pub container: Option<String>,
    /// `follow`.
    pub follow: bool,
    /// `previous`.
    pub previous: bool,
    /// `timestamps`.
    pub timestamps: bool,
    /// `sinceSeconds`.
    pub since_seconds: Option<i64>,
    /// `sinceTime` (RFC 3339).
    pub since_time: Option<String>,
    /// `tailLines`.
    pub tail_lines: Option<i64>,
    /// `limitBytes`.
    pub limit_bytes: Option<i64>,
    /// `stream` (`Stdout`, `Stderr`, `All`).
    pub stream: Option<String>,
}

impl LogOptions {
    /// Parses and validates (422 `PodLogOptions "<pod>" is invalid` like
    /// upstream's ValidatePodLogOptions).
    pub fn parse(raw: &str, pod: &str) -> Result<LogOptions, StatusError> {
        let q = Pairs::parse(raw);
        let opts = LogOptions {
            container: q
                .last("container")
                .filter(|c| !c.is_empty())
                .map(Into::into),
            follow: q.flag("follow")?,
            previous: q.flag("previous")?,
            timestamps: q.flag("timestamps")?,
            since_seconds: q.int("sinceSeconds")?,
            since_time: q
                .last("sinceTime")
                .filter(|t| !t.is_empty())
                .map(Into::into),
            tail_lines: q.int("tailLines")?,
            limit_bytes: q.int("limitBytes")?,
            stream: q.last("stream").filter(|s| !s.is_empty()).map(Into::into),
        };
        if let Some(t) = &opts.since_time
            && t.parse::<jiff::Timestamp>().is_err()
        {
            return Err(StatusError::bad_request(format!(
                "invalid value for sinceTime: parsing time {t:?} as RFC 3339 failed"
            )));
        }
        let mut errs: ErrorList = Vec::new();
        if let Some(n) = opts.tail_lines
            && n < 0
        {
            errs.push(FieldError::invalid(
                &Path::new("tailLines"),
                n,
                "must be greater than or equal to 0",
            ));
        }
        if let Some(n) = opts.limit_bytes
            && n < 1
        {
            errs.push(FieldError::invalid(
                &Path::new("limitBytes"),
                n,
                "must be greater than 0",
            ));
        }
        if opts.since_seconds.is_some() && opts.since_time.is_some() {
            errs.push(FieldError::forbidden(
                &Path::new(""),
                "at most one of `sinceTime` or `sinceSeconds` may be specified",
            ));
        }
        if let Some(n) = opts.since_seconds
            && n < 1
        {
            errs.push(FieldError::invalid(
                &Path::new("sinceSeconds"),
                n,
                "must be greater than 0",
            ));
        }
        if let Some(s) = &opts.stream
            && !matches!(s.as_str(), "Stdout" | "Stderr" | "All")
        {
            errs.push(FieldError::invalid(
                &Path::new("stream"),
                s.clone(),
                "must be one of Stdout, Stderr, All",
            ));
        }
        if !errs.is_empty() {
            return Err(StatusError::invalid(
                &GroupKind::new("", "PodLogOptions"),
                pod,
                &errs,
            ));
        }
        Ok(opts)
    }

    /// The query for the kubelet's `/containerLogs`.
    pub fn kubelet_query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if self.follow {
            q.append_pair("follow", "true");
        }
        if self.previous {
            q.append_pair("previous", "true");
        }
        if self.timestamps {
            q.append_pair("timestamps", "true");
        }
        if let Some(n) = self.since_seconds {
            q.append_pair("sinceSeconds", &n.to_string());
        }
        if let Some(t) = &self.since_time {
            q.append_pair("sinceTime", t);
        }
        if let Some(n) = self.tail_lines {
            q.append_pair("tailLines", &n.to_string());
        }
        if let Some(n) = self.limit_bytes {
            q.append_pair("limitBytes", &n.to_string());
        }
        if let Some(s) = &self.stream {
            q.append_pair("stream", s);
        }
        q.finish()
    }
}

/// `PodExecOptions` / `PodAttachOptions`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamOptions {
    /// `container`.
    pub container: Option<String>,
    /// `command` (exec only), in order.
    pub command: Vec<String>,
    /// `stdin`.
    pub stdin: bool,
    /// `stdout`.
    pub stdout: bool,
    /// `stderr`.
    pub stderr: bool,
    /// `tty`.
    pub tty: bool,
}

impl StreamOptions {
    /// Parses exec (`exec = true`) or attach options.
    pub fn parse(raw: &str, exec: bool) -> Result<StreamOptions, StatusError> {
        let q = Pairs::parse(raw);
        let opts = StreamOptions {
            container: q
                .last("container")
                .filter(|c| !c.is_empty())
                .map(Into::into),
            command: if exec {
                q.all("command").map(str::to_string).collect()
            } else {
                Vec::new()
            },
            stdin: q.flag("stdin")?,
            stdout: q.flag("stdout")?,
            stderr: q.flag("stderr")?,
            tty: q.flag("tty")?,
        };
        if exec && opts.command.is_empty() {
            return Err(StatusError::bad_request(
                "you must specify at least 1 command",
            ));
        }
        if !opts.stdin && !opts.stdout && !opts.stderr {
            return Err(StatusError::bad_request(
                "you must specify at least 1 of stdin, stdout, stderr",
            ));
        }
        if opts.tty && opts.stderr {
            // Upstream drops stderr with a TTY (it is merged into stdout).
            return Ok(StreamOptions {
                stderr: false,
                ..opts
            });
        }
        Ok(opts)
    }

    /// The kubelet's query (`input`, `output`, `error`, `tty`, `command`).
    pub fn kubelet_query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for c in &self.command {
            q.append_pair("command", c);
        }
        for (on, name) in [
            (self.stdin, "input"),
            (self.stdout, "output"),
            (self.stderr, "error"),
            (self.tty, "tty"),
        ] {
            if on {
                q.append_pair(name, "1");
            }
        }
        q.finish()
    }
}

/// `PodPortForwardOptions`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PortForwardOptions {
    /// `ports`.
    pub ports: Vec<u16>,
}

impl PortForwardOptions {
    /// Parses `ports` (each 1-65535).
    pub fn parse(raw: &str) -> Result<PortForwardOptions, StatusError> {
        let q = Pairs::parse(raw);
        let mut ports = Vec::new();
        for p in q.all("ports").flat_map(|v| v.split(',')) {
            match p.trim().parse::<u16>() {
                Ok(n) if n > 0 => ports.push(n),
                _ => {
                    return Err(StatusError::bad_request(format!(
                        "invalid port {p:?}: ports must be between 1 and 65535"
                    )));
                }
            }
        }
        Ok(PortForwardOptions { ports })
    }

    /// `?port=..&port=..` for the kubelet (empty when no ports).
    pub fn kubelet_query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for p in &self.ports {
            q.append_pair("port", &p.to_string());
        }
        let s = q.finish();
        if s.is_empty() { s } else { format!("?{s}") }
    }
}

/// The container a request addresses: the given one if the pod has it
/// (400 otherwise), else the only container (400 listing the choices when
/// there are several), as upstream's validateContainer.
pub fn validate_container(pod: &Value, container: Option<&str>) -> Result<String, StatusError> {
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let names = |key: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
            .collect()
    };
    let containers = names("containers");
    match container {
        Some(c) => {
            let known = containers.iter().map(String::as_str).any(|n| n == c)
                || names("initContainers").iter().any(|n| n == c)
                || names("ephemeralContainers").iter().any(|n| n == c);
            if known {
                Ok(c.to_string())
            } else {
                Err(StatusError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )))
            }
        }
        None => match containers.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(StatusError::bad_request(format!(
                "a container name must be specified for pod {name}"
            ))),
            _ => {
                let mut all = names("initContainers");
                all.extend(containers);
                all.extend(names("ephemeralContainers"));
                Err(StatusError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    all.join(" ")
                )))
            }
        },
    }
}

/// The subprotocols a WebSocket request offers.
pub fn websocket_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Whether a WebSocket streaming request can go to the kubelet unchanged:
/// the runtime's streaming server speaks `channel.k8s.io` up to v4 but not
/// v5 nor the port-forward tunnel (`SPDY/3.1+portforward.k8s.io` inside
/// WebSocket), which kubectl offers first and which are translated
/// (`translate.rs`, `tunnel.rs`) before this is asked.
pub fn websocket_passes_through(headers: &HeaderMap) -> bool {
    let offered = websocket_protocols(headers);
    !offered.is_empty()
        && offered.iter().all(|p| {
            matches!(
                p.as_str(),
                "channel.k8s.io"
                    | "base64.channel.k8s.io"
                    | "v4.channel.k8s.io"
                    | "v4.base64.channel.k8s.io"
            ) || (p.starts_with('v') && p.ends_with(".channel.k8s.io") && !p.starts_with("v5."))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn log_options_round_trip_to_the_kubelet() {
        let o = LogOptions::parse(
            "container=web&follow=true&tailLines=3&timestamps=1&limitBytes=10&sinceSeconds=60",
            "p",
        )
        .unwrap();
        assert_eq!(o.container.as_deref(), Some("web"));
        assert_eq!(
            o.kubelet_query(),
            "follow=true&timestamps=true&sinceSeconds=60&tailLines=3&limitBytes=10"
        );
        assert_eq!(LogOptions::parse("", "p").unwrap().kubelet_query(), "");
    }

    #[test]
    fn log_options_are_validated_like_upstream() {
        let e = LogOptions::parse("tailLines=-1", "p").unwrap_err();
        assert_eq!(e.code, 422);
        assert!(
            e.message
                .starts_with("PodLogOptions \"p\" is invalid: tailLines: Invalid value: -1"),
            "{}",
            e.message
        );
        assert_eq!(
            LogOptions::parse("limitBytes=0", "p").unwrap_err().code,
            422
        );
        let e =
            LogOptions::parse("sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z", "p").unwrap_err();
        assert!(e.message.contains("at most one of"), "{}", e.message);
        assert_eq!(
            LogOptions::parse("follow=maybe", "p").unwrap_err().code,
            400
        );
        assert_eq!(LogOptions::parse("tailLines=x", "p").unwrap_err().code, 400);
        assert_eq!(
            LogOptions::parse("sinceTime=yesterday", "p")
                .unwrap_err()
                .code,
            400
        );
    }

    #[test]
    fn exec_options() {
        let o = StreamOptions::parse(
            "command=sh&command=-c&command=echo%20hi&stdout=true&stderr=true&container=c",
            true,
        )
        .unwrap();
        assert_eq!(o.command, ["sh", "-c", "echo hi"]);
        assert_eq!(
            o.kubelet_query(),
            "command=sh&command=-c&command=echo+hi&output=1&error=1"
        );
        let e = StreamOptions::parse("stdout=true", true).unwrap_err();
        assert_eq!(e.message, "you must specify at least 1 command");
        assert_eq!(
            StreamOptions::parse("command=ls", true).unwrap_err().code,
            400
        );
        let tty = StreamOptions::parse("stdin=1&stdout=1&stderr=1&tty=1", false).unwrap();
        assert!(!tty.stderr && tty.tty && tty.command.is_empty());
    }

    #[test]
    fn port_forward_options() {
        let o = PortForwardOptions::parse("ports=8080&ports=9090").unwrap();
        assert_eq!(o.kubelet_query(), "?port=8080&port=9090");
        assert_eq!(PortForwardOptions::parse("").unwrap().kubelet_query(), "");
        assert_eq!(PortForwardOptions::parse("ports=0").unwrap_err().code, 400);
        assert_eq!(
            PortForwardOptions::parse("ports=70000").unwrap_err().code,
            400
        );
    }

    #[test]
    fn containers_are_chosen_like_upstream() {
        let one = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}});
        assert_eq!(validate_container(&one, None).unwrap(), "a");
        assert_eq!(
            validate_container(&one, Some("b")).unwrap_err().message,
            "container b is not valid for pod p"
        );
        let two = json!({"metadata": {"name": "p"}, "spec": {
            "initContainers": [{"name": "i"}],
            "containers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(
            validate_container(&two, None).unwrap_err().message,
            "a container name must be specified for pod p, choose one of: [i a b]"
        );
        assert_eq!(validate_container(&two, Some("i")).unwrap(), "i");
    }

    #[test]
    fn websocket_protocol_policy() {
        let mut h = HeaderMap::new();
        h.insert(
            "sec-websocket-protocol",
            "v5.channel.k8s.io, v4.channel.k8s.io".parse().unwrap(),
        );
        assert!(!websocket_passes_through(&h));
        h.insert(
            "sec-websocket-protocol",
            "v4.channel.k8s.io".parse().unwrap(),
        );
        assert!(websocket_passes_through(&h));
        h.insert(
            "sec-websocket-protocol",
            "SPDY/3.1+portforward.k8s.io".parse().unwrap(),
        );
        assert!(!websocket_passes_through(&h));
        assert!(!websocket_passes_through(&HeaderMap::new()));
    }
}
