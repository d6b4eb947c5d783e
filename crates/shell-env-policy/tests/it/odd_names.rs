//! Names that real environments rarely hold but a policy must not trip over: punctuation,
//! leading digits, non-ASCII, `=` (Windows' hidden `=C:` names, or inside a `set` name), the
//! empty name and a literal `*`. The policy treats every name as opaque text.

use std::collections::BTreeMap;

use shell_env_policy::{EnvPolicy, Inherit};

const ODD: &[(&str, &str)] = &[
    ("A-B", "dash"),
    ("1X", "digit"),
    ("名前", "kanji"),
    ("=C:", "C:\\"),
    ("A=B", "inner equals"),
    ("", "empty name"),
    (" ", "space"),
    ("*", "star"),
    ("トークン_token", "looks like a credential"),
];

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|&(name, value)| (name.to_owned(), value.to_owned())).collect()
}

/// Evaluates `policy` over [`ODD`] and compares with the expected pairs (in any order).
#[track_caller]
fn check(policy: EnvPolicy, expect: &[(&str, &str)]) {
    assert_eq!(policy.apply(ODD.iter().copied()), map(expect), "policy: {policy:?}");
}

const ALL_BUT_CREDENTIAL: &[(&str, &str)] = &[
    ("A-B", "dash"),
    ("1X", "digit"),
    ("名前", "kanji"),
    ("=C:", "C:\\"),
    ("A=B", "inner equals"),
    ("", "empty name"),
    (" ", "space"),
    ("*", "star"),
];

#[test]
fn odd_names_pass_through_untouched() {
    check(EnvPolicy::new(Inherit::All).with_ignore_default_excludes(true), ODD);
    check(EnvPolicy::new(Inherit::All), ALL_BUT_CREDENTIAL);
    check(EnvPolicy::new(Inherit::Core), &[]);
    check(
        EnvPolicy::new(Inherit::None).with_set("A=B", "set").with_set("", "set"),
        &[("A=B", "set"), ("", "set")],
    );
}

#[test]
fn patterns_treat_odd_names_as_text() {
    let all = || EnvPolicy::new(Inherit::All);
    check(all().with_exclude("名*").with_exclude("?X"), &without(&["名前", "1X"]));
    check(all().with_exclude(""), &without(&[""]));
    check(all().with_exclude("=*"), &without(&["=C:"]));
    check(all().with_exclude("*=*"), &without(&["=C:", "A=B"]));
    check(all().with_exclude("a-b").with_exclude("?"), &without(&["A-B", " ", "*"]));
    check(all().with_include_only(""), &[("", "empty name")]);
    check(all().with_include_only("名?"), &[("名前", "kanji")]);
    check(all().with_include_only("*").with_exclude("*"), &[]);
    check(
        all().with_include_only("トークン*").with_ignore_default_excludes(true),
        &[("トークン_token", "looks like a credential")],
    );
}

fn without(names: &[&str]) -> Vec<(&'static str, &'static str)> {
    ALL_BUT_CREDENTIAL.iter().copied().filter(|(name, _)| !names.contains(name)).collect()
}
