//! The packet pipeline: decode, flow table, TCP reassembly, and a consumer.
//!
//! One job: turn packets into per-flow, per-direction in-order byte streams
//! and hand them to a [`StreamHandler`] (the `streams` command's counters, or
//! the `pcap` command's dissectors), honouring its verdicts.
//!
//! ```text
//! Packet ─▶ decode ─▶ flow table (new flow? handler.open) ─▶ reassembly ─▶ handler.data/gap/end
//!                                                   time ─▶ handler.tick, idle expiry, eviction
//! ```
//!
//! Invariants:
//! - a callback returning [`Verdict::Drop`] drops its flow at once: its state
//!   is freed (`close` with [`CloseReason::Dropped`]), [`Engine::process`]
//!   returns [`PacketVerdict::Drop`] for this packet and every later packet of
//!   that 4-tuple (remembered in capped tombstones);
//! - every flow the handler opened is closed exactly once (FIN both ways, RST,
//!   idle timeout, eviction, drop, or [`Engine::finish`]), and before `close`
//!   each of its directions got `end` (unless the flow was dropped);
//! - the ACKs a packet carries are applied before its data: the sender had
//!   received those bytes before sending, so the other direction's gaps come
//!   first;
//! - `tick` runs for a flow on each of its packets, and for all flows (with
//!   idle expiry) at most once per second of capture time;
//! - non-TCP and undecodable packets pass and are counted; a TCP packet
//!   without SYN and without payload does not open a flow (a stray ACK or
//!   RST), it only counts as untracked;
//! - sharded ([`EngineConfig::sharded`]): every shard reads every packet
//!   (decoding it, reassembling IP fragments, keeping time and sweeping), but
//!   tracks and counts only the TCP flows whose [`shard_of`] is its own;
//!   shard 0 also counts the packets that belong to no flow. So `n` engines
//!   given the same packets together see each flow exactly once, with
//!   disjoint flow ids, and their [`Stats`] add up ([`Stats::add`]); UDP
//!   flows are split the same way;
//! - a UDP datagram goes to its flow (see [`crate::udp`]) when the handler
//!   dissects it (`open_datagram`), else it passes as ignored; UDP flows
//!   share the TCP flows' id sequence, tick, end (both directions, then
//!   `close`) on idle timeout, eviction and at the end of the capture.
//!
//! # Caps
//!
//! Every cap holds at every packet, and hitting one is counted in [`Stats`],
//! never a crash; when the handler runs a dissector
//! ([`StreamHandler::inspect`]) it is also reported to its sink as a cap
//! event ([`EventSink::cap`]) on the flow concerned:
//! - `max-flows` ([`FlowLimits::max_flows`]): a full table evicts its
//!   longest idle flows (each reported);
//! - `max-ooo-per-flow`, `max-ooo-total` ([`ReassemblyLimits`]): holes are
//!   given up early, as gaps (reported once per flow and direction);
//! - `memcap` ([`EngineConfig::memcap`]): the estimated memory of all flows,
//!   TCP and UDP (each flow's fixed cost, its dissector's size and the bytes
//!   it holds but has not settled (see `held_by_dissector`), plus every byte
//!   buffered out of order) stays under it: beyond it the longest idle flows
//!   are evicted (each reported) until it is 15/16 full;
//! - `max-udp-flows` ([`EngineConfig::udp`]): a full UDP table evicts its
//!   longest idle flows (each reported);
//! - `max-fragments` ([`DefragLimits`]): the oldest incomplete datagrams are
//!   dropped (counted in [`DecodeStats`], warned about once; no flow to
//!   report it on).
//!
//! Overlapping segments whose content differs from bytes buffered before
//! them are reported as overlap events ([`EventSink::overlap`]), at most one
//! per segment.

use crate::capture::{CaptureReader, LinkType, Packet};
use crate::decode::{DecodeStats, Decoded, Decoder, DefragLimits, TcpSegment, UdpDatagram};
use crate::dissector::{CapHit, Direction, Dissector, EventSink, FlowInfo, Verdict};
use crate::flow::{
    initiator, shard_of, Flow, FlowKey, FlowLimits, FlowTable, Tombstone, Tombstones,
};
use crate::parse::Limits;
use crate::reassembly::{Budget, Chunk, HalfStream, ReassemblyLimits, StreamStats};
use crate::udp::{datagram_initiator, DEFAULT_UDP_LIMITS};

/// The consumer of reassembled streams.
pub trait StreamHandler {
    /// Per-flow state, kept in the flow table.
    type Flow;

    /// A new flow. `None`: the flow is not dissected (it is still tracked, but
    /// not reassembled, and no other callback is made for it).
    fn open(&mut self, info: &FlowInfo, ts: f64) -> Option<Self::Flow>;

    /// In-order bytes of one direction.
    fn data(
        &mut self,
        flow: &mut Self::Flow,
        info: &FlowInfo,
        dir: Direction,
        ts: f64,
        bytes: &[u8],
    ) -> Verdict;

    /// `len` bytes of one direction are missing for good.
    fn gap(
        &mut self,
        flow: &mut Self::Flow,
        info: &FlowInfo,
        dir: Direction,
        ts: f64,
        len: u64,
    ) -> Verdict;

    /// One direction ended (FIN, RST, or the flow is being closed).
    fn end(&mut self, flow: &mut Self::Flow, info: &FlowInfo, dir: Direction, ts: f64) -> Verdict;

    /// Capture time passed (for timeouts).
    fn tick(&mut self, flow: &mut Self::Flow, info: &FlowInfo, ts: f64) -> Verdict;

    /// A new UDP flow, at its first datagram. `None` (the default): the
    /// flow is not dissected, and its datagrams pass as ignored.
    fn open_datagram(&mut self, _info: &FlowInfo, _ts: f64) -> Option<Self::Flow> {
        None
    }

