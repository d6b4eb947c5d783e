//! Fuzz target: the env-policy parser (the TOML/serde shape, here through JSON) and matcher.
//!
//! The input is split at the first two newlines into a pattern, a variable name and a policy
//! document. The pattern is checked against a plain reference matcher (`*`, `?`, ASCII
//! case-insensitive, whole name) on short ASCII inputs, through `include_only` and
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
        if pattern.is_ascii() && name.is_ascii() && pattern.len() <= 64 && name.len() <= 64 && !name.is_empty() {
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

/// Whole-name glob with `*` and `?`, ASCII case-insensitive, by the textbook table over
/// (pattern prefix, name prefix). Kept independent of the crate's own matcher on purpose; a
/// first, recursive version was exponential on patterns of many `*` (libFuzzer reported those
/// inputs as slow units), hence the table.
fn reference(pattern: &[u8], name: &[u8]) -> bool {
    // matches[j]: the pattern prefix seen so far matches name[..j].
    let mut matches = vec![false; name.len() + 1];
    matches[0] = true;
    for &piece in pattern {
        let mut next = vec![false; name.len() + 1];
        for j in 0..=name.len() {
            next[j] = match piece {
                b'*' => matches[j] || (j > 0 && next[j - 1]),
                b'?' => j > 0 && matches[j - 1],
                literal => j > 0 && matches[j - 1] && literal.eq_ignore_ascii_case(&name[j - 1]),
            };
        }
        matches = next;
    }
    matches[name.len()]
}
