//! Timelines of who ran when: spans recorded from any thread of this process and of the
//! children it forks, drawn as one self-contained SVG picture.
//!
//! A [`Timeline`] lives in shared memory, so a child started with fork records into the
//! same log as its parent (children started with spawn or forkserver do not: they do
//! not share the mapping). A span costs two reads of the monotonic clock, which every
//! process shares, one atomic increment and about a hundred bytes of stores: about
//! 150 ns for a span opened and closed here (release build, best of 20 runs of 4,000),
//! nothing next to what the examples measure.
//!
//! ```
//! use examples_process::Process;
//! use examples_process::timeline::Timeline;
//!
//! let timeline = Timeline::recording()?;
//! let mut child = Process::new({
//!     let timeline = timeline.clone();
//!     move || {
//!         let _working = timeline.span("work"); // ends when dropped
//!         std::thread::sleep(std::time::Duration::from_millis(10));
//!     }
//! });
//! child.start()?;
//! timeline.mark("started");
//! child.join()?;
//! let records = timeline.records();
//! assert_eq!(records.len(), 2); // the child's span and the parent's mark
//! assert!(timeline.svg("one child").starts_with("<svg"));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! A span still open when the picture is drawn (its process was killed, or it has not
//! ended yet) is drawn up to the end with a jagged edge: cut off.
//!
//! The examples take `--timeline FILE.svg` ([`Timeline::from_args_or_exit`] and
//! [`take_flag`]); without it a timeline is [`off`](Timeline::off) and costs nothing.

use std::cell::RefCell;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::process_shared;
use crate::shared::SharedMemory;

/// How many spans and marks one timeline holds; later ones are counted, not kept.
pub const CAPACITY: usize = 4096;
const LABEL: usize = 48;
const ROW: usize = 40;

const EMPTY: u32 = 0;
const OPEN: u32 = 1;
const CLOSED: u32 = 2;
const MARK: u32 = 3;

process_shared! {
    /// One span or mark. `state` is written last (Release) and read first (Acquire).
    struct Entry {
        state: AtomicU32,
        pid: AtomicI32,
        tid: AtomicI32,
        start: AtomicU64,
        end: AtomicU64,
        label: [AtomicU8; LABEL],
        row: [AtomicU8; ROW],
    }
}

process_shared! {
    /// The shared log: when it began, the next free entry, and the entries.
    struct Log {
        origin: AtomicU64,
        next: AtomicU32,
        entries: [Entry; CAPACITY],
    }
}

/// A recorder of spans and marks, shared with threads (clone it) and forked children
/// (move a clone into the child). [`Timeline::off`] records nothing.
#[derive(Clone)]
pub struct Timeline {
    log: Option<SharedMemory<Log>>,
    path: Option<PathBuf>,
}

/// A span being recorded; it ends when dropped. Hold it in a named variable
/// (`let _span = ...`): `let _ = ...` would end it at once.
#[must_use = "a span ends when dropped: bind it with `let _span = ...`"]
pub struct Span<'a> {
    entry: Option<&'a Entry>,
    origin: u64,
}

impl Drop for Span<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.entry {
            entry.end.store(now_ns().saturating_sub(self.origin), Ordering::Relaxed);
            entry.state.store(CLOSED, Ordering::Release);
        }
    }
}

/// A span or mark read back from a timeline. Times are since the timeline began.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The row: the process's name for its main thread, else the thread's name.
    pub row: String,
    /// The recording process.
    pub pid: i32,
    /// The recording thread (the kernel's thread id).
    pub tid: i32,
    /// What the span or mark says.
    pub label: String,
    /// When it began (a mark: when it happened).
    pub start: Duration,
    /// When it ended: `None` for a mark, or a span still open.
    pub end: Option<Duration>,
    /// Whether this is a mark (an instant), not a span.
    pub mark: bool,
}

impl Timeline {
    /// A timeline that records nothing, for a run without `--timeline`.
    pub fn off() -> Timeline {
        Timeline { log: None, path: None }
    }

