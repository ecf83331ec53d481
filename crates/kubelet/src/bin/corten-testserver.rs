//! `corten-testserver`: a tiny HTTP server to run in test pods (image
//! `corten.local/testserver:latest`, built by `corten images build`).
//!
//! ```text
//! GET  /  or /hostname     the pod's hostname
//! ANY  /echo[/...]          the request line, headers and body
//! GET  /udp?host=H&port=P[&msg=M]  send M (default `hostname`) over UDP from this pod, the answer
//!                          (502 if none within 2 s; agnhost netexec's `/dial` for UDP)
//! GET  /html               `<a href="/rewriteme">test</a>` as text/html (proxy link rewriting)
//! GET  /env                the environment, NAME=value per line
//! GET  /file?path=/x       the contents of a file (volume tests)
//! GET  /healthz /readyz    200 "ok", or 500/503 once told to fail
//! ANY  /fail/healthz       make /healthz fail (also /fail/readyz)
//! ANY  /recover/healthz    make /healthz succeed again (also /recover/readyz)
//! ANY  /exit?code=N        answer, then exit with code N
//! ```
//!
//! It also answers UDP datagrams on the same port number (as agnhost's
//! netexec does on its UDP port): `hostname` gets the pod's hostname,
//! `echo TEXT` gets TEXT, anything else comes back unchanged.
//!
//! `testserver udp-request HOST PORT MESSAGE` instead sends one datagram and
//! prints the answer (exit 1 if none comes within 2 s): busybox's `nc` has
//! no UDP mode.
//!
//! Flags (each also as an environment variable):
//! `--port N` (`PORT`, default 8080), `--fail-healthz-after SECS`
//! (`FAIL_HEALTHZ_AFTER`), `--fail-readyz` (`FAIL_READYZ=1`: start not ready),
//! `--exit-after SECS` with `--exit-code N` (`EXIT_AFTER`, `EXIT_CODE`),
//! `--term-delay SECS` (`TERM_DELAY`: how long SIGTERM takes to exit; default 0).
//! SIGTERM and SIGINT make it exit 0 (it runs as PID 1, where the default
//! action would be to ignore them). Standard library only, so the image needs
//! just libc.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const MAX_HEADER_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug)]
struct Options {
    port: u16,
    fail_healthz_after: Option<u64>,
    fail_readyz: bool,
    exit_after: Option<u64>,
    exit_code: i32,
    term_delay: u64,
}

fn parse_options() -> Result<Options, String> {
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for (env, flag) in [
        ("PORT", "port"),
        ("FAIL_HEALTHZ_AFTER", "fail-healthz-after"),
        ("FAIL_READYZ", "fail-readyz"),
        ("EXIT_AFTER", "exit-after"),
        ("EXIT_CODE", "exit-code"),
        ("TERM_DELAY", "term-delay"),
    ] {
        if let Ok(value) = std::env::var(env) {
            values.insert(flag.to_string(), value);
        }
    }
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            return Err(format!("unexpected argument {arg:?}"));
        };
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None if flag == "fail-readyz" => (flag.to_string(), "1".to_string()),
            None if flag == "help" => return Err(String::new()),
            None => (
                flag.to_string(),
                args.next()
                    .ok_or_else(|| format!("--{flag} needs a value"))?,
            ),
        };
        values.insert(name, value);
    }
    let number = |name: &str| -> Result<Option<u64>, String> {
        values
            .get(name)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("--{name}: not a number: {v:?}"))
            })
            .transpose()
    };
    for name in values.keys() {
        if ![
            "port",
            "fail-healthz-after",
            "fail-readyz",
            "exit-after",
            "exit-code",
            "term-delay",
        ]
        .contains(&name.as_str())
        {
            return Err(format!("unknown flag --{name}"));
        }
    }
    Ok(Options {
        port: number("port")?
            .map(|p| u16::try_from(p).map_err(|_| "--port out of range".to_string()))
            .transpose()?
            .unwrap_or(8080),
        fail_healthz_after: number("fail-healthz-after")?,
        fail_readyz: values
            .get("fail-readyz")
            .is_some_and(|v| !matches!(v.as_str(), "" | "0" | "false")),
        exit_after: number("exit-after")?,
        exit_code: values
            .get("exit-code")
            .map(|v| {
                v.parse::<i32>()
                    .map_err(|_| format!("--exit-code: not a number: {v:?}"))
            })
            .transpose()?
            .unwrap_or(0),
        term_delay: number("term-delay")?.unwrap_or(0),
    })
}

