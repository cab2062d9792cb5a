{#- The Rust module generated for one spec. Rendered by
    compiler/src/codegen/mod.rs from the plans built in records.rs and
    machine.rs; step and handler bodies arrive already written. The output is
    then parsed with syn and pretty-printed, so layout here is free. -#}
/// The spec this module was generated from (for traces).
const SOURCE: &str = {{ source_lit }};

{% for c in consts -%}
/// `const {{ c.name }}` of the spec: the value for a key, if any.
pub fn {{ c.fn_name }}(key: &str) -> Option<&'static str> {
    match key {
        {% for (key, value) in c.entries -%}
        {{ key }} => Some({{ value }}),
        {% endfor -%}
        _ => None,
    }
}
{% endfor %}

{% for t in tokens -%}
/// `token {{ t.name }} = /{{ t.pattern }}/;`
pub static {{ t.static_name }}: {{ t.rust_type }} = {{ t.init }};
{% endfor %}

{% for u in untils -%}
{{ u.dfa_decl() }}
/// The end of a `bytes until {{ u.token_static }}` field, and the bytes its match can start with.
pub static {{ u.static_name }}: UntilToken = UntilToken::new(&{{ u.token_static }}, {{ u.first_bytes }}, {% if u.unstuff %}Some(Transform::Unstuff){% else %}None{% endif %});
{% endfor %}

{% for (i, p) in patterns -%}
/// The regex of a `~ /{{ p }}/` match.
static PATTERN_{{ i }}: LazyRegex = LazyRegex::new({{ p|raw_lit }});
{% endfor %}

{% for r in records %}
/// The result of `record {{ r.name }}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct {{ r.type_name }} {
    {% for f in r.fields -%}
    {% if f.hidden %}/// `var {{ f.name }}`: kept while parsing, not part of the record's value.
    {% endif %}pub {{ f.ident }}: {{ f.rust_type }},
    {% endfor %}
}

impl ToValue for {{ r.type_name }} {
    /// The record as a `Value::Record`, fields in spec order, absent optionals omitted.
    fn to_value(&self) -> Value {
        {{ r.to_value_body }}
    }
}

impl IntoValue for {{ r.type_name }} {
    /// The record as a `Value::Record`, its strings and vectors moved in.
    fn into_value(self) -> Value {
        {{ r.into_value_body }}
    }
}

/// Parses `record {{ r.name }}` one segment at a time: the state of a message
/// in progress stays in this struct between calls.
#[derive(Debug, Default)]
pub struct {{ r.parser_name }} {
    /// The next step to run.
    step: u32,
    /// The fields parsed so far.
    result: {{ r.type_name }},
    {% for (name, ty) in r.slots -%}
    {{ name }}: {{ ty }},
    {% endfor %}
}

impl {{ r.parser_name }} {
    /// Parses one `{{ r.name }}`, resuming where the last call stopped. After
    /// `Done` or `Error` the parser is ready for the next message.
    pub fn parse(&mut self, input: &mut Input<'_>, cx: &mut ParseCx<'_>) -> Progress<{{ r.type_name }}> {
        let progress = Progress::from(self.run(input, cx));
        if let Progress::Error(_) = progress {
            *self = Self::default();
        }
        progress
    }

    {% if !r.backtrack_arms.is_empty() -%}
    /// Runs the steps; when a `try` alternative fails, rewinds and tries
    /// the next one (see `backtrack`).
    pub fn run(&mut self, input: &mut Input<'_>, cx: &mut ParseCx<'_>) -> Step<{{ r.type_name }}> {
        loop {
            match self.steps(input, cx) {
                Err(Stop::Error(err)) => {
                    if !self.backtrack(input, cx)? {
                        return Err(Stop::Error(err));
                    }
                }
                other => return other,
            }
        }
    }

    /// A `try` alternative failed at `self.step` (these steps are its
    /// alternatives but the last): on to the next alternative. `false` when
    /// no `try` can take the failure.
    fn backtrack(&mut self, input: &mut Input<'_>, cx: &mut ParseCx<'_>) -> Step<bool> {
        match self.step {
            {% for arm in r.backtrack_arms -%}
            {{ arm }}
            {% endfor -%}
            _ => Ok(false),
        }
    }

    {% for m in r.retry_methods -%}
    {{ m }}

    {% endfor -%}
    /// Forgets what a failed alternative left in the parser's slots.
    fn reset_slots(&mut self) {
        {% for s in r.reset_slots -%}
        {{ s }}
        {% endfor -%}
    }

