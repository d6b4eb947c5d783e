//! `ps`, `attach` and `kill`: commands on an existing session, named by a session file (written
//! by `run --session-file`) or by `--session ID`.
//!
//! Each resumes the session, which takes it over from a client still attached to it (that client
//! stops: a takeover is final).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use exec_engine::{ExitStatus, ProcessInfo, Seq, Signal, SubscribeFrom};
use exec_protocol::capability;
use exec_transport::ExecClient;

use crate::run::{GapPolicy, exit_code, follow};
use crate::session_file::{Checkpoint, SessionFile};
use crate::{Failure, ServerArgs};

/// Which session to use.
#[derive(Args, Debug)]
pub(crate) struct SessionArgs {
    /// A session file written by `run --session-file`.
    #[arg(long, value_name = "FILE", required_unless_present = "session")]
    session_file: Option<PathBuf>,
    /// A session id (with --url).
    #[arg(long, value_name = "ID", conflicts_with = "session_file")]
    session: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct AttachArgs {
    #[command(flatten)]
    session: SessionArgs,
    /// The process to follow (default: the one in the session file).
    process_id: Option<String>,
    /// Show events after this seq (default: where the session file says output left off, or
    /// from the start).
    #[arg(long, value_name = "SEQ")]
    from_seq: Option<u64>,
}

#[derive(Args, Debug)]
pub(crate) struct KillArgs {
    #[command(flatten)]
    session: SessionArgs,
    /// The process to signal (default: the one in the session file).
    process_id: Option<String>,
    /// Send this signal (interrupt, terminate, kill, hangup, quit, user1, user2, or INT, TERM,
    /// ...) instead of terminating the process group (SIGTERM, then SIGKILL after 2 s).
    #[arg(long, short = 's', value_parser = parse_signal)]
    signal: Option<Signal>,
}

fn parse_signal(text: &str) -> Result<Signal, String> {
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    Ok(match name {
        "INTERRUPT" | "INT" | "2" => Signal::Interrupt,
        "TERMINATE" | "TERM" | "15" => Signal::Terminate,
        "KILL" | "9" => Signal::Kill,
        "HANGUP" | "HUP" | "1" => Signal::Hangup,
        "QUIT" | "3" => Signal::Quit,
        "USER1" | "USR1" => Signal::User1,
        "USER2" | "USR2" => Signal::User2,
        _ => return Err(format!("unknown signal {text:?}")),
    })
}

/// A resumed session and what the session file said about it.
struct Resumed {
    client: ExecClient,
    file: Option<(PathBuf, SessionFile)>,
}

impl Resumed {
    async fn open(server: &ServerArgs, args: &SessionArgs) -> Result<Resumed, Failure> {
        let file = match &args.session_file {
            Some(path) => {
                let saved = SessionFile::load(path)?
                    .ok_or_else(|| Failure::usage(format!("no session file at {}", path.display())))?;
                Some((path.clone(), saved))
            }
            None => None,
        };
        let url = match (server.given_target(), &file) {
            (Some(target), _) => target,
            (None, Some((_, saved))) => saved.url.clone(),
            (None, None) => server.target()?,
        };
        let session = match (&args.session, &file) {
            (Some(session), _) => session.clone(),
            (None, Some((_, saved))) => saved.session_id.clone(),
            (None, None) => return Err(Failure::usage("pass --session-file or --session")),
        };
        let client = server.connect(&url, Some(&session)).await?;
        Ok(Resumed { client, file })
    }

    fn process_id(&self, given: Option<String>) -> Result<String, Failure> {
        given
            .or_else(|| self.file.as_ref().and_then(|(_, saved)| saved.process_id.clone()))
            .ok_or_else(|| Failure::usage("which process? pass PROCESS_ID"))
    }
}

pub(crate) async fn ps(server: &ServerArgs, args: SessionArgs) -> Result<u8, Failure> {
    let resumed = Resumed::open(server, &args).await?;
    let processes: Vec<ProcessInfo> = resumed.client.list().await?;
    let now = std::time::SystemTime::now();
    let mut rows = vec![["ID", "PID", "STATE", "EXIT", "AGE", "COMMAND"].map(str::to_owned)];
    for process in &processes {
        let (state, exit) = match process.exit {
            _ if process.running => ("running", "-".to_owned()),
            Some(ExitStatus::Code(code)) => ("exited", code.to_string()),
            Some(ExitStatus::Signal(signal)) => ("killed", signal_name(signal)),
            None => ("exited", "-".to_owned()),
        };
        let pid = process.pid.map_or_else(|| "-".to_owned(), |pid| pid.to_string());
        // From the server's `startedAtMs` (its clock against ours: fine for an age column).
        let age = match process.started {
            Some(started) if process.running => {
                human_age(now.duration_since(started).unwrap_or_default().as_secs())
            }
            _ => "-".to_owned(),
        };
        rows.push([process.id.as_str().to_owned(), pid, state.to_owned(), exit, age, process.argv.join(" ")]);
    }
    print!("{}", table(&rows));
    resumed.client.close().await;
    Ok(0)
}

/// `42s`, `3m05s`, `2h07m`, `3d04h`.
fn human_age(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        3600..86400 => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{}d{:02}h", seconds / 86400, seconds % 86400 / 3600),
    }
}

fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map_or_else(|_| format!("signal {signal}"), |name| name.as_str().to_owned())
}

/// Rows as columns padded to their widest cell (the last column is not padded).
fn table(rows: &[[String; 6]]) -> String {
    let mut widths = [0usize; 6];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in rows {
        let mut line = String::new();
        for (index, cell) in row.iter().enumerate() {
            if index == row.len() - 1 {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[index] - cell.chars().count() + 2));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

pub(crate) async fn attach(server: &ServerArgs, args: AttachArgs) -> Result<u8, Failure> {
    let resumed = Resumed::open(server, &args.session).await?;
    let id = resumed.process_id(args.process_id)?;
    let saved_seq = resumed
        .file
        .as_ref()
        .filter(|(_, saved)| saved.process_id.as_deref() == Some(id.as_str()))
        .map_or(0, |(_, saved)| saved.last_seq);
    let after = args.from_seq.unwrap_or(saved_seq);
    let from = if after == 0 { SubscribeFrom::Start } else { SubscribeFrom::After(Seq::new(after)) };
    // Installed before the output starts, so a Ctrl-C at any moment reaches the process.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|error| Failure::usage(format!("cannot handle signals: {error}")))?;
    let mut handle = resumed.client.attach(id.as_str(), from).await?;
    let mut checkpoint = match resumed.file {
        Some((path, mut saved)) => {
            saved.process_id = Some(id.clone());
            saved.last_seq = after;
            Some(Checkpoint::new(path, saved)?)
        }
        None => None,
    };
    let interrupt_client = resumed.client.clone();
    let interrupt_id = id.clone();
    let interrupts = tokio::spawn(async move {
        while interrupt.recv().await.is_some() {
            if interrupt_client.has_capability(capability::PROCESS_SIGNAL) {
                let _ = interrupt_client.signal(&interrupt_id, Signal::Interrupt).await;
            } else {
                let _ = interrupt_client.terminate(&interrupt_id, None).await;
            }
        }
    });
    let outcome = follow(&mut handle, GapPolicy::Warn, checkpoint.as_mut()).await;
    interrupts.abort();
    if let Some(checkpoint) = &mut checkpoint {
        checkpoint.finish(handle.last_seq())?;
    }
    outcome.map(exit_code)
}

pub(crate) async fn kill(server: &ServerArgs, args: KillArgs) -> Result<u8, Failure> {
    let resumed = Resumed::open(server, &args.session).await?;
    let id = resumed.process_id(args.process_id)?;
    let client = &resumed.client;
    let running = match args.signal {
        Some(signal) => {
            client.signal(&id, signal).await?;
            true
        }
        None => {
            let grace = client.has_capability(capability::GRACE_MS).then_some(Duration::from_secs(2));
            client.terminate(&id, grace).await?
        }
    };
    client.close().await;
    if running { Ok(0) } else { Err(Failure { code: 1, message: format!("process {id} is not running") }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names() {
        assert_eq!(parse_signal("int"), Ok(Signal::Interrupt));
        assert_eq!(parse_signal("SIGTERM"), Ok(Signal::Terminate));
        assert_eq!(parse_signal("kill"), Ok(Signal::Kill));
        assert_eq!(parse_signal("usr1"), Ok(Signal::User1));
        assert!(parse_signal("bogus").is_err());
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(exit_code(ExitStatus::Code(3)), 3);
        assert_eq!(exit_code(ExitStatus::Signal(9)), 137);
        assert_eq!(exit_code(ExitStatus::Code(-1)), 255);
        assert_eq!(crate::exit::DISCONNECTED, 253);
    }
}
