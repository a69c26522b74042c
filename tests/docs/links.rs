//! The book's links, checked as a reader follows them: every page in the summary exists and every page is in it;
//! every relative link reaches a file, and every `#anchor` a heading of its page (ids as mdBook makes them).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Component, Path, PathBuf},
};

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

/// The links and heading ids of one Markdown text.
pub struct Page {
    pub links: Vec<String>,
    pub ids: BTreeSet<String>,
}

pub fn read(text: &str) -> Page {
    let mut links = Vec::new();
    let mut ids = BTreeSet::new();
    let mut heading: Option<String> = None;
    for event in Parser::new(text) {
        match event {
            Event::Start(Tag::Link { dest_url, .. }) | Event::Start(Tag::Image { dest_url, .. }) => {
                links.push(dest_url.to_string())
            }
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                let base = id(&heading.take().unwrap_or_default());
                let mut candidate = base.clone();
                let mut n = 1;
                while !ids.insert(candidate.clone()) {
                    candidate = format!("{base}-{n}");
                    n += 1;
                }
            }
            _ => {}
        }
    }
    Page { links, ids }
}

/// A heading's id as mdBook writes it: lower case, letters, digits, `-` and `_` kept, spaces made `-`.
pub fn id(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                Some(c.to_lowercase().collect::<String>())
            } else if c.is_whitespace() {
                Some("-".into())
            } else {
                None
            }
        })
        .collect()
}

/// `a/b/../c` as `a/c`, without touching the file system.
fn normal(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Every broken link among `pages` (path → text, paths relative to `root`), in words. Links to other sites are
/// not followed (CI reaches none).
pub fn broken(root: &Path, pages: &BTreeMap<PathBuf, String>) -> Vec<String> {
    let read: BTreeMap<&PathBuf, Page> = pages.iter().map(|(p, t)| (p, self::read(t))).collect();
    let mut out = Vec::new();
    for (page, parsed) in &read {
        for link in &parsed.links {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = link.split_once('#').map_or((link.as_str(), None), |(f, a)| (f, Some(a)));
            let target = if file.is_empty() {
                (*page).clone()
            } else {
                normal(&page.parent().unwrap_or(Path::new("")).join(file))
            };
            if !root.join(&target).exists() {
                out.push(format!("{}: {link}: no file {}", page.display(), target.display()));
                continue;
            }
            if let Some(anchor) = anchor {
                match read.get(&target) {
                    Some(p) if p.ids.contains(anchor) => {}
                    Some(_) => {
                        out.push(format!("{}: {link}: no heading #{anchor} in {}", page.display(), target.display()))
                    }
                    None => out.push(format!("{}: {link}: an anchor into a file that is not a page", page.display())),
                }
            }
        }
    }
    out
}
