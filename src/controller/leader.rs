//! Leadership: whether this replica may write. With leader election, a `coordination.k8s.io` Lease held through
//! `kube-lease-manager`; without, always. Followers keep their caches warm and write nothing.

use std::time::Duration;

use futures::{Stream, StreamExt, future::ready, stream};

use kube::{Api, Client, ResourceExt, api::PostParams};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::{sync::watch, task::JoinHandle};
use tracing::{error, info};

use crate::{api::ContinuityClass, metrics::Metrics, workload::FIELD_MANAGER};

/// Leader election on a `coordination.k8s.io` Lease.
pub struct Election {
    pub lease: String,
    pub namespace: String,
    /// A follower takes over at most this long after the leader dies (at once when it stops gracefully).
    pub duration: Duration,
}

/// Whether this replica may write, and the task that keeps the lease (none without election).
pub(super) struct Leadership {
    pub rx: watch::Receiver<bool>,
    pub lease_task: Option<JoinHandle<()>>,
    /// Without election: the sender that keeps `rx` true for the life of the process.
    _always: Option<watch::Sender<bool>>,
}

impl Leadership {
    /// The lease task, and what keeps leadership true without election; this replica's own receiver is dropped,
    /// so that once every task holding one has stopped, the lease task releases the lease and ends.
    pub fn into_lease(self) -> (Option<JoinHandle<()>>, Option<watch::Sender<bool>>) {
        (self.lease_task, self._always)
    }
}

/// How soon the lease manager is asked again after the API failed it: quickly, so that the lease is renewed
/// within seconds of the API's return (the lease manager's own loop waits up to 30 s).
const RETRY: [Duration; 4] =
    [Duration::from_millis(500), Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(2)];

/// Takes part in the election, or writes always when there is none.
///
/// This replica writes only while it holds a lease it has **seen renewed**: its own read of the Lease shows it as
/// the holder, renewed less than the lease duration minus half the grace ago. The lease manager renews a grace
/// period before expiry, and this replica reads the Lease just after; when a renewal fails (the API server went
/// away), writing stops half a grace before the lease expires, so no follower, which may take the lease only
/// once it expired, ever writes at the same time. When the API answers again, the lease manager renews (or finds
/// the lease taken) within seconds, and writing resumes (or not) as soon as the renewal is seen.
pub(super) async fn elect(
    client: &Client,
    election: Option<&Election>,
    instance: Option<&String>,
) -> Result<Leadership, String> {
    let Some(e) = election else {
        let (tx, rx) = watch::channel(true);
        return Ok(Leadership { rx, lease_task: None, _always: Some(tx) });
    };
    // Without a pod name, an identity of this process alone (every container's process may be pid 1).
    let identity = instance.cloned().unwrap_or_else(|| {
        let nanos = jiff::Timestamp::now().as_nanosecond().unsigned_abs() % 1_000_000_000_000;
        format!("continuo-{}-{nanos:x}", std::process::id())
    });
    let lease = Lease {
        client: client.clone(),
        name: e.lease.clone(),
        namespace: e.namespace.clone(),
        duration: e.duration.as_secs().max(2),
        identity,
    };
    let manager = lease.manager().await.map_err(|e| format!("cannot set up leader election: {e}"))?;
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(keep_electing(lease, manager, tx));
    Ok(Leadership { rx, lease_task: Some(task), _always: None })
}

/// What the election is made from.
struct Lease {
    client: Client,
    name: String,
    namespace: String,
    duration: u64,
    identity: String,
}

impl Lease {
    fn grace(&self) -> u64 {
        (self.duration / 3).max(1)
    }

    /// The lease manager. Its field manager is this replica's own, so that two replicas taking a free lease at
    /// once conflict (server-side apply) instead of both succeeding.
    async fn manager(&self) -> kube_lease_manager::Result<LeaseManager> {
        LeaseManagerBuilder::new(self.client.clone(), &self.name)
            .with_namespace(&self.namespace)
            .with_duration(self.duration)
            .with_grace(self.grace())
            .with_identity(&self.identity)
            .with_field_manager(format!("{FIELD_MANAGER}-leader-{}", self.identity))
            .build()
            .await
    }

    /// Until when this replica may write, from the Lease as read now: `None` unless it is the holder.
    fn valid_until(&self, l: &k8s_openapi::api::coordination::v1::Lease) -> Option<jiff::Timestamp> {
        let spec = l.spec.as_ref()?;
        (spec.holder_identity.as_deref() == Some(self.identity.as_str())).then_some(())?;
        let renewed = spec.renew_time.as_ref()?.0;
        let margin = jiff::SignedDuration::from_millis((self.duration * 1000 - self.grace() * 500) as i64);
        renewed.checked_add(margin).ok()
    }
}

