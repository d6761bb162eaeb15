//! The engine: one writer task that turns commands into durable changes,
//! and the fan-out of their results — the current world, the materialized
//! snapshots and the stream of changes.
//!
//! Writes queue on a channel. The writer takes every command waiting (up to
//! a batch limit), applies each to a copy of the world, commits all that
//! succeeded in one transaction — group commit: one fsync for many writes —
//! and only then publishes and acknowledges them. A refused command does
//! not affect the others in its batch.
//!
//! Time comes from a [`Clock`]: the system's, or one a test moves. Every
//! decision that depends on it — `auto_after` closes, tombstone reclaims,
//! flapping — reads it, and [`Engine::run_timers`] runs the timers once, so
//! tests drive hours of time without waiting.

use std::{
    collections::BTreeSet,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use setpoint_core::{Change, ChangeKind, Role, time::format_timestamp};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::{
    metrics::Metrics,
    snapshots::Snapshots,
    store::{AccountWrite, Batch, CHANGES_PER_READ, ChangeQuery, Delta, Locked, Store, StoreError},
    world::{Command, Meta, Refusal, World},
};

/// The most commands committed in one transaction.
const MAX_BATCH: usize = 256;

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The domain refused it (conflict, invalid, not found, …).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Storage failed; nothing was written.
    #[error(transparent)]
    Store(#[from] Arc<StoreError>),
    /// The writer has stopped (the server is shutting down).
    #[error("the server is shutting down")]
    Stopped,
}

struct Job {
    /// Applied all or nothing, in order.
    commands: Vec<Command>,
    /// Users and tokens to write with the commands' changes.
    accounts: Vec<AccountWrite>,
    actor: String,
    /// The writer's role, when a person or a token writes.
    role: Option<Role>,
    reason: String,
    reply: oneshot::Sender<Result<Vec<Change>, WriteError>>,
}

/// A committed change, rendered once as a Server-Sent Event for every
/// watcher that streams it: a thousand watchers share one buffer instead of
/// each formatting and copying the change.
#[derive(Debug)]
pub struct Published {
    /// The change.
    pub change: Change,
    /// `id: <revision>`, `event: change`, `data: <JSON>` and the blank line
    /// that ends the event.
    pub frame: Bytes,
}

impl Published {
    /// Renders `change`.
    pub fn new(change: Change) -> Self {
        // Compact JSON has no line breaks, so it is one `data:` line.
        let json = serde_json::to_string(&change).unwrap_or_else(|_| "null".into());
        let frame = format!("id: {}\nevent: change\ndata: {json}\n\n", change.revision);
        Self {
            change,
            frame: Bytes::from(frame),
        }
    }
}

/// Tunables.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How long a deleted service stays restorable.
    pub reclaim_after: Duration,
    /// Where the time comes from.
    pub clock: Arc<dyn Clock>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            reclaim_after: Duration::from_hours(7 * 24),
            clock: Arc::new(SystemClock),
        }
    }
}

/// Where the engine reads the time.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        now_millis()
    }
}

