//! `ExecClient` over every transport it has: `wss://` against the server's TLS listener (a
//! certificate made at test time with rcgen), and a caller's own byte stream
//! ([`Endpoint::Stream`]) against `serve_stdio`, here an in-memory pipe.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use exec_engine::{Config, Engine, Event, ExitStatus};
use exec_transport::client::{ByteStream, StreamDialer};
use exec_transport::server::{self, ServerConfig, TlsIdentity};
use exec_transport::{ClientError, ConnectOptions, Endpoint, ExecClient, ProcessSpec};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::support::DEADLINE;

async fn echo(client: &ExecClient, id: &str) -> (String, Option<ExitStatus>) {
    let spec = ProcessSpec::new(["sh", "-c", "echo hello; exit 3"], "/");
    let mut handle = client.start(id, spec).await.unwrap();
    let mut output = Vec::new();
    let mut status = None;
    while let Some(event) = tokio::time::timeout(DEADLINE, handle.next_event()).await.unwrap() {
        match event {
            Event::Output(chunk) => output.extend_from_slice(&chunk.data),
            Event::Exited { status: exit, .. } => status = Some(exit),
            _ => {}
        }
    }
    (String::from_utf8_lossy(&output).into_owned(), status)
}

#[tokio::test]
async fn wss_with_a_private_ca_and_a_refusal_without_it() {
    let folder = std::env::temp_dir().join(format!("exec-transport-tls-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (folder.join("cert.pem"), folder.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shutdown = CancellationToken::new();
    let config = ServerConfig {
        tls: Some(TlsIdentity::from_pem_files(&cert, &key).unwrap()),
        ..ServerConfig::default()
    };
    tokio::spawn(server::run(listener, Engine::new(Config::default()), config, shutdown.clone()));
    let url = format!("wss://localhost:{port}");

    let options = ConnectOptions { ca_file: Some(cert.clone()), ..ConnectOptions::default() };
    let client = ExecClient::connect(url.as_str(), options).await.unwrap();
    assert_eq!(echo(&client, "p").await, ("hello\n".to_owned(), Some(ExitStatus::Code(3))));
    client.close().await;

    let refused = ExecClient::connect(url.as_str(), ConnectOptions::default()).await.unwrap_err();
    assert!(
        matches!(&refused, ClientError::Connect { reason, .. } if reason.contains("invalid peer certificate")),
        "{refused}"
    );
    shutdown.cancel();
    let _ = std::fs::remove_dir_all(&folder);
}

/// Each dial serves a fresh in-memory connection with `serve_stdio`.
#[derive(Debug)]
struct InMemory;

impl StreamDialer for InMemory {
    fn dial(&self) -> Pin<Box<dyn Future<Output = std::io::Result<ByteStream>> + Send + '_>> {
        Box::pin(async {
            let (client_side, server_side) = tokio::io::duplex(64 * 1024);
            let (server_read, server_write) = tokio::io::split(server_side);
            let engine = Engine::new(Config::default());
            tokio::spawn(server::serve_stdio(
                server_read,
                server_write,
                engine,
                ServerConfig::default(),
                CancellationToken::new(),
            ));
            let (reader, writer) = tokio::io::split(client_side);
            Ok(ByteStream { reader: Box::new(reader), writer: Box::new(writer), keep_alive: None })
        })
    }
}

#[tokio::test]
async fn any_byte_stream_is_a_transport() {
    let client =
        ExecClient::connect(Endpoint::Stream(Arc::new(InMemory)), ConnectOptions::default()).await.unwrap();
    assert_eq!(echo(&client, "p").await, ("hello\n".to_owned(), Some(ExitStatus::Code(3))));
    assert!(client.has_capability(exec_protocol::capability::EOF));
}
