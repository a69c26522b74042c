//! Zone by zone: a template change never costs more than one zone at a time.
//!
//! Each zone's Deployment carries the digest of the template continuo applied and the revision its pods run.
//! When the digests change, the zones roll one after another, in order (WarmStandby: standbys first, the
//! primary last): the zone rolling is unpaused, every other zone that has not rolled yet gets the new template
//! *paused* — the Deployment controller then keeps its pods as they are but still scales them, so a zone loss
//! during a rollout still re-places capacity. The next zone starts only when the previous one is fully rolled
//! out and Ready. A zone that exceeds its progress deadline stops the rollout there.

use std::collections::BTreeMap;

/// What the rollout needs to know of one zone's live Deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Live {
    /// The digest of the zone's template continuo last applied.
    pub digest: Option<String>,
    /// The service revision its pods run, as continuo last recorded it.
    pub revision: Option<String>,
    pub paused: bool,
    /// Every desired replica is updated to its template and Ready.
    pub rolled_out: bool,
    /// The Deployment controller gave up: `Progressing=False`, `ProgressDeadlineExceeded`.
    pub deadline_exceeded: bool,
}

/// One zone of the rollout, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone<'a> {
    pub name: &'a str,
    /// The digest of the zone's template continuo wants (zones differ: each is pinned to its zone).
    pub digest: &'a str,
    /// The live Deployment, if any (a new zone has nothing to protect: it starts on the new template).
    pub live: Option<Live>,
}

/// What each zone gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneStep {
    /// Paused: the new template is recorded but not rolled out yet.
    pub paused: bool,
    /// The service revision the zone's pods run, to record and show.
    pub revision: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Every zone runs its wanted template.
    Done,
    /// `rolling` is rolling out; `waiting` are paused on their previous revision.
    Rolling { rolling: Vec<String>, done: Vec<String>, waiting: Vec<String> },
    /// `zone` exceeded its progress deadline: the rollout stops there.
    Stalled { zone: String, done: Vec<String>, waiting: Vec<String> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollout {
    pub steps: BTreeMap<String, ZoneStep>,
    pub progress: Progress,
}

/// Decides, for zones in rollout order, which roll now and which wait; `revision` names the service template
/// they roll to (the same in every zone, unlike the zones' own template digests).
pub fn plan(zones: &[Zone<'_>], revision: &str) -> Rollout {
    let done = |z: &Zone<'_>| {
        z.live.as_ref().is_none_or(|l| l.digest.as_deref() == Some(z.digest) && !l.paused && l.rolled_out)
    };
    let in_flight = |z: &Zone<'_>| {
        z.live.as_ref().is_some_and(|l| l.digest.as_deref() == Some(z.digest) && !l.paused && !l.rolled_out)
    };
    // Rolling: whatever is already in flight (never paused mid-way), else the first zone not done.
    let mut rolling: Vec<&str> = zones.iter().filter(|z| in_flight(z)).map(|z| z.name).collect();
    if rolling.is_empty() {
        rolling.extend(zones.iter().find(|z| !done(z)).map(|z| z.name));
    }
    let stalled = zones
        .iter()
        .find(|z| rolling.contains(&z.name) && z.live.as_ref().is_some_and(|l| l.deadline_exceeded && in_flight(z)));
    let mut steps = BTreeMap::new();
    let (mut done_names, mut waiting) = (Vec::new(), Vec::new());
    for z in zones {
        let goes = done(z) || rolling.contains(&z.name);
        // Until a zone is done its pods run what they ran (a zone continuo never recorded: its own digest).
        let running = match &z.live {
            Some(l) if !done(z) => l.revision.clone().or_else(|| l.digest.clone()).unwrap_or_else(|| revision.into()),
            _ => revision.to_string(),
        };
        if done(z) {
            done_names.push(z.name.to_string());
        } else if !goes {
            waiting.push(z.name.to_string());
        }
        steps.insert(z.name.to_string(), ZoneStep { paused: !goes, revision: running });
    }
    let progress = match stalled {
        Some(z) => Progress::Stalled { zone: z.name.to_string(), done: done_names, waiting },
        None if rolling.is_empty() => Progress::Done,
        None => {
            Progress::Rolling { rolling: rolling.iter().map(|s| s.to_string()).collect(), done: done_names, waiting }
        }
    };
    Rollout { steps, progress }
}