    {% endif -%}
    /// Runs the steps from `self.step` on; `?` returns `NeedMore` (state kept)
    /// and errors to the caller.
    {% if r.backtrack_arms.is_empty() %}pub fn run{% else %}fn steps{% endif %}(&mut self, {% if r.uses_input %}input{% else %}_input{% endif %}: &mut Input<'_>, {% if r.uses_cx %}cx{% else %}_cx{% endif %}: &mut ParseCx<'_>) -> Step<{{ r.type_name }}> {
        {% if r.uses_vars -%}
        protoc_comment!("The state machine's variables, which this record's expressions read.");
        let vars: &Vars = cx.vars::<Vars>().unwrap_or(&NO_VARS);
        {% endif -%}
        {% if r.steps.is_empty() -%}
        Ok(std::mem::take(self).result)
        {%- else -%}
        {% if r.loops %}loop {
        {% endif %}
            match self.step {
                {% for step in r.steps -%}
                {{ step.number }} => {
                    protoc_comment!({{ step.comment|str_lit }});
                    {{ step.body }}
                }
                {% endfor -%}
                _ => {
                    protoc_comment!("The record is complete: hand it over and start afresh.");
                    {% if r.loops %}return {% endif %}Ok(std::mem::take(self).result){% if r.loops %};{% endif %}
                }
            }
        {% if r.loops %}}
        {% endif %}
        {%- endif %}
    }

    /// Sends the `last` call of a chunked field cut short (end of stream, gap).
    pub fn end_streams(&mut self, {% if r.end_streams.is_empty() %}_cx{% else %}cx{% endif %}: &mut ParseCx<'_>) -> Step<()> {
        {% for s in r.end_streams -%}
        {{ s }}
        {% endfor -%}
        Ok(())
    }
    {% if !r.absorb_arms.is_empty() %}
    /// A gap of `len` bytes in this message: a streamed `bytes count` field
    /// in progress absorbs what it can; returns the rest (0: all of it).
    pub fn absorb_gap(&mut self, len: u64, cx: &mut ParseCx<'_>) -> u64 {
        match self.step {
            {% for a in r.absorb_arms -%}
            {{ a }}
            {% endfor -%}
            _ => len,
        }
    }
    {% endif %}
}
{% endfor %}

/// The states of `{{ spec_name }}`'s state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum State {
    {% for (variant, _, initial) in machine.states -%}
    {% if initial %}#[default]{% endif %}
    {{ variant }},
    {% endfor %}
}

impl State {
    /// The state's name in the spec.
    pub fn name(self) -> &'static str {
        match self {
            {% for (variant, name, _) in machine.states -%}
            State::{{ variant }} => {{ name|str_lit }},
            {% endfor %}
        }
    }
}

/// The messages states ask for (exported records used as grammars).
#[allow(clippy::enum_variant_names)] // variants are record names, which often share a prefix
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Message {
    {% for m in machine.messages -%}
    {{ m.variant }},
    {% endfor %}
}

impl Message {
    fn record(self) -> &'static str {
        match self {
            {% for m in machine.messages -%}
            Message::{{ m.variant }} => {{ m.record|str_lit }},
            {% endfor %}
        }
    }
}

{% if !machine.vars.is_empty() -%}
/// The spec's per-flow variables (`var NAME: TYPE;`), at their defaults first.
#[derive(Debug, Default)]
struct Vars {
    {% for (name, ty) in machine.vars -%}
    {{ name }}: {{ ty }},
    {% endfor %}
}

/// The variables at their defaults, for a parser run without a state machine.
static NO_VARS: Vars = Vars {
    {% for (name, value) in machine.var_consts -%}
    {{ name }}: {{ value }},
    {% endfor %}
};
{%- endif %}

/// Streamed events whose streams are hashed (the spec reads their `sha256`).
const DIGESTS: &[&str] = &[{% for d in machine.digests %}{{ d }}, {% endfor %}];

/// The state machine: current state, flow status and timeout clock. The
/// transition handlers below are the spec's transitions, in order.
#[derive(Debug)]
struct Machine {
    state: State,
    status: FlowStatus,
    /// The direction of the bytes being handled (for `trigger` and `alert`).
    dir: Direction,
    /// Whether `init` has fired.
    started: bool,
    /// Capture time the current state was entered, and of the last `tick`.
    entered_at: f64,
    ticked_at: f64,
    /// Nested jumps (from `enter`/`leave` transitions), to stop jump loops.
    jumps: u32,
    /// Which streamed events have a stream open, and their tallies.
    streams: StreamBook,
    {% if !machine.vars.is_empty() -%}
    /// The per-flow variables.
    vars: Vars,
    {% endif -%}
    {% if machine.uses_resync -%}
    /// Per direction (`Direction::index`): a resynchronisation asked for by
    /// `resync TOKEN;` and not done yet.
    resync: [Option<Resync>; 2],
    {% endif -%}
    {% if machine.uses_handover -%}
    /// Where `handover` sent the flow, and the direction it was handling.
    handover: Option<(HandoverTarget, Direction)>,
    {% endif -%}
}

