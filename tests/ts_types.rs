//! One source for the API's shapes: the TypeScript the UI compiles against is generated
//! from the Rust types that serialize the JSON, and from the route table.
//!
//! Renders the declaration of every type in [`TYPES`] into `ui/src/generated/types.ts`, and
//! the route table (`steward::http::table::COMMANDS`) into `ui/src/generated/commands.ts`,
//! and fails when a checked-in file differs, naming it. `STEWARD_BLESS=1 cargo test --test
//! ts_types` rewrites them instead (then commit them). CI runs this test like any other, so a
//! change of a wire type that is not regenerated fails there.
//!
//! To generate a type: derive `ts_rs::TS` next to its `Serialize` (serde's `rename`,
//! `rename_all`, `tag`, `flatten` and `skip` are followed; for `skip_serializing_if` add
//! `#[ts(optional)]`; a `String` that always holds one of an enum's names can say
//! `#[ts(as = "TheEnum")]`), then add one line to [`TYPES`]. A listed type that uses
//! another generated type needs that one listed too: the test says which.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use steward::http::table::{COMMANDS, HTTP_ONLY};
use ts_rs::{Config, TS};

/// Every generated type, a line each, in the order they are written out.
const TYPES: &[fn(&Config) -> Decl] = &[
    // health
    decl::<steward::health::breaker::Phase>,
    decl::<steward::health::monitor::Outcome>,
    decl::<steward::store::Sample>,
    decl::<steward::store::HourlyRow>,
    decl::<steward::health::view::ProviderStatus>,
    decl::<steward::health::view::ProviderView>,
    decl::<steward::health::view::ProviderDetail>,
    // status
    decl::<steward::config::ConfigIssue>,
    decl::<steward::store::StorageView>,
    decl::<steward::bus::BusStatus>,
    decl::<steward::status::Counts>,
    decl::<steward::status::Overall>,
    decl::<steward::status::ChannelState>,
    decl::<steward::status::ChannelView>,
    decl::<steward::status::ChannelTest>,
    decl::<steward::status::StatusView>,
    decl::<steward::retention::Pruned>,
    // timeline
    decl::<steward::events::Severity>,
    decl::<steward::events::EventRecord>,
    // proposals and their runs
    decl::<steward::planner::router::AttemptOutcome>,
    decl::<steward::planner::router::Attempt>,
    decl::<steward::planner::proposal::ActionPayload>,
    decl::<steward::planner::proposal::ActionFile>,
    decl::<steward::store::Execution>,
    decl::<steward::planner::policy::ActionKind>,
    decl::<steward::planner::policy::Risk>,
    decl::<steward::execute::state::Status>,
    decl::<steward::execute::live::RunOutput>,
    decl::<steward::execute::executor::ExpiryStats>,
    // config edits
    decl::<steward::api::ConfigDocument>,
    decl::<steward::api::TestOutcome>,
    decl::<steward::api::FieldIssue>,
    // gateway
    decl::<steward::gateway::GatewayRouteView>,
    decl::<steward::gateway::GatewayTargetView>,
    decl::<steward::gateway::GatewayView>,
    // intake
    decl::<steward::planner::gate::IntakeCounts>,
    decl::<steward::planner::router::ModelStats>,
    decl::<steward::planner::gate::IntakeDecision>,
    decl::<steward::planner::intake::Accepted>,
    decl::<steward::planner::intake::IntakeView>,
    // session pipeline
    decl::<steward::sessions::status::PipelineLevel>,
    decl::<steward::sessions::status::PipelineStatus>,
    decl::<steward::sessions::scheduler::ProcessorOutcome>,
    decl::<steward::sessions::scheduler::ProcessorState>,
    decl::<steward::sessions::processor::Tokens>,
    decl::<steward::store::UsageBy>,
    decl::<steward::sessions::view::ScanView>,
    decl::<steward::sessions::view::WatchView>,
    decl::<steward::sessions::view::FileProcessorView>,
    decl::<steward::sessions::view::FileView>,
    decl::<steward::sessions::view::FilesView>,
    decl::<steward::sessions::view::UsageView>,
    decl::<steward::sessions::view::SessionsView>,
    decl::<steward::sessions::view::PipelineUpdate>,
    // the live stream
    decl::<steward::outbox::Update>,
];

const HEADER: &str = "// Generated from the Rust types by tests/ts_types.rs; do not edit. \
                      Regenerate: STEWARD_BLESS=1 cargo test --test ts_types\n";

/// One rendered declaration.
struct Decl {
    /// The TypeScript name.
    name: String,
    /// `export type …;`, with its doc comment.
    text: String,
    /// The generated types it uses.
    uses: Vec<String>,
}

fn decl<T: TS + 'static>(cfg: &Config) -> Decl {
    let mut text = String::new();
    if let Some(docs) = T::docs() {
        comment(&docs, "", &mut text);
    }
    text.push_str("export ");
    text.push_str(&pretty(&T::decl(cfg)));
    Decl {
        name: T::ident(cfg),
        text,
        uses: T::dependencies(cfg)
            .into_iter()
            .map(|d| d.ts_name)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    }
}

