//! Architecture test: the module graph of `src/` must point one way.
//!
//! It reads every `.rs` file under `src/` (and `examples/*.rs`), finds the paths each file
//! refers to (`crate::…`, `super::…`, `self::…`, and `spvault::…` in `main.rs` and examples),
//! resolves them to files, and checks three rules:
//!
//! 1. layering: see [`LAYERS`], the one place the architecture is drawn;
//! 2. no import cycles between files;
//! 3. the forbidden shortcuts in [`FORBIDDEN`].
//!
//! It is plain text analysis with std only: it needs no build of the crate, so it stays
//! cheap and keeps working while the crate itself does not compile.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

#[path = "support/source_tree.rs"]
mod source_tree;
use source_tree::collect_rs_files;

/// The architecture, drawn once: layers top first, each a list of module paths.
///
/// A file belongs to the entry that is the longest prefix of its module path
/// (`src/workflows/tokens/cache.rs` is `workflows::tokens::cache`, entry `workflows::tokens`).
/// A file may refer to modules of its own entry and of entries in strictly lower layers,
/// nothing else: not upward, and not sideways to a sibling entry in the same layer.
/// Every file must belong to an entry; entries that match no file yet are fine.
/// (`src/lib.rs` is exempt: it only declares the modules.)
const LAYERS: &[&[&str]] = &[
    &["main"],
    &["cli"],
    &["dev"],
    &["startup"],
    &["openapi"],
    &["routes"],
    &["auth"],
    &["error"],
    &[
        "workflows::tenancy",
        "workflows::credentials",
        "workflows::onboarding",
        "workflows::proxy",
    ],
    &["workflows::tokens"],
    &["workflows::trail"],
    &["workflows"],
    &["emulator"],
    &["amazon"],
    &["keystore"],
    &["invalidation"],
    &["db"],
    &["domain"],
    &["background"],
    &["readiness", "telemetry", "tls"],
    &["config"],
    &["metrics", "crypto"],
];

/// Shortcuts the layers alone would allow but the design rules out.
const FORBIDDEN: &[Shortcut] = &[
    Shortcut {
        from: "cli",
        to: &["db", "routes"],
        why: "commands call workflows, never SQL or handlers",
    },
    Shortcut {
        from: "dev",
        to: &["db", "routes"],
        why: "commands call workflows, never SQL or handlers",
    },
    Shortcut {
        from: EXAMPLES,
        to: &["db", "routes"],
        why: "examples use the library through workflows, never SQL or handlers",
    },
];

/// The `from` of a [`Shortcut`] that means "every file in `examples/`".
const EXAMPLES: &str = "examples/*.rs";

struct Shortcut {
    from: &'static str,
    to: &'static [&'static str],
    why: &'static str,
}

// ---------------------------------------------------------------------------------------
// The real checks: read the tree from disk and feed it to the analysis.
// ---------------------------------------------------------------------------------------

#[test]
fn the_layers_point_one_way() {
    assert_no_violations(
        Rule::Layers,
        "modules must only use their own entry or lower layers",
    );
}

#[test]
fn no_import_cycles() {
    assert_no_violations(Rule::Cycles, "files must not import each other in a cycle");
}

#[test]
fn commands_call_workflows_not_sql_or_handlers() {
    assert_no_violations(Rule::Shortcuts, "forbidden shortcuts must not be taken");
}

fn assert_no_violations(rule: Rule, what: &str) {
    let found: Vec<String> = analyse(read_tree())
        .into_iter()
        .filter(|v| v.rule == rule)
        .map(|v| v.message)
        .collect();
    assert!(
        found.is_empty(),
        "architecture: {what}; {} violation(s):\n\n{}\n",
        found.len(),
        found.join("\n")
    );
}

