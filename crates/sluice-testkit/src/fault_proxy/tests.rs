//! Each fault against a small echo upstream (and the replay broker for the
//! address rewriting): what gets through, byte for byte, and what does not.

use std::sync::atomic::AtomicUsize;
use std::time::Instant;

use bytes::BufMut;
use kafka_protocol::messages::{FindCoordinatorRequest, MetadataRequest};
use sluice_wire::connection::Connection;
use tokio::sync::mpsc;
use tokio::time::timeout;

use super::*;
use crate::fixture::Fixture;
use crate::replay::ReplayBroker;

const LIMIT: Duration = Duration::from_secs(10);

/// An upstream that echoes every byte and, when a connection ends, sends
/// what it received on it.
struct Echo {
    addr: String,
    accepted: Arc<AtomicUsize>,
    received: mpsc::UnboundedReceiver<Vec<u8>>,
}

async fn echo() -> Echo {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let (tx, received) = mpsc::unbounded_channel();
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut chunk = vec![0u8; 4096];
                while let Ok(n @ 1..) = socket.read(&mut chunk).await {
                    got.extend_from_slice(&chunk[..n]);
                    if socket.write_all(&chunk[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = tx.send(got);
            });
        }
    });
    Echo {
        addr,
        accepted,
        received,
    }
}

/// `count` Kafka-framed chunks of `size` bytes, each byte telling its
/// position, so order and loss both show.
fn frames(count: usize, size: usize) -> Vec<u8> {
    let mut out = BytesMut::new();
    for f in 0..count {
        out.put_i32(size as i32);
        out.extend((0..size).map(|i| ((f * size + i) % 251) as u8));
    }
    out.to_vec()
}

/// Reads until the peer closes (or resets) the socket.
async fn read_to_close(socket: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut chunk = vec![0u8; 4096];
    loop {
        match timeout(LIMIT, socket.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("not closed within {LIMIT:?} ({} bytes read)", got.len()),
        }
    }
}

async fn read_exactly(socket: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut got = vec![0u8; n];
    timeout(LIMIT, socket.read_exact(&mut got))
        .await
        .expect("answered in time")
        .expect("read");
    got
}

/// Nothing arrives within `wait` (and the socket stays open).
async fn silent(socket: &mut TcpStream, wait: Duration) {
    let mut chunk = [0u8; 64];
    match timeout(wait, socket.read(&mut chunk)).await {
        Err(_) => {}
        Ok(r) => panic!("expected silence, got {r:?}"),
    }
}

