//! The state machine → transition handlers: one method per event (a `match`
//! on the current state), and one per state and direction for `up`/`down`
//! (whose argument is that state's grammar record).
//!
//! Invariants of the generated handlers:
//! - a state's own transitions come first, in declaration order, then the
//!   `any` transitions; the first whose `when` holds fires, and nothing
//!   after an unconditional transition is emitted (it could never fire);
//! - a handler returns `Ok(true)` when a transition fired, `Ok(false)` when
//!   none did, `Err(Dropped)` when the flow must stop;
//! - a transition's actions run in order, then its jump; `drop;` ends it.

use protoc_runtime::dissector::Severity;
use protoc_runtime::expr::{Expr, ExprKind, Type};

use std::collections::BTreeSet;

use super::expr::{self, Form, RustValue, Translator};
use super::names;
use super::records::UntilPlan;
use crate::ir::{
    Action, HandoverTo, Spec, StateId, Target, Template, TemplatePart, Transition, TransitionEvent,
    STREAM_RECORD,
};

/// What the template needs to render the state machine.
#[derive(Debug, Clone)]
pub struct MachinePlan {
    /// `(variant, spec name, is initial)` of each state.
    pub states: Vec<(String, String, bool)>,
    /// Handler methods, rendered.
    pub handlers: Vec<String>,
    /// Arms of the `process` match: `(pattern, body)`.
    pub arms: Vec<(String, String)>,
    /// Arms of `grammar(dir)`: `(pattern, message variant)`.
    pub grammars: Vec<(String, String)>,
    /// Exported records used as a state's grammar: `(variant, spec name, parser slot, has streams)`.
    pub messages: Vec<MessagePlan>,
    /// Whether some transition jumps to a state / to `finish`.
    pub uses_goto: bool,
    pub uses_finish: bool,
    /// Whether some transition stops parsing / hands the flow over to
    /// another spec / resynchronises a direction.
    pub uses_stop: bool,
    pub uses_handover: bool,
    pub uses_resync: bool,
    /// The per-flow variables: `(field, Rust type)`.
    pub vars: Vec<(String, String)>,
    /// Their defaults as constant expressions: `(field, value)`.
    pub var_consts: Vec<(String, String)>,
    /// Rust string literals of the streamed events whose streams are hashed.
    pub digests: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct MessagePlan {
    pub variant: String,
    pub record: String,
    pub type_name: String,
    pub parser_name: String,
    pub slot: String,
    pub method: String,
    pub streams: bool,
    /// Whether the record has a chunked `bytes count` field (gaps inside it are absorbed).
    pub absorbs: bool,
}

/// The argument a handler passes to its transitions' binding.
struct Arg {
    /// The parameter's Rust type (`&SmtpResponses`, `&str`, `i64`).
    rust_type: String,
    /// The binding's spec type.
    ty: Type,
    form: Form,
    /// The name used when no transition names the binding.
    default_name: &'static str,
}

impl Arg {
    /// Whether the handler borrows its argument mutably: a parsed message,
    /// which a transition's last use moves out of (`moved_value`).
    fn lent_mut(&self) -> bool {
        self.rust_type.starts_with("&mut ")
    }
}

pub fn plan_machine(
    spec: &Spec,
    patterns: &mut Vec<String>,
    untils: &mut BTreeSet<UntilPlan>,
    streaming: &dyn Fn(&str) -> bool,
    absorbing: &dyn Fn(&str) -> bool,
) -> MachinePlan {
    let machine = &spec.machine;
    let states = machine
        .states
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                names::pascal(&s.name),
                s.name.clone(),
                StateId(i) == machine.initial,
            )
        })
        .collect();

    let mut messages: Vec<MessagePlan> = Vec::new();
    for state in &machine.states {
        for record in [state.up, state.down].into_iter().flatten() {
            let name = &spec.record(record).name;
            if !messages.iter().any(|m| &m.record == name) {
                messages.push(MessagePlan {
                    variant: names::pascal(name),
                    record: name.clone(),
                    type_name: names::record_type(name),
                    parser_name: super::records::parser_name(name),
                    slot: format!("{}_parser", names::snake(name)),
                    method: names::snake(name),
                    streams: streaming(name),
                    absorbs: absorbing(name),
                });
            }
        }
    }

    let mut gen = Gen {
        spec,
        patterns,
        untils,
        uses_goto: false,
        uses_finish: false,
        uses_stop: false,
        uses_handover: false,
        uses_resync: false,
    };
    let mut handlers = Vec::new();
    let mut arms = Vec::new();
    let mut grammars = Vec::new();

    // up/down: one handler per state with a grammar for the direction.
    for (i, state) in machine.states.iter().enumerate() {
        for (event, record, dir) in [
            (TransitionEvent::Up, state.up, "Up"),
            (TransitionEvent::Down, state.down, "Down"),
        ] {
            let Some(record) = record else { continue };
            let record_name = &spec.record(record).name;
            let arg = Arg {
                // `&mut`: a transition's last use of the message moves its
                // strings into the event (`moved_value`).
                rust_type: format!("&mut {}", names::record_type(record_name)),
                ty: Type::Record(record_name.clone()),
                form: Form::Ref,
                default_name: "res",
            };
            let method = format!("{}_on_{}", names::snake(&state.name), event.name());
            let transitions = gen.transitions_for(StateId(i), event);
            handlers.push(gen.handler(
                &method,
                &format!("`{}` parsed in state `{}`.", event.name(), state.name),
                Some(&arg),
                &[(None, transitions)],
                event,
            ));
            let variant = names::pascal(record_name);
            let message = messages.iter().find(|m| m.record == *record_name);
            let parse = message.map_or_else(|| "parse".to_string(), |m| m.method.clone());
            arms.push((
                format!("(Direction::{dir}, State::{})", names::pascal(&state.name)),
                format!(
                    "match parsers.{parse}(&mut input, dir, &mut self.machine.streams, cx, @VARS@)? {{\n\
                     DATAGRAM_REST\
                     Progress::Done(mut res) => {{\n\
                     machine::trace(cx, format_args!(\"grammar: parsed {record_name} ({{dir}}, {{}} bytes)\", input.message_offset()));\n\
                     self.machine.{method}(&mut res, cx)?;\n}}\n\
                     Progress::NeedMore => {{}}\n\
                     Progress::Error(err) => {{\n\
                     let context = input.context(64);\n\
                     ON_PARSE_ERROR\n}}\n}}"
                ),
            ));
            grammars.push((
                format!("(Direction::{dir}, State::{})", names::pascal(&state.name)),
                variant,
            ));
        }
    }

    // Every other event: one handler with a `match` on the state.
    let others: [(TransitionEvent, &str, Option<Arg>); 10] = [
        (
            TransitionEvent::ParseError,
            "on_parse_error",
            Some(str_arg("err")),
        ),
        (
            TransitionEvent::MissingGrammar,
            "on_missing_grammar",
            Some(str_arg("dir")),
        ),
        (
            TransitionEvent::Gap,
            "on_gap",
            Some(Arg {
                rust_type: "i64".into(),
                ty: Type::Int,
                form: Form::Borrowed,
                default_name: "len",
            }),
        ),
        (TransitionEvent::End, "on_end", Some(str_arg("dir"))),
        (TransitionEvent::Init, "on_init", None),
        (TransitionEvent::Enter, "on_enter", None),
        (TransitionEvent::Leave, "on_leave", None),
        (TransitionEvent::Timeout(0.0), "on_timeout", None),
        (TransitionEvent::Fail, "on_fail", None),
        (TransitionEvent::Finish, "on_finish", None),
    ];
    for (event, method, arg) in others {
        let mut per_state = Vec::new();
        for i in 0..machine.states.len() {
            per_state.push((Some(StateId(i)), gen.transitions_for(StateId(i), event)));
        }
        let doc = match event {
            TransitionEvent::Timeout(_) => "`timeout(secs)` for the timeouts that fell due between `from` and `to` seconds in the state.".to_string(),
            _ => format!("`{}` in the current state.", event.name()),
        };
        handlers.push(gen.handler(method, &doc, arg.as_ref(), &per_state, event));
    }

    // After a parse error the rest of the feed is discarded, unless a
    // transition asked to resynchronise the direction.
    let on_parse_error = if gen.uses_resync {
        "self.machine.report_parse_error(&err, &context, cx)?;\n\
         if !self.machine.resyncing(dir) {\ninput.discard();\n}"
    } else {
        "input.discard();\nself.machine.report_parse_error(&err, &context, cx)?;"
    };
    // A whole message (a datagram, a frame) must end where its grammar
    // does: bytes left over make it a parse error, and no event.
    let datagrams =
        spec.transport.udp() || matches!(spec.transport.tcp(), Some(crate::ir::TcpMode::Framed(_)));
    let datagram_rest = if datagrams {
        "Progress::Done(_) if single && !input.is_empty() => {\n\
         let reason = format!(\"{} bytes after the end of the message\", input.remaining());\n\
         let err = ParseError::new(input.message_offset(), Site::new(\"<message>\", \"<end>\"), reason);\n\
         input.discard();\n\
         self.machine.report_parse_error(&err, &[], cx)?;\n\
         }\n"
    } else {
        ""
    };
    // Grammar expressions read the state machine's variables.
    let vars_arg = if machine.vars.is_empty() {
        "&()"
    } else {
        "&self.machine.vars"
    };
    for (_, body) in &mut arms {
        *body = body
            .replace("ON_PARSE_ERROR", on_parse_error)
            .replace("DATAGRAM_REST", datagram_rest)
            .replace("@VARS@", vars_arg);
    }
    let vars = machine
        .vars
        .iter()
        .map(|v| (names::field(&v.name), super::records::rust_type(&v.ty)))
        .collect();
    let var_consts = machine
        .vars
        .iter()
        .map(|v| {
            let value = match v.ty {
                Type::Str => "String::new()",
                Type::Int => "0",
                Type::Bool => "false",
                _ => "Vec::new()",
            };
            (names::field(&v.name), value.to_string())
        })
        .collect();
    MachinePlan {
        var_consts,
        states,
        handlers,
        arms,
        grammars,
        messages,
        uses_goto: gen.uses_goto,
        uses_finish: gen.uses_finish,
        uses_stop: gen.uses_stop,
        uses_handover: gen.uses_handover,
        uses_resync: gen.uses_resync,
        vars,
        digests: digested_events(spec),
    }
}

