//! UDP datagram flows: the datagrams two endpoints exchange, as one flow.
//!
//! One job: find the flow a datagram belongs to, whichever way it goes, and
//! remember who spoke first. UDP has no connection: a flow starts with the
//! first datagram a handler wants dissected and ends when it stays idle for
//! [`UdpLimits::idle_timeout`] seconds of capture time, when the table is
//! full and it is the idlest, when it is dropped, or at the end of the
//! capture. Each datagram is one message for the flow's dissector.
//!
//! Who is the client ([`datagram_initiator`]): the sender of the first
//! datagram, unless it comes from a well-known port (below 1024) to a port
//! that is not (a reply whose request was not captured).
//!
//! Invariants:
//! - at most [`UdpLimits::max_flows`] flows: the caller makes room (with
//!   [`UdpFlows::oldest`]) before inserting into a full table;
//! - flow ids come from the caller (the engine shares one id sequence
//!   between TCP and UDP flows), so they are unique within a run;
//! - a flow's key is symmetric: both directions find it.

use std::collections::hash_map::Entry;
use std::net::SocketAddr;

use rustc_hash::FxHashMap;

use crate::dissector::{Direction, FlowInfo};
use crate::flow::FlowKey;

/// Caps and timeouts of the UDP flow table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UdpLimits {
    /// Seconds of capture time without a datagram after which a flow ends.
    pub idle_timeout: f64,
    /// Flows tracked at once; beyond, the longest idle ones end.
    pub max_flows: usize,
}

impl Default for UdpLimits {
    fn default() -> Self {
        UdpLimits {
            idle_timeout: 60.0,
            max_flows: 1 << 18,
        }
    }
}

/// One UDP flow with the caller's state `T`.
#[derive(Debug)]
pub struct UdpFlow<T> {
    pub info: FlowInfo,
    pub first_seen: f64,
    pub last_seen: f64,
    /// Datagrams seen, by [`Direction::index`].
    pub packets: [u64; 2],
    pub state: T,
}

impl<T> UdpFlow<T> {
    /// The direction of a datagram sent by `src`.
    pub fn direction_of(&self, src: SocketAddr) -> Direction {
        if src == self.info.src {
            Direction::Up
        } else {
            Direction::Down
        }
    }
}

/// Decides which endpoint of a new UDP flow is the client, from its first
/// datagram (sent by `src` to `dst`). Returns `(client, server)`.
pub fn datagram_initiator(src: SocketAddr, dst: SocketAddr) -> (SocketAddr, SocketAddr) {
    if src.port() < 1024 && dst.port() >= 1024 {
        (dst, src)
    } else {
        (src, dst)
    }
}

/// The table of live UDP flows.
#[derive(Debug)]
pub struct UdpFlows<T> {
    flows: FxHashMap<FlowKey, UdpFlow<T>>,
    limits: UdpLimits,
}

impl<T> UdpFlows<T> {
    pub fn new(limits: UdpLimits) -> UdpFlows<T> {
        UdpFlows {
            flows: FxHashMap::default(),
            limits,
        }
    }

    pub fn limits(&self) -> &UdpLimits {
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

    pub fn get_mut(&mut self, key: &FlowKey) -> Option<&mut UdpFlow<T>> {
        self.flows.get_mut(key)
    }

    /// Adds a flow whose first datagram came at `ts` (the caller made room).
    pub fn insert(&mut self, info: FlowInfo, ts: f64, state: T) -> &mut UdpFlow<T> {
        let key = FlowKey::new(info.src, info.dst);
        let flow = UdpFlow {
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

    pub fn remove(&mut self, key: &FlowKey) -> Option<UdpFlow<T>> {
        self.flows.remove(key)
    }

    /// Every key, in order of flow id.
    pub fn keys_by_id(&self) -> Vec<FlowKey> {
        let mut keys: Vec<(u64, FlowKey)> =
            self.flows.iter().map(|(k, f)| (f.info.id, *k)).collect();
        keys.sort_unstable();
        keys.into_iter().map(|(_, k)| k).collect()
    }

    /// Flows without a datagram for longer than the idle timeout at `now`, by id.
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
        all.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        all.truncate(count);
        all.into_iter().map(|(_, _, k)| k).collect()
    }

    /// Every flow, mutably (in no particular order).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&FlowKey, &mut UdpFlow<T>)> {
        self.flows.iter_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn info(id: u64, client: &str, server: &str) -> FlowInfo {
        FlowInfo {
            id,
            src: addr(client),
            dst: addr(server),
        }
    }

    #[test]
    fn the_first_sender_is_the_client_unless_it_answers_from_a_service_port() {
        let client = addr("10.0.0.1:40000");
        let server = addr("10.0.0.2:53");
        assert_eq!(datagram_initiator(client, server), (client, server));
        assert_eq!(datagram_initiator(server, client), (client, server));
        let a = addr("10.0.0.1:5353");
        let b = addr("10.0.0.2:5353");
        assert_eq!(datagram_initiator(b, a), (b, a));
    }

    #[test]
    fn both_directions_find_the_flow_and_idle_ones_are_listed_by_id() {
        let mut flows: UdpFlows<u32> = UdpFlows::new(UdpLimits {
            idle_timeout: 10.0,
            max_flows: 2,
        });
        flows.insert(info(7, "10.0.0.1:4000", "10.0.0.2:53"), 1.0, 0);
        flows.insert(info(3, "10.0.0.1:4001", "10.0.0.2:53"), 2.0, 0);
        assert!(flows.is_full());
        let reverse = FlowKey::new(addr("10.0.0.2:53"), addr("10.0.0.1:4000"));
        let flow = flows
            .get_mut(&reverse)
            .map(|f| (f.info.id, f.direction_of(addr("10.0.0.2:53"))));
        assert_eq!(flow, Some((7, Direction::Down)));
        assert_eq!(flows.idle(11.5).len(), 1, "only the first is idle for 10 s");
        assert_eq!(
            flows.keys_by_id().first(),
            Some(&FlowKey::new(addr("10.0.0.1:4001"), addr("10.0.0.2:53")))
        );
        assert_eq!(
            flows.oldest(1),
            vec![FlowKey::new(addr("10.0.0.1:4000"), addr("10.0.0.2:53"))]
        );
        assert!(flows.remove(&reverse).is_some());
        assert_eq!(flows.len(), 1);
    }
}
