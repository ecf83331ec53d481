//! The `kube-apiserver` binary's `--feature-gates`: a bad gate exits 64 with
//! upstream's message, good ones pass on to the next check. Every run stops
//! at flag validation, before etcd is contacted.

const BIN: &str = env!("CARGO_BIN_EXE_kube-apiserver");

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
    let (code, err) = run(&["--feature-gates=StructuredAuthorizationConfiguration=false"]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("cannot set feature gate StructuredAuthorizationConfiguration to false, feature is locked to true"),
        "{err}"
    );
    // Good gates pass: the run stops at the next check (no --etcd-servers).
    let (code, err) = run(&["--feature-gates=MutatingAdmissionPolicy=true,WatchList=false"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("--etcd-servers must be specified"), "{err}");
    assert!(!err.contains("unrecognized feature gate"), "{err}");
}
