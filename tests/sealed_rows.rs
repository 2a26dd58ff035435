//! Sealed credentials are never printed, not even as ciphertext: no struct in `src/` that carries
//! sealed bytes derives `Debug`, so neither `{:?}` nor a `tracing` field can show them. (A
//! hand-written `Debug` that leaves them out is the way to print such a struct.)
//!
//! What is read back from the database is `db::Sealed`, which has no `Debug`: the compiler
//! refuses a `derive(Debug)` on anything that holds one. This test is the backstop for sealed
//! bytes held as plain `Vec<u8>` or `&[u8]` (a row being written, a value just sealed). Plain
//! text analysis, like `tests/architecture.rs`: it needs no build of the crate.
//!
//! Sealed bytes are recognised by their field's name, as the SQL of `src/db` names them: a name
//! that starts with `sealed` or `wrapped` (a data key under a master key), or `cached_token` (the
//! sealed access token read with a grant).

use std::path::Path;

#[path = "support/source_tree.rs"]
mod source_tree;

#[test]
fn no_struct_with_sealed_fields_derives_debug() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    source_tree::collect_rs_files(root, "src", true, &mut files);
    assert!(
        files.len() > 50,
        "found only {} source files under src/",
        files.len()
    );
    let mut found = Vec::new();
    for (path, source) in files {
        found.extend(
            debug_structs_with_sealed_fields(&source)
                .into_iter()
                .map(|s| format!("{path}: {s}")),
        );
    }
    assert!(
        found.is_empty(),
        "these structs derive Debug but hold sealed credentials:\n{}",
        found.join("\n")
    );
}

/// Whether a field's name says it holds sealed bytes.
fn is_sealed_field(name: &str) -> bool {
    name.starts_with("sealed") || name.starts_with("wrapped") || name == "cached_token"
}

/// `line` without a leading visibility (`pub`, `pub(crate)`, `pub(super)`, `pub(in …)`).
fn without_visibility(line: &str) -> &str {
    let Some(rest) = line.strip_prefix("pub") else {
        return line;
    };
    let rest = match rest.strip_prefix('(') {
        Some(inner) => inner.split_once(')').map_or(inner, |(_, after)| after),
        None => rest,
    };
    rest.trim_start()
}

/// Whether the attributes gathered before an item derive `Debug` (the word, not `RedactedDebug`).
fn derives_debug(attributes: &str) -> bool {
    attributes.split("derive(").skip(1).any(|derived| {
        let list = derived.split(')').next().unwrap_or("");
        list.split(',')
            .any(|name| name.trim().rsplit("::").next() == Some("Debug"))
    })
}

/// The names of the structs in `source` that derive `Debug` and have a sealed field: braced
/// structs, whatever the layout of their attributes (one line or rustfmt's many).
fn debug_structs_with_sealed_fields(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut attributes = String::new();
    let mut in_attribute = false;
    let mut lines = source.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        if in_attribute || line.starts_with("#[") {
            attributes.push_str(line);
            // An attribute ends on the line where its brackets balance.
            let depth =
                attributes.matches('[').count() as isize - attributes.matches(']').count() as isize;
            in_attribute = depth > 0;
            continue;
        }
        if line.starts_with("//") || line.is_empty() {
            continue;
        }
        if let Some(rest) = without_visibility(line).strip_prefix("struct ") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let mut sealed = false;
            if line.ends_with('{') {
                for field in lines.by_ref() {
                    let field = field.trim();
                    if field.starts_with('}') {
                        break;
                    }
                    let field = without_visibility(field);
                    sealed |= field
                        .split(':')
                        .next()
                        .is_some_and(|n| is_sealed_field(n.trim()));
                }
            }
            if sealed && derives_debug(&attributes) {
                found.push(name);
            }
        }
        attributes.clear();
    }
    found
}

#[test]
fn self_test_finds_debug_structs_with_sealed_fields() {
    let source = r#"
/// A row.
#[derive(Debug, Clone)]
pub struct Leaky {
    pub id: Uuid,
    /// Sealed.
    pub sealed_token: Vec<u8>,
}

#[derive(
    Clone,
    std::fmt::Debug,
)]
pub(crate) struct LeakyLaidOut {
    pub(crate) sealed_secret: Vec<u8>,
}

#[derive(Debug)]
struct LeakyCache {
    cached_token: Option<Vec<u8>>,
}

#[derive(Clone)]
pub struct Quiet {
    pub sealed_token: Vec<u8>,
}

#[derive(RedactedDebug)]
pub struct NotDebug {
    pub sealed_token: Vec<u8>,
}

#[derive(Debug)]
pub(super) struct Plain {
    pub id: Uuid,
    pub sealed: bool, // (a name alone decides: this one counts)
}

#[derive(Debug)]
pub struct Clear {
    pub id: Uuid,
}
"#;
    assert_eq!(
        debug_structs_with_sealed_fields(source),
        vec!["Leaky", "LeakyLaidOut", "LeakyCache", "Plain"]
    );
}
