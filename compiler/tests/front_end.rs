//! The front end as a whole: the tutorial's partial spec, collection of
//! every problem in one run, and the parser's reading of expressions,
//! literals and templates.

use protoc_compiler::ast::{self, BinOp, ExprKind, UnOp};
use protoc_compiler::diagnostic::Level;
use protoc_compiler::ir::{self, Type};
use protoc_compiler::{check_file, check_source, parse};

fn spec_path(relative: &str) -> String {
    format!("{}/../{relative}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn partial_tutorial_spec_is_accepted_with_unreached_states_named() {
    let result = check_file(spec_path("specs/tutorial/smtp_partial.proto")).unwrap();
    assert!(!result.has_errors(), "{}", result.render());
    let warnings: Vec<&str> = result
        .diagnostics
        .iter()
        .filter(|d| d.severity == Level::Warning)
        .map(|d| d.message.as_str())
        .collect();
    assert!(
        warnings.contains(&"state `data_transmission` is never reached"),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().all(|w| w.ends_with("is never reached")),
        "{warnings:?}"
    );
    let spec = result.spec.expect("warnings keep the spec");
    assert_eq!(spec.name, "smtp_partial");
    assert_eq!(
        spec.ports,
        vec![25],
        "port 25, as the workshop's smtp_test.lua"
    );
    assert!(spec.state_by_name("response").is_none());
    let responses = spec.record(spec.record_by_name("smtp_responses").unwrap());
    assert!(
        matches!(responses.items.as_slice(), [ir::Element::Fail(m)] if m == "incomplete grammar")
    );
    assert!(responses.fields.is_empty());
}

/// A spec with five independent mistakes, each on its own line.
const MANY_MISTAKES: &str = r#"protocol many {
    transport tcp;
    event ev;
    grammar {
        token A = /a(/;
        record r { x: A; y: B; }
        export r;
    }
    states bidirectional {
        state s { up: r; }
        initial s;
        s on up(m) when m.z == "1" { trigger evv(m); jump t; }
    }
}
"#;

#[test]
fn every_problem_is_reported_in_one_run_in_source_order() {
    let result = check_source("many.proto", MANY_MISTAKES);
    let messages: Vec<&str> = result
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "invalid regular expression: unclosed group",
            "undefined token or record `B`",
            "record `r` has no field `z`",
            "undefined event `evv`",
            "undefined state `t`",
        ]
    );
    let starts: Vec<usize> = result.diagnostics.iter().map(|d| d.span.start).collect();
    assert!(
        starts.windows(2).all(|w| w[0] <= w[1]),
        "sorted by position: {starts:?}"
    );
    assert!(result.spec.is_none());
    assert_eq!(result.summary(), "many.proto: 5 errors, 0 warnings");
}

#[test]
fn render_is_rustc_style_with_file_line_column() {
    let result = check_source("many.proto", MANY_MISTAKES);
    let text = result.render();
    assert!(text.contains("error: undefined state `t`\n"), "{text}");
    assert!(text.contains("--> many.proto:12:59\n"), "{text}");
    assert!(text.contains("^ no such state"), "{text}");
}

/// The condition of the first transition of a tiny spec, parsed.
fn parse_condition(condition: &str) -> ast::Expr {
    let source = format!(
        "protocol p {{ states bidirectional {{ state s {{ }} initial s; s on init when {condition} {{ }} }} }}"
    );
    let parsed = parse::parse_spec("t.proto", &source);
    assert!(
        parsed.diagnostics.is_empty(),
        "{condition}: {:?}",
        parsed.diagnostics
    );
    let protocol = parsed.spec.unwrap().protocol;
    let ast::Declaration::States(block) = &protocol.declarations[0] else {
        panic!()
    };
    let Some(ast::StatesItem::Transition(t)) = block.items.last() else {
        panic!()
    };
    t.when.clone().unwrap()
}

/// A compact rendering of an expression tree, to compare shapes.
fn shape(e: &ast::Expr) -> String {
    match &e.kind {
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::Int(i) => i.to_string(),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Null => "null".to_string(),
        ExprKind::Name(n) => n.name.clone(),
        ExprKind::Field(b, f) => format!("{}.{}", shape(b), f.name),
        ExprKind::Index(b, i) => format!("{}[{}]", shape(b), shape(i)),
        ExprKind::Call(f, args) => format!(
            "{}({})",
            f.name,
            args.iter().map(shape).collect::<Vec<_>>().join(",")
        ),
        ExprKind::Unary(UnOp::Not, x) => format!("(!{})", shape(x)),
        ExprKind::Unary(UnOp::Neg, x) => format!("(-{})", shape(x)),
        ExprKind::Binary(op, a, b) => format!("({} {} {})", shape(a), op.symbol(), shape(b)),
        ExprKind::Match(s, re) => format!("({} ~ /{}/)", shape(s), re.pattern),
    }
}

