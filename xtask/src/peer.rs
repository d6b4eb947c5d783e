//! `cargo xtask peer-test`: runs the conformance cases against the Codex peer server.
//!
//! The peer (`@openai/codex@0.123.0`, SPEC.md §2) is installed with npm into
//! `<root>/.cache/peer` the first time (or when the pinned version changes), then the
//! `conformance::peer::*` tests of `exec-server`'s `it` test binary (and `exec-client`'s `peer::*`
//! tests) run with `EXEC_PEER_CODEX`
//! pointing at its `codex` launcher; `exec-client`'s cases against the current generation's server
//! (`codex_171` in their names: `run`, `cp` and `ExecClient`) run with `EXEC_CODEX_171` pointing at
//! `@openai/codex@0.171.0`. Those tests pin what the peer answers, so this command
//! checks the tests themselves; `cargo xtask ci` runs the same cases against our server.
//!
//! It uses std only, like the rest of xtask. It needs `npm` on PATH for the first install and
//! never touches anything outside `.cache/peer` and cargo's target folder.

use std::path::Path;
use std::process::Command;

/// The npm package of the reference server. Bumping it reinstalls on the next run.
const PEER_PACKAGE: &str = "@openai/codex";
const PEER_VERSION: &str = "0.123.0";

/// The environment variable the conformance tests read (see `test_support::PEER_ENV`).
const PEER_ENV: &str = "EXEC_PEER_CODEX";

/// The current Codex generation, for the cases against its server (`exec-client run` and `cp`,
/// `ExecClient`); the same install `cargo xtask codex-e2e` uses.
const CURRENT_VERSION: &str = "0.171.0";
const CURRENT_ENV: &str = "EXEC_CODEX_171";

/// Installs the peer into `<root>/.cache/peer` unless the pinned version is already there;
/// returns the path of its `codex` launcher.
pub fn ensure_installed(root: &Path) -> Result<std::path::PathBuf, String> {
    ensure_codex(root, "peer", PEER_VERSION)
}

/// Installs `@openai/codex@version` into `<root>/.cache/<folder>` unless that version is already
/// there; returns the path of its `codex` launcher.
pub fn ensure_codex(root: &Path, folder: &str, version: &str) -> Result<std::path::PathBuf, String> {
    let prefix = root.join(".cache").join(folder);
    let codex = prefix.join("node_modules").join(".bin").join("codex");
    if !(codex.exists() && installed_version_matches(&prefix, version)) {
        install_codex(root, &prefix, version)?;
        if !codex.exists() {
            return Err(format!("npm finished but {} is missing", codex.display()));
        }
    }
    Ok(codex)
}

/// Installs the peer if needed, then runs the peer conformance tests.
pub fn peer_test(root: &Path) -> Result<(), String> {
    let codex = ensure_installed(root)?;
    let codex = codex.to_str().ok_or_else(|| format!("{} is not UTF-8", codex.display()))?;
    let current = ensure_codex(root, "codex-0.171", CURRENT_VERSION)?;
    let current = current.to_str().ok_or_else(|| format!("{} is not UTF-8", current.display()))?;
    let env = [(PEER_ENV, codex), (CURRENT_ENV, current)];
    if crate::has_nextest(root) {
        crate::run(
            root,
            "cargo",
            &[
                "nextest",
                "run",
                "--package",
                "exec-server",
                "--package",
                "exec-client",
                "--test",
                "it",
                "--no-fail-fast",
                "-E",
                "test(/^conformance::peer::/) | (package(exec-client) & test(/^peer::|codex_171/))",
            ],
            &env,
        )?;
    } else {
        eprintln!("xtask: cargo-nextest not found, falling back to cargo test");
        crate::run(
            root,
            "cargo",
            &["test", "--package", "exec-server", "--test", "it", "conformance::peer::"],
            &env,
        )?;
        crate::run(root, "cargo", &["test", "--package", "exec-client", "--test", "it", "peer::"], &env)?;
        crate::run(root, "cargo", &["test", "--package", "exec-client", "--test", "it", "codex_171"], &env)?;
    }
    eprintln!(
        "xtask: peer-test passed against {PEER_PACKAGE}@{PEER_VERSION} (and @{CURRENT_VERSION} for run, cp and ExecClient)"
    );
    Ok(())
}

/// Whether `<prefix>/node_modules/@openai/codex/package.json` names the pinned version.
fn installed_version_matches(prefix: &Path, version: &str) -> bool {
    let manifest = prefix.join("node_modules").join(PEER_PACKAGE).join("package.json");
    let Ok(text) = std::fs::read_to_string(manifest) else { return false };
    // A plain text search keeps xtask free of a JSON parser; npm writes `"version": "X"`.
    text.contains(&format!("\"version\": \"{version}\""))
}

fn install_codex(root: &Path, prefix: &Path, version: &str) -> Result<(), String> {
    std::fs::create_dir_all(prefix)
        .map_err(|error| format!("cannot create {}: {error}", prefix.display()))?;
    let npm_works = Command::new("npm").arg("--version").output().is_ok_and(|output| output.status.success());
    if !npm_works {
        return Err("npm is needed to install the Codex peer (install Node.js 18 or later)".to_owned());
    }
    let prefix = prefix.to_str().ok_or_else(|| format!("{} is not UTF-8", prefix.display()))?;
    let package = format!("{PEER_PACKAGE}@{version}");
    crate::run(root, "npm", &["install", "--no-audit", "--no-fund", "--prefix", prefix, &package], &[])
}
