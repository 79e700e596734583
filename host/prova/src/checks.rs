//! What `prova node --check` checks, and what every start checks before it writes anything: a
//! node that would lose stake or burn gas for nothing refuses to start, with one line saying why.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use prova_chain::contracts::{Deployment, RollupConfig, gas};
use prova_chain::deployment::{DeploymentFile, check_addresses};
use prova_chain::rpc::{RpcConfig, RpcReader};
use prova_chain::units::{format_ether, format_gwei};
use prova_chain::{Address, BaseChain, RevertKind, U256};
use prova_runtime::Plugin;

/// Commit-and-reveal pairs the miner's balance must pay for at start, at twice today's gas
/// price (an EIP-1559 fee cap allows the base fee to double): ten sequences of headroom before
/// a refill, so that a node never commits a proof it cannot afford to reveal.
pub const GAS_RESERVE_PAIRS: u64 = 10;
/// The sequence size the reserve is priced for (the dev sequencer posts 1 to 4 batches).
pub const GAS_RESERVE_BATCHES: u64 = 4;

/// What [`GAS_RESERVE_PAIRS`] pairs of [`GAS_RESERVE_BATCHES`]-batch sequences cost at
/// `gas_price` wei per gas, doubled.
pub fn gas_reserve(gas_price: u128) -> U256 {
    U256::from(GAS_RESERVE_PAIRS * (gas::COMMIT + gas::reveal(GAS_RESERVE_BATCHES))) * U256::from(gas_price) * U256::from(2)
}

/// Where `[chain] deployment` points: a deployment file (`prova chain deploy`), or the four
/// addresses inline.
#[derive(Debug, Clone)]
pub enum DeploymentSource {
    File(PathBuf),
    Inline(Deployment),
}

impl DeploymentSource {
    /// `deployment = "deployment.json"` or a `[chain.deployment]` table.
    pub fn from_toml(v: toml::Value) -> Result<Self> {
        match v {
            toml::Value::String(path) => Ok(Self::File(path.into())),
            t @ toml::Value::Table(_) => {
                let d: Deployment =
                    t.try_into().map_err(|e: toml::de::Error| anyhow::anyhow!("[chain.deployment]: {}", e.message().trim()))?;
                Ok(Self::Inline(d))
            }
            other => bail!("[chain] deployment must be a file name or a table of addresses, not a {}", other.type_str()),
        }
    }
}

