//! The source layout's rules (ARCHITECTURE.md): the engine's top-level modules use only
//! the layers below them, and no source file grows past 1,000 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
    files
}

/// The engine's top-level modules and the others each one names as `crate::engine::X`
/// outside its tests.
fn engine_module_uses() -> BTreeMap<String, BTreeSet<String>> {
    let engine = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine");
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&engine) {
        let relative = file.strip_prefix(&engine).expect("under src/engine");
        let top = relative
            .components()
            .next()
            .and_then(|part| part.as_os_str().to_str())
            .map(|part| part.trim_end_matches(".rs").to_owned())
            .expect("a name");
        if top == "mod" || file.ends_with("library_tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let used = uses.entry(top.clone()).or_default();
        for (at, _) in code.match_indices("crate::engine::") {
            let name: String = code[at + "crate::engine::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name != top && !name.is_empty() {
                used.insert(name);
            }
        }
    }
    uses
}

#[test]
fn the_engines_top_level_modules_form_no_import_cycle() {
    let uses = engine_module_uses();
    assert!(uses.contains_key("geometry") && uses.contains_key("render"));
    // Depth-first from each module: reaching the module again is a cycle.
    for start in uses.keys() {
        let mut stack = vec![vec![start.clone()]];
        while let Some(path) = stack.pop() {
            let last = path.last().expect("a path");
            for next in uses.get(last).into_iter().flatten() {
                assert_ne!(next, start, "import cycle: {} -> {next}", path.join(" -> "));
                if !path.contains(next) {
                    stack.push([path.clone(), vec![next.clone()]].concat());
                }
            }
        }
    }
    assert!(
        uses["geometry"].iter().all(|used| used == "error"),
        "geometry is the bottom layer: {:?}",
        uses["geometry"]
    );
}

#[test]
fn no_source_file_is_over_1000_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let long: Vec<String> = rust_files(&src)
        .into_iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(&file)
                .expect("read")
                .lines()
                .count();
            (lines > 1000).then(|| format!("{} ({lines} lines)", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these beside their type: {long:?}");
}
