//! The relay's ends of ExaBGP's pipes. ExaBGP starts its API processes with a pipe on stdin and
//! on stdout; read and written as non-blocking pipes on the runtime itself, a command reaches
//! ExaBGP without the hand-over to a blocking thread that tokio's `stdin()` and `stdout()` make
//! for every read and write. Anything else (a terminal, a file, /dev/null) gets those.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::unix::pipe;

/// What the relay reads ExaBGP's answers from.
pub type Input = Box<dyn AsyncRead + Unpin + Send>;
/// What the relay writes commands to.
pub type Output = Box<dyn AsyncWrite + Unpin + Send>;

/// Stdin and stdout, each as a pipe when it is one. Needs a runtime with I/O enabled.
pub fn exabgp_pipes() -> (Input, Output) {
    let input: Input = match reader(io::stdin().as_fd()) {
        Some(pipe) => Box::new(pipe),
        None => Box::new(tokio::io::stdin()),
    };
    let output: Output = match writer(io::stdout().as_fd()) {
        Some(pipe) => Box::new(pipe),
        None => Box::new(tokio::io::stdout()),
    };
    (input, output)
}

/// The read end of a pipe on the runtime; `None` when `fd` is not one.
fn reader(fd: BorrowedFd<'_>) -> Option<pipe::Receiver> {
    own(fd).and_then(pipe::Receiver::from_file).ok()
}

/// The write end of a pipe on the runtime; `None` when `fd` is not one.
fn writer(fd: BorrowedFd<'_>) -> Option<pipe::Sender> {
    own(fd).and_then(pipe::Sender::from_file).ok()
}

/// A second descriptor of the same open pipe: `from_file` refuses anything but a FIFO and makes
/// it non-blocking. Nothing else in the relay reads stdin or writes stdout, so the `O_NONBLOCK`
/// that both descriptors share surprises no one.
fn own(fd: BorrowedFd<'_>) -> io::Result<File> {
    fd.try_clone_to_owned().map(File::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    #[tokio::test]
    async fn pipes_are_used_as_pipes() {
        let (r, w) = std::io::pipe().unwrap();
        let mut tx = writer(w.as_fd()).expect("a pipe's write end");
        let rx = reader(r.as_fd()).expect("a pipe's read end");
        drop((r, w));
        tx.write_all(b"done\n").await.unwrap();
        drop(tx);
        let mut lines = BufReader::new(rx).lines();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("done"));
        assert_eq!(
            lines.next_line().await.unwrap(),
            None,
            "EOF once the writers are gone"
        );
    }

    #[tokio::test]
    async fn anything_else_is_left_to_tokio_stdio() {
        let null = File::open("/dev/null").unwrap();
        assert!(reader(null.as_fd()).is_none());
        let path = std::env::temp_dir().join(format!("kat-stdio-{}", std::process::id()));
        let file = File::create(&path).unwrap();
        assert!(writer(file.as_fd()).is_none());
        std::fs::remove_file(&path).unwrap();
        let (r, w) = std::io::pipe().unwrap();
        assert!(reader(w.as_fd()).is_none(), "a write end is not read");
        assert!(writer(r.as_fd()).is_none(), "a read end is not written");
    }
}
