//! What the control plane takes from the host: binaries, a temp dir, free ports, randomness.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write as _};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

const VERSIONS_ENV: &str = include_str!("../../../scripts/controlplane/versions.env");
/// Temp dirs are named `kat-cp-<pid>-<random>`, so leftovers of dead processes can be swept.
const DIR_PREFIX: &str = "kat-cp-";

/// The repository: `cargo test` sets `CARGO_MANIFEST_DIR` when it runs a test. Preferred to
/// the compile-time value, which names whichever checkout last built a shared target dir.
pub fn repo_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// `$KAT_CP_BIN`, else `$KAT_CP_CACHE/k8s-<version>/bin` as build.sh fills it; checked.
pub fn binary_dir() -> Result<PathBuf, String> {
    let dir = if let Some(dir) = std::env::var_os("KAT_CP_BIN") {
        PathBuf::from(dir)
    } else {
        cache_dir()?
            .join(format!("k8s-{}", k8s_version()?))
            .join("bin")
    };
    for name in ["etcd", "kube-apiserver"] {
        if !dir.join(name).is_file() {
            return Err(format!(
                "{name} not found in {}: run scripts/controlplane/build.sh first \
                 (about 5 minutes once, then cached), or point KAT_CP_BIN at a directory \
                 with etcd and kube-apiserver",
                dir.display()
            ));
        }
    }
    Ok(dir)
}

/// The same default as scripts/controlplane/build.sh.
fn cache_dir() -> Result<PathBuf, String> {
    if let Some(cache) = std::env::var_os("KAT_CP_CACHE") {
        return Ok(PathBuf::from(cache));
    }
    if let Some(cache) = std::env::var_os("KAT_CACHE") {
        return Ok(Path::new(&cache).join("controlplane"));
    }
    let home = std::env::var_os("HOME").ok_or("none of KAT_CP_BIN, KAT_CP_CACHE, HOME is set")?;
    Ok(Path::new(&home).join(".cache/kube-anycast/controlplane"))
}

/// `$KAT_K8S_VERSION`, else the default pinned in scripts/controlplane/versions.env.
pub fn k8s_version() -> Result<String, String> {
    if let Ok(v) = std::env::var("KAT_K8S_VERSION") {
        return Ok(v);
    }
    // The line reads: KAT_K8S_VERSION="${KAT_K8S_VERSION:-v1.36.5}"
    VERSIONS_ENV
        .lines()
        .find_map(|l| l.trim().strip_prefix("KAT_K8S_VERSION="))
        .and_then(|v| v.split(":-").nth(1))
        .map(|v| v.trim_end_matches(['}', '"']).to_owned())
        .ok_or_else(|| "no KAT_K8S_VERSION default in scripts/controlplane/versions.env".into())
}

/// A new private dir under the system temp dir, after sweeping leftovers of dead processes.
pub fn fresh_temp_dir() -> Result<PathBuf, String> {
    let base = std::env::temp_dir();
    sweep_stale_dirs(&base);
    let dir = base.join(format!(
        "{DIR_PREFIX}{}-{}",
        std::process::id(),
        random_hex(4)
    ));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Removes `kat-cp-<pid>-*` dirs whose process is gone (say, its janitor was killed).
fn sweep_stale_dirs(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or_default();
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Three distinct free loopback ports, below the ephemeral range (so no outgoing connection
/// can hold them) and not used by any socket in any state.
pub fn free_ports() -> Result<[u16; 3], String> {
    let low: u16 = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .filter(|&p| p > 12000)
        .unwrap_or(32768);
    let mut used = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let local = line.split_whitespace().nth(1).unwrap_or_default();
            let port = local
                .rsplit(':')
                .next()
                .and_then(|h| u16::from_str_radix(h, 16).ok());
            used.extend(port);
        }
    }
    let mut picked = Vec::new();
    for _ in 0..1000 {
        let Ok(offset) = u16::try_from(random_u64() % u64::from(low - 10000)) else {
            continue;
        };
        let port = 10000 + offset;
        if used.contains(&port) || picked.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            picked.push(port);
            if let Ok(ports) = <[u16; 3]>::try_from(picked.as_slice()) {
                return Ok(ports);
            }
        }
    }
    Err("no free loopback ports found".into())
}

/// A kubeconfig for tools (`kubectl`, `helm`) that tests may run.
pub fn kubeconfig(server: &str, ca: &Path, user: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kat-test\n  cluster:\n    \
         server: {server}\n    certificate-authority: {ca}\nusers:\n- name: {user}\n  user:\n    \
         token: {token}\ncontexts:\n- name: {user}\n  context:\n    cluster: kat-test\n    \
         user: {user}\ncurrent-context: {user}\n",
        ca = ca.display()
    )
}

/// Writes a new file readable by the owner only (tokens, kubeconfigs).
pub fn write_private(path: &Path, text: &str) -> Result<(), String> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    if let Err(e) = fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)) {
        panic!("reading /dev/urandom: {e}");
    }
    buf
}

fn random_u64() -> u64 {
    random_bytes(8)
        .iter()
        .fold(0, |acc, &b| acc << 8 | u64::from(b))
}

/// `bytes` random bytes as lowercase hex (tokens, unique names).
pub fn random_hex(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes * 2);
    for b in random_bytes(bytes) {
        let _ = write!(out, "{b:02x}");
    }
    out
}
