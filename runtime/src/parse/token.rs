//! Token matchers: longest match of a regex at the current position, resumable
//! across segments.
//!
//! Two matchers, chosen by the compiler from the token's regex:
//! - [`ByteClass`]: the regex is one byte class with a repetition
//!   (`[[:blank:]]+`, `[^\r\n]*`, `[0-9]{3}`, `[- ]`): a `[bool; 256]` table
//!   built at compile time (`const fn`), scanned in a tight loop;
//! - [`TokenDfa`]: anything else (`\r?\n`): an anchored dense DFA (regex-automata)
//!   built once on first use, run byte by byte with POSIX longest-match
//!   semantics (`MatchKind::All`, last accepting position remembered).
//!
//! A token in progress keeps its state in a [`TokenState`] (bytes so far, DFA
//! state, last accepting length). A token ends when the next byte cannot
//! extend it, or when no byte could (a "final" state: `\r\n` after `\n`), so
//! a message's last token completes without waiting for the next message.
//! Bytes read past the last accepting position are handed back to the input.
//!
//! Patterns are read in byte mode (Unicode off, UTF-8 off: `[^\r\n]` is any
//! byte but CR and LF), the same way by the compiler ([`token_hir`]) and by
//! the DFA, so that both agree on what a token matches.

use std::collections::HashSet;
use std::sync::OnceLock;

use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::util::primitives::StateID;
use regex_automata::util::{start, syntax};
use regex_automata::{Anchored, MatchKind};

use super::{Input, ParseCx, Site, Step, Stop};

/// The syntax settings every token pattern is read with (byte mode).
pub fn token_syntax() -> syntax::Config {
    syntax::Config::new().unicode(false).utf8(false)
}

/// Parses a token pattern to HIR in byte mode, as the DFA reads it.
pub fn token_hir(pattern: &str) -> Result<regex_syntax::hir::Hir, Box<regex_syntax::Error>> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(Box::new)
}

/// The progress of one token match, kept across segments.
#[derive(Debug, Default, Clone)]
pub struct TokenState {
    /// Bytes consumed for this token so far.
    text: Vec<u8>,
    /// DFA state after `text` (DFA tokens only; `None` before the first byte).
    dfa: Option<StateID>,
    /// Length of the longest prefix of `text` that matches.
    last_accept: Option<usize>,
}

impl TokenState {
    /// Whether a match is under way (some bytes consumed).
    pub fn in_progress(&self) -> bool {
        !self.text.is_empty()
    }

    fn take_bytes(&mut self) -> Vec<u8> {
        let text = std::mem::take(&mut self.text);
        *self = TokenState::default();
        text
    }

    fn take_text(&mut self) -> String {
        let text = self.take_bytes();
        match String::from_utf8(text) {
            Ok(s) => s,
            Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
        }
    }

    /// Gives every consumed byte back to `input` and returns a "does not match" error.
    fn reject(&mut self, input: &mut Input<'_>, cx: &ParseCx<'_>, site: Site, name: &str) -> Stop {
        input.unread(&self.text);
        *self = TokenState::default();
        cx.error(input, site, no_match(name))
    }

    fn check_len(&mut self, input: &mut Input<'_>, cx: &ParseCx<'_>, site: Site) -> Step<()> {
        if self.text.len() > cx.limits.max_token_len {
            *self = TokenState::default();
            return Err(cx.error(input, site, "token too long"));
        }
        Ok(())
    }
}

/// The reason of the error a token that does not match gives.
fn no_match(name: &str) -> String {
    format!("token {name} does not match")
}

/// `optional TOKEN`: the token's text if it matches here, `None` (nothing
/// consumed) if it does not; other errors (too long) stay errors.
fn attempt(read: Step<String>, name: &str) -> Step<Option<String>> {
    match read {
        Ok(text) => Ok(Some(text)),
        Err(Stop::Error(err)) if err.reason == no_match(name) => Ok(None),
        Err(other) => Err(other),
    }
}

/// A token that is one byte class repeated `min..=max` times.
#[derive(Debug)]
pub struct ByteClass {
    name: &'static str,
    table: [bool; 256],
    min: usize,
    max: Option<usize>,
}

