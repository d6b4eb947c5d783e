//! The Codex `sandbox` permission intent, mirrored as plain Rust types, and its resolution into a
//! [`SandboxPolicy`].
//!
//! The wire JSON is converted into these types at the protocol edge (this crate knows no JSON).
//! Resolution turns symbolic entries (`root`, `project_roots`, `tmpdir`, ...) into canonical
//! absolute paths and sorts them into read roots, write roots and read-only carve-outs. It stats
//! the file system (existence for `missing_path_behavior`, canonical paths so that a symlinked
//! workspace root and its target are one root) but opens nothing and enforces nothing: that is
//! [`SandboxPolicy::prepare`]. Anything the kernel mechanisms of this crate cannot express exactly
//! is an [`IntentError`], never a silent widening.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use crate::policy::{Network, SandboxPolicy};

/// A sandbox intent: what the client asks the executor to enforce.
///
/// Mirrors Codex's `permissions` object (`type: "managed"`): a file-system part and a network
/// part. A `null` sandbox on the wire means "no sandbox" and has no value of this type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxIntent {
    /// Codex `file_system`.
    pub file_system: FileSystemIntent,
    /// Codex `network`: `"enabled"` or `"restricted"`.
    pub network: Network,
}

/// Codex `file_system`: `{"type": "unrestricted"}` or `{"type": "restricted", "entries": [...]}`.
///
/// Codex also knows `external-sandbox` (another sandbox is responsible); an executor that is
/// asked to enforce should treat that as a request it cannot honour, so it has no variant here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSystemIntent {
    /// Every path readable and writable (the network part may still be restricted).
    Unrestricted,
    /// Only what the entries grant.
    Restricted {
        /// The entries, in any order: precedence is by specificity, not by position.
        entries: Vec<Entry>,
    },
}

/// One Codex `FileSystemSandboxEntry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Codex `path`.
    pub path: PathSpec,
    /// Codex `access`.
    pub access: Access,
    /// Codex `missing_path_behavior` (absent on the wire means [`MissingPath::Error`]).
    pub missing: MissingPath,
}

impl Entry {
    /// An entry with `missing_path_behavior` absent ([`MissingPath::Error`]).
    pub fn new(path: PathSpec, access: Access) -> Entry {
        Entry { path, access, missing: MissingPath::Error }
    }

    /// The same entry with `missing_path_behavior: "skip"`.
    pub fn skip_if_missing(mut self) -> Entry {
        self.missing = MissingPath::Skip;
        self
    }
}

/// Codex `FileSystemAccessMode`.
///
/// Between two entries naming the same path, `Deny` beats `Write` beats `Read` (Codex's conflict
/// precedence); otherwise the more specific (longer) path wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    /// `"read"`: read, list and execute beneath the path.
    Read,
    /// `"write"`: everything `Read` allows, plus create, write, remove, rename.
    Write,
    /// `"deny"` (older clients send `"none"`): nothing beneath the path.
    Deny,
}

impl Access {
    /// Parses the wire name (`"read"`, `"write"`, `"deny"` or its legacy alias `"none"`).
    pub fn from_name(name: &str) -> Option<Access> {
        match name {
            "read" => Some(Access::Read),
            "write" => Some(Access::Write),
            "deny" | "none" => Some(Access::Deny),
            _ => None,
        }
    }
}

/// Codex `missing_path_behavior`: what to do when an entry's path does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingPath {
    /// Field absent: a missing path is an [`IntentError::MissingPath`].
    #[default]
    Error,
    /// `"skip"`: the entry is dropped.
    Skip,
}

/// Codex `FileSystemPath`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSpec {
    /// `{"type": "path", "path": ...}`: must be absolute (a `file://` URI is decoded by the caller).
    Path(PathBuf),
    /// `{"type": "special", "value": {"kind": ..., "subpath"?: ...}}`.
    Special {
        /// The `kind`.
        kind: SpecialKind,
        /// An optional relative path below the special location (Codex uses it with
        /// `project_roots`, e.g. `.git`). No `..`, not absolute.
        subpath: Option<PathBuf>,
    },
    /// `{"type": "glob_pattern", "pattern": ...}`: refused (Landlock has no globs).
    GlobPattern(String),
}

impl PathSpec {
    /// A special path without a subpath.
    pub fn special(kind: SpecialKind) -> PathSpec {
        PathSpec::Special { kind, subpath: None }
    }

    /// A special path with a subpath.
    pub fn special_sub(kind: SpecialKind, subpath: impl Into<PathBuf>) -> PathSpec {
        PathSpec::Special { kind, subpath: Some(subpath.into()) }
    }
}

