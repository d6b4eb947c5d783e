//! Control of a running process: stdin (order, EOF, idempotent writes, statuses), named
//! signals, terminate with and without grace, the process group, and PTY resize.

use std::time::Duration;

use bytes::Bytes;
use exec_engine::{
    Event, ExitStatus, ProcessError, PtySize, Signal, StdinMode, Stdio, WriteOptions, WriteStatus,
};

use crate::support::{
    Backend, collect, collect_until, each_backend, engine, eventually, pid, pid_exists, server_pid, session,
    sh, spec, within,
};

/// A shell that prints `ready` and then idles in `wait`, which a trapped signal interrupts at
/// once. A signal that lands between two iterations (no `sleep` to kill, `wait` not yet
/// blocking) is only acted on when the next short `sleep` ends, hence the 0.2 s.
const IDLE: &str = "echo ready; while :; do sleep 0.2 & wait $!; done";

#[tokio::test]
async fn stdin_in_order_then_eof() {
    each_backend(|backend| async move {
        let engine = engine();
        let session = session(&engine);
        let id = pid("cat");
        let mut events = session.start(id.clone(), spec(&["/bin/cat"], backend.stdio())).await.unwrap();
        for line in ["one\n", "two\n", "three\n"] {
            let status = session.write(&id, Bytes::from(line), WriteOptions::default()).await;
            assert_eq!(status, WriteStatus::Accepted);
        }
        let eof = WriteOptions { eof: true, write_id: None };
        assert_eq!(session.write(&id, Bytes::from_static(b"four\n"), eof).await, WriteStatus::Accepted);
        let collected = collect(&mut events).await;
        assert_eq!(collected.exit, Some(ExitStatus::Code(0)));
        match backend {
            Backend::Pipes => {
                assert_eq!(collected.stdout, b"one\ntwo\nthree\nfour\n");
                let after = session.write(&id, Bytes::from_static(b"more"), WriteOptions::default()).await;
                assert_eq!(after, WriteStatus::StdinClosed);
            }
            // The terminal echoes input, then cat prints it: each line appears twice, in order.
            Backend::Pty => {
                let lines: Vec<&str> = collected.pty.lines().collect();
                let mut first_seen: Vec<&str> = Vec::new();
                for line in &lines {
                    if !first_seen.contains(line) {
                        first_seen.push(line);
                    }
                }
                assert_eq!(first_seen, ["one", "two", "three", "four"], "{:?}", collected.pty);
                for line in first_seen {
                    assert_eq!(lines.iter().filter(|seen| **seen == line).count(), 2, "{:?}", collected.pty);
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn write_statuses() {
    let engine = engine();
    let session = session(&engine);
    let options = WriteOptions::default;
    assert_eq!(session.write(&pid("nope"), Bytes::new(), options()).await, WriteStatus::UnknownProcess);

    // `/dev/null` stdin: the child reads EOF at once, writes are refused.
    let closed = spec(&["/bin/cat"], Stdio::Pipes { stdin: StdinMode::Closed });
    let mut events = session.start(pid("closed"), closed).await.unwrap();
    assert_eq!(
        session.write(&pid("closed"), Bytes::from_static(b"x"), options()).await,
        WriteStatus::StdinClosed
    );
    let collected = collect(&mut events).await;
    assert_eq!(collected.exit, Some(ExitStatus::Code(0)));
    assert!(collected.stdout.is_empty());

    // The reader of the pipe went away: EPIPE is reported, the server survives.
    let id = pid("gone");
    let mut events =
        session.start(id.clone(), sh("exec 0<&-; echo closed-stdin; sleep 5", Backend::Pipes)).await.unwrap();
    collect_until(&mut events, |c| c.text().contains("closed-stdin")).await;
    // Until another test's concurrently forked child execs, it may hold a copy of the pipe's
    // read end (fork duplicates every descriptor), and a write then still succeeds: retry.
    within("EPIPE is reported as StdinClosed", async {
        while session.write(&id, Bytes::from_static(b"x"), options()).await != WriteStatus::StdinClosed {
            tokio::task::yield_now().await;
        }
    })
    .await;
    session.terminate(&id, None).await.unwrap();
}

#[tokio::test]
async fn a_retried_write_id_is_written_once() {
    each_backend(|backend| async move {
        let engine = engine();
        let session = session(&engine);
        let id = pid("cat");
        let mut events = session.start(id.clone(), sh("head -n 2", backend)).await.unwrap();
        let with_id = |write_id: &str| WriteOptions { eof: false, write_id: Some(write_id.to_owned()) };
        for _ in 0..3 {
            assert_eq!(
                session.write(&id, Bytes::from_static(b"once\n"), with_id("w1")).await,
                WriteStatus::Accepted
            );
        }
        assert_eq!(
            session.write(&id, Bytes::from_static(b"last\n"), with_id("w2")).await,
            WriteStatus::Accepted
        );
        let collected = collect(&mut events).await;
        assert_eq!(collected.exit, Some(ExitStatus::Code(0)));
        let text = collected.text();
        assert!(text.contains("once\n") && text.contains("last\n"), "{text:?}");
        if backend == Backend::Pipes {
            assert_eq!(collected.stdout, b"once\nlast\n");
        }
    })
    .await;
}

/// A retry that arrives while its original is still queued (a client that reconnected while the
/// old connection's request had not reached the pipe yet) must not be acknowledged on the
/// original's word: the original's caller is then cancelled (its connection is gone) and its
/// write skipped, and the bytes would be lost although both were told `Accepted`.
///
/// On one thread, so that "let the spawned writes run until they wait" is a few yields, not a
/// guess at a duration; the child reads nothing until the test creates its go file.
#[tokio::test(flavor = "current_thread")]
async fn a_retry_of_a_queued_write_whose_caller_is_gone_is_still_written() {
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }
    let engine = engine();
    let session = std::sync::Arc::new(session(&engine));
    let id = pid("cat");
    let go = std::env::temp_dir().join(format!("exec-engine-retry-go-{}", std::process::id()));
    let script = format!("while [ ! -e {} ]; do sleep 0.01; done; exec cat", go.display());
    let mut events = session.start(id.clone(), sh(&script, Backend::Pipes)).await.unwrap();
    // A big first write fills the pipe and holds the stdin writer; the others queue behind it.
    let big = Bytes::from(vec![b'a'; 1 << 20]);
    let first = tokio::spawn({
        let (session, id) = (std::sync::Arc::clone(&session), id.clone());
        async move { session.write(&id, big, WriteOptions::default()).await }
    });
    settle().await;
    let with_id = WriteOptions { eof: false, write_id: Some("w".to_owned()) };
    let original = tokio::spawn({
        let (session, id, options) = (std::sync::Arc::clone(&session), id.clone(), with_id.clone());
        async move { session.write(&id, Bytes::from_static(b"B"), options).await }
    });
    settle().await;
    let retry = tokio::spawn({
        let (session, id, options) = (std::sync::Arc::clone(&session), id.clone(), with_id.clone());
        async move { session.write(&id, Bytes::from_static(b"B"), options).await }
    });
    settle().await;
    // The old connection goes away: its request task is cancelled. Then the child reads.
    original.abort();
    std::fs::write(&go, "").unwrap();
    assert_eq!(within("big write", first).await.unwrap(), WriteStatus::Accepted);
    assert_eq!(within("retry", retry).await.unwrap(), WriteStatus::Accepted);
    let eof = WriteOptions { eof: true, write_id: None };
    assert_eq!(session.write(&id, Bytes::new(), eof).await, WriteStatus::Accepted);
    let collected = collect(&mut events).await;
    let _ = std::fs::remove_file(&go);
    assert_eq!(collected.stdout.len(), (1 << 20) + 1, "the retried byte is written exactly once");
    assert_eq!(collected.stdout.last(), Some(&b'B'));
}

#[tokio::test]
async fn named_signals_reach_the_process_group() {
    each_backend(|backend| async move {
        let engine = engine();
        let session = session(&engine);
        let id = pid("p");
        let script = format!(r#"trap 'echo got-usr1' USR1; trap 'echo got-hup; exit 7' HUP; {IDLE}"#);
        let mut events = session.start(id.clone(), sh(&script, backend)).await.unwrap();
        collect_until(&mut events, |c| c.text().contains("ready")).await;
        session.signal(&id, Signal::User1).unwrap();
        collect_until(&mut events, |c| c.text().contains("got-usr1")).await;
        session.signal(&id, Signal::Hangup).unwrap();
        let rest = collect(&mut events).await;
        assert_eq!(rest.exit, Some(ExitStatus::Code(7)));
        assert!(rest.text().contains("got-hup"));
        // Signalling a closed process is a no-op, an unknown one an error.
        session.signal(&id, Signal::Kill).unwrap();
        assert!(matches!(session.signal(&pid("x"), Signal::Kill), Err(ProcessError::UnknownProcess(_))));
    })
    .await;
}

#[tokio::test]
async fn interrupt_kills_a_foreground_command() {
    each_backend(|backend| async move {
        let engine = engine();
        let session = session(&engine);
        let id = pid("sleep");
        let mut events =
            session.start(id.clone(), spec(&["/bin/sleep", "30"], backend.stdio())).await.unwrap();
        session.signal(&id, Signal::Interrupt).unwrap();
        assert_eq!(collect(&mut events).await.exit, Some(ExitStatus::Signal(2)));
    })
    .await;
}

#[tokio::test]
async fn terminate_without_grace_kills_the_group_including_grandchildren() {
    each_backend(|backend| async move {
        let engine = engine();
        let session = session(&engine);
        let id = pid("p");
        let mut events =
            session.start(id.clone(), sh("sleep 30 & echo grandchild=$!; wait", backend)).await.unwrap();
        let seen = collect_until(&mut events, |c| c.text().contains('\n')).await;
        let grandchild: u32 =
            seen.text().trim().strip_prefix("grandchild=").expect("pid line").parse().expect("a pid");
        let grandchild = server_pid(session.list()[0].pid.unwrap(), grandchild);
        assert!(pid_exists(grandchild));
        assert!(session.terminate(&id, None).await.unwrap(), "was running");
        let collected = collect(&mut events).await;
        assert_eq!(collected.exit, Some(ExitStatus::Signal(9)));
        eventually("the grandchild is gone", || !pid_exists(grandchild)).await;
        assert!(!session.terminate(&id, None).await.unwrap(), "no longer running");
    })
    .await;
}

#[tokio::test]
async fn terminate_with_grace_lets_the_process_clean_up() {
    each_backend(|backend| async move {
        let engine = engine();
        let session = session(&engine);
        let id = pid("p");
        let script = format!(r#"trap 'echo cleaning; exit 5' TERM; {IDLE}"#);
        let mut events = session.start(id.clone(), sh(&script, backend)).await.unwrap();
        collect_until(&mut events, |c| c.text().contains("ready")).await;
        assert!(session.terminate(&id, Some(Duration::from_secs(20))).await.unwrap());
        let collected = collect(&mut events).await;
        assert_eq!(collected.exit, Some(ExitStatus::Code(5)));
        assert!(collected.text().contains("cleaning"));
    })
    .await;
}

#[tokio::test]
async fn terminate_with_grace_escalates_to_kill() {
    each_backend(|backend| async move {
        let engine = engine();
        let session = session(&engine);
        let id = pid("p");
        let script = format!(r#"trap '' TERM; {IDLE}"#);
        let mut events = session.start(id.clone(), sh(&script, backend)).await.unwrap();
        collect_until(&mut events, |c| c.text().contains("ready")).await;
        assert!(session.terminate(&id, Some(Duration::from_millis(100))).await.unwrap());
        assert_eq!(collect(&mut events).await.exit, Some(ExitStatus::Signal(9)));
    })
    .await;
}

#[tokio::test]
async fn resize_reaches_the_child_as_sigwinch() {
    let engine = engine();
    let session = session(&engine);
    let id = pid("tty");
    let script = format!(r#"stty size; trap 'stty size' WINCH; {IDLE}"#);
    let mut events = session.start(id.clone(), sh(&script, Backend::Pty)).await.unwrap();
    collect_until(&mut events, |c| c.text().contains("24 80") && c.text().contains("ready")).await;
    session.resize(&id, PtySize { rows: 33, cols: 101 }).unwrap();
    collect_until(&mut events, |c| c.text().contains("33 101")).await;
    session.terminate(&id, None).await.unwrap();
    let rest = collect(&mut events).await;
    assert!(rest.closed);

    let piped = pid("piped");
    drop(
        session
            .start(piped.clone(), spec(&["/bin/true"], Stdio::Pipes { stdin: StdinMode::Closed }))
            .await
            .unwrap(),
    );
    assert!(matches!(session.resize(&piped, PtySize { rows: 1, cols: 1 }), Err(ProcessError::NotATty(_))));
}

#[tokio::test]
async fn list_reports_running_and_exited_processes() {
    let engine = engine();
    let session = session(&engine);
    let mut done = session.start(pid("a-done"), spec(&["/bin/true"], Backend::Pipes.stdio())).await.unwrap();
    collect(&mut done).await;
    let mut running = session.start(pid("b-running"), sh(IDLE, Backend::Pty)).await.unwrap();
    collect_until(&mut running, |c| c.text().contains("ready")).await;
    let list = session.list();
    assert_eq!(list.iter().map(|info| info.id.as_str()).collect::<Vec<_>>(), ["a-done", "b-running"]);
    assert!(!list[0].running && list[0].exit == Some(ExitStatus::Code(0)) && !list[0].tty);
    assert!(list[1].running && list[1].exit.is_none() && list[1].tty && list[1].pid.is_some());
    assert_eq!(list[0].next_seq.get(), 3, "exited 1, closed 2");
    session.terminate(&pid("b-running"), None).await.unwrap();
    let events = collect(&mut running).await.events;
    assert!(matches!(events.last(), Some(Event::Closed { .. })));
}
