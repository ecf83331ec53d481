//! The `kube-apiserver` binary's `--feature-gates`: a bad gate exits 64 with
//! upstream's message, good ones pass on to the next check. Every run stops
//! at flag validation, before etcd is contacted.

const BIN: &str = env!("CARGO_BIN_EXE_kube-apiserver");

/// Runs the binary with `args` after a (never contacted) `--etcd-servers`,
/// which clap requires.
fn run(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(BIN)
        .arg("--etcd-servers=http://127.0.0.1:1")
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
    // Good gates pass, with upstream's warning for a GA gate: the run stops
    // at the next check (the service range).
    let (code, err) = run(&[
        "--feature-gates=MutatingAdmissionPolicy=true,WatchList=false",
        "--feature-gates=SidecarContainers=true",
        "--service-cluster-ip-range=bogus",
    ]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains(
            "Setting GA feature gate SidecarContainers=true. It will be removed in a future release."
        ),
        "{err}"
    );
    assert!(
        err.contains("--service-cluster-ip-range \"bogus\" is not a valid CIDR"),
        "{err}"
    );
    assert!(!err.contains("unrecognized feature gate"), "{err}");
}
