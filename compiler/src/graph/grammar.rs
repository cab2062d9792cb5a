//! The grammar graph: records, tokens and how each record's elements lead
//! from one to the other.
//!
//! Invariants of the output:
//! - one node per token (ellipse: name and regex) and per record (box: name
//!   and flattened fields; exported records have a double border), in IR order;
//! - every element of a record becomes one edge out of the record (or out of
//!   the branch it sits in) whose label carries what wraps it: the field name,
//!   `array until …`, `optional if …` (dashed), the branch case (`"required"`,
//!   `default`);
//! - branches are diamonds, `bytes until` a note (with `chunked -> event`),
//!   `empty` and `fail` small nodes of their own, one per occurrence;
//! - numbers, flags, padding and computed values (`let`, `var … =`) are
//!   small dashed boxes; `verify` a hexagon; `sequence`, `union` and `try`
//!   a node whose numbered edges lead to their items; `at` a dashed edge to
//!   its record; `var` and converters label the edge that leads to them.

use petgraph::graph::NodeIndex;

use super::dot::{self, attrs, Align, DotGraph, Edge, Label, Node};
use crate::ir::{Element, Record, Spec, Token, Transform};
use crate::pretty;

/// The grammar of `spec` as Graphviz DOT text.
pub fn grammar_dot(spec: &Spec) -> String {
    let mut graph = DotGraph::new();
    let tokens: Vec<NodeIndex> = spec
        .grammar
        .tokens
        .iter()
        .map(|t| graph.add_node(token_node(t)))
        .collect();
    let records: Vec<NodeIndex> = spec
        .grammar
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            graph.add_node(record_node(
                r,
                spec.grammar.exports.iter().any(|e| e.0 == i),
            ))
        })
        .collect();
    let mut builder = Builder {
        spec,
        graph,
        tokens,
        records,
    };
    for (record, index) in spec.grammar.records.iter().zip(builder.records.clone()) {
        for item in &record.items {
            builder.element(index, item, Via::default());
        }
    }

    let title = format!("{}: grammar ({})", spec.name, spec.source_path);
    dot::write(
        &format!("{}_grammar", spec.name),
        &attrs(&[
            ("rankdir", "LR"),
            ("ordering", "out"),
            ("label", &title),
            ("labelloc", "t"),
            ("fontname", "Helvetica"),
        ]),
        &attrs(&[("fontname", "Helvetica"), ("fontsize", "11")]),
        &attrs(&[("fontname", "Helvetica"), ("fontsize", "9")]),
        &builder.graph,
    )
}

/// What wraps an element on the way from its record: the label lines and
/// style of the edge that will reach it.
#[derive(Default, Clone)]
struct Via {
    lines: Vec<String>,
    optional: bool,
    repeated: bool,
}

impl Via {
    fn line(text: impl Into<String>) -> Via {
        Via {
            lines: vec![text.into()],
            ..Via::default()
        }
    }

    fn with(mut self, text: impl Into<String>) -> Via {
        self.lines.push(text.into());
        self
    }

    fn edge(self) -> Edge {
        let mut edge_attrs = dot::Attrs::new();
        if self.optional {
            edge_attrs.push(("style", "dashed".into()));
        }
        if self.repeated {
            edge_attrs.extend(attrs(&[("penwidth", "2"), ("arrowhead", "normalnormal")]));
        }
        Edge {
            label: Label::centered(self.lines),
            attrs: edge_attrs,
        }
    }
}

struct Builder<'a> {
    spec: &'a Spec,
    graph: DotGraph,
    tokens: Vec<NodeIndex>,
    records: Vec<NodeIndex>,
}

