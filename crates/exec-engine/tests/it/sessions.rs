//! Sessions: detach on drop, TTL expiry (which kills the processes), resume within the TTL,
//! authoritative expiry at resume time, takeover, and engine shutdown.

use std::time::Duration;

use bytes::Bytes;
use exec_engine::{
    Config, Engine, ProcessError, ReadRequest, SessionError, SessionId, StartError, SubscribeFrom,
    WriteOptions, WriteStatus,
};

use crate::support::{
    Backend, DEADLINE, collect, collect_until, each_backend, eventually, pid, pid_exists, server_pid, sh,
    spec, within,
};

fn engine_with_ttl(ttl: Duration) -> Engine {
    Engine::new(Config { session_ttl: ttl, ..Config::default() })
}

#[tokio::test]
async fn session_ids_are_uuids_and_unknown_ones_are_refused() {
    let engine = engine_with_ttl(Duration::from_secs(30));
    let session = engine.create_session().unwrap();
    let id = session.session_id();
    assert_eq!(SessionId::parse(&id.to_string()), Some(id));
    let stranger = SessionId::parse("00000000-0000-4000-8000-000000000000").unwrap();
    let error = engine.resume_session(&stranger).await.unwrap_err();
    assert!(matches!(error, SessionError::UnknownSession(_)));
    assert_eq!(error.to_string(), "unknown session id 00000000-0000-4000-8000-000000000000");
}

