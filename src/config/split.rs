//! Owns where a config text's `[[providers]]` entries are, so a large fleet is parsed one
//! entry at a time.
//!
//! Parsing a 10,000-provider file as one document held every token, every event and
//! every table of it at once (38 MB of heap at start, for a 1.3 MB file), and the process
//! kept that size. [`split`] reads the text once with the TOML lexer itself (the one
//! `toml` uses), without keeping its tokens, and tells which byte ranges belong to which
//! `[[providers]]` entry and which to the rest of the document. A header is only ever
//! recognised at the start of a line outside any value, so brackets in strings, comments
//! and multi-line arrays are never taken for one.
//!
//! It answers `None` whenever it cannot place a part for certain (a `[providers]` table,
//! a `providers` key outside an array of tables, a sub-table before any entry): the
//! caller then parses the whole document as before, so anything invalid is reported
//! exactly as the TOML parser reports it.

use std::ops::Range;

use toml_parser::lexer::TokenKind;
use toml_parser::Source;

/// The document cut in two: the ranges that make up everything but the providers, and
/// per `[[providers]]` entry (in file order) the ranges that make it up (the entry's own
/// section, then any `[providers.x]` sub-table written further down).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Split {
    pub(crate) rest: Vec<Range<usize>>,
    pub(crate) providers: Vec<Vec<Range<usize>>>,
}

