//! `GET /metrics`: the server's counters in the Prometheus text exposition format (0.0.4), on
//! the protocol port, behind the bearer token when one is configured.
//!
//! All instrumentation lives here; call sites are one line each (connection open/close, start
//! outcome and spawn latency, request outcome, resume, takeover, notification gap, process end,
//! sandbox denial).
//! Session and process gauges are not tracked at all: they are counted from the engine at scrape
//! time (`Engine::stats`), so they cannot drift.
//!
//! Hand-written rather than `prometheus-client`: the format is a few stable lines per family,
//! and that crate would add eight packages (`parking_lot`, a second major version of `syn` for
//! its derive). The families are fixed at compile time; labels with values from clients never
//! appear (methods come from the server's own table, error codes are numbers).
//!
//! Not here: what a metric means for an operator (that is `docs/operations.md`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use exec_engine::{EngineStats, ProcessEnd, StartError};
use exec_protocol::jsonrpc::ErrorObject;

/// Upper bounds (seconds) of the spawn latency histogram's buckets; `+Inf` is implied.
const SPAWN_BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// Every counter of one server. Shared by all connections; updates are relaxed atomics, plus one
/// short lock per request for the per-method table.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    connections_open: AtomicI64,
    connections_total: AtomicU64,
    /// By outcome: ok, invalid, limit, spawn_failed, other.
    starts: [AtomicU64; 5],
    /// Cumulative counts per bucket of `SPAWN_BUCKETS`, then the total count.
    spawn_buckets: [AtomicU64; SPAWN_BUCKETS.len() + 1],
    spawn_seconds_micros: AtomicU64,
    /// Bytes processes wrote, by stream (stdout, stderr, pty), counted when each process ends.
    output_bytes: [AtomicU64; 3],
    /// `(method, error code or 0 for success)` → count.
    requests: Mutex<BTreeMap<(&'static str, i64), u64>>,
    resumes: AtomicU64,
    takeovers: AtomicU64,
    gaps: AtomicU64,
    /// By limit: processes, sessions.
    limits_hit: [AtomicU64; 2],
    sandbox_denials: AtomicU64,
}

const START_OUTCOMES: [&str; 5] = ["ok", "invalid", "limit", "spawn_failed", "other"];
const STREAMS: [&str; 3] = ["stdout", "stderr", "pty"];
const LIMITS: [&str; 2] = ["processes", "sessions"];

/// Decrements the open-connections gauge when dropped (the connection ended, however it ended).
#[derive(Debug)]
pub(crate) struct OpenConnection<'a>(&'a Metrics);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

fn add(counter: &AtomicU64, amount: u64) {
    counter.fetch_add(amount, Ordering::Relaxed);
}

