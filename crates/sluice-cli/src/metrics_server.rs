//! `--metrics-addr`: a tiny HTTP/1.1 endpoint serving `GET /metrics` in the
//! Prometheus text format, from the latest snapshot the command's loop
//! publishes (a `watch` channel: the loop never waits for a scraper).
//!
//! Hand-written and minimal on purpose: one request per connection, its head
//! read with a size limit and a timeout, `200` for `/metrics`, `404` for other
//! paths, `405` for other methods, `400` for anything that is not an HTTP/1
//! request head. Nothing a client sends can stop the server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sluice_batch::{Metrics, MetricsPublisher, render_prometheus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// How often the command's loop hands the server a new snapshot (at most).
const PUBLISH_EVERY: Duration = Duration::from_millis(250);
/// The longest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client has to send its request head, and to take the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 32;
/// The content type of what `render_prometheus` writes (OpenMetrics text,
/// which Prometheus asks for first and parses with its types and units).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Starts the endpoint on `addr` when given (port 0: any free port), prints
/// `sluice: metrics on http://ADDR/metrics` to stderr with the bound
/// address, and returns the publisher the command's loop feeds.
pub async fn start(
    addr: Option<&str>,
) -> Result<Option<MetricsPublisher>, Box<dyn std::error::Error>> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let (publisher, snapshots) = MetricsPublisher::new(PUBLISH_EVERY);
    let bound = serve(addr, snapshots).await?;
    eprintln!("sluice: metrics on http://{bound}/metrics");
    Ok(Some(publisher))
}

/// Binds `addr` and serves `snapshots` from a background task; returns the
/// bound address.
pub async fn serve(
    addr: &str,
    snapshots: watch::Receiver<Arc<Metrics>>,
) -> Result<SocketAddr, Box<dyn std::error::Error>> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("--metrics-addr {addr}: cannot listen: {e}"))?;
    let bound = listener.local_addr()?;
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            match listener.accept().await {
                Ok((stream, _)) => {
                    let snapshots = snapshots.clone();
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(IO_TIMEOUT, answer(stream, snapshots)).await;
                        drop(permit);
                    });
                }
                // Out of file descriptors or the like: wait a little, go on.
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(bound)
}

/// Reads one request head and answers it.
async fn answer(mut stream: TcpStream, snapshots: watch::Receiver<Arc<Metrics>>) {
    let response = match read_head(&mut stream).await {
        Some(head) => respond(&head, &snapshots),
        None => plain(400, "Bad Request"),
    };
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}

/// The request head (up to the blank line), or `None` when the client
/// closed first or sent more than [`MAX_HEAD`] bytes without ending it.
async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(&head) {
            head.truncate(end);
            return Some(head);
        }
        if head.len() > MAX_HEAD {
            return None;
        }
    }
}

/// Where the head ends (before `\r\n\r\n`, or `\n\n` from lax clients).
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = buf.windows(2).position(|w| w == b"\n\n");
    crlf.into_iter().chain(lf).min()
}

/// The whole response to a request head.
fn respond(head: &[u8], snapshots: &watch::Receiver<Arc<Metrics>>) -> Vec<u8> {
    let Some((method, path)) = request_line(head) else {
        return plain(400, "Bad Request");
    };
    if path != "/metrics" {
        return plain(404, "Not Found");
    }
    if method != "GET" && method != "HEAD" {
        return plain(405, "Method Not Allowed");
    }
    let snapshot = snapshots.borrow().clone();
    let body = render_prometheus(&snapshot);
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method == "GET" {
        response.extend_from_slice(body.as_bytes());
    }
    response
}

/// The method and path (without a query) of an HTTP/1 request line.
fn request_line(head: &[u8]) -> Option<(&str, &str)> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") || method.is_empty() {
        return None;
    }
    let path = target.split('?').next().unwrap_or(target);
    Some((method, path))
}

/// A short plain-text answer.
fn plain(code: u16, reason: &str) -> Vec<u8> {
    let body = format!("{code} {reason}\n");
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_fetch::FetchStatsSnapshot;

    async fn ask(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_the_latest_snapshot_and_survives_garbage() {
        let (mut publisher, rx) = MetricsPublisher::new(Duration::from_secs(60));
        let addr = serve("127.0.0.1:0", rx).await.unwrap();
        publisher.publish(Metrics::fetch(FetchStatsSnapshot {
            records: 42,
            ..FetchStatsSnapshot::default()
        }));
        let ok = ask(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains(&format!("Content-Type: {CONTENT_TYPE}\r\n")));
        assert!(ok.contains("\nsluice_consumer_records_total 42\n"), "{ok}");
        let (head, body) = ok.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));

        assert!(
            ask(addr, b"GET /nope HTTP/1.1\r\n\r\n")
                .await
                .starts_with("HTTP/1.1 404 ")
        );
        assert!(
            ask(addr, b"POST /metrics HTTP/1.1\r\n\r\n")
                .await
                .starts_with("HTTP/1.1 405 ")
        );
        let head_only = ask(addr, b"HEAD /metrics?x=1 HTTP/1.0\n\n").await;
        assert!(head_only.starts_with("HTTP/1.1 200 ") && head_only.ends_with("\r\n\r\n"));
        for garbage in [
            &b"\x00\xff\xfe garbage\r\n\r\n"[..],
            b"GET\r\n\r\n",
            b"GET /metrics SPDY/3\r\n\r\n",
            // Past the size limit without a blank line (all of it read: no reset).
            &[b'A'; MAX_HEAD + 1][..],
        ] {
            let answer = ask(addr, garbage).await;
            assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
        }
        // A client that connects and closes at once, then one that sends half a head.
        drop(TcpStream::connect(addr).await.unwrap());
        let mut half = TcpStream::connect(addr).await.unwrap();
        half.write_all(b"GET /metr").await.unwrap();
        drop(half);
        let again = ask(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
        assert!(
            again.contains("sluice_consumer_records_total 42\n"),
            "{again}"
        );
    }

    #[test]
    fn request_lines_parse_strictly() {
        assert_eq!(
            request_line(b"GET /metrics HTTP/1.1"),
            Some(("GET", "/metrics"))
        );
        assert_eq!(
            request_line(b"GET /metrics?a=b HTTP/1.0\r\nHost: h"),
            Some(("GET", "/metrics"))
        );
        assert_eq!(request_line(b"GET /metrics"), None);
        assert_eq!(request_line(b"GET  /metrics HTTP/1.1"), None);
        assert_eq!(request_line(b"GET /metrics HTTP/2 extra"), None);
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(14));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(14));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
    }
}
