//! The Proof Generator: turns stored sequences into proof tasks and runs them on a pool of
//! workers shared by every rollup the node serves.
//!
//! One tokio task owns the schedule. Each rollup is a [`Lane`] (its store, its plugin's prover,
//! where its final proofs go). The ready set of all lanes is one ordered set, by how soon each
//! task's result is needed, then final before aggregate before batch, then the lane's weight,
//! then lowest sequence first:
//!
//! - *needed by*: the block a sequence was seen in plus the lane's horizon (its T1). Once any
//!   miner commits, the window closes T1 blocks later; a sequence posted earlier, or on a rollup
//!   with a shorter window, is needed sooner. Ordering by it is earliest-deadline-first, so a
//!   rollup that posts ten times as often gets ten times the work but never holds back another
//!   rollup's older sequence: nobody starves.
//! - *final before aggregate before batch* among tasks needed at the same block: a ready final
//!   or aggregate is cheap and unblocks a submission.
//! - *weight*: the operator's tie-break between rollups whose tasks are equally urgent.
//!
//! Workers are tokio tasks that run one job at a time on the blocking pool and report back.
//! Every transition is written to the lane's store before it takes effect, so a restart rebuilds
//! the same schedule from the stores ([`prova_store::Store::requeue_assigned`] puts interrupted
//! jobs back).
//!
//! Its maps are ordered (BTree), so that the same events give the same schedule (the
//! simulation replays a seed exactly).
//!
//! A job that outlives its deadline is requeued on another worker (its worker stays busy
//! until the job returns; a late success is still kept if the task is not done by then). A job
//! that fails goes back to the queue, never straight to the worker it failed on while another
//! can take it, until `max_attempts`; then its sequence is marked unprovable.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use prova_store::{Sequence, SequenceStatus, Store, TaskId, TaskKind, TaskState};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::prover::{JobInput, Prover};
use crate::{NodeError, now_ms};

#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    /// Local workers (concurrent jobs), shared by every rollup.
    pub workers: usize,
    /// Longest a job may run before it is requeued elsewhere.
    pub task_timeout: Duration,
    /// Attempts per task before its sequence is given up.
    pub max_attempts: u32,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        // A batch proof of the reference adapter takes ~4 s on one core here; 10 minutes leaves
        // room for a loaded machine and bigger circuits. Three attempts: a task that fails on
        // three workers is the input's fault, not the workers'.
        Self { workers: 2, task_timeout: Duration::from_secs(600), max_attempts: 3 }
    }
}

/// One rollup the generator proves for.
pub struct Lane {
    /// The rollup's records.
    pub store: Arc<Store>,
    /// Runs its proof jobs (its plugin, in a node).
    pub prover: Arc<dyn Prover>,
    /// The address its final proofs are bound to.
    pub miner: [u8; 20],
    /// Its final proofs, by final batch, once stored.
    pub finals: mpsc::UnboundedSender<u64>,
    /// Blocks from a sequence's posting until its proof is needed: the rollup's T1.
    pub horizon: u64,
    /// Among tasks needed at the same block, a higher weight goes first.
    pub weight: u32,
    /// The head of the lane's chain as its poller saw it last (recorded when a sequence closes).
    pub head: watch::Receiver<u64>,
}

/// A lane's index in the generator.
type LaneId = usize;

/// Messages into the generator.
enum Event {
    /// A sequence was stored: schedule its tasks.
    Sequence(LaneId, u64),
    /// Nobody needs this sequence's proof any more (the caller closed it in the store): stop
    /// working on it.
    Forget(LaneId, u64),
    /// Its final proof was rejected and its final task is pending again: prove it again.
    Reprove(LaneId, u64),
    Done {
        worker: usize,
        lane: LaneId,
        id: TaskId,
        attempt: u32,
        result: Result<Vec<u8>, String>,
    },
}

/// How the rest of the node talks to the generator about one rollup.
#[derive(Clone)]
pub struct GeneratorHandle {
    tx: mpsc::UnboundedSender<Event>,
    lane: LaneId,
}