struct State {
    healthz_failing: AtomicBool,
    readyz_failing: AtomicBool,
}

struct Request {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    fn query(&self, key: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key).then(|| percent_decode(v))
        })
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_request(stream: &mut TcpStream) -> Result<Request, String> {
    let mut reader = BufReader::new(stream);
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        head.extend_from_slice(&line);
        if head.len() > MAX_HEADER_BYTES {
            return Err("headers too large".into());
        }
        if line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let version = parts.next().unwrap_or("HTTP/1.0").to_string();
    if method.is_empty() || !target.starts_with('/') {
        return Err(format!("bad request line {request_line:?}"));
    }
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_BODY_BYTES);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok(Request {
        method,
        target,
        version,
        headers,
        body,
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| std::env::var("HOSTNAME").unwrap_or_default())
}

fn respond(stream: &mut TcpStream, code: u16, reason: &str, body: &[u8]) {
    respond_as(stream, code, reason, "text/plain; charset=utf-8", body);
}

fn respond_as(stream: &mut TcpStream, code: u16, reason: &str, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // The client may be gone; nothing to do about it.
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

fn handle(mut stream: TcpStream, state: &State) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = match read_request(&mut stream) {
        Ok(r) => r,
        Err(err) => {
            respond(
                &mut stream,
                400,
                "Bad Request",
                format!("{err}\n").as_bytes(),
            );
            return;
        }
    };
    println!("{} {}", request.method, request.target);
    let check = |failing: &AtomicBool, code: u16, reason: &str| {
        if failing.load(Ordering::SeqCst) {
            (code, reason.to_string(), b"unhealthy\n".to_vec())
        } else {
            (200, "OK".to_string(), b"ok".to_vec())
        }
    };
    let ok = |body: Vec<u8>| (200, "OK".to_string(), body);
    let (code, reason, body) = match request.path() {
        "/" | "/hostname" => ok(format!("{}\n", hostname()).into_bytes()),
        "/html" => {
            let page = b"<a href=\"/rewriteme\">test</a>";
            respond_as(&mut stream, 200, "OK", "text/html; charset=utf-8", page);
            return;
        }
        path if path == "/echo" || path.starts_with("/echo/") => {
            let mut out = format!(
                "{} {} {}\n",
                request.method, request.target, request.version
            );
            for (k, v) in &request.headers {
                out.push_str(&format!("{k}: {v}\n"));
            }
            out.push('\n');
            let mut body = out.into_bytes();
            body.extend_from_slice(&request.body);
            ok(body)
        }
        "/udp" => match (request.query("host"), request.query("port")) {
            (Some(host), Some(port)) => {
                let message = request.query("msg").unwrap_or_else(|| "hostname".into());
                match udp_exchange(&host, &port, &message) {
                    Ok(answer) => ok(answer.into_bytes()),
                    Err(err) => (
                        502,
                        "Bad Gateway".into(),
                        format!("no answer from {host}:{port}/udp: {err}\n").into_bytes(),
                    ),
                }
            }
            _ => (
                400,
                "Bad Request".into(),
                b"missing ?host= or ?port=\n".to_vec(),
            ),
        },
        "/env" => {
            let mut vars: Vec<String> = std::env::vars()
                .map(|(k, v)| format!("{k}={v}\n"))
                .collect();
            vars.sort();
            ok(vars.concat().into_bytes())
        }
        "/file" => match request.query("path").map(std::fs::read) {
            Some(Ok(contents)) => ok(contents),
            Some(Err(err)) => (404, "Not Found".into(), format!("{err}\n").into_bytes()),
            None => (400, "Bad Request".into(), b"missing ?path=\n".to_vec()),
        },
        "/healthz" => check(&state.healthz_failing, 500, "Internal Server Error"),
        "/readyz" => check(&state.readyz_failing, 503, "Service Unavailable"),
        "/fail/healthz" => {
            state.healthz_failing.store(true, Ordering::SeqCst);
            ok(b"healthz will fail\n".to_vec())
        }
        "/fail/readyz" => {
            state.readyz_failing.store(true, Ordering::SeqCst);
            ok(b"readyz will fail\n".to_vec())
        }
        "/recover/healthz" => {
            state.healthz_failing.store(false, Ordering::SeqCst);
            ok(b"healthz will succeed\n".to_vec())
        }
        "/recover/readyz" => {
            state.readyz_failing.store(false, Ordering::SeqCst);
            ok(b"readyz will succeed\n".to_vec())
        }
        "/exit" => {
            let code = request
                .query("code")
                .and_then(|c| c.parse::<i32>().ok())
                .unwrap_or(0);
            respond(
                &mut stream,
                200,
                "OK",
                format!("exiting with {code}\n").as_bytes(),
            );
            println!("exiting with code {code} as asked");
            std::process::exit(code);
        }
        _ => (404, "Not Found".into(), b"404 page not found\n".to_vec()),
    };
    respond(&mut stream, code, &reason, &body);
}