impl Metrics {
    /// A WebSocket connection was upgraded; hold the guard while it is served.
    pub(crate) fn connection_opened(&self) -> OpenConnection<'_> {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        add(&self.connections_total, 1);
        OpenConnection(self)
    }

    /// A `process/start` finished spawning (or failed) after `latency`.
    pub(crate) fn process_start<T>(&self, result: &Result<T, StartError>, latency: Duration) {
        let outcome = match result {
            Ok(_) => 0,
            Err(StartError::EmptyArgv | StartError::RelativeCwd(_) | StartError::DuplicateId(_)) => 1,
            Err(StartError::TooManyProcesses { .. }) => {
                add(&self.limits_hit[0], 1);
                2
            }
            Err(StartError::Cwd { .. } | StartError::Spawn { .. }) => 3,
            Err(_) => 4,
        };
        add(&self.starts[outcome], 1);
        if result.is_ok() {
            let seconds = latency.as_secs_f64();
            for (bucket, bound) in SPAWN_BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    add(&self.spawn_buckets[bucket], 1);
                }
            }
            add(&self.spawn_buckets[SPAWN_BUCKETS.len()], 1);
            add(&self.spawn_seconds_micros, u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
        }
    }

    /// A request of the method table was answered.
    pub(crate) fn request<T>(&self, method: &'static str, result: &Result<T, ErrorObject>) {
        let code = result.as_ref().err().map_or(0, |error| error.code);
        let mut requests = self.requests.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *requests.entry((method, code)).or_insert(0) += 1;
    }

    /// An `initialize` resumed a session.
    pub(crate) fn resumed(&self) {
        add(&self.resumes, 1);
    }

    /// A connection lost its session to a resume elsewhere.
    pub(crate) fn taken_over(&self) {
        add(&self.takeovers, 1);
    }

    /// A subscriber (a notification pump, or a `process/read` answered with `droppedBefore`) was
    /// told that output was evicted before it could be delivered.
    pub(crate) fn gap(&self) {
        add(&self.gaps, 1);
    }

    /// A new session was refused because of `max_sessions`.
    pub(crate) fn session_limit_hit(&self) {
        add(&self.limits_hit[1], 1);
    }

    /// A sandboxed command ended refused by its sandbox (the `sandboxDenied` judgement). Called
    /// once per process, by the task that watches every process's end (`audit`).
    pub(crate) fn sandbox_denied(&self) {
        add(&self.sandbox_denials, 1);
    }

    /// A process ended (see `audit`, which watches every process).
    pub(crate) fn process_ended(&self, end: &ProcessEnd) {
        for (counter, bytes) in
            self.output_bytes.iter().zip([end.stdout_bytes, end.stderr_bytes, end.pty_bytes])
        {
            add(counter, bytes);
        }
    }

    /// The exposition text, with the engine's gauges as of now.
    pub(crate) fn render(&self, engine: &EngineStats) -> String {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let mut text = String::with_capacity(4096);
        let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
            // Writing to a String cannot fail.
            let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(text, "{name}{labels} {value}");
            }
        };
        let one = |value: u64| vec![(String::new(), value.to_string())];
        let labelled = |label: &str, names: &[&str], values: &[AtomicU64]| -> Vec<(String, String)> {
            names
                .iter()
                .zip(values)
                .map(|(name, value)| (format!("{{{label}=\"{name}\"}}"), load(value).to_string()))
                .collect()
        };

        family(
            "exec_server_connections",
            "gauge",
            "WebSocket connections open now.",
            &[(String::new(), self.connections_open.load(Ordering::Relaxed).to_string())],
        );
        family(
            "exec_server_connections_total",
            "counter",
            "WebSocket connections accepted.",
            &one(load(&self.connections_total)),
        );
        family(
            "exec_server_sessions",
            "gauge",
            "Sessions now, by state.",
            &[
                ("{state=\"attached\"}".to_owned(), engine.attached_sessions.to_string()),
                ("{state=\"detached\"}".to_owned(), engine.detached_sessions.to_string()),
            ],
        );
        family(
            "exec_server_processes",
            "gauge",
            "Processes in session tables now, by state (exited ones linger, readable).",
            &[
                ("{state=\"running\"}".to_owned(), engine.running_processes.to_string()),
                ("{state=\"exited\"}".to_owned(), engine.exited_processes.to_string()),
            ],
        );
        family(
            "exec_server_process_starts_total",
            "counter",
            "process/start calls by outcome.",
            &labelled("outcome", &START_OUTCOMES, &self.starts),
        );
        let mut buckets: Vec<(String, String)> = SPAWN_BUCKETS
            .iter()
            .zip(&self.spawn_buckets)
            .map(|(bound, count)| (format!("_bucket{{le=\"{bound}\"}}"), load(count).to_string()))
            .collect();
        let count = load(&self.spawn_buckets[SPAWN_BUCKETS.len()]);
        buckets.push(("_bucket{le=\"+Inf\"}".to_owned(), count.to_string()));
        // Microseconds to seconds, for display only.
        #[allow(clippy::cast_precision_loss)]
        let sum = load(&self.spawn_seconds_micros) as f64 / 1e6;
        buckets.push(("_sum".to_owned(), sum.to_string()));
        buckets.push(("_count".to_owned(), count.to_string()));
        family(
            "exec_server_spawn_seconds",
            "histogram",
            "Time process/start spent spawning, successful starts.",
            &buckets,
        );
        family(
            "exec_server_output_bytes_total",
            "counter",
            "Bytes processes wrote, by stream, counted as each process ends.",
            &labelled("stream", &STREAMS, &self.output_bytes),
        );
        let requests = self.requests.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        let mut by_method: BTreeMap<&str, u64> = BTreeMap::new();
        let mut errors = Vec::new();
        for ((method, code), count) in &requests {
            *by_method.entry(method).or_insert(0) += count;
            if *code != 0 {
                errors.push((format!("{{method=\"{method}\",code=\"{code}\"}}"), count.to_string()));
            }
        }
        let requests: Vec<(String, String)> = by_method
            .iter()
            .map(|(method, count)| (format!("{{method=\"{method}\"}}"), count.to_string()))
            .collect();
        family("exec_server_requests_total", "counter", "Requests answered, by method.", &requests);
        family(
            "exec_server_request_errors_total",
            "counter",
            "Requests answered with an error, by method and JSON-RPC code.",
            &errors,
        );
        family(
            "exec_server_resumes_total",
            "counter",
            "Sessions resumed by initialize.",
            &one(load(&self.resumes)),
        );
        family(
            "exec_server_takeovers_total",
            "counter",
            "Connections that lost their session to a resume elsewhere.",
            &one(load(&self.takeovers)),
        );
        family(
            "exec_server_output_gaps_total",
            "counter",
            "Notification gaps: output evicted before a subscriber got it (droppedBefore).",
            &one(load(&self.gaps)),
        );
        family(
            "exec_server_sandbox_denials_total",
            "counter",
            "Sandboxed commands that failed because the sandbox refused them.",
            &one(load(&self.sandbox_denials)),
        );
        family(
            "exec_server_limits_hit_total",
            "counter",
            "Requests refused by a configured limit, by limit.",
            &labelled("limit", &LIMITS, &self.limits_hit),
        );
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_its_samples() {
        let metrics = Metrics::default();
        let connection = metrics.connection_opened();
        metrics.process_start::<()>(&Ok(()), Duration::from_micros(800));
        metrics.process_start::<()>(&Err(StartError::TooManyProcesses { limit: 1 }), Duration::ZERO);
        metrics.request::<()>("process/read", &Ok(()));
        metrics.request::<()>("process/read", &Err(ErrorObject::invalid_request("x")));
        metrics.process_ended(&ProcessEnd { exit: None, stdout_bytes: 5, stderr_bytes: 2, pty_bytes: 0 });
        let stats = EngineStats {
            attached_sessions: 1,
            detached_sessions: 2,
            running_processes: 3,
            exited_processes: 4,
        };
        let text = metrics.render(&stats);
        for line in [
            "exec_server_connections 1",
            "exec_server_sessions{state=\"detached\"} 2",
            "exec_server_processes{state=\"exited\"} 4",
            "exec_server_process_starts_total{outcome=\"ok\"} 1",
            "exec_server_process_starts_total{outcome=\"limit\"} 1",
            "exec_server_spawn_seconds_bucket{le=\"0.0005\"} 0",
            "exec_server_spawn_seconds_bucket{le=\"0.001\"} 1",
            "exec_server_spawn_seconds_bucket{le=\"+Inf\"} 1",
            "exec_server_spawn_seconds_count 1",
            "exec_server_output_bytes_total{stream=\"stdout\"} 5",
            "exec_server_requests_total{method=\"process/read\"} 2",
            "exec_server_request_errors_total{method=\"process/read\",code=\"-32600\"} 1",
            "exec_server_limits_hit_total{limit=\"processes\"} 1",
        ] {
            assert!(text.lines().any(|candidate| candidate == line), "missing {line:?} in\n{text}");
        }
        drop(connection);
        assert!(metrics.render(&stats).lines().any(|line| line == "exec_server_connections 0"));
        // Every sample line belongs to a family declared just above it.
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().unwrap_or_default().to_owned());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap_or_default();
                assert!(declared.iter().any(|family| name.starts_with(family.as_str())), "{line}");
            }
        }
    }
}