/// Reads `src/**/*.rs` and `examples/*.rs` as `("src/a/b.rs", source)` pairs.
fn read_tree() -> Vec<(String, String)> {
    // Cargo sets CARGO_MANIFEST_DIR; a standalone `rustc --test` run starts in the crate root.
    let root = Path::new(option_env!("CARGO_MANIFEST_DIR").unwrap_or("."));
    let mut files = Vec::new();
    collect_rs_files(root, "src", true, &mut files);
    collect_rs_files(root, "examples", false, &mut files);
    files.sort();
    assert!(
        files.iter().any(|(path, _)| path.starts_with("src/")),
        "found no .rs files under {}/src",
        root.display()
    );
    files
}

// ---------------------------------------------------------------------------------------
// The analysis: `(path, source)` pairs in, violations out.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Layers,
    Cycles,
    Shortcuts,
}

#[derive(Debug)]
struct Violation {
    rule: Rule,
    message: String,
}

/// A module path, one segment per element; empty is the crate root.
type ModPath = Vec<String>;

/// One parsed source file.
struct SourceFile {
    path: String,
    /// Its module in the library; `None` for `examples/*.rs`, which are crates of their own.
    module: Option<ModPath>,
    references: Vec<Reference>,
}

/// One path a file refers to, made absolute from the library's crate root.
#[derive(Debug)]
struct Reference {
    line: usize,
    /// As written, for messages (`super::extract::parse_fields`).
    written: String,
    path: ModPath,
}

/// What a reference lands on: a file module of the library.
struct Target<'a> {
    module: &'a [String],
    file: &'a str,
}

fn analyse(files: Vec<(String, String)>) -> Vec<Violation> {
    let sources: Vec<SourceFile> = files
        .iter()
        .filter_map(|(path, source)| parse_file(path, source))
        .collect();
    // Every library file is a module that references can land on (`main` is a binary root,
    // so nothing can refer to it, and listing it is harmless).
    let modules: BTreeMap<ModPath, String> = sources
        .iter()
        .filter_map(|f| Some((f.module.clone()?, f.path.clone())))
        .collect();
    let mut violations = check_layers(&sources, &modules);
    violations.extend(check_cycles(&sources, &modules));
    violations.extend(check_shortcuts(&sources, &modules));
    violations
}

fn parse_file(path: &str, source: &str) -> Option<SourceFile> {
    let tokens = tokenize(without_test_tail(source));
    // `crate`, `self` and `super` mean the library only inside it; the binary root and the
    // examples are other crates that see the library as `spvault`.
    let (module, references) = if path == "src/lib.rs" {
        return None; // the crate root only declares modules
    } else if path == "src/main.rs" {
        (
            Some(vec!["main".to_string()]),
            references(&tokens, None, Some("spvault")),
        )
    } else if let Some(module) = module_of(path) {
        let refs = references(&tokens, Some(&module), None);
        (Some(module), refs)
    } else if path.starts_with("examples/") && path.ends_with(".rs") {
        (None, references(&tokens, None, Some("spvault")))
    } else {
        return None;
    };
    Some(SourceFile {
        path: path.to_string(),
        module,
        references,
    })
}

/// `src/routes/sellers.rs` → `routes::sellers`; `src/workflows/tokens/mod.rs` → `workflows::tokens`.
fn module_of(path: &str) -> Option<ModPath> {
    let rest = path.strip_prefix("src/")?.strip_suffix(".rs")?;
    let mut module: ModPath = rest.split('/').map(String::from).collect();
    if module.last().is_some_and(|last| last == "mod") {
        module.pop();
    }
    Some(module)
}

/// The file defining the longest prefix of `path`; `None` for crate-root items and
/// paths that name no file of ours.
fn resolve<'a>(modules: &'a BTreeMap<ModPath, String>, path: &[String]) -> Option<Target<'a>> {
    (1..=path.len()).rev().find_map(|n| {
        let (module, file) = modules.get_key_value(&path[..n])?;
        Some(Target { module, file })
    })
}

fn segments(path: &str) -> ModPath {
    path.split("::").map(String::from).collect()
}

fn starts_with(path: &[String], prefix: &[String]) -> bool {
    path.len() >= prefix.len() && path[..prefix.len()] == *prefix
}

