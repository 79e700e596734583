//! The chain commands: `prova chain deploy`, `prova rollup …`, `prova stake …`, `prova rewards …`
//! and `prova sequencer post`. Each reads the chain through a plain RPC connection first (a bad
//! URL, an unreachable node or a deployment for another chain is refused before anything is
//! written), then signs through [`RpcChain`]: its own durable outbox (one per chain and account,
//! under the state folder) and nonce manager, the ones the node uses. A command run with the
//! miner's key beside a running node does not stall it: the node's nonce manager resyncs when an
//! outside transaction takes its nonce.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use prova_chain::contracts::{Deployment, MAX_KEEPER_SHARE_BPS, RollupParams};
use prova_chain::deployment::DeploymentFile;
use prova_chain::dev::{DEV_KEYS, dev_signer};
use prova_chain::rpc::{RpcChain, RpcConfig, RpcReader};
use prova_chain::units::{format_ether, parse_ether};
use prova_chain::{Address, B256, BaseChain, Bytes, PrivateKeySigner};
use prova_runtime::Plugin;
use serde_json::json;

use crate::checks::registered;
use crate::cli::{ChainCommand, ChainOpts, RewardsCommand, RollupCommand, SequencerCommand, StakeCommand};

/// Chain ids of local dev chains (anvil, hardhat, ganache), where the publicly known dev keys
/// may sign. On any other chain they would sign with a key the whole world has.
const DEV_CHAIN_IDS: [u64; 2] = [31_337, 1_337];

/// A connection for one command: reads, and a signer once one is needed.
struct Session {
    opts: ChainOpts,
    reader: RpcReader,
}

impl Session {
    async fn open(opts: &ChainOpts) -> Result<Self> {
        let reader = RpcReader::connect(&opts.rpc_url, RpcConfig::default()).await?;
        Ok(Self { opts: opts.clone(), reader })
    }

    fn chain_id(&self) -> u64 {
        self.reader.chain_id()
    }

    /// The deployment file, checked against this chain (chain id, code, wiring).
    async fn deployment(&self) -> Result<Deployment> {
        let file = DeploymentFile::read(&self.opts.deployment)
            .map_err(|e| anyhow::anyhow!("{e} (write one with `prova chain deploy`, or pass --deployment)"))?;
        file.check(&self.reader).await?;
        Ok(file.deployment())
    }

    fn signer(&self) -> Result<PrivateKeySigner> {
        match (&self.opts.keystore, self.opts.dev_account) {
            (Some(k), _) => crate::node::load_signer(k, self.opts.password_file.as_deref()),
            (None, Some(n)) => {
                if !DEV_CHAIN_IDS.contains(&self.chain_id()) {
                    bail!(
                        "--dev-account signs with a publicly known key: only on a dev chain (chain id 31337 or 1337), not on chain {}",
                        self.chain_id()
                    );
                }
                if n >= DEV_KEYS.len() {
                    bail!("--dev-account {n}: the dev accounts are 0 to {}", DEV_KEYS.len() - 1);
                }
                Ok(dev_signer(n))
            }
            (None, None) => bail!("this command signs: pass --keystore FILE (or PROVA_KEYSTORE), or --dev-account N on a dev chain"),
        }
    }

    /// The account a `show` command reads: `--address`, else the signing account.
    fn account(&self, address: Option<&str>) -> Result<Address> {
        match address {
            Some(a) => a.parse().map_err(|_| anyhow::anyhow!("{a:?} is not an address (0x and 40 hex digits)")),
            None => Ok(self.signer().context("no --address given")?.address()),
        }
    }

    /// A signing connection through the outbox of this chain and account.
    async fn signing(&self) -> Result<RpcChain> {
        let signer = self.signer()?;
        let dir = match &self.opts.state_dir {
            Some(d) => d.clone(),
            None => default_state_dir()?,
        };
        create_private_dir(&dir)?;
        let outbox = dir.join(format!("outbox-{}-{}.redb", self.chain_id(), signer.address()));
        let cfg = RpcConfig { receipt_timeout: Duration::from_secs(36), ..RpcConfig::default() };
        Ok(RpcChain::connect(&self.opts.rpc_url, signer, &outbox, cfg).await?)
    }

