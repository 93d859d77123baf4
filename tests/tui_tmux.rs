//! `labdeck tui` in a real terminal (tmux) on a real lab (root): the hosts connect, the
//! selected host's devices appear (with the lab's test-link address), the help overlay
//! opens and closes, the UI follows a resize, and quitting restores the terminal (cooked
//! mode, primary screen). Every wait polls `capture-pane` with an iteration bound.

mod common;
use common::*;
use std::process::Command;

/// A tmux server of its own (`-L`), killed when the test ends.
struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("labdeck-tui-test-{}", std::process::id()),
            session: "tui".into(),
        };
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            &tmux.session,
            "-x",
            "200",
            "-y",
            "60",
            command,
        ]);
        assert!(out.status.success(), "tmux: {}", text(&out.stderr));
        tmux
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env("TERM", "xterm-256color")
            .output()
            .expect("tmux runs")
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    fn capture(&self) -> String {
        text(
            &self
                .run(&["capture-pane", "-p", "-t", &self.session])
                .stdout,
        )
    }

    /// Polls the screen until `done` holds (at most `ROUNDS` captures, 100 ms apart).
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        const ROUNDS: usize = 1200;
        let mut screen = String::new();
        for _ in 0..ROUNDS {
            screen = self.capture();
            if done(&screen) {
                return screen;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("never saw {what}; last screen:\n{screen}");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn host_line<'a>(screen: &'a str, host: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.starts_with(&format!("│{host} ")))
}

#[test]
fn tui_on_a_lab_shows_hosts_devices_help_resizes_and_restores_the_terminal() {
    let lab = Lab::up(2, "line");
    let command = format!(
        "{LABDECK} tui --pool {pool}; echo EXITED $?; stty -a; read _; \
         {LABDECK} tui --pool {pool}; echo AGAIN $?; stty -a; exec sleep 600",
        pool = lab.pool()
    );
    let tmux = Tmux::start(&command);

    let screen = tmux.wait_for("both hosts up", |s| {
        ["h1", "h2"]
            .iter()
            .all(|h| host_line(s, h).is_some_and(|l| l.contains(" up ")))
    });
    assert!(screen.contains("pool pool.toml"), "{screen}");

    // h1 is selected: its devices, with the lab's test-link address, appear.
    let screen = tmux.wait_for("h1's devices", |s| s.contains("198.18.1.1/24"));
    assert!(screen.contains("│lo "), "{screen}");

    // j selects h2: its devices follow.
    tmux.keys(&["j"]);
    tmux.wait_for("h2's devices", |s| s.contains("198.18.1.2/24"));

    // The help overlay, generated from the keymap.
    tmux.keys(&["?"]);
    tmux.wait_for("the help overlay", |s| {
        s.contains("disconnect all API clients") && s.contains("Esc or ? closes this help")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the help closed", |s| {
        !s.contains("Esc or ? closes this help")
    });

    // Resize: the UI redraws to the new width.
    assert!(
        tmux.run(&[
            "resize-window",
            "-t",
            &tmux.session,
            "-x",
            "120",
            "-y",
            "40"
        ])
        .status
        .success()
    );
    let screen = tmux.wait_for("a 120-column layout", |s| {
        s.lines().next().is_some_and(|header| {
            header.contains("labdeck │") && header.trim_end().ends_with("UTC")
        }) && s.lines().all(|l| l.chars().count() <= 120)
            && s.lines()
                .any(|l| l.starts_with("└") && l.trim_end().ends_with("┘"))
    });
    assert!(host_line(&screen, "h1").is_some(), "{screen}");

    // q quits (no run is live) and the terminal is restored: cooked mode, echo on, and the
    // primary screen (the shell's output is visible).
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the exit status", |s| s.contains("EXITED 0"));
    assert!(
        screen.contains(" icanon") && !screen.contains("-icanon"),
        "{screen}"
    );
    assert!(
        screen.contains(" echo ") || screen.contains(" echo\n"),
        "{screen}"
    );
    assert!(
        !screen.contains("Testbeds & hosts"),
        "left the alternate screen: {screen}"
    );

    // A second UI ended by SIGTERM restores the terminal too.
    tmux.keys(&["Enter"]);
    tmux.wait_for("the second UI", |s| {
        host_line(s, "h1").is_some_and(|l| l.contains(" up "))
    });
    let shell = text(
        &tmux
            .run(&["display-message", "-p", "-t", &tmux.session, "#{pane_pid}"])
            .stdout,
    );
    let shell = shell.trim();
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
        .expect("the shell's children");
    let tui: i32 = children
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the labdeck process");
    // SAFETY: kill has no memory preconditions; the pid is our own tmux shell's child.
    assert_eq!(unsafe { libc::kill(tui, libc::SIGTERM) }, 0);
    let screen = tmux.wait_for("the second exit status", |s| s.contains("AGAIN 0"));
    let after = screen.split("AGAIN 0").nth(1).unwrap_or_default();
    assert!(
        after.contains(" icanon") && !after.contains("-icanon"),
        "{screen}"
    );
    assert!(!screen.contains("Testbeds & hosts"), "{screen}");
}
