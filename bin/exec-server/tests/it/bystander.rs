//! A bystander for the attack tests (issue 12: "the whole executor survives each attack with
//! every other session's processes and output intact").
//!
//! Another client, on its own connection and session, starts a process before the attack that
//! prints a known stream (`seq 1 100000`), then blocks on its stdin, so it is provably alive
//! across the attack. During the attack a task keeps reading the bystander's socket, as a live
//! client does (it answers the server's pings; a client that reads nothing for the peer timeout
//! is rightly dropped). Afterwards [`Bystander::assert_intact`] releases the process with a line
//! of stdin; it prints `seq 100001 200000` and exits 0, and every byte of the stream (1.29 MB,
//! more than the default per-process retention, so flow control takes part) is checked, once
//! and in seq order, and so is the exit. Nothing here looks at the clock.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use test_support::{DEFAULT_DEADLINE, Notification, ProcessRun, RawClient, ServerProcess, start_params};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const PROCESS_ID: &str = "bystander";

/// The bystander's running process, and the task reading its connection meanwhile.
pub(crate) struct Bystander {
    /// Sent (or dropped) to hand the connection back.
    stop: oneshot::Sender<()>,
    /// Ends with the connection and the notifications it read.
    reader: JoinHandle<(RawClient, Vec<Notification>)>,
}

impl Bystander {
    /// Connects, starts the process, waits until its first output arrives, then keeps reading.
    pub(crate) async fn start(server: &ServerProcess) -> Bystander {
        let mut client = RawClient::connect(server.url()).await;
        client.initialize("bystander").await;
        let script = "seq 1 100000; read go; seq 100001 200000";
        let mut params = start_params(PROCESS_ID, &["sh", "-c", script]);
        params["pipeStdin"] = json!(true);
        client.request_ok("process/start", params).await;
        client.wait_for_output(PROCESS_ID, b"1\n").await;
        let (stop, mut stopped) = oneshot::channel();
        let reader = tokio::spawn(async move {
            let mut events = Vec::new();
            loop {
                tokio::select! {
                    _ = &mut stopped => return (client, events),
                    // Bounded only by the test's own time: the attack may take long.
                    event = client.next_notification(Duration::from_secs(3600)) => events.push(event),
                }
            }
        });
        Bystander { stop, reader }
    }

    /// Releases the process and checks that its whole output arrived once and in order, and
    /// that it exited with 0.
    pub(crate) async fn assert_intact(self) {
        let _ = self.stop.send(());
        let (mut client, mut events) =
            self.reader.await.unwrap_or_else(|error| panic!("the bystander's connection failed: {error}"));
        let status = client.write(PROCESS_ID, b"go\n").await.expect("the bystander's stdin");
        assert_eq!(status, "accepted", "the bystander's process is still running");
        let closed =
            |event: &Notification| event.method == "process/closed" && event.process_id() == Some(PROCESS_ID);
        while !events.iter().any(closed) {
            events.push(client.next_notification(DEFAULT_DEADLINE).await);
        }

        let mut by_seq = BTreeMap::new();
        for event in events.into_iter().filter(|event| event.process_id() == Some(PROCESS_ID)) {
            let seq = event.seq().unwrap_or_else(|| panic!("a bystander event without seq: {event:?}"));
            assert!(by_seq.insert(seq, event).is_none(), "the bystander's seq {seq} arrived twice");
        }
        let seqs: Vec<u64> = by_seq.keys().copied().collect();
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "the bystander's seqs have a gap");
        let run = ProcessRun { events: by_seq.into_values().collect() };
        let output = run.output();
        let expected: Vec<u8> =
            (1..=200_000).flat_map(|line: u32| format!("{line}\n").into_bytes()).collect();
        if output != expected {
            let first_difference = output
                .iter()
                .zip(&expected)
                .position(|(got, want)| got != want)
                .unwrap_or(output.len().min(expected.len()));
            panic!(
                "the bystander's output differs: {} bytes instead of {}, first difference at byte {first_difference}",
                output.len(),
                expected.len()
            );
        }
        assert_eq!(run.exit_code(), Some(0), "the bystander's process did not exit cleanly");
    }
}
