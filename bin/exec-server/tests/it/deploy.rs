//! The recipes in `deploy/`, checked as far as a machine without systemd as init, without a
//! container engine and without a Kubernetes cluster allows. Each test says what it could not do.
//!
//! - systemd unit: `systemd-analyze verify` and `systemd-analyze security --offline` when
//!   `systemd-analyze` is installed (otherwise only the parsed checks run, and the test says so);
//!   the required keys; and the real binary started with the unit's `ExecStart` flags and config
//!   file. Not done: starting the unit under systemd (no systemd as PID 1 here), so the sandboxing
//!   options were not seen in effect.
//! - Containerfile: parsed; `FROM scratch` (no registry), non-root, no init wrapper, and the real
//!   binary started with its `ENTRYPOINT` + `CMD` flags. Building and running the image is
//!   `cargo xtask container` (a release build, so not part of this suite).
//! - Kubernetes manifest: parsed (a small YAML-subset reader below, so no YAML crate is needed);
//!   one exec-server per pod, token from a Secret, probes on `/readyz` and `/livez`, limits, a
//!   headless Service; and the real binary started with the command line the kubelet would run:
//!   the image's `ENTRYPOINT` followed by the container's `args` (which replace `CMD`). Not done:
//!   applying it to a cluster.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value, json};
use test_support::{ServerProcess, TempDir, http_status};

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read_recipe(relative: &str) -> String {
    let path = repository_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// systemd

/// `[Section]` → `(key, value)` lines of a unit file, in order (a key may repeat).
fn parse_unit(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut entries = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or_else(|| panic!("not a key=value line: {line:?}"));
        assert!(!line.ends_with('\\'), "continuation lines are not used in the unit: {line:?}");
        entries.push((section.clone(), key.trim().to_owned(), value.trim().to_owned()));
    }
    entries
}

fn unit_value<'a>(entries: &'a [(String, String, String)], section: &str, key: &str) -> Option<&'a str> {
    entries.iter().rev().find(|(s, k, _)| s == section && k == key).map(|(_, _, value)| value.as_str())
}

#[test]
fn systemd_unit_has_the_required_keys() {
    let unit = parse_unit(&read_recipe("deploy/systemd/exec-server.service"));
    let service = |key: &str| unit_value(&unit, "Service", key);

    assert_eq!(service("KillMode"), Some("control-group"));
    let user = service("User").expect("a dedicated User=");
    assert!(!["root", "0", ""].contains(&user), "User={user}");
    assert_eq!(service("DynamicUser"), None, "workspace files need a stable owner");
    let sysusers = read_recipe("deploy/systemd/exec-server.sysusers");
    assert!(sysusers.lines().any(|line| line.starts_with(&format!("u {user} "))), "sysusers creates {user}");

    // The token: a credential, handed to the server as a file under %d.
    let credential = service("LoadCredential").expect("LoadCredential=");
    let (name, source) = credential.split_once(':').expect("LoadCredential=NAME:PATH");
    assert!(source.starts_with('/'), "{credential}");
    let exec_start = service("ExecStart").expect("ExecStart=");
    assert!(exec_start.contains(&format!("--auth-token-file %d/{name}")), "{exec_start}");

    // Hardening that does not take away what an executor is for.
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("ProtectSystem", "full"),
        ("ProtectKernelModules", "yes"),
        ("OOMPolicy", "continue"),
    ] {
        assert_eq!(service(key), Some(value), "{key}=");
    }
    for key in ["RestrictNamespaces", "SystemCallFilter", "MemoryDenyWriteExecute", "PrivateNetwork"] {
        assert_eq!(service(key), None, "{key}= would break commands or the per-command sandbox");
    }
    assert!(service("StateDirectory").is_some(), "a writable workspace");

    // The drain (from the config file the unit names) ends before systemd's SIGKILL.
    let config = read_recipe("deploy/exec-server.toml");
    let drain = config.lines().find_map(|line| line.strip_prefix("drain_timeout = ")).expect("drain_timeout");
    let drain: u64 = drain.trim_matches('"').trim_end_matches('s').parse().expect("drain_timeout in seconds");
    let stop: u64 = service("TimeoutStopSec")
        .and_then(|value| value.trim_end_matches('s').parse().ok())
        .expect("TimeoutStopSec=");
    assert!(drain < stop, "drain_timeout {drain}s must end before TimeoutStopSec={stop}s");
}

