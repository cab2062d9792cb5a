//! The state-machine graph: states, the built-in `fail`/`finish` ends, and
//! one edge per transition.
//!
//! Invariants of the output:
//! - exactly one edge per transition (state-owned and `any`), plus one entry
//!   edge from a point node to the initial state; a transition without a
//!   `jump` is a self-loop on its source (the `any` node for `any`);
//! - `fail` and `finish` appear only when some transition jumps to them,
//!   `stop` only when some transition stops parsing (its edge ends there);
//!   the `any` node only when there are `any` transitions;
//! - states that no path from the initial state reaches (through petgraph's
//!   DFS; `any` transitions apply from everywhere) are drawn greyed and dashed.

use petgraph::graph::NodeIndex;
use petgraph::visit::Dfs;

use super::dot::{self, attrs, DotGraph, Edge, Label, Node};
use crate::ir::{Action, Spec, State, Target, Transition};
use crate::pretty;

/// The state machine of `spec` as Graphviz DOT text.
pub fn states_dot(spec: &Spec) -> String {
    let mut graph = DotGraph::new();
    let machine = &spec.machine;

    let entry = graph.add_node(Node {
        label: Label::default(),
        attrs: attrs(&[("shape", "point"), ("width", "0.15")]),
    });
    let states: Vec<NodeIndex> = machine
        .states
        .iter()
        .enumerate()
        .map(|(i, state)| graph.add_node(state_node(spec, state, i == machine.initial.0)))
        .collect();
    let all_transitions = || {
        machine
            .states
            .iter()
            .flat_map(|s| &s.transitions)
            .chain(&machine.any)
    };
    let jumps_to = |end: Target| all_transitions().any(|t| t.jump == Some(end));
    let fail = jumps_to(Target::Fail).then(|| graph.add_node(fail_node()));
    let finish = jumps_to(Target::Finish).then(|| graph.add_node(finish_node()));
    let stop = all_transitions()
        .any(stops)
        .then(|| graph.add_node(stop_node()));
    let any = (!machine.any.is_empty()).then(|| graph.add_node(any_node()));

    let ends = Ends {
        states: &states,
        fail,
        finish,
        stop,
        any,
    };
    if let Some(&initial) = states.get(machine.initial.0) {
        graph.add_edge(
            entry,
            initial,
            Edge {
                label: Label::default(),
                attrs: attrs(&[("penwidth", "2")]),
            },
        );
    }
    for (state, &node) in machine.states.iter().zip(&states) {
        for transition in &state.transitions {
            add_transition(&mut graph, spec, (&state.name, node), transition, &ends);
        }
    }
    if let Some(any) = any {
        for transition in &machine.any {
            add_transition(&mut graph, spec, ("any", any), transition, &ends);
        }
    }

    grey_out_unreachable(
        &mut graph,
        &states,
        &[Some(entry), any].into_iter().flatten().collect::<Vec<_>>(),
    );

    let title = format!("{}: state machine ({})", spec.name, spec.source_path);
    dot::write(
        &format!("{}_states", spec.name),
        &attrs(&[
            ("rankdir", "LR"),
            ("label", &title),
            ("labelloc", "t"),
            ("fontname", "Helvetica"),
        ]),
        &attrs(&[("fontname", "Helvetica"), ("fontsize", "11")]),
        &attrs(&[("fontname", "Helvetica"), ("fontsize", "9")]),
        &graph,
    )
}

/// Where jumps land, and where `any` transitions start.
struct Ends<'a> {
    states: &'a [NodeIndex],
    fail: Option<NodeIndex>,
    finish: Option<NodeIndex>,
    /// Where transitions that `stop` parsing end.
    stop: Option<NodeIndex>,
    /// The `any` pseudo-state, whose edges are dashed.
    any: Option<NodeIndex>,
}

impl Ends<'_> {
    fn node(&self, target: Target) -> Option<NodeIndex> {
        match target {
            Target::State(id) => self.states.get(id.0).copied(),
            Target::Fail => self.fail,
            Target::Finish => self.finish,
        }
    }
}

