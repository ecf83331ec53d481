//! kube-controller-manager: flags -> validated config -> run until SIGTERM.

use clap::{CommandFactory, Parser};
use corten_component_base::flags::{EXIT_USAGE, exit_on_unsupported_flags};
use corten_component_base::upstream_flags::KUBE_CONTROLLER_MANAGER_UPSTREAM_FLAGS;
use corten_controller_manager::app::{self, COMPONENT};
use corten_controller_manager::options::Options;

fn main() {
    exit_on_unsupported_flags(
        &Options::command(),
        KUBE_CONTROLLER_MANAGER_UPSTREAM_FLAGS,
        COMPONENT,
    );
    let options = match Options::try_parse() {
        Ok(options) => options,
        Err(err) => {
            let code = if err.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = err.print();
            std::process::exit(code);
        }
    };
    let gates = options.feature_gates.gates_or_exit();
    if let Err(err) = options.logging.init(COMPONENT) {
        eprintln!("Error: {err:#}");
        std::process::exit(EXIT_USAGE);
    }
    corten_component_base::feature_gates::install(gates);
    let config = match options.complete() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("Error: {err}");
            std::process::exit(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("Error: starting the runtime: {err}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(app::run(
        config,
        corten_component_base::signals::shutdown_signal(),
    ));
    if let Err(err) = result {
        tracing::error!("{err:#}");
        eprintln!("Error: {err:#}");
        std::process::exit(1);
    }
}
