//! [`RulesSink`]: the [`EventSink`] that runs a [`RuleSet`] over events and
//! writes everything through an [`OutputSink`].
//!
//! Invariants:
//! - an event reaches the output before the rules run, so its line precedes
//!   the alerts and logs it causes;
//! - a stream's rules run once, at its first chunk; its extractions end (file
//!   closed, record or end line written) before the output's stream summary;
//! - an extracted stream is hashed once: its digest is also the dissector's
//!   (`hashes_stream`, `stream_digest`), for specs that read `EVENT.sha256`;
//! - every regex of the rule set is compiled once, when the sink is built; an
//!   invalid one (which the checker rejects) never matches;
//! - a stream's later chunks cost no lookup by name: the stream that got the
//!   previous chunk is remembered with whether it is being extracted (chunks
//!   come a line at a time, in runs of one stream);
//! - nothing here panics on what events carry: missing fields are `Null`.

use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;

use regex::Regex;
use rustc_hash::{FxHashMap, FxHashSet};

use super::extract::{Extractor, StreamKey};
use super::{Rule, RuleAction, RuleSet};
use crate::dissector::{CapHit, Direction, EventSink, FlowInfo, Severity, Verdict};
use crate::expr::{eval, Expr, ExprKind, Scope, TemplatePart};
use crate::output::{same_stream, AlertSource, OutputSink};
use crate::value::Value;

/// What the rules did during a run, for the stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleCounts {
    /// Alerts raised by rules (they are also in the output's alert count).
    pub alerts: u64,
    /// Flows dropped by a rule.
    pub drops: u64,
    /// `log` records written.
    pub logs: u64,
    /// Streams extracted (each `extract` of each stream counts once).
    pub extracted_streams: u64,
    pub extracted_bytes: u64,
    /// Extraction files that could not be written in full.
    pub extract_errors: u64,
}

/// Runs rules on the events of every flow, then hands them on to `output`.
pub struct RulesSink<W: Write> {
    output: OutputSink<W>,
    rules: Vec<Rule>,
    /// Spec name → event name → indexes into `rules`, in file order.
    hooks: FxHashMap<String, FxHashMap<String, Vec<usize>>>,
    /// Every pattern of the rule set, compiled.
    regexes: FxHashMap<String, Regex>,
    /// Protocol name of each flow.
    protos: FxHashMap<u64, &'static str>,
    /// Streams whose first chunk has been seen (and rules run, if hooked),
    /// until their last chunk.
    started: FxHashSet<StreamKey>,
    /// The stream of the previous chunk, if it goes on, and whether it is
    /// being extracted.
    current: Option<(StreamKey, bool)>,
    extractor: Extractor,
    counts: RuleCounts,
}

impl<W: Write> RulesSink<W> {
    /// A sink running `rules` in front of `output`. Without
    /// [`with_extract_dir`](Self::with_extract_dir), extracted content is
    /// dumped (text output) or summarised (JSON output).
    pub fn new(rules: RuleSet, output: OutputSink<W>) -> Self {
        let mut hooks: FxHashMap<String, FxHashMap<String, Vec<usize>>> = FxHashMap::default();
        let mut regexes = FxHashMap::default();
        for (i, rule) in rules.rules.iter().enumerate() {
            hooks
                .entry(rule.spec.clone())
                .or_default()
                .entry(rule.event.clone())
                .or_default()
                .push(i);
            for pattern in patterns_of(rule) {
                if let Ok(re) = Regex::new(pattern) {
                    regexes.insert(pattern.to_string(), re);
                }
            }
        }
        RulesSink {
            output,
            rules: rules.rules,
            hooks,
            regexes,
            protos: FxHashMap::default(),
            started: FxHashSet::default(),
            current: None,
            extractor: Extractor::new(),
            counts: RuleCounts::default(),
        }
    }

    /// Writes extracted content to files in `dir` (created if missing).
    pub fn with_extract_dir(mut self, dir: impl Into<PathBuf>) -> io::Result<Self> {
        self.extractor.set_dir(dir.into())?;
        Ok(self)
    }

    /// Caps how many extraction files are open at once (default
    /// [`DEFAULT_MAX_OPEN_FILES`](super::DEFAULT_MAX_OPEN_FILES); at least 1).
    pub fn with_max_open_files(mut self, max: usize) -> Self {
        self.extractor.set_max_open_files(max);
        self
    }

    /// Caps the bytes extraction buffers hold together before writing them
    /// to their files (default 16 MiB; 0 writes every chunk through).
    pub fn with_max_extract_buffer(mut self, max: usize) -> Self {
        self.extractor.set_max_buffered(max);
        self
    }

