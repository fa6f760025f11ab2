//! High watermarks of partitions, exactly, whatever the broker answers to
//! ListOffsets `latest`.

use std::collections::BTreeMap;
use std::time::Duration;

use sluice_fetch::offsets::OffsetSpec;
use sluice_fetch::{FetchClient, TopicPartition};

/// Each partition's high watermark: from a Fetch answer (exact), or from
/// ListOffsets where no fetch answered within a few seconds (some brokers,
/// tansu 0.6 among them, answer ListOffsets latest with the last batch's
/// base offset + 1 rather than the end).
///
/// Replaces the client's assignment with `partitions`, each starting afresh
/// (no position, no watermark from before), so the same client can be asked
/// again and again for newer values (`sluice lag --watch` asks every second).
/// An answer to an earlier call's fetch still in flight counts only where it
/// is for the offset this call fetches (and so no older than that call).
pub(crate) async fn high_watermarks(
    client: &mut FetchClient,
    partitions: &[TopicPartition],
) -> Result<BTreeMap<TopicPartition, i64>, Box<dyn std::error::Error>> {
    let listed = client.list_offsets(partitions, OffsetSpec::Latest).await?;
    // Partitions kept in an assignment keep their state: let them go first,
    // or an earlier call's high watermark would count as this one's.
    client.assign(std::iter::empty());
    client.assign(partitions.iter().cloned());
    for tp in partitions {
        if let Some(l) = listed.get(tp) {
            // Fetch one record at most at the last offset ListOffsets knows.
            client.seek(tp, (l.offset - 1).max(0))?;
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let fetched = |client: &FetchClient, tp: &TopicPartition| {
        client
            .fetcher()
            .state(tp)
            .map(|s| s.high_watermark)
            .filter(|hw| *hw >= 0)
    };
    while tokio::time::Instant::now() < deadline
        && partitions.iter().any(|tp| fetched(client, tp).is_none())
    {
        client.poll(Duration::from_millis(200)).await?;
    }
    Ok(partitions
        .iter()
        .filter_map(|tp| {
            let listed = listed.get(tp).map(|l| l.offset);
            let hw = fetched(client, tp).into_iter().chain(listed).max()?;
            Some((tp.clone(), hw))
        })
        .collect())
}
