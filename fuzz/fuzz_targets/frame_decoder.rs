//! Fuzz target: the JSON-RPC envelope parser and every request's params decoder.
//!
//! Any input must either parse or give an `InvalidMessage`/-32602 error, never panic; a request
//! that parses is decoded as the params of every method (as the dispatcher would for the method
//! it names), and an error object always serializes. It does not run anything.

#![no_main]

use exec_protocol::jsonrpc::{self, Message};
use exec_protocol::{fs, initialize, process};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match jsonrpc::parse_message(data) {
        Err(invalid) => {
            let error = invalid.to_error_object();
            assert_eq!(error.code, -32600);
            serde_json::to_string(&error).expect("an error object serializes");
        }
        Ok(Message::Request(request)) => decode_all(|params| request.decode_params_as(params)),
        Ok(Message::Notification(notification)) => {
            let _params: Result<serde_json::Value, _> = notification.decode_params();
        }
        Ok(Message::Response(_) | Message::ErrorResponse(_)) => {}
    }
});

/// Decodes the params as every request type; each either decodes or errs with -32602.
fn decode_all(decode: impl Fn(Kind) -> Option<i64>) {
    for kind in Kind::ALL {
        if let Some(code) = decode(kind) {
            assert_eq!(code, -32602, "{kind:?}");
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Initialize,
    Start,
    Read,
    Write,
    Terminate,
    Signal,
    Resize,
    List,
    ReadFile,
    WriteFile,
    Remove,
    Copy,
}

impl Kind {
    const ALL: [Kind; 12] = [
        Kind::Initialize,
        Kind::Start,
        Kind::Read,
        Kind::Write,
        Kind::Terminate,
        Kind::Signal,
        Kind::Resize,
        Kind::List,
        Kind::ReadFile,
        Kind::WriteFile,
        Kind::Remove,
        Kind::Copy,
    ];
}

trait DecodeAs {
    /// The error code when `kind`'s params do not decode, `None` when they do.
    fn decode_params_as(&self, kind: Kind) -> Option<i64>;
}

impl DecodeAs for jsonrpc::Request {
    fn decode_params_as(&self, kind: Kind) -> Option<i64> {
        fn code<T>(result: Result<T, jsonrpc::ErrorObject>) -> Option<i64> {
            result.err().map(|error| error.code)
        }
        match kind {
            Kind::Initialize => code(self.decode_params::<initialize::InitializeParams>()),
            Kind::Start => code(self.decode_params::<process::ProcessStartParams>()),
            Kind::Read => code(self.decode_params::<process::ProcessReadParams>()),
            Kind::Write => code(self.decode_params::<process::ProcessWriteParams>().map(|params| {
                // The chunk is decoded lazily by the handler; decode it here too.
                let _bytes = params.chunk.into_vec();
            })),
            Kind::Terminate => code(self.decode_params::<process::ProcessTerminateParams>()),
            Kind::Signal => code(self.decode_params::<process::ProcessSignalParams>()),
            Kind::Resize => code(self.decode_params::<process::ProcessResizeParams>()),
            Kind::List => code(self.decode_params::<process::ProcessListParams>()),
            Kind::ReadFile => code(self.decode_params::<fs::FsReadFileParams>()),
            Kind::WriteFile => code(self.decode_params::<fs::FsWriteFileParams>().map(|params| {
                let _bytes = params.decode_data();
            })),
            Kind::Remove => code(self.decode_params::<fs::FsRemoveParams>()),
            Kind::Copy => code(self.decode_params::<fs::FsCopyParams>()),
        }
    }
}