    /// Records which protocol a flow speaks (forwarded to the output). Rules
    /// only run on flows whose protocol is known.
    pub fn set_proto(&mut self, flow: u64, proto: &'static str) {
        self.protos.insert(flow, proto);
        self.output.set_proto(flow, proto);
    }

    /// Forgets a flow that ended or was dropped: extractions still open on it
    /// end as incomplete; then the output forgets it too.
    pub fn forget(&mut self, flow: u64) {
        self.extractor.finish_flow(flow, &mut self.output);
        self.started.retain(|(f, _, _)| *f != flow);
        if self.current.is_some_and(|((f, _, _), _)| f == flow) {
            self.current = None;
        }
        self.protos.remove(&flow);
        self.output.forget(flow);
    }

    /// Ends every extraction still open, as incomplete (call at the end of a run).
    pub fn finish(&mut self) {
        self.extractor.finish_all(&mut self.output);
        self.started.clear();
        self.current = None;
    }

    pub fn counts(&self) -> RuleCounts {
        let extract = self.extractor.counts();
        RuleCounts {
            extracted_streams: extract.streams,
            extracted_bytes: extract.bytes,
            extract_errors: extract.errors,
            ..self.counts
        }
    }

    pub fn output(&self) -> &OutputSink<W> {
        &self.output
    }

    pub fn output_mut(&mut self) -> &mut OutputSink<W> {
        &mut self.output
    }

    /// The output, after ending open extractions ([`finish`](Self::finish)).
    pub fn into_output(mut self) -> OutputSink<W> {
        self.finish();
        self.output
    }

    fn hooked(&self, flow: u64, event: &str) -> bool {
        self.protos
            .get(&flow)
            .and_then(|proto| self.hooks.get(*proto))
            .is_some_and(|events| events.contains_key(event))
    }

    /// Runs the rules hooked on `event` of the flow's protocol, in order.
    /// `stream` is the stream being started, for streamed events.
    fn run_rules(
        &mut self,
        flow: &FlowInfo,
        dir: Direction,
        now: f64,
        event: &str,
        fields: &Value,
        stream: Option<StreamKey>,
    ) -> Verdict {
        let Some(indexes) = self
            .protos
            .get(&flow.id)
            .and_then(|proto| self.hooks.get(*proto))
            .and_then(|events| events.get(event))
        else {
            return Verdict::Continue;
        };
        let scope = EventScope {
            fields,
            regexes: &self.regexes,
        };
        for rule in indexes.iter().filter_map(|&i| self.rules.get(i)) {
            if let Some(cond) = &rule.when {
                if !eval(cond, &scope).truthy() {
                    continue;
                }
            }
            let mut drop = false;
            for action in &rule.actions {
                match action {
                    RuleAction::Alert {
                        severity,
                        description,
                    } => {
                        self.counts.alerts += 1;
                        let text = description.render(&scope);
                        self.output.write_alert(
                            AlertSource::Rule(&rule.name),
                            flow,
                            dir,
                            now,
                            *severity,
                            &text,
                        );
                    }
                    RuleAction::Drop => drop = true,
                    RuleAction::Extract { label } => {
                        if let Some(key) = stream {
                            self.extractor
                                .start(key, flow, now, label, &mut self.output);
                        }
                    }
                    RuleAction::Log(template) => {
                        self.counts.logs += 1;
                        let record = Value::Record(vec![
                            ("rule".into(), Value::Str(rule.name.clone())),
                            ("message".into(), Value::Str(template.render(&scope))),
                        ]);
                        self.output.write_record("log", flow, dir, now, &record);
                    }
                }
            }
            if drop {
                self.counts.drops += 1;
                return Verdict::Drop;
            }
        }
        Verdict::Continue
    }
}

impl<W: Write> EventSink for RulesSink<W> {
    fn event(
        &mut self,
        flow: &FlowInfo,
        dir: Direction,
        now: f64,
        name: &'static str,
        fields: &Value,
    ) -> Verdict {
        let written = self.output.event(flow, dir, now, name, fields);
        let ruled = self.run_rules(flow, dir, now, name, fields, None);
        strictest(written, ruled)
    }

