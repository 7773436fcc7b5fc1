//! Probes: native TCP connect and HTTP(S) GET (no fork), and programs ([`exec`]). Each returns
//! whether it passed and a short reason when it did not.

pub mod exec;
pub mod schedule;

use std::sync::OnceLock;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A probe definition that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeConfigError {
    /// The URL is not http(s)://host[:port]/path.
    #[error("invalid URL {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The status range is not `LOW-HIGH` or `CODE` within 100-599.
    #[error("invalid status range {0:?}: expected CODE or LOW-HIGH within 100-599")]
    StatusRange(String),
    /// The TCP target is not `HOST:PORT`.
    #[error("invalid TCP target {0:?}: expected HOST:PORT")]
    TcpTarget(String),
}

/// A failed probe: what went wrong, for logs and status.
pub type Failure = String;

/// An inclusive range of accepted HTTP status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    /// Lowest accepted code.
    pub low: u16,
    /// Highest accepted code.
    pub high: u16,
}

impl std::str::FromStr for StatusRange {
    type Err = ProbeConfigError;
    fn from_str(s: &str) -> Result<Self, ProbeConfigError> {
        let bad = || ProbeConfigError::StatusRange(s.to_owned());
        let (lo, hi) = s.split_once('-').unwrap_or((s, s));
        let low: u16 = lo.trim().parse().map_err(|_| bad())?;
        let high: u16 = hi.trim().parse().map_err(|_| bad())?;
        if (100..=599).contains(&low) && (low..=599).contains(&high) {
            Ok(StatusRange { low, high })
        } else {
            Err(bad())
        }
    }
}

type HttpsConnector =
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// The connector every HTTP(S) probe starts from. Building one loads and parses the system's
/// root certificates, milliseconds of CPU; the agent builds its probe jobs again on every
/// change, so that was once per HTTP probe and change (100 probes took most of a core). Only
/// the connector is shared: each probe keeps its own client, whose pooled connections belong
/// to the runtime that made them.
fn shared_connector() -> Result<HttpsConnector, String> {
    static CONNECTOR: OnceLock<Result<HttpsConnector, String>> = OnceLock::new();
    CONNECTOR
        .get_or_init(|| {
            Ok(hyper_rustls::HttpsConnectorBuilder::new()
                .with_native_roots()
                .map_err(|e| format!("no TLS root certificates: {e}"))?
                .https_or_http()
                .enable_http1()
                .build())
        })
        .clone()
}

/// An HTTP(S) GET probe with a reusable connection pool.
#[derive(Clone, Debug)]
pub struct HttpProbe {
    uri: hyper::Uri,
    expect: StatusRange,
    body_contains: Option<String>,
    client: Client<HttpsConnector, Empty<Bytes>>,
}

impl HttpProbe {
    /// A probe of `url` accepting `expect`; `body_contains` also requires this text in the body.
    pub fn new(
        url: &str,
        expect: StatusRange,
        body_contains: Option<String>,
    ) -> Result<Self, ProbeConfigError> {
        let bad = |reason: &str| ProbeConfigError::Url {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: hyper::Uri = url.parse().map_err(|_| bad("not a URI"))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(bad("the scheme must be http or https")),
        }
        if uri.host().is_none() {
            return Err(bad("no host"));
        }
        let connector = shared_connector().map_err(|e| bad(&e))?;
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(HttpProbe {
            uri,
            expect,
            body_contains,
            client,
        })
    }

    /// Runs the probe once.
    pub async fn run(&self, timeout: Option<Duration>) -> Result<(), Failure> {
        with_timeout(timeout, async {
            let resp = self
                .client
                .get(self.uri.clone())
                .await
                .map_err(|e| format!("GET {}: {e}", self.uri))?;
            let status = resp.status().as_u16();
            if !(self.expect.low..=self.expect.high).contains(&status) {
                return Err(format!("GET {}: status {status}", self.uri));
            }
            if let Some(needle) = &self.body_contains {
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| format!("GET {}: {e}", self.uri))?;
                if !String::from_utf8_lossy(&body.to_bytes()).contains(needle.as_str()) {
                    return Err(format!("GET {}: body lacks {needle:?}", self.uri));
                }
            }
            Ok(())
        })
        .await
    }
}

/// A TCP connect probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpProbe {
    target: String,
}

impl TcpProbe {
    /// A probe of `HOST:PORT`.
    pub fn new(target: &str) -> Result<Self, ProbeConfigError> {
        let ok = target
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if ok {
            Ok(TcpProbe {
                target: target.to_owned(),
            })
        } else {
            Err(ProbeConfigError::TcpTarget(target.to_owned()))
        }
    }

    /// Runs the probe once: a connection that opens passes.
    pub async fn run(&self, timeout: Option<Duration>) -> Result<(), Failure> {
        with_timeout(timeout, async {
            tokio::net::TcpStream::connect(self.target.as_str())
                .await
                .map(drop)
                .map_err(|e| format!("connect {}: {e}", self.target))
        })
        .await
    }
}

async fn with_timeout(
    timeout: Option<Duration>,
    probe: impl Future<Output = Result<(), Failure>>,
) -> Result<(), Failure> {
    match timeout {
        Some(t) => tokio::time::timeout(t, probe)
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {t:?}"))),
        None => probe.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_ranges() {
        assert_eq!(
            "200-399".parse(),
            Ok(StatusRange {
                low: 200,
                high: 399
            })
        );
        assert_eq!(
            "204".parse(),
            Ok(StatusRange {
                low: 204,
                high: 204
            })
        );
        for bad in ["99", "300-200", "x", "200-600"] {
            assert!(bad.parse::<StatusRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn config_errors_name_the_value() {
        assert!(TcpProbe::new("127.0.0.1").is_err());
        assert!(TcpProbe::new("[::1]:53").is_ok());
        let e = HttpProbe::new(
            "ftp://x/",
            StatusRange {
                low: 200,
                high: 200,
            },
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("ftp://x/"));
    }

    #[tokio::test]
    async fn tcp_and_http_probes_against_a_local_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = [0u8; 1024];
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    let path_ok = String::from_utf8_lossy(&buf[..n]).starts_with("GET /ok ");
                    let resp = if path_ok {
                        "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"
                    } else {
                        "HTTP/1.1 503 No\r\ncontent-length: 0\r\n\r\n"
                    };
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        let t = Some(Duration::from_secs(2));
        assert!(
            TcpProbe::new(&addr.to_string())
                .unwrap()
                .run(t)
                .await
                .is_ok()
        );
        let range = StatusRange {
            low: 200,
            high: 399,
        };
        let ok = HttpProbe::new(&format!("http://{addr}/ok"), range, Some("hell".into())).unwrap();
        assert_eq!(ok.run(t).await, Ok(()));
        let wrong_body =
            HttpProbe::new(&format!("http://{addr}/ok"), range, Some("bye".into())).unwrap();
        assert!(wrong_body.run(t).await.is_err());
        let down = HttpProbe::new(&format!("http://{addr}/down"), range, None).unwrap();
        assert!(down.run(t).await.unwrap_err().contains("status 503"));
        // A closed port fails.
        drop(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
        assert!(TcpProbe::new("127.0.0.1:1").unwrap().run(t).await.is_err());
    }
}
