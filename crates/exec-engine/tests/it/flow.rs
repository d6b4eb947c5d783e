//! Flow control and eviction with large outputs: a lagging subscriber loses nothing (the child
//! is slowed down instead); with no subscriber the oldest output is evicted and reported.

use exec_engine::{Config, Event, ProcessId, ReadRequest, Seq, SessionHandle, SubscribeFrom};

use crate::support::{Backend, DEADLINE, each_backend, engine, pid, session, sh, within};

/// The repeating line the writer prints; 63 bytes, so a chunk boundary almost never falls on a
/// repetition boundary and a lost, duplicated or reordered chunk shows in the content.
const LINE: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// A shell script writing `bytes` bytes of repeated `LINE`s (raw PTY mode so bytes are unchanged).
fn writer(bytes: usize, backend: Backend) -> String {
    let raw = if backend == Backend::Pty { "stty raw -echo; " } else { "" };
    format!("{raw}yes {LINE} | head -c {bytes}")
}

/// Checks `data` against the pattern at absolute stream `offset`.
#[track_caller]
fn check_pattern(pattern: &[u8], offset: usize, data: &[u8]) {
    let period = LINE.len() + 1;
    let start = offset % period;
    assert!(data.len() + start <= pattern.len(), "chunk larger than the pattern buffer");
    assert!(pattern[start..start + data.len()] == *data, "content mismatch at offset {offset}");
}

fn pattern_buffer(config: &Config) -> Vec<u8> {
    let line = format!("{LINE}\n");
    line.repeat(config.read_chunk_bytes.max(config.retention_bytes) / line.len() + 2).into_bytes()
}

/// Reads (long polls, event-driven) until the retained output reaches `threshold` bytes.
async fn wait_until_retained(session: &SessionHandle, id: &ProcessId, threshold: usize) -> usize {
    let mut after = None;
    within("retention to fill up", async {
        loop {
            let request = ReadRequest { after_seq: after, max_bytes: None, wait: Some(DEADLINE) };
            let outcome = session.read(id, request).await.unwrap();
            assert!(outcome.exit.is_none(), "the writer must be held back, not finish");
            after = Some(Seq::new(outcome.next_seq.get() - 1));
            let retained = session.read(id, ReadRequest::default()).await.unwrap();
            assert_eq!(retained.dropped_before, None, "nothing may be evicted under a subscriber");
            let bytes: usize = retained.chunks.iter().map(|chunk| chunk.data.len()).sum();
            if bytes >= threshold {
                return bytes;
            }
        }
    })
    .await
}

// Multi-threaded, like a server: the reader task and the subscriber wake each other across threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_subscriber_gets_every_byte_in_order() {
    each_backend(|backend| async move {
        let total = match backend {
            Backend::Pipes => 100 * 1024 * 1024,
            // A PTY moves data in small pieces; 16 MiB exercises the same path in less time.
            Backend::Pty => 16 * 1024 * 1024,
        };
        let engine = engine();
        let config = engine.config().clone();
        let pattern = pattern_buffer(&config);
        let session = session(&engine);
        let id = pid("big");
        let mut events = session.start(id.clone(), sh(&writer(total, backend), backend)).await.unwrap();

        // Lag: consume nothing until the retention bound is (nearly) reached.
        let held =
            wait_until_retained(&session, &id, config.retention_bytes - 2 * config.read_chunk_bytes).await;
        assert!(held <= config.retention_bytes, "retained {held} bytes, bound {}", config.retention_bytes);

        // Now drain: every byte, in order, no gap.
        let mut offset = 0usize;
        let mut last_seq = 0u64;
        let mut exited = false;
        within("draining the subscriber", async {
            while let Some(event) = events.next().await {
                assert_eq!(event.seq().get(), last_seq + 1, "seqs are contiguous");
                last_seq = event.seq().get();
                match event {
                    Event::Output(chunk) => {
                        assert!(chunk.data.len() <= config.read_chunk_bytes);
                        check_pattern(&pattern, offset, &chunk.data);
                        offset += chunk.data.len();
                    }
                    Event::Exited { status, .. } => {
                        assert!(status.success(), "{status:?}");
                        exited = true;
                    }
                    Event::Closed { .. } => assert!(exited),
                    Event::Gap { .. } => panic!("a live subscriber must never see a gap"),
                    Event::Failed { reason, .. } => panic!("the local engine never fails a stream: {reason}"),
                }
            }
        })
        .await;
        assert_eq!(offset, total, "byte count");
    })
    .await;
}

/// Long polls until the process is closed (the cursor is past everything, so only the exit and
/// close wake it).
async fn wait_closed(session: &SessionHandle, id: &ProcessId) {
    within("the close", async {
        loop {
            let request = ReadRequest {
                after_seq: Some(Seq::new(u64::MAX - 1)),
                max_bytes: None,
                wait: Some(DEADLINE),
            };
            if session.read(id, request).await.unwrap().closed {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
}

#[tokio::test]
async fn without_a_subscriber_the_oldest_output_is_evicted_and_reported() {
    each_backend(|backend| async move {
        let total = match backend {
            Backend::Pipes => 100 * 1024 * 1024,
            Backend::Pty => 8 * 1024 * 1024,
        };
        let engine = engine();
        let config = engine.config().clone();
        let pattern = pattern_buffer(&config);
        let session = session(&engine);
        let id = pid("big");
        drop(session.start(id.clone(), sh(&writer(total, backend), backend)).await.unwrap());
        wait_closed(&session, &id).await;

        let outcome = session.read(&id, ReadRequest::default()).await.unwrap();
        assert!(outcome.exit.is_some_and(|status| status.success()));
        let first_retained = outcome.chunks.first().expect("the tail is retained").seq;
        let dropped_before = outcome.dropped_before.expect("eviction is reported");
        assert!(dropped_before <= first_retained && dropped_before.get() > 1, "{dropped_before:?}");
        let retained: usize = outcome.chunks.iter().map(|chunk| chunk.data.len()).sum();
        assert!(retained <= config.retention_bytes, "retained {retained}");
        assert!(retained >= config.retention_bytes / 2, "retained only {retained}");
        // What is retained is exactly the tail of the stream.
        let mut offset = total - retained;
        for chunk in &outcome.chunks {
            check_pattern(&pattern, offset, &chunk.data);
            offset += chunk.data.len();
        }

        // A subscription from the start learns about the gap first, then gets the rest in order
        // (the exit, if its seq fell inside the evicted range, sits between two gaps).
        let mut events = session.subscribe(&id, SubscribeFrom::Start).unwrap();
        let mut replay = Vec::new();
        while let Some(event) = within("replay", events.next()).await {
            replay.push(event);
        }
        assert!(matches!(replay.first(), Some(Event::Gap { .. })), "{:?}", replay.first());
        assert!(matches!(replay.last(), Some(Event::Closed { .. })));
        assert_eq!(replay.iter().filter(|event| matches!(event, Event::Exited { .. })).count(), 1);
        // A gap's seq is the first seq after it, which the next event carries.
        assert!(
            replay.windows(2).all(|pair| match pair[0] {
                Event::Gap { dropped_before } => dropped_before == pair[1].seq(),
                _ => pair[0].seq() < pair[1].seq(),
            }),
            "seqs rise: {:?}",
            replay.iter().map(Event::seq).take(5).collect::<Vec<_>>()
        );
        let replayed: Vec<_> = replay
            .iter()
            .filter_map(|event| match event {
                Event::Output(chunk) => Some(chunk.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(replayed, outcome.chunks);
    })
    .await;
}
