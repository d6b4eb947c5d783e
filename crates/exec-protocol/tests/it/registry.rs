//! Name → type table shared by the golden tests and the documentation test.
//!
//! `decode` decodes JSON text as the named type the way the server does (through
//! `jsonrpc::decode_params`, so errors carry the wire code and message) and re-encodes it, which
//! exposes defaults and omitted extension fields. The method tables say which type carries a
//! method's params and result.

use exec_protocol::environment::*;
use exec_protocol::fs::*;
use exec_protocol::initialize::*;
use exec_protocol::jsonrpc::{self, ErrorObject};
use exec_protocol::method;
use exec_protocol::process::*;
use exec_protocol::sandbox::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

fn round_trip<T: Serialize + DeserializeOwned>(json: &str) -> Result<String, ErrorObject> {
    let raw = RawValue::from_string(json.to_owned())
        .map_err(|error| ErrorObject::invalid_request(format!("not JSON: {error}")))?;
    let value: T = jsonrpc::decode_params(Some(&raw))?;
    Ok(serde_json::to_string(&value).expect("wire types always serialize"))
}

/// Every wire type name `decode` knows, except `ErrorObject`, which is part of the envelope.
pub const TYPES: &[&str] = &[
    "InitializeParams",
    "InitializeResponse",
    "ProcessStartParams",
    "ProcessStartResponse",
    "EnvPolicy",
    "ProcessReadParams",
    "ProcessReadResponse",
    "ProcessWriteParams",
    "ProcessWriteResponse",
    "ProcessTerminateParams",
    "ProcessTerminateResponse",
    "ProcessSignalParams",
    "ProcessSignalResponse",
    "ProcessResizeParams",
    "ProcessResizeResponse",
    "ProcessListParams",
    "ProcessListResponse",
    "ProcessOutputNotification",
    "ProcessExitedNotification",
    "ProcessClosedNotification",
    "FsReadFileParams",
    "FsReadFileResponse",
    "FsWriteFileParams",
    "FsWriteFileResponse",
    "FsCreateDirectoryParams",
    "FsCreateDirectoryResponse",
    "FsGetMetadataParams",
    "FsGetMetadataResponse",
    "FsReadDirectoryParams",
    "FsReadDirectoryResponse",
    "FsRemoveParams",
    "FsRemoveResponse",
    "FsCopyParams",
    "FsCopyResponse",
    "FsCanonicalizeParams",
    "FsCanonicalizeResponse",
    "FsWalkParams",
    "FsWalkResponse",
    "FsOpenParams",
    "FsOpenResponse",
    "FsReadBlockParams",
    "FsReadBlockResponse",
    "FsWriteBlockParams",
    "FsWriteBlockResponse",
    "FsCloseParams",
    "FsCloseResponse",
    "EnvironmentParams",
    "EnvironmentInfo",
    "EnvironmentStatusResponse",
    "SandboxParams",
    "FsWatchMissingParams",
    "FsWatchMissingResponse",
    "FsMissingChangedNotification",
];

/// Decodes `json` as the wire type called `type_name` and re-encodes it canonically.
pub fn decode(type_name: &str, json: &str) -> Result<String, ErrorObject> {
    match type_name {
        "InitializeParams" => round_trip::<InitializeParams>(json),
        "InitializeResponse" => round_trip::<InitializeResponse>(json),
        "ProcessStartParams" => round_trip::<ProcessStartParams>(json),
        "ProcessStartResponse" => round_trip::<ProcessStartResponse>(json),
        "EnvPolicy" => round_trip::<EnvPolicy>(json),
        "ProcessReadParams" => round_trip::<ProcessReadParams>(json),
        "ProcessReadResponse" => round_trip::<ProcessReadResponse>(json),
        "ProcessWriteParams" => round_trip::<ProcessWriteParams>(json),
        "ProcessWriteResponse" => round_trip::<ProcessWriteResponse>(json),
        "ProcessTerminateParams" => round_trip::<ProcessTerminateParams>(json),
        "ProcessTerminateResponse" => round_trip::<ProcessTerminateResponse>(json),
        "ProcessSignalParams" => round_trip::<ProcessSignalParams>(json),
        "ProcessSignalResponse" => round_trip::<ProcessSignalResponse>(json),
        "ProcessResizeParams" => round_trip::<ProcessResizeParams>(json),
        "ProcessResizeResponse" => round_trip::<ProcessResizeResponse>(json),
        "ProcessListParams" => round_trip::<ProcessListParams>(json),
        "ProcessListResponse" => round_trip::<ProcessListResponse>(json),
        "ProcessOutputNotification" => round_trip::<ProcessOutputNotification>(json),
        "ProcessExitedNotification" => round_trip::<ProcessExitedNotification>(json),
        "ProcessClosedNotification" => round_trip::<ProcessClosedNotification>(json),
        "FsReadFileParams" => round_trip::<FsReadFileParams>(json),
        "FsReadFileResponse" => round_trip::<FsReadFileResponse>(json),
        "FsWriteFileParams" => round_trip::<FsWriteFileParams>(json),
        "FsWriteFileResponse" => round_trip::<FsWriteFileResponse>(json),
        "FsCreateDirectoryParams" => round_trip::<FsCreateDirectoryParams>(json),
        "FsCreateDirectoryResponse" => round_trip::<FsCreateDirectoryResponse>(json),
        "FsGetMetadataParams" => round_trip::<FsGetMetadataParams>(json),
        "FsGetMetadataResponse" => round_trip::<FsGetMetadataResponse>(json),
        "FsReadDirectoryParams" => round_trip::<FsReadDirectoryParams>(json),
        "FsReadDirectoryResponse" => round_trip::<FsReadDirectoryResponse>(json),
        "FsRemoveParams" => round_trip::<FsRemoveParams>(json),
        "FsRemoveResponse" => round_trip::<FsRemoveResponse>(json),
        "FsCopyParams" => round_trip::<FsCopyParams>(json),
        "FsCopyResponse" => round_trip::<FsCopyResponse>(json),
        "FsCanonicalizeParams" => round_trip::<FsCanonicalizeParams>(json),
        "FsCanonicalizeResponse" => round_trip::<FsCanonicalizeResponse>(json),
        "FsWalkParams" => round_trip::<FsWalkParams>(json),
        "FsWalkResponse" => round_trip::<FsWalkResponse>(json),
        "FsOpenParams" => round_trip::<FsOpenParams>(json),
        "FsOpenResponse" => round_trip::<FsOpenResponse>(json),
        "FsReadBlockParams" => round_trip::<FsReadBlockParams>(json),
        "FsReadBlockResponse" => round_trip::<FsReadBlockResponse>(json),
        "FsWriteBlockParams" => round_trip::<FsWriteBlockParams>(json),
        "FsWriteBlockResponse" => round_trip::<FsWriteBlockResponse>(json),
        "FsCloseParams" => round_trip::<FsCloseParams>(json),
        "FsCloseResponse" => round_trip::<FsCloseResponse>(json),
        "EnvironmentParams" => round_trip::<EnvironmentParams>(json),
        "EnvironmentInfo" => round_trip::<EnvironmentInfo>(json),
        "EnvironmentStatusResponse" => round_trip::<EnvironmentStatusResponse>(json),
        "SandboxParams" => round_trip::<SandboxParams>(json),
        "FsWatchMissingParams" => round_trip::<FsWatchMissingParams>(json),
        "FsWatchMissingResponse" => round_trip::<FsWatchMissingResponse>(json),
        "FsMissingChangedNotification" => round_trip::<FsMissingChangedNotification>(json),
        "ErrorObject" => round_trip::<ErrorObject>(json),
        other => panic!("no wire type called {other} in the test registry"),
    }
}

