//! How each token is matched, decided from its regex's HIR (byte mode, as
//! the runtime reads it): a byte-class loop when the regex is one byte class
//! (or one byte) with a repetition, a DFA otherwise; and the bytes a match can
//! start with, for `bytes until TOKEN` searches.
//!
//! Invariant: a [`Matcher::Class`] matches exactly the same strings as the
//! token's regex (so the choice never changes what a spec means).

use regex_syntax::hir::{Class, Hir, HirKind};

use protoc_runtime::parse::token::token_hir;

/// How the generated code matches a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// `ByteClass::new(name, ranges, min, max)`.
    Class {
        ranges: Vec<(u8, u8)>,
        min: usize,
        max: Option<usize>,
    },
    /// `TokenDfa::new(name, pattern)`.
    Dfa,
}

/// Picks the matcher for `pattern`.
pub fn matcher(pattern: &str) -> Matcher {
    let Ok(hir) = token_hir(pattern) else {
        return Matcher::Dfa;
    };
    let hir = strip_captures(&hir);
    if let Some(ranges) = byte_ranges(hir) {
        return Matcher::Class {
            ranges,
            min: 1,
            max: Some(1),
        };
    }
    if let HirKind::Repetition(rep) = hir.kind() {
        if let Some(ranges) = byte_ranges(strip_captures(&rep.sub)) {
            let min = usize::try_from(rep.min).unwrap_or(usize::MAX);
            let max = rep.max.map(|m| usize::try_from(m).unwrap_or(usize::MAX));
            return Matcher::Class { ranges, min, max };
        }
    }
    Matcher::Dfa
}

fn strip_captures(hir: &Hir) -> &Hir {
    match hir.kind() {
        HirKind::Capture(cap) => strip_captures(&cap.sub),
        _ => hir,
    }
}

/// The byte ranges of a HIR that matches exactly one byte from a set.
fn byte_ranges(hir: &Hir) -> Option<Vec<(u8, u8)>> {
    match hir.kind() {
        HirKind::Literal(lit) if lit.0.len() == 1 => lit.0.first().map(|&b| vec![(b, b)]),
        HirKind::Class(Class::Bytes(class)) => Some(
            class
                .ranges()
                .iter()
                .map(|r| (r.start(), r.end()))
                .collect(),
        ),
        HirKind::Class(Class::Unicode(class)) => class
            .ranges()
            .iter()
            .map(|r| {
                Some((
                    u8::try_from(u32::from(r.start())).ok()?,
                    u8::try_from(u32::from(r.end())).ok()?,
                ))
            })
            .collect::<Option<Vec<_>>>()
            .filter(|ranges| ranges.iter().all(|&(_, hi)| hi < 0x80)),
        _ => None,
    }
}

/// The bytes a match of `pattern` can start with, as inclusive ranges, or
/// `None` if the pattern can match the empty string (then every position
/// starts a match).
pub fn first_bytes(pattern: &str) -> Option<Vec<(u8, u8)>> {
    let hir = token_hir(pattern).ok()?;
    let mut set = [false; 256];
    if first_set(&hir, &mut set) {
        return None;
    }
    Some(to_ranges(&set))
}

/// Adds the possible first bytes of `hir` to `set`; returns whether `hir`
/// can match the empty string.
fn first_set(hir: &Hir, set: &mut [bool; 256]) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => true,
        HirKind::Literal(lit) => match lit.0.first() {
            Some(&b) => {
                set[usize::from(b)] = true;
                false
            }
            None => true,
        },
        HirKind::Class(Class::Bytes(class)) => {
            for r in class.ranges() {
                for b in r.start()..=r.end() {
                    set[usize::from(b)] = true;
                }
            }
            false
        }
        HirKind::Class(Class::Unicode(class)) => {
            for r in class.ranges() {
                let (lo, hi) = (u32::from(r.start()), u32::from(r.end()));
                for b in lo.min(0x80)..hi.saturating_add(1).min(0x80) {
                    set[b as usize] = true;
                }
                if hi >= 0x80 {
                    // Any UTF-8 lead byte: an over-approximation is safe here.
                    set.iter_mut().skip(0xc0).for_each(|s| *s = true);
                }
            }
            false
        }
        HirKind::Repetition(rep) => first_set(&rep.sub, set) || rep.min == 0,
        HirKind::Capture(cap) => first_set(&cap.sub, set),
        HirKind::Concat(parts) => parts.iter().all(|part| first_set(part, set)),
        HirKind::Alternation(alts) => alts
            .iter()
            .fold(false, |empty, alt| first_set(alt, set) || empty),
    }
}

