//! `cargo xtask container`: builds the container recipe (`deploy/container/Containerfile`)
//! without any image registry, runs it, and probes it from outside.
//!
//! 1. Builds a statically linked `exec-server` for the host's target (glibc with
//!    `-C target-feature=+crt-static`, so no loader and no shared library is needed) and checks
//!    that the result has no ELF interpreter.
//! 2. Assembles the image's root filesystem in `<target>/container/context/rootfs`: the binary,
//!    a shell and the usual tools from Debian's `busybox-static` package (the host's
//!    `/bin/busybox` when it is static, else `apt-get download`; without it the image has no
//!    shell and this says so), `/etc/passwd` and `/etc/group` with the `agent` user (uid 10001),
//!    and its writable `/home/agent`, `/workspace` and `/tmp`.
//! 3. Runs it: with podman or docker when one answers (`podman info`), `build` + `run` with the
//!    port published on loopback; otherwise with a stand-in that keeps what matters for the
//!    server: the same root filesystem (`unshare --root`), the same entrypoint and CMD (parsed
//!    from the Containerfile), the same user (10001:10001) and working directory, a new PID
//!    namespace with the server as PID 1, a private `/proc` and the host's `/dev`. Not the same:
//!    no network namespace (the port is the host's, so the CMD's port is replaced by a free one),
//!    no cgroup limits, no seccomp profile. The stand-in needs root.
//! 4. Probes `/livez`, `/readyz` and `/metrics` (with and without the token) over TCP from
//!    outside. The stand-in also checks from the host's `/proc` that exec-server is PID 1 and
//!    runs as uid 10001, runs a command in it with the host's `exec-client` (dev build): it must
//!    print uid 10001, write in `/workspace`, and the orphan it leaves must be reaped; then it
//!    sends SIGTERM to PID 1 and expects exit status 0.
//!
//! Every step that could not be done is printed as `xtask: NOT DONE: ...`. `--no-run` stops
//! after step 2; `--debug` builds the dev profile (quicker, larger). The release build is why
//! this is not part of `cargo xtask ci`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user of the image (`USER` in the Containerfile).
const AGENT_UID: u32 = 10001;
/// How long the server may take to print its URL, and to stop after SIGTERM.
const START_DEADLINE: Duration = Duration::from_secs(30);
const STOP_DEADLINE: Duration = Duration::from_secs(30);