impl Default for Machine {
    fn default() -> Machine {
        Machine {
            state: State::default(),
            status: FlowStatus::Active,
            dir: Direction::Up,
            started: false,
            entered_at: 0.0,
            ticked_at: 0.0,
            jumps: 0,
            streams: StreamBook::new(DIGESTS),
            {% if !machine.vars.is_empty() -%}
            vars: Vars::default(),
            {% endif -%}
            {% if machine.uses_resync -%}
            resync: [None, None],
            {% endif -%}
            {% if machine.uses_handover -%}
            handover: None,
            {% endif -%}
        }
    }
}

impl Machine {
    /// Fires `init`, then `enter` of the initial state, once, before the first byte.
    fn start(&mut self, cx: &mut Cx<'_>) -> Result<(), Dropped> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        self.entered_at = cx.now;
        self.ticked_at = cx.now;
        let initial = self.state;
        self.on_init(cx)?;
        if self.state == initial && self.status == FlowStatus::Active {
            machine::trace(cx, format_args!("state machine: enter state {}", self.state.name()));
            self.on_enter(cx)?;
        }
        Ok(())
    }

    /// The message the current state expects from `dir`, if any.
    fn grammar(&self, dir: Direction) -> Option<Message> {
        match (dir, self.state) {
            {% for (pattern, variant) in machine.grammars -%}
            {{ pattern }} => Some(Message::{{ variant }}),
            {% endfor -%}
            {% if !grammars_exhaustive %}_ => None,{% endif %}
        }
    }

    {% if machine.uses_goto -%}
    /// Jumps to `target`: `leave` the current state, `enter` the new one, and
    /// restart the timeout clock.
    fn goto(&mut self, target: State, cx: &mut Cx<'_>) -> Result<(), Dropped> {
        self.jumps += 1;
        if self.jumps > 64 {
            machine::trace(cx, format_args!("state machine: too many nested jumps"));
            return Err(Dropped);
        }
        self.on_leave(cx)?;
        self.state = target;
        self.entered_at = cx.now;
        self.ticked_at = cx.now;
        machine::trace(cx, format_args!("state machine: enter state {}", target.name()));
        self.on_enter(cx)?;
        self.jumps -= 1;
        Ok(())
    }
    {%- endif %}

    /// Jumps to `fail`: runs the `fail` transitions, then drops the flow.
    fn fail(&mut self, cx: &mut Cx<'_>) -> Handled {
        machine::trace(cx, format_args!("state machine: fail in state {}", self.state.name()));
        self.on_fail(cx)?;
        Err(Dropped)
    }

    {% if machine.uses_finish -%}
    /// Jumps to `finish`: runs the `finish` transitions, then ends the flow.
    fn finish(&mut self, cx: &mut Cx<'_>) -> Handled {
        machine::trace(cx, format_args!("state machine: finish in state {}", self.state.name()));
        self.on_finish(cx)?;
        self.status = FlowStatus::Finished;
        Ok(true)
    }
    {%- endif %}

    {% if machine.uses_stop -%}
    /// `stop;`: ends parsing quietly; the flow's later bytes pass unparsed.
    fn stop(&mut self, cx: &mut Cx<'_>) -> Handled {
        machine::trace(cx, format_args!("state machine: stop in state {}", self.state.name()));
        self.status = FlowStatus::Finished;
        Ok(true)
    }
    {%- endif %}

    {% if machine.uses_handover -%}
    /// `handover`: ends parsing as `stop` does; the dissector's user passes
    /// the rest of the flow to `to`'s spec (`None`, a port that is no port:
    /// the flow just stops).
    fn hand_over(&mut self, to: Option<HandoverTarget>, cx: &mut Cx<'_>) -> Handled {
        machine::trace(cx, format_args!("state machine: {}: handover to {to:?}", self.dir));
        self.handover = to.map(|to| (to, self.dir));
        self.stop(cx)
    }
    {%- endif %}

    {% if machine.uses_resync -%}
    /// `resync TOKEN;`: the direction being handled skips its bytes up to
    /// and including the token's next match before parsing again.
    fn resync(&mut self, until: &'static UntilToken, unless: Option<&'static TokenDfa>, cx: &mut Cx<'_>) {
        machine::trace(cx, format_args!("state machine: {}: resynchronise", self.dir));
        if let Some(slot) = self.resync.get_mut(self.dir.index()) {
            *slot = Some(Resync::new(until, unless));
        }
    }

    /// Whether `dir` has a resynchronisation pending.
    fn resyncing(&self, dir: Direction) -> bool {
        self.resync.get(dir.index()).is_some_and(Option::is_some)
    }
    {%- endif %}