impl ByteClass {
    /// A class of the bytes in the inclusive `ranges`.
    pub const fn new(
        name: &'static str,
        ranges: &[(u8, u8)],
        min: usize,
        max: Option<usize>,
    ) -> ByteClass {
        let mut table = [false; 256];
        let mut i = 0;
        while i < ranges.len() {
            let (lo, hi) = ranges[i];
            let mut b = lo as usize;
            while b <= hi as usize {
                table[b] = true;
                b += 1;
            }
            i += 1;
        }
        ByteClass {
            name,
            table,
            min,
            max,
        }
    }

    pub fn contains(&self, byte: u8) -> bool {
        self.table[usize::from(byte)]
    }

    /// Matches the token; its text.
    pub fn read(
        &self,
        state: &mut TokenState,
        input: &mut Input<'_>,
        cx: &ParseCx<'_>,
        site: Site,
    ) -> Step<String> {
        loop {
            let room = self
                .max
                .map_or(usize::MAX, |max| max.saturating_sub(state.text.len()));
            let chunk = input.chunk();
            if chunk.is_empty() {
                return Err(Stop::NeedMore);
            }
            // Never more than one byte past the cap, so that a token too
            // long fails at the same byte however its bytes were cut.
            let cap_room = cx
                .limits
                .max_token_len
                .saturating_add(1)
                .saturating_sub(state.text.len());
            let limit = chunk.len().min(room).min(cap_room);
            let taken = chunk
                .iter()
                .take(limit)
                .position(|&b| !self.contains(b))
                .unwrap_or(limit);
            let ended = taken < chunk.len() || taken == room;
            state
                .text
                .extend_from_slice(chunk.get(..taken).unwrap_or_default());
            input.advance(taken);
            state.check_len(input, cx, site)?;
            if ended {
                if state.text.len() < self.min {
                    return Err(state.reject(input, cx, site, self.name));
                }
                return Ok(state.take_text());
            }
        }
    }

    /// Matches the token and forgets its text.
    pub fn skip(
        &self,
        state: &mut TokenState,
        input: &mut Input<'_>,
        cx: &ParseCx<'_>,
        site: Site,
    ) -> Step<()> {
        self.read(state, input, cx, site).map(drop)
    }

    /// Matches the token if it is there (`optional TOKEN`): its text, or
    /// `None` with nothing consumed.
    pub fn try_read(
        &self,
        state: &mut TokenState,
        input: &mut Input<'_>,
        cx: &ParseCx<'_>,
        site: Site,
    ) -> Step<Option<String>> {
        attempt(self.read(state, input, cx, site), self.name)
    }
}

/// A token matched by an anchored dense DFA, built on first use.
#[derive(Debug)]
pub struct TokenDfa {
    name: &'static str,
    pattern: &'static str,
    compiled: OnceLock<Result<CompiledDfa, String>>,
}

/// What [`CompiledDfa::confirm`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// No match can start here.
    Dies,
    /// A match ends within the bytes.
    Matches,
    /// The bytes ran out while a match was still possible, in this state.
    Undecided(StateID),
}

/// The DFA of a token with what the matcher needs to know of its states.
///
/// regex-automata's DFAs report a match one byte late (the state *after*
/// the next byte says whether the bytes before it matched), so the matcher
/// does not use match states directly. Instead, for every state reachable
/// from the start, it precomputes whether the bytes read so far match
/// (`ACCEPTS`: the end-of-input transition leads to a match), whether some
/// continuation can still match (`LIVE`), and whether no byte can extend a
/// match (`FINAL`), so a token ends as soon as its last byte arrives.
#[derive(Debug)]
pub struct CompiledDfa {
    dfa: dense::DFA<Vec<u32>>,
    start: StateID,
    /// `ACCEPTS | LIVE | FINAL` bits, indexed by `StateID::as_usize()`.
    flags: Vec<u8>,
}

const ACCEPTS: u8 = 1;
const LIVE: u8 = 2;
const FINAL: u8 = 4;

