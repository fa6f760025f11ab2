//! `sluice group list|describe|reset-offsets|delete` and `sluice topic
//! list|describe` against a real broker, running the built binary: a live
//! member is described and protects its group from resets and deletion;
//! every reset mode is checked by reading the committed offsets back.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sluice_fetch::{FetchConfig, TopicPartition};
use sluice_group::GroupConsumer;
use sluice_group::admin::{describe_group, view_group};
use sluice_group::{OffsetAndMetadata, Offsets};
use sluice_integration::{
    TempTopic, bootstrap, connect, member_configs, produce_to, sluice_bin, unique_name,
};
use tokio::time::Instant;

/// What a `sluice` run gave: exit code, stdout, stderr.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// stdout as one JSON document, after checking the run succeeded.
    fn json(&self) -> Value {
        assert_eq!(self.code, Some(0), "sluice failed: {}", self.stderr);
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    fn ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "sluice failed: {}", self.stderr);
        self
    }
}

/// Runs `sluice ARGS -b BOOTSTRAP` off the runtime's threads (a live group
/// member heartbeats on them meanwhile).
async fn sluice(args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new(sluice_bin());
    cmd.args(args).args(["-b", &bootstrap()]);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("sluice runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn pool() -> std::sync::Arc<sluice_fetch::pool::BrokerPool> {
    let config = FetchConfig::default()
        .with_pairs([("bootstrap.servers", bootstrap().as_str())])
        .unwrap();
    sluice_fetch::pool::BrokerPool::new(
        config.bootstrap_servers.clone(),
        config.connection_config(),
    )
}

/// The group's committed offsets of `topic`'s partitions `0..n`, read back
/// with the library (`None` where nothing is committed).
async fn committed(group: &str, topic: &str, n: i32) -> Vec<Option<i64>> {
    let tps: Vec<TopicPartition> = (0..n).map(|p| TopicPartition::new(topic, p)).collect();
    let view = view_group(&pool(), group, &tps).await.expect("view_group");
    tps.iter()
        .map(|tp| view.committed.get(tp).cloned().flatten().map(|o| o.offset))
        .collect()
}

/// `reset-offsets GROUP -t TOPIC EXTRA...`, which must succeed.
async fn reset(group: &str, topic: &str, extra: &[&str]) -> Value {
    let mut args = vec!["group", "reset-offsets", group, "-t", topic, "--json"];
    args.extend_from_slice(extra);
    sluice(&args).await.json()
}

fn groups_listed(doc: &Value) -> Vec<String> {
    doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap().to_string())
        .collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_is_described_protected_while_live_reset_and_deleted() {
    let conn = connect("group-tools").await;
    let topic = TempTopic::create(&conn, "group-tools", 2).await;
    let t = topic.name.as_str();
    produce_to(&bootstrap(), t, &[0, 1], 0, 5).await;
    let group = unique_name("group-tools");

    // A live member that commits 3 and 5.
    let (fetch, g) = member_configs(&bootstrap(), &group, "range");
    let mut member = GroupConsumer::new(fetch, g).await.expect("member");
    member.subscribe([t]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while member.assignment().len() < 2 {
        assert!(Instant::now() < deadline, "the member got no assignment");
        member.poll(Duration::from_millis(200)).await.expect("poll");
    }
    let commit = Offsets::from([
        (TopicPartition::new(t, 0), OffsetAndMetadata::new(3)),
        (TopicPartition::new(t, 1), OffsetAndMetadata::new(5)),
    ]);
    member.commit_offsets_sync(commit).await.expect("commit");
    let inside = member.metrics().await.expect("metrics");
    assert_eq!(inside.members.len(), 1);
    let member_id = inside.members[0].member_id.clone();

    // list shows it; describe shows the member and the exact offsets and lag.
    let listed = sluice(&["group", "list", "--json"]).await.json();
    assert!(groups_listed(&listed).contains(&group), "{listed}");
    let described = sluice(&["group", "describe", &group, "--json"])
        .await
        .json();
    let state = described["state"].as_str().unwrap().to_string();
    assert_eq!(state, "Stable", "{described}");
    let members = described["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{described}");
    assert_eq!(members[0]["member_id"], member_id.as_str());
    let reported: Vec<(String, i64)> = members[0]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["topic"].as_str().unwrap().into(),
                p["partition"].as_i64().unwrap(),
            )
        })
        .collect();
    if reported.is_empty() {
        // tansu 0.6 answers DescribeGroups without assignments (and without
        // client id, host and assignor); Kafka reports them.
        eprintln!("the broker reported no assignment for {member_id}");
    } else {
        assert_eq!(reported, vec![(t.to_string(), 0), (t.to_string(), 1)]);
        assert_eq!(described["partitions"][0]["owner"], member_id.as_str());
    }
    let rows: Vec<(i64, i64, i64)> = described["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["committed"].as_i64().unwrap(),
                r["high_watermark"].as_i64().unwrap(),
                r["lag"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, vec![(3, 5, 2), (5, 5, 0)], "{described}");
    assert_eq!(described["total_lag"], 2);
    let text = sluice(&["group", "describe", &group]).await;
    assert!(text.ok().stdout.contains(&member_id), "{}", text.stdout);
    assert!(text.stdout.contains("total lag 2"), "{}", text.stdout);

    // While the member lives: no reset (not even a dry run), no delete.
    let refused = sluice(&["group", "reset-offsets", &group, "-t", t, "--to-earliest"]).await;
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&format!(
            "cannot reset the offsets of group {group}: it is {state} with 1 member"
        )),
        "{}",
        refused.stderr
    );
    assert!(refused.stdout.is_empty());
    let refused = sluice(&["group", "delete", &group]).await;
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("NON_EMPTY_GROUP"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("with 1 member"),
        "{}",
        refused.stderr
    );
    assert_eq!(committed(&group, t, 2).await, vec![Some(3), Some(5)]);

    member.close().await.expect("close");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = describe_group(&pool(), &group).await.expect("describe");
        if d.metrics.members.is_empty() && d.metrics.state == "Empty" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {:?} after close",
            d.metrics
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // --dry-run shows the change and commits nothing.
    let dry = reset(&group, t, &["--to-earliest", "--dry-run"]).await;
    assert_eq!(dry["partitions"][0]["old"], 3);
    assert_eq!(dry["partitions"][0]["new"], 0);
    assert_eq!(dry["partitions"][1]["old"], 5);
    assert_eq!(committed(&group, t, 2).await, vec![Some(3), Some(5)]);

    reset(&group, t, &["--to-earliest"]).await;
    assert_eq!(committed(&group, t, 2).await, vec![Some(0), Some(0)]);
    reset(&group, t, &["--to-offset", "4"]).await;
    assert_eq!(committed(&group, t, 2).await, vec![Some(4), Some(4)]);
    // Clamped to the high watermark; one partition named.
    reset(&group, &format!("{t}:1"), &["--to-offset", "99"]).await;
    assert_eq!(committed(&group, t, 2).await, vec![Some(4), Some(5)]);
    reset(&group, t, &["--shift-by", "-2"]).await;
    assert_eq!(committed(&group, t, 2).await, vec![Some(2), Some(3)]);
    // Clamped at the log start.
    let shifted = reset(&group, t, &["--shift-by", "-10"]).await;
    assert_eq!(shifted["partitions"][1]["old"], 3);
    assert_eq!(committed(&group, t, 2).await, vec![Some(0), Some(0)]);

    // A second round after `between`: the time resolves to the first
    // round's end; a time after everything resolves to the end.
    let between = now_ms() + 1;
    while now_ms() <= between + 5 {
        tokio::task::yield_now().await;
    }
    produce_to(&bootstrap(), t, &[0, 1], 5, 3).await;
    reset(&group, t, &["--to-datetime", &between.to_string()]).await;
    assert_eq!(committed(&group, t, 2).await, vec![Some(5), Some(5)]);
    reset(&group, t, &["--to-earliest"]).await;
    reset(&group, t, &["--to-datetime", "2999-01-01T00:00:00Z"]).await;
    assert_eq!(committed(&group, t, 2).await, vec![Some(8), Some(8)]);
    reset(&group, t, &["--to-earliest"]).await;
    reset(&group, t, &["--to-latest"]).await;
    assert_eq!(committed(&group, t, 2).await, vec![Some(8), Some(8)]);

    // Delete: gone from the list, describe says it does not exist.
    let deleted = sluice(&["group", "delete", &group]).await;
    assert!(
        deleted
            .ok()
            .stderr
            .contains(&format!("deleted group {group}"))
    );
    let listed = sluice(&["group", "list", "--json"]).await.json();
    assert!(!groups_listed(&listed).contains(&group), "{listed}");
    let gone = sluice(&["group", "describe", &group]).await;
    assert_eq!(gone.code, Some(1));
    assert!(gone.stderr.contains("does not exist"), "{}", gone.stderr);
    assert_eq!(committed(&group, t, 2).await, vec![None, None]);
    topic.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_listed_and_described_with_exact_watermarks() {
    let conn = connect("topic-tools").await;
    let topic = TempTopic::create(&conn, "topic-tools", 3).await;
    let t = topic.name.as_str();
    produce_to(&bootstrap(), t, &[0], 0, 4).await;
    produce_to(&bootstrap(), t, &[2], 0, 2).await;

    let listed = sluice(&["topic", "list", "--json"]).await.json();
    let counts: BTreeMap<&str, i64> = listed["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["topic"].as_str().unwrap(),
                t["partitions"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts.get(t), Some(&3), "{listed}");
    let text = sluice(&["topic", "list"]).await;
    assert!(
        text.ok()
            .stdout
            .lines()
            .any(|l| l.starts_with(t) && l.ends_with(" 3"))
    );

    let described = sluice(&["topic", "describe", t, "--json"]).await.json();
    let d = &described["topics"][0];
    assert_eq!(d["topic"], t);
    assert_eq!(d["id"], topic.id.to_string());
    let parts = d["partitions"].as_array().unwrap();
    let seen: Vec<(i64, i64, i64)> = parts
        .iter()
        .map(|p| {
            (
                p["partition"].as_i64().unwrap(),
                p["log_start"].as_i64().unwrap(),
                p["high_watermark"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, vec![(0, 0, 4), (1, 0, 0), (2, 0, 2)], "{described}");
    for p in parts {
        let leader = p["leader"].as_i64().unwrap();
        assert!(leader >= 0, "{p}");
        assert!(
            p["replicas"].as_array().unwrap().contains(&leader.into()),
            "{p}"
        );
        assert!(p["isr"].as_array().unwrap().contains(&leader.into()), "{p}");
    }
    let text = sluice(&["topic", "describe", t]).await;
    assert!(
        text.ok()
            .stdout
            .contains(&format!("topic {t} (id {}, 3 partitions)", topic.id))
    );
    topic.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_topics_and_groups_are_clear_errors() {
    let missing_topic = unique_name("no-such-topic");
    let missing_group = unique_name("no-such-group");
    let run = sluice(&["topic", "describe", &missing_topic]).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains(&format!("unknown topic {missing_topic}")),
        "{}",
        run.stderr
    );
    let run = sluice(&["group", "describe", &missing_group]).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains(&format!("group {missing_group} does not exist")),
        "{}",
        run.stderr
    );
    let run = sluice(&["group", "delete", &missing_group]).await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("GROUP_ID_NOT_FOUND"), "{}", run.stderr);
    let run = sluice(&[
        "group",
        "reset-offsets",
        &missing_group,
        "-t",
        &missing_topic,
        "--to-earliest",
    ])
    .await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains(&format!("topic {missing_topic}")),
        "{}",
        run.stderr
    );
    let run = sluice(&[
        "group",
        "reset-offsets",
        &missing_group,
        "-t",
        "x",
        "--to-datetime",
        "yesterday",
    ])
    .await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("--to-datetime \"yesterday\""),
        "{}",
        run.stderr
    );
}
