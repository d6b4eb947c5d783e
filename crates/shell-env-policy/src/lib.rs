//! Builds a child process's environment from a starting environment and an [`EnvPolicy`].
//!
//! # Where it sits
//!
//! This is a leaf crate with no internal dependencies. The exec-server uses it when a
//! `process/start` request carries an `envPolicy`: the transport converts the wire struct (which
//! lives in `exec-protocol`, camelCase JSON) into an [`EnvPolicy`], evaluates it over the
//! *server's* environment, lays the request's `env` on top, and hands the engine the complete
//! result. Anyone else can use it on its own to derive a child environment from a policy. The
//! semantics, with worked examples, are in `docs/env-policy.md`.
//!
//! # Main types
//!
//! - [`EnvPolicy`]: the policy, a plain struct with public fields (`inherit`,
//!   `ignore_default_excludes`, `exclude`, `set`, `include_only`) and `with_*` builders.
//! - [`Inherit`]: which starting variables are considered at all: [`Inherit::All`],
//!   [`Inherit::Core`] (the names in [`CORE_VARS`]) or [`Inherit::None`].
//! - [`EnvPolicy::apply`] and [`EnvPolicy::apply_with_overlay`]: the evaluation, over a starting
//!   environment passed in as name/value pairs, returning a sorted `BTreeMap<String, String>`.
//! - [`utf8_vars_os`]: turns `std::env::vars_os()`-like input into UTF-8 pairs, setting aside
//!   (and reporting) the ones that are not valid Unicode.
//! - With the `serde` feature: `Serialize`/`Deserialize` for [`EnvPolicy`] and [`Inherit`] (the
//!   TOML shape, snake_case keys, unknown keys rejected, a bad value's error naming its key) and
//!   `PolicyDocument`, a configuration document that may hold a `[shell_environment_policy]`
//!   table. The feature adds only `serde`: parse with whichever format crate you use.
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//! use shell_env_policy::{EnvPolicy, Inherit};
//!
//! // The executor's own environment, passed in: this crate never reads `std::env` itself.
//! let server_env = [
//!     ("PATH", "/usr/bin"),
//!     ("HOME", "/home/runner"),
//!     ("EDITOR", "vi"),
//!     ("GITHUB_TOKEN", "ghp_x"),
//! ];
//! let policy = EnvPolicy::new(Inherit::Core).with_set("CI", "1").with_set("PAGER", "cat");
//! // The request's `env` goes on last and wins over everything else.
//! let request_env = [("PAGER", "less")];
//!
//! let child_env = policy.apply_with_overlay(server_env, request_env);
//!
//! let expected: BTreeMap<String, String> = [
//!     ("CI", "1"),
//!     ("HOME", "/home/runner"),
//!     ("PAGER", "less"),
//!     ("PATH", "/usr/bin"),
//! ]
//! .into_iter()
//! .map(|(name, value)| (name.to_owned(), value.to_owned()))
//! .collect();
//! assert_eq!(child_env, expected);
//! ```
//!
//! # Invariants
//!
//! - Evaluation is a pure function of the policy, the starting environment and the overlay: no
//!   I/O, no `std::env` access, no global state. Its steps run in this fixed order:
//!   1. keep the starting variables that [`Inherit`] admits;
//!   2. unless `ignore_default_excludes`, drop names matching [`DEFAULT_EXCLUDES`];
//!   3. drop names matching any `exclude` pattern;
//!   4. insert every `set` entry (so steps 2 and 3 never remove a `set` entry);
//!   5. if `include_only` is non-empty, keep only names matching one of its patterns (this can
//!      remove a `set` entry);
//!   6. insert every overlay entry, replacing what is there (the overlay always wins).
//! - Patterns are whole-name globs: `*` matches any run of characters (including none), `?`
//!   exactly one character (a Unicode scalar value), everything else matches itself with case
//!   ignored. There is no escape and no character class. The empty pattern matches only the
//!   empty name. Each evaluation compiles its patterns once, and matching one pattern against
//!   one name takes time linear in the name (plus one step per 64 characters of a `?`-holding
//!   piece of the pattern per name character): no pattern makes it backtrack.
//! - [`EnvPolicy::check_limits`] bounds the number and length of patterns for callers that take
//!   policies from untrusted sources; evaluation itself never refuses a policy.
//! - [`Inherit::Core`] compares names with [`CORE_VARS`] *case-sensitively*: on the Unix
//!   executors this server targets, `PATH` and `Path` are different variables, and keeping a
//!   look-alike by accident would defeat the point of a minimal environment.
//! - Names and values are `String`s. Duplicate names in an input: the later pair wins. The
//!   result is a `BTreeMap`, so iteration order is by name and never depends on input order.
//!
//! # Non-goals
//!
//! - Reading or changing the process environment: callers pass `std::env::vars_os()` (through
//!   [`utf8_vars_os`]) or any other map in.
//! - Validating names: an empty name, a name containing `=` or NUL, or a name starting with a
//!   digit passes through untouched. Whether such a variable can reach a child is the spawner's
//!   business, not the policy's.
//! - Carrying non-UTF-8 names or values: the wire protocol is JSON strings, so such variables
//!   are set aside by [`utf8_vars_os`] and reported rather than mangled.
//! - The wire (camelCase JSON) shape: that struct lives in `exec-protocol`.
//! - Windows-style case-insensitive variable names.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::str::FromStr;

