//! Support for the integration tests that run against real parts.

pub mod controlplane;
pub mod differential;
pub mod agent;
pub mod testbed;
