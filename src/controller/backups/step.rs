//! What every backup side step shares: the service it works for, and how failures of its items are gathered.

use kube::Api;

use crate::{
    api::{RecoveryPoint, ResilientService},
    backup::BackupPlan,
    controller::{Context, Error, cache::CachedJob},
};

/// The agent's actions whose Jobs the backup steps look at.
const ACTIONS: [&str; 4] = ["backup", "delete", "restore", crate::sites::arrival::LIST_ACTION];

/// What every backup side step of one service works with.
pub(super) struct Step<'a> {
    pub ctx: &'a Context,
    pub svc: &'a ResilientService,
    pub plan: &'a BackupPlan,
    pub points: &'a [RecoveryPoint],
    pub ns: String,
    pub name: String,
    /// `namespace/name`, the key of [`Reported`].
    pub key: String,
    /// The service's agent Jobs, per action in [`ACTIONS`] order, read from the cache once for every step.
    jobs: [Vec<CachedJob>; 4],
}

impl<'a> Step<'a> {
    pub fn new(ctx: &'a Context, svc: &'a ResilientService, plan: &'a BackupPlan, points: &'a [RecoveryPoint]) -> Self {
        use kube::ResourceExt;
        let (ns, name) = (svc.namespace().unwrap_or_default(), svc.name_any());
        let jobs = ACTIONS.map(|action| ctx.caches.agent_jobs_of(&ns, &name, action));
        Step { ctx, svc, plan, points, key: format!("{ns}/{name}"), ns, name, jobs }
    }

    /// The service's agent Jobs that ran `action` (`backup`, `delete`, `restore` or `list`).
    pub fn jobs(&self, action: &str) -> &[CachedJob] {
        ACTIONS.iter().position(|a| *a == action).map_or(&[], |i| &self.jobs[i])
    }

    pub fn points_api(&self) -> Api<RecoveryPoint> {
        Api::namespaced(self.ctx.client.clone(), &self.ns)
    }
}

/// The first failure among items that are all tried: one point that cannot be written does not keep the others
/// from being handled.
#[derive(Default)]
pub(super) struct First(Option<Error>);

impl First {
    pub fn keep(&mut self, outcome: Result<(), Error>) {
        if let Err(e) = outcome {
            self.0.get_or_insert(e);
        }
    }

    pub fn result(self) -> Result<(), Error> {
        self.0.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_tried_and_the_first_failure_is_the_answer() {
        let mut first = First::default();
        for outcome in [Ok(()), Err(Error::CachesNotSynced), Err(Error::NoNamespace), Ok(())] {
            first.keep(outcome);
        }
        assert!(matches!(first.result(), Err(Error::CachesNotSynced)));
        assert!(First::default().result().is_ok());
    }
}
