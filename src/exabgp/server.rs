//! The agent's end of the relay: a unix socket that the relay connects to. One relay at a time;
//! a newer connection replaces the older (ExaBGP restarted and started a new relay).

use std::path::{Path, PathBuf};

use tokio::net::UnixListener;
use tokio::sync::watch;

use super::driver::{Applied, Desired, DriverConfig, SessionEnd, run_session};
use super::held::Held;

/// The socket could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("failed to listen on the relay socket {path}: {source}")]
pub struct ListenError {
    /// The socket path.
    pub path: PathBuf,
    /// Cause.
    #[source]
    pub source: std::io::Error,
}

/// Binds the socket, replacing a stale socket file left by an earlier run.
pub fn listen(path: &Path) -> Result<UnixListener, ListenError> {
    let err = |source| ListenError {
        path: path.to_owned(),
        source,
    };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    UnixListener::bind(path).map_err(err)
}

/// Serves relays until the desired RIB's sender is dropped.
pub async fn serve(
    listener: UnixListener,
    mut desired_rx: watch::Receiver<Option<Desired>>,
    applied_tx: watch::Sender<Applied>,
    config: DriverConfig,
) {
    // What ExaBGP may hold from earlier relays: a relay that ExaBGP started again does not know.
    let mut held = Held::default();
    let mut next = listener.accept().await;
    loop {
        let stream = match next {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "failed to accept a relay connection");
                next = listener.accept().await;
                continue;
            }
        };
        tracing::info!("relay connected; replaying the desired routes");
        let (r, w) = stream.into_split();
        tokio::select! {
            end = run_session(r, w, &mut desired_rx, &applied_tx, &mut held, config) => {
                if matches!(end, SessionEnd::Stopped) {
                    return;
                }
                tracing::warn!(reason = %end, "relay session ended");
                next = listener.accept().await;
            }
            newer = listener.accept() => {
                tracing::info!("a newer relay connected; dropping the older one");
                next = newer;
            }
        }
    }
}
