//! Evaluation of [`EnvPolicy`] over ordinary names: each step, their order, and the overlay.
//!
//! Environments are written as `NAME=value` words separated by spaces, split at the first `=`
//! after the first character. Names that this notation cannot express (empty, or with `=`
//! inside) are covered in `odd_names.rs`.

use std::collections::BTreeMap;

use shell_env_policy::{CORE_VARS, DEFAULT_EXCLUDES, EnvPolicy, Inherit};

/// A server environment with plain variables, credential-looking ones in several cases, and
/// core ones.
const BASE: &str = "PATH=/bin HOME=/h API_KEY=k SECRET_TOKEN=s my_token=t Api_Key_2=k2 EDITOR=vi LANG=C";

fn all() -> EnvPolicy {
    EnvPolicy::new(Inherit::All)
}

fn core() -> EnvPolicy {
    EnvPolicy::new(Inherit::Core)
}

fn none() -> EnvPolicy {
    EnvPolicy::new(Inherit::None)
}

fn parse(text: &str) -> Vec<(String, String)> {
    text.split_whitespace()
        .map(|word| {
            // A leading `=` belongs to the name, as in Windows' hidden `=C:` variables.
            let split_at =
                word.char_indices().skip(1).find(|(_, c)| *c == '=').map_or(word.len(), |(i, _)| i);
            let (name, value) = word.split_at(split_at);
            (name.to_owned(), value.strip_prefix('=').unwrap_or(value).to_owned())
        })
        .collect()
}

fn render(environment: &BTreeMap<String, String>) -> String {
    environment.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join(" ")
}

/// Evaluates `policy` over `base` with `overlay` on top and compares the sorted result.
#[track_caller]
fn check(policy: EnvPolicy, base: &str, overlay: &str, expect: &str) {
    let actual = policy.apply_with_overlay(parse(base), parse(overlay));
    assert_eq!(render(&actual), expect, "policy: {policy:?}");
    if overlay.is_empty() {
        assert_eq!(policy.apply(parse(base)), actual, "apply must equal an empty overlay");
    }
}

#[test]
fn inherit_all() {
    let identity = all().with_ignore_default_excludes(true);
    check(
        identity.clone(),
        BASE,
        "",
        "API_KEY=k Api_Key_2=k2 EDITOR=vi HOME=/h LANG=C PATH=/bin SECRET_TOKEN=s my_token=t",
    );
    check(identity.clone(), "", "", "");
    check(identity.clone(), "Z=1 A=2 M=3", "", "A=2 M=3 Z=1");
    check(identity, "A=1 A=2", "", "A=2");
    check(EnvPolicy::default(), BASE, "", "EDITOR=vi HOME=/h LANG=C PATH=/bin");
}

#[test]
fn default_excludes_drop_credential_names_in_any_case() {
    check(all(), BASE, "", "EDITOR=vi HOME=/h LANG=C PATH=/bin");
    check(
        all(),
        "mykey=1 MyKey=2 xSecrety=3 token=4 TOKENS=5 KEYS=6 KE=7 TOKE=8 SECRE=9",
        "",
        "KE=7 SECRE=9 TOKE=8",
    );
    check(all(), "KEYBOARD=1 MONKEY=2 TOKENIZER=3 PASSWORD=4", "", "PASSWORD=4");
    check(all().with_ignore_default_excludes(true), "API_KEY=k my_token=t", "", "API_KEY=k my_token=t");
    check(
        all().with_ignore_default_excludes(true).with_exclude("*KEY*"),
        "API_KEY=k my_token=t",
        "",
        "my_token=t",
    );
    assert_eq!(DEFAULT_EXCLUDES, ["*KEY*", "*SECRET*", "*TOKEN*"]);
}

#[test]
fn inherit_core_keeps_only_core_names_exactly() {
    check(core(), BASE, "", "HOME=/h LANG=C PATH=/bin");
    check(core(), "Path=/x path=/y HOME=/h home=/z PATHEXT=.x", "", "HOME=/h");
    check(core(), "EDITOR=vi TERM=xterm", "", "");
    check(core().with_exclude("home"), BASE, "", "LANG=C PATH=/bin");
    check(core().with_set("EDITOR", "nano"), BASE, "", "EDITOR=nano HOME=/h LANG=C PATH=/bin");
    let every_core_name: String = CORE_VARS.iter().map(|name| format!("{name}=1 ")).collect();
    check(
        core(),
        &every_core_name,
        "",
        "HOME=1 LANG=1 LC_ALL=1 LC_CTYPE=1 LOGNAME=1 PATH=1 SHELL=1 TEMP=1 TMP=1 TMPDIR=1 USER=1",
    );
    assert_eq!(CORE_VARS.len(), 11);
}

#[test]
fn inherit_none_starts_empty() {
    check(none(), BASE, "", "");
    check(none().with_set("X", "1"), BASE, "", "X=1");
    check(none().with_set("API_KEY", "mine"), BASE, "", "API_KEY=mine");
    check(none().with_ignore_default_excludes(true), BASE, "", "");
}

#[test]
fn exclude_drops_inherited_names_by_glob() {
    check(all().with_exclude("ED?TOR"), BASE, "", "HOME=/h LANG=C PATH=/bin");
    check(all().with_exclude("?ATH"), "PATH=1 XPATH=2 ATH=3 BATH=4", "", "ATH=3 XPATH=2");
    check(all().with_exclude("l*"), BASE, "", "EDITOR=vi HOME=/h PATH=/bin");
    check(all().with_exclude("*o*").with_exclude("p*"), BASE, "", "LANG=C");
    check(all().with_exclude("*"), BASE, "", "");
    check(all().with_exclude("EDIT"), BASE, "", "EDITOR=vi HOME=/h LANG=C PATH=/bin");
}