#[test]
fn systemd_analyze_accepts_the_unit() {
    let Some(analyze) = on_path("systemd-analyze") else {
        eprintln!("systemd-analyze is not installed: only the parsed checks of the unit ran");
        return;
    };
    // `verify` insists that ExecStart's program exists: point it at the binary under test.
    let scratch = TempDir::new("systemd-unit");
    let unit_path = scratch.path().join("exec-server.service");
    let unit = read_recipe("deploy/systemd/exec-server.service")
        .replace("/usr/local/bin/exec-server", env!("CARGO_BIN_EXE_exec-server"));
    std::fs::write(&unit_path, unit).expect("write the unit copy");

    let verify = Command::new(&analyze).arg("verify").arg(&unit_path).output().expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&verify.stderr);
    // verify exits 0 even for unknown keys and bad values; its warnings are the finding.
    assert!(verify.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");

    // The hardening should not quietly regress: systemd's own exposure score (0 best, 10 worst).
    let security = Command::new(&analyze)
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&unit_path)
        .output()
        .expect("run systemd-analyze security");
    let report = String::from_utf8_lossy(&security.stdout);
    let exposure = report
        .lines()
        .find_map(|line| line.split("Overall exposure level for exec-server.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|score| score.parse::<f64>().ok());
    match exposure {
        Some(score) => assert!(score <= 5.0, "exposure {score} > 5.0:\n{report}"),
        None => eprintln!("systemd-analyze security --offline gave no score here (older systemd?): {report}"),
    }
}

/// The unit's ExecStart, as arguments, with its machine paths replaced by this test's: the
/// config file from `deploy/`, the credential directory, a loopback port.
#[tokio::test]
async fn systemd_exec_start_runs_the_real_binary() {
    let unit = parse_unit(&read_recipe("deploy/systemd/exec-server.service"));
    let exec_start = unit_value(&unit, "Service", "ExecStart").expect("ExecStart=");
    let credential = unit_value(&unit, "Service", "LoadCredential").expect("LoadCredential=");
    let (name, _) = credential.split_once(':').expect("NAME:PATH");
    let credentials = TempDir::new("credentials");
    std::fs::write(credentials.path().join(name), "unit-token\n").expect("write the credential");
    let config = repository_root().join("deploy/exec-server.toml");

    let mut words = exec_start.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/exec-server"));
    let arguments: Vec<String> = words
        .map(|word| {
            word.replace("%d", &credentials.path().display().to_string())
                .replace("/etc/exec-server/exec-server.toml", &config.display().to_string())
        })
        .collect();
    assert!(arguments.iter().any(|argument| argument == "--config"), "{arguments:?}");
    // The config file listens on 0.0.0.0:7878; a flag wins, and a test must not take that port.
    let server = start(arguments.iter().map(String::as_str).chain(["--listen", "ws://127.0.0.1:0"])).await;
    check_token_is_enforced(&server, "unit-token").await;
}

// ---------------------------------------------------------------------------------------------
// Container

/// One Containerfile instruction per logical line (continuations joined), comments dropped.
fn parse_containerfile(text: &str) -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => {
                pending.push_str(trimmed);
                let (keyword, rest) = pending.split_once(' ').unwrap_or((&pending, ""));
                instructions.push((keyword.to_ascii_uppercase(), rest.trim().to_owned()));
                pending.clear();
            }
        }
    }
    instructions
}

#[test]
fn containerfile_is_registry_free_non_root_and_init_free() {
    let instructions = parse_containerfile(&read_recipe("deploy/container/Containerfile"));
    // No registry is reachable: the image starts from nothing and copies the root filesystem
    // that `cargo xtask container` assembles on the host (the build stage is the host).
    let froms: Vec<&str> =
        instructions.iter().filter(|(keyword, _)| keyword == "FROM").map(|(_, rest)| rest.as_str()).collect();
    assert_eq!(froms, ["scratch"], "one stage, FROM scratch");
    assert!(
        instructions.iter().any(|(keyword, rest)| keyword == "COPY" && rest == "rootfs/ /"),
        "the image is the assembled root filesystem: {instructions:?}"
    );
    let user = instructions.iter().rev().find(|(keyword, _)| keyword == "USER").expect("a USER");
    let uid = user.1.split(':').next().unwrap_or_default();
    assert!(!["root", "0"].contains(&uid), "non-root: USER {}", user.1);
    let (entrypoint, _) = image_entrypoint_and_cmd(&instructions);
    assert_eq!(entrypoint, ["/usr/local/bin/exec-server"], "flags belong in CMD, which `args:` replaces");

    for (keyword, rest) in &instructions {
        let lower = rest.to_ascii_lowercase();
        assert!(!lower.contains("tini") && !lower.contains("dumb-init"), "no init wrapper: {keyword} {rest}");
    }
    let entrypoint = container_command(&instructions);
    assert_eq!(entrypoint[0], "/usr/local/bin/exec-server", "exec-server is PID 1: {entrypoint:?}");
    let listen = entrypoint.iter().position(|word| word == "--listen").map(|at| entrypoint[at + 1].clone());
    let listen = listen.expect("an explicit --listen");
    let port = listen.rsplit(':').next().expect("a port");
    assert!(
        instructions
            .iter()
            .any(|(keyword, rest)| keyword == "EXPOSE" && rest.split_whitespace().any(|p| p == port)),
        "EXPOSE {port}"
    );
    assert!(entrypoint.iter().any(|word| word == "--auth-token-file"), "a token: {entrypoint:?}");
}