/// Codex `FileSystemSpecialPath` kinds. See `docs/sandbox.md` for the resolution table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecialKind {
    /// `root`: the file-system root `/`.
    Root,
    /// `minimal`: the platform's default readable roots ([`MINIMAL_READ_ROOTS`] that exist).
    Minimal,
    /// `project_roots`: each workspace root (the `cwd` when the request names none).
    ProjectRoots,
    /// `current_working_directory` (older clients): the request's `cwd`.
    CurrentWorkingDirectory,
    /// `tmpdir`: the `TMPDIR` value given in [`ResolveContext::tmpdir`]; nothing when unset.
    Tmpdir,
    /// `slash_tmp`: `/tmp` (nothing when it is not a directory).
    SlashTmp,
    /// A kind this crate does not know: resolution refuses it.
    Unknown(String),
}

impl SpecialKind {
    /// Parses the wire `kind`; a name this crate does not know becomes [`SpecialKind::Unknown`].
    pub fn from_name(name: &str) -> SpecialKind {
        match name {
            "root" => SpecialKind::Root,
            "minimal" => SpecialKind::Minimal,
            "project_roots" => SpecialKind::ProjectRoots,
            "current_working_directory" => SpecialKind::CurrentWorkingDirectory,
            "tmpdir" => SpecialKind::Tmpdir,
            "slash_tmp" => SpecialKind::SlashTmp,
            other => SpecialKind::Unknown(other.to_owned()),
        }
    }
}

/// What `minimal` resolves to: the directories an ordinary program needs to load and run. Each
/// one that does not exist on this machine is skipped.
pub const MINIMAL_READ_ROOTS: &[&str] =
    &["/bin", "/sbin", "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/proc", "/sys"];

/// The executor-side facts a special path is resolved against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveContext {
    /// The request's `workspaceRoots` (absolute). Empty means "the cwd is the only root".
    pub workspace_roots: Vec<PathBuf>,
    /// The request's `cwd` (absolute).
    pub cwd: PathBuf,
    /// The executor's `TMPDIR` value, if it has one (the caller reads the environment; this crate
    /// does not).
    pub tmpdir: Option<PathBuf>,
}

/// Why an intent was refused. The server answers every variant with `sandboxUnavailable`
/// (except where it chooses otherwise for [`IntentError::MissingPath`]): the request never runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentError {
    /// A special path kind this crate does not know.
    UnknownKind(String),
    /// A plain path, workspace root or cwd that is not absolute.
    RelativePath(PathBuf),
    /// A path or subpath with a `..` component, or an absolute subpath.
    BadSubpath(PathBuf),
    /// An entry's path does not exist and its `missing_path_behavior` is not `skip`.
    MissingPath(PathBuf),
    /// A rule the enforcement cannot express exactly (glob patterns, `deny` inside a granted
    /// tree, `write` inside a read-only carve-out).
    Unsupported(String),
}

impl fmt::Display for IntentError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntentError::UnknownKind(kind) => write!(formatter, "unknown sandbox path kind `{kind}`"),
            IntentError::RelativePath(path) => {
                write!(formatter, "sandbox path {} is not absolute", path.display())
            }
            IntentError::BadSubpath(path) => write!(
                formatter,
                "sandbox path {} must not contain `..` (and a subpath must be relative)",
                path.display()
            ),
            IntentError::MissingPath(path) => {
                write!(formatter, "sandbox path {} does not exist", path.display())
            }
            IntentError::Unsupported(what) => write!(formatter, "sandbox rule not enforceable: {what}"),
        }
    }
}

impl std::error::Error for IntentError {}

impl SandboxIntent {
    /// Resolves the intent against the executor's context into a [`SandboxPolicy`].
    ///
    /// Steps: each entry becomes zero or more canonical absolute paths (special kinds per the
    /// table in `docs/sandbox.md`; a missing path is skipped or refused per its entry); entries
    /// naming the same path merge with `deny > write > read`; then every path takes its meaning
    /// from the nearest enclosing entry: a `read` inside a `write` tree is a read-only carve-out,
    /// a `write` anywhere else is a write root, a `read` outside any write tree is a read root.
    pub fn resolve(&self, context: &ResolveContext) -> Result<SandboxPolicy, IntentError> {
        let entries = match &self.file_system {
            FileSystemIntent::Unrestricted => {
                return Ok(SandboxPolicy {
                    read_roots: Vec::new(),
                    write_roots: vec![PathBuf::from("/")],
                    read_only_carve_outs: Vec::new(),
                    network: self.network,
                });
            }
            FileSystemIntent::Restricted { entries } => entries,
        };
        check_absolute(&context.cwd)?;
        for root in &context.workspace_roots {
            check_absolute(root)?;
        }

        // Canonical path -> strongest access among the entries naming it.
        let mut accesses: BTreeMap<PathBuf, Access> = BTreeMap::new();
        for entry in entries {
            for (path, missing) in expand(entry, context)? {
                let Some(canonical) = canonical_or_missing(&path, missing)? else { continue };
                let slot = accesses.entry(canonical).or_insert(entry.access);
                *slot = (*slot).max(entry.access);
            }
        }

        let mut policy = SandboxPolicy {
            read_roots: Vec::new(),
            write_roots: Vec::new(),
            read_only_carve_outs: Vec::new(),
            network: self.network,
        };
        for (path, access) in &accesses {
            let enclosing = nearest_enclosing(&accesses, path);
            match (access, enclosing) {
                (Access::Read, Some((_, Access::Read))) => {} // Already readable.
                // A read entry inside a write tree: a read-only carve-out.
                (Access::Read, Some((_, Access::Write))) => policy.read_only_carve_outs.push(path.clone()),
                (Access::Read, _) => policy.read_roots.push(path.clone()),
                (Access::Write, Some((_, Access::Write))) => {} // Already writable.
                (Access::Write, Some((carve_out, Access::Read)))
                    if inside_a_write_tree(&accesses, carve_out) =>
                {
                    return Err(IntentError::Unsupported(format!(
                        "write access to {} inside the read-only {}",
                        path.display(),
                        carve_out.display()
                    )));
                }
                (Access::Write, _) => policy.write_roots.push(path.clone()),
                (Access::Deny, None | Some((_, Access::Deny))) => {} // Landlock denies by default.
                (Access::Deny, Some((granted, _))) => {
                    return Err(IntentError::Unsupported(format!(
                        "deny {} inside the granted {}",
                        path.display(),
                        granted.display()
                    )));
                }
            }
        }
        Ok(policy)
    }
}

