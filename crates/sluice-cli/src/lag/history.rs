//! The last minute of snapshots and what follows from them: how fast the
//! group consumes and the topic grows, when the group will have caught up,
//! and each partition's lag as a sparkline.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use sluice_fetch::TopicPartition;

use super::{Row, Snapshot};

/// How far back the sparklines look.
pub(crate) const SPAN: Duration = Duration::from_secs(60);
/// How far back the rates look.
pub(crate) const RATE_WINDOW: Duration = Duration::from_secs(10);
/// The bars of a sparkline, lowest first (ratatui's nine levels less the empty one).
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The snapshots of the last [`SPAN`], oldest first.
#[derive(Debug, Default)]
pub(crate) struct History {
    snapshots: VecDeque<Snapshot>,
}

/// Offsets per second over the rate window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rates {
    /// Committed offsets advanced per second, summed over the partitions.
    pub consumption: f64,
    /// High watermarks advanced per second, summed over the partitions.
    pub production: f64,
}

/// The estimated time until the total lag is zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Eta {
    /// Not enough history for rates yet.
    Unknown,
    /// No lag.
    CaughtUp,
    /// The group consumes no faster than the topics grow.
    NotCatchingUp,
    /// At the current rates, this long.
    In(Duration),
}

impl History {
    /// Adds the newest snapshot, letting go of those older than [`SPAN`]
    /// before it.
    pub fn push(&mut self, snapshot: Snapshot) {
        let at = snapshot.at;
        self.snapshots.push_back(snapshot);
        while self
            .snapshots
            .front()
            .is_some_and(|s| at.duration_since(s.at) > SPAN)
        {
            self.snapshots.pop_front();
        }
    }

    /// The newest snapshot.
    pub fn latest(&self) -> Option<&Snapshot> {
        self.snapshots.back()
    }

    /// The rates between the newest snapshot and the oldest one within
    /// [`RATE_WINDOW`] of it (the one before the newest if none is that
    /// close); `None` with fewer than two snapshots.
    pub fn rates(&self) -> Option<Rates> {
        let newest = self.snapshots.back()?;
        let mut older = self.snapshots.iter().rev().skip(1);
        let mut base = older.next()?;
        for s in older {
            if newest.at.duration_since(s.at) > RATE_WINDOW {
                break;
            }
            base = s;
        }
        let secs = newest.at.duration_since(base.at).as_secs_f64();
        if secs <= 0.0 {
            return None;
        }
        Some(Rates {
            consumption: advanced(base, newest, |r| r.committed) as f64 / secs,
            production: advanced(base, newest, |r| r.high_watermark) as f64 / secs,
        })
    }

    /// The estimated time to catch up with the newest snapshot's total lag.
    pub fn eta(&self) -> Eta {
        match self.latest() {
            None => Eta::Unknown,
            Some(s) => eta(s.total_lag(), self.rates()),
        }
    }

    /// `tp`'s lag over the last [`SPAN`] in `width` buckets (see [`buckets`]).
    pub fn lag_buckets(&self, tp: &TopicPartition, width: usize) -> Vec<Option<i64>> {
        let samples: Vec<(Instant, i64)> = self
            .snapshots
            .iter()
            .filter_map(|s| {
                let row = s.rows.iter().find(|r| &r.tp == tp)?;
                Some((s.at, row.lag?))
            })
            .collect();
        self.buckets_of(&samples, width)
    }

    /// The total lag over the last [`SPAN`] in `width` buckets.
    pub fn total_lag_buckets(&self, width: usize) -> Vec<Option<i64>> {
        let samples: Vec<(Instant, i64)> = self
            .snapshots
            .iter()
            .map(|s| (s.at, s.total_lag()))
            .collect();
        self.buckets_of(&samples, width)
    }

    fn buckets_of(&self, samples: &[(Instant, i64)], width: usize) -> Vec<Option<i64>> {
        match self.latest() {
            Some(newest) => buckets(samples, newest.at, width),
            None => vec![None; width],
        }
    }
}