impl CompiledDfa {
    /// Builds the anchored longest-match DFA of `pattern` (byte mode).
    pub fn new(pattern: &str) -> Result<CompiledDfa, String> {
        let build = |syntax: syntax::Config| {
            dense::Builder::new()
                .syntax(syntax)
                .thompson(regex_automata::nfa::thompson::Config::new().utf8(false))
                .configure(
                    dense::Config::new()
                        .match_kind(MatchKind::All)
                        .start_kind(StartKind::Anchored),
                )
                .build(pattern)
                .map_err(|err| err.to_string())
        };
        let dfa = build(token_syntax()).or_else(|_| build(syntax::Config::new()))?;
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::Yes))
            .map_err(|err| err.to_string())?;
        let flags = Self::flags(&dfa, start);
        Ok(CompiledDfa { dfa, start, flags })
    }

    /// Walks every state reachable from `start` and computes its flags.
    fn flags(dfa: &dense::DFA<Vec<u32>>, start: StateID) -> Vec<u8> {
        let dead = |id: StateID| dfa.is_dead_state(id) || dfa.is_quit_state(id);
        let mut states = vec![start];
        let mut seen = HashSet::from([start]);
        let mut i = 0;
        while let Some(&state) = states.get(i) {
            i += 1;
            for byte in 0..=255u8 {
                let next = dfa.next_state(state, byte);
                if !dead(next) && seen.insert(next) {
                    states.push(next);
                }
            }
        }
        let size = states.iter().map(|id| id.as_usize() + 1).max().unwrap_or(0);
        let mut flags = vec![0u8; size];
        let flag = |flags: &[u8], id: StateID| flags.get(id.as_usize()).copied().unwrap_or(0);
        for &state in &states {
            if dfa.is_match_state(dfa.next_eoi_state(state)) {
                if let Some(f) = flags.get_mut(state.as_usize()) {
                    *f |= ACCEPTS | LIVE;
                }
            }
        }
        // LIVE: some path of zero or more bytes leads to an accepting state.
        let mut changed = true;
        while changed {
            changed = false;
            for &state in &states {
                if flag(&flags, state) & LIVE != 0 {
                    continue;
                }
                if (0..=255u8).any(|b| flag(&flags, dfa.next_state(state, b)) & LIVE != 0) {
                    if let Some(f) = flags.get_mut(state.as_usize()) {
                        *f |= LIVE;
                        changed = true;
                    }
                }
            }
        }
        for &state in &states {
            let extendable =
                (0..=255u8).any(|b| flag(&flags, dfa.next_state(state, b)) & LIVE != 0);
            if !extendable && flag(&flags, state) & ACCEPTS != 0 {
                if let Some(f) = flags.get_mut(state.as_usize()) {
                    *f |= FINAL;
                }
            }
        }
        flags
    }

    fn flag(&self, state: StateID) -> u8 {
        self.flags.get(state.as_usize()).copied().unwrap_or(0)
    }

    /// The anchored start state.
    pub fn start(&self) -> StateID {
        self.start
    }

    /// The state after `byte`, or `None` if no match can follow that byte.
    pub fn next(&self, state: StateID, byte: u8) -> Option<StateID> {
        let next = self.dfa.next_state(state, byte);
        (self.flag(next) & LIVE != 0).then_some(next)
    }

    /// Whether the bytes read to reach `state` form a match.
    /// Runs the DFA from its start over `bytes`: does a match end within them
    /// (at the first accepting state), can none, or do they run out first?
    pub fn confirm(&self, bytes: &[u8]) -> Confirm {
        let mut state = self.start();
        for &byte in bytes {
            match self.next(state, byte) {
                None => return Confirm::Dies,
                Some(next) if self.accepts(next) => return Confirm::Matches,
                Some(next) => state = next,
            }
        }
        Confirm::Undecided(state)
    }

    pub fn accepts(&self, state: StateID) -> bool {
        self.flag(state) & ACCEPTS != 0
    }

    /// Whether `state` accepts and no byte can extend the match.
    pub fn is_final(&self, state: StateID) -> bool {
        self.flag(state) & FINAL != 0
    }
}

impl TokenDfa {
    pub const fn new(name: &'static str, pattern: &'static str) -> TokenDfa {
        TokenDfa {
            name,
            pattern,
            compiled: OnceLock::new(),
        }
    }