/// The image's ENTRYPOINT and CMD, both in exec (JSON array) form.
fn image_entrypoint_and_cmd(instructions: &[(String, String)]) -> (Vec<String>, Vec<String>) {
    let array = |keyword: &str| -> Vec<String> {
        let (_, rest) =
            instructions.iter().rev().find(|(k, _)| k == keyword).unwrap_or_else(|| panic!("{keyword}"));
        serde_json::from_str(rest).unwrap_or_else(|error| panic!("{keyword} must be exec form: {error}"))
    };
    (array("ENTRYPOINT"), array("CMD"))
}

/// ENTRYPOINT followed by CMD: what `podman run IMAGE` (no arguments) executes.
fn container_command(instructions: &[(String, String)]) -> Vec<String> {
    let (mut command, cmd) = image_entrypoint_and_cmd(instructions);
    command.extend(cmd);
    command
}

/// What the kubelet executes for a container of this image: the container's `command` replaces
/// the image's ENTRYPOINT, its `args` replace the image's CMD, each only when given (Kubernetes,
/// "Define a Command and Arguments for a Container"). A flag in both ENTRYPOINT and `args` is
/// given twice, which clap refuses.
fn kubelet_command(container: &Value, instructions: &[(String, String)]) -> Vec<String> {
    let (entrypoint, cmd) = image_entrypoint_and_cmd(instructions);
    let field = |name: &str| -> Option<Vec<String>> {
        (!container[name].is_null())
            .then(|| serde_json::from_value(container[name].clone()).expect("a list of strings"))
    };
    match (field("command"), field("args")) {
        (Some(command), args) => command.into_iter().chain(args.unwrap_or_default()).collect(),
        (None, args) => entrypoint.into_iter().chain(args.unwrap_or(cmd)).collect(),
    }
}

#[tokio::test]
async fn container_command_runs_the_real_binary() {
    let instructions = parse_containerfile(&read_recipe("deploy/container/Containerfile"));
    let command = container_command(&instructions);
    let secrets = TempDir::new("container-secrets");
    std::fs::write(secrets.path().join("token"), "container-token").expect("write the token");
    let arguments = rewrite_for_test(&command[1..], "/run/secrets/exec-server", secrets.path());
    let server = start(arguments.iter().map(String::as_str)).await;
    check_token_is_enforced(&server, "container-token").await;
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

fn kubernetes_documents() -> Vec<Value> {
    parse_yaml_documents(&read_recipe("deploy/kubernetes/exec-server.yaml"))
}

fn find_kind<'a>(documents: &'a [Value], kind: &str) -> &'a Value {
    documents.iter().find(|document| document["kind"] == kind).unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn kubernetes_manifest_is_a_fleet_of_single_executor_pods() {
    let documents = kubernetes_documents();
    let service = find_kind(&documents, "Service");
    let workload = find_kind(&documents, "StatefulSet");

    // Headless Service: one DNS name per pod, no load balancing across executors.
    assert_eq!(service["spec"]["clusterIP"], "None");
    assert_eq!(workload["spec"]["serviceName"], service["metadata"]["name"]);
    let labels = &workload["spec"]["template"]["metadata"]["labels"];
    for (key, value) in service["spec"]["selector"].as_object().expect("a selector") {
        assert_eq!(&labels[key], value, "the Service selects the pods");
    }

    let pod = &workload["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "one exec-server per pod");
    let container = &containers[0];
    assert_eq!(pod["automountServiceAccountToken"], false, "no API token for agents' commands");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);

    // Probes: readiness on /readyz, liveness on /livez, on the protocol port.
    let port_name = container["ports"][0]["name"].as_str().expect("a named port");
    let port = &container["ports"][0]["containerPort"];
    assert_eq!(container["readinessProbe"]["httpGet"], json!({"path": "/readyz", "port": port_name}));
    assert_eq!(container["livenessProbe"]["httpGet"], json!({"path": "/livez", "port": port_name}));
    assert_eq!(service["spec"]["ports"][0]["port"], *port);

    // Resource requests and limits.
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(container["resources"][kind][resource].is_string(), "resources.{kind}.{resource}");
        }
    }

    // The token: a file from a Secret volume, named by --auth-token-file.
    let args: Vec<String> = serde_json::from_value(container["args"].clone()).expect("args are strings");
    let token_file = args.iter().position(|arg| arg == "--auth-token-file").map(|at| &args[at + 1]);
    let token_file = Path::new(token_file.expect("--auth-token-file"));
    let mounts = container["volumeMounts"].as_array().expect("volumeMounts");
    let mount = mounts
        .iter()
        .find(|mount| token_file.parent() == Some(Path::new(mount["mountPath"].as_str().unwrap_or_default())))
        .expect("the token file's folder is a mount");
    let volume = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|volume| volume["name"] == mount["name"])
        .expect("the mount's volume");
    assert!(volume["secret"]["secretName"].is_string(), "the token comes from a Secret: {volume}");
    assert!(args.iter().any(|arg| arg.ends_with(&format!(":{port}"))), "listens on the container port");
    // The drain ends before the kubelet's SIGKILL.
    let drain = args.iter().position(|arg| arg == "--drain-timeout").map(|at| &args[at + 1]);
    let drain: u64 = drain.expect("--drain-timeout").trim_end_matches('s').parse().expect("seconds");
    let grace = pod["terminationGracePeriodSeconds"].as_u64().expect("terminationGracePeriodSeconds");
    assert!(drain < grace, "--drain-timeout {drain}s must end before the grace period {grace}s");
}