fn check_absolute(path: &Path) -> Result<(), IntentError> {
    if !path.is_absolute() {
        return Err(IntentError::RelativePath(path.to_owned()));
    }
    if path.components().any(|component| component == Component::ParentDir) {
        return Err(IntentError::BadSubpath(path.to_owned()));
    }
    Ok(())
}

/// The concrete paths one entry names, each with how to treat it when missing.
fn expand(entry: &Entry, context: &ResolveContext) -> Result<Vec<(PathBuf, MissingPath)>, IntentError> {
    let (kind, subpath) = match &entry.path {
        PathSpec::Path(path) => {
            check_absolute(path)?;
            return Ok(vec![(path.clone(), entry.missing)]);
        }
        PathSpec::GlobPattern(pattern) => {
            return Err(IntentError::Unsupported(format!("glob pattern `{pattern}`")));
        }
        PathSpec::Special { kind, subpath } => (kind, subpath),
    };
    if let Some(subpath) = subpath
        && (subpath.is_absolute() || subpath.components().any(|component| component == Component::ParentDir))
    {
        return Err(IntentError::BadSubpath(subpath.clone()));
    }
    // Locations that exist by definition of the kind, or that Codex drops when absent.
    let (bases, base_missing): (Vec<PathBuf>, Option<MissingPath>) = match kind {
        SpecialKind::Root => (vec![PathBuf::from("/")], None),
        SpecialKind::Minimal => {
            (MINIMAL_READ_ROOTS.iter().map(PathBuf::from).collect(), Some(MissingPath::Skip))
        }
        SpecialKind::ProjectRoots if context.workspace_roots.is_empty() => (vec![context.cwd.clone()], None),
        SpecialKind::ProjectRoots => (context.workspace_roots.clone(), None),
        SpecialKind::CurrentWorkingDirectory => (vec![context.cwd.clone()], None),
        SpecialKind::Tmpdir => match &context.tmpdir {
            Some(tmpdir) if !tmpdir.as_os_str().is_empty() => {
                check_absolute(tmpdir)?;
                (vec![tmpdir.clone()], None)
            }
            // Codex: no TMPDIR, no entry.
            _ => (Vec::new(), None),
        },
        SpecialKind::SlashTmp => (vec![PathBuf::from("/tmp")], Some(MissingPath::Skip)),
        SpecialKind::Unknown(name) => return Err(IntentError::UnknownKind(name.clone())),
    };
    Ok(bases
        .into_iter()
        .map(|base| {
            let path = match subpath {
                Some(subpath) => base.join(subpath),
                None => base,
            };
            (path, base_missing.unwrap_or(entry.missing))
        })
        .collect())
}

fn canonical_or_missing(path: &Path, missing: MissingPath) -> Result<Option<PathBuf>, IntentError> {
    match std::fs::canonicalize(path) {
        Ok(canonical) => Ok(Some(canonical)),
        Err(_) if missing == MissingPath::Skip => Ok(None),
        Err(_) => Err(IntentError::MissingPath(path.to_owned())),
    }
}

/// The longest other path in `accesses` that is a proper ancestor of `path`.
fn nearest_enclosing<'a>(
    accesses: &'a BTreeMap<PathBuf, Access>,
    path: &Path,
) -> Option<(&'a PathBuf, Access)> {
    path.ancestors()
        .skip(1)
        .find_map(|ancestor| accesses.get_key_value(ancestor).map(|(key, access)| (key, *access)))
}

/// Whether `path` (a read entry) lies in a read-only carve-out: walking up through enclosing read
/// entries reaches a write entry.
fn inside_a_write_tree(accesses: &BTreeMap<PathBuf, Access>, path: &Path) -> bool {
    let mut current = path;
    loop {
        match nearest_enclosing(accesses, current) {
            Some((_, Access::Write)) => return true,
            Some((enclosing, Access::Read)) => current = enclosing,
            _ => return false,
        }
    }
}