/// A clock that moves only when told to, for tests.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock standing at `millis` since the Unix epoch.
    pub fn new(millis: i64) -> Self {
        Self(AtomicI64::new(millis))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The running engine. Share it behind an `Arc`.
#[derive(Debug)]
pub struct Engine {
    store: Arc<dyn Store>,
    world: watch::Receiver<Arc<World>>,
    snapshots: Arc<Snapshots>,
    changes: broadcast::Sender<Arc<Published>>,
    writer: mpsc::Sender<Work>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    /// On a store shared with other replicas: when this one last had
    /// read every commit.
    followed: Option<Arc<std::sync::Mutex<std::time::Instant>>>,
}

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_millis() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

impl Engine {
    /// Loads the state from `store` and starts the writer and the reclaimer.
    pub async fn start(
        store: Arc<dyn Store>,
        config: EngineConfig,
    ) -> Result<Arc<Self>, StoreError> {
        let world = Arc::new(store.load().await?);
        let snapshots = Arc::new(Snapshots::default());
        snapshots.restore(&world, &store.snapshot_marks().await?);
        let (world_tx, world_rx) = watch::channel(world);
        let (changes, _) = broadcast::channel(4096);
        let (writer, queue) = mpsc::channel(4096);
        let metrics = Arc::new(Metrics::default());
        let announced = Arc::new(AtomicBool::new(false));
        let followed = match store.follow().await? {
            Some(woken) => {
                tokio::spawn(follow(woken, writer.downgrade(), Arc::clone(&announced)));
                Some(Arc::new(std::sync::Mutex::new(std::time::Instant::now())))
            }
            None => None,
        };
        tokio::spawn(write_loop(
            queue,
            Writer {
                store: Arc::clone(&store),
                world_tx,
                snapshots: Arc::clone(&snapshots),
                changes_tx: changes.clone(),
                config: config.clone(),
                metrics: Arc::clone(&metrics),
                followed: followed.clone(),
                announced,
                contended: false,
            },
        ));
        let engine = Arc::new(Self {
            store,
            world: world_rx,
            snapshots,
            changes,
            writer,
            metrics,
            clock: config.clock,
            followed,
        });
        tokio::spawn(timers(Arc::downgrade(&engine)));
        Ok(engine)
    }

    /// Now, by the engine's clock (milliseconds since the Unix epoch).
    pub fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// Runs the timers once: closes `auto_after` breakers whose delay ran
    /// out, moves rollouts whose step held its time, reclaims tombstoned
    /// services whose window passed and applies approved change requests
    /// whose time came (as `scheduler`). The
    /// engine runs them every second; tests call this after moving a
    /// [`ManualClock`].
    pub async fn run_timers(&self) {
        let now = format_timestamp(self.now());
        let world = self.world();
        let breakers_due = world.services.values().any(|record| {
            record
                .breakers
                .values()
                .flat_map(|s| s.values())
                .any(|status| {
                    status.state == setpoint_core::BreakerState::AwaitingClose
                        && status.close_at.as_ref().is_some_and(|at| *at <= now)
                })
        });
        if breakers_due
            && let Err(error) = self
                .write_all(vec![Command::TickBreakers], "setpoint", "")
                .await
        {
            tracing::warn!(%error, "could not close due breakers");
        }
        if !world.rollouts_due(self.now()).is_empty()
            && let Err(error) = self
                .write_all(vec![Command::TickRollouts], "setpoint", "")
                .await
        {
            tracing::warn!(%error, "could not move due rollouts");
        }
        for id in world.due_requests(&now) {
            match self
                .write(Command::ApplyDue { id }, "scheduler", "its time came")
                .await
            {
                Ok(change) => {
                    tracing::info!(id, revision = change.revision, "scheduled change done");
                }
                Err(error) => tracing::warn!(id, %error, "could not run a scheduled change"),
            }
        }
        let reclaim: Vec<String> = world
            .services
            .iter()
            .filter(|(_, r)| r.tombstone.as_ref().is_some_and(|t| t.reclaim_at <= now))
            .map(|(name, _)| name.clone())
            .collect();
        for service in reclaim {
            match self
                .write(
                    Command::ReclaimService {
                        service: service.clone(),
                    },
                    "setpoint",
                    "reclaim window passed",
                )
                .await
            {
                Ok(change) => {
                    tracing::info!(%service, revision = change.revision, "reclaimed deleted service");
                }
                Err(error) => tracing::warn!(%service, %error, "could not reclaim"),
            }
        }
    }

    /// Queues commands of a person or a token with `role`: [`Engine::write_all`],
    /// held to the policies of the environments they change.
    pub async fn write_by(
        &self,
        commands: Vec<Command>,
        actor: &str,
        role: Role,
        reason: &str,
    ) -> Result<Vec<Change>, WriteError> {
        self.submit(commands, Vec::new(), actor, Some(role), reason)
            .await
    }

    /// Queues a command and waits until it is durably committed (or refused).
    pub async fn write(
        &self,
        command: Command,
        actor: &str,
        reason: &str,
    ) -> Result<Change, WriteError> {
        let mut changes = self.write_all(vec![command], actor, reason).await?;
        changes.pop().ok_or(WriteError::Stopped)
    }

    /// Queues commands that succeed or fail together, committed in one
    /// transaction; the first refusal refuses them all. Written as the
    /// server itself (timers, alerts, the offline CLI): no environment
    /// policy applies — people's and tokens' writes go through
    /// [`Engine::write_by`].
    pub async fn write_all(
        &self,
        commands: Vec<Command>,
        actor: &str,
        reason: &str,
    ) -> Result<Vec<Change>, WriteError> {
        self.submit(commands, Vec::new(), actor, None, reason).await
    }

    /// Writes a user or token change together with its change-log entry.
    pub async fn write_account(
        &self,
        write: AccountWrite,
        actor: &str,
        reason: &str,
    ) -> Result<Change, WriteError> {
        let (kind, item, before, after) = write.summary();
        let command = Command::RecordAccount {
            kind,
            item,
            before,
            after,
        };
        let mut changes = self
            .submit(vec![command], vec![write], actor, None, reason)
            .await?;
        changes.pop().ok_or(WriteError::Stopped)
    }

    async fn submit(
        &self,
        commands: Vec<Command>,
        accounts: Vec<AccountWrite>,
        actor: &str,
        role: Option<Role>,
        reason: &str,
    ) -> Result<Vec<Change>, WriteError> {
        let started = std::time::Instant::now();
        let (reply, answer) = oneshot::channel();
        let job = Job {
            commands,
            accounts,
            actor: actor.to_string(),
            role,
            reason: reason.to_string(),
            reply,
        };
        self.writer
            .send(Work::Job(job))
            .await
            .map_err(|_| WriteError::Stopped)?;
        let result = answer.await.unwrap_or(Err(WriteError::Stopped));
        if result.is_ok() {
            self.metrics.write(started.elapsed());
        }
        result
    }

    /// On a store shared with other replicas, how long ago this one last
    /// had read every commit: it checks every second, so much more means
    /// it cannot reach the database or is still catching up. `None` when
    /// it is the store's only writer.
    pub fn follow_lag(&self) -> Option<Duration> {
        self.followed.as_ref().map(|at| lock(at).elapsed())
    }

    /// The server's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The current world.
    pub fn world(&self) -> Arc<World> {
        self.world.borrow().clone()
    }

    /// The materialized snapshots.
    pub fn snapshots(&self) -> &Snapshots {
        &self.snapshots
    }

    /// Changes as they commit, for watchers. Lagging receivers must catch up
    /// from the store.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.changes.subscribe()
    }

    /// The store, for reads the engine does not cache.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Reads the change log.
    pub async fn changes(&self, query: &ChangeQuery) -> Result<Vec<Change>, StoreError> {
        self.store.changes(query).await
    }

    /// The latest change of each item among `kinds`, from the log.
    pub async fn latest_by_item(&self, kinds: &[ChangeKind]) -> Result<Vec<Change>, StoreError> {
        self.store.latest_by_item(kinds).await
    }
}

