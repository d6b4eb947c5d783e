//! `ps`, `attach` and `kill` on a session recorded by `run --session-file`, after the `run`
//! client died without a goodbye.

use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::support::{DEADLINE, TestServer, client, finish, temp_path};

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Saved {
    session_id: String,
    process_id: Option<String>,
    last_seq: u64,
}

fn saved(path: &std::path::Path) -> Option<Saved> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_run_can_be_listed_signalled_and_reattached_where_it_left_off() {
    let server = TestServer::start().await;
    let url = server.url();
    let file = temp_path("session");
    let file_arg = file.to_str().unwrap().to_owned();
    let script = "trap 'echo second; exit 3' USR1; echo first; while :; do sleep 0.2 & wait $!; done";
    let mut run =
        client(&url, &["run", "--session-file", &file_arg, "--id", "job", "--", "sh", "-c", script])
            .spawn()
            .unwrap();
    let mut stdout = BufReader::new(run.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(DEADLINE, stdout.next_line()).await.unwrap().unwrap();
    assert_eq!(first.as_deref(), Some("first"));
    let recorded = saved(&file).expect("the session file is written once the process started");
    assert_eq!(recorded.process_id.as_deref(), Some("job"));
    // The client dies without a goodbye: attach goes on from the last checkpoint of the file,
    // which is written at most once a second, so "first" may be shown again (never lost).
    run.kill().await.unwrap();
    run.wait().await.unwrap();

    let ps = finish(client(&url, &["ps", "--session-file", &file_arg])).await;
    assert_eq!(ps.code, Some(0), "{}", ps.stderr);
    let row = ps.stdout_text().lines().find(|line| line.starts_with("job ")).map(str::to_owned);
    let row = row.unwrap_or_else(|| panic!("no row for job in {}", ps.stdout_text()));
    assert!(row.contains("running") && row.contains("sh -c"), "{row}");
    // An aligned table: the header's columns start where the row's do, and a running process
    // has an age (from the executor's own `ps`).
    let header = ps.stdout_text().lines().next().unwrap_or_default().to_owned();
    assert_eq!(header.find("STATE"), row.find("running"), "{header}\n{row}");
    let age = row.split_whitespace().nth(4).unwrap_or_default();
    assert!(age.ends_with('s') && age != "-", "{row}");

    let kill = finish(client(&url, &["kill", "--session-file", &file_arg, "--signal", "usr1"])).await;
    assert_eq!(kill.code, Some(0), "{}", kill.stderr);

    let attach = finish(client(&url, &["attach", "--session-file", &file_arg])).await;
    assert_eq!(attach.code, Some(3), "the remote exit code: {}", attach.stderr);
    let shown = attach.stdout_text();
    assert!(shown == "first\nsecond\n" || shown == "second\n", "{shown:?}");
    let after = saved(&file).unwrap();
    assert_eq!(after.session_id, recorded.session_id);
    assert!(after.last_seq >= 3, "attach saved where it stopped: {}", after.last_seq);

    // From where it left off: nothing new. From a given seq: everything after it.
    let again = finish(client(&url, &["attach", "--session-file", &file_arg])).await;
    assert_eq!((again.code, again.stdout_text().as_str()), (Some(3), ""), "{}", again.stderr);
    let from_one =
        finish(client(&url, &["attach", "--session-file", &file_arg, "--from-seq", "1", "job"])).await;
    assert_eq!(from_one.stdout_text(), "second\n");

    let ps = finish(client(&url, &["ps", "--session-file", &file_arg])).await;
    let row =
        ps.stdout_text().lines().find(|line| line.starts_with("job ")).map(str::to_owned).unwrap_or_default();
    assert_eq!(
        row.split_whitespace().skip(2).take(2).collect::<Vec<_>>(),
        ["exited", "3"],
        "{}",
        ps.stdout_text()
    );
    let not_running = finish(client(&url, &["kill", "--session-file", &file_arg, "job"])).await;
    assert_eq!(not_running.code, Some(1), "{}", not_running.stderr);
    std::fs::remove_file(&file).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_terminates_by_default_and_unknown_sessions_are_server_errors() {
    let server = TestServer::start().await;
    let url = server.url();
    let file = temp_path("session");
    let file_arg = file.to_str().unwrap().to_owned();
    // The file is written right after the start, before any output: "ready" means it is there.
    let script = "echo ready; exec sleep 30";
    let mut run =
        client(&url, &["run", "--session-file", &file_arg, "--id", "sleeper", "--", "sh", "-c", script])
            .spawn()
            .unwrap();
    let mut stdout = BufReader::new(run.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(DEADLINE, stdout.next_line()).await.unwrap().unwrap();
    assert_eq!(ready.as_deref(), Some("ready"));
    assert!(saved(&file).is_some(), "the session file is written");
    // `kill` takes the session over; the `run` client sees that and ends as disconnected.
    let kill = finish(client(&url, &["kill", "--session-file", &file_arg])).await;
    assert_eq!(kill.code, Some(0), "{}", kill.stderr);
    let status = tokio::time::timeout(DEADLINE, run.wait()).await.unwrap().unwrap();
    assert!(matches!(status.code(), Some(253 | 143)), "{status:?}");
    // `kill` returns once the signal is sent; the exit is recorded when the child is reaped.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let (row, listing) = loop {
        let ps = finish(client(&url, &["ps", "--session-file", &file_arg])).await;
        let row = ps
            .stdout_text()
            .lines()
            .find(|line| line.starts_with("sleeper "))
            .map(str::to_owned)
            .unwrap_or_default();
        if !row.contains("running") || tokio::time::Instant::now() > deadline {
            break (row, ps.stdout_text());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(
        row.split_whitespace().skip(2).take(2).collect::<Vec<_>>(),
        ["killed", "SIGTERM"],
        "SIGTERM first: {listing}"
    );

    let unknown = finish(client(&url, &["ps", "--session", "00000000-0000-4000-8000-000000000000"])).await;
    assert_eq!(unknown.code, Some(252), "{}", unknown.stderr);
    assert!(unknown.stderr.contains("unknown session"), "{}", unknown.stderr);
    std::fs::remove_file(&file).unwrap();
}
