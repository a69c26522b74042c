//! The house rules, checked on the source as the compiler reads it (`syn`): layers point down only — no import
//! circle between files of `src/`, whether through `use` lines, paths written in code, or re-exports — and no
//! file past 500 lines nor function past 80, tests aside.
//!
//! An edge goes from a file to the file that defines what it names: `use super::Context` in a child module, where
//! the parent only re-exports `Context` from `reconcile.rs`, is an edge to `reconcile.rs`. A parent declaring a
//! child (`mod child;`) is no edge; a parent that uses what its child defines is one, so a child that needs the
//! parent's own items back closes a circle.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use syn::{Item, UseTree, spanned::Spanned, visit::Visit};

type ModPath = Vec<String>;

/// Most lines a file of `src/` may have, its test module aside.
const MAX_FILE_LINES: usize = 500;
/// Most lines a function of `src/` may have, tests aside.
const MAX_FN_LINES: usize = 80;

/// One file of the library: its module path, its syntax (test modules removed) and what it names.
struct Module {
    file: PathBuf,
    ast: syn::File,
    /// Absolute paths it names (`use` trees and paths in code).
    names: Vec<ModPath>,
    /// What it re-exports: a name, and the absolute path it stands for.
    reexports: BTreeMap<String, ModPath>,
    /// Modules it re-exports whole (`pub use x::*`).
    globs: Vec<ModPath>,
    /// The names of the items it defines.
    defines: BTreeSet<String>,
}

/// The name an item defines, if any.
fn defined(item: &Item) -> Option<String> {
    let ident = match item {
        Item::Const(i) => &i.ident,
        Item::Enum(i) => &i.ident,
        Item::Fn(i) => &i.sig.ident,
        Item::Static(i) => &i.ident,
        Item::Struct(i) => &i.ident,
        Item::Trait(i) => &i.ident,
        Item::Type(i) => &i.ident,
        Item::Union(i) => &i.ident,
        Item::Mod(i) => &i.ident,
        Item::Macro(i) => i.ident.as_ref()?,
        _ => return None,
    };
    Some(ident.to_string())
}

fn module_path(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).unwrap();
    let mut segs: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    let last = segs.pop().unwrap();
    match last.as_str() {
        "lib.rs" | "mod.rs" => {}
        other => segs.push(other.trim_end_matches(".rs").to_string()),
    }
    segs
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .any(|a| a.path().is_ident("cfg") && a.parse_args::<syn::Meta>().is_ok_and(|m| m.path().is_ident("test")))
}

/// Flattens a use tree into (path, name it binds); a glob binds `*`.
fn flatten(tree: &UseTree, prefix: &mut ModPath, out: &mut Vec<(ModPath, String)>) {
    match tree {
        UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten(&p.tree, prefix, out);
            prefix.pop();
        }
        UseTree::Name(n) => {
            let name = n.ident.to_string();
            if name == "self" {
                out.push((prefix.clone(), prefix.last().cloned().unwrap_or_default()));
            } else {
                let mut p = prefix.clone();
                p.push(name.clone());
                out.push((p, name));
            }
        }
        UseTree::Rename(r) => {
            let mut p = prefix.clone();
            if r.ident != "self" {
                p.push(r.ident.to_string());
            }
            out.push((p, r.rename.to_string()));
        }
        UseTree::Glob(_) => out.push((prefix.clone(), "*".into())),
        UseTree::Group(g) => g.items.iter().for_each(|t| flatten(t, prefix, out)),
    }
}

/// `path` as written in module `at`, made absolute; `None` for another crate's.
fn absolute(at: &ModPath, path: &[String], modules: &BTreeSet<ModPath>) -> Option<ModPath> {
    let mut base = at.clone();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        Some(first) => {
            // A child module named without `self::` (uniform paths), or another crate.
            let mut child = at.clone();
            child.push(first.to_string());
            if !modules.contains(&child) {
                return None;
            }
        }
        None => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// Collects every path written in code.
struct Paths(Vec<ModPath>);

impl<'ast> Visit<'ast> for Paths {
    fn visit_path(&mut self, p: &'ast syn::Path) {
        self.0.push(p.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, p);
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }

    fn visit_item_use(&mut self, _: &'ast syn::ItemUse) {}

    // `pub(super)` names a module, but uses nothing of it.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}
}

fn load() -> BTreeMap<ModPath, Module> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    // The binary is its own crate: it uses the library, never the other way round.
    files.retain(|f| !f.ends_with("main.rs"));
    let parsed: Vec<(ModPath, PathBuf, syn::File)> = files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            let mut ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            ast.items.retain(|i| !matches!(i, Item::Mod(m) if is_test(&m.attrs)));
            (module_path(&src, &f), f, ast)
        })
        .collect();
    let modules: BTreeSet<ModPath> = parsed.iter().map(|(m, ..)| m.clone()).collect();
    parsed
        .into_iter()
        .map(|(at, file, ast)| {
            let mut names = Vec::new();
            let mut reexports = BTreeMap::new();
            let mut globs = Vec::new();
            let mut aliases: BTreeMap<String, ModPath> = BTreeMap::new();
            let defines = ast.items.iter().filter_map(defined).collect();
            for item in &ast.items {
                let Item::Use(u) = item else { continue };
                let mut flat = Vec::new();
                flatten(&u.tree, &mut Vec::new(), &mut flat);
                for (path, name) in flat {
                    let Some(abs) = absolute(&at, &path, &modules) else { continue };
                    aliases.insert(name.clone(), abs.clone());
                    if !matches!(u.vis, syn::Visibility::Inherited) {
                        if name == "*" {
                            globs.push(abs.clone());
                        } else {
                            reexports.insert(name, abs.clone());
                        }
                    }
                    names.push(abs);
                }
            }
            // A path in code may start with a name a `use` line bound (`use crate::plan;` … `plan::plan(…)`).
            let mut code = Paths(Vec::new());
            code.visit_file(&ast);
            for p in &code.0 {
                let bound = aliases.get(&p[0]).map(|a: &ModPath| a.iter().chain(&p[1..]).cloned().collect());
                names.extend(bound.or_else(|| absolute(&at, p, &modules)));
            }
            (at, Module { file, ast, names, reexports, globs, defines })
        })
        .collect()
}