/// The [`LAYERS`] entry a module belongs to (longest prefix by whole segments) and its layer.
fn entry_of(module: &[String]) -> Option<(&'static str, usize)> {
    LAYERS
        .iter()
        .enumerate()
        .flat_map(|(layer, entries)| entries.iter().map(move |entry| (*entry, layer)))
        .filter(|(entry, _)| starts_with(module, &segments(entry)))
        .max_by_key(|(entry, _)| segments(entry).len())
}

fn check_layers(sources: &[SourceFile], modules: &BTreeMap<ModPath, String>) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut report = |message: String| {
        violations.push(Violation {
            rule: Rule::Layers,
            message,
        })
    };
    for file in sources {
        let Some(module) = &file.module else { continue };
        let Some((entry, layer)) = entry_of(module) else {
            report(format!(
                "{}: module `{}` belongs to no layer: add it to the layer list (LAYERS in tests/architecture.rs)",
                file.path,
                module.join("::")
            ));
            continue;
        };
        for r in &file.references {
            let Some(target) = resolve(modules, &r.path) else {
                continue;
            };
            // A parent reaching into its own subtree is its façade, not a dependency.
            if starts_with(target.module, module) {
                continue;
            }
            // A target in no layer is reported once, as its own file.
            let Some((target_entry, target_layer)) = entry_of(target.module) else {
                continue;
            };
            if target_entry == entry || target_layer > layer {
                continue;
            }
            let rule = if target_layer == layer {
                format!(
                    "siblings in one layer may not import each other: {entry} and {target_entry} are both in layer {}",
                    layer + 1
                )
            } else {
                format!(
                    "upward import: {entry} (layer {}) may not use {target_entry} (layer {}), which is above it",
                    layer + 1,
                    target_layer + 1
                )
            };
            report(format!(
                "{}:{}: `{}` -> {}: {rule}",
                file.path, r.line, r.written, target.file
            ));
        }
    }
    violations
}

/// Evidence for one file → file edge: the first line and path that creates it.
type Graph = BTreeMap<String, BTreeMap<String, (usize, String)>>;

fn check_cycles(sources: &[SourceFile], modules: &BTreeMap<ModPath, String>) -> Vec<Violation> {
    let mut graph = Graph::new();
    for file in sources {
        let Some(module) = &file.module else { continue };
        let edges = graph.entry(file.path.clone()).or_default();
        for r in &file.references {
            let Some(target) = resolve(modules, &r.path) else {
                continue;
            };
            // Same file, or a parent reaching into its own subtree (its façade): not an edge.
            if starts_with(target.module, module) {
                continue;
            }
            edges
                .entry(target.file.to_string())
                .or_insert((r.line, r.written.clone()));
        }
    }

    // Files that reach each other form a tangle (a strongly connected component). The
    // graph is a few dozen files, so plain reachability from every file is fast enough
    // and much easier to read than Tarjan's algorithm.
    let reach: BTreeMap<&String, BTreeSet<&String>> = graph
        .keys()
        .map(|file| (file, reachable(&graph, file)))
        .collect();
    let mut seen = BTreeSet::new();
    let mut violations = Vec::new();
    for (file, reached) in &reach {
        if seen.contains(file) || !reached.contains(file) {
            continue;
        }
        let tangle: BTreeSet<&String> = reached
            .iter()
            .filter(|other| reach[*other].contains(file))
            .copied()
            .collect();
        seen.extend(tangle.iter().copied());
        violations.push(Violation {
            rule: Rule::Cycles,
            message: describe_cycle(&graph, file, &tangle),
        });
    }
    violations
}

/// Every file reachable from `start` by one or more edges.
fn reachable<'a>(graph: &'a Graph, start: &str) -> BTreeSet<&'a String> {
    let mut found = BTreeSet::new();
    let mut stack: Vec<&String> = graph[start].keys().collect();
    while let Some(file) = stack.pop() {
        if found.insert(file) {
            stack.extend(graph.get(file).into_iter().flat_map(|edges| edges.keys()));
        }
    }
    found
}