/// What the writer does next.
enum Work {
    /// Apply and commit a job.
    Job(Job),
    /// Read what other replicas committed.
    CatchUp,
}

/// How many times a batch is applied again after finding that another
/// replica committed first; each try starts from everything committed
/// before it, so only a replica losing every race runs out.
const MAX_TRIES: usize = 16;

/// The writer's state: the only task that moves the world.
struct Writer {
    store: Arc<dyn Store>,
    world_tx: watch::Sender<Arc<World>>,
    snapshots: Arc<Snapshots>,
    changes_tx: broadcast::Sender<Arc<Published>>,
    config: EngineConfig,
    metrics: Arc<Metrics>,
    followed: Option<Arc<std::sync::Mutex<std::time::Instant>>>,
    /// Set when another replica announced a commit this one has not read
    /// yet: a batch reads it first rather than fail to commit on a stale
    /// copy.
    announced: Arc<AtomicBool>,
    /// Whether another replica committed while this one was writing: then
    /// batches take the store's write lock before they are applied.
    contended: bool,
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn write_loop(mut queue: mpsc::Receiver<Work>, mut writer: Writer) {
    while let Some(first) = queue.recv().await {
        let mut jobs = Vec::new();
        let mut catch_up = false;
        let mut next = Some(first);
        while let Some(work) = next.take() {
            match work {
                Work::Job(job) => jobs.push(job),
                Work::CatchUp => catch_up = true,
            }
            if jobs.len() < MAX_BATCH {
                next = queue.try_recv().ok();
            }
        }
        if !jobs.is_empty() && writer.announced.swap(false, Ordering::AcqRel) {
            catch_up = true;
        }
        // A batch that will take the store's lock reads what is new under
        // it anyway: reading it first as well would only lengthen the turn.
        let covered = !jobs.is_empty() && writer.contended;
        if catch_up
            && !covered
            && let Err(error) = writer.catch_up().await
        {
            tracing::warn!(%error, "could not read other replicas' commits; will retry");
        }
        if !jobs.is_empty() {
            writer.commit(jobs).await;
        }
    }
}

impl Writer {
    /// Applies the jobs and commits them; when another replica committed
    /// first, catches up and applies them again on top of its commit.
    ///
    /// With replicas, a batch must be judged against what is committed,
    /// not against this replica's copy: a client may name a base it got
    /// from another replica a moment ago. The store's compare-and-set on
    /// the commit count refuses a batch applied to a copy that missed a
    /// commit, so a writer alone on the store commits in one round trip
    /// without a lock. Once it loses a race, it takes the store's write
    /// lock before applying (read what is new, apply, commit, all under
    /// the lock: it cannot lose again) and keeps doing so until a batch
    /// finds nobody else committed.
    async fn commit(&mut self, jobs: Vec<Job>) {
        let reclaim_ms = i64::try_from(self.config.reclaim_after.as_millis()).unwrap_or(i64::MAX);
        let mut locked = None;
        if self.contended {
            match self.lock_and_catch_up().await {
                Ok(held) => locked = held,
                Err(error) => {
                    fail(jobs, error);
                    return;
                }
            }
        }
        // Refusals too must be judged against what is committed: checked
        // once, when nothing was held.
        let mut refusals_checked = self.followed.is_none();
        for attempt in 1.. {
            let now = self.config.clock.now_millis();
            let at = format_timestamp(now);
            let reclaim_at = format_timestamp(now.saturating_add(reclaim_ms));
            let start = self.world_tx.borrow().clone();
            // Applying validates documents, which can take milliseconds of
            // CPU (bounded by the core's budget): not on an async worker.
            let began = std::time::Instant::now();
            let (world, mut batch, outcomes) =
                in_place(|| apply_jobs(&jobs, &start, &at, &reclaim_at, now));
            let applied = began.elapsed();
            let accepted = outcomes.iter().any(Result::is_ok);
            let touched = collect_records(&start, &world, &mut batch);
            if !accepted || batch.is_empty() {
                if locked.is_none() && !refusals_checked {
                    refusals_checked = true;
                    let commits = start.commits;
                    match self.catch_up().await {
                        Ok(()) if self.world_tx.borrow().commits > commits => continue,
                        Ok(()) => {}
                        Err(error) => {
                            fail(jobs, error);
                            return;
                        }
                    }
                }
                // Nothing to make durable (all refused, or a repeated
                // alert): no transaction, no fsync; the lock, if held, is
                // let go.
                answer(jobs, outcomes);
                return;
            }
            let mut world = world;
            world.commits = start.commits + 1;
            batch.commits = world.commits;
            let prepared = in_place(|| self.snapshots.prepare(&world, &touched));
            let sealed = began.elapsed();
            batch.snapshot_marks = prepared.marks();
            let committed = match locked.take() {
                Some(held) => held.commit(batch).await,
                None => self.store.commit(batch).await,
            };
            // What held the writer, and for how long: every write queued
            // behind this batch waited as much.
            tracing::debug!(
                applied_ms = applied.as_millis(),
                sealed_ms = sealed.saturating_sub(applied).as_millis(),
                stored_ms = began.elapsed().saturating_sub(sealed).as_millis(),
                services = touched.len(),
                "batch committed"
            );
            match committed {
                Ok(()) => {
                    self.metrics
                        .commit(outcomes.iter().filter(|o| o.is_ok()).count());
                    self.snapshots.publish(prepared);
                    self.world_tx.send_replace(Arc::new(world));
                    for changes in outcomes.iter().flatten() {
                        self.broadcast(changes);
                    }
                    answer(jobs, outcomes);
                    return;
                }
                Err(error) if error.is_behind() && attempt < MAX_TRIES => {
                    // Refusals too are decided again: they were judged
                    // against a world that missed a commit.
                    self.contended = true;
                    match self.lock_and_catch_up().await {
                        Ok(held) => locked = held,
                        Err(error) => {
                            fail(jobs, error);
                            return;
                        }
                    }
                }
                Err(error) => {
                    fail(jobs, error);
                    return;
                }
            }
        }
    }

