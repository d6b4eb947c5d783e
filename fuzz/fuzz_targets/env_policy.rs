//! Fuzz target: the env-policy parser (the TOML/serde shape, here through JSON) and matcher.
//!
//! The input is split at the first two newlines into a pattern, a variable name and a policy
//! document. The pattern is checked against a plain recursive reference matcher (`*`, `?`,
//! ASCII case-insensitive, whole name) on short ASCII inputs, through `include_only` and
//! `exclude`; the document must parse or fail cleanly and, when it parses and is within the
//! limits, evaluate without panicking. It does not touch the process environment.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shell_env_policy::{EnvPolicy, Inherit, PolicyDocument};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let pattern = parts.next().unwrap_or_default();
    let name = parts.next().unwrap_or_default();
    let document = parts.next().unwrap_or_default();

    let base = [(name, "value"), ("PATH", "/bin"), ("HOME", "/home/fuzz")];
    let include = EnvPolicy::new(Inherit::All).with_ignore_default_excludes(true).with_include_only(pattern);
    let exclude = EnvPolicy::new(Inherit::All).with_ignore_default_excludes(true).with_exclude(pattern);
    if include.check_limits().is_ok() {
        let kept = include.apply(base).contains_key(name);
        let dropped = !exclude.apply(base).contains_key(name);
        if pattern.is_ascii() && name.is_ascii() && pattern.len() <= 24 && name.len() <= 24 && !name.is_empty() {
            let expected = reference(pattern.as_bytes(), name.as_bytes());
            assert_eq!(kept, expected, "include_only {pattern:?} vs {name:?}");
            assert_eq!(dropped, expected, "exclude {pattern:?} vs {name:?}");
        }
    }

    if let Ok(parsed) = serde_json::from_str::<PolicyDocument>(document)
        && let Some(policy) = parsed.shell_environment_policy
        && policy.check_limits().is_ok()
    {
        let _environment = policy.apply_with_overlay(base, [("OVERLAY", "1")]);
    }
});

/// Whole-name glob with `*` and `?`, ASCII case-insensitive; exponential in the worst case, so
/// only called on short inputs.
fn reference(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => reference(&pattern[1..], name) || (!name.is_empty() && reference(pattern, &name[1..])),
        (Some(b'?'), Some(_)) => reference(&pattern[1..], &name[1..]),
        (Some(expected), Some(actual)) => {
            expected.eq_ignore_ascii_case(actual) && reference(&pattern[1..], &name[1..])
        }
        _ => false,
    }
}