impl GeneratorHandle {
    /// Schedules a sequence already in the store.
    pub fn add_sequence(&self, final_batch: u64) {
        let _ = self.tx.send(Event::Sequence(self.lane, final_batch));
    }

    /// Stops work on a sequence the caller has closed in the store.
    pub fn forget(&self, final_batch: u64) {
        let _ = self.tx.send(Event::Forget(self.lane, final_batch));
    }

    /// Proves a sequence's final task again, after [`Store::reject_final`] sent it back to
    /// pending.
    pub fn reprove(&self, final_batch: u64) {
        let _ = self.tx.send(Event::Reprove(self.lane, final_batch));
    }
}

/// Ready-set order: needed by (block), kind (final 0, aggregate 1, batch 2), the lane's weight
/// (higher first), then lane and task.
type Ready = (u64, u8, Reverse<u32>, LaneId, TaskId);

/// A task of a lane.
type Task = (LaneId, TaskId);

struct Running {
    worker: usize,
    attempt: u32,
    deadline: Instant,
}

struct Job {
    lane: LaneId,
    id: TaskId,
    attempt: u32,
}

struct Generator {
    lanes: Arc<[Lane]>,
    cfg: GeneratorConfig,
    ready: BTreeSet<Ready>,
    running: BTreeMap<Task, Running>,
    /// Workers with nothing to do.
    idle: BTreeSet<usize>,
    /// Workers an attempt of a task failed on.
    avoid: BTreeMap<Task, Vec<usize>>,
    /// Per sequence being proved: its batch tasks still to finish, and the block its proof is
    /// needed by.
    open: BTreeMap<(LaneId, u64), Open>,
    /// Sequences that are no longer wanted.
    forgotten: BTreeSet<(LaneId, u64)>,
    /// Attempts (lane, task, worker, attempt) whose result is void: their sequence was forgotten
    /// or its data replaced while they ran. Their worker is busy until they return.
    void: BTreeSet<(LaneId, TaskId, usize, u32)>,
    workers: Vec<mpsc::UnboundedSender<Job>>,
}

/// A sequence in the schedule.
struct Open {
    batches_left: u32,
    needed_by: u64,
}

/// The generator's task: it returns when the generator has stopped.
pub type GeneratorTask = JoinHandle<Result<(), NodeError>>;

