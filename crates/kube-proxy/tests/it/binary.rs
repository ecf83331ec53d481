//! The `kube-proxy` binary's `--feature-gates` and `featureGates` handling:
//! bad gates exit 64 with upstream's message, good ones pass on to the next
//! check. Nothing here touches netfilter: every run stops at validation.

const BIN: &str = env!("CARGO_BIN_EXE_kube-proxy");

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

fn config(dir: &tempfile::TempDir, gates: &str) -> String {
    let path = dir.path().join("proxy.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n{gates}"
        ),
    )
    .unwrap();
    format!("--config={}", path.display())
}

#[test]
fn binary_validates_feature_gates_from_flags_and_file() {
    let (code, err) = run(&["--feature-gates=Foo=true"]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("invalid argument \"Foo=true\" for \"--feature-gates\" flag: unrecognized feature gate: Foo"),
        "{err}"
    );
    let (code, err) = run(&["--feature-gates=NFTablesProxyMode=false"]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains(
            "cannot set feature gate NFTablesProxyMode to false, feature is locked to true"
        ),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    // A locked gate in the file is refused too.
    let file = config(&dir, "featureGates:\n  SidecarContainers: false\n");
    let (code, err) = run(&[&file]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains(
            "cannot set feature gate SidecarContainers to false, feature is locked to true"
        ),
        "{err}"
    );
    // Values must be booleans (upstream's map[string]bool).
    let file = config(&dir, "featureGates:\n  ImageVolume: maybe\n");
    let (code, err) = run(&[&file]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("featureGates"), "{err}");
    // Good gates from the file and the flags pass: the run stops at the next
    // check (the ipvs mode), not at the gates.
    let file = config(&dir, "featureGates:\n  MaxUnavailableStatefulSet: true\n");
    let (code, err) = run(&[
        &file,
        "--feature-gates=MaxUnavailableStatefulSet=false,AllBeta=true",
    ]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("invalid proxy mode \"ipvs\""), "{err}");
    assert!(!err.contains("feature gate"), "{err}");
}
