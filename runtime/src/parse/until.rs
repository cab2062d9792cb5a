//! `bytes until TOKEN`: the bytes up to (not including) the first match of an
//! end token, streamed chunk by chunk to an event or collected into a field.
//!
//! The search never buffers the blob: candidate starts of the end token are
//! found with memchr on the token's possible first bytes ([`FirstBytes`]),
//! and each candidate is confirmed by running the token's anchored DFA. Every
//! byte before a candidate is emitted at once, borrowed from the input. When
//! the input ends inside a possible match, only the candidate's bytes are held
//! back (at most the token's longest match), so an end token straddling
//! segments is still found.
//!
//! Invariants:
//! - emitted bytes, in order, are exactly the bytes before the end token;
//! - the end token itself is left unread in the input, for the element that
//!   follows (`DATA_END;` in SMTP);
//! - a failed candidate emits its first byte and hands the rest back to the
//!   input to be searched again, so overlapping candidates are not missed;
//! - after a streaming or skipping call, the input's settled mark covers
//!   every consumed byte except those held as a possible end token;
//! - the search first skips the bytes that cannot start the end token:
//!   every position before the chunk's leftmost whole match, and before the
//!   last `longest match - 1` bytes, starts no match (one would be a whole
//!   match further left). The skip is one memmem search for a needle every
//!   match contains near its start (`\n.` for SMTP's `\r?\n\.\r?\n`), or
//!   else one unanchored regex search. Only tokens of bounded length without
//!   look-around assertions are skipped this way; the candidates are still
//!   decided by the anchored DFA, so the result is the same as without the
//!   skip;
//! - when that needle is `\n.`, what its search found is passed on with each
//!   piece (from where the piece holds no `\n.`), and the unstuffer does not
//!   search those bytes again ([`Unstuffer::feed_searched`]).

use std::sync::OnceLock;

use regex_automata::meta;
use regex_automata::util::primitives::StateID;

use super::token::{token_hir, Confirm, FirstBytes, TokenDfa};
use super::unstuff::{Unstuffer, LINE_START_DOT};
use super::{Input, ParseCx, Site, Step, Stop};

/// A transform applied to the bytes before they are emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// RFC 5321 dot-unstuffing ([`Unstuffer`]).
    Unstuff,
}

/// The end token of a `bytes until` field and how to find its starts.
#[derive(Debug)]
pub struct UntilToken {
    token: &'static TokenDfa,
    first: FirstBytes,
    transform: Option<Transform>,
    /// Built on first use; `None` when the token cannot be skipped to.
    skipper: OnceLock<Option<Skipper>>,
}

/// The unanchored search that skips to the end token (see the module doc).
#[derive(Debug)]
struct Skipper {
    search: SkipSearch,
    /// The longest match of the token.
    max_len: usize,
    /// The needle is [`LINE_START_DOT`]: where the search finds none, the
    /// unstuffer need not search again.
    finds_line_start_dots: bool,
}

/// How the skipper finds where whole matches may start.
#[derive(Debug)]
enum SkipSearch {
    /// Every match contains `finder`'s needle within its first
    /// `max_offset + needle length` bytes (it is in every literal prefix of
    /// the token): the first occurrence of the needle, less `max_offset`,
    /// is as far as no match can start. (`\r?\n\.\r?\n` gives `\n.` at
    /// offset 0 or 1: one memmem search, no regex engine.)
    Needle {
        finder: Box<memchr::memmem::Finder<'static>>,
        max_offset: usize,
    },
    /// Anything else: the leftmost match of the token itself.
    Regex(meta::Regex),
}

