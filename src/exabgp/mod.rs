//! ExaBGP's text API: typed attributes and the command lines built from them.

pub mod attrs;
pub mod encode;
