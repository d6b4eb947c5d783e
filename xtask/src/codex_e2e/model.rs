//! A scripted stand-in for the Responses API that `codex exec` talks to.
//!
//! It serves `POST /v1/responses` on 127.0.0.1:0 with a plain std HTTP/1.1 loop: each request
//! gets the next turn of the flow's script as Server-Sent Events (`response.created`, the
//! turn's output items, `response.completed`), and every tool output the agent sends back is
//! recorded so the flow can assert on what the executor produced. It is not a model: it never
//! looks at the prompt, only at tool outputs, and it answers one request per connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// What the agent sent back for one tool call.
#[derive(Clone, Debug)]
pub struct ToolOutput {
    pub call_id: String,
    pub output: String,
}

/// Builds the output items of one model turn from the tool outputs recorded so far (a later
/// turn can use what an earlier tool call returned, such as a session id).
pub type Turn = Box<dyn Fn(&[ToolOutput]) -> Vec<Value> + Send + Sync>;

/// State shared by the accept thread and the flow: the script, what was recorded, and a stop
/// flag set when the flow drops the server.
struct Shared {
    script: Vec<Turn>,
    requests: Mutex<Vec<Value>>,
    outputs: Mutex<Vec<ToolOutput>>,
    stopping: AtomicBool,
}

/// A running model server; dropping it stops the accept loop.
pub struct ModelServer {
    shared: Arc<Shared>,
    port: u16,
}

impl ModelServer {
    /// Listens on 127.0.0.1:0. Request N gets turn N; past the end of the script every request
    /// gets a final assistant message, so a confused agent still ends its turn.
    pub fn start(script: Vec<Turn>) -> Result<ModelServer, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|error| format!("model bind: {error}"))?;
        let port = listener.local_addr().map_err(|error| format!("model address: {error}"))?.port();
        let shared = Arc::new(Shared {
            script,
            requests: Mutex::new(Vec::new()),
            outputs: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&accept_shared);
                std::thread::spawn(move || {
                    if let Err(error) = serve(stream, &shared) {
                        eprintln!("codex-e2e: model server: {error}");
                    }
                });
            }
        });
        Ok(ModelServer { shared, port })
    }

    /// The `base_url` for the provider table.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Tool outputs from the latest request (each request carries the whole history).
    pub fn outputs(&self) -> Vec<ToolOutput> {
        self.shared.outputs.lock().expect("model outputs lock").clone()
    }

    /// How many model requests the agent made.
    pub fn request_count(&self) -> usize {
        self.shared.requests.lock().expect("model requests lock").len()
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept; a failed dial means the listener is gone already.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(stream: TcpStream, shared: &Shared) -> Result<(), String> {
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|error| error.to_string())?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|error| error.to_string())?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).map_err(|error| format!("read request: {error}"))?;
    let mut content_length = 0_usize;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(|error| format!("read header: {error}"))? == 0 {
            return Err("connection closed in the headers".to_owned());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            content_length = value.trim().parse().map_err(|_| format!("bad header `{line}`"))?;
        } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    let body = if chunked { read_chunked(&mut reader)? } else { read_exact(&mut reader, content_length)? };
    let mut writer = stream;
    if !request_line.starts_with("POST ") || !request_line.contains("/responses") {
        let reply = "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        return writer.write_all(reply.as_bytes()).map_err(|error| error.to_string());
    }
    let body: Value =
        serde_json::from_slice(&body).map_err(|error| format!("request body is not JSON: {error}"))?;
    let outputs = tool_outputs(&body);
    let turn_index = {
        let mut requests = shared.requests.lock().expect("model requests lock");
        requests.push(body);
        requests.len() - 1
    };
    *shared.outputs.lock().expect("model outputs lock") = outputs.clone();
    let items = match shared.script.get(turn_index) {
        Some(turn) => turn(&outputs),
        None => vec![message("done")],
    };
    let response_id = format!("resp_{turn_index}");
    let mut events = vec![json!({"type": "response.created", "response": {"id": response_id}})];
    events.extend(items.into_iter().map(|item| json!({"type": "response.output_item.done", "item": item})));
    events.push(json!({
        "type": "response.completed",
        "response": {"id": response_id, "usage": {
            "input_tokens": 0, "input_tokens_details": null, "output_tokens": 0,
            "output_tokens_details": null, "total_tokens": 0}},
    }));
    let mut sse = String::new();
    for event in &events {
        sse.push_str(&format!("event: {}\ndata: {event}\n\n", event["type"].as_str().unwrap_or("message")));
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        sse.len()
    );
    writer
        .write_all(head.as_bytes())
        .and_then(|()| writer.write_all(sse.as_bytes()))
        .map_err(|error| error.to_string())
}

fn read_exact(reader: &mut BufReader<TcpStream>, length: usize) -> Result<Vec<u8>, String> {
    let mut body = vec![0_u8; length];
    reader.read_exact(&mut body).map_err(|error| format!("read body: {error}"))?;
    Ok(body)
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).map_err(|error| format!("read chunk size: {error}"))?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| format!("bad chunk size `{}`", size.trim()))?;
        let chunk = read_exact(reader, size + 2)?;
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// Every `function_call_output` / `custom_tool_call_output` item of a request's `input`.
fn tool_outputs(body: &Value) -> Vec<ToolOutput> {
    let Some(items) = body["input"].as_array() else { return Vec::new() };
    items
        .iter()
        .filter(|item| {
            matches!(item["type"].as_str(), Some("function_call_output" | "custom_tool_call_output"))
        })
        .map(|item| ToolOutput {
            call_id: item["call_id"].as_str().unwrap_or_default().to_owned(),
            output: match &item["output"] {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            },
        })
        .collect()
}

/// A `function_call` output item (JSON-argument tools such as `exec_command`, `write_stdin`).
pub fn function_call(call_id: &str, name: &str, arguments: &Value) -> Value {
    json!({"type": "function_call", "name": name, "arguments": arguments.to_string(), "call_id": call_id})
}

/// A `custom_tool_call` output item (freeform tools: `apply_patch` takes the patch text itself).
pub fn custom_call(call_id: &str, name: &str, input: &str) -> Value {
    json!({"type": "custom_tool_call", "name": name, "input": input, "call_id": call_id})
}

/// A final assistant message; a turn made of one ends the agent's run.
pub fn message(text: &str) -> Value {
    json!({"type": "message", "role": "assistant", "id": "msg_e2e",
        "content": [{"type": "output_text", "text": text}]})
}
