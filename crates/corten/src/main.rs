//! `corten`: bring a local Corten cluster up, down, and report its status.
//!
//! ```text
//! corten up      [--state-dir DIR] [--etcd-client-port 2379] [--etcd-peer-port 2380]
//!                [--secure-port 6443] [--service-cluster-ip-range 10.96.0.0/12]
//!                [--advertise-address IP]
//! corten down    [--state-dir DIR] [--purge]
//! corten status  [--state-dir DIR]
//! corten pki     [--state-dir DIR] [same flags as up]
//! corten images build [--state-dir DIR] [--output DIR] [--containerd-address SOCK] [--no-import]
//! ```
//!
//! Exit codes: 0 success, 1 failure, 64 bad usage.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use corten_component_base::logging::LoggingOptions;
use corten_component_base::version::GIT_VERSION;

use corten::state::{self, ClusterConfig, StateLayout};
use corten::{down, images, status, up};

/// Exit code for bad usage (BSD `EX_USAGE`).
const EXIT_USAGE: u8 = 64;

/// Run a local Kubernetes cluster made of Corten's components.
#[derive(Parser, Debug)]
#[command(name = "corten", version = GIT_VERSION, propagate_version = true)]
struct Cli {
    /// Directory holding the cluster's PKI, etcd data, logs and pid files.
    #[arg(long, global = true, value_name = "DIR", default_value = ".corten")]
    state_dir: PathBuf,

    #[command(flatten)]
    logging: LoggingOptions,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate PKI if missing, start etcd and kube-apiserver, write admin.kubeconfig.
    Up(UpArgs),
    /// Stop the components (SIGTERM, then SIGKILL after 10s); keep data unless --purge.
    Down(DownArgs),
    /// Show whether each component runs and is ready (exit 1 if not).
    Status,
    /// Only generate the PKI, admin.kubeconfig and cluster.json (for systemd setups).
    Pki(UpArgs),
    /// Local OCI images (pause, busybox, test server) for a machine without a registry.
    #[command(subcommand)]
    Images(ImagesCommand),
}

#[derive(Subcommand, Debug)]
enum ImagesCommand {
    /// Build the images as OCI layout tarballs and import them into containerd.
    Build(images::BuildArgs),
}

#[derive(Args, Debug)]
struct UpArgs {
    /// etcd client port on 127.0.0.1.
    #[arg(long, default_value_t = 2379, value_parser = clap::value_parser!(u16).range(1..))]
    etcd_client_port: u16,
    /// etcd peer port on 127.0.0.1.
    #[arg(long, default_value_t = 2380, value_parser = clap::value_parser!(u16).range(1..))]
    etcd_peer_port: u16,
    /// kube-apiserver HTTPS port on 127.0.0.1.
    #[arg(long, default_value_t = 6443, value_parser = clap::value_parser!(u16).range(1..))]
    secure_port: u16,
    /// CIDR from which Service cluster IPs are allocated.
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cluster_ip_range: ipnet::IpNet,
    /// Address the apiserver advertises (default: the host's primary IP, else 127.0.0.1).
    #[arg(long)]
    advertise_address: Option<IpAddr>,
}

#[derive(Args, Debug)]
struct DownArgs {
    /// Also delete the state directory (PKI, etcd data, logs).
    #[arg(long)]
    purge: bool,
}