#[tokio::test]
async fn kubernetes_args_run_the_real_binary() {
    let documents = kubernetes_documents();
    let container = &find_kind(&documents, "StatefulSet")["spec"]["template"]["spec"]["containers"][0];
    let image = parse_containerfile(&read_recipe("deploy/container/Containerfile"));
    let command = kubelet_command(container, &image);
    assert_eq!(command[0], "/usr/local/bin/exec-server", "{command:?}");
    let secrets = TempDir::new("kubernetes-secrets");
    std::fs::write(secrets.path().join("token"), "kubernetes-token").expect("write the token");
    let arguments = rewrite_for_test(&command[1..], "/run/secrets/exec-server", secrets.path());
    let server = start(arguments.iter().map(String::as_str)).await;
    check_token_is_enforced(&server, "kubernetes-token").await;
}

#[test]
fn yaml_subset_reader() {
    let text = "# c\na: 1\nb:\n  c: \"x: y\" # d\n  d:\n  - e: true\n    f: [ ]\n  - 'g'\n---\nh: null\n";
    assert_eq!(
        parse_yaml_documents(text),
        vec![json!({"a": 1, "b": {"c": "x: y", "d": [{"e": true, "f": []}, "g"]}}), json!({"h": null})]
    );
}

/// Reads the block-style YAML subset the manifest uses: mappings, sequences (indented or not),
/// plain and quoted scalars, comments, `---`. Anything else (anchors, block scalars, flow
/// collections with content) panics, so the manifest stays in the subset this test checks.
fn parse_yaml_documents(text: &str) -> Vec<Value> {
    let mut documents = Vec::new();
    let mut lines = Vec::new();
    for raw in text.lines().chain(std::iter::once("---")) {
        if raw.trim_end() == "---" {
            if !lines.is_empty() {
                let mut at = 0;
                documents.push(yaml_block(&mut lines, &mut at));
                assert_eq!(at, lines.len(), "unparsed YAML from line {:?}", lines.get(at));
                lines.clear();
            }
            continue;
        }
        let content = strip_yaml_comment(raw);
        if content.trim().is_empty() {
            continue;
        }
        let indent = content.len() - content.trim_start().len();
        lines.push((indent, content.trim().to_owned()));
    }
    documents
}

fn strip_yaml_comment(line: &str) -> &str {
    let mut quote = None;
    for (at, character) in line.char_indices() {
        match (quote, character) {
            (None, '"' | '\'') => quote = Some(character),
            (Some(open), _) if open == character => quote = None,
            (None, '#') if at == 0 || line[..at].ends_with(' ') => return line[..at].trim_end(),
            _ => {}
        }
    }
    line.trim_end()
}

