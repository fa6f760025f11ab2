//! The examples each subcommand's `--help` ends with.

/// `sluice consume`.
pub const CONSUME: &str = "\
Examples:
  sluice consume -b 127.0.0.1:9092 -t orders -o earliest -e           # the whole topic, then exit
  sluice consume -b 127.0.0.1:9092 -t orders -p 0 -o -10 --json       # the last 10 of partition 0
  sluice consume -b 127.0.0.1:9092 -t orders -o ts=1764583200000 -c 5 # 5 records from a time
  sluice consume -b 127.0.0.1:9092 -t orders -G readers -e            # as a group member, commits
  sluice consume -F client.properties -t orders -G readers            # settings from a file";

/// `sluice produce`.
pub const PRODUCE: &str = "\
Examples:
  printf 'a\\nb\\n' | sluice produce -b 127.0.0.1:9092 -t orders          # one record per line
  sluice produce -b 127.0.0.1:9092 -t orders -K '\\t' -z lz4 < events.tsv # KEY<TAB>VALUE lines
  sluice produce -b 127.0.0.1:9092 -t orders -X acks=1 -X linger.ms=20 < events.json";

/// `sluice batch`.
pub const BATCH: &str = "\
Examples:
  sluice batch -b 127.0.0.1:9092 -t orders -G stats --to order-stats \\
      --batch-size 20000 --linger-ms 1000 --compute stats:amount --compute sum-by:user:amount -e
  sluice batch -b 127.0.0.1:9092 -t orders -G counts --to counts --compute count \\
      --group-by key -X producer.compression.type=zstd
  sluice batch -b 127.0.0.1:9092 -t orders -G stats --to order-stats \
      --compute stats:amount --exactly-once    # result and offsets in one transaction
Results are committed only after they are acknowledged (at-least-once), or with --exactly-once
in the same transaction as the batch's offsets.";

/// `sluice lag`.
pub const LAG: &str = "\
Examples:
  sluice lag -b 127.0.0.1:9092 -G stats                  # every partition the group committed
  sluice lag -b 127.0.0.1:9092 -G stats -t orders --json # every partition of a topic, as JSON
  sluice lag -b 127.0.0.1:9092 -G stats --watch          # live: lag sparklines, rate, time to catch up";

/// `sluice topic`.
pub const TOPIC: &str = "\
Examples:
  sluice topic create -b 127.0.0.1:9092 -t orders -p 6
  sluice topic list -b 127.0.0.1:9092
  sluice topic describe -b 127.0.0.1:9092 orders --json   # leaders, replicas, ISR, watermarks
  sluice topic delete -b 127.0.0.1:9092 -t orders";

/// `sluice group`.
pub const GROUP: &str = "\
Examples:
  sluice group list -b 127.0.0.1:9092
  sluice group describe -b 127.0.0.1:9092 stats           # state, assignor, members, lag
  sluice group reset-offsets -b 127.0.0.1:9092 stats -t orders --to-datetime 2026-12-01T00:00:00Z --dry-run
  sluice group reset-offsets -b 127.0.0.1:9092 stats -t orders --shift-by -1000
  sluice group delete -b 127.0.0.1:9092 old-group
Resets and deletes refuse while the group has members.";

/// `sluice completions`.
pub const COMPLETIONS: &str = "\
Examples:
  sluice completions bash > /etc/bash_completion.d/sluice
  sluice completions zsh > \"${fpath[1]}/_sluice\"
  sluice completions fish > ~/.config/fish/completions/sluice.fish";
