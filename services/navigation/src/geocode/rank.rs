//! Ranking of forward-geocoding candidates, in Rust so that both SQL engines rank alike.
//!
//! The SQL side only narrows the table to rows whose `search_text` has every word of the
//! query as a token prefix; [`score`] then orders them:
//! 1. the query names the place fully (every token of its name is in the query and every word
//!    of the query is a whole token of the place), with a bonus when the name equals the query;
//! 2. the share of query tokens found as whole tokens, then as prefixes; tokens found nowhere
//!    cost points;
//! 3. for a place with a house number, a query number equal to it comes first and a different
//!    number pushes it below the street itself;
//! 4. the place's importance (`rank_weight`) and, when given, closeness to the `near` point.

use geo_core::{LatLon, haversine_m};

use super::normalize::{is_numeric, tokens};

/// Query tokens beyond this many are ignored.
pub const MAX_TOKENS: usize = 10;
/// Longer tokens are cut to this many characters (they can still match as a prefix).
pub const MAX_TOKEN_CHARS: usize = 64;

/// A parsed query.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// Distinct normalised tokens, at most [`MAX_TOKENS`].
    pub tokens: Vec<String>,
    /// The tokens joined by single spaces.
    pub text: String,
}

impl Query {
    pub fn parse(text: &str) -> Query {
        let mut tokens = tokens(text);
        tokens.truncate(MAX_TOKENS);
        for token in &mut tokens {
            if token.chars().count() > MAX_TOKEN_CHARS {
                *token = token.chars().take(MAX_TOKEN_CHARS).collect();
            }
        }
        let text = tokens.join(" ");
        Query { tokens, text }
    }

    /// Tokens every candidate must contain as a token prefix: the words, or every token when
    /// the query is only numbers. Numbers next to words are optional, so that "Street 999"
    /// still finds the street when no such house number exists.
    pub fn required(&self) -> Vec<&str> {
        let words: Vec<&str> = self
            .tokens
            .iter()
            .map(String::as_str)
            .filter(|t| !is_numeric(t))
            .collect();
        if words.is_empty() {
            self.tokens.iter().map(String::as_str).collect()
        } else {
            words
        }
    }

    /// The query without the `dropped` tokens.
    pub fn without(&self, dropped: &[&str]) -> Query {
        let tokens: Vec<String> = self
            .tokens
            .iter()
            .filter(|t| !dropped.contains(&t.as_str()))
            .cloned()
            .collect();
        let text = tokens.join(" ");
        Query { tokens, text }
    }

    fn numbers(&self) -> impl Iterator<Item = &str> {
        self.tokens
            .iter()
            .map(String::as_str)
            .filter(|t| is_numeric(t))
    }
}

/// What ranking needs of a stored row.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub place_id: String,
    pub name: String,
    pub formatted_address: String,
    pub kind: String,
    pub housenumber: Option<String>,
    pub lat: f64,
    pub lon: f64,
    /// Normalised tokens, space-separated, with a space at both ends.
    pub search_text: String,
    pub rank_weight: f64,
}

impl Candidate {
    /// The place's coordinate, `None` when the stored row holds an invalid one.
    pub fn point(&self) -> Option<LatLon> {
        LatLon::new(self.lat, self.lon).ok()
    }
}

/// Higher is better. See the module documentation for the rules.
pub fn score(query: &Query, c: &Candidate, near: Option<(f64, f64)>) -> f64 {
    let place_tokens: Vec<&str> = c.search_text.split_whitespace().collect();
    let n = query.tokens.len().max(1) as f64;
    let (mut whole, mut prefix, mut missing) = (0usize, 0usize, 0usize);
    let mut words_whole = true;
    for t in &query.tokens {
        if place_tokens.contains(&t.as_str()) {
            whole += 1;
            continue;
        }
        if place_tokens.iter().any(|p| p.starts_with(t.as_str())) {
            prefix += 1;
        } else {
            missing += 1;
        }
        words_whole &= is_numeric(t);
    }
    let mut score = 30.0 * whole as f64 / n + 10.0 * prefix as f64 / n - 40.0 * missing as f64 / n;
    let name_tokens = tokens(&c.name);
    // Numbers are left out here: "Street 5" names the street fully when there is no number 5.
    let named_fully = words_whole
        && !name_tokens.is_empty()
        && name_tokens.iter().all(|t| query.tokens.contains(t));
    if named_fully {
        score += 50.0;
        if name_tokens.join(" ") == query.text {
            score += 10.0;
        }
    }
    if let Some(number) = &c.housenumber {
        let number_tokens = tokens(number);
        if query.numbers().next().is_some() {
            if !number_tokens.is_empty() && number_tokens.iter().all(|t| query.tokens.contains(t)) {
                score += 25.0;
            } else {
                score -= 20.0;
            }
        }
    }
    score += 10.0 * c.rank_weight;
    if let Some((lat, lon)) = near {
        // `near` is checked by the caller; a stored row with a bad coordinate just gets no
        // closeness term.
        let d = match (LatLon::new(lat, lon), c.point()) {
            (Ok(a), Some(b)) => haversine_m(a, b),
            _ => f64::NAN,
        };
        if d.is_finite() {
            score += 10.0 * (-d / 10_000.0).exp();
        }
    }
    score
}

