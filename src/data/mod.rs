//! The data layer behind a service, judged: its CloudNativePG clusters and VolSync replications, read (never
//! owned) and held to the class's RPOs and, where the database must fail over, its RTOs. Pure: the caller
//! observes the objects (or, offline, reads them from files) and passes them in.

mod cluster;
pub mod cnpg;
mod evidence;
pub mod volsync;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::{
    api::{DataIncident, DataSource, DataSourceStatus, Incident, Objective, Scope, Span},
    topology::NodeFacts,
    verdict::Verdict,
};
use cnpg::{InstancePod, Members, PgCluster};
pub use evidence::{Judged, minutes, zones_line};
use volsync::ReplicationSource;

/// What is known of one data layer's objects in the service's namespace.
#[derive(Debug)]
pub enum Layer<'a, K> {
    /// Its CRD is not installed: nothing of this kind can exist.
    NotInstalled,
    /// Its watch has not delivered a full list yet.
    NotObserved,
    Seen(&'a [K]),
}

impl<K> Clone for Layer<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for Layer<'_, K> {}

/// What the data stage observes.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    pub clusters: Layer<'a, PgCluster>,
    pub sources: Layer<'a, ReplicationSource>,
    /// The instance pods of the clusters; `None` offline, where instances are placed as their spec says.
    pub pods: Option<&'a [InstancePod]>,
    /// Nodes continuo's own failure detection holds unreachable (in a lost zone, or with a silent lease): an
    /// instance there counts as not Ready at once, before the node controller turns its pod's condition.
    pub unreachable: &'a [String],
}

impl Observed<'_> {
    /// Nothing observed yet (a service that declares no data needs nothing).
    pub fn none() -> Observed<'static> {
        Observed { clusters: Layer::NotObserved, sources: Layer::NotObserved, pods: None, unreachable: &[] }
    }
}

/// One declared data source, resolved.
#[derive(Clone, Debug)]
enum Source {
    Pg(Box<PgCluster>, Members),
    Vol(Box<ReplicationSource>, Option<String>),
    /// Not judged, and why: the verdict every objective gets from it.
    Missing {
        kind: &'static str,
        object: String,
        reason: &'static str,
        why: String,
    },
}

/// The data stage's result: every declared source resolved, with what the verdicts need.
#[derive(Clone, Debug, Default)]
pub struct DataPlan {
    sources: Vec<(String, Source)>,
    zone_key: String,
    /// The zones the service runs in (a copy there does not survive their loss).
    protected: Vec<String>,
}

/// Resolves each of `declared` in `ns` against what is observed; offline, instances placed on `eligible` zones.
pub fn resolve(
    declared: &[DataSource],
    ns: &str,
    observed: &Observed<'_>,
    nodes: &[NodeFacts],
    protected: &[String],
    eligible: &[String],
    zone_key: &str,
) -> DataPlan {
    let lookup = Lookup { ns, observed, nodes, eligible, zone_key };
    let sources = declared
        .iter()
        .map(|d| {
            let source = match (&d.cloud_native_pg, &d.vol_sync) {
                (Some(pg), _) => lookup.cluster(&pg.cluster),
                (None, Some(vs)) => lookup.replication(&vs.replication_source, vs.destination_zone.as_deref()),
                (None, None) => Source::Missing {
                    kind: "",
                    object: String::new(),
                    reason: "InvalidDataSource",
                    why: "names neither cloudNativePG nor volSync".into(),
                },
            };
            (d.name.clone(), source)
        })
        .collect();
    DataPlan { sources, zone_key: zone_key.to_string(), protected: protected.to_vec() }
}

/// What a declared source is looked up in.
struct Lookup<'a, 'o> {
    ns: &'a str,
    observed: &'a Observed<'o>,
    nodes: &'a [NodeFacts],
    eligible: &'a [String],
    zone_key: &'a str,
}

impl Lookup<'_, '_> {
    /// A Cluster and where its instances are: its observed pods, or (offline) where its spec puts them.
    fn cluster(&self, name: &str) -> Source {
        let c = match find(&self.observed.clusters, self.ns, name, "CloudNativePG", "clusters.postgresql.cnpg.io") {
            Ok(c) => c,
            Err(missing) => return missing,
        };
        let members = match self.observed.pods {
            Some(pods) => {
                let mine: Vec<&InstancePod> = pods
                    .iter()
                    .filter(|p| p.metadata.namespace.as_deref() == Some(self.ns) && p.cluster() == Some(name))
                    .collect();
                Members::observed(c, &mine, self.nodes, self.observed.unreachable)
            }
            None => Members::planned(c, self.eligible, self.zone_key),
        };
        Source::Pg(Box::new(c.clone()), members)
    }

