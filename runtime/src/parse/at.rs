//! `at OFFSET RECORD`: parses a record from the bytes of the current
//! message already read, starting at a position of the message, without
//! moving the input (a name compression pointer, an offset table).
//!
//! Invariants: a positioned parse reads only bytes of the current message
//! read so far (the journal, or the view of an enclosing positioned parse):
//! running past them is a parse error, never a wait; positioned parses nest
//! at most [`MAX_AT_DEPTH`] deep, and the positioned parses of one call read
//! at most `max_message_len` bytes in all, so a message whose positions
//! loop or fan out is a parse error after bounded work.

use super::{Input, ParseCx, Pending, Site, Step, Stop};

/// How deeply positioned parses may nest.
pub const MAX_AT_DEPTH: u32 = 16;

/// Runs `run` (a record parser) on the message's bytes from `offset` on,
/// and returns its result; `input` is left where it was.
pub fn parse_at<T>(
    offset: Option<i64>,
    input: &mut Input<'_>,
    cx: &mut ParseCx<'_>,
    site: Site,
    run: impl FnOnce(&mut Input<'_>, &mut ParseCx<'_>) -> Step<T>,
) -> Step<T> {
    let Some(offset) = offset.and_then(|o| usize::try_from(o).ok()) else {
        return Err(cx.error(input, site, "invalid position (absent or negative)"));
    };
    if cx.at_depth >= MAX_AT_DEPTH {
        return Err(cx.error(
            input,
            site,
            format!("positions nested more than {MAX_AT_DEPTH} deep"),
        ));
    }
    let journal = input.take_journal();
    let view = input.view();
    let result = {
        let message: &[u8] = match (&journal, view) {
            (Some((bytes, _)), _) => bytes,
            (None, Some(view)) => view,
            (None, None) => &[],
        };
        let mut sub_pending = Pending::default();
        match Input::positioned(&mut sub_pending, message, offset) {
            None => Err(cx.error(
                input,
                site,
                format!(
                    "position {offset} lies past the {} bytes read",
                    message.len()
                ),
            )),
            Some(mut sub) => {
                cx.at_depth += 1;
                let result = run(&mut sub, cx);
                cx.at_depth -= 1;
                cx.at_read = cx
                    .at_read
                    .saturating_add(sub.message_offset().saturating_sub(offset as u64));
                if cx.at_read > cx.limits.max_message_len {
                    Err(cx.error(input, site, "positioned parses read too many bytes"))
                } else {
                    match result {
                        Err(Stop::NeedMore) => Err(cx.error(
                            input,
                            site,
                            format!("the record at position {offset} runs past the bytes read"),
                        )),
                        other => other,
                    }
                }
            }
        }
    };
    if let Some(journal) = journal {
        input.restore_journal(journal);
    }
    result
}
