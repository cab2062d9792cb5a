//! Diagnostics: the errors and warnings every stage reports, and their
//! rustc-style text rendering.
//!
//! A [`Diagnostic`] points at a byte span of one file and says what is wrong
//! there (`message`), what the span is (`label`) and, optionally, how to fix
//! it (`hint`). Stages never print; they return diagnostics, and
//! [`render`] turns them into text with `codespan-reporting`, without colour,
//! in a deterministic order: by position, then errors before warnings, then
//! by message.

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label as CsLabel};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor::NoColor, Chars, Config};

use crate::ast::Span;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// The spec is rejected.
    Error,
    /// The spec is accepted, but something in it is probably a mistake.
    Warning,
}

/// A secondary place a diagnostic refers to (e.g. "first defined here").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub span: Span,
    pub label: String,
}

/// One problem found in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Level,
    /// What is wrong, in one line: "undefined state `comand`".
    pub message: String,
    /// The spec file, as given to the compiler.
    pub file: String,
    /// Where, in bytes of `file`.
    pub span: Span,
    /// What the span is: "no such state".
    pub label: String,
    /// How to fix it: "did you mean `command`?".
    pub hint: Option<String>,
    /// Other places worth showing.
    pub notes: Vec<Note>,
}

impl Diagnostic {
    pub fn error(
        file: &str,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::new(Level::Error, file, span, message, label)
    }

    pub fn warning(
        file: &str,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::new(Level::Warning, file, span, message, label)
    }

    fn new(
        severity: Level,
        file: &str,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity,
            message: message.into(),
            file: file.to_string(),
            span,
            label: label.into(),
            hint: None,
            notes: Vec::new(),
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the hint if `hint` is `Some`.
    pub fn with_optional_hint(mut self, hint: Option<String>) -> Diagnostic {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }

    pub fn with_note(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.notes.push(Note {
            span,
            label: label.into(),
        });
        self
    }

    /// Adds a secondary place, in place.
    pub fn add_note(&mut self, span: Span, label: impl Into<String>) -> &mut Diagnostic {
        self.notes.push(Note {
            span,
            label: label.into(),
        });
        self
    }

    /// Sets the hint, in place.
    pub fn set_hint(&mut self, hint: impl Into<String>) -> &mut Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Level::Error
    }
}

/// Sorts diagnostics into their display order: by position, errors first at
/// one position, then by message.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (a.span.start, a.severity, &a.message, a.span.end).cmp(&(
            b.span.start,
            b.severity,
            &b.message,
            b.span.end,
        ))
    });
}

/// Renders diagnostics about `source` (the text of the file they name) as
/// rustc-style text without colour:
///
/// ```text
/// error: undefined state `comand`
///   --> specs/smtp.proto:12:14
///    |
/// 12 |         jump comand;
///    |              ^^^^^^ no such state
///    |
///    = hint: did you mean `command`?
/// ```
pub fn render(diagnostics: &[Diagnostic], file: &str, source: &str) -> String {
    let files = SimpleFile::new(file, source);
    let config = Config {
        chars: Chars::ascii(),
        ..Config::default()
    };
    let mut out = NoColor::new(Vec::new());
    for diagnostic in diagnostics {
        let rendered = to_codespan(diagnostic, source.len());
        if term::emit(&mut out, &config, &files, &rendered).is_err() {
            // Only reachable on a span codespan rejects; say it plainly.
            let level = match diagnostic.severity {
                Level::Error => "error",
                Level::Warning => "warning",
            };
            out.get_mut().extend_from_slice(
                format!("{level}: {} ({file})\n", diagnostic.message).as_bytes(),
            );
        }
    }
    String::from_utf8_lossy(&out.into_inner()).into_owned()
}

fn to_codespan(diagnostic: &Diagnostic, source_len: usize) -> CsDiagnostic<()> {
    let clamp = |span: Span| {
        let start = span.start.min(source_len);
        start..span.end.clamp(start, source_len)
    };
    let mut labels =
        vec![CsLabel::primary((), clamp(diagnostic.span)).with_message(&diagnostic.label)];
    labels.extend(
        diagnostic
            .notes
            .iter()
            .map(|note| CsLabel::secondary((), clamp(note.span)).with_message(&note.label)),
    );
    let base = match diagnostic.severity {
        Level::Error => CsDiagnostic::error(),
        Level::Warning => CsDiagnostic::warning(),
    };
    base.with_message(&diagnostic.message)
        .with_labels(labels)
        .with_notes(
            diagnostic
                .hint
                .iter()
                .map(|hint| format!("hint: {hint}"))
                .collect(),
        )
}

/// Up to one name among `candidates` close enough to `name` to be a typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        let score =
            strsim::jaro_winkler(&name.to_ascii_lowercase(), &candidate.to_ascii_lowercase());
        let better = match best {
            Some((best_score, _)) => score > best_score,
            None => true,
        };
        if score >= 0.8 && better {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, candidate)| format!("did you mean `{candidate}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_name_only_when_close() {
        let names = ["command", "response", "data_transmission"];
        assert_eq!(
            did_you_mean("comand", names),
            Some("did you mean `command`?".into())
        );
        assert_eq!(did_you_mean("zzz", names), None);
    }

    #[test]
    fn renders_file_line_column_caret_and_hint() {
        let source = "a\nbb cc\n";
        let d =
            Diagnostic::error("f.proto", Span::new(5, 7), "bad `cc`", "here").with_hint("fix it");
        let text = render(&[d], "f.proto", source);
        assert!(text.starts_with("error: bad `cc`\n"), "{text}");
        assert!(text.contains("--> f.proto:2:4"), "{text}");
        assert!(text.contains("^^ here"), "{text}");
        assert!(text.contains("= hint: fix it"), "{text}");
    }
}
