//! What a plugin may import and which WIT versions this host runs: checked before anything of
//! a plugin runs.

/// Which imports a plugin may have, by interface (any version): the adapter contract itself,
/// and the WASI plumbing that Rust's standard library (and common crates) link whether or not
/// they are used. What the host puts behind them grants nothing (see `host::HostState::new`):
/// stdin is empty, stdout/stderr are captured, the environment and arguments are empty, both
/// clocks are frozen at zero and the hash seed is fixed. Everything else (filesystem, sockets,
/// secure randomness, HTTP) is refused at load time.
pub(crate) const ALLOWED_IMPORTS: &[&str] = &[
    "prova:adapter/types",
    "prova:adapter/field",
    "prova:adapter/keys",
    "wasi:io/error",
    "wasi:io/streams",
    "wasi:io/poll",
    "wasi:cli/environment",
    "wasi:cli/stderr",
    "wasi:cli/stdout",
    "wasi:cli/stdin",
    "wasi:cli/exit",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/insecure-seed",
];

pub(crate) fn interface_of(import: &str) -> &str {
    import.split('@').next().unwrap_or(import)
}

/// `(x, y, z)` as `x.y.z`, the way versions are written in WIT and in messages.
pub(crate) fn dotted((x, y, z): (u64, u64, u64)) -> String {
    format!("{x}.{y}.{z}")
}

/// `x.y.z` from `name@x.y.z`.
pub(crate) fn version_of(name: &str) -> Option<(u64, u64, u64)> {
    let v = name.split_once('@')?.1;
    let mut it = v.split(['.', '-', '+']).map(|p| p.parse::<u64>().ok());
    Some((it.next()??, it.next()??, it.next()??))
}

/// Semver compatibility: same major, and for 0.x the same minor too.
pub(crate) fn compatible(found: (u64, u64, u64), supported: (u64, u64, u64)) -> bool {
    found.0 == supported.0 && (found.0 != 0 || found.1 == supported.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_follow_semver() {
        assert_eq!(version_of("prova:adapter/adapter@0.2.0"), Some((0, 2, 0)));
        assert_eq!(version_of("prova:adapter/adapter"), None);
        assert!(compatible((0, 1, 3), (0, 1, 0)));
        assert!(!compatible((0, 2, 0), (0, 1, 0)));
        assert!(!compatible((1, 0, 0), (0, 1, 0)));
        assert!(compatible((1, 4, 0), (1, 0, 0)));
    }

    #[test]
    fn imports_are_matched_by_interface_whatever_the_version() {
        assert!(ALLOWED_IMPORTS.contains(&interface_of("wasi:io/streams@0.2.6")));
        assert!(!ALLOWED_IMPORTS.contains(&interface_of("wasi:filesystem/types@0.2.6")));
        assert!(!ALLOWED_IMPORTS.contains(&interface_of("wasi:sockets/tcp@0.2.0")));
        assert!(!ALLOWED_IMPORTS.contains(&interface_of("wasi:random/random@0.2.6")));
    }
}
