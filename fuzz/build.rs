//! Compiles every spec under `../specs/` into `OUT_DIR`, with the registry
//! `OUT_DIR/specs_registry.rs` (the same modules and `SPECS` list that the
//! `protoc-rs` binary builds in), for the targets that need generated
//! dissectors (`smtp_dissector`) or the built-in specs' events (`rules_check`).
//! The language-features fixture (`../tests/fixtures/specs/features.proto`)
//! is generated into `OUT_DIR/fixtures/`, unregistered, for
//! `features_dissector`. A spec with errors fails the build with its
//! diagnostics.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=../specs");
    println!("cargo:rerun-if-changed=../templates");
    let mut specs = Vec::new();
    collect_specs(Path::new("../specs"), &mut specs);
    // As the main build orders them: top-level specs first, then by path.
    specs.sort_by_key(|path| (path.components().count(), path.clone()));
    let mut config = protoc_compiler::Config::new();
    config.show_warnings(false);
    let built = config
        .compile(&specs)
        .and_then(|compiled| config.write_registry(&compiled, "specs_registry.rs"))
        .and_then(|_| compile_features_fixture());
    if let Err(err) = built {
        panic!("compiling the specs failed:\n{err}");
    }
}

/// `features.proto` into `OUT_DIR/fixtures/features.rs`.
fn compile_features_fixture() -> Result<(), protoc_compiler::BuildError> {
    protoc_compiler::Config::new()
        .subdir("fixtures")
        .show_warnings(false)
        .compile(&[PathBuf::from("../tests/fixtures/specs/features.proto")])
        .map(drop)
}

/// Every `.proto` file under `dir`, recursively.
fn collect_specs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_specs(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            out.push(path);
        }
    }
}
