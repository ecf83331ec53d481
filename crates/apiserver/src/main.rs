//! kube-apiserver: flags -> validated config -> run until SIGTERM.

use clap::{CommandFactory, Parser};
use corten_apiserver::options::Options;
use corten_component_base::flags::{EXIT_USAGE, exit_on_unsupported_flags};
use corten_component_base::upstream_flags::KUBE_APISERVER_UPSTREAM_FLAGS;

// Every request allocates many small, short-lived objects on all worker
// threads; glibc malloc spent ~40% of the apiserver's CPU on them
// (`_int_malloc`, `malloc_consolidate`) under `make bench-apiserver`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    exit_on_unsupported_flags(
        &Options::command(),
        KUBE_APISERVER_UPSTREAM_FLAGS,
        "kube-apiserver",
    );
    let options = Options::parse();
    let gates = options.feature_gates.gates_or_exit();
    if let Err(e) = options.logging.init("kube-apiserver") {
        eprintln!("Error: {e:#}");
        std::process::exit(EXIT_USAGE);
    }
    corten_component_base::feature_gates::install(gates);
    let config = match options.complete() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::exit(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: starting the runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(corten_apiserver::run(
        config,
        corten_component_base::signals::shutdown_signal(),
    ));
    if let Err(e) = result {
        tracing::error!("{e:#}");
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}
