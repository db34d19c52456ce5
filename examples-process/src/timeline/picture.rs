//! A timeline's picture: laid out first (rows, lanes, labels that never overlap, a
//! time axis of round steps), then drawn with [`crate::svg`].

use std::time::Duration;

use super::Record;
use crate::svg::{Anchor, Svg};

/// Sizes of the picture, in pixels. Text is 12 px sans-serif; `CHAR` is a generous
/// width of one character of it, so that no two texts meet.
pub(super) const CHAR: f64 = 7.5;
const PLOT: f64 = 760.0;
pub(super) const BAR: f64 = 20.0;
const GAP: f64 = 8.0;
const LANE: f64 = 18.0;

/// Where each piece of text goes: laid out first, drawn after, and checked by the tests.
#[derive(Debug)]
pub(super) struct Layout {
    pub width: f64,
    pub height: f64,
    pub texts: Vec<Text>,
    pub bars: Vec<Bar>,
    pub rows: Vec<RowBox>,
    pub marks: Vec<(f64, f64, f64)>, // x, from y, to y
    pub ticks: Vec<(f64, String)>,
    pub plot: (f64, f64, f64), // left x, top y, bottom y
    pub title: String,
}

#[derive(Debug)]
pub(super) struct Text {
    pub x: f64,
    pub y: f64, // baseline
    pub anchor: Anchor,
    pub text: String,
    pub class: Class,
}

/// What a text is, which decides how it looks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Class {
    Title,
    RowName,
    MarkLabel,
    BarLabel,
    Tick,
    Axis,
}

#[derive(Debug)]
pub(super) struct Bar {
    pub row: usize,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub label: String,
    pub cut: bool,
    pub colour: usize,
}

#[derive(Debug)]
pub(super) struct RowBox {
    pub name: String,
    pub y: f64,
    pub h: f64,
}

const COLOURS: [&str; 8] =
    ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f"];
const MARK_COLOUR: &str = "#d62728";

pub(super) fn render(title: &str, records: &[Record], now: Duration) -> String {
    draw(&layout(title, records, now))
}

/// The time scale of a picture: seconds since the first record, and where they go.
struct Scale {
    first: Duration,
    span: f64,
    left: f64,
}

impl Scale {
    fn secs(&self, d: Duration) -> f64 {
        d.saturating_sub(self.first).as_secs_f64()
    }

    fn x(&self, t: f64) -> f64 {
        self.left + PLOT * t / self.span
    }
}

/// A mark's label, placed in the first lane above the rows where it meets no other.
struct MarkLabel {
    x: f64,
    lane: usize,
    thread: (i32, i32),
}

pub(super) fn layout(title: &str, records: &[Record], now: Duration) -> Layout {
    let keys = row_keys(records);
    let names: Vec<String> = keys
        .iter()
        .map(
            |&(pid, tid, name)| {
                if pid == tid { format!("{name} (pid {pid})") } else { name.to_owned() }
            },
        )
        .collect();
    let widest = names.iter().map(|n| n.chars().count()).max().unwrap_or(4);
    let scale = time_scale(records, now, 16.0 + CHAR * widest as f64 + 12.0);
    let mut texts = vec![Text {
        x: 16.0,
        y: 24.0,
        anchor: Anchor::Start,
        text: title.to_owned(),
        class: Class::Title,
    }];
    let (labels, lanes) = place_mark_labels(records, &scale, &mut texts);
    let top = 50.0 + LANE * lanes as f64;
    let (rows, bars) = place_bars(records, &keys, &names, &scale, now, top, &mut texts);
    let bottom = rows.last().map_or(top, |r| r.y + r.h);
    label_bars(&bars, &mut texts);
    let marks = labels
        .iter()
        .map(|m| {
            let row = keys.iter().position(|&(p, t, _)| (p, t) == m.thread).unwrap_or(0);
            // From just above the rows (its label sits above that, in its lane).
            (m.x, top - 2.0, rows[row].y + rows[row].h / 2.0)
        })
        .collect();
    let ticks = time_axis(&scale, bottom, &mut texts);
    Layout {
        width: scale.left + PLOT + 80.0,
        height: bottom + 56.0,
        texts,
        bars,
        rows,
        marks,
        ticks,
        plot: (scale.left, top, bottom),
        title: title.to_owned(),
    }
}

