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
//! - [`dissector`]: the trait generated code implements and the sink it reports to.

pub mod dissector;
pub mod expr;
pub mod output;
pub mod rules;
pub mod value;
