//! One bindings module per supported WIT version (Zed's layout). Today there is one; when
//! `prova:adapter@0.2` comes, `v0_2` joins it and the loader dispatches on the exported version.

pub mod v0_1;

/// The version new plugins are built against.
pub use v0_1 as current;
