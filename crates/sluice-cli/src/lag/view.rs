//! What `sluice lag --watch` draws, from the history alone (no terminal, no
//! clock): the group line, the totals with the rates and the time to catch
//! up, the total lag's last minute, and a row per partition.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Paragraph, Row, Sparkline, Table};

use super::history::{History, sparkline};
use super::{dash, protocol_parts, ratio, state_name};

/// Columns of the per-partition sparklines (3 s each over the minute).
pub(crate) const SPARK_WIDTH: u16 = 20;

/// Everything one frame shows.
#[derive(Debug)]
pub(crate) struct Screen<'a> {
    /// The group's name.
    pub group: &'a str,
    /// The snapshots so far.
    pub history: &'a History,
    /// How often it refreshes.
    pub interval: Duration,
    /// Why the last refresh failed, if it did (the rows are the last good ones).
    pub error: Option<&'a str>,
}

/// Draws `screen` on the whole frame.
pub(crate) fn draw(frame: &mut Frame, screen: &Screen) {
    let [head, totals, spark, table, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(4),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let Some(latest) = screen.history.latest() else {
        frame.render_widget(
            Paragraph::new(format!(
                "group {}: waiting for the first look",
                screen.group
            )),
            head,
        );
        return;
    };
    let m = &latest.group;
    let head_line = format!(
        "group {} · {} · {}{} members / {} partitions assigned · members/partitions {}",
        screen.group,
        state_name(m),
        protocol_parts(m, latest.consumer.as_ref())
            .into_iter()
            .map(|p| format!("{p} · "))
            .collect::<String>(),
        m.members.len(),
        m.partitions,
        ratio(m),
    );
    frame.render_widget(Paragraph::new(head_line).style(bold), head);

    let rates = screen.history.rates();
    let per_sec = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}/s"));
    let totals_line = format!(
        "total lag {} · consuming {} · producing {} · catch up: {}",
        latest.total_lag(),
        per_sec(rates.map(|r| r.consumption)),
        per_sec(rates.map(|r| r.production)),
        screen.history.eta(),
    );
    frame.render_widget(Paragraph::new(totals_line), totals);

    draw_total_lag(frame, screen.history, spark);
    draw_rows(frame, screen.history, table);

    let foot_line = match screen.error {
        Some(e) => Line::styled(
            format!("refresh failed (showing the last good one): {e}"),
            Style::default().fg(Color::Red),
        ),
        None => Line::from(format!(
            "q, Esc or Ctrl-C quits · every {}",
            every(screen.interval)
        )),
    };
    frame.render_widget(Paragraph::new(foot_line), foot);
}

/// The refresh interval as people say it: `1s`, `500ms`, `1.5s`.
fn every(interval: Duration) -> String {
    let ms = interval.as_millis();
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", interval.as_secs_f64())
    }
}

fn draw_total_lag(frame: &mut Frame, history: &History, area: Rect) {
    let block = Block::bordered().title(" total lag, last minute ");
    let width = block.inner(area).width as usize;
    let data: Vec<Option<u64>> = history
        .total_lag_buckets(width)
        .into_iter()
        .map(|b| b.map(|v| v.max(0) as u64))
        .collect();
    let spark = Sparkline::default()
        .block(block)
        .data(data)
        .absent_value_symbol(" ")
        .style(Style::default().fg(Color::Yellow));
    frame.render_widget(spark, area);
}