/// The first characters of a revision digest, for status.
pub fn short(revision: &str) -> String {
    revision.chars().take(10).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(digest: &str, paused: bool, rolled_out: bool) -> Option<Live> {
        Some(Live { digest: Some(digest.into()), revision: None, paused, rolled_out, deadline_exceeded: false })
    }

    fn zones<'a>(lives: &[Option<Live>], digest: &'a str) -> Vec<Zone<'a>> {
        const NAMES: [&str; 3] = ["a", "b", "c"];
        lives.iter().enumerate().map(|(i, l)| Zone { name: NAMES[i], digest, live: l.clone() }).collect()
    }

    fn paused(r: &Rollout) -> Vec<&str> {
        r.steps.iter().filter(|(_, s)| s.paused).map(|(z, _)| z.as_str()).collect()
    }

    #[test]
    fn a_new_service_starts_everywhere_at_once() {
        let r = plan(&zones(&[None, None, None], "new"), "new");
        assert!(paused(&r).is_empty());
        assert_eq!(r.progress, Progress::Done);
    }

    #[test]
    fn a_template_change_rolls_one_zone_at_a_time_in_order() {
        // All zones run "old"; the template changes.
        let mut lives = vec![live("old", false, true), live("old", false, true), live("old", false, true)];
        let r = plan(&zones(&lives, "new"), "new");
        assert_eq!(paused(&r), ["b", "c"]);
        assert_eq!(r.steps["b"].revision, "old", "waiting zones record what they still run");
        // a applied, rolling out: b and c still wait.
        lives[0] = live("new", false, false);
        lives[1] = live("new", true, false);
        lives[2] = live("new", true, false);
        let mut with_revision = lives.clone();
        for l in with_revision.iter_mut().skip(1) {
            l.as_mut().unwrap().revision = Some("old".into());
        }
        let r = plan(&zones(&with_revision, "new"), "new");
        assert_eq!(paused(&r), ["b", "c"]);
        assert_eq!(r.steps["b"].revision, "old");
        assert!(matches!(&r.progress, Progress::Rolling { rolling, .. } if rolling == &["a"]));
        // a done: b starts, c waits.
        with_revision[0] = live("new", false, true);
        let r = plan(&zones(&with_revision, "new"), "new");
        assert_eq!(paused(&r), ["c"]);
        assert_eq!(r.steps["a"].revision, "new");
        // b done, c done.
        with_revision[1] = live("new", false, true);
        assert_eq!(paused(&plan(&zones(&with_revision, "new"), "new")), Vec::<&str>::new());
        with_revision[2] = live("new", false, true);
        assert_eq!(plan(&zones(&with_revision, "new"), "new").progress, Progress::Done);
    }

    #[test]
    fn a_zone_past_its_deadline_stops_the_rollout_there() {
        let mut stuck = live("new", false, false).unwrap();
        stuck.deadline_exceeded = true;
        let mut waiting = live("new", true, false).unwrap();
        waiting.revision = Some("old".into());
        let r = plan(&zones(&[live("new", false, true), Some(stuck), Some(waiting)], "new"), "new");
        assert_eq!(paused(&r), ["c"], "the next zone never starts");
        assert_eq!(
            r.progress,
            Progress::Stalled { zone: "b".into(), done: vec!["a".into()], waiting: vec!["c".into()] }
        );
        assert_eq!(r.steps["c"].revision, "old");
    }

    #[test]
    fn a_superseded_rollout_restarts_from_the_first_zone_without_pausing_one_in_flight() {
        // Mid-rollout to "v2" (a done, b in flight), the template changes again to "v3".
        let mut b = live("v2", false, false).unwrap();
        b.revision = Some("v1".into());
        let r = plan(&zones(&[live("v2", false, true), Some(b), live("v1", false, true)], "v3"), "v3");
        assert_eq!(paused(&r), ["b", "c"], "b is not in flight for v3, so it waits");
        assert_eq!((r.steps["a"].revision.as_str(), r.steps["b"].revision.as_str()), ("v2", "v1"));
    }

    #[test]
    fn a_new_zone_during_a_rollout_starts_on_the_new_template() {
        let r = plan(&zones(&[live("old", false, true), live("old", false, true), None], "new"), "new");
        assert_eq!(paused(&r), ["b"]);
        assert_eq!(r.steps["c"].revision, "new");
    }
}