    fn print(&self, human: String, value: serde_json::Value) {
        if self.opts.json {
            println!("{value}");
        } else {
            println!("{human}");
        }
    }
}

fn default_state_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_STATE_HOME") {
        return Ok(PathBuf::from(d).join("prova"));
    }
    let home = std::env::var_os("HOME").context("no HOME: pass --state-dir")?;
    Ok(PathBuf::from(home).join(".local/state/prova"))
}

/// A folder only this user can enter (it holds the outboxes: signed transactions).
fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).with_context(|| format!("cannot create {}", dir.display()))
}

pub(crate) fn eth(s: &str, what: &str) -> Result<prova_chain::U256> {
    parse_ether(s).map_err(|e| anyhow::anyhow!("{what} {s:?} is not an amount of ETH: {e}"))
}

/// An amount to move: the contracts refuse zero, so it is refused before anything is sent.
pub(crate) fn positive_eth(s: &str, what: &str) -> Result<prova_chain::U256> {
    let v = eth(s, what)?;
    if v.is_zero() {
        bail!("{what} must be more than 0");
    }
    Ok(v)
}

fn root(s: &str) -> Result<B256> {
    s.parse().map_err(|_| anyhow::anyhow!("{s:?} is not a state root (0x and 64 hex digits)"))
}

fn block_on<F: std::future::Future<Output = Result<()>>>(f: F) -> Result<()> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(f)
}

pub fn chain(c: &ChainCommand) -> Result<()> {
    let ChainCommand::Deploy { chain, withdraw_delay } = c;
    block_on(async {
        let s = Session::open(chain).await?;
        let out = &chain.deployment;
        if out.exists() {
            bail!("{} exists: refusing to overwrite a deployment file (pass --deployment NEW.json)", out.display());
        }
        if *withdraw_delay == 0 {
            bail!("--withdraw-delay must be at least 1 block (and above every rollup's T1 + T2)");
        }
        // The file's folder must take it before anything is deployed: a deployment whose
        // addresses were not written down is lost money.
        let folder = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(folder).with_context(|| format!("cannot write in {}", folder.display()))?;
        let admin = s.signing().await?;
        let from_block = admin.head().await?.number;
        let deployment = Deployment::deploy(&admin, *withdraw_delay).await?;
        let file = DeploymentFile::capture(&admin, deployment, from_block).await?;
        use std::io::Write;
        tmp.write_all(file.to_json().as_bytes())
            .map_err(anyhow::Error::from)
            .and_then(|()| tmp.persist_noclobber(out).map(drop).map_err(|e| e.error.into()))
            .with_context(|| format!("deployed as {deployment:?}, but cannot write {}", out.display()))?;
        s.print(
            format!(
                "deployed on chain {} (from block {from_block}); written to {}\n  stake    {}\n  manager  {}\n  verifier {}\n  pool     {}",
                file.chain_id,
                out.display(),
                file.stake,
                file.manager,
                file.verifier,
                file.pool
            ),
            serde_json::to_value(file)?,
        );
        Ok(())
    })
}