    /// Fires `parse_error(err)`; unhandled, it jumps to `fail`.
    fn report_parse_error(&mut self, err: &ParseError, context: &[u8], cx: &mut Cx<'_>) -> Result<(), Dropped> {
        machine::notify_parse_error(cx, self.dir, err, context);
        if !self.on_parse_error(&err.to_string(), cx)? {
            self.fail(cx)?;
        }
        Ok(())
    }

    /// Fires the `timeout` transitions that fell due since the last tick.
    fn tick(&mut self, cx: &mut Cx<'_>) -> Result<(), Dropped> {
        let from = self.ticked_at - self.entered_at;
        let to = cx.now - self.entered_at;
        if to > from {
            self.ticked_at = cx.now;
            self.on_timeout(from, to, cx)?;
        }
        Ok(())
    }

    {% for h in machine.handlers %}
    {{ h }}
    {% endfor %}
}

/// One parser per message kind, and which one has a message in progress.
#[derive(Debug, Default)]
struct Parsers {
    active: Option<Message>,
    /// Messages completed so far.
    completed: u64,
    {% for m in machine.messages -%}
    {{ m.slot }}: {{ m.parser_name }},
    {% endfor %}
}

impl Parsers {
    {% for m in machine.messages %}
    /// Resumes (or starts) a `{{ m.record }}` message.
    fn {{ m.method }}(&mut self, input: &mut Input<'_>, dir: Direction, streams: &mut StreamBook, cx: &mut Cx<'_>, vars: &dyn std::any::Any) -> Result<Progress<{{ m.type_name }}>, Dropped> {
        self.begin(Message::{{ m.variant }}, input, dir, streams, cx)?;
        let mut pcx = ParseCx::with_streams(cx, dir, streams).with_vars(vars);
        let progress = self.{{ m.slot }}.parse(input, &mut pcx);
        if pcx.dropped() {
            return Err(Dropped);
        }
        if let Progress::Done(_) = progress {
            protoc_comment!("The message is complete: its bytes are settled.");
            input.settle();
            self.completed += 1;
        }
        if !matches!(progress, Progress::NeedMore) {
            self.active = None;
        }
        Ok(progress)
    }
    {% endfor %}

    /// Makes `message` the one in progress: a message of another kind still
    /// in progress (the state changed under it) is abandoned.
    fn begin(&mut self, message: Message, input: &mut Input<'_>, dir: Direction, streams: &mut StreamBook, cx: &mut Cx<'_>) -> Result<(), Dropped> {
        if self.active != Some(message) {
            self.abandon(dir, streams, cx)?;
            self.active = Some(message);
            {% if journals -%}
            protoc_comment!("`at`, `try` and `union` read the message's bytes again: keep them.");
            input.keep_journal();
            {% endif -%}
            input.start_message();
        }
        Ok(())
    }

    /// Abandons the message in progress, if any: its chunked stream gets its
    /// `last` call and its parser starts afresh.
    fn abandon(&mut self, {% if any_streams %}dir{% else %}_dir{% endif %}: Direction, {% if any_streams %}streams{% else %}_streams{% endif %}: &mut StreamBook, {% if any_streams %}cx{% else %}_cx{% endif %}: &mut Cx<'_>) -> Result<(), Dropped> {
        {% if any_streams -%}
        let mut pcx = ParseCx::with_streams(cx, dir, streams);
        {% endif -%}
        match self.active.take() {
            {% for m in machine.messages -%}
            Some(Message::{{ m.variant }}) => {
                {% if m.streams %}let _ = self.{{ m.slot }}.end_streams(&mut pcx);{% endif %}
                self.{{ m.slot }} = {{ m.parser_name }}::default();
            }
            {% endfor -%}
            None => {}
        }
        {% if any_streams -%}
        if pcx.dropped() {
            return Err(Dropped);
        }
        {% endif -%}
        Ok(())
    }

    /// A gap of `len` bytes: the part that a streamed `bytes count` field
    /// of the message in progress does not absorb (0: parsing stays in step).
    fn absorb_gap(&mut self, {% if any_absorbs %}dir{% else %}_dir{% endif %}: Direction, len: u64, {% if any_absorbs %}streams{% else %}_streams{% endif %}: &mut StreamBook, {% if any_absorbs %}cx{% else %}_cx{% endif %}: &mut Cx<'_>) -> u64 {
        {% if any_absorbs -%}
        let mut pcx = ParseCx::with_streams(cx, dir, streams);
        match self.active {
            {% for m in machine.messages -%}
            {% if m.absorbs -%}
            Some(Message::{{ m.variant }}) => self.{{ m.slot }}.absorb_gap(len, &mut pcx),
            {% endif -%}
            {% endfor -%}
            _ => len,
        }
        {%- else -%}
        len
        {%- endif %}
    }
}

