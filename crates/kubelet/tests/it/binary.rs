//! The `kubelet` binary's `--feature-gates`: a bad gate exits 64 with
//! upstream's message, good ones pass on to the next check. Every run stops
//! at validation, before any runtime or apiserver is contacted.

const BIN: &str = env!("CARGO_BIN_EXE_kubelet");

fn run(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(BIN)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn binary_validates_feature_gates() {
    let (code, err) = run(&["--feature-gates=Foo=true"]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("invalid argument \"Foo=true\" for \"--feature-gates\" flag: unrecognized feature gate: Foo"),
        "{err}"
    );
    let (code, err) = run(&["--feature-gates=ImageVolume"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("missing bool value for ImageVolume"), "{err}");
    // Good gates pass: the run stops at the next check (--node-ip).
    let (code, err) = run(&[
        "--feature-gates=ImageVolume=true,AllAlpha=false",
        "--feature-gates=SidecarContainers=true",
        "--node-ip=not-an-ip",
    ]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("--node-ip: \"not-an-ip\" is not an IP address"),
        "{err}"
    );
    assert!(!err.contains("feature gate"), "{err}");
}
