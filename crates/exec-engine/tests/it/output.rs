//! Output, exit status, seq order, EOF and the close, on pipes and a PTY.

use std::time::Duration;

use bytes::Bytes;
use exec_engine::{Event, ExitStatus, ReadRequest, Seq, StdinMode, Stdio, StreamKind, WriteOptions};

use crate::support::{Backend, collect, each_backend, engine, pid, session, sh, spec, within};

#[tokio::test]
async fn output_exit_code_and_seq_order() {
    each_backend(|backend| async move {
        let engine = engine();
        let session = session(&engine);
        let mut events =
            session.start(pid("p"), sh("echo out; echo err >&2; exit 3", backend)).await.unwrap();
        let collected = collect(&mut events).await;
        assert_eq!(collected.exit, Some(ExitStatus::Code(3)));
        assert!(collected.closed);
        assert_eq!(collected.events.first().map(|event| event.seq()), Some(Seq::new(1)));
        match backend {
            Backend::Pipes => {
                assert_eq!(collected.stdout, b"out\n");
                assert_eq!(collected.stderr, b"err\n");
            }
            Backend::Pty => assert_eq!(collected.pty, "out\nerr\n"),
        }
        // The log is still readable after the close, with the same seqs.
        let outcome = session.read(&pid("p"), ReadRequest::default()).await.unwrap();
        assert_eq!(outcome.exit, Some(ExitStatus::Code(3)));
        assert!(outcome.closed);
        // `next_seq` follows the last returned chunk (the exit and close come after it).
        let last_output =
            collected.events.iter().rev().find(|event| matches!(event, Event::Output(_))).unwrap();
        assert_eq!(outcome.next_seq.get(), last_output.seq().get() + 1);
        let after = ReadRequest { after_seq: Some(outcome.next_seq), ..ReadRequest::default() };
        let tail = session.read(&pid("p"), after).await.unwrap();
        assert!(tail.chunks.is_empty() && tail.closed);
        assert_eq!(tail.next_seq.get(), collected.events.last().unwrap().seq().get() + 1, "next unassigned");
        assert_eq!(outcome.dropped_before, None);
    })
    .await;
}

#[tokio::test]
async fn killed_by_a_signal_reports_the_signal() {
    each_backend(|backend| async move {
        let engine = engine();
        let session = session(&engine);
        let mut events = session.start(pid("p"), sh("kill -TERM $$", backend)).await.unwrap();
        let collected = collect(&mut events).await;
        let status = collected.exit.expect("exited");
        assert_eq!(status, ExitStatus::Signal(15));
        assert_eq!(status, exec_engine::ExitStatus::Signal(15));
        assert_eq!(status.signal(), Some(15));
    })
    .await;
}

#[tokio::test]
async fn closed_waits_for_a_grandchild_holding_the_output() {
    each_backend(|backend| async move {
        let engine = engine();
        let session = session(&engine);
        // The grandchild keeps stdout open and waits for a line on fd 3 (a copy of stdin: a
        // background job's own stdin is /dev/null). On a PTY it must also survive the SIGHUP the
        // terminal sends when the session leader exits.
        let script = r#"trap '' HUP; exec 3<&0; { read line <&3; echo "late $line"; } & echo early; exit 0"#;
        let mut events = session.start(pid("p"), sh(script, backend)).await.unwrap();
        let mut seen = Vec::new();
        while !seen.iter().any(|event| matches!(event, Event::Exited { .. })) {
            seen.push(within("exit", events.next()).await.expect("event"));
        }
        // The leader is gone but the grandchild cannot finish before we write: not closed.
        let outcome = session.read(&pid("p"), ReadRequest::default()).await.unwrap();
        assert_eq!(outcome.exit, Some(ExitStatus::Code(0)));
        assert!(!outcome.closed);
        let written = session.write(&pid("p"), Bytes::from_static(b"x\n"), WriteOptions::default()).await;
        assert_eq!(written, exec_engine::WriteStatus::Accepted);
        let rest = collect(&mut events).await;
        assert!(rest.closed);
        assert!(rest.text().contains("late x"), "{:?}", rest.text());
        seen.extend(rest.events);
        crate::support::assert_contiguous(&seen);
    })
    .await;
}

