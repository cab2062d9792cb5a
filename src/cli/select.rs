//! What `pcap` and `proxy` share to set up dissection: which built-in spec
//! dissects a connection ([`Selector`], from `--spec` and `--port`), the rules
//! to run ([`load_rules`]) and the output format ([`FormatArg`]).
//!
//! Invariant: a [`Selector`] only ever answers with specs of the built-in
//! registry (`crate::specs`), for a transport the spec declares, and
//! `--port NAME=PORT` overrides a spec's own default ports.

use std::collections::HashMap;
use std::io::{self, IsTerminal};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use protoc_compiler::rules::RulesError;
use protoc_runtime::dissector::{SpecDescriptor, Transport};
use protoc_runtime::output::Format;
use protoc_runtime::rules::RuleSet;

use crate::specs;

/// `--format`: how events are written.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    Json,
    Text,
}

/// The format asked for, or by default text on a terminal and JSON otherwise.
pub fn resolve_format(arg: Option<FormatArg>) -> Format {
    match arg {
        Some(FormatArg::Json) => Format::Json,
        Some(FormatArg::Text) => Format::Text,
        None if io::stdout().is_terminal() => Format::Text,
        None => Format::Json,
    }
}

/// Loads and checks rule files against the built-in specs; warnings go to
/// stderr, errors are printed and make this fail.
pub fn load_rules(paths: &[PathBuf]) -> Result<RuleSet> {
    if paths.is_empty() {
        return Ok(RuleSet::default());
    }
    match protoc_compiler::rules::load_rules(paths, specs::SPECS) {
        Ok(loaded) => {
            eprint_lossy!("{}", loaded.warnings);
            Ok(loaded.rules)
        }
        Err(RulesError::Invalid { report, .. }) => {
            eprint_lossy!("{report}");
            bail!("the rules have errors; nothing was run")
        }
        Err(err) => Err(err.into()),
    }
}

/// Which spec dissects a flow, by its transport and server port.
pub struct Selector {
    by_port: HashMap<(Transport, u16), &'static SpecDescriptor>,
    /// `--spec` with no port at all: every flow of its transports.
    every_flow: Option<&'static SpecDescriptor>,
}

impl Selector {
    /// From `--spec NAME` (only that spec) and `--port NAME=PORT` arguments.
    pub fn new(forced: Option<&str>, port_args: &[String]) -> Result<Selector> {
        let forced = forced.map(find_spec).transpose()?;
        let mut by_port = HashMap::new();
        let defaults: Vec<&'static SpecDescriptor> = match forced {
            Some(spec) => vec![spec],
            None => specs::SPECS.to_vec(),
        };
        for spec in &defaults {
            for port in spec.ports {
                for transport in spec.transports {
                    by_port.entry((*transport, *port)).or_insert(*spec);
                }
            }
        }
        for arg in port_args {
            let (name, port) = arg
                .split_once('=')
                .with_context(|| format!("--port `{arg}`: expected NAME=PORT, e.g. smtp=2525"))?;
            let port: u16 = port
                .parse()
                .with_context(|| format!("--port `{arg}`: `{port}` is not a port number"))?;
            let spec = find_spec(name)?;
            if forced.is_some_and(|f| f.name != spec.name) {
                bail!(
                    "--port `{arg}`: --spec {} allows no other spec",
                    forced.map_or("", |f| f.name)
                );
            }
            for transport in spec.transports {
                by_port.insert((*transport, port), spec);
            }
        }
        let every_flow = forced.filter(|_| by_port.is_empty());
        Ok(Selector {
            by_port,
            every_flow,
        })
    }

    /// The spec for a TCP connection to `server_port`, if any.
    pub fn for_server_port(&self, server_port: u16) -> Option<&'static SpecDescriptor> {
        self.for_flow(Transport::Tcp, server_port)
    }

    /// The spec for a flow of `transport` to `server_port`, if any.
    pub fn for_flow(
        &self,
        transport: Transport,
        server_port: u16,
    ) -> Option<&'static SpecDescriptor> {
        match self.every_flow {
            Some(spec) => spec.transports.contains(&transport).then_some(spec),
            None => self.by_port.get(&(transport, server_port)).copied(),
        }
    }

    /// The specs this selector can use, in registry order.
    pub fn specs(&self) -> Vec<&'static SpecDescriptor> {
        specs::SPECS
            .iter()
            .copied()
            .filter(|s| {
                self.every_flow.is_some_and(|e| e.name == s.name)
                    || self.by_port.values().any(|v| v.name == s.name)
            })
            .collect()
    }
}

/// The built-in spec named `name`, or an error listing the known ones.
pub fn find_spec(name: &str) -> Result<&'static SpecDescriptor> {
    specs::by_name(name).with_context(|| {
        let known: Vec<&str> = specs::SPECS.iter().map(|s| s.name).collect();
        format!(
            "no spec named `{name}`; built-in specs: {}",
            known.join(", ")
        )
    })
}
