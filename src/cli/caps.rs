//! The cap flags shared by `pcap` and `proxy`: how much a hostile capture or
//! peer may make protoc-rs track and buffer.
//!
//! One job: turn `--max-flows`, `--flow-timeout`, `--max-ooo-per-flow`,
//! `--max-ooo-total`, `--max-udp-flows`, `--udp-timeout`, `--max-fragments`,
//! `--memcap` (the engine's caps, `pcap` only) and `--max-token`, `--max-message` (the parsers' caps, both
//! commands) into the runtime's settings. Invariants: every default shown in
//! `--help` is the runtime's own default (read from it, never repeated here);
//! sizes take `K`, `M`, `G` suffixes (powers of 1024); a zero or otherwise
//! unusable value is an error naming its flag, never a silent clamp.

use std::fmt;
use std::str::FromStr;

use anyhow::{ensure, Result};
use protoc_runtime::decode::DefragLimits;
use protoc_runtime::engine::EngineConfig;
use protoc_runtime::flow::FlowLimits;
use protoc_runtime::parse::Limits;
use protoc_runtime::reassembly::ReassemblyLimits;
use protoc_runtime::udp::DEFAULT_UDP_LIMITS;

/// The engine's and the parsers' caps (`pcap`).
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Caps (hitting one is a `cap` event and a statistic)")]
pub struct Caps {
    /// Flows tracked at once; beyond, the longest idle flows are evicted.
    #[arg(long, value_name = "N", default_value_t = FlowLimits::default().max_flows)]
    pub max_flows: usize,

    /// Seconds of capture time without a packet after which a flow is closed.
    #[arg(long, value_name = "SECS", default_value_t = FlowLimits::default().idle_timeout)]
    pub flow_timeout: f64,

    /// Bytes held out of order per direction of a flow; beyond, holes are given up as gaps.
    #[arg(long, value_name = "BYTES", default_value_t = Size::of(ReassemblyLimits::default().per_stream))]
    pub max_ooo_per_flow: Size,

    /// Bytes held out of order over all flows; beyond, holes are given up as gaps.
    #[arg(long, value_name = "BYTES", default_value_t = Size::of(ReassemblyLimits::default().total))]
    pub max_ooo_total: Size,

    /// UDP flows tracked at once; beyond, the longest idle ones are evicted.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_UDP_LIMITS.max_flows)]
    pub max_udp_flows: usize,

    /// Seconds of capture time without a datagram after which a UDP flow ends.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_UDP_LIMITS.idle_timeout)]
    pub udp_timeout: f64,

    /// IP datagrams being reassembled from fragments at once; beyond, the oldest are dropped.
    #[arg(long, value_name = "N", default_value_t = DefragLimits::default().max_datagrams)]
    pub max_fragments: usize,

    /// Estimated memory of all flows (their state, their dissectors' unfinished
    /// messages, bytes out of order); beyond, the longest idle flows are evicted.
    #[arg(long, value_name = "BYTES", default_value_t = Size::of(EngineConfig::default().memcap))]
    pub memcap: Size,

    #[command(flatten)]
    pub parser: ParserCaps,
}

/// The parsers' caps (`pcap` and `proxy`).
#[derive(clap::Args, Debug, Clone)]
pub struct ParserCaps {
    /// Longest token (a line, a word, a field); longer is a parse error, never buffered.
    #[arg(long, value_name = "BYTES", default_value_t = Size::of(Limits::BUILT_IN.max_token_len))]
    pub max_token: Size,

    /// Longest message, streamed content aside (also the most bytes waiting
    /// for the other side); longer is a parse error.
    #[arg(long, value_name = "BYTES", default_value_t = Size(Limits::BUILT_IN.max_message_len))]
    pub max_message: Size,
}

