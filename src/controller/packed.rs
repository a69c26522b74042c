//! Cached children kept packed: the metadata a cache is indexed and mapped by (name, namespace, uid, owner,
//! generation) as fields, everything else continuo reads as one compact JSON text, decoded when a reconcile reads
//! it. A decoded object keeps each label, annotation and field in an allocation of its own (a label map is a
//! B-tree node of eleven slots, ~550 bytes, even for one entry); packed, a Deployment's cache entry is half the
//! size, and a thousand services' Deployments, budgets and Services several MiB less (see docs/src/performance.md,
//! where the memory goes). Reading one back costs a few microseconds, once per reconcile.

use std::{borrow::Cow, marker::PhantomData};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, runtime::watcher};
use serde::{Serialize, de::DeserializeOwned};

/// An object of kind `K` as a cache keeps it: see the module's documentation.
pub struct Packed<K> {
    metadata: ObjectMeta,
    body: Box<str>,
    kind: PhantomData<fn() -> K>,
}

impl<K: Resource + Serialize + DeserializeOwned> Packed<K> {
    /// Packs `object`: what identifies and owns it stays in the metadata, the rest becomes its JSON text.
    pub fn pack(mut object: K) -> Self {
        let meta = object.meta_mut();
        let metadata = ObjectMeta {
            name: meta.name.take(),
            namespace: meta.namespace.take(),
            uid: meta.uid.take(),
            owner_references: meta.owner_references.take(),
            generation: meta.generation.take(),
            deletion_timestamp: meta.deletion_timestamp.take(),
            ..ObjectMeta::default()
        };
        // Serializing a decoded Kubernetes object cannot fail: its maps have string keys.
        let body = serde_json::to_string(&object).unwrap_or_default().into_boxed_str();
        Packed { metadata, body, kind: PhantomData }
    }

    /// The object as it was packed. Only a type whose serialization does not read back would fail; each packed
    /// kind has a test that it reads back whole.
    pub fn unpack(&self) -> Result<K, serde_json::Error> {
        let mut object: K = serde_json::from_str(&self.body)?;
        let meta = object.meta_mut();
        let m = &self.metadata;
        meta.name.clone_from(&m.name);
        meta.namespace.clone_from(&m.namespace);
        meta.uid.clone_from(&m.uid);
        meta.owner_references.clone_from(&m.owner_references);
        meta.generation = m.generation;
        meta.deletion_timestamp.clone_from(&m.deletion_timestamp);
        Ok(object)
    }

    /// A watch event of `K` as one of its packed form, for a reflector of packed objects.
    pub fn event(event: watcher::Event<K>) -> watcher::Event<Self> {
        use watcher::Event::*;
        match event {
            Apply(k) => Apply(Self::pack(k)),
            Delete(k) => Delete(Self::pack(k)),
            Init => Init,
            InitApply(k) => InitApply(Self::pack(k)),
            InitDone => InitDone,
        }
    }
}

impl<K> Clone for Packed<K> {
    fn clone(&self) -> Self {
        Packed { metadata: self.metadata.clone(), body: self.body.clone(), kind: PhantomData }
    }
}

impl<K> std::fmt::Debug for Packed<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packed").field("metadata", &self.metadata).field("body", &self.body).finish()
    }
}

impl<K: Resource<DynamicType = ()>> Resource for Packed<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::{core::v1::Service, policy::v1::PodDisruptionBudget};
    use kube::ResourceExt;
    use serde_json::{Value, json};

    use super::*;

    fn meta() -> Value {
        json!({"name": "hub", "namespace": "n", "uid": "u-1", "generation": 3, "resourceVersion": "7",
            "creationTimestamp": "2026-11-30T00:00:00Z",
            "labels": {"app.kubernetes.io/name": "hub", "continuo.dev/service": "hub"},
            "annotations": {"a": "b"},
            "ownerReferences": [{"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService", "name": "hub",
                                 "uid": "svc-1", "controller": true}]})
    }

    fn reads_back<K: Resource<DynamicType = ()> + Serialize + DeserializeOwned>(object: Value) {
        let k: K = serde_json::from_value(object.clone()).unwrap();
        let packed = Packed::pack(k);
        assert_eq!((packed.name_any(), packed.namespace().as_deref()), ("hub".into(), Some("n")));
        assert_eq!(packed.owner_references()[0].uid, "svc-1", "owners stay in the metadata, for the triggers");
        assert!(packed.labels().is_empty(), "labels are in the body");
        assert_eq!(serde_json::to_value(packed.unpack().unwrap()).unwrap(), object, "read back whole");
    }

    #[test]
    fn a_budget_and_a_service_read_back_whole() {
        reads_back::<PodDisruptionBudget>(json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": meta(), "spec": {"minAvailable": 4, "selector": {"matchLabels": {"continuo.dev/service": "hub"}}}}));
        reads_back::<Service>(json!({"apiVersion": "v1", "kind": "Service", "metadata": meta(),
            "spec": {"selector": {"continuo.dev/service": "hub"}, "ports": [{"name": "http", "port": 80}]}}));
    }

    #[test]
    fn a_watch_event_is_packed_as_it_is() {
        let pdb: PodDisruptionBudget = serde_json::from_value(json!({"metadata": meta()})).unwrap();
        match Packed::event(watcher::Event::Delete(pdb)) {
            watcher::Event::Delete(p) => assert_eq!(p.uid().as_deref(), Some("u-1")),
            _ => panic!("a deletion stays a deletion"),
        }
    }
}
