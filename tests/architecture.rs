//! The dependency rule of `src/lib.rs`, checked on the source itself: every file of `src/`
//! sits in one layer, imports only from its own layer or the layers below, and no import
//! circle exists between files.
//!
//! An import is any `crate::…` path outside comments and test modules (`use` lists with
//! nested braces included), resolved to the file that defines the longest matching module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom first. A new file must be placed here (the test names it if not).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "vocabulary",
        &[
            "lib",
            "clock",
            "pace",
            "gateway::translate",
            "secret",
            "health",
            "health::breaker",
            "health::incidents",
            "planner",
            "planner::alertmanager",
            "planner::event",
            "planner::gate",
            "planner::policy",
            "planner::rules",
            "execute",
            "execute::state",
            "execute::group",
            "execute::actor",
            "sessions",
            "sessions::status",
            "sessions::layout",
            "sessions::records",
            "notice::level",
        ],
    ),
    ("config", &["config", "config::edit", "config::split"]),
    (
        "records",
        &[
            "events",
            "notice",
            "push::wire",
            "planner::proposal",
            "planner::prompt",
        ],
    ),
    (
        "store",
        &[
            "store",
            "store::alerts",
            "store::events",
            "store::executions",
            "store::health",
            "store::lock",
            "store::permissions",
            "store::probes",
            "store::proposals",
            "store::session_files",
            "store::session_state",
            "store::settings",
            "error",
        ],
    ),
    (
        "components",
        &[
            "heap",
            "health::monitor",
            "gateway::upstream",
            "health::probe",
            "health::prober",
            "planner::router",
            "execute::runner",
            "execute::live",
            "sessions::index",
            "sessions::processor",
            "sessions::scheduler",
            "sessions::watcher",
            "bus",
            "bus::publisher",
            "bus::subscriber",
        ],
    ),
    (
        "views",
        &["health::view", "health::tally", "sessions::view", "status"],
    ),
    ("shared", &["outbox", "feed", "context"]),
    (
        "capabilities",
        &[
            "health::recorder",
            "planner::intake",
            "planner::planning",
            "planner::alerts",
            "execute::executor",
            "sessions::pipeline",
            "retention",
            "gateway",
            "push",
        ],
    ),
    ("engine", &["engine", "engine::edits", "metrics"]),
    ("api", &["api"]),
    (
        "adapters",
        &[
            "http",
            "http::auth",
            "http::error",
            "http::routes",
            "http::table",
            "http::ui",
            "main",
            "demo",
        ],
    ),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `module path -> file` for every `.rs` file under `src/`.
fn modules() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&src(), &mut files);
    files
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(src()).unwrap().with_extension("");
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .filter(|c| c != "mod")
                .collect();
            (parts.join("::"), f)
        })
        .collect()
}

/// The file's code without comments and without its `#[cfg(test)] mod tests`.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("a source file");
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| match l.find(" // ") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(inner) = tree.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        let (mut depth, mut start) = (0, 0);
        let bytes = inner.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            match b {
                b'{' => depth += 1,
                b'}' => depth -= 1,
                b',' if depth == 0 => {
                    expand(prefix, &inner[start..i], out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(prefix, &inner[start..], out);
    } else if let Some(i) = tree.find("::{") {
        expand(&format!("{prefix}{}::", &tree[..i]), &tree[i + 2..], out);
    } else if !tree.is_empty() {
        let name = tree.split(" as ").next().unwrap().trim();
        out.push(format!("{prefix}{name}"));
    }
}

/// Every `crate::` path the code names, and every `super::` path made absolute from
/// `module` (`super::x` in `a::b` is `a::x`).
fn paths_in(code: &str, module: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (token, base) in [("crate::", String::new()), ("super::", parent(module))] {
        let mut rest = code;
        while let Some(i) = rest.find(token) {
            let before = &rest[..i];
            let after = &rest[i + token.len()..];
            let prefix = if base.is_empty() {
                String::new()
            } else {
                format!("{base}::")
            };
            if before.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                // Part of a longer path (`crate::x::super::` does not occur; `foo_crate::`).
                rest = after;
                continue;
            }
            if before.trim_end().ends_with("use") {
                let end = after.find(';').unwrap_or(after.len());
                expand(&prefix, &after[..end], &mut out);
                rest = &after[end..];
            } else {
                let end = after
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(after.len());
                let path = after[..end].trim_end_matches(':');
                if after[..end].ends_with("::") && after[end..].starts_with('{') {
                    let close = after.find('}').map_or(after.len(), |c| c + 1);
                    expand(&prefix, &after[..close], &mut out);
                } else {
                    out.push(format!("{prefix}{path}"));
                }
                rest = &after[end..];
            }
        }
    }
    out
}

