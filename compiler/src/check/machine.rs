//! Pass 4: lower the state machine to IR, infer event payloads, and warn
//! about what can never happen.
//!
//! Checks: variables are used at their declared type (`set`, `push` on
//! lists, `pop`); each state's `up`/`down` grammar is an exported record; exactly
//! one `initial`; each transition names a state (or `any`), a built-in event
//! the state can see, a binding only where the event has an argument (typed
//! per event: the state's record for `up`/`down`, a string for
//! `parse_error`/`missing_grammar`, an integer for `gap`), a boolean `when`,
//! actions whose names resolve, and `jump` or `stop` last. `trigger
//! EVENT(record)` fixes the event's payload; every trigger of it must pass the
//! same record; `trigger EVENT(name: expr, …)` fixes its named values the
//! same way. A transition's expressions see the per-flow variables, each
//! streamed event's tally (`EVENT.size`), and the event's binding.
//!
//! Warnings (the spec is still accepted): states no chain of jumps from
//! `initial` reaches; transitions that an earlier unconditional one on the
//! same state and event always pre-empts; exported records no state uses.

use std::collections::VecDeque;

use super::expr::{a, ExprEnv, Scope};
use super::{Checker, GrammarName};
use crate::ast::{self, ActionKind, EventArg, Span, StatesItem, Subject, TokenRef};
use crate::diagnostic::did_you_mean;
use crate::ir::{self, Action, FieldDef, StateId, Target, TransitionEvent, Type};

/// The built-in state-machine events (`timeout` takes seconds).
const EVENTS: &[&str] = &[
    "up",
    "down",
    "parse_error",
    "missing_grammar",
    "gap",
    "end",
    "init",
    "enter",
    "leave",
    "timeout",
    "fail",
    "finish",
];

/// Where a lowered transition sits, for the shadowing check.
struct Placed {
    /// `None` for `any`.
    state: Option<usize>,
    event: TransitionEvent,
    conditional: bool,
    /// `STATE on EVENT`, where warnings point.
    header: Span,
    line: usize,
}

/// Whether two lists of named values have the same names, in order, with
/// the same types (optional or not).
fn same_values(a: &[FieldDef], b: &[FieldDef]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.name == y.name && x.ty.inner() == y.ty.inner())
}

/// Whether a typed expression may evaluate to the absent value: optional, or
/// through a list index (past the end) or a function of such a value.
fn can_be_absent(e: &ir::Expr) -> bool {
    use crate::ir::ExprKind;
    matches!(e.ty, Type::Optional(_))
        || match &e.kind {
            ExprKind::Index(..) | ExprKind::Lookup { .. } => true,
            ExprKind::Field(base, _) => can_be_absent(base),
            ExprKind::Call(_, args) => args.iter().any(can_be_absent),
            _ => false,
        }
}

impl<'a> Checker<'a> {
    pub(super) fn lower_machine(&mut self) -> Option<ir::StateMachine> {
        let Some(block) = self.states_block else {
            let protocol = self.protocol;
            self.error(
                protocol.name.span,
                format!("protocol `{}` has no state machine", protocol.name.name),
                "no `states` block",
            )
            .set_hint("add `states bidirectional { state ...; initial ...; }`");
            return None;
        };
        let state_decls = self.states.clone();
        let mut states: Vec<ir::State> = state_decls.iter().map(|s| self.lower_state(s)).collect();
        let initial = self.initial(block);
        let mut any = Vec::new();
        let mut placed = Vec::new();
        for item in &block.items {
            let StatesItem::Transition(decl) = item else {
                continue;
            };
            let state = match &decl.subject {
                Subject::Any(_) => None,
                Subject::State(name) => match self.state_index.get(&name.name) {
                    Some(&i) => Some(i),
                    None => {
                        let names = self.state_names();
                        self.undefined("state", name, names);
                        continue;
                    }
                },
            };
            let (event, transition) = self.lower_transition(decl, state, &states);
            if let Some(event) = event {
                placed.push(Placed {
                    state,
                    event,
                    conditional: decl.when.is_some(),
                    header: Span::new(decl.span.start, decl.event.span.end),
                    line: self.line(decl.span),
                });
            }
            let Some(transition) = transition else {
                continue;
            };
            match state.and_then(|i| states.get_mut(i)) {
                Some(s) => s.transitions.push(transition),
                None => any.push(transition),
            }
        }
        self.warn_shadowed(&placed);
        if let Some(initial) = initial {
            self.warn_unreachable(block, initial);
        }
        self.warn_unused_exports(&states);
        Some(ir::StateMachine {
            states,
            initial: initial?,
            any,
            vars: self.vars.iter().map(|(v, _)| v.clone()).collect(),
        })
    }