/// Polls `cond` over the proxy's counters until it holds (10 s at most).
async fn until(proxy: &FaultProxy, what: &str, cond: impl Fn(&Stats) -> bool) -> Stats {
    let deadline = Instant::now() + LIMIT;
    loop {
        let stats = proxy.stats();
        if cond(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "{what}: {stats:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn forwards_both_ways_and_counts_every_byte() {
    let upstream = echo().await;
    let proxy = FaultProxy::start(&upstream.addr).await.unwrap();
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let data = frames(10, 1000);
    client.write_all(&data).await.unwrap();
    assert_eq!(read_exactly(&mut client, data.len()).await, data);
    let stats = until(&proxy, "every byte counted", |s| s.to_client == 10_040).await;
    assert_eq!(
        (stats.accepted, stats.live, stats.cuts, stats.to_broker),
        (1, 1, 0, 10_040),
        "{stats:?}"
    );
}

#[tokio::test]
async fn a_cut_toward_the_broker_delivers_exactly_n_bytes_and_closes_both_sides() {
    let mut upstream = echo().await;
    let proxy = FaultProxy::start(&upstream.addr).await.unwrap();
    proxy.set(Fault::Cut {
        direction: Direction::ToBroker,
        after: 2500,
    });
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let data = frames(10, 1000);
    let _ = client.write_all(&data).await; // may fail once the cut is made
    let echoed = read_to_close(&mut client).await;
    let received = timeout(LIMIT, upstream.received.recv()).await.unwrap();
    assert_eq!(received.as_deref(), Some(&data[..2500]), "the broker side");
    assert!(echoed.len() <= 2500 && echoed == data[..echoed.len()]);
    let stats = until(&proxy, "the cut connection is gone", |s| s.live == 0).await;
    assert_eq!((stats.cuts, stats.to_broker), (1, 2500), "{stats:?}");

    // One cut: the next connection is left alone.
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    client.write_all(&data).await.unwrap();
    assert_eq!(read_exactly(&mut client, data.len()).await, data);
    assert_eq!(proxy.stats().cuts, 1);
}

#[tokio::test]
async fn a_cut_toward_the_client_delivers_exactly_n_bytes_and_closes_both_sides() {
    let mut upstream = echo().await;
    let proxy = FaultProxy::start(&upstream.addr).await.unwrap();
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let data = frames(10, 1000);
    // Armed on a live connection: counted from here.
    client.write_all(&data[..1004]).await.unwrap();
    assert_eq!(read_exactly(&mut client, 1004).await, data[..1004]);
    proxy.set(Fault::Cut {
        direction: Direction::ToClient,
        after: 3001,
    });
    let _ = client.write_all(&data[1004..]).await; // may fail once the cut is made
    let got = read_to_close(&mut client).await;
    assert_eq!(got, data[1004..1004 + 3001]);
    // The broker side is closed too: the upstream sees its connection end.
    let received = timeout(LIMIT, upstream.received.recv()).await.unwrap();
    assert!(received.is_some());
    let stats = until(&proxy, "the cut connection is gone", |s| s.live == 0).await;
    assert_eq!((stats.cuts, stats.to_client), (1, 1004 + 3001), "{stats:?}");
}

#[tokio::test]
async fn a_cut_after_zero_bytes_delivers_nothing() {
    let mut upstream = echo().await;
    let proxy = FaultProxy::start(&upstream.addr).await.unwrap();
    proxy.set(Fault::Cut {
        direction: Direction::ToBroker,
        after: 0,
    });
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    client.write_all(&frames(1, 100)).await.unwrap();
    assert!(read_to_close(&mut client).await.is_empty());
    let received = timeout(LIMIT, upstream.received.recv()).await.unwrap();
    assert_eq!(received, Some(vec![]));
    assert_eq!(proxy.stats().to_broker, 0);
}

#[tokio::test]
async fn a_blackhole_accepts_and_never_answers() {
    let upstream = echo().await;
    let proxy = FaultProxy::start(&upstream.addr).await.unwrap();
    proxy.set(Fault::Blackhole);
    let mut swallowed = TcpStream::connect(proxy.addr()).await.unwrap();
    let data = frames(3, 500);
    swallowed.write_all(&data).await.unwrap();
    until(&proxy, "the bytes are read", |s| s.discarded == 1512).await;
    silent(&mut swallowed, Duration::from_millis(500)).await;
    let stats = proxy.stats();
    assert_eq!((stats.accepted, stats.blackholed, stats.live), (1, 1, 1));
    assert_eq!((stats.to_broker, stats.to_client), (0, 0));
    assert_eq!(
        upstream.accepted.load(Ordering::SeqCst),
        0,
        "no broker connection"
    );

    // Cleared: new connections are proxied, the swallowed one stays silent.
    proxy.clear();
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    client.write_all(&data).await.unwrap();
    assert_eq!(read_exactly(&mut client, data.len()).await, data);
    swallowed.write_all(&data).await.unwrap();
    silent(&mut swallowed, Duration::from_millis(200)).await;
}

/// Stalls `direction` on a live connection, checks nothing of it gets
/// through while the other direction still flows, resumes, and checks
/// everything arrives in order.
async fn stall_then_resume(direction: Direction) {
    let mut upstream = echo().await;
    let proxy = FaultProxy::start(&upstream.addr).await.unwrap();
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let data = frames(50, 1000);
    client.write_all(&data[..1004]).await.unwrap();
    assert_eq!(read_exactly(&mut client, 1004).await, data[..1004]);
    until(&proxy, "the first frame counted", |s| s.to_client == 1004).await;

    proxy.set(Fault::Stall(direction));
    let writer = {
        let (mut read, mut write) = client.into_split();
        let rest = data[1004..].to_vec();
        let writer = tokio::spawn(async move {
            write.write_all(&rest).await.unwrap();
            write
        });
        // Responses stalled: requests still reach the broker. Requests
        // stalled: nothing reaches the broker, so nothing comes back.
        match direction {
            Direction::ToClient => {
                until(&proxy, "requests flow", |s| {
                    s.to_broker == data.len() as u64
                })
                .await;
            }
            Direction::ToBroker => {
                tokio::time::sleep(Duration::from_millis(300)).await;
                assert_eq!(proxy.stats().to_broker, 1004, "stalled requests");
            }
        }
        let mut chunk = [0u8; 64];
        let r = timeout(Duration::from_millis(300), read.read(&mut chunk)).await;
        assert!(r.is_err(), "nothing answered while stalled: {r:?}");
        assert_eq!(proxy.stats().to_client, 1004);
        proxy.resume(direction);
        let mut got = vec![0u8; data.len() - 1004];
        timeout(LIMIT, read.read_exact(&mut got))
            .await
            .expect("resumed in time")
            .unwrap();
        assert_eq!(got, data[1004..], "everything, in order");
        (read, writer)
    };
    let (read, writer) = writer;
    let write = writer.await.unwrap();
    drop(read.reunite(write).unwrap());
    let received = timeout(LIMIT, upstream.received.recv()).await.unwrap();
    assert_eq!(received.as_deref(), Some(&data[..]));
    let stats = until(&proxy, "every byte counted", |s| {
        s.to_client == data.len() as u64
    })
    .await;
    assert_eq!((stats.to_broker, stats.cuts), (data.len() as u64, 0));
}

#[tokio::test]
async fn a_stalled_response_direction_resumes_with_everything_in_order() {
    stall_then_resume(Direction::ToClient).await;
}

#[tokio::test]
async fn a_stalled_request_direction_resumes_with_everything_in_order() {
    stall_then_resume(Direction::ToBroker).await;
}

/// Sends `data` and reads its echo; returns how long that took.
async fn round_trip(client: &mut TcpStream, data: &[u8]) -> Duration {
    let started = Instant::now();
    client.write_all(data).await.unwrap();
    assert_eq!(read_exactly(client, data.len()).await, data);
    started.elapsed()
}

#[tokio::test]
async fn latency_delays_each_chunk_by_at_least_the_delay() {
    let upstream = echo().await;
    let proxy = FaultProxy::start(&upstream.addr).await.unwrap();
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let data = frames(1, 100);
    let toward_broker = Duration::from_millis(200);
    proxy.set(Fault::Latency {
        direction: Direction::ToBroker,
        delay: toward_broker,
    });
    let took = round_trip(&mut client, &data).await;
    assert!(took >= toward_broker, "{took:?}");
    let toward_client = Duration::from_millis(150);
    proxy.set(Fault::Latency {
        direction: Direction::ToClient,
        delay: toward_client,
    });
    let took = round_trip(&mut client, &data).await;
    assert!(took >= toward_broker + toward_client, "{took:?}");
    until(&proxy, "delayed, not lost", |s| s.to_client == 208).await;
}

#[tokio::test]
async fn cut_all_closes_every_live_connection() {
    let upstream = echo().await;
    let proxy = FaultProxy::start(&upstream.addr).await.unwrap();
    let data = frames(1, 10);
    let mut clients = Vec::new();
    for _ in 0..2 {
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        client.write_all(&data).await.unwrap();
        assert_eq!(read_exactly(&mut client, data.len()).await, data);
        clients.push(client);
    }
    assert_eq!(proxy.cut_all(), 2);
    for client in &mut clients {
        assert!(read_to_close(client).await.is_empty());
    }
    let stats = until(&proxy, "nothing live", |s| s.live == 0).await;
    assert_eq!((stats.accepted, stats.cuts), (2, 2));
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    client.write_all(&data).await.unwrap();
    assert_eq!(read_exactly(&mut client, data.len()).await, data);
}

#[tokio::test]
async fn metadata_and_coordinator_answers_point_at_the_proxy() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/librdkafka-tansu.json"
    );
    let broker = ReplayBroker::start(Fixture::load(path).unwrap())
        .await
        .unwrap();
    let proxy = FaultProxy::start(&broker.addr()).await.unwrap();
    let conn = Connection::connect(&proxy.addr(), Default::default())
        .await
        .unwrap();
    let port = i32::from(proxy.addr.port());
    let metadata = conn
        .send_version(MetadataRequest::default(), 12)
        .await
        .unwrap();
    assert!(!metadata.brokers.is_empty());
    for b in &metadata.brokers {
        assert_eq!((b.host.as_str(), b.port), ("127.0.0.1", port));
    }
    let coordinator = conn
        .send_version(FindCoordinatorRequest::default(), 2)
        .await
        .unwrap();
    assert_eq!(
        (coordinator.host.as_str(), coordinator.port),
        ("127.0.0.1", port)
    );
    assert!(broker.mismatches().is_empty(), "{:?}", broker.mismatches());
}