    /// Takes the store's write lock (where it has one) and catches up
    /// under it, so that the batch applied next is judged against all that
    /// is committed and cannot lose to another replica.
    async fn lock_and_catch_up(&mut self) -> Result<Option<Box<dyn Locked>>, StoreError> {
        let read_at = std::time::Instant::now();
        let at = self.world_tx.borrow().position();
        let Some(mut held) = self.store.lock().await? else {
            self.catch_up().await?;
            return Ok(None);
        };
        let delta = held.since(at).await?;
        self.contended = delta.commits > at.commits;
        self.take_in(delta, read_at).await?;
        Ok(Some(held))
    }

    /// Reads what other processes committed since this world and moves the
    /// world, the snapshots and the change stream to it.
    async fn catch_up(&self) -> Result<(), StoreError> {
        let read_at = std::time::Instant::now();
        let at = self.world_tx.borrow().position();
        let delta = self.store.since(at).await?;
        self.take_in(delta, read_at).await
    }

    /// Moves the world, the snapshots and the change stream to what `delta`
    /// (read at `read_at`) says the other processes committed.
    async fn take_in(
        &self,
        mut delta: Delta,
        read_at: std::time::Instant,
    ) -> Result<(), StoreError> {
        let start = self.world_tx.borrow().clone();
        let caught_up = || {
            if let Some(followed) = &self.followed {
                *lock(followed) = read_at;
            }
        };
        if delta.commits <= start.commits {
            caught_up();
            return Ok(());
        }
        // The changes the commits logged, for event streams: the delta
        // carries the first of them; after a long absence, the rest are
        // read page by page (after the delta, so bounded by its revision).
        let mut page = std::mem::take(&mut delta.changes);
        let mut changes = Vec::new();
        loop {
            let last = page.last().map(|c| c.revision);
            let full = page.len() >= CHANGES_PER_READ as usize;
            changes.extend(page.into_iter().filter(|c| c.revision <= delta.revision));
            let Some(after) = last.filter(|&last| full && last < delta.revision) else {
                break;
            };
            page = self
                .store
                .changes(&ChangeQuery {
                    after_revision: Some(after),
                    limit: CHANGES_PER_READ,
                    ..ChangeQuery::default()
                })
                .await?;
        }
        let mut world = (*start).clone();
        let touched = world.absorb(&delta);
        let prepared = in_place(|| {
            self.snapshots
                .prepare_marked(&world, &touched, &delta.snapshot_marks)
        });
        self.snapshots.publish(prepared);
        tracing::debug!(
            from = start.revision,
            to = world.revision,
            commits = delta.commits - start.commits,
            "caught up with other replicas"
        );
        self.world_tx.send_replace(Arc::new(world));
        self.broadcast(&changes);
        caught_up();
        Ok(())
    }

