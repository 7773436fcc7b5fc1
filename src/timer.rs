//! Deadlines that may be absent, for `tokio::select!` loops.

use tokio::time::Instant;

/// Sleeps until `deadline`, or forever when there is none (so a `select!` branch on it never
/// fires).
pub async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