    /// One datagram of a UDP flow `open_datagram` accepted.
    fn datagram(
        &mut self,
        flow: &mut Self::Flow,
        info: &FlowInfo,
        dir: Direction,
        ts: f64,
        bytes: &[u8],
    ) -> Verdict {
        self.data(flow, info, dir, ts, bytes)
    }

    /// The flow is freed; `end` tells why, with its counters.
    fn close(&mut self, flow: Self::Flow, info: &FlowInfo, ts: f64, end: &FlowEnd);

    /// The flow's dissector and the sink its events go to, if the handler
    /// runs one (default: none). With them the engine counts the dissector
    /// against the memory cap (its size and the bytes it holds but has not
    /// settled) and reports caps reached and overlaps as events.
    fn inspect<'a>(&'a mut self, _flow: &'a mut Self::Flow) -> Option<Inspect<'a>> {
        None
    }
}

/// What [`StreamHandler::inspect`] lends the engine.
pub struct Inspect<'a> {
    pub dissector: &'a dyn Dissector,
    pub sink: &'a mut dyn EventSink,
}

/// The default memory cap ([`EngineConfig::memcap`]): 128 MiB.
pub const DEFAULT_MEMCAP: usize = 128 << 20;

/// What a tracked flow costs besides its own structures, as the memory cap
/// counts it: its share of the hash tables of the engine and the outputs.
pub const FLOW_BOOKKEEPING: usize = 512;

/// What to do with a packet (for pass-through outputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketVerdict {
    Pass,
    Drop,
}

/// Why a flow was freed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Both directions ended with FIN.
    Fin,
    Rst,
    /// No packet for the idle timeout.
    Idle,
    /// The flow table was full.
    Evicted,
    /// A verdict dropped it.
    Dropped,
    /// A new SYN with another initial sequence number opened a new
    /// connection on the same 4-tuple.
    Reused,
    EndOfCapture,
}

impl CloseReason {
    pub fn name(self) -> &'static str {
        match self {
            CloseReason::Fin => "fin",
            CloseReason::Rst => "rst",
            CloseReason::Idle => "idle",
            CloseReason::Evicted => "evicted",
            CloseReason::Dropped => "dropped",
            CloseReason::Reused => "reused",
            CloseReason::EndOfCapture => "end-of-capture",
        }
    }
}

/// A closed flow's summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowEnd {
    pub reason: CloseReason,
    pub first_seen: f64,
    pub last_seen: f64,
    /// Packets, by [`Direction::index`].
    pub packets: [u64; 2],
    /// Reassembly counters, by [`Direction::index`].
    pub streams: [StreamStats; 2],
}

/// The engine's settings.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    pub flows: FlowLimits,
    pub reassembly: ReassemblyLimits,
    pub defrag: DefragLimits,
    /// Closed or dropped tuples remembered.
    pub max_tombstones: usize,
    /// Estimated bytes of all flows together (see the module's "Caps").
    pub memcap: usize,
    /// The UDP flow table's caps and idle timeout.
    pub udp: FlowLimits,
    /// Which flows this engine tracks.
    pub shard: Shard,
}

/// One of `count` engines that split the flows of one capture between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The only engine: it tracks every flow.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Whether this shard tracks (and counts) a decoded packet.
    fn owns(&self, decoded: &Decoded<'_>) -> bool {
        if self.count <= 1 {
            return true;
        }
        match decoded {
            Decoded::Tcp(seg) => shard_of(seg.src, seg.dst, self.count) == self.index,
            Decoded::Udp(datagram) => {
                shard_of(datagram.src, datagram.dst, self.count) == self.index
            }
            _ => self.index == 0,
        }
    }
}

impl EngineConfig {
    /// The settings of shard `index` of `count`: the caps on flows, on
    /// reassembly memory, on tombstones and the memory cap are split evenly,
    /// so that the shards together keep within this configuration's caps.
    /// (Every shard reassembles every IP fragment: the defragmentation cap is
    /// per shard.)
    pub fn sharded(self, index: usize, count: usize) -> EngineConfig {
        let count = count.max(1);
        let split = |n: usize| (n / count).max(1);
        EngineConfig {
            flows: FlowLimits {
                max_flows: split(self.flows.max_flows),
                ..self.flows
            },
            reassembly: ReassemblyLimits {
                per_stream: self.reassembly.per_stream,
                total: split(self.reassembly.total),
            },
            max_tombstones: split(self.max_tombstones),
            memcap: split(self.memcap),
            udp: FlowLimits {
                max_flows: split(self.udp.max_flows),
                ..self.udp
            },
            shard: Shard {
                index: index.min(count - 1),
                count,
            },
            ..self
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            flows: FlowLimits::default(),
            reassembly: ReassemblyLimits::default(),
            defrag: DefragLimits::default(),
            max_tombstones: 1 << 16,
            memcap: DEFAULT_MEMCAP,
            shard: Shard::WHOLE,
            udp: DEFAULT_UDP_LIMITS,
        }
    }
}

/// When an engine sweeps its flows (ticks each, expires the idle ones): at
/// the first packet, then at each packet at least one second of capture time
/// after the last sweep. The sweeps depend only on the sequence of packet
/// times, so every shard of a capture, fed every packet's time, sweeps at the
/// same packets; `--threads` runs one clock over the capture to find them.
#[derive(Debug, Clone, Copy, Default)]
pub struct SweepClock {
    last: Option<f64>,
}

impl SweepClock {
    /// Whether a packet at `now` makes a sweep; if so, it is the last one.
    pub fn due(&mut self, now: f64) -> bool {
        if self.last.is_some_and(|last| now < last + 1.0) {
            return false;
        }
        self.last = Some(now);
        true
    }

    /// The time of the last sweep, if any.
    pub fn last(&self) -> Option<f64> {
        self.last
    }
}