#[tokio::test]
async fn long_poll_waits_for_output_then_times_out_without_it() {
    each_backend(|backend| async move {
        let engine = engine();
        let session = session(&engine);
        let id = pid("p");
        drop(session.start(id.clone(), sh("read line; echo got-$line", backend)).await.unwrap());
        // Nothing yet: a short long poll comes back empty.
        let empty = session
            .read(
                &id,
                ReadRequest { after_seq: None, max_bytes: None, wait: Some(Duration::from_millis(50)) },
            )
            .await
            .unwrap();
        // A PTY has no echo before input; pipes have nothing at all.
        assert!(empty.chunks.is_empty());
        assert_eq!(empty.next_seq, Seq::new(1));
        // A long poll in flight is answered by output produced during the wait.
        let poll = session.read(
            &id,
            ReadRequest { after_seq: None, max_bytes: None, wait: Some(crate::support::DEADLINE) },
        );
        let write = async {
            tokio::task::yield_now().await;
            session.write(&id, Bytes::from_static(b"z\n"), WriteOptions::default()).await
        };
        let (outcome, written) = tokio::join!(poll, write);
        assert_eq!(written, exec_engine::WriteStatus::Accepted);
        let outcome = outcome.unwrap();
        assert!(!outcome.chunks.is_empty());
        assert_eq!(outcome.next_seq.get(), outcome.chunks.last().unwrap().seq.get() + 1);
    })
    .await;
}

#[tokio::test]
async fn environment_is_exactly_the_given_one_and_arg0_is_applied() {
    let engine = engine();
    let session = session(&engine);
    let mut env_spec = spec(&["/usr/bin/env"], Stdio::Pipes { stdin: StdinMode::Closed });
    env_spec.env = [("ONLY".to_owned(), "this".to_owned())].into();
    let mut events = session.start(pid("env"), env_spec).await.unwrap();
    assert_eq!(collect(&mut events).await.stdout, b"ONLY=this\n");

    let mut arg0_spec = spec(&["/bin/cat", "/proc/self/cmdline"], Stdio::Pipes { stdin: StdinMode::Closed });
    arg0_spec.arg0 = Some("renamed".to_owned());
    let mut events = session.start(pid("arg0"), arg0_spec).await.unwrap();
    assert_eq!(collect(&mut events).await.stdout, b"renamed\0/proc/self/cmdline\0");

    let mut cwd_spec = spec(&["/bin/pwd"], Stdio::Pipes { stdin: StdinMode::Closed });
    cwd_spec.cwd = "/tmp".into();
    let mut events = session.start(pid("cwd"), cwd_spec).await.unwrap();
    assert_eq!(collect(&mut events).await.stdout, b"/tmp\n");
}

#[tokio::test]
async fn read_budget_returns_whole_chunks() {
    let engine = engine();
    let session = session(&engine);
    let id = pid("p");
    let mut events = session
        .start(
            id.clone(),
            spec(
                &["/bin/sh", "-c", "printf abc; sleep 0.05; printf defgh"],
                Stdio::Pipes { stdin: StdinMode::Closed },
            ),
        )
        .await
        .unwrap();
    let collected = collect(&mut events).await;
    let chunks: Vec<_> = collected.events.iter().filter(|event| matches!(event, Event::Output(_))).collect();
    // Two writes, separated in time, are two chunks (each read returns what is in the pipe).
    assert!(!chunks.is_empty());
    let first =
        session.read(&id, ReadRequest { after_seq: None, max_bytes: Some(1), wait: None }).await.unwrap();
    assert_eq!(first.chunks.len(), 1, "the first chunk is returned even when larger than the budget");
    assert_eq!(first.next_seq, Seq::new(first.chunks[0].seq.get() + 1));
    assert!(!first.closed || chunks.len() == 1);
    let all = session.read(&id, ReadRequest::default()).await.unwrap();
    let bytes: Vec<u8> = all.chunks.iter().flat_map(|chunk| chunk.data.to_vec()).collect();
    assert_eq!(bytes, b"abcdefgh");
    assert!(all.chunks.iter().all(|chunk| chunk.stream == StreamKind::Stdout));
}

/// Everything a child wrote before it exited is numbered before its `Exited` (SPEC §6): the
/// reaper must not overtake the pipe reader. The last chunk of a big write is still in the pipe
/// when the child is reaped, which is the window the race needs; a few rounds on two workers (the
/// server's runtime) make it show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_written_before_exit_is_numbered_before_the_exit() {
    each_backend(|backend| async move {
        let engine = engine();
        let session = session(&engine);
        for round in 0..100 {
            let id = pid(&format!("p{round}"));
            let mut events =
                session.start(id, sh("head -c 150000 /dev/zero; printf end; exit 7", backend)).await.unwrap();
            let collected = collect(&mut events).await;
            assert_eq!(collected.exit, Some(ExitStatus::Code(7)));
            let exited = collected
                .events
                .iter()
                .position(|event| matches!(event, Event::Exited { .. }))
                .expect("an exit");
            let after_exit: usize = collected.events[exited..]
                .iter()
                .map(|event| match event {
                    Event::Output(chunk) => chunk.data.len(),
                    _ => 0,
                })
                .sum();
            assert_eq!(
                after_exit, 0,
                "round {round} ({backend:?}): {after_exit} bytes numbered after the exit"
            );
        }
    })
    .await;
}
