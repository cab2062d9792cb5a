//! The compiler and the runtime know no protocol: every protocol lives in a
//! spec under `specs/`. This test reads the code of `compiler/src`,
//! `runtime/src` and `templates/` and fails on a protocol's name (or one of
//! its words) in code or in a message, outside comments and unit-test
//! modules, which may use the specs as examples.

use std::path::{Path, PathBuf};

/// Names of the shipped protocols and of words only they give meaning to.
const PROTOCOL_WORDS: &[&str] = &[
    "smtp", "http", "dns", "ehlo", "helo", "rcpt", "bdat", "starttls", "mail", "qname",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every source file under `dir` (Rust, pest grammars, templates).
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source directory readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path
            .extension()
            .is_some_and(|ext| ext == "rs" || ext == "pest")
        {
            found.push(path);
        }
    }
}

/// The code of a file: from its first `#[cfg(test)]` on, nothing (unit-test
/// modules close our files); in every line, nothing from `//` on.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, line)| line.trim() != "#[cfg(test)]")
        .map(|(n, line)| (n + 1, line.split("//").next().unwrap_or_default()))
}

/// The protocol words of `line`, as whole words of letters (so `dns` in
/// `dnssec` does not count, `Mail` in `MailFrom` does).
fn protocol_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    for token in line.split(|c: char| !c.is_ascii_alphanumeric()) {
        // camelCase and snake_case parts are words too.
        let mut part = String::new();
        let mut parts = Vec::new();
        let mut previous = ' ';
        for c in token.chars() {
            if c.is_ascii_uppercase() && previous.is_ascii_lowercase() {
                parts.push(std::mem::take(&mut part));
            }
            part.push(c.to_ascii_lowercase());
            previous = c;
        }
        parts.push(part);
        words.extend(
            parts
                .into_iter()
                .filter(|p| PROTOCOL_WORDS.contains(&p.as_str())),
        );
    }
    words
}

#[test]
fn the_words_are_found_where_they_are() {
    assert_eq!(protocol_words("let x = \"SMTP\";"), ["smtp"]);
    assert_eq!(protocol_words("fn parse_http_line()"), ["http"]);
    assert_eq!(protocol_words("struct MailFrom;"), ["mail"]);
    assert!(protocol_words("let dnssec = mailbox + emails;").is_empty());
    let text =
        "let a = 1; // an SMTP example\n#[cfg(test)]\nmod tests { const S: &str = \"HELO\"; }\n";
    let found: Vec<_> = code_lines(text)
        .flat_map(|(_, l)| protocol_words(l))
        .collect();
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn no_protocol_is_named_in_the_compiler_the_runtime_or_the_templates() {
    let mut files = Vec::new();
    for dir in ["compiler/src", "runtime/src", "templates"] {
        sources(&repo().join(dir), &mut files);
    }
    assert!(files.len() > 40, "sources found: {}", files.len());
    let mut named = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("source readable");
        for (line_no, code) in code_lines(&text) {
            for word in protocol_words(code) {
                let shown = file.strip_prefix(repo()).unwrap_or(file).display();
                named.push(format!("{shown}:{line_no}: `{word}` in {}", code.trim()));
            }
        }
    }
    assert!(
        named.is_empty(),
        "protocol names in code:\n{}",
        named.join("\n")
    );
}
