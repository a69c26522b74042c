//! What this process has already reported about the agent's runs, so that each failure is one Warning, not one
//! per reconcile. Memory only, bounded by the Jobs that still exist: after a restart a failed run still in the
//! CronJob's history is reported once more.

use std::collections::HashSet;

/// Runs already reported (failed, or without a usable report), per service, so each is reported once per process.
/// Pruned to the Jobs that still exist at each pass, so it stays as small as the Jobs' history.
#[derive(Default)]
pub struct Reported(std::sync::Mutex<std::collections::HashMap<String, HashSet<String>>>);

impl Reported {
    /// True the first time `job` of `service` is seen.
    pub(super) fn first(&self, service: &str, job: &str) -> bool {
        self.0.lock().map(|mut m| m.entry(service.to_string()).or_default().insert(job.to_string())).unwrap_or(false)
    }

    /// Forgets the runs of `service` whose Job is gone.
    pub(super) fn keep_only(&self, service: &str, live: &HashSet<String>) {
        if let Ok(mut m) = self.0.lock()
            && let Some(seen) = m.get_mut(service)
        {
            seen.retain(|j| live.contains(j));
            if seen.is_empty() {
                m.remove(service);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_reported_once_and_forgotten_with_its_job() {
        let r = Reported::default();
        assert!(r.first("ns/hub", "hub-backup-1"));
        assert!(!r.first("ns/hub", "hub-backup-1"), "reported once");
        assert!(r.first("ns/other", "hub-backup-1"), "per service");
        r.keep_only("ns/hub", &HashSet::new());
        assert!(r.first("ns/hub", "hub-backup-1"), "forgotten once the Job is gone, so memory stays bounded");
        assert_eq!(r.0.lock().unwrap().len(), 2);
    }
}
