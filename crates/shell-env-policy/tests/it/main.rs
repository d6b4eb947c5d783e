//! The one integration-test binary of `shell-env-policy`: the public API, driven by data.
//!
//! Each module has one `#[track_caller] fn check` and many one-line cases. Nothing here reads or
//! changes the process environment: starting environments are literals.

mod apply;
mod limits;
mod odd_names;
mod os_vars;
#[cfg(feature = "serde")]
mod toml_shape;
