//! The engine's behaviour, through the `ExecBackend` trait, against the local engine and against
//! an `ExecClient` on a real server: every case runs twice (`local::*`, `remote::*`), so code
//! written against one backend behaves the same on the other.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use exec_engine::{
    BackendError, BoxEventStream, Config, Engine, Event, ExecBackend, ExitStatus, ProcessError, ProcessId,
    PtySize, ReadRequest, Seq, SessionHandle, Signal, SpawnSpec, StartError, StdinMode, Stdio, StreamKind,
    SubscribeFrom, WriteOptions, WriteStatus,
};

use crate::support::{DEADLINE, TestServer, connect};

/// A backend and whatever must outlive it.
struct Fixture {
    backend: Box<dyn ExecBackend>,
    _engine: Option<Engine>,
    _server: Option<TestServer>,
}

impl Fixture {
    fn local() -> Fixture {
        let engine = Engine::new(Config::default());
        let session: SessionHandle = engine.create_session().unwrap();
        Fixture { backend: Box::new(session), _engine: Some(engine), _server: None }
    }

    async fn remote() -> Fixture {
        let server = TestServer::start().await;
        let client = connect(&server.url(), None).await;
        Fixture { backend: Box::new(client), _engine: None, _server: Some(server) }
    }
}

fn spec(argv: &[&str], stdio: Stdio) -> SpawnSpec {
    SpawnSpec {
        argv: argv.iter().map(|arg| (*arg).to_owned()).collect(),
        cwd: "/".into(),
        env: BTreeMap::from([("PATH".to_owned(), "/usr/bin:/bin".to_owned())]),
        arg0: None,
        stdio,
        sandbox: None,
    }
}

fn sh(script: &str, stdio: Stdio) -> SpawnSpec {
    spec(&["/bin/sh", "-c", script], stdio)
}

const NO_STDIN: Stdio = Stdio::Pipes { stdin: StdinMode::Closed };
const STDIN: Stdio = Stdio::Pipes { stdin: StdinMode::Pipe };

#[derive(Debug, Default)]
struct Collected {
    events: Vec<Event>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    pty: Vec<u8>,
    exit: Option<ExitStatus>,
    closed: bool,
}

async fn collect(events: &mut BoxEventStream) -> Collected {
    let mut collected = Collected::default();
    let all = async {
        while let Some(event) = events.next_event().await {
            match &event {
                Event::Output(chunk) => match chunk.stream {
                    StreamKind::Stdout => collected.stdout.extend_from_slice(&chunk.data),
                    StreamKind::Stderr => collected.stderr.extend_from_slice(&chunk.data),
                    StreamKind::Pty => collected.pty.extend_from_slice(&chunk.data),
                },
                Event::Exited { status, .. } => collected.exit = Some(*status),
                Event::Closed { .. } => collected.closed = true,
                Event::Gap { .. } => panic!("unexpected gap in {:?}", collected.events),
                Event::Failed { reason, .. } => panic!("stream failed: {reason}"),
            }
            collected.events.push(event);
        }
    };
    tokio::time::timeout(DEADLINE, all).await.expect("events end in time");
    let seqs: Vec<u64> = collected.events.iter().map(|event| event.seq().get()).collect();
    assert!(seqs.windows(2).all(|pair| pair[1] == pair[0] + 1), "seqs are contiguous: {seqs:?}");
    collected
}

/// Reads events until the collected output contains `needle`.
async fn until_output(events: &mut BoxEventStream, needle: &str) {
    let mut seen = Vec::new();
    let wait = async {
        while !String::from_utf8_lossy(&seen).contains(needle) {
            match events.next_event().await {
                Some(Event::Output(chunk)) => seen.extend_from_slice(&chunk.data),
                Some(_) => {}
                None => panic!("stream ended before {needle:?}; saw {:?}", String::from_utf8_lossy(&seen)),
            }
        }
    };
    tokio::time::timeout(DEADLINE, wait).await.expect("output in time");
}

async fn output_exit_code_and_seq_order(backend: &dyn ExecBackend) {
    let mut events =
        backend.start(ProcessId::new("p"), sh("echo out; echo err >&2; exit 3", NO_STDIN)).await.unwrap();
    let collected = collect(&mut events).await;
    assert_eq!(collected.stdout, b"out\n");
    assert_eq!(collected.stderr, b"err\n");
    assert_eq!(collected.exit, Some(ExitStatus::Code(3)));
    assert!(collected.closed);
    assert!(matches!(collected.events.last(), Some(Event::Closed { .. })));
}

