//! Real rtnetlink in a private network namespace: the healthcheck's address setup and the
//! agent's VIPs, held as addresses or as local routes. Needs root (it fails, never skips,
//! without it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::collections::BTreeSet;
use std::future::Future;

use ipnet::IpNet;

mod addresses;
mod local_routes;

/// Runs `f` on a fresh tokio runtime in a thread that has its own, new network namespace.
fn in_private_netns<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    assert!(
        nix::unistd::geteuid().is_root(),
        "the netlink tests need root (network namespaces)"
    );
    let handle = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(f());
    });
    if let Err(panic) = handle.join() {
        std::panic::resume_unwind(panic);
    }
}

fn nets(items: &[&str]) -> BTreeSet<IpNet> {
    items.iter().map(|s| s.parse().unwrap()).collect()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}