pub fn rollup(c: &RollupCommand, plugin: impl FnOnce(Option<&str>) -> Result<Plugin>) -> Result<()> {
    match c {
        RollupCommand::Register {
            chain,
            plugin: name,
            sequencer,
            t1,
            t2,
            reward,
            min_stake,
            incorrect_proof_punish,
            no_proof_punish,
            keeper_share_bps,
            verifier_gas_unit,
            genesis_root,
            sample_seed,
        } => {
            // Every argument is checked before the chain is touched.
            let sequencer: Address = sequencer.parse().map_err(|_| anyhow::anyhow!("--sequencer {sequencer:?} is not an address"))?;
            let (reward, min_stake) = (eth(reward, "--reward")?, eth(min_stake, "--min-stake")?);
            let (bad_proof, no_proof) =
                (eth(incorrect_proof_punish, "--incorrect-proof-punish")?, eth(no_proof_punish, "--no-proof-punish")?);
            if *keeper_share_bps > MAX_KEEPER_SHARE_BPS {
                bail!("--keeper-share-bps {keeper_share_bps} is above {MAX_KEEPER_SHARE_BPS} (half of the slash): the contract refuses it");
            }
            let p = plugin(name.as_deref())?;
            let name = &p.metadata().name;
            let vk = p
                .metadata()
                .verifying_key
                .clone()
                .with_context(|| format!("plugin {name} has no verifying key: run `prova plugins setup --plugin {name}` first"))?;
            let genesis = match genesis_root {
                Some(r) => root(r)?,
                None => sample_genesis(&p, *sample_seed)?,
            };
            block_on(async {
                let s = Session::open(chain).await?;
                let d = s.deployment().await?;
                let delay = d.withdraw_delay(&s.reader).await?;
                let windows = t1.checked_add(*t2).filter(|_| *t1 > 0 && *t2 > 0).context("T1 and T2 must be at least 1 block each")?;
                if windows >= delay {
                    bail!(
                        "T1 + T2 = {windows} blocks must stay below the stake withdrawal delay ({delay} blocks), or a miner could \
                         withdraw before its commitment is settled"
                    );
                }
                let admin = s.signing().await?;
                let verifier = d.verifier_for(&admin, p.metadata().own_verifier()).await?;
                let params = RollupParams {
                    verifier,
                    verifyingKey: Bytes::from(vk),
                    sequencer,
                    genesisStateRoot: genesis,
                    t1: *t1,
                    t2: *t2,
                    rewardPerSequence: reward,
                    minStake: min_stake,
                    incorrectProofPunishAmount: bad_proof,
                    noProofPunishAmount: no_proof,
                    verifierGasUnit: *verifier_gas_unit,
                    keeperShareBps: *keeper_share_bps,
                };
                let id = d.register_rollup(&admin, params).await?;
                s.print(
                    format!(
                        "rollup {id} registered (plugin {name}, T1 {t1}, T2 {t2}, genesis {genesis}, verifier {verifier}: {}); fund \
                         it with `prova rollup fund`",
                        p.metadata().verifier
                    ),
                    json!({ "rollup": id, "genesis_root": genesis, "t1": t1, "t2": t2, "verifier": verifier }),
                );
                Ok(())
            })
        }
        RollupCommand::Fund { chain, rollup, amount } => {
            let amount = positive_eth(amount, "--amount")?;
            block_on(async {
                let s = Session::open(chain).await?;
                let d = s.deployment().await?;
                registered(&d, &s.reader, *rollup).await?;
                d.fund_rewards(&s.signing().await?, *rollup, amount).await?;
                let pool = d.rollup_state(&s.reader, *rollup).await?.reward_pool;
                s.print(
                    format!("rollup {rollup}: reward pool now {} ETH", format_ether(pool)),
                    json!({ "rollup": rollup, "reward_pool_wei": pool.to_string() }),
                );
                Ok(())
            })
        }
        RollupCommand::Show { chain, rollup } => block_on(async {
            let s = Session::open(chain).await?;
            let d = s.deployment().await?;
            let cfg = registered(&d, &s.reader, *rollup).await?;
            let st = d.rollup_state(&s.reader, *rollup).await?;
            let (t1, t2) = d.windows(&s.reader, *rollup).await?;
            let pun = d.punishments(&s.reader, *rollup).await?;
            s.print(
                format!(
                    "rollup {rollup}\n  last sequenced batch  {}\n  last verified batch   {}\n  state root            {}\n  reward pool           {} \
                     ETH\n  reward per sequence   {} ETH\n  minimum stake         {} ETH\n  windows               T1 {t1}, T2 {t2} \
                     blocks\n  punishments           {} ETH for a bad proof, {} ETH for no reveal, {}% of it to the keeper\n  sequencer             {}\n  verifier              {}\n  genesis root          {}\n  registered at block   {}",
                    st.last_sequenced_batch,
                    st.last_verified_batch,
                    st.state_root,
                    format_ether(st.reward_pool),
                    format_ether(st.reward_per_sequence),
                    format_ether(st.min_stake),
                    format_ether(pun.incorrect_proof),
                    format_ether(pun.no_proof),
                    f64::from(pun.keeper_share_bps) / 100.0,
                    cfg.sequencer,
                    cfg.verifier,
                    cfg.genesis_state_root,
                    cfg.registered_at,
                ),
                json!({
                    "rollup": rollup,
                    "last_sequenced_batch": st.last_sequenced_batch,
                    "last_verified_batch": st.last_verified_batch,
                    "state_root": st.state_root,
                    "reward_pool_wei": st.reward_pool.to_string(),
                    "reward_per_sequence_wei": st.reward_per_sequence.to_string(),
                    "min_stake_wei": st.min_stake.to_string(),
                    "t1": t1,
                    "t2": t2,
                    "incorrect_proof_punish_wei": pun.incorrect_proof.to_string(),
                    "no_proof_punish_wei": pun.no_proof.to_string(),
                    "keeper_share_bps": pun.keeper_share_bps,
                    "sequencer": cfg.sequencer,
                    "verifier": cfg.verifier,
                    "genesis_root": cfg.genesis_state_root,
                    "registered_at": cfg.registered_at,
                }),
            );
            Ok(())
        }),
    }
}