fn to_ranges(set: &[bool; 256]) -> Vec<(u8, u8)> {
    let mut ranges: Vec<(u8, u8)> = Vec::new();
    for (b, _) in set.iter().enumerate().filter(|(_, &on)| on) {
        let Ok(b) = u8::try_from(b) else { continue };
        match ranges.last_mut() {
            Some((_, hi)) if hi.checked_add(1) == Some(b) => *hi = b,
            _ => ranges.push((b, b)),
        }
    }
    ranges
}

/// A Rust byte literal: `b'\r'`.
pub fn byte_lit(b: u8) -> String {
    format!("b'{}'", b.escape_ascii())
}

/// Rust code for inclusive byte ranges: `&[(b'\t', b'\t'), (b' ', b' ')]`.
pub fn ranges_code(ranges: &[(u8, u8)]) -> String {
    let items: Vec<String> = ranges
        .iter()
        .map(|&(lo, hi)| format!("({}, {})", byte_lit(lo), byte_lit(hi)))
        .collect();
    format!("&[{}]", items.join(", "))
}

/// Rust code for a `FirstBytes` value.
pub fn first_bytes_code(pattern: &str) -> String {
    let ranges = first_bytes(pattern).unwrap_or_else(|| vec![(0, 255)]);
    let bytes: Vec<u8> = ranges
        .iter()
        .flat_map(|&(lo, hi)| lo..=hi)
        .take(4)
        .collect();
    match bytes.as_slice() {
        [a] => format!("FirstBytes::One({})", byte_lit(*a)),
        [a, b] => format!("FirstBytes::Two({}, {})", byte_lit(*a), byte_lit(*b)),
        [a, b, c] => format!(
            "FirstBytes::Three({}, {}, {})",
            byte_lit(*a),
            byte_lit(*b),
            byte_lit(*c)
        ),
        _ => format!("FirstBytes::table({})", ranges_code(&ranges)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_class_repetitions_become_byte_classes() {
        assert_eq!(
            matcher("[[:blank:]]+"),
            Matcher::Class {
                ranges: vec![(b'\t', b'\t'), (b' ', b' ')],
                min: 1,
                max: None
            }
        );
        assert_eq!(
            matcher(r"[^\r\n]*"),
            Matcher::Class {
                ranges: vec![(0, 9), (11, 12), (14, 255)],
                min: 0,
                max: None
            }
        );
        assert_eq!(
            matcher("[0-9]{3}"),
            Matcher::Class {
                ranges: vec![(b'0', b'9')],
                min: 3,
                max: Some(3)
            }
        );
        assert_eq!(
            matcher("[- ]"),
            Matcher::Class {
                ranges: vec![(b' ', b' '), (b'-', b'-')],
                min: 1,
                max: Some(1)
            }
        );
        assert_eq!(matcher(r"\r?\n"), Matcher::Dfa);
        assert_eq!(matcher(r"ab"), Matcher::Dfa);
    }

    #[test]
    fn first_bytes_follow_optional_prefixes() {
        assert_eq!(
            first_bytes(r"\r?\n\.\r?\n"),
            Some(vec![(b'\n', b'\n'), (b'\r', b'\r')])
        );
        assert_eq!(
            first_bytes_code(r"\r?\n\.\r?\n"),
            r"FirstBytes::Two(b'\n', b'\r')"
        );
        assert_eq!(first_bytes("a*"), None);
        assert_eq!(
            first_bytes("(ab|cd)x"),
            Some(vec![(b'a', b'a'), (b'c', b'c')])
        );
    }
}