/// The file that defines what `path` names: the deepest module on it, followed through its re-exports.
fn defining(path: &ModPath, modules: &BTreeMap<ModPath, Module>, depth: usize) -> Option<ModPath> {
    let at = (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| modules.contains_key(p))?;
    let rest = &path[at.len()..];
    if rest.is_empty() && depth == 0 {
        // A module named whole (`use crate::plan;`): what is used of it is named in code, through the alias.
        return None;
    }
    let (Some(first), true) = (rest.first(), depth < 8) else { return Some(at) };
    let m = &modules[&at];
    if m.defines.contains(first) {
        return Some(at);
    }
    // Re-exported by name, or through a glob of a module that has it.
    let target = m.reexports.get(first).cloned().or_else(|| {
        m.globs
            .iter()
            .find(|g| modules.get(*g).is_some_and(|gm| gm.defines.contains(first) || gm.reexports.contains_key(first)))
            .map(|g| g.iter().chain([first]).cloned().collect())
    });
    match target {
        Some(mut next) => {
            next.extend(rest[1..].iter().cloned());
            if next == *path { Some(at) } else { defining(&next, modules, depth + 1) }
        }
        None => Some(at),
    }
}

fn edges(modules: &BTreeMap<ModPath, Module>) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    modules
        .iter()
        .map(|(at, m)| {
            let to: BTreeSet<ModPath> =
                m.names.iter().filter_map(|p| defining(p, modules, 0)).filter(|t| t != at).collect();
            (at.clone(), to)
        })
        .collect()
}

/// The strongly connected components with more than one file (Tarjan's algorithm).
fn circles(graph: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct State<'g> {
        graph: &'g BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'g ModPath, usize>,
        low: BTreeMap<&'g ModPath, usize>,
        stack: Vec<&'g ModPath>,
        on_stack: BTreeSet<&'g ModPath>,
        out: Vec<Vec<ModPath>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g ModPath) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn shown(graph: &BTreeMap<ModPath, BTreeSet<ModPath>>, modules: &BTreeMap<ModPath, Module>, c: &[ModPath]) -> String {
    let file = |m: &ModPath| modules[m].file.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap().display().to_string();
    let mut lines = Vec::new();
    for a in c {
        for b in graph[a].iter().filter(|b| c.contains(b)) {
            lines.push(format!("  {} → {}", file(a), file(b)));
        }
    }
    lines.join("\n")
}

#[test]
fn no_import_circle_between_files_of_src() {
    let modules = load();
    let graph = edges(&modules);
    let found = circles(&graph);
    let text: Vec<String> = found.iter().map(|c| shown(&graph, &modules, c)).collect();
    assert!(
        found.is_empty(),
        "import circles between files of src/ (each an arrow of the circle):\n{}",
        text.join("\n\n")
    );
}

#[test]
fn the_check_finds_a_circle_put_back() {
    // Two files that name each other, through a re-export of the parent, as `controller/backups` once did with
    // `controller/reconcile`.
    let modules = load();
    let mut graph = edges(&modules);
    let a: ModPath = vec!["controller".into(), "reconcile".into()];
    let b: ModPath = vec!["controller".into(), "backups".into()];
    assert!(graph.contains_key(&a) && graph.contains_key(&b), "{:?}", graph.keys().collect::<Vec<_>>());
    graph.get_mut(&a).unwrap().insert(b.clone());
    graph.get_mut(&b).unwrap().insert(a.clone());
    assert!(circles(&graph).iter().any(|c| c.contains(&a) && c.contains(&b)));
    // And re-exports are followed: `use super::Context` in a child is an edge to the file that defines it.
    let context = defining(&vec!["controller".into(), "Context".into()], &modules, 0).unwrap();
    assert_ne!(context, vec!["controller".to_string()], "followed to its definition");
}

/// Lines of code of the file outside its test module, and each function's length.
#[test]
fn no_file_past_500_lines_nor_function_past_80() {
    let modules = load();
    let mut too_long = Vec::new();
    for m in modules.values() {
        let text = std::fs::read_to_string(&m.file).unwrap();
        let test_start = text.find("#[cfg(test)]\nmod tests").map(|at| text[..at].lines().count());
        let lines = test_start.unwrap_or_else(|| text.lines().count());
        let file = m.file.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap().display().to_string();
        if lines > MAX_FILE_LINES {
            too_long.push(format!("{file}: {lines} lines"));
        }
        let mut fns = Functions(Vec::new());
        fns.visit_file(&m.ast);
        for (name, n) in fns.0.into_iter().filter(|(_, n)| *n > MAX_FN_LINES) {
            too_long.push(format!("{file}: fn {name} {n} lines"));
        }
    }
    assert!(too_long.is_empty(), "past the house's limits:\n  {}", too_long.join("\n  "));
}

struct Functions(Vec<(String, usize)>);

impl Functions {
    fn add(&mut self, name: &syn::Ident, span: proc_macro2::Span) {
        self.0.push((name.to_string(), span.end().line - span.start().line + 1));
    }
}

impl<'ast> Visit<'ast> for Functions {
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.add(&f.sig.ident, f.span());
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.add(&f.sig.ident, f.span());
        syn::visit::visit_impl_item_fn(self, f);
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
}
