//! Test and benchmark tools for sluice: the fixture format for recorded
//! protocol exchanges, a recording proxy, a replay broker, and a reader for
//! packet captures of Kafka traffic.

pub mod fixture;
pub mod pcap;