    /// The token's pattern, as the spec writes it.
    pub fn pattern(&self) -> &'static str {
        self.pattern
    }

    /// The compiled DFA (built on the first call).
    pub fn compiled(&self) -> Result<&CompiledDfa, &str> {
        self.compiled
            .get_or_init(|| CompiledDfa::new(self.pattern))
            .as_ref()
            .map_err(String::as_str)
    }

    /// Matches the token (longest match); its text.
    pub fn read(
        &self,
        state: &mut TokenState,
        input: &mut Input<'_>,
        cx: &ParseCx<'_>,
        site: Site,
    ) -> Step<String> {
        self.read_bytes(state, input, cx, site).map(|bytes| {
            String::from_utf8(bytes)
                .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned())
        })
    }

    /// Whether the token matches at the current position; consumes nothing
    /// (the bytes read to decide are handed back).
    pub fn matches_here(
        &self,
        state: &mut TokenState,
        input: &mut Input<'_>,
        cx: &ParseCx<'_>,
        site: Site,
    ) -> Step<bool> {
        match self.read_bytes(state, input, cx, site) {
            Ok(bytes) => {
                input.unread(&bytes);
                Ok(true)
            }
            Err(Stop::Error(err)) if err.reason == no_match(self.name) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Matches the token (longest match); its bytes.
    fn read_bytes(
        &self,
        state: &mut TokenState,
        input: &mut Input<'_>,
        cx: &ParseCx<'_>,
        site: Site,
    ) -> Step<Vec<u8>> {
        let dfa = self
            .compiled()
            .map_err(|err| cx.error(input, site, format!("invalid token {}: {err}", self.name)))?;
        let mut current = match state.dfa {
            Some(current) => current,
            None => {
                // A pattern that matches the empty string matches here at least.
                if dfa.accepts(dfa.start()) {
                    state.last_accept = Some(0);
                }
                dfa.start()
            }
        };
        loop {
            let chunk = input.chunk();
            if chunk.is_empty() {
                state.dfa = Some(current);
                return Err(Stop::NeedMore);
            }
            let mut used = 0;
            let mut ended = false;
            for &byte in chunk {
                let Some(next) = dfa.next(current, byte) else {
                    ended = true;
                    break;
                };
                current = next;
                used += 1;
                if dfa.accepts(current) {
                    state.last_accept = Some(state.text.len() + used);
                    if dfa.is_final(current) {
                        ended = true;
                        break;
                    }
                }
                // One byte past the cap: too long, wherever the bytes were cut.
                if state.text.len() + used > cx.limits.max_token_len {
                    break;
                }
            }
            state
                .text
                .extend_from_slice(chunk.get(..used).unwrap_or_default());
            input.advance(used);
            state.check_len(input, cx, site)?;
            if ended {
                return match state.last_accept {
                    Some(len) => {
                        let past_match = state.text.split_off(len.min(state.text.len()));
                        input.unread(&past_match);
                        Ok(state.take_bytes())
                    }
                    None => Err(state.reject(input, cx, site, self.name)),
                };
            }
        }
    }

    /// Matches the token and forgets its text.
    pub fn skip(
        &self,
        state: &mut TokenState,
        input: &mut Input<'_>,
        cx: &ParseCx<'_>,
        site: Site,
    ) -> Step<()> {
        self.read(state, input, cx, site).map(drop)
    }

    /// Matches the token if it is there (`optional TOKEN`): its text, or
    /// `None` with nothing consumed.
    pub fn try_read(
        &self,
        state: &mut TokenState,
        input: &mut Input<'_>,
        cx: &ParseCx<'_>,
        site: Site,
    ) -> Step<Option<String>> {
        attempt(self.read(state, input, cx, site), self.name)
    }
}

/// The bytes a token's match can start with, for a fast search of candidate
/// starts (memchr for up to three bytes, a table otherwise).
// Values live in statics and are never moved: the table stays inline.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum FirstBytes {
    One(u8),
    Two(u8, u8),
    Three(u8, u8, u8),
    Table([bool; 256]),
}

impl FirstBytes {
    /// A table of the bytes in the inclusive `ranges`.
    pub const fn table(ranges: &[(u8, u8)]) -> FirstBytes {
        FirstBytes::Table(ByteClass::new("", ranges, 0, None).table)
    }

    /// Position of the first byte of `haystack` that may start a match.
    pub fn find(&self, haystack: &[u8]) -> Option<usize> {
        match *self {
            FirstBytes::One(a) => memchr::memchr(a, haystack),
            FirstBytes::Two(a, b) => memchr::memchr2(a, b, haystack),
            FirstBytes::Three(a, b, c) => memchr::memchr3(a, b, c, haystack),
            FirstBytes::Table(ref table) => haystack.iter().position(|&b| table[usize::from(b)]),
        }
    }
}

