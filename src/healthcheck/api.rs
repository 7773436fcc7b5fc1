//! The healthcheck's side of ExaBGP's API pipe: write a line, flush it, and read one
//! acknowledgement line from stdin unless told not to (ExaBGP ignores its content).

use std::io::{BufRead, IsTerminal, Write};

use tokio::sync::mpsc;

/// ExaBGP went away.
#[derive(Debug, thiserror::Error)]
#[error("failed to write to ExaBGP (stdout): {0}")]
pub struct ApiClosed(#[source] pub std::io::Error);

/// Writes commands to stdout and waits for ExaBGP's acknowledgements on stdin.
#[derive(Debug)]
pub struct Api {
    acks: Option<mpsc::Receiver<()>>,
}

impl Api {
    /// Reads acknowledgements unless `no_ack` is set or stdout is a terminal (as ExaBGP does).
    pub fn new(no_ack: bool) -> Self {
        let wait = !no_ack && !std::io::stdout().is_terminal();
        Api {
            acks: wait.then(spawn_ack_reader),
        }
    }

    /// Writes one line (with its newline) and waits for its acknowledgement. At EOF on stdin
    /// there is nothing to wait for.
    pub async fn send(&mut self, line: &str) -> Result<(), ApiClosed> {
        let mut out = std::io::stdout().lock();
        out.write_all(line.as_bytes())
            .and_then(|()| out.flush())
            .map_err(ApiClosed)?;
        drop(out);
        if let Some(acks) = &mut self.acks
            && acks.recv().await.is_none()
        {
            self.acks = None;
        }
        Ok(())
    }
}

/// A thread that turns each stdin line into one acknowledgement; it ends at EOF.
fn spawn_ack_reader() -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = String::new();
        let mut lock = stdin.lock();
        loop {
            line.clear();
            match lock.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.blocking_send(()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}
