//! `goalpost run`: the long-running process that sends each report at its time.
//!
//! One loop holds every schedule in a timer queue and sleeps until the earliest deadline
//! (no polling: an idle daemon wakes only for a deadline, or once an hour to notice a
//! clock step). At a deadline it starts the due runs as
//! tasks; a report whose previous run is still going is not started again. What ran is
//! in the store, so a restart makes up missed fires (within `catch_up`) and never
//! repeats one. Reloads (SIGHUP, a changed file) swap a client's plan only when the new
//! one is valid; shutdown stops starting runs and gives in-flight ones a grace period.
//!
//! It runs inside a `tokio::task::LocalSet` (see `spawn_run`).

pub mod alerts;
pub mod clients;
pub mod clock;
pub mod http;

use crate::config::plan::ReportSpec;
use crate::config::Plan;
use crate::deliver::{self, SendOptions};
use crate::metrics;
use crate::period::AsOf;
use crate::store::Store;
use chrono::{DateTime, Utc};
use clock::Clock;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{debug, error, info, info_span, warn, Instrument};

/// How the daemon was started.
#[derive(Debug, Clone)]
pub struct Options {
    /// A config file, or a folder of them (one per client).
    pub config: PathBuf,
    /// Run every report once at start, then keep to the schedule.
    pub now: bool,
    /// Do the start-up work (catch-up, `--now`) and exit instead of staying up.
    pub once: bool,
    /// Overrides the config's `daemon.listen`.
    pub listen: Option<std::net::SocketAddr>,
}

/// Why the config is read again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// SIGHUP: every file.
    All,
    /// A file changed, appeared or went away.
    File(PathBuf),
}

/// One client: a config file, its plan and its store.
pub struct Client {
    pub file: PathBuf,
    pub plan: Arc<Plan>,
    pub store: Store,
}

/// What the HTTP listener reads.
#[derive(Default)]
pub struct Shared {
    pub ready: std::sync::atomic::AtomicBool,
    /// Each client's store and plan, for `/reports/{id}`.
    pub clients: RwLock<BTreeMap<String, (Store, Arc<Plan>)>>,
}

/// (client, report), shared by the job table, the queue and the running set.
type JobKey = Arc<(String, String)>;

/// A finished run task.
struct Done {
    key: JobKey,
    ok: bool,
}

pub struct Daemon {
    clock: Clock,
    opts: Options,
    clients: BTreeMap<String, Client>,
    /// Per job, the generation of its live queue entry (older entries are stale).
    jobs: HashMap<JobKey, u64>,
    queue: BinaryHeap<Reverse<(DateTime<Utc>, u64, JobKey)>>,
    generation: u64,
    running: HashSet<JobKey>,
    tasks: JoinSet<Done>,
    /// Which job each task runs, so a task that panicked still frees its job.
    task_keys: HashMap<tokio::task::Id, JobKey>,
    pub shared: Arc<Shared>,
    /// When each client's store next has a delivery due (a retry, or one left by a stop),
    /// by the system clock (deliveries are stamped with it).
    retry_at: BTreeMap<String, DateTime<Utc>>,
    /// The last fires started (client, report, scheduled time), newest last.
    fired: std::collections::VecDeque<(String, String, DateTime<Utc>)>,
}

/// How many fires `Daemon::fired` remembers.
const FIRED_KEPT: usize = 1000;

impl Daemon {
    /// Loads every config under `opts.config`. Fails only when none can be loaded.
    pub async fn start(opts: Options, clock: Clock) -> Result<Daemon, String> {
        let mut d = Daemon {
            clock,
            opts,
            clients: BTreeMap::new(),
            jobs: HashMap::new(),
            queue: BinaryHeap::new(),
            generation: 0,
            running: HashSet::new(),
            tasks: JoinSet::new(),
            task_keys: HashMap::new(),
            shared: Arc::new(Shared::default()),
            fired: std::collections::VecDeque::new(),
            retry_at: BTreeMap::new(),
        };
        let files = clients::config_files(&d.opts.config)?;
        if files.is_empty() {
            return Err(format!("{} has no *.yaml config files", d.opts.config.display()));
        }
        let mut problems = Vec::new();
        for f in &files {
            if let Err(e) = d.load_client(f, true).await {
                problems.extend(e);
            }
        }
        if d.clients.is_empty() {
            return Err(format!("no config could be loaded:\n{}", problems.join("\n")));
        }
        Ok(d)
    }