async fn stdin_in_order_then_eof(backend: &dyn ExecBackend) {
    let id = ProcessId::new("cat");
    let mut events = backend.start(id.clone(), spec(&["/bin/cat"], STDIN)).await.unwrap();
    for line in ["one\n", "two\n"] {
        let status = backend.write(&id, Bytes::from(line), WriteOptions::default()).await.unwrap();
        assert_eq!(status, WriteStatus::Accepted);
    }
    let eof = WriteOptions { eof: true, write_id: None };
    assert_eq!(backend.write(&id, Bytes::from_static(b"three\n"), eof).await.unwrap(), WriteStatus::Accepted);
    let collected = collect(&mut events).await;
    assert_eq!(collected.stdout, b"one\ntwo\nthree\n");
    assert_eq!(collected.exit, Some(ExitStatus::Code(0)));
    let after = backend.write(&id, Bytes::from_static(b"more"), WriteOptions::default()).await.unwrap();
    assert_eq!(after, WriteStatus::StdinClosed);
    let unknown =
        backend.write(&ProcessId::new("nope"), Bytes::new(), WriteOptions::default()).await.unwrap();
    assert_eq!(unknown, WriteStatus::UnknownProcess);
}

async fn a_retried_write_id_is_written_once(backend: &dyn ExecBackend) {
    let id = ProcessId::new("head");
    let mut events = backend.start(id.clone(), sh("head -n 2", STDIN)).await.unwrap();
    let with_id = |write_id: &str| WriteOptions { eof: false, write_id: Some(write_id.to_owned()) };
    for _ in 0..3 {
        let status = backend.write(&id, Bytes::from_static(b"once\n"), with_id("w1")).await.unwrap();
        assert_eq!(status, WriteStatus::Accepted);
    }
    backend.write(&id, Bytes::from_static(b"last\n"), with_id("w2")).await.unwrap();
    assert_eq!(collect(&mut events).await.stdout, b"once\nlast\n");
}

async fn signals_and_terminate(backend: &dyn ExecBackend) {
    let id = ProcessId::new("trap");
    let script = "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.2 & wait $!; done";
    let mut events = backend.start(id.clone(), sh(script, NO_STDIN)).await.unwrap();
    until_output(&mut events, "ready").await;
    backend.signal(&id, Signal::User1).await.unwrap();
    until_output(&mut events, "got-usr1").await;
    assert!(backend.terminate(&id, None).await.unwrap(), "it was running");
    let rest = collect(&mut events).await;
    assert_eq!(rest.exit, Some(ExitStatus::Signal(9)));
    assert!(!backend.terminate(&id, None).await.unwrap(), "no longer running");
    let unknown = backend.signal(&ProcessId::new("x"), Signal::Kill).await;
    assert!(matches!(unknown, Err(BackendError::Process(ProcessError::UnknownProcess(_)))), "{unknown:?}");

    let sleeper = ProcessId::new("sleep");
    let mut events = backend.start(sleeper.clone(), spec(&["/bin/sleep", "30"], NO_STDIN)).await.unwrap();
    backend.signal(&sleeper, Signal::Interrupt).await.unwrap();
    assert_eq!(collect(&mut events).await.exit, Some(ExitStatus::Signal(2)));
}

async fn pty_size_and_resize(backend: &dyn ExecBackend) {
    let id = ProcessId::new("tty");
    let stdio = Stdio::Pty { size: PtySize { rows: 30, cols: 100 } };
    let script =
        "stty size; trap 'stty size; exit 0' WINCH; echo ready; while :; do sleep 0.2 & wait $!; done";
    let mut events = backend.start(id.clone(), sh(script, stdio)).await.unwrap();
    until_output(&mut events, "ready").await;
    backend.resize(&id, PtySize { rows: 40, cols: 120 }).await.unwrap();
    let rest = collect(&mut events).await;
    assert_eq!(rest.exit, Some(ExitStatus::Code(0)));
    assert!(
        String::from_utf8_lossy(&rest.pty).contains("40 120"),
        "{:?}",
        String::from_utf8_lossy(&rest.pty)
    );

    let pipes = ProcessId::new("pipes");
    let mut events = backend.start(pipes.clone(), spec(&["/bin/true"], NO_STDIN)).await.unwrap();
    let refused = backend.resize(&pipes, PtySize::default()).await;
    assert!(matches!(refused, Err(BackendError::Process(ProcessError::NotATty(_)))), "{refused:?}");
    collect(&mut events).await;
}