    fn broadcast(&self, changes: &[Change]) {
        for change in changes {
            let _ = self
                .changes_tx
                .send(Arc::new(Published::new(change.clone())));
        }
    }
}

/// Answers every job with its outcome.
fn answer(jobs: Vec<Job>, outcomes: Vec<Result<Vec<Change>, Refusal>>) {
    for (job, outcome) in jobs.into_iter().zip(outcomes) {
        let _ = job.reply.send(outcome.map_err(WriteError::from));
    }
}

/// Answers every job with a storage failure: nothing was written.
fn fail(jobs: Vec<Job>, error: StoreError) {
    tracing::error!(%error, "commit failed; the batch is not acknowledged");
    let error = Arc::new(error);
    for job in jobs {
        let _ = job.reply.send(Err(WriteError::Store(Arc::clone(&error))));
    }
}

/// Applies each job to a copy of `start`: a refused job leaves no trace;
/// the accepted ones fill the batch. Jobs are only read, so a batch can be
/// applied again after catching up with another replica.
fn apply_jobs(
    jobs: &[Job],
    start: &World,
    at: &str,
    reclaim_at: &str,
    now: i64,
) -> (World, Batch, Vec<Result<Vec<Change>, Refusal>>) {
    let mut world = start.clone();
    let mut batch = Batch::default();
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        let meta = Meta {
            actor: job.actor.clone(),
            reason: job.reason.clone(),
            at: at.to_string(),
            reclaim_at: reclaim_at.to_string(),
            now,
            role: job.role,
            approved: false,
        };
        // A refused command leaves the world as it was; only a job of
        // several commands needs a copy to undo the ones before it.
        let before = (job.commands.len() > 1).then(|| world.clone());
        let applied: Result<Vec<Change>, Refusal> = job
            .commands
            .iter()
            .map(|command| world.apply(command.clone(), &meta))
            .collect::<Result<Vec<_>, _>>()
            .map(|changes| changes.into_iter().flatten().collect());
        match &applied {
            Ok(changes) => {
                batch.changes.extend(changes.iter().cloned());
                batch.accounts.extend(job.accounts.iter().cloned());
            }
            Err(_) => {
                if let Some(before) = before {
                    world = before;
                }
            }
        }
        outcomes.push(applied);
    }
    (world, batch, outcomes)
}