/// Streamed events whose `sha256` some transition reads (as Rust literals).
fn digested_events(spec: &Spec) -> Vec<String> {
    let mut found: BTreeSet<String> = BTreeSet::new();
    let transitions = spec
        .machine
        .states
        .iter()
        .flat_map(|s| &s.transitions)
        .chain(&spec.machine.any);
    for t in transitions {
        let mut exprs: Vec<&Expr> = t.when.iter().collect();
        for action in &t.actions {
            exprs.extend(action_exprs(action));
        }
        for e in exprs {
            collect_digests(e, spec, &mut found);
        }
    }
    found.iter().map(|name| names::str_lit(name)).collect()
}

fn collect_digests(e: &Expr, spec: &Spec, found: &mut BTreeSet<String>) {
    match &e.kind {
        ExprKind::Field(base, field) => {
            if let (ExprKind::Var(name), "sha256") = (&base.kind, field.as_str()) {
                if spec.events.iter().any(|ev| ev.streamed && &ev.name == name) {
                    found.insert(name.clone());
                }
            }
            collect_digests(base, spec, found);
        }
        ExprKind::Lit(_) | ExprKind::Var(_) => {}
        ExprKind::Unary(_, x) | ExprKind::Match(x, _) => collect_digests(x, spec, found),
        ExprKind::Lookup { key, .. } => collect_digests(key, spec, found),
        ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
            collect_digests(a, spec, found);
            collect_digests(b, spec, found);
        }
        ExprKind::Call(_, args) => args.iter().for_each(|a| collect_digests(a, spec, found)),
    }
}

