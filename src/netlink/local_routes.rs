//! Local routes in the kernel's `local` table ("AnyIP"): a `local X/32 dev lo` route makes the node
//! accept traffic for X without X being an address of any interface. The kernel adds one in
//! time that does not grow with their number, where an IPv4 address costs time linear in the
//! addresses already on the interface (see docs/operations.md, "Service IPs on the node").

use std::net::IpAddr;

use futures::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};

use super::{AddressError, Addresses};

/// The kernel's `local` routing table.
const TABLE_LOCAL: u8 = 255;

/// A host route of type `local` found in the `local` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRoute {
    /// The host prefix (/32 or /128).
    pub prefix: IpNet,
    /// The output interface's index.
    pub link_index: Option<u32>,
    /// Who added it (`proto`): the kernel for an interface's own addresses, or a marker.
    pub protocol: u8,
}

impl Addresses {
    /// Every host route of type `local` in the `local` table, both families, whatever the
    /// interface (an address of any interface has one). The kernel filters by table and type
    /// (strict checking, set on the socket from Linux 4.20), so a node holding a full Internet
    /// table in `main` pays nothing for it here; older kernels send every table, filtered here.
    pub async fn list_local_routes(&self, link: &str) -> Result<Vec<LocalRoute>, AddressError> {
        let mut found = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut filter = RouteMessage::default();
            filter.header.address_family = family;
            filter.header.table = TABLE_LOCAL;
            filter.header.kind = RouteType::Local;
            let mut stream = self.handle.route().get(filter).execute();
            let list = |source| AddressError::ListRoutes {
                link: link.to_owned(),
                source,
            };
            while let Some(msg) = stream.try_next().await.map_err(list)? {
                if let Some(route) = to_local_route(&msg) {
                    found.push(route);
                }
            }
        }
        Ok(found)
    }

    /// Adds `local <prefix> dev <index> table local proto <protocol>`.
    pub async fn add_local_route_at(
        &self,
        link: &str,
        index: u32,
        prefix: IpNet,
        protocol: u8,
    ) -> Result<(), AddressError> {
        let msg = local_route(index, prefix, protocol);
        let request = self.handle.route().add(msg);
        request
            .execute()
            .await
            .map_err(|source| AddressError::AddRoute {
                prefix,
                link: link.to_owned(),
                source,
            })
    }

    /// Removes the local route to `prefix` on this interface, only if it carries `protocol`
    /// (the kernel compares it).
    pub async fn remove_local_route_at(
        &self,
        link: &str,
        index: u32,
        prefix: IpNet,
        protocol: u8,
    ) -> Result<(), AddressError> {
        let msg = local_route(index, prefix, protocol);
        self.handle
            .route()
            .del(msg)
            .execute()
            .await
            .map_err(|source| AddressError::RemoveRoute {
                prefix,
                link: link.to_owned(),
                source,
            })
    }
}

/// The message for `local <prefix> dev <index> table local proto <protocol> scope host`.
fn local_route(index: u32, prefix: IpNet, protocol: u8) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header = RouteHeader {
        address_family: match prefix {
            IpNet::V4(_) => AddressFamily::Inet,
            IpNet::V6(_) => AddressFamily::Inet6,
        },
        destination_prefix_length: prefix.prefix_len(),
        table: TABLE_LOCAL,
        protocol: RouteProtocol::from(protocol),
        scope: RouteScope::Host,
        kind: RouteType::Local,
        ..RouteHeader::default()
    };
    msg.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(
            prefix.addr(),
        )));
    msg.attributes.push(RouteAttribute::Oif(index));
    msg
}

fn to_local_route(msg: &RouteMessage) -> Option<LocalRoute> {
    let header = &msg.header;
    if header.kind != RouteType::Local {
        return None;
    }
    let mut destination = None;
    let mut link_index = None;
    let mut table = u32::from(header.table);
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Destination(RouteAddress::Inet(ip)) => {
                destination = Some(IpAddr::V4(*ip));
            }
            RouteAttribute::Destination(RouteAddress::Inet6(ip)) => {
                destination = Some(IpAddr::V6(*ip));
            }
            RouteAttribute::Oif(index) => link_index = Some(*index),
            RouteAttribute::Table(t) => table = *t,
            _ => {}
        }
    }
    if table != u32::from(TABLE_LOCAL) {
        return None;
    }
    let prefix = IpNet::new(destination?, header.destination_prefix_length).ok()?;
    let host = prefix.prefix_len() == prefix.max_prefix_len();
    host.then_some(LocalRoute {
        prefix,
        link_index,
        protocol: u8::from(header.protocol),
    })
}