/// Runs CPU-bound `work` where it does not hold up other tasks: in place
/// on a multi-threaded runtime (its other tasks move to other workers),
/// inline on a current-thread one (tests), which has no one to hold up.
fn in_place<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// Fills the batch with the records that differ between `start` and
/// `world`, and returns the names of the services touched. Records are
/// shared until changed, so a pointer comparison finds them — including
/// breaker states, which move without a change in the log (a second alert
/// joining an open breaker).
fn collect_records(start: &World, world: &World, batch: &mut Batch) -> BTreeSet<String> {
    batch.revision = world.revision;
    let mut touched = BTreeSet::new();
    // Both maps are sorted by name: walked side by side, not looked up one
    // in the other, which cost a search per service on every batch.
    let mut before = start.services.iter().peekable();
    for (name, record) in &world.services {
        while let Some((gone, _)) = before.next_if(|(old, _)| *old < name) {
            batch.removed_services.push(gone.clone());
            touched.insert(gone.clone());
        }
        let unchanged = before
            .next_if(|(old, _)| *old == name)
            .is_some_and(|(_, old)| Arc::ptr_eq(old, record));
        if !unchanged {
            batch.services.push(Arc::clone(record));
            touched.insert(name.clone());
        }
    }
    for (gone, _) in before {
        batch.removed_services.push(gone.clone());
        touched.insert(gone.clone());
    }
    for (name, env) in &world.environments {
        if start
            .environments
            .get(name)
            .is_none_or(|old| !Arc::ptr_eq(old, env))
        {
            batch.environments.push(Arc::clone(env));
        }
    }
    for (id, request) in &world.change_requests {
        if start
            .change_requests
            .get(id)
            .is_none_or(|old| !Arc::ptr_eq(old, request))
        {
            batch.change_requests.push(Arc::clone(request));
        }
    }
    if !Arc::ptr_eq(&start.unrouted, &world.unrouted) {
        batch.unrouted = Some(Arc::clone(&world.unrouted));
    }
    touched
}