/// Counters of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub packets: u64,
    /// Captured bytes of all packets.
    pub bytes: u64,
    pub tcp_packets: u64,
    /// TCP flows opened.
    pub tcp_flows: u64,
    /// UDP datagrams of dissected flows, and those flows.
    pub udp_packets: u64,
    pub udp_flows: u64,
    /// IP packets that are not TCP, and frames that are not IP.
    pub ignored_packets: u64,
    /// Frames of a link type the decoder does not know.
    pub unsupported_link_packets: u64,
    /// Frames too short for their headers, or inconsistent.
    pub short_packets: u64,
    /// IP fragments held for reassembly (counted when held).
    pub fragments_held: u64,
    /// TCP packets with no flow to go to (no SYN, no payload).
    pub untracked_packets: u64,
    /// TCP packets of a tuple closed shortly before.
    pub late_packets: u64,
    pub dropped_flows: u64,
    pub dropped_packets: u64,
    /// Holes delivered as gaps, and their bytes (closed flows).
    pub gaps: u64,
    pub gap_bytes: u64,
    /// Overlapping segments whose content differed (closed flows).
    pub overlaps: u64,
    pub retransmitted_bytes: u64,
    /// Holes given up because a reassembly cap was reached.
    pub forced_gaps: u64,
    pub idle_closed: u64,
    /// Flows evicted because the table was full (`max-flows`).
    pub evictions: u64,
    /// Flows evicted because the memory cap was reached (`memcap`).
    pub memcap_evictions: u64,
    /// Peak of the estimated memory of all flows (see `memcap`), after each
    /// packet (within one, it may pass the cap before evictions bring it back).
    pub peak_memory: usize,
    pub warnings: u64,
    pub decode: DecodeStats,
}

impl Stats {
    /// Adds another shard's counters to these. `decode` is not summed: it
    /// counts IP fragments only, and every shard decodes every fragment, so
    /// each has the whole capture's; these keep theirs.
    pub fn add(&mut self, other: &Stats) {
        let Stats {
            packets,
            bytes,
            tcp_packets,
            tcp_flows,
            udp_packets,
            udp_flows,
            ignored_packets,
            unsupported_link_packets,
            short_packets,
            fragments_held,
            untracked_packets,
            late_packets,
            dropped_flows,
            dropped_packets,
            gaps,
            gap_bytes,
            overlaps,
            retransmitted_bytes,
            forced_gaps,
            idle_closed,
            evictions,
            memcap_evictions,
            peak_memory,
            warnings,
            decode: _,
        } = other;
        self.packets += packets;
        self.bytes += bytes;
        self.tcp_packets += tcp_packets;
        self.tcp_flows += tcp_flows;
        self.udp_packets += udp_packets;
        self.udp_flows += udp_flows;
        self.ignored_packets += ignored_packets;
        self.unsupported_link_packets += unsupported_link_packets;
        self.short_packets += short_packets;
        self.fragments_held += fragments_held;
        self.untracked_packets += untracked_packets;
        self.late_packets += late_packets;
        self.dropped_flows += dropped_flows;
        self.dropped_packets += dropped_packets;
        self.gaps += gaps;
        self.gap_bytes += gap_bytes;
        self.overlaps += overlaps;
        self.retransmitted_bytes += retransmitted_bytes;
        self.forced_gaps += forced_gaps;
        self.idle_closed += idle_closed;
        self.evictions += evictions;
        self.memcap_evictions += memcap_evictions;
        // The shards' peaks may come at different times: their sum bounds
        // the whole's peak from above.
        self.peak_memory += peak_memory;
        self.warnings += warnings;
    }
}

/// Per-flow state in the table.
struct FlowState<F> {
    /// `None`: the handler does not dissect this flow.
    handler: Option<F>,
    streams: [HalfStream; 2],
    fin_seen: [bool; 2],
    /// The sequence number of the client's SYN, once seen.
    client_isn: Option<u32>,
    /// This flow's share of [`Core::memory`], as last estimated.
    footprint: usize,
    /// Caps already reported on this flow: bit `2 * cap + direction`.
    caps_reported: u8,
}

/// Per-flow state of a UDP flow in its table.
struct DatagramState<F> {
    handler: F,
    /// This flow's share of [`Core::memory`] (fixed: a datagram dissector
    /// holds no bytes between datagrams).
    footprint: usize,
}

/// Caps reported once per flow and direction: their bit in `caps_reported`.
const OOO_PER_FLOW: u8 = 0;
const OOO_TOTAL: u8 = 1;

/// Everything but the decoder, so that a decoded segment (which may borrow
/// the decoder's buffer) can be processed with `&mut self`.
struct Core<H: StreamHandler> {
    handler: H,
    shard: Shard,
    table: FlowTable<FlowState<H::Flow>>,
    tombstones: Tombstones,
    budget: Budget,
    stats: Stats,
    warnings: Vec<String>,
    clock: SweepClock,
    warned_unsupported: Vec<LinkType>,
    warned_memcap: bool,
    /// Sum of the live flows' `footprint`s, TCP and UDP.
    footprints: usize,
    memcap: usize,
    warned_flow_memcap: bool,
    warned_fragments: bool,
    udp: FlowTable<DatagramState<H::Flow>>,
    /// Dropped UDP pairs: their later datagrams are dropped too.
    udp_tombstones: Tombstones,
}

/// The packet pipeline, generic over its consumer.
pub struct Engine<H: StreamHandler> {
    decoder: Decoder,
    core: Core<H>,
}

