//! An in-memory Kubernetes API server for reconcile tests and the scale benchmark: it serves GET, LIST and
//! WATCH (with label selectors, across namespaces), server-side apply PATCH (including `/status`, with field
//! ownership per manager: see `apply`), DELETE and POST, and logs every request so tests can count them at the
//! HTTP layer. Optionally every request waits a fixed latency first, as a real API server's round trip does.
#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    convert::Infallible,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use continuo::{
    api::{BackupLocation, ContinuityClass, ContinuityDrill, RecoveryPoint, RestoreRequest},
    controller::{
        CachedCronJob, CachedDeployment, CachedJob, CachedPod, Caches, DataCaches, LayerCache, Packed, VolumeCaches,
        keep_applied_service_fields, keep_claim_metadata, keep_stateful_set_read_fields,
    },
    data::{
        cnpg::{InstancePod, POD_ROLE_LABEL, PgCluster},
        volsync::ReplicationSource,
    },
};
use futures::{Stream, StreamExt, stream};
use http::{Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use k8s_openapi::api::{
    apps::v1::StatefulSet,
    core::v1::{Namespace, Node, PersistentVolumeClaim, Service},
    policy::v1::PodDisruptionBudget,
    storage::v1::StorageClass,
};
use kube::{
    Client, Resource,
    runtime::{
        reflector::{self, Store, store::Writer},
        watcher,
    },
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Notify;

mod apply;
pub mod batch;
mod stateful;

/// One change, as a watch delivers it.
struct Change {
    rv: u64,
    collection: String,
    kind: &'static str,
    object: Value,
}

#[derive(Default)]
struct State {
    /// collection path -> name -> object
    objects: BTreeMap<String, BTreeMap<String, Value>>,
    /// Every change, in order, for watches.
    changes: Vec<Change>,
    log: Vec<(String, String, String)>,
    counter: u64,
    /// Writes made through a named client: (who, method, path).
    writers: Vec<(String, String, String)>,
    /// Path prefixes the server does not know (as for a CRD that is not installed).
    unknown: Vec<String>,
    /// Watches from a resourceVersion below this are answered `410 Gone` (etcd compacted while the server was down).
    compacted: u64,
    /// Path prefixes where writes are refused, with the status code, reason and message.
    refused: Vec<(String, u16, String, String)>,
    /// Who applied which fields, for server-side apply.
    managers: apply::Managers,
}

#[derive(Clone, Default)]
pub struct FakeApi {
    /// While true, every connection is refused and open watches are cut, as when the API server is stopped.
    down: Arc<std::sync::atomic::AtomicBool>,
    /// Whose client this is (see [`FakeApi::named`]): its writes are logged under that name.
    who: Option<Arc<str>>,
    state: Arc<Mutex<State>>,
    /// Woken on every change, for watches.
    changed: Arc<Notify>,
    /// Waited before answering each request.
    latency: Duration,
}

impl State {
    fn record(&mut self, collection: &str, kind: &'static str, object: &Value) {
        let rv = self.counter;
        self.changes.push(Change { rv, collection: collection.to_string(), kind, object: object.clone() });
    }

    /// Plays the namespace controller: a namespace deleted takes every object in it along.
    fn empty_namespace(&mut self, ns: &str) {
        let inside = format!("/namespaces/{ns}/");
        let collections: Vec<String> = self.objects.keys().filter(|c| c.contains(&inside)).cloned().collect();
        for collection in collections {
            let gone = std::mem::take(self.objects.get_mut(&collection).unwrap());
            for (name, obj) in gone {
                self.managers.forget(&format!("{collection}/{name}"));
                self.record(&collection, "DELETED", &obj);
            }
        }
    }

    fn finish(&mut self, collection: &str, changes: Vec<(&'static str, Value)>, answer: (u16, Value)) -> (u16, Value) {
        for (kind, object) in changes {
            self.record(collection, kind, &object);
        }
        answer
    }
}

/// What a request gets: a JSON answer, or a stream of watch events.
pub enum Reply {
    Json(u16, Value),
    Watch(Pin<Box<dyn Stream<Item = Bytes> + Send>>),
}

/// Whether the stored collection `stored` is served by a request for `requested` (a cluster-wide path such as
/// `/apis/apps/v1/deployments` covers every namespace's collection).
fn covers(requested: &str, stored: &str) -> bool {
    if requested == stored {
        return true;
    }
    let Some((prefix, plural)) = requested.rsplit_once('/') else { return false };
    stored
        .strip_prefix(&format!("{prefix}/namespaces/"))
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(_, p)| p == plural)
}

fn query_param<'q>(query: Option<&'q str>, key: &str) -> Option<&'q str> {
    query?.split('&').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

struct Target {
    collection: String,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse(path: &str) -> Target {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (prefix_len, rest) = if segs.first() == Some(&"api") { (2, &segs[2..]) } else { (3, &segs[3..]) };
    let prefix = segs[..prefix_len].join("/");
    let (coll, tail): (String, &[&str]) = if rest.first() == Some(&"namespaces") && rest.len() >= 3 {
        (format!("/{prefix}/namespaces/{}/{}", rest[1], rest[2]), &rest[3..])
    } else {
        (format!("/{prefix}/{}", rest[0]), &rest[1..])
    };
    Target {
        collection: coll,
        name: tail.first().map(|s| s.to_string()),
        subresource: tail.get(1).map(|s| s.to_string()),
    }
}

fn decode(s: &str) -> String {
    let mut out = String::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap() as char);
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { ' ' } else { bytes[i] as char });
            i += 1;
        }
    }
    out
}

