//! The audit log: one JSON line when a process starts and one when it ends, naming the session,
//! the client, the process and what ran. For an operator who must answer "what did the agents run
//! on this executor, and how did it end".
//!
//! Start line fields: `time`, `event: "process.start"`, `session`, `client`, `processId`, `pid`,
//! `argv`, `cwd`, `tty`, `envNames` (the child environment's variable **names**, never values),
//! `envPolicy` (whether the environment came from a policy over the server's own), `sandbox`
//! (`"none"`, or the sandbox type applied), and `traceparent` when the `process/start` request
//! carried one (Codex's `trace`), so the line joins the agent turn that asked for it. End line: `time`, `event: "process.exit"`, `session`,
//! `client`, `processId`, `pid`, `exitCode` (or `null`), `signal` (or `null`), `durationMs`,
//! `stdoutBytes`, `stderrBytes`, `ptyBytes`.
//!
//! The end is watched by a small task per process ([`exec_engine::ProcessWatch`]) that holds no
//! subscriber cursor, so it sees every exit, attached or not, and slows nothing. The same task
//! feeds the output byte and sandbox denial counters of `/metrics`, once per process, so it runs
//! whether or not auditing is on. Lines are written whole under a lock (one `write` each); a
//! failed write is reported once in the log and the server keeps serving. This module decides
//! nothing about processes: it only records.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use exec_engine::{ExitStatus, ProcessEnd, ProcessId, ProcessWatch, SessionHandle, SpawnSpec, Stdio};
use serde_json::{Value, json};
use tracing::Instrument as _;

use super::connection::Context;

tokio::task_local! {
    /// The W3C traceparent of the request this task is answering, when its client sent one. Set
    /// by the connection around each request task.
    pub(crate) static TRACEPARENT: Option<Arc<str>>;
}

/// Where audit lines go. Cheap to clone; every clone writes to the same place.
#[derive(Clone, Default)]
pub struct AuditLog {
    /// `None`: auditing is off (the library default; the binary writes to stderr or a file).
    sink: Option<Arc<Sink>>,
}

struct Sink {
    writer: Mutex<Box<dyn Write + Send>>,
    /// Set after the first failed write, so a full disk is reported once, not per line.
    failed: AtomicBool,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("AuditLog").field("enabled", &self.sink.is_some()).finish()
    }
}

impl AuditLog {
    /// Audit lines go to `writer` (stderr, an append-mode file), one line per write.
    pub fn to_writer(writer: impl Write + Send + 'static) -> AuditLog {
        AuditLog {
            sink: Some(Arc::new(Sink {
                writer: Mutex::new(Box::new(writer)),
                failed: AtomicBool::new(false),
            })),
        }
    }

    /// Whether lines are written at all.
    pub fn is_enabled(&self) -> bool {
        self.sink.is_some()
    }

    fn emit(&self, mut record: Value) {
        let Some(sink) = &self.sink else { return };
        record["time"] = Value::String(rfc3339_now());
        let mut line = record.to_string();
        line.push('\n');
        let mut writer = sink.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(error) = writer.write_all(line.as_bytes()).and_then(|()| writer.flush())
            && !sink.failed.swap(true, Ordering::Relaxed)
        {
            tracing::error!(%error, "cannot write the audit log; audit lines are being lost");
        }
    }
}

/// What the start line needs from the request, taken before the request is consumed. `None`
/// when auditing is off, so a server without an audit log copies nothing.
pub(crate) struct Prepared {
    argv: Vec<String>,
    cwd: String,
    tty: bool,
    env_names: Vec<String>,
    env_policy: bool,
    sandbox: &'static str,
    traceparent: Option<Arc<str>>,
}

/// Call before spawning, with the spec about to be spawned: copies what the start line will say
/// (argv, cwd, tty, the child environment's names, whether a sandbox is applied, reported with
/// the wire's `sandboxType` names).
pub(crate) fn prepare(context: &Context, spec: &SpawnSpec, env_policy: bool) -> Option<Prepared> {
    context.shared.config.audit.is_enabled().then(|| Prepared {
        argv: spec.argv.clone(),
        cwd: spec.cwd.display().to_string(),
        tty: matches!(spec.stdio, Stdio::Pty { .. }),
        env_names: spec.env.keys().cloned().collect(),
        env_policy,
        sandbox: if spec.sandbox.is_some() { "linuxSeccomp" } else { "none" },
        traceparent: TRACEPARENT.try_with(Clone::clone).ok().flatten(),
    })
}