/// Follows the other replicas sharing the store: a catch-up on each
/// notification of their commits, and every second in case one was lost.
/// Ends with the engine (it holds the writer's queue weakly), letting go of
/// the notifications.
///
/// Under load, commits come in runs, and a read per commit cost each
/// follower's database about twice what the commit cost: after a
/// catch-up, the notifications of the next [`GATHER`] are taken in by one
/// read at its end — or at once by a write arriving meanwhile, which
/// would otherwise fail to commit on a stale copy (`announced`).
async fn follow(
    mut woken: mpsc::Receiver<()>,
    writer: mpsc::WeakSender<Work>,
    announced: Arc<AtomicBool>,
) {
    let mut listening = true;
    loop {
        if !announced.swap(false, Ordering::AcqRel) {
            tokio::select! {
                heard = woken.recv(), if listening => listening = heard.is_some(),
                () = tokio::time::sleep(FOLLOW_POLL) => {}
            }
        }
        let Some(writer) = writer.upgrade() else {
            return;
        };
        if writer.send(Work::CatchUp).await.is_err() {
            return;
        }
        drop(writer);
        let gathered = tokio::time::sleep(GATHER);
        tokio::pin!(gathered);
        loop {
            tokio::select! {
                heard = woken.recv(), if listening => {
                    listening = heard.is_some();
                    if listening {
                        announced.store(true, Ordering::Release);
                    }
                }
                () = &mut gathered => break,
            }
        }
    }
}

/// How long a follower gathers notifications after a catch-up: a tenth of
/// the bound on showing another replica's commit (docs/replicas.md).
const GATHER: Duration = Duration::from_millis(10);

/// How often a replica checks for commits it was not told of.
const FOLLOW_POLL: Duration = Duration::from_secs(1);

