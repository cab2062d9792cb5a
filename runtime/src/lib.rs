//! # protoc-runtime
//!
//! The library every generated dissector links with. It knows no protocol.
//!
//! ```text
//! capture file ─▶ capture (pcap/pcapng/gzip) ─▶ decode (link, IP, fragments)
//!   ─▶ flow (table of TCP connections) ─▶ reassembly (in-order bytes, gaps)
//!   ─▶ dissector::Dissector (generated) ─▶ dissector::EventSink (outputs, rules)
//! ```
//!
//! - [`value`] and [`expr`]: parsed messages as dynamic values, and the
//!   expression language shared by specs and rules;
//! - [`dissector`]: the trait generated code implements and the sink it reports to;
//! - [`parse`]: the parsing primitives generated record parsers call;
//! - [`machine`]: helpers for generated state machines (actions, traces);
//! - [`capture`]: pcap/pcapng/gzip input, packet by packet;
//! - [`decode`]: link and IP layers down to TCP, IP fragment reassembly;
//! - [`flow`]: the table of TCP connections, who is the client;
//! - [`reassembly`]: in-order bytes of one direction, with gaps;
//! - [`udp`]: the table of UDP datagram flows;
//! - [`engine`]: the packet pipeline tying those to a [`engine::StreamHandler`];
//! - [`output`]: events as JSON lines or text, and their counters;
//! - [`pcap_writer`]: classic pcap output, packets byte-identical;
//! - [`rules`]: security rules run over events (alert, drop, extract);
//! - [`sha256`]: SHA-256 of many streams at once (streamed events' digests);
//! - [`synth`]: captures made from `C:`/`S:` transcripts, for tests and benchmarks.

pub mod capture;
pub mod decode;
pub mod dissector;
pub mod engine;
pub mod expr;
pub mod flow;
pub mod machine;
pub mod output;
pub mod parse;
pub mod pcap_writer;
pub mod reassembly;
pub mod rules;
pub mod sha256;
pub mod synth;
pub mod udp;
pub mod value;
