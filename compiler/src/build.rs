//! The `build.rs` API: compile `.proto` specs into Rust modules in `OUT_DIR`
//! (like prost-build), and write a registry that includes them all.
//!
//! [`Config`] drives [`crate::check_file`] and [`crate::codegen::generate`];
//! it is the one entry point for build scripts, and `protoc-rs build` shares
//! `generate` with it. Invariants: nothing is written for a spec with errors
//! (the error carries the rendered diagnostics); each spec becomes
//! `OUT_DIR/<file stem>.rs`, and two specs with the same stem are an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::codegen::{generate, names};

/// Why compiling specs failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Read(#[from] crate::ReadError),
    /// The spec has errors; `diagnostics` is their rendered text.
    #[error("{path} has errors:\n{diagnostics}")]
    Invalid { path: String, diagnostics: String },
    #[error("cannot write {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no output directory: call `out_dir` or run from a build script (OUT_DIR)")]
    NoOutDir,
    #[error("`{stem}` is not a valid module name (from {path})")]
    BadName { stem: String, path: String },
    #[error("{first} and {second} would both become module `{module}`")]
    DuplicateModule {
        module: String,
        first: String,
        second: String,
    },
}

/// One compiled spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    /// The spec file as given.
    pub spec_path: PathBuf,
    /// The Rust module name: the spec file's stem (`smtp`).
    pub module: String,
    /// The protocol's name (`protocol smtp { … }`).
    pub protocol: String,
    /// The generated file (`OUT_DIR/smtp.rs`).
    pub output: PathBuf,
    /// Rendered warnings, if any.
    pub warnings: String,
}

/// How to compile specs. See the crate documentation for a `build.rs` example.
#[derive(Debug, Clone)]
pub struct Config {
    out_dir: Option<PathBuf>,
    subdir: Option<PathBuf>,
    cargo_metadata: bool,
    show_warnings: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config::new()
    }
}

impl Config {
    /// Output to `OUT_DIR`, print `cargo:rerun-if-changed` for each spec, and
    /// show warnings as `cargo:warning=` lines.
    pub fn new() -> Config {
        Config {
            out_dir: None,
            subdir: None,
            cargo_metadata: true,
            show_warnings: true,
        }
    }

    /// Where to write the generated files (default: the `OUT_DIR` variable).
    pub fn out_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Config {
        self.out_dir = Some(dir.into());
        self
    }

    /// Writes into this subdirectory of the output directory (created if
    /// missing): `OUT_DIR/fixtures/` for specs that only tests include.
    pub fn subdir(&mut self, dir: impl Into<PathBuf>) -> &mut Config {
        self.subdir = Some(dir.into());
        self
    }

    /// The directory the generated files go to, created if missing.
    fn target_dir(&self) -> Result<PathBuf, BuildError> {
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(BuildError::NoOutDir)?,
        };
        let Some(subdir) = &self.subdir else {
            return Ok(out_dir);
        };
        let dir = out_dir.join(subdir);
        std::fs::create_dir_all(&dir).map_err(|source| BuildError::Write {
            path: dir.display().to_string(),
            source,
        })?;
        Ok(dir)
    }

    /// Whether to print `cargo:` lines (`rerun-if-changed`, `warning`).
    pub fn cargo_metadata(&mut self, yes: bool) -> &mut Config {
        self.cargo_metadata = yes;
        self
    }

    /// Whether specs' warnings are shown (as `cargo:warning=` lines).
    pub fn show_warnings(&mut self, yes: bool) -> &mut Config {
        self.show_warnings = yes;
        self
    }

    /// Checks and generates every spec; writes `OUT_DIR/<stem>.rs` for each.
    /// Stops at the first spec with errors.
    pub fn compile(&self, specs: &[impl AsRef<Path>]) -> Result<Vec<Compiled>, BuildError> {
        let out_dir = self.target_dir()?;
        let mut modules: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut compiled = Vec::new();
        for spec_path in specs {
            let spec_path = spec_path.as_ref();
            let shown = spec_path.display().to_string();
            if self.cargo_metadata {
                println!("cargo:rerun-if-changed={shown}");
            }
            let module = module_name(spec_path)?;
            if let Some(first) = modules.insert(module.clone(), spec_path.to_path_buf()) {
                return Err(BuildError::DuplicateModule {
                    module,
                    first: first.display().to_string(),
                    second: shown,
                });
            }
            let checked = crate::check_file(spec_path)?;
            let Some(spec) = checked.spec.as_ref() else {
                return Err(BuildError::Invalid {
                    path: shown,
                    diagnostics: checked.render(),
                });
            };
            let warnings = if checked.diagnostics.is_empty() {
                String::new()
            } else {
                checked.render()
            };
            if self.cargo_metadata && self.show_warnings {
                for line in warnings.lines() {
                    println!("cargo:warning={line}");
                }
            }
            let output = out_dir.join(format!("{module}.rs"));
            write_if_changed(&output, &generate(spec))?;
            compiled.push(Compiled {
                spec_path: spec_path.to_path_buf(),
                module,
                protocol: spec.name.clone(),
                output,
                warnings,
            });
        }
        Ok(compiled)
    }

    /// Writes `OUT_DIR/<file_name>`: one `pub mod` per compiled spec, and
    /// `pub static SPECS: &[&SpecDescriptor]` listing them in order.
    pub fn write_registry(
        &self,
        compiled: &[Compiled],
        file_name: &str,
    ) -> Result<PathBuf, BuildError> {
        let path = self.target_dir()?.join(file_name);
        write_if_changed(&path, &registry_source(compiled))?;
        Ok(path)
    }
}

