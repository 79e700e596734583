//! The Proof Generator: turns stored sequences into proof tasks and runs them on a pool of
//! workers.
//!
//! One tokio task owns the schedule: a ready set ordered final before aggregate before batch,
//! then lowest sequence first (a ready final or aggregate is cheap and unblocks a submission; a
//! lower sequence is revealed first on chain). Workers are tokio tasks that run one job at a
//! time on the blocking pool and report back. Every transition is written to the store before
//! it takes effect, so a restart rebuilds the same schedule from the store
//! ([`prova_store::Store::requeue_assigned`] puts interrupted jobs back).
//!
//! Its maps are ordered (BTree), so that the same events give the same schedule (the
//! simulation replays a seed exactly).
//!
//! A job that outlives its deadline is requeued on another worker (its worker stays busy
//! until the job returns; a late success is still kept if the task is not done by then). A job
//! that fails goes back to the queue, never straight to the worker it failed on while another
//! can take it, until `max_attempts`; then its sequence is marked unprovable.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use prova_store::{SequenceStatus, Store, TaskId, TaskKind, TaskState};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::prover::{JobInput, Prover};
use crate::{NodeError, now_ms};

#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    /// Local workers (concurrent jobs).
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

/// Messages into the generator.
enum Event {
    /// A sequence was stored: schedule its tasks.
    Sequence(u64),
    /// Nobody needs this sequence's proof any more (the caller closed it in the store): stop
    /// working on it.
    Forget(u64),
    /// Its final proof was rejected and its final task is pending again: prove it again.
    Reprove(u64),
    Done {
        worker: usize,
        id: TaskId,
        attempt: u32,
        result: Result<Vec<u8>, String>,
    },
}

/// How the rest of the node talks to the generator.
#[derive(Clone)]
pub struct GeneratorHandle {
    tx: mpsc::UnboundedSender<Event>,
}

impl GeneratorHandle {
    /// Schedules a sequence already in the store.
    pub fn add_sequence(&self, final_batch: u64) {
        let _ = self.tx.send(Event::Sequence(final_batch));
    }

    /// Stops work on a sequence the caller has closed in the store.
    pub fn forget(&self, final_batch: u64) {
        let _ = self.tx.send(Event::Forget(final_batch));
    }

    /// Proves a sequence's final task again, after [`Store::reject_final`] sent it back to
    /// pending.
    pub fn reprove(&self, final_batch: u64) {
        let _ = self.tx.send(Event::Reprove(final_batch));
    }
}

/// Ready-set order: final (0) before aggregate (1) before batch (2), then lowest sequence.
type Ready = (u8, u64, TaskId);

fn ready_key(id: &TaskId) -> Ready {
    let rank = match id.kind() {
        TaskKind::Final => 0,
        TaskKind::Aggregate => 1,
        TaskKind::Batch(_) => 2,
    };
    (rank, id.sequence(), *id)
}

struct Running {
    worker: usize,
    attempt: u32,
    deadline: Instant,
}

struct Job {
    id: TaskId,
    attempt: u32,
}

struct Generator {
    store: Arc<Store>,
    cfg: GeneratorConfig,
    ready: BTreeSet<Ready>,
    running: BTreeMap<TaskId, Running>,
    /// Workers with nothing to do.
    idle: BTreeSet<usize>,
    /// Workers an attempt of a task failed on.
    avoid: BTreeMap<TaskId, Vec<usize>>,
    /// Batch tasks still to finish, per sequence being proved.
    batches_left: BTreeMap<u64, u32>,
    /// Sequences that are no longer wanted.
    forgotten: BTreeSet<u64>,
    /// Attempts (task, worker, attempt) whose result is void: their sequence was forgotten or
    /// its data replaced while they ran. Their worker is busy until they return.
    void: BTreeSet<(TaskId, usize, u32)>,
    workers: Vec<mpsc::UnboundedSender<Job>>,
    finals: mpsc::UnboundedSender<u64>,
    /// The chain head the node saw last (recorded when a sequence closes).
    head: watch::Receiver<u64>,
}

