//! librdkafka's mock cluster as a process, for scripts (scripts/bench/rejoin.py
//! `--pause`): starts a 3-broker cluster, prints its bootstrap servers on
//! one line and serves until stdin closes; a line `topic NAME PARTITIONS`
//! on stdin creates a topic (the mock has no controller for CreateTopics)
//! and is answered `created NAME`. Its API versions are capped as
//! the suite's (tests/mock_cluster/cluster.rs): the mock advertises JoinGroup
//! v6, SyncGroup v4 and LeaveGroup v3+ but cannot parse them.

use std::io::{BufRead, Write};

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::RDKafkaApiKey;

fn main() {
    let cluster: MockCluster<'static, DefaultProducerContext> =
        MockCluster::new(3).expect("mock cluster");
    for (api, max) in [
        (RDKafkaApiKey::JoinGroup, 5),
        (RDKafkaApiKey::SyncGroup, 3),
        (RDKafkaApiKey::LeaveGroup, 2),
    ] {
        cluster
            .apiversion(api, Some(0), Some(max))
            .expect("set the mock's API versions");
    }
    let mut out = std::io::stdout();
    writeln!(out, "{}", cluster.bootstrap_servers()).expect("stdout");
    out.flush().expect("stdout");
    // Serve until whoever started us closes our stdin.
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["topic", name, partitions] = words[..] {
            let partitions: i32 = partitions.parse().expect("a partition count");
            cluster
                .create_topic(name, partitions, 3)
                .expect("create topic");
            writeln!(out, "created {name}").expect("stdout");
            out.flush().expect("stdout");
        }
    }
}