/// Label requirements (`key=value`, or `key` for existence) and a `metadata.name` field selector.
fn selector(query: Option<&str>) -> Vec<(String, Option<String>)> {
    let Some(q) = query else { return vec![] };
    let labels = q
        .split('&')
        .filter_map(|kv| kv.strip_prefix("labelSelector="))
        .flat_map(|sel| decode(sel).split(',').map(str::to_string).collect::<Vec<_>>())
        .map(|req| match req.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (req, None),
        });
    let name = query_param(query, "fieldSelector")
        .map(decode)
        .and_then(|f| f.strip_prefix("metadata.name=").map(|n| ("@name".to_string(), Some(n.to_string()))));
    labels.chain(name).collect()
}

fn matches(obj: &Value, sel: &[(String, Option<String>)]) -> bool {
    sel.iter().all(|(k, v)| {
        let actual = if k == "@name" { &obj["metadata"]["name"] } else { &obj["metadata"]["labels"][k] };
        match v {
            Some(v) => actual.as_str() == Some(v.as_str()),
            None => actual.is_string(),
        }
    })
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "code": code, "reason": reason, "message": message})
}

/// Applies `patch` over `base`: maps merge, everything else is replaced.
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    // RFC 7386: null removes the key.
                    _ if v.is_null() => {
                        b.remove(k);
                    }
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// Applies the `test`, `add` and `remove` operations of a JSON patch; a failed test refuses the whole patch.
fn json_patch(obj: &mut Value, ops: &Value) -> Result<(), String> {
    for op in ops.as_array().into_iter().flatten() {
        let path = op["path"].as_str().unwrap_or_default();
        let pointer = |p: &str| p.replace("~1", "/").replace("~0", "~");
        let (parent, last) = path.rsplit_once('/').unwrap_or(("", path));
        let last = pointer(last);
        match op["op"].as_str() {
            Some("test") if obj.pointer(path) != Some(&op["value"]) => return Err(format!("test of {path} failed")),
            Some("test") => {}
            Some("add") => match obj.pointer_mut(parent) {
                Some(Value::Array(a)) if last == "-" => a.push(op["value"].clone()),
                Some(Value::Object(m)) => {
                    m.insert(last, op["value"].clone());
                }
                _ => return Err(format!("no parent for {path}")),
            },
            Some("remove") => match obj.pointer_mut(parent) {
                Some(Value::Array(a)) => {
                    let i: usize = last.parse().map_err(|_| format!("bad index in {path}"))?;
                    (i < a.len()).then(|| a.remove(i)).ok_or(format!("no {path}"))?;
                }
                Some(Value::Object(m)) => {
                    m.remove(&last).ok_or(format!("no {path}"))?;
                }
                _ => return Err(format!("no parent for {path}")),
            },
            other => return Err(format!("unsupported op {other:?}")),
        }
    }
    Ok(())
}

impl FakeApi {
    /// An API whose every request first waits `latency`.
    pub fn with_latency(latency: Duration) -> FakeApi {
        FakeApi { latency, ..FakeApi::default() }
    }