/// What one direction keeps: bytes waiting or handed back, and its parsers.
#[derive(Debug, Default)]
struct Channel {
    pending: Pending,
    parsers: Parsers,
    /// Whether no byte will follow the ones being parsed (the direction
    /// ended, or a whole message is parsed): `bytes rest` completes.
    ending: bool,
    {% if datagrams -%}
    /// Whether the bytes being parsed are one whole message (a datagram or
    /// a frame): parsing stops after one message.
    single: bool,
    {% endif -%}
    {% if framing.is_some() -%}
    /// The length-prefixed frames of a TCP stream (made on first use).
    frames: Option<Deframer>,
    {% endif -%}
}

/// The `{{ spec_name }}` dissector for one flow: parses each direction with
/// the grammar of the current state and runs the state machine. See
/// `protoc_runtime::parse` for the semantics of `feed`, `gap`, `end` and `tick`.
#[derive(Debug, Default)]
pub struct {{ dissector }} {
    machine: Machine,
    up: Channel,
    down: Channel,
}

impl {{ dissector }} {
    pub fn new() -> Self {
        Self::default()
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.machine.state
    }

    fn channel(&mut self, dir: Direction) -> &mut Channel {
        match dir {
            Direction::Up => &mut self.up,
            Direction::Down => &mut self.down,
        }
    }

    /// Parses `dir`'s bytes (pending ones first, then `data`) until they run
    /// out or the flow stops. Bytes of the other direction that waited for a
    /// grammar are older than `data`: as soon as a state change lets them be
    /// parsed, they go first, all of them (the rest of `data` is newer than
    /// any), and `dir` resumes after them.
    fn process(&mut self, dir: Direction, data: &[u8], cx: &mut Cx<'_>) -> Result<(), Dropped> {
        if self.parse(dir, data, true, cx)? {
            if self.machine.status == FlowStatus::Active && self.machine.grammar(dir.reverse()).is_some() {
                self.parse(dir.reverse(), &[], false, cx)?;
            }
            self.process_waiting(dir, Some(dir.reverse()), cx)?;
            if self.machine.status == FlowStatus::Active && self.machine.grammar(dir).is_none() && !self.channel(dir).pending.is_empty() {
                protoc_comment!("The rest of `data` now waits for a grammar: under the cap of any waiting bytes.");
                self.parse(dir, &[], false, cx)?;
            }
        }
        Ok(())
    }

    /// The loop of `process`; `Ok(true)` when it stopped, keeping the rest
    /// of `data`, because the other direction's waiting bytes can now be
    /// parsed (only when `yields`).
    fn parse(&mut self, dir: Direction, data: &[u8], yields: bool, cx: &mut Cx<'_>) -> Result<bool, Dropped> {
        let (channel, other) = match dir {
            Direction::Up => (&mut self.up, &self.down),
            Direction::Down => (&mut self.down, &self.up),
        };
        {% if datagrams -%}
        let single = channel.single;
        {% endif -%}
        let parsers = &mut channel.parsers;
        {% if datagrams -%}
        let completed = parsers.completed;
        {% endif -%}
        let mut input = Input::new(&mut channel.pending, data);
        protoc_comment!("At the end of the direction, a message in progress gets one more pass.");
        let mut last_pass = channel.ending && parsers.active.is_some();
        if channel.ending {
            input.set_ending();
        }
        self.machine.dir = dir;
        while self.machine.status == FlowStatus::Active && (!input.is_empty() || std::mem::take(&mut last_pass)) {
            {% if machine.uses_resync -%}
            if let Some(resync) = self.machine.resync.get_mut(dir.index()).and_then(Option::as_mut) {
                protoc_comment!("A `resync` is pending: skip to just after its token first.");
                let mut pcx = ParseCx::new(cx, dir);
                let before = input.consumed();
                let skipped = resync.run(&mut input, &mut pcx);
                if let Some(slot) = self.machine.resync.get_mut(dir.index()) {
                    if !matches!(skipped, Err(Stop::NeedMore)) {
                        *slot = None;
                    }
                }
                match skipped {
                    Ok(n) => machine::trace(cx, format_args!("grammar: {dir}: skipped {n} bytes to resynchronise")),
                    Err(Stop::NeedMore) => break,
                    Err(Stop::Error(err)) => {
                        protoc_comment!("As after the grammar's errors: the rest of the feed is discarded unless the `parse_error` transition resynchronises again (and the failed search read something, so that it cannot fail there forever); otherwise what is discarded would depend on how the bytes were cut.");
                        self.machine.report_parse_error(&err, &[], cx)?;
                        if !self.machine.resyncing(dir) || input.consumed() == before {
                            input.discard();
                        } else {
                            protoc_comment!("The bytes the failed search read are done with.");
                            input.settle();
                        }
                    }
                }
                continue;
            }
            {% endif -%}
            match (dir, self.machine.state) {
                {% for (pattern, body) in machine.arms -%}
                {{ pattern }} => {
                    {{ body }}
                }
                {% endfor -%}
                {% if !grammars_exhaustive -%}
                _ => {
                    self.machine.on_missing_grammar(dir.name(), cx)?;
                    {% if datagrams -%}
                    if single && self.machine.grammar(dir).is_none() {
                        protoc_comment!("A whole message with no grammar for it: it is not parsed.");
                        machine::trace(cx, format_args!("grammar: {dir}: no grammar for a message, skipped"));
                        input.discard();
                        break;
                    }
                    {% endif -%}
                    if self.machine.grammar(dir).is_none() {
                        protoc_comment!("Still no grammar: the bytes wait for a state that has one.");
                        let cap = usize::try_from(Limits::default().max_message_len).unwrap_or(usize::MAX);
                        if input.keep_rest(cap).is_err() {
                            protoc_comment!("Too many bytes wait: the oldest, one past the cap, are a parse error and dropped (the same bytes however they were cut); the rest is looked at again.");
                            let dropped = input.drop_unread(cap.saturating_add(1));
                            let reason = format!("{dropped} bytes wait for a grammar");
                            let err = ParseError::new(input.message_offset(), Site::new("<none>", "<unknown>"), reason);
                            self.machine.report_parse_error(&err, &[], cx)?;
                            continue;
                        }
                        break;
                    }
                }
                {%- endif %}
            }
            {% if datagrams -%}
            if single && parsers.completed != completed {
                protoc_comment!("One whole message was parsed: what follows is left for `message` to report.");
                let _ = input.keep_rest(usize::MAX);
                break;
            }
            {% endif -%}
            if yields && !other.pending.is_empty() && self.machine.grammar(dir.reverse()).is_some() && !input.is_empty() {
                protoc_comment!("The other direction's waiting bytes go first; the rest of `data` waits (it is in memory already).");
                let _ = input.keep_rest(usize::MAX);
                return Ok(true);
            }
        }
        {% if machine.uses_handover -%}
        if self.machine.handover.is_some() {
            protoc_comment!("Handed over: what is left of `data` goes to the next spec with the waiting bytes.");
            let _ = input.keep_rest(usize::MAX);
        }
        {% endif -%}
        Ok(false)
    }

