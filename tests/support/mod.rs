//! Support for the integration tests that run against real parts.

pub mod agent;
pub mod chaos;
pub mod chart;
pub mod controlplane;
pub mod differential;
pub mod testbed;