    fn lower_state(&mut self, decl: &ast::StateDecl) -> ir::State {
        let mut up = None;
        let mut down = None;
        let mut seen: Vec<(&str, Span)> = Vec::new();
        for (direction, record) in &decl.grammars {
            let slot = match direction.name.as_str() {
                "up" => &mut up,
                "down" => &mut down,
                other => {
                    let hint = did_you_mean(other, ["up", "down"]).unwrap_or_else(|| {
                        "a state names its `up` (client) and `down` (server) grammars".into()
                    });
                    self.error(
                        direction.span,
                        format!("unknown direction `{other}`"),
                        "not `up` or `down`",
                    )
                    .hint = Some(hint);
                    continue;
                }
            };
            if let Some(&(_, first)) = seen.iter().find(|(d, _)| *d == direction.name) {
                self.duplicate(
                    &format!("`{}` grammar", direction.name),
                    direction.span,
                    first,
                );
                continue;
            }
            seen.push((&direction.name, direction.span));
            *slot = self.state_grammar(record);
        }
        ir::State {
            name: decl.name.name.clone(),
            up,
            down,
            transitions: Vec::new(),
        }
    }

    /// The exported record a state names as a grammar.
    fn state_grammar(&mut self, record: &ast::Ident) -> Option<ir::RecordId> {
        match self.grammar_index.get(&record.name).copied() {
            Some(GrammarName::Record(id)) => {
                if !self.exports.iter().any(|(e, _)| *e == id) {
                    let declared = self.records[id.0].name.span;
                    self.error(
                        record.span,
                        format!("record `{}` is not exported", record.name),
                        "not exported",
                    )
                    .add_note(declared, "declared here")
                    .set_hint(format!(
                        "add `{}` to the grammar's `export` list",
                        record.name
                    ));
                }
                Some(id)
            }
            Some(GrammarName::Token(_)) => {
                self.error(
                    record.span,
                    format!("`{}` is a token, not a record", record.name),
                    "a token",
                )
                .set_hint("a state's grammar is an exported record");
                None
            }
            None => {
                let records = self.record_names();
                self.undefined("record", record, records);
                None
            }
        }
    }

    fn initial(&mut self, block: &ast::StatesBlock) -> Option<StateId> {
        let mut found: Option<(Option<StateId>, Span)> = None;
        for item in &block.items {
            let StatesItem::Initial(name) = item else {
                continue;
            };
            if let Some((_, first)) = found {
                self.duplicate("`initial` declaration", name.span, first);
                continue;
            }
            let id = match self.state_index.get(&name.name) {
                Some(&i) => Some(StateId(i)),
                None => {
                    let names = self.state_names();
                    self.undefined("state", name, names);
                    None
                }
            };
            found = Some((id, name.span));
        }
        match found {
            Some((id, _)) => id,
            None => {
                let span = Span::new(block.span.start, block.kind.span.end);
                let hint = match self.states.first() {
                    Some(first) => format!(
                        "add `initial {};` to say where the machine starts",
                        first.name.name
                    ),
                    None => "declare states, then `initial STATE;`".into(),
                };
                self.error(
                    span,
                    "no initial state",
                    "this state machine has no `initial` declaration",
                )
                .hint = Some(hint);
                None
            }
        }
    }

