//! Fuzz target: the JSON-RPC envelope parser, every request's params decoder, and the negotiated
//! binary `process/output` frame.
//!
//! Any input must either parse or give an `InvalidMessage`/-32602 error, never panic; a request
//! that parses is decoded as the params of every method of both protocol generations (as the
//! dispatcher would for the method it names), and an error object always serializes. The same
//! bytes are also decoded as a binary output frame (`exec_protocol::binary`): it decodes or errs,
//! never panics or reads past the frame, and a frame that decodes encodes back to the same bytes.
//! And a frame the one-pass `process/output` reader (`exec_protocol::fast`) accepts must decode
//! the general way to the same notification. It does not run anything.

#![no_main]

use exec_protocol::jsonrpc::{self, Message};
use exec_protocol::{binary, environment, fast, fs, initialize, method, process};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = binary::decode_output(data) {
        let mut encoded = Vec::new();
        binary::encode_output_into(&mut encoded, frame.process_id, frame.seq, frame.stream, frame.data)
            .expect("a decoded id fits the length field");
        assert_eq!(encoded, data, "a binary frame does not encode back to itself");
    }
    if let Some(fast) = fast::read_output_notification(data) {
        let Ok(Message::Notification(notification)) = jsonrpc::parse_message(data) else {
            panic!("the fast reader accepted a frame that is not a notification");
        };
        assert_eq!(notification.method, method::PROCESS_OUTPUT);
        let general: process::ProcessOutputNotification =
            notification.decode_params().expect("the fast reader accepted params serde refuses");
        assert_eq!(general.process_id.as_str(), fast.process_id);
        assert_eq!((general.seq, general.stream), (fast.seq, fast.stream));
        assert_eq!(general.chunk.into_vec(), fast.bytes);
    }
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
    CreateDirectory,
    GetMetadata,
    ReadDirectory,
    Remove,
    Copy,
    Canonicalize,
    Walk,
    Open,
    ReadBlock,
    WriteBlock,
    Close,
    WatchMissing,
    Environment,
}

impl Kind {
    const ALL: [Kind; 23] = [
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
        Kind::CreateDirectory,
        Kind::GetMetadata,
        Kind::ReadDirectory,
        Kind::Remove,
        Kind::Copy,
        Kind::Canonicalize,
        Kind::Walk,
        Kind::Open,
        Kind::ReadBlock,
        Kind::WriteBlock,
        Kind::Close,
        Kind::WatchMissing,
        Kind::Environment,
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
            Kind::CreateDirectory => code(self.decode_params::<fs::FsCreateDirectoryParams>()),
            Kind::GetMetadata => code(self.decode_params::<fs::FsGetMetadataParams>()),
            Kind::ReadDirectory => code(self.decode_params::<fs::FsReadDirectoryParams>()),
            Kind::Remove => code(self.decode_params::<fs::FsRemoveParams>()),
            Kind::Copy => code(self.decode_params::<fs::FsCopyParams>()),
            Kind::Canonicalize => code(self.decode_params::<fs::FsCanonicalizeParams>()),
            Kind::Walk => code(self.decode_params::<fs::FsWalkParams>()),
            Kind::Open => code(self.decode_params::<fs::FsOpenParams>()),
            Kind::ReadBlock => code(self.decode_params::<fs::FsReadBlockParams>()),
            Kind::WriteBlock => code(self.decode_params::<fs::FsWriteBlockParams>().map(|params| {
                let _bytes = params.chunk.into_vec();
            })),
            Kind::Close => code(self.decode_params::<fs::FsCloseParams>()),
            Kind::WatchMissing => code(self.decode_params::<fs::FsWatchMissingParams>()),
            // `environment/info` and `environment/status` take the same (empty) params.
            Kind::Environment => code(self.decode_params::<environment::EnvironmentParams>()),
        }
    }
}
