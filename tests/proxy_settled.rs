//! `Dissector::settled` on the generated SMTP dissector: the mark an inline
//! proxy forwards up to. A command in progress is not settled; a complete one
//! is; mail content is settled as it streams, except a possible end-of-data
//! prefix held back; a flow that stops settles everything.

#[path = "fixtures/recorder.rs"]
mod recorder;

// A generated module offers more API than one test uses.
#[allow(dead_code)]
mod smtp {
    include!(concat!(env!("OUT_DIR"), "/smtp.rs"));
}

use protoc_runtime::dissector::{Cx, Direction, Dissector, FlowStatus};
use recorder::{flow, Entry, Recorder};

/// A dissector and its recorder, fed piece by piece.
struct Session {
    dissector: smtp::SmtpDissector,
    recorder: Recorder,
}

impl Session {
    fn new() -> Session {
        Session {
            dissector: smtp::SmtpDissector::new(),
            recorder: Recorder::default(),
        }
    }

    fn feed(&mut self, dir: Direction, bytes: &[u8]) {
        let flow = flow();
        let mut cx = Cx {
            flow: &flow,
            now: 0.0,
            sink: &mut self.recorder,
        };
        self.dissector.feed(dir, bytes, &mut cx);
    }

    fn up(&mut self, bytes: &[u8]) -> u64 {
        self.feed(Direction::Up, bytes);
        self.dissector.settled(Direction::Up)
    }

    fn down(&mut self, bytes: &[u8]) -> u64 {
        self.feed(Direction::Down, bytes);
        self.dissector.settled(Direction::Down)
    }

    /// The bytes streamed to `mail_content` so far.
    fn mail_content(&self) -> Vec<u8> {
        self.recorder
            .entries
            .iter()
            .filter_map(|entry| match entry {
                Entry::Stream { bytes, .. } => Some(bytes.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

const GREETING: &[u8] = b"220 mx.example ESMTP\r\n";
const EHLO: &[u8] = b"EHLO client.example\r\n";
const OK: &[u8] = b"250 ok\r\n";

/// A session greeted and introduced; returns the bytes of each direction so far.
fn introduced(session: &mut Session) -> (u64, u64) {
    assert_eq!(session.down(GREETING), GREETING.len() as u64);
    assert_eq!(session.up(EHLO), EHLO.len() as u64);
    assert_eq!(session.down(OK), (GREETING.len() + OK.len()) as u64);
    (EHLO.len() as u64, (GREETING.len() + OK.len()) as u64)
}

#[test]
fn a_partial_command_is_not_settled_until_its_line_ends() {
    let mut session = Session::new();
    assert_eq!(session.dissector.settled(Direction::Up), 0);
    let (up, _) = introduced(&mut session);
    assert_eq!(
        session.up(b"MAIL FROM:<a@b"),
        up,
        "the command is in progress"
    );
    assert_eq!(session.up(b".org>\r"), up, "still no line end");
    assert_eq!(
        session.up(b"\n"),
        up + b"MAIL FROM:<a@b.org>\r\n".len() as u64,
        "the complete line is settled"
    );
}

#[test]
fn a_multiline_reply_is_settled_only_with_its_last_line() {
    let mut session = Session::new();
    let (_, down) = introduced(&mut session);
    session.up(b"NOOP\r\n");
    assert_eq!(session.down(b"250-first\r\n250-second\r\n"), down);
    assert_eq!(
        session.down(b"250 last\r\n"),
        down + b"250-first\r\n250-second\r\n250 last\r\n".len() as u64
    );
}

#[test]
fn mail_content_is_settled_as_it_streams_but_not_a_possible_end_of_data() {
    let mut session = Session::new();
    let (mut up, _) = introduced(&mut session);
    for command in [&b"MAIL FROM:<a@b.org>\r\n"[..], b"RCPT TO:<c@d.org>\r\n"] {
        up += command.len() as u64;
        assert_eq!(session.up(command), up);
        session.down(OK);
    }
    up += 6;
    assert_eq!(session.up(b"DATA\r\n"), up);
    session.down(b"354 go ahead\r\n");
    let data_start = up;

    // Byte by byte: the mark never goes back, covers exactly the bytes the
    // rules have seen (no dot-stuffing here), and never covers `\r\n.` or a
    // shorter prefix of the end-of-data line while it may still come.
    let body = b"Subject: hi\r\n\r\nline one\r\n.not the end\r\nlast line";
    let mut last = data_start;
    for (i, byte) in body.iter().enumerate() {
        let settled = session.up(std::slice::from_ref(byte));
        assert!(settled >= last, "the mark never goes back");
        last = settled;
        assert_eq!(
            settled - data_start,
            session.mail_content().len() as u64,
            "settled bytes are the streamed ones (after byte {i})"
        );
        let fed = &body[..=i];
        let held = if fed.ends_with(b"\r\n.") {
            3
        } else if fed.ends_with(b"\r\n") {
            2
        } else if fed.ends_with(b"\r") || fed.ends_with(b"\n") {
            1
        } else {
            0
        };
        assert_eq!(
            settled,
            data_start + fed.len() as u64 - held,
            "after byte {i}"
        );
    }
    let fed = data_start + body.len() as u64;
    assert_eq!(
        session.up(b"\r\n."),
        fed,
        "`\\r\\n.` may start the end of data"
    );
    assert_eq!(session.up(b"\r"), fed);
    assert_eq!(
        session.up(b"\n"),
        fed + 5,
        "the end-of-data line completes the message"
    );
    assert_eq!(session.mail_content(), body);
}

#[test]
fn a_dropped_or_finished_flow_settles_everything() {
    let mut dropped = Session::new();
    dropped.recorder.drop_on = Some("command");
    dropped.down(GREETING);
    assert_eq!(dropped.up(b"EHLO x\r\n"), u64::MAX);
    assert_eq!(dropped.dissector.status(), FlowStatus::Dropped);
    assert_eq!(dropped.dissector.settled(Direction::Down), u64::MAX);

    let mut finished = Session::new();
    introduced(&mut finished);
    finished.up(b"QUIT\r\n");
    assert_eq!(finished.down(b"221 bye\r\n"), u64::MAX);
    assert_eq!(finished.dissector.status(), FlowStatus::Finished);
}
