//! Sites: a service kept at one site of several (Karmada member clusters), moved to a recovery site when its site
//! is lost — by a person's declaration or, when the class says so, by continuo once the site has failed Karmada's
//! health checks long enough. Pure: from the class's sites, the Karmada `Cluster`s observed, the declarations and
//! the clock, it computes which site serves, the Karmada policies that put the service there, and the Region
//! verdicts.
//!
//! continuo decides the move and Karmada carries it out: the generated `PropagationPolicy` names the serving
//! site's clusters (Cold), or every site's with an `OverridePolicy` scaling the others down (Warm), and tolerates
//! Karmada's cluster taints, so that Karmada's own eviction never races continuo's decision. Since Karmada 1.14 no
//! cluster is tainted `NoExecute` unless an administrator configures it; continuo reads the `Ready` condition
//! Karmada keeps on each `Cluster` instead.

pub mod arrival;
pub mod declared;
pub mod drill;
pub mod handover;
pub mod karmada;
pub mod record;
pub mod verdict;

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::api::{Site, SiteFailoverMode, Sites};

/// The value of annotation `key` on the service, read as JSON; `Err` in words, naming the shape `expected`, when it
/// is not one.
fn annotated<T: serde::de::DeserializeOwned>(
    svc: &crate::api::ResilientService,
    key: &str,
    what: &str,
    expected: &str,
) -> Result<Option<T>, String> {
    let Some(text) = svc.metadata.annotations.as_ref().and_then(|a| a.get(key)) else { return Ok(None) };
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| format!("annotation {key} is not {what} ({e}): expected {expected}"))
}

/// The name of a one-off agent run of `service`, one per `key`: `<service><suffix>-<hash of key>`.
fn run_name(service: &str, suffix: &str, key: &str) -> String {
    let digest = xxhash_rust::xxh3::xxh3_64(key.as_bytes());
    crate::backup::jobs::bounded_name(service, &format!("{suffix}-{:08x}", digest as u32), 63)
}

/// A Karmada `Cluster`, as observed on Karmada's API server.
#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `spec.region`.
    pub region: Option<String>,
    /// Its `Ready` condition: `Some(true)` True, `Some(false)` False or Unknown, `None` not reported yet.
    pub ready: Option<bool>,
    /// When `Ready` last changed.
    pub since: Option<Timestamp>,
}

impl Cluster {
    /// A Karmada `Cluster` object (as JSON), as the sites read it: name, labels, `spec.region`, and its `Ready`
    /// condition with when it last changed.
    pub fn from_document(doc: &serde_json::Value) -> Cluster {
        let ready = doc["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
        Cluster {
            name: doc["metadata"]["name"].as_str().unwrap_or_default().to_string(),
            labels: serde_json::from_value(doc["metadata"]["labels"].clone()).unwrap_or_default(),
            region: doc["spec"]["region"].as_str().map(str::to_string),
            ready: ready.and_then(|c| c["status"].as_str()).map(|s| s == "True"),
            since: ready.and_then(|c| c["lastTransitionTime"].as_str()).and_then(|t| t.parse::<Timestamp>().ok()),
        }
    }
}

/// A `SiteFailover` of the service, as observed.
#[derive(Clone, Debug, PartialEq)]
pub struct Declaration {
    pub name: String,
    pub to: String,
    pub declared: Timestamp,
}

/// The sites as they are carried out for a service: a stateful service stands by Cold whatever the class says (a
/// Warm site would run a second copy writing its own volumes: two writers), and the reason in words when that
/// changed anything.
pub fn effective(sites: &Sites, stateful: bool) -> (Sites, Option<String>) {
    if stateful && sites.standby == crate::api::Standby::Warm {
        let cold = Sites { standby: crate::api::Standby::Cold, ..sites.clone() };
        let why = "the class asks for a Warm standby, but the service keeps data on volumes of its own: a second \
                   site running it would write its own copy of the data, so it stands by Cold (nothing runs there \
                   until it is moved)";
        return (cold, Some(why.to_string()));
    }
    (sites.clone(), None)
}

impl Declaration {
    /// A `SiteFailover` as a declaration, made at its creation (`otherwise` when the object has no creation time).
    pub fn of(f: &crate::api::SiteFailover, otherwise: Timestamp) -> Declaration {
        Declaration {
            name: f.metadata.name.clone().unwrap_or_default(),
            to: f.spec.to.clone(),
            declared: f.metadata.creation_timestamp.as_ref().map_or(otherwise, |t| t.0),
        }
    }
}

/// The declaration in force: the newest naming a site of the class (ties broken by name).
pub fn newest<'a>(sites: &Sites, declarations: &'a [Declaration]) -> Option<&'a Declaration> {
    declarations.iter().filter(|d| sites.site(&d.to).is_some()).max_by_key(|d| (d.declared, d.name.clone()))
}

