//! One bindings module per supported WIT version (Zed's layout). Today there is one. 0.2 added
//! `inspect-batch`; while prova is 0.x and every plugin is built in this repository, the host
//! dropped 0.1 instead of keeping a shim (0.x minors are breaking by the version rule). From
//! 1.0 on, an older major keeps its module here and the loader dispatches on the version.

pub mod v0_2;

/// The version new plugins are built against.
pub use v0_2 as current;