    /// Parses bytes that waited for a grammar, now that the state has one,
    /// `first`'s first, then turn about while some direction progresses.
    /// After a feed, the other direction's waiting bytes are `older` than
    /// the feed's parked rest: they never yield to it (all of them go
    /// first); the rest yields to them. With no feed (`end`), either yields.
    fn process_waiting(&mut self, first: Direction, older: Option<Direction>, cx: &mut Cx<'_>) -> Result<(), Dropped> {
        let mut dir = first;
        let mut idle = 0;
        while idle < 2 {
            let waiting = self.channel(dir).pending.len();
            if waiting > 0 && self.machine.status == FlowStatus::Active && self.machine.grammar(dir).is_some() {
                self.parse(dir, &[], older != Some(dir), cx)?;
            }
            if self.channel(dir).pending.len() == waiting || waiting == 0 {
                idle += 1;
            } else {
                idle = 0;
            }
            dir = dir.reverse();
        }
        Ok(())
    }

    {% if datagrams -%}
    /// Parses `data` as one whole message of `dir` (a datagram, or a frame
    /// of a TCP stream): a message it does not fill, or bytes after the
    /// message, are a parse error for this message only.
    fn message(&mut self, dir: Direction, data: &[u8], cx: &mut Cx<'_>) -> Result<(), Dropped> {
        self.machine.dir = dir;
        let channel = match dir {
            Direction::Up => &mut self.up,
            Direction::Down => &mut self.down,
        };
        channel.parsers.abandon(dir, &mut self.machine.streams, cx)?;
        channel.pending.clear();
        channel.single = true;
        channel.ending = true;
        let end = channel.pending.consumed().saturating_add(data.len() as u64);
        let parsed = self.parse(dir, data, false, cx);
        let channel = match dir {
            Direction::Up => &mut self.up,
            Direction::Down => &mut self.down,
        };
        channel.single = false;
        channel.ending = false;
        parsed?;
        if self.machine.status != FlowStatus::Active {
            return Ok(());
        }
        let left = channel.pending.len();
        let reason = match channel.parsers.active {
            Some(message) => {
                let offset = channel.pending.message_offset();
                channel.parsers.abandon(dir, &mut self.machine.streams, cx)?;
                Some(ParseError::new(offset, Site::new(message.record(), "<unknown>"), "the message ends before its grammar does"))
            }
            None if left > 0 => {
                let offset = channel.pending.message_offset();
                Some(ParseError::new(offset, Site::new("<message>", "<end>"), format!("{left} bytes after the end of the message")))
            }
            None => None,
        };
        channel.pending.clear();
        protoc_comment!("The whole message is done with, however far its parse went.");
        channel.pending.settle_whole(end);
        if let Some(err) = reason {
            self.machine.report_parse_error(&err, &[], cx)?;
        }
        Ok(())
    }
    {%- endif %}