    fn replication(&self, name: &str, destination_zone: Option<&str>) -> Source {
        let crd = "replicationsources.volsync.backube";
        match find(&self.observed.sources, self.ns, name, "VolSync", crd) {
            Ok(r) => Source::Vol(Box::new(r.clone()), destination_zone.map(str::to_string)),
            Err(missing) => missing,
        }
    }
}

fn find<'a, K: kube::Resource>(
    layer: &Layer<'a, K>,
    ns: &str,
    name: &str,
    kind: &'static str,
    crd: &str,
) -> Result<&'a K, Source> {
    let missing = |reason, why: String| Source::Missing { kind, object: name.to_string(), reason, why };
    match layer {
        Layer::NotInstalled => Err(missing("DataLayerNotInstalled", format!("the {crd} CRD is not installed"))),
        Layer::NotObserved => Err(missing("DataLayerNotObserved", format!("{kind} objects are not observed yet"))),
        Layer::Seen(objects) => objects
            .iter()
            .find(|o| o.meta().name.as_deref() == Some(name) && o.meta().namespace.as_deref().is_none_or(|n| n == ns))
            .ok_or_else(|| missing("DataSourceNotFound", format!("{kind} {ns}/{name} does not exist"))),
    }
}

impl DataPlan {
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Some source's layer has not delivered its first list yet: the verdict waits for it.
    pub fn awaiting_observation(&self) -> bool {
        self.sources.iter().any(|(_, s)| matches!(s, Source::Missing { reason: "DataLayerNotObserved", .. }))
    }

    /// The RPO verdict of each source for `scope`.
    pub fn rpo(&self, scope: Scope, rpo: Span, now: Timestamp) -> Vec<Judged> {
        let zone_key = self.zone_key.as_str();
        self.sources
            .iter()
            .map(|(name, s)| match s {
                Source::Pg(c, m) => cnpg::rpo(scope, rpo, c, m, zone_key, now),
                Source::Vol(r, zone) => {
                    let at = volsync::Where { destination_zone: zone.as_deref(), protected: &self.protected };
                    volsync::rpo(scope, rpo, r, &at, now)
                }
                Source::Missing { reason, why, .. } => {
                    (Verdict::Unknown, *reason, format!("{scope}: RPO {rpo} not verified — data {name:?}: {why}"))
                }
            })
            .collect()
    }

    /// The slowest database failover among the sources (seconds and how it adds up), if one must fail over.
    pub fn failover(&self, node_monitor_grace: u64) -> Option<(u64, String)> {
        self.sources
            .iter()
            .filter_map(|(_, s)| match s {
                Source::Pg(c, m) if m.list.len() > 1 => Some(cnpg::failover_secs(c, node_monitor_grace)),
                _ => None,
            })
            .max_by_key(|(secs, _)| *secs)
    }

    /// What each source did through a zone loss that began at `began`, as observed now: the CloudNativePG
    /// promotion since then, and the data lost where it can be known.
    pub fn through_loss(&self, began: Timestamp) -> Vec<DataIncident> {
        let zone_key = self.zone_key.as_str();
        self.sources
            .iter()
            .map(|(name, s)| {
                let mut out = DataIncident { name: name.clone(), ..DataIncident::default() };
                match s {
                    Source::Pg(c, _) => {
                        let promoted_at = c.status.as_ref().and_then(|st| st.current_primary_timestamp.as_deref());
                        if let Some(at) = promoted_at.and_then(|t| t.parse::<Timestamp>().ok()).filter(|t| *t >= began)
                        {
                            out.promoted = c.primary().map(str::to_string);
                            out.failed_over = Some(Time(Timestamp::from_second(at.as_second()).unwrap_or(at)));
                            out.failover_seconds = Some(at.as_second() - began.as_second());
                        }
                        // A commit waited for a standby outside the lost zone: nothing acknowledged was lost.
                        let kept =
                            matches!(c.durability(), cnpg::Durability::Required(_)) && c.zone_bound(zone_key).is_some();
                        out.rpo_seconds = kept.then_some(0);
                    }
                    Source::Vol(r, _) => {
                        out.rpo_seconds =
                            r.last_sync().filter(|t| *t <= began).map(|t| began.as_second() - t.as_second());
                    }
                    Source::Missing { .. } => {}
                }
                out
            })
            .collect()
    }

