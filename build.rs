//! Compiles every spec under `specs/` into `OUT_DIR/<stem>.rs`, and writes
//! `OUT_DIR/specs_registry.rs`, which `src/specs.rs` includes: the
//! dissectors built into `protoc-rs`. Specs directly in `specs/` come first,
//! then those in subfolders (`specs/tutorial/`), each group by path. A spec
//! with errors fails the build with its diagnostics.
//!
//! The test-only specs of `tests/fixtures/specs/` are generated into
//! `OUT_DIR/fixtures/` (not registered; only tests include them).

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=specs");
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=tests/fixtures/specs");
    let mut specs = Vec::new();
    collect_specs(Path::new("specs"), &mut specs);
    specs.sort_by_key(|path| (path.components().count(), path.clone()));

    let mut config = protoc_compiler::Config::new();
    config.show_warnings(false);
    let compiled = config.compile(&specs).and_then(|compiled| {
        config.write_registry(&compiled, "specs_registry.rs")?;
        Ok(compiled)
    });
    let fixtures = compile_fixtures();
    if let Err(err) = compiled.map(drop).and(fixtures) {
        let text = err.to_string();
        for line in text.lines() {
            println!("cargo:warning={line}");
        }
        panic!("compiling the specs failed:\n{text}");
    }
}

/// Generates the test fixtures' modules into `OUT_DIR/fixtures/`.
fn compile_fixtures() -> Result<(), protoc_compiler::BuildError> {
    let mut fixtures = Vec::new();
    collect_specs(Path::new("tests/fixtures/specs"), &mut fixtures);
    fixtures.sort();
    protoc_compiler::Config::new()
        .subdir("fixtures")
        .show_warnings(false)
        .compile(&fixtures)
        .map(drop)
}

/// Every `.proto` file under `dir`, recursively.
fn collect_specs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_dir() {
            collect_specs(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            out.push(path);
        }
    }
}