/// Answers datagrams on `port` until the process exits.
fn serve_udp(port: u16) {
    let socket = match UdpSocket::bind(("0.0.0.0", port)) {
        Ok(s) => s,
        Err(err) => {
            eprintln!("UDP port {port} not served: {err}");
            return;
        }
    };
    let mut buf = [0u8; 2048];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let request = String::from_utf8_lossy(&buf[..n]);
        let request = request.trim_end();
        let answer = match request {
            "hostname" => hostname(),
            _ => request.strip_prefix("echo ").unwrap_or(request).to_string(),
        };
        // A lost answer is the client's to retry, as with any UDP.
        let _ = socket.send_to(format!("{answer}\n").as_bytes(), peer);
    }
}

/// Sends `message` to `host:port` over UDP; the answer (2 s at most).
fn udp_exchange(host: &str, port: &str, message: &str) -> std::io::Result<String> {
    let socket = UdpSocket::bind(("0.0.0.0", 0))?;
    socket.set_read_timeout(Some(Duration::from_secs(2)))?;
    socket.connect(format!("{host}:{port}"))?;
    socket.send(message.as_bytes())?;
    let mut buf = [0u8; 2048];
    let n = socket.recv(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// The `udp-request` client mode.
fn udp_request(args: &[String]) -> i32 {
    let [host, port, message] = args else {
        eprintln!("usage: testserver udp-request HOST PORT MESSAGE");
        return 64;
    };
    match udp_exchange(host, port, message) {
        Ok(answer) => {
            print!("{answer}");
            0
        }
        Err(err) => {
            eprintln!("no answer from {host}:{port}/udp: {err}");
            1
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("udp-request") {
        std::process::exit(udp_request(&args[2..]));
    }
    let options = match parse_options() {
        Ok(o) => o,
        Err(err) => {
            if !err.is_empty() {
                eprintln!("Error: {err}");
            }
            eprintln!(
                "usage: testserver [--port N] [--fail-healthz-after SECS] [--fail-readyz] [--exit-after SECS] [--exit-code N] [--term-delay SECS]"
            );
            std::process::exit(if err.is_empty() { 0 } else { 64 });
        }
    };
    let state = Arc::new(State {
        healthz_failing: AtomicBool::new(false),
        readyz_failing: AtomicBool::new(options.fail_readyz),
    });
    let term_delay = options.term_delay;
    match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ]) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    println!("received signal {signal}, exiting in {term_delay}s");
                    std::thread::sleep(Duration::from_secs(term_delay));
                    println!("exiting with code 0");
                    std::process::exit(0);
                }
            });
        }
        Err(err) => eprintln!("cannot handle SIGTERM: {err}"),
    }
    if let Some(after) = options.fail_healthz_after {
        let state = state.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(after));
            println!("healthz fails from now on");
            state.healthz_failing.store(true, Ordering::SeqCst);
        });
    }
    if let Some(after) = options.exit_after {
        let code = options.exit_code;
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(after));
            println!("exiting with code {code} after {after}s");
            std::process::exit(code);
        });
    }
    let listener = match TcpListener::bind(("0.0.0.0", options.port)) {
        Ok(l) => l,
        Err(err) => {
            eprintln!("Error: listening on port {}: {err}", options.port);
            std::process::exit(1);
        }
    };
    let udp_port = options.port;
    std::thread::spawn(move || serve_udp(udp_port));
    println!(
        "testserver listening on :{} (hostname {})",
        options.port,
        hostname()
    );
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let state = state.clone();
                std::thread::spawn(move || handle(stream, &state));
            }
            Err(err) => {
                eprintln!("accept: {err}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