/// The registry module text for `compiled` (see [`Config::write_registry`]).
pub fn registry_source(compiled: &[Compiled]) -> String {
    let mut out = String::from("// @generated by protoc-rs: the compiled specs. Do not edit.\n\n");
    for c in compiled {
        out.push_str(&format!(
            "/// `protocol {}`, compiled from `{}`.\n\
             // A generated module offers more API than one program uses.\n\
             #[allow(dead_code)]\n\
             pub mod {} {{\n    include!(concat!(env!(\"OUT_DIR\"), \"/{}.rs\"));\n}}\n\n",
            c.protocol,
            c.spec_path.display(),
            c.module,
            c.module
        ));
    }
    let list: Vec<String> = compiled
        .iter()
        .map(|c| format!("&{}::SPEC", c.module))
        .collect();
    out.push_str(&format!(
        "/// Every compiled spec, in build order.\n\
         pub static SPECS: &[&protoc_runtime::dissector::SpecDescriptor] = &[{}];\n",
        list.join(", ")
    ));
    let sources: Vec<String> = compiled
        .iter()
        .map(|c| {
            let path = c.spec_path.display().to_string();
            format!(
                "({:?}, {:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/\", {:?})))",
                c.protocol, path, path
            )
        })
        .collect();
    out.push_str(&format!(
        "\n/// Each compiled spec's (protocol, spec path, source text), in build order:\n\
         /// what graphs and checks of built-in specs are made from at run time.\n\
         pub static SOURCES: &[(&str, &str, &str)] = &[{}];\n",
        sources.join(", ")
    ));
    out
}

fn module_name(path: &Path) -> Result<String, BuildError> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let valid = stem
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && names::field(&stem) == stem;
    if valid {
        Ok(stem)
    } else {
        Err(BuildError::BadName {
            stem,
            path: path.display().to_string(),
        })
    }
}

/// Writes `text` unless the file already holds it (keeps mtimes stable, so
/// cargo does not rebuild for nothing).
fn write_if_changed(path: &Path, text: &str) -> Result<(), BuildError> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    std::fs::write(path, text).map_err(|source| BuildError::Write {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subdirectory_is_created_and_holds_the_modules_and_the_registry() {
        let out = tempfile::tempdir().expect("a temporary directory");
        let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/smtp.proto");
        let mut config = Config::new();
        config
            .cargo_metadata(false)
            .out_dir(out.path())
            .subdir("fixtures");
        let compiled = config.compile(&[&spec]).expect("the SMTP spec compiles");
        let registry = config
            .write_registry(&compiled, "registry.rs")
            .expect("the registry is written");
        let dir = out.path().join("fixtures");
        assert_eq!(compiled[0].output, dir.join("smtp.rs"));
        assert!(compiled[0].output.is_file());
        assert_eq!(registry, dir.join("registry.rs"));
        assert!(registry.is_file());
    }
}