impl<H: StreamHandler> Engine<H> {
    pub fn new(handler: H, config: EngineConfig) -> Engine<H> {
        Engine {
            decoder: Decoder::new(config.defrag),
            core: Core {
                handler,
                shard: config.shard,
                table: FlowTable::with_ids(
                    config.flows,
                    config.shard.index as u64 + 1,
                    config.shard.count.max(1) as u64,
                ),
                tombstones: Tombstones::new(config.max_tombstones),
                budget: Budget::new(config.reassembly),
                stats: Stats::default(),
                warnings: Vec::new(),
                clock: SweepClock::default(),
                warned_unsupported: Vec::new(),
                warned_memcap: false,
                footprints: 0,
                memcap: config.memcap,
                warned_flow_memcap: false,
                warned_fragments: false,
                udp: FlowTable::new(config.udp),
                udp_tombstones: Tombstones::new(config.max_tombstones),
            },
        }
    }

    /// Processes one packet; says whether it may be forwarded.
    pub fn process(&mut self, pkt: &Packet<'_>) -> PacketVerdict {
        self.process_packet(pkt, false)
    }

    /// [`Engine::process`] for a packet the caller knows to be this shard's
    /// TCP (its [`crate::decode::tcp_shard_key`] names this shard): the same,
    /// without hashing its endpoints again. A packet that decodes to
    /// anything but TCP is still checked.
    pub fn process_owned(&mut self, pkt: &Packet<'_>) -> PacketVerdict {
        self.process_packet(pkt, true)
    }

    fn process_packet(&mut self, pkt: &Packet<'_>, owned: bool) -> PacketVerdict {
        let core = &mut self.core;
        core.sweep(pkt.ts);
        let decoded = self.decoder.decode(pkt.link_type, pkt.data, pkt.ts);
        let known = owned && matches!(decoded, Decoded::Tcp(_));
        if !known && !core.shard.owns(&decoded) {
            core.stats.decode = *self.decoder.stats();
            return PacketVerdict::Pass;
        }
        core.stats.packets += 1;
        core.stats.bytes += pkt.data.len() as u64;
        let verdict = match decoded {
            Decoded::Tcp(segment) => core.on_tcp(&segment, pkt.ts),
            Decoded::Udp(datagram) => core.on_udp(&datagram, pkt.ts),
            Decoded::OtherIp | Decoded::NotIp => {
                core.stats.ignored_packets += 1;
                PacketVerdict::Pass
            }
            Decoded::FragmentHeld => {
                core.stats.fragments_held += 1;
                PacketVerdict::Pass
            }
            Decoded::UnsupportedLink(link) => {
                core.stats.unsupported_link_packets += 1;
                if !core.warned_unsupported.contains(&link) {
                    core.warned_unsupported.push(link);
                    core.warn(format!(
                        "link type {link} is not supported: its packets are skipped"
                    ));
                }
                PacketVerdict::Pass
            }
            Decoded::Malformed(_) => {
                core.stats.short_packets += 1;
                PacketVerdict::Pass
            }
        };
        let decode = *self.decoder.stats();
        if decode.fragments_evicted > core.stats.decode.fragments_evicted && !core.warned_fragments
        {
            core.warned_fragments = true;
            let limits = self.decoder.limits();
            core.warn(format!(
                "the IP fragment pool reached its cap ({} datagrams, {} bytes): the oldest \
                 incomplete datagrams are dropped",
                limits.max_datagrams, limits.max_bytes
            ));
        }
        core.stats.decode = decode;
        verdict
    }

    /// A packet that belongs to another shard went by at `ts` (its owner is
    /// known without decoding it: [`crate::decode::tcp_shard_key`]): time
    /// moves on, as [`Engine::process`] would have made it, and nothing else
    /// happens. Only for such packets: a packet whose owner is unknown (an
    /// IP fragment) goes to `process` in every shard.
    ///
    /// Time moves only where a [`SweepClock`] fed every packet's time says a
    /// sweep is due; for any other packet this does nothing. So a caller
    /// that runs such a clock over all the packets may call this only for
    /// the other shards' packets at which it is due: same effect.
    pub fn observe_time(&mut self, ts: f64) {
        self.core.sweep(ts);
    }

    /// Reads a whole capture, then [`Engine::finish`]es. Capture warnings
    /// (truncation, corruption) join the engine's warnings.
    pub fn run(&mut self, reader: &mut CaptureReader) {
        while let Some(pkt) = reader.next_packet() {
            self.process(&pkt);
        }
        for warning in reader.take_warnings() {
            self.core.warn(format!("{}: {warning}", reader.name()));
        }
        self.finish();
    }

    /// Ends the capture: every live flow is closed, in order of id.
    pub fn finish(&mut self) {
        let core = &mut self.core;
        let now = core
            .table
            .iter()
            .map(|f| f.last_seen)
            .fold(core.clock.last().unwrap_or(0.0), f64::max);
        let now = core
            .udp
            .keys_by_id()
            .iter()
            .filter_map(|key| core.udp.get_mut(key).map(|f| f.last_seen))
            .fold(now, f64::max);
        for key in core.table.keys_by_id() {
            core.close(&key, CloseReason::EndOfCapture, now);
        }
        for key in core.udp.keys_by_id() {
            core.close_udp(&key, CloseReason::EndOfCapture, now);
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.core.stats
    }

    pub fn handler(&self) -> &H {
        &self.core.handler
    }

    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.core.handler
    }

    pub fn into_handler(self) -> H {
        self.core.handler
    }

    /// Flows being tracked now.
    pub fn live_flows(&self) -> usize {
        self.core.table.len()
    }

    /// Bytes held out of order by reassembly now.
    pub fn buffered_bytes(&self) -> usize {
        self.core.budget.used
    }

    /// The estimated memory of all flows now, as the memory cap counts it.
    pub fn memory(&self) -> usize {
        self.core.memory()
    }

    /// Warnings so far (each also counted in [`Stats::warnings`]).
    pub fn warnings(&self) -> &[String] {
        &self.core.warnings
    }

    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.core.warnings)
    }
}