    pub fn client(&self) -> Client {
        let me = self.clone();
        let svc = tower::service_fn(move |req: Request<kube::client::Body>| {
            let me = me.clone();
            async move {
                if me.is_down() {
                    return Err::<Response<UnsyncBoxBody<Bytes, Infallible>>, tower::BoxError>(
                        "tcp connect error: Connection refused (os error 111)".into(),
                    );
                }
                let (parts, body) = req.into_parts();
                let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                // A merge or strategic merge patch sends its field manager too; only an apply is an apply.
                let content = parts.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
                let query = match parts.uri.query() {
                    Some(q) if parts.method == Method::PATCH && !content.contains("apply-patch") => {
                        Some(q.split('&').filter(|kv| !kv.starts_with("fieldManager=")).collect::<Vec<_>>().join("&"))
                    }
                    q => q.map(str::to_string),
                };
                let reply = me.reply(&parts.method, parts.uri.path(), query.as_deref(), &bytes).await;
                let (code, body): (u16, UnsyncBoxBody<Bytes, Infallible>) = match reply {
                    Reply::Json(code, value) => {
                        (code, Full::new(Bytes::from(serde_json::to_vec(&value).unwrap())).boxed_unsync())
                    }
                    Reply::Watch(events) => {
                        (200, StreamBody::new(events.map(|b| Ok::<_, Infallible>(Frame::data(b)))).boxed_unsync())
                    }
                };
                let resp = Response::builder()
                    .status(StatusCode::from_u16(code).unwrap())
                    .header("content-type", "application/json")
                    .body(body)
                    .unwrap();
                Ok(resp)
            }
        });
        Client::new(svc, "default")
    }

    /// The same API, through a client whose writes are logged as `who`'s (two operator replicas, say).
    pub fn named(&self, who: &str) -> FakeApi {
        FakeApi { who: Some(Arc::from(who)), ..self.clone() }
    }

    /// Writes made through named clients, in order: (who, method, path).
    pub fn writers(&self) -> Vec<(String, String, String)> {
        self.state.lock().unwrap().writers.clone()
    }