/// One shortest cycle through `start`, with the line that creates each edge, plus the whole
/// tangle when it is bigger than that cycle.
fn describe_cycle(graph: &Graph, start: &String, tangle: &BTreeSet<&String>) -> String {
    // Breadth-first search inside the tangle, from `start` back to itself.
    let mut came_from: BTreeMap<&String, &String> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    'search: while let Some(file) = queue.pop_front() {
        for next in graph[file].keys().filter(|next| tangle.contains(next)) {
            if next == start {
                came_from.insert(start, file);
                break 'search;
            }
            if !came_from.contains_key(next) {
                came_from.insert(next, file);
                queue.push_back(next);
            }
        }
    }
    let mut cycle = vec![start];
    let mut file = came_from[start];
    while file != start {
        cycle.push(file);
        file = came_from[file];
    }
    cycle.reverse(); // the walk went backwards; now cycle[0] = start and each file uses the next
    cycle.rotate_right(1);

    let mut shown: Vec<&str> = cycle.iter().map(|f| f.as_str()).collect();
    shown.push(start);
    let mut message = format!("import cycle: {}", shown.join(" -> "));
    for (i, from) in cycle.iter().enumerate() {
        let to = cycle[(i + 1) % cycle.len()];
        let (line, written) = &graph[*from][to];
        message += &format!("\n    {from}:{line}: `{written}` -> {to}");
    }
    if tangle.len() > cycle.len() {
        let all: Vec<&str> = tangle.iter().map(|f| f.as_str()).collect();
        message += &format!("\n    (all files in this tangle: {})", all.join(", "));
    }
    message
}

fn check_shortcuts(sources: &[SourceFile], modules: &BTreeMap<ModPath, String>) -> Vec<Violation> {
    let mut violations = Vec::new();
    for file in sources {
        let name = match &file.module {
            Some(module) => module.join("::"),
            None => file.path.clone(),
        };
        for shortcut in FORBIDDEN.iter().filter(|s| shortcut_applies(file, s)) {
            for r in &file.references {
                let Some(target) = resolve(modules, &r.path) else {
                    continue;
                };
                let Some(banned) = shortcut
                    .to
                    .iter()
                    .find(|to| starts_with(target.module, &segments(to)))
                else {
                    continue;
                };
                violations.push(Violation {
                    rule: Rule::Shortcuts,
                    message: format!(
                        "{}:{}: `{}` -> {}: forbidden shortcut: {name} may not use {banned} ({})",
                        file.path, r.line, r.written, target.file, shortcut.why
                    ),
                });
            }
        }
    }
    violations
}

/// `from` is a module prefix, or [`EXAMPLES`] for the files in `examples/`.
fn shortcut_applies(file: &SourceFile, shortcut: &Shortcut) -> bool {
    match &file.module {
        Some(module) => starts_with(module, &segments(shortcut.from)),
        None => shortcut.from == EXAMPLES,
    }
}

// ---------------------------------------------------------------------------------------
// Reading source text: cut the test tail, strip comments and literals, find paths.
// ---------------------------------------------------------------------------------------

/// Cuts at the first line that is exactly `#[cfg(test)]`: unit-test modules come last by
/// convention and may use `super::*`, which is no dependency of the module itself.
fn without_test_tail(source: &str) -> &str {
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        if line.trim() == "#[cfg(test)]" {
            return &source[..offset];
        }
        offset += line.len();
    }
    source
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Star,
    Bang,
    Other,
}

struct Token {
    kind: Kind,
    line: usize,
}