    /// A timeline that records, in memory shared with children forked afterwards.
    pub fn recording() -> io::Result<Timeline> {
        // All-zero is an empty log; only the origin differs.
        let log = SharedMemory::<Log>::zeroed()?;
        log.origin.store(now_ns(), Ordering::Relaxed);
        Ok(Timeline { log: Some(log), path: None })
    }

    /// A recording timeline that [`save`](Timeline::save) writes to `path`.
    pub fn to_file(path: impl Into<PathBuf>) -> io::Result<Timeline> {
        Ok(Timeline { path: Some(path.into()), ..Timeline::recording()? })
    }

    /// [`to_file`](Timeline::to_file) for `Some(path)`, [`off`](Timeline::off) for
    /// `None`: what [`take_flag`] found.
    pub fn for_flag(path: Option<PathBuf>) -> io::Result<Timeline> {
        path.map_or_else(|| Ok(Timeline::off()), Timeline::to_file)
    }

    /// For an example whose only argument is `--timeline FILE.svg`: a timeline writing
    /// there, or [`off`](Timeline::off) without the flag. `--help` prints the usage and
    /// exits; anything else, or a file in a directory that does not exist, ends the
    /// program with a one-line usage error and exit code 2.
    pub fn from_args_or_exit() -> Timeline {
        let program = crate::output::program_name();
        let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
        let usage = |what: &str| -> ! {
            eprintln!("{program}: {what}; usage: {program} [--timeline FILE.svg]");
            std::process::exit(2)
        };
        if args.iter().any(|a| a == "--help" || a == "-h") {
            println!("usage: {program} [--timeline FILE.svg]");
            std::process::exit(0);
        }
        let path = take_flag(&mut args).unwrap_or_else(|e| usage(&e));
        if let Some(extra) = args.first() {
            usage(&format!("unexpected argument {extra:?}"));
        }
        match Timeline::for_flag(path) {
            Ok(timeline) => timeline,
            Err(e) => {
                eprintln!("{program}: cannot record a timeline: {e}");
                std::process::exit(1)
            }
        }
    }

    /// Whether this timeline records.
    pub fn is_on(&self) -> bool {
        self.log.is_some()
    }

    /// Starts a span labelled `label` on this thread's row; it ends when the returned
    /// guard is dropped.
    pub fn span(&self, label: &str) -> Span<'_> {
        let Some(log) = &self.log else { return Span { entry: None, origin: 0 } };
        let origin = log.origin.load(Ordering::Relaxed);
        let entry = claim(log, label, now_ns().saturating_sub(origin));
        Span { entry, origin }
    }

    /// Records an instant event on this thread's row (drawn as a mark with its label
    /// above the rows).
    pub fn mark(&self, label: &str) {
        if let Some(log) = &self.log {
            let at = now_ns().saturating_sub(log.origin.load(Ordering::Relaxed));
            if let Some(entry) = claim(log, label, at) {
                entry.end.store(at, Ordering::Relaxed);
                entry.state.store(MARK, Ordering::Release);
            }
        }
    }

    /// What has been recorded so far, in the order the entries were claimed. Spans
    /// still open have `end: None`.
    pub fn records(&self) -> Vec<Record> {
        let Some(log) = &self.log else { return Vec::new() };
        let claimed = (log.next.load(Ordering::Acquire) as usize).min(CAPACITY);
        log.entries[..claimed]
            .iter()
            .filter_map(|e| {
                let state = e.state.load(Ordering::Acquire);
                (state != EMPTY).then(|| Record {
                    row: text(&e.row),
                    pid: e.pid.load(Ordering::Relaxed),
                    tid: e.tid.load(Ordering::Relaxed),
                    label: text(&e.label),
                    start: Duration::from_nanos(e.start.load(Ordering::Relaxed)),
                    end: (state == CLOSED)
                        .then(|| Duration::from_nanos(e.end.load(Ordering::Relaxed))),
                    mark: state == MARK,
                })
            })
            .collect()
    }

    /// How many spans and marks did not fit (beyond [`CAPACITY`]).
    pub fn dropped(&self) -> usize {
        self.log
            .as_ref()
            .map_or(0, |log| (log.next.load(Ordering::Relaxed) as usize).saturating_sub(CAPACITY))
    }

    /// The picture of what has been recorded, as SVG, titled `title`.
    pub fn svg(&self, title: &str) -> String {
        let now = self
            .log
            .as_ref()
            .map_or(0, |log| now_ns().saturating_sub(log.origin.load(Ordering::Relaxed)));
        render(title, &self.records(), Duration::from_nanos(now))
    }

    /// Writes the picture to the file given to [`to_file`](Timeline::to_file) (nothing
    /// for a timeline without one) and returns its path. It goes to a temporary file
    /// beside it first, renamed into place: a failed write leaves no partial file.
    pub fn save(&self, title: &str) -> io::Result<Option<&Path>> {
        let Some(path) = &self.path else { return Ok(None) };
        write_atomically(path, self.svg(title).as_bytes()).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot write the timeline {}: {e}", path.display()))
        })?;
        Ok(Some(path))
    }
}

