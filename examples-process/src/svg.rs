//! The one SVG writer of this repository: the timeline's picture ([`crate::timeline`])
//! and the benchmarks' bar charts ([`log_bars`]) are drawn with it.
//!
//! Every piece of text a caller gives (titles, labels, names) is escaped here; the
//! extra attributes of an element are `&'static str`, so only the program's own
//! constants can be written unescaped.
//!
//! ```
//! use examples_process::svg::{Anchor, Svg};
//!
//! let mut svg = Svg::new(200.0, 40.0, "a <title>");
//! svg.rect(10.0, 10.0, 50.0, 20.0, "#4e79a7", "");
//! svg.text(70.0, 25.0, Anchor::Start, "5 < 6 & 7 > 6", "");
//! let picture = svg.finish();
//! assert!(picture.contains("<title>a &lt;title&gt;</title>"));
//! assert!(picture.contains(">5 &lt; 6 &amp; 7 &gt; 6</text>"));
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;

/// A picture being written: elements in drawing order (later ones on top).
pub struct Svg {
    out: String,
}

/// Where a text's `x` is: its start, middle or end.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Anchor {
    /// `x` is where the text starts.
    Start,
    /// `x` is the text's middle.
    Middle,
    /// `x` is where the text ends.
    End,
}

impl Anchor {
    fn name(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

impl Svg {
    /// A `width` × `height` picture on white, 12 px sans-serif, titled `title` (shown by
    /// viewers as its name).
    pub fn new(width: f64, height: f64, title: &str) -> Svg {
        let mut out = String::new();
        let _ = writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(out, "<title>{}</title>", escape(title));
        out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        Svg { out }
    }

    /// A filled rectangle; `extra` adds attributes (`r#"stroke="white""#`).
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, extra: &'static str) {
        let _ = writeln!(
            self.out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{}"{}/>"#,
            escape(fill),
            spaced(extra)
        );
    }

    /// A rectangle with a tooltip (`tip`, shown when the pointer rests on it).
    #[allow(clippy::too_many_arguments)] // a rectangle's four numbers, its fill and tip
    pub fn rect_with_tip(
        &mut self,
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        fill: &str,
        extra: &'static str,
        tip: &str,
    ) {
        let _ = writeln!(
            self.out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{}"{}><title>{}</title></rect>"#,
            escape(fill),
            spaced(extra),
            escape(tip)
        );
    }

    /// A straight line.
    pub fn line(&mut self, from: (f64, f64), to: (f64, f64), stroke: &str, extra: &'static str) {
        let _ = writeln!(
            self.out,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}"{}/>"#,
            from.0,
            from.1,
            to.0,
            to.1,
            escape(stroke),
            spaced(extra)
        );
    }