/// The clusters of `site` among those observed, in name order.
pub fn members<'a>(site: &Site, clusters: &'a [Cluster]) -> Vec<&'a Cluster> {
    let mut out: Vec<&Cluster> = clusters
        .iter()
        .filter(|c| {
            (site.cluster_names.is_empty() || site.cluster_names.contains(&c.name))
                && site.cluster_labels.iter().all(|(k, v)| c.labels.get(k) == Some(v))
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// A site's health: healthy while one of its clusters is Ready; lost since the latest of its clusters stopped
/// being Ready, once none is; unknown when none of its clusters is observed or reported yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Lost { since: Timestamp },
    Unknown,
}

pub fn health(site: &Site, clusters: &[Cluster]) -> Health {
    let members = members(site, clusters);
    if members.iter().any(|c| c.ready == Some(true)) {
        return Health::Healthy;
    }
    if members.is_empty() || members.iter().any(|c| c.ready.is_none() || c.since.is_none()) {
        return Health::Unknown;
    }
    members.iter().filter_map(|c| c.since).max().map_or(Health::Unknown, |since| Health::Lost { since })
}

/// Why the service serves from the site it does.
#[derive(Clone, Debug, PartialEq)]
pub enum Serving {
    /// The primary site, as declared in the class.
    Primary,
    /// A person's `SiteFailover` (by name) moved it there.
    Declared { by: String, at: Timestamp },
    /// continuo moved it now, the site it served from having been lost since `since` (Automatic failover).
    Automatic { lost: String, since: Timestamp },
    /// Where continuo moved it earlier (after the newest declaration), as recorded in its status.
    Kept { since: Timestamp },
}

/// Where continuo last recorded the service serving (the service's `status.site`), and since when.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub site: String,
    pub since: Timestamp,
}

/// The site the service serves from, and why. Declarations are followed in the order they were made (the newest
/// wins); one naming no site of the class is ignored here (its own status says it was refused). A move continuo
/// made after the newest declaration (an automatic failover, as recorded) stands. Automatic failover moves off a
/// site lost for at least `hold` seconds, to the first healthy site in the class's order, and never moves back
/// on its own: returning is a declared failback, so a site that comes back never serves stale data.
pub fn serving(
    sites: &Sites,
    clusters: &[Cluster],
    declarations: &[Declaration],
    recorded: Option<&Recorded>,
    hold: u64,
    now: Timestamp,
) -> (String, Serving) {
    let (site, why) = match (newest(sites, declarations), recorded) {
        (Some(d), Some(r)) if r.since > d.declared && sites.site(&r.site).is_some() => {
            (r.site.clone(), Serving::Kept { since: r.since })
        }
        (Some(d), _) => (d.to.clone(), Serving::Declared { by: d.name.clone(), at: d.declared }),
        (None, Some(r)) if sites.site(&r.site).is_some() && r.site != sites.primary().name => {
            (r.site.clone(), Serving::Kept { since: r.since })
        }
        (None, _) => (sites.primary().name.clone(), Serving::Primary),
    };
    if sites.failover != SiteFailoverMode::Automatic {
        return (site, why);
    }
    let lost_since = match sites.site(&site).map(|s| health(s, clusters)) {
        Some(Health::Lost { since }) if now.duration_since(since).as_secs() >= hold as i64 => since,
        _ => return (site, why),
    };
    match sites.sites.iter().find(|s| s.name != site && health(s, clusters) == Health::Healthy) {
        Some(next) => (next.name.clone(), Serving::Automatic { lost: site, since: lost_since }),
        None => (site, why),
    }
}

#[cfg(test)]
mod tests;
