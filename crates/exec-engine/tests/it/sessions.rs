//! Sessions: detach on drop, TTL expiry (which kills the processes), resume within the TTL,
//! authoritative expiry at resume time, takeover, and engine shutdown.

use std::time::Duration;

use bytes::Bytes;
use exec_engine::{
    Config, Engine, ProcessError, ReadRequest, SessionError, SessionId, StartError, SubscribeFrom,
    WriteOptions, WriteStatus,
};

use crate::support::{
    Backend, DEADLINE, collect, collect_until, each_backend, eventually, pid, pid_exists, sh, spec, within,
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
    let error = engine.resume_session(&stranger).unwrap_err();
    assert!(matches!(error, SessionError::UnknownSession(_)));
    assert_eq!(error.to_string(), "unknown session id 00000000-0000-4000-8000-000000000000");
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

        let resumed = engine.resume_session(&session_id).unwrap();
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
        drop(events);
        drop(handle);
        eventually("expiry kills the leader and the grandchild", || {
            !pid_exists(leader) && !pid_exists(grandchild)
        })
        .await;
        assert!(matches!(engine.resume_session(&session_id), Err(SessionError::UnknownSession(_))));
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
    let handle = engine.resume_session(&session_id).expect("within the TTL");
    drop(handle);
    // Past the new deadline. Whether or not the timer task ran, resume must fail.
    tokio::time::advance(ttl).await;
    assert!(matches!(engine.resume_session(&session_id), Err(SessionError::UnknownSession(_))));
    assert_eq!(engine.session_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_superseded_handle_does_not_detach_the_new_attachment() {
    let ttl = Duration::from_secs(30);
    let engine = engine_with_ttl(ttl);
    let old = engine.create_session().unwrap();
    let session_id = old.session_id();
    let new = engine.resume_session(&session_id).unwrap();
    assert!(old.is_superseded());
    drop(old);
    tokio::time::advance(ttl * 3).await;
    // Still attached (never detached), so resuming takes it over instead of failing.
    let newer = engine.resume_session(&session_id).expect("the session is alive");
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
        engine.resume_session(&session_id).unwrap()
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
    let resumed = engine.resume_session(&session_id).unwrap();
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