/// A tiny lexer: just enough Rust to find paths. Comments, strings and char literals are
/// dropped (they may mention `crate::…` without depending on it); line numbers are kept.
fn tokenize(source: &str) -> Vec<Token> {
    let c: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        let next = c.get(i + 1).copied();
        let start_line = line;
        let kind = match c[i] {
            '\n' => {
                line += 1;
                i += 1;
                continue;
            }
            ch if ch.is_whitespace() => {
                i += 1;
                continue;
            }
            '/' if next == Some('/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '/' if next == Some('*') => {
                i = skip_block_comment(&c, i, &mut line);
                continue;
            }
            '"' => {
                i = skip_string(&c, i + 1, &mut line);
                continue;
            }
            '\'' => {
                i = skip_char_or_lifetime(&c, i);
                continue;
            }
            ':' if next == Some(':') => {
                i += 2;
                tokens.push(Token {
                    kind: Kind::PathSep,
                    line,
                });
                continue;
            }
            '{' => Kind::Open,
            '}' => Kind::Close,
            ',' => Kind::Comma,
            '*' => Kind::Star,
            '!' => Kind::Bang,
            ch if ch.is_alphabetic() || ch == '_' => {
                let start = i;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                let word: String = c[start..i].iter().collect();
                let (after, after2) = (c.get(i).copied(), c.get(i + 1).copied());
                let raw_ident =
                    word == "r" && after == Some('#') && after2.is_some_and(is_ident_start);
                match (word.as_str(), after) {
                    ("b" | "c", Some('"')) => i = skip_string(&c, i + 1, &mut line),
                    ("b", Some('\'')) => i = skip_char_or_lifetime(&c, i),
                    ("r" | "br" | "cr", Some('"' | '#')) if !raw_ident => {
                        i = skip_raw_string(&c, i, &mut line)
                    }
                    _ if raw_ident => {} // `r#type`: the `#` becomes Other, `type` an ident
                    _ => tokens.push(Token {
                        kind: Kind::Ident(word),
                        line,
                    }),
                }
                continue;
            }
            _ => Kind::Other,
        };
        i += 1;
        tokens.push(Token {
            kind,
            line: start_line,
        });
    }
    tokens
}

fn is_ident_start(ch: char) -> bool {
    ch.is_alphabetic() || ch == '_'
}

/// `i` is at `/*`; block comments nest in Rust.
fn skip_block_comment(c: &[char], mut i: usize, line: &mut usize) -> usize {
    let mut depth = 0;
    while i < c.len() {
        match (c[i], c.get(i + 1).copied()) {
            ('/', Some('*')) => {
                depth += 1;
                i += 2;
            }
            ('*', Some('/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            (ch, _) => {
                *line += usize::from(ch == '\n');
                i += 1;
            }
        }
    }
    i
}

/// `i` is just past the opening `"`; returns the index past the closing one.
fn skip_string(c: &[char], mut i: usize, line: &mut usize) -> usize {
    while i < c.len() {
        match c[i] {
            '\\' => {
                *line += usize::from(c.get(i + 1) == Some(&'\n'));
                i += 2;
            }
            '"' => return i + 1,
            ch => {
                *line += usize::from(ch == '\n');
                i += 1;
            }
        }
    }
    i
}

/// `i` is just past the `r`/`br`/`cr` prefix, at `#`s or `"`: `r#"…"#` ends at `"#`.
fn skip_raw_string(c: &[char], mut i: usize, line: &mut usize) -> usize {
    let hashes = c[i..].iter().take_while(|&&ch| ch == '#').count();
    i += hashes + 1; // the hashes and the opening quote
    while i < c.len() {
        if c[i] == '"'
            && c[i + 1..]
                .iter()
                .take(hashes)
                .filter(|&&ch| ch == '#')
                .count()
                == hashes
        {
            return i + 1 + hashes;
        }
        *line += usize::from(c[i] == '\n');
        i += 1;
    }
    i
}

/// `i` is at `'`: a char literal (`'x'`, `'\n'`, `'\u{1F600}'`) is skipped whole, while a
/// lifetime or label (`'a`, `'static`) only loses its quote.
fn skip_char_or_lifetime(c: &[char], i: usize) -> usize {
    if c.get(i + 1) == Some(&'\\') {
        let close = c[i + 3..].iter().position(|&ch| ch == '\'');
        return close.map_or(c.len(), |at| i + 3 + at + 1);
    }
    if c.get(i + 2) == Some(&'\'') {
        return i + 3;
    }
    i + 1
}

/// Every path in `tokens` that names something in the library, made absolute.
///
/// `here` is the file's module when it is part of the library (so `crate`, `self` and
/// `super` mean the library); `extern_name` is the library's name seen from outside.
fn references(
    tokens: &[Token],
    here: Option<&[String]>,
    extern_name: Option<&str>,
) -> Vec<Reference> {
    let kind = |i: usize| tokens.get(i).map(|t| &t.kind);
    let is_ident = |i: usize, word: &str| matches!(kind(i), Some(Kind::Ident(w)) if w == word);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        // A path starts at a head followed by `::` that is not itself in the middle of a path.
        let starts_path =
            kind(i + 1) == Some(&Kind::PathSep) && (i == 0 || kind(i - 1) != Some(&Kind::PathSep));
        let Some(Kind::Ident(head)) = kind(i).filter(|_| starts_path) else {
            i += 1;
            continue;
        };
        let mut after = i + 2;
        let mut written = head.clone();
        let base: Option<ModPath> = match (head.as_str(), here) {
            ("crate", Some(_)) => Some(Vec::new()),
            ("self", Some(module)) => Some(module.to_vec()),
            ("super", Some(module)) => {
                // In `src/a/b/mod.rs` (module a::b) and in `src/a/b.rs` alike, `super` is `a`.
                let mut base = module.to_vec();
                let mut inside = base.pop().is_some();
                while is_ident(after, "super") && kind(after + 1) == Some(&Kind::PathSep) {
                    inside &= base.pop().is_some();
                    written += "::super";
                    after += 2;
                }
                inside.then_some(base)
            }
            (name, _) if Some(name) == extern_name => Some(Vec::new()),
            _ => None, // another crate, or `crate::` of a binary or example
        };
        match base {
            Some(base) => i = parse_tree(tokens, after, written, base, &mut out),
            None => i += 1,
        }
    }
    out
}