/// Dropping an engine ends the tasks it started (found by the `dispatch` fuzz target, which
/// builds an engine per input on one runtime: the retention reclaimer of every dropped engine
/// stayed parked on a budget nothing would fill again, and libFuzzer's leak check then ran after
/// every input, 30 times slower). No clock: the expiry timer of a zero TTL is already due.
#[tokio::test]
async fn a_dropped_engine_leaves_no_task_behind() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let engine = engine_with_ttl(Duration::ZERO);
    let session = engine.create_session().unwrap();
    assert!(metrics.num_alive_tasks() > before, "the engine runs its reclaimer");
    drop(session);
    drop(engine);
    for _ in 0..1000 {
        if metrics.num_alive_tasks() == before {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{} tasks outlived their engine", metrics.num_alive_tasks() - before);
}

#[tokio::test]
async fn a_detached_session_keeps_running_and_can_be_resumed() {
    each_backend(|backend| async move {
        let engine = engine_with_ttl(Duration::from_secs(30));
        let first = engine.create_session().unwrap();
        let session_id = first.session_id();
        let id = pid("p");
        let mut events =
            first.start(id.clone(), sh("echo before; read line; echo after-$line", backend)).await.unwrap();
        collect_until(&mut events, |c| c.text().contains("before")).await;
        drop(first);
        // The handle's subscriptions end with the detach.
        assert_eq!(within("subscription end", events.next()).await, None);

        let resumed = engine.resume_session(&session_id).await.unwrap();
        assert_eq!(resumed.session_id(), session_id);
        let status = resumed.write(&id, Bytes::from_static(b"x\n"), WriteOptions::default()).await;
        assert_eq!(status, WriteStatus::Accepted);
        let mut replay = resumed.subscribe(&id, SubscribeFrom::Start).unwrap();
        let collected = collect(&mut replay).await;
        let text = collected.text();
        assert!(text.contains("before") && text.contains("after-x"), "{text:?}");
        assert!(collected.closed);
    })
    .await;
}

#[tokio::test]
async fn ttl_expiry_kills_the_process_group() {
    each_backend(|backend| async move {
        let engine = engine_with_ttl(Duration::from_millis(200));
        let handle = engine.create_session().unwrap();
        let session_id = handle.session_id();
        let mut events =
            handle.start(pid("p"), sh("sleep 30 & echo grandchild=$!; wait", backend)).await.unwrap();
        let seen = collect_until(&mut events, |c| c.text().contains('\n')).await;
        let grandchild: u32 = seen.text().trim().strip_prefix("grandchild=").unwrap().parse().unwrap();
        let leader = handle.list()[0].pid.unwrap();
        let grandchild = server_pid(leader, grandchild);
        drop(events);
        drop(handle);
        eventually("expiry kills the leader and the grandchild", || {
            !pid_exists(leader) && !pid_exists(grandchild)
        })
        .await;
        assert!(matches!(engine.resume_session(&session_id).await, Err(SessionError::UnknownSession(_))));
        assert_eq!(engine.session_count(), 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn expiry_is_decided_at_resume_time() {
    let ttl = Duration::from_secs(30);
    let engine = engine_with_ttl(ttl);
    let handle = engine.create_session().unwrap();
    let session_id = handle.session_id();
    drop(handle);
    tokio::time::advance(ttl - Duration::from_millis(1)).await;
    let handle = engine.resume_session(&session_id).await.expect("within the TTL");
    drop(handle);
    // Past the new deadline. Whether or not the timer task ran, resume must fail.
    tokio::time::advance(ttl).await;
    assert!(matches!(engine.resume_session(&session_id).await, Err(SessionError::UnknownSession(_))));
    assert_eq!(engine.session_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_superseded_handle_does_not_detach_the_new_attachment() {
    let ttl = Duration::from_secs(30);
    let engine = engine_with_ttl(ttl);
    let old = engine.create_session().unwrap();
    let session_id = old.session_id();
    let new = engine.resume_session(&session_id).await.unwrap();
    assert!(old.is_superseded());
    drop(old);
    tokio::time::advance(ttl * 3).await;
    // Still attached (never detached), so resuming takes it over instead of failing.
    let newer = engine.resume_session(&session_id).await.expect("the session is alive");
    assert!(new.is_superseded());
    assert!(!newer.is_superseded());
}

#[tokio::test]
async fn takeover_fails_the_old_handle_and_keeps_the_processes() {
    let engine = engine_with_ttl(Duration::from_secs(30));
    let old = engine.create_session().unwrap();
    let session_id = old.session_id();
    let id = pid("cat");
    let mut old_events = old.start(id.clone(), spec(&["/bin/cat"], Backend::Pipes.stdio())).await.unwrap();

    // A long poll in flight on the old handle fails when another resume takes over.
    let poll = old.read(&id, ReadRequest { after_seq: None, max_bytes: None, wait: Some(DEADLINE) });
    let takeover = async {
        tokio::task::yield_now().await;
        engine.resume_session(&session_id).await.unwrap()
    };
    let (polled, new) = tokio::join!(poll, takeover);
    assert!(matches!(polled, Err(ProcessError::SessionTakenOver)), "{polled:?}");
    within("superseded fires", old.superseded()).await;
    assert_eq!(within("old subscription ends", old_events.next()).await, None);
    assert!(matches!(old.read(&id, ReadRequest::default()).await, Err(ProcessError::SessionTakenOver)));
    assert!(matches!(old.subscribe(&id, SubscribeFrom::Start), Err(ProcessError::SessionTakenOver)));
    let error = old.start(pid("other"), spec(&["/bin/true"], Backend::Pipes.stdio())).await.unwrap_err();
    assert!(matches!(error, StartError::SessionTakenOver));
    assert_eq!(error.to_string(), "session has been resumed by another connection");
    drop(old);

    // The new attachment sees and drives the same process.
    assert_eq!(new.list().len(), 1);
    let mut events = new.subscribe(&id, SubscribeFrom::Start).unwrap();
    let eof = WriteOptions { eof: true, write_id: None };
    assert_eq!(new.write(&id, Bytes::from_static(b"still here\n"), eof).await, WriteStatus::Accepted);
    let collected = collect(&mut events).await;
    assert_eq!(collected.stdout, b"still here\n");
}

#[tokio::test]
async fn detaching_releases_flow_control() {
    let engine = engine_with_ttl(Duration::from_secs(30));
    let handle = engine.create_session().unwrap();
    let session_id = handle.session_id();
    let id = pid("big");
    // Held but never read: this subscription stops the writer at the retention bound.
    let held = handle.start(id.clone(), sh("yes | head -c 8388608", Backend::Pipes)).await.unwrap();
    drop(handle);
    let resumed = engine.resume_session(&session_id).await.unwrap();
    within("the writer finishes once nobody holds it back", async {
        loop {
            let request = ReadRequest {
                after_seq: Some(exec_engine::Seq::new(u64::MAX - 1)),
                max_bytes: None,
                wait: Some(DEADLINE),
            };
            if resumed.read(&id, request).await.unwrap().closed {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    let outcome = resumed.read(&id, ReadRequest::default()).await.unwrap();
    assert!(outcome.dropped_before.is_some());
    drop(held);
}

#[tokio::test]
async fn shutdown_kills_every_session() {
    let engine = engine_with_ttl(Duration::from_secs(30));
    let one = engine.create_session().unwrap();
    let two = engine.create_session().unwrap();
    drop(one.start(pid("a"), spec(&["/bin/sleep", "30"], Backend::Pipes.stdio())).await.unwrap());
    drop(two.start(pid("b"), spec(&["/bin/sleep", "30"], Backend::Pty.stdio())).await.unwrap());
    let pids: Vec<u32> =
        [&one, &two].iter().flat_map(|handle| handle.list()).filter_map(|info| info.pid).collect();
    assert_eq!(pids.len(), 2);
    within("shutdown", engine.shutdown()).await;
    for pid in pids {
        eventually("killed by shutdown", || !pid_exists(pid)).await;
    }
    assert_eq!(engine.session_count(), 0);
}

/// Race A: a `start` whose spawn straddles a resume. The start is held after its spawn (by the
/// `after_spawn` seam) until the session has been taken over; meanwhile its child filled the
/// pipe and its reader was refused space under the old attachment's cursor. The resumed
/// attachment must see the process (listed, readable, subscribable: a server starts its
/// notification pumps from `list`), and releasing the old cursor must wake the reader, or the
/// child stays blocked on a full pipe until the session expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_straddles_a_resume_is_seen_and_not_blocked() {
    let scratch = std::env::temp_dir().join(format!("exec-engine-race-a-{}", std::process::id()));
    // A leftover of an earlier run of this test, if any; a real problem shows up just below.
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let fifo = scratch.join("pid");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();

    // The hook holds the start in the window, blocking the spawning thread as a slow fork
    // would: first until the child is blocked on its full stdout pipe (its reader refused
    // space), then until the test lets it go.
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let held = std::sync::Mutex::new(Some((entered_tx, release_rx)));
    let hook = {
        let fifo = fifo.clone();
        exec_engine::AfterSpawn::new(move |_id| {
            let Some((entered, release)) = held.lock().unwrap().take() else { return };
            let pid = std::fs::read_to_string(&fifo).unwrap();
            wait_blocked_on_pipe(pid.trim().parse().unwrap());
            entered.send(()).unwrap();
            release.recv().unwrap();
        })
    };
    // `$$` is read from outside the session: keep the child in the server's PID namespace.
    let engine = Engine::new(Config {
        retention_bytes: 1024,
        after_spawn: Some(hook),
        contain_sessions: false,
        ..Config::default()
    });
    let old = std::sync::Arc::new(engine.create_session().unwrap());
    let session_id = old.session_id();
    let superseded = old.superseded_token();
    let id = pid("big");
    let script = format!("echo $$ > {}; exec head -c 4000000 /dev/zero", fifo.display());
    let start = tokio::spawn({
        let old = std::sync::Arc::clone(&old);
        let id = id.clone();
        async move { old.start(id, sh(&script, Backend::Pipes)).await }
    });
    within("the child blocks on its pipe", entered_rx).await.unwrap();

    let mut resume = tokio::spawn({
        let engine = engine.clone();
        async move { engine.resume_session(&session_id).await }
    });
    within("the resume took the session over", superseded.cancelled()).await;
    // Whenever the resume returns, its handle must list the process. Give it the chance to
    // return before the start commits (what happened before the fix); a resume that waits for
    // the start only returns after the release, and this bounded wait runs out.
    let early = tokio::time::timeout(Duration::from_secs(1), &mut resume).await.ok();
    let listed = |handle: &exec_engine::SessionHandle| {
        handle.list().iter().map(|info| info.id.clone()).collect::<Vec<_>>()
    };
    let early = early.map(|joined| joined.unwrap().unwrap());
    if let Some(handle) = &early {
        assert_eq!(listed(handle), vec![id.clone()], "the resume returned before the start committed");
    }
    release_tx.send(()).unwrap();
    let new = match early {
        Some(handle) => handle,
        None => within("resume", resume).await.unwrap().unwrap(),
    };
    assert_eq!(listed(&new), vec![id.clone()]);
    let _old_subscription = within("the old start", start).await.unwrap().unwrap();

    let mut after = None;
    let status = within("the child exits", async {
        loop {
            let request = ReadRequest { after_seq: after, max_bytes: None, wait: Some(DEADLINE) };
            let outcome = new.read(&id, request).await.expect("the resumed handle reads the process");
            if let Some(status) = outcome.exit {
                return status;
            }
            after = Some(exec_engine::Seq::new(outcome.next_seq.get() - 1));
        }
    })
    .await;
    assert_eq!(status, exec_engine::ExitStatus::Code(0));
    std::fs::remove_dir_all(&scratch).unwrap();
}

/// Polls (no event exists for it) until `pid` sleeps writing a pipe and has written nothing more
/// across a pause in which the engine's pipe reader (on another runtime thread) could run: the
/// reader has stopped draining it.
fn wait_blocked_on_pipe(pid: u32) {
    let written = || {
        let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
        io.lines().find_map(|line| line.strip_prefix("wchar: ").map(str::to_owned))
    };
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        assert!(std::time::Instant::now() < deadline, "pid {pid} never blocked on its pipe");
        let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
        let before = written();
        std::thread::sleep(Duration::from_millis(20));
        if wchan.contains("pipe_write") && before.is_some() && written() == before {
            return;
        }
    }
}
