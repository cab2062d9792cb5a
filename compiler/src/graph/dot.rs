//! Graphviz DOT text from a petgraph graph whose weights carry DOT attributes.
//!
//! One job: serialize. Invariants:
//! - the output is deterministic: nodes in index order as `n0`, `n1`, …, then
//!   edges in index order; attributes in the order they were given;
//! - every attribute value is quoted and escaped ([`escape`]): backslashes and
//!   quotes are escaped, a newline in text becomes a DOT line break, other
//!   control characters become U+FFFD, so no label can end the string early,
//!   start an escape sequence (`\N`, `\G`, …) or break the file.

use std::fmt::Write as _;

use petgraph::graph::DiGraph;
use petgraph::visit::EdgeRef;

/// How a label line is justified (DOT's `\n` centers, `\l` left-justifies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Center,
    Left,
}

/// A multi-line label; each line's text is raw (escaped on output).
#[derive(Debug, Clone, Default)]
pub struct Label {
    pub lines: Vec<(String, Align)>,
}

impl Label {
    /// A label with one centered line per item.
    pub fn centered<S: Into<String>>(lines: impl IntoIterator<Item = S>) -> Label {
        Label {
            lines: lines
                .into_iter()
                .map(|l| (l.into(), Align::Center))
                .collect(),
        }
    }

    pub fn push(&mut self, text: impl Into<String>, align: Align) {
        self.lines.push((text.into(), align));
    }

    /// The label as an escaped DOT string body (without the quotes).
    fn to_dot(&self) -> String {
        let mut out = String::new();
        for (text, align) in &self.lines {
            out.push_str(&escape(text));
            out.push_str(match align {
                Align::Center => "\\n",
                Align::Left => "\\l",
            });
        }
        // A trailing centered break would add an empty line; drop it.
        if out.ends_with("\\n") {
            out.truncate(out.len() - 2);
        }
        out
    }
}

/// A DOT attribute list: `(name, raw value)` pairs.
pub type Attrs = Vec<(&'static str, String)>;

/// A node: its label and other attributes (`shape`, `style`, …).
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub label: Label,
    pub attrs: Attrs,
}

/// An edge: its label and other attributes.
#[derive(Debug, Clone, Default)]
pub struct Edge {
    pub label: Label,
    pub attrs: Attrs,
}

/// An attribute list from borrowed pairs: `attrs(&[("shape", "box")])`.
pub fn attrs(pairs: &[(&'static str, &str)]) -> Attrs {
    pairs
        .iter()
        .map(|(name, value)| (*name, value.to_string()))
        .collect()
}

/// The graph both exports build.
pub type DotGraph = DiGraph<Node, Edge>;

/// Escapes raw text for the inside of a quoted DOT string.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Writes `graph` as `digraph "name" { … }` with the given graph, default
/// node and default edge attributes.
pub fn write(
    name: &str,
    graph_attrs: &Attrs,
    node_defaults: &Attrs,
    edge_defaults: &Attrs,
    graph: &DotGraph,
) -> String {
    let mut out = String::new();
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(out, "digraph \"{}\" {{", escape(name));
    let _ = writeln!(out, "    graph [{}];", attr_list(graph_attrs));
    let _ = writeln!(out, "    node [{}];", attr_list(node_defaults));
    let _ = writeln!(out, "    edge [{}];", attr_list(edge_defaults));
    for index in graph.node_indices() {
        let node = &graph[index];
        let _ = writeln!(
            out,
            "    n{} [{}];",
            index.index(),
            labelled(&node.label, &node.attrs)
        );
    }
    for edge in graph.edge_references() {
        let weight = edge.weight();
        let _ = writeln!(
            out,
            "    n{} -> n{} [{}];",
            edge.source().index(),
            edge.target().index(),
            labelled(&weight.label, &weight.attrs)
        );
    }
    out.push_str("}\n");
    out
}

fn labelled(label: &Label, attrs: &Attrs) -> String {
    let mut list = format!("label=\"{}\"", label.to_dot());
    if !attrs.is_empty() {
        list.push_str(", ");
        list.push_str(&attr_list(attrs));
    }
    list
}

fn attr_list(attrs: &Attrs) -> String {
    let items: Vec<String> = attrs
        .iter()
        .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
        .collect();
    items.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_backslashes_newlines_and_controls() {
        assert_eq!(escape(r#"a "b" \N"#), r#"a \"b\" \\N"#);
        assert_eq!(escape("x\ny\u{7}"), "x\\ny\u{fffd}");
    }

    #[test]
    fn labels_join_lines_with_their_justification() {
        let mut label = Label::centered(["title"]);
        label.push("field: string", Align::Left);
        assert_eq!(label.to_dot(), "title\\nfield: string\\l");
        assert_eq!(Label::centered(["a", "b"]).to_dot(), "a\\nb");
    }

    #[test]
    fn writes_nodes_then_edges_in_index_order() {
        let mut graph = DotGraph::new();
        let a = graph.add_node(Node {
            label: Label::centered(["a"]),
            attrs: vec![("shape", "box".into())],
        });
        let b = graph.add_node(Node {
            label: Label::centered(["b\"q"]),
            attrs: vec![],
        });
        graph.add_edge(
            a,
            b,
            Edge {
                label: Label::centered(["e"]),
                attrs: vec![],
            },
        );
        let text = write("g", &vec![], &vec![], &vec![], &graph);
        let expected = "digraph \"g\" {\n    graph [];\n    node [];\n    edge [];\n    \
            n0 [label=\"a\", shape=\"box\"];\n    n1 [label=\"b\\\"q\"];\n    n0 -> n1 [label=\"e\"];\n}\n";
        assert_eq!(text, expected);
    }
}