impl Split {
    /// The text of the given ranges, one after the other.
    pub(crate) fn text(source: &str, ranges: &[Range<usize>]) -> String {
        let mut out = String::with_capacity(ranges.iter().map(|r| r.len() + 1).sum());
        for r in ranges {
            out.push_str(&source[r.clone()]);
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }
}

/// Where a section goes.
enum Owner {
    Rest,
    /// The `[[providers]]` entry with this index.
    Provider(usize),
}

/// What a header says about `providers`.
enum Header {
    /// `[[providers]]`: a new entry.
    NewProvider,
    /// `[providers.x]` or `[[providers.x]]`: part of the last entry.
    ProviderPart,
    /// Any other table.
    Other,
    /// Something this reader does not place for certain.
    Unsure,
}

/// The ranges of the rest and of each `[[providers]]` entry, or `None` when the
/// whole document must be parsed at once (see the module doc).
pub(crate) fn split(text: &str) -> Option<Split> {
    let source = Source::new(text);
    let mut tokens = source.lex().peekable();
    let mut out = Split::default();
    let mut owner = Owner::Rest;
    let mut section_start = 0usize;
    let mut depth = 0usize;
    let mut line_start = true;
    let mut before_first_header = true;

    let close = |out: &mut Split, owner: &Owner, range: Range<usize>| {
        if range.is_empty() {
            return;
        }
        match owner {
            Owner::Rest => out.rest.push(range),
            Owner::Provider(i) => out.providers[*i].push(range),
        }
    };

    while let Some(token) = tokens.next() {
        let kind = token.kind();
        let span = token.span();
        match kind {
            TokenKind::Eof => break,
            TokenKind::Whitespace | TokenKind::Comment => continue,
            TokenKind::Newline => {
                if depth == 0 {
                    line_start = true;
                }
                continue;
            }
            TokenKind::LeftSquareBracket if line_start && depth == 0 => {
                let start = span.start();
                let array = tokens.peek().is_some_and(|t| {
                    t.kind() == TokenKind::LeftSquareBracket && t.span().start() == span.end()
                });
                if array {
                    tokens.next();
                }
                // The header's keys, up to its closing bracket.
                let mut keys = Vec::new();
                loop {
                    let t = tokens.next()?;
                    match t.kind() {
                        TokenKind::Whitespace => {}
                        TokenKind::RightSquareBracket => break,
                        TokenKind::Newline | TokenKind::Eof => return None,
                        _ => keys.push(t),
                    }
                }
                if array && tokens.next().map(|t| t.kind()) != Some(TokenKind::RightSquareBracket) {
                    return None;
                }
                let first_is_providers = keys.first().is_some_and(|k| is_providers(text, k));
                let header = match (array, first_is_providers, keys.len()) {
                    (_, false, _) => Header::Other,
                    (true, true, 1) => Header::NewProvider,
                    (_, true, n) if n >= 3 && keys[1].kind() == TokenKind::Dot => {
                        Header::ProviderPart
                    }
                    _ => Header::Unsure,
                };
                close(&mut out, &owner, section_start..start);
                section_start = start;
                owner = match header {
                    Header::Other => Owner::Rest,
                    Header::NewProvider => {
                        out.providers.push(Vec::new());
                        Owner::Provider(out.providers.len() - 1)
                    }
                    Header::ProviderPart if !out.providers.is_empty() => {
                        Owner::Provider(out.providers.len() - 1)
                    }
                    Header::ProviderPart | Header::Unsure => return None,
                };
                before_first_header = false;
                line_start = false;
            }
            _ => {
                // A key at the top level naming `providers` (a dotted or inline form)
                // would meet the entries: leave that to the whole-document parse.
                if line_start && depth == 0 && before_first_header && is_providers(text, &token) {
                    return None;
                }
                line_start = false;
                match kind {
                    TokenKind::LeftSquareBracket | TokenKind::LeftCurlyBracket => depth += 1,
                    TokenKind::RightSquareBracket | TokenKind::RightCurlyBracket => {
                        depth = depth.saturating_sub(1);
                    }
                    _ => {}
                }
            }
        }
    }
    close(&mut out, &owner, section_start..text.len());
    Some(out)
}

/// Whether a key token names `providers` (bare, or quoted without escapes).
fn is_providers(text: &str, token: &toml_parser::lexer::Token) -> bool {
    let raw = &text[token.span().start()..token.span().end()];
    match token.kind() {
        TokenKind::Atom => raw == "providers",
        TokenKind::BasicString => raw == "\"providers\"",
        TokenKind::LiteralString => raw == "'providers'",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> (String, Vec<String>) {
        let s = split(text).expect("splits");
        (
            Split::text(text, &s.rest),
            s.providers.iter().map(|p| Split::text(text, p)).collect(),
        )
    }

    #[test]
    fn each_entry_and_its_sub_tables_are_cut_out_of_the_rest() {
        let text = "\
# top
[probe]
interval = \"30s\"

[[providers]]
id = \"a\"
url = \"http://x/[[providers]]\" # a bracket in a string
argv = [
  [\"nested\"],
]
[providers.headers]
X = \"1\"

[[models]]
id = \"m\"

[[providers]]
id = \"b\"

[providers.headers]
Y = '2'
";
        let (rest, providers) = parts(text);
        assert_eq!(
            rest,
            "# top\n[probe]\ninterval = \"30s\"\n\n[[models]]\nid = \"m\"\n\n"
        );
        assert_eq!(providers.len(), 2);
        assert_eq!(
            providers[0],
            "[[providers]]\nid = \"a\"\nurl = \"http://x/[[providers]]\" # a bracket in a string\nargv = [\n  [\"nested\"],\n]\n[providers.headers]\nX = \"1\"\n\n"
        );
        assert_eq!(
            providers[1],
            "[[providers]]\nid = \"b\"\n\n[providers.headers]\nY = '2'\n"
        );
    }

    #[test]
    fn a_sub_table_after_another_section_still_belongs_to_the_last_entry() {
        let text = "[[providers]]\nid = \"a\"\n[probe]\ninterval = \"5s\"\n[providers.headers]\nX = \"1\"\n";
        let (rest, providers) = parts(text);
        assert_eq!(rest, "[probe]\ninterval = \"5s\"\n");
        assert_eq!(
            providers,
            vec!["[[providers]]\nid = \"a\"\n[providers.headers]\nX = \"1\"\n"]
        );
    }

    #[test]
    fn quoted_and_spaced_headers_are_recognised() {
        let text = "[[ \"providers\" ]]\nid = \"a\"\n[ 'providers' . headers ]\nX = \"1\"\n";
        let (rest, providers) = parts(text);
        assert_eq!(rest, "");
        assert_eq!(providers.len(), 1);
    }

    #[test]
    fn forms_it_cannot_place_fall_back_to_the_whole_document() {
        for text in [
            "[providers]\nid = \"a\"\n",
            "providers = [{ id = \"a\" }]\n",
            "\"providers\".x = 1\n[[providers]]\nid = \"b\"\n",
            "[providers.headers]\nX = \"1\"\n",
            "[[providers]\nid = \"a\"\n",
        ] {
            assert_eq!(split(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_file_without_providers_is_all_rest() {
        let text = "[probe]\ninterval = \"30s\"\n";
        let (rest, providers) = parts(text);
        assert_eq!(rest, text);
        assert!(providers.is_empty());
    }
}
