//! Resynchronisation: skipping a direction's bytes up to and including the
//! next match of a token (`resync TOKEN;` in a state machine), so that
//! parsing starts again at a boundary the spec trusts, such as a line start
//! after a gap or a parse error. With `unless OTHER`, nothing is skipped
//! when `OTHER` matches right away (the bytes already look like a boundary:
//! after a gap, a command verb).
//!
//! Invariants: the bytes before the token's match and the match itself are
//! consumed and never parsed; the bytes after it are left unread; the search
//! keeps only a possible match in progress (at most the token's longest
//! match, capped by `max_token_len`), never the skipped bytes.

use super::token::{TokenDfa, TokenState};
use super::until::{UntilState, UntilToken};
use super::{Input, ParseCx, Site, Step};

/// One direction's resynchronisation in progress.
#[derive(Debug)]
pub struct Resync {
    until: &'static UntilToken,
    unless: Option<&'static TokenDfa>,
    /// Whether `unless` was tried (it did not match).
    checked: bool,
    search: UntilState,
    token: TokenState,
    /// Whether the token's match starts at the next unread byte.
    found: bool,
    /// Bytes skipped so far, the match included.
    skipped: u64,
}

impl Resync {
    /// A resynchronisation to just after the next match of `until`'s token,
    /// unless `unless` matches at once.
    pub fn new(until: &'static UntilToken, unless: Option<&'static TokenDfa>) -> Resync {
        Resync {
            until,
            unless,
            checked: false,
            search: UntilState::default(),
            token: TokenState::default(),
            found: false,
            skipped: 0,
        }
    }

    /// Skips bytes up to and including the token's next match; `Ok` with
    /// the number of bytes skipped once it is consumed, `NeedMore` while it
    /// is not found yet (progress is kept).
    pub fn run(&mut self, input: &mut Input<'_>, cx: &mut ParseCx<'_>) -> Step<u64> {
        let site = Site::new("<resync>", "<skipped>");
        if !self.checked {
            if let Some(unless) = self.unless {
                if unless.matches_here(&mut self.token, input, cx, site)? {
                    return Ok(0);
                }
            }
            self.checked = true;
        }
        if !self.found {
            self.until
                .skip(&mut self.search, input, cx, site, &mut self.skipped)?;
            self.found = true;
        }
        let matched = self.until.token().read(&mut self.token, input, cx, site)?;
        Ok(self.skipped + matched.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissector::{Cx, Direction, EventSink, FlowInfo, Severity, Verdict};
    use crate::parse::token::{FirstBytes, TokenDfa};
    use crate::parse::{Pending, Stop};
    use crate::value::Value;
    use std::net::SocketAddr;

    static CRLF: TokenDfa = TokenDfa::new("CRLF", r"\r?\n");
    static UNTIL_CRLF: UntilToken = UntilToken::new(&CRLF, FirstBytes::Two(b'\r', b'\n'), None);

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

    #[test]
    fn skips_through_the_next_line_end_at_every_split() {
        let addr: SocketAddr = ([127, 0, 0, 1], 25).into();
        let flow = FlowInfo {
            id: 1,
            src: addr,
            dst: addr,
        };
        let data = b"TA\rIL OF A LINE\r\nNEXT\r\n";
        for split in 0..=data.len() {
            let (a, b) = data.split_at(split);
            let mut pending = Pending::default();
            let mut resync = Resync::new(&UNTIL_CRLF, None);
            let mut rest = Vec::new();
            let mut skipped = None;
            for segment in [a, b] {
                let mut sink = NoSink;
                let mut cx = Cx {
                    flow: &flow,
                    now: 0.0,
                    sink: &mut sink,
                };
                let mut pcx = ParseCx::new(&mut cx, Direction::Up);
                let mut input = Input::new(&mut pending, segment);
                if skipped.is_none() {
                    match resync.run(&mut input, &mut pcx) {
                        Ok(n) => skipped = Some(n),
                        Err(Stop::NeedMore) => {}
                        Err(Stop::Error(err)) => panic!("{err}"),
                    }
                }
                if skipped.is_some() {
                    rest.extend(input.context(usize::MAX));
                    input.discard();
                }
            }
            assert_eq!(skipped, Some(17), "split at {split}");
            assert_eq!(rest, b"NEXT\r\n", "split at {split}");
        }
    }

    #[test]
    fn nothing_is_skipped_when_the_unless_token_matches_at_once() {
        static VERB: TokenDfa = TokenDfa::new("VERB", r"(?i:DATA|QUIT)[ \r\n]");
        let addr: SocketAddr = ([127, 0, 0, 1], 25).into();
        let flow = FlowInfo {
            id: 1,
            src: addr,
            dst: addr,
        };
        for (data, skipped, rest) in [
            (&b"DATA\r\nX"[..], 0, &b"DATA\r\nX"[..]),
            (&b"TA\r\nQUIT\r\n"[..], 4, &b"QUIT\r\n"[..]),
        ] {
            for split in 0..=data.len() {
                let (a, b) = data.split_at(split);
                let mut pending = Pending::default();
                let mut resync = Resync::new(&UNTIL_CRLF, Some(&VERB));
                let mut got = Vec::new();
                let mut done = None;
                for segment in [a, b] {
                    let mut sink = NoSink;
                    let mut cx = Cx {
                        flow: &flow,
                        now: 0.0,
                        sink: &mut sink,
                    };
                    let mut pcx = ParseCx::new(&mut cx, Direction::Up);
                    let mut input = Input::new(&mut pending, segment);
                    if done.is_none() {
                        match resync.run(&mut input, &mut pcx) {
                            Ok(n) => done = Some(n),
                            Err(Stop::NeedMore) => {}
                            Err(Stop::Error(err)) => panic!("{err}"),
                        }
                    }
                    if done.is_some() {
                        got.extend(input.context(usize::MAX));
                        input.discard();
                    }
                }
                assert_eq!(done, Some(skipped), "{data:?} split at {split}");
                assert_eq!(got, rest, "{data:?} split at {split}");
            }
        }
    }
}
