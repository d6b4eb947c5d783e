//! Name patterns: whole-name globs with `*` and `?`, compared without regard to case.
//!
//! A [`PatternSet`] is compiled once per evaluation and then asked about every name. The glob
//! engine is the `wildmatch` crate; this module only fixes the dialect (case-insensitive, no
//! escapes, no character classes) and the "any of these" question. It is not public: callers
//! speak in pattern strings on [`EnvPolicy`](crate::EnvPolicy).

use wildmatch::WildMatch;

/// A list of compiled patterns that answers "does any of them match this whole name?".
#[derive(Debug, Clone, Default)]
pub(crate) struct PatternSet {
    patterns: Vec<WildMatch>,
}

impl PatternSet {
    /// Compiles each pattern once; matching never re-parses them.
    pub(crate) fn new<S: AsRef<str>>(patterns: impl IntoIterator<Item = S>) -> PatternSet {
        let patterns =
            patterns.into_iter().map(|pattern| WildMatch::new_case_insensitive(pattern.as_ref())).collect();
        PatternSet { patterns }
    }

    /// True when the set holds no pattern at all (an empty *pattern* is still a pattern).
    pub(crate) fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when at least one pattern matches the entire name.
    pub(crate) fn matches_any(&self, name: &str) -> bool {
        self.patterns.iter().any(|pattern| pattern.matches(name))
    }
}

#[cfg(test)]
mod tests {
    use super::PatternSet;

    #[track_caller]
    fn check(pattern: &str, name: &str, expect_match: bool) {
        let matched = PatternSet::new([pattern]).matches_any(name);
        assert_eq!(matched, expect_match, "pattern {pattern:?} against name {name:?}");
    }

    #[test]
    fn literal_patterns_match_the_whole_name_only() {
        check("PATH", "PATH", true);
        check("PATH", "PATHEXT", false);
        check("PATH", "MY_PATH", false);
        check("PATH", "", false);
    }

    #[test]
    fn matching_ignores_case() {
        check("path", "PATH", true);
        check("PaTh", "pAtH", true);
        check("*key*", "API_KEY", true);
        check("*KEY*", "my_key", true);
        check("*ÉTÉ*", "l_été_x", true);
        check("名*", "名前", true);
    }

    #[test]
    fn star_matches_any_run_including_none() {
        check("*", "", true);
        check("*", "ANYTHING", true);
        check("*KEY*", "KEY", true);
        check("*KEY*", "API_KEY_ID", true);
        check("*KEY*", "KE_Y", false);
        check("A*B", "AB", true);
        check("A*B", "A_x_B", true);
        check("A*B", "A_x_B_", false);
        check("**", "x", true);
        check("*A*A*", "BANANA", true);
        check("*A*A*", "BAN", false);
    }

    #[test]
    fn question_mark_matches_exactly_one_character() {
        check("?", "", false);
        check("?", "A", true);
        check("?", "AB", false);
        check("LC_?", "LC_X", true);
        check("LC_?", "LC_", false);
        check("LC_?", "LC_ALL", false);
        check("名?", "名前", true);
        check("??", "名前", true);
        check("?*", "", false);
        check("?*", "X", true);
    }

    #[test]
    fn empty_pattern_matches_only_the_empty_name() {
        check("", "", true);
        check("", "A", false);
        check("", " ", false);
    }

    #[test]
    fn odd_characters_are_literal() {
        check("A-B", "a-b", true);
        check("1X", "1x", true);
        check("=C:", "=c:", true);
        check("=*", "=C:", true);
        check("A=B", "A=B", true);
        check("[AB]", "A", false);
        check("[AB]", "[ab]", true);
        check("A.B", "AxB", false);
        check("\\*", "\\anything", true);
    }

    #[test]
    fn a_set_matches_when_any_pattern_does() {
        let set = PatternSet::new(["*KEY*", "HOME", "T?P"]);
        assert!(set.matches_any("api_key"));
        assert!(set.matches_any("home"));
        assert!(set.matches_any("TMP"));
        assert!(!set.matches_any("TEMP"));
        assert!(!set.is_empty());

        let empty = PatternSet::new(Vec::<String>::new());
        assert!(empty.is_empty());
        assert!(!empty.matches_any(""));
        assert!(PatternSet::new([""]).matches_any(""));
    }
}