pub fn stake(c: &StakeCommand) -> Result<()> {
    match c {
        StakeCommand::Deposit { chain, amount } | StakeCommand::RequestWithdraw { chain, amount } => {
            let amount = positive_eth(amount, "--amount")?;
            block_on(async {
                let s = Session::open(chain).await?;
                let d = s.deployment().await?;
                if let StakeCommand::RequestWithdraw { .. } = c {
                    let active = d.stake_account(&s.reader, s.signer()?.address()).await?.active;
                    if amount > active {
                        bail!("only {} ETH is active stake; cannot request {} ETH", format_ether(active), format_ether(amount));
                    }
                }
                let me = s.signing().await?;
                if matches!(c, StakeCommand::Deposit { .. }) {
                    d.deposit(&me, amount).await?;
                } else {
                    d.request_withdraw(&me, amount).await?;
                }
                print_stake(&s, &d, me.sender()).await
            })
        }
        StakeCommand::Withdraw { chain } => block_on(async {
            let s = Session::open(chain).await?;
            let d = s.deployment().await?;
            let a = d.stake_account(&s.reader, s.signer()?.address()).await?;
            if a.pending.is_zero() {
                bail!("nothing to withdraw: request it first with `prova stake request-withdraw --amount ETH`");
            }
            let head = s.reader.head().await?.number;
            if head < a.unlock_block {
                bail!("{} ETH pending, withdrawable from block {} (now {head})", format_ether(a.pending), a.unlock_block);
            }
            if a.locks != 0 {
                bail!("{} open commitment(s) lock the stake until they are settled", a.locks);
            }
            let me = s.signing().await?;
            d.withdraw_stake(&me).await?;
            print_stake(&s, &d, me.sender()).await
        }),
        StakeCommand::Show { chain, address } => block_on(async {
            let s = Session::open(chain).await?;
            let d = s.deployment().await?;
            print_stake(&s, &d, s.account(address.as_deref())?).await
        }),
    }
}

async fn print_stake(s: &Session, d: &Deployment, who: Address) -> Result<()> {
    let a = d.stake_account(&s.reader, who).await?;
    s.print(
        format!(
            "{who}: {} ETH active, {} ETH pending (withdrawable from block {}), {} open commitment(s)",
            format_ether(a.active),
            format_ether(a.pending),
            a.unlock_block,
            a.locks
        ),
        json!({
            "address": who,
            "active_wei": a.active.to_string(),
            "pending_wei": a.pending.to_string(),
            "unlock_block": a.unlock_block,
            "open_commitments": a.locks,
        }),
    );
    Ok(())
}

