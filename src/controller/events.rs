//! Publishing `events.k8s.io/v1` Events, with repeats folded into a series as `kubectl describe` expects.
//!
//! kube's `Recorder` does the same but keeps every Event it published for six minutes, whole, to build the
//! series from: at a thousand services that is thousands of full Event objects, a sixth of the operator's
//! memory. This one keeps a hash of each Event's identity, its name and its count, and nothing else. Its identity
//! includes the note, as client-go's correlator does: the same reason with a different message is a new Event,
//! not a repeat that shows the first message with a higher count.

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    sync::Mutex,
};

use k8s_openapi::{
    api::{
        core::v1::ObjectReference,
        events::v1::{Event as KubeEvent, EventSeries},
    },
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::{SignedDuration, Timestamp},
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
    runtime::events::{Event, EventType, Reporter},
};

/// An Event repeated within this long after its last occurrence becomes part of its series; later, a new Event.
pub const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);

/// What is remembered of one published Event.
struct Published {
    namespace: String,
    name: String,
    count: i32,
    last: Timestamp,
}

/// Publishes Events on behalf of one controller instance.
pub struct Recorder {
    client: Client,
    reporter: Reporter,
    recent: Mutex<HashMap<u64, Published>>,
}

impl Recorder {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Recorder { client, reporter, recent: Mutex::default() }
    }

    /// Publishes `ev` about `regarding`: a new Event, or one more occurrence of the same Event within
    /// [`SERIES_WINDOW`] (its series count and last-observed time patched).
    pub async fn publish(&self, ev: &Event, regarding: &ObjectReference) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = identity(ev, regarding, &self.reporter);
        let repeat = self.recent.lock().ok().and_then(|mut recent| {
            recent.retain(|_, p| p.last + SERIES_WINDOW > now);
            recent.get(&key).map(|p| (p.namespace.clone(), p.name.clone(), p.count + 1))
        });
        let published = match repeat {
            Some((namespace, name, count)) => {
                let series = EventSeries { count, last_observed_time: MicroTime(now) };
                let patch = serde_json::json!({ "series": series });
                let events = Api::<KubeEvent>::namespaced(self.client.clone(), &namespace);
                match events.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                    Ok(_) => Published { namespace, name, count, last: now },
                    // The API server let the Event expire (its TTL is an hour by default): start a new one.
                    Err(kube::Error::Api(s)) if s.code == 404 => self.create(ev, regarding, now).await?,
                    Err(e) => return Err(e),
                }
            }
            None => self.create(ev, regarding, now).await?,
        };
        if let Ok(mut recent) = self.recent.lock() {
            recent.insert(key, published);
        }
        Ok(())
    }

    async fn create(&self, ev: &Event, regarding: &ObjectReference, now: Timestamp) -> Result<Published, kube::Error> {
        let event = event(ev, regarding, &self.reporter, now);
        let namespace = event.metadata.namespace.clone().unwrap_or_default();
        let name = event.metadata.name.clone().unwrap_or_default();
        Api::<KubeEvent>::namespaced(self.client.clone(), &namespace).create(&PostParams::default(), &event).await?;
        Ok(Published { namespace, name, count: 1, last: now })
    }
}

/// What makes two Events the same Event: who reports it, about what, and what it says.
fn identity(ev: &Event, regarding: &ObjectReference, reporter: &Reporter) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (ev.type_ == EventType::Warning, &ev.reason, &ev.note, &ev.action).hash(&mut h);
    (&regarding.kind, &regarding.namespace, &regarding.name, &regarding.uid).hash(&mut h);
    ev.secondary.as_ref().map(|r| (&r.kind, &r.namespace, &r.name, &r.uid)).hash(&mut h);
    (&reporter.controller, &reporter.instance).hash(&mut h);
    h.finish()
}

/// The Event object: in the namespace of what it regards (`default` for a cluster-scoped object), named after it.
fn event(ev: &Event, regarding: &ObjectReference, reporter: &Reporter, now: Timestamp) -> KubeEvent {
    let about = regarding.name.clone().unwrap_or_else(|| reporter.controller.clone());
    KubeEvent {
        metadata: ObjectMeta {
            namespace: Some(regarding.namespace.clone().unwrap_or_else(|| "default".into())),
            name: Some(format!("{about}.{:x}", now.as_nanosecond())),
            ..ObjectMeta::default()
        },
        event_time: Some(MicroTime(now)),
        type_: Some(if ev.type_ == EventType::Warning { "Warning" } else { "Normal" }.into()),
        reason: Some(ev.reason.clone()),
        action: Some(ev.action.clone()),
        note: ev.note.clone(),
        regarding: Some(regarding.clone()),
        related: ev.secondary.clone(),
        reporting_controller: Some(reporter.controller.clone()),
        reporting_instance: Some(reporter.instance.clone().unwrap_or_else(|| reporter.controller.clone())),
        ..KubeEvent::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(reason: &str, note: &str) -> Event {
        Event {
            type_: EventType::Warning,
            reason: reason.into(),
            note: Some(note.into()),
            action: "Reconcile".into(),
            secondary: None,
        }
    }

    fn svc(name: &str) -> ObjectReference {
        ObjectReference {
            kind: Some("ResilientService".into()),
            namespace: Some("shop".into()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            ..ObjectReference::default()
        }
    }

    #[test]
    fn the_same_reason_with_another_message_is_another_event() {
        let r = Reporter { controller: "continuo".into(), instance: None };
        let a = identity(&ev("Stalled", "class x missing"), &svc("a"), &r);
        assert_eq!(a, identity(&ev("Stalled", "class x missing"), &svc("a"), &r));
        assert_ne!(a, identity(&ev("Stalled", "class y missing"), &svc("a"), &r));
        assert_ne!(a, identity(&ev("Stalled", "class x missing"), &svc("b"), &r));
        assert_ne!(a, identity(&ev("Degraded", "class x missing"), &svc("a"), &r));
    }

    #[test]
    fn an_event_lives_in_the_namespace_of_what_it_regards() {
        let r = Reporter { controller: "continuo".into(), instance: Some("continuo-0".into()) };
        let e = event(&ev("Stalled", "why"), &svc("a"), &r, Timestamp::UNIX_EPOCH);
        assert_eq!(e.metadata.namespace.as_deref(), Some("shop"));
        assert!(e.metadata.name.as_deref().is_some_and(|n| n.starts_with("a.")));
        assert_eq!(e.reporting_instance.as_deref(), Some("continuo-0"));
        let cluster = ObjectReference { namespace: None, ..svc("gold") };
        assert_eq!(
            event(&ev("X", "y"), &cluster, &r, Timestamp::UNIX_EPOCH).metadata.namespace.as_deref(),
            Some("default")
        );
    }
}
