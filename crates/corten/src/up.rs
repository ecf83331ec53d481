//! `corten up`: PKI, kubeconfig, then every component in order, each waited
//! for until ready. Idempotent: running components are left alone.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::components::{Component, cluster_components};
use crate::kubeconfig::{Kubeconfig, UserCredentials};
use crate::pki;
use crate::process;
use crate::state::{ClusterConfig, StateLayout};

/// Lines of a component's log shown when it fails to start.
const LOG_TAIL_LINES: usize = 40;

/// Brings the cluster up.
pub async fn up(layout: &StateLayout, requested: ClusterConfig) -> anyhow::Result<()> {
    let config = prepare(layout, requested)?;
    let mut started = 0;
    for component in &cluster_components(&config, layout) {
        if start_component(component, layout).await? {
            started += 1;
        }
        if component.name == "kube-apiserver" {
            // corten-dns runs as system:corten-dns, whose roles must exist
            // before it starts.
            crate::addons::apply_dns_rbac(&layout.admin_kubeconfig())
                .context("applying corten-dns's RBAC (deploy/dns/rbac.yaml)")?;
        }
        if component.name == "containerd" {
            // No registry is reachable: the pause image and the test
            // images must be in containerd before the kubelet starts pods.
            match crate::images::ensure_imported(layout) {
                Ok(imported) => {
                    for name in imported {
                        println!("{:<16} imported {name}", "images");
                    }
                }
                Err(err) => eprintln!(
                    "warning: importing the local images failed ({err:#}); pods cannot start until `corten images build` succeeds"
                ),
            }
        }
    }
    match crate::addons::ensure_default_storage_class(&layout.admin_kubeconfig()) {
        Ok(true) => println!(
            "{:<16} created the default StorageClass standard",
            "storage"
        ),
        Ok(false) => {}
        Err(err) => eprintln!(
            "warning: creating the default StorageClass failed ({err:#}); create it with `kubectl apply -f deploy/storage/standard-storageclass.yaml`"
        ),
    }
    if started == 0 {
        println!("\nCorten is already running.");
    } else {
        println!("\nCorten is up.");
    }
    print_usage(layout, &config);
    Ok(())
}

/// Everything before starting processes: the state directory, missing PKI,
/// `admin.kubeconfig` and `cluster.json`. Returns the settings in effect
/// (those of a running cluster win over `requested`). `corten pki` stops here.
pub fn prepare(layout: &StateLayout, requested: ClusterConfig) -> anyhow::Result<ClusterConfig> {
    layout.create()?;
    let config = settings_to_use(layout, requested)?;
    let pki = pki::ensure_cluster_pki(&layout.pki_dir(), &config)?;
    if !pki.created.is_empty() {
        println!(
            "generated {} in {}",
            pki.created.join(", "),
            layout.pki_dir().display()
        );
    }
    // kubectl prompts for a password when a user has no credentials, so
    // the admin always authenticates with its client certificate.
    let (cert_path, key_path) = pki::pair_paths(&layout.pki_dir(), pki::ADMIN_CERT_NAME);
    let admin_cert = std::fs::read_to_string(&cert_path)?;
    let admin_key = std::fs::read_to_string(&key_path)?;
    Kubeconfig::single(
        "corten",
        &config.apiserver_url(),
        pki.ca.cert_pem(),
        "admin",
        UserCredentials::client_certificate(&admin_cert, &admin_key),
        "corten",
    )
    .write(&layout.admin_kubeconfig())?;
    // Each daemon gets its own identity: <state>/<component>.kubeconfig.
    for (name, _) in pki::component_client_specs(&pki::local_node_name()) {
        let (cert_path, key_path) = pki::pair_paths(&layout.pki_dir(), name);
        let cert = std::fs::read_to_string(&cert_path)?;
        let key = std::fs::read_to_string(&key_path)?;
        Kubeconfig::single(
            "corten",
            &config.apiserver_url(),
            pki.ca.cert_pem(),
            name,
            UserCredentials::client_certificate(&cert, &key),
            "corten",
        )
        .write(&crate::kubeconfig::component_kubeconfig_path(layout, name))?;
    }
    config.save(layout)?;
    Ok(config)
}

