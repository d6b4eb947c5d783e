//! `start`: validation, typed spawn errors, limits, duplicate ids under concurrency, id reuse
//! after the linger, and the object-safe backend trait.

use std::sync::Arc;
use std::time::Duration;

use exec_engine::{
    BackendError, Config, Engine, Event, ExecBackend, ExitStatus, StartError, StdinMode, Stdio,
};

use crate::support::{Backend, collect, each_backend, engine, eventually, pid, session, spec};

const CLOSED: Stdio = Stdio::Pipes { stdin: StdinMode::Closed };

#[tokio::test]
async fn invalid_specs_are_refused() {
    let engine = engine();
    let session = session(&engine);
    let empty = spec(&[], CLOSED);
    assert!(matches!(session.start(pid("a"), empty).await, Err(StartError::EmptyArgv)));
    let mut relative = spec(&["/bin/true"], CLOSED);
    relative.cwd = "tmp".into();
    assert!(matches!(session.start(pid("a"), relative).await, Err(StartError::RelativeCwd(_))));
    assert!(session.list().is_empty());
}

#[tokio::test]
async fn spawn_failures_carry_the_os_error() {
    each_backend(|backend| async move {
        let engine = engine();
        let session = session(&engine);
        let missing = spec(&["/definitely/not/here"], backend.stdio());
        let error = session.start(pid("a"), missing).await.unwrap_err();
        assert!(matches!(error, StartError::Spawn { .. }), "{error:?}");
        assert!(error.to_string().contains("No such file or directory"), "{error}");
        assert!(error.to_string().contains("/definitely/not/here"), "{error}");

        let path = std::env::temp_dir().join(format!("exec-engine-not-executable-{}", std::process::id()));
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        let not_executable = spec(&[path.to_str().unwrap()], backend.stdio());
        let error = session.start(pid("a"), not_executable).await.unwrap_err();
        assert!(error.to_string().contains("Permission denied"), "{error}");
        std::fs::remove_file(&path).unwrap();

        let mut bad_cwd = spec(&["/bin/true"], backend.stdio());
        bad_cwd.cwd = "/no/such/dir".into();
        let error = session.start(pid("a"), bad_cwd).await.unwrap_err();
        assert!(matches!(error, StartError::Cwd { .. }), "{error:?}");
        assert!(error.to_string().contains("/no/such/dir: No such file or directory"), "{error}");

        // A bare name is looked up in the child's PATH, as execvp does.
        let error =
            session.start(pid("a"), spec(&["no-such-program-here"], backend.stdio())).await.unwrap_err();
        assert!(
            matches!(&error, StartError::Spawn { program, .. } if program == "no-such-program-here"),
            "{error:?}"
        );
        assert!(error.to_string().contains("No such file or directory"), "{error}");
        let mut events = session.start(pid("found"), spec(&["true"], backend.stdio())).await.unwrap();
        assert_eq!(collect(&mut events).await.exit, Some(ExitStatus::Code(0)));

        // A failed start leaves nothing behind: the id is free.
        assert!(session.list().iter().all(|info| info.id.as_str() == "found"));
        let mut events = session.start(pid("a"), spec(&["/bin/true"], backend.stdio())).await.unwrap();
        assert_eq!(collect(&mut events).await.exit, Some(ExitStatus::Code(0)));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_of_concurrent_starts_with_one_id_wins() {
    let engine = engine();
    let session = Arc::new(session(&engine));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let session = Arc::clone(&session);
        tasks.push(tokio::spawn(async move {
            session.start(pid("same"), spec(&["/bin/sleep", "5"], Backend::Pipes.stdio())).await.map(drop)
        }));
    }
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => wins += 1,
            Err(StartError::DuplicateId(id)) => assert_eq!(id.as_str(), "same"),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(session.list().len(), 1);
    assert!(session.terminate(&pid("same"), None).await.unwrap());
}

#[tokio::test]
async fn process_and_session_limits() {
    let engine = Engine::new(Config { max_processes_per_session: 1, max_sessions: 2, ..Config::default() });
    let first = session(&engine);
    drop(first.start(pid("a"), spec(&["/bin/sleep", "5"], CLOSED)).await.unwrap());
    let error = first.start(pid("b"), spec(&["/bin/true"], CLOSED)).await.unwrap_err();
    assert!(matches!(error, StartError::TooManyProcesses { limit: 1 }), "{error:?}");
    let _second = session(&engine);
    let error = engine.create_session().unwrap_err();
    assert!(matches!(error, exec_engine::SessionError::TooManySessions { limit: 2 }), "{error:?}");
    first.terminate(&pid("a"), None).await.unwrap();

    let engine = Engine::new(Config { max_processes_total: 1, ..Config::default() });
    let one = session(&engine);
    let two = session(&engine);
    drop(one.start(pid("a"), spec(&["/bin/sleep", "5"], CLOSED)).await.unwrap());
    let error = two.start(pid("a"), spec(&["/bin/true"], CLOSED)).await.unwrap_err();
    assert!(matches!(error, StartError::TooManyProcesses { limit: 1 }), "{error:?}");
    engine.shutdown().await;
}

#[tokio::test]
async fn a_closed_process_lingers_then_its_id_is_free() {
    let engine = Engine::new(Config { exited_linger: Duration::from_millis(100), ..Config::default() });
    let session = session(&engine);
    let mut events = session.start(pid("a"), spec(&["/bin/true"], CLOSED)).await.unwrap();
    collect(&mut events).await;
    // Still readable right after the close.
    assert!(session.read(&pid("a"), Default::default()).await.is_ok());
    eventually("the entry is removed after the linger", || session.list().is_empty()).await;
    assert!(matches!(
        session.read(&pid("a"), Default::default()).await,
        Err(exec_engine::ProcessError::UnknownProcess(_))
    ));
    let mut again = session.start(pid("a"), spec(&["/bin/echo", "again"], CLOSED)).await.unwrap();
    assert_eq!(collect(&mut again).await.stdout, b"again\n");
}

#[tokio::test]
async fn the_backend_trait_runs_a_process() {
    let engine = engine();
    let backend: Box<dyn ExecBackend> = Box::new(session(&engine));
    let mut events = backend.start(pid("hi"), spec(&["/bin/echo", "hello"], CLOSED)).await.unwrap();
    let mut output = Vec::new();
    while let Some(event) = events.next_event().await {
        if let Event::Output(chunk) = event {
            output.extend_from_slice(&chunk.data);
        }
    }
    assert_eq!(output, b"hello\n");
    let list = backend.list().await.unwrap();
    assert_eq!(list.len(), 1);
    let error = backend.terminate(&pid("nope"), None).await.unwrap_err();
    assert!(matches!(error, BackendError::Process(_)));
    assert_eq!(error.to_string(), "unknown process id nope");
}

/// An executable text file without a `#!` line runs under `/bin/sh`, as `execvp` (and so the
/// Codex servers, and a shell) would run it: by path and found through `PATH`, on pipes and a PTY.
#[tokio::test]
async fn a_script_without_a_shebang_runs_under_the_shell() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = std::env::temp_dir().join(format!("exec-engine-noshebang-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("plain-script");
    std::fs::write(&script, "echo \"ran $0 with $1\"\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir_text = dir.display().to_string();
    each_backend(|backend| {
        let (script, dir_text) = (script.clone(), dir_text.clone());
        async move {
            let engine = engine();
            let session = session(&engine);
            let by_path = spec(&[script.to_str().unwrap(), "arg"], backend.stdio());
            let mut events = session.start(pid("by-path"), by_path).await.unwrap();
            let collected = collect(&mut events).await;
            assert_eq!(collected.exit, Some(ExitStatus::Code(0)), "{}", collected.text());
            assert_eq!(collected.text().trim_end(), format!("ran {} with arg", script.display()));

            let mut by_name = spec(&["plain-script", "arg"], backend.stdio());
            by_name.env.insert("PATH".into(), format!("/nonexistent:{dir_text}:/usr/bin:/bin"));
            let mut events = session.start(pid("by-name"), by_name).await.unwrap();
            let collected = collect(&mut events).await;
            assert_eq!(collected.exit, Some(ExitStatus::Code(0)), "{}", collected.text());
            assert_eq!(collected.text().trim_end(), format!("ran {} with arg", script.display()));
        }
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}