    /// The `listen` address: the command line's, else the first config's.
    pub fn listen(&self) -> Option<std::net::SocketAddr> {
        self.opts
            .listen
            .or_else(|| self.clients.values().find_map(|c| c.plan.daemon.listen))
    }

    pub fn scheduled(&self) -> usize {
        self.jobs.len()
    }

    /// The fires started lately, oldest first: (client, report, scheduled time).
    pub fn fired(&self) -> impl Iterator<Item = &(String, String, DateTime<Utc>)> {
        self.fired.iter()
    }

    /// Drives the scheduler on a manual clock: moves it to each deadline up to `end` in
    /// turn, starts what is due there, and lets it finish before the next.
    pub async fn run_until(&mut self, end: DateTime<Utc>) {
        while let Some(next) = self.wake_at().filter(|t| *t <= end) {
            self.clock.set(next);
            self.fire_due();
            self.wait_idle().await;
        }
        self.clock.set(end);
    }

    /// Starts what is due now without waiting for it (tests: overlap, shutdown).
    pub fn tick(&mut self) {
        self.fire_due();
    }

    /// Applies a reload now (tests; the process gets them from SIGHUP and the watcher).
    pub async fn reload_now(&mut self, why: Reload) {
        self.reload(why).await;
    }

    /// Loads (or reloads) one client file. On any error the running plan is kept.
    async fn load_client(&mut self, file: &Path, initial: bool) -> Result<(), Vec<String>> {
        let name = clients::client_name(file);
        if let Some(c) = self
            .clients
            .get(&name)
            .filter(|c| !crate::config::same_file(&c.file, file))
        {
            let e = format!(
                "{}: client `{name}` is already {}; rename one of them",
                file.display(),
                c.file.display()
            );
            error!("{e}");
            return Err(vec![e]);
        }
        // Fires that come due while the file is read are scheduled from here, not missed.
        let since = self.clock.now();
        let plan = match clients::load(file) {
            Ok(p) => p,
            Err(errors) => {
                for e in &errors {
                    error!(config = %file.display(), "{e}");
                }
                let kept = if self.clients.contains_key(&name) {
                    "; the previous config stays in force"
                } else {
                    ""
                };
                error!(config = %file.display(), errors = errors.len(), "config not loaded{kept}");
                metrics::add("goalpost_config_reloads_total", &[("result", "rejected")], 1.0);
                return Err(errors);
            }
        };
        // Two clients writing one log would deliver each other's runs: refuse the second.
        if let Some((other, _)) = self
            .clients
            .iter()
            .find(|(n, c)| **n != name && c.plan.store.same_as(&plan.store))
        {
            let e = format!(
                "{}: uses the same store as client `{other}` ({}); give each config its own `store:`",
                file.display(),
                plan.store
            );
            error!("{e}");
            return Err(vec![e]);
        }
        let store = match self.clients.get(&name) {
            Some(c) if c.plan.store.same_as(&plan.store) => c.store.clone(),
            _ => Store::open(&plan.store).await.map_err(|e| {
                let e = format!("{}: {e}", file.display());
                error!("{e}");
                vec![e]
            })?,
        };
        let plan = Arc::new(plan);
        let before: Vec<String> = self.job_reports(&name);
        self.clients.insert(
            name.clone(),
            Client {
                file: file.to_path_buf(),
                plan: plan.clone(),
                store: store.clone(),
            },
        );
        // Reschedule: every job of this client gets a fresh entry; removed reports go.
        for r in &before {
            if plan.reports.get(r).is_none_or(|s| s.schedule.is_none()) {
                self.jobs.remove(&(name.clone(), r.clone()));
                metrics::forget(
                    "goalpost_next_fire_timestamp_seconds",
                    &[("client", &name), ("report", r)],
                );
                info!(client = %name, report = %r, "report no longer scheduled");
            }
        }
        self.shared
            .clients
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.clone(), (store.clone(), plan.clone()));
        for spec in plan.reports.values().filter(|s| s.schedule.is_some()) {
            self.schedule_after(&Arc::new((name.clone(), spec.id.clone())), since);
        }
        if !initial {
            // A report scheduled by this reload starts from now, like one seen for the first
            // time at start: an old mark (it was scheduled once before) must not make up the
            // fires it was switched off for.
            let added: Vec<String> = plan
                .reports
                .values()
                .filter(|s| s.schedule.is_some() && !before.contains(&s.id))
                .map(|s| s.id.clone())
                .collect();
            if let Err(e) = store.set_schedule_marks(&added, since).await {
                error!(client = %name, "{e}");
            }
            self.watch_pending(&name).await;
        }
        let scheduled = plan.reports.values().filter(|s| s.schedule.is_some()).count();
        metrics::set("goalpost_reports_scheduled", &[("client", &name)], scheduled as f64);
        info!(client = %name, config = %file.display(), reports = plan.reports.len(), scheduled, "config loaded");
        Ok(())
    }

    fn job_reports(&self, client: &str) -> Vec<String> {
        self.jobs
            .keys()
            .filter(|k| k.0 == client)
            .map(|k| k.1.clone())
            .collect()
    }

    fn spec(&self, key: &JobKey) -> Option<(&Client, &ReportSpec)> {
        let c = self.clients.get(&key.0)?;
        Some((c, c.plan.reports.get(&key.1)?))
    }

    /// Puts the job's next fire after `after` in the queue (replacing any earlier entry).
    fn schedule_after(&mut self, key: &JobKey, after: DateTime<Utc>) {
        let Some(next) = self
            .spec(key)
            .and_then(|(_, s)| s.schedule.as_ref())
            .and_then(|s| s.next_after(after))
        else {
            self.jobs.remove(key);
            return;
        };
        self.generation += 1;
        self.jobs.insert(key.clone(), self.generation);
        // Reloads leave stale entries behind (a monthly job's until its date): drop them
        // when they outnumber the live ones.
        if self.queue.len() > 2 * self.jobs.len() + 64 {
            let jobs = &self.jobs;
            self.queue.retain(|Reverse((_, g, k))| jobs.get(k) == Some(g));
        }
        self.queue.push(Reverse((next, self.generation, key.clone())));
        metrics::set(
            "goalpost_next_fire_timestamp_seconds",
            &[("client", &key.0), ("report", &key.1)],
            next.timestamp() as f64,
        );
    }

    /// When the loop must wake next: a fire, or a pending delivery coming due.
    fn wake_at(&mut self) -> Option<DateTime<Utc>> {
        let retry = self.retry_at.values().min().copied();
        match (self.next_deadline(), retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The earliest live deadline (stale entries are dropped on the way).
    fn next_deadline(&mut self) -> Option<DateTime<Utc>> {
        while let Some(Reverse((at, generation, key))) = self.queue.peek() {
            if self.jobs.get(key) == Some(generation) {
                return Some(*at);
            }
            self.queue.pop();
        }
        None
    }

    /// Start-up work: catch-up of missed fires, then `--now` runs.
    pub async fn start_up(&mut self) {
        let now = self.clock.now();
        let names: Vec<String> = self.clients.keys().cloned().collect();
        for name in &names {
            let client = &self.clients[name];
            let marks = match client.store.schedule_marks().await {
                Ok(m) => m,
                Err(e) => {
                    error!(client = %name, "{e}");
                    continue;
                }
            };
            let plan = client.plan.clone();
            let mut first_seen = Vec::new();
            for spec in plan.reports.values() {
                let mut fires = Vec::new();
                if let Some(schedule) = &spec.schedule {
                    match marks.get(&spec.id) {
                        Some(mark) => fires = missed_fires(schedule, spec, &plan, *mark, now),
                        // First start with this report: nothing to make up, only the future.
                        None => first_seen.push(spec.id.clone()),
                    }
                }
                if self.opts.now {
                    fires.push(Fire {
                        at: now,
                        catch_up: false,
                    });
                }
                if !fires.is_empty() {
                    self.spawn_run(&Arc::new((name.clone(), spec.id.clone())), fires, false);
                }
            }
            if let Err(e) = self.clients[name].store.set_schedule_marks(&first_seen, now).await {
                error!(client = %name, "{e}");
            }
        }
        // Deliveries a previous process left pending (a stop, a crash, retries) go out now.
        for c in names {
            self.watch_pending(&c).await;
            if self.retry_at.get(&c).is_some_and(|t| *t <= Utc::now()) {
                self.retry_at.remove(&c);
                self.spawn_deliveries(&c);
            }
        }
    }

    /// Starts a task running `fires` of one report in order, unless one is running already.
    fn spawn_run(&mut self, key: &JobKey, fires: Vec<Fire>, backlog: bool) {
        if self.running.contains(key) {
            warn!(client = %key.0, report = %key.1, scheduled = %fires[0].at, "previous run still going; this fire is skipped");
            metrics::add(
                "goalpost_overlaps_skipped_total",
                &[("client", &key.0), ("report", &key.1)],
                1.0,
            );
            return;
        }
        let Some((client, spec)) = self.spec(key) else { return };
        let (plan, store, spec) = (client.plan.clone(), client.store.clone(), spec.clone());
        for f in &fires {
            if self.fired.len() == FIRED_KEPT {
                self.fired.pop_front();
            }
            self.fired.push_back((key.0.clone(), key.1.clone(), f.at));
        }
        let key = key.clone();
        self.running.insert(key.clone());
        let clock = self.clock.clone();
        // Local tasks: the delivery futures are not provably `Send` (rust-lang/rust#102211),
        // and one thread is plenty to orchestrate runs; CSV parsing and SQLite work happen
        // on their own threads.
        let task_key = key.clone();
        let h = self.tasks.spawn_local(async move {
            let mut fires = fires;
            // A scheduled fire first makes up what its report missed since its mark: a fire
            // skipped as an overlap, or one whose run failed (within `catch_up`). An alert only
            // ever judges the present.
            if backlog && !spec.alert {
                if let (Ok(Some(mark)), Some(schedule)) = (store.schedule_mark(&spec.id).await, &spec.schedule) {
                    let before = fires[0].at - chrono::Duration::milliseconds(1);
                    let mut missed = missed_fires(schedule, &spec, &plan, mark, before);
                    // The current fire covers its own period.
                    let current = period_key(&spec, &plan, schedule.tz(), fires[0].at);
                    missed.retain(|f| period_key(&spec, &plan, schedule.tz(), f.at) != current);
                    missed.append(&mut fires);
                    fires = missed;
                }
            }
            let mut ok = true;
            for fire in fires {
                ok &= run_fire(&key.0, &plan, &store, &spec, fire, &clock).await;
            }
            Done { key, ok }
        });
        self.task_keys.insert(h.id(), task_key);
    }

    /// Notes when `client`'s next pending delivery is due, so the loop wakes for it.
    async fn watch_pending(&mut self, client: &str) {
        let Some(c) = self.clients.get(client) else { return };
        match c.store.next_due(None).await {
            Ok(Some(t)) => {
                self.retry_at.insert(client.to_string(), t);
            }
            Ok(None) => {
                self.retry_at.remove(client);
            }
            Err(e) => error!(client = %client, "{e}"),
        }
    }

    /// Sends what is due of `client`'s pending deliveries (retries; what a stop left).
    fn spawn_deliveries(&mut self, client: &str) {
        let key: JobKey = Arc::new((client.to_string(), String::new()));
        let Some(c) = self.clients.get(client) else { return };
        if self.running.contains(&key) {
            return;
        }
        let (plan, store) = (c.plan.clone(), c.store.clone());
        self.running.insert(key.clone());
        let task_key = key.clone();
        let h = self.tasks.spawn_local(async move {
            // `ok` is false only when the store failed; failed deliveries are recorded.
            let ok = match deliver::deliver_pending(&plan, &store, None).await {
                Ok(s) => {
                    if s.sent + s.failed > 0 {
                        info!(
                            sent = s.sent,
                            failed = s.failed,
                            pending = s.pending,
                            "pending deliveries sent"
                        );
                    }
                    true
                }
                Err(e) => {
                    error!("pending deliveries: {e}");
                    false
                }
            };
            Done { key, ok }
        });
        self.task_keys.insert(h.id(), task_key);
    }

    /// Frees the job of a finished (or panicked) task.
    async fn reap(&mut self, r: Result<(tokio::task::Id, Done), tokio::task::JoinError>) {
        match r {
            Ok((id, d)) => {
                self.task_keys.remove(&id);
                self.finished(d).await;
            }
            Err(e) => {
                error!("a run task ended abnormally: {e}");
                if let Some(key) = self.task_keys.remove(&e.id()) {
                    self.finished(Done { key, ok: false }).await;
                }
            }
        }
    }

    async fn finished(&mut self, done: Done) {
        self.running.remove(&done.key);
        if done.key.1.is_empty() && !done.ok {
            // The store failed: try again later rather than at once, in a loop.
            self.retry_at
                .insert(done.key.0.clone(), Utc::now() + chrono::Duration::seconds(30));
            return;
        }
        self.watch_pending(&done.key.0).await;
        if done.key.1.is_empty() {
            return;
        }
        if done.ok {
            metrics::set(
                "goalpost_last_success_timestamp_seconds",
                &[("client", &done.key.0), ("report", &done.key.1)],
                self.clock.now().timestamp() as f64,
            );
        }
    }

    /// Starts every job due at or before now, and queues each one's next fire.
    fn fire_due(&mut self) {
        let now = self.clock.now();
        // Delivery times are the store's, stamped by the system clock.
        let wall = Utc::now();
        let due: Vec<String> = self
            .retry_at
            .iter()
            .filter(|(_, t)| **t <= wall)
            .map(|(c, _)| c.clone())
            .collect();
        for c in due {
            self.retry_at.remove(&c);
            self.spawn_deliveries(&c);
        }
        while let Some(at) = self.next_deadline() {
            if at > now {
                break;
            }
            let Reverse((at, _, key)) = self.queue.pop().expect("peeked");
            // Woken late (a suspend, a clock step): run the latest fire due, once; the ones
            // in between are made up per period by the run's backlog, within `catch_up`.
            let at = match self.spec(&key).and_then(|(_, s)| s.schedule.as_ref()) {
                Some(s) if now - at > chrono::Duration::seconds(1) => s.fires_between(at, now).last().unwrap_or(at),
                _ => at,
            };
            self.schedule_after(&key, at.max(now));
            self.spawn_run(&key, vec![Fire { at, catch_up: false }], true);
        }
    }

    /// Reads the config(s) again: changed clients are swapped when valid, removed ones dropped.
    async fn reload(&mut self, why: Reload) {
        let files = match clients::config_files(&self.opts.config) {
            Ok(f) => f,
            Err(e) => {
                error!("reload: {e}; the running configs stay in force");
                return;
            }
        };
        let targets: Vec<PathBuf> = match &why {
            Reload::All => files.clone(),
            Reload::File(f) => files
                .iter()
                .filter(|x| crate::config::same_file(x, f))
                .cloned()
                .collect(),
        };
        // Clients whose file is gone (a folder's file deleted or renamed) stop.
        let gone: Vec<String> = self
            .clients
            .iter()
            .filter(|(_, c)| !files.iter().any(|f| crate::config::same_file(f, &c.file)))
            .map(|(n, _)| n.clone())
            .collect();
        for name in gone {
            info!(client = %name, "config file removed; its reports are no longer scheduled");
            for r in self.job_reports(&name) {
                self.jobs.remove(&(name.clone(), r.clone()));
                metrics::forget(
                    "goalpost_next_fire_timestamp_seconds",
                    &[("client", &name), ("report", &r)],
                );
            }
            self.clients.remove(&name);
            self.retry_at.remove(&name);
            self.shared
                .clients
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&name);
        }
        for f in targets {
            if self.load_client(&f, false).await.is_ok() {
                metrics::add("goalpost_config_reloads_total", &[("result", "applied")], 1.0);
            }
        }
    }

    /// Runs until `shutdown` resolves: fires due jobs, applies reloads, reaps finished runs.
    /// Then stops starting runs and gives in-flight ones `grace` before leaving them pending.
    pub async fn serve(&mut self, mut reloads: mpsc::Receiver<Reload>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        self.shared.ready.store(true, std::sync::atomic::Ordering::SeqCst);
        clients::give_back_freed_memory();
        info!(scheduled = self.jobs.len(), "scheduler running");
        loop {
            let deadline = self.wake_at();
            let clock = self.clock.clone();
            let sleep = async move {
                match deadline {
                    Some(t) => clock.sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut shutdown => break,
                _ = sleep => self.fire_due(),
                Some(why) = reloads.recv() => {
                    info!(?why, "reloading config");
                    // What is due now starts on the config it was due under.
                    self.fire_due();
                    self.reload(why).await;
                }
                Some(done) = self.tasks.join_next_with_id() => self.reap(done).await,
            }
        }
        self.shared.ready.store(false, std::sync::atomic::Ordering::SeqCst);
        self.drain().await;
    }

    /// Waits for in-flight runs up to the shortest `shutdown_grace`; what is left stays
    /// pending in the store (leases are released) and is sent by the next start.
    pub async fn drain(&mut self) {
        let grace = self
            .clients
            .values()
            .map(|c| c.plan.daemon.shutdown_grace)
            .min()
            .unwrap_or_else(|| chrono::Duration::seconds(30))
            .to_std()
            .unwrap_or_default();
        if !self.tasks.is_empty() {
            info!(
                in_flight = self.tasks.len(),
                grace_secs = grace.as_secs_f64(),
                "waiting for runs in flight"
            );
        }
        let wait_all = async {
            while let Some(done) = self.tasks.join_next_with_id().await {
                if let Ok((id, d)) = done {
                    self.task_keys.remove(&id);
                    self.running.remove(&d.key);
                }
            }
        };
        if tokio::time::timeout(grace, wait_all).await.is_err() {
            warn!(
                left = self.tasks.len(),
                "grace period over; stopping the runs still going (their deliveries stay pending)"
            );
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
            for c in self.clients.values() {
                if let Err(e) = c.store.release_own_leases().await {
                    error!("{e}");
                }
            }
        }
    }

    /// Waits for the start-up runs (for `--once`).
    pub async fn wait_idle(&mut self) {
        while let Some(done) = self.tasks.join_next_with_id().await {
            self.reap(done).await;
        }
    }
}

/// One scheduled moment of one report.
#[derive(Debug, Clone, Copy)]
struct Fire {
    at: DateTime<Utc>,
    catch_up: bool,
}

/// The fires missed since `mark`, one per period (the latest of each), those within
/// `window` of now; older ones are logged, not sent. An alert makes up only its latest.
fn missed_fires(
    schedule: &crate::schedule::Schedule,
    spec: &ReportSpec,
    plan: &Plan,
    mark: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<Fire> {
    let oldest = now - plan.daemon.catch_up;
    if let Some(first) = schedule.next_after(mark).filter(|t| *t <= now && *t < oldest) {
        warn!(report = %spec.id, first_missed = %first, older_than = %oldest, "fires missed while down are older than catch_up; not sent");
    }
    let mut fires: Vec<Fire> = Vec::new();
    let mut last_period: Option<String> = None;
    for at in schedule.fires_between(mark.max(oldest), now) {
        let period = period_key(spec, plan, schedule.tz(), at);
        let same = last_period.as_deref() == Some(period.as_str());
        if same || (spec.alert && !fires.is_empty()) {
            fires.pop();
        }
        fires.push(Fire { at, catch_up: true });
        last_period = Some(period);
    }
    if !fires.is_empty() {
        info!(report = %spec.id, missed = fires.len(), "making up runs missed while down");
    }
    fires
}

/// The key of the period a fire at `at` covers.
fn period_key(spec: &ReportSpec, plan: &Plan, tz: chrono_tz::Tz, at: DateTime<Utc>) -> String {
    spec.period
        .resolve(at.with_timezone(&tz).date_naive(), plan.week_start)
        .key()
}

/// Runs being computed, rendered and delivered at once in this process. When thousands of
/// reports fall due at the same second, the rest wait their turn (already counted as
/// started, so fire latency stays the scheduler's): memory stays bounded and each run gets
/// the CPU in turn instead of all finishing late together.
static RUN_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(32);

/// How often a run claimed by another replica, and not yet recorded, is looked at again.
const RECHECK_CLAIM: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs one fire of a report: the period comes from the scheduled time in the report's
/// zone, not from when the task got to it. Returns whether it went well.
async fn run_fire(client: &str, plan: &Plan, store: &Store, spec: &ReportSpec, fire: Fire, clock: &Clock) -> bool {
    let tz = spec.timezone.unwrap_or(plan.timezone);
    let period = spec
        .period
        .resolve(fire.at.with_timezone(&tz).date_naive(), plan.week_start);
    // Judged on the report's own calendar, like its period.
    let as_of = AsOf::at(fire.at, tz);
    let key = fire.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let span = info_span!("run", report = %spec.id, period = %period.key(), key = %key, catch_up = fire.catch_up);
    async move {
        // Start latency: how late after its scheduled time the run began (catch-up runs
        // are late by design and not counted).
        if !fire.catch_up {
            let latency_ms = (clock.now() - fire.at).num_milliseconds().max(0);
            metrics::observe("goalpost_fire_latency_seconds", &[], latency_ms as f64 / 1000.0);
            info!(latency_ms, "run started");
        }
        let mut work = std::time::Duration::ZERO;
        let result = if spec.alert {
            let _slot = RUN_SLOTS.acquire().await.expect("never closed");
            let began = std::time::Instant::now();
            let r = Box::pin(run_alert(plan, store, spec, period, as_of, fire.at)).await;
            work = began.elapsed();
            r
        } else {
            let opts = SendOptions {
                force: false,
                dry_run: false,
                as_of,
            };
            loop {
                let slot = RUN_SLOTS.acquire().await.expect("never closed");
                let began = std::time::Instant::now();
                // Boxed: a run waiting for its slot holds a pointer, not the whole state of a
                // send (thousands wait when thousands fall due at once).
                let sent = Box::pin(deliver::send_report(plan, store, spec, period, &opts)).await;
                work += began.elapsed();
                drop(slot);
                match sent {
                    // Another replica is preparing this run: it is not done until that one
                    // records it, so the mark stays; ask again soon (a preparer of this host
                    // that died is seen at once) and at the latest when it is presumed dead.
                    Ok(s) if s.outcome == "claimed_elsewhere" => {
                        let until_presumed_dead = s
                            .retry_at
                            .map_or(RECHECK_CLAIM, |t| (t - Utc::now()).to_std().unwrap_or_default());
                        let wait = until_presumed_dead.min(RECHECK_CLAIM);
                        debug!(?wait, "another process is preparing this run; asking again");
                        tokio::time::sleep(wait).await;
                    }
                    r => break r.map(|s| (s.outcome, s.failed + s.pending)),
                }
            }
        };
        // A run that could not be done (the store was unreachable, a template broke) leaves
        // the mark where it was, so the next start makes it up.
        if result.is_ok() {
            if let Err(e) = store.set_schedule_mark(&spec.id, fire.at).await {
                error!("{e}");
            }
        }
        match result {
            Ok((outcome, undelivered)) => {
                metrics::add(
                    "goalpost_runs_total",
                    &[("client", client), ("report", &spec.id), ("outcome", outcome)],
                    1.0,
                );
                let work_ms = work.as_millis() as u64;
                if undelivered > 0 {
                    warn!(
                        outcome,
                        undelivered, work_ms, "run done; some deliveries failed or are pending"
                    );
                } else {
                    info!(outcome, work_ms, "run done");
                }
                undelivered == 0
            }
            Err(e) => {
                metrics::add(
                    "goalpost_runs_total",
                    &[("client", client), ("report", &spec.id), ("outcome", "error")],
                    1.0,
                );
                error!("run failed: {e}");
                false
            }
        }
    }
    .instrument(span)
    .await
}

/// Judges an alert report and sends the goals that got worse, if any.
async fn run_alert(
    plan: &Plan,
    store: &Store,
    spec: &ReportSpec,
    period: crate::period::Period,
    as_of: AsOf,
    at: DateTime<Utc>,
) -> Result<(&'static str, usize), deliver::SendError> {
    let (mut model, failures) = crate::run::compute(plan, spec, Some(period), as_of).await;
    let known: HashMap<String, crate::store::AlertState> = store.alert_states(&spec.id).await?.into_iter().collect();
    let mut states = Vec::new();
    let mut worse = Vec::new();
    for g in &model.goals {
        let (next, fire) = alerts::step(known.get(&g.id).copied(), g.status, at, spec.rearm);
        if let Some(n) = next {
            states.push((g.id.clone(), n));
        }
        if fire {
            worse.push(g.id.clone());
        }
    }
    if worse.is_empty() {
        store.set_alert_states(&spec.id, &states).await?;
        return Ok(("quiet", 0));
    }
    info!(goals = %worse.join(","), "goals got worse: alerting");
    model.goals.retain(|g| worse.contains(&g.id));
    model.funnels.clear();
    model.breakdowns.clear();
    model.summary = crate::report::model::Summary::of(&model.goals);
    let key = format!("alert-{}", at.format("%Y%m%dT%H%M%SZ"));
    let s = deliver::send_alert(plan, store, spec, &key, &model, &failures).await?;
    store.set_alert_states(&spec.id, &states).await?;
    Ok((
        if s.outcome == "sent" { "alerted" } else { s.outcome },
        s.failed + s.pending,
    ))
}

/// `goalpost run` as a process: logs, signals, the file watcher and the listener around
/// the scheduler. Returns the exit code.
pub async fn main(opts: Options) -> u8 {
    clients::limit_malloc_arenas();
    // Signals are caught from the first moment: a SIGTERM while configs load or runs are
    // made up stops cleanly too, and a SIGHUP then is not the default "terminate".
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(term), Ok(int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        error!("cannot install signal handlers");
        return 1;
    };
    let shutdown = shutdown_signal(term, int);
    tokio::pin!(shutdown);
    let once = opts.once;
    let config = opts.config.clone();
    let mut daemon = match Daemon::start(opts, Clock::wall()).await {
        Ok(d) => d,
        Err(e) => {
            error!("{e}");
            return 1;
        }
    };
    if let Some(addr) = daemon.listen() {
        match http::listen(addr, daemon.shared.clone()).await {
            Ok(bound) => info!(%bound, "listening: /healthz /readyz /metrics /reports/ID"),
            Err(e) => {
                error!("cannot listen on {addr}: {e}");
                return 1;
            }
        }
    }
    daemon.start_up().await;
    if once {
        tokio::select! {
            _ = daemon.wait_idle() => {}
            _ = &mut shutdown => daemon.drain().await,
        }
        return 0;
    }
    let (tx, rx) = mpsc::channel(16);
    let _watcher = match watch(&config, tx.clone()) {
        Ok(w) => Some(w),
        Err(e) => {
            warn!(
                "cannot watch {} for changes ({e}); reload with SIGHUP",
                config.display()
            );
            None
        }
    };
    let hup_tx = tx.clone();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            info!("SIGHUP");
            let _ = hup_tx.send(Reload::All).await;
        }
    });
    daemon.serve(rx, shutdown).await;
    info!("stopped");
    0
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal(mut term: tokio::signal::unix::Signal, mut int: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: stopping"),
        _ = int.recv() => info!("SIGINT: stopping"),
    }
}

