//! The flow table: TCP connections by their 4-tuple.
//!
//! One job: find the connection a segment belongs to, whichever way it goes,
//! and remember who started it. A connection is keyed by its two endpoints in
//! a normalised order (so both directions find the same entry); its
//! [`FlowInfo`] names the initiator `src` (the client) and the responder
//! `dst`, and ids are handed out 1, 2, 3... in order of first packet.
//!
//! Who is the client ([`initiator`]): the sender of a SYN without ACK; the
//! receiver of a SYN+ACK; otherwise (the capture starts mid-stream) a guess:
//! the side with the lower port is the server, and on equal ports the sender
//! of the first packet seen is the client.
//!
//! Invariants:
//! - at most [`FlowLimits::max_flows`] entries: the caller makes room (with
//!   [`FlowTable::oldest`]) before inserting into a full table;
//! - ids are unique within one table and increase with insertion order: 1,
//!   2, 3... or, for shard `i` of `n` ([`FlowTable::with_ids`]), `i + 1`,
//!   `i + 1 + n`, ... so that the shards of one run never share an id;
//! - [`shard_of`] is a function of the connection alone (both directions,
//!   every run, every machine): it is what splits flows over threads.
//! - [`Tombstones`] holds at most its capacity of recently closed or dropped
//!   tuples, oldest forgotten first.

use std::collections::hash_map::Entry;
use std::collections::VecDeque;
use std::net::SocketAddr;

use rustc_hash::FxHashMap;

use crate::decode::TcpFlags;
use crate::dissector::{Direction, FlowInfo};

/// A connection's two endpoints in a canonical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    low: SocketAddr,
    high: SocketAddr,
}

/// Hashes each endpoint as one or two words (address and port packed), not
/// field by field: the flow table hashes a key several times per packet.
/// Keys that are equal hash equally (an IPv6 endpoint's flow label and
/// scope, which equality also compares, are merely left out).
impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for endpoint in [self.low, self.high] {
            match endpoint {
                SocketAddr::V4(v4) => {
                    state.write_u64((u64::from(u32::from(*v4.ip())) << 16) | u64::from(v4.port()));
                }
                SocketAddr::V6(v6) => {
                    state.write_u128(u128::from(*v6.ip()));
                    state.write_u16(v6.port());
                }
            }
        }
    }
}

impl FlowKey {
    /// The same key for `(a, b)` and `(b, a)`.
    pub fn new(a: SocketAddr, b: SocketAddr) -> FlowKey {
        if a <= b {
            FlowKey { low: a, high: b }
        } else {
            FlowKey { low: b, high: a }
        }
    }

    /// Which of `count` shards the connection belongs to ([`shard_of`]).
    pub fn shard(&self, count: usize) -> usize {
        shard_of(self.low, self.high, count)
    }
}

/// Which of `count` shards the connection between `a` and `b` belongs to: a
/// symmetric hash of its 4-tuple (the same for `(a, b)` and `(b, a)`), the
/// same in every run, spread evenly over `0..count` ([`ShardKey`]).
pub fn shard_of(a: SocketAddr, b: SocketAddr, count: usize) -> usize {
    ShardKey::of(a, b).shard(count)
}

/// A connection's 4-tuple folded into one word, the same whichever way round:
/// what [`shard_of`] hashes. Cheap enough to make for every packet, from
/// addresses ([`ShardKey::of`]) or from a frame's bytes
/// ([`crate::decode::tcp_shard_key`]): each endpoint is a word, and the key
/// is their sum (addition does not care about the order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardKey(u64);

impl ShardKey {
    pub fn of(a: SocketAddr, b: SocketAddr) -> ShardKey {
        ShardKey(endpoint_word(a).wrapping_add(endpoint_word(b)))
    }

    /// The key of an IPv4 connection, from its two addresses and ports (as
    /// read from the wire, big-endian).
    #[inline]
    pub fn v4(a_ip: u32, a_port: u16, b_ip: u32, b_port: u16) -> ShardKey {
        ShardKey(v4_word(a_ip, a_port).wrapping_add(v4_word(b_ip, b_port)))
    }

    /// Which of `count` shards the connection belongs to.
    #[inline]
    pub fn shard(self, count: usize) -> usize {
        // The high bits of the mixed key, scaled to the range (no modulo
        // bias, no division).
        ((u128::from(mix(self.0)) * count.max(1) as u128) >> 64) as usize
    }
}

