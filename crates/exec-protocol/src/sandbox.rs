//! The Codex `sandbox` intent carried by `process/start` and every `fs/*` call, and the
//! `sandboxType` of a start result.
//!
//! Shapes measured against `@openai/codex@0.171.0` (docs/codex-0.171-wire.md §2). The client
//! sends two shapes of the same object: on `process/start` with `windowsSandboxProxySettingsMode`,
//! on `fs/*` with `policyContext` and `userHomeDir`. One type decodes both. `null` (or an absent
//! member) means no sandbox: `danger-full-access`.
//!
//! What decoding decides (the server converts the rest, `docs/sandbox.md` says how):
//! - **Strict**, refused with -32602 and serde's message as the reference does: the path `kind`
//!   (``unknown variant `X`, expected one of `root`, `minimal`, `current_working_directory`,
//!   `project_roots`, `tmpdir`, `slash_tmp`, `unknown` ``), the path `type`, `access`,
//!   `network`, `permissions.type`. An unknown value there would change enforcement.
//! - **Kept and judged by the server**: `file_system.type` other than `restricted` and
//!   `unrestricted` (Codex's `external-sandbox`) decodes as [`FileSystemPermissions::Other`] and
//!   is refused with `sandboxUnavailable`; `missing_path_behavior` other than `skip` is treated as
//!   absent (a missing path is then an error: stricter, never wider).
//! - **Tolerated and ignored** (no effect on Linux enforcement): `windowsSandboxLevel`,
//!   `windowsSandboxProxySettingsMode`, `userHomeDir` (no path kind we accept refers to it), and
//!   unknown members, as everywhere in this protocol.
//! - `useLegacyLandlock` decodes as a bool; `true` asks for Landlock enforcement, which is what
//!   the server does anyway (see `docs/sandbox.md`).

use serde::{Deserialize, Serialize};

/// The `sandbox` member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxParams {
    /// What is allowed.
    pub permissions: Permissions,
    /// The agent's working directory (a `file://` URI or an absolute path): what
    /// `current_working_directory` means, and the project root when `workspaceRoots` is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// The project roots (`project_roots`), as URIs or absolute paths.
    #[serde(default)]
    pub workspace_roots: Vec<String>,
    /// The `fs/*` shape repeats `cwd` and `workspaceRoots` here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_context: Option<PolicyContext>,
    /// The `fs/*` shape: the executor's home as the client learned it from `environmentInfo`.
    /// Ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_home_dir: Option<String>,
    /// Windows only; ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows_sandbox_level: Option<serde_json::Value>,
    /// Windows only (the `process/start` shape); ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows_sandbox_proxy_settings_mode: Option<serde_json::Value>,
    /// Codex's switch between its Landlock-only and its namespace sandbox; see the module docs.
    #[serde(default)]
    pub use_legacy_landlock: bool,
}

/// `sandbox.policyContext` (the `fs/*` shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyContext {
    /// Same meaning as [`SandboxParams::cwd`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Same meaning as [`SandboxParams::workspace_roots`].
    #[serde(default)]
    pub workspace_roots: Vec<String>,
}

/// `sandbox.permissions`: only the `managed` type exists on the wire today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Permissions {
    /// `{"type": "managed", "file_system": ..., "network": ...}`.
    Managed {
        /// File access.
        file_system: FileSystemPermissions,
        /// Network access.
        network: NetworkPermission,
    },
}

/// `permissions.file_system`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FileSystemPermissions {
    /// Every path readable and writable.
    Unrestricted,
    /// Only what the entries grant.
    Restricted {
        /// The entries; precedence is by specificity, not position.
        entries: Vec<FileSystemEntry>,
    },
    /// Any other type (Codex's `external-sandbox`): refused by the server (`sandboxUnavailable`).
    #[serde(other)]
    Other,
}

/// `permissions.network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkPermission {
    /// Network sockets are refused; Unix sockets keep working.
    Restricted,
    /// No network restriction.
    Enabled,
}

/// One entry of `file_system.entries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSystemEntry {
    /// Which path.
    pub path: FileSystemPath,
    /// What is allowed beneath it.
    pub access: AccessMode,
    /// `"skip"`: drop the entry when its path does not exist. Absent (or any other value): a
    /// missing path refuses the intent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_path_behavior: Option<String>,
}

/// `entry.access`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessMode {
    /// Read, list, execute.
    Read,
    /// Read plus create, write, remove, rename.
    Write,
    /// Nothing.
    Deny,
    /// Older clients' name for `deny`.
    None,
}

/// `entry.path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FileSystemPath {
    /// `{"type": "path", "path": P}`: an absolute path or `file://` URI.
    Path {
        /// The path.
        path: String,
    },
    /// `{"type": "special", "value": {"kind": K, "subpath"?: S}}`.
    Special {
        /// The symbolic location.
        value: SpecialPath,
    },
    /// `{"type": "glob_pattern", "pattern": G}`: refused by the server (no globs in Landlock).
    GlobPattern {
        /// The pattern.
        pattern: String,
    },
}

/// `{"kind": K, "subpath"?: S}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialPath {
    /// Which location.
    pub kind: SpecialKind,
    /// A relative path below it (Codex sends `.git`, `.agents`, ... with `project_roots`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// The special path kinds the 0.171 reference knows, in its order (the decoder's error lists
/// them so). `unknown` is Codex's own placeholder for a kind it could not name; the server refuses
/// it with `sandboxUnavailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecialKind {
    /// `/`.
    Root,
    /// The platform's default readable roots.
    Minimal,
    /// The intent's `cwd`.
    CurrentWorkingDirectory,
    /// Each workspace root.
    ProjectRoots,
    /// The executor's `TMPDIR`.
    Tmpdir,
    /// `/tmp`.
    SlashTmp,
    /// A kind the client itself did not understand.
    Unknown,
}

impl SpecialKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SpecialKind::Root => "root",
            SpecialKind::Minimal => "minimal",
            SpecialKind::CurrentWorkingDirectory => "current_working_directory",
            SpecialKind::ProjectRoots => "project_roots",
            SpecialKind::Tmpdir => "tmpdir",
            SpecialKind::SlashTmp => "slash_tmp",
            SpecialKind::Unknown => "unknown",
        }
    }
}

/// `sandboxType` in the `process/start` result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SandboxType {
    /// No sandbox was asked for (`sandbox: null`).
    None,
    /// The Linux sandbox confines the process (the reference's name, kept for its clients).
    LinuxSeccomp,
}