pub fn rewards(c: &RewardsCommand) -> Result<()> {
    block_on(async {
        match c {
            RewardsCommand::Show { chain, address } => {
                let s = Session::open(chain).await?;
                let d = s.deployment().await?;
                let who = s.account(address.as_deref())?;
                let r = d.rewards_of(&s.reader, who).await?;
                s.print(format!("{who}: {} ETH in rewards", format_ether(r)), json!({ "address": who, "rewards_wei": r.to_string() }));
            }
            RewardsCommand::Withdraw { chain } => {
                let s = Session::open(chain).await?;
                let d = s.deployment().await?;
                let me = s.signing().await?;
                if d.rewards_of(&s.reader, me.sender()).await?.is_zero() {
                    bail!("{} has no rewards to withdraw", me.sender());
                }
                let amount = d.withdraw_rewards(&me).await?;
                s.print(
                    format!("withdrew {} ETH in rewards to {}", format_ether(amount), me.sender()),
                    json!({ "address": me.sender(), "withdrawn_wei": amount.to_string() }),
                );
            }
        }
        Ok(())
    })
}

/// The state root before the plugin's sample batches from `seed`.
fn sample_genesis(p: &Plugin, seed: u64) -> Result<B256> {
    Ok(prova_dev::DevSequencer::new(p, seed, 1, 1)?.genesis())
}

pub fn sequencer(c: &SequencerCommand, plugin: impl FnOnce(Option<&str>) -> Result<Plugin>) -> Result<()> {
    let SequencerCommand::Post { chain, rollup, plugin: name, sample_seed, batches, files } = c;
    if sample_seed.is_none() && files.is_empty() {
        bail!("nothing to post: give batch witness files, or --sample-seed S --batches N");
    }
    let p = plugin(name.as_deref())?;
    let mut witnesses = vec![];
    for f in files {
        witnesses.push(std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?);
    }
    block_on(async {
        let s = Session::open(chain).await?;
        let d = s.deployment().await?;
        let sequencer = registered(&d, &s.reader, *rollup).await?.sequencer;
        if let Some(seed) = sample_seed {
            if *batches == 0 || *batches > 64 {
                bail!("--batches must be 1 to 64 (the contract's limit per sequence)");
            }
            // The sample continues where the chain stands: batch i of the sample is batch i + 1.
            let done = d.rollup_state(&s.reader, *rollup).await?.last_sequenced_batch;
            let total = u32::try_from(done).ok().and_then(|d| d.checked_add(*batches)).context("sample too long")?;
            witnesses = p.sample_sequence(total, *seed)?.split_off(done as usize);
        }
        let mut commitments = vec![];
        for (i, w) in witnesses.iter().enumerate() {
            let st = p.inspect_batch(&format!("batch {i}"), w).map_err(|e| anyhow::anyhow!("batch {i} is not a valid witness: {e}"))?;
            commitments.push(B256::from_slice(&st.commitment));
        }
        let data = witnesses.into_iter().map(Bytes::from).collect();
        let signer = s.signer()?.address();
        if signer != sequencer {
            bail!("{signer} is not the sequencer of rollup {rollup} ({sequencer})");
        }
        let me = s.signing().await?;
        let posted = d.sequence_batches(&me, *rollup, commitments, data).await?;
        s.print(
            format!("posted batches {}..={} of rollup {rollup}", posted.init_num_batch + 1, posted.final_new_batch),
            json!({ "rollup": rollup, "init_num_batch": posted.init_num_batch, "final_new_batch": posted.final_new_batch }),
        );
        Ok(())
    })
}

/// `prova plugins inspect-batch`: roots and commitment of a witness file.
pub fn inspect_batch(p: &Plugin, file: &Path) -> Result<()> {
    let w = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let st = p.inspect_batch("inspect", &w).map_err(|e| anyhow::anyhow!("{} is not a valid batch witness: {e}", file.display()))?;
    println!("old state root  0x{}", hex::encode(&st.old_state_root));
    println!("new state root  0x{}", hex::encode(&st.new_state_root));
    println!("commitment      0x{}", hex::encode(&st.commitment));
    Ok(())
}
