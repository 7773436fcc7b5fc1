//! Service IPs on a local interface through rtnetlink (never by running `ip`).
//!
//! [`Addresses::connect`] spawns the netlink connection task and returns a cheap handle; every
//! operation names the interface and prefix it failed on.

use std::net::IpAddr;

use futures::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::Handle;
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressProtocol,
};

pub mod local_routes;
pub mod vips;

/// An address operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    /// The netlink socket could not be opened.
    #[error("failed to open a netlink socket: {0}")]
    Connect(#[source] std::io::Error),
    /// No such interface, or the lookup failed.
    #[error("failed to find interface {link}: {reason}")]
    FindLink {
        /// Interface name.
        link: String,
        /// Why.
        reason: String,
    },
    /// Listing the addresses failed.
    #[error("failed to list the addresses of {link}: {source}")]
    List {
        /// Interface name.
        link: String,
        /// Cause.
        #[source]
        source: rtnetlink::Error,
    },
    /// Adding an address failed.
    #[error("failed to add {prefix} to {link}: {source}")]
    Add {
        /// The address.
        prefix: IpNet,
        /// Interface name.
        link: String,
        /// Cause.
        #[source]
        source: rtnetlink::Error,
    },
    /// Listing the local routes failed.
    #[error("failed to list the local routes (for {link}): {source}")]
    ListRoutes {
        /// Interface name.
        link: String,
        /// Cause.
        #[source]
        source: rtnetlink::Error,
    },
    /// Adding a local route failed.
    #[error("failed to add the local route {prefix} on {link}: {source}")]
    AddRoute {
        /// The address.
        prefix: IpNet,
        /// Interface name.
        link: String,
        /// Cause.
        #[source]
        source: rtnetlink::Error,
    },
    /// Removing a local route failed.
    #[error("failed to remove the local route {prefix} on {link}: {source}")]
    RemoveRoute {
        /// The address.
        prefix: IpNet,
        /// Interface name.
        link: String,
        /// Cause.
        #[source]
        source: rtnetlink::Error,
    },
    /// Removing an address failed.
    #[error("failed to remove {prefix} from {link}: {source}")]
    Remove {
        /// The address.
        prefix: IpNet,
        /// Interface name.
        link: String,
        /// Cause.
        #[source]
        source: rtnetlink::Error,
    },
}

/// An address found on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkAddress {
    /// Address and prefix length.
    pub prefix: IpNet,
    /// Its label (`lo:web`), IPv4 only; `None` when it has none.
    pub label: Option<String>,
    /// Its `IFA_PROTO` marker: who added it (see [`vips::PROTO_KUBE_ANYCAST`]).
    pub protocol: Option<u8>,
}

/// A handle on the kernel's addresses; cheap to clone.
#[derive(Clone, Debug)]
pub struct Addresses {
    handle: Handle,
}

impl Addresses {
    /// Opens a netlink socket and spawns its connection task on the current tokio runtime. The
    /// socket asks for strict checking, so that the kernel filters route dumps by table and
    /// type instead of sending every table; kernels before 4.20 lack it and send everything,
    /// which the parsing filters out just the same.
    pub fn connect() -> Result<Self, AddressError> {
        let (connection, handle, _) = rtnetlink::new_connection_with_strict_check()
            .or_else(|_| rtnetlink::new_connection())
            .map_err(AddressError::Connect)?;
        tokio::spawn(connection);
        Ok(Addresses { handle })
    }

    /// The index of an interface.
    pub async fn link_index(&self, link: &str) -> Result<u32, AddressError> {
        let find = |reason: String| AddressError::FindLink {
            link: link.to_owned(),
            reason,
        };
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(link.to_owned())
            .execute();
        match links.try_next().await {
            Ok(Some(msg)) => Ok(msg.header.index),
            Ok(None) => Err(find("no such interface".into())),
            Err(e) => Err(find(e.to_string())),
        }
    }

    /// Every address on an interface, in the kernel's order.
    pub async fn list(&self, link: &str) -> Result<Vec<LinkAddress>, AddressError> {
        let index = self.link_index(link).await?;
        self.list_at(link, index).await
    }

