//! The `sluice` CLI over SASL_SSL: the acceptance line reads what
//! was written, and a wrong password ends it quickly with a clear error.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sluice_integration::{Killed, sluice_bin, unique_name};

use super::env::{Case, create_topic, peer_produce, says_authentication_failed, secure};

/// Runs `cmd`, killing it after `limit`; returns its output and how long it ran.
fn run_for(mut cmd: Command, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sluice runs");
    let mut child = Killed(child);
    // Waits for the exit by polling it, up to the limit; nothing else waits on this.
    while child.0.try_wait().expect("wait").is_none() {
        if started.elapsed() > limit {
            let _ = child.0.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    let Killed(inner) = &mut child;
    let stdout = inner.stdout.take().map(read_all).unwrap_or_default();
    let stderr = inner.stderr.take().map(read_all).unwrap_or_default();
    let status = inner.wait().expect("exit status");
    (
        Output {
            status,
            stdout,
            stderr,
        },
        elapsed,
    )
}

fn read_all(mut r: impl std::io::Read) -> Vec<u8> {
    let mut buf = Vec::new();
    r.read_to_end(&mut buf).expect("read the pipe");
    buf
}

/// `sluice consume -b HOST -t T -X security.protocol=SASL_SSL -X
/// sasl.mechanism=SCRAM-SHA-512 -X sasl.username=U -X sasl.password=P -X
/// ssl.ca.location=ca.pem -o earliest -e`
fn acceptance_line(host: &str, topic: &str, user: &str, password: &str, ca: &str) -> Command {
    let mut cmd = Command::new(sluice_bin());
    cmd.args(["consume", "-b", host, "-t", topic])
        .args(["-X", "security.protocol=SASL_SSL"])
        .args(["-X", "sasl.mechanism=SCRAM-SHA-512"])
        .args(["-X", &format!("sasl.username={user}")])
        .args(["-X", &format!("sasl.password={password}")])
        .args(["-X", &format!("ssl.ca.location={ca}")])
        .args(["-o", "earliest", "-e"]);
    cmd
}

#[test]
fn the_acceptance_line_reads_what_was_written() {
    let Some(s) = secure("the_acceptance_line_reads_what_was_written") else {
        return;
    };
    let (bootstrap, security) = s.settings(Case::SaslSsl512);
    let topic = unique_name("it-sec-cli");
    create_topic(&bootstrap, &security, &topic);
    peer_produce(&bootstrap, &security, &topic, 40);
    let (user, password) = &s.scram512;
    let (out, elapsed) = run_for(
        acceptance_line(&bootstrap, &topic, user, password, &s.cert("ca.pem")),
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "sluice consume over SASL_SSL: {} after {elapsed:?}: {stderr}",
        out.status
    );
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(str::to_string)
        .collect();
    let expected: Vec<String> = (0..40).map(|i| format!("rd-{i}")).collect();
    assert_eq!(lines, expected);
    assert!(
        !stderr.contains(password.as_str()),
        "password in stderr: {stderr}"
    );
}

#[test]
fn a_wrong_password_ends_the_cli_within_10_seconds() {
    let Some(s) = secure("a_wrong_password_ends_the_cli_within_10_seconds") else {
        return;
    };
    let (bootstrap, security) = s.settings(Case::SaslSsl512);
    let topic = unique_name("it-sec-cli-bad");
    create_topic(&bootstrap, &security, &topic);
    let wrong = "wrong-pw-Hq71dX";
    let (user, right) = &s.scram512;
    let (out, elapsed) = run_for(
        acceptance_line(&bootstrap, &topic, user, wrong, &s.cert("ca.pem")),
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "exit status {} with a wrong password",
        out.status
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "took {elapsed:?}: {stderr}"
    );
    assert!(
        says_authentication_failed(&stderr),
        "stderr says authentication failed: {stderr}"
    );
    assert!(
        !stderr.contains(wrong) && !stderr.contains(right.as_str()),
        "a password in stderr: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "printed records with a wrong password"
    );
}