/// The JSON numbers Rust's 64-bit integers become are JavaScript numbers (`JSON.parse`
/// never makes a `bigint`).
fn config() -> Config {
    Config::new().with_large_int("number")
}

/// ts-rs writes a declaration on one line (but for field docs): this puts each field of an
/// object type on its own line, indented by depth, with its doc comment above it. Other
/// brackets (generics, arrays, one-entry maps) stay on one line; doc comments and string
/// literals are copied whole, so a brace or comma in them changes nothing.
fn pretty(decl: &str) -> String {
    let tokens = tokenize(decl);
    let mut at = 0;
    let nodes = parse(&tokens, &mut at, None);
    assert_eq!(at, tokens.len(), "unbalanced brackets in {decl}");
    let mut out = String::new();
    render(&nodes, 0, &mut out);
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Text(String),
    Comment(String),
    Open(char),
    Close(char),
    Comma,
}

#[derive(Debug)]
enum Node {
    Text(String),
    Comment(String),
    Comma,
    Group(char, Vec<Node>, char),
}

fn tokenize(s: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut text = String::new();
    let mut chars = s.chars().peekable();
    let flush = |text: &mut String, tokens: &mut Vec<Token>| {
        if !text.is_empty() {
            tokens.push(Token::Text(std::mem::take(text)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'*') => {
                flush(&mut text, &mut tokens);
                let mut comment = String::from("/");
                for c in chars.by_ref() {
                    comment.push(c);
                    if c == '/' && comment.len() > 2 && comment.ends_with("*/") {
                        break;
                    }
                }
                tokens.push(Token::Comment(comment));
            }
            '"' | '\'' => {
                text.push(c);
                while let Some(d) = chars.next() {
                    text.push(d);
                    if d == '\\' {
                        text.extend(chars.next());
                    } else if d == c {
                        break;
                    }
                }
            }
            '{' | '<' | '(' | '[' => {
                flush(&mut text, &mut tokens);
                tokens.push(Token::Open(c));
            }
            '}' | '>' | ')' | ']' => {
                flush(&mut text, &mut tokens);
                tokens.push(Token::Close(c));
            }
            ',' => {
                flush(&mut text, &mut tokens);
                tokens.push(Token::Comma);
            }
            c => text.push(c),
        }
    }
    flush(&mut text, &mut tokens);
    tokens
}

fn parse(tokens: &[Token], at: &mut usize, closing: Option<char>) -> Vec<Node> {
    let mut nodes = Vec::new();
    while let Some(t) = tokens.get(*at) {
        *at += 1;
        match t {
            Token::Text(s) => nodes.push(Node::Text(s.clone())),
            Token::Comment(s) => nodes.push(Node::Comment(s.clone())),
            Token::Comma => nodes.push(Node::Comma),
            Token::Open(o) => {
                let close = match o {
                    '{' => '}',
                    '<' => '>',
                    '(' => ')',
                    _ => ']',
                };
                let inner = parse(tokens, at, Some(close));
                nodes.push(Node::Group(*o, inner, close));
            }
            Token::Close(c) => {
                assert_eq!(Some(*c), closing, "unbalanced brackets");
                return nodes;
            }
        }
    }
    assert_eq!(closing, None, "unbalanced brackets");
    nodes
}

/// Whitespace collapsed to single spaces.
fn squash(s: &str) -> String {
    let mut out = String::new();
    for (i, word) in s.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
    if s.starts_with(char::is_whitespace) && !out.is_empty() {
        out.insert(0, ' ');
    }
    if s.ends_with(char::is_whitespace) && !out.is_empty() {
        out.push(' ');
    }
    out
}

/// A doc comment at `indent`: `/** text */` when it is one line, else one ` * ` line each.
fn comment(c: &str, indent: &str, out: &mut String) {
    let lines: Vec<&str> = c
        .trim()
        .trim_start_matches("/**")
        .trim_end_matches("*/")
        .lines()
        .map(|l| l.trim().trim_start_matches('*').trim())
        .filter(|l| !l.is_empty())
        .collect();
    if let [one] = lines[..] {
        out.push_str(&format!("{indent}/** {one} */\n"));
        return;
    }
    out.push_str(&format!("{indent}/**\n"));
    for l in lines {
        out.push_str(&format!("{indent} * {l}\n"));
    }
    out.push_str(&format!("{indent} */\n"));
}

fn render(nodes: &[Node], depth: usize, out: &mut String) {
    for n in nodes {
        match n {
            Node::Text(s) => out.push_str(&squash(s)),
            Node::Comma => out.push(','),
            // Only fields carry doc comments, and fields are rendered by `fields`.
            Node::Comment(_) => {}
            Node::Group('{', inner, _) if inner.iter().any(|n| matches!(n, Node::Comma)) => {
                fields(inner, depth + 1, out)
            }
            Node::Group(open, inner, close) => {
                let mut s = String::new();
                render(inner, depth, &mut s);
                // `{ [key in string]: number }` has spaces inside, `Array<string>` none.
                let pad = if *open == '{' { " " } else { "" };
                out.push_str(&format!("{open}{pad}{}{pad}{close}", s.trim()));
            }
        }
    }
}

/// An object type's fields, one a line, each under its doc comment.
fn fields(inner: &[Node], depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    out.push_str("{\n");
    for field in inner.split(|n| matches!(n, Node::Comma)) {
        let mut text = String::new();
        render(field, depth, &mut text);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        for n in field {
            if let Node::Comment(c) = n {
                comment(c, &indent, out);
            }
        }
        out.push_str(&format!("{indent}{text},\n"));
    }
    out.push_str(&"  ".repeat(depth - 1));
    out.push('}');
}

fn types_ts() -> String {
    let cfg = config();
    let decls: Vec<Decl> = TYPES.iter().map(|d| d(&cfg)).collect();
    let names: BTreeSet<&str> = decls.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names.len(), decls.len(), "a type is listed twice in TYPES");
    for d in &decls {
        for used in &d.uses {
            assert!(
                names.contains(used.as_str()),
                "{} uses {used}, which is not generated: add its Rust type to TYPES in \
                 tests/ts_types.rs",
                d.name
            );
        }
    }
    let mut out = String::from(HEADER);
    for d in &decls {
        out.push('\n');
        out.push_str(&d.text);
        out.push('\n');
    }
    out
}