/// Takes `--timeline FILE` (or `--timeline=FILE`) out of `args` and returns the file,
/// checked: it must name a file in a directory that exists. The error is one line for
/// a usage message.
pub fn take_flag(args: &mut Vec<OsString>) -> Result<Option<PathBuf>, String> {
    let Some(at) = args
        .iter()
        .position(|a| a == "--timeline" || a.to_string_lossy().starts_with("--timeline="))
    else {
        return Ok(None);
    };
    let flag = args.remove(at);
    let value = match flag.to_string_lossy().strip_prefix("--timeline=") {
        Some(value) => OsString::from(value),
        None if at < args.len() => args.remove(at),
        None => return Err("--timeline needs a file name".into()),
    };
    let path = PathBuf::from(&value);
    if value.is_empty() || path.file_name().is_none() || path.is_dir() {
        return Err(format!("--timeline needs a file name, not {value:?}"));
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!("--timeline: no directory {}", dir.display()));
    }
    Ok(Some(path))
}

/// Writes `bytes` to a new file beside `path`, then renames it over `path`: a reader
/// sees the old file or the new one, never half of one. The new file's name cannot be
/// guessed (a random number from the operating system's keys) and it is created
/// exclusively, so a name planted in a shared directory (a link to someone's file) is
/// never written through.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::hash::{BuildHasher, RandomState};
    use std::io::Write;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    for attempt in 0..16_u32 {
        let random = RandomState::new().hash_one((attempt, std::time::SystemTime::now()));
        let temporary = path.with_file_name(format!(".{name}.{random:016x}.tmp"));
        let mut file = match std::fs::File::options().write(true).create_new(true).open(&temporary)
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let written = file.write_all(bytes).and_then(|()| std::fs::rename(&temporary, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        return written;
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name beside it"))
}

/// Claims the next entry and fills it in as an open span starting at `start`.
fn claim<'a>(log: &'a Log, label: &str, start: u64) -> Option<&'a Entry> {
    let entry = log.entries.get(log.next.fetch_add(1, Ordering::Relaxed) as usize)?;
    THIS_ROW.with_borrow_mut(|row| {
        let pid = crate::current_pid(); // cached: no system call
        let (tid, name) = match row {
            Some((p, tid, name)) if *p == pid => (*tid, name),
            _ => {
                // First use on this thread, or in a child forked since.
                let tid = rustix::thread::gettid().as_raw_nonzero().get();
                let (_, tid, name) = row.insert((pid, tid, row_name(pid, tid)));
                (*tid, name)
            }
        };
        entry.pid.store(pid, Ordering::Relaxed);
        entry.tid.store(tid, Ordering::Relaxed);
        put(&entry.row, name);
    });
    entry.start.store(start, Ordering::Relaxed);
    put(&entry.label, label);
    entry.state.store(OPEN, Ordering::Release);
    Some(entry)
}