/// How far a column advanced from `old` to `new`, summed over the
/// partitions known in both.
fn advanced(old: &Snapshot, new: &Snapshot, column: fn(&Row) -> Option<i64>) -> i64 {
    let before: BTreeMap<&TopicPartition, i64> = old
        .rows
        .iter()
        .filter_map(|r| Some((&r.tp, column(r)?)))
        .collect();
    new.rows
        .iter()
        .filter_map(|r| Some(column(r)? - before.get(&r.tp)?))
        .sum()
}

/// The time to consume `lag` at `rates`: lag / (consumption − production).
pub(crate) fn eta(lag: i64, rates: Option<Rates>) -> Eta {
    if lag <= 0 {
        return Eta::CaughtUp;
    }
    let Some(rates) = rates else {
        return Eta::Unknown;
    };
    let net = rates.consumption - rates.production;
    if net <= 0.0 {
        return Eta::NotCatchingUp;
    }
    Eta::In(Duration::from_secs_f64((lag as f64 / net).ceil()))
}

impl fmt::Display for Eta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Eta::Unknown => f.write_str("-"),
            Eta::CaughtUp => f.write_str("caught up"),
            Eta::NotCatchingUp => f.write_str("not catching up"),
            Eta::In(d) => {
                let s = d.as_secs();
                match s {
                    0..60 => write!(f, "{s}s"),
                    60..3600 => write!(f, "{}m {:02}s", s / 60, s % 60),
                    _ => write!(f, "{}h {:02}m", s / 3600, s % 3600 / 60),
                }
            }
        }
    }
}

/// Samples (oldest first) of the [`SPAN`] before `now` in `width` equal
/// time buckets, oldest first: each holds the newest sample that fell in
/// it, an empty one after the first sample the value before it (the lag
/// did not change that anyone saw), and `None` before any sample.
pub(crate) fn buckets(samples: &[(Instant, i64)], now: Instant, width: usize) -> Vec<Option<i64>> {
    let mut out = vec![None; width];
    if width == 0 {
        return out;
    }
    let span = SPAN.as_millis();
    for &(at, value) in samples {
        let age = now.saturating_duration_since(at).as_millis();
        if age >= span {
            continue;
        }
        let back = (age * width as u128 / span) as usize;
        out[width - 1 - back] = Some(value);
    }
    let mut last = None;
    for b in &mut out {
        match b {
            Some(v) => last = Some(*v),
            None => *b = last,
        }
    }
    out
}

