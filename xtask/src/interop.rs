//! `cargo xtask interop`: a real third-party MCP client against a real third-party MCP server.
//!
//! It creates a virtual environment under [`VENV`] with the machine's `python3`, installs the
//! pinned [`PACKAGES`] (the Python MCP SDK and `mcp-server-time`) from PyPI, builds and starts our
//! `exec-server` on loopback, and runs `xtask/interop/check_mcp.py`, which launches
//! [`server_command`] — `exec-client mcp --url URL -- python -m mcp_server_time` — with the SDK's
//! stdio client, initializes, lists the tools, and calls `get_current_time` for UTC. So a real
//! third-party MCP client uses a real third-party MCP server that runs on the executor, through
//! the bridge. The check runs twice: with the command on the bridge's command line, and with the
//! server taken from an MCP config file (`--config FILE --server time`).
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
    crate::run(
        root,
        "cargo",
        &["build", "--locked", "--package", "exec-server", "--package", "exec-client"],
        &[],
    )?;
    let target = target_dir(root);
    let server = Server::start(&target.join("exec-server"))?;
    let client = target.join("exec-client");

    let config = root.join(".cache/interop/mcp.toml");
    let config_text = format!(
        "[mcp_servers.time]\ncommand = {python:?}\nargs = [\"-m\", \"mcp_server_time\"]\nexecutor = {url:?}\ncwd = {cwd:?}\n",
        python = python_text,
        url = server.url,
        cwd = path_text(root)?,
    );
    std::fs::write(&config, config_text)
        .map_err(|error| format!("cannot write {}: {error}", config.display()))?;

    for command in [server_command(&client, &server.url, &python), config_command(&client, &config)] {
        let mut check: Vec<&str> = vec![CHECK_SCRIPT, "--"];
        check.extend(command.iter().map(String::as_str));
        crate::run(root, python_text, &check, &[])?;
    }
    drop(server);
    eprintln!("xtask: interop passed");
    Ok(())
}

/// The MCP server command the Python client launches, as one argument list: the bridge, with the
/// server's command after `--`.
fn server_command(client: &Path, url: &str, python: &Path) -> Vec<String> {
    vec![
        client.display().to_string(),
        "mcp".to_owned(),
        "--url".to_owned(),
        url.to_owned(),
        "--".to_owned(),
        python.display().to_string(),
        "-m".to_owned(),
        "mcp_server_time".to_owned(),
    ]
}

/// The same server, named in an MCP config file (which also names the executor).
fn config_command(client: &Path, config: &Path) -> Vec<String> {
    let config = config.display().to_string();
    [client.display().to_string(), "mcp".into(), "--config".into(), config, "--server".into(), "time".into()]
        .into()
}

/// Cargo's target folder (honouring `CARGO_TARGET_DIR`), debug profile.
fn target_dir(root: &Path) -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let base = if base.is_absolute() { base } else { root.join(base) };
    base.join("debug")
}

/// Our exec-server on a loopback port, killed (with its process group) on drop.
struct Server {
    child: std::process::Child,
    url: String,
}

impl Server {
    fn start(binary: &Path) -> Result<Server, String> {
        use std::io::BufRead as _;
        use std::os::unix::process::CommandExt as _;
        let mut child = std::process::Command::new(binary)
            .args(["--listen", "ws://127.0.0.1:0"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|error| format!("cannot start {}: {error}", binary.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|error| format!("cannot read the server's URL: {error}"))?;
        let url = line.trim().to_owned();
        if !url.starts_with("ws://") {
            let _ = child.kill();
            return Err(format!("exec-server printed {line:?} instead of its URL"));
        }
        Ok(Server { child, url })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The whole group: the server and anything it started.
        let _ = std::process::Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
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
