//! `labdeck tui` in a real terminal (tmux) on a real lab (root): the hosts connect, the
//! selected host's devices appear (with the lab's test-link address), the help overlay
//! opens and closes, the UI follows a resize, and quitting restores the terminal (cooked
//! mode, primary screen). Every wait polls `capture-pane` with an iteration bound.

mod common;
use common::*;
use std::process::Command;

static NEXT_SERVER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A tmux server of its own (`-L`), killed when the test ends.
struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        let tmux = Tmux {
            // One tmux server per test: tests of this file run in parallel in one process.
            socket: format!(
                "labdeck-tui-test-{}-{}",
                std::process::id(),
                NEXT_SERVER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            ),
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
    // Wait for the stty report after the exit status (they are printed one after the other).
    let screen = tmux.wait_for("the exit status and the terminal modes", |s| {
        s.split("EXITED 0")
            .nth(1)
            .is_some_and(|after| after.contains("icanon"))
    });
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
    let screen = tmux.wait_for("the second exit status and the terminal modes", |s| {
        s.split("AGAIN 0")
            .nth(1)
            .is_some_and(|after| after.contains("icanon"))
    });
    let after = screen.split("AGAIN 0").nth(1).unwrap_or_default();
    assert!(
        after.contains(" icanon") && !after.contains("-icanon"),
        "{screen}"
    );
    assert!(!screen.contains("Testbeds & hosts"), "{screen}");
}

/// The line of the Jobs pane that shows `command`.
fn job_line<'a>(screen: &'a str, command: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(command))
}

#[test]
fn tui_runs_a_recipe_kills_a_job_and_steps_through_a_failed_walk_on_a_lab() {
    let lab = Lab::up(2, "line");
    let runs = tempfile::tempdir().expect("tmp");
    let recipe = format!(
        "{}/tests/fixtures/walk/pair-lab.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let command = format!(
        "{LABDECK} tui --pool {pool} --recipe {recipe} --runs-dir {runs}; echo EXITED $?; exec sleep 600",
        pool = lab.pool(),
        runs = runs.path().display()
    );
    let tmux = Tmux::start(&command);
    tmux.wait_for("both hosts up", |s| {
        ["h1", "h2"]
            .iter()
            .all(|h| host_line(s, h).is_some_and(|l| l.contains(" up ")))
    });

    // A background job from the command line, killed with x in the Jobs pane.
    tmux.keys(&[":"]);
    tmux.keys(&["exec h1 --bg -- sleep 300", "Enter"]);
    tmux.wait_for("the job running", |s| {
        job_line(s, "sleep 300").is_some_and(|l| l.contains("running"))
    });
    tmux.keys(&["3", "x"]);
    tmux.wait_for("the job killed", |s| {
        job_line(s, "sleep 300").is_some_and(|l| l.contains("killed"))
    });

    // The recipe runs from the command line: progress and the two failed walks.
    tmux.keys(&[":"]);
    tmux.keys(&["run", "Enter"]);
    let screen = tmux.wait_for("the run's end", |s| {
        s.contains("12/12") && s.contains("pass 8  fail 2")
    });
    assert!(screen.contains("failed walks (2)"), "{screen}");

    // Step through failed walk 3: each step is shown before it runs.
    tmux.keys(&[":"]);
    tmux.keys(&["replay 3 --step", "Enter"]);
    tmux.wait_for("the first pending step", |s| {
        s.contains("Step-through replay — walk 3") && s.contains("next: mtu 1400")
    });
    // Shown, not run: the port keeps its MTU until n.
    let mtu = || text(&lab.exec("h1", &["cat", "/sys/class/net/eth1/mtu"]).stdout);
    assert_eq!(mtu().trim(), "1500");
    tmux.keys(&["n"]);
    tmux.wait_for("the second pending step", |s| s.contains("next: a 2"));
    assert_eq!(mtu().trim(), "1400", "the mtu step ran after n");
    tmux.keys(&["c"]);
    tmux.wait_for("the failure, the cursor on it", |s| {
        s.contains("next: check -") && s.lines().any(|l| l.contains("check") && l.contains("FAIL"))
    });
    tmux.keys(&["n"]);
    tmux.wait_for("the replay's end", |s| !s.contains("next: check -"));
    assert!(
        (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            mtu().trim() == "1500"
        }),
        "the replay undid its change"
    );
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the quit", |s| {
        s.contains("EXITED 0") || s.contains("quit?")
    });
    if screen.contains("quit?") {
        tmux.keys(&["y"]);
        tmux.wait_for("the exit status", |s| s.contains("EXITED 0"));
    }
}

#[test]
fn quitting_the_tui_during_a_run_stops_and_undoes_it() {
    let lab = Lab::up(2, "line");
    let runs = tempfile::tempdir().expect("tmp");
    let recipe = format!(
        "{}/tests/fixtures/walk/slow-lab.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let command = format!(
        "{LABDECK} tui --pool {pool} --recipe {recipe} -p waits=10 --runs-dir {runs}; echo EXITED $?; exec sleep 600",
        pool = lab.pool(),
        runs = runs.path().display()
    );
    let host = || {
        text(
            &lab.exec(
                "h1",
                &[
                    "sh",
                    "-c",
                    "cat /sys/class/net/eth1/mtu; ip -o link show | cut -d' ' -f2",
                ],
            )
            .stdout,
        )
    };
    let before = host();
    let tmux = Tmux::start(&command);
    tmux.wait_for("both hosts up", |s| {
        ["h1", "h2"]
            .iter()
            .all(|h| host_line(s, h).is_some_and(|l| l.contains(" up ")))
    });
    tmux.keys(&[":"]);
    tmux.keys(&["run --testbeds 1", "Enter"]);
    // The long step runs: every change is made by then.
    assert!(
        (0..1200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            lab.exec("h1", &["test", "-e", "/root/waiting"])
                .status
                .success()
        }),
        "the run reached its long step"
    );
    assert_ne!(host(), before);
    // q asks while the run is live; y quits, which stops the run and undoes it.
    tmux.keys(&["q"]);
    tmux.wait_for("the quit question", |s| s.contains("A run is live: quit"));
    tmux.keys(&["y"]);
    tmux.wait_for("the exit status", |s| s.contains("EXITED 0"));
    assert_eq!(host(), before, "quitting undid the run's changes");
    let run_dir = std::fs::read_dir(runs.path())
        .expect("runs")
        .flatten()
        .next()
        .expect("a run directory")
        .path();
    let trace = labdeck::walk::read_trace(run_dir.join("trace.jsonl")).expect("trace");
    let footer = trace.footer.expect("the stopped run has its footer");
    assert_eq!(footer.failed + footer.errors, 0, "a quit is not a failure");
}
