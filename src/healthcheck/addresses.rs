//! The healthcheck's service IPs on local interfaces: discovery by label, setup of the missing
//! ones, and removal at exit of only those it added (ExaBGP also deletes addresses it never
//! added; not doing so is a deliberate safety difference).

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::announce::{TooLarge, expand_all};
use super::log::Logger;
use crate::netlink::{AddressError, Addresses, LinkAddress};

/// The loopback interface.
pub const LOOPBACK: &str = "lo";

/// A bad `--ip-ifname` value.
#[derive(Debug, thiserror::Error)]
pub enum IfnameError {
    /// Not `IP%IFNAME`.
    #[error("--ip-ifname {0:?}: expected IP%IFNAME")]
    Form(String),
    /// The IP is not one of the `--ip` values.
    #[error("--ip-ifname {0:?}: no --ip has this address")]
    NoSuchIp(String),
    /// The interface name is not valid.
    #[error("--ip-ifname {0:?}: invalid interface name")]
    Name(String),
}

/// Parses `--ip-ifname` values against the `--ip` list.
pub fn parse_ip_ifnames(
    values: &[String],
    ips: &[IpNet],
) -> Result<BTreeMap<IpNet, String>, IfnameError> {
    let mut map = BTreeMap::new();
    for v in values {
        let mut parts = v.split('%');
        let (Some(ip), Some(ifname), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(IfnameError::Form(v.clone()));
        };
        let ip = super::values::parse_network(ip).map_err(|_| IfnameError::Form(v.clone()))?;
        if !ips.contains(&ip) {
            return Err(IfnameError::NoSuchIp(v.clone()));
        }
        let valid = (1..=15).contains(&ifname.len())
            && ifname
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
        if !valid {
            return Err(IfnameError::Name(v.clone()));
        }
        map.insert(ip, ifname.to_owned());
    }
    Ok(map)
}

/// How addresses are selected and created.
#[derive(Debug, Clone)]
pub struct Selection {
    /// `--label`.
    pub label: Option<String>,
    /// `--label-exact-match`.
    pub exact: bool,
}

impl Selection {
    /// The kernel label for an interface (`lo:web`), when a label is set.
    fn kernel_label(&self, link: &str) -> Option<String> {
        self.label.as_ref().map(|l| format!("{link}:{l}"))
    }

    fn selects(&self, link: &str, a: &LinkAddress) -> bool {
        let Some(want) = &self.label else { return true };
        let Some(label) = a
            .label
            .as_deref()
            .and_then(|l| l.strip_prefix(link))
            .and_then(|l| l.strip_prefix(':'))
        else {
            return false;
        };
        if self.exact {
            label == want
        } else {
            label.starts_with(want.as_str())
        }
    }
}

/// Failure of IP discovery or setup.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Netlink failed.
    #[error(transparent)]
    Netlink(#[from] AddressError),
    /// A network too large to expand.
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
}

/// The addresses of the configured interfaces and the ones this process added.
#[derive(Debug)]
pub struct ServiceIps {
    netlink: Addresses,
    selection: Selection,
    ifnames: BTreeMap<IpNet, String>,
    added: Vec<(String, IpNet)>,
}

impl ServiceIps {
    /// Opens netlink.
    pub fn new(selection: Selection, ifnames: BTreeMap<IpNet, String>) -> Result<Self, SetupError> {
        Ok(ServiceIps {
            netlink: Addresses::connect()?,
            selection,
            ifnames,
            added: Vec::new(),
        })
    }

    fn links(&self) -> Vec<String> {
        let mut links = vec![LOOPBACK.to_owned()];
        for l in self.ifnames.values() {
            if !links.contains(l) {
                links.push(l.clone());
            }
        }
        links
    }

    /// The selected service addresses: whole networks (no host bits), not loopback, label-matched.
    pub async fn discover(&self, log: &Logger) -> Result<Vec<IpNet>, SetupError> {
        log.debug("Retrieve IP addresses for loopback and ip-ifname interfaces");
        let mut found = Vec::new();
        for link in self.links() {
            for a in self.netlink.list(&link).await? {
                let usable = a.prefix.trunc() == a.prefix && !a.prefix.addr().is_loopback();
                if usable && self.selection.selects(&link, &a) {
                    found.push(a.prefix);
                }
            }
        }
        Ok(found)
    }

    /// Adds every host address of `ips` that is missing; returns how many were added.
    pub async fn setup(&mut self, ips: &[IpNet], log: &Logger) -> Result<usize, SetupError> {
        let present = self.discover(log).await?;
        let mut count = 0;
        for host in expand_all(ips)? {
            if present.contains(&host) || self.added.iter().any(|(_, p)| *p == host) {
                continue;
            }
            let link = self
                .ifnames
                .get(&host)
                .cloned()
                .unwrap_or_else(|| LOOPBACK.to_owned());
            log.debug(format!("Setup {link} IP address {host}"));
            let label = self.selection.kernel_label(&link);
            match self.netlink.add(&link, host, label.as_deref()).await {
                Ok(()) => {
                    self.added.push((link, host));
                    count += 1;
                }
                // Like ExaBGP with `ip` exit status 2: an address that exists or cannot be added
                // is not fatal, the route is still announced.
                Err(e) => log.warning(format!("Unable to add {link} IP address {host}: {e}")),
            }
        }
        Ok(count)
    }

    /// Removes the addresses this process added.
    pub async fn remove_added(&mut self, log: &Logger) {
        for (link, host) in std::mem::take(&mut self.added) {
            log.debug(format!("Remove {link} IP address {host}"));
            if let Err(e) = self.netlink.remove(&link, host).await {
                log.warning(format!("Unable to remove {link} IP address {host}: {e}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_ifname_rules() {
        let ips = vec!["192.0.2.1/32".parse().unwrap()];
        let ok = parse_ip_ifnames(&["192.0.2.1%eth0".into()], &ips).unwrap();
        assert_eq!(ok.values().next().map(String::as_str), Some("eth0"));
        assert!(matches!(
            parse_ip_ifnames(&["192.0.2.1".into()], &ips),
            Err(IfnameError::Form(_))
        ));
        assert!(matches!(
            parse_ip_ifnames(&["192.0.2.2%eth0".into()], &ips),
            Err(IfnameError::NoSuchIp(_))
        ));
        assert!(matches!(
            parse_ip_ifnames(&["192.0.2.1%eth0/x".into()], &ips),
            Err(IfnameError::Name(_))
        ));
    }

    #[test]
    fn label_selection() {
        let a = |l: Option<&str>| LinkAddress {
            prefix: "192.0.2.1/32".parse().unwrap(),
            label: l.map(Into::into),
            protocol: None,
        };
        let prefix = Selection {
            label: Some("web".into()),
            exact: false,
        };
        assert!(prefix.selects("lo", &a(Some("lo:web1"))));
        assert!(!prefix.selects("lo", &a(Some("lo"))));
        assert!(!prefix.selects("lo", &a(None)));
        let exact = Selection {
            label: Some("web".into()),
            exact: true,
        };
        assert!(!exact.selects("lo", &a(Some("lo:web1"))));
        assert!(exact.selects("lo", &a(Some("lo:web"))));
        assert!(
            Selection {
                label: None,
                exact: false
            }
            .selects("lo", &a(None))
        );
    }
}
