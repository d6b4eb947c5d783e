//! [`SandboxPolicy`]: the resolved rules as plain data, and the errors of enforcing them.
//!
//! A policy is what [`crate::SandboxIntent::resolve`] produces and what an embedder that starts
//! children itself builds directly (`exec-client run --sandbox ...` sends an intent instead, for
//! the server to resolve on its machine). It does no I/O until [`SandboxPolicy::prepare`] (in
//! `enforce.rs`) turns it into kernel objects.

use std::fmt;
use std::path::PathBuf;

/// Whether the sandboxed process may open network sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// Any socket.
    Enabled,
    /// Only Unix-domain sockets (`socket`/`socketpair` with `AF_UNIX`); every other domain
    /// (`AF_INET`, `AF_INET6`, `AF_NETLINK`, `AF_PACKET`, ...) fails with `EACCES`.
    #[default]
    Restricted,
}

/// Resolved sandbox rules.
///
/// Paths are absolute. [`SandboxPolicy::prepare`] opens each one (so a symlink names its target)
/// and refuses a policy whose paths do not exist or whose carve-outs are not inside a write root.
/// A policy with no roots at all is valid: the process can then read nothing but the
/// [`ALWAYS_USABLE_DEVICES`](crate::ALWAYS_USABLE_DEVICES) (and so cannot even `exec` a program).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SandboxPolicy {
    /// Trees the process may read, list and execute in.
    pub read_roots: Vec<PathBuf>,
    /// Trees the process may also create, write, rename and remove in (never create device
    /// nodes: see the crate docs).
    pub write_roots: Vec<PathBuf>,
    /// Trees inside a write root that stay read-only (e.g. `.git`). Enforced with a read-only
    /// bind mount in a private mount namespace, so they need that kernel support.
    pub read_only_carve_outs: Vec<PathBuf>,
    /// Network sockets on or off.
    pub network: Network,
}

/// The names inside a workspace root that [`SandboxPolicy::workspace_write`] keeps read-only when
/// they exist (the ones Codex protects).
pub const PROTECTED_WORKSPACE_NAMES: &[&str] = &[".git", ".agents", ".codex"];

impl SandboxPolicy {
    /// Read everything, write nothing, no network: Codex's `--sandbox read-only`.
    pub fn read_only() -> SandboxPolicy {
        SandboxPolicy {
            read_roots: vec![PathBuf::from("/")],
            write_roots: Vec::new(),
            read_only_carve_outs: Vec::new(),
            network: Network::Restricted,
        }
    }

    /// Read everything; write the given roots and `/tmp`; keep each root's existing `.git`,
    /// `.agents` and `.codex` read-only; no network: Codex's `--sandbox workspace-write`.
    ///
    /// The carve-outs are chosen now, from what exists now; one whose canonical path leaves the
    /// root (a symlinked `.git`) is left out, since its target is outside the write roots anyway.
    pub fn workspace_write<I, P>(roots: I) -> SandboxPolicy
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        let mut policy = SandboxPolicy::read_only();
        for root in roots {
            let root = root.into();
            let canonical_root = std::fs::canonicalize(&root).unwrap_or_else(|_| root.clone());
            for name in PROTECTED_WORKSPACE_NAMES {
                // A protected name that leads outside the root (a symlinked `.git`) is already
                // read-only there: Landlock grants no write outside the write roots.
                let inside = std::fs::canonicalize(root.join(name))
                    .is_ok_and(|target| target.starts_with(&canonical_root) && target != canonical_root);
                if inside {
                    policy.read_only_carve_outs.push(root.join(name));
                }
            }
            policy.write_roots.push(root);
        }
        if std::path::Path::new("/tmp").is_dir() {
            policy.write_roots.push(PathBuf::from("/tmp"));
        }
        policy
    }

    /// The same policy with another write root.
    pub fn with_write_root(mut self, root: impl Into<PathBuf>) -> SandboxPolicy {
        self.write_roots.push(root.into());
        self
    }

    /// The same policy with another read root.
    pub fn with_read_root(mut self, root: impl Into<PathBuf>) -> SandboxPolicy {
        self.read_roots.push(root.into());
        self
    }

    /// The same policy with another read-only carve-out (it must lie inside a write root).
    pub fn with_read_only_carve_out(mut self, path: impl Into<PathBuf>) -> SandboxPolicy {
        self.read_only_carve_outs.push(path.into());
        self
    }

    /// The same policy with the network switched on or off.
    pub fn with_network(mut self, network: Network) -> SandboxPolicy {
        self.network = network;
        self
    }
}

/// The two ways enforcement can fail; the server maps them to `data.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxErrorKind {
    /// This kernel (or this process's privileges) cannot enforce the policy exactly:
    /// `sandboxUnavailable`. The request must be refused, never run with less confinement.
    Unavailable,
    /// The kernel could, but setting it up failed (a path could not be opened, a descriptor could
    /// not be created): `sandboxPreparation`.
    Preparation,
}

/// Why [`SandboxPolicy::prepare`] or [`crate::PreparedSandbox::run_confined`] failed.
#[derive(Debug)]
pub struct SandboxError {
    kind: SandboxErrorKind,
    message: String,
}

impl SandboxError {
    pub(crate) fn unavailable(message: impl Into<String>) -> SandboxError {
        SandboxError { kind: SandboxErrorKind::Unavailable, message: message.into() }
    }

    pub(crate) fn preparation(message: impl Into<String>) -> SandboxError {
        SandboxError { kind: SandboxErrorKind::Preparation, message: message.into() }
    }

    /// Which of the two failures this is.
    pub fn kind(&self) -> SandboxErrorKind {
        self.kind
    }

    /// Why, without the "sandbox unavailable: " or "sandbox preparation failed: " that
    /// `Display` puts first (the server words the wire text itself).
    pub fn reason(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for SandboxError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SandboxErrorKind::Unavailable => write!(formatter, "sandbox unavailable: {}", self.message),
            SandboxErrorKind::Preparation => {
                write!(formatter, "sandbox preparation failed: {}", self.message)
            }
        }
    }
}

impl std::error::Error for SandboxError {}