/// One row per thread of each process, in the order they were started (pids and
/// thread ids grow; a process's main thread has its pid as thread id).
fn row_keys(records: &[Record]) -> Vec<(i32, i32, &str)> {
    let mut keys: Vec<(i32, i32, &str)> = Vec::new();
    for r in records {
        if !keys.iter().any(|&(p, t, _)| (p, t) == (r.pid, r.tid)) {
            keys.push((r.pid, r.tid, &r.row));
        }
    }
    keys.sort_by_key(|&(pid, tid, _)| (pid, tid));
    keys
}

/// Time runs from the first record, not from when the timeline was made, to a round
/// end past the last.
fn time_scale(records: &[Record], now: Duration, left: f64) -> Scale {
    let first = records.iter().map(|r| r.start).min().unwrap_or_default();
    let secs = |d: Duration| d.saturating_sub(first).as_secs_f64();
    let last = records
        .iter()
        .map(|r| secs(r.end.unwrap_or(if r.mark { r.start } else { now })))
        .fold(0.0, f64::max);
    Scale { first, span: nice_end(last), left }
}

/// Marks' labels above the rows, each in the first lane where it meets no other.
/// Returns the marks and how many lanes they take.
fn place_mark_labels(
    records: &[Record],
    scale: &Scale,
    texts: &mut Vec<Text>,
) -> (Vec<MarkLabel>, usize) {
    let mut lanes: Vec<f64> = Vec::new(); // right end of the last label in each lane
    let mut marks = Vec::new();
    for r in records.iter().filter(|r| r.mark) {
        let x = scale.x(scale.secs(r.start));
        let w = CHAR * r.label.chars().count() as f64;
        let lx = (x - 3.0).min(scale.left + PLOT + 60.0 - w).max(scale.left);
        let lane = lanes.iter().position(|&end| end + 10.0 <= lx).unwrap_or_else(|| {
            lanes.push(f64::NEG_INFINITY);
            lanes.len() - 1
        });
        lanes[lane] = lx + w;
        texts.push(Text {
            x: lx,
            y: 50.0 + LANE * lane as f64 + 12.0,
            anchor: Anchor::Start,
            text: r.label.clone(),
            class: Class::MarkLabel,
        });
        marks.push(MarkLabel { x, lane, thread: (r.pid, r.tid) });
    }
    let used = marks.iter().map(|m| m.lane + 1).max().unwrap_or(0);
    (marks, used)
}

/// Each row's bars from `top` down: within a row, overlapping spans go to separate
/// lanes. Adds the row names to `texts`.
fn place_bars(
    records: &[Record],
    keys: &[(i32, i32, &str)],
    names: &[String],
    scale: &Scale,
    now: Duration,
    top: f64,
    texts: &mut Vec<Text>,
) -> (Vec<RowBox>, Vec<Bar>) {
    let mut rows = Vec::new();
    let mut bars = Vec::new();
    let mut y = top;
    for (k, &(pid, tid, _)) in keys.iter().enumerate() {
        let mut ends: Vec<f64> = Vec::new(); // where the last bar of each lane ends
        let mut spans: Vec<&Record> =
            records.iter().filter(|r| !r.mark && (r.pid, r.tid) == (pid, tid)).collect();
        spans.sort_by_key(|r| r.start);
        for r in spans {
            let (start, end) = (scale.secs(r.start), scale.secs(r.end.unwrap_or(now)));
            let lane = ends.iter().position(|&e| e <= start).unwrap_or_else(|| {
                ends.push(0.0);
                ends.len() - 1
            });
            ends[lane] = end;
            bars.push(Bar {
                row: k,
                x: scale.x(start),
                y: y + GAP / 2.0 + lane as f64 * (BAR + 2.0),
                w: (scale.x(end) - scale.x(start)).max(1.0),
                label: r.label.clone(),
                cut: r.end.is_none(),
                colour: label_colour(&r.label),
            });
        }
        let h = (ends.len().max(1) as f64) * (BAR + 2.0) - 2.0 + GAP;
        texts.push(Text {
            x: scale.left - 12.0,
            y: y + h / 2.0 + 4.0,
            anchor: Anchor::End,
            text: names[k].clone(),
            class: Class::RowName,
        });
        rows.push(RowBox { name: names[k].clone(), y, h });
        y += h;
    }
    (rows, bars)
}

