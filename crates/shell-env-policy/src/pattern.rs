//! Name patterns: whole-name globs with `*` and `?`, compared without regard to case.
//!
//! A [`PatternSet`] is compiled once per evaluation and then asked about every name. This module
//! fixes the dialect (case-insensitive, no escapes, no character classes) and matches in time
//! linear in the name for everything but long `?`-holding pieces (see below): patterns and names
//! arrive from clients, and the backtracking matcher this replaced spent 5-6 s of a runtime
//! worker on one 60 kB pattern against a 120 kB name. It is not public: callers speak in pattern
//! strings on [`EnvPolicy`](crate::EnvPolicy).
//!
//! # How a glob is matched
//!
//! A pattern is split at its `*`s into pieces. Without a star the single piece must cover the
//! whole name. Otherwise the first piece is anchored at the start, the last at the end, and each
//! piece between them is found at its leftmost place after the previous one; taking the leftmost
//! place is always right because a `*` on both sides absorbs whatever lies between. So no piece is
//! ever retried, and the work is one left-to-right search per piece:
//! - a piece without `?` is found with Knuth-Morris-Pratt: at most two steps per name character;
//! - a piece with `?` is found with the bit-parallel Shift-And search: one step per name
//!   character and per 64 pattern characters of the piece.
//!
//! Case is ignored the way `char::to_lowercase` sees it (the former engine's rule): both sides are
//! folded once, character by character, before matching.

use std::collections::HashMap;

/// A list of compiled patterns that answers "does any of them match this whole name?".
#[derive(Debug, Clone, Default)]
pub(crate) struct PatternSet {
    patterns: Vec<Glob>,
}

impl PatternSet {
    /// Compiles each pattern once; matching never re-parses them.
    pub(crate) fn new<S: AsRef<str>>(patterns: impl IntoIterator<Item = S>) -> PatternSet {
        PatternSet { patterns: patterns.into_iter().map(|pattern| Glob::new(pattern.as_ref())).collect() }
    }

    /// True when the set holds no pattern at all (an empty *pattern* is still a pattern).
    pub(crate) fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when at least one pattern matches the entire name.
    pub(crate) fn matches_any(&self, name: &str) -> bool {
        self.matches_any_counting(name, &mut 0)
    }

    /// [`PatternSet::matches_any`], adding the steps spent to `steps` (for the tests that check
    /// the work stays linear).
    fn matches_any_counting(&self, name: &str, steps: &mut u64) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        let name: Vec<char> = name.chars().map(fold).collect();
        self.patterns.iter().any(|pattern| pattern.matches(&name, steps))
    }
}

/// The case-folded form of one character: its lowercase when that is a single character. The
/// one character whose lowercase is two (`İ`, U+0130) stays itself, which keeps it equal only to
/// itself, as before.
fn fold(character: char) -> char {
    let mut lower = character.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(single), None) => single,
        _ => character,
    }
}

/// One compiled pattern: its pieces between `*`s.
#[derive(Debug, Clone)]
struct Glob {
    /// At least one piece (possibly empty); `pieces.len() - 1` stars separated them.
    pieces: Vec<Piece>,
}

impl Glob {
    fn new(pattern: &str) -> Glob {
        Glob { pieces: pattern.split('*').map(Piece::new).collect() }
    }

    fn matches(&self, name: &[char], steps: &mut u64) -> bool {
        let (first, rest) = self.pieces.split_first().expect("split yields at least one piece");
        let Some((last, middle)) = rest.split_last() else {
            // No star: the one piece is the whole name.
            *steps += name.len() as u64;
            return name.len() == first.len() && first.matches_at(name, 0);
        };
        if first.len() + last.len() > name.len() {
            *steps += 1;
            return false;
        }
        *steps += (first.len() + last.len()) as u64;
        if !first.matches_at(name, 0) || !last.matches_at(name, name.len() - last.len()) {
            return false;
        }
        let mut text = &name[first.len()..name.len() - last.len()];
        for piece in middle {
            match piece.find_in(text, steps) {
                Some(end) => text = &text[end..],
                None => return false,
            }
        }
        true
    }
}

/// The text between two stars (or an end of the pattern and a star).
#[derive(Debug, Clone)]
struct Piece {
    /// Folded characters; `None` is a `?`.
    tokens: Vec<Option<char>>,
    search: Search,
}

