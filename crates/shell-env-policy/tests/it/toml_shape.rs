//! The TOML shape (`serde` feature): the `[shell_environment_policy]` table, its defaults, the
//! round trip, and errors that name the offending key.

use shell_env_policy::{EnvPolicy, Inherit, PolicyDocument};

fn render(document: &PolicyDocument) -> String {
    match &document.shell_environment_policy {
        None => "no table".to_owned(),
        Some(policy) => format!(
            "inherit={} ignore_default_excludes={} exclude={:?} set={:?} include_only={:?}",
            policy.inherit, policy.ignore_default_excludes, policy.exclude, policy.set, policy.include_only
        ),
    }
}

/// Parses `text` as a configuration document. An `expect` starting with `error: ` must occur in
/// the error message after that prefix; any other `expect` must equal the rendered policy.
#[track_caller]
fn check(text: &str, expect: &str) {
    match (toml::from_str::<PolicyDocument>(text), expect.strip_prefix("error: ")) {
        (Ok(document), None) => assert_eq!(render(&document), expect),
        (Err(error), Some(fragment)) => {
            let message = error.to_string();
            assert!(message.contains(fragment), "{fragment:?} not in error:\n{message}");
        }
        (Ok(document), Some(_)) => panic!("expected an error, parsed {}", render(&document)),
        (Err(error), None) => panic!("expected {expect:?}, got error:\n{error}"),
    }
}

const TABLE: &str = "[shell_environment_policy]\n";
const DEFAULTS: &str = "inherit=all ignore_default_excludes=false exclude=[] set={} include_only=[]";

#[test]
fn table_and_defaults() {
    check("", "no table");
    check("other = 1\n[server]\nlisten = \"ws://127.0.0.1:0\"", "no table");
    check(TABLE, DEFAULTS);
    check(
        &format!("{TABLE}inherit = \"core\""),
        "inherit=core ignore_default_excludes=false exclude=[] set={} include_only=[]",
    );
    check(
        &format!("{TABLE}inherit = \"none\"\nset = {{ CI = \"1\" }}"),
        r#"inherit=none ignore_default_excludes=false exclude=[] set={"CI": "1"} include_only=[]"#,
    );
    check(
        &format!("{TABLE}ignore_default_excludes = true\nexclude = [\"A*\", \"?B\"]"),
        r#"inherit=all ignore_default_excludes=true exclude=["A*", "?B"] set={} include_only=[]"#,
    );
    check(
        &format!("{TABLE}include_only = [\"PATH\", \"\"]"),
        r#"inherit=all ignore_default_excludes=false exclude=[] set={} include_only=["PATH", ""]"#,
    );
    check(
        &format!("{TABLE}[shell_environment_policy.set]\n\"名前\" = \"値\"\n\"A-B\" = \"\""),
        r#"inherit=all ignore_default_excludes=false exclude=[] set={"A-B": "", "名前": "値"} include_only=[]"#,
    );
    check(
        &format!("log = \"x\"\n{TABLE}inherit = \"core\"\n[other]\nkey = 1"),
        "inherit=core ignore_default_excludes=false exclude=[] set={} include_only=[]",
    );
}

#[test]
fn errors_name_the_key() {
    check(
        &format!("{TABLE}inherti = \"core\""),
        "error: unknown field `inherti`, expected one of `inherit`, `ignore_default_excludes`, `exclude`, `set`, `include_only`",
    );
    check(&format!("{TABLE}includeOnly = []"), "error: unknown field `includeOnly`");
    check(
        &format!("{TABLE}inherit = \"some\""),
        "error: invalid value for `inherit`: unknown variant `some`, expected one of `all`, `core`, `none`",
    );
    check(
        &format!("{TABLE}inherit = \"Core\""),
        "error: invalid value for `inherit`: unknown variant `Core`",
    );
    check(&format!("{TABLE}inherit = 1"), "error: invalid value for `inherit`");
    check(
        &format!("{TABLE}ignore_default_excludes = \"yes\""),
        "error: invalid value for `ignore_default_excludes`: invalid type: string \"yes\", expected a boolean",
    );
    check(&format!("{TABLE}exclude = \"A*\""), "error: invalid value for `exclude`");
    check(&format!("{TABLE}set = {{ A = 1 }}"), "error: invalid value for `set`");
    check(&format!("{TABLE}include_only = [1]"), "error: invalid value for `include_only`");
    check("shell_environment_policy = 1", "error: invalid type: integer `1`, expected struct EnvPolicy");
}

#[test]
fn bare_table_deserializes_without_the_document() {
    let policy: EnvPolicy = toml::from_str("inherit = \"core\"\nexclude = [\"HOME\"]").unwrap();
    assert_eq!(policy, EnvPolicy::new(Inherit::Core).with_exclude("HOME"));
    let error = toml::from_str::<EnvPolicy>("bogus = true").unwrap_err();
    assert!(error.to_string().contains("unknown field `bogus`"), "{error}");
}

#[test]
fn round_trip() {
    let policy = EnvPolicy::new(Inherit::Core)
        .with_ignore_default_excludes(true)
        .with_exclude("*_PROXY")
        .with_set("CI", "1")
        .with_set("名前", "値")
        .with_include_only("P?TH")
        .with_include_only("");
    let document = PolicyDocument { shell_environment_policy: Some(policy) };
    let text = toml::to_string(&document).unwrap();
    assert_eq!(
        text,
        r#"[shell_environment_policy]
inherit = "core"
ignore_default_excludes = true
exclude = ["*_PROXY"]
include_only = ["P?TH", ""]

[shell_environment_policy.set]
CI = "1"
"名前" = "値"
"#
    );
    assert_eq!(toml::from_str::<PolicyDocument>(&text).unwrap(), document);

    for policy in [EnvPolicy::default(), EnvPolicy::new(Inherit::None)] {
        let document = PolicyDocument { shell_environment_policy: Some(policy) };
        let text = toml::to_string(&document).unwrap();
        assert_eq!(toml::from_str::<PolicyDocument>(&text).unwrap(), document, "{text}");
    }
    assert_eq!(toml::to_string(&PolicyDocument::default()).unwrap(), "");
}
