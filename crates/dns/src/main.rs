//! corten-dns: flags -> validated config -> serve until SIGTERM.

use clap::Parser;
use corten_component_base::flags::EXIT_USAGE;
use corten_dns::app::{self, COMPONENT};
use corten_dns::options::Options;

fn main() {
    let options = match Options::try_parse() {
        Ok(options) => options,
        Err(err) => {
            let code = if err.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = err.print();
            std::process::exit(code);
        }
    };
    if let Err(err) = options.logging.init(COMPONENT) {
        eprintln!("Error: {err:#}");
        std::process::exit(EXIT_USAGE);
    }
    let config = match options.complete() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("Error: {err}");
            std::process::exit(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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
        |_| {},
    ));
    if let Err(err) = result {
        tracing::error!("{err:#}");
        eprintln!("Error: {err:#}");
        std::process::exit(1);
    }
}