thread_local! {
    /// This thread's pid, thread id and row name, found on first use; a forked child
    /// (whose pid differs) finds its own.
    static THIS_ROW: RefCell<Option<(i32, i32, String)>> = const { RefCell::new(None) };
}

fn row_name(pid: i32, tid: i32) -> String {
    let process = crate::current_process().name;
    if pid == tid {
        return process;
    }
    let thread = std::thread::current();
    let thread = thread.name().map_or_else(|| format!("thread {tid}"), str::to_owned);
    if process == "MainProcess" { thread } else { format!("{process}: {thread}") }
}

fn put(field: &[AtomicU8], text: &str) {
    let mut end = text.len().min(field.len() - 1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    for (slot, &byte) in field.iter().zip(text.as_bytes()[..end].iter().chain(&[0])) {
        slot.store(byte, Ordering::Relaxed);
    }
}

fn text(field: &[AtomicU8]) -> String {
    let bytes: Vec<u8> =
        field.iter().map(|b| b.load(Ordering::Relaxed)).take_while(|&b| b != 0).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn now_ns() -> u64 {
    // CLOCK_MONOTONIC is one clock for every process on the machine (it cannot fail
    // on Linux; 0 would only misplace a span).
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        (t.tv_sec() as u64).saturating_mul(1_000_000_000).saturating_add(t.tv_nsec() as u64)
    })
}

// ---- drawing ---------------------------------------------------------------------

/// Sizes of the picture, in pixels. Text is 12 px sans-serif; `CHAR` is a generous
/// width of one character of it, so that no two texts meet.
const CHAR: f64 = 7.5;
const PLOT: f64 = 760.0;
const BAR: f64 = 20.0;
const GAP: f64 = 8.0;
const LANE: f64 = 18.0;

/// Where each piece of text goes: laid out first, drawn after, and checked by the tests.
#[derive(Debug)]
struct Layout {
    width: f64,
    height: f64,
    texts: Vec<Text>,
    bars: Vec<Bar>,
    rows: Vec<RowBox>,
    marks: Vec<(f64, f64, f64)>, // x, from y, to y
    ticks: Vec<(f64, String)>,
    plot: (f64, f64, f64), // left x, top y, bottom y
    title: String,
}

#[derive(Debug)]
struct Text {
    x: f64,
    y: f64, // baseline
    anchor: &'static str,
    text: String,
    class: &'static str,
}

#[cfg(test)]
impl Text {
    /// The box the text takes: left, right, top, bottom.
    fn extent(&self) -> (f64, f64, f64, f64) {
        let w = CHAR * self.text.chars().count() as f64;
        let left = match self.anchor {
            "end" => self.x - w,
            "middle" => self.x - w / 2.0,
            _ => self.x,
        };
        (left, left + w, self.y - 12.0, self.y + 3.0)
    }
}

#[derive(Debug)]
struct Bar {
    row: usize,
    x: f64,
    y: f64,
    w: f64,
    label: String,
    cut: bool,
    colour: usize,
}

#[derive(Debug)]
struct RowBox {
    name: String,
    y: f64,
    h: f64,
}

const COLOURS: [&str; 8] =
    ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f"];

fn render(title: &str, records: &[Record], now: Duration) -> String {
    draw(&layout(title, records, now))
}

