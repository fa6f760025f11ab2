//! sluice against krafka's fake Kafka cluster (krafka::testing::FakeBroker):
//! three brokers in this process on real loopback sockets, so these tests need
//! no external broker. The basics (consume, produce, commit, lag, the CLI) and
//! fault scenarios (leaders moving, brokers crashing, coordinator moves,
//! injected error codes, topology changes, throttling).

#[path = "fake_cluster/harness.rs"]
mod harness;

#[path = "fake_cluster/basics.rs"]
mod basics;

#[path = "fake_cluster/cli.rs"]
mod cli;

#[path = "fake_cluster/leaders.rs"]
mod leaders;

#[path = "fake_cluster/coordinator.rs"]
mod coordinator;

#[path = "fake_cluster/fetch_errors.rs"]
mod fetch_errors;

#[path = "fake_cluster/topology.rs"]
mod topology;

#[path = "fake_cluster/transactions.rs"]
mod transactions;

#[path = "fake_cluster/producer_transactions.rs"]
mod producer_transactions;

#[path = "fake_cluster/bootstrap.rs"]
mod bootstrap;

#[path = "fake_cluster/sasl.rs"]
mod sasl;

#[path = "fake_cluster/kip848.rs"]
mod kip848;

#[path = "fake_cluster/exactly_once.rs"]
mod exactly_once;

#[path = "fake_cluster/exactly_once_bench.rs"]
mod exactly_once_bench;

#[path = "fake_cluster/exactly_once_tv2.rs"]
mod exactly_once_tv2;

#[path = "fake_cluster/kip848_describe.rs"]
mod kip848_describe;

#[path = "fake_cluster/kip848_fencing.rs"]
mod kip848_fencing;

#[path = "fake_cluster/kip848_mixed.rs"]
mod kip848_mixed;