    /// Lowers one transition. Everything in it is checked even when a part
    /// fails (a binding whose type is unknown is poisoned, so its uses stay
    /// silent); returns the event if it was understood, and the transition
    /// if all of it was.
    fn lower_transition(
        &mut self,
        decl: &ast::TransitionDecl,
        state: Option<usize>,
        states: &[ir::State],
    ) -> (Option<TransitionEvent>, Option<ir::Transition>) {
        let on = self.transition_event(decl);
        let binding = match &decl.arg {
            Some(EventArg::Binding(name)) => Some(name),
            _ => None,
        };
        let binding_type = match (on, binding) {
            (_, None) | (None, _) => None,
            (Some(on @ (TransitionEvent::Up | TransitionEvent::Down)), Some(name)) => {
                self.message_type(on, state, states, name)
            }
            (
                Some(
                    TransitionEvent::ParseError
                    | TransitionEvent::MissingGrammar
                    | TransitionEvent::End,
                ),
                Some(_),
            ) => Some(Type::Str),
            (Some(TransitionEvent::Gap), Some(_)) => Some(Type::Int),
            (Some(on), Some(name)) => {
                self.error(
                    name.span,
                    format!("`{}` has no argument to bind", on.name()),
                    "nothing to bind",
                )
                .set_hint(format!("write `on {}` without parentheses", on.name()));
                None
            }
        };
        if let (Some(on @ (TransitionEvent::Up | TransitionEvent::Down)), None) = (on, binding) {
            self.message_type(on, state, states, &decl.event);
        }
        let mut scope = Scope {
            vars: self.machine_names(),
            grammar: false,
            poisoned: Vec::new(),
            hint: "a transition sees its event's binding (as in `on down(res)`), the `var`s and the streamed events",
        };
        if let Some(name) = binding {
            match binding_type {
                Some(ty) => scope.vars.push((name.name.clone(), ty)),
                None => scope.poisoned.push(name.name.clone()),
            }
        }
        let when = decl.when.as_ref().map(|cond| self.condition(cond, &scope));
        let lowered_actions = self.lower_actions(&decl.actions, &scope);
        let transition = (|| {
            let when = match when {
                Some(cond) => Some(cond?),
                None => None,
            };
            let (actions, jump) = lowered_actions?;
            Some(ir::Transition {
                on: on?,
                binding: binding.map(|b| b.name.clone()),
                when,
                actions,
                jump,
                line: self.line(decl.span),
            })
        })();
        (on, transition)
    }

    /// The names every transition sees: streamed events (their tallies),
    /// then the per-flow variables.
    fn machine_names(&self) -> Vec<(String, Type)> {
        let streamed = self.events.iter().filter(|e| e.decl.streamed).map(|e| {
            (
                e.decl.name.name.clone(),
                Type::Record(ir::STREAM_RECORD.into()),
            )
        });
        let vars = self
            .vars
            .iter()
            .map(|(v, _)| (v.name.clone(), v.ty.clone()));
        streamed.chain(vars).collect()
    }

    /// The event of a transition, with its seconds for `timeout`.
    fn transition_event(&mut self, decl: &ast::TransitionDecl) -> Option<TransitionEvent> {
        let event = &decl.event;
        let on = match event.name.as_str() {
            "up" => TransitionEvent::Up,
            "down" => TransitionEvent::Down,
            "parse_error" => TransitionEvent::ParseError,
            "missing_grammar" => TransitionEvent::MissingGrammar,
            "gap" => TransitionEvent::Gap,
            "end" => TransitionEvent::End,
            "init" => TransitionEvent::Init,
            "enter" => TransitionEvent::Enter,
            "leave" => TransitionEvent::Leave,
            "fail" => TransitionEvent::Fail,
            "finish" => TransitionEvent::Finish,
            "timeout" => match &decl.arg {
                Some(EventArg::Number { value, .. }) if value.is_finite() && *value > 0.0 => {
                    return Some(TransitionEvent::Timeout(*value))
                }
                _ => {
                    self.error(
                        event.span,
                        "`timeout` needs a number of seconds",
                        "no duration",
                    )
                    .set_hint("write `on timeout(30)`");
                    return None;
                }
            },
            other => {
                let hint = if self.event_index.contains_key(other) {
                    format!(
                        "`{other}` is a protocol event: `trigger {other}(...)` raises it; transitions react to {}",
                        EVENTS.join(", ")
                    )
                } else {
                    did_you_mean(other, EVENTS.iter().copied())
                        .unwrap_or_else(|| format!("the events are {}", EVENTS.join(", ")))
                };
                self.error(
                    event.span,
                    format!("unknown state-machine event `{other}`"),
                    "no such event",
                )
                .hint = Some(hint);
                return None;
            }
        };
        if let Some(EventArg::Number { span, .. }) = &decl.arg {
            self.error(
                *span,
                format!("`{}` takes a name to bind, not a number", on.name()),
                "a number",
            )
            .set_hint(format!("write `on {}(name)`", on.name()));
            return None;
        }
        Some(on)
    }