fn commands_ts() -> String {
    let mut out = String::from(HEADER);
    out.push_str(
        "\n/** Every command of the API: the Tauri command's name, and the HTTP route that \
         answers the same.\n *  `{name}` in a path is the call's argument of that name. */\n\
         export const COMMANDS = {\n",
    );
    for c in COMMANDS {
        out.push_str(&format!(
            "  {}: {{ method: '{}', path: '{}' }},\n",
            c.name,
            c.method.as_str(),
            c.path
        ));
    }
    out.push_str("} as const;\n\nexport type CommandName = keyof typeof COMMANDS;\n");
    out.push_str("\n/** HTTP routes that are not commands. */\nexport const HTTP_ONLY = [\n");
    for (method, path) in HTTP_ONLY {
        out.push_str(&format!(
            "  {{ method: '{}', path: '{path}' }},\n",
            method.as_str()
        ));
    }
    out.push_str("] as const;\n");
    out
}

fn generated_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/src/generated")
}

/// Compares `text` with the checked-in file, or writes it with `STEWARD_BLESS=1`.
fn check(file: &str, text: &str) {
    let path = generated_dir().join(file);
    if std::env::var_os("STEWARD_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(generated_dir()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current != text {
        let first = current
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(current.lines().count().min(text.lines().count()));
        panic!(
            "{} is stale (first difference at line {}): the Rust types or the route table \
             changed. Regenerate it with: STEWARD_BLESS=1 cargo test --test ts_types\n\
             checked in: {:?}\n\
             generated:  {:?}",
            path.display(),
            first + 1,
            current.lines().nth(first).unwrap_or("<end of file>"),
            text.lines().nth(first).unwrap_or("<end of file>"),
        );
    }
}

#[test]
fn generated_types_are_current() {
    check("types.ts", &types_ts());
}

#[test]
fn generated_commands_are_current() {
    check("commands.ts", &commands_ts());
}

/// How serde's attributes come out, and the layout: what a type added to [`TYPES`] gets.
mod shapes {
    use super::*;

    #[derive(serde::Serialize, ts_rs::TS)]
    struct Inner {
        /// A doc with {braces}, and commas.
        count: u64,
        note: Option<String>,
    }

    #[derive(serde::Serialize, ts_rs::TS)]
    struct Outer {
        #[serde(flatten)]
        inner: Inner,
        spark: Vec<Option<f64>>,
    }

    #[derive(serde::Serialize, ts_rs::TS)]
    #[serde(tag = "type", rename_all = "snake_case")]
    #[allow(dead_code)]
    enum Tagged {
        /// A variant's doc {is, dropped}.
        Updated {
            outer: Outer,
        },
        Event {
            #[serde(rename = "event")]
            record: Inner,
            #[serde(skip)]
            internal: String,
        },
        Resync,
    }

    #[test]
    fn flatten_inlines_fields_and_integers_are_numbers() {
        let d = decl::<Outer>(&config());
        assert_eq!(
            d.text,
            "export type Outer = {\n  spark: Array<number | null>,\n  \
             /** A doc with {braces}, and commas. */\n  count: number,\n  \
             note: string | null,\n};"
        );
        assert!(d.uses.is_empty(), "{:?}", d.uses);
    }

    #[test]
    fn a_tagged_enum_is_a_union_of_objects_and_skip_is_left_out() {
        let d = decl::<Tagged>(&config());
        assert_eq!(
            d.text,
            "export type Tagged = {\n  \"type\": \"updated\",\n  outer: Outer,\n} | {\n  \
             \"type\": \"event\",\n  event: Inner,\n} | { \"type\": \"resync\" };"
        );
        assert_eq!(d.uses, ["Inner", "Outer"]);
    }
}