pub(crate) fn container(root: &Path, args: &[String]) -> Result<(), String> {
    let run = !args.iter().any(|arg| arg == "--no-run");
    let debug = args.iter().any(|arg| arg == "--debug");
    if let Some(unknown) = args.iter().find(|arg| !["--no-run", "--debug"].contains(&arg.as_str())) {
        return Err(format!("container: unknown argument {unknown}"));
    }
    let mut not_done = Vec::new();
    let began = Instant::now();
    let binary = build_static(root, debug)?;
    eprintln!(
        "xtask: static exec-server built in {:.0} s: {}",
        began.elapsed().as_secs_f64(),
        binary.display()
    );

    // The build context holds the root filesystem only; downloads and the stand-in's run copy
    // (which holds a token) stay beside it, out of what an engine would upload.
    let work = crate::bench::target_dir(root).join("container");
    let context = work.join("context");
    let rootfs = context.join("rootfs");
    assemble(&rootfs, &work, &binary, &mut not_done)?;
    eprintln!("xtask: root filesystem assembled in {}", rootfs.display());

    if run {
        let containerfile = root.join("deploy/container/Containerfile");
        let engine = ["podman", "docker"].into_iter().find(|engine| answers(engine));
        match engine {
            Some(engine) => run_engine(engine, &containerfile, &context, &work)?,
            None => {
                not_done.push(
                    "building the image with podman or docker: neither answers here (`podman info`, \
                     `docker info`); ran the root filesystem with the unshare stand-in instead"
                        .to_owned(),
                );
                run_stand_in(root, &containerfile, &rootfs, &work, &build_client(root)?)?;
            }
        }
    } else {
        not_done.push("running it (--no-run)".to_owned());
    }
    for line in &not_done {
        eprintln!("xtask: NOT DONE: {line}");
    }
    eprintln!("xtask: container done in {:.0} s", began.elapsed().as_secs_f64());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Build

fn host_target() -> Result<String, String> {
    let output = Command::new("rustc").arg("-vV").output().map_err(|error| format!("rustc -vV: {error}"))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc -vV names no host".to_owned())
}

/// Builds exec-server with the C runtime linked in. `--target` is given explicitly so that
/// RUSTFLAGS apply to the binary only, not to build scripts and proc macros (which must stay
/// dynamic), and so the static build has its own folder under the target directory.
fn build_static(root: &Path, debug: bool) -> Result<PathBuf, String> {
    let target = host_target()?;
    if !target.contains("-linux-") {
        return Err(format!("container: a Linux host is needed, this is {target}"));
    }
    let mut args = vec!["build", "--locked", "--package", "exec-server", "--target", &target];
    if !debug {
        args.push("--release");
    }
    crate::run(root, "cargo", &args, &[("RUSTFLAGS", "-C target-feature=+crt-static")])?;
    let binary = crate::bench::target_dir(root)
        .join(&target)
        .join(if debug { "debug" } else { "release" })
        .join("exec-server");
    if has_interpreter(&binary)? {
        return Err(format!(
            "{} still needs a dynamic loader (is glibc's static libc.a installed? Debian: libc6-dev)",
            binary.display()
        ));
    }
    Ok(binary)
}

/// Whether an ELF executable names a program interpreter (`PT_INTERP`): a dynamically linked one.
fn has_interpreter(path: &Path) -> Result<bool, String> {
    let bytes = std::fs::read(path).map_err(|error| format!("read {}: {error}", path.display()))?;
    let field = |at: usize, width: usize| -> Option<u64> {
        let slice = bytes.get(at..at + width)?;
        let mut value = [0u8; 8];
        value[..width].copy_from_slice(slice);
        Some(u64::from_le_bytes(value))
    };
    // 64-bit little-endian ELF only (what the Linux targets here produce).
    if bytes.get(..6) != Some(b"\x7fELF\x02\x01".as_slice()) {
        return Err(format!("{} is not a 64-bit little-endian ELF file", path.display()));
    }
    let malformed = || format!("{}: malformed ELF header", path.display());
    let table = usize::try_from(field(0x20, 8).ok_or_else(malformed)?).map_err(|_| malformed())?;
    let entry_size = usize::try_from(field(0x36, 2).ok_or_else(malformed)?).map_err(|_| malformed())?;
    let entries = usize::try_from(field(0x38, 2).ok_or_else(malformed)?).map_err(|_| malformed())?;
    const PT_INTERP: u64 = 3;
    for index in 0..entries {
        if field(table + index * entry_size, 4).ok_or_else(malformed)? == PT_INTERP {
            return Ok(true);
        }
    }
    Ok(false)
}

// ---------------------------------------------------------------------------------------------
// Root filesystem

fn assemble(rootfs: &Path, work: &Path, binary: &Path, not_done: &mut Vec<String>) -> Result<(), String> {
    let io = |what: &str, path: &Path| {
        let path = path.display().to_string();
        let what = what.to_owned();
        move |error: std::io::Error| format!("{what} {path}: {error}")
    };
    let context = rootfs.parent().unwrap_or(rootfs);
    if context.exists() {
        std::fs::remove_dir_all(context).map_err(io("remove", context))?;
    }
    for (folder, mode) in [
        ("usr/local/bin", 0o755),
        ("bin", 0o755),
        ("etc", 0o755),
        ("home/agent", 0o750),
        ("workspace", 0o750),
        ("tmp", 0o1777),
        ("proc", 0o555),
        ("dev", 0o755),
        ("run/secrets/exec-server", 0o755),
    ] {
        let path = rootfs.join(folder);
        std::fs::create_dir_all(&path).map_err(io("create", &path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(io("chmod", &path))?;
    }
    let installed = rootfs.join("usr/local/bin/exec-server");
    std::fs::copy(binary, &installed).map_err(io("copy to", &installed))?;
    // The release profile keeps debug info (for profiling); the image does not need it.
    match Command::new("strip").arg("--strip-debug").arg(&installed).status() {
        Ok(status) if status.success() => {}
        outcome => not_done.push(format!("stripping debug info from the image's binary: {outcome:?}")),
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        format!("root:x:0:0:root:/root:/bin/sh\nagent:x:{AGENT_UID}:{AGENT_UID}:agent:/home/agent:/bin/sh\n"),
    )
    .map_err(io("write", &rootfs.join("etc/passwd")))?;
    std::fs::write(rootfs.join("etc/group"), format!("root:x:0:\nagent:x:{AGENT_UID}:\n"))
        .map_err(io("write", &rootfs.join("etc/group")))?;
    // The image's COPY --chown gives these to the agent; the stand-in needs them owned already.
    for folder in ["home/agent", "workspace"] {
        let path = rootfs.join(folder);
        if let Err(error) = std::os::unix::fs::chown(&path, Some(AGENT_UID), Some(AGENT_UID)) {
            not_done.push(format!("giving {} to uid {AGENT_UID}: {error}", path.display()));
        }
    }
    match busybox(work) {
        Ok(busybox) => {
            let installed = rootfs.join("bin/busybox");
            std::fs::copy(&busybox, &installed).map_err(io("copy to", &installed))?;
            let list = Command::new(&installed).arg("--list").output().map_err(io("run", &installed))?;
            let mut count = 0;
            for applet in String::from_utf8_lossy(&list.stdout).lines().filter(|name| !name.is_empty()) {
                let link = rootfs.join("bin").join(applet);
                if applet != "busybox" && !link.exists() {
                    std::os::unix::fs::symlink("busybox", &link).map_err(io("link", &link))?;
                    count += 1;
                }
            }
            eprintln!(
                "xtask: /bin/busybox from {} with {count} applets (sh, ls, cat, ...)",
                busybox.display()
            );
        }
        Err(reason) => not_done.push(format!(
            "a shell in the image: {reason}; the image has exec-server only, so commands must be \
             absolute paths to programs you add"
        )),
    }
    Ok(())
}

/// A static busybox from Debian's `busybox-static`: the host's, else a downloaded package
/// unpacked into `work`.
fn busybox(work: &Path) -> Result<PathBuf, String> {
    let host = PathBuf::from("/bin/busybox");
    if host.is_file() && !has_interpreter(&host).unwrap_or(true) {
        return Ok(host);
    }
    let download = work.join("busybox-static");
    if download.exists() {
        std::fs::remove_dir_all(&download)
            .map_err(|error| format!("remove {}: {error}", download.display()))?;
    }
    std::fs::create_dir_all(&download).map_err(|error| format!("create {}: {error}", download.display()))?;
    let fetched = Command::new("apt-get")
        .args(["download", "-q", "busybox-static"])
        .current_dir(&download)
        .stdout(Stdio::null())
        .status()
        .map_err(|error| format!("apt-get download busybox-static: {error}"))?;
    if !fetched.success() {
        return Err(format!("apt-get download busybox-static failed ({fetched})"));
    }
    let package = std::fs::read_dir(&download)
        .map_err(|error| format!("read {}: {error}", download.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|extension| extension == "deb"))
        .ok_or("apt-get download left no .deb")?;
    let unpacked = download.join("root");
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&package)
        .arg(&unpacked)
        .status()
        .map_err(|error| format!("dpkg-deb: {error}"))?;
    let binary = unpacked.join("bin/busybox");
    if !status.success() || !binary.is_file() {
        return Err(format!("dpkg-deb -x {} gave no bin/busybox", package.display()));
    }
    Ok(binary)
}

// ---------------------------------------------------------------------------------------------
// Run

fn answers(engine: &str) -> bool {
    Command::new(engine)
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// ENTRYPOINT + CMD of the Containerfile (exec form), as the engine would run them.
fn image_command(containerfile: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(containerfile)
        .map_err(|error| format!("read {}: {error}", containerfile.display()))?;
    let array = |keyword: &str| -> Result<Vec<String>, String> {
        let line = text
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix(keyword).and_then(|rest| rest.strip_prefix(' ')))
            .ok_or_else(|| format!("no {keyword} in {}", containerfile.display()))?;
        serde_json::from_str(line).map_err(|error| format!("{keyword} is not exec form: {error}"))
    };
    let mut command = array("ENTRYPOINT")?;
    command.extend(array("CMD")?);
    Ok(command)
}

/// The stand-in: see the module docs for what it keeps and what it does not.
fn run_stand_in(
    root: &Path,
    containerfile: &Path,
    rootfs: &Path,
    work: &Path,
    client: &Path,
) -> Result<(), String> {
    if effective_uid() != 0 {
        return Err("the unshare stand-in needs root (it mounts /dev and /proc and changes user)".to_owned());
    }
    // A run copy with a token (hard links: the image's folder keeps no secret).
    let run_root = work.join("run-rootfs");
    if run_root.exists() {
        std::fs::remove_dir_all(&run_root)
            .map_err(|error| format!("remove {}: {error}", run_root.display()))?;
    }
    crate::run(root, "cp", &["-a", "-l", &path_text(rootfs)?, &path_text(&run_root)?], &[])?;
    let token = "xtask-container-token";
    let token_file = run_root.join("run/secrets/exec-server/token");
    std::fs::write(&token_file, token).map_err(|error| format!("write {}: {error}", token_file.display()))?;

    let mut command = image_command(containerfile)?;
    let program = command.remove(0);
    for argument in &mut command {
        if let Some(port) = argument.strip_prefix("ws://0.0.0.0:") {
            eprintln!("xtask: stand-in shares the host's network: listening on a free port, not {port}");
            *argument = "ws://0.0.0.0:0".to_owned();
        }
    }
    // PID namespace (the shell becomes its PID 1 and execs into the server), a mount namespace
    // for the /dev bind, then the image's root, user, working directory and a fresh /proc.
    let script = "mount --rbind /dev \"$0/dev\" && exec unshare --root=\"$0\" --wd=/workspace \
                  --setuid 10001 --setgid 10001 --mount-proc -- \"$@\"";
    let mut child = Command::new("unshare")
        .args([
            "--pid",
            "--fork",
            "--kill-child",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            script,
        ])
        .arg(&run_root)
        .arg(&program)
        .args(&command)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", "/home/agent")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("unshare: {error}"))?;
    let outcome = probe_stand_in(&mut child, token, client);
    if outcome.is_err() {
        // The run failed half-way: take the namespace down (--kill-child takes the server).
        // Errors mean it is gone already.
        let _ = child.kill();
        let _ = child.wait();
    }
    // The run copy holds the token; a failure to remove it is reported, not fatal.
    if let Err(error) = std::fs::remove_dir_all(&run_root) {
        eprintln!("xtask: could not remove {}: {error}", run_root.display());
    }
    outcome
}

fn probe_stand_in(child: &mut Child, token: &str, client: &Path) -> Result<(), String> {
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (url_sender, url_receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        // Ignoring a failed send: the receiver gave up waiting, and the run has failed already.
        let _ = url_sender.send(lines.next().and_then(Result::ok));
        lines.for_each(drop);
    });
    let url = url_receiver
        .recv_timeout(START_DEADLINE)
        .ok()
        .flatten()
        .ok_or("the server printed no URL (its stderr is above)")?;
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .ok_or_else(|| format!("not a URL: {url}"))?;
    eprintln!("xtask: the server listens: {url}");

    let server = server_pid(child.id())?;
    let status =
        std::fs::read_to_string(format!("/proc/{server}/status")).map_err(|error| error.to_string())?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::split_whitespace)
            .map(Iterator::collect)
    };
    let nspid: Vec<&str> = field("NSpid:").unwrap_or_default();
    let uids: Vec<&str> = field("Uid:").unwrap_or_default();
    if nspid.last() != Some(&"1") {
        return Err(format!("the server is not PID 1 of its namespace: NSpid {nspid:?}"));
    }
    if uids.iter().any(|uid| *uid != AGENT_UID.to_string()) {
        return Err(format!("the server does not run as {AGENT_UID}: Uid {uids:?}"));
    }
    eprintln!("xtask: the server is PID 1 of its PID namespace (host pid {server}), uid {AGENT_UID}");

    for (path, extra) in [("/livez", ""), ("/readyz", ""), ("/metrics", "")] {
        let code = http_status(port, path, extra)?;
        let expected = if path == "/metrics" { 401 } else { 200 };
        if code != expected {
            return Err(format!("GET {path} answered {code}, expected {expected}"));
        }
        eprintln!("xtask: GET {path} from outside: {code}");
    }
    let authorized = format!("Authorization: Bearer {token}\r\n");
    let code = http_status(port, "/metrics", &authorized)?;
    if code != 200 {
        return Err(format!("GET /metrics with the token answered {code}"));
    }
    eprintln!("xtask: GET /metrics with the mounted token: 200");

    // A command in the container, through the host's exec-client: it runs as the image's user
    // with the image's shell, and the orphan it leaves (a double fork) is reaped by PID 1.
    let output = Command::new(client)
        .args(["--url", &format!("ws://127.0.0.1:{port}"), "run", "--cwd", "/workspace", "--"])
        .args(["sh", "-c", "(sleep 0.2 </dev/null >/dev/null 2>&1 &); id -u; touch made-here && pwd"])
        .env("EXEC_SERVER_TOKEN", token)
        .output()
        .map_err(|error| format!("exec-client: {error}"))?;
    let printed = String::from_utf8_lossy(&output.stdout);
    if !output.status.success()
        || printed.split_whitespace().collect::<Vec<_>>() != [AGENT_UID.to_string().as_str(), "/workspace"]
    {
        return Err(format!(
            "a command in the container printed {printed:?} ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    eprintln!(
        "xtask: exec-client run --cwd /workspace -- sh -c '(sleep 0.2 &); id -u; touch made-here && pwd' \
         in the container: {}",
        printed.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        let left: Vec<(u32, char, String)> = descendants(server)
            .into_iter()
            .filter(|(_, state, name)| *state == 'Z' || name == "sleep" || name == "sh")
            .collect();
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("the command's orphan was not reaped: {left:?}"));
        }
        // Nothing outside the namespace announces a reap: poll.
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("xtask: the command's double-forked orphan was reaped; no zombie in the container");

    // SIGTERM to PID 1 (what `podman stop` sends); the server drains and exits 0.
    let killed = Command::new("kill").args(["-s", "TERM", &server.to_string()]).status();
    if !killed.is_ok_and(|status| status.success()) {
        return Err("could not send SIGTERM".to_owned());
    }
    let deadline = Instant::now() + STOP_DEADLINE;
    loop {
        if let Some(exit) = child.try_wait().map_err(|error| error.to_string())? {
            if !exit.success() {
                return Err(format!("after SIGTERM the server exited with {exit}"));
            }
            eprintln!("xtask: SIGTERM: the server stopped with status 0");
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the server did not stop within {} s of SIGTERM", STOP_DEADLINE.as_secs()));
        }
        // No event to wait on for a child with a deadline in std: poll.
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// exec-client for the host (dev profile), to run a command in the container.
fn build_client(root: &Path) -> Result<PathBuf, String> {
    crate::run(root, "cargo", &["build", "--locked", "--package", "exec-client"], &[])?;
    Ok(crate::bench::target_dir(root).join("debug").join("exec-client"))
}

/// Every process under `pid` (itself included): pid, one-letter state and command name, from
/// `/proc` (the children of every thread).
fn descendants(pid: u32) -> Vec<(u32, char, String)> {
    let mut found = Vec::new();
    let mut pending = vec![pid];
    while let Some(pid) = pending.pop() {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // `pid (comm) state ...`; comm may hold spaces and parentheses: split at the last ')'.
        let (head, tail) = stat.rsplit_once(')').unwrap_or((&stat, ""));
        let name = head.split_once('(').map_or("", |(_, name)| name).to_owned();
        let state = tail.trim_start().chars().next().unwrap_or('?');
        found.push((pid, state, name));
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { continue };
        for task in tasks.filter_map(Result::ok) {
            let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            pending.extend(children.split_whitespace().filter_map(|child| child.parse::<u32>().ok()));
        }
    }
    found
}

/// The host pid of the process the outer `unshare` forked (PID 1 inside): its only child.
fn server_pid(unshare: u32) -> Result<u32, String> {
    let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))
        .map_err(|error| format!("children of unshare: {error}"))?;
    children
        .split_whitespace()
        .next()
        .and_then(|pid| pid.parse().ok())
        .ok_or_else(|| "unshare has no child".to_owned())
}