    /// The record an `up`/`down` event carries in `state` (or, for `any`,
    /// in every state with a grammar in that direction). Reports a state
    /// with no grammar in that direction, and an ambiguous `any`.
    fn message_type(
        &mut self,
        on: TransitionEvent,
        state: Option<usize>,
        states: &[ir::State],
        at: &ast::Ident,
    ) -> Option<Type> {
        let direction = on.name();
        let grammar = |s: &ir::State| {
            if on == TransitionEvent::Up {
                s.up
            } else {
                s.down
            }
        };
        let mut records: Vec<ir::RecordId> = match state {
            Some(i) => states.get(i).and_then(grammar).into_iter().collect(),
            None => states.iter().filter_map(grammar).collect(),
        };
        records.sort();
        records.dedup();
        match (records.as_slice(), state) {
            ([one], _) => Some(Type::Record(self.record_name(*one).to_string())),
            ([], Some(i)) => {
                let name = self.states.get(i).map_or("?", |s| s.name.name.as_str());
                let declared = self.states.get(i).map(|s| s.name.span).unwrap_or_default();
                self.error(
                    at.span,
                    format!("state `{name}` has no `{direction}` grammar"),
                    format!("no `{direction}` message is parsed in this state"),
                )
                .add_note(declared, "declared here")
                .set_hint(format!(
                    "add `{direction}: RECORD;` to the state, or react to `missing_grammar`"
                ));
                None
            }
            ([], None) => {
                self.error(
                    at.span,
                    format!("no state has a `{direction}` grammar"),
                    "this transition can never fire",
                );
                None
            }
            (many, None) => {
                let names: Vec<String> = many
                    .iter()
                    .map(|id| format!("`{}`", self.record_name(*id)))
                    .collect();
                self.error(
                    at.span,
                    format!("`any on {direction}` binds a message whose record differs by state"),
                    "ambiguous binding",
                )
                .set_hint(format!(
                    "states parse {}; bind it in each state's own transition",
                    names.join(", ")
                ));
                None
            }
            (_, Some(_)) => None,
        }
    }

