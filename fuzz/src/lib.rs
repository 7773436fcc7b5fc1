//! Shared by the fuzz targets: the independent checker of ExaBGP API lines, the same file the
//! tenancy tests use.

#[path = "../../tests/support/exabgp_line.rs"]
pub mod exabgp_line;