async fn read_and_subscribe_replay(backend: &dyn ExecBackend) {
    let id = ProcessId::new("three");
    let mut events = backend.start(id.clone(), sh("echo a; echo b >&2; echo c", NO_STDIN)).await.unwrap();
    let live = collect(&mut events).await;
    let read = backend.read(&id, ReadRequest::default()).await.unwrap();
    let text: Vec<u8> = read.chunks.iter().flat_map(|chunk| chunk.data.to_vec()).collect();
    assert_eq!(text.len(), 6);
    assert!(read.closed);
    assert_eq!(read.exit, Some(ExitStatus::Code(0)));
    let after_first = ReadRequest { after_seq: Some(read.chunks[0].seq), ..ReadRequest::default() };
    let tail = backend.read(&id, after_first).await.unwrap();
    assert_eq!(tail.chunks.first().map(|chunk| chunk.seq), read.chunks.get(1).map(|chunk| chunk.seq));

    // A new subscription replays the whole log, in the same order.
    let mut replay = backend.subscribe(&id, SubscribeFrom::Start).await.unwrap();
    let replayed = collect(&mut replay).await;
    assert_eq!(replayed.events, live.events);
    let mut from_two = backend.subscribe(&id, SubscribeFrom::After(Seq::new(2))).await.unwrap();
    let rest = collect_after(&mut from_two).await;
    assert_eq!(rest, live.events[2..]);

    let unknown = backend.read(&ProcessId::new("nope"), ReadRequest::default()).await;
    assert!(matches!(unknown, Err(BackendError::Process(ProcessError::UnknownProcess(_)))), "{unknown:?}");
    let unknown = backend.subscribe(&ProcessId::new("nope"), SubscribeFrom::Start).await;
    assert!(matches!(unknown, Err(BackendError::Process(ProcessError::UnknownProcess(_)))));
}

async fn collect_after(events: &mut BoxEventStream) -> Vec<Event> {
    let mut seen = Vec::new();
    let all = async {
        while let Some(event) = events.next_event().await {
            seen.push(event);
        }
    };
    tokio::time::timeout(DEADLINE, all).await.expect("events end in time");
    seen
}

async fn long_poll_read_waits_for_output(backend: &dyn ExecBackend) {
    let id = ProcessId::new("slow");
    // It keeps running after the output: a long poll also ends at exit, which could come first.
    let _events =
        backend.start(id.clone(), sh("sleep 0.3; echo late; exec sleep 30", NO_STDIN)).await.unwrap();
    let request = ReadRequest { wait: Some(Duration::from_secs(20)), ..ReadRequest::default() };
    let read = backend.read(&id, request).await.unwrap();
    assert_eq!(read.chunks.first().map(|chunk| chunk.data.as_ref()), Some(&b"late\n"[..]));
    assert_eq!(read.exit, None);
    backend.terminate(&id, None).await.unwrap();
}

async fn start_errors_are_typed(backend: &dyn ExecBackend) {
    let empty = backend.start(ProcessId::new("e"), spec(&[], NO_STDIN)).await;
    assert!(matches!(empty, Err(BackendError::Start(StartError::EmptyArgv))), "{empty:?}");
    let missing = backend.start(ProcessId::new("m"), spec(&["/no/such/binary"], NO_STDIN)).await;
    match missing {
        Err(BackendError::Start(StartError::Spawn { program, source })) => {
            assert_eq!(program, "/no/such/binary");
            assert!(source.to_string().contains("No such file or directory"), "{source}");
        }
        other => panic!("expected a spawn error, got {other:?}"),
    }
    let id = ProcessId::new("dup");
    let mut first = backend.start(id.clone(), spec(&["/bin/sleep", "30"], NO_STDIN)).await.unwrap();
    let second = backend.start(id.clone(), spec(&["/bin/true"], NO_STDIN)).await;
    assert!(matches!(second, Err(BackendError::Start(StartError::DuplicateId(_)))), "{second:?}");
    // The failed duplicate did not disturb the first one's events.
    backend.terminate(&id, None).await.unwrap();
    assert_eq!(collect(&mut first).await.exit, Some(ExitStatus::Signal(9)));
}

async fn list_reports_processes(backend: &dyn ExecBackend) {
    let mut done = backend.start(ProcessId::new("done"), spec(&["/bin/true"], NO_STDIN)).await.unwrap();
    collect(&mut done).await;
    let _running =
        backend.start(ProcessId::new("running"), spec(&["/bin/sleep", "30"], NO_STDIN)).await.unwrap();
    let mut list = backend.list().await.unwrap();
    list.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    let summary: Vec<(&str, bool, Option<ExitStatus>)> =
        list.iter().map(|info| (info.id.as_str(), info.running, info.exit)).collect();
    assert_eq!(summary, [("done", false, Some(ExitStatus::Code(0))), ("running", true, None)]);
    assert!(list.iter().all(|info| info.pid.is_some_and(|pid| pid > 0)));
    backend.terminate(&ProcessId::new("running"), None).await.unwrap();
}

macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let fixture = super::Fixture::local();
                    super::$case(&*fixture.backend).await;
                }
            )*
        }
        mod remote {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let fixture = super::Fixture::remote().await;
                    super::$case(&*fixture.backend).await;
                }
            )*
        }
    };
}

both_backends!(
    output_exit_code_and_seq_order,
    stdin_in_order_then_eof,
    a_retried_write_id_is_written_once,
    signals_and_terminate,
    pty_size_and_resize,
    read_and_subscribe_replay,
    long_poll_read_waits_for_output,
    start_errors_are_typed,
    list_reports_processes,
);