#[test]
fn expression_precedence_is_or_then_and_then_comparison_then_unary() {
    assert_eq!(
        shape(&parse_condition("a == 1 || b.c[0] != 'x' && !d")),
        "((a == 1) || ((b.c[0] != 120) && (!d)))"
    );
    assert_eq!(
        shape(&parse_condition("(a || b) && -n < 3")),
        "((a || b) && ((-n) < 3))"
    );
    assert_eq!(
        shape(&parse_condition("lower(x) ~ /@evil\\.org/")),
        "(lower(x) ~ /@evil\\.org/)"
    );
    assert_eq!(shape(&parse_condition("a.b.c == true")), "(a.b.c == true)");
    let op = |c: &str| match parse_condition(c).kind {
        ExprKind::Binary(op, ..) => op,
        other => panic!("{other:?}"),
    };
    assert_eq!(op("a <= b"), BinOp::Le);
    assert_eq!(op("a >= b"), BinOp::Ge);
    assert_eq!(op("a > b"), BinOp::Gt);
}

#[test]
fn string_and_char_escapes_are_decoded() {
    assert_eq!(
        shape(&parse_condition(r#"x == "a\r\n\t\\\"b""#)),
        r#"(x == "a\r\n\t\\\"b")"#
    );
    assert_eq!(shape(&parse_condition(r"x == '\n'")), "(x == 10)");
    assert_eq!(shape(&parse_condition(r"x == '\''")), "(x == 39)");
    let parsed = parse::parse_spec("t.proto", r#"protocol p { const C = { "a\q": "b" }; }"#);
    assert_eq!(parsed.diagnostics.len(), 1);
    assert_eq!(parsed.diagnostics[0].message, r"unknown escape `\q`");
}

#[test]
fn templates_interpolate_expressions_and_keep_doubled_braces_literal() {
    let source = r#"protocol p { transport tcp; grammar { token T = /x/; record r { f: T; } export r; }
        states bidirectional { state s { up: r; } initial s;
        s on up(m) { log "{{f}} = {m.f} {{{upper(m.f)}}}"; } } }"#;
    let result = check_source("t.proto", source);
    assert!(result.diagnostics.is_empty(), "{}", result.render());
    let spec = result.spec.unwrap();
    let ir::Action::Log(template) = &spec.machine.states[0].transitions[0].actions[0] else {
        panic!()
    };
    let parts: Vec<String> = template
        .parts
        .iter()
        .map(|p| match p {
            ir::TemplatePart::Text(t) => format!("text:{t}"),
            ir::TemplatePart::Expr(e) => format!("expr:{}", e.ty.describe()),
        })
        .collect();
    assert_eq!(
        parts,
        [
            "text:{f} = ",
            "expr:string",
            "text: {",
            "expr:string",
            "text:}"
        ]
    );
}

#[test]
fn inline_regexes_become_shared_anonymous_tokens() {
    let source = r#"protocol p { transport tcp; grammar {
        record r { a: /x+/; /\r?\n/; b: bytes until /\r?\n/; /\r?\n/; } export r; }
        states bidirectional { state s { up: r; } initial s; } }"#;
    let result = check_source("t.proto", source);
    assert!(result.diagnostics.is_empty(), "{}", result.render());
    let spec = result.spec.unwrap();
    let tokens: Vec<(&str, &str, Option<usize>)> = spec
        .grammar
        .tokens
        .iter()
        .map(|t| (t.name.as_str(), t.pattern.as_str(), t.max_len))
        .collect();
    assert_eq!(
        tokens,
        [("_token_1", "x+", None), ("_token_2", r"\r?\n", Some(2))]
    );
    let fields = &spec.grammar.records[0].fields;
    assert_eq!(fields[0].ty, Type::Str);
    assert_eq!(
        fields[1].ty,
        Type::Bytes,
        "bytes that are not chunked are kept"
    );
}

#[test]
fn branch_fields_are_optional_unless_every_succeeding_case_sets_them() {
    let source = r#"protocol p { transport tcp;
        const K = { "a": "one", "b": "two" };
        grammar {
            token T = /x/;
            record r {
                k: T;
                branch K[k] { "one" => both; "two" => both_and_more; default => fail "no"; }
            }
            record both { x: T; y: T; }
            record both_and_more { x: T; y: optional T if lookahead() == 'y'; z: T; }
            export r;
        }
        states bidirectional { state s { up: r; } initial s; } }"#;
    let result = check_source("t.proto", source);
    assert!(result.diagnostics.is_empty(), "{}", result.render());
    let spec = result.spec.unwrap();
    let fields: Vec<(String, Type)> = spec.grammar.records[0]
        .fields
        .iter()
        .map(|f| (f.name.clone(), f.ty.clone()))
        .collect();
    let opt = |t: Type| Type::Optional(Box::new(t));
    assert_eq!(
        fields,
        [
            ("k".to_string(), Type::Str),
            ("x".to_string(), Type::Str),
            ("y".to_string(), opt(Type::Str)),
            ("z".to_string(), opt(Type::Str)),
        ]
    );
}
