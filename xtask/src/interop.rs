//! `cargo xtask interop`: a real third-party MCP client against a real third-party MCP server.
//!
//! It creates a virtual environment under [`VENV`] with the machine's `python3`, installs the
//! pinned [`PACKAGES`] (the Python MCP SDK and `mcp-server-time`) from PyPI, and runs
//! `xtask/interop/check_mcp.py`, which launches [`server_command`] with the SDK's stdio client,
//! initializes, lists the tools, and calls `get_current_time` for UTC.
//!
//! Today the server runs as a direct child of the script, which proves the script itself; the
//! command is built in [`server_command`] alone so that it can become `exec-client mcp --url URL
//! -- python -m mcp_server_time` against a started exec-server without touching anything else.
//!
//! It installs nothing outside the venv and never upgrades a venv in place: changing
//! [`PACKAGES`] reinstalls into the same venv (the marker file records what was installed).

use std::path::{Path, PathBuf};

/// The virtual environment, relative to the workspace root (`.cache` is ignored by git).
const VENV: &str = ".cache/interop/venv";

/// What the venv gets from PyPI. Pinned, so a new release cannot change a passing check.
const PACKAGES: &[&str] = &["mcp==2.3.0", "mcp-server-time==2026.10.19"];

/// The script that plays the MCP client.
const CHECK_SCRIPT: &str = "xtask/interop/check_mcp.py";

/// A file in the venv holding the package list it was installed with.
const MARKER: &str = "xtask-packages.txt";

pub(crate) fn interop(root: &Path) -> Result<(), String> {
    let venv = root.join(VENV);
    let python = prepare_venv(root, &venv)?;
    let python_text = path_text(&python)?;

    let mut check: Vec<&str> = vec![python_text, CHECK_SCRIPT, "--"];
    let server = server_command(&python);
    check.extend(server.iter().map(String::as_str));
    crate::run(root, check[0], &check[1..], &[])?;
    eprintln!("xtask: interop passed");
    Ok(())
}

/// The MCP server command the Python client launches, as one argument list.
fn server_command(python: &Path) -> Vec<String> {
    vec![python.display().to_string(), "-m".to_owned(), "mcp_server_time".to_owned()]
}

/// Creates the venv if needed and installs [`PACKAGES`] unless the marker says they are there;
/// returns the venv's python.
fn prepare_venv(root: &Path, venv: &Path) -> Result<PathBuf, String> {
    let python = venv.join("bin").join("python");
    if !python.is_file() {
        let venv_text = path_text(venv)?;
        crate::run(root, "python3", &["-m", "venv", venv_text], &[])
            .map_err(|error| format!("{error}\n(interop needs python3 with the venv module)"))?;
    }
    let marker = venv.join(MARKER);
    let wanted = PACKAGES.join("\n");
    if std::fs::read_to_string(&marker).is_ok_and(|installed| installed == wanted) {
        return Ok(python);
    }
    let mut install = vec!["-m", "pip", "install", "--disable-pip-version-check", "--quiet"];
    install.extend_from_slice(PACKAGES);
    crate::run(root, path_text(&python)?, &install, &[])?;
    std::fs::write(&marker, wanted).map_err(|error| format!("cannot write {}: {error}", marker.display()))?;
    Ok(python)
}

fn path_text(path: &Path) -> Result<&str, String> {
    path.to_str().ok_or_else(|| format!("path {} is not UTF-8", path.display()))
}