/// Reads one path or use tree at `tokens[i]` (what follows `prefix::`), recording each leaf:
/// `a::{b, c::{self, d}, e as f, *}` → `a::b`, `a::c`, `a::c::d`, `a::e`, `a`.
/// Returns the index just past the tree.
fn parse_tree(
    tokens: &[Token],
    mut i: usize,
    mut written: String,
    mut path: ModPath,
    out: &mut Vec<Reference>,
) -> usize {
    let kind = |i: usize| tokens.get(i).map(|t| &t.kind);
    let mut line = tokens[i - 1].line;
    while let Some(token) = tokens.get(i) {
        match &token.kind {
            Kind::Open => {
                i += 1;
                while let Some(item) = kind(i) {
                    match item {
                        Kind::Close => return i + 1,
                        Kind::Comma => i += 1,
                        // `max` guarantees progress on anything unexpected.
                        _ => {
                            i = parse_tree(tokens, i, written.clone(), path.clone(), out).max(i + 1)
                        }
                    }
                }
                return i;
            }
            Kind::Star => {
                line = token.line; // a glob uses the prefix itself
                i += 1;
                break;
            }
            Kind::Ident(word) => {
                line = token.line;
                i += 1;
                if word != "self" {
                    written += &format!("::{word}");
                    path.push(word.clone());
                }
                if kind(i) == Some(&Kind::PathSep) {
                    i += 1;
                    continue;
                }
                if matches!(kind(i), Some(Kind::Ident(w)) if w == "as") {
                    i += 2;
                }
                if kind(i) == Some(&Kind::Bang) {
                    return i; // a macro name, not a module
                }
                break;
            }
            _ => break,
        }
    }
    out.push(Reference {
        line,
        written,
        path,
    });
    i
}

// ---------------------------------------------------------------------------------------
// Self-tests: the analysis must catch what it claims to catch, on small made-up trees.
// ---------------------------------------------------------------------------------------

fn tree(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(p, s)| (p.to_string(), s.to_string()))
        .collect()
}

fn messages(files: &[(&str, &str)], rule: Rule) -> Vec<String> {
    analyse(tree(files))
        .into_iter()
        .filter(|v| v.rule == rule)
        .map(|v| v.message)
        .collect()
}