impl Skipper {
    fn new(pattern: &str) -> Option<Skipper> {
        let hir = token_hir(pattern).ok()?;
        let properties = hir.properties();
        if !properties.look_set().is_empty() {
            return None;
        }
        let max_len = properties.maximum_len()?;
        let needle = common_needle(&hir);
        let finds_line_start_dots = needle
            .as_ref()
            .is_some_and(|(needle, _)| needle == LINE_START_DOT);
        let search = match needle {
            Some((needle, max_offset)) => SkipSearch::Needle {
                finder: Box::new(memchr::memmem::Finder::new(&needle).into_owned()),
                max_offset,
            },
            None => SkipSearch::Regex(
                meta::Regex::builder()
                    .configure(meta::Config::new().utf8_empty(false))
                    .build_from_hir(&hir)
                    .ok()?,
            ),
        };
        Some(Skipper {
            search,
            max_len,
            finds_line_start_dots,
        })
    }

    /// A position of `chunk[from..]` before which no whole match of the end
    /// token starts, at most the chunk's leftmost whole match, and at most
    /// the first position too near the end for a whole match; and whether
    /// `chunk[from..]` holds no [`LINE_START_DOT`] (known only when that is
    /// the needle searched for).
    fn skip(&self, chunk: &[u8], from: usize) -> (usize, bool) {
        let from = from.min(chunk.len());
        let tail = chunk.len().saturating_sub(self.max_len.saturating_sub(1));
        let (first_match, no_needle) = match &self.search {
            SkipSearch::Needle { finder, max_offset } => {
                match chunk.get(from..).and_then(|rest| finder.find(rest)) {
                    Some(i) => ((from + i).saturating_sub(*max_offset), false),
                    None => (usize::MAX, true),
                }
            }
            SkipSearch::Regex(regex) => {
                let search = regex_automata::Input::new(chunk).span(from..chunk.len());
                (regex.find(search).map_or(usize::MAX, |m| m.start()), false)
            }
        };
        let no_dots = no_needle && self.finds_line_start_dots;
        (first_match.min(tail).max(from), no_dots)
    }
}

/// The longest byte string that every literal prefix of `hir`'s matches
/// contains (at least 2 bytes), with the largest offset of its first
/// occurrence in them; `None` when the prefixes are not a finite set.
///
/// Sound because prefix extraction is (it is what regex prefilters rely
/// on): every match of `hir` starts with one of the literals.
fn common_needle(hir: &regex_syntax::hir::Hir) -> Option<(Vec<u8>, usize)> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(hir);
    let literals: Vec<&[u8]> = seq.literals()?.iter().map(|l| l.as_bytes()).collect();
    let shortest = literals.iter().min_by_key(|l| l.len())?;
    for len in (2..=shortest.len()).rev() {
        for start in 0..=shortest.len() - len {
            let Some(needle) = shortest.get(start..start + len) else {
                continue;
            };
            let offsets: Option<Vec<usize>> = literals
                .iter()
                .map(|l| memchr::memmem::find(l, needle))
                .collect();
            if let Some(max_offset) = offsets.and_then(|o| o.into_iter().max()) {
                return Some((needle.to_vec(), max_offset));
            }
        }
    }
    None
}

/// A possible end token under way: its DFA state and the bytes it has read.
#[derive(Debug, Clone)]
struct Candidate {
    state: StateID,
    held: Vec<u8>,
}

/// What [`UntilToken::scan`] hands each piece of the bytes before the end
/// token to: the piece, and the offset from which it holds no `\n.` (its
/// length when that is not known).
type EmitPiece<'e> = dyn FnMut(&mut ParseCx<'_>, &[u8], usize) -> Step<()> + 'e;

/// The progress of one `bytes until` field, kept across segments.
#[derive(Debug, Clone, Default)]
pub struct UntilState {
    candidate: Option<Candidate>,
    unstuffer: Unstuffer,
    /// The bytes so far (collected fields only).
    collected: Vec<u8>,
    /// Whether the field has started (a stream then needs its `last` call).
    started: bool,
}

impl UntilState {
    /// Whether the field has begun and not ended.
    pub fn in_progress(&self) -> bool {
        self.started
    }
}