    /// The actions of a transition, and its final `jump`.
    fn lower_actions(
        &mut self,
        actions: &[ast::Action],
        scope: &Scope,
    ) -> Option<(Vec<Action>, Option<Target>)> {
        let mut lowered = Vec::new();
        let mut jump = None;
        let mut ok = true;
        for (i, action) in actions.iter().enumerate() {
            let result = match &action.kind {
                ActionKind::Trigger { event, arg } => self.trigger(event, arg.as_ref(), scope),
                ActionKind::Alert {
                    severity,
                    description,
                } => {
                    let severity = self.severity(severity);
                    let description = self.template(description, scope);
                    match (severity, description) {
                        (Some(severity), Some(description)) => Some(Action::Alert {
                            severity,
                            description,
                        }),
                        _ => None,
                    }
                }
                ActionKind::Drop => Some(Action::Drop),
                ActionKind::Log(template) => self.template(template, scope).map(Action::Log),
                ActionKind::Jump(target) => {
                    if i + 1 != actions.len() {
                        self.error(
                            action.span,
                            "`jump` must be the last action",
                            "actions follow it",
                        )
                        .set_hint("the actions after a jump would never run; move them before it");
                        ok = false;
                    }
                    jump = self.jump_target(target);
                    ok &= jump.is_some();
                    continue;
                }
                ActionKind::Stop => {
                    if i + 1 != actions.len() {
                        self.error(
                            action.span,
                            "`stop` must be the last action",
                            "actions follow it",
                        )
                        .set_hint("parsing ends at `stop`: nothing after it runs, not even a jump");
                        ok = false;
                    }
                    Some(Action::Stop)
                }
                ActionKind::Handover(to) => {
                    if i + 1 != actions.len() {
                        self.error(
                            action.span,
                            "`handover` must be the last action",
                            "actions follow it",
                        )
                        .set_hint(
                            "parsing ends at `handover`: nothing after it runs, not even a jump",
                        );
                        ok = false;
                    }
                    self.handover(to, scope).map(Action::Handover)
                }
                ActionKind::TriggerNamed { event, fields } => {
                    self.trigger_named(event, fields, scope)
                }
                ActionKind::Set { var, value } => {
                    self.assigned(var, value, scope, false)
                        .map(|value| Action::Set {
                            var: var.name.clone(),
                            value,
                        })
                }
                ActionKind::Push { var, value } => {
                    self.assigned(var, value, scope, true)
                        .map(|value| Action::Push {
                            var: var.name.clone(),
                            value,
                        })
                }
                ActionKind::Pop(var) => self
                    .list_var(var, "pop")
                    .map(|_| Action::Pop(var.name.clone())),
                ActionKind::Clear(var) => self
                    .declared_var(var)
                    .map(|_| Action::Clear(var.name.clone())),
                ActionKind::Close(event) => self.streamed_event(event).map(Action::Close),
                ActionKind::Resync { token, unless } => {
                    let token = self.resync_token(token);
                    let unless = match unless {
                        Some(other) => self.resync_token(other).map(Some),
                        None => Some(None),
                    };
                    match (token, unless) {
                        (Some(token), Some(unless)) => Some(Action::Resync { token, unless }),
                        _ => None,
                    }
                }
            };
            match result {
                Some(action) => lowered.push(action),
                None => ok = false,
            }
        }
        ok.then_some((lowered, jump))
    }

    fn trigger(
        &mut self,
        event: &ast::Ident,
        arg: Option<&ast::Expr>,
        scope: &Scope,
    ) -> Option<Action> {
        let Some(&index) = self.event_index.get(&event.name) else {
            let events = self.event_names();
            self.undefined("event", event, events);
            return None;
        };
        let info = &self.events[index];
        let (streamed, declared) = (info.decl.streamed, info.decl.span);
        if streamed {
            self.error(
                event.span,
                format!("streamed event `{}` cannot be triggered", event.name),
                "streamed",
            )
            .add_note(declared, "declared streamed here")
            .set_hint(format!(
                "a streamed event receives the chunks of `bytes until ... chunked -> {}`",
                event.name
            ));
            return None;
        }
        let arg_span = arg.map(|a| a.span);
        let arg = match arg {
            Some(expr) => Some(self.type_expr(expr, scope)?),
            None => None,
        };
        if let (Some(arg), Some(span)) = (&arg, arg_span) {
            if arg.ty.inner() == &Type::Record(ir::STREAM_RECORD.into()) {
                self.error(
                    span,
                    "an event carries a parsed record, not a stream's tally",
                    "a stream's tally",
                )
                .set_hint("pass its values by name: `trigger EVENT(size: stream.size)`");
                return None;
            }
            let Type::Record(record) = &arg.ty else {
                self.error(
                    span,
                    format!("an event carries a record, found {}", a(&arg.ty)),
                    "not a record",
                )
                .set_hint("pass the parsed message, as in `trigger command(res)`");
                return None;
            };
            let id = self.record_by_name(record)?;
            if let Some((_, named_span)) = &self.events[index].named {
                let named_span = *named_span;
                self.error(
                    span,
                    format!("event `{}` carries named values elsewhere", event.name),
                    format!("record `{record}` here"),
                )
                .add_note(named_span, "named values here")
                .set_hint(
                    "every trigger of an event passes a record, or every one passes named values",
                );
                return None;
            }
            match self.events[index].payload {
                None => self.events[index].payload = Some((id, span)),
                Some((first, first_span)) if first != id => {
                    let first_name = self.record_name(first);
                    self.error(
                        span,
                        format!(
                            "event `{}` is triggered with record `{record}` here",
                            event.name
                        ),
                        format!("record `{record}`"),
                    )
                    .add_note(first_span, format!("but with record `{first_name}` here"))
                    .set_hint("every trigger of an event passes the same record");
                    return None;
                }
                Some(_) => {}
            }
        }
        Some(Action::Trigger {
            event: ir::EventId(index),
            arg,
        })
    }