/// Google place types for a stored `kind`.
pub fn types_for(kind: &str) -> Vec<String> {
    let extra: &[&str] = match kind {
        "locality" | "sublocality" | "neighborhood" => &["political"],
        "point_of_interest" => &["establishment"],
        _ => &[],
    };
    std::iter::once(kind)
        .chain(extra.iter().copied())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(
        id: &str,
        name: &str,
        kind: &str,
        number: Option<&str>,
        text: &str,
        w: f64,
    ) -> Candidate {
        Candidate {
            place_id: id.into(),
            name: name.into(),
            formatted_address: name.into(),
            kind: kind.into(),
            housenumber: number.map(str::to_string),
            lat: 60.0,
            lon: 25.0,
            search_text: format!(" {text} "),
            rank_weight: w,
        }
    }

    fn order(q: &str, cands: &[Candidate]) -> Vec<String> {
        let q = Query::parse(q);
        let mut scored: Vec<(f64, &Candidate)> =
            cands.iter().map(|c| (score(&q, c, None), c)).collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored
            .into_iter()
            .map(|(_, c)| c.place_id.clone())
            .collect()
    }

    fn sample() -> Vec<Candidate> {
        vec![
            cand(
                "route",
                "Mannerheimintie",
                "route",
                None,
                "mannerheimintie helsinki",
                0.6,
            ),
            cand(
                "a5",
                "Mannerheimintie 5",
                "street_address",
                Some("5"),
                "mannerheimintie 5 00100 helsinki",
                0.3,
            ),
            cand(
                "a50",
                "Mannerheimintie 50",
                "street_address",
                Some("50"),
                "mannerheimintie 50 helsinki",
                0.3,
            ),
            cand(
                "poi",
                "Kafe",
                "point_of_interest",
                Some("5"),
                "kafe mannerheimintie 5 helsinki",
                0.4,
            ),
            cand(
                "city",
                "Helsinki",
                "locality",
                None,
                "helsinki helsingfors",
                1.0,
            ),
        ]
    }

    #[test]
    fn street_then_addresses() {
        let order = order("Mannerheimintie", &sample());
        assert_eq!(order[0], "route");
    }

    #[test]
    fn address_number_first_in_any_order() {
        for q in [
            "Mannerheimintie 5",
            "5 mannerheimintie",
            "MANNERHEIMINTIE 5, Helsinki",
        ] {
            let order = order(q, &sample());
            let at = |id: &str| order.iter().position(|o| o == id).unwrap();
            assert_eq!(order[0], "a5", "{q}");
            assert!(
                at("poi") < at("a50") && at("route") < at("a50"),
                "{q}: {order:?}"
            );
        }
        // A number that matches nothing still ranks the street above other numbers.
        let order = order("Mannerheimintie 7", &sample());
        assert_eq!(order[0], "route");
    }

    #[test]
    fn exact_name_and_importance() {
        assert_eq!(order("helsinki", &sample())[0], "city");
        assert_eq!(order("helsingfors", &sample())[0], "city");
    }

    #[test]
    fn query_limits() {
        let q = Query::parse(&"abc ".repeat(100));
        assert_eq!(q.tokens, vec!["abc"]);
        let q = Query::parse(
            &(0..50)
                .map(|i| format!("w{i}"))
                .collect::<Vec<_>>()
                .join(" "),
        );
        assert_eq!(q.tokens.len(), MAX_TOKENS);
        let q = Query::parse(&"x".repeat(1000));
        assert_eq!(q.tokens[0].len(), MAX_TOKEN_CHARS);
        assert_eq!(Query::parse("5 Main").required(), vec!["main"]);
        assert_eq!(Query::parse("00100").required(), vec!["00100"]);
    }

    #[test]
    fn types() {
        assert_eq!(types_for("locality"), vec!["locality", "political"]);
        assert_eq!(
            types_for("point_of_interest"),
            vec!["point_of_interest", "establishment"]
        );
        assert_eq!(types_for("route"), vec!["route"]);
    }
}
