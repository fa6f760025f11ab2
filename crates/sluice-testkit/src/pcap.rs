//! Reading packet captures (pcap and pcapng) of Kafka traffic back into the
//! byte streams each TCP connection carried, one per direction, reassembled
//! by sequence number.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};

/// One TCP connection's two byte streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConversation {
    /// The side that opened the connection (sent SYN), or else sent first.
    pub client: SocketAddr,
    /// The other side.
    pub server: SocketAddr,
    /// What the client sent, in order.
    pub client_bytes: Vec<u8>,
    /// What the server sent, in order.
    pub server_bytes: Vec<u8>,
}

/// Why a capture could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// The file is not a pcap or pcapng capture.
    #[error("not a capture: {0}")]
    Format(String),
    /// A direction's segments leave a gap.
    #[error("gap in the {direction} stream of {client} -> {server}")]
    Gap {
        /// `client` or `server`.
        direction: &'static str,
        /// The connection's client.
        client: SocketAddr,
        /// The connection's server.
        server: SocketAddr,
    },
}

#[derive(Default)]
struct Direction {
    isn: Option<u32>,
    segments: BTreeMap<u32, Vec<u8>>,
}

impl Direction {
    fn add(&mut self, seq: u32, syn: bool, payload: &[u8]) {
        let isn = *self
            .isn
            .get_or_insert(if syn { seq.wrapping_add(1) } else { seq });
        if !payload.is_empty() {
            self.segments
                .entry(seq.wrapping_sub(isn))
                .or_insert_with(|| payload.to_vec());
        }
    }

    fn bytes(&self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        for (&at, data) in &self.segments {
            let at = at as usize;
            if at > out.len() {
                return None;
            }
            let skip = out.len() - at;
            if skip < data.len() {
                out.extend_from_slice(&data[skip..]);
            }
        }
        Some(out)
    }
}

struct Conn {
    client: SocketAddr,
    server: SocketAddr,
    up: Direction,
    down: Direction,
}

/// The link-layer frames of a pcap or pcapng file, with their link type.
fn frames(data: &[u8]) -> Result<Vec<(u32, Vec<u8>)>, PcapError> {
    let mut out = Vec::new();
    if data.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        let mut reader = PcapNgReader::new(data).map_err(|e| PcapError::Format(e.to_string()))?;
        let mut link_types = Vec::new();
        while let Some(block) = reader.next_block() {
            match block.map_err(|e| PcapError::Format(e.to_string()))? {
                Block::InterfaceDescription(i) => link_types.push(u32::from(i.linktype)),
                Block::EnhancedPacket(p) => {
                    let link = link_types
                        .get(p.interface_id as usize)
                        .copied()
                        .unwrap_or(1);
                    out.push((link, p.data.to_vec()));
                }
                Block::SimplePacket(p) => {
                    out.push((link_types.first().copied().unwrap_or(1), p.data.to_vec()))
                }
                _ => {}
            }
        }
    } else {
        let mut reader = PcapReader::new(data).map_err(|e| PcapError::Format(e.to_string()))?;
        let link = u32::from(reader.header().datalink);
        while let Some(packet) = reader.next_packet() {
            out.push((
                link,
                packet
                    .map_err(|e| PcapError::Format(e.to_string()))?
                    .data
                    .to_vec(),
            ));
        }
    }
    Ok(out)
}

/// Parses a frame of the given link type down to IP.
fn parse(link: u32, frame: &[u8]) -> Option<SlicedPacket<'_>> {
    match link {
        1 => SlicedPacket::from_ethernet(frame).ok(),
        // Linux cooked capture v1 (16-byte header) and v2 (20 bytes); BSD loopback (4 bytes).
        113 => SlicedPacket::from_ip(frame.get(16..)?).ok(),
        276 => SlicedPacket::from_ip(frame.get(20..)?).ok(),
        0 => SlicedPacket::from_ip(frame.get(4..)?).ok(),
        101 => SlicedPacket::from_ip(frame).ok(),
        _ => None,
    }
}

/// The TCP conversations in a capture, in the order they first appear.
pub fn conversations(data: &[u8]) -> Result<Vec<TcpConversation>, PcapError> {
    let mut conns: Vec<Conn> = Vec::new();
    for (link, frame) in frames(data)? {
        let Some(packet) = parse(link, &frame) else {
            continue;
        };
        let (src_ip, dst_ip): (IpAddr, IpAddr) = match &packet.net {
            Some(NetSlice::Ipv4(ip)) => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            Some(NetSlice::Ipv6(ip)) => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            _ => continue,
        };
        let Some(TransportSlice::Tcp(tcp)) = &packet.transport else {
            continue;
        };
        let src = SocketAddr::new(src_ip, tcp.source_port());
        let dst = SocketAddr::new(dst_ip, tcp.destination_port());
        let payload = tcp.payload();
        let index = conns.iter().position(|c| {
            (c.client == src && c.server == dst) || (c.client == dst && c.server == src)
        });
        let index = match index {
            Some(i) => i,
            None => {
                // The opener sends SYN without ACK; without a handshake, whoever speaks first.
                let (client, server) = if tcp.syn() && tcp.ack() {
                    (dst, src)
                } else {
                    (src, dst)
                };
                conns.push(Conn {
                    client,
                    server,
                    up: Direction::default(),
                    down: Direction::default(),
                });
                conns.len() - 1
            }
        };
        let conn = &mut conns[index];
        let dir = if src == conn.client {
            &mut conn.up
        } else {
            &mut conn.down
        };
        dir.add(tcp.sequence_number(), tcp.syn(), payload);
    }
    conns
        .into_iter()
        .filter(|c| !c.up.segments.is_empty() || !c.down.segments.is_empty())
        .map(|c| {
            let gap = |direction| PcapError::Gap {
                direction,
                client: c.client,
                server: c.server,
            };
            Ok(TcpConversation {
                client: c.client,
                server: c.server,
                client_bytes: c.up.bytes().ok_or_else(|| gap("client"))?,
                server_bytes: c.down.bytes().ok_or_else(|| gap("server"))?,
            })
        })
        .collect()
}