/// One endpoint as a word: an IPv4 one as it is (address and port side by
/// side), an IPv6 one folded.
fn endpoint_word(endpoint: SocketAddr) -> u64 {
    match endpoint {
        SocketAddr::V4(v4) => v4_word(u32::from(*v4.ip()), v4.port()),
        SocketAddr::V6(v6) => {
            let ip = u128::from(*v6.ip());
            mix(ip as u64) ^ ((ip >> 64) as u64) ^ (u64::from(v6.port()) << 48)
        }
    }
}

#[inline]
fn v4_word(ip: u32, port: u16) -> u64 {
    (u64::from(ip) << 16) | u64::from(port)
}

/// SplitMix64's finaliser: every input bit moves every output bit.
#[inline]
fn mix(mut h: u64) -> u64 {
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Decides which endpoint of a new connection is the client, from its first
/// packet (sent by `src` to `dst`). Returns `(client, server)`.
pub fn initiator(src: SocketAddr, dst: SocketAddr, flags: TcpFlags) -> (SocketAddr, SocketAddr) {
    if flags.syn && !flags.ack {
        return (src, dst);
    }
    if flags.syn && flags.ack {
        return (dst, src);
    }
    if dst.port() < src.port() {
        (src, dst)
    } else if src.port() < dst.port() {
        (dst, src)
    } else {
        (src, dst)
    }
}

/// Caps and timeouts of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowLimits {
    /// Seconds of capture time without a packet after which a flow is closed.
    pub idle_timeout: f64,
    /// Flows tracked at once; beyond, the longest idle ones are evicted.
    /// Default 131,072 (the engine's memory cap usually binds first: a flow
    /// with a dissector costs a few KiB).
    pub max_flows: usize,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            idle_timeout: 300.0,
            max_flows: 1 << 17,
        }
    }
}

/// One tracked connection with the caller's state `T`.
#[derive(Debug)]
pub struct Flow<T> {
    pub info: FlowInfo,
    pub first_seen: f64,
    pub last_seen: f64,
    /// Packets seen, by [`Direction::index`].
    pub packets: [u64; 2],
    pub state: T,
}

impl<T> Flow<T> {
    /// The direction of a packet sent by `src`.
    pub fn direction_of(&self, src: SocketAddr) -> Direction {
        if src == self.info.src {
            Direction::Up
        } else {
            Direction::Down
        }
    }
}

/// The table of live flows.
#[derive(Debug)]
pub struct FlowTable<T> {
    flows: FxHashMap<FlowKey, Flow<T>>,
    next_id: u64,
    /// What ids count up by (the number of shards).
    id_step: u64,
    limits: FlowLimits,
}

impl<T> FlowTable<T> {
    pub fn new(limits: FlowLimits) -> FlowTable<T> {
        FlowTable::with_ids(limits, 1, 1)
    }

    /// A table whose ids are `first`, `first + step`, `first + 2 * step`...
    pub fn with_ids(limits: FlowLimits, first: u64, step: u64) -> FlowTable<T> {
        FlowTable {
            flows: FxHashMap::default(),
            next_id: first,
            id_step: step.max(1),
            limits,
        }
    }

    pub fn limits(&self) -> &FlowLimits {
        &self.limits
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.flows.len() >= self.limits.max_flows.max(1)
    }

    pub fn get_mut(&mut self, key: &FlowKey) -> Option<&mut Flow<T>> {
        self.flows.get_mut(key)
    }