/// A rollup's registration, or one line saying it does not exist.
pub async fn registered(deployment: &Deployment, chain: &dyn BaseChain, rollup: u32) -> Result<RollupConfig> {
    match deployment.rollup_config(chain, rollup).await {
        Ok(c) => Ok(c),
        Err(e) if e.revert_kind() == Some(RevertKind::UnknownRollup) => {
            bail!(
                "rollup {rollup} is not registered on manager {} (rollup ids start at 1; `prova rollup show --rollup N` shows one)",
                deployment.manager
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// A chain as the checks found it.
pub struct CheckedChain {
    pub reader: RpcReader,
    pub deployment: Deployment,
    /// One line per check passed.
    pub lines: Vec<String>,
}

/// The chain's checks: the RPC answers, and the contracts are the deployment's.
pub async fn chain(url: &str, source: &DeploymentSource) -> Result<CheckedChain> {
    let mut lines = vec![];
    let reader = RpcReader::connect(url, RpcConfig::default()).await?;
    lines.push(format!("RPC {url} answers: chain {}", reader.chain_id()));
    let deployment = match source {
        DeploymentSource::File(path) => {
            let file = DeploymentFile::read(path)?;
            file.check(&reader).await?;
            lines.push(format!("contracts of {} are deployed as recorded (code hashes match)", path.display()));
            file.deployment()
        }
        DeploymentSource::Inline(d) => {
            check_addresses(&reader, d).await?;
            lines.push("contracts have code, and the manager uses the configured stake contract".into());
            *d
        }
    };
    Ok(CheckedChain { reader, deployment, lines })
}

/// A rollup's checks on a checked chain: registered, the plugin's verifying key and verifier
/// are the registered ones, and the miner's stake is enough; one line per check passed.
pub async fn rollup(c: &CheckedChain, rollup: u32, miner: Address, plugin: &Plugin) -> Result<Vec<String>> {
    let (reader, deployment) = (&c.reader, &c.deployment);
    let mut lines = vec![];
    let config = registered(deployment, reader, rollup).await?;
    let (t1, t2) = deployment.windows(reader, rollup).await?;
    lines.push(format!("rollup {rollup} is registered (T1 {t1}, T2 {t2} blocks, sequencer {})", config.sequencer));
    let name = &plugin.metadata().name;
    let vk = plugin.metadata().verifying_key.as_deref().with_context(|| format!("plugin {name} has no verifying key"))?;
    if vk != config.verifying_key.as_ref() {
        bail!(
            "plugin {name}'s verifying key is not the one registered for rollup {rollup}: its proofs would fail on chain and \
             the miner would be slashed (use the keys the rollup registered)"
        );
    }
    lines.push(format!("plugin {name}'s verifying key is the one registered"));
    lines.push(check_verifier(reader, deployment, rollup, &config, plugin).await?);
    let (stake, min) = (deployment.stake_of(reader, miner).await?, deployment.rollup_state(reader, rollup).await?.min_stake);
    if stake < min {
        bail!(
            "miner {miner} has {} ETH staked; rollup {rollup} needs {} ETH to commit (`prova stake deposit --amount {}`)",
            format_ether(stake),
            format_ether(min),
            format_ether(min - stake)
        );
    }
    lines.push(format!("miner {miner} has {} ETH staked (minimum {} ETH)", format_ether(stake), format_ether(min)));
    Ok(lines)
}

/// The miner holds enough for [`GAS_RESERVE_PAIRS`] commits and reveals per rollup served on
/// the chain, at twice today's gas price.
pub async fn gas(c: &CheckedChain, miner: Address, rollups: u64) -> Result<String> {
    let (gas, price) = (c.reader.balance(miner).await?, c.reader.gas_price().await?);
    let need = gas_reserve(price) * U256::from(rollups.max(1));
    let per = if rollups > 1 { format!(" for each of {rollups} rollups") } else { String::new() };
    if gas < need {
        bail!(
            "miner {miner} has {} ETH for gas; at {} gwei per gas, {GAS_RESERVE_PAIRS} commits and reveals of {GAS_RESERVE_BATCHES}-batch sequences{per} need {} ETH",
            format_ether(gas),
            format_gwei(U256::from(price)),
            format_ether(need)
        );
    }
    Ok(format!(
        "miner {miner} has {} ETH for gas ({GAS_RESERVE_PAIRS} commits and reveals{per} need {})",
        format_ether(gas),
        format_ether(need)
    ))
}

/// The rollup's registered verifier runs what the plugin names: the deployment's standard
/// verifier, or the plugin's own contract (the deployed code equals what its creation code
/// deploys, run as a call on this chain). Another verifier would judge the miner's proofs by
/// other rules, and a false or reverted judgement is a slash.
async fn check_verifier(reader: &RpcReader, d: &Deployment, rollup: u32, config: &RollupConfig, plugin: &Plugin) -> Result<String> {
    let name = &plugin.metadata().name;
    let at = config.verifier;
    match plugin.metadata().own_verifier() {
        None if at == d.verifier => Ok(format!("rollup {rollup}'s proofs are checked by the standard verifier, as plugin {name} expects")),
        None => bail!(
            "rollup {rollup}'s proofs are checked by {at}, not by the deployment's standard verifier {}: plugin {name} makes proofs for \
             the standard one (a plugin with its own verifier names it; register the rollup with `prova rollup register`)",
            d.verifier
        ),
        Some(creation) => {
            let expected = reader.code_created_by(creation.to_vec().into()).await?;
            if expected.is_empty() || reader.code(at).await? != expected {
                bail!(
                    "rollup {rollup}'s verifier {at} does not run plugin {name}'s own verifier contract: its proofs would be \
                     judged by other code (register the rollup with this plugin: `prova rollup register --plugin {name}`)"
                );
            }
            Ok(format!("rollup {rollup}'s verifier {at} runs plugin {name}'s own contract"))
        }
    }
}

#[cfg(test)]
mod tests {
    use prova_chain::rpc::RpcReader;
    use prova_dev::DevParams;
    use prova_runtime::Limits;
    use prova_tests::chain::{ADMIN, AnvilWorld, rpc_config};

    use super::*;

    /// On a real anvil: each plugin passes with the verifier it names and is refused with the
    /// other, whether the other is the standard verifier or a plugin's own deployment.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_registered_verifier_must_run_what_the_plugin_names() {
        let w = AnvilWorld::start(DevParams::default(), 1, 1, 1).await;
        let d = w.world.deployment;
        let tally_dir = prova_tests::plugin_dir(&[("tally-groth16", prova_tests::plugins::TALLY_GROTH16)]);
        let runtime = prova_tests::runtime_with(Limits::default(), None);
        let tally = runtime.load(&tally_dir.path().join("tally-groth16.wasm")).unwrap();
        let own = d.verifier_for(w.chain(ADMIN).await.as_ref(), tally.metadata().own_verifier()).await.unwrap();
        assert_ne!(own, d.verifier, "the plugin's own contract is a deployment of its own");
        let reader = RpcReader::connect(&w.anvil.endpoint(), rpc_config()).await.unwrap();
        let config = |verifier| RollupConfig {
            verifier,
            verifying_key: Default::default(),
            sequencer: Address::ZERO,
            genesis_state_root: Default::default(),
            registered_at: 0,
        };
        let check = |p, at| {
            let (reader, d) = (&reader, &d);
            async move { check_verifier(reader, d, 1, &config(at), p).await.map_err(|e| e.to_string()) }
        };
        assert!(check(&w.plugin, d.verifier).await.unwrap().contains("checked by the standard verifier"));
        assert!(check(&tally, own).await.unwrap().contains("runs plugin tally-groth16's own contract"));
        let e = check(&w.plugin, own).await.unwrap_err();
        assert!(e.contains("not by the deployment's standard verifier"), "{e}");
        let e = check(&tally, d.verifier).await.unwrap_err();
        assert!(e.contains("does not run plugin tally-groth16's own verifier contract"), "{e}");
        // An address without code is no verifier.
        let e = check(&tally, Address::repeat_byte(0x42)).await.unwrap_err();
        assert!(e.contains("does not run"), "{e}");
    }
}