/// Starts the generator and its workers over `lanes`; returns one handle per lane, in order.
/// On `shutdown` it stops dispatching, lets running jobs finish and store their proofs, and
/// returns. The workers belong to the returned task: aborting it aborts them.
pub fn spawn(
    lanes: Vec<Lane>,
    cfg: GeneratorConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(Vec<GeneratorHandle>, GeneratorTask), NodeError> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handles = (0..lanes.len()).map(|lane| GeneratorHandle { tx: tx.clone(), lane }).collect();
    for lane in &lanes {
        let requeued = lane.store.requeue_assigned()?;
        if requeued > 0 {
            info!(rollup = lane.store.identity().rollup, requeued, "jobs interrupted by the last stop are pending again");
        }
    }
    let lanes: Arc<[Lane]> = lanes.into();
    let mut pool = JoinSet::new();
    let mut workers = vec![];
    for w in 0..cfg.workers.max(1) {
        let (jtx, jrx) = mpsc::unbounded_channel();
        workers.push(jtx);
        pool.spawn(worker(w, jrx, tx.clone(), lanes.clone()));
    }
    let mut g = Generator {
        idle: (0..workers.len()).collect(),
        lanes,
        cfg,
        ready: BTreeSet::new(),
        running: BTreeMap::new(),
        avoid: BTreeMap::new(),
        open: BTreeMap::new(),
        forgotten: BTreeSet::new(),
        void: BTreeSet::new(),
        workers,
    };
    g.load()?;
    let task = tokio::spawn(async move {
        // Owned here, so that the workers live and die with this task.
        let _pool = pool;
        loop {
            if *shutdown.borrow() {
                break;
            }
            g.dispatch()?;
            // Wake at the earliest job deadline; with nothing running, only an event wakes it.
            let next_deadline = g.running.values().map(|r| r.deadline).min();
            tokio::select! {
                biased;
                _ = shutdown.changed() => {}
                ev = rx.recv() => match ev {
                    Some(ev) => g.handle(ev)?,
                    None => break,
                },
                _ = sleep_until_some(next_deadline) => g.expire()?,
            }
        }
        // Let running jobs finish so their proofs are stored; what does not finish is requeued
        // at the next start.
        let busy = g.workers.len() - g.idle.len();
        if busy > 0 {
            info!(busy, "shutting down: waiting for running jobs");
        }
        while g.idle.len() < g.workers.len() {
            match tokio::time::timeout(g.cfg.task_timeout, rx.recv()).await {
                Ok(Some(ev @ Event::Done { .. })) => g.handle(ev)?,
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        Ok(())
    });
    Ok((handles, task))
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl Generator {
    /// Rebuilds the schedule from the stores: the tasks of the sequences still being proved.
    fn load(&mut self) -> Result<(), NodeError> {
        for lane in 0..self.lanes.len() {
            for seq in self.lanes[lane].store.open_sequences()? {
                if seq.status == SequenceStatus::Proving {
                    let tasks = self.lanes[lane].store.tasks_of(seq.final_batch)?;
                    self.schedule(lane, &seq, &tasks);
                }
            }
        }
        Ok(())
    }

    fn ready_key(&self, lane: LaneId, id: &TaskId) -> Ready {
        let rank = match id.kind() {
            TaskKind::Final => 0,
            TaskKind::Aggregate => 1,
            TaskKind::Batch(_) => 2,
        };
        let needed_by = self.open.get(&(lane, id.sequence())).map_or(0, |o| o.needed_by);
        (needed_by, rank, Reverse(self.lanes[lane].weight), lane, *id)
    }

    fn make_ready(&mut self, lane: LaneId, id: &TaskId) {
        let key = self.ready_key(lane, id);
        self.ready.insert(key);
    }

    fn unready(&mut self, lane: LaneId, id: &TaskId) {
        let key = self.ready_key(lane, id);
        self.ready.remove(&key);
    }

    /// Puts a sequence's ready tasks in the ready set, given its tasks' states.
    fn schedule(&mut self, lane: LaneId, seq: &Sequence, tasks: &[prova_store::Task]) {
        let done = |k: TaskKind| tasks.iter().any(|t| t.id.kind() == k && t.state == TaskState::Done);
        if tasks.iter().any(|t| matches!(t.state, TaskState::Dropped | TaskState::Failed { .. })) {
            return;
        }
        let f = seq.final_batch;
        let batches: Vec<_> = tasks.iter().filter(|t| matches!(t.id.kind(), TaskKind::Batch(_))).collect();
        let left = batches.iter().filter(|t| t.state != TaskState::Done).count() as u32;
        self.open.insert((lane, f), Open { batches_left: left, needed_by: seq.seen_block + self.lanes[lane].horizon });
        for t in tasks {
            if !self.avoid.contains_key(&(lane, t.id)) && !t.failed_on.is_empty() {
                self.avoid.insert((lane, t.id), t.failed_on.iter().filter_map(|w| worker_index(w)).collect());
            }
            if t.state != TaskState::Pending {
                continue;
            }
            let is_ready = match t.id.kind() {
                TaskKind::Batch(_) => true,
                TaskKind::Aggregate => left == 0,
                TaskKind::Final => {
                    if batches.len() > 1 {
                        done(TaskKind::Aggregate)
                    } else {
                        left == 0
                    }
                }
            };
            if is_ready {
                self.make_ready(lane, &t.id);
            }
        }
        if left == 0 && done(TaskKind::Final) {
            self.open.remove(&(lane, f));
        }
    }

    fn handle(&mut self, ev: Event) -> Result<(), NodeError> {
        match ev {
            Event::Sequence(lane, f) => {
                // New, or stored again after a reorg replaced its data: scheduled from the store.
                self.stop(lane, f);
                self.forgotten.remove(&(lane, f));
                let store = &self.lanes[lane].store;
                let Some(seq) = store.sequence(f)? else { return Ok(()) };
                let tasks = store.tasks_of(f)?;
                self.schedule(lane, &seq, &tasks);
            }
            Event::Forget(lane, f) => {
                if self.forgotten.insert((lane, f)) {
                    self.stop(lane, f);
                    info!(rollup = self.rollup(lane), sequence = f, "not needed any more: proving stopped");
                }
            }
            Event::Reprove(lane, f) => {
                let id = TaskId::new(f, TaskKind::Final);
                if let Some(t) = self.lanes[lane].store.task(&id)?
                    && t.state == TaskState::Pending
                    && !self.running.contains_key(&(lane, id))
                {
                    self.avoid.insert((lane, id), t.failed_on.iter().filter_map(|w| worker_index(w)).collect());
                    if let Some(seq) = self.lanes[lane].store.sequence(f)? {
                        let needed_by = seq.seen_block + self.lanes[lane].horizon;
                        self.open.insert((lane, f), Open { batches_left: 0, needed_by });
                    }
                    self.make_ready(lane, &id);
                    info!(rollup = self.rollup(lane), sequence = f, "final proof rejected: proving it again");
                }
            }
            Event::Done { worker, lane, id, attempt, result } => {
                if self.void.remove(&(lane, id, worker, attempt)) {
                    if !self.running.values().any(|r| r.worker == worker) {
                        self.idle.insert(worker);
                    }
                    debug!(task = %id, "a void attempt returned");
                    return Ok(());
                }
                let current = self.running.get(&(lane, id)).is_some_and(|r| r.worker == worker && r.attempt == attempt);
                if current {
                    self.running.remove(&(lane, id));
                }
                // A worker whose attempt timed out stays busy until it returns, then is free.
                if !self.running.values().any(|r| r.worker == worker) {
                    self.idle.insert(worker);
                }
                let store = self.lanes[lane].store.clone();
                let task_state = store.task(&id)?.map(|t| t.state);
                if self.forgotten.contains(&(lane, id.sequence()))
                    || matches!(task_state, Some(TaskState::Done | TaskState::Failed { .. } | TaskState::Dropped))
                {
                    return Ok(());
                }
                match result {
                    Ok(proof) => {
                        if !current {
                            // A late success: keep it, and let the requeued attempt go.
                            self.unready(lane, &id);
                            self.running.remove(&(lane, id));
                        }
                        if store.complete(&id, &worker_name(worker), &proof, now_ms())? {
                            self.advance(lane, &id);
                        }
                    }
                    Err(e) if current => self.failed(lane, &id, worker, &e)?,
                    Err(e) => debug!(task = %id, error = %e, "a superseded attempt failed"),
                }
            }
        }
        Ok(())
    }

    fn rollup(&self, lane: LaneId) -> u32 {
        self.lanes[lane].store.identity().rollup
    }

    /// Takes a sequence out of the schedule; its running attempts become void.
    fn stop(&mut self, lane: LaneId, f: u64) {
        self.ready.retain(|(_, _, _, l, id)| (*l, id.sequence()) != (lane, f));
        self.open.remove(&(lane, f));
        let stale: Vec<Task> = self.running.keys().filter(|(l, id)| (*l, id.sequence()) == (lane, f)).copied().collect();
        for t in stale {
            if let Some(r) = self.running.remove(&t) {
                self.void.insert((t.0, t.1, r.worker, r.attempt));
            }
        }
    }

    /// What becomes ready when `id` is done.
    fn advance(&mut self, lane: LaneId, id: &TaskId) {
        let f = id.sequence();
        match id.kind() {
            TaskKind::Batch(_) => {
                let Some(open) = self.open.get_mut(&(lane, f)) else { return };
                open.batches_left = open.batches_left.saturating_sub(1);
                if open.batches_left == 0 {
                    let batches = self.lanes[lane].store.sequence(f).ok().flatten().map_or(1, |s| s.batches());
                    let next = if batches > 1 { TaskKind::Aggregate } else { TaskKind::Final };
                    self.make_ready(lane, &TaskId::new(f, next));
                }
            }
            TaskKind::Aggregate => self.make_ready(lane, &TaskId::new(f, TaskKind::Final)),
            TaskKind::Final => {
                self.open.remove(&(lane, f));
                info!(rollup = self.rollup(lane), sequence = f, "final proof stored");
                let _ = self.lanes[lane].finals.send(f);
            }
        }
    }

    fn failed(&mut self, lane: LaneId, id: &TaskId, worker: usize, error: &str) -> Result<(), NodeError> {
        self.avoid.entry((lane, *id)).or_default().push(worker);
        let lanes = self.lanes.clone();
        let l = &lanes[lane];
        let head = *l.head.borrow();
        match l.store.fail(id, &worker_name(worker), error, self.cfg.max_attempts, head)? {
            TaskState::Pending => {
                warn!(rollup = self.rollup(lane), task = %id, worker, error, "attempt failed: requeued on another worker");
                self.make_ready(lane, id);
            }
            _ => {
                let f = id.sequence();
                error!(rollup = self.rollup(lane), task = %id, error, "task failed on every attempt: sequence {f} will not be proved by this node");
                self.ready.retain(|(_, _, _, l, id)| (*l, id.sequence()) != (lane, f));
                self.open.remove(&(lane, f));
            }
        }
        Ok(())
    }

    /// Requeues jobs past their deadline.
    fn expire(&mut self) -> Result<(), NodeError> {
        let now = Instant::now();
        let late: Vec<(Task, usize)> = self.running.iter().filter(|(_, r)| r.deadline <= now).map(|(t, r)| (*t, r.worker)).collect();
        for ((lane, id), worker) in late {
            self.running.remove(&(lane, id));
            // The worker is still running it: it is not idle until the job returns.
            self.failed(lane, &id, worker, &format!("timed out after {:?}", self.cfg.task_timeout))?;
        }
        Ok(())
    }

    /// Hands ready tasks to idle workers.
    fn dispatch(&mut self) -> Result<(), NodeError> {
        let n_workers = self.workers.len();
        while !self.ready.is_empty() {
            let mut choice = None;
            'workers: for &w in &self.idle {
                for key in self.ready.iter().take(64) {
                    let avoided = self.avoid.get(&(key.3, key.4)).is_some_and(|a| a.contains(&w) && a.len() < n_workers);
                    if !avoided {
                        choice = Some((w, *key));
                        break 'workers;
                    }
                }
            }
            let Some((w, key)) = choice else { break };
            self.ready.remove(&key);
            self.idle.remove(&w);
            let (lane, id) = (key.3, key.4);
            let now = now_ms();
            let attempt = self.lanes[lane].store.assign(&id, &worker_name(w), now, now + self.cfg.task_timeout.as_millis() as u64)?;
            self.running.insert((lane, id), Running { worker: w, attempt, deadline: Instant::now() + self.cfg.task_timeout });
            let _ = self.workers[w].send(Job { lane, id, attempt });
        }
        Ok(())
    }
}

fn worker_name(w: usize) -> String {
    format!("local-{w}")
}

fn worker_index(name: &str) -> Option<usize> {
    name.strip_prefix("local-")?.parse().ok()
}

/// Reads a job's input from the store.
fn input(store: &Store, id: &TaskId) -> Result<JobInput, NodeError> {
    let seq = id.sequence();
    let proof = |id: TaskId| store.proof(&id)?.ok_or_else(|| NodeError::Inconsistent(format!("proof of {id} missing")));
    Ok(match id.kind() {
        TaskKind::Batch(i) => JobInput::Batch(store.batch_data(seq, i)?),
        TaskKind::Aggregate => {
            let n = store.sequence(seq)?.map_or(0, |s| s.batches());
            JobInput::Aggregate((0..n).map(|i| proof(TaskId::new(seq, TaskKind::Batch(i)))).collect::<Result<_, _>>()?)
        }
        TaskKind::Final => {
            let n = store.sequence(seq)?.map_or(0, |s| s.batches());
            JobInput::Final(proof(TaskId::new(seq, if n > 1 { TaskKind::Aggregate } else { TaskKind::Batch(0) }))?)
        }
    })
}

async fn worker(w: usize, mut jobs: mpsc::UnboundedReceiver<Job>, events: mpsc::UnboundedSender<Event>, lanes: Arc<[Lane]>) {
    while let Some(Job { lane, id, attempt }) = jobs.recv().await {
        let l = &lanes[lane];
        let span = info_span!("task", rollup = l.store.identity().rollup, task = %id, worker = w, attempt);
        let result = async {
            let started = Instant::now();
            let r = match input(&l.store, &id) {
                Ok(input) => l.prover.prove(&id.key(), input, l.miner).await,
                Err(e) => Err(e.to_string()),
            };
            debug!(ok = r.is_ok(), elapsed_ms = started.elapsed().as_millis() as u64, "job finished");
            r
        }
        .instrument(span)
        .await;
        if events.send(Event::Done { worker: w, lane, id, attempt, result }).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use prova_store::{Sequence, SequenceStatus};

    use super::*;

    /// A prover that follows a script per task: how many first attempts fail, how long the
    /// first attempt sleeps. It records the order in which jobs start.
    #[derive(Default)]
    struct Scripted {
        fail_first: HashMap<String, u32>,
        slow_first: HashMap<String, Duration>,
        calls: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl Prover for Scripted {
        async fn prove(&self, job: &str, _: JobInput, _: [u8; 20]) -> Result<Vec<u8>, String> {
            let attempt = {
                let mut calls = self.calls.lock().unwrap();
                calls.push(job.to_string());
                calls.iter().filter(|c| *c == job).count() as u32
            };
            if attempt == 1
                && let Some(d) = self.slow_first.get(job)
            {
                tokio::time::sleep(*d).await;
            }
            if attempt <= self.fail_first.get(job).copied().unwrap_or(0) {
                return Err(format!("scripted failure {attempt}"));
            }
            Ok(job.as_bytes().to_vec())
        }
    }

    fn sequence(f: u64, n: u32, seen_block: u64) -> Sequence {
        Sequence {
            init_batch: f - n as u64,
            final_batch: f,
            acc_input_hash: [0; 32],
            commitments: vec![[0; 32]; n as usize],
            seen_block,
            status: SequenceStatus::Proving,
            closed_block: None,
        }
    }

    fn store_with(sequences: &[(u64, u32)]) -> (tempfile::TempDir, Arc<Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb"), &crate::test_identity()).unwrap());
        for &(f, n) in sequences {
            store.add_sequence(&sequence(f, n, 0), &vec![b"w".to_vec(); n as usize]).unwrap();
        }
        (dir, store)
    }

    /// A prover that logs which lane's job it started, in order (one log for every lane).
    struct Logged {
        lane: usize,
        log: Arc<Mutex<Vec<(usize, String)>>>,
    }

    #[async_trait::async_trait]
    impl Prover for Logged {
        async fn prove(&self, job: &str, _: JobInput, _: [u8; 20]) -> Result<Vec<u8>, String> {
            self.log.lock().unwrap().push((self.lane, job.to_string()));
            Ok(job.as_bytes().to_vec())
        }
    }

    /// The (lane, final batch) of each final job in `log`, in the order they started.
    fn finals_in(log: &Mutex<Vec<(usize, String)>>) -> Vec<(usize, u64)> {
        let log = log.lock().unwrap();
        log.iter()
            .filter_map(|(l, j)| TaskId::parse(j).ok().filter(|id| id.kind() == TaskKind::Final).map(|id| (*l, id.sequence())))
            .collect()
    }

    /// A lane for the tests: its store, prover, horizon and weight.
    struct TestLane {
        store: Arc<Store>,
        prover: Arc<dyn Prover>,
        horizon: u64,
        weight: u32,
    }

    /// Runs the generator over `lanes` until `finals` final proofs are out (or a second passes
    /// with none); returns them as (lane, final batch) in the order they came.
    async fn run_lanes(lanes: Vec<TestLane>, cfg: GeneratorConfig, finals: usize) -> Vec<(usize, u64)> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(false);
        let (_head_tx, head) = watch::channel(0);
        let lanes = lanes
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                let (ftx, mut frx) = mpsc::unbounded_channel();
                let tx = tx.clone();
                tokio::spawn(async move {
                    while let Some(f) = frx.recv().await {
                        let _ = tx.send((i, f));
                    }
                });
                Lane {
                    store: l.store,
                    prover: l.prover,
                    miner: [1; 20],
                    finals: ftx,
                    horizon: l.horizon,
                    weight: l.weight,
                    head: head.clone(),
                }
            })
            .collect();
        let (_h, task) = spawn(lanes, cfg, stop_rx).unwrap();
        let mut out = vec![];
        while out.len() < finals {
            match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                Ok(Some(f)) => out.push(f),
                _ => break,
            }
        }
        stop.send(true).unwrap();
        task.await.unwrap().unwrap();
        out
    }

    /// One lane: the final batches in the order their proofs came.
    async fn run(store: &Arc<Store>, prover: Arc<Scripted>, cfg: GeneratorConfig, finals: usize) -> Vec<u64> {
        let lane = TestLane { store: store.clone(), prover, horizon: 5, weight: 1 };
        run_lanes(vec![lane], cfg, finals).await.into_iter().map(|(_, f)| f).collect()
    }

    fn cfg(workers: usize) -> GeneratorConfig {
        GeneratorConfig { workers, task_timeout: Duration::from_secs(30), max_attempts: 3 }
    }

    fn id(f: u64, k: TaskKind) -> String {
        TaskId::new(f, k).to_string()
    }

    /// Two rollups in one store file, as a node keeps them.
    fn two_rollups() -> (tempfile::TempDir, Arc<Store>, Arc<Store>) {
        let dir = tempfile::tempdir().unwrap();
        let file = prova_store::StoreFile::open(&dir.path().join("s.redb")).unwrap();
        let a = Arc::new(file.rollup(&crate::test_identity()).unwrap());
        let b = Arc::new(file.rollup(&prova_store::Identity { rollup: 2, ..crate::test_identity() }).unwrap());
        (dir, a, b)
    }

    #[tokio::test]
    async fn a_rollup_that_posts_ten_times_as_often_does_not_starve_another() {
        let (_d, busy, quiet) = two_rollups();
        // The busy rollup posts a sequence at every block from 1 to 20, the quiet one at block 5.
        for b in 1..=20 {
            busy.add_sequence(&sequence(b, 1, b), &[b"w".to_vec()]).unwrap();
        }
        quiet.add_sequence(&sequence(2, 2, 5), &[b"w".to_vec(), b"w".to_vec()]).unwrap();
        let log = Arc::new(Mutex::new(vec![]));
        let lanes = vec![
            TestLane { store: busy, prover: Arc::new(Logged { lane: 0, log: log.clone() }), horizon: 5, weight: 1 },
            TestLane { store: quiet, prover: Arc::new(Logged { lane: 1, log: log.clone() }), horizon: 5, weight: 1 },
        ];
        assert_eq!(run_lanes(lanes, cfg(1), 21).await.len(), 21, "every sequence of both rollups proved");
        let order = finals_in(&log);
        let quiet_at = order.iter().position(|&l| l == (1, 2)).unwrap();
        // Earliest needed first: the busy rollup's sequences posted at blocks 1-5 (needed by
        // 6-10; block 5's ties with the quiet one's and goes first on lane order), then the quiet
        // one, before any the busy rollup posted after it.
        assert_eq!(quiet_at, 5, "the quiet rollup's sequence waited behind {quiet_at} of the busy one's: {order:?}");
        assert!(order[..quiet_at].iter().all(|&(l, f)| l == 0 && f <= 5), "{order:?}");
    }

    #[tokio::test]
    async fn a_shorter_window_goes_first_and_weight_breaks_ties() {
        let (_d, a, b) = two_rollups();
        let (_d2, c) = store_with(&[]);
        a.add_sequence(&sequence(1, 1, 10), &[b"w".to_vec()]).unwrap();
        b.add_sequence(&sequence(1, 1, 10), &[b"w".to_vec()]).unwrap();
        c.add_sequence(&sequence(1, 1, 12), &[b"w".to_vec()]).unwrap();
        let log = Arc::new(Mutex::new(vec![]));
        let lane = |lane| Arc::new(Logged { lane, log: log.clone() });
        let lanes = vec![
            // Needed by 10 + 20 = 30.
            TestLane { store: a, prover: lane(0), horizon: 20, weight: 1 },
            // Needed by 10 + 5 = 15, tied with c (12 + 3): the heavier goes first.
            TestLane { store: b, prover: lane(1), horizon: 5, weight: 1 },
            TestLane { store: c, prover: lane(2), horizon: 3, weight: 4 },
        ];
        assert_eq!(run_lanes(lanes, cfg(1), 3).await.len(), 3);
        assert_eq!(finals_in(&log), vec![(2, 1), (1, 1), (0, 1)]);
    }

    #[tokio::test]
    async fn finals_go_before_aggregates_before_batches_and_lower_sequences_first() {
        let (_d, store) = store_with(&[(2, 2), (3, 1)]);
        let prover = Arc::new(Scripted::default());
        assert_eq!(run(&store, prover.clone(), cfg(1), 2).await, vec![2, 3]);
        let order = prover.calls.lock().unwrap().clone();
        let expected = [
            id(2, TaskKind::Batch(0)),
            id(2, TaskKind::Batch(1)),
            id(2, TaskKind::Aggregate),
            id(2, TaskKind::Final),
            id(3, TaskKind::Batch(0)),
            id(3, TaskKind::Final),
        ];
        assert_eq!(order, expected);
        assert_eq!(store.proof(&TaskId::new(3, TaskKind::Final)).unwrap().unwrap(), id(3, TaskKind::Final).as_bytes());
    }

    #[tokio::test]
    async fn a_failed_job_moves_to_another_worker_and_gives_up_after_its_attempts() {
        let (_d, store) = store_with(&[(1, 1), (2, 1)]);
        let (flaky, broken) = (id(1, TaskKind::Batch(0)), id(2, TaskKind::Batch(0)));
        let prover = Arc::new(Scripted { fail_first: HashMap::from([(flaky.clone(), 1), (broken.clone(), 99)]), ..Default::default() });
        assert_eq!(run(&store, prover, cfg(2), 2).await, vec![1], "only the flaky sequence is proved");
        let t = store.task(&TaskId::new(1, TaskKind::Batch(0))).unwrap().unwrap();
        assert_eq!(t.failed_on.len(), 1);
        assert_ne!(t.done_by.as_deref(), Some(t.failed_on[0].as_str()), "the retry ran on the other worker");
        let b = store.task(&TaskId::new(2, TaskKind::Batch(0))).unwrap().unwrap();
        assert_eq!((b.attempts, b.failed_on.len()), (3, 2));
        assert!(matches!(b.state, TaskState::Failed { .. }));
        assert!(matches!(store.sequence(2).unwrap().unwrap().status, SequenceStatus::Unprovable { .. }));
    }

    #[tokio::test]
    async fn a_job_past_its_deadline_is_requeued_and_the_proof_is_stored_once() {
        let (_d, store) = store_with(&[(1, 1)]);
        let slow = id(1, TaskKind::Batch(0));
        let prover = Arc::new(Scripted { slow_first: HashMap::from([(slow.clone(), Duration::from_millis(1500))]), ..Default::default() });
        let c = GeneratorConfig { workers: 2, task_timeout: Duration::from_millis(300), max_attempts: 3 };
        assert_eq!(run(&store, prover.clone(), c, 1).await, vec![1]);
        let t = store.task(&TaskId::new(1, TaskKind::Batch(0))).unwrap().unwrap();
        assert_eq!((t.attempts, t.completions, t.failed_on.clone()), (2, 1, vec!["local-0".to_string()]));
        assert_eq!(t.done_by.as_deref(), Some("local-1"), "the requeued attempt finished first");
        assert_eq!(prover.calls.lock().unwrap().iter().filter(|c| **c == slow).count(), 2);
    }
}