fn layout(title: &str, records: &[Record], now: Duration) -> Layout {
    // Time runs from the first record, not from when the timeline was made.
    let first = records.iter().map(|r| r.start).min().unwrap_or_default();
    let secs = |d: Duration| d.saturating_sub(first).as_secs_f64();
    let last = records
        .iter()
        .map(|r| secs(r.end.unwrap_or(if r.mark { r.start } else { now })))
        .fold(0.0, f64::max);
    let span = nice_end(last);
    // One row per thread of each process, in the order they were started (pids and
    // thread ids grow; a process's main thread has its pid as thread id).
    let mut keys: Vec<(i32, i32, &str)> = Vec::new();
    for r in records {
        if !keys.iter().any(|&(p, t, _)| (p, t) == (r.pid, r.tid)) {
            keys.push((r.pid, r.tid, &r.row));
        }
    }
    keys.sort_by_key(|&(pid, tid, _)| (pid, tid));
    let names: Vec<String> = keys
        .iter()
        .map(
            |&(pid, tid, name)| {
                if pid == tid { format!("{name} (pid {pid})") } else { name.to_owned() }
            },
        )
        .collect();
    let left =
        16.0 + CHAR * names.iter().map(|n| n.chars().count()).max().unwrap_or(4) as f64 + 12.0;
    let x = |t: f64| left + PLOT * t / span;
    let mut texts = Vec::new();

    // Marks' labels above the rows, each in the first lane where it meets no other.
    let mut lanes: Vec<f64> = Vec::new(); // right end of the last label in each lane
    let mut mark_labels = Vec::new();
    for r in records.iter().filter(|r| r.mark) {
        let mx = x(secs(r.start));
        let w = CHAR * r.label.chars().count() as f64;
        let lx = (mx - 3.0).min(left + PLOT + 60.0 - w).max(left);
        let lane = lanes.iter().position(|&end| end + 10.0 <= lx).unwrap_or_else(|| {
            lanes.push(f64::NEG_INFINITY);
            lanes.len() - 1
        });
        lanes[lane] = lx + w;
        mark_labels.push((mx, lx, lane, r.label.clone(), r.pid, r.tid));
    }
    let top = 50.0 + LANE * lanes.len() as f64;
    for &(_, lx, lane, ref label, _, _) in &mark_labels {
        texts.push(Text {
            x: lx,
            y: 50.0 + LANE * lane as f64 + 12.0,
            anchor: "start",
            text: label.clone(),
            class: "mark-label",
        });
    }

    // Bars: within a row, overlapping spans go to separate lanes.
    let mut rows = Vec::new();
    let mut bars = Vec::new();
    let mut y = top;
    for (k, &(pid, tid, _)) in keys.iter().enumerate() {
        let mut ends: Vec<f64> = Vec::new(); // where the last bar of each lane ends
        let mut spans: Vec<&Record> =
            records.iter().filter(|r| !r.mark && (r.pid, r.tid) == (pid, tid)).collect();
        spans.sort_by_key(|r| r.start);
        for r in spans {
            let (start, end) = (secs(r.start), secs(r.end.unwrap_or(now)));
            let lane = ends.iter().position(|&e| e <= start).unwrap_or_else(|| {
                ends.push(0.0);
                ends.len() - 1
            });
            ends[lane] = end;
            bars.push(Bar {
                row: k,
                x: x(start),
                y: y + GAP / 2.0 + lane as f64 * (BAR + 2.0),
                w: (x(end) - x(start)).max(1.0),
                label: r.label.clone(),
                cut: r.end.is_none(),
                colour: label_colour(&r.label),
            });
        }
        let h = (ends.len().max(1) as f64) * (BAR + 2.0) - 2.0 + GAP;
        texts.push(Text {
            x: left - 12.0,
            y: y + h / 2.0 + 4.0,
            anchor: "end",
            text: names[k].clone(),
            class: "row-name",
        });
        rows.push(RowBox { name: names[k].clone(), y, h });
        y += h;
    }
    let bottom = y;
    // A bar's label goes inside it when it fits, shortened with … when that helps.
    for bar in &bars {
        let room = ((bar.w - 8.0) / CHAR).floor().max(0.0) as usize;
        let n = bar.label.chars().count();
        let shown = if n <= room {
            bar.label.clone()
        } else if room >= 4 {
            bar.label.chars().take(room - 1).chain(['…']).collect()
        } else {
            continue;
        };
        texts.push(Text {
            x: bar.x + 4.0,
            y: bar.y + BAR / 2.0 + 4.0,
            anchor: "start",
            text: shown,
            class: "bar-label",
        });
    }
    let marks = mark_labels
        .iter()
        .map(|&(mx, _, _, _, pid, tid)| {
            let row = keys.iter().position(|&(p, t, _)| (p, t) == (pid, tid)).unwrap_or(0);
            // From just above the rows (its label sits above that, in its lane).
            (mx, top - 2.0, rows[row].y + rows[row].h / 2.0)
        })
        .collect();
    // Time axis: a step of 1, 2 or 5 × 10^k giving at most 8 ticks.
    let step = nice_step(span / 8.0);
    let mut ticks = Vec::new();
    let mut t = 0.0;
    while t <= span * (1.0 + 1e-9) {
        let label = time_label(t, step);
        texts.push(Text {
            x: x(t),
            y: bottom + 20.0,
            anchor: "middle",
            text: label.clone(),
            class: "tick",
        });
        ticks.push((x(t), label));
        t += step;
    }
    texts.push(Text {
        x: left + PLOT / 2.0,
        y: bottom + 42.0,
        anchor: "middle",
        text: "time since the first record".into(),
        class: "axis",
    });
    texts.push(Text { x: 16.0, y: 24.0, anchor: "start", text: title.to_owned(), class: "title" });
    Layout {
        width: left + PLOT + 80.0,
        height: bottom + 56.0,
        texts,
        bars,
        rows,
        marks,
        ticks,
        plot: (left, top, bottom),
        title: title.to_owned(),
    }
}