/// Runs the timers every second while the engine lives (a scan of the
/// current world; a write only when something is due).
async fn timers(engine: std::sync::Weak<Engine>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(engine) = engine.upgrade() else {
            return;
        };
        engine.run_timers().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Position, SnapshotMark, SqliteStore};

    /// SQLite behind the trait, with two knobs: the next commit can be made
    /// to fail, and the store can pose as shared with another process —
    /// then followed only by the engine's poll (its notifications never
    /// come), so a test can act while one engine has not yet heard of the
    /// other's commit.
    #[derive(Debug)]
    struct TestStore {
        inner: SqliteStore,
        fail_next: AtomicBool,
        shared: bool,
        quiet: std::sync::Mutex<Option<mpsc::Sender<()>>>,
    }

    impl TestStore {
        async fn open(dir: &std::path::Path, fail_next: bool, shared: bool) -> Self {
            Self {
                inner: SqliteStore::open(dir).await.expect("store"),
                fail_next: AtomicBool::new(fail_next),
                shared,
                quiet: std::sync::Mutex::new(None),
            }
        }
    }

    #[async_trait::async_trait]
    impl Store for TestStore {
        async fn load(&self) -> Result<World, StoreError> {
            self.inner.load().await
        }
        async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
            if self.fail_next.swap(false, Ordering::SeqCst) {
                return Err(StoreError::new(std::io::Error::other("disk full")));
            }
            self.inner.commit(batch).await
        }
        async fn changes(&self, query: &ChangeQuery) -> Result<Vec<Change>, StoreError> {
            self.inner.changes(query).await
        }
        async fn latest_by_item(&self, kinds: &[ChangeKind]) -> Result<Vec<Change>, StoreError> {
            self.inner.latest_by_item(kinds).await
        }
        async fn snapshot_marks(&self) -> Result<Vec<SnapshotMark>, StoreError> {
            self.inner.snapshot_marks().await
        }
        async fn ping(&self) -> Result<(), StoreError> {
            self.inner.ping().await
        }
        async fn since(&self, after: Position) -> Result<Delta, StoreError> {
            self.inner.since(after).await
        }
        async fn follow(&self) -> Result<Option<mpsc::Receiver<()>>, StoreError> {
            if !self.shared {
                return Ok(None);
            }
            let (quiet, woken) = mpsc::channel(1);
            *self.quiet.lock().expect("not poisoned") = Some(quiet);
            Ok(Some(woken))
        }
    }

    async fn replica(dir: &std::path::Path) -> Arc<Engine> {
        let store = Arc::new(TestStore::open(dir, false, true).await);
        Engine::start(store, EngineConfig::default())
            .await
            .expect("engine")
    }

    #[tokio::test]
    async fn a_replica_judges_a_write_against_what_another_committed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, b) = (replica(dir.path()).await, replica(dir.path()).await);
        for env in ["dev", "staging", "prod"] {
            a.write(create(env), "user:a", "").await.expect("commits");
        }
        assert!(b.world().environments.is_empty(), "b has not followed yet");

        // Valid only where the environments exist: b catches up first.
        let doc: setpoint_core::ServiceDoc =
            serde_json::from_str(crate::bootstrap::DEMO_SERVICES[0]).expect("a document");
        let change = b
            .write(Command::CreateService { doc }, "user:b", "")
            .await
            .expect("accepted against the committed environments");
        assert_eq!(change.revision, 4);

        // And a's next write, from a copy that missed b's commit, is
        // applied on top of it rather than overwriting it.
        let next = a.write(create("qa"), "user:a", "").await.expect("commits");
        assert_eq!(next.revision, 5);
        let stored = a.store().load().await.expect("loads");
        assert_eq!(stored.revision, 5);
        assert!(stored.services.contains_key("checkout"));
        assert_eq!(stored.environments.len(), 4);
        assert!(a.world().services.contains_key("checkout"));
    }

    #[tokio::test]
    async fn a_replica_streams_every_change_another_committed_however_many() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, b) = (replica(dir.path()).await, replica(dir.path()).await);
        let mut streamed = b.subscribe();
        // More changes than one read of the store carries: b pages the rest.
        let many = u64::from(CHANGES_PER_READ) + 500;
        let commands = (0..many).map(|i| create(&format!("env-{i}"))).collect();
        a.write_all(commands, "user:a", "").await.expect("commits");

        // b takes in a's commit before its own write.
        let own = b.write(create("qa"), "user:b", "").await.expect("commits");
        assert_eq!(own.revision, many + 1);
        let revisions: Vec<u64> = std::iter::from_fn(|| streamed.try_recv().ok())
            .map(|published| published.change.revision)
            .collect();
        assert_eq!(revisions.len() as u64, many + 1, "every change, once");
        assert!(revisions.into_iter().eq(1..=many + 1), "in order");
    }

    fn create(name: &str) -> Command {
        Command::CreateEnvironment {
            name: name.into(),
            description: String::new(),
        }
    }

    #[tokio::test]
    async fn a_failed_commit_acknowledges_and_publishes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(TestStore::open(dir.path(), true, false).await);
        let engine = Engine::start(store.clone(), EngineConfig::default())
            .await
            .expect("engine");
        let mut changes = engine.subscribe();

        let failed = engine.write(create("prod"), "user:a", "").await;
        assert!(matches!(failed, Err(WriteError::Store(_))), "{failed:?}");
        assert!(engine.world().environments.is_empty());
        assert!(engine.snapshots().current("prod").is_none());
        assert!(changes.try_recv().is_err(), "no change event");
        assert!(
            store.load().await.expect("loads").environments.is_empty(),
            "nothing stored"
        );

        // The next write starts from what is durable: the name is free and
        // the revision was not used up.
        let change = engine
            .write(create("prod"), "user:a", "")
            .await
            .expect("commits");
        assert_eq!(change.revision, 1);
        assert_eq!(changes.try_recv().expect("published").change, change);
        assert_eq!(store.load().await.expect("loads").revision, 1);
        assert!(
            engine
                .metrics()
                .render(&crate::metrics::Gauges::default())
                .contains("setpoint_commits_total 1\n")
        );
    }

    #[tokio::test]
    async fn a_published_change_is_one_whole_server_sent_event() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(SqliteStore::open(dir.path()).await.expect("store"));
        let engine = Engine::start(store, EngineConfig::default())
            .await
            .expect("engine");
        let mut changes = engine.subscribe();
        let change = engine
            .write(create("prod"), "user:a", "line one\nline two")
            .await
            .expect("commits");

        let published = changes.try_recv().expect("published");
        let frame = std::str::from_utf8(&published.frame).expect("UTF-8");
        let data = frame
            .strip_prefix("id: 1\nevent: change\ndata: ")
            .and_then(|rest| rest.strip_suffix("\n\n"))
            .unwrap_or_else(|| panic!("not one event: {frame:?}"));
        // A line break in the reason stays escaped inside the one data line.
        assert!(!data.contains('\n'), "{data:?}");
        let decoded: Change = serde_json::from_str(data).expect("the change's JSON");
        assert_eq!(decoded, change);
    }
}
