//! Waiting for the signals that start a graceful shutdown.

use tokio::signal::unix::{SignalKind, signal};

/// Resolves when the process receives SIGTERM or SIGINT, logging which one.
///
/// If a handler cannot be installed (which only happens when the runtime has
/// no signal driver), that signal is logged as unavailable and the future waits
/// for the other one.
pub async fn shutdown_signal() {
    let terminate = wait_for(SignalKind::terminate(), "SIGTERM");
    let interrupt = wait_for(SignalKind::interrupt(), "SIGINT");
    tokio::select! {
        () = terminate => tracing::info!(signal = "SIGTERM", "received SIGTERM, shutting down"),
        () = interrupt => tracing::info!(signal = "SIGINT", "received SIGINT, shutting down"),
    }
}

async fn wait_for(kind: SignalKind, name: &'static str) {
    match signal(kind) {
        Ok(mut stream) => {
            // `recv` returns None only when the driver is gone; treat it as
            // never firing rather than as a signal.
            if stream.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        Err(err) => {
            tracing::error!(signal = name, error = %err, "cannot install signal handler");
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    // One test on purpose: a signal sent by a parallel test in the same
    // process would resolve the other's future.
    #[tokio::test]
    async fn waits_for_and_resolves_on_sigint() {
        // Install a handler before anything sends the signal, so the test
        // process is never killed by the default action.
        let _guard = signal(SignalKind::interrupt()).unwrap();
        let mut waiter = tokio::spawn(shutdown_signal());
        let early = tokio::time::timeout(Duration::from_millis(100), &mut waiter).await;
        assert!(early.is_err(), "shutdown_signal resolved without a signal");

        let sent = std::process::Command::new("kill")
            .args(["-INT", &std::process::id().to_string()])
            .status();
        if !matches!(sent, Ok(status) if status.success()) {
            eprintln!("skipping the signal half: cannot run kill");
            return;
        }
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("shutdown_signal did not resolve on SIGINT")
            .unwrap();
    }
}