impl UntilToken {
    pub const fn new(
        token: &'static TokenDfa,
        first: FirstBytes,
        transform: Option<Transform>,
    ) -> UntilToken {
        UntilToken {
            token,
            first,
            transform,
            skipper: OnceLock::new(),
        }
    }

    /// Streams the bytes before the end token to `event`, then a final empty
    /// chunk with `last = true`.
    pub fn stream(
        &self,
        state: &mut UntilState,
        input: &mut Input<'_>,
        cx: &mut ParseCx<'_>,
        site: Site,
        event: &'static str,
    ) -> Step<()> {
        let UntilState {
            candidate,
            unstuffer,
            started,
            ..
        } = state;
        let transform = self.transform;
        let mut streamed = 0u64;
        let scanned = self.scan(
            candidate,
            started,
            input,
            cx,
            site,
            &mut |cx, piece, free| {
                streamed += piece.len() as u64;
                match transform {
                    Some(Transform::Unstuff) => {
                        unstuffer.feed_searched(piece, free, |out| cx.stream(event, out, false))
                    }
                    None => cx.stream(event, piece, false),
                }
            },
        );
        input.note_streamed(streamed);
        // Everything consumed has reached the sink, except a possible end
        // token held back: that much is settled.
        let held = candidate.as_ref().map_or(0, |cand| cand.held.len() as u64);
        input.settle_except(held);
        scanned?;
        *state = UntilState::default();
        cx.stream(event, &[], true)
    }

    /// Closes a stream cut short (end of flow, gap, abandoned message): the
    /// bytes held as a possible end token are data after all, then comes the
    /// `last` call, if the stream had started. The state is reset.
    pub fn end_stream(
        &self,
        state: &mut UntilState,
        cx: &mut ParseCx<'_>,
        event: &'static str,
    ) -> Step<()> {
        let state = std::mem::take(state);
        if !state.started {
            return Ok(());
        }
        let mut unstuffer = state.unstuffer;
        if let Some(candidate) = state.candidate {
            match self.transform {
                Some(Transform::Unstuff) => {
                    unstuffer.feed(&candidate.held, |out| cx.stream(event, out, false))?
                }
                None => cx.stream(event, &candidate.held, false)?,
            }
        }
        cx.stream(event, &[], true)
    }

    /// Collects the bytes before the end token (at most `max_token_len`).
    pub fn collect(
        &self,
        state: &mut UntilState,
        input: &mut Input<'_>,
        cx: &mut ParseCx<'_>,
        site: Site,
    ) -> Step<Vec<u8>> {
        let UntilState {
            candidate,
            unstuffer,
            collected,
            started,
        } = state;
        let transform = self.transform;
        let mut overflow = false;
        let scanned = self.scan(
            candidate,
            started,
            input,
            cx,
            site,
            &mut |cx, piece, free| {
                let mut keep = |out: &[u8]| {
                    if collected.len() + out.len() > cx.limits.max_token_len {
                        overflow = true;
                        return Err(Stop::NeedMore);
                    }
                    collected.extend_from_slice(out);
                    Ok(())
                };
                match transform {
                    Some(Transform::Unstuff) => unstuffer.feed_searched(piece, free, keep),
                    None => keep(piece),
                }
            },
        );
        if overflow {
            *state = UntilState::default();
            return Err(cx.error(input, site, "field too long"));
        }
        scanned?;
        let bytes = std::mem::take(&mut state.collected);
        *state = UntilState::default();
        Ok(bytes)
    }

