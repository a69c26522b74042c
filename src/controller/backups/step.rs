//! What every backup side step shares: the service it works for, and how failures of its items are gathered.

use kube::Api;

use crate::{
    api::{RecoveryPoint, ResilientService},
    backup::BackupPlan,
    controller::{Context, Error},
};

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
}

impl Step<'_> {
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