/// How a piece is found inside a name, prepared once per pattern.
#[derive(Debug, Clone)]
enum Search {
    /// No `?`: Knuth-Morris-Pratt with this failure table (`failure[i]` is the length of the
    /// longest proper border of the first `i + 1` characters).
    Literal { failure: Vec<usize> },
    /// At least one `?`: Shift-And. Bit `i` of a mask stands for piece position `i`; `wildcard`
    /// has the bits of the `?` positions, `by_char` adds each character's own positions.
    Wildcard { wildcard: Vec<u64>, by_char: HashMap<char, Vec<u64>> },
}

impl Piece {
    fn new(text: &str) -> Piece {
        let tokens: Vec<Option<char>> = text
            .chars()
            .map(|character| if character == '?' { None } else { Some(fold(character)) })
            .collect();
        let search = if tokens.iter().all(Option::is_some) {
            Search::Literal { failure: failure_table(&tokens) }
        } else {
            let words = tokens.len().div_ceil(64);
            let mut wildcard = vec![0_u64; words];
            let mut by_char: HashMap<char, Vec<u64>> = HashMap::new();
            for (position, token) in tokens.iter().enumerate() {
                let (word, bit) = (position / 64, 1_u64 << (position % 64));
                match token {
                    None => wildcard[word] |= bit,
                    Some(character) => {
                        by_char.entry(*character).or_insert_with(|| vec![0; words])[word] |= bit
                    }
                }
            }
            for mask in by_char.values_mut() {
                for (word, wildcard_word) in mask.iter_mut().zip(&wildcard) {
                    *word |= wildcard_word;
                }
            }
            Search::Wildcard { wildcard, by_char }
        };
        Piece { tokens, search }
    }

    fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the piece matches `name` at `start` (the caller checked the length fits).
    fn matches_at(&self, name: &[char], start: usize) -> bool {
        self.tokens
            .iter()
            .zip(&name[start..])
            .all(|(token, character)| token.is_none_or(|wanted| wanted == *character))
    }

    /// The end (exclusive) of the piece's leftmost occurrence in `text`, if any.
    fn find_in(&self, text: &[char], steps: &mut u64) -> Option<usize> {
        if self.tokens.is_empty() {
            return Some(0);
        }
        match &self.search {
            Search::Literal { failure } => kmp_find(&self.tokens, failure, text, steps),
            Search::Wildcard { wildcard, by_char } => {
                shift_and_find(self.len(), wildcard, by_char, text, steps)
            }
        }
    }
}

/// The Knuth-Morris-Pratt failure table of a `?`-free piece.
fn failure_table(tokens: &[Option<char>]) -> Vec<usize> {
    let mut failure = vec![0; tokens.len()];
    let mut border = 0;
    for index in 1..tokens.len() {
        while border > 0 && tokens[index] != tokens[border] {
            border = failure[border - 1];
        }
        if tokens[index] == tokens[border] {
            border += 1;
        }
        failure[index] = border;
    }
    failure
}

/// Knuth-Morris-Pratt: each text character is read once and each fallback undoes an earlier
/// advance, so at most `2 * text.len()` steps.
fn kmp_find(tokens: &[Option<char>], failure: &[usize], text: &[char], steps: &mut u64) -> Option<usize> {
    let mut matched = 0;
    for (index, character) in text.iter().enumerate() {
        *steps += 1;
        while matched > 0 && tokens[matched] != Some(*character) {
            *steps += 1;
            matched = failure[matched - 1];
        }
        if tokens[matched] == Some(*character) {
            matched += 1;
            if matched == tokens.len() {
                return Some(index + 1);
            }
        }
    }
    None
}