impl Builder<'_> {
    /// Adds the edge (and node, if the element has its own) for `element`
    /// reached from `from` through `via`.
    fn element(&mut self, from: NodeIndex, element: &Element, via: Via) {
        match element {
            Element::Field { name, element } => self.element(from, element, via.with(name.clone())),
            Element::Hidden { name, element, .. } => {
                self.element(from, element, via.with(format!("var {name}")))
            }
            Element::Convert {
                element, written, ..
            } => self.element(from, element, via.with(format!("as {written}"))),
            Element::Number(format) => {
                self.value_node(from, [crate::codegen::records::number_name(format)], via)
            }
            Element::Flag => self.value_node(from, ["flag".to_string()], via),
            Element::BytesRest { chunked } => {
                let mut label = Label::centered(["bytes rest"]);
                if let Some(event) = chunked {
                    label.push(
                        format!("chunked -> {}", pretty::event_name(self.spec, *event)),
                        Align::Center,
                    );
                }
                let node = Node {
                    label,
                    attrs: attrs(&[("shape", "note")]),
                };
                self.new_node_from(from, node, via);
            }
            Element::Padding { bits, align } => {
                let text = if *align {
                    format!("padding align {bits}")
                } else {
                    format!("padding {bits}")
                };
                self.value_node(from, [text], via)
            }
            Element::Verify { cond, message } => {
                let node = Node {
                    label: Label::centered([
                        format!("verify {}", pretty::expr(cond)),
                        pretty::string_literal(message),
                    ]),
                    attrs: attrs(&[("shape", "hexagon"), ("color", "firebrick")]),
                };
                self.new_node_from(from, node, via);
            }
            Element::Let(value) => {
                self.value_node(from, [format!("= {}", pretty::expr(value))], via)
            }
            Element::ArrayCount { element, count } => {
                let via = Via {
                    repeated: true,
                    ..via.with(format!("array count {}", pretty::expr(count)))
                };
                self.element(from, element, via);
            }
            Element::ArrayWhile { element, cond } => {
                let via = Via {
                    repeated: true,
                    ..via.with(format!("array while {}", pretty::expr(cond)))
                };
                self.element(from, element, via);
            }
            Element::At { offset, record } => {
                let via = Via {
                    optional: true,
                    ..via.with(format!("at {}", pretty::expr(offset)))
                };
                self.edge_to(from, self.records.get(record.0).copied(), via, || {
                    missing("record", record.0)
                });
            }
            Element::Sequence(items) | Element::Union(items) | Element::Try(items) => {
                let (keyword, shape) = match element {
                    Element::Sequence(_) => ("sequence", "box"),
                    Element::Union(_) => ("union", "trapezium"),
                    _ => ("try", "invhouse"),
                };
                let block = self.graph.add_node(Node {
                    label: Label::centered([keyword]),
                    attrs: attrs(&[("shape", shape), ("style", "rounded")]),
                });
                self.graph.add_edge(from, block, via.edge());
                for (i, item) in items.iter().enumerate() {
                    let line = match element {
                        Element::Try(_) => format!("alternative {}", i + 1),
                        Element::Union(_) => format!("member {}", i + 1),
                        _ => format!("{}", i + 1),
                    };
                    self.element(block, item, Via::line(line));
                }
            }
            Element::Token(id) => self.edge_to(from, self.tokens.get(id.0).copied(), via, || {
                missing("token", id.0)
            }),
            Element::Record(id) => self.edge_to(from, self.records.get(id.0).copied(), via, || {
                missing("record", id.0)
            }),
            Element::Branch {
                key,
                cases,
                default,
            } => {
                let label = Label::centered(["branch".to_string(), pretty::expr(key)]);
                let branch = self.graph.add_node(Node {
                    label,
                    attrs: attrs(&[("shape", "diamond")]),
                });
                self.graph.add_edge(from, branch, via.edge());
                let int_key = key.ty.inner() == &crate::ir::Type::Int;
                for (case, element) in cases {
                    let label = if int_key {
                        case.clone()
                    } else {
                        pretty::string_literal(case)
                    };
                    self.element(branch, element, Via::line(label));
                }
                if let Some(element) = default {
                    self.element(branch, element, Via::line("default"));
                }
            }
            Element::Optional { element, cond } => {
                let via = Via {
                    optional: true,
                    ..via.with(format!("optional if {}", pretty::expr(cond)))
                };
                self.element(from, element, via);
            }
            Element::TryToken(id) => {
                let via = Via {
                    optional: true,
                    ..via.with("optional (if it matches)")
                };
                self.edge_to(from, self.tokens.get(id.0).copied(), via, || {
                    missing("token", id.0)
                });
            }
            Element::BytesCount(count) => {
                let mut label =
                    Label::centered([format!("bytes count {}", pretty::expr(&count.count))]);
                if let Some(event) = count.chunked {
                    label.push(
                        format!("chunked -> {}", pretty::event_name(self.spec, event)),
                        Align::Center,
                    );
                }
                if let Some(ends) = &count.ends {
                    label.push(format!("ends if {}", pretty::expr(ends)), Align::Center);
                }
                if let Some(Transform::Unstuff) = count.transform {
                    label.push("transform unstuff", Align::Center);
                }
                self.new_node_from(
                    from,
                    Node {
                        label,
                        attrs: attrs(&[("shape", "note")]),
                    },
                    via,
                );
            }
            Element::Array { element, until } => {
                let via = Via {
                    repeated: true,
                    ..via.with(format!("array until {}", pretty::expr(until)))
                };
                self.element(from, element, via);
            }
            Element::Empty => {
                let node = Node {
                    label: Label::centered(["empty"]),
                    attrs: attrs(&[("shape", "plaintext"), ("fontcolor", "gray40")]),
                };
                self.new_node_from(from, node, via);
            }
            Element::Fail(message) => {
                let node = Node {
                    label: Label::centered(["fail".to_string(), pretty::string_literal(message)]),
                    attrs: attrs(&[
                        ("shape", "octagon"),
                        ("color", "firebrick"),
                        ("fontcolor", "firebrick"),
                    ]),
                };
                self.new_node_from(from, node, via);
            }
            Element::BytesUntil {
                token,
                chunked,
                transform,
            } => {
                let token_name = self
                    .spec
                    .grammar
                    .tokens
                    .get(token.0)
                    .map_or("?", |t| t.name.as_str());
                let mut label = Label::centered([format!("bytes until {token_name}")]);
                if let Some(event) = chunked {
                    label.push(
                        format!("chunked -> {}", pretty::event_name(self.spec, *event)),
                        Align::Center,
                    );
                }
                if let Some(Transform::Unstuff) = transform {
                    label.push("transform unstuff", Align::Center);
                }
                let bytes = self.new_node_from(
                    from,
                    Node {
                        label,
                        attrs: attrs(&[("shape", "note")]),
                    },
                    via,
                );
                if let Some(&token_node) = self.tokens.get(token.0) {
                    let until = Edge {
                        label: Label::centered(["until"]),
                        attrs: attrs(&[("style", "dotted")]),
                    };
                    self.graph.add_edge(bytes, token_node, until);
                }
            }
        }
    }

    /// A small node for a value read in place (a number, a flag, padding, a
    /// computed value).
    fn value_node<I, T>(&mut self, from: NodeIndex, lines: I, via: Via)
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let node = Node {
            label: Label::centered(lines),
            attrs: attrs(&[("shape", "box"), ("style", "rounded,dashed")]),
        };
        self.new_node_from(from, node, via);
    }

    /// An edge to an existing node; a dangling id (never produced by the
    /// checker) gets a placeholder node instead of a panic.
    fn edge_to(
        &mut self,
        from: NodeIndex,
        to: Option<NodeIndex>,
        via: Via,
        placeholder: impl FnOnce() -> Node,
    ) {
        match to {
            Some(to) => {
                self.graph.add_edge(from, to, via.edge());
            }
            None => {
                self.new_node_from(from, placeholder(), via);
            }
        }
    }

    fn new_node_from(&mut self, from: NodeIndex, node: Node, via: Via) -> NodeIndex {
        let to = self.graph.add_node(node);
        self.graph.add_edge(from, to, via.edge());
        to
    }
}

fn token_node(token: &Token) -> Node {
    Node {
        label: Label::centered([token.name.clone(), format!("/{}/", token.pattern)]),
        attrs: attrs(&[("shape", "ellipse")]),
    }
}

fn record_node(record: &Record, exported: bool) -> Node {
    let mut label = Label::centered([record.name.clone()]);
    for field in &record.fields {
        label.push(
            format!("{}: {}", field.name, pretty::ty(&field.ty)),
            Align::Left,
        );
    }
    let mut node_attrs = attrs(&[("shape", "box")]);
    if exported {
        node_attrs.extend(attrs(&[("peripheries", "2"), ("style", "bold")]));
    }
    Node {
        label,
        attrs: node_attrs,
    }
}

fn missing(kind: &str, index: usize) -> Node {
    Node {
        label: Label::centered([format!("missing {kind} #{index}")]),
        attrs: attrs(&[("color", "red")]),
    }
}