/// The expressions of a template's interpolations.
fn template_exprs(t: &Template) -> Vec<&Expr> {
    t.parts
        .iter()
        .filter_map(|p| match p {
            TemplatePart::Expr(e) => Some(e),
            TemplatePart::Text(_) => None,
        })
        .collect()
}

/// The expressions an action evaluates.
fn action_exprs(action: &Action) -> Vec<&Expr> {
    match action {
        Action::Trigger { arg, .. } => arg.iter().collect(),
        Action::TriggerFields { fields, .. } => fields.iter().map(|(_, e)| e).collect(),
        Action::Alert { description, .. } => template_exprs(description),
        Action::Log(t) => template_exprs(t),
        Action::Set { value, .. } | Action::Push { value, .. } => vec![value],
        Action::Handover(HandoverTo::Port(port)) => vec![port],
        Action::Handover(HandoverTo::Spec(_))
        | Action::Drop
        | Action::Pop(_)
        | Action::Clear(_)
        | Action::Close(_)
        | Action::Resync { .. }
        | Action::Stop => Vec::new(),
    }
}

fn str_arg(name: &'static str) -> Arg {
    Arg {
        rust_type: "&str".into(),
        ty: Type::Str,
        form: Form::Borrowed,
        default_name: name,
    }
}

struct Gen<'a> {
    spec: &'a Spec,
    patterns: &'a mut Vec<String>,
    untils: &'a mut BTreeSet<UntilPlan>,
    uses_goto: bool,
    uses_finish: bool,
    uses_stop: bool,
    uses_handover: bool,
    uses_resync: bool,
}