/// Buckets as text: one bar per bucket scaled to the largest (a space
/// where there is no sample yet).
pub(crate) fn sparkline(buckets: &[Option<i64>]) -> String {
    let max = buckets.iter().flatten().copied().max().unwrap_or(0).max(0);
    buckets
        .iter()
        .map(|b| match *b {
            None => ' ',
            Some(_) if max == 0 => BARS[0],
            Some(v) => BARS[((v.max(0) * 7 + max / 2) / max) as usize],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{group, tp};
    use super::*;

    fn snapshot(at: Instant, rows: &[(i32, Option<i64>, Option<i64>)]) -> Snapshot {
        Snapshot {
            at,
            group: group(1, rows.len()),
            consumer: None,
            rows: rows
                .iter()
                .map(|&(p, c, e)| Row::new(tp("t", p), c, e, None))
                .collect(),
        }
    }

    #[test]
    fn rates_are_offsets_advanced_per_second_over_the_window() {
        let t0 = Instant::now();
        let mut h = History::default();
        h.push(snapshot(
            t0,
            &[(0, Some(100), Some(500)), (1, Some(0), Some(200))],
        ));
        assert_eq!(h.rates(), None);
        assert_eq!(h.eta(), Eta::Unknown);
        h.push(snapshot(
            t0 + Duration::from_secs(4),
            &[(0, Some(180), Some(520)), (1, Some(40), Some(220))],
        ));
        // committed: +80 +40 in 4 s; high watermarks: +20 +20 in 4 s
        assert_eq!(
            h.rates(),
            Some(Rates {
                consumption: 30.0,
                production: 10.0
            })
        );
        // lag 340 + 180 = 520 at a net 20/s: 26 s
        assert_eq!(h.latest().unwrap().total_lag(), 520);
        assert_eq!(h.eta(), Eta::In(Duration::from_secs(26)));
        assert_eq!(h.eta().to_string(), "26s");
    }

    #[test]
    fn rates_look_back_ten_seconds_and_no_further() {
        let t0 = Instant::now();
        let mut h = History::default();
        for (s, c) in [(0, 0), (5, 10), (8, 40), (15, 100)] {
            h.push(snapshot(
                t0 + Duration::from_secs(s),
                &[(0, Some(c), Some(1000))],
            ));
        }
        // From 5 s (the oldest within 10 s of 15 s) to 15 s: 90 in 10 s.
        let rates = h.rates().unwrap();
        assert_eq!(rates.consumption, 9.0);
        assert_eq!(rates.production, 0.0);
        // Far apart snapshots: the one before the newest.
        let mut h = History::default();
        h.push(snapshot(t0, &[(0, Some(0), Some(10))]));
        h.push(snapshot(
            t0 + Duration::from_secs(30),
            &[(0, Some(60), Some(10))],
        ));
        assert_eq!(h.rates().unwrap().consumption, 2.0);
    }

    #[test]
    fn partitions_new_in_the_window_do_not_count_toward_the_rates() {
        let t0 = Instant::now();
        let mut h = History::default();
        h.push(snapshot(t0, &[(0, Some(10), Some(100))]));
        h.push(snapshot(
            t0 + Duration::from_secs(2),
            &[(0, Some(30), Some(100)), (1, Some(500), Some(900))],
        ));
        assert_eq!(
            h.rates(),
            Some(Rates {
                consumption: 10.0,
                production: 0.0
            })
        );
    }

    #[test]
    fn history_keeps_one_minute() {
        let t0 = Instant::now();
        let mut h = History::default();
        for s in [0, 1, 30, 61, 62] {
            h.push(snapshot(
                t0 + Duration::from_secs(s),
                &[(0, Some(s as i64), Some(100))],
            ));
        }
        assert_eq!(
            h.snapshots.len(),
            3,
            "those over 60 s before the newest are gone"
        );
        assert_eq!(h.snapshots.front().unwrap().rows[0].committed, Some(30));
    }

    #[test]
    fn eta_says_when_it_cannot_converge() {
        let rates = |c, p| {
            Some(Rates {
                consumption: c,
                production: p,
            })
        };
        assert_eq!(eta(0, None), Eta::CaughtUp);
        assert_eq!(eta(10, None), Eta::Unknown);
        assert_eq!(eta(10, rates(5.0, 5.0)), Eta::NotCatchingUp);
        assert_eq!(eta(10, rates(0.0, 3.0)), Eta::NotCatchingUp);
        assert_eq!(eta(10, rates(4.0, 1.0)), Eta::In(Duration::from_secs(4)));
        assert_eq!(eta(6000, rates(11.0, 1.0)).to_string(), "10m 00s");
        assert_eq!(eta(100, rates(1.5, 0.5)).to_string(), "1m 40s");
        assert_eq!(eta(9000, rates(1.0, 0.0)).to_string(), "2h 30m");
        assert_eq!(Eta::Unknown.to_string(), "-");
        assert_eq!(Eta::NotCatchingUp.to_string(), "not catching up");
        assert_eq!(Eta::CaughtUp.to_string(), "caught up");
    }

    #[test]
    fn buckets_hold_the_newest_sample_and_carry_it_forward() {
        let now = Instant::now() + SPAN;
        let ago = |s: u64| now - Duration::from_secs(s);
        // 6 buckets of 10 s: [60,50) [50,40) [40,30) [30,20) [20,10) [10,0]
        let samples = [
            (ago(70), 9), // older than a minute: not shown
            (ago(45), 1),
            (ago(41), 2),
            (ago(15), 7),
            (ago(0), 8),
        ];
        assert_eq!(
            buckets(&samples, now, 6),
            vec![None, Some(2), Some(2), Some(2), Some(7), Some(8)]
        );
        assert_eq!(sparkline(&buckets(&samples, now, 6)), " ▃▃▃▇█");
        assert_eq!(sparkline(&[None, Some(0), Some(0)]), " ▁▁");
        assert_eq!(sparkline(&[Some(0), Some(7), Some(14)]), "▁▅█");
    }
}