/// A bar's label goes inside it when it fits, shortened with … when that helps.
fn label_bars(bars: &[Bar], texts: &mut Vec<Text>) {
    for bar in bars {
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
            anchor: Anchor::Start,
            text: shown,
            class: Class::BarLabel,
        });
    }
}

/// Time axis under the rows: a step of 1, 2 or 5 × 10^k giving at most 8 ticks.
fn time_axis(scale: &Scale, bottom: f64, texts: &mut Vec<Text>) -> Vec<(f64, String)> {
    let step = nice_step(scale.span / 8.0);
    let mut ticks = Vec::new();
    let mut t = 0.0;
    while t <= scale.span * (1.0 + 1e-9) {
        let label = time_label(t, step);
        texts.push(Text {
            x: scale.x(t),
            y: bottom + 20.0,
            anchor: Anchor::Middle,
            text: label.clone(),
            class: Class::Tick,
        });
        ticks.push((scale.x(t), label));
        t += step;
    }
    texts.push(Text {
        x: scale.left + PLOT / 2.0,
        y: bottom + 42.0,
        anchor: Anchor::Middle,
        text: "time since the first record".into(),
        class: Class::Axis,
    });
    ticks
}

/// A label's colour: by its number if it has one, so that "apply 3" in main and
/// "task 3" in a worker match; else by its words.
fn label_colour(label: &str) -> usize {
    let digits: String = label.chars().filter(char::is_ascii_digit).collect();
    let hash = || label.bytes().fold(0_usize, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
    digits.parse::<usize>().unwrap_or_else(|_| hash()) % COLOURS.len()
}

pub(super) fn nice_step(rough: f64) -> f64 {
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
pub(super) fn nice_end(last: f64) -> f64 {
    let step = nice_step(last.max(1e-3) / 8.0);
    ((last / step).ceil().max(1.0)) * step
}

pub(super) fn time_label(t: f64, step: f64) -> String {
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
    let (left, top, bottom) = l.plot;
    let mut svg = Svg::new(l.width, l.height, &l.title);
    // Stripes behind the rows, then the time grid, then the bars over both.
    for (k, row) in l.rows.iter().enumerate() {
        svg.rect(left, row.y, PLOT, row.h, if k % 2 == 0 { "#f4f4f4" } else { "white" }, "");
    }
    for tick in &l.ticks {
        svg.line((tick.0, top), (tick.0, bottom + 6.0), "#bbb", r#"stroke-width="0.5""#);
    }
    for (k, row) in l.rows.iter().enumerate() {
        svg.group("row", &row.name);
        for bar in l.bars.iter().filter(|b| b.row == k) {
            let class = if bar.cut {
                r#"class="span cut" stroke="white""#
            } else {
                r#"class="span" stroke="white""#
            };
            svg.rect_with_tip(bar.x, bar.y, bar.w, BAR, COLOURS[bar.colour], class, &bar.label);
            if bar.cut {
                // A jagged right edge: this span was still open at the end.
                let (x, y) = (bar.x + bar.w, bar.y);
                let zigzag =
                    [(x, y), (x - 5.0, y + 5.0), (x, y + 10.0), (x - 5.0, y + 15.0), (x, y + 20.0)];
                svg.path(&zigzag, false, r#"fill="none" stroke="black" stroke-width="1.5""#);
            }
        }
        svg.end_group();
    }
    for &(x, from, to) in &l.marks {
        svg.group("mark", "");
        svg.line((x, from), (x, to), MARK_COLOUR, r#"stroke-dasharray="3,2""#);
        let diamond = [(x, to - 6.0), (x + 5.0, to), (x, to + 6.0), (x - 5.0, to)];
        svg.path(&diamond, true, r##"fill="#d62728""##);
        svg.end_group();
    }
    for t in &l.texts {
        let extra = match t.class {
            Class::Title => r#"class="title" font-weight="bold" font-size="14""#,
            Class::RowName => r#"class="row-name""#,
            Class::MarkLabel => r##"class="mark-label" fill="#d62728""##,
            Class::BarLabel => r#"class="bar-label" fill="white""#,
            Class::Tick => r#"class="tick""#,
            Class::Axis => r#"class="axis""#,
        };
        svg.text(t.x, t.y, t.anchor, &t.text, extra);
    }
    svg.finish()
}