/// Watches the config file (or folder) and sends a reload per changed config file, once
/// per burst of events (editors write a file in several steps).
fn watch(config: &Path, tx: mpsc::Sender<Reload>) -> notify::Result<notify::RecommendedWatcher> {
    use notify::Watcher;
    let dir_mode = config.is_dir();
    let folder = if dir_mode {
        config.to_path_buf()
    } else {
        config
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    };
    let wanted = config.to_path_buf();
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        let Ok(ev) = ev else { return };
        if ev.kind.is_access() {
            return;
        }
        for p in ev.paths {
            let relevant = if dir_mode {
                p.extension().is_some_and(|x| x == "yaml" || x == "yml")
            } else {
                p.file_name() == wanted.file_name()
            };
            if relevant {
                let _ = raw_tx.send(p);
            }
        }
    })?;
    watcher.watch(&folder, notify::RecursiveMode::NonRecursive)?;
    tokio::spawn(async move {
        while let Some(first) = raw_rx.recv().await {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let mut paths = vec![first];
            while let Ok(p) = raw_rx.try_recv() {
                if !paths.contains(&p) {
                    paths.push(p);
                }
            }
            for p in paths {
                info!(file = %p.display(), "config file changed");
                let _ = tx.send(Reload::File(p)).await;
            }
        }
    });
    Ok(watcher)
}