    /// The id the next inserted flow will get.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Takes the next id for a flow kept elsewhere (a UDP flow), so that
    /// ids stay unique across both tables.
    pub fn allocate_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += self.id_step;
        id
    }

    /// Adds a flow (the caller made room if the table was full) and gives it
    /// the next id.
    pub fn insert(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        ts: f64,
        state: T,
    ) -> &mut Flow<T> {
        let info = FlowInfo {
            id: self.next_id,
            src: client,
            dst: server,
        };
        self.next_id += self.id_step;
        self.insert_with_id(info, ts, state)
    }

    /// Adds a flow whose id was taken from another table (a UDP flow's, from
    /// the TCP table: see [`FlowTable::allocate_id`]).
    pub fn insert_with_id(&mut self, info: FlowInfo, ts: f64, state: T) -> &mut Flow<T> {
        let key = FlowKey::new(info.src, info.dst);
        let flow = Flow {
            info,
            first_seen: ts,
            last_seen: ts,
            packets: [0, 0],
            state,
        };
        match self.flows.entry(key) {
            Entry::Occupied(mut slot) => {
                slot.insert(flow);
                slot.into_mut()
            }
            Entry::Vacant(slot) => slot.insert(flow),
        }
    }

    pub fn remove(&mut self, key: &FlowKey) -> Option<Flow<T>> {
        self.flows.remove(key)
    }

    /// Every key, in order of flow id.
    pub fn keys_by_id(&self) -> Vec<FlowKey> {
        let mut keys: Vec<(u64, FlowKey)> =
            self.flows.iter().map(|(k, f)| (f.info.id, *k)).collect();
        keys.sort_unstable();
        keys.into_iter().map(|(_, k)| k).collect()
    }

    /// Flows without a packet for longer than the idle timeout at `now`, by id.
    pub fn idle(&self, now: f64) -> Vec<FlowKey> {
        let timeout = self.limits.idle_timeout;
        let mut keys: Vec<(u64, FlowKey)> = self
            .flows
            .iter()
            .filter(|(_, f)| now - f.last_seen > timeout)
            .map(|(k, f)| (f.info.id, *k))
            .collect();
        keys.sort_unstable();
        keys.into_iter().map(|(_, k)| k).collect()
    }

    /// The `count` flows idle the longest (ties: lowest id first), oldest first.
    pub fn oldest(&self, count: usize) -> Vec<FlowKey> {
        let mut all: Vec<(f64, u64, FlowKey)> = self
            .flows
            .iter()
            .map(|(k, f)| (f.last_seen, f.info.id, *k))
            .collect();
        let by_age = |a: &(f64, u64, FlowKey), b: &(f64, u64, FlowKey)| {
            a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
        };
        let count = count.min(all.len());
        if count == 0 {
            return Vec::new();
        }
        if count < all.len() {
            all.select_nth_unstable_by(count - 1, by_age);
            all.truncate(count);
        }
        all.sort_unstable_by(by_age);
        all.into_iter().map(|(_, _, k)| k).collect()
    }

    /// Every flow, for inspection.
    pub fn iter(&self) -> impl Iterator<Item = &Flow<T>> {
        self.flows.values()
    }

    /// Every flow, mutably (in no particular order).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&FlowKey, &mut Flow<T>)> {
        self.flows.iter_mut()
    }
}

/// Why a tuple is remembered after its flow was freed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tombstone {
    /// Dropped by a verdict: every later packet is dropped too.
    Dropped,
    /// Closed by FIN or RST at this capture time: stray packets (the last
    /// ACK, retransmissions) are ignored rather than opening a new flow.
    Closed { at: f64 },
}

/// Recently closed or dropped tuples, capped, oldest forgotten first.
#[derive(Debug)]
pub struct Tombstones {
    entries: FxHashMap<FlowKey, (Tombstone, u64)>,
    /// Insertion order with a generation, so a re-inserted key is not
    /// forgotten early by its older queue entry.
    order: VecDeque<(FlowKey, u64)>,
    generation: u64,
    capacity: usize,
}

impl Tombstones {
    pub fn new(capacity: usize) -> Tombstones {
        Tombstones {
            entries: FxHashMap::default(),
            order: VecDeque::new(),
            generation: 0,
            capacity,
        }
    }

