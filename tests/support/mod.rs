//! Support for the integration tests that run against real parts.

pub mod chart;
pub mod controlplane;
pub mod differential;
pub mod testbed;