/// Transitions in firing order, each with the name of the state it is declared on.
type Ordered<'a> = Vec<(&'a str, &'a Transition)>;

impl<'a> Gen<'a> {
    /// The state's own transitions for `event`, then `any`'s.
    fn transitions_for(&self, state: StateId, event: TransitionEvent) -> Ordered<'a> {
        let spec: &'a Spec = self.spec;
        let matches = |t: &&Transition| same_event(t.on, event);
        let own = spec
            .state(state)
            .transitions
            .iter()
            .filter(matches)
            .map(|t| (spec.state(state).name.as_str(), t));
        let any = spec.machine.any.iter().filter(matches).map(|t| ("any", t));
        own.chain(any).collect()
    }

    /// A handler method. `groups` pairs a state (or `None`: no `match`) with its
    /// ordered transitions.
    fn handler(
        &mut self,
        method: &str,
        doc: &str,
        arg: Option<&Arg>,
        groups: &[(Option<StateId>, Ordered<'a>)],
        event: TransitionEvent,
    ) -> String {
        // Name the parameter after the binding the transitions use.
        let used_names: Vec<&str> = groups
            .iter()
            .flat_map(|(_, ts)| ts.iter())
            .filter_map(|(_, t)| t.binding.as_deref().filter(|b| transition_uses(t, b)))
            .collect();
        let param = used_names.first().copied();
        let timeout = matches!(event, TransitionEvent::Timeout(_));

        // Render each group's body; states with identical bodies share an arm.
        let mut arms: Vec<(Vec<String>, String)> = Vec::new();
        let mut any_transition = false;
        for (state, transitions) in groups {
            any_transition |= !transitions.is_empty();
            let body = self.body(transitions, arg, param, event);
            let pattern = match state {
                Some(s) => format!("State::{}", names::pascal(&self.spec.state(*s).name)),
                None => String::new(),
            };
            match arms.iter_mut().find(|(_, b)| *b == body) {
                Some((patterns, _)) => patterns.push(pattern),
                None => arms.push((vec![pattern], body)),
            }
        }
        let body = match arms.as_slice() {
            [(_, body)] => body.clone(),
            _ => {
                let arms: Vec<String> = arms
                    .iter()
                    .map(|(patterns, body)| format!("{} => {{\n{body}\n}}", patterns.join(" | ")))
                    .collect();
                format!("match self.state {{\n{}\n}}", arms.join("\n"))
            }
        };
        let cx = if any_transition { "cx" } else { "_cx" };
        let mut params = vec!["&mut self".to_string()];
        if let Some(arg) = arg {
            let name = match param {
                Some(p) => names::field(p),
                None => format!("_{}", arg.default_name),
            };
            params.push(format!("{name}: {}", arg.rust_type));
        }
        if timeout {
            let (from, to) = if any_transition {
                ("from", "to")
            } else {
                ("_from", "_to")
            };
            params.push(format!("{from}: f64"));
            params.push(format!("{to}: f64"));
        }
        params.push(format!("{cx}: &mut Cx<'_>"));
        format!(
            "/// {doc}\nfn {method}({}) -> Handled {{\n{body}\n}}",
            params.join(", ")
        )
    }

    /// The statements that try `transitions` in order; the value is the handler's result.
    fn body(
        &mut self,
        transitions: &Ordered<'a>,
        arg: Option<&Arg>,
        param: Option<&str>,
        event: TransitionEvent,
    ) -> String {
        let mut out = String::new();
        for (state, t) in transitions {
            let mut tr = Translator::new(self.spec, self.patterns);
            bind_machine_names(self.spec, &mut tr);
            let mut prelude = String::new();
            if let (Some(arg), Some(binding)) = (arg, &t.binding) {
                if transition_uses(t, binding) {
                    let ident = names::field(binding);
                    if Some(binding.as_str()) != param {
                        let param = param.map_or("arg".to_string(), names::field);
                        let reborrow = if arg.lent_mut() { "&mut *" } else { "" };
                        prelude.push_str(&format!("let {ident} = {reborrow}{param};\n"));
                    }
                    tr.bind(
                        binding,
                        RustValue::new(ident, arg.ty.clone(), false, arg.form),
                    );
                }
            }
            let mut conds = Vec::new();
            if let TransitionEvent::Timeout(secs) = t.on {
                conds.push(format!("from < {secs:?} && {secs:?} <= to"));
            }
            if let Some(when) = &t.when {
                conds.push(tr.condition(when));
            }
            let description = describe(self.spec, state, t);
            let mut block = prelude;
            block.push_str(&format!(
                "machine::trace_transition(cx, {}, SOURCE, {});\n",
                names::str_lit(&description),
                t.line
            ));
            let conditional = !conds.is_empty();
            let mut stopped = false;
            // The message is lent `&mut`: its last use may move out of it.
            let message = t
                .binding
                .as_deref()
                .filter(|_| arg.is_some_and(Arg::lent_mut));
            for (i, action) in t.actions.iter().enumerate() {
                let later = t.actions.get(i + 1..).unwrap_or_default();
                let movable = message.filter(|b| !actions_use(later, b));
                let (code, ends) = action_code(self.spec, &mut tr, action, movable);
                block.push_str(&code);
                if let Some(result) = ends {
                    // `drop` and `stop` end the transition: their result is
                    // the handler's (the block's value, or returned).
                    match action {
                        Action::Stop => self.uses_stop = true,
                        Action::Handover(_) => {
                            self.uses_stop = true;
                            self.uses_handover = true;
                        }
                        _ => {}
                    }
                    if conditional {
                        block.push_str(&format!("return {result};"));
                    } else {
                        block.push_str(&result);
                    }
                    stopped = true;
                    break;
                }
                if let Action::Resync { token, unless } = action {
                    self.uses_resync = true;
                    let until = super::records::until_static(self.spec, self.untils, *token, None);
                    let unless = match unless {
                        Some(other) => format!(
                            "Some(&{})",
                            super::records::dfa_static(self.spec, self.untils, *other)
                        ),
                        None => "None".to_string(),
                    };
                    block.push_str(&format!("self.resync(&{until}, {unless}, cx);"));
                }
                block.push('\n');
            }
            if !stopped {
                let (jump, tail) = self.jump(t.jump, event);
                block.push_str(&jump);
                if conditional {
                    block.push_str(&format!("return {tail};"));
                } else {
                    block.push_str(&tail);
                }
            }
            if conditional {
                out.push_str(&format!("if {} {{\n{block}\n}}\n", conds.join(" && ")));
            } else {
                out.push_str(&block);
                return out;
            }
        }
        out.push_str("Ok(false)");
        out
    }
}

/// Makes the per-flow variables (`self.vars.NAME`) and the streamed events'
/// tallies (`self.streams.get("EVENT")`) visible to a transition.
fn bind_machine_names(spec: &Spec, tr: &mut Translator<'_>) {
    for event in spec.events.iter().filter(|e| e.streamed) {
        tr.bind(
            &event.name,
            RustValue::new(
                format!("self.streams.get({})", names::str_lit(&event.name)),
                Type::Record(STREAM_RECORD.to_string()),
                false,
                Form::Ref,
            ),
        );
    }
    for var in &spec.machine.vars {
        tr.bind(
            &var.name,
            RustValue::new(
                format!("self.vars.{}", names::field(&var.name)),
                var.ty.clone(),
                false,
                Form::Place,
            ),
        );
    }
}

/// Code of an owned value of `v`'s type (`String`, `i64`, `Vec<…>`), for
/// storing in a variable; an absent value is the type's default.
fn owned(v: &RustValue) -> String {
    let b = expr::borrowed(v);
    if v.nullable {
        let some = match &v.ty {
            Type::Str if v.form == Form::Owned => v.code.clone(),
            Type::Str => format!("{}.map(str::to_string)", b.recv()),
            Type::Bytes | Type::List(_) => format!("{}.map(<[_]>::to_vec)", b.recv()),
            _ => b.code.clone(),
        };
        let some = if some.contains(' ') && !some.starts_with('(') {
            format!("({some})")
        } else {
            some
        };
        return format!("{some}.unwrap_or_default()");
    }
    match (&v.ty, v.form) {
        (Type::Int | Type::Bool, _) => b.code,
        (_, Form::Owned) => v.code.clone(),
        (Type::Str, Form::Borrowed) => format!("{}.to_string()", v.recv()),
        (_, Form::Borrowed) => format!("{}.to_vec()", v.recv()),
        (_, Form::Place | Form::Ref) => format!("{}.clone()", v.recv()),
    }
}

/// `e`'s value moved out of the message (`std::mem::take`, leaving the
/// field empty) when `e` is the message `movable` names, or a field of it,
/// not nullable: the action is the message's last use in the transition.
fn moved_value(e: &Expr, v: &RustValue, movable: Option<&str>) -> Option<String> {
    fn path_of(e: &Expr, message: &str) -> bool {
        match &e.kind {
            ExprKind::Var(name) => name == message,
            ExprKind::Field(base, _) => path_of(base, message),
            _ => false,
        }
    }
    if !movable.is_some_and(|m| path_of(e, m)) || v.nullable {
        return None;
    }
    match v.form {
        // The message itself: `res: &mut Record`.
        Form::Ref => Some(format!("std::mem::take({}).into_value()", v.code)),
        Form::Place => Some(format!("std::mem::take(&mut {}).into_value()", v.code)),
        Form::Borrowed | Form::Owned => None,
    }
}

/// An action's statements, and the handler's result when the action ends
/// the transition (`drop`, `stop`). `movable`: the message the action may
/// move out of (nothing after it in the transition reads it).
fn action_code(
    spec: &Spec,
    tr: &mut Translator<'_>,
    action: &Action,
    movable: Option<&str>,
) -> (String, Option<String>) {
    let statement = |code: String| (code, None);
    match action {
        Action::Trigger { event, arg } => {
            let name = names::str_lit(&spec.event(*event).name);
            statement(match arg {
                None => format!("machine::trigger_empty(cx, self.dir, {name})?;"),
                Some(arg) => {
                    let v = tr.translate(arg);
                    if let Some(moved) = moved_value(arg, &v, movable) {
                        return statement(format!(
                            "machine::trigger_value(cx, self.dir, {name}, &{moved})?;"
                        ));
                    }
                    match (v.form, v.nullable) {
                        (Form::Ref, false) => {
                            format!("machine::trigger(cx, self.dir, {name}, {})?;", v.code)
                        }
                        (Form::Place, false) => {
                            format!("machine::trigger(cx, self.dir, {name}, &{})?;", v.code)
                        }
                        _ => format!(
                            "machine::trigger_value(cx, self.dir, {name}, &{})?;",
                            expr::value(&v)
                        ),
                    }
                }
            })
        }
        Action::TriggerFields { event, fields } => {
            let name = names::str_lit(&spec.event(*event).name);
            let values: Vec<String> = fields
                .iter()
                .enumerate()
                .map(|(i, (field, e))| {
                    let v = tr.translate(e);
                    // Moved only if the fields after this one do not read the message.
                    let movable = movable.filter(|m| {
                        !fields
                            .iter()
                            .skip(i + 1)
                            .any(|(_, later)| expr_uses(later, m))
                    });
                    let value = moved_value(e, &v, movable).unwrap_or_else(|| expr::value(&v));
                    format!("({}, {value})", names::str_lit(field))
                })
                .collect();
            statement(format!(
                "machine::trigger_fields(cx, self.dir, {name}, [{}])?;",
                values.join(", ")
            ))
        }
        Action::Alert {
            severity,
            description,
        } => {
            let severity = match severity {
                Severity::Low => "Severity::Low",
                Severity::Medium => "Severity::Medium",
                Severity::High => "Severity::High",
            };
            let mut lets = String::new();
            let text = template(tr, description, &mut lets);
            statement(format!(
                "{lets}machine::alert(cx, self.dir, {severity}, {text});"
            ))
        }
        Action::Drop => (String::new(), Some("Err(Dropped)".to_string())),
        Action::Stop => (String::new(), Some("self.stop(cx)".to_string())),
        Action::Handover(HandoverTo::Spec(name)) => (
            String::new(),
            Some(format!(
                "self.hand_over(Some(HandoverTarget::Spec({})), cx)",
                names::str_lit(name)
            )),
        ),
        Action::Handover(HandoverTo::Port(port)) => {
            let v = expr::borrowed(&tr.translate(port));
            let port = if v.nullable {
                format!("{}.and_then(|p| u16::try_from(p).ok())", v.recv())
            } else {
                format!("u16::try_from({}).ok()", v.code)
            };
            (
                format!("let port = {port};\n"),
                Some("self.hand_over(port.map(HandoverTarget::Port), cx)".to_string()),
            )
        }
        Action::Log(t) => {
            let mut lets = String::new();
            let fmt = format_string(tr, t, &mut lets);
            statement(format!(
                "{lets}machine::trace(cx, format_args!({}));",
                names::str_lit(&format!("log: {fmt}"))
            ))
        }
        Action::Set { var, value } => {
            let v = tr.translate(value);
            statement(format!("self.vars.{} = {};", names::field(var), owned(&v)))
        }
        Action::Push { var, value } => {
            let v = tr.translate(value);
            statement(format!(
                "let value = {};\nmachine::push(&mut self.vars.{}, value);",
                owned(&v),
                names::field(var)
            ))
        }
        Action::Pop(var) => statement(format!(
            "machine::pop(&mut self.vars.{});",
            names::field(var)
        )),
        Action::Clear(var) => statement(format!(
            "self.vars.{} = Default::default();",
            names::field(var)
        )),
        Action::Close(event) => statement(format!(
            "machine::close_stream(cx, &mut self.streams, {})?;",
            names::str_lit(&spec.event(*event).name)
        )),
        // The statement needs the module's `UntilToken` static: `body` writes it.
        Action::Resync { .. } => statement(String::new()),
    }
}

impl Gen<'_> {
    /// The jump's statements and the handler's result after it.
    fn jump(&mut self, target: Option<Target>, event: TransitionEvent) -> (String, String) {
        // Jumps from `fail` and `finish` handlers are ignored: the flow is ending.
        if matches!(event, TransitionEvent::Fail | TransitionEvent::Finish) {
            return (String::new(), "Ok(true)".into());
        }
        match target {
            None => (String::new(), "Ok(true)".into()),
            Some(Target::State(s)) => {
                self.uses_goto = true;
                (
                    format!(
                        "self.goto(State::{}, cx)?;\n",
                        names::pascal(&self.spec.state(s).name)
                    ),
                    "Ok(true)".into(),
                )
            }
            Some(Target::Fail) => (String::new(), "self.fail(cx)".into()),
            Some(Target::Finish) => {
                self.uses_finish = true;
                (String::new(), "self.finish(cx)".into())
            }
        }
    }
}

