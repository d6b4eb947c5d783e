//! Helpers shared by the integration tests: spawn specs, running a scenario on each backend,
//! collecting events with deadlines, and waiting for a pid to disappear.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use exec_engine::{
    Config, Engine, Event, ExitStatus, ProcessId, PtySize, SessionHandle, SpawnSpec, StdinMode, Stdio,
    StreamKind, Subscription,
};

/// Upper bound for any single wait in these tests; generous for a loaded 2-core machine.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Which stdio a scenario runs with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Backend {
    Pipes,
    Pty,
}

impl Backend {
    /// The stdio for this backend; pipes get a writable stdin.
    pub fn stdio(self) -> Stdio {
        match self {
            Backend::Pipes => Stdio::Pipes { stdin: StdinMode::Pipe },
            Backend::Pty => Stdio::Pty { size: PtySize { rows: 24, cols: 80 } },
        }
    }
}

/// Runs `scenario` once with pipes and once with a PTY.
pub async fn each_backend<F, Fut>(scenario: F)
where
    F: Fn(Backend) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in [Backend::Pipes, Backend::Pty] {
        eprintln!("--- backend {backend:?}");
        scenario(backend).await;
    }
}

/// A minimal complete environment: the engine passes nothing else to the child.
pub fn env() -> BTreeMap<String, String> {
    BTreeMap::from([("PATH".to_owned(), "/usr/local/bin:/usr/bin:/bin".to_owned())])
}

pub fn spec(argv: &[&str], stdio: Stdio) -> SpawnSpec {
    SpawnSpec {
        argv: argv.iter().map(|arg| (*arg).to_owned()).collect(),
        cwd: "/".into(),
        env: env(),
        arg0: None,
        stdio,
        sandbox: None,
    }
}

/// `sh -c SCRIPT` on `backend`.
pub fn sh(script: &str, backend: Backend) -> SpawnSpec {
    spec(&["/bin/sh", "-c", script], backend.stdio())
}

pub fn pid(id: &str) -> ProcessId {
    ProcessId::new(id)
}

pub fn engine() -> Engine {
    Engine::new(Config::default())
}

pub fn session(engine: &Engine) -> SessionHandle {
    engine.create_session().expect("session")
}

/// Everything a subscription delivered until it ended.
#[derive(Debug, Default)]
pub struct Collected {
    pub events: Vec<Event>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// PTY output with `\r` removed (the terminal turns `\n` into `\r\n`).
    pub pty: String,
    pub exit: Option<ExitStatus>,
    pub closed: bool,
}

impl Collected {
    /// All output as text, whichever stream it came on.
    pub fn text(&self) -> String {
        format!(
            "{}{}{}",
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr),
            self.pty
        )
    }

    fn add(&mut self, event: &Event) {
        match event {
            Event::Output(chunk) => match chunk.stream {
                StreamKind::Stdout => self.stdout.extend_from_slice(&chunk.data),
                StreamKind::Stderr => self.stderr.extend_from_slice(&chunk.data),
                StreamKind::Pty => self.pty.push_str(&String::from_utf8_lossy(&chunk.data).replace('\r', "")),
            },
            Event::Exited { status, .. } => self.exit = Some(*status),
            Event::Closed { .. } => self.closed = true,
            Event::Gap { .. } => {}
            Event::Failed { reason, .. } => panic!("the local engine never fails a stream: {reason}"),
        }
        self.events.push(event.clone());
    }
}

/// Drains a subscription until it ends, checking that seqs are contiguous from the first one.
pub async fn collect(subscription: &mut Subscription) -> Collected {
    let mut collected = Collected::default();
    let result = tokio::time::timeout(DEADLINE, async {
        while let Some(event) = subscription.next().await {
            collected.add(&event);
        }
    })
    .await;
    assert!(result.is_ok(), "subscription did not end in time; so far: {}", collected.text());
    assert_contiguous(&collected.events);
    collected
}

/// Reads events until `predicate` holds for the collected text; returns what was collected.
pub async fn collect_until(
    subscription: &mut Subscription,
    predicate: impl Fn(&Collected) -> bool,
) -> Collected {
    let mut collected = Collected::default();
    let result = tokio::time::timeout(DEADLINE, async {
        while !predicate(&collected) {
            let event = subscription.next().await.expect("subscription ended before the condition held");
            collected.add(&event);
        }
    })
    .await;
    assert!(result.is_ok(), "condition not reached in time; so far: {:?}", collected.text());
    collected
}

/// Seqs go up by one, `Exited` comes once, `Closed` last.
#[track_caller]
pub fn assert_contiguous(events: &[Event]) {
    for pair in events.windows(2) {
        if !matches!(pair[1], Event::Gap { .. }) && !matches!(pair[0], Event::Gap { .. }) {
            assert_eq!(pair[1].seq().get(), pair[0].seq().get() + 1, "seq gap or reorder in {events:?}");
        }
    }
    let closed = events.iter().position(|event| matches!(event, Event::Closed { .. }));
    if let Some(closed) = closed {
        assert_eq!(closed, events.len() - 1, "Closed must be last");
        assert!(
            events.first().is_none_or(|event| event.seq().get() != 1)
                || events[..closed].iter().any(|event| matches!(event, Event::Exited { .. })),
            "Closed before Exited"
        );
    }
}

/// Whether a pid is still a live process. `kill(pid, 0)` answers ESRCH once it is reaped; an
/// orphaned grandchild is reaped by init, which may take a while (seconds, in some containers),
/// so a zombie (`Z` in `/proc/PID/stat`) counts as dead too.
pub fn pid_exists(pid: u32) -> bool {
    let raw = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid fits"));
    if matches!(nix::sys::signal::kill(raw, None), Err(nix::errno::Errno::ESRCH)) {
        return false;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the parenthesized command name, which may itself contain spaces.
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, None | Some("Z"))
}

/// Waits (polling: a pid's disappearance is not an event we can wait on) until `condition`
/// holds, failing after [`DEADLINE`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let result = tokio::time::timeout(DEADLINE, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(result.is_ok(), "timed out waiting for: {what}");
}

/// Bounds any future by [`DEADLINE`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// The server's pid of a process that a command of a session reported as `inner` (`$!`, `$$`):
/// commands run in their session's PID namespace, where pids differ. `member` is a process of
/// the same session, by its server pid (for example the leader from `list`).
pub fn server_pid(member: u32, inner: u32) -> u32 {
    let namespace = std::fs::read_link(format!("/proc/{member}/ns/pid")).expect("the member's namespace");
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(candidate) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
            continue;
        };
        if std::fs::read_link(format!("/proc/{candidate}/ns/pid")).ok().as_ref() != Some(&namespace) {
            continue;
        }
        let status = std::fs::read_to_string(format!("/proc/{candidate}/status")).unwrap_or_default();
        let innermost = status
            .lines()
            .find_map(|line| line.strip_prefix("NSpid:"))
            .and_then(|pids| pids.split_whitespace().last())
            .and_then(|pid| pid.parse::<u32>().ok());
        if innermost == Some(inner) {
            return candidate;
        }
    }
    panic!("no process {inner} in the namespace of {member}");
}
