//! How client-controlled strings (a `clientName`, a `processId`, a method name) enter the log:
//! cut to [`MAX_LOGGED_BYTES`] with a marker saying how much was left out, and with control
//! characters escaped so a string cannot forge log lines. One hostile client sending twenty
//! 1 MiB client names used to write 20 MiB of log.
//!
//! This only shapes log output; it never changes what the protocol carries or compares.

use std::fmt;

/// The most bytes of one client-controlled string that reach the log.
pub(crate) const MAX_LOGGED_BYTES: usize = 256;

/// Displays a client-controlled string for the log: at most [`MAX_LOGGED_BYTES`] (cut on a
/// character boundary), then `…[N more bytes]` if anything was cut; control characters are
/// written as Rust escapes (`\n`, `\u{1b}`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clipped<'a>(pub(crate) &'a str);

impl fmt::Display for Clipped<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0;
        let mut end = text.len().min(MAX_LOGGED_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        for character in text[..end].chars() {
            if character.is_control() {
                write!(formatter, "{}", character.escape_default())?;
            } else {
                fmt::Write::write_char(formatter, character)?;
            }
        }
        if end < text.len() {
            write!(formatter, "…[{} more bytes]", text.len() - end)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Clipped;

    #[track_caller]
    fn check(input: &str, expect: &str) {
        assert_eq!(Clipped(input).to_string(), expect);
    }

    #[test]
    fn clipping() {
        check("codex", "codex");
        check("", "");
        check(&"x".repeat(256), &"x".repeat(256));
        check(&"x".repeat(257), &format!("{}…[1 more bytes]", "x".repeat(256)));
        // A 3-byte character straddling the cut is left out whole.
        check(&format!("{}€tail", "x".repeat(254)), &format!("{}…[7 more bytes]", "x".repeat(254)));
        check("line\nINFO forged", "line\\nINFO forged");
        check("\u{1b}[31mred", "\\u{1b}[31mred");
    }
}