/// The params and result type names of a request method.
pub fn request_types(method_name: &str) -> (&'static str, &'static str) {
    match method_name {
        method::INITIALIZE => ("InitializeParams", "InitializeResponse"),
        method::PROCESS_START => ("ProcessStartParams", "ProcessStartResponse"),
        method::PROCESS_READ => ("ProcessReadParams", "ProcessReadResponse"),
        method::PROCESS_WRITE => ("ProcessWriteParams", "ProcessWriteResponse"),
        method::PROCESS_TERMINATE => ("ProcessTerminateParams", "ProcessTerminateResponse"),
        method::PROCESS_SIGNAL => ("ProcessSignalParams", "ProcessSignalResponse"),
        method::PROCESS_RESIZE => ("ProcessResizeParams", "ProcessResizeResponse"),
        method::PROCESS_LIST => ("ProcessListParams", "ProcessListResponse"),
        method::FS_READ_FILE => ("FsReadFileParams", "FsReadFileResponse"),
        method::FS_WRITE_FILE => ("FsWriteFileParams", "FsWriteFileResponse"),
        method::FS_CREATE_DIRECTORY => ("FsCreateDirectoryParams", "FsCreateDirectoryResponse"),
        method::FS_GET_METADATA => ("FsGetMetadataParams", "FsGetMetadataResponse"),
        method::FS_READ_DIRECTORY => ("FsReadDirectoryParams", "FsReadDirectoryResponse"),
        method::FS_REMOVE => ("FsRemoveParams", "FsRemoveResponse"),
        method::FS_COPY => ("FsCopyParams", "FsCopyResponse"),
        method::FS_CANONICALIZE => ("FsCanonicalizeParams", "FsCanonicalizeResponse"),
        method::FS_WALK => ("FsWalkParams", "FsWalkResponse"),
        method::FS_OPEN => ("FsOpenParams", "FsOpenResponse"),
        method::FS_READ_BLOCK => ("FsReadBlockParams", "FsReadBlockResponse"),
        method::FS_WRITE_BLOCK => ("FsWriteBlockParams", "FsWriteBlockResponse"),
        method::FS_CLOSE => ("FsCloseParams", "FsCloseResponse"),
        method::FS_WATCH_MISSING => ("FsWatchMissingParams", "FsWatchMissingResponse"),
        method::ENVIRONMENT_INFO => ("EnvironmentParams", "EnvironmentInfo"),
        method::ENVIRONMENT_STATUS => ("EnvironmentParams", "EnvironmentStatusResponse"),
        other => panic!("no request method called {other}"),
    }
}

/// The params type name of a notification, or `None` for `initialized`, which has no params.
pub fn notification_type(method_name: &str) -> Option<&'static str> {
    match method_name {
        method::INITIALIZED => None,
        method::PROCESS_OUTPUT => Some("ProcessOutputNotification"),
        method::PROCESS_EXITED => Some("ProcessExitedNotification"),
        method::PROCESS_CLOSED => Some("ProcessClosedNotification"),
        method::FS_MISSING_CHANGED => Some("FsMissingChangedNotification"),
        other => panic!("no notification called {other}"),
    }
}

#[test]
fn every_type_decodes_through_the_registry() {
    for name in TYPES {
        // Any answer but a panic shows the name is wired up.
        let _ = decode(name, "{}");
    }
}

#[test]
fn every_method_has_types() {
    for name in method::REQUESTS {
        let (params, result) = request_types(name);
        // `environment/info` answers the same object `initialize` carries, named for what it is.
        let result_named = result.ends_with("Response") || result == "EnvironmentInfo";
        assert!(params.ends_with("Params") && result_named, "{name}");
    }
    for name in method::NOTIFICATIONS {
        notification_type(name);
    }
}
