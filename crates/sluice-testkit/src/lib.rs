//! Test and benchmark tools for sluice: the fixture format for recorded
//! protocol exchanges, a recording proxy, a replay broker, a reader for
//! packet captures of Kafka traffic, and a fault-injecting proxy
//! ([`fault_proxy`]: cuts connections after N bytes either way, adds
//! latency, swallows new connections, stalls a direction) for testing how
//! clients survive a bad network.
//!
//! ```
//! use sluice_testkit::fixture::{Fixture, FORMAT};
//! use sluice_testkit::replay::ReplayBroker;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let empty = Fixture { format: FORMAT, client: "none".into(), broker: "none".into(), description: String::new(), exchanges: vec![] };
//! let broker = ReplayBroker::start(empty).await.unwrap();
//! // It answers ApiVersions itself, so a connection can be made to it.
//! let conn = sluice_wire::connection::Connection::connect(&broker.addr(), Default::default()).await.unwrap();
//! assert!(conn.versions().broker_range(sluice_wire::kafka_protocol::messages::ApiKey::ApiVersions).is_some());
//! # }
//! ```

pub mod bench_broker;
pub mod fault_proxy;
pub mod fixture;
pub mod pcap;
pub mod proxy;
pub mod replay;
pub mod rewrite;