    /// The end token.
    pub fn token(&self) -> &'static TokenDfa {
        self.token
    }

    /// Consumes input up to the end token (left unread), discarding the
    /// bytes before it; adds their number to `skipped`. The discarded bytes
    /// are settled as they go (all but a possible end token held back), so
    /// a long skip holds nothing back from an inline user.
    pub fn skip(
        &self,
        state: &mut UntilState,
        input: &mut Input<'_>,
        cx: &mut ParseCx<'_>,
        site: Site,
        skipped: &mut u64,
    ) -> Step<()> {
        let UntilState {
            candidate, started, ..
        } = state;
        let scanned = self.scan(candidate, started, input, cx, site, &mut |_, piece, _| {
            *skipped += piece.len() as u64;
            Ok(())
        });
        let held = candidate.as_ref().map_or(0, |cand| cand.held.len() as u64);
        input.settle_except(held);
        scanned?;
        *state = UntilState::default();
        Ok(())
    }

    /// Consumes input up to the end token, passing the bytes before it to
    /// `emit`, with an offset from which the piece is known to hold no
    /// [`LINE_START_DOT`] (the piece's length when nothing is known; see
    /// [`Unstuffer::feed_searched`]). Returns when the end token is found
    /// (left unread).
    fn scan(
        &self,
        candidate: &mut Option<Candidate>,
        started: &mut bool,
        input: &mut Input<'_>,
        cx: &mut ParseCx<'_>,
        site: Site,
        emit: &mut EmitPiece<'_>,
    ) -> Step<()> {
        let dfa = self
            .token
            .compiled()
            .map_err(|err| cx.error(input, site, format!("invalid end token: {err}")))?;
        *started = true;
        let skipper = self
            .skipper
            .get_or_init(|| Skipper::new(self.token.pattern()))
            .as_ref();
        loop {
            let chunk = input.chunk();
            if chunk.is_empty() {
                return Err(Stop::NeedMore);
            }
            let Some(cand) = candidate else {
                // Searching within one contiguous chunk: candidates that die
                // inside it are skipped without emitting, so the bytes before
                // the end token (or before a candidate cut by the chunk's end)
                // leave as one piece, not one piece per candidate.
                let mut from = 0;
                // From here on the chunk holds no `\n.` (when known).
                let mut free_from = chunk.len();
                loop {
                    if let Some(skipper) = skipper {
                        let (to, no_dots) = skipper.skip(chunk, from);
                        if no_dots {
                            free_from = free_from.min(from);
                        }
                        from = to;
                    }
                    let Some(start) = chunk
                        .get(from..)
                        .and_then(|rest| self.first.find(rest))
                        .map(|i| from + i)
                    else {
                        let len = chunk.len();
                        emit(cx, chunk, free_from)?;
                        input.advance(len);
                        break;
                    };
                    match dfa.confirm(chunk.get(start..).unwrap_or_default()) {
                        Confirm::Dies => from = start + 1,
                        Confirm::Matches => {
                            // The end token stays unread: the grammar's next item reads it.
                            let piece = chunk.get(..start).unwrap_or_default();
                            emit(cx, piece, free_from.min(piece.len()))?;
                            input.advance(start);
                            return Ok(());
                        }
                        Confirm::Undecided(state) => {
                            // The chunk ends inside a possible end token: hold it back.
                            let piece = chunk.get(..start).unwrap_or_default();
                            emit(cx, piece, free_from.min(piece.len()))?;
                            let held = chunk.get(start..).unwrap_or_default().to_vec();
                            input.advance(chunk.len());
                            if held.len() > cx.limits.max_token_len {
                                return Err(cx.error(input, site, "end token too long"));
                            }
                            *candidate = Some(Candidate { state, held });
                            break;
                        }
                    }
                }
                continue;
            };
            // Confirming a candidate: run the DFA until it matches or dies.
            let mut used = 0;
            let mut outcome = None;
            for &byte in chunk {
                match dfa.next(cand.state, byte) {
                    None => {
                        outcome = Some(false);
                        break;
                    }
                    Some(next) => {
                        cand.state = next;
                        used += 1;
                        if dfa.accepts(next) {
                            outcome = Some(true);
                            break;
                        }
                    }
                }
            }
            cand.held
                .extend_from_slice(chunk.get(..used).unwrap_or_default());
            input.advance(used);
            if cand.held.len() > cx.limits.max_token_len {
                return Err(cx.error(input, site, "end token too long"));
            }
            match outcome {
                None => {}
                Some(true) => {
                    input.unread(&cand.held);
                    *candidate = None;
                    return Ok(());
                }
                Some(false) => {
                    let held = std::mem::take(&mut cand.held);
                    *candidate = None;
                    let (first, rest) = held.split_at(held.len().min(1));
                    input.unread(rest);
                    emit(cx, first, first.len())?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissector::{Cx, Direction, EventSink, FlowInfo, Severity, Verdict};
    use crate::parse::Pending;
    use std::net::SocketAddr;

    static DATA_END: TokenDfa = TokenDfa::new("DATA_END", r"\r?\n\.\r?\n");
    static UNTIL_DATA_END: UntilToken =
        UntilToken::new(&DATA_END, FirstBytes::Two(b'\r', b'\n'), None);
    static UNTIL_DATA_END_UNSTUFFED: UntilToken = UntilToken::new(
        &DATA_END,
        FirstBytes::Two(b'\r', b'\n'),
        Some(Transform::Unstuff),
    );

    #[derive(Default)]
    struct Chunks {
        bytes: Vec<u8>,
        lasts: usize,
    }

    impl EventSink for Chunks {
        fn event(
            &mut self,
            _: &FlowInfo,
            _: Direction,
            _: f64,
            _: &'static str,
            _: &crate::value::Value,
        ) -> Verdict {
            Verdict::Continue
        }
        fn stream(
            &mut self,
            _: &FlowInfo,
            _: Direction,
            _: f64,
            _: &'static str,
            chunk: &[u8],
            last: bool,
        ) -> Verdict {
            self.bytes.extend_from_slice(chunk);
            self.lasts += usize::from(last);
            Verdict::Continue
        }
        fn alert(&mut self, _: &FlowInfo, _: Direction, _: f64, _: Severity, _: &str) {}
    }

    fn flow() -> FlowInfo {
        let addr: SocketAddr = ([127, 0, 0, 1], 25).into();
        FlowInfo {
            id: 1,
            src: addr,
            dst: addr,
        }
    }

    /// Streams `segments` through `until`; the emitted bytes, the number of
    /// `last` calls and the unread rest (which must start with the end token).
    fn run(until: &UntilToken, segments: &[&[u8]]) -> (Vec<u8>, usize, Vec<u8>) {
        let flow = flow();
        let mut sink = Chunks::default();
        let mut pending = Pending::default();
        let mut state = UntilState::default();
        let mut rest = Vec::new();
        let mut done = false;
        for segment in segments {
            let mut cx = Cx {
                flow: &flow,
                now: 0.0,
                sink: &mut sink,
            };
            let mut pcx = ParseCx::new(&mut cx, Direction::Up);
            let mut input = Input::new(&mut pending, segment);
            if !done {
                match until.stream(&mut state, &mut input, &mut pcx, Site::new("r", "f"), "ev") {
                    Ok(()) => done = true,
                    Err(Stop::NeedMore) => {}
                    Err(Stop::Error(err)) => panic!("unexpected {err}"),
                }
            }
            if done {
                rest.extend(input.context(usize::MAX));
                input.discard();
            }
        }
        (sink.bytes, sink.lasts, rest)
    }

    #[test]
    fn finds_the_end_token_at_every_split() {
        let message = b"BLA BLA\r\n.x\r\nMORE\r\n\r\n.\r\nQUIT\n";
        for split in 0..=message.len() {
            let (a, b) = message.split_at(split);
            let (bytes, lasts, rest) = run(&UNTIL_DATA_END, &[a, b]);
            assert_eq!(bytes, b"BLA BLA\r\n.x\r\nMORE\r\n", "split at {split}");
            assert_eq!(lasts, 1);
            assert_eq!(rest, b"\r\n.\r\nQUIT\n");
        }
    }

    #[test]
    fn finds_the_end_token_fed_byte_by_byte_with_unstuffing() {
        let message = b"..a\n..\n.\n";
        let segments: Vec<&[u8]> = message.chunks(1).collect();
        let (bytes, lasts, rest) = run(&UNTIL_DATA_END_UNSTUFFED, &segments);
        assert_eq!(bytes, b".a\n.");
        assert_eq!(lasts, 1);
        assert_eq!(rest, b"\n.\n");
    }

    #[test]
    fn waits_while_the_end_token_is_incomplete() {
        let (bytes, lasts, rest) = run(&UNTIL_DATA_END, &[b"abc\r\n", b".", b"\r"]);
        assert_eq!(bytes, b"abc");
        assert_eq!(lasts, 0);
        assert!(rest.is_empty());
    }

    #[test]
    fn settled_covers_emitted_bytes_but_not_a_held_end_token() {
        let flow = flow();
        let mut sink = Chunks::default();
        let mut pending = Pending::default();
        let mut state = UntilState::default();
        let mut settled_after = Vec::new();
        for segment in [&b"abc\r"[..], b"\n.", b"x\r\n", b"."] {
            let mut cx = Cx {
                flow: &flow,
                now: 0.0,
                sink: &mut sink,
            };
            let mut pcx = ParseCx::new(&mut cx, Direction::Up);
            let mut input = Input::new(&mut pending, segment);
            let step =
                UNTIL_DATA_END.stream(&mut state, &mut input, &mut pcx, Site::new("r", "f"), "ev");
            assert_eq!(step, Err(Stop::NeedMore));
            settled_after.push(input.settled());
        }
        // `abc` | `\r` held | `\r\n.` held | `\r\n.x` failed, `\r\n` held | `\r\n.` held
        assert_eq!(settled_after, [3, 3, 7, 7]);
        assert_eq!(sink.bytes, b"abc\r\n.x");
    }

    /// Found by the `smtp_dissector` fuzz target: `resync CRLF` after a
    /// server line without a line end skipped its bytes but never settled
    /// them, so an inline user held back every byte up to the next line end,
    /// without bound. Skipped bytes settle as they go, but for a possible
    /// end token held back. (Input:
    /// `fuzz/regressions/smtp_dissector/resync-skips-without-settling`.)
    #[test]
    fn skipped_bytes_are_settled_but_not_a_held_end_token() {
        let flow = flow();
        let mut sink = Chunks::default();
        let mut pending = Pending::default();
        let mut state = UntilState::default();
        let mut skipped = 0;
        let mut settled_after = Vec::new();
        for segment in [&b"garbage"[..], b" more\r", b"\n.", b"x"] {
            let mut cx = Cx {
                flow: &flow,
                now: 0.0,
                sink: &mut sink,
            };
            let mut pcx = ParseCx::new(&mut cx, Direction::Up);
            let mut input = Input::new(&mut pending, segment);
            let step = UNTIL_DATA_END.skip(
                &mut state,
                &mut input,
                &mut pcx,
                Site::new("r", "f"),
                &mut skipped,
            );
            assert_eq!(step, Err(Stop::NeedMore));
            settled_after.push(input.settled());
        }
        // `garbage` | ` more` skipped, `\r` held | `\r\n.` held | all skipped
        assert_eq!(settled_after, [7, 12, 12, 16]);
        assert_eq!(skipped, 16);
        assert!(sink.bytes.is_empty(), "skipped bytes reach no event");
    }

    #[test]
    fn the_skipper_searches_a_needle_every_match_contains() {
        let needle = |pattern: &str| common_needle(&token_hir(pattern).expect("pattern"));
        // Every match of `\r?\n\.\r?\n` holds `\n.`, at offset 0 or 1.
        assert_eq!(needle(r"\r?\n\.\r?\n"), Some((b"\n.".to_vec(), 1)));
        assert_eq!(needle("abc|xbc"), Some((b"bc".to_vec(), 1)));
        assert_eq!(needle(r"\r\n\r\n"), Some((b"\r\n\r\n".to_vec(), 0)));
        // No common part of 2 bytes, or no finite set of prefixes: the regex.
        assert_eq!(needle("ab|cd"), None);
        assert_eq!(needle("[a-z]+;"), None);
        let skipper = Skipper::new("ab|cd").expect("bounded");
        assert!(matches!(skipper.search, SkipSearch::Regex(_)));
    }

    proptest::proptest! {
        #[test]
        fn the_skipper_never_skips_a_whole_match(
            which in 0usize..4,
            picks in proptest::collection::vec(0usize..6, 0..60),
            from in 0usize..60,
        ) {
            let tokens: [(&str, &[u8; 6]); 4] = [
                (r"\r?\n\.\r?\n", b"\r\n.a\n."),
                ("--(ab|cd)--", b"-abcd-"),
                ("x[0-9]y|zz", b"x1yz9x"),
                ("ab|cd", b"abcdba"),
            ];
            let (pattern, alphabet) = tokens[which];
            let chunk: Vec<u8> = picks.iter().map(|&i| alphabet[i]).collect();
            let skipper = Skipper::new(pattern).expect("bounded, no look-around");
            let (skipped_to, no_dots) = skipper.skip(&chunk, from);
            let re = regex::bytes::Regex::new(&format!("(?-u){pattern}")).expect("regex");
            let from = from.min(chunk.len());
            let tail = chunk.len().saturating_sub(skipper.max_len - 1);
            let leftmost = re.find_at(&chunk, from).map_or(usize::MAX, |m| m.start());
            proptest::prop_assert!(skipped_to >= from);
            proptest::prop_assert!(skipped_to <= leftmost.min(tail).max(from));
            // Only the SMTP token's needle is `\n.`; when it says none, there is none.
            let has_dots = chunk[from..].windows(2).any(|w| w == LINE_START_DOT);
            proptest::prop_assert_eq!(no_dots, which == 0 && !has_dots);
        }
    }

    proptest::proptest! {
        #[test]
        fn the_end_token_is_found_whatever_the_splits(
            picks in proptest::collection::vec(0usize..5, 0..80),
            cuts in proptest::collection::vec(1usize..30, 1..10),
        ) {
            let alphabet = b"\r\n.a.";
            let mut data: Vec<u8> = picks.iter().map(|&i| alphabet[i]).collect();
            data.extend_from_slice(b"\r\n.\r\nrest");
            let re = regex::bytes::Regex::new(r"(?-u)\r?\n\.\r?\n").expect("regex");
            let start = re.find(&data).map_or(data.len(), |m| m.start());
            let mut segments: Vec<&[u8]> = Vec::new();
            let mut rest = data.as_slice();
            let mut k = 0;
            while !rest.is_empty() {
                let (piece, after) = rest.split_at(cuts[k % cuts.len()].min(rest.len()));
                segments.push(piece);
                rest = after;
                k += 1;
            }
            let (bytes, lasts, unread) = run(&UNTIL_DATA_END, &segments);
            proptest::prop_assert_eq!(&bytes[..], &data[..start]);
            proptest::prop_assert_eq!(lasts, 1);
            proptest::prop_assert_eq!(&unread[..], &data[start..]);
            // Unstuffed, with what the scan's search found passed on.
            let (bytes, lasts, unread) = run(&UNTIL_DATA_END_UNSTUFFED, &segments);
            proptest::prop_assert_eq!(bytes, Unstuffer::unstuff_all(&data[..start]));
            proptest::prop_assert_eq!(lasts, 1);
            proptest::prop_assert_eq!(&unread[..], &data[start..]);
        }
    }
}