#[test]
fn self_test_catches_an_upward_import() {
    let found = messages(
        &[
            ("src/routes/mod.rs", "pub mod health;\n"),
            ("src/routes/health.rs", "pub fn health() {}\n"),
            (
                "src/db/mod.rs",
                "use std::fmt;\n\nuse crate::routes::health;\n",
            ),
        ],
        Rule::Layers,
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with(
            "src/db/mod.rs:3: `crate::routes::health` -> src/routes/health.rs: upward import"
        ),
        "{found:#?}"
    );
}

#[test]
fn self_test_catches_a_sibling_import_within_a_layer() {
    let found = messages(
        &[
            ("src/telemetry.rs", "pub struct RequestId;\n"),
            (
                "src/readiness.rs",
                "fn f(_: crate::telemetry::RequestId) {}\n",
            ),
        ],
        Rule::Layers,
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains("src/readiness.rs:1: `crate::telemetry::RequestId`"),
        "{found:#?}"
    );
    assert!(
        found[0].contains("siblings in one layer may not import each other"),
        "{found:#?}"
    );
}

#[test]
fn self_test_catches_an_upward_import_inside_a_grouped_use() {
    let found = messages(
        &[
            ("src/config.rs", "pub struct Settings;\n"),
            ("src/db/mod.rs", "pub mod tenants;\n"),
            ("src/db/tenants.rs", "pub fn insert() {}\n"),
            (
                "src/domain/mod.rs",
                "use crate::{\n    config::Settings,\n    db::{self, tenants as t},\n};\n",
            ),
        ],
        Rule::Layers,
    );
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].starts_with("src/domain/mod.rs:3: `crate::db` -> src/db/mod.rs: upward import"),
        "{found:#?}"
    );
    assert!(
        found[1].starts_with("src/domain/mod.rs:3: `crate::db::tenants` -> src/db/tenants.rs"),
        "{found:#?}"
    );
}

#[test]
fn self_test_catches_a_super_cycle_inside_one_module() {
    let files = [
        (
            "src/routes/mod.rs",
            "mod a;\nmod b;\npub use a::X;\nuse self::b::Y;\nuse crate::routes::a::Z;\n",
        ),
        ("src/routes/a.rs", "use super::b::Y;\nuse super::Shared;\n"),
        ("src/routes/b.rs", "\nuse super::{a::X, Shared};\n"),
    ];
    let found = messages(&files, Rule::Cycles);
    assert_eq!(
        found.len(),
        1,
        "only a <-> b, never the parent with its children: {found:#?}"
    );
    assert!(
        found[0].starts_with("import cycle: src/routes/a.rs -> src/routes/b.rs -> src/routes/a.rs"),
        "{found:#?}"
    );
    assert!(
        found[0].contains("src/routes/b.rs:2: `super::a::X` -> src/routes/a.rs"),
        "{found:#?}"
    );
    assert!(
        messages(&files, Rule::Layers).is_empty(),
        "one module may use itself freely"
    );
}

#[test]
fn self_test_catches_a_file_in_no_layer() {
    let found = messages(&[("src/lwa.rs", "pub fn exchange() {}\n")], Rule::Layers);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0]
            .starts_with("src/lwa.rs: module `lwa` belongs to no layer: add it to the layer list"),
        "{found:#?}"
    );
}

#[test]
fn self_test_catches_forbidden_shortcuts() {
    let files = [
        ("src/db/mod.rs", "pub mod tenants;\n"),
        ("src/db/tenants.rs", "pub fn insert() {}\n"),
        ("src/cli.rs", "fn run() { crate::db::tenants::insert(); }\n"),
        (
            "examples/bench.rs",
            "use spvault::db;\nuse crate::db::nothing;\n",
        ),
    ];
    let found = messages(&files, Rule::Shortcuts);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].starts_with(
            "src/cli.rs:1: `crate::db::tenants::insert` -> src/db/tenants.rs: forbidden shortcut"
        ),
        "{found:#?}"
    );
    assert!(
        found[1].starts_with("examples/bench.rs:1: `spvault::db` -> src/db/mod.rs"),
        "{found:#?}"
    );
}