fn yaml_block(lines: &mut [(usize, String)], at: &mut usize) -> Value {
    let indent = lines[*at].0;
    if lines[*at].1 == "-" || lines[*at].1.starts_with("- ") {
        let mut items = Vec::new();
        while *at < lines.len()
            && lines[*at].0 == indent
            && (lines[*at].1 == "-" || lines[*at].1.starts_with("- "))
        {
            let rest = lines[*at].1[1..].trim_start().to_owned();
            if rest.is_empty() {
                *at += 1;
                items.push(yaml_block(lines, at));
            } else if yaml_key(&rest).is_some() {
                // `- key: value` opens a mapping whose other keys sit under `key`.
                let item_indent = indent + (lines[*at].1.len() - rest.len());
                lines[*at] = (item_indent, rest);
                items.push(yaml_block(lines, at));
            } else {
                items.push(yaml_scalar(&rest));
                *at += 1;
            }
        }
        return Value::Array(items);
    }
    let mut map = Map::new();
    while *at < lines.len() && lines[*at].0 == indent && !lines[*at].1.starts_with('-') {
        let line = lines[*at].1.clone();
        let (key, rest) = yaml_key(&line).unwrap_or_else(|| panic!("not `key: value`: {line:?}"));
        *at += 1;
        let value = if !rest.is_empty() {
            yaml_scalar(rest)
        } else if *at < lines.len()
            && (lines[*at].0 > indent || (lines[*at].0 == indent && lines[*at].1.starts_with('-')))
        {
            yaml_block(lines, at)
        } else {
            Value::Null
        };
        assert!(map.insert(key.to_owned(), value).is_none(), "duplicate key {key}");
    }
    assert!(*at == lines.len() || lines[*at].0 < indent, "bad indentation at {:?}", lines[*at]);
    Value::Object(map)
}

/// `key: rest` or `key:` (an unquoted key); `None` for a scalar.
fn yaml_key(line: &str) -> Option<(&str, &str)> {
    if line.starts_with(['"', '\'']) {
        return None;
    }
    let (key, rest) = match line.split_once(": ") {
        Some((key, rest)) => (key, rest.trim()),
        None => (line.strip_suffix(':')?, ""),
    };
    (!key.is_empty() && !key.contains(' ')).then_some((key, rest))
}

fn yaml_scalar(text: &str) -> Value {
    for quote in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(quote).and_then(|rest| rest.strip_suffix(quote)) {
            return Value::String(inner.to_owned());
        }
    }
    assert!(!text.starts_with(['&', '*', '|', '>', '!', '{']), "outside the YAML subset: {text:?}");
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" | "~" => Value::Null,
        "[]" | "[ ]" => Value::Array(Vec::new()),
        _ if text.starts_with('[') => panic!("flow sequences are outside the YAML subset: {text:?}"),
        // A leading zero is octal in YAML 1.1 (file modes): keep it as text.
        _ if !text.starts_with('0') || text == "0" => {
            text.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::String(text.to_owned()))
        }
        _ => Value::String(text.to_owned()),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(program)).find(|path| path.is_file())
}

/// Replaces the recipe's secret folder with a test folder and its listen address with a free
/// loopback port (the server's own flags are otherwise kept as they are).
fn rewrite_for_test(arguments: &[String], secret_folder: &str, test_folder: &Path) -> Vec<String> {
    let mut rewritten = Vec::new();
    let mut words = arguments.iter();
    while let Some(word) = words.next() {
        if word == "--listen" {
            let address = words.next().expect("--listen takes a value");
            assert!(address.starts_with("ws://0.0.0.0:"), "the recipe listens on every interface: {address}");
            rewritten.extend(["--listen".to_owned(), "ws://127.0.0.1:0".to_owned()]);
        } else {
            rewritten.push(word.replace(secret_folder, &test_folder.display().to_string()));
        }
    }
    rewritten
}

async fn start<'a>(arguments: impl IntoIterator<Item = &'a str>) -> ServerProcess {
    ServerProcess::start_program(env!("CARGO_BIN_EXE_exec-server"), arguments)
        .await
        .unwrap_or_else(|error| panic!("the recipe's command line does not start the server: {error}"))
}

/// `/readyz` answers without a token; an upgrade needs exactly `token`.
async fn check_token_is_enforced(server: &ServerProcess, token: &str) {
    let upgrade = |extra: &str| {
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
    };
    assert_eq!(http_status(server, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n").await, 200);
    assert_eq!(http_status(server, &upgrade("")).await, 401);
    assert_eq!(http_status(server, &upgrade(&format!("Authorization: Bearer {token}\r\n"))).await, 101);
}
