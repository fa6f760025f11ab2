//! The CLI's conventions against a real broker, running the built binary:
//! `-F FILE` (kcat's properties file) and `SLUICE_CONFIG`, `SLUICE_BROKERS`
//! and the `SLUICE_` security variables with their precedence (-X over the
//! environment over the file, -b over all), the errors a bad file gives,
//! exit codes, completions and the examples in every `--help`.

use std::path::PathBuf;
use std::process::Command;

use sluice_integration::{TempTopic, bootstrap, connect, produce_to, sluice_bin, unique_name};

/// Exit code, stdout and stderr of a `sluice` run.
fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(sluice_bin());
    cmd.args(args)
        .env_remove("SLUICE_CONFIG")
        .env_remove("SLUICE_BROKERS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("sluice runs");
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A properties file with `text`, unique to this test run.
fn properties_file(text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("{}.properties", unique_name("sluice-cli")));
    std::fs::write(&path, text).unwrap();
    path
}

/// The values `sluice consume ... -o earliest -e` printed, sorted.
fn values(stdout: &str) -> Vec<String> {
    let mut v: Vec<String> = stdout.lines().map(String::from).collect();
    v.sort();
    v
}

#[tokio::test]
async fn properties_come_from_a_file_the_environment_and_x_in_that_order() {
    let conn = connect("cli-conventions").await;
    let topic = TempTopic::create(&conn, "cli-conventions", 1).await;
    let name = topic.name.clone();
    produce_to(&bootstrap(), &name, &[0], 0, 20).await;
    let expected: Vec<String> = {
        let mut v: Vec<String> = (0..20).map(|i| format!("p0-{i}")).collect();
        v.sort();
        v
    };
    let broker = bootstrap();
    let consume = ["consume", "-t", &name, "-o", "earliest", "-e"];

    // The brokers from the file alone (no -b), with another key beside them.
    let file = properties_file(&format!(
        "# sluice -F\nbootstrap.servers = {}\n\nrequest.timeout.ms=5000\n",
        bootstrap()
    ));
    let file_arg = file.to_str().unwrap();
    let (code, out, err) = run(&[&["-F", file_arg][..], &consume].concat(), &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(values(&out), expected);
    // The same file through SLUICE_CONFIG.
    let (code, out, err) = run(&consume, &[("SLUICE_CONFIG", file_arg)]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(values(&out), expected);

    // -b wins over the file's (dead) brokers.
    let dead = properties_file("bootstrap.servers=127.0.0.1:1\n");
    let (code, out, err) = run(
        &[
            &["-F", dead.to_str().unwrap()][..],
            &consume,
            &["-b", &broker],
        ]
        .concat(),
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(values(&out), expected);

    // SLUICE_BROKERS stands for -b.
    let (code, out, err) = run(&consume, &[("SLUICE_BROKERS", &broker)]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(values(&out), expected);

    // A security key from the environment is read (a bad value is refused,
    // naming the key) and -X wins over it.
    let with_b = [&consume[..], &["-b", &broker]].concat();
    let (code, _, err) = run(&with_b, &[("SLUICE_SECURITY_PROTOCOL", "CARRIER_PIGEON")]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("security.protocol"), "{err}");
    let (code, out, err) = run(
        &[&with_b[..], &["-X", "security.protocol=PLAINTEXT"]].concat(),
        &[("SLUICE_SECURITY_PROTOCOL", "SSL")],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(values(&out), expected);

    // No brokers anywhere: a clear error, exit 1.
    let (code, _, err) = run(&consume, &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no broker named"), "{err}");

    for f in [file, dead] {
        let _ = std::fs::remove_file(f);
    }
    topic.delete_with(&conn).await;
}

#[test]
fn a_bad_properties_file_is_named_with_its_line_and_exit_1() {
    let file = properties_file("bootstrap.servers=127.0.0.1:9092\nthis line has no value\n");
    let (code, _, err) = run(&["-F", file.to_str().unwrap(), "topic", "list"], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains(&format!("{}:2", file.display())), "{err}");
    let unknown = properties_file("bootstrap.servers=127.0.0.1:9092\nfetch.min.byte=1\n");
    let (code, _, err) = run(&["-F", unknown.to_str().unwrap(), "topic", "list"], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("fetch.min.byte"), "{err}");
    let (code, _, err) = run(
        &["-F", "/nonexistent/sluice.properties", "topic", "list"],
        &[],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("/nonexistent/sluice.properties"), "{err}");
    for f in [file, unknown] {
        let _ = std::fs::remove_file(f);
    }
}

#[test]
fn bad_usage_exits_2() {
    let (code, _, err) = run(&["consume", "--no-such-flag"], &[]);
    assert_eq!(code, Some(2), "{err}");
    let (code, _, _) = run(&["no-such-command"], &[]);
    assert_eq!(code, Some(2));
}

#[test]
fn completions_cover_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run(&["completions", shell], &[]);
        assert_eq!(code, Some(0), "{shell}: {err}");
        for word in [
            "consume",
            "produce",
            "batch",
            "lag",
            "topic",
            "group",
            "reset-offsets",
            "to-earliest",
            "config-file",
        ] {
            assert!(out.contains(word), "{shell} completions lack {word}");
        }
    }
    let (code, _, _) = run(&["completions", "tcsh"], &[]);
    assert_eq!(code, Some(2));
}

#[test]
fn every_subcommand_help_has_examples_and_the_top_help_the_exit_codes() {
    for sub in [
        "consume",
        "produce",
        "batch",
        "lag",
        "topic",
        "group",
        "completions",
    ] {
        let (code, out, err) = run(&[sub, "--help"], &[]);
        assert_eq!(code, Some(0), "{sub}: {err}");
        assert!(out.contains("Examples:\n  "), "{sub} --help: {out}");
    }
    let (code, out, _) = run(&["--help"], &[]);
    assert_eq!(code, Some(0));
    assert!(out.contains("Exit status:"), "{out}");
    assert!(out.contains("2  bad usage"), "{out}");
}