    {% if let Some((prefix_bytes, little_endian)) = framing -%}
    /// Cuts `dir`'s TCP stream into length-prefixed frames; each frame is
    /// one message, parsed by `message`.
    fn frames(&mut self, dir: Direction, data: &[u8], cx: &mut Cx<'_>) -> Result<(), Dropped> {
        const FRAMING: FrameFormat = FrameFormat { bytes: {{ prefix_bytes }}, little_endian: {{ little_endian }} };
        let cap = usize::try_from(Limits::default().max_message_len).unwrap_or(usize::MAX);
        let mut deframer = self.channel(dir).frames.take().unwrap_or_else(|| Deframer::new(FRAMING));
        let was_lost = deframer.is_lost();
        let mut result = Ok(());
        let cut = deframer.push(data, cap, |frame| {
            protoc_comment!("The length prefix goes with its frame: consumed, and settled with it.");
            let pending = &mut self.channel(dir).pending;
            pending.settle_whole(pending.consumed().saturating_add(u64::from(FRAMING.bytes)));
            result = self.message(dir, frame, cx);
            result.is_ok() && self.machine.status == FlowStatus::Active
        });
        if deframer.is_lost() {
            protoc_comment!("A stream no longer cut into frames is not parsed: every byte of it is done with.");
            self.channel(dir).pending.settle_whole(deframer.pushed());
        }
        self.channel(dir).frames = Some(deframer);
        result?;
        if let (Err(err), false) = (cut, was_lost) {
            self.machine.dir = dir;
            let err = ParseError::new(0, Site::new("<frames>", "<length>"), err.to_string());
            self.machine.report_parse_error(&err, &[], cx)?;
        }
        Ok(())
    }
    {%- endif %}

    /// Records the outcome of a call: `Err(Dropped)` drops the flow.
    fn settle(&mut self, result: Result<(), Dropped>, cx: &mut Cx<'_>) {
        if result.is_err() {
            self.machine.status = FlowStatus::Dropped;
            machine::trace(cx, format_args!("state machine: flow dropped"));
        }
    }
}

impl Dissector for {{ dissector }} {
    fn feed(&mut self, dir: Direction, data: &[u8], cx: &mut Cx<'_>) {
        if self.machine.status != FlowStatus::Active {
            return;
        }
        {% if framing.is_some() -%}
        let result = self.machine.start(cx).and_then(|()| self.frames(dir, data, cx));
        {%- else -%}
        let result = self
            .machine
            .start(cx)
            .and_then(|()| self.process(dir, data, cx))
            .and_then(|()| self.process_waiting(dir.reverse(), Some(dir.reverse()), cx));
        {%- endif %}
        self.settle(result, cx);
    }
    {% if datagrams %}
    fn datagram(&mut self, dir: Direction, data: &[u8], cx: &mut Cx<'_>) {
        if self.machine.status != FlowStatus::Active {
            return;
        }
        let result = self.machine.start(cx).and_then(|()| self.message(dir, data, cx));
        self.settle(result, cx);
    }
    {% endif %}

    fn gap(&mut self, dir: Direction, len: u64, cx: &mut Cx<'_>) {
        if self.machine.status != FlowStatus::Active {
            return;
        }
        let result = self.machine.start(cx).and_then(|()| {
            self.machine.dir = dir;
            machine::notify_gap(cx, dir, len);
            let channel = match dir {
                Direction::Up => &mut self.up,
                Direction::Down => &mut self.down,
            };
            {% if framing.is_some() -%}
            protoc_comment!("The frame boundaries are lost with the bytes.");
            channel.frames.get_or_insert_with(|| Deframer::new(FrameFormat { bytes: 1, little_endian: false })).lose_sync();
            {% endif -%}
            if channel.parsers.absorb_gap(dir, len, &mut self.machine.streams, cx) == 0 {
                protoc_comment!("The gap lies inside a counted field: parsing stays in step.");
                channel.pending.absorb_gap(len);
                machine::trace(cx, format_args!("grammar: {dir}: gap absorbed by a counted field"));
                return Ok(());
            }
            let record = channel.parsers.active.map_or("<none>", Message::record);
            channel.parsers.abandon(dir, &mut self.machine.streams, cx)?;
            protoc_comment!("Bytes that waited are dropped with the message: settled, as discarded.");
            Input::new(&mut channel.pending, &[]).discard();
            let len = i64::try_from(len).unwrap_or(i64::MAX);
            if !self.machine.on_gap(len, cx)? {
                let err = ParseError::new(0, Site::new(record, "<unknown>"), format!("gap of {len} bytes"));
                self.machine.report_parse_error(&err, &[], cx)?;
            }
            protoc_comment!("The state the gap led to may parse bytes that waited, now rather than at the next feed (whose own message would otherwise go first or not, depending on how its bytes were cut).");
            self.process_waiting(dir.reverse(), None, cx)
        });
        self.settle(result, cx);
    }

