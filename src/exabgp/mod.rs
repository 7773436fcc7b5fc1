//! ExaBGP's text API: typed attributes and the command lines built from them.

pub mod attrs;
pub mod batch;
pub mod driver;
pub mod encode;
pub mod eor;
pub mod held;
pub mod journal;
pub mod parse;
pub mod relay;
pub mod server;
pub mod stdio;
pub mod tracker;

#[cfg(test)]
mod relay_tests;
