//! A real anvil with the reference rollup deployed, for the node's end-to-end tests: dev
//! accounts as RPC chains (each with its own outbox), a dev sequencer, and miners started in
//! this process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::node_bindings::{Anvil, AnvilInstance};
use prova_chain::contracts::PostedSequence;
use prova_chain::dev::{anvil_bin, dev_signer};
use prova_chain::rpc::{RpcChain, RpcConfig};
use prova_chain::{BaseChain, U256};
use prova_dev::{self as dev, DevParams, DevRollup, DevSequencer, ETH, Miner, MinerConfig};
use prova_node::generator::GeneratorConfig;
use prova_node::upkeep::UpkeepConfig;
use prova_runtime::{Limits, Plugin, Runtime};

/// Dev accounts by role (anvil's keys): 0 admin, 1-3 miners, 4 sequencer, 5 a bystander.
pub const ADMIN: usize = 0;
pub const SEQUENCER: usize = 4;

pub struct AnvilWorld {
    pub anvil: AnvilInstance,
    pub dir: tempfile::TempDir,
    /// The plugin folder (component and dev keys), for `prova --plugins`.
    pub plugin_dir: tempfile::TempDir,
    pub plugin: Arc<Plugin>,
    pub world: DevRollup,
    pub params: DevParams,
    pub sequencer: tokio::sync::Mutex<DevSequencer>,
    chains: Mutex<HashMap<usize, Arc<RpcChain>>>,
    _runtime: Runtime,
}

/// Receipt waits and polling sized for anvil's 1-second blocks.
pub fn rpc_config() -> RpcConfig {
    RpcConfig { poll: Duration::from_millis(50), receipt_timeout: Duration::from_secs(5), ..RpcConfig::default() }
}

impl AnvilWorld {
    /// anvil mining a block every second, the contracts, the reference rollup registered with
    /// `params`, and a sequencer holding `sample` batches posted `1..=max_batches` at a time.
    pub async fn start(params: DevParams, sample: u32, max_batches: usize, seed: u64) -> Self {
        Self::start_with(("transfer-groth16", crate::plugins::TRANSFER_GROTH16), 31337, params, sample, max_batches, seed).await
    }

    /// [`AnvilWorld::start`] with another plugin (name and component) and chain id.
    pub async fn start_with(
        (name, component): (&str, &str),
        chain_id: u64,
        params: DevParams,
        sample: u32,
        max_batches: usize,
        seed: u64,
    ) -> Self {
        let bin = anvil_bin();
        assert!(bin.exists(), "anvil not found at {} (run `npm ci --prefix tools`, as scripts/test.sh does)", bin.display());
        let anvil = Anvil::new()
            .path(bin)
            .block_time(1)
            .chain_id(chain_id)
            .args(["--hardfork", "cancun", "--host", "127.0.0.1"])
            .try_spawn()
            .expect("anvil starts");
        let dir = tempfile::tempdir().unwrap();
        let plugin_dir = crate::keyed_dir(&[(name, component)]);
        let runtime = crate::runtime_with(Limits::default(), Some(&dir.path().join("cwasm")));
        let plugin = Arc::new(runtime.load(&plugin_dir.path().join(format!("{name}.wasm"))).expect("plugin loads"));
        let sequencer = DevSequencer::new(&plugin, seed, sample, max_batches).expect("sample");
        let mut w = Self {
            anvil,
            dir,
            plugin_dir,
            plugin,
            world: DevRollup { deployment: Default::default(), rollup: 0 },
            params,
            sequencer: tokio::sync::Mutex::new(sequencer),
            chains: Mutex::new(HashMap::new()),
            _runtime: runtime,
        };
        let admin = w.chain(ADMIN).await;
        let genesis = w.sequencer.lock().await.genesis();
        w.world = dev::deploy_rollup(admin.as_ref(), &w.plugin, dev_signer(SEQUENCER).address(), genesis, &w.params).await.expect("deploy");
        w
    }

    /// Dev account `i` as an RPC chain (one per account: the outbox file is its nonce record).
    pub async fn chain(&self, i: usize) -> Arc<RpcChain> {
        if let Some(c) = self.chains.lock().unwrap().get(&i) {
            return c.clone();
        }
        let c = Arc::new(
            RpcChain::connect(&self.anvil.endpoint(), dev_signer(i), &self.dir.path().join(format!("outbox-{i}.redb")), rpc_config())
                .await
                .expect("connect"),
        );
        self.chains.lock().unwrap().insert(i, c.clone());
        c
    }

    pub async fn stake(&self, i: usize, eth: u128) {
        self.world.deployment.deposit(self.chain(i).await.as_ref(), U256::from(eth * ETH)).await.expect("stake");
    }

    /// Posts the next sequence.
    pub async fn post(&self) -> PostedSequence {
        let chain = self.chain(SEQUENCER).await;
        self.sequencer.lock().await.post(&self.plugin, chain.as_ref(), &self.world).await.expect("post").expect("sample left")
    }

    /// Posts `n` sequences, one every `every` blocks.
    pub async fn post_many(&self, n: usize, every: u64) -> Vec<PostedSequence> {
        let mut out = vec![];
        for _ in 0..n {
            out.push(self.post().await);
            self.wait_blocks(every).await;
        }
        out
    }

    pub async fn head(&self) -> u64 {
        self.chain(ADMIN).await.head().await.expect("head").number
    }

    pub async fn wait_blocks(&self, n: u64) {
        self.wait_until_block(self.head().await + n).await;
    }

    pub async fn wait_until_block(&self, b: u64) {
        while self.head().await < b {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn store_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name).join("node.redb")
    }

    /// A miner node for dev account `i`, in this process.
    pub async fn miner(&self, i: usize, workers: usize) -> Miner {
        self.miner_from(i, workers, 0).await
    }

    /// A miner node for dev account `i` that skips sequences ending at or below `start_batch`.
    pub async fn miner_from(&self, i: usize, workers: usize, start_batch: u64) -> Miner {
        self.miner_with(self.chain(i).await, &self.store_path(&format!("miner-{i}")), workers, start_batch, UpkeepConfig::default()).await
    }

    /// A miner node for dev account `i` with the keeper and automatic withdrawal as `upkeep` says.
    pub async fn miner_upkeeping(&self, i: usize, workers: usize, upkeep: UpkeepConfig) -> Miner {
        self.miner_with(self.chain(i).await, &self.store_path(&format!("miner-{i}")), workers, 0, upkeep).await
    }

    /// A miner node over any chain handle (a proxied one, say).
    pub async fn miner_on(&self, chain: Arc<dyn BaseChain>, store: &Path, workers: usize) -> Miner {
        self.miner_with(chain, store, workers, 0, UpkeepConfig::default()).await
    }

    async fn miner_with(&self, chain: Arc<dyn BaseChain>, store: &Path, workers: usize, start_batch: u64, upkeep: UpkeepConfig) -> Miner {
        let generator = GeneratorConfig { workers, ..GeneratorConfig::default() };
        let cfg = MinerConfig { generator, poll: Duration::from_millis(250), start_batch, upkeep };
        Miner::start(chain, &self.world, self.plugin.clone(), store, cfg).await.expect("miner starts")
    }
}
