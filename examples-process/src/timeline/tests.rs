//! The timeline's tests: recording, the picture's layout, the flag, saving.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use super::log::LABEL;
use super::picture::{CHAR, Class, Text, layout, nice_end, nice_step, time_label};
use super::*;
use crate::svg::Anchor;

/// The box a text takes: left, right, top, bottom.
fn extent(t: &Text) -> (f64, f64, f64, f64) {
    let w = CHAR * t.text.chars().count() as f64;
    let left = match t.anchor {
        Anchor::End => t.x - w,
        Anchor::Middle => t.x - w / 2.0,
        Anchor::Start => t.x,
    };
    (left, left + w, t.y - 12.0, t.y + 3.0)
}
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
        let (al, ar, at, ab) = extent(a);
        for b in &l.texts[i + 1..] {
            let (bl, br, bt, bb) = extent(b);
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
    for t in l.texts.iter().filter(|t| t.class == Class::BarLabel) {
        let (tl, tr, _, _) = extent(t);
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
    assert!(take_flag(&mut vec!["--timeline".into()]).unwrap_err().contains("needs a file name"));
    assert!(
        take_flag(&mut vec!["--timeline".into(), "/no/such/dir/t.svg".into()])
            .unwrap_err()
            .contains("no directory /no/such/dir")
    );
    assert!(take_flag(&mut vec!["--timeline".into(), "/tmp".into()]).is_err());
}

#[test]
fn a_failed_save_leaves_no_file() {
    use std::os::unix::fs::DirBuilderExt;
    // A new directory of its own (random name, mode 0700, made exclusively): no other
    // user can have made it first or plant anything in it.
    let random = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), 0_u8);
    let dir = std::env::temp_dir().join(format!("timeline-test-{random:016x}"));
    let make = || std::fs::DirBuilder::new().mode(0o700).create(&dir);
    make().unwrap();
    let path = dir.join("t.svg");
    let timeline = Timeline::to_file(&path).unwrap();
    timeline.mark("m");
    std::fs::remove_dir(&dir).unwrap(); // the directory went away meanwhile
    let e = timeline.save("t").unwrap_err();
    assert!(e.to_string().contains("cannot write the timeline"), "{e}");
    assert!(!dir.exists());
    make().unwrap();
    assert_eq!(timeline.save("t").unwrap(), Some(path.as_path()));
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.starts_with("<svg") && written.ends_with("</svg>\n"));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left");
    std::fs::remove_dir_all(&dir).unwrap();
}