/// A label's colour: by its number if it has one, so that "apply 3" in main and
/// "task 3" in a worker match; else by its words.
fn label_colour(label: &str) -> usize {
    let digits: String = label.chars().filter(char::is_ascii_digit).collect();
    let hash = || label.bytes().fold(0_usize, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
    digits.parse::<usize>().unwrap_or_else(|_| hash()) % COLOURS.len()
}

fn nice_step(rough: f64) -> f64 {
    if rough <= 0.0 {
        return 0.001;
    }
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&s| s >= rough)
        .unwrap_or(10.0 * power)
}

/// The end of the axis: the last time rounded up to a whole step.
fn nice_end(last: f64) -> f64 {
    let step = nice_step(last.max(1e-3) / 8.0);
    ((last / step).ceil().max(1.0)) * step
}

fn time_label(t: f64, step: f64) -> String {
    match step {
        _ if t == 0.0 => "0".into(),
        s if s >= 1.0 => format!("{t:.0} s"),
        s if s >= 0.1 => format!("{t:.1} s"),
        s if s >= 1e-3 => format!("{:.0} ms", t * 1e3),
        s if s >= 1e-6 => format!("{:.0} µs", t * 1e6),
        _ => format!("{:.0} ns", t * 1e9),
    }
}

fn draw(l: &Layout) -> String {
    let mut out = String::new();
    let (left, top, bottom) = l.plot;
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{:.0}" height="{:.0}" viewBox="0 0 {:.0} {:.0}" font-family="sans-serif" font-size="12">"#,
        l.width, l.height, l.width, l.height
    );
    let _ = writeln!(out, "<title>{}</title>", escape(&l.title));
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    // Stripes behind the rows, then the time grid, then the bars over both.
    for (k, row) in l.rows.iter().enumerate() {
        let fill = if k % 2 == 0 { "#f4f4f4" } else { "white" };
        let _ = writeln!(
            out,
            r#"<rect x="{left:.1}" y="{:.1}" width="{PLOT:.1}" height="{:.1}" fill="{fill}"/>"#,
            row.y, row.h
        );
    }
    for tick in &l.ticks {
        let _ = writeln!(
            out,
            r##"<line x1="{:.1}" y1="{top:.1}" x2="{:.1}" y2="{:.1}" stroke="#bbb" stroke-width="0.5"/>"##,
            tick.0,
            tick.0,
            bottom + 6.0
        );
    }
    for (k, row) in l.rows.iter().enumerate() {
        let _ = writeln!(out, r#"<g class="row" data-name="{}">"#, escape(&row.name));
        for bar in l.bars.iter().filter(|b| b.row == k) {
            let colour = COLOURS[bar.colour];
            let _ = writeln!(
                out,
                r#"<rect class="span{}" x="{:.1}" y="{:.1}" width="{:.1}" height="{BAR}" fill="{colour}" stroke="white" stroke-width="1"><title>{}</title></rect>"#,
                if bar.cut { " cut" } else { "" },
                bar.x,
                bar.y,
                bar.w,
                escape(&bar.label)
            );
            if bar.cut {
                // A jagged right edge: this span was still open at the end.
                let (rx, y0) = (bar.x + bar.w, bar.y);
                let _ = writeln!(
                    out,
                    r#"<path d="M{rx:.1},{y0:.1} l-5,5 l5,5 l-5,5 l5,5" fill="none" stroke="black" stroke-width="1.5"/>"#
                );
            }
        }
        let _ = writeln!(out, "</g>");
    }
    for &(mx, y0, y1) in &l.marks {
        let _ = writeln!(
            out,
            r##"<g class="mark"><line x1="{mx:.1}" y1="{y0:.1}" x2="{mx:.1}" y2="{y1:.1}" stroke="#d62728" stroke-dasharray="3,2"/><path d="M{mx:.1},{:.1} l5,6 l-5,6 l-5,-6 z" fill="#d62728"/></g>"##,
            y1 - 6.0
        );
    }
    for t in &l.texts {
        let weight = if t.class == "title" { r#" font-weight="bold" font-size="14""# } else { "" };
        let colour = match t.class {
            "bar-label" => "white",
            "mark-label" => "#d62728",
            _ => "black",
        };
        let _ = writeln!(
            out,
            r#"<text class="{}" x="{:.1}" y="{:.1}" text-anchor="{}" fill="{colour}"{weight}>{}</text>"#,
            t.class,
            t.x,
            t.y,
            t.anchor,
            escape(&t.text)
        );
    }
    out.push_str("</svg>\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pid: i32, tid: i32, label: &str, start_ms: u64, end_ms: Option<u64>) -> Record {
        Record {
            row: format!("row {pid}/{tid}"),
            pid,
            tid,
            label: label.into(),
            start: Duration::from_millis(start_ms),
            end: end_ms.map(Duration::from_millis),
            mark: false,
        }
    }

    fn mark(pid: i32, label: &str, at_ms: u64) -> Record {
        Record {
            mark: true,
            end: Some(Duration::from_millis(at_ms)),
            ..record(pid, pid, label, at_ms, None)
        }
    }

    #[test]
    fn an_open_span_reads_back_open_and_is_drawn_cut() {
        let timeline = Timeline::recording().unwrap();
        let open = timeline.span("still running");
        let records = timeline.records();
        assert_eq!(records[0].end, None);
        assert!(timeline.svg("t").contains(r#"class="span cut""#));
        drop(open);
        assert!(timeline.records()[0].end.is_some());
        assert!(!timeline.svg("t").contains("cut"));
    }

    #[test]
    fn off_records_nothing_and_saves_nothing() {
        let timeline = Timeline::off();
        drop(timeline.span("x"));
        timeline.mark("y");
        assert!(timeline.records().is_empty());
        assert_eq!(timeline.save("t").unwrap(), None);
    }

    #[test]
    fn long_labels_are_cut_at_a_character_boundary() {
        let timeline = Timeline::recording().unwrap();
        timeline.mark(&"é".repeat(100));
        assert_eq!(timeline.records()[0].label, "é".repeat((LABEL - 1) / 2));
    }

    #[test]
    fn entries_beyond_capacity_are_counted_not_kept() {
        let timeline = Timeline::recording().unwrap();
        for _ in 0..CAPACITY + 3 {
            timeline.mark("m");
        }
        assert_eq!(timeline.records().len(), CAPACITY);
        assert_eq!(timeline.dropped(), 3);
    }

    #[test]
    fn no_two_texts_overlap() {
        // Crowded: many rows, short spans, marks close together, long labels.
        let mut records = Vec::new();
        for p in 1..6 {
            for k in 0..20 {
                records.push(record(
                    p,
                    p,
                    &format!("task number {k} of row {p}"),
                    k * 37 + p as u64,
                    Some(k * 37 + 30 + p as u64 * 3),
                ));
            }
            records.push(record(p, p + 100, "a thread's span", 5, Some(700)));
        }
        for k in 0..12 {
            records.push(mark(1, &format!("event {k} happened"), 50 * k));
        }
        let l = layout("crowded", &records, Duration::from_millis(800));
        for (i, a) in l.texts.iter().enumerate() {
            let (al, ar, at, ab) = a.extent();
            for b in &l.texts[i + 1..] {
                let (bl, br, bt, bb) = b.extent();
                let apart = ar <= bl || br <= al || ab <= bt || bb <= at;
                assert!(apart, "{a:?} overlaps {b:?}");
            }
            assert!(
                al >= 0.0 && ar <= l.width && at >= 0.0 && ab <= l.height,
                "{a:?} leaves the picture"
            );
        }
        assert_eq!(l.rows.len(), 10);
        assert_eq!(l.bars.len(), 105);
    }

    #[test]
    fn bar_labels_stay_inside_their_bars() {
        let records = [
            record(1, 1, "a rather long label for a short span", 0, Some(20)),
            record(1, 1, "x", 500, Some(1000)),
        ];
        let l = layout("t", &records, Duration::from_secs(1));
        for t in l.texts.iter().filter(|t| t.class == "bar-label") {
            let (tl, tr, _, _) = t.extent();
            let bar = l.bars.iter().find(|b| b.x <= tl && tl < b.x + b.w).expect("inside a bar");
            assert!(tr <= bar.x + bar.w, "{t:?} sticks out of {bar:?}");
        }
    }

    #[test]
    fn ticks_are_round_and_cover_the_run() {
        assert_eq!(nice_step(0.13), 0.2);
        assert!((nice_end(1.234) - 1.4).abs() < 1e-9);
        assert_eq!(time_label(0.25, 0.05), "250 ms");
        assert_eq!(time_label(0.00015, 0.00005), "150 µs");
        assert_eq!(time_label(1.5, 0.5), "1.5 s");
        let l = layout("t", &[record(1, 1, "a", 0, Some(1234))], Duration::from_secs(2));
        let last: f64 = l.ticks.last().unwrap().0;
        assert!(l.ticks.len() >= 5 && l.ticks.len() <= 9, "{:?}", l.ticks);
        assert!(l.bars[0].x + l.bars[0].w <= last + 0.01);
    }

    #[test]
    fn the_flag_is_taken_out_and_checked() {
        let mut args: Vec<OsString> =
            ["--n", "5", "--timeline", "/tmp/t.svg"].map(OsString::from).to_vec();
        assert_eq!(take_flag(&mut args), Ok(Some(PathBuf::from("/tmp/t.svg"))));
        assert_eq!(args, ["--n", "5"].map(OsString::from));
        let mut args = vec![OsString::from("--timeline=t.svg")];
        assert_eq!(take_flag(&mut args), Ok(Some(PathBuf::from("t.svg"))));
        assert_eq!(take_flag(&mut vec![]), Ok(None));
        assert!(
            take_flag(&mut vec!["--timeline".into()]).unwrap_err().contains("needs a file name")
        );
        assert!(
            take_flag(&mut vec!["--timeline".into(), "/no/such/dir/t.svg".into()])
                .unwrap_err()
                .contains("no directory /no/such/dir")
        );
        assert!(take_flag(&mut vec!["--timeline".into(), "/tmp".into()]).is_err());
    }

    #[test]
    fn a_failed_save_leaves_no_file() {
        let dir = std::env::temp_dir().join(format!("timeline-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.svg");
        let timeline = Timeline::to_file(&path).unwrap();
        timeline.mark("m");
        std::fs::remove_dir(&dir).unwrap(); // the directory went away meanwhile
        let e = timeline.save("t").unwrap_err();
        assert!(e.to_string().contains("cannot write the timeline"), "{e}");
        assert!(!dir.exists());
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(timeline.save("t").unwrap(), Some(path.as_path()));
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(written.starts_with("<svg") && written.ends_with("</svg>\n"));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