    /// A path through `points`, closed if `closed`.
    pub fn path(&mut self, points: &[(f64, f64)], closed: bool, extra: &'static str) {
        let mut d = String::new();
        for (k, (x, y)) in points.iter().enumerate() {
            let _ = write!(d, "{}{x:.1},{y:.1}", if k == 0 { "M" } else { " L" });
        }
        if closed {
            d.push_str(" Z");
        }
        let _ = writeln!(self.out, r#"<path d="{d}"{}/>"#, spaced(extra));
    }

    /// A line of text at (`x`, baseline `y`).
    pub fn text(&mut self, x: f64, y: f64, anchor: Anchor, text: &str, extra: &'static str) {
        let _ = writeln!(
            self.out,
            r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{}"{}>{}</text>"#,
            anchor.name(),
            spaced(extra),
            escape(text)
        );
    }

    /// Opens a group of elements with a class and a name (for tests and tools that read
    /// the picture); [`end_group`](Svg::end_group) closes it.
    pub fn group(&mut self, class: &'static str, name: &str) {
        let _ = writeln!(self.out, r#"<g class="{class}" data-name="{}">"#, escape(name));
    }

    /// Closes the group opened last.
    pub fn end_group(&mut self) {
        self.out.push_str("</g>\n");
    }

    /// The finished picture.
    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

/// `text` with the five characters that mean something in XML replaced.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn spaced(extra: &'static str) -> String {
    if extra.is_empty() { String::new() } else { format!(" {extra}") }
}

/// A horizontal bar chart of ratios on a log scale, one bar per value, bars running
/// from 1× (a solid line) to their value. Rows may be grouped under headings, and each
/// bar's colour is one of the legend's keys.
///
/// ```
/// use examples_process::svg::{BarChart, Row, log_bars};
///
/// let chart = BarChart {
///     title: "How much faster",
///     legend: &[("#1f77b4", "faster"), ("#ff7f0e", "slower")],
///     groups: vec![(None, vec![
///         Row { label: "start".into(), bars: vec![(118.0, 0)] },
///         Row { label: "queue".into(), bars: vec![(0.5, 1)] },
///     ])],
/// };
/// let picture = log_bars(&chart);
/// assert!(picture.contains(">200×</text>"), "the axis ends at a round number past 118");
/// assert!(!picture.contains(">1000×</text>"));
/// ```
pub struct BarChart<'a> {
    /// Above the chart.
    pub title: &'a str,
    /// Each key's colour and what it means, drawn under the title.
    pub legend: &'a [(&'a str, &'a str)],
    /// Rows under an optional heading.
    pub groups: Vec<(Option<String>, Vec<Row>)>,
}

/// One row of a [`BarChart`]: its label and its bars (value, key in the legend).
pub struct Row {
    /// Left of the bars.
    pub label: String,
    /// Each bar's ratio and its legend key.
    pub bars: Vec<(f64, usize)>,
}

/// Draws `chart` (see [`BarChart`]). The axis spans the values, rounded out to 1, 2 or
/// 5 times a power of ten, and always includes 1×.
pub fn log_bars(chart: &BarChart) -> String {
    const LABEL: f64 = 330.0;
    const PLOT: f64 = 480.0;
    const BAR: f64 = 12.0;
    const HEADING: f64 = 24.0;
    let values = || chart.groups.iter().flat_map(|(_, rows)| rows).flat_map(|r| &r.bars);
    let finite = |v: f64| v.is_finite() && v > 0.0;
    let low = values().map(|b| b.0).filter(|&v| finite(v)).fold(1.0, f64::min);
    let high = values().map(|b| b.0).filter(|&v| finite(v)).fold(1.0, f64::max);
    let (low, high) = (round_out(low, false), round_out(high, true).max(low * 10.0));
    let (lo, hi) = (low.log10(), high.log10());
    let x = |v: f64| LABEL + PLOT * (v.clamp(low, high).log10() - lo) / (hi - lo);
    let row_height = |r: &Row| BAR * r.bars.len() as f64 + 10.0;
    let rows_height: f64 = chart
        .groups
        .iter()
        .map(|(h, rows)| {
            rows.iter().map(row_height).sum::<f64>() + if h.is_some() { HEADING } else { 0.0 }
        })
        .sum();
    let top = 70.0;
    let (width, height) = (LABEL + PLOT + 70.0, top + rows_height + 40.0);
    let mut svg = Svg::new(width, height, chart.title);
    svg.text(10.0, 20.0, Anchor::Start, chart.title, r#"font-size="14" font-weight="bold""#);
    let mut key_x = 10.0;
    for (colour, meaning) in chart.legend {
        svg.rect(key_x, 32.0, 12.0, 10.0, colour, "");
        svg.text(key_x + 16.0, 41.0, Anchor::Start, meaning, "");
        key_x += 16.0 + 7.5 * meaning.chars().count() as f64 + 20.0;
    }
    let bottom = top + rows_height;
    for tick in ticks(low, high) {
        let extra = if tick == 1.0 { "" } else { r#"stroke-dasharray="3,3""# };
        svg.line(
            (x(tick), top - 6.0),
            (x(tick), bottom),
            if tick == 1.0 { "#444" } else { "#bbb" },
            extra,
        );
        svg.text(x(tick), bottom + 16.0, Anchor::Middle, &format!("{}×", figure(tick)), "");
    }
    let mut y = top;
    for (heading, rows) in &chart.groups {
        if let Some(heading) = heading {
            svg.text(10.0, y + 16.0, Anchor::Start, heading, r#"font-weight="bold""#);
            y += HEADING;
        }
        for row in rows {
            let h = row_height(row);
            svg.text(LABEL - 8.0, y + h / 2.0 + 4.0, Anchor::End, &row.label, "");
            for (k, &(value, key)) in row.bars.iter().enumerate() {
                let by = y + 5.0 + BAR * k as f64;
                let colour = chart.legend.get(key).map_or("#888", |(c, _)| c);
                let (from, to) = (x(1.0), x(value));
                let w = (to - from).abs().max(1.0);
                svg.rect(from.min(to), by, w, BAR - 2.0, colour, r#"class="bar""#);
                let text = format!("{}×", figure(value));
                svg.text(
                    from.max(to) + 4.0,
                    by + BAR - 3.0,
                    Anchor::Start,
                    &text,
                    r#"font-size="10""#,
                );
            }
            y += h;
        }
    }
    svg.finish()
}

/// `v` rounded away from 1 to 1, 2 or 5 times a power of ten (`up`: the next one above).
fn round_out(v: f64, up: bool) -> f64 {
    let power = 10f64.powf(v.log10().floor());
    let steps = [1.0, 2.0, 5.0, 10.0].map(|m| m * power);
    if up {
        steps.into_iter().find(|&s| s >= v * (1.0 - 1e-9)).unwrap_or(10.0 * power)
    } else {
        steps.into_iter().rev().find(|&s| s <= v * (1.0 + 1e-9)).unwrap_or(power)
    }
}

/// The ticks of a log axis from `low` to `high`: both ends and each power of ten
/// between.
fn ticks(low: f64, high: f64) -> Vec<f64> {
    let mut ticks = vec![low];
    let mut power = low.log10().floor() as i32 + 1;
    while 10f64.powi(power) < high * (1.0 - 1e-9) {
        ticks.push(10f64.powi(power));
        power += 1;
    }
    if high > low * (1.0 + 1e-9) {
        ticks.push(high);
    }
    ticks
}

/// A ratio as a short figure: 3 significant digits, no trailing zeros.
fn figure(x: f64) -> String {
    match x.abs() {
        a if a >= 100.0 => format!("{x:.0}"),
        a if a >= 10.0 => format!("{x:.1}").trim_end_matches(".0").to_string(),
        a if a >= 1.0 => trim(format!("{x:.2}")),
        _ => trim(format!("{x:.3}")),
    }
}

fn trim(s: String) -> String {
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_is_rounded_out_to_one_two_or_five() {
        assert_eq!(round_out(118.0, true), 200.0);
        assert_eq!(round_out(1.0, true), 1.0);
        assert_eq!(round_out(0.3, false), 0.2);
        assert_eq!(round_out(0.05, false), 0.05);
        assert_eq!(ticks(1.0, 200.0), [1.0, 10.0, 100.0, 200.0]);
        assert_eq!(ticks(0.2, 10.0), [0.2, 1.0, 10.0]);
    }

    #[test]
    fn figures_are_short() {
        assert_eq!(figure(118.4), "118");
        assert_eq!(figure(10.0), "10");
        assert_eq!(figure(2.5), "2.5");
        assert_eq!(figure(0.2), "0.2");
    }

    #[test]
    fn every_text_is_escaped() {
        let chart = BarChart {
            title: "<t>",
            legend: &[("#000", "a&b")],
            groups: vec![(
                Some("\"h\"".into()),
                vec![Row { label: "<r>".into(), bars: vec![(2.0, 0)] }],
            )],
        };
        let picture = log_bars(&chart);
        for raw in ["<t>", "a&b", "\"h\"", "<r>"] {
            assert!(!picture.contains(raw), "{raw} unescaped");
        }
    }
}