/// Whether two transition events are the same kind (any `timeout` matches any).
fn same_event(a: TransitionEvent, b: TransitionEvent) -> bool {
    std::mem::discriminant(&a) == std::mem::discriminant(&b)
}

/// `session_initiation on down(res) when res.responses[0].code == "220"`.
fn describe(spec: &Spec, state: &str, t: &Transition) -> String {
    let _ = spec;
    let mut text = format!("{state} on {}", t.on.name());
    if let TransitionEvent::Timeout(secs) = t.on {
        text.push_str(&format!("({secs})"));
    } else if let Some(b) = &t.binding {
        text.push_str(&format!("({b})"));
    }
    if let Some(when) = &t.when {
        text.push_str(&format!(" when {}", expr::source(when)));
    }
    text
}

/// Code of a `&str` for an interpolated template; `lets` receives the
/// statements that compute its values.
fn template(tr: &mut Translator<'_>, t: &Template, lets: &mut String) -> String {
    // A lone text that cannot be Null is lent as it is (`err`, not `&err.to_string()`).
    if let [TemplatePart::Expr(e)] = t.parts.as_slice() {
        if e.ty == Type::Str {
            let v = expr::borrowed(&tr.translate(e));
            if !v.nullable {
                return v.code;
            }
        }
    }
    let fmt = format_string(tr, t, lets);
    let lone_name = fmt
        .strip_prefix('{')
        .and_then(|f| f.strip_suffix('}'))
        .filter(|name| {
            !name.is_empty() && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric())
        });
    if t.parts.iter().all(|p| matches!(p, TemplatePart::Text(_))) {
        names::str_lit(&fmt.replace("{{", "{").replace("}}", "}"))
    } else if let Some(name) = lone_name {
        format!("&{name}.to_string()")
    } else {
        format!("&format!({})", names::str_lit(&fmt))
    }
}