fn draw_rows(frame: &mut Frame, history: &History, area: Rect) {
    let Some(latest) = history.latest() else {
        return;
    };
    let widths = [
        Constraint::Fill(1),
        Constraint::Length(9),
        Constraint::Length(11),
        Constraint::Length(14),
        Constraint::Length(10),
        Constraint::Length(SPARK_WIDTH),
        Constraint::Fill(1),
    ];
    let header = Row::new([
        Cell::from("TOPIC"),
        Cell::from(format!("{:>9}", "PARTITION")),
        Cell::from(format!("{:>11}", "COMMITTED")),
        Cell::from(format!("{:>14}", "HIGH-WATERMARK")),
        Cell::from(format!("{:>10}", "LAG")),
        Cell::from("LAG, LAST MINUTE"),
        Cell::from("OWNER"),
    ])
    .style(Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED));
    let rows = latest.rows.iter().map(|r| {
        let lagging = r.lag.is_some_and(|l| l > 0);
        Row::new([
            Cell::from(r.tp.topic.to_string()),
            Cell::from(format!("{:>9}", r.tp.partition)),
            Cell::from(format!("{:>11}", dash(r.committed))),
            Cell::from(format!("{:>14}", dash(r.high_watermark))),
            Cell::from(format!("{:>10}", dash(r.lag))).style(if lagging {
                Style::default().fg(Color::Yellow)
            } else {
                Style::default()
            }),
            Cell::from(sparkline(&history.lag_buckets(&r.tp, SPARK_WIDTH as usize)))
                .style(Style::default().fg(Color::Yellow)),
            Cell::from(r.owner.clone().unwrap_or_else(|| "-".into())),
        ])
    });
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        area,
    );
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;

    use super::super::tests::{group, tp};
    use super::super::{Row as LagRow, Snapshot};
    use super::*;

    /// The text of each line of the buffer.
    fn lines(buffer: &Buffer) -> Vec<String> {
        let area = buffer.area;
        (area.top()..area.bottom())
            .map(|y| {
                (area.left()..area.right())
                    .map(|x| buffer[(x, y)].symbol())
                    .collect()
            })
            .collect()
    }

    fn render(screen: &Screen, width: u16, height: u16) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| draw(frame, screen)).unwrap();
        lines(terminal.backend().buffer())
    }

    /// A group consuming `events` 0 at 10/s while 2/s arrive, `events` 1 idle
    /// and caught up: 11 snapshots a second apart.
    fn history() -> History {
        let t0 = Instant::now();
        let mut h = History::default();
        for s in 0..=10i64 {
            let mut g = group(2, 3);
            g.members[0].partitions = vec![tp("events", 0)];
            h.push(Snapshot {
                at: t0 + Duration::from_secs(s as u64),
                group: g,
                consumer: None,
                rows: vec![
                    LagRow::new(
                        tp("events", 0),
                        Some(100 + 10 * s),
                        Some(500 + 2 * s),
                        Some("member-0".into()),
                    ),
                    LagRow::new(tp("events", 1), Some(40), Some(40), None),
                ],
            });
        }
        h
    }

    #[test]
    fn the_view_shows_the_group_the_totals_and_a_row_per_partition() {
        let h = history();
        let screen = Screen {
            group: "billing",
            history: &h,
            interval: Duration::from_secs(1),
            error: None,
        };
        let lines = render(&screen, 120, 12);
        let line = |i: usize| lines[i].trim_end().to_string();
        assert_eq!(
            line(0),
            "group billing · Stable · assignor range (eager) · 2 members / 3 partitions assigned · members/partitions 0.67"
        );
        // lag 520 - 200 = 320, at 10/s - 2/s: 40 s
        assert_eq!(
            line(1),
            "total lag 320 · consuming 10.0/s · producing 2.0/s · catch up: 40s"
        );
        assert!(
            line(2).starts_with("┌ total lag, last minute ─"),
            "{}",
            line(2)
        );
        // The total lag, 400 falling to 320, over the last 10 s of the minute: 118 columns of
        // 60/118 s, the first sample 10 s ago in column 98; the bottom row full from there on.
        assert_eq!(lines[4], format!("│{}{}│", " ".repeat(98), "█".repeat(20)));
        assert_eq!(
            lines[3].chars().filter(|c| *c == ' ').count(),
            98,
            "{}",
            lines[3]
        );
        // Each row's lag over the minute in 3 s buckets: 392, 368, 344, 320 in the last four.
        assert_eq!(
            line(6),
            "TOPIC                     PARTITION   COMMITTED HIGH-WATERMARK        LAG LAG, LAST MINUTE     OWNER"
        );
        assert_eq!(
            line(7),
            "events                            0         200            520        320                 ██▇▇ member-0"
        );
        assert_eq!(
            line(8),
            "events                            1          40             40          0                 ▁▁▁▁ -"
        );
        assert_eq!(line(11), "q, Esc or Ctrl-C quits · every 1s");
    }

    #[test]
    fn the_view_says_when_it_cannot_catch_up_and_why_a_refresh_failed() {
        let t0 = Instant::now();
        let mut h = History::default();
        for s in 0..2u64 {
            h.push(Snapshot {
                at: t0 + Duration::from_secs(s * 2),
                group: group(1, 1),
                consumer: None,
                rows: vec![LagRow::new(
                    tp("events", 0),
                    Some(100),
                    Some(200 + 10 * s as i64),
                    None,
                )],
            });
        }
        let screen = Screen {
            group: "g",
            history: &h,
            interval: Duration::from_millis(500),
            error: Some("connection refused"),
        };
        let lines = render(&screen, 100, 10);
        assert_eq!(
            lines[1].trim_end(),
            "total lag 110 · consuming 0.0/s · producing 5.0/s · catch up: not catching up"
        );
        assert_eq!(
            lines[9].trim_end(),
            "refresh failed (showing the last good one): connection refused"
        );
        assert_eq!(every(Duration::from_millis(1500)), "1.5s");
        assert_eq!(every(Duration::from_millis(500)), "500ms");
    }

    #[test]
    fn a_single_snapshot_has_no_rates_yet() {
        let mut h = History::default();
        h.push(Snapshot {
            at: Instant::now(),
            group: group(1, 1),
            consumer: None,
            rows: vec![LagRow::new(tp("events", 0), Some(5), Some(9), None)],
        });
        let screen = Screen {
            group: "g",
            history: &h,
            interval: Duration::from_secs(1),
            error: None,
        };
        let lines = render(&screen, 100, 10);
        assert_eq!(
            lines[1].trim_end(),
            "total lag 4 · consuming - · producing - · catch up: -"
        );
    }
}