/// Call after a successful spawn: writes the start line (when auditing) and watches for the end
/// (the end line, and the counters of `/metrics`), logging in `span` (the process's).
pub(crate) fn started(
    context: &Context,
    session: &SessionHandle,
    process_id: &ProcessId,
    prepared: Option<Prepared>,
    span: tracing::Span,
) {
    let Ok(watch) = session.watch(process_id) else {
        // Already gone (removed by a concurrent teardown): nothing ran long enough to audit.
        return;
    };
    let shared = Arc::clone(&context.shared);
    let session_id = session.session_id().to_string();
    let client = Arc::clone(&context.client_name);
    let pid = watch.pid();
    let Some(prepared) = prepared else {
        context.shared.watchers.spawn(
            async move {
                let end = watch.ended().await;
                count_end(&shared, &watch, &end);
            }
            .instrument(span),
        );
        return;
    };
    shared.config.audit.emit(json!({
        "event": "process.start",
        "session": session_id,
        "client": &*client,
        "processId": process_id.as_str(),
        "pid": pid,
        "argv": prepared.argv,
        "cwd": prepared.cwd,
        "tty": prepared.tty,
        "envNames": prepared.env_names,
        "envPolicy": prepared.env_policy,
        "sandbox": prepared.sandbox,
        "traceparent": prepared.traceparent.as_deref(),
    }));
    let started_at = Instant::now();
    let process_id = process_id.as_str().to_owned();
    context.shared.watchers.spawn(
        async move {
            let end = watch.ended().await;
            count_end(&shared, &watch, &end);
            let (code, signal) = match end.exit {
                Some(ExitStatus::Code(code)) => (Some(code), None),
                Some(ExitStatus::Signal(signal)) => (None, Some(signal)),
                None => (None, None),
            };
            tracing::debug!(?code, ?signal, "process ended");
            shared.config.audit.emit(json!({
                "event": "process.exit",
                "session": session_id,
                "client": &*client,
                "processId": process_id,
                "pid": pid,
                "exitCode": code,
                "signal": signal,
                "durationMs": u64::try_from(started_at.elapsed().as_millis()).unwrap_or(u64::MAX),
                "stdoutBytes": end.stdout_bytes,
                "stderrBytes": end.stderr_bytes,
                "ptyBytes": end.pty_bytes,
            }));
        }
        .instrument(span),
    );
}

/// Feeds `/metrics` with a process's end: its output bytes, and a sandbox denial when the
/// server's judgement (`handlers::sandbox_denied`, the same the wire's `sandboxDenied` gives) says
/// so. Here, once per process, because this task sees every end: notification pumps and
/// `process/read` miss detached processes and may see one end twice.
fn count_end(shared: &super::Shared, watch: &ProcessWatch, end: &ProcessEnd) {
    shared.metrics.process_ended(end);
    if let Some(tail) = watch.sandboxed_output_tail(exec_sandbox::DENIAL_TAIL_BYTES)
        && super::handlers::sandbox_denied(true, end.exit, std::iter::once(tail.as_slice()))
    {
        shared.metrics.sandbox_denied();
    }
}

/// The current UTC time as `2026-11-26T14:05:09.123Z`.
fn rfc3339_now() -> String {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    rfc3339(since_epoch.as_secs(), since_epoch.subsec_millis())
}

fn rfc3339(seconds: u64, millis: u32) -> String {
    let days = seconds / 86_400;
    let in_day = seconds % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (never negative here).
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(seconds: u64, millis: u32, expect: &str) {
        assert_eq!(rfc3339(seconds, millis), expect);
    }

    #[test]
    fn timestamps() {
        check(0, 0, "1970-01-01T00:00:00.000Z");
        check(951_782_400, 5, "2000-02-29T00:00:00.005Z");
        check(1_798_293_909, 123, "2026-12-26T14:05:09.123Z");
        check(4_107_542_399, 999, "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn one_line_per_record_with_a_time() {
        #[derive(Clone, Default)]
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("lock").extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Shared::default();
        let audit = AuditLog::to_writer(buffer.clone());
        audit.emit(json!({"event": "a"}));
        audit.emit(json!({"event": "b"}));
        let text = String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("UTF-8");
        let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).expect("JSON")).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["event"], "b");
        assert!(lines[0]["time"].as_str().is_some_and(|time| time.ends_with('Z')));
    }
}