mod pattern;
#[cfg(feature = "serde")]
mod serde_shape;

#[cfg(feature = "serde")]
pub use serde_shape::PolicyDocument;

use pattern::PatternSet;

/// The names that [`Inherit::Core`] keeps, compared case-sensitively.
pub const CORE_VARS: &[&str] =
    &["PATH", "SHELL", "TMPDIR", "TEMP", "TMP", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "LOGNAME", "USER"];

/// Patterns dropped from the inherited variables unless
/// [`EnvPolicy::ignore_default_excludes`] is set: names that look like credentials.
pub const DEFAULT_EXCLUDES: &[&str] = &["*KEY*", "*SECRET*", "*TOKEN*"];

/// The most patterns [`EnvPolicy::check_limits`] accepts in one list (`exclude` or
/// `include_only`). Matching costs about (patterns) x (length of the names), so when policies
/// come from untrusted callers the count is what bounds the work; real policies hold a handful.
pub const MAX_PATTERNS_PER_LIST: usize = 256;

/// The longest pattern, in bytes, [`EnvPolicy::check_limits`] accepts: far above any real
/// variable name pattern, low enough that a `?`-holding pattern costs at most a few machine
/// words per name character.
pub const MAX_PATTERN_BYTES: usize = 1024;

/// A policy past [`MAX_PATTERNS_PER_LIST`] or [`MAX_PATTERN_BYTES`], from
/// [`EnvPolicy::check_limits`]. `list` is the field's name as written in TOML (`exclude`,
/// `include_only`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitError {
    /// The list holds more than [`MAX_PATTERNS_PER_LIST`] patterns.
    TooManyPatterns { list: &'static str, count: usize, limit: usize },
    /// The pattern at `index` of the list is longer than [`MAX_PATTERN_BYTES`].
    PatternTooLong { list: &'static str, index: usize, bytes: usize, limit: usize },
}

impl fmt::Display for LimitError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::TooManyPatterns { list, count, limit } => {
                write!(formatter, "{list} holds {count} patterns; the limit is {limit}")
            }
            LimitError::PatternTooLong { list, index, bytes, limit } => {
                write!(formatter, "{list} pattern {index} is {bytes} bytes long; the limit is {limit}")
            }
        }
    }
}

impl std::error::Error for LimitError {}

/// Which variables of the starting environment a policy begins from.
///
/// In TOML (with the `serde` feature) and on the wire this is the lowercase string `"all"`,
/// `"core"` or `"none"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "lowercase"))]
pub enum Inherit {
    /// Every starting variable.
    #[default]
    All,
    /// Only the starting variables named in [`CORE_VARS`] (exact, case-sensitive names).
    Core,
    /// No starting variable: the result is built from `set` and the overlay alone.
    None,
}

impl Inherit {
    /// The lowercase name used in TOML and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Inherit::All => "all",
            Inherit::Core => "core",
            Inherit::None => "none",
        }
    }

    /// Whether a starting variable with this name is admitted by this inherit choice.
    fn admits(self, name: &str) -> bool {
        match self {
            Inherit::All => true,
            Inherit::Core => CORE_VARS.contains(&name),
            Inherit::None => false,
        }
    }
}

impl fmt::Display for Inherit {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for Inherit {
    type Err = ParseInheritError;