    fn end(&mut self, dir: Direction, cx: &mut Cx<'_>) {
        if self.machine.status != FlowStatus::Active {
            return;
        }
        let result = self.machine.start(cx).and_then(|()| {
            self.machine.dir = dir;
            protoc_comment!("`end` transitions first: the state they reach may parse bytes that waited.");
            self.machine.on_end(dir.name(), cx)?;
            self.process_waiting(dir, None, cx)?;
            self.machine.dir = dir;
            if self.machine.status != FlowStatus::Active {
                return Ok(());
            }
            protoc_comment!("A message reading `bytes rest` ends with the direction.");
            self.channel(dir).ending = true;
            self.parse(dir, &[], false, cx)?;
            self.machine.dir = dir;
            if self.machine.status != FlowStatus::Active {
                return Ok(());
            }
            let channel = match dir {
                Direction::Up => &mut self.up,
                Direction::Down => &mut self.down,
            };
            {% if framing.is_some() -%}
            if channel.frames.as_ref().is_some_and(Deframer::in_frame) {
                channel.frames = None;
                let err = ParseError::new(0, Site::new("<frames>", "<body>"), "the stream ends inside a frame");
                return self.machine.report_parse_error(&err, &[], cx);
            }
            {% endif -%}
            let Some(message) = channel.parsers.active else {
                return Ok(());
            };
            let offset = channel.pending.message_offset();
            channel.parsers.abandon(dir, &mut self.machine.streams, cx)?;
            let err = ParseError::new(offset, Site::new(message.record(), "<unknown>"), "unexpected end of stream");
            self.machine.report_parse_error(&err, &[], cx)
        });
        self.settle(result, cx);
    }

    fn tick(&mut self, cx: &mut Cx<'_>) {
        if self.machine.status != FlowStatus::Active {
            return;
        }
        let result = self.machine.start(cx).and_then(|()| {
            let before = self.machine.state;
            self.machine.tick(cx)?;
            if self.machine.state == before {
                return Ok(());
            }
            protoc_comment!("The state a timeout led to may parse bytes that waited: now, as after a gap or an end, rather than after the next feed's own message.");
            self.process_waiting(Direction::Up, None, cx)
        });
        self.settle(result, cx);
    }

    fn status(&self) -> FlowStatus {
        self.machine.status
    }
    {% if machine.uses_handover %}
    fn take_handover(&mut self) -> Option<Handover> {
        let (to, dir) = self.machine.handover.take()?;
        let rest = [self.up.pending.take_unread(), self.down.pending.take_unread()];
        Some(Handover { to, dir, rest })
    }
    {% endif %}

    fn settled(&self, dir: Direction) -> u64 {
        if self.machine.status != FlowStatus::Active {
            return u64::MAX;
        }
        match dir {
            Direction::Up => self.up.pending.settled(),
            Direction::Down => self.down.pending.settled(),
        }
    }
}

fn new_dissector() -> Box<dyn Dissector> {
    Box::new({{ dissector }}::new())
}

{% for r in event_schemas -%}
/// The values `trigger {{ r.name }}(…)` passes, for checking rules.
const {{ r.const_name }}: &[FieldSchema] = &[
    {% for (name, ty) in r.fields -%}
    FieldSchema { name: {{ name|str_lit }}, ty: {{ ty|str_lit }} },
    {% endfor %}
];
{% endfor %}

{% for r in schema_records -%}
/// The fields of `record {{ r.name }}`, for checking rules.
const {{ r.const_name }}: &[FieldSchema] = &[
    {% for (name, ty) in r.fields -%}
    FieldSchema { name: {{ name|str_lit }}, ty: {{ ty|str_lit }} },
    {% endfor %}
];
{% endfor %}

/// What the runtime needs to know of `{{ spec_name }}`.
pub static SPEC: SpecDescriptor = SpecDescriptor {
    name: {{ spec_name|str_lit }},
    ports: &[{{ ports }}],
    transports: &[{% for t in transports %}Transport::{{ t }}, {% endfor %}],
    events: &[
        {% for e in events -%}
        EventSchema { name: {{ e.name|str_lit }}, streamed: {{ e.streamed }}, fields: {{ e.fields }} },
        {% endfor %}
    ],
    new_dissector,
    records: &[
        {% for r in schema_records -%}
        ({{ r.name|str_lit }}, {{ r.const_name }}),
        {% endfor %}
    ],
};
