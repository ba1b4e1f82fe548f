//! Before the hand-written parser goes: it and the pest grammar build the same tree (or the
//! same error) for every book of `rates/` and every rate source written in these tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

const HEAD: &str = "book test\neffective 2025-01-01\nunit credit scale 2 round half-up\n";

/// Every string literal of a Rust file, unescaped (normal and `r#"..."#` raw strings).
fn string_literals(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if chars[i] == 'r'
            && chars.get(i + 1) == Some(&'#')
            && chars.get(i + 2) == Some(&'"')
        {
            let start = i + 3;
            let mut end = start;
            while end + 1 < chars.len() && !(chars[end] == '"' && chars[end + 1] == '#') {
                end += 1;
            }
            out.push(chars[start..end].iter().collect());
            i = end + 2;
        } else if chars[i] == '\'' {
            // A char literal such as '"' or '\n' (lifetimes never hold a quote).
            if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else if chars.get(i + 1) == Some(&'\\') && chars.get(i + 3) == Some(&'\'') {
                i += 4;
            } else {
                i += 1;
            }
        } else if chars[i] == '"' {
            let mut s = String::new();
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                    match chars[i] {
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        'r' => s.push('\r'),
                        '0' => s.push('\0'),
                        '\n' => {
                            while i + 1 < chars.len() && chars[i + 1].is_whitespace() {
                                i += 1;
                            }
                        }
                        'u' => {
                            let close = (i..chars.len()).find(|j| chars[*j] == '}').unwrap();
                            let hex: String = chars[i + 2..close].iter().collect();
                            s.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                            i = close;
                        }
                        other => s.push(other),
                    }
                } else {
                    s.push(chars[i]);
                }
                i += 1;
            }
            out.push(s);
            i += 1;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn both_parsers_build_the_same_tree_for_every_book_and_test_source() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(format!("{root}/../rates")).unwrap() {
        let path = entry.unwrap().path();
        sources.push((
            path.display().to_string(),
            std::fs::read_to_string(&path).unwrap(),
        ));
    }
    let books = sources.len();
    for entry in std::fs::read_dir(format!("{root}/tests")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for literal in string_literals(&text) {
                let source = match literal.strip_prefix('+') {
                    Some(rest) => format!("{HEAD}{rest}"),
                    None => literal,
                };
                if source.contains('\n') {
                    sources.push((path.display().to_string(), source));
                }
            }
        }
    }
    let mut parsed = 0;
    for (origin, source) in &sources {
        let fast = credits_dsl::parse::parse(source);
        let grammar = credits_dsl::parse::parse_with_grammar(source);
        assert_eq!(fast, grammar, "{origin}:\n{source}");
        parsed += usize::from(grammar.is_ok());
    }
    println!("{} sources ({books} books), {parsed} parse", sources.len());
    assert!(
        sources.len() > 100 && parsed > 80,
        "{} sources, {parsed} parse",
        sources.len()
    );
}