    pub fn get(&self, key: &FlowKey) -> Option<Tombstone> {
        self.entries.get(key).map(|(t, _)| *t)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn insert(&mut self, key: FlowKey, tombstone: Tombstone) {
        if self.capacity == 0 {
            return;
        }
        self.generation += 1;
        self.entries.insert(key, (tombstone, self.generation));
        self.order.push_back((key, self.generation));
        while self.entries.len() > self.capacity || self.order.len() > 2 * self.capacity {
            let Some((old, generation)) = self.order.pop_front() else {
                break;
            };
            if self
                .entries
                .get(&old)
                .is_some_and(|(_, g)| *g == generation)
            {
                self.entries.remove(&old);
            }
        }
    }

    pub fn remove(&mut self, key: &FlowKey) {
        self.entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn shards_are_symmetric_and_spread() {
        let server = addr("10.0.0.2:25");
        let mut counts = [0usize; 4];
        for port in 40000u16..44000 {
            let client = SocketAddr::new("10.0.0.1".parse().unwrap(), port);
            let shard = FlowKey::new(client, server).shard(4);
            assert_eq!(FlowKey::new(server, client).shard(4), shard);
            counts[shard] += 1;
        }
        // 4000 flows over 4 shards: each within 10% of its fair 1000.
        assert!(
            counts.iter().all(|&c| (900..=1100).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(FlowKey::new(server, server).shard(1), 0);
    }

    #[test]
    fn shard_keys_from_bytes_are_the_keys_of_the_addresses() {
        let (a_ip, b_ip) = (0x0a00_0001u32, 0xc0a8_0102u32);
        let key = ShardKey::v4(a_ip, 40000, b_ip, 25);
        let a = SocketAddr::new(std::net::Ipv4Addr::from(a_ip).into(), 40000);
        let b = SocketAddr::new(std::net::Ipv4Addr::from(b_ip).into(), 25);
        assert_eq!(key, ShardKey::of(a, b));
        assert_eq!(key, ShardKey::v4(b_ip, 25, a_ip, 40000));
        assert_eq!(key.shard(3), shard_of(b, a, 3));
        // Clients that differ only in their address spread too.
        let mut counts = [0usize; 2];
        for host in 1u32..=2000 {
            counts[ShardKey::v4(0x0a00_0000 | host, 40000, b_ip, 25).shard(2)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (900..=1100).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn sharded_tables_hand_out_disjoint_ids() {
        let mut table: FlowTable<()> = FlowTable::with_ids(FlowLimits::default(), 2, 3);
        let ids: Vec<u64> = (0..3u16)
            .map(|p| {
                let client = SocketAddr::new("10.0.0.1".parse().unwrap(), 1000 + p);
                table.insert(client, addr("10.0.0.2:25"), 0.0, ()).info.id
            })
            .collect();
        assert_eq!(ids, [2, 5, 8]);
        // Ids taken for flows kept elsewhere (UDP) follow the same sequence.
        assert_eq!([table.allocate_id(), table.allocate_id()], [11, 14]);
    }

    #[test]
    fn keys_are_symmetric() {
        let a = addr("10.0.0.1:1234");
        let b = addr("10.0.0.2:25");
        assert_eq!(FlowKey::new(a, b), FlowKey::new(b, a));
        assert_ne!(FlowKey::new(a, b), FlowKey::new(a, addr("10.0.0.2:26")));
    }

    #[test]
    fn initiator_follows_syn_then_ports() {
        let c = addr("10.0.0.1:41155");
        let s = addr("10.0.0.2:25");
        let syn = TcpFlags {
            syn: true,
            ..TcpFlags::default()
        };
        let synack = TcpFlags {
            syn: true,
            ack: true,
            ..TcpFlags::default()
        };
        let ack = TcpFlags {
            ack: true,
            ..TcpFlags::default()
        };
        assert_eq!(initiator(c, s, syn), (c, s));
        assert_eq!(initiator(s, c, synack), (c, s));
        // Mid-stream: the lower port is the server, whoever speaks first.
        assert_eq!(initiator(s, c, ack), (c, s));
        assert_eq!(initiator(c, s, ack), (c, s));
        // Equal ports: the first sender is the client.
        let x = addr("10.0.0.1:5000");
        let y = addr("10.0.0.2:5000");
        assert_eq!(initiator(y, x, ack), (y, x));
    }

    #[test]
    fn ids_follow_insertion_and_oldest_finds_the_idlest() {
        let mut table: FlowTable<()> = FlowTable::new(FlowLimits {
            idle_timeout: 10.0,
            max_flows: 3,
        });
        for (i, port) in [1000u16, 1001, 1002].iter().enumerate() {
            let client = SocketAddr::new("10.0.0.1".parse().unwrap(), *port);
            let flow = table.insert(client, addr("10.0.0.2:25"), i as f64, ());
            assert_eq!(flow.info.id, i as u64 + 1);
        }
        assert!(table.is_full());
        let first = FlowKey::new(addr("10.0.0.1:1000"), addr("10.0.0.2:25"));
        if let Some(flow) = table.get_mut(&first) {
            flow.last_seen = 50.0;
        }
        let oldest = table.oldest(1);
        assert_eq!(
            oldest,
            vec![FlowKey::new(addr("10.0.0.1:1001"), addr("10.0.0.2:25"))]
        );
        assert_eq!(table.idle(55.0).len(), 2);
    }

    #[test]
    fn tombstones_are_capped_oldest_first() {
        let mut tombs = Tombstones::new(2);
        let keys: Vec<FlowKey> = (0..3u16)
            .map(|p| {
                FlowKey::new(
                    SocketAddr::new("10.0.0.1".parse().unwrap(), p),
                    addr("10.0.0.2:25"),
                )
            })
            .collect();
        for key in &keys {
            tombs.insert(*key, Tombstone::Dropped);
        }
        assert_eq!(tombs.len(), 2);
        assert_eq!(tombs.get(&keys[0]), None);
        assert_eq!(tombs.get(&keys[2]), Some(Tombstone::Dropped));
    }
}