/// A regex for `subject ~ /pattern/` in spec expressions, compiled on first
/// use. An invalid pattern (rejected by the checker already) never matches.
#[derive(Debug)]
pub struct LazyRegex {
    pattern: &'static str,
    regex: OnceLock<Option<regex::Regex>>,
}

impl LazyRegex {
    pub const fn new(pattern: &'static str) -> LazyRegex {
        LazyRegex {
            pattern,
            regex: OnceLock::new(),
        }
    }

    /// `extract(subject, "pattern")`: see [`crate::expr::extract`].
    pub fn extract<'s>(&self, subject: &'s str) -> Option<&'s str> {
        self.regex
            .get_or_init(|| regex::Regex::new(self.pattern).ok())
            .as_ref()
            .and_then(|re| crate::expr::extract(re, subject))
    }

    pub fn is_match(&self, subject: &str) -> bool {
        self.regex
            .get_or_init(|| regex::Regex::new(self.pattern).ok())
            .as_ref()
            .is_some_and(|re| re.is_match(subject))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissector::{Cx, Direction, EventSink, FlowInfo, Severity, Verdict};
    use crate::parse::Pending;
    use crate::value::Value;
    use proptest::prelude::*;

    struct NoSink;
    impl EventSink for NoSink {
        fn event(
            &mut self,
            _: &FlowInfo,
            _: Direction,
            _: f64,
            _: &'static str,
            _: &Value,
        ) -> Verdict {
            Verdict::Continue
        }
        fn stream(
            &mut self,
            _: &FlowInfo,
            _: Direction,
            _: f64,
            _: &'static str,
            _: &[u8],
            _: bool,
        ) -> Verdict {
            Verdict::Continue
        }
        fn alert(&mut self, _: &FlowInfo, _: Direction, _: f64, _: Severity, _: &str) {}
    }

    /// A matcher under test: a byte class or a DFA.
    #[allow(clippy::large_enum_variant)]
    enum Matcher {
        Class(ByteClass),
        Dfa(TokenDfa),
    }

    impl Matcher {
        fn read(
            &self,
            state: &mut TokenState,
            input: &mut Input<'_>,
            cx: &ParseCx<'_>,
        ) -> Step<String> {
            let site = Site::new("r", "f");
            match self {
                Matcher::Class(c) => c.read(state, input, cx, site),
                Matcher::Dfa(d) => d.read(state, input, cx, site),
            }
        }
    }

    /// Feeds `pieces` to `matcher`; the token's text (or `None` on a
    /// mismatch) and every byte left unread afterwards.
    fn run(matcher: &Matcher, pieces: &[&[u8]]) -> (Option<String>, Vec<u8>) {
        let flow = FlowInfo {
            id: 0,
            src: ([127, 0, 0, 1], 1).into(),
            dst: ([127, 0, 0, 1], 2).into(),
        };
        let mut sink = NoSink;
        let mut pending = Pending::default();
        let mut state = TokenState::default();
        let mut result = None;
        let mut rest = Vec::new();
        for piece in pieces {
            let mut cx = Cx {
                flow: &flow,
                now: 0.0,
                sink: &mut sink,
            };
            let pcx = ParseCx::new(&mut cx, Direction::Up);
            let mut input = Input::new(&mut pending, piece);
            if result.is_none() {
                match matcher.read(&mut state, &mut input, &pcx) {
                    Ok(text) => result = Some(Some(text)),
                    Err(Stop::NeedMore) => {}
                    Err(Stop::Error(_)) => result = Some(None),
                }
            }
            if result.is_some() {
                rest.extend(input.context(usize::MAX));
                input.discard();
            }
        }
        (result.flatten(), rest)
    }

    /// The longest prefix of `data` that `pattern` matches in full (the
    /// obviously-correct oracle, by brute force with the `regex` crate).
    fn longest_match(pattern: &str, data: &[u8]) -> Option<usize> {
        let whole =
            regex::bytes::Regex::new(&format!("(?-u)^(?:{pattern})$")).expect("valid pattern");
        (0..=data.len())
            .rev()
            .find(|&len| whole.is_match(&data[..len]))
    }

    /// `(pattern, matcher, bytes inputs are made of, a byte that ends any match)`.
    fn cases() -> Vec<(&'static str, Matcher, &'static [u8], u8)> {
        vec![
            (
                "[[:blank:]]+",
                Matcher::Class(ByteClass::new(
                    "WS",
                    &[(b'\t', b'\t'), (b' ', b' ')],
                    1,
                    None,
                )),
                b" \tx",
                b'x',
            ),
            (
                r"[^\r\n]*",
                Matcher::Class(ByteClass::new(
                    "MESSAGE",
                    &[(0, 9), (11, 12), (14, 255)],
                    0,
                    None,
                )),
                b"ab \r\n",
                b'\n',
            ),
            (
                "[0-9]{3}",
                Matcher::Class(ByteClass::new("CODE", &[(b'0', b'9')], 3, Some(3))),
                b"0129x",
                b'x',
            ),
            (
                "[- ]",
                Matcher::Class(ByteClass::new(
                    "SEP",
                    &[(b' ', b' '), (b'-', b'-')],
                    1,
                    Some(1),
                )),
                b"- x",
                b'x',
            ),
            (
                r"\r?\n",
                Matcher::Dfa(TokenDfa::new("CRLF", r"\r?\n")),
                b"\r\nx",
                b'x',
            ),
            (
                r"\r?\n\.\r?\n",
                Matcher::Dfa(TokenDfa::new("DATA_END", r"\r?\n\.\r?\n")),
                b"\r\n.x",
                b'x',
            ),
            (
                "ab|abcd",
                Matcher::Dfa(TokenDfa::new("T", "ab|abcd")),
                b"abcd",
                b'z',
            ),
            (
                "a+b?c*",
                Matcher::Dfa(TokenDfa::new("T", "a+b?c*")),
                b"abc",
                b'z',
            ),
        ]
    }

    proptest! {
        #[test]
        fn matchers_give_the_longest_match_for_every_split(picks in proptest::collection::vec(0usize..8, 0..12), case in 0usize..8) {
            let cases = cases();
            let (pattern, matcher, alphabet, end) = &cases[case];
            let mut data: Vec<u8> = picks.iter().map(|&i| alphabet[i % alphabet.len()]).collect();
            data.push(*end);
            let expected_len = longest_match(pattern, &data);
            let expected = expected_len.map(|len| String::from_utf8_lossy(&data[..len]).into_owned());
            let expected_rest = match expected_len {
                Some(len) => data[len..].to_vec(),
                None => data.clone(),
            };
            for split in 0..=data.len() {
                let (a, b) = data.split_at(split);
                prop_assert_eq!(run(matcher, &[a, b]), (expected.clone(), expected_rest.clone()), "{} split at {}", pattern, split);
            }
            let bytes: Vec<&[u8]> = data.chunks(1).collect();
            prop_assert_eq!(run(matcher, &bytes), (expected, expected_rest), "{} byte by byte", pattern);
        }
    }

    #[test]
    fn a_final_match_ends_without_waiting_for_the_next_byte() {
        let crlf = Matcher::Dfa(TokenDfa::new("CRLF", r"\r?\n"));
        assert_eq!(
            run(&crlf, &[b"\r", b"\n"]),
            (Some("\r\n".to_string()), Vec::new())
        );
        let code = Matcher::Class(ByteClass::new("CODE", &[(b'0', b'9')], 3, Some(3)));
        assert_eq!(
            run(&code, &[b"22", b"0"]),
            (Some("220".to_string()), Vec::new())
        );
    }

    #[test]
    fn bytes_read_past_the_longest_match_are_handed_back() {
        let t = Matcher::Dfa(TokenDfa::new("T", "ab|abcd"));
        assert_eq!(
            run(&t, &[b"a", b"bc", b"x"]),
            (Some("ab".to_string()), b"cx".to_vec())
        );
    }

    #[test]
    fn an_overlong_token_is_an_error_not_a_buffer() {
        let ws = Matcher::Class(ByteClass::new("WS", &[(b' ', b' ')], 1, None));
        let spaces = vec![b' '; 70 * 1024];
        let pieces: Vec<&[u8]> = spaces.chunks(1000).collect();
        assert_eq!(run(&ws, &pieces).0, None);
    }
}