    /// What the status records of each source.
    pub fn statuses(&self) -> Vec<DataSourceStatus> {
        self.sources.iter().map(|(name, s)| status(name, s, &self.zone_key)).collect()
    }

    /// When a verdict turns with the clock alone: a VolSync copy ageing past an RPO.
    pub fn next_review(&self, objectives: &[Objective], now: Timestamp) -> Option<Timestamp> {
        let rpos: Vec<Span> = objectives.iter().filter_map(|o| o.rpo).filter(|r| r.as_secs() > 0).collect();
        self.sources
            .iter()
            .filter_map(|(_, s)| match s {
                Source::Vol(r, _) => r.last_sync(),
                _ => None,
            })
            .flat_map(|last| {
                rpos.iter().map(move |rpo| last + jiff::SignedDuration::from_secs(rpo.as_secs() as i64 + 1))
            })
            .filter(|at| *at > now)
            .min()
    }
}

fn status(name: &str, s: &Source, zone_key: &str) -> DataSourceStatus {
    let base = |kind: &str, object: &str| DataSourceStatus {
        name: name.to_string(),
        kind: kind.to_string(),
        object: object.to_string(),
        ..DataSourceStatus::default()
    };
    match s {
        Source::Pg(c, m) => {
            let mut out = base("CloudNativePG", c.metadata.name.as_deref().unwrap_or_default());
            out.primary_zone = m.list.iter().find(|x| x.primary && m.observed).and_then(|x| x.zone.clone());
            let synchronous = cnpg::rpo(Scope::Node, Span::from_secs(0), c, m, zone_key, Timestamp::UNIX_EPOCH);
            if synchronous.0 == Verdict::Feasible {
                out.bound_seconds = Some(0);
            } else if let Some(a) = c.condition("ContinuousArchiving") {
                out.bound_seconds = Some(c.archive_timeout().as_secs() as i64);
                if a.status != "True" {
                    out.synced_at = a.last_transition_time.clone();
                }
            }
            out
        }
        Source::Vol(r, _) => {
            let mut out = base("VolSync", r.metadata.name.as_deref().unwrap_or_default());
            out.synced_at = r.last_sync().map(Time);
            out.bound_seconds = out.synced_at.as_ref().map(|_| 0);
            out
        }
        Source::Missing { kind, object, .. } => base(kind, object),
    }
}

/// Adds what the sources did to a zone incident. The data lost is kept as first recorded (at the loss); a
/// promotion is taken as it is observed.
pub fn record(incident: &mut Incident, facts: Vec<DataIncident>) {
    for fact in facts {
        match incident.data.iter_mut().find(|d| d.name == fact.name) {
            None => incident.data.push(fact),
            Some(known) => {
                if fact.failed_over.is_some() {
                    (known.promoted, known.failed_over, known.failover_seconds) =
                        (fact.promoted, fact.failed_over, fact.failover_seconds);
                }
                known.rpo_seconds = known.rpo_seconds.or(fact.rpo_seconds);
            }
        }
    }
}

/// The worst of several verdicts (not met, then unknown, then met); when all are alike, their evidence joined.
pub fn worst(mut all: Vec<Judged>) -> Option<Judged> {
    let rank = |v: Verdict| match v {
        Verdict::NotFeasible => 0,
        Verdict::Unknown => 1,
        Verdict::Feasible => 2,
    };
    let lowest = all.iter().map(|j| rank(j.0)).min()?;
    all.retain(|j| rank(j.0) == lowest);
    let mut it = all.into_iter();
    let (verdict, reason, mut message) = it.next()?;
    for (_, _, m) in it {
        let evidence = m.split_once(" — ").map_or(m.as_str(), |(_, e)| e);
        message.push_str("; ");
        message.push_str(evidence);
    }
    Some((verdict, reason, message))
}

#[cfg(test)]
mod tests;
