//! The one rule for free text that clients send (names, addresses, place queries): no
//! control characters.
//!
//! Control characters are the Unicode general category `Cc`: U+0000 to U+001F (tab, line
//! feeds and NUL included), U+007F and the C1 block U+0080 to U+009F. None belongs in a
//! single-line field; NUL in particular is refused by PostgreSQL's `text` (a 500 there)
//! while SQLite stores it, so checking here is what makes both backends answer alike.
//! Tab is refused too: every field this applies to is one line shown to people, where a
//! tab is an invisible way to make two equal-looking values differ.

use crate::ApiError;

/// The first control character of `value`, with its position in characters (0-based).
pub fn find_control(value: &str) -> Option<(usize, char)> {
    value.chars().enumerate().find(|(_, c)| c.is_control())
}

/// `Ok` when `value` holds no control character, else a 400 problem (`invalid-text`)
/// naming `field`, the code point and where it is.
pub fn check_printable(field: &str, value: &str) -> Result<(), ApiError> {
    match find_control(value) {
        None => Ok(()),
        Some((position, c)) => Err(ApiError::BadRequest {
            code: crate::problem::code::INVALID_TEXT,
            detail: format!(
                "{field} holds the control character U+{:04X} at character {position}; \
                 text fields take no control characters (U+0000 to U+001F, U+007F to U+009F)",
                c as u32
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_found_wherever_they_are() {
        for (text, expected) in [
            ("plain", None),
            ("Kahvila Esimerkki, Aleksanterinkatu 20", None),
            ("Café Ümlaut ☕ 東京 مقهى", None),
            ("nul\0here", Some((3, '\0'))),
            ("\ttab", Some((0, '\t'))),
            ("line\nfeed", Some((4, '\n'))),
            ("carriage\r", Some((8, '\r'))),
            ("del\u{7f}", Some((3, '\u{7f}'))),
            ("c1\u{85}next-line", Some((2, '\u{85}'))),
            ("c1 end\u{9f}", Some((6, '\u{9f}'))),
            ("é\u{1b}[31m", Some((1, '\u{1b}'))),
        ] {
            assert_eq!(find_control(text), expected, "{text:?}");
        }
        // The neighbours of the refused ranges pass.
        assert_eq!(find_control(" ~\u{a0}\u{a1}"), None);
    }

    #[test]
    fn the_refusal_is_a_400_naming_field_and_code_point() {
        let err = check_printable("name", "a\0b").unwrap_err();
        assert_eq!(err.status_code(), axum::http::StatusCode::BAD_REQUEST);
        let detail = err.to_string();
        assert!(
            detail.contains("name") && detail.contains("U+0000"),
            "{detail}"
        );
        assert!(check_printable("name", "ok").is_ok());
    }
}
