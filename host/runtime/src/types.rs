//! The public types of plugin calls: stages, metadata, statements, claims and the adapter's
//! own errors, independent of any WIT version (each bindings module converts into these).

/// A stage of a sequence's proof pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Batch,
    Aggregate,
    Final,
}

impl std::str::FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "batch" => Ok(Stage::Batch),
            "aggregate" => Ok(Stage::Aggregate),
            "final" => Ok(Stage::Final),
            _ => Err(format!("unknown stage {s:?} (batch, aggregate or final)")),
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Batch => "batch",
            Stage::Aggregate => "aggregate",
            Stage::Final => "final",
        })
    }
}

/// The contract that checks a plugin's final proofs on chain (WIT `verifier`; 0.2 plugins are
/// always [`Verifier::Groth16Batch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verifier {
    /// The standard `Groth16BatchVerifier`, one deployment per chain.
    Groth16Batch,
    /// The plugin's own contract: EVM creation bytecode, deployed per rollup.
    Contract(Vec<u8>),
}

impl std::fmt::Display for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verifier::Groth16Batch => f.write_str("the standard Groth16BatchVerifier"),
            Verifier::Contract(code) => write!(f, "its own contract ({} bytes of creation code)", code.len()),
        }
    }
}

/// What a plugin says about itself (`metadata` export).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginMetadata {
    pub name: String,
    pub rollup_type: String,
    pub wit_version: String,
    pub proof_system: String,
    pub verifying_key: Option<Vec<u8>>,
    pub memory_bytes: u64,
    pub max_batches: u32,
    pub key_sections: Vec<String>,
    pub verifier: Verifier,
}

impl PluginMetadata {
    /// The creation bytecode of the plugin's own verifier contract, if it names one.
    pub fn own_verifier(&self) -> Option<&[u8]> {
        match &self.verifier {
            Verifier::Groth16Batch => None,
            Verifier::Contract(code) => Some(code),
        }
    }
}

/// What a batch witness states (`inspect-batch` export).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchStatement {
    pub old_state_root: Vec<u8>,
    pub new_state_root: Vec<u8>,
    pub commitment: Vec<u8>,
}

/// What a verified proof claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub stage: Stage,
    pub old_state_root: Vec<u8>,
    pub new_state_root: Vec<u8>,
    pub batch_commitments: Vec<Vec<u8>>,
    pub prover: Vec<u8>,
}

/// An error the adapter itself returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("check failed: {0}")]
    Unsatisfied(String),
    #[error("adapter internal error: {0}")]
    Internal(String),
}