/// The bytes of `dir` that `dissector` holds: received and not settled.
///
/// Lost bytes are not received: a gap that a dissector does not absorb into
/// a counted field never reaches its settled mark, so gap bytes are taken
/// off. One it absorbs does (it counts as streamed), which makes this an
/// underestimate for such a flow; the estimate never exceeds what a parser
/// can hold by its caps (a message and bytes waiting for a grammar, each up
/// to `max_message_len`, and a held-back token), which bounds the error.
fn held_by_dissector(dissector: &dyn Dissector, dir: Direction, stream: &HalfStream) -> usize {
    let received = stream
        .next_offset()
        .saturating_sub(stream.stats().gap_bytes);
    let held = received.saturating_sub(dissector.settled(dir));
    let limits = Limits::default();
    let most = limits
        .max_message_len
        .saturating_mul(2)
        .saturating_add(u64::try_from(limits.max_token_len).unwrap_or(u64::MAX));
    usize::try_from(held.min(most)).unwrap_or(usize::MAX)
}

/// What applying a segment to its flow came to ([`Core::segment`]).
#[derive(Debug, Clone, Copy)]
struct Applied {
    verdict: Verdict,
    /// Why the flow is to be closed now (both directions ended, or an RST),
    /// if it is; never set with a drop verdict.
    done: Option<CloseReason>,
}

impl Default for Applied {
    fn default() -> Self {
        Applied {
            verdict: Verdict::Continue,
            done: None,
        }
    }
}

/// Re-estimates a flow's footprint: its structures, its dissector and the
/// bytes that dissector holds without having settled them; `footprints`, the
/// total over all flows, follows.
fn account_flow<H: StreamHandler>(
    handler: &mut H,
    footprints: &mut usize,
    state: &mut FlowState<H::Flow>,
) {
    let mut footprint = std::mem::size_of::<Flow<FlowState<H::Flow>>>() + FLOW_BOOKKEEPING;
    if let Some(handler_state) = state.handler.as_mut() {
        if let Some(inspect) = handler.inspect(handler_state) {
            footprint += std::mem::size_of_val(inspect.dissector);
            for (dir, stream) in [Direction::Up, Direction::Down].iter().zip(&state.streams) {
                footprint += held_by_dissector(inspect.dissector, *dir, stream);
            }
        }
    }
    *footprints = footprints
        .saturating_sub(state.footprint)
        .saturating_add(footprint);
    state.footprint = footprint;
}

