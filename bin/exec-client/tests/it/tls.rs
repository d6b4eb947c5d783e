//! `wss://` end to end: the `exec-server` binary with `--tls-cert`/`--tls-key` and a
//! self-signed certificate made at test time (rcgen), the client trusting it with `--ca-file`;
//! a certificate nobody vouches for is a connect failure (250) that says so; a token on a
//! non-loopback address without TLS is a warning naming the risk.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::support::{CLIENT, DEADLINE, finish, temp_path};

/// A certificate for 127.0.0.1 and localhost, and its key, as PEM files in a fresh folder.
struct TestCertificate {
    folder: PathBuf,
}

impl TestCertificate {
    fn new(name: &str) -> TestCertificate {
        let folder = temp_path(name);
        std::fs::create_dir_all(&folder).unwrap();
        let certified =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        std::fs::write(folder.join("cert.pem"), certified.cert.pem()).unwrap();
        std::fs::write(folder.join("key.pem"), certified.signing_key.serialize_pem()).unwrap();
        TestCertificate { folder }
    }

    fn cert(&self) -> PathBuf {
        self.folder.join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.folder.join("key.pem")
    }
}

impl Drop for TestCertificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// Starts the exec-server binary with `args`; returns it and the URL it printed.
async fn server(args: &[&str]) -> (Child, String, BufReader<tokio::process::ChildStderr>) {
    let mut child = Command::new(test_support::workspace_binary("exec-server"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut url = String::new();
    tokio::time::timeout(DEADLINE, stdout.read_line(&mut url)).await.unwrap().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    (child, url.trim().to_owned(), stderr)
}

fn tls_args(certificate: &TestCertificate) -> Vec<String> {
    let path = |path: &Path| path.display().to_string();
    vec![
        "--listen".into(),
        "ws://127.0.0.1:0".into(),
        "--tls-cert".into(),
        path(&certificate.cert()),
        "--tls-key".into(),
        path(&certificate.key()),
    ]
}

fn client(url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(CLIENT);
    command
        .arg("--url")
        .arg(url)
        .args(args)
        .env_remove("EXEC_SERVER_URL")
        .env_remove("EXEC_SERVER_TOKEN")
        .env_remove("EXEC_SERVER_CA_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_end_to_end_with_a_test_certificate() {
    let certificate = TestCertificate::new("tls-good");
    let args = tls_args(&certificate);
    let (_server, url, _stderr) = server(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");
    let ca = certificate.cert().display().to_string();
    let done =
        finish(client(&url, &["--ca-file", &ca, "run", "--", "sh", "-c", "echo over tls; exit 5"])).await;
    assert_eq!((done.code, done.stdout_text().as_str()), (Some(5), "over tls\n"), "{}", done.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_nobody_vouches_for_is_a_clear_connect_failure() {
    let certificate = TestCertificate::new("tls-server");
    let other = TestCertificate::new("tls-other");
    let args = tls_args(&certificate);
    let (_server, url, _stderr) = server(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;

    let wrong_ca = other.cert().display().to_string();
    let wrong = finish(client(&url, &["--ca-file", &wrong_ca, "run", "--", "true"])).await;
    assert_eq!(wrong.code, Some(250), "{}", wrong.stderr);
    assert!(wrong.stderr.contains("TLS handshake with 127.0.0.1 failed"), "{}", wrong.stderr);
    assert!(wrong.stderr.contains("invalid peer certificate"), "{}", wrong.stderr);
    assert!(wrong.stderr.contains("--ca-file"), "{}", wrong.stderr);

    // Without --ca-file only the system's roots count, and none of them signed this one.
    let none = finish(client(&url, &["run", "--", "true"])).await;
    assert_eq!(none.code, Some(250), "{}", none.stderr);
    assert!(none.stderr.contains("UnknownIssuer"), "{}", none.stderr);

    // Plain ws:// to a TLS port is no connection either.
    let plain = url.replace("wss://", "ws://");
    let plain = finish(client(&plain, &["run", "--", "true"])).await;
    assert_eq!(plain.code, Some(250), "{}", plain.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_tls_off_loopback_is_a_warning_naming_the_risk() {
    let token_file = temp_path("tls-token");
    std::fs::write(&token_file, "secret\n").unwrap();
    let token = token_file.display().to_string();
    let (_server, url, mut stderr) =
        server(&["--listen", "ws://0.0.0.0:0", "--auth-token-file", &token]).await;
    assert!(url.starts_with("ws://0.0.0.0:"), "{url}");
    let mut line = String::new();
    let warning = tokio::time::timeout(DEADLINE, async {
        loop {
            line.clear();
            if stderr.read_line(&mut line).await.unwrap() == 0 {
                return None;
            }
            if line.contains("without TLS") {
                return Some(line.clone());
            }
        }
    })
    .await
    .unwrap()
    .expect("a warning on stderr");
    assert!(warning.contains("WARN") && warning.contains("clear text"), "{warning}");
    let _ = std::fs::remove_file(&token_file);
}
