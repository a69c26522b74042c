//! Server-side apply as the API server does it, for the in-memory API. Each field manager owns the fields of its
//! last applied configuration, per object and subresource. An apply sets the fields it names, and removes those
//! the same manager applied before and no longer names, unless another manager applies them too. Without
//! `force`, an apply that would change a field another manager applied is refused with 409 Conflict; with it,
//! the field changes owner.
//!
//! Two simplifications, both stricter than or equal to the server for a single manager: lists are atomic (the
//! server merges list-maps such as `containers` by key), and fields written by plain updates (`FakeApi::edit`,
//! `FakeApi::put`, the Deployment controller it plays) belong to no manager, so no apply ever removes them.

use std::collections::BTreeMap;

use serde_json::Value;

/// A field's path from the object's root, one map key per step.
type Path = Vec<String>;

/// The last configuration each manager applied, per object (`collection/name`, plus `/status` for the status
/// subresource).
#[derive(Default)]
pub struct Managers {
    applied: BTreeMap<String, BTreeMap<String, Value>>,
}

impl Managers {
    /// Applies `config` as `manager` over `object`, or answers the conflicts' message as the API server words it.
    pub fn apply(
        &mut self,
        key: &str,
        object: &mut Value,
        manager: &str,
        config: Value,
        force: bool,
    ) -> Result<(), String> {
        let managers = self.applied.entry(key.to_string()).or_default();
        let mine = leaves(&config);
        let conflicts: Vec<(String, Path)> = managers
            .iter()
            .filter(|(other, _)| *other != manager)
            .flat_map(|(other, theirs)| {
                leaves(theirs)
                    .into_iter()
                    .filter(|(path, value)| mine.get(path).is_some_and(|ours| ours != value))
                    .map(move |(path, _)| (other.clone(), path))
            })
            .collect();
        if !conflicts.is_empty() && !force {
            let listed: Vec<String> = conflicts
                .iter()
                .map(|(other, path)| format!("conflict with \"{other}\": .{}", path.join(".")))
                .collect();
            let n = listed.len();
            return Err(format!(
                "Apply failed with {n} conflict{}: {}",
                if n == 1 { "" } else { "s" },
                listed.join(", ")
            ));
        }
        for (other, path) in &conflicts {
            if let Some(theirs) = managers.get_mut(other) {
                remove(theirs, path);
            }
        }
        let previous = managers.insert(manager.to_string(), config.clone());
        for (path, value) in previous.as_ref().map(leaves).unwrap_or_default() {
            // An empty map owns no field in it: dropping it from the configuration removes nothing.
            let owns_nothing = value.as_object().is_some_and(|m| m.is_empty());
            let kept = owns_nothing
                || mine.contains_key(&path)
                || managers.iter().any(|(other, theirs)| other != manager && lookup(theirs, &path).is_some());
            if !kept {
                remove(object, &path);
            }
        }
        super::merge(object, &config);
        Ok(())
    }

    /// Forgets every manager of the object at `key` (and of its status): it was deleted.
    pub fn forget(&mut self, key: &str) {
        self.applied.remove(key);
        self.applied.remove(&format!("{key}/status"));
    }
}

/// Every field a configuration sets: its scalars, lists and empty maps, by path.
fn leaves(config: &Value) -> BTreeMap<Path, &Value> {
    fn walk<'v>(value: &'v Value, path: &mut Path, out: &mut BTreeMap<Path, &'v Value>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    path.push(k.clone());
                    walk(v, path, out);
                    path.pop();
                }
            }
            _ => {
                out.insert(path.clone(), value);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(config, &mut Vec::new(), &mut out);
    out
}

fn lookup<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, k| v.as_object()?.get(k))
}

/// Removes the field at `path`, and the maps it leaves empty, as the server prunes them.
fn remove(value: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else { return };
    let Some(map) =
        parents.iter().try_fold(&mut *value, |v, k| v.as_object_mut()?.get_mut(k)).and_then(Value::as_object_mut)
    else {
        return;
    };
    map.remove(last);
    if map.is_empty() && !parents.is_empty() {
        remove(value, parents);
    }
}
