//! `environmentInfo` (in the `initialize` result and from `environment/info`) and
//! `environment/status`: what the executor tells a 0.171 Codex client about itself.
//!
//! Shapes measured against `@openai/codex@0.171.0` (docs/codex-0.171-wire.md §1): every path is a
//! `file://` URI, `capabilities` is an object of booleans (a different thing from the top-level
//! list of our extension names in [`crate::initialize::InitializeResponse::capabilities`]). A
//! flag set to `true` makes the client use the matching feature, so a server sets only what it
//! implements. The values themselves (which shell, which home) are decided by the server; this
//! module holds the shapes only.

use serde::{Deserialize, Serialize};

/// The `environmentInfo` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentInfo {
    /// The shell a command should be wrapped in.
    pub shell: ShellInfo,
    /// The executor's version (the reference sends its Codex version).
    pub executor_version: String,
    /// An opaque id of the executor (the reference sends `sha256:<hex>`).
    pub provider_id: String,
    /// The executor process's own working directory, as a `file://` URI.
    pub cwd: String,
    /// The executor user's home directory, as a `file://` URI.
    pub user_home_dir: String,
    /// `"linux"`, `"macos"`, `"windows"`.
    pub platform_os: String,
    /// Directories the client prepends to a command's `PATH`, as `file://` URIs.
    #[serde(default)]
    pub prepend_path_dirs: Vec<String>,
    /// Temporary directories named by the executor's environment (`TMPDIR`), as `file://` URIs;
    /// empty when there is none.
    #[serde(default)]
    pub temporary_directories: Vec<String>,
    /// The temporary directory commands should use, as a `file://` URI.
    pub temp_dir: String,
    /// Which optional features the executor implements.
    pub capabilities: EnvironmentCapabilities,
}

/// `environmentInfo.shell`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShellInfo {
    /// The shell's short name (`bash`, `zsh`, `sh`).
    pub name: String,
    /// The shell's absolute path (a plain path, not a URI, as the reference sends it).
    pub path: String,
}

/// `environmentInfo.capabilities`: one boolean per optional feature of the 0.171 client. Every
/// flag is always written; absent flags decode as `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EnvironmentCapabilities {
    /// The executor can capability-probe a sandbox.
    pub capability_discovery_sandbox: bool,
    /// Version 2 of capability discovery.
    pub capability_discovery_v2: bool,
    /// The executor masks credentials in output.
    pub credential_masking: bool,
    /// Credential masking for custom model providers.
    pub credential_masking_custom_providers: bool,
    /// `environmentConfig/read` is served.
    pub environment_config_read: bool,
    /// Streaming file writes.
    pub file_write_streaming: bool,
    /// `fs/watchMissing` and the `fs/missingChanged` notification are served.
    pub fs_watch_missing: bool,
    /// Environment variables as HTTP headers for `http/request`.
    pub http_header_env_vars: bool,
    /// Linux: an approved root write keeps the sandbox's restrictions.
    pub linux_approved_root_write_preserves_restrictions: bool,
    /// Linux: a root write keeps device nodes usable.
    pub linux_root_write_preserves_devices: bool,
    /// The executor launches a network proxy.
    pub network_proxy_launch: bool,
    /// The network proxy asks for domain reviews.
    pub network_proxy_review_domains: bool,
    /// Transparent TCP through the network proxy.
    pub network_proxy_transparent_tcp: bool,
    /// File streaming (`fs/open` and blocks) under a sandbox intent.
    pub sandboxed_file_streaming: bool,
    /// Version 2 of shell snapshots.
    pub shell_snapshot_v2: bool,
    /// Windows MXC.
    pub windows_mxc: bool,
}

/// Params of `environment/info` and `environment/status`: none. `null`, `{}` and absent params
/// all decode (the 0.171 client sends `null`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct EnvironmentParams {}

impl<'de> Deserialize<'de> for EnvironmentParams {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Any value is acceptable: the methods take nothing.
        serde::de::IgnoredAny::deserialize(deserializer)?;
        Ok(EnvironmentParams {})
    }
}

/// Result of `environment/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentStatusResponse {
    /// `"ready"` once the executor serves requests (the only state ours reports).
    pub status: String,
}
