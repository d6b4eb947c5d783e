//! The serde (TOML) shape of a policy, compiled only with the `serde` feature.
//!
//! [`EnvPolicy`] and [`Inherit`](crate::Inherit) derive their impls in `lib.rs`; this module
//! holds what the derives need besides: one `deserialize_with` function per key, so that a bad
//! value's error names the key whatever the format (serde's own type errors do not), and
//! [`PolicyDocument`] for reading the table out of a larger configuration file.
//!
//! It depends on `serde` only, never on a format crate: callers pick `toml`, `serde_json` or
//! anything else. It does not describe the wire (camelCase JSON) struct, which lives in
//! `exec-protocol`.

use std::collections::BTreeMap;
use std::fmt::Display;

use serde::{Deserialize, Deserializer, Serialize};

use crate::{EnvPolicy, Inherit};

/// A configuration document that may hold a `[shell_environment_policy]` table.
///
/// Every other key of the document is ignored, so this reads the policy out of a larger
/// configuration file; the table itself rejects unknown keys. A program with its own config
/// struct can instead embed the policy directly as a field,
/// `#[serde(default)] shell_environment_policy: EnvPolicy`.
///
/// ```
/// # fn main() -> Result<(), toml::de::Error> {
/// use shell_env_policy::{Inherit, PolicyDocument};
///
/// let text = r#"
/// log_level = "debug"            # someone else's key: ignored
///
/// [shell_environment_policy]
/// inherit = "core"
/// set = { CI = "1" }
/// "#;
/// let document: PolicyDocument = toml::from_str(text)?;
/// let policy = document.shell_environment_policy.unwrap_or_default();
/// assert_eq!(policy.inherit, Inherit::Core);
/// assert_eq!(policy.set["CI"], "1");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PolicyDocument {
    /// The `[shell_environment_policy]` table; `None` when the document has none (callers
    /// usually fall back to [`EnvPolicy::default`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell_environment_policy: Option<EnvPolicy>,
}

/// Deserializes one key's value, putting the key's name in front of any error.
fn keyed<'de, D, T>(deserializer: D, key: &str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map_err(|error| invalid_key(key, error))
}

fn invalid_key<E: serde::de::Error>(key: &str, error: impl Display) -> E {
    E::custom(format_args!("invalid value for `{key}`: {error}"))
}

pub(crate) fn inherit<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Inherit, D::Error> {
    keyed(deserializer, "inherit")
}

pub(crate) fn ignore_default_excludes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    keyed(deserializer, "ignore_default_excludes")
}

pub(crate) fn exclude<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    keyed(deserializer, "exclude")
}

pub(crate) fn set<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    keyed(deserializer, "set")
}

pub(crate) fn include_only<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    keyed(deserializer, "include_only")
}
