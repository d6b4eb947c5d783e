//! [`utf8_vars_os`]: which OS variables become UTF-8 pairs and which are set aside by name.
//!
//! Invalid Unicode is built per platform (a stray `0xff` byte on Unix, a lone surrogate on
//! Windows) so the cases themselves are the same everywhere.

use std::ffi::OsString;

use shell_env_policy::{EnvPolicy, Inherit, utf8_vars_os};

/// `text` followed by something that is not valid Unicode.
fn not_unicode(text: &str) -> OsString {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(0xff);
        OsString::from_vec(bytes)
    }
    #[cfg(windows)]
    {
        use std::os::windows::ffi::OsStringExt;
        let mut wide: Vec<u16> = text.encode_utf16().collect();
        wide.push(0xd800);
        OsString::from_wide(&wide)
    }
}

/// Splits `input` and compares the kept pairs (rendered `NAME=value`, sorted) and the skipped
/// names (debug-printed, in input order).
#[track_caller]
fn check(input: Vec<(OsString, OsString)>, expect_vars: &str, expect_skipped: &str) {
    let split = utf8_vars_os(input);
    let vars: Vec<String> = split.vars.iter().map(|(name, value)| format!("{name}={value}")).collect();
    assert_eq!(vars.join(" "), expect_vars);
    assert_eq!(format!("{:?}", split.skipped), expect_skipped);
}

fn os(name: &str, value: &str) -> (OsString, OsString) {
    (name.into(), value.into())
}

#[test]
fn unicode_variables_are_kept() {
    check(vec![], "", "[]");
    check(vec![os("PATH", "/bin"), os("名前", "値"), os("A-B", "")], "A-B= PATH=/bin 名前=値", "[]");
    check(vec![os("A", "1"), os("A", "2")], "A=2", "[]");
}

#[test]
fn invalid_unicode_is_set_aside_by_name() {
    check(
        vec![os("PATH", "/bin"), (OsString::from("BAD_VALUE"), not_unicode("x"))],
        "PATH=/bin",
        r#"["BAD_VALUE"]"#,
    );
    check(
        vec![(not_unicode("N"), OsString::from("v")), os("OK", "1")],
        "OK=1",
        &format!("[{:?}]", not_unicode("N")),
    );
    check(
        vec![(not_unicode("B"), not_unicode("v")), (OsString::from("A"), not_unicode("v"))],
        "",
        &format!("[{:?}, \"A\"]", not_unicode("B")),
    );
}

#[test]
fn split_vars_feed_a_policy() {
    let server = utf8_vars_os(vec![
        os("PATH", "/bin"),
        os("EDITOR", "vi"),
        (OsString::from("HOME"), not_unicode("/h")),
    ]);
    let child = EnvPolicy::new(Inherit::Core).apply(&server.vars);
    assert_eq!(child.into_iter().collect::<Vec<_>>(), [("PATH".to_owned(), "/bin".to_owned())]);
    assert_eq!(server.skipped, [OsString::from("HOME")]);
}
