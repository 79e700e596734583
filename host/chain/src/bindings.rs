//! ABI types of the contracts, generated from the committed forge artifacts (`artifacts/`,
//! refreshed by `contracts/artifacts.py`; CI fails when they drift from a fresh build).

#![allow(missing_docs, clippy::too_many_arguments)]

use alloy::sol;

sol!(
    #[derive(Debug)]
    Stake,
    "artifacts/Stake.json"
);
sol!(
    #[derive(Debug)]
    RollupManager,
    "artifacts/RollupManager.json"
);
sol!(
    #[derive(Debug)]
    Groth16BatchVerifier,
    "artifacts/Groth16BatchVerifier.json"
);
sol!(
    #[derive(Debug)]
    ProofPool,
    "artifacts/ProofPool.json"
);
sol!(
    #[derive(Debug)]
    ExampleRequester,
    "artifacts/ExampleRequester.json"
);
sol!(
    #[derive(Debug)]
    SimVerifier,
    "artifacts/SimVerifier.json"
);