    /// Parses the exact lowercase names `all`, `core` and `none` (the same spelling TOML and the
    /// wire accept; other capitalisations are rejected there too).
    fn from_str(text: &str) -> Result<Inherit, ParseInheritError> {
        match text {
            "all" => Ok(Inherit::All),
            "core" => Ok(Inherit::Core),
            "none" => Ok(Inherit::None),
            _ => Err(ParseInheritError { found: text.to_owned() }),
        }
    }
}

/// The error of parsing an [`Inherit`] from a string that is not `all`, `core` or `none`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseInheritError {
    found: String,
}

impl fmt::Display for ParseInheritError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "invalid `inherit` value {:?}: expected \"all\", \"core\" or \"none\"", self.found)
    }
}

impl std::error::Error for ParseInheritError {}

/// How to derive a child's environment from a starting environment.
///
/// Build it with a struct literal (`..EnvPolicy::default()`), with [`EnvPolicy::new`] and the
/// `with_*` methods, or (with the `serde` feature) from its TOML table. Evaluate it with
/// [`EnvPolicy::apply`] or [`EnvPolicy::apply_with_overlay`]; the crate docs list the steps.
///
/// The default inherits everything and drops the [`DEFAULT_EXCLUDES`]; every TOML key left out
/// takes its value from this default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct EnvPolicy {
    /// Which starting variables are considered at all (step 1).
    #[cfg_attr(feature = "serde", serde(deserialize_with = "serde_shape::inherit"))]
    pub inherit: Inherit,
    /// When true, skip dropping names that match [`DEFAULT_EXCLUDES`] (step 2).
    #[cfg_attr(feature = "serde", serde(deserialize_with = "serde_shape::ignore_default_excludes"))]
    pub ignore_default_excludes: bool,
    /// Patterns of inherited names to drop (step 3). They never remove a `set` entry.
    #[cfg_attr(feature = "serde", serde(deserialize_with = "serde_shape::exclude"))]
    pub exclude: Vec<String>,
    /// Variables to insert after the drops, replacing inherited values (step 4).
    #[cfg_attr(feature = "serde", serde(deserialize_with = "serde_shape::set"))]
    pub set: BTreeMap<String, String>,
    /// When non-empty, only names matching one of these patterns survive, including `set`
    /// entries (step 5). Empty means "keep everything".
    #[cfg_attr(feature = "serde", serde(deserialize_with = "serde_shape::include_only"))]
    pub include_only: Vec<String>,
}

impl EnvPolicy {
    /// A policy that inherits as given, drops the default excludes, and has no other rules.
    pub fn new(inherit: Inherit) -> EnvPolicy {
        EnvPolicy { inherit, ..EnvPolicy::default() }
    }

    /// Sets [`EnvPolicy::ignore_default_excludes`].
    #[must_use]
    pub fn with_ignore_default_excludes(mut self, ignore: bool) -> EnvPolicy {
        self.ignore_default_excludes = ignore;
        self
    }

    /// Adds one pattern to [`EnvPolicy::exclude`].
    #[must_use]
    pub fn with_exclude(mut self, pattern: impl Into<String>) -> EnvPolicy {
        self.exclude.push(pattern.into());
        self
    }

    /// Adds (or replaces) one entry of [`EnvPolicy::set`].
    #[must_use]
    pub fn with_set(mut self, name: impl Into<String>, value: impl Into<String>) -> EnvPolicy {
        self.set.insert(name.into(), value.into());
        self
    }

    /// Adds one pattern to [`EnvPolicy::include_only`].
    #[must_use]
    pub fn with_include_only(mut self, pattern: impl Into<String>) -> EnvPolicy {
        self.include_only.push(pattern.into());
        self
    }

    /// Checks the pattern lists against [`MAX_PATTERNS_PER_LIST`] and [`MAX_PATTERN_BYTES`].
    ///
    /// Evaluation itself accepts any policy and matches in time linear in each name; call this
    /// first when the policy comes from someone who could make the evaluation expensive (a
    /// server taking policies over the network).
    pub fn check_limits(&self) -> Result<(), LimitError> {
        for (list, patterns) in [("exclude", &self.exclude), ("include_only", &self.include_only)] {
            if patterns.len() > MAX_PATTERNS_PER_LIST {
                return Err(LimitError::TooManyPatterns {
                    list,
                    count: patterns.len(),
                    limit: MAX_PATTERNS_PER_LIST,
                });
            }
            if let Some((index, pattern)) =
                patterns.iter().enumerate().find(|(_, pattern)| pattern.len() > MAX_PATTERN_BYTES)
            {
                return Err(LimitError::PatternTooLong {
                    list,
                    index,
                    bytes: pattern.len(),
                    limit: MAX_PATTERN_BYTES,
                });
            }
        }
        Ok(())
    }

