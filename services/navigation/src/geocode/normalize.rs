//! Text normalisation shared by the stored `search_text` and every query.
//!
//! Both sides go through [`normalize`], so matching is insensitive to case, accents,
//! punctuation and spacing, and the result can be put inside a `LIKE` pattern as is: it holds
//! only letters, digits and single spaces, never `%`, `_` or `\`.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Lowercases, strips accents (`São João` -> `sao joao`, `Töölö` -> `toolo`), folds a few
/// letters that have no decomposition (`ß` -> `ss`, `ø` -> `o`, ...), turns everything that is
/// not a letter or digit into a space, splits a house number from its letter (`5a` -> `5 a`)
/// and collapses spaces. The result has no leading or trailing space.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Whether a separator is due before the next kept character.
    let mut gap = false;
    // Whether the current token so far is all digits (for the `5a` split).
    let mut token_digits = false;
    let lowered = text.chars().flat_map(char::to_lowercase);
    for c in lowered.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        if !c.is_alphanumeric() {
            gap = true;
            continue;
        }
        let digit = c.is_ascii_digit();
        if !out.is_empty() && (gap || (token_digits && !digit)) {
            out.push(' ');
            token_digits = true;
        } else if out.is_empty() {
            token_digits = true;
        }
        gap = false;
        token_digits &= digit;
        match c {
            'ß' => out.push_str("ss"),
            'æ' => out.push_str("ae"),
            'œ' => out.push_str("oe"),
            'ø' => out.push('o'),
            'đ' | 'ð' => out.push('d'),
            'ł' => out.push('l'),
            'þ' => out.push_str("th"),
            'ı' => out.push('i'),
            _ => out.push(c),
        }
    }
    out
}

/// The distinct tokens of `normalize(text)`, in first-seen order.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for token in normalize(text).split(' ').filter(|t| !t.is_empty()) {
        if !out.iter().any(|t| t == token) {
            out.push(token.to_string());
        }
    }
    out
}

/// Whether a normalised token names a number (a house number or postcode) rather than a word.
pub fn is_numeric(token: &str) -> bool {
    token.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_accents_and_punctuation() {
        assert_eq!(normalize("São João"), "sao joao");
        assert_eq!(normalize("  Töölönkatu,  HELSINKI "), "toolonkatu helsinki");
        assert_eq!(normalize("Itä-Pasila"), "ita pasila");
        assert_eq!(normalize("Straße"), "strasse");
        assert_eq!(normalize("Østerbro"), "osterbro");
        assert_eq!(normalize("İstanbul"), "istanbul");
        assert_eq!(
            normalize("Rua de Sá da Bandeira, 4450-123"),
            "rua de sa da bandeira 4450 123"
        );
    }

    #[test]
    fn splits_house_number_letters() {
        assert_eq!(normalize("Mannerheimintie 5a"), "mannerheimintie 5 a");
        assert_eq!(normalize("5 A"), "5 a");
        assert_eq!(normalize("12-14"), "12 14");
        assert_eq!(normalize("a5"), "a5");
        assert_eq!(normalize("5a5"), "5 a5");
    }

    #[test]
    fn strips_like_wildcards_and_escapes() {
        assert_eq!(normalize("100% _x_ \\ '; drop table"), "100 x drop table");
        assert_eq!(normalize("%%__"), "");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn tokens_are_distinct() {
        assert_eq!(tokens("Rua Rua da Praia"), vec!["rua", "da", "praia"]);
        assert!(tokens("!!!").is_empty());
        assert!(is_numeric("00100"));
        assert!(!is_numeric("5a"));
    }
}
