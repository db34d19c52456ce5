//! Checks a timeline picture written with `--timeline`: well-formed XML (every tag
//! closed in order, attributes quoted, no bare `<` or `&` in text) and what it shows.

use std::collections::BTreeMap;

/// What a timeline SVG shows, read from the classes the renderer puts on it.
#[derive(Debug, Default)]
pub struct Timeline {
    /// Each row's name, with its spans' labels (from their `<title>`), in order.
    pub rows: Vec<(String, Vec<String>)>,
    /// How many spans were drawn cut off (still running at the end).
    pub cut: usize,
    /// How many marks.
    pub marks: usize,
    /// The marks' labels.
    pub mark_labels: Vec<String>,
}

impl Timeline {
    /// The row whose name starts with `prefix` (panics, naming the rows, if none does).
    pub fn row(&self, prefix: &str) -> &[String] {
        match self.rows.iter().find(|(name, _)| name.starts_with(prefix)) {
            Some((_, spans)) => spans,
            None => panic!("no row named {prefix}…; rows: {:?}", self.names()),
        }
    }

    /// The rows' names.
    pub fn names(&self) -> Vec<&str> {
        self.rows.iter().map(|(name, _)| name.as_str()).collect()
    }

    /// Every span's label, row after row.
    pub fn spans(&self) -> Vec<&str> {
        self.rows.iter().flat_map(|(_, s)| s.iter().map(String::as_str)).collect()
    }
}

/// Parses `svg`, checking that it is well-formed, and reads what it shows.
pub fn read(svg: &str) -> Result<Timeline, String> {
    let mut open: Vec<String> = Vec::new();
    let mut shown = Timeline::default();
    let mut rest = svg;
    let mut in_span = false;
    let mut root_seen = false;
    let mut in_mark_label = false;
    let mut title = String::new();
    let mut text = String::new();
    while let Some(at) = rest.find('<') {
        check_text(&rest[..at])?;
        if open.last().is_some_and(|t| t == "title" || t == "text") {
            text.push_str(&rest[..at]);
        }
        let end = rest[at..].find('>').ok_or("a tag is not closed with >")? + at;
        let tag = &rest[at + 1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let top = open.pop().ok_or(format!("</{name}> closes nothing"))?;
            if top != name {
                return Err(format!("</{name}> closes <{top}>"));
            }
            match name {
                "title" if in_span => {
                    title = unescape(&text);
                }
                "rect" if in_span => {
                    shown.rows.last_mut().ok_or("a span outside a row")?.1.push(title.clone());
                    in_span = false;
                }
                "text" if in_mark_label => {
                    shown.mark_labels.push(unescape(&text));
                    in_mark_label = false;
                }
                _ => {}
            }
            text.clear();
            continue;
        }
        if open.is_empty() && root_seen {
            return Err("more than one root element".into());
        }
        root_seen = true;
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, attributes) = tag.split_once(' ').unwrap_or((tag, ""));
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("a bad tag name in <{tag}>"));
        }
        let attributes = parse_attributes(attributes)?;
        let class = attributes.get("class").map(String::as_str).unwrap_or("");
        match (name, class) {
            ("g", "row") => shown.rows.push((
                unescape(attributes.get("data-name").ok_or("a row without a name")?),
                Vec::new(),
            )),
            ("g", "mark") => shown.marks += 1,
            ("rect", c) if c.split(' ').next() == Some("span") => {
                in_span = true;
                shown.cut += usize::from(c.ends_with(" cut"));
            }
            ("text", "mark-label") => in_mark_label = true,
            _ => {}
        }
        if !self_closing {
            open.push(name.to_owned());
        }
        text.clear();
    }
    check_text(rest)?;
    if !open.is_empty() {
        return Err(format!("not closed: {open:?}"));
    }
    if !rest.trim().is_empty() || !svg.trim_start().starts_with("<svg") {
        return Err("not one <svg> element".into());
    }
    Ok(shown)
}

fn parse_attributes(mut text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut found = BTreeMap::new();
    loop {
        text = text.trim_start();
        if text.is_empty() {
            return Ok(found);
        }
        let (name, after) =
            text.split_once("=\"").ok_or(format!("an unquoted attribute: {text}"))?;
        let (value, after) = after.split_once('"').ok_or("an attribute's quote is not closed")?;
        if value.contains('<') {
            return Err(format!("< in an attribute: {value}"));
        }
        check_text(value)?;
        if found.insert(name.to_owned(), value.to_owned()).is_some() {
            return Err(format!("attribute {name} twice"));
        }
        text = after;
    }
}

/// Text may hold `&` only as the start of one of XML's entities.
fn check_text(text: &str) -> Result<(), String> {
    for (at, _) in text.match_indices('&') {
        let entity = &text[at..];
        if !["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].iter().any(|e| entity.starts_with(e)) {
            return Err(format!("a bare & in {text:?}"));
        }
    }
    Ok(())
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Runs `bin` with `args` and `--timeline FILE`, checks that it succeeded and wrote a
/// well-formed picture, and returns its output and what the picture shows (the file is
/// removed).
pub fn run_with_timeline(bin: &str, args: &[&str]) -> (crate::Output, Timeline) {
    let name = std::path::Path::new(bin).file_name().unwrap_or_default().to_string_lossy();
    let dir = crate::PrivateDir::new("timeline");
    let path = dir.path().join(format!("{name}.svg"));
    let path_text = path.to_string_lossy().into_owned();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--timeline", &path_text]);
    let out = crate::run(bin, &all);
    out.assert_success();
    let svg = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path_text}: {e}"));
    drop(dir);
    assert!(out.stdout.contains(&format!("timeline written to {path_text}")), "{}", out.show());
    let shown = read(&svg).unwrap_or_else(|e| panic!("{path_text} is not well-formed: {e}"));
    (out, shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_spans_and_marks() {
        let svg = r#"<svg a="1"><g class="row" data-name="P &amp; Q"><rect class="span" x="1"><title>task &lt;1&gt;</title></rect><rect class="span cut"><title>t2</title></rect></g><g class="mark"><line/></g><text class="mark-label">go</text></svg>"#;
        let t = read(svg).unwrap();
        assert_eq!(t.rows, [("P & Q".to_string(), vec!["task <1>".to_string(), "t2".to_string()])]);
        assert_eq!((t.cut, t.marks), (1, 1));
        assert_eq!(t.mark_labels, ["go"]);
    }

    #[test]
    fn refuses_what_is_not_well_formed() {
        assert!(read("<svg><g></svg>").is_err());
        assert!(read("<svg><text>a & b</text></svg>").is_err());
        assert!(read(r#"<svg x=1></svg>"#).is_err());
        assert!(read("<svg></svg><svg></svg>").is_err());
        assert!(read("<svg>").is_err());
    }
}