    /// `trigger EVENT(name: expr, …)`: every trigger of the event passes
    /// the same names with the same types.
    fn trigger_named(
        &mut self,
        event: &ast::Ident,
        fields: &[(ast::Ident, ast::Expr)],
        scope: &Scope,
    ) -> Option<Action> {
        let Some(&index) = self.event_index.get(&event.name) else {
            let events = self.event_names();
            self.undefined("event", event, events);
            return None;
        };
        let decl = self.events[index].decl;
        if decl.streamed {
            self.error(
                event.span,
                format!("streamed event `{}` cannot be triggered", event.name),
                "streamed",
            )
            .add_note(decl.span, "declared streamed here");
            return None;
        }
        let mut lowered = Vec::new();
        let mut defs = Vec::new();
        let mut ok = true;
        for (name, value) in fields {
            if defs.iter().any(|d: &FieldDef| d.name == name.name) {
                self.error(
                    name.span,
                    format!("value `{}` is passed twice", name.name),
                    "again here",
                );
                ok = false;
                continue;
            }
            let Some(value) = self.type_expr(value, scope) else {
                ok = false;
                continue;
            };
            // An index past the end is absent: the value is optional then.
            let ty = if can_be_absent(&value) {
                super::fields::optional(value.ty.clone())
            } else {
                value.ty.clone()
            };
            defs.push(FieldDef {
                name: name.name.clone(),
                ty,
            });
            lowered.push((name.name.clone(), value));
        }
        if !ok {
            return None;
        }
        let span = event.span;
        if let Some((first, _)) = self.events[index].payload {
            let record = self.record_name(first);
            self.error(
                span,
                format!("event `{}` carries record `{record}` elsewhere", event.name),
                "named values here",
            )
            .set_hint(
                "every trigger of an event passes a record, or every one passes named values",
            );
            return None;
        }
        match &mut self.events[index].named {
            None => self.events[index].named = Some((defs, span)),
            Some((first, _)) if same_values(first, &defs) => {
                // Absent here or there: the value is optional.
                for (kept, new) in first.iter_mut().zip(&defs) {
                    if matches!(new.ty, Type::Optional(_)) {
                        kept.ty = new.ty.clone();
                    }
                }
            }
            Some((first, first_span)) => {
                let first_span = *first_span;
                let describe = |defs: &[FieldDef]| {
                    defs.iter()
                        .map(|d| format!("{}: {}", d.name, d.ty.describe()))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let (was, now) = (describe(first), describe(&defs));
                self.error(
                        span,
                        format!("event `{}` is triggered with ({now}) here", event.name),
                        "different values",
                    )
                    .add_note(first_span, format!("but with ({was}) here"))
                    .set_hint("every trigger of an event passes the same names, in the same order, with the same types");
                return None;
            }
        }
        Some(Action::TriggerFields {
            event: ir::EventId(index),
            fields: lowered,
        })
    }

    /// A declared variable.
    fn declared_var(&mut self, name: &ast::Ident) -> Option<Type> {
        if let Some(var) = self.var(&name.name) {
            return Some(var.ty.clone());
        }
        let names: Vec<String> = self.vars.iter().map(|(v, _)| v.name.clone()).collect();
        self.undefined("variable", name, names.iter().map(String::as_str))
            .hint
            .get_or_insert_with(|| "declare it in the `states` block: `var NAME: TYPE;`".into());
        None
    }

    /// A declared list variable (for `push`, `pop`); its element type.
    fn list_var(&mut self, name: &ast::Ident, action: &str) -> Option<Type> {
        let ty = self.declared_var(name)?;
        match ty {
            Type::List(element) => Some(*element),
            other => {
                self.error(
                    name.span,
                    format!("`{action}` needs a list, `{}` is {}", name.name, a(&other)),
                    "not a list",
                )
                .set_hint(format!("declare it `var {}: list of ...;`", name.name));
                None
            }
        }
    }

    /// The value of `set VAR = value` (or `push LIST(value)`), typed against
    /// the variable (or its elements). An optional value is accepted: absent,
    /// it stores the type's default.
    fn assigned(
        &mut self,
        var: &ast::Ident,
        value: &ast::Expr,
        scope: &Scope,
        push: bool,
    ) -> Option<ir::Expr> {
        let want = if push {
            self.list_var(var, "push")
        } else {
            self.declared_var(var)
        };
        let typed = self.type_expr(value, scope)?;
        let want = want?;
        if typed.ty.inner() != &want {
            let holds = if push {
                format!("`{}` is a list of {}", var.name, want.describe())
            } else {
                format!("`{}` is {}", var.name, a(&want))
            };
            self.error(
                value.span,
                format!("{holds}, this is {}", a(&typed.ty)),
                "wrong type",
            );
            return None;
        }
        Some(typed)
    }

    /// Where `handover` sends the flow: a spec's name (any name: the specs
    /// are checked one by one; an unknown one stops the flow at run time, as
    /// `stop` does), or a port, an integer.
    fn handover(&mut self, to: &ast::HandoverTo, scope: &Scope) -> Option<ir::HandoverTo> {
        match to {
            ast::HandoverTo::Spec(name) => Some(ir::HandoverTo::Spec(name.name.clone())),
            ast::HandoverTo::Port(port) => {
                let typed = self.type_expr(port, scope)?;
                if typed.ty.inner() != &Type::Int {
                    self.error(
                        port.span,
                        format!(
                            "`handover port` takes a port number, this is {}",
                            a(&typed.ty)
                        ),
                        "not a number",
                    )
                    .set_hint("convert text with `number(...)`, e.g. `handover port number(p)`");
                    return None;
                }
                Some(ir::HandoverTo::Port(typed))
            }
        }
    }

    /// A streamed event (for `close`).
    fn streamed_event(&mut self, event: &ast::Ident) -> Option<ir::EventId> {
        let Some(&index) = self.event_index.get(&event.name) else {
            let events = self.event_names();
            self.undefined("event", event, events);
            return None;
        };
        if !self.events[index].decl.streamed {
            let declared = self.events[index].decl.span;
            self.error(
                event.span,
                format!("event `{}` is not streamed", event.name),
                "only streams can be closed",
            )
            .add_note(declared, "declared here");
            return None;
        }
        Some(ir::EventId(index))
    }

    /// The token of `resync TOKEN`: it must not match the empty string, or
    /// the skip would never move.
    fn resync_token(&mut self, token: &TokenRef) -> Option<ir::TokenId> {
        let (id, span) = match token {
            TokenRef::Inline(regex) => (self.inline_token(regex)?, regex.span),
            TokenRef::Named(name) => match self.grammar_index.get(&name.name).copied() {
                Some(GrammarName::Token(id)) => (id, name.span),
                Some(GrammarName::Record(_)) => {
                    self.error(
                        name.span,
                        format!("`{}` is a record, not a token", name.name),
                        "a record",
                    )
                    .set_hint("`resync` skips to just after the next match of a token");
                    return None;
                }
                None => {
                    let tokens: Vec<String> = self.tokens.iter().map(|t| t.name.clone()).collect();
                    self.undefined("token", name, tokens.iter().map(String::as_str));
                    return None;
                }
            },
        };
        let pattern = self.tokens.get(id.0).map(|t| t.pattern.clone())?;
        let matches_empty = regex::Regex::new(&pattern).is_ok_and(|re| re.is_match(""));
        if matches_empty {
            self.error(
                span,
                "`resync` needs a token that cannot match the empty string",
                "matches the empty string",
            )
            .set_hint("an empty match would skip nothing; use a token such as CRLF");
            return None;
        }
        Some(id)
    }

    fn jump_target(&mut self, target: &ast::Ident) -> Option<Target> {
        match target.name.as_str() {
            "fail" => Some(Target::Fail),
            "finish" => Some(Target::Finish),
            name => match self.state_index.get(name) {
                Some(&i) => Some(Target::State(StateId(i))),
                None => {
                    let mut names = self.state_names();
                    names.extend(["fail", "finish"]);
                    self.undefined("state", target, names);
                    None
                }
            },
        }
    }

    fn warn_shadowed(&mut self, placed: &[Placed]) {
        for (j, later) in placed.iter().enumerate() {
            let earlier = placed[..j]
                .iter()
                .find(|p| p.state == later.state && p.event == later.event && !p.conditional);
            if let Some(earlier) = earlier {
                let line = earlier.line;
                self.warning(
                    later.header,
                    format!(
                        "this transition can never fire: the one at line {line} always fires first"
                    ),
                    "shadowed",
                )
                .add_note(earlier.header, "has no `when`, so it always fires")
                .set_hint("give the earlier transition a `when`, or move this one before it");
            }
        }
    }

    /// The jumps the transitions declare, as `(from, to)` state indexes
    /// (`from` is `None` for `any`), resolved silently from the AST so a
    /// transition rejected for another reason still counts; `None` if some
    /// state name does not resolve (already reported: the graph is unknown).
    fn declared_jumps(&self, block: &ast::StatesBlock) -> Option<Vec<(Option<usize>, usize)>> {
        let mut jumps = Vec::new();
        for item in &block.items {
            let StatesItem::Transition(decl) = item else {
                continue;
            };
            let from = match &decl.subject {
                Subject::Any(_) => None,
                Subject::State(name) => Some(*self.state_index.get(&name.name)?),
            };
            for action in &decl.actions {
                let ActionKind::Jump(target) = &action.kind else {
                    continue;
                };
                match target.name.as_str() {
                    "fail" | "finish" => {}
                    name => jumps.push((from, *self.state_index.get(name)?)),
                }
            }
        }
        Some(jumps)
    }

    fn warn_unreachable(&mut self, block: &ast::StatesBlock, initial: StateId) {
        let Some(jumps) = self.declared_jumps(block) else {
            return;
        };
        let mut reached = vec![false; self.states.len()];
        let mut queue = VecDeque::from([initial.0]);
        while let Some(i) = queue.pop_front() {
            if reached.get(i).copied().unwrap_or(true) {
                continue;
            }
            reached[i] = true;
            let next = jumps
                .iter()
                .filter(|(from, _)| from.is_none() || *from == Some(i));
            queue.extend(next.map(|(_, to)| *to));
        }
        let initial_name = self
            .states
            .get(initial.0)
            .map_or("?", |s| s.name.name.as_str());
        for (decl, reached) in self.states.clone().iter().zip(reached) {
            if !reached {
                self.warning(
                    decl.name.span,
                    format!("state `{}` is never reached", decl.name.name),
                    format!("no chain of jumps from `{initial_name}` leads here"),
                );
            }
        }
    }

    fn warn_unused_exports(&mut self, states: &[ir::State]) {
        for (id, span) in self.exports.clone() {
            let used = states
                .iter()
                .any(|s| s.up == Some(id) || s.down == Some(id));
            if !used {
                let name = self.record_name(id);
                self.warning(
                    span,
                    format!("record `{name}` is exported but no state uses it"),
                    "unused export",
                );
            }
        }
    }
}