/// Adds the edge of `t`, declared on `from` (a state's name and node, or
/// `any` and its node).
fn add_transition(
    graph: &mut DotGraph,
    spec: &Spec,
    (from_name, from): (&str, NodeIndex),
    t: &Transition,
    ends: &Ends,
) {
    // A jump to a state the IR does not have cannot come out of the checker;
    // such a transition is drawn as a self-loop rather than dropped.
    let to = match (stops(t), ends.stop) {
        (true, Some(stop)) => stop,
        _ => t.jump.and_then(|target| ends.node(target)).unwrap_or(from),
    };
    let mut label = Label::centered([pretty::transition_event(t)]);
    if let Some(cond) = &t.when {
        label.push(format!("when {}", pretty::expr(cond)), dot::Align::Center);
    }
    let actions: Vec<String> = t
        .actions
        .iter()
        .map(|a| pretty::action_summary(spec, a))
        .collect();
    if !actions.is_empty() {
        label.push(actions.join(", "), dot::Align::Center);
    }
    let mut edge_attrs = attrs(&[("tooltip", &transition_source(spec, from_name, t))]);
    match t.jump {
        Some(Target::Fail) => {
            edge_attrs.extend(attrs(&[("color", "firebrick"), ("fontcolor", "firebrick")]))
        }
        Some(Target::Finish) => {
            edge_attrs.extend(attrs(&[("color", "darkgreen"), ("fontcolor", "darkgreen")]))
        }
        _ if stops(t) => {
            edge_attrs.extend(attrs(&[("color", "steelblue"), ("fontcolor", "steelblue")]))
        }
        _ => {}
    }
    if Some(from) == ends.any {
        edge_attrs.push(("style", "dashed".into()));
    }
    graph.add_edge(
        from,
        to,
        Edge {
            label,
            attrs: edge_attrs,
        },
    );
}

/// The transition as spec source, for the edge's tooltip.
fn transition_source(spec: &Spec, from_name: &str, t: &Transition) -> String {
    let mut text = format!(
        "line {}: {from_name} on {}",
        t.line,
        pretty::transition_event(t)
    );
    if let Some(cond) = &t.when {
        text.push_str(&format!(" when {}", pretty::expr(cond)));
    }
    text.push_str(" {");
    for action in &t.actions {
        text.push(' ');
        text.push_str(&pretty::action(spec, action));
    }
    match t.jump {
        Some(Target::State(id)) => {
            let name = spec
                .machine
                .states
                .get(id.0)
                .map_or("?", |s| s.name.as_str());
            text.push_str(&format!(" jump {name};"));
        }
        Some(Target::Fail) => text.push_str(" jump fail;"),
        Some(Target::Finish) => text.push_str(" jump finish;"),
        None => {}
    }
    text.push_str(" }");
    text
}

fn state_node(spec: &Spec, state: &State, initial: bool) -> Node {
    let mut label = Label::centered([state.name.clone()]);
    let record_name = |id: crate::ir::RecordId| {
        spec.grammar
            .records
            .get(id.0)
            .map_or("?", |r| r.name.as_str())
    };
    if let Some(up) = state.up {
        label.push(format!("up: {}", record_name(up)), dot::Align::Center);
    }
    if let Some(down) = state.down {
        label.push(format!("down: {}", record_name(down)), dot::Align::Center);
    }
    let style = if initial { "rounded,bold" } else { "rounded" };
    let mut node_attrs = attrs(&[("shape", "box"), ("style", style)]);
    if initial {
        node_attrs.push(("penwidth", "2".into()));
    }
    Node {
        label,
        attrs: node_attrs,
    }
}

fn fail_node() -> Node {
    Node {
        label: Label::centered(["fail"]),
        attrs: attrs(&[
            ("shape", "octagon"),
            ("style", "filled"),
            ("fillcolor", "mistyrose"),
            ("color", "firebrick"),
        ]),
    }
}

fn finish_node() -> Node {
    Node {
        label: Label::centered(["finish"]),
        attrs: attrs(&[
            ("shape", "doublecircle"),
            ("style", "filled"),
            ("fillcolor", "honeydew"),
            ("color", "darkgreen"),
        ]),
    }
}

/// Whether a transition ends with `stop` (or `handover`, which stops this
/// spec's parsing too; its edge label names where the flow goes).
fn stops(t: &Transition) -> bool {
    t.actions
        .iter()
        .any(|a| matches!(a, Action::Stop | Action::Handover(_)))
}

fn stop_node() -> Node {
    Node {
        label: Label::centered(["stop"]),
        attrs: attrs(&[
            ("shape", "doublecircle"),
            ("style", "filled"),
            ("fillcolor", "aliceblue"),
            ("color", "steelblue"),
        ]),
    }
}

fn any_node() -> Node {
    Node {
        label: Label::centered(["any"]),
        attrs: attrs(&[("shape", "box"), ("style", "rounded,dashed")]),
    }
}

/// Greys out the state nodes no DFS from `roots` reaches.
fn grey_out_unreachable(graph: &mut DotGraph, states: &[NodeIndex], roots: &[NodeIndex]) {
    let mut reached = vec![false; graph.node_count()];
    for &root in roots {
        let mut dfs = Dfs::new(&*graph, root);
        while let Some(node) = dfs.next(&*graph) {
            if let Some(slot) = reached.get_mut(node.index()) {
                *slot = true;
            }
        }
    }
    for &state in states {
        if !reached.get(state.index()).copied().unwrap_or(false) {
            let node = &mut graph[state];
            node.label.push("(unreachable)", dot::Align::Center);
            node.attrs.retain(|(name, _)| *name != "style");
            node.attrs.extend(attrs(&[
                ("style", "rounded,dashed"),
                ("color", "gray"),
                ("fontcolor", "gray"),
            ]));
        }
    }
}
