//! The crate's own source files as text, for the tests that read the tree rather than build it
//! (`tests/architecture.rs`, `tests/sealed_rows.rs`). Included by path: std only.

use std::fs;
use std::path::Path;

/// Adds the `.rs` files under `root/dir` (and its subdirectories, with `recurse`) to `out` as
/// `("dir/a/b.rs", source)` pairs.
pub fn collect_rs_files(root: &Path, dir: &str, recurse: bool, out: &mut Vec<(String, String)>) {
    // A missing directory (no `examples/`) simply has nothing to check.
    let Ok(entries) = fs::read_dir(root.join(dir)) else {
        return;
    };
    for entry in entries {
        let entry = entry.expect("readable directory entry");
        let path = format!("{dir}/{}", entry.file_name().to_string_lossy());
        if entry.file_type().expect("file type").is_dir() {
            if recurse {
                collect_rs_files(root, &path, true, out);
            }
        } else if path.ends_with(".rs") {
            let source = fs::read_to_string(entry.path()).expect("readable source file");
            out.push((path, source));
        }
    }
}