#[test]
fn set_comes_after_the_drops() {
    check(all().with_exclude("*").with_set("X", "1"), BASE, "", "X=1");
    check(all().with_exclude("X").with_set("X", "1"), "X=0", "", "X=1");
    check(all().with_set("HOME", "/other"), BASE, "", "EDITOR=vi HOME=/other LANG=C PATH=/bin");
    check(all().with_set("MY_TOKEN", "t"), "", "", "MY_TOKEN=t");
    check(all().with_set("A", "1").with_set("A", "2"), "", "", "A=2");
    check(all().with_set("EMPTY", ""), "", "", "EMPTY=");
}

#[test]
fn include_only_runs_after_set() {
    check(all().with_include_only("PATH").with_include_only("HOME"), BASE, "", "HOME=/h PATH=/bin");
    check(all().with_include_only("P*").with_set("X", "1"), BASE, "", "PATH=/bin");
    check(all().with_include_only("P*").with_include_only("X").with_set("X", "1"), BASE, "", "PATH=/bin X=1");
    check(all().with_include_only("path"), BASE, "", "PATH=/bin");
    check(all().with_include_only("*KEY*"), BASE, "", "");
    check(
        all().with_include_only("*KEY*").with_ignore_default_excludes(true),
        BASE,
        "",
        "API_KEY=k Api_Key_2=k2",
    );
    check(none().with_set("A", "1").with_set("B", "2").with_include_only("?"), "", "", "A=1 B=2");
    check(none().with_set("AB", "1").with_include_only("?"), "", "", "");
}

#[test]
fn empty_patterns_match_only_the_empty_name() {
    check(all().with_exclude(""), BASE, "", "EDITOR=vi HOME=/h LANG=C PATH=/bin");
    check(all().with_include_only(""), BASE, "", "");
    check(all().with_include_only("").with_set("X", "1"), BASE, "", "");
    check(all().with_include_only("").with_include_only("HOME"), BASE, "", "HOME=/h");
}

#[test]
fn overlay_wins_over_every_step() {
    check(all().with_set("X", "1"), "", "X=2", "X=2");
    check(all(), BASE, "HOME=/job", "EDITOR=vi HOME=/job LANG=C PATH=/bin");
    check(all(), BASE, "API_KEY=mine", "API_KEY=mine EDITOR=vi HOME=/h LANG=C PATH=/bin");
    check(all().with_exclude("Z"), "Z=0", "Z=1", "Z=1");
    check(all().with_include_only("PATH"), BASE, "Z=1", "PATH=/bin Z=1");
    check(core(), BASE, "EDITOR=nano", "EDITOR=nano HOME=/h LANG=C PATH=/bin");
    check(none(), BASE, "A=1 A=2", "A=2");
    check(none(), "", "", "");
}

#[test]
fn apply_accepts_common_map_types() {
    let policy = core().with_set("CI", "1");
    let expect: BTreeMap<String, String> =
        [("CI", "1"), ("PATH", "/bin")].map(|(name, value)| (name.to_owned(), value.to_owned())).into();

    let borrowed_map: BTreeMap<String, String> = parse("PATH=/bin EDITOR=vi").into_iter().collect();
    assert_eq!(policy.apply(&borrowed_map), expect);
    let hash_map: std::collections::HashMap<String, String> =
        parse("PATH=/bin EDITOR=vi").into_iter().collect();
    assert_eq!(policy.apply(hash_map), expect);
    assert_eq!(policy.apply([("PATH", "/bin"), ("EDITOR", "vi")]), expect);
    assert_eq!(policy.apply_with_overlay([("PATH", "/bin")], &BTreeMap::<String, String>::new()), expect);
}

#[test]
fn inherit_names_parse_and_print() {
    for inherit in [Inherit::All, Inherit::Core, Inherit::None] {
        assert_eq!(inherit.as_str().parse::<Inherit>(), Ok(inherit));
        assert_eq!(inherit.to_string(), inherit.as_str());
    }
    let error = "Core".parse::<Inherit>().unwrap_err();
    assert_eq!(error.to_string(), r#"invalid `inherit` value "Core": expected "all", "core" or "none""#);
    assert_eq!(Inherit::default(), Inherit::All);
}

/// The worked examples of `docs/env-policy.md`, so the page cannot drift from the code.
#[test]
fn worked_examples_of_the_docs() {
    let server = "PATH=/usr/bin HOME=/home/runner LANG=C.UTF-8 EDITOR=vi \
                  GITHUB_TOKEN=ghp_x AWS_SECRET_ACCESS_KEY=hunter2 http_proxy=http://proxy:3128";
    let example_1 = core().with_set("CI", "1").with_set("PAGER", "cat");
    check(example_1, server, "PAGER=less", "CI=1 HOME=/home/runner LANG=C.UTF-8 PAGER=less PATH=/usr/bin");
    let example_2 = all().with_exclude("*_proxy");
    check(example_2.clone(), server, "", "EDITOR=vi HOME=/home/runner LANG=C.UTF-8 PATH=/usr/bin");
    check(
        example_2.with_ignore_default_excludes(true),
        server,
        "",
        "AWS_SECRET_ACCESS_KEY=hunter2 EDITOR=vi GITHUB_TOKEN=ghp_x HOME=/home/runner LANG=C.UTF-8 PATH=/usr/bin",
    );
    let example_3 = all().with_set("CI", "1").with_include_only("PATH").with_include_only("H?ME");
    check(example_3, server, "TERM=dumb", "HOME=/home/runner PATH=/usr/bin TERM=dumb");
    let example_4 = none().with_set("PATH", "/opt/tools/bin:/usr/bin");
    check(example_4, server, "", "PATH=/opt/tools/bin:/usr/bin");
}