    fn stream(
        &mut self,
        flow: &FlowInfo,
        dir: Direction,
        now: f64,
        name: &'static str,
        chunk: &[u8],
        last: bool,
    ) -> Verdict {
        if self.rules.is_empty() {
            // No rule: nothing to run or extract, only the output.
            return self.output.stream(flow, dir, now, name, chunk, last);
        }
        let key: StreamKey = (flow.id, dir, name);
        let mut ruled = Verdict::Continue;
        let extracting = match self.current {
            Some((current, extracting)) if same_stream(&current, &key) => extracting,
            _ => {
                let new_stream = self.started.insert(key);
                if new_stream {
                    self.extractor.clear_digest();
                }
                if new_stream && self.hooked(flow.id, name) {
                    let no_fields = Value::Record(Vec::new());
                    ruled = self.run_rules(flow, dir, now, name, &no_fields, Some(key));
                }
                let extracting = self.extractor.is_active(&key);
                self.current = Some((key, extracting));
                extracting
            }
        };
        if extracting {
            self.extractor.write(&key, now, chunk, &mut self.output);
            if last {
                self.extractor.finish(&key, now, &mut self.output);
            }
        }
        if last {
            self.started.remove(&key);
            self.current = None;
        }
        let written = self.output.stream(flow, dir, now, name, chunk, last);
        strictest(ruled, written)
    }

    fn hashes_stream(&mut self, flow: &FlowInfo, dir: Direction, name: &'static str) -> bool {
        self.extractor.hashes_whole(&(flow.id, dir, name))
    }

    fn stream_digest(
        &mut self,
        flow: &FlowInfo,
        dir: Direction,
        name: &'static str,
    ) -> Option<[u8; 32]> {
        self.extractor.take_digest(&(flow.id, dir, name))
    }

    fn sha256_lanes(&mut self) -> Option<&mut crate::sha256::Sha256Lanes> {
        Some(self.extractor.lanes())
    }

    fn alert(
        &mut self,
        flow: &FlowInfo,
        dir: Direction,
        now: f64,
        severity: Severity,
        description: &str,
    ) {
        self.output.alert(flow, dir, now, severity, description);
    }

    fn parse_error(&mut self, flow: &FlowInfo, dir: Direction, now: f64, message: &str) {
        self.output.parse_error(flow, dir, now, message);
    }

    fn gap(&mut self, flow: &FlowInfo, dir: Direction, now: f64, len: u64) {
        self.output.gap(flow, dir, now, len);
    }

    fn cap(&mut self, flow: &FlowInfo, dir: Direction, now: f64, hit: &CapHit<'_>) {
        self.output.cap(flow, dir, now, hit);
    }

    fn overlap(&mut self, flow: &FlowInfo, dir: Direction, now: f64, offset: u64, len: u64) {
        self.output.overlap(flow, dir, now, offset, len);
    }

    fn tracing(&self) -> bool {
        self.output.tracing()
    }

    fn trace(&mut self, flow: &FlowInfo, message: fmt::Arguments<'_>) {
        self.output.trace(flow, message);
    }
}

/// `Drop` if either says so.
fn strictest(a: Verdict, b: Verdict) -> Verdict {
    if a == Verdict::Drop || b == Verdict::Drop {
        Verdict::Drop
    } else {
        Verdict::Continue
    }
}

/// The variables of a rule: the event's fields.
struct EventScope<'a> {
    fields: &'a Value,
    regexes: &'a FxHashMap<String, Regex>,
}

impl Scope for EventScope<'_> {
    fn var(&self, name: &str) -> Value {
        self.fields.field(name).clone()
    }

    fn regex(&self, pattern: &str) -> Option<Regex> {
        self.regexes.get(pattern).cloned()
    }

    fn regex_match(&self, pattern: &str, text: &str) -> bool {
        self.regexes
            .get(pattern)
            .is_some_and(|re| re.is_match(text))
    }
}

/// Every regex pattern a rule's expressions use.
fn patterns_of(rule: &Rule) -> Vec<&str> {
    let mut exprs: Vec<&Expr> = rule.when.iter().collect();
    for action in &rule.actions {
        let template = match action {
            RuleAction::Alert { description, .. } => description,
            RuleAction::Log(template) => template,
            RuleAction::Drop | RuleAction::Extract { .. } => continue,
        };
        exprs.extend(template.parts.iter().filter_map(|part| match part {
            TemplatePart::Expr(e) => Some(e),
            TemplatePart::Text(_) => None,
        }));
    }
    let mut patterns = Vec::new();
    while let Some(expr) = exprs.pop() {
        match &expr.kind {
            ExprKind::Lit(_) | ExprKind::Var(_) => {}
            ExprKind::Field(base, _) => exprs.push(base),
            ExprKind::Index(base, index) => exprs.extend([&**base, &**index]),
            ExprKind::Lookup { key, .. } => exprs.push(key),
            ExprKind::Call(_, args) => exprs.extend(args.iter()),
            ExprKind::Unary(_, e) => exprs.push(e),
            ExprKind::Binary(_, a, b) => exprs.extend([&**a, &**b]),
            ExprKind::Match(subject, pattern) => {
                exprs.push(subject);
                patterns.push(pattern.as_str());
            }
        }
    }
    patterns
}
