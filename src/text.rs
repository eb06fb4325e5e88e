//! Sanitising file-derived text before it reaches a terminal.
//!
//! File names and error messages that embed them can carry control characters (an ESC starts a
//! terminal escape sequence) and Unicode format characters (U+202E turns the rest of a line
//! around). Everything kquant prints to stderr or stdout, and everything the TUI draws, goes
//! through [`sanitize`] or [`sanitize_path`] first. This module owns only that replacement; it
//! does not decide where text is printed.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

/// Returns `s` with every dangerous character replaced by a visible escape.
///
/// Control characters (C0, DEL, C1) and invisible format characters (bidi embeddings,
/// overrides and isolates, zero-width characters, the BOM, soft hyphen, tag characters, line
/// and paragraph separators) become `\x1b`-style escapes for code points below U+0100 and
/// `\u{202e}`-style escapes above. Borrows when nothing needs replacing.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_dangerous) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_dangerous(c) {
            let code = u32::from(c);
            // Writing to a String cannot fail.
            let _ = if code < 0x100 {
                write!(out, "\\x{code:02x}")
            } else {
                write!(out, "\\u{{{code:04x}}}")
            };
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Returns a printable form of `p`: lossy UTF-8, then [`sanitize`].
pub fn sanitize_path(p: &Path) -> String {
    sanitize(&p.to_string_lossy()).into_owned()
}

/// `s` as a JSON string literal (quotes included) that is also safe to print: besides what
/// RFC 8259 requires (`"`, `\\`, C0), DEL, C1 and every character [`sanitize`] escapes
/// (bidi controls, zero-width and other format characters, U+2028/9) are written as `\uXXXX`
/// escapes (surrogate pairs above U+FFFF). A JSON parser gets the exact text back; a terminal
/// showing the raw document sees only printable ASCII for them.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_dangerous(c) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    // Writing to a String cannot fail.
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// True for characters that must not reach a terminal raw.
fn is_dangerous(c: char) -> bool {
    c.is_control() // C0, DEL and C1
        || matches!(
            c,
            '\u{00AD}'                  // soft hyphen
            | '\u{061C}'                // Arabic letter mark
            | '\u{180E}'                // Mongolian vowel separator
            | '\u{200B}'..='\u{200F}'   // zero-width space/joiners, LRM, RLM
            | '\u{2028}'..='\u{202E}'   // line/paragraph separators, LRE RLE PDF LRO RLO
            | '\u{2060}'..='\u{2064}'   // word joiner, invisible operators
            | '\u{2066}'..='\u{206F}'   // LRI RLI FSI PDI and deprecated format controls
            | '\u{FEFF}'                // BOM / zero-width no-break space
            | '\u{FFF9}'..='\u{FFFB}'   // interlinear annotation
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}' // tag characters
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(sanitize("photo été.jpg"), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_are_neutralised() {
        let s = sanitize("bad\x1b[31m.jpg");
        assert_eq!(s, "bad\\x1b[31m.jpg");
        assert!(!s.contains('\x1b'));
    }

    #[test]
    fn c1_del_and_newlines_are_escaped() {
        assert_eq!(
            sanitize("a\u{9b}b\u{7f}c\nd\re\t"),
            "a\\x9bb\\x7fc\\x0ad\\x0de\\x09"
        );
    }

    #[test]
    fn bidi_and_format_characters_are_escaped() {
        assert_eq!(sanitize("x\u{202E}gpj.exe"), "x\\u{202e}gpj.exe");
        for c in [
            '\u{200E}', '\u{200F}', '\u{202A}', '\u{2066}', '\u{2069}', '\u{061C}', '\u{FEFF}',
        ] {
            let s = c.to_string();
            assert!(!sanitize(&s).contains(c), "{:04x}", u32::from(c));
        }
    }

    #[test]
    fn json_strings_escape_everything_dangerous() {
        assert_eq!(json_string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(json_string("x\x1b]0;t\x07\n"), r#""x\u001b]0;t\u0007\n""#);
        assert_eq!(
            json_string("\u{7f}\u{9b}\u{202e}"),
            r#""\u007f\u009b\u202e""#
        );
        // Above U+FFFF: a UTF-16 surrogate pair, as JSON requires.
        assert_eq!(json_string("\u{E0041}"), r#""\udb40\udc41""#);
        assert_eq!(json_string("été ✓"), r#""été ✓""#);
    }

    #[test]
    fn path_is_lossy_then_sanitised() {
        #[cfg(unix)]
        {
            use std::ffi::OsStr;
            use std::os::unix::ffi::OsStrExt;
            let p = Path::new(OsStr::from_bytes(b"dir/\xffname\x1b.png"));
            assert_eq!(sanitize_path(p), "dir/\u{FFFD}name\\x1b.png");
        }
        assert_eq!(sanitize_path(Path::new("a/b.png")), "a/b.png");
    }
}