/// A `format!` string with inline arguments (`"invalid smtp response {err}"`);
/// each interpolated value that is not a plain name is computed first into a
/// `let` in `lets`, named after what it is (`code` for `res.responses[0].code`).
fn format_string(tr: &mut Translator<'_>, t: &Template, lets: &mut String) -> String {
    let mut fmt = String::new();
    let mut taken: Vec<String> = ["cx", "self", "from", "to", "res", "err", "dir", "len"]
        .map(String::from)
        .to_vec();
    for part in &t.parts {
        match part {
            TemplatePart::Text(text) => fmt.push_str(&text.replace('{', "{{").replace('}', "}}")),
            TemplatePart::Expr(e) => {
                let v = tr.translate(e);
                let display = expr::display(&v);
                let plain = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if plain(&display) && !display.starts_with(|c: char| c.is_ascii_digit()) {
                    fmt.push_str(&format!("{{{display}}}"));
                    continue;
                }
                let mut name = names::snake(&value_name(e));
                if !plain(&name) || taken.contains(&name) {
                    let mut n = 2;
                    while taken.contains(&format!("{}{n}", value_name(e))) {
                        n += 1;
                    }
                    name = format!("{}{n}", value_name(e));
                }
                taken.push(name.clone());
                lets.push_str(&format!("let {name} = {display};\n"));
                fmt.push_str(&format!("{{{name}}}"));
            }
        }
    }
    fmt
}