    fn is_down(&self) -> bool {
        self.down.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops the API server: connections are refused and open watches end.
    pub fn stop(&self) {
        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Starts it again, with its history compacted: a watch that resumes from before now gets `410 Gone` and must
    /// list again.
    pub fn start(&self) {
        let mut st = self.state.lock().unwrap();
        st.counter += 1;
        st.compacted = st.counter;
        drop(st);
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Answers one request, after the configured latency.
    pub async fn reply(&self, method: &Method, path: &str, query: Option<&str>, body: &[u8]) -> Reply {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let watch = method == Method::GET && matches!(query_param(query, "watch"), Some("true" | "1"));
        if watch {
            self.state.lock().unwrap().log.push(("WATCH".into(), path.into(), query.unwrap_or_default().into()));
            return Reply::Watch(self.watch(path, query));
        }
        let (code, value) = self.handle(method, path, query, body);
        Reply::Json(code, value)
    }

    /// The changes after the query's `resourceVersion` to collections `path` covers, as newline-delimited watch
    /// events, until `timeoutSeconds` (default 290 s).
    fn watch(&self, path: &str, query: Option<&str>) -> Pin<Box<dyn Stream<Item = Bytes> + Send>> {
        let requested = parse(path).collection;
        let sel = selector(query);
        let from: u64 = query_param(query, "resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0);
        let timeout = query_param(query, "timeoutSeconds").and_then(|v| v.parse().ok()).unwrap_or(290);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        let me = self.clone();
        if from < self.state.lock().unwrap().compacted {
            let gone = status(410, "Expired", &format!("too old resource version: {from}"));
            let mut line = serde_json::to_vec(&json!({"type": "ERROR", "object": gone})).unwrap();
            line.push(b'\n');
            return Box::pin(stream::once(async move { Bytes::from(line) }));
        }
        Box::pin(stream::unfold(from, move |mut seen| {
            let (me, requested, sel) = (me.clone(), requested.clone(), sel.clone());
            async move {
                loop {
                    let notified = me.changed.notified();
                    tokio::pin!(notified);
                    notified.as_mut().enable();
                    if me.is_down() {
                        // The server went away: the connection ends.
                        return None;
                    }
                    let (batch, last) = {
                        let st = me.state.lock().unwrap();
                        let mut out = Vec::new();
                        let mut last = seen;
                        let start = st.changes.partition_point(|c| c.rv <= seen);
                        for c in &st.changes[start..] {
                            last = c.rv;
                            if covers(&requested, &c.collection) && matches(&c.object, &sel) {
                                out.extend(serde_json::to_vec(&json!({"type": c.kind, "object": c.object})).unwrap());
                                out.push(b'\n');
                            }
                        }
                        (out, last)
                    };
                    // Scanned: the next wake starts after these changes, whether any was for this watch or not
                    // (a watch nothing matches would otherwise rescan the whole log at every change).
                    seen = last;
                    if !batch.is_empty() {
                        return Some((Bytes::from(batch), seen));
                    }
                    tokio::select! {
                        () = &mut notified => {}
                        () = tokio::time::sleep_until(deadline) => return None,
                    }
                }
            }
        }))
    }

    fn handle(&self, method: &Method, path: &str, query: Option<&str>, body: &[u8]) -> (u16, Value) {
        let result = self.handle_locked(method, path, query, body);
        self.changed.notify_waiters();
        result
    }

    fn handle_locked(&self, method: &Method, path: &str, query: Option<&str>, body: &[u8]) -> (u16, Value) {
        let mut st = self.state.lock().unwrap();
        st.log.push((method.to_string(), path.to_string(), query.unwrap_or_default().to_string()));
        if let Some(who) = &self.who
            && method != Method::GET
        {
            st.writers.push((who.to_string(), method.to_string(), path.to_string()));
        }
        st.counter += 1;
        let rv = st.counter.to_string();
        if st.unknown.iter().any(|u| path.starts_with(u.as_str())) {
            return (404, status(404, "NotFound", "the server could not find the requested resource"));
        }
        if method != Method::GET
            && let Some((_, code, reason, msg)) = st.refused.iter().find(|(p, ..)| path.starts_with(p.as_str()))
        {
            return (*code, status(*code, reason, msg));
        }
        let t = parse(path);
        if method == Method::GET && t.name.is_none() {
            let sel = selector(query);
            let items: Vec<Value> = st
                .objects
                .iter()
                .filter(|(c, _)| covers(&t.collection, c))
                .flat_map(|(_, objs)| objs.values())
                .filter(|o| matches(o, &sel))
                .cloned()
                .collect();
            return (
                200,
                json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": rv}, "items": items}),
            );
        }
        let collection = t.collection.clone();
        let mut changes: Vec<(&'static str, Value)> = Vec::new();
        let st = &mut *st;
        let coll = st.objects.entry(t.collection.clone()).or_default();
        let answer = match (method.clone(), t.name) {
            (Method::GET, Some(name)) => match coll.get(&name) {
                Some(o) => (200, o.clone()),
                None => (404, status(404, "NotFound", &format!("{name} not found"))),
            },
            (Method::PATCH, Some(name)) => {
                let is_status = t.subresource.as_deref() == Some("status");
                // Of an apply, the status subresource takes only `status`, the object everything but `status`.
                let mut config: Value = serde_json::from_slice(body).unwrap();
                if let Some(m) = config.as_object_mut() {
                    if is_status {
                        m.retain(|k, _| k == "status");
                    } else {
                        m.remove("status");
                    }
                }
                let key = format!("{collection}/{name}{}", if is_status { "/status" } else { "" });
                let manager = query_param(query, "fieldManager").map(decode);
                let force = query_param(query, "force") == Some("true");
                let Some(existing) = coll.get_mut(&name) else {
                    // Only a server-side apply creates what does not exist; a merge or JSON patch is refused 404,
                    // as the API server does.
                    if is_status || manager.is_none() {
                        return (404, status(404, "NotFound", &format!("{name} not found")));
                    }
                    let mut obj = Value::Object(Default::default());
                    if let Some(manager) = &manager {
                        st.managers.apply(&key, &mut obj, manager, config, force).expect("nothing to conflict with");
                    } else {
                        merge(&mut obj, &config);
                    }
                    obj["metadata"]["uid"] = json!(format!("uid-{name}-{rv}"));
                    obj["metadata"]["resourceVersion"] = json!(rv);
                    obj["metadata"]["generation"] = json!(1);
                    obj["metadata"]["creationTimestamp"] = json!("2026-11-24T00:00:00Z");
                    coll.insert(name, obj.clone());
                    changes.push(("ADDED", obj.clone()));
                    return st.finish(&collection, changes, (201, obj));
                };
                let before = existing.clone();
                match &manager {
                    Some(manager) => {
                        if let Err(message) = st.managers.apply(&key, existing, manager, config, force) {
                            return (409, status(409, "Conflict", &message));
                        }
                    }
                    // A JSON patch (RFC 6902): its `test` operations guard the others.
                    None if config.is_array() => {
                        if let Err(message) = json_patch(existing, &config) {
                            *existing = before;
                            return (422, status(422, "Invalid", &message));
                        }
                    }
                    // A merge patch (the Event recorder's): no owner.
                    None => merge(existing, &config),
                }
                // A Job's pod template is immutable once created, as the API server's validation says.
                if collection.ends_with("/jobs") && before["spec"]["template"] != existing["spec"]["template"] {
                    *existing = before;
                    let message = format!(
                        "Job.batch {name:?} is invalid: spec.template: Invalid value: \"...\": field is immutable"
                    );
                    return (422, status(422, "Invalid", &message));
                }
                if collection.ends_with("/statefulsets")
                    && let Some(message) = stateful::forbidden_update(&name, &before, existing)
                {
                    *existing = before;
                    return (422, status(422, "Invalid", &message));
                }
                if before["spec"] != existing["spec"] {
                    let g = before["metadata"]["generation"].as_i64().unwrap_or(0);
                    existing["metadata"]["generation"] = json!(g + 1);
                }
                if before != *existing {
                    existing["metadata"]["resourceVersion"] = json!(rv);
                    changes.push(("MODIFIED", existing.clone()));
                }
                (200, existing.clone())
            }
            (Method::DELETE, Some(name)) => match coll.remove(&name) {
                Some(o) => {
                    st.managers.forget(&format!("{collection}/{name}"));
                    changes.push(("DELETED", o.clone()));
                    if collection == "/api/v1/namespaces" {
                        st.empty_namespace(&name);
                    }
                    (200, o)
                }
                None => (404, status(404, "NotFound", &format!("{name} not found"))),
            },
            (Method::POST, None) => {
                let mut obj: Value = serde_json::from_slice(body).unwrap();
                let name =
                    obj["metadata"]["name"].as_str().map(str::to_string).unwrap_or_else(|| format!("generated-{rv}"));
                if coll.contains_key(&name) {
                    return (409, status(409, "AlreadyExists", &format!("{name} already exists")));
                }
                obj["metadata"]["name"] = json!(name);
                obj["metadata"]["resourceVersion"] = json!(rv);
                obj["metadata"]["uid"] = json!(format!("uid-{name}-{rv}"));
                obj["metadata"]["generation"] = json!(1);
                coll.insert(name, obj.clone());
                changes.push(("ADDED", obj.clone()));
                (201, obj)
            }
            (m, n) => (405, status(405, "MethodNotAllowed", &format!("{m} {n:?}"))),
        };
        st.finish(&collection, changes, answer)
    }

    /// Whether `path` is served (its API group is not uninstalled).
    pub fn serves(&self, path: &str) -> bool {
        !self.state.lock().unwrap().unknown.iter().any(|u| path.starts_with(u.as_str()))
    }

    /// Makes every path under `prefix` answer 404, as an API group that is not installed does.
    pub fn uninstall(&self, prefix: &str) {
        self.state.lock().unwrap().unknown.push(prefix.to_string());
    }

    /// Makes writes under `prefix` fail validation with `message`, as a bad pod template does.
    pub fn refuse_writes(&self, prefix: &str, message: &str) {
        self.refuse(prefix, 422, "Invalid", message);
    }

    /// Makes writes under `prefix` fail with `code`, `reason` and `message`.
    pub fn refuse(&self, prefix: &str, code: u16, reason: &str, message: &str) {
        self.state.lock().unwrap().refused.push((prefix.to_string(), code, reason.to_string(), message.to_string()));
    }

    /// Stores an object as if a user had created it.
    pub fn put(&self, path_of_collection: &str, mut obj: Value) {
        let mut st = self.state.lock().unwrap();
        st.counter += 1;
        let name = obj["metadata"]["name"].as_str().unwrap().to_string();
        obj["metadata"]["uid"] = json!(format!("uid-{name}"));
        obj["metadata"]["resourceVersion"] = json!(st.counter.to_string());
        if obj["metadata"]["generation"].is_null() {
            obj["metadata"]["generation"] = json!(1);
        }
        let existed = st.objects.entry(path_of_collection.to_string()).or_default().insert(name, obj.clone());
        st.record(path_of_collection, if existed.is_some() { "MODIFIED" } else { "ADDED" }, &obj);
        drop(st);
        self.changed.notify_waiters();
    }

    pub fn get(&self, collection: &str, name: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.get(collection)?.get(name).cloned()
    }

    /// Every object in the collections `path` covers (a cluster-wide path covers every namespace).
    pub fn list_all(&self, path: &str) -> Vec<(String, Value)> {
        let st = self.state.lock().unwrap();
        st.objects
            .iter()
            .filter(|(c, _)| covers(path, c))
            .flat_map(|(c, objs)| objs.values().map(move |o| (c.clone(), o.clone())))
            .collect()
    }

    pub fn list(&self, collection: &str) -> Vec<Value> {
        self.state.lock().unwrap().objects.get(collection).map(|c| c.values().cloned().collect()).unwrap_or_default()
    }

    /// A server-side apply of `body` by another field manager (`kubectl apply --server-side`, say), answered as
    /// the operator's own applies are: (status code, object or Status).
    pub fn apply_as(&self, collection: &str, name: &str, manager: &str, body: Value, force: bool) -> (u16, Value) {
        let query = format!("fieldManager={manager}&force={force}");
        let path = format!("{collection}/{name}");
        let body = serde_json::to_vec(&body).unwrap();
        self.handle(&Method::PATCH, &path, Some(&query), &body)
    }

    /// Edits a stored object in place, as a user or another controller would.
    pub fn edit(&self, collection: &str, name: &str, f: impl FnOnce(&mut Value)) {
        let mut st = self.state.lock().unwrap();
        st.counter += 1;
        let rv = st.counter.to_string();
        let obj = st.objects.get_mut(collection).and_then(|c| c.get_mut(name)).expect("object exists");
        let spec = obj["spec"].clone();
        f(obj);
        if obj["spec"] != spec {
            let g = obj["metadata"]["generation"].as_i64().unwrap_or(0);
            obj["metadata"]["generation"] = json!(g + 1);
        }
        obj["metadata"]["resourceVersion"] = json!(rv);
        let obj = obj.clone();
        st.record(collection, "MODIFIED", &obj);
        drop(st);
        self.changed.notify_waiters();
    }

    pub fn remove(&self, collection: &str, name: &str) {
        let mut st = self.state.lock().unwrap();
        st.counter += 1;
        if let Some(obj) = st.objects.get_mut(collection).and_then(|c| c.remove(name)) {
            st.managers.forget(&format!("{collection}/{name}"));
            st.record(collection, "DELETED", &obj);
        }
        drop(st);
        self.changed.notify_waiters();
    }

    /// Plays the Deployment controller: every Deployment in the collection reports its spec rolled out.
    pub fn roll_out(&self, collection: &str) {
        self.roll_out_where(collection, |_| true);
    }

    /// Plays the Deployment controller for the Deployments `pick` chooses: each reports its spec rolled out,
    /// except that a paused one keeps its pods as they are (scaled, but none updated to its new template).
    pub fn roll_out_where(&self, collection: &str, pick: impl Fn(&str) -> bool) {
        let names: Vec<String> =
            self.list(collection).iter().map(|d| d["metadata"]["name"].as_str().unwrap().to_string()).collect();
        for name in names.into_iter().filter(|n| pick(n)) {
            let Some(d) = self.get(collection, &name) else { continue };
            let n = d["spec"]["replicas"].clone();
            let updated = if d["spec"]["paused"] == json!(true) { json!(0) } else { n.clone() };
            let status = json!({"observedGeneration": d["metadata"]["generation"], "replicas": n, "readyReplicas": n, "updatedReplicas": updated, "availableReplicas": n});
            // Like the Deployment controller, it writes only when the status changes.
            if d["status"] != status {
                self.edit(collection, &name, |d| d["status"] = status);
            }
        }
    }

    /// Requests other than GET and WATCH, as (method, path).
    pub fn writes(&self) -> Vec<(String, String)> {
        self.state
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|(m, _, _)| m != "GET" && m != "WATCH")
            .map(|(m, p, _)| (m.clone(), p.clone()))
            .collect()
    }

    /// Every request, as (method, path, query).
    pub fn requests(&self) -> Vec<(String, String, String)> {
        self.state.lock().unwrap().log.clone()
    }

    /// Requests other than GET and WATCH, as (method, path, query).
    pub fn writes_with_query(&self) -> Vec<(String, String, String)> {
        self.state.lock().unwrap().log.iter().filter(|(m, _, _)| m != "GET" && m != "WATCH").cloned().collect()
    }

    pub fn clear_log(&self) {
        self.state.lock().unwrap().log.clear();
    }
}

/// A synced cache holding `objects`, as a reflector has it after its first list.
pub fn store<K>(objects: &[K]) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone,
{
    let (reader, mut writer) = reflector::store();
    relist(&mut writer, objects);
    reader
}

impl FakeApi {
    /// Every stored object of collections whose path ends with `/{plural}`, typed.
    fn typed<K: DeserializeOwned>(&self, plural: &str) -> Vec<K> {
        let st = self.state.lock().unwrap();
        st.objects
            .iter()
            .filter(|(path, _)| path.ends_with(&format!("/{plural}")))
            .flat_map(|(_, objs)| objs.values())
            .map(|o| serde_json::from_value(o.clone()).unwrap())
            .collect()
    }

    /// The operator's caches as its watches would hold them now: a snapshot of this API's objects.
    pub fn caches(&self, nodes: &[Node]) -> Caches {
        self.watched(nodes).0
    }

    /// The operator's caches and the feed that keeps them: [`Feed::sync`] delivers what changed since, as the
    /// watches would; not calling it leaves the caches stale.
    pub fn watched(&self, nodes: &[Node]) -> (Caches, Feed) {
        let (n, nodes_w) = reflector::store();
        let (c, classes) = reflector::store();
        let (d, deployments) = reflector::store();
        let (p, pdbs) = reflector::store();
        let (s, services) = reflector::store();
        let (ns, namespaces) = reflector::store();
        let (cj, cron_jobs) = reflector::store();
        let (l, locations) = reflector::store();
        let (rp, recovery_points) = reflector::store();
        let (aj, agent_jobs) = reflector::store();
        let (ap, agent_pods) = reflector::store();
        let (rr, restores) = reflector::store();
        let (dr, drills) = reflector::store();
        let (pg, clusters) = reflector::store();
        let (ip, instance_pods) = reflector::store();
        let (rs, replication_sources) = reflector::store();
        let (ss, stateful_sets) = reflector::store();
        let (pvc, claims) = reflector::store();
        let (sc, storage_classes) = reflector::store();
        let data = DataCaches {
            clusters: LayerCache::synced(pg),
            instance_pods: LayerCache::synced(ip),
            replication_sources: LayerCache::synced(rs),
        };
        let mut feed = Feed {
            clusters,
            instance_pods,
            replication_sources,
            data: data.clone(),
            nodes: nodes_w,
            classes,
            deployments,
            pdbs,
            services,
            namespaces,
            cron_jobs,
            locations,
            recovery_points,
            agent_jobs,
            agent_pods,
            restores,
            drills,
            stateful_sets,
            claims,
            storage_classes,
        };
        feed.sync(self, nodes);
        let caches = Caches {
            nodes: n,
            classes: c,
            deployments: d,
            disruption_budgets: p,
            services: s,
            namespaces: ns,
            cron_jobs: cj,
            locations: l,
            recovery_points: rp,
            agent_jobs: aj,
            agent_pods: ap,
            restores: rr,
            drills: LayerCache::synced(dr),
            data,
            volumes: VolumeCaches { sets: ss, claims: pvc, storage_classes: sc },
            synced: Default::default(),
        };
        (caches, feed)
    }
}

/// The writing side of the operator's caches in tests.
pub struct Feed {
    clusters: Writer<PgCluster>,
    instance_pods: Writer<InstancePod>,
    replication_sources: Writer<ReplicationSource>,
    data: DataCaches,
    nodes: Writer<Node>,
    classes: Writer<ContinuityClass>,
    deployments: Writer<Packed<CachedDeployment>>,
    pdbs: Writer<Packed<PodDisruptionBudget>>,
    services: Writer<Packed<Service>>,
    namespaces: Writer<Namespace>,
    cron_jobs: Writer<CachedCronJob>,
    locations: Writer<BackupLocation>,
    recovery_points: Writer<RecoveryPoint>,
    agent_jobs: Writer<CachedJob>,
    agent_pods: Writer<CachedPod>,
    restores: Writer<RestoreRequest>,
    drills: Writer<ContinuityDrill>,
    stateful_sets: Writer<Packed<StatefulSet>>,
    claims: Writer<PersistentVolumeClaim>,
    storage_classes: Writer<StorageClass>,
}

impl Feed {
    /// Brings every cache up to the API's current state (a relist).
    pub fn sync(&mut self, api: &FakeApi, nodes: &[Node]) {
        self.sync_only(api, nodes, &[]);
    }

    /// Brings up to date only the caches of the kinds named by their plural (all of them when `kinds` is empty),
    /// as watches do that deliver their changes each in its own order: the other caches stay as they were.
    pub fn sync_only(&mut self, api: &FakeApi, nodes: &[Node], kinds: &[&str]) {
        let wanted = |k: &str| kinds.is_empty() || kinds.contains(&k);
        if wanted("nodes") {
            relist(&mut self.nodes, nodes);
        }
        if wanted("deployments") {
            // As the operator's cache keeps them: without the pod template, packed.
            let mut deployments: Vec<CachedDeployment> = api.typed("deployments");
            deployments.iter_mut().for_each(CachedDeployment::keep_read_annotations);
            relist(&mut self.deployments, &packed(deployments));
        }
        if wanted("poddisruptionbudgets") {
            let mut pdbs: Vec<PodDisruptionBudget> = api.typed("poddisruptionbudgets");
            pdbs.iter_mut().for_each(|p| p.status = None);
            relist(&mut self.pdbs, &packed(pdbs));
        }
        if wanted("services") {
            let mut services: Vec<Service> = api.typed("services");
            services.iter_mut().for_each(keep_applied_service_fields);
            relist(&mut self.services, &packed(services));
        }
        if wanted("cronjobs") {
            let mut cron_jobs: Vec<CachedCronJob> = api.typed("cronjobs");
            cron_jobs.iter_mut().for_each(CachedCronJob::keep_read_annotations);
            relist(&mut self.cron_jobs, &cron_jobs);
        }
        if wanted("statefulsets") {
            let mut sets: Vec<StatefulSet> = api.typed("statefulsets");
            sets.iter_mut().for_each(keep_stateful_set_read_fields);
            relist(&mut self.stateful_sets, &packed(sets));
        }
        if wanted("persistentvolumeclaims") {
            let mut claims: Vec<PersistentVolumeClaim> = api.typed("persistentvolumeclaims");
            claims.iter_mut().for_each(keep_claim_metadata);
            relist(&mut self.claims, &claims);
        }
        // The kinds the caches keep as they are.
        relist_kind(&mut self.storage_classes, api, "storageclasses", &wanted);
        relist_kind(&mut self.classes, api, "continuityclasses", &wanted);
        relist_kind(&mut self.namespaces, api, "namespaces", &wanted);
        relist_kind(&mut self.locations, api, "backuplocations", &wanted);
        relist_kind(&mut self.recovery_points, api, "recoverypoints", &wanted);
        relist_kind(&mut self.agent_jobs, api, "jobs", &wanted);
        relist_kind(&mut self.agent_pods, api, "pods", &wanted);
        relist_kind(&mut self.restores, api, "restorerequests", &wanted);
        relist_kind(&mut self.drills, api, "continuitydrills", &wanted);
        self.sync_data_layers(api, &wanted);
    }

    /// The data layers' caches, as their watches keep them: a kind whose API group answers 404 is not installed.
    fn sync_data_layers(&mut self, api: &FakeApi, wanted: &dyn Fn(&str) -> bool) {
        if wanted("clusters") {
            self.data.clusters.mark(api.serves("/apis/postgresql.cnpg.io/v1/clusters"));
            relist(&mut self.clusters, &api.typed::<PgCluster>("clusters"));
        }
        if wanted("pods") {
            let mut pods: Vec<InstancePod> = api.typed("pods");
            pods.retain(|p| {
                p.metadata.labels.as_ref().and_then(|l| l.get(POD_ROLE_LABEL)).is_some_and(|r| r == "instance")
            });
            relist(&mut self.instance_pods, &pods);
            self.data.instance_pods.mark(true);
        }
        if wanted("replicationsources") {
            self.data.replication_sources.mark(api.serves("/apis/volsync.backube/v1alpha1/replicationsources"));
            relist(&mut self.replication_sources, &api.typed::<ReplicationSource>("replicationsources"));
        }
    }
}

/// Relists `writer` from the API's objects of `plural`, when `wanted` says so.
fn relist_kind<K>(writer: &mut Writer<K>, api: &FakeApi, plural: &str, wanted: &dyn Fn(&str) -> bool)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned,
{
    if wanted(plural) {
        relist(writer, &api.typed::<K>(plural));
    }
}

fn packed<K: Resource + serde::Serialize + DeserializeOwned>(objects: Vec<K>) -> Vec<Packed<K>> {
    objects.into_iter().map(Packed::pack).collect()
}

fn relist<K: Resource<DynamicType = ()> + Clone>(writer: &mut Writer<K>, objects: &[K]) {
    writer.apply_watcher_event(&watcher::Event::Init);
    for o in objects {
        writer.apply_watcher_event(&watcher::Event::InitApply(o.clone()));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
}

/// The cluster the running-operator tests start from: namespace `ns`, two Ready nodes in each of zones a, b and c,
/// and the built-in classes.
pub fn cluster(ns: &str) -> FakeApi {
    let api = FakeApi::default();
    api.put("/api/v1/namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
    for n in nodes(&["a", "b", "c"], 2) {
        api.put("/api/v1/nodes", serde_json::to_value(n).unwrap());
    }
    for class in continuo::api::builtin_classes().unwrap() {
        api.put("/apis/continuo.dev/v1alpha1/continuityclasses", serde_json::to_value(class).unwrap());
    }
    api
}

/// How the running-operator tests run it: every namespace, 4 reconciles at once, a 100 ms debounce, no election,
/// the admin port on `admin`.
pub fn operator_settings(admin: std::net::SocketAddr) -> continuo::controller::Settings {
    continuo::controller::Settings {
        namespace: None,
        config: continuo::plan::Config::default(),
        concurrency: 4,
        debounce: Duration::from_millis(100),
        instance: None,
        election: None,
        admin,
        builtin_classes: false,
        detection: Default::default(),
    }
}

/// A worker node in `zone` of region eu-south-1.
pub fn node(name: &str, zone: &str, ready: bool) -> Node {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": "eu-south-1", "kubernetes.io/hostname": name}},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    }))
    .unwrap()
}

/// `per_zone` Ready nodes in each of `zones`.
pub fn nodes(zones: &[&str], per_zone: usize) -> Vec<Node> {
    zones.iter().flat_map(|z| (1..=per_zone).map(move |i| node(&format!("{z}-w{i}"), z, true))).collect()
}

/// `f`'s answer once it has one, looked for every 50 ms for 10 s (a controller running on the test's runtime acts
/// in between); a test that waits longer is failing: it panics naming `what`.
pub async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}")
}

/// `GET /metrics` on an admin port on this machine, off the test's runtime (which serves it).
pub async fn scrape(port: u16) -> String {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return String::new() };
        let _ = write!(stream, "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n");
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text
    })
    .await
    .unwrap_or_default()
}