/// The module `super` names inside `module`'s file.
fn parent(module: &str) -> String {
    let file = modules()[module].clone();
    let is_mod_rs = file.file_name().is_some_and(|n| n == "mod.rs");
    let mut parts: Vec<&str> = module.split("::").collect();
    parts.pop();
    if is_mod_rs {
        parts.pop();
    }
    parts.join("::")
}

/// The module a path lands in: its longest prefix that is a file of `src/`.
fn resolve(path: &str, modules: &BTreeMap<String, PathBuf>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|m| modules.contains_key(m))
}

fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    modules
        .iter()
        .map(|(m, file)| {
            let targets = paths_in(&code_of(file), m)
                .iter()
                .filter_map(|p| resolve(p, &modules))
                .filter(|t| t != m)
                .collect();
            (m.clone(), targets)
        })
        .collect()
}

fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, files))| files.contains(&module))
        .map(|(i, (name, _))| (i, *name))
}

#[test]
fn every_file_of_src_sits_in_a_layer() {
    let unplaced: Vec<String> = modules()
        .into_keys()
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "place these files in a layer of tests/architecture.rs (and src/lib.rs): {unplaced:?}"
    );
}

#[test]
fn no_file_imports_from_a_layer_above_its_own() {
    let mut upward = Vec::new();
    for (from, targets) in imports() {
        let Some((mine, my_name)) = layer_of(&from) else {
            continue;
        };
        for to in targets {
            if let Some((theirs, their_name)) = layer_of(&to) {
                if theirs > mine {
                    upward.push(format!("{from} ({my_name}) imports {to} ({their_name})"));
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports from a layer above:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_import_circle_between_files() {
    let graph = imports();
    // Tarjan's strongly connected components.
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        circles: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in &s.graph[v] {
            let w = w.as_str();
            if !s.graph.contains_key(w) {
                continue;
            }
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(w);
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.circles.push(component);
            }
        }
    }
    let mut s = State {
        graph: &graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        circles: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    assert!(s.circles.is_empty(), "import circles: {:?}", s.circles);
}

#[test]
fn the_reader_sees_imports_the_way_rustc_does() {
    let mut out = Vec::new();
    expand("", "a::{b, c::{d, e as f}}", &mut out);
    assert_eq!(out, ["a::b", "a::c::d", "a::c::e"]);
    let code = "use crate::x::{Y, z::W};\nfn f() { crate::p::q(); }\nuse super::gate::G;\n";
    assert_eq!(
        paths_in(code, "planner::event"),
        ["x::Y", "x::z::W", "p::q", "planner::gate::G"]
    );
    // The graph sees the big modules and their edges (a reader that finds nothing would
    // pass the other tests vacuously).
    let graph = imports();
    assert!(graph["api"].contains("engine"), "{:?}", graph["api"]);
    assert!(graph["engine"].contains("health::recorder"));
    assert!(graph["health::recorder"].contains("planner::intake"));
}

#[test]
fn only_api_rs_implements_api() {
    for (module, file) in modules() {
        if module == "api" {
            continue;
        }
        let code = code_of(&file);
        assert!(
            !code.contains("impl Api ") && !code.contains("impl Api{"),
            "{module} adds methods to Api; only src/api.rs may"
        );
    }
}