/// Starts the generator and its workers. Final proofs are announced on `finals` (by final
/// batch) once stored. On `shutdown` it stops dispatching, lets running jobs finish and store
/// their proofs, and returns. The workers belong to the returned task: aborting it aborts them.
pub fn spawn(
    store: Arc<Store>,
    prover: Arc<dyn Prover>,
    miner: [u8; 20],
    cfg: GeneratorConfig,
    finals: mpsc::UnboundedSender<u64>,
    head: watch::Receiver<u64>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(GeneratorHandle, JoinHandle<Result<(), NodeError>>), NodeError> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = GeneratorHandle { tx: tx.clone() };
    let requeued = store.requeue_assigned()?;
    if requeued > 0 {
        info!(requeued, "jobs interrupted by the last stop are pending again");
    }
    let mut pool = JoinSet::new();
    let mut workers = vec![];
    for w in 0..cfg.workers.max(1) {
        let (jtx, jrx) = mpsc::unbounded_channel();
        workers.push(jtx);
        pool.spawn(worker(w, jrx, tx.clone(), store.clone(), prover.clone(), miner));
    }
    let mut g = Generator {
        idle: (0..workers.len()).collect(),
        store,
        cfg,
        ready: BTreeSet::new(),
        running: BTreeMap::new(),
        avoid: BTreeMap::new(),
        batches_left: BTreeMap::new(),
        forgotten: BTreeSet::new(),
        void: BTreeSet::new(),
        workers,
        finals,
        head,
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
    Ok((handle, task))
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl Generator {
    /// Rebuilds the schedule from the store: the tasks of the sequences still being proved.
    fn load(&mut self) -> Result<(), NodeError> {
        for seq in self.store.open_sequences()? {
            if seq.status == SequenceStatus::Proving {
                let tasks = self.store.tasks_of(seq.final_batch)?;
                self.schedule(seq.final_batch, &tasks);
            }
        }
        Ok(())
    }

    /// Puts a sequence's ready tasks in the ready set, given its tasks' states.
    fn schedule(&mut self, seq: u64, tasks: &[prova_store::Task]) {
        let done = |k: TaskKind| tasks.iter().any(|t| t.id.kind() == k && t.state == TaskState::Done);
        if tasks.iter().any(|t| matches!(t.state, TaskState::Dropped | TaskState::Failed { .. })) {
            return;
        }
        let batches: Vec<_> = tasks.iter().filter(|t| matches!(t.id.kind(), TaskKind::Batch(_))).collect();
        let left = batches.iter().filter(|t| t.state != TaskState::Done).count() as u32;
        self.batches_left.insert(seq, left);
        for t in tasks {
            if !self.avoid.contains_key(&t.id) && !t.failed_on.is_empty() {
                self.avoid.insert(t.id, t.failed_on.iter().filter_map(|w| worker_index(w)).collect());
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
                self.ready.insert(ready_key(&t.id));
            }
        }
        if left == 0 && done(TaskKind::Final) {
            self.batches_left.remove(&seq);
        }
    }

    fn handle(&mut self, ev: Event) -> Result<(), NodeError> {
        match ev {
            Event::Sequence(seq) => {
                // New, or stored again after a reorg replaced its data: scheduled from the store.
                self.stop(seq);
                self.forgotten.remove(&seq);
                let tasks = self.store.tasks_of(seq)?;
                self.schedule(seq, &tasks);
            }
            Event::Forget(seq) => {
                if self.forgotten.insert(seq) {
                    self.stop(seq);
                    info!(sequence = seq, "not needed any more: proving stopped");
                }
            }
            Event::Reprove(seq) => {
                let id = TaskId::new(seq, TaskKind::Final);
                if let Some(t) = self.store.task(&id)?
                    && t.state == TaskState::Pending
                    && !self.running.contains_key(&id)
                {
                    self.avoid.insert(id, t.failed_on.iter().filter_map(|w| worker_index(w)).collect());
                    self.ready.insert(ready_key(&id));
                    info!(sequence = seq, "final proof rejected: proving it again");
                }
            }
            Event::Done { worker, id, attempt, result } => {
                if self.void.remove(&(id, worker, attempt)) {
                    if !self.running.values().any(|r| r.worker == worker) {
                        self.idle.insert(worker);
                    }
                    debug!(task = %id, "a void attempt returned");
                    return Ok(());
                }
                let current = self.running.get(&id).is_some_and(|r| r.worker == worker && r.attempt == attempt);
                if current {
                    self.running.remove(&id);
                }
                // A worker whose attempt timed out stays busy until it returns, then is free.
                if !self.running.values().any(|r| r.worker == worker) {
                    self.idle.insert(worker);
                }
                let seq = id.sequence();
                let task_state = self.store.task(&id)?.map(|t| t.state);
                if self.forgotten.contains(&seq)
                    || matches!(task_state, Some(TaskState::Done | TaskState::Failed { .. } | TaskState::Dropped))
                {
                    return Ok(());
                }
                match result {
                    Ok(proof) => {
                        if !current {
                            // A late success: keep it, and let the requeued attempt go.
                            self.ready.remove(&ready_key(&id));
                            self.running.remove(&id);
                        }
                        if self.store.complete(&id, &worker_name(worker), &proof, now_ms())? {
                            self.advance(&id);
                        }
                    }
                    Err(e) if current => self.failed(&id, worker, &e)?,
                    Err(e) => debug!(task = %id, error = %e, "a superseded attempt failed"),
                }
            }
        }
        Ok(())
    }

    /// Takes a sequence out of the schedule; its running attempts become void.
    fn stop(&mut self, seq: u64) {
        self.ready.retain(|(_, s, _)| *s != seq);
        self.batches_left.remove(&seq);
        let stale: Vec<TaskId> = self.running.keys().filter(|id| id.sequence() == seq).copied().collect();
        for id in stale {
            if let Some(r) = self.running.remove(&id) {
                self.void.insert((id, r.worker, r.attempt));
            }
        }
    }

    /// What becomes ready when `id` is done.
    fn advance(&mut self, id: &TaskId) {
        let seq = id.sequence();
        match id.kind() {
            TaskKind::Batch(_) => {
                let Some(left) = self.batches_left.get_mut(&seq) else { return };
                *left = left.saturating_sub(1);
                if *left == 0 {
                    let batches = self.store.sequence(seq).ok().flatten().map_or(1, |s| s.batches());
                    let next = if batches > 1 { TaskKind::Aggregate } else { TaskKind::Final };
                    self.ready.insert(ready_key(&TaskId::new(seq, next)));
                }
            }
            TaskKind::Aggregate => {
                self.ready.insert(ready_key(&TaskId::new(seq, TaskKind::Final)));
            }
            TaskKind::Final => {
                self.batches_left.remove(&seq);
                info!(sequence = seq, "final proof stored");
                let _ = self.finals.send(seq);
            }
        }
    }

    fn failed(&mut self, id: &TaskId, worker: usize, error: &str) -> Result<(), NodeError> {
        self.avoid.entry(*id).or_default().push(worker);
        match self.store.fail(id, &worker_name(worker), error, self.cfg.max_attempts, *self.head.borrow())? {
            TaskState::Pending => {
                warn!(task = %id, worker, error, "attempt failed: requeued on another worker");
                self.ready.insert(ready_key(id));
            }
            _ => {
                let seq = id.sequence();
                error!(task = %id, error, "task failed on every attempt: sequence {seq} will not be proved by this node");
                self.ready.retain(|(_, s, _)| *s != seq);
                self.batches_left.remove(&seq);
            }
        }
        Ok(())
    }

    /// Requeues jobs past their deadline.
    fn expire(&mut self) -> Result<(), NodeError> {
        let now = Instant::now();
        let late: Vec<(TaskId, usize)> = self.running.iter().filter(|(_, r)| r.deadline <= now).map(|(id, r)| (*id, r.worker)).collect();
        for (id, worker) in late {
            self.running.remove(&id);
            // The worker is still running it: it is not idle until the job returns.
            self.failed(&id, worker, &format!("timed out after {:?}", self.cfg.task_timeout))?;
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
                    let avoided = self.avoid.get(&key.2).is_some_and(|a| a.contains(&w) && a.len() < n_workers);
                    if !avoided {
                        choice = Some((w, *key));
                        break 'workers;
                    }
                }
            }
            let Some((w, key)) = choice else { break };
            self.ready.remove(&key);
            self.idle.remove(&w);
            let id = key.2;
            let now = now_ms();
            let attempt = self.store.assign(&id, &worker_name(w), now, now + self.cfg.task_timeout.as_millis() as u64)?;
            self.running.insert(id, Running { worker: w, attempt, deadline: Instant::now() + self.cfg.task_timeout });
            let _ = self.workers[w].send(Job { id, attempt });
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

async fn worker(
    w: usize,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    events: mpsc::UnboundedSender<Event>,
    store: Arc<Store>,
    prover: Arc<dyn Prover>,
    miner: [u8; 20],
) {
    while let Some(Job { id, attempt }) = jobs.recv().await {
        let span = info_span!("task", task = %id, worker = w, attempt);
        let result = async {
            let started = Instant::now();
            let r = match input(&store, &id) {
                Ok(input) => prover.prove(&id.key(), input, miner).await,
                Err(e) => Err(e.to_string()),
            };
            debug!(ok = r.is_ok(), elapsed_ms = started.elapsed().as_millis() as u64, "job finished");
            r
        }
        .instrument(span)
        .await;
        if events.send(Event::Done { worker: w, id, attempt, result }).is_err() {
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

    fn store_with(sequences: &[(u64, u32)]) -> (tempfile::TempDir, Arc<Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb"), &crate::test_identity()).unwrap());
        for &(f, n) in sequences {
            let seq = Sequence {
                init_batch: f - n as u64,
                final_batch: f,
                acc_input_hash: [0; 32],
                commitments: vec![[0; 32]; n as usize],
                seen_block: 0,
                status: SequenceStatus::Proving,
                closed_block: None,
            };
            store.add_sequence(&seq, &vec![b"w".to_vec(); n as usize]).unwrap();
        }
        (dir, store)
    }

    /// Runs the generator until `finals` final proofs are out (or a second passes with none).
    async fn run(store: &Arc<Store>, prover: Arc<Scripted>, cfg: GeneratorConfig, finals: usize) -> Vec<u64> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(false);
        let (_head_tx, head) = watch::channel(0);
        let (_h, task) = spawn(store.clone(), prover, [1; 20], cfg, tx, head, stop_rx).unwrap();
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

    fn cfg(workers: usize) -> GeneratorConfig {
        GeneratorConfig { workers, task_timeout: Duration::from_secs(30), max_attempts: 3 }
    }

    fn id(f: u64, k: TaskKind) -> String {
        TaskId::new(f, k).to_string()
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