/// A problem with the command line that clap cannot detect: exit code 64.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() { EXIT_USAGE } else { 0 };
            // Printing help/usage to the terminal cannot reasonably fail.
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    if let Err(err) = cli.logging.init("corten") {
        eprintln!("Error: {err:#}");
        return ExitCode::from(EXIT_USAGE);
    }
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) if err.downcast_ref::<UsageError>().is_some() => {
            eprintln!("Error: {err:#}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the subcommand; `Ok(false)` means "report failure without an error".
fn run(cli: Cli) -> anyhow::Result<bool> {
    let layout = StateLayout::new(&cli.state_dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Up(args) => {
            let config = cluster_config(&args)?;
            runtime.block_on(up::up(&layout, config))?;
            Ok(true)
        }
        Command::Down(args) => {
            runtime.block_on(down::down(&layout, args.purge))?;
            Ok(true)
        }
        Command::Status => runtime.block_on(status::status(&layout)),
        Command::Images(ImagesCommand::Build(args)) => {
            images::build(&layout, &args)?;
            Ok(true)
        }
        Command::Pki(args) => {
            up::prepare(&layout, cluster_config(&args)?)?;
            println!(
                "PKI in {}, kubeconfig at {}",
                layout.pki_dir().display(),
                layout.admin_kubeconfig().display()
            );
            Ok(true)
        }
    }
}

fn cluster_config(args: &UpArgs) -> anyhow::Result<ClusterConfig> {
    let ports = [
        ("--etcd-client-port", args.etcd_client_port),
        ("--etcd-peer-port", args.etcd_peer_port),
        ("--secure-port", args.secure_port),
    ];
    for (i, (name_a, a)) in ports.iter().enumerate() {
        for (name_b, b) in &ports[i + 1..] {
            if a == b {
                return Err(UsageError(format!(
                    "{name_a} and {name_b} are both {a}; they must differ"
                ))
                .into());
            }
        }
    }
    let range = args.service_cluster_ip_range.trunc();
    if range.hosts().nth(1).is_none() {
        return Err(UsageError(format!("--service-cluster-ip-range {range} is too small")).into());
    }
    let host_ip = state::primary_host_ip();
    let advertise_address = args
        .advertise_address
        .or(host_ip)
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    Ok(ClusterConfig {
        etcd_client_port: args.etcd_client_port,
        etcd_peer_port: args.etcd_peer_port,
        secure_port: args.secure_port,
        service_cluster_ip_range: range,
        advertise_address,
        host_ips: host_ip.into_iter().collect(),
        ..ClusterConfig::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("corten").chain(args.iter().copied()))
    }

    #[test]
    fn up_defaults_match_upstream_ports() {
        let cli = parse(&["up"]).unwrap();
        assert_eq!(cli.state_dir, PathBuf::from(".corten"));
        let Command::Up(args) = cli.command else {
            panic!("not up")
        };
        let config = cluster_config(&args).unwrap();
        assert_eq!(config.etcd_client_port, 2379);
        assert_eq!(config.etcd_peer_port, 2380);
        assert_eq!(config.secure_port, 6443);
        assert_eq!(config.service_cluster_ip_range.to_string(), "10.96.0.0/12");
        assert_eq!(config.first_service_ip(), IpAddr::from([10, 96, 0, 1]));
    }

    #[test]
    fn flags_and_validation() {
        let cli = parse(&[
            "up",
            "--state-dir",
            "/tmp/x",
            "--secure-port",
            "7443",
            "--advertise-address",
            "10.0.0.9",
        ])
        .unwrap();
        assert_eq!(cli.state_dir, PathBuf::from("/tmp/x"));
        let Command::Up(args) = cli.command else {
            panic!("not up")
        };
        let config = cluster_config(&args).unwrap();
        assert_eq!(config.secure_port, 7443);
        assert_eq!(config.advertise_address, IpAddr::from([10, 0, 0, 9]));

        let cli = parse(&["up", "--etcd-client-port", "6443"]).unwrap();
        let Command::Up(args) = cli.command else {
            panic!("not up")
        };
        let err = cluster_config(&args).unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some(), "{err}");

        assert!(parse(&["up", "--secure-port", "0"]).is_err());
        assert!(parse(&["up", "--service-cluster-ip-range", "nope"]).is_err());
        assert!(parse(&["frobnicate"]).is_err());
        let cli = parse(&["down", "--purge"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Down(DownArgs { purge: true })
        ));
        assert!(matches!(
            parse(&["status"]).unwrap().command,
            Command::Status
        ));
    }
}
