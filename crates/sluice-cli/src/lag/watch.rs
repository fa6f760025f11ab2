//! `sluice lag --watch`: a snapshot every interval on the same connection,
//! drawn full screen until q, Esc or Ctrl-C. The terminal is given back as
//! it was (raw mode off, main screen, cursor shown) however the loop ends:
//! a quit, an error, or a panic.

use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::{Hide, Show};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::Source;
use super::history::History;
use super::view::{self, Screen};

/// Whether the terminal is in raw mode on the alternate screen now (what
/// the panic hook has to undo).
static TAKEN: AtomicBool = AtomicBool::new(false);

/// Refreshes every `interval` until the user quits. The first snapshot is
/// taken before the terminal is: a wrong group or broker is an ordinary
/// error message. A later failed refresh is shown in the view, which keeps
/// the last good snapshot and tries again at the next tick.
pub(crate) async fn run(
    source: &mut Source,
    group: &str,
    interval: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut history = History::default();
    history.push(source.snapshot().await?);
    let mut tui = Tui::enter()?;
    let mut input = read_input();
    let mut error: Option<String> = None;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is now: that snapshot is taken
    loop {
        tui.draw(group, &history, interval, error.as_deref())?;
        tokio::select! {
            _ = ticks.tick() => {}
            got = input.recv() => match got.unwrap_or(Ok(Input::Quit))? {
                Input::Quit => return Ok(()),
                Input::Redraw => continue,
            },
        }
        let snapshot = source.snapshot();
        tokio::pin!(snapshot);
        let taken = loop {
            tokio::select! {
                taken = &mut snapshot => break taken,
                got = input.recv() => match got.unwrap_or(Ok(Input::Quit))? {
                    Input::Quit => return Ok(()),
                    Input::Redraw => tui.draw(group, &history, interval, error.as_deref())?,
                },
            }
        };
        match taken {
            Ok(snapshot) => {
                history.push(snapshot);
                error = None;
            }
            Err(e) => error = Some(e.to_string()),
        }
    }
}

/// What the keyboard and the terminal asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    /// q, Esc or Ctrl-C.
    Quit,
    /// The terminal was resized.
    Redraw,
}

/// Whether `key` quits.
fn quits(key: &KeyEvent) -> bool {
    key.kind != KeyEventKind::Release
        && match key.code {
            KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Esc => true,
            KeyCode::Char('c') => key.modifiers.contains(KeyModifiers::CONTROL),
            _ => false,
        }
}

/// Reads terminal events on a thread of its own (crossterm's reads block),
/// until the receiver is dropped or reading fails (the error is sent).
fn read_input() -> mpsc::UnboundedReceiver<io::Result<Input>> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        while !tx.is_closed() {
            let input = match event::poll(Duration::from_millis(100)) {
                Ok(false) => continue,
                Ok(true) => match event::read() {
                    Ok(Event::Key(key)) if quits(&key) => Ok(Input::Quit),
                    Ok(Event::Resize(..)) => Ok(Input::Redraw),
                    Ok(_) => continue,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            let failed = input.is_err();
            if tx.send(input).is_err() || failed {
                return;
            }
        }
    });
    rx
}

/// The terminal, taken: raw mode on the alternate screen with the cursor
/// hidden, given back when dropped.
struct Tui {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    _restore: Restore,
}

/// Gives the terminal back when dropped (also while a panic unwinds).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        restore();
    }
}

impl Tui {
    /// Takes the terminal.
    fn enter() -> io::Result<Self> {
        enable_raw_mode()?;
        TAKEN.store(true, Ordering::SeqCst);
        let restore = Restore; // from here any failure gives the terminal back
        install_panic_hook();
        execute!(io::stdout(), EnterAlternateScreen, Hide)?;
        let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        Ok(Tui {
            terminal,
            _restore: restore,
        })
    }

    fn draw(
        &mut self,
        group: &str,
        history: &History,
        interval: Duration,
        error: Option<&str>,
    ) -> io::Result<()> {
        let screen = Screen {
            group,
            history,
            interval,
            error,
        };
        self.terminal.draw(|frame| view::draw(frame, &screen))?;
        Ok(())
    }
}

/// Raw mode off, the main screen back, the cursor shown; once.
fn restore() {
    if TAKEN.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
    }
}

/// A panic gives the terminal back before its message is printed (on the
/// alternate screen it would vanish with it).
fn install_panic_hook() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_esc_and_ctrl_c_quit_and_other_keys_do_not() {
        let key = |code, modifiers| KeyEvent::new(code, modifiers);
        assert!(quits(&key(KeyCode::Char('q'), KeyModifiers::NONE)));
        assert!(quits(&key(KeyCode::Esc, KeyModifiers::NONE)));
        assert!(quits(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(!quits(&key(KeyCode::Char('c'), KeyModifiers::NONE)));
        assert!(!quits(&key(KeyCode::Char('x'), KeyModifiers::NONE)));
        let mut release = key(KeyCode::Char('q'), KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        assert!(!quits(&release));
    }
}