/// The settings to run with: the requested ones, unless a cluster from this
/// state directory is running already, in which case its saved settings win
/// (its ports cannot change under it).
fn settings_to_use(
    layout: &StateLayout,
    requested: ClusterConfig,
) -> anyhow::Result<ClusterConfig> {
    let Some(saved) = ClusterConfig::load(layout)? else {
        return Ok(requested);
    };
    let running = cluster_components(&saved, layout)
        .iter()
        .any(|c| process::running_pid(&layout.pid_file(c.name), &c.program).is_some());
    if running && saved != requested {
        eprintln!(
            "warning: a cluster from {} is running with other settings; keeping them (run `corten down` first to change them)",
            layout.root().display()
        );
        return Ok(saved);
    }
    Ok(requested)
}

/// Starts one component unless it runs already; waits until it is ready.
/// Returns whether it was started.
async fn start_component(component: &Component, layout: &StateLayout) -> anyhow::Result<bool> {
    let pid_file = layout.pid_file(component.name);
    if let Some(pid) = process::running_pid(&pid_file, &component.program) {
        println!("{:<16} already running (pid {pid})", component.name);
        wait_ready(component, layout, None).await?;
        return Ok(false);
    }
    if !component.program.is_file() {
        bail!(
            "{} not found at {}: {}",
            component.name,
            component.program.display(),
            component.install_hint
        );
    }
    for port in &component.ports {
        ensure_port_free(*port).with_context(|| format!("cannot start {}", component.name))?;
    }
    let child = process::spawn_detached(&component.process_spec(layout))?;
    println!(
        "{:<16} started (pid {}), log: {}",
        component.name,
        child.id(),
        layout.log_file(component.name).display()
    );
    wait_ready(component, layout, Some(child)).await?;
    Ok(true)
}

fn ensure_port_free(port: u16) -> anyhow::Result<()> {
    TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
        .map(drop)
        .with_context(|| format!("port {port} on 127.0.0.1 is already in use (choose another one with the corresponding --*-port flag)"))
}

/// Polls the readiness probe until it succeeds, the process exits, or the
/// component's timeout passes.
async fn wait_ready(
    component: &Component,
    layout: &StateLayout,
    mut child: Option<Child>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let deadline = started + component.ready_timeout;
    loop {
        if let Some(child) = child.as_mut()
            && let Some(status) = child.try_wait().context("checking the child process")?
        {
            bail!(failure_report(
                component,
                layout,
                &format!("{} exited ({status}) before becoming ready", component.name)
            ));
        }
        let last_error = match component.probe.check(Duration::from_secs(2)).await {
            Ok(_) => {
                println!(
                    "{:<16} ready ({} after {:.1}s)",
                    component.name,
                    component.probe.url(),
                    started.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            Err(err) => {
                tracing::debug!(component = component.name, error = %format!("{err:#}"), "not ready yet");
                format!("{err:#}")
            }
        };
        if Instant::now() >= deadline {
            bail!(failure_report(
                component,
                layout,
                &format!(
                    "{} did not become ready within {}s (last probe: {last_error})",
                    component.name,
                    component.ready_timeout.as_secs()
                )
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn failure_report(component: &Component, layout: &StateLayout, headline: &str) -> String {
    let log = layout.log_file(component.name);
    format!(
        "{headline}\n--- last {LOG_TAIL_LINES} lines of {} ---\n{}\n---\nComponents started before it keep running: `corten status` shows them, `corten down` stops them.",
        log.display(),
        process::log_tail(&log, LOG_TAIL_LINES)
    )
}

fn print_usage(layout: &StateLayout, config: &ClusterConfig) {
    println!("  etcd            {}", config.etcd_url());
    println!("  kube-apiserver  {}", config.apiserver_url());
    println!(
        "State, PKI and logs are in {} (logs/<component>.log).",
        layout.root().display()
    );
    println!("\nTo use the cluster:\n");
    println!(
        "  export KUBECONFIG={}",
        layout.admin_kubeconfig().display()
    );
    println!("  kubectl get namespaces\n");
    println!("Stop it with `corten down` (add --purge to delete its data).");
}
