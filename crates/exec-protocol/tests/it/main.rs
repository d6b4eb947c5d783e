//! Integration tests of the wire types: golden JSON for every message type, the envelope
//! classifier, the fast encoders against the serde path, and the examples in `docs/protocol.md`.
//!
//! One test binary (see STYLE.md); each module covers one concern and uses one data-driven
//! helper. The type registry in `registry` maps wire type and method names to the Rust types, so
//! the golden tests and the documentation test decode through the same table.

mod docs;
mod envelope;
mod fast;
mod golden;
mod registry;
mod trace;