#[test]
fn self_test_passes_a_clean_tree() {
    let files = [
        ("src/lib.rs", "pub mod cli;\npub mod workflows;\npub mod db;\n"),
        ("src/main.rs", "fn main() { spvault::cli::run() }\n"),
        ("src/cli.rs", "use crate::workflows::tenancy::create;\nuse crate::{config::Settings, workflows::tokens};\n"),
        ("src/config.rs", "pub struct Settings;\n"),
        ("src/workflows/mod.rs", "pub mod tenancy;\npub mod tokens;\npub use tenancy::create;\n"),
        ("src/workflows/tenancy/mod.rs", "mod steps;\nuse super::tokens::issue;\nuse self::steps::One;\n"),
        ("src/workflows/tenancy/steps.rs", "use super::super::tokens;\nuse super::Shared;\nuse crate::db::{self, *};\n"),
        ("src/workflows/tokens.rs", "use crate::db::tokens::insert;\nuse super::Common;\n"),
        ("src/db/mod.rs", "pub mod tokens;\nuse crate::Root;\nuse crate::nowhere::Thing;\n"),
        ("src/db/tokens.rs", "use super::Pool;\nuse crate::domain::Scope;\nuse sqlx::PgPool;\n"),
        ("src/domain.rs", "pub struct Scope;\n"),
        ("examples/bench.rs", "use spvault::config::Settings;\n"),
    ];
    let found: Vec<String> = analyse(tree(&files))
        .into_iter()
        .map(|v| v.message)
        .collect();
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn self_test_ignores_comments_strings_and_test_tails() {
    let db = concat!(
        "//! Uses crate::routes::a in docs only.\n",
        "// use crate::routes::a;\n",
        "/* crate::routes::a /* nested */ crate::routes::a */\n",
        "const A: &str = \"crate::routes::a \\\" crate::routes::a\";\n",
        "const B: &str = r#\"crate::routes::a \" crate::routes::a\"#;\n",
        "const C: &[u8] = b\"crate::routes::a\";\n",
        "const D: char = '\"'; const E: u8 = b'\\''; fn f<'a>(x: &'a str) -> &'a str { x }\n",
        "crate::routes::a!(); // a macro name, not a module\n",
        "use crate::config::Settings;\n",
        "#[cfg(test)]\n",
        "mod tests {\n    use super::*;\n    use crate::routes::a;\n}\n",
    );
    let files = [
        ("src/routes/mod.rs", "pub mod a;\n"),
        ("src/routes/a.rs", "use crate::db::Pool;\n"),
        ("src/config.rs", "pub struct Settings;\n"),
        ("src/db/mod.rs", db),
    ];
    let found: Vec<String> = analyse(tree(&files))
        .into_iter()
        .map(|v| v.message)
        .collect();
    assert!(found.is_empty(), "{found:#?}");
    // And the one real reference is still found, on its own line.
    let parsed = parse_file("src/db/mod.rs", db).expect("a library file");
    let refs: Vec<(usize, &str)> = parsed
        .references
        .iter()
        .map(|r| (r.line, r.written.as_str()))
        .collect();
    assert_eq!(refs, [(9, "crate::config::Settings")]);
}

#[test]
fn self_test_reads_module_paths_like_rustc() {
    assert_eq!(
        module_of("src/routes/sellers.rs"),
        Some(segments("routes::sellers"))
    );
    assert_eq!(
        module_of("src/workflows/tokens/mod.rs"),
        Some(segments("workflows::tokens"))
    );
    assert_eq!(
        entry_of(&segments("workflows::tokens::cache")),
        Some(("workflows::tokens", 9))
    );
    assert_eq!(
        entry_of(&segments("workflows::shared")),
        Some(("workflows", 11))
    );
    assert_eq!(entry_of(&segments("workflowsx")), None);
    // `super` from a mod.rs is its parent's module, from a leaf file it is the directory's.
    let tokens = tokenize("use super::X;\n");
    let from_mod_rs = references(&tokens, Some(&segments("a::b")), None);
    let from_leaf = references(&tokens, Some(&segments("a::b::c")), None);
    assert_eq!(from_mod_rs[0].path, segments("a::X"));
    assert_eq!(from_leaf[0].path, segments("a::b::X"));
}