impl Caps {
    /// Checks the values, makes the parser caps the process's (see
    /// [`ParserCaps::apply`]) and returns the engine's settings.
    pub fn apply(&self) -> Result<EngineConfig> {
        ensure!(self.max_flows > 0, "--max-flows must be at least 1");
        ensure!(
            self.flow_timeout.is_finite() && self.flow_timeout > 0.0,
            "--flow-timeout must be a positive number of seconds, not {}",
            self.flow_timeout
        );
        ensure!(self.memcap.0 > 0, "--memcap must be at least 1 byte");
        ensure!(self.max_udp_flows > 0, "--max-udp-flows must be at least 1");
        ensure!(
            self.udp_timeout.is_finite() && self.udp_timeout > 0.0,
            "--udp-timeout must be a positive number of seconds, not {}",
            self.udp_timeout
        );
        self.parser.apply()?;
        let defaults = EngineConfig::default();
        Ok(EngineConfig {
            flows: FlowLimits {
                idle_timeout: self.flow_timeout,
                max_flows: self.max_flows,
            },
            reassembly: ReassemblyLimits {
                per_stream: self.max_ooo_per_flow.bytes(),
                total: self.max_ooo_total.bytes(),
            },
            defrag: DefragLimits {
                max_datagrams: self.max_fragments,
                ..defaults.defrag
            },
            memcap: self.memcap.bytes(),
            udp: FlowLimits {
                idle_timeout: self.udp_timeout,
                max_flows: self.max_udp_flows,
            },
            ..defaults
        })
    }
}

impl ParserCaps {
    /// Checks the values and makes them what every parser of this process
    /// uses ([`Limits::set_process_default`]).
    pub fn apply(&self) -> Result<()> {
        ensure!(self.max_token.0 > 0, "--max-token must be at least 1 byte");
        ensure!(
            self.max_message.0 > 0,
            "--max-message must be at least 1 byte"
        );
        Limits::set_process_default(Limits {
            max_token_len: self.max_token.bytes(),
            max_message_len: self.max_message.0,
        });
        Ok(())
    }
}

/// A number of bytes: `65536`, `64K`, `128M`, `1G` (powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

const UNITS: [(char, u32); 3] = [('G', 30), ('M', 20), ('K', 10)];

impl Size {
    pub fn of(bytes: usize) -> Size {
        Size(u64::try_from(bytes).unwrap_or(u64::MAX))
    }

    /// The size as a `usize` (saturating on 32-bit targets).
    pub fn bytes(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl FromStr for Size {
    type Err = String;

    fn from_str(text: &str) -> Result<Size, String> {
        let text = text.trim();
        let (digits, unit) = match text.char_indices().last() {
            Some((at, unit)) if unit.is_ascii_alphabetic() => {
                (text.get(..at).unwrap_or_default(), Some(unit))
            }
            _ => (text, None),
        };
        let number: u64 = digits
            .parse()
            .map_err(|_| format!("`{text}` is not a size (bytes, or a number with K, M or G)"))?;
        let shift = match unit {
            None => 0,
            Some(unit) => UNITS
                .iter()
                .find(|(u, _)| *u == unit.to_ascii_uppercase())
                .map(|(_, shift)| *shift)
                .ok_or_else(|| format!("unknown unit `{unit}` in `{text}` (use K, M or G)"))?,
        };
        number
            .checked_mul(1u64 << shift)
            .map(Size)
            .ok_or_else(|| format!("`{text}` is too large"))
    }
}

impl fmt::Display for Size {
    /// The largest unit that divides the size exactly: `64K`, `128M`, `1000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, shift) in UNITS {
            let step = 1u64 << shift;
            // `step` is a power of two: a multiple has no bit below it.
            if self.0 >= step && self.0 & (step - 1) == 0 {
                return write!(f, "{}{unit}", self.0 / step);
            }
        }
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_units_and_print_back_the_same() {
        for (text, bytes) in [
            ("0", 0),
            ("1000", 1000),
            ("64K", 65_536),
            ("128m", 128 << 20),
            ("1G", 1 << 30),
        ] {
            let size: Size = text.parse().unwrap();
            assert_eq!(size.0, bytes, "{text}");
            assert_eq!(size.to_string().parse::<Size>().unwrap(), size);
        }
        assert_eq!(Size(3 << 20).to_string(), "3M");
        assert_eq!(Size(1025).to_string(), "1025");
    }

    #[test]
    fn bad_sizes_say_why() {
        assert!("12X".parse::<Size>().unwrap_err().contains("unit `X`"));
        assert!("M".parse::<Size>().unwrap_err().contains("not a size"));
        assert!("-1".parse::<Size>().unwrap_err().contains("not a size"));
        assert!("99999999999G"
            .parse::<Size>()
            .unwrap_err()
            .contains("too large"));
    }
}
