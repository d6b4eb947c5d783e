//! What the server says about its machine in `environmentInfo` (the `initialize` result and
//! `environment/info`), computed once per server.
//!
//! Decisions (docs/protocol.md, "environmentInfo"):
//! - `shell`: the login shell of the server's user from the passwd database, as the 0.171
//!   reference does (it ignores `$SHELL`: measured in docs/codex-0.171-wire.md §1); `/bin/sh`
//!   when the entry is missing or names no existing shell.
//! - `userHomeDir`: `HOME` of the server's environment, else the passwd entry's home, else `/`.
//! - `tempDir`: `TMPDIR` when set and non-empty, else `/tmp`; `temporaryDirectories` lists
//!   `TMPDIR` alone when it is set, nothing otherwise (the reference's rule).
//! - `cwd`: the server process's own working directory (not a client's workspace).
//! - `prependPathDirs`: none (the reference adds its helper binaries' folder; we ship none).
//! - `providerId`: `exec-server:` + the machine id (`/etc/machine-id`, else the host name) + the
//!   uid: stable across restarts of one server on one machine, opaque to the client.
//! - `capabilities`: true only for what this server implements ([`capabilities`]).
//!
//! Values come from the server's captured environment (`ServerConfig::base_environment`), not
//! from `std::env` at call time, so tests can pin them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use exec_protocol::environment::{EnvironmentCapabilities, EnvironmentInfo, ShellInfo};

use super::ServerConfig;
use crate::convert::to_wire;

/// The shell reported when the passwd database names none that exists.
const FALLBACK_SHELL: &str = "/bin/sh";

/// The optional 0.171 features this server implements: `fs/watchMissing` (`watch`). Everything
/// else stays `false`, so the client never relies on a feature that is not there:
/// `environmentConfig/read`, the network proxy, credential masking and the rest are not
/// implemented. `fs/open` and its block methods are served, but `sandboxedFileStreaming` and
/// `fileWriteStreaming` stay off: what the client changes when they are on has not been measured
/// against the reference (docs/codex-0.171-wire.md), so advertising them would be a guess.
pub(crate) fn capabilities() -> EnvironmentCapabilities {
    EnvironmentCapabilities { fs_watch_missing: true, ..EnvironmentCapabilities::default() }
}

/// Builds `environmentInfo` for a server configured with `config`.
pub(crate) fn info(config: &ServerConfig) -> EnvironmentInfo {
    let environment = &config.base_environment;
    let user = nix::unistd::User::from_uid(nix::unistd::getuid()).ok().flatten();
    let shell_path = user
        .as_ref()
        .map(|user| user.shell.clone())
        .filter(|shell| shell.is_absolute() && shell.exists())
        .unwrap_or_else(|| PathBuf::from(FALLBACK_SHELL));
    let home = non_empty(environment, "HOME")
        .or_else(|| user.as_ref().map(|user| user.dir.clone()))
        .unwrap_or_else(|| PathBuf::from("/"));
    let tmpdir = non_empty(environment, "TMPDIR");
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    EnvironmentInfo {
        shell: ShellInfo {
            name: shell_path.file_name().map_or_else(String::new, |name| name.to_string_lossy().into_owned()),
            path: shell_path.to_string_lossy().into_owned(),
        },
        executor_version: config.server_version.clone(),
        provider_id: provider_id(),
        cwd: to_wire::uri(&cwd),
        user_home_dir: to_wire::uri(&home),
        platform_os: std::env::consts::OS.to_owned(),
        prepend_path_dirs: Vec::new(),
        temporary_directories: tmpdir.iter().map(|dir| to_wire::uri(dir)).collect(),
        temp_dir: to_wire::uri(tmpdir.as_deref().unwrap_or(Path::new("/tmp"))),
        capabilities: capabilities(),
    }
}

/// The server's `TMPDIR`, when it has a non-empty one: what `tmpdir` entries of a sandbox
/// intent resolve to.
pub(crate) fn tmpdir(config: &ServerConfig) -> Option<PathBuf> {
    non_empty(&config.base_environment, "TMPDIR")
}

fn non_empty(environment: &BTreeMap<String, String>, name: &str) -> Option<PathBuf> {
    environment.get(name).filter(|value| !value.is_empty()).map(PathBuf::from)
}

fn provider_id() -> String {
    let machine = std::fs::read_to_string("/etc/machine-id")
        .ok()
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
        .or_else(|| nix::unistd::gethostname().ok().map(|name| name.to_string_lossy().into_owned()))
        .unwrap_or_default();
    format!("exec-server:{machine}:{}", nix::unistd::getuid())
}