/// Status code of `GET path` on 127.0.0.1:port, with extra header lines.
fn http_status(port: u16, path: &str, extra: &str) -> Result<u16, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|error| format!("connect: {error}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|error| error.to_string())?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra}\r\n")
        .map_err(|error| format!("send: {error}"))?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|error| format!("read: {error}"))?;
    String::from_utf8_lossy(&head[9..12]).parse().map_err(|_| format!("not an HTTP answer: {head:?}"))
}

/// Builds the image and runs it with the port published on loopback. Written for podman and
/// docker's shared command line; not run on the machine that wrote it (no engine answered).
fn run_engine(engine: &str, containerfile: &Path, context: &Path, work: &Path) -> Result<(), String> {
    let tag = "exec-server:xtask";
    let status = Command::new(engine)
        .args(["build", "-f"])
        .arg(containerfile)
        .args(["-t", tag])
        .arg(context)
        .status()
        .map_err(|error| format!("{engine} build: {error}"))?;
    if !status.success() {
        return Err(format!("{engine} build failed ({status})"));
    }
    let token_dir = work.join("engine-token");
    std::fs::create_dir_all(&token_dir).map_err(|error| error.to_string())?;
    let token_file = token_dir.join("token");
    let token = "xtask-container-token";
    std::fs::write(&token_file, token).map_err(|error| error.to_string())?;
    // Readable by the image's user, whatever uid mapping the engine uses.
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644))
        .map_err(|error| error.to_string())?;
    let output = Command::new(engine)
        .args(["run", "-d", "--rm", "-p", "127.0.0.1::7878", "-v"])
        .arg(format!("{}:/run/secrets/exec-server/token:ro", token_file.display()))
        .arg(tag)
        .output()
        .map_err(|error| format!("{engine} run: {error}"))?;
    let id = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || id.is_empty() {
        return Err(format!("{engine} run failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let outcome = (|| {
        let port = Command::new(engine)
            .args(["port", &id, "7878"])
            .output()
            .map_err(|error| format!("{engine} port: {error}"))?;
        let published = String::from_utf8_lossy(&port.stdout);
        let port: u16 = published
            .lines()
            .next()
            .and_then(|line| line.rsplit(':').next())
            .and_then(|port| port.trim().parse().ok())
            .ok_or_else(|| format!("{engine} port said {published:?}"))?;
        let deadline = Instant::now() + START_DEADLINE;
        // The container starts asynchronously and announces nothing outside: poll its port.
        while http_status(port, "/livez", "").is_err() {
            if Instant::now() > deadline {
                return Err("the container never answered /livez".to_owned());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for path in ["/livez", "/readyz"] {
            let code = http_status(port, path, "")?;
            if code != 200 {
                return Err(format!("GET {path} answered {code}"));
            }
            eprintln!("xtask: GET {path} from outside the container: {code}");
        }
        let code = http_status(port, "/metrics", &format!("Authorization: Bearer {token}\r\n"))?;
        if code != 200 {
            return Err(format!("GET /metrics with the token answered {code}"));
        }
        Ok(())
    })();
    let stopped = Command::new(engine).args(["stop", "-t", "15", &id]).status();
    if !stopped.is_ok_and(|status| status.success()) {
        eprintln!("xtask: {engine} stop {id} failed");
    }
    outcome
}

fn path_text(path: &Path) -> Result<String, String> {
    path.to_str().map(str::to_owned).ok_or_else(|| format!("{} is not UTF-8", path.display()))
}

/// The effective uid, from `/proc/self/status` (xtask has no libc dependency).
fn effective_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|uids| uids.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(u32::MAX)
}
