//! A drop-in for ExaBGP 5.0.15's `healthcheck`: the same options, configuration file, API output
//! and exit statuses, on top of the pure [`crate::health`] machine and [`crate::exabgp`] encoder.

pub mod announce;
pub mod args;
pub mod log;
pub mod config_file;
pub mod options;
pub mod values;
