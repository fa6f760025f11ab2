//! Records through every secured listener: sluice's producer to sluice's
//! consumer (assigned and in a group), sluice and librdkafka reading each
//! other's records, and `sluice batch` over SASL_SSL.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sluice_integration::{batch_command, unique_name};

use super::clients::{sluice_group_read, sluice_produce, sluice_read, values};
use super::env::{Case, Pairs, create_topic, peer_consume, peer_produce, secure};

const COUNT: usize = 50;

/// sluice writes COUNT records over `case` and reads the same back, in order.
async fn produce_and_read_back(case: Case) {
    let Some(s) = secure(&format!("produce_and_read_back({case:?})")) else {
        return;
    };
    let (bootstrap, security) = s.settings(case);
    let topic = unique_name(&format!("it-sec-rt-{}", case.name()));
    create_topic(&bootstrap, &security, &topic);
    let written = values(&format!("{}-v", case.name()), COUNT);
    sluice_produce(&bootstrap, &security, &topic, &written).await;
    let read = sluice_read(&bootstrap, &security, &topic, COUNT).await;
    assert_eq!(read, written, "{case:?}: what sluice read back");
}

/// A group member subscribed over `case` reads every record.
async fn group_reads_everything(case: Case) {
    let Some(s) = secure(&format!("group_reads_everything({case:?})")) else {
        return;
    };
    let (bootstrap, security) = s.settings(case);
    let topic = unique_name(&format!("it-sec-group-{}", case.name()));
    create_topic(&bootstrap, &security, &topic);
    let written = values(&format!("{}-g", case.name()), COUNT);
    sluice_produce(&bootstrap, &security, &topic, &written).await;
    let group = unique_name(&format!("it-sec-group-{}", case.name()));
    let read = sluice_group_read(&bootstrap, &security, &topic, &group, COUNT).await;
    assert_eq!(read, written, "{case:?}: what the group member read");
}

/// librdkafka reads what sluice wrote over `case`, and sluice reads what
/// librdkafka wrote.
async fn interop_with_librdkafka(case: Case) {
    let Some(s) = secure(&format!("interop_with_librdkafka({case:?})")) else {
        return;
    };
    let (bootstrap, security) = s.settings(case);
    let ours = unique_name(&format!("it-sec-ours-{}", case.name()));
    create_topic(&bootstrap, &security, &ours);
    let written = values(&format!("{}-ours", case.name()), COUNT);
    sluice_produce(&bootstrap, &security, &ours, &written).await;
    assert_eq!(
        peer_consume(&bootstrap, &security, &ours, COUNT),
        written,
        "{case:?}: librdkafka reads what sluice wrote"
    );

    let theirs = unique_name(&format!("it-sec-theirs-{}", case.name()));
    create_topic(&bootstrap, &security, &theirs);
    peer_produce(&bootstrap, &security, &theirs, COUNT);
    assert_eq!(
        sluice_read(&bootstrap, &security, &theirs, COUNT).await,
        values("rd", COUNT),
        "{case:?}: sluice reads what librdkafka wrote"
    );
}

macro_rules! per_case {
    ($f:ident: $($name:ident => $case:expr),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $f($case).await
            }
        )*
    };
}

per_case!(produce_and_read_back:
    produce_and_read_back_scram_sha_256 => Case::Scram256,
    produce_and_read_back_scram_sha_512 => Case::Scram512,
    produce_and_read_back_ssl => Case::Ssl,
    produce_and_read_back_mtls => Case::Mtls,
    produce_and_read_back_mtls_encrypted_key => Case::MtlsEncryptedKey,
    produce_and_read_back_sasl_ssl_512 => Case::SaslSsl512,
    produce_and_read_back_sasl_ssl_256 => Case::SaslSsl256,
);

per_case!(group_reads_everything:
    group_reads_everything_scram_sha_256 => Case::Scram256,
    group_reads_everything_scram_sha_512 => Case::Scram512,
    group_reads_everything_ssl => Case::Ssl,
    group_reads_everything_mtls => Case::Mtls,
    group_reads_everything_sasl_ssl => Case::SaslSsl512,
);

per_case!(interop_with_librdkafka:
    interop_with_librdkafka_sasl_ssl => Case::SaslSsl512,
    interop_with_librdkafka_mtls => Case::Mtls,
);

/// `-X` arguments for `sluice batch`: the consumer side's keys, and the same
/// under `producer.` for its result producer.
fn batch_args(security: &Pairs) -> Vec<String> {
    let mut args = Vec::new();
    for (k, v) in security {
        args.extend(["-X".to_string(), format!("{k}={v}")]);
        args.extend(["-X".to_string(), format!("producer.{k}={v}")]);
    }
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_batch_over_sasl_ssl_gives_the_true_counts_and_sums() {
    let Some(s) = secure("sluice_batch_over_sasl_ssl") else {
        return;
    };
    let (bootstrap, security) = s.settings(Case::SaslSsl512);
    let input = unique_name("it-sec-batch-in");
    let output = unique_name("it-sec-batch-out");
    create_topic(&bootstrap, &security, &input);
    create_topic(&bootstrap, &security, &output);
    let n = 500;
    let mut truth: BTreeMap<String, f64> = BTreeMap::new();
    let events: Vec<String> = (0..n)
        .map(|i| {
            let user = format!("u{}", i % 7);
            let amount = (i % 13) as f64 + 0.25;
            *truth.entry(user.clone()).or_default() += amount;
            json!({"user": user, "amount": amount}).to_string()
        })
        .collect();
    sluice_produce(&bootstrap, &security, &input, &events).await;

    let out = batch_command(
        &bootstrap,
        100,
        &input,
        &unique_name("it-sec-batch"),
        &output,
        true,
    )
    .args(batch_args(&security))
    .output()
    .expect("sluice batch runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "sluice batch -e: {}: {stderr}",
        out.status
    );
    for (_, password) in [&s.scram256, &s.scram512] {
        assert!(
            !stderr.contains(password.as_str()),
            "password in stderr: {stderr}"
        );
    }

    // Each result covers at most 100 records; read until they cover all n.
    let mut expected = 1;
    let results: Vec<Value> = loop {
        let results: Vec<Value> = sluice_read(&bootstrap, &security, &output, expected)
            .await
            .iter()
            .map(|r| serde_json::from_str(r).expect("result JSON"))
            .collect();
        let covered: u64 = results.iter().map(|r| r["records"].as_u64().unwrap()).sum();
        if covered >= n as u64 {
            assert_eq!(covered, n as u64, "every record in exactly one batch");
            break results;
        }
        expected = results.len() + 1;
        assert!(expected <= n, "results cover {covered} of {n}");
    };
    let count: u64 = results
        .iter()
        .map(|r| r["stats:amount"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(count, n as u64);
    let mut by_user: BTreeMap<String, f64> = BTreeMap::new();
    for r in &results {
        for (user, sum) in r["sum-by:user:amount"]["sums"].as_object().unwrap() {
            *by_user.entry(user.clone()).or_default() += sum.as_f64().unwrap();
        }
    }
    assert_eq!(by_user.len(), truth.len());
    for (user, sum) in &truth {
        assert!(
            (by_user[user] - sum).abs() < 1e-6,
            "{user}: {} vs {sum}",
            by_user[user]
        );
    }
}
