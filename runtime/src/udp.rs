//! UDP datagram flows: the datagrams two endpoints exchange, as one flow.
//!
//! One job: say who the client of a UDP flow is, and how long and how many
//! UDP flows are tracked. UDP has no connection: a flow starts with the
//! first datagram a handler wants dissected and ends when it stays idle for
//! `idle_timeout` seconds of capture time, when the table is
//! full and it is the idlest, when it is dropped, or at the end of the
//! capture. Each datagram is one message for the flow's dissector.
//!
//! Who is the client ([`datagram_initiator`]): the sender of the first
//! datagram, unless it comes from a well-known port (below 1024) to a port
//! that is not (a reply whose request was not captured).
//!
//! The flows themselves live in a [`crate::flow::FlowTable`] of their own
//! (the engine's), with [`DEFAULT_UDP_LIMITS`] unless configured: its keys
//! are symmetric, so both directions find a flow; its ids are taken from
//! the TCP table ([`crate::flow::FlowTable::allocate_id`]), so they are
//! unique within a run.

use std::net::SocketAddr;

use crate::flow::FlowLimits;

/// The default caps and timeout of the UDP flow table: a flow ends after 60
/// seconds of capture time without a datagram; at most 65,536 at once.
pub const DEFAULT_UDP_LIMITS: FlowLimits = FlowLimits {
    idle_timeout: 60.0,
    max_flows: 1 << 16,
};

/// Decides which endpoint of a new UDP flow is the client, from its first
/// datagram (sent by `src` to `dst`). Returns `(client, server)`.
pub fn datagram_initiator(src: SocketAddr, dst: SocketAddr) -> (SocketAddr, SocketAddr) {
    if src.port() < 1024 && dst.port() >= 1024 {
        (dst, src)
    } else {
        (src, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissector::Direction;
    use crate::flow::{FlowKey, FlowTable};

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn info(id: u64, client: &str, server: &str) -> crate::dissector::FlowInfo {
        crate::dissector::FlowInfo {
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
        let mut flows: FlowTable<u32> = FlowTable::new(FlowLimits {
            idle_timeout: 10.0,
            max_flows: 2,
        });
        flows.insert_with_id(info(7, "10.0.0.1:4000", "10.0.0.2:53"), 1.0, 0);
        flows.insert_with_id(info(3, "10.0.0.1:4001", "10.0.0.2:53"), 2.0, 0);
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