    /// Evaluates the policy over a starting environment, with no overlay.
    ///
    /// `base` is any sequence of name/value pairs: an array of `(&str, &str)`, a
    /// `&BTreeMap<String, String>`, a `HashMap<String, String>`, the `vars` of
    /// [`utf8_vars_os`]. Later duplicates win.
    pub fn apply<Name, Value>(
        &self,
        base: impl IntoIterator<Item = (Name, Value)>,
    ) -> BTreeMap<String, String>
    where
        Name: Into<String>,
        Value: Into<String>,
    {
        self.apply_with_overlay(base, std::iter::empty::<(String, String)>())
    }

    /// Evaluates the policy over a starting environment, then lays `overlay` (a request's `env`)
    /// on top: every overlay entry is in the result with its overlay value, whatever the policy
    /// says about its name.
    pub fn apply_with_overlay<Name, Value, OverlayName, OverlayValue>(
        &self,
        base: impl IntoIterator<Item = (Name, Value)>,
        overlay: impl IntoIterator<Item = (OverlayName, OverlayValue)>,
    ) -> BTreeMap<String, String>
    where
        Name: Into<String>,
        Value: Into<String>,
        OverlayName: Into<String>,
        OverlayValue: Into<String>,
    {
        let default_excludes = if self.ignore_default_excludes {
            PatternSet::default()
        } else {
            PatternSet::new(DEFAULT_EXCLUDES)
        };
        let exclude = PatternSet::new(&self.exclude);
        let include_only = PatternSet::new(&self.include_only);

        let mut environment = BTreeMap::new();
        // Steps 1-3 are filters on the starting pairs, so they run pair by pair before anything
        // is stored; `set` entries are inserted afterwards and never see these filters.
        if self.inherit != Inherit::None {
            for (name, value) in base {
                let name = name.into();
                if self.inherit.admits(&name)
                    && !default_excludes.matches_any(&name)
                    && !exclude.matches_any(&name)
                {
                    environment.insert(name, value.into());
                }
            }
        }
        for (name, value) in &self.set {
            environment.insert(name.clone(), value.clone());
        }
        if !include_only.is_empty() {
            environment.retain(|name, _| include_only.matches_any(name));
        }
        for (name, value) in overlay {
            environment.insert(name.into(), value.into());
        }
        environment
    }
}

/// The UTF-8 part of an OS environment, and the names of the variables left out of it.
///
/// Returned by [`utf8_vars_os`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Utf8Vars {
    /// The variables whose name and value are both valid Unicode; later duplicates win.
    pub vars: BTreeMap<String, String>,
    /// The names, in input order, of the variables left out because the name or the value is
    /// not valid Unicode. Kept as `OsString` so a caller can log them faithfully.
    pub skipped: Vec<OsString>,
}

/// Splits `std::env::vars_os()`-like input into the variables this crate can carry (valid
/// Unicode name and value) and the names of those it cannot.
///
/// Nothing is converted lossily: a variable with invalid Unicode is left out whole (its name is
/// reported in [`Utf8Vars::skipped`]) rather than passed on with replacement characters, which
/// would hand a child a value nobody set. Typical use on a server:
///
/// ```
/// # let policy = shell_env_policy::EnvPolicy::default();
/// # let request_env: Vec<(String, String)> = Vec::new();
/// let server_env = shell_env_policy::utf8_vars_os(std::env::vars_os());
/// // ...log `server_env.skipped` if it is not empty...
/// let child_env = policy.apply_with_overlay(server_env.vars, request_env);
/// ```
pub fn utf8_vars_os(vars_os: impl IntoIterator<Item = (OsString, OsString)>) -> Utf8Vars {
    let mut result = Utf8Vars::default();
    for (name, value) in vars_os {
        match (name.into_string(), value.into_string()) {
            (Ok(name), Ok(value)) => {
                result.vars.insert(name, value);
            }
            (Ok(name), Err(_)) => result.skipped.push(OsString::from(name)),
            (Err(name), _) => result.skipped.push(name),
        }
    }
    result
}