    /// Every address on the interface with this index (no lookup by name; `link` names it in
    /// errors).
    pub async fn list_at(&self, link: &str, index: u32) -> Result<Vec<LinkAddress>, AddressError> {
        let list = |source| AddressError::List {
            link: link.to_owned(),
            source,
        };
        let mut stream = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        let mut found = Vec::new();
        while let Some(msg) = stream.try_next().await.map_err(list)? {
            if let Some(a) = to_link_address(&msg) {
                found.push(a);
            }
        }
        Ok(found)
    }

    /// Adds an address (IPv6 without duplicate address detection); `label` is the whole label,
    /// e.g. `lo:web`, and applies to IPv4 only.
    pub async fn add(
        &self,
        link: &str,
        prefix: IpNet,
        label: Option<&str>,
    ) -> Result<(), AddressError> {
        self.add_marked(link, prefix, label, None).await
    }

    /// Like [`Addresses::add`], also marking the address with an `IFA_PROTO` value, so that it
    /// can be told apart from addresses others added (both families; labels are IPv4 only).
    pub async fn add_marked(
        &self,
        link: &str,
        prefix: IpNet,
        label: Option<&str>,
        protocol: Option<u8>,
    ) -> Result<(), AddressError> {
        let index = self.link_index(link).await?;
        self.add_at(link, index, prefix, label, protocol).await
    }

    /// Adds an address to the interface with this index (no lookup by name: for bulk changes).
    pub async fn add_at(
        &self,
        link: &str,
        index: u32,
        prefix: IpNet,
        label: Option<&str>,
        protocol: Option<u8>,
    ) -> Result<(), AddressError> {
        let mut req = self
            .handle
            .address()
            .add(index, prefix.addr(), prefix.prefix_len());
        let msg = req.message_mut();
        if prefix.addr().is_ipv6() {
            msg.header.flags |= AddressHeaderFlags::Nodad;
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        if let Some(proto) = protocol {
            msg.attributes
                .push(AddressAttribute::Protocol(AddressProtocol::from(proto)));
        }
        if let (Some(label), IpAddr::V4(_)) = (label, prefix.addr()) {
            msg.attributes
                .push(AddressAttribute::Label(label.to_owned()));
        }
        req.execute().await.map_err(|source| AddressError::Add {
            prefix,
            link: link.to_owned(),
            source,
        })
    }

    /// Removes an address.
    pub async fn remove(&self, link: &str, prefix: IpNet) -> Result<(), AddressError> {
        let index = self.link_index(link).await?;
        self.remove_at(link, index, prefix).await
    }

    /// Removes an address from the interface with this index (no lookup by name).
    pub async fn remove_at(
        &self,
        link: &str,
        index: u32,
        prefix: IpNet,
    ) -> Result<(), AddressError> {
        let mut msg = AddressMessage::default();
        msg.header.family = match prefix.addr() {
            IpAddr::V4(_) => rtnetlink::packet_route::AddressFamily::Inet,
            IpAddr::V6(_) => rtnetlink::packet_route::AddressFamily::Inet6,
        };
        msg.header.prefix_len = prefix.prefix_len();
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(prefix.addr()));
        msg.attributes
            .push(AddressAttribute::Address(prefix.addr()));
        self.handle
            .address()
            .del(msg)
            .execute()
            .await
            .map_err(|source| AddressError::Remove {
                prefix,
                link: link.to_owned(),
                source,
            })
    }
}

fn to_link_address(msg: &AddressMessage) -> Option<LinkAddress> {
    let mut addr = None;
    let mut label = None;
    let mut protocol = None;
    for attr in &msg.attributes {
        match attr {
            // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on p2p links.
            AddressAttribute::Local(ip) => addr = Some(*ip),
            AddressAttribute::Address(ip) if addr.is_none() => addr = Some(*ip),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            AddressAttribute::Protocol(p) => protocol = Some(u8::from(*p)),
            _ => {}
        }
    }
    let prefix = IpNet::new(addr?, msg.header.prefix_len).ok()?;
    Some(LinkAddress {
        prefix,
        label,
        protocol,
    })
}