/// Shift-And over a multi-word state: after reading a character, bit `i` of `state` says the
/// last `i + 1` characters match the piece's first `i + 1` positions.
fn shift_and_find(
    length: usize,
    wildcard: &[u64],
    by_char: &HashMap<char, Vec<u64>>,
    text: &[char],
    steps: &mut u64,
) -> Option<usize> {
    let words = wildcard.len();
    let (last_word, last_bit) = ((length - 1) / 64, 1_u64 << ((length - 1) % 64));
    let mut state = vec![0_u64; words];
    for (index, character) in text.iter().enumerate() {
        let mask = by_char.get(character).map_or(wildcard, Vec::as_slice);
        // Shift the whole state left by one bit, feeding a 1 in (a match may start anywhere).
        let mut carry = 1_u64;
        for (word, mask_word) in state.iter_mut().zip(mask) {
            *steps += 1;
            let next_carry = *word >> 63;
            *word = ((*word << 1) | carry) & mask_word;
            carry = next_carry;
        }
        if state[last_word] & last_bit != 0 {
            return Some(index + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{PatternSet, fold};

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

    /// The obvious recursive matcher: exponential, but unquestionable on tiny inputs.
    fn reference(pattern: &[char], name: &[char]) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some(('*', rest)) => (0..=name.len()).any(|skip| reference(rest, &name[skip..])),
            Some(('?', rest)) => !name.is_empty() && reference(rest, &name[1..]),
            Some((wanted, rest)) => {
                name.first().is_some_and(|character| fold(*character) == fold(*wanted))
                    && reference(rest, &name[1..])
            }
        }
    }

    /// Every string of `alphabet` up to `max_length` characters.
    fn all_strings(alphabet: &[char], max_length: usize) -> Vec<String> {
        let mut strings = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..max_length {
            last = last
                .iter()
                .flat_map(|prefix| alphabet.iter().map(move |character| format!("{prefix}{character}")))
                .collect();
            strings.extend(last.iter().cloned());
        }
        strings
    }

    #[test]
    fn agrees_with_the_reference_on_every_small_case() {
        let names = all_strings(&['a', 'b', 'A'], 6);
        for pattern in all_strings(&['a', 'b', '?', '*'], 5) {
            let set = PatternSet::new([&pattern]);
            let pattern_chars: Vec<char> = pattern.chars().collect();
            for name in &names {
                let name_chars: Vec<char> = name.chars().collect();
                assert_eq!(
                    set.matches_any(name),
                    reference(&pattern_chars, &name_chars),
                    "{pattern:?} on {name:?}"
                );
            }
        }
    }

    #[test]
    fn wildcard_pieces_longer_than_one_word_match() {
        // Shift-And across 64-bit words: a `?` piece of 130 positions.
        let pattern = format!("*x{}y*", "?".repeat(128));
        check(&pattern, &format!("ab{}x{}yz", "q".repeat(70), "w".repeat(128)), true);
        check(&pattern, &format!("x{}y", "w".repeat(127)), false);
        check(&format!("*{}", "a?".repeat(40)), &"ab".repeat(40), true);
        check(&format!("*{}", "a?".repeat(40)), &"ba".repeat(40), false);
    }

    /// Steps spent matching `pattern` against `name`, checked against a linear bound.
    #[track_caller]
    fn check_work(pattern: &str, name: &str, expect_match: bool, bound: u64) {
        let mut steps = 0;
        let matched = PatternSet::new([pattern]).matches_any_counting(name, &mut steps);
        assert_eq!(matched, expect_match);
        assert!(steps <= bound, "{steps} steps, more than the bound {bound}");
    }

    #[test]
    fn hostile_patterns_cost_linear_work() {
        // Sizes of the issue-12 reproduction: 120 kB names, patterns of 60-120 kB. A backtracking
        // matcher does about n * m / 4 = 1.8e9 steps on the first case.
        const SIZE: usize = 120_000;
        let name = "a".repeat(SIZE);
        let linear = 2 * (2 * SIZE as u64) + 2;
        check_work(&format!("*{}b*", "a".repeat(SIZE / 2)), &name, false, linear);
        check_work(&format!("{}*b", "*a".repeat(SIZE / 2)), &name, false, linear);
        check_work(&format!("*{}b", "a".repeat(SIZE - 2)), &name, false, linear);
        check_work(&format!("*{}*", "a".repeat(SIZE / 2)), &name, true, linear);
        check_work(
            &format!("*{}*{}*", "ab".repeat(SIZE / 4), "ba".repeat(10)),
            &"ab".repeat(SIZE / 2),
            true,
            linear,
        );
        // `?` pieces: one step per name character and per 64 piece positions.
        let piece = SIZE / 2;
        let words = piece.div_ceil(64) as u64;
        check_work(&format!("*{}b*", "a?".repeat(piece / 2)), &name, false, SIZE as u64 * words + linear);
        // A short `?` piece, the realistic case, stays within a few steps per character.
        check_work(&format!("*{}b*", "a?".repeat(16)), &name, false, linear);
    }
}
