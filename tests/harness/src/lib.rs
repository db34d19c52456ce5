//! Runs an example binary the way a user would and helps tests assert on what it did.
//!
//! - [`run`] starts the binary in a process group of its own, with no standard input,
//!   and waits at most [`TIMEOUT`]. A run that hangs, or that leaves a descendant
//!   holding its output open after it exited, has its whole group killed and fails the
//!   test with the binary's name and the output so far.
//! - [`Output`] holds the exit status and the output, with helpers to count lines,
//!   find their order, read `key=value` fields and mask pids.
//!
//! Integration tests get a binary's path from Cargo: `env!("CARGO_BIN_EXE_<name>")`
//! (only for the test's own package). Tests never fork themselves: the test harness
//! runs them on several threads.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// How long a run may take before it counts as a hang. Generous: it bounds a hang, it
/// does not measure speed.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// What a finished run printed, and how it ended.
#[derive(Debug)]
pub struct Output {
    /// The binary's file name, for messages.
    pub name: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `bin` with `args` and waits for it (at most [`TIMEOUT`]).
pub fn run(bin: &str, args: &[&str]) -> Output {
    run_with_timeout(bin, args, TIMEOUT)
}

/// Runs `bin` with `args`, failing the test if it has not finished after `timeout`.
pub fn run_with_timeout(bin: &str, args: &[&str], timeout: Duration) -> Output {
    let name = Path::new(bin).file_name().map_or(bin.into(), |n| n.to_string_lossy().into_owned());
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0) // so that a hang can be ended with everything it started
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: cannot start {bin}: {e}"));
    let group = Pid::from_raw(child.id() as i32);
    let deadline = Instant::now() + timeout;

    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());
    let status = wait_until(&mut child, deadline);
    // The output ends when every process holding the pipe has closed it: the binary and
    // any descendant it left behind.
    let stdout = stdout.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    let stderr = stderr.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    let (Some(status), Ok(stdout), Ok(stderr)) = (status, stdout, stderr) else {
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait();
        panic!(
            "{name}: still running, or a process it started still is, after {timeout:?}; \
             its process group was killed"
        );
    };
    Output { name, status, stdout, stderr }
}

fn read_in_background(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
        });
    }
    rx
}

fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

impl Output {
    /// Fails the test, showing both outputs, unless the binary exited with code 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Output {
        assert!(
            self.status.success(),
            "{} failed with {}\n{}",
            self.name,
            self.status,
            self.show()
        );
        self
    }

    /// Fails the test unless the binary exited with `code` (not killed by a signal).
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Output {
        assert_eq!(
            self.status.code(),
            Some(code),
            "{} ended with {}\n{}",
            self.name,
            self.status,
            self.show()
        );
        self
    }

    /// The signal that killed the binary, if one did.
    pub fn signal(&self) -> Option<i32> {
        self.status.signal()
    }

    /// Standard output, line by line.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// How many lines of standard output are exactly `line`.
    pub fn count(&self, line: &str) -> usize {
        self.stdout.lines().filter(|l| *l == line).count()
    }

    /// How many lines of standard output contain `part`.
    pub fn count_containing(&self, part: &str) -> usize {
        self.stdout.lines().filter(|l| l.contains(part)).count()
    }

    /// The index of the first line of standard output that contains `part`.
    #[track_caller]
    pub fn position(&self, part: &str) -> usize {
        self.stdout
            .lines()
            .position(|l| l.contains(part))
            .unwrap_or_else(|| panic!("{}: no line contains {part:?}\n{}", self.name, self.show()))
    }

    /// The first line of standard output that contains `part`.
    #[track_caller]
    pub fn line(&self, part: &str) -> &str {
        self.lines()[self.position(part)]
    }

    /// The value of `key=value` in the first line that has it: `field("pid")` reads
    /// `1234` from `child pid=1234 ppid=1200`. Values end at white space, `,`, `;` or a bracket.
    #[track_caller]
    pub fn field(&self, key: &str) -> &str {
        self.stdout
            .lines()
            .find_map(|l| field(l, key))
            .unwrap_or_else(|| panic!("{}: no line has {key}=\n{}", self.name, self.show()))
    }

    /// Standard output with every pid masked (see [`mask_pids`]).
    pub fn masked(&self) -> String {
        mask_pids(&self.stdout)
    }

    /// Both outputs, for a failure message.
    pub fn show(&self) -> String {
        format!("--- stdout ---\n{}--- stderr ---\n{}", self.stdout, self.stderr)
    }
}

/// The value of `key=value` in `line`, if it is there as a whole key.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split([' ', ',', ';', '(', ')', '[', ']'])
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        .filter(|value| !value.is_empty())
}

/// The whole number right after `key` in `line`: `number_after("g_num=12 of 20", "g_num=")`
/// is 12. Panics, naming both, if there is none (a test helper).
#[track_caller]
pub fn number_after(line: &str, key: &str) -> i64 {
    let at = line.find(key).unwrap_or_else(|| panic!("no {key:?} in {line:?}")) + key.len();
    let rest = &line[at..];
    let digits =
        rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-').len();
    rest[..digits].parse().unwrap_or_else(|_| panic!("no number after {key:?} in {line:?}"))
}

/// Replaces the digits after every `pid=` (which includes `ppid=`) with `N`, so that
/// lines can be compared across runs.
pub fn mask_pids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("pid=") {
        let (head, tail) = rest.split_at(at + "pid=".len());
        out.push_str(head);
        let digits = tail.len() - tail.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push('N');
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_reads_whole_keys_only() {
        let line = "child pid=12, ppid=7; name=Process-1";
        assert_eq!(field(line, "pid"), Some("12"));
        assert_eq!(field(line, "ppid"), Some("7"));
        assert_eq!(field(line, "name"), Some("Process-1"));
        assert_eq!(field(line, "id"), None);
    }

    #[test]
    fn number_after_reads_the_number_only() {
        assert_eq!(number_after("racy: g_num=1364608 of 2000000", "g_num="), 1364608);
        assert_eq!(number_after("exitcode=-9)", "exitcode="), -9);
    }

    #[test]
    fn mask_pids_masks_every_pid() {
        assert_eq!(mask_pids("pid=12 ppid=7 x=3\npid="), "pid=N ppid=N x=3\npid=");
    }

    #[test]
    fn run_reports_exit_code_and_output() {
        let out = run("/bin/sh", &["-c", "echo a; echo b; exit 3"]);
        out.assert_code(3);
        assert_eq!(out.lines(), ["a", "b"]);
    }

    #[test]
    #[should_panic(expected = "still running")]
    fn run_fails_a_hang_and_kills_it() {
        run_with_timeout("/bin/sleep", &["30"], Duration::from_millis(200));
    }

    #[test]
    #[should_panic(expected = "still running")]
    fn run_fails_when_a_descendant_is_left_behind() {
        // `sh` exits at once; the background `sleep` keeps stdout open.
        run_with_timeout("/bin/sh", &["-c", "sleep 30 &"], Duration::from_millis(300));
    }
}
