//! Which of a service's addresses it may claim: the pool that grants each one, the pool's
//! limits on the service's attributes, exec probes, and conflicts between services.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use super::pool::ValidPool;
use super::service::{RouteProfile, ValidService};
use super::{Check, ServiceKey};

/// What a valid service may claim: the addresses granted by a pool, and those refused.
pub(super) struct Claim<'a> {
    pub(super) svc: &'a ValidService,
    pub(super) granted: Vec<Grant<'a>>,
    pub(super) refused: Vec<(IpAddr, String)>,
    /// Set when the whole service is refused (an exec probe no pool allows).
    pub(super) refusal: Option<String>,
}

/// An address and the pool that grants it.
#[derive(Clone, Copy)]
pub(super) struct Grant<'a> {
    pub(super) ip: IpAddr,
    pub(super) pool_name: &'a str,
    pub(super) pool: &'a ValidPool,
}

/// Grants each address from the most specific pool that holds it, if that pool admits the
/// namespace, and keeps it only when the pool allows the service's attributes.
pub(super) fn claim<'a>(
    key: &ServiceKey,
    svc: &'a ValidService,
    pools: &[(&'a str, &'a ValidPool)],
    invalid_pools: &[&str],
    ns_labels: &BTreeMap<String, String>,
) -> Claim<'a> {
    let mut c = Claim {
        svc,
        granted: Vec::new(),
        refused: Vec::new(),
        refusal: None,
    };
    // Checked once per pool: the attributes are the service's, the same for every address.
    let mut verdicts: BTreeMap<&str, Option<String>> = BTreeMap::new();
    for &ip in &svc.addresses {
        let grant = match grant(key, ip, pools, invalid_pools, ns_labels) {
            Ok(g) => g,
            Err(why) => {
                c.refused.push((ip, why));
                continue;
            }
        };
        let forbidden = verdicts
            .entry(grant.pool_name)
            .or_insert_with(|| forbidden(svc, grant.pool_name, grant.pool));
        match forbidden {
            Some(why) => c
                .refused
                .push((ip, format!("{ip} refused for {key}: {why}"))),
            None => c.granted.push(grant),
        }
    }
    if let Some(probe) = svc
        .probes
        .iter()
        .find(|p| matches!(p.check, Check::Exec { .. }))
        && let Some(g) = c.granted.iter().find(|g| !g.pool.allow_exec)
    {
        c.refusal = Some(format!(
            "probe {} runs a command, but AnycastPool {} does not set allowExec",
            probe.name, g.pool_name
        ));
    }
    c
}

/// The pool granting `ip` to the namespace. Only the pools holding `ip` with the longest
/// prefix may grant it: a broader pool granted to this namespace never reaches into a more
/// specific pool granted to others. Ties go to the first pool by name.
fn grant<'a>(
    key: &ServiceKey,
    ip: IpAddr,
    pools: &[(&'a str, &'a ValidPool)],
    invalid_pools: &[&str],
    ns_labels: &BTreeMap<String, String>,
) -> Result<Grant<'a>, String> {
    let holders: Vec<(u8, &str, &ValidPool)> = pools
        .iter()
        .filter_map(|(name, p)| p.longest_match(ip).map(|len| (len, *name, *p)))
        .collect();
    let longest = holders.iter().map(|h| h.0).max();
    let best = holders
        .iter()
        .filter(|h| Some(h.0) == longest && h.2.grants_namespace(ns_labels))
        .min_by_key(|h| h.1);
    if let Some(&(_, pool_name, pool)) = best {
        return Ok(Grant {
            ip,
            pool_name,
            pool,
        });
    }
    let broader: Vec<&str> = holders
        .iter()
        .filter(|h| h.2.grants_namespace(ns_labels))
        .map(|h| h.1)
        .collect();
    let mut why = if broader.is_empty() {
        format!(
            "{ip} is outside every AnycastPool granted to namespace {}",
            key.namespace
        )
    } else {
        let specific: Vec<&str> = holders
            .iter()
            .filter(|h| Some(h.0) == longest)
            .map(|h| h.1)
            .collect();
        format!(
            "{ip} is held by the more specific AnycastPool {}, not granted to namespace {}; \
             the broader AnycastPool {} does not reach into it",
            specific.join(", "),
            key.namespace,
            broader.join(", ")
        )
    };
    if !invalid_pools.is_empty() {
        let _ = write!(
            why,
            " (invalid pools grant nothing: {})",
            invalid_pools.join(", ")
        );
    }
    Err(why)
}

/// Why `pool` refuses the service's attributes, naming each field at fault, or `None`.
fn forbidden(svc: &ValidService, pool_name: &str, pool: &ValidPool) -> Option<String> {
    let violations = pool.policy.check(&svc.route);
    if violations.is_empty() {
        return None;
    }
    Some(
        violations
            .iter()
            .map(|v| {
                format!(
                    "{v} by AnycastPool {pool_name} (spec.allowedAttributes.{})",
                    v.limit
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// Two services claiming one address must agree on every route setting and on the pool;
/// otherwise both are refused for that address. Claims refused as a whole take no part.
pub(super) fn refuse_conflicts(claims: &mut BTreeMap<&ServiceKey, Claim<'_>>) {
    let mut by_ip: BTreeMap<IpAddr, Vec<(&ServiceKey, &RouteProfile, &str)>> = BTreeMap::new();
    for (key, c) in claims.iter() {
        if c.refusal.is_some() {
            continue;
        }
        for g in &c.granted {
            by_ip
                .entry(g.ip)
                .or_default()
                .push((*key, &c.svc.route, g.pool_name));
        }
    }
    let mut conflicts: Vec<(ServiceKey, IpAddr, String)> = Vec::new();
    for (ip, claimants) in &by_ip {
        let (_, route, pool) = claimants[0];
        if claimants.iter().all(|(_, r, p)| *r == route && *p == pool) {
            continue;
        }
        for (key, _, _) in claimants {
            let others: Vec<String> = claimants
                .iter()
                .filter(|(k, _, _)| k != key)
                .map(|(k, _, _)| k.to_string())
                .collect();
            conflicts.push((
                (*key).clone(),
                *ip,
                format!(
                    "{ip} is also claimed by {} with different route settings; make them agree or use another address",
                    others.join(", ")
                ),
            ));
        }
    }
    for (key, ip, why) in conflicts {
        if let Some(c) = claims.get_mut(&key) {
            c.granted.retain(|g| g.ip != ip);
            c.refused.push((ip, why));
        }
    }
}