/// Keeps the lease (renewing it through the lease manager) and says whether this replica may write, until every
/// receiver of `tx` is gone; then releases the lease.
async fn keep_electing(lease: Lease, manager: LeaseManager, tx: watch::Sender<bool>) {
    let (held_tx, held) = watch::channel(false);
    let renewing = async {
        let mut failures = 0usize;
        loop {
            match manager.changed().await {
                Ok(is_holder) => {
                    failures = 0;
                    held_tx.send_replace(is_holder);
                }
                Err(e) => {
                    if failures == 0 {
                        error!(error = %e, "cannot renew or read the lease; retrying");
                    }
                    tokio::time::sleep(RETRY[failures.min(RETRY.len() - 1)]).await;
                    failures += 1;
                }
            }
        }
    };
    tokio::select! {
        () = tx.closed() => {}
        () = renewing => {}
        () = confirm(&lease, held, &tx) => {}
    }
    if let Err(e) = manager.release().await {
        error!(error = %e, "could not release the lease; a follower takes over when it expires");
    }
}

/// Says on `tx` whether this replica may write: the lease manager holds the lease and this replica has seen it
/// renewed recently enough (see [`elect`]). Reads the Lease once per renewal, just after it is due.
async fn confirm(lease: &Lease, mut held: watch::Receiver<bool>, tx: &watch::Sender<bool>) {
    let api: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(lease.client.clone(), &lease.namespace);
    let quarter_grace = jiff::SignedDuration::from_millis(lease.grace() as i64 * 250);
    let mut valid_until: Option<jiff::Timestamp> = None;
    let mut confirmed_twice = false;
    loop {
        if *held.borrow_and_update() {
            match api.get_opt(&lease.name).await {
                Ok(Some(l)) => valid_until = lease.valid_until(&l),
                Ok(None) => valid_until = None,
                // Unreadable: what was seen last still holds, until it runs out.
                Err(_) => {}
            }
        } else {
            valid_until = None;
        }
        let now = jiff::Timestamp::now();
        let valid = valid_until.is_some_and(|v| now < v);
        let writing = *tx.borrow();
        // Starting to write takes two reads half a second apart that both show the lease held: a follower that
        // took the lease by force just then (its read and its write straddling this replica's renewal) shows in
        // the second.
        let may_write = valid && (writing || confirmed_twice);
        confirmed_twice = valid && !writing;
        if tx.send_replace(may_write) != may_write {
            info!(writing = may_write, "leadership confirmed from the lease");
        }
        // The next renewal is due half a grace before `valid_until`: look a quarter grace after it.
        let next = valid_until.filter(|_| may_write).map(|v| v - quarter_grace);
        let wait = next
            .map(|n| n.duration_since(now).max(jiff::SignedDuration::from_millis(200)))
            .and_then(|d| Duration::try_from(d).ok())
            .unwrap_or(Duration::from_millis(500));
        tokio::select! {
            changed = held.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Follows leadership in the `continuo_leader` gauge and the log, and, when asked, creates the built-in classes
/// each time this replica becomes the leader.
pub(super) fn announce(
    mut rx: watch::Receiver<bool>,
    metrics: &Metrics,
    client: Client,
    builtin_classes: bool,
) -> JoinHandle<()> {
    let gauge = metrics.leader.clone();
    tokio::spawn(async move {
        loop {
            let is_leader = *rx.borrow_and_update();
            gauge.set(i64::from(is_leader));
            info!(leader = is_leader, "leadership");
            if is_leader && builtin_classes {
                match install_builtin_classes(&client).await {
                    Ok(n) => info!(created = n, "built-in ContinuityClasses in place"),
                    Err(e) => error!(error = %e, "could not create the built-in ContinuityClasses"),
                }
            }
            if rx.changed().await.is_err() {
                break;
            }
        }
    })
}

/// Fires whenever this replica becomes the leader (not at start).
pub(super) fn became_leader(rx: watch::Receiver<bool>) -> impl Stream<Item = ()> + Send + 'static {
    stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        let now = *rx.borrow_and_update();
        Some((now, rx))
    })
    .filter_map(|is_leader| ready(is_leader.then_some(())))
}

/// Fires once now and whenever this replica becomes the leader.
pub(super) fn now_and_when_leader(rx: watch::Receiver<bool>) -> impl Stream<Item = ()> + Send + 'static {
    stream::once(ready(())).chain(became_leader(rx))
}

/// The previous holder's last renewal of the leader lease, when there is one.
pub(super) async fn previous_renewal(client: &Client, e: &Election) -> Option<jiff::Timestamp> {
    let api: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client.clone(), &e.namespace);
    match api.get_opt(&e.lease).await {
        Ok(lease) => lease?.spec?.renew_time.map(|t| t.0),
        Err(err) => {
            error!(error = %err, "could not read the leader lease; time before this start counts as not observed");
            None
        }
    }
}

/// Creates each built-in ContinuityClass that does not exist; an existing one, edited or not, is left alone.
/// Returns how many were created.
pub async fn install_builtin_classes(client: &Client) -> Result<usize, String> {
    let api = Api::<ContinuityClass>::all(client.clone());
    let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
    let mut created = 0;
    for class in crate::api::builtin_classes()? {
        match api.create(&params, &class).await {
            Ok(_) => created += 1,
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(format!("ContinuityClass {}: {e}", class.name_any())),
        }
    }
    Ok(created)
}