/// A variable name for an interpolated value: its last field or name.
fn value_name(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Var(n) | ExprKind::Field(_, n) => n.clone(),
        ExprKind::Index(base, _) => value_name(base),
        ExprKind::Call(_, args) => args.first().map_or_else(|| "value".to_string(), value_name),
        _ => "value".to_string(),
    }
}

/// Whether a transition refers to `name` (its binding) anywhere.
fn transition_uses(t: &Transition, name: &str) -> bool {
    t.when.as_ref().is_some_and(|w| expr_uses(w, name)) || actions_use(&t.actions, name)
}

/// Whether any of `actions` reads `name`.
fn actions_use(actions: &[Action], name: &str) -> bool {
    actions
        .iter()
        .any(|a| action_exprs(a).into_iter().any(|e| expr_uses(e, name)))
}

fn expr_uses(e: &Expr, name: &str) -> bool {
    match &e.kind {
        ExprKind::Var(v) => v == name,
        ExprKind::Lit(_) => false,
        ExprKind::Field(b, _) | ExprKind::Unary(_, b) | ExprKind::Match(b, _) => expr_uses(b, name),
        ExprKind::Lookup { key, .. } => expr_uses(key, name),
        ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
            expr_uses(a, name) || expr_uses(b, name)
        }
        ExprKind::Call(_, args) => args.iter().any(|a| expr_uses(a, name)),
    }
}
