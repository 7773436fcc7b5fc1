//! kube-anycast: announce anycast service IPs over BGP (through ExaBGP) only while the service is
//! healthy on this node.
//!
//! The crate is a functional core with thin I/O shells: `health` (the rise/fall state machine)
//! and `exabgp::encode` (API lines) are pure; `healthcheck` is the drop-in for ExaBGP's
//! healthcheck, built on them. `crd` holds the API types (and generates `crds/`); `plan` is the
//! pure planner: validated services, pools, this node and local health in, the desired RIB and
//! a report per service out, and `exabgp::batch::commands` for the minimal, grouped changes between two RIBs.

pub mod admin;
pub mod agent;
pub mod cli;
pub mod crd;
pub mod engine;
pub mod exabgp;
pub mod health;
pub mod healthcheck;
pub mod k8s;
pub mod model;
pub mod netlink;
pub mod plan;
pub mod probe;
pub mod sorted;
pub mod telemetry;
pub mod timer;