/// The handler's callbacks for one direction, as reassembly's output.
fn deliver<'h, H: StreamHandler>(
    handler: &'h mut H,
    flow: &'h mut H::Flow,
    info: &'h FlowInfo,
    dir: Direction,
    ts: f64,
) -> impl FnMut(Chunk<'_>) -> Verdict + 'h {
    move |chunk| match chunk {
        Chunk::Data(bytes) => handler.data(flow, info, dir, ts, bytes),
        Chunk::Gap(len) => handler.gap(flow, info, dir, ts, len),
        Chunk::End => handler.end(flow, info, dir, ts),
    }
}

impl<H: StreamHandler> Core<H> {
    fn warn(&mut self, message: String) {
        self.stats.warnings += 1;
        self.warnings.push(message);
    }

    fn on_tcp(&mut self, seg: &TcpSegment<'_>, ts: f64) -> PacketVerdict {
        self.stats.tcp_packets += 1;
        let key = FlowKey::new(seg.src, seg.dst);
        if self.is_reused(&key, seg) {
            self.close(&key, CloseReason::Reused, ts);
        }
        // One lookup for a packet of a known flow (the common case); a new
        // flow is admitted, then found again.
        let applied = match self.segment(&key, seg, ts) {
            Some(applied) => applied,
            None if self.admit(&key, seg, ts) => self.segment(&key, seg, ts).unwrap_or_default(),
            None => {
                return match self.tombstones.get(&key) {
                    Some(Tombstone::Dropped) => {
                        self.stats.dropped_packets += 1;
                        PacketVerdict::Drop
                    }
                    _ => PacketVerdict::Pass,
                };
            }
        };
        if self.budget.global_cap_hits > 0 && !self.warned_memcap {
            self.warned_memcap = true;
            let total = self.budget.limits.total;
            self.warn(format!(
                "reassembly memory reached its cap ({total} bytes): holes are given up early"
            ));
        }
        if applied.verdict == Verdict::Drop {
            self.drop_flow(&key, ts);
            self.stats.dropped_packets += 1;
            return PacketVerdict::Drop;
        }
        if let Some(reason) = applied.done {
            if self.close(&key, reason, ts) != CloseReason::Dropped {
                self.tombstones.insert(key, Tombstone::Closed { at: ts });
            }
        }
        self.enforce_memcap(ts);
        self.stats.peak_memory = self.stats.peak_memory.max(self.memory());
        PacketVerdict::Pass
    }

    /// Estimated memory of all flows: their footprints and the bytes
    /// buffered out of order.
    fn memory(&self) -> usize {
        self.footprints.saturating_add(self.budget.used)
    }

    /// Evicts the longest idle flows while the estimated memory is over the
    /// memory cap, down to 15/16 of it; each eviction is reported.
    fn enforce_memcap(&mut self, ts: f64) {
        if self.memory() <= self.memcap {
            return;
        }
        if !self.warned_flow_memcap {
            self.warned_flow_memcap = true;
            self.warn(format!(
                "flow memory reached its cap ({} bytes): the longest idle flows are evicted",
                self.memcap
            ));
        }
        let target = self.memcap - self.memcap / 16;
        let hit = CapHit {
            cap: "memcap",
            limit: self.memcap as u64,
            action: "flow evicted",
        };
        while self.memory() > target && !(self.table.is_empty() && self.udp.is_empty()) {
            // The idlest of both tables' idlest, TCP and UDP alike.
            let batch = ((self.table.len() + self.udp.len()) / 64).max(1);
            let mut idlest: Vec<(f64, bool, FlowKey)> = Vec::with_capacity(2 * batch);
            for key in self.table.oldest(batch) {
                if let Some(flow) = self.table.get_mut(&key) {
                    idlest.push((flow.last_seen, false, key));
                }
            }
            for key in self.udp.oldest(batch) {
                if let Some(flow) = self.udp.get_mut(&key) {
                    idlest.push((flow.last_seen, true, key));
                }
            }
            idlest.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (_, udp, key) in idlest.into_iter().take(batch) {
                if self.memory() <= target {
                    break;
                }
                self.stats.memcap_evictions += 1;
                if udp {
                    self.report_udp_cap(&key, ts, &hit);
                    self.close_udp(&key, CloseReason::Evicted, ts);
                } else {
                    self.report_cap(&key, Direction::Up, ts, &hit);
                    self.close(&key, CloseReason::Evicted, ts);
                }
            }
        }
    }

    /// Reports a cap hit on the flow at `key` to its dissector's sink.
    fn report_cap(&mut self, key: &FlowKey, dir: Direction, ts: f64, hit: &CapHit<'_>) {
        let Some(flow) = self.table.get_mut(key) else {
            return;
        };
        let Some(handler_state) = flow.state.handler.as_mut() else {
            return;
        };
        if let Some(inspect) = self.handler.inspect(handler_state) {
            inspect.sink.cap(&flow.info, dir, ts, hit);
        }
    }

    /// A UDP datagram: to its flow (made if the handler dissects it), then
    /// the flow's tick.
    fn on_udp(&mut self, datagram: &UdpDatagram<'_>, ts: f64) -> PacketVerdict {
        let key = FlowKey::new(datagram.src, datagram.dst);
        if self.udp.get_mut(&key).is_none() {
            if let Some(Tombstone::Dropped) = self.udp_tombstones.get(&key) {
                self.stats.dropped_packets += 1;
                return PacketVerdict::Drop;
            }
            let (client, server) = datagram_initiator(datagram.src, datagram.dst);
            let info = FlowInfo {
                id: self.table.next_id(),
                src: client,
                dst: server,
            };
            let Some(handler_state) = self.handler.open_datagram(&info, ts) else {
                self.stats.ignored_packets += 1;
                return PacketVerdict::Pass;
            };
            if self.udp.is_full() {
                let max_flows = self.udp.limits().max_flows;
                let hit = CapHit {
                    cap: "max-udp-flows",
                    limit: max_flows as u64,
                    action: "flow evicted",
                };
                for old in self.udp.oldest((max_flows / 64).max(1)) {
                    self.stats.evictions += 1;
                    self.report_udp_cap(&old, ts, &hit);
                    self.close_udp(&old, CloseReason::Evicted, ts);
                }
            }
            let mut handler = handler_state;
            let mut footprint =
                std::mem::size_of::<Flow<DatagramState<H::Flow>>>() + FLOW_BOOKKEEPING;
            if let Some(inspect) = self.handler.inspect(&mut handler) {
                footprint += std::mem::size_of_val(inspect.dissector);
            }
            self.footprints = self.footprints.saturating_add(footprint);
            self.table.allocate_id();
            self.udp
                .insert_with_id(info, ts, DatagramState { handler, footprint });
            self.stats.udp_flows += 1;
            self.enforce_memcap(ts);
        }
        self.stats.udp_packets += 1;
        let Some(flow) = self.udp.get_mut(&key) else {
            return PacketVerdict::Pass;
        };
        let dir = flow.direction_of(datagram.src);
        flow.last_seen = ts;
        flow.packets[dir.index()] += 1;
        let Flow { info, state, .. } = flow;
        let state = &mut state.handler;
        let mut verdict = self
            .handler
            .datagram(state, info, dir, ts, datagram.payload);
        if verdict == Verdict::Continue {
            verdict = self.handler.tick(state, info, ts);
        }
        if verdict == Verdict::Drop {
            self.stats.dropped_packets += 1;
            self.drop_udp(&key, ts);
            return PacketVerdict::Drop;
        }
        self.stats.peak_memory = self.stats.peak_memory.max(self.memory());
        PacketVerdict::Pass
    }

    /// Ends a UDP flow: both directions end, then the handler's `close`.
    fn close_udp(&mut self, key: &FlowKey, reason: CloseReason, ts: f64) {
        let Some(mut flow) = self.udp.remove(key) else {
            return;
        };
        let mut reason = reason;
        for dir in [Direction::Up, Direction::Down] {
            if self
                .handler
                .end(&mut flow.state.handler, &flow.info, dir, ts)
                == Verdict::Drop
            {
                reason = CloseReason::Dropped;
                self.stats.dropped_flows += 1;
                self.udp_tombstones.insert(*key, Tombstone::Dropped);
                break;
            }
        }
        if reason == CloseReason::Idle {
            self.stats.idle_closed += 1;
        }
        self.retire_udp(flow, reason, ts);
    }

    /// Drops a UDP flow after a drop verdict: nothing more is delivered.
    fn drop_udp(&mut self, key: &FlowKey, ts: f64) {
        let Some(flow) = self.udp.remove(key) else {
            return;
        };
        self.stats.dropped_flows += 1;
        self.udp_tombstones.insert(*key, Tombstone::Dropped);
        self.retire_udp(flow, CloseReason::Dropped, ts);
    }

    fn retire_udp(&mut self, flow: Flow<DatagramState<H::Flow>>, reason: CloseReason, ts: f64) {
        self.footprints = self.footprints.saturating_sub(flow.state.footprint);
        let end = FlowEnd {
            reason,
            first_seen: flow.first_seen,
            last_seen: flow.last_seen,
            packets: flow.packets,
            streams: [StreamStats::default(); 2],
        };
        self.handler.close(flow.state.handler, &flow.info, ts, &end);
    }

    /// Reports a cap hit on the UDP flow at `key` to its dissector's sink.
    fn report_udp_cap(&mut self, key: &FlowKey, ts: f64, hit: &CapHit<'_>) {
        let Some(flow) = self.udp.get_mut(key) else {
            return;
        };
        if let Some(inspect) = self.handler.inspect(&mut flow.state.handler) {
            inspect.sink.cap(&flow.info, Direction::Up, ts, hit);
        }
    }

    /// Whether `seg` is the SYN of a new connection on the tuple of a live
    /// flow: a SYN (without ACK) whose sequence number is not the flow's.
    fn is_reused(&mut self, key: &FlowKey, seg: &TcpSegment<'_>) -> bool {
        if !seg.flags.syn || seg.flags.ack {
            return false;
        }
        let Some(flow) = self.table.get_mut(key) else {
            return false;
        };
        flow.state.client_isn.is_some_and(|isn| isn != seg.seq)
    }

    /// Decides whether `seg` opens a new flow, and opens it. `false`: the
    /// packet belongs to no flow (tombstoned, or neither SYN nor data).
    fn admit(&mut self, key: &FlowKey, seg: &TcpSegment<'_>, ts: f64) -> bool {
        let fresh_syn = seg.flags.syn && !seg.flags.ack;
        match self.tombstones.get(key) {
            Some(Tombstone::Dropped) => return false,
            Some(Tombstone::Closed { at }) => {
                let recent = ts - at <= self.table.limits().idle_timeout;
                if recent && !fresh_syn {
                    self.stats.late_packets += 1;
                    return false;
                }
                self.tombstones.remove(key);
            }
            None => {}
        }
        if !seg.flags.syn && seg.payload.is_empty() {
            self.stats.untracked_packets += 1;
            return false;
        }
        if self.table.is_full() {
            self.evict(ts);
        }
        let (client, server) = initiator(seg.src, seg.dst, seg.flags);
        let info = FlowInfo {
            id: self.table.next_id(),
            src: client,
            dst: server,
        };
        let handler = self.handler.open(&info, ts);
        let state = FlowState {
            handler,
            streams: [HalfStream::new(), HalfStream::new()],
            fin_seen: [false, false],
            client_isn: None,
            footprint: 0,
            caps_reported: 0,
        };
        // Its footprint is estimated once its first segment is applied.
        self.table.insert(client, server, ts, state);
        self.stats.tcp_flows += 1;
        true
    }

    /// Makes room in a full table: closes the longest idle flows (a batch, so
    /// that the scan is paid once per many new flows).
    fn evict(&mut self, ts: f64) {
        let batch = (self.table.limits().max_flows / 64).max(1);
        let hit = CapHit {
            cap: "max-flows",
            limit: self.table.limits().max_flows as u64,
            action: "flow evicted",
        };
        for key in self.table.oldest(batch) {
            self.stats.evictions += 1;
            self.report_cap(&key, Direction::Up, ts, &hit);
            self.close(&key, CloseReason::Evicted, ts);
        }
    }

    /// Applies a segment to its flow: ACK, data, FIN/RST, tick; then, unless
    /// the flow is to be dropped, re-estimates its footprint and says whether
    /// it is done. `None`: no flow at `key`.
    fn segment(&mut self, key: &FlowKey, seg: &TcpSegment<'_>, ts: f64) -> Option<Applied> {
        let flow = self.table.get_mut(key)?;
        let dir = flow.direction_of(seg.src);
        flow.last_seen = ts;
        flow.packets[dir.index()] += 1;
        let Flow { info, state, .. } = flow;
        if seg.flags.fin {
            state.fin_seen[dir.index()] = true;
        }
        if seg.flags.syn && !seg.flags.ack && dir == Direction::Up {
            state.client_isn.get_or_insert(seg.seq);
        }
        let verdict = Self::dissect_segment(
            &mut self.handler,
            &mut self.budget,
            info,
            state,
            seg,
            dir,
            ts,
        );
        if verdict == Verdict::Drop {
            return Some(Applied {
                verdict,
                done: None,
            });
        }
        account_flow(&mut self.handler, &mut self.footprints, state);
        let ended = match state.handler {
            Some(_) => state.streams.iter().all(HalfStream::is_ended),
            None => state.fin_seen.iter().all(|&f| f),
        };
        let done = if seg.flags.rst {
            Some(CloseReason::Rst)
        } else {
            ended.then_some(CloseReason::Fin)
        };
        Some(Applied { verdict, done })
    }

    /// The dissecting part of [`Core::segment`]: the ACK and data delivered
    /// to the flow's handler, RST, tick, overlap and cap reports (nothing for
    /// a flow without a handler).
    fn dissect_segment(
        handler: &mut H,
        budget: &mut Budget,
        info: &FlowInfo,
        state: &mut FlowState<H::Flow>,
        seg: &TcpSegment<'_>,
        dir: Direction,
        ts: f64,
    ) -> Verdict {
        let FlowState {
            handler: Some(handler_state),
            streams,
            caps_reported,
            ..
        } = state
        else {
            return Verdict::Continue;
        };
        let [up, down] = streams;
        let (this, other) = match dir {
            Direction::Up => (up, down),
            Direction::Down => (down, up),
        };
        let forced_before = budget.forced_gaps;
        let global_before = budget.global_cap_hits;
        let mut verdict = Verdict::Continue;
        if seg.flags.ack {
            verdict = other.acked(
                seg.ack,
                budget,
                &mut deliver(handler, handler_state, info, dir.reverse(), ts),
            );
        }
        if verdict == Verdict::Continue {
            let mut out = deliver(handler, handler_state, info, dir, ts);
            verdict = this.segment(
                seg.seq,
                seg.flags.syn,
                seg.flags.fin,
                seg.payload,
                budget,
                &mut out,
            );
        }
        if verdict == Verdict::Continue && seg.flags.rst {
            verdict = this.finish(budget, &mut deliver(handler, handler_state, info, dir, ts));
            if verdict == Verdict::Continue {
                verdict = other.finish(
                    budget,
                    &mut deliver(handler, handler_state, info, dir.reverse(), ts),
                );
            }
        }
        if verdict == Verdict::Continue {
            verdict = handler.tick(handler_state, info, ts);
        }
        let overlap = this.take_overlap();
        let forced_cap = (budget.forced_gaps > forced_before).then_some(
            if budget.global_cap_hits > global_before {
                (OOO_TOTAL, "max-ooo-total", budget.limits.total)
            } else {
                (OOO_PER_FLOW, "max-ooo-per-flow", budget.limits.per_stream)
            },
        );
        let bit = |cap: u8| 1u8 << (2 * cap + dir.index() as u8);
        let unreported = forced_cap.filter(|(cap, _, _)| *caps_reported & bit(*cap) == 0);
        if verdict == Verdict::Continue && (overlap.is_some() || unreported.is_some()) {
            if let Some(inspect) = handler.inspect(handler_state) {
                if let Some(overlap) = overlap {
                    inspect
                        .sink
                        .overlap(info, dir, ts, overlap.offset, overlap.len);
                }
                if let Some((cap, name, limit)) = unreported {
                    *caps_reported |= bit(cap);
                    let hit = CapHit {
                        cap: name,
                        limit: limit as u64,
                        action: "hole given up (gap)",
                    };
                    inspect.sink.cap(info, dir, ts, &hit);
                }
            }
        }
        verdict
    }

    /// Frees a flow: pending bytes are delivered with gaps, each direction
    /// ends, then the handler's `close`. A drop verdict on the way drops it.
    /// Returns the reason it was closed for in the end.
    fn close(&mut self, key: &FlowKey, reason: CloseReason, ts: f64) -> CloseReason {
        let Some(mut flow) = self.table.remove(key) else {
            return reason;
        };
        let mut reason = reason;
        if let Some(handler_state) = flow.state.handler.as_mut() {
            let [up, down] = &mut flow.state.streams;
            for (dir, stream) in [(Direction::Up, up), (Direction::Down, down)] {
                let mut out = deliver(&mut self.handler, handler_state, &flow.info, dir, ts);
                if stream.finish(&mut self.budget, &mut out) == Verdict::Drop {
                    reason = CloseReason::Dropped;
                    break;
                }
            }
        }
        if reason == CloseReason::Dropped {
            for stream in &mut flow.state.streams {
                stream.release(&mut self.budget);
            }
            self.stats.dropped_flows += 1;
            self.tombstones.insert(*key, Tombstone::Dropped);
        }
        if reason == CloseReason::Idle {
            self.stats.idle_closed += 1;
        }
        self.retire(flow, reason, ts);
        reason
    }

    /// Drops a flow after a drop verdict: nothing more is delivered.
    fn drop_flow(&mut self, key: &FlowKey, ts: f64) {
        let Some(mut flow) = self.table.remove(key) else {
            return;
        };
        for stream in &mut flow.state.streams {
            stream.release(&mut self.budget);
        }
        self.stats.dropped_flows += 1;
        self.tombstones.insert(*key, Tombstone::Dropped);
        self.retire(flow, CloseReason::Dropped, ts);
    }

    /// Adds a freed flow's counters to the totals and calls `close`.
    fn retire(&mut self, flow: Flow<FlowState<H::Flow>>, reason: CloseReason, ts: f64) {
        self.footprints = self.footprints.saturating_sub(flow.state.footprint);
        let [up, down] = &flow.state.streams;
        let streams = [*up.stats(), *down.stats()];
        for s in &streams {
            self.stats.gaps += s.gaps;
            self.stats.gap_bytes += s.gap_bytes;
            self.stats.overlaps += s.overlaps;
            self.stats.retransmitted_bytes += s.retransmitted_bytes;
        }
        self.stats.forced_gaps = self.budget.forced_gaps;
        let end = FlowEnd {
            reason,
            first_seen: flow.first_seen,
            last_seen: flow.last_seen,
            packets: flow.packets,
            streams,
        };
        if let Some(handler_state) = flow.state.handler {
            self.handler.close(handler_state, &flow.info, ts, &end);
        }
    }

    /// At most once per second of capture time: closes idle flows and ticks
    /// the others.
    fn sweep(&mut self, now: f64) {
        if !self.clock.due(now) {
            return;
        }
        for key in self.table.idle(now) {
            self.close(&key, CloseReason::Idle, now);
        }
        let mut dropped = Vec::new();
        let handler = &mut self.handler;
        for (key, flow) in self.table.iter_mut() {
            if let Some(handler_state) = flow.state.handler.as_mut() {
                if handler.tick(handler_state, &flow.info, now) == Verdict::Drop {
                    dropped.push((flow.info.id, *key));
                }
            }
        }
        dropped.sort_unstable();
        for (_, key) in dropped {
            self.drop_flow(&key, now);
        }
        for key in self.udp.idle(now) {
            self.close_udp(&key, CloseReason::Idle, now);
        }
        let mut dropped = Vec::new();
        let handler = &mut self.handler;
        for (key, flow) in self.udp.iter_mut() {
            if handler.tick(&mut flow.state.handler, &flow.info, now) == Verdict::Drop {
                dropped.push((flow.info.id, *key));
            }
        }
        dropped.sort_unstable();
        for (_, key) in dropped {
            self.drop_udp(&key, now);
        }
    }
}
