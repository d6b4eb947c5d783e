//! [`EnvPolicy::check_limits`]: how many patterns a list may hold and how long one may be, and
//! that evaluation itself still accepts a policy past them.

use shell_env_policy::{EnvPolicy, Inherit, LimitError, MAX_PATTERN_BYTES, MAX_PATTERNS_PER_LIST};

#[track_caller]
fn check(policy: EnvPolicy, expect: Result<(), &str>) {
    let outcome = policy.check_limits();
    assert_eq!(
        outcome.clone().map_err(|error| error.to_string()),
        expect.map_err(str::to_owned),
        "{outcome:?}"
    );
}

fn with_patterns(exclude: usize, include_only: usize, length: usize) -> EnvPolicy {
    EnvPolicy {
        exclude: vec!["X".repeat(length); exclude],
        include_only: vec!["Y".repeat(length); include_only],
        ..EnvPolicy::new(Inherit::All)
    }
}

#[test]
fn limits() {
    check(EnvPolicy::default(), Ok(()));
    check(with_patterns(MAX_PATTERNS_PER_LIST, MAX_PATTERNS_PER_LIST, MAX_PATTERN_BYTES), Ok(()));
    check(with_patterns(257, 0, 1), Err("exclude holds 257 patterns; the limit is 256"));
    check(with_patterns(0, 257, 1), Err("include_only holds 257 patterns; the limit is 256"));
    check(with_patterns(1, 0, 1025), Err("exclude pattern 0 is 1025 bytes long; the limit is 1024"));
    let mut policy = with_patterns(0, 3, 1);
    policy.include_only[2] = "*".repeat(2000);
    check(policy, Err("include_only pattern 2 is 2000 bytes long; the limit is 1024"));
}

#[test]
fn the_error_is_structured() {
    let error = with_patterns(300, 0, 1).check_limits().unwrap_err();
    assert_eq!(error, LimitError::TooManyPatterns { list: "exclude", count: 300, limit: 256 });
}

#[test]
fn evaluation_does_not_enforce_the_limits() {
    let policy = EnvPolicy::new(Inherit::None).with_set("A", "1").with_include_only("*".repeat(5000));
    assert_eq!(
        policy.apply([("B", "2")]).into_iter().collect::<Vec<_>>(),
        [("A".to_owned(), "1".to_owned())]
    );
}
