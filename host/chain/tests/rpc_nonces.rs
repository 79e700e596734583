//! `RpcChain`'s nonces on a real anvil (spawned from tools/): they heal after a transaction sent
//! from outside with the same key, an ambiguous broadcast keeps its nonce, a stuck transaction
//! is re-signed with higher fees, a freed nonce below a taken one is filled, and a node that
//! never answers is an error within `request_timeout`, not a hang. Loopback only.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use alloy::consensus::Transaction as _;
use alloy::network::TransactionBuilder;
use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::providers::ext::AnvilApi;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::transports::http::reqwest;
use prova_chain::dev::{anvil_bin, dev_signer};
use prova_chain::outbox::Outbox;
use prova_chain::rpc::{RpcChain, RpcConfig};
use prova_chain::{B256, BaseChain, Bytes, ChainError, TxRequest, U256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn anvil() -> AnvilInstance {
    let bin = anvil_bin();
    assert!(bin.exists(), "anvil not found at {} (run `npm ci --prefix tools`, as scripts/test.sh does)", bin.display());
    Anvil::new().path(bin).args(["--hardfork", "cancun", "--host", "127.0.0.1"]).try_spawn().expect("anvil starts")
}

fn cfg() -> RpcConfig {
    RpcConfig {
        poll: Duration::from_millis(20),
        receipt_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

async fn connect(url: &str, outbox: &Path, cfg: RpcConfig) -> RpcChain {
    RpcChain::connect(url, dev_signer(1), outbox, cfg).await.expect("connect")
}

fn transfer(purpose: &str) -> TxRequest {
    TxRequest { to: Some(dev_signer(5).address()), data: Bytes::new(), value: U256::from(1), purpose: purpose.into() }
}

async fn nonce_of(chain: &RpcChain, hash: B256) -> u64 {
    chain.provider().get_transaction_by_hash(hash).await.expect("rpc").expect("transaction known").nonce()
}

#[tokio::test]
async fn an_outside_transaction_from_the_same_key_does_not_stall_sends() {
    let anvil = anvil();
    let dir = tempfile::tempdir().unwrap();
    let node = connect(&anvil.endpoint(), &dir.path().join("node.redb"), cfg()).await;
    let first = node.send(transfer("first")).await.expect("first send");
    assert_eq!(nonce_of(&node, first.tx_hash).await, 0);

    // The operator withdraws with the same key from another tool, as `cast send` would.
    let outside = connect(&anvil.endpoint(), &dir.path().join("outside.redb"), cfg()).await;
    let theirs = outside.send(transfer("outside")).await.expect("outside send");
    assert_eq!(nonce_of(&node, theirs.tx_hash).await, 1);

    let second = node.send(transfer("second")).await.expect("a send after an outside transaction");
    assert_eq!(nonce_of(&node, second.tx_hash).await, 2);
    let third = node.send(transfer("third")).await.expect("and the one after");
    assert_eq!(nonce_of(&node, third.tx_hash).await, 3);
    assert!(node.reconcile().await.expect("reconcile").is_empty(), "nothing to rebroadcast");
    let nonces: Vec<u64> = node.outbox().all().unwrap().iter().map(|t| t.nonce).collect();
    assert_eq!(nonces, vec![0, 2, 3], "the refused attempt at nonce 1 left nothing behind");
}

#[tokio::test]
async fn an_entry_whose_nonce_an_outside_transaction_took_is_dropped() {
    let anvil = anvil();
    let dir = tempfile::tempdir().unwrap();
    let quick = RpcConfig { receipt_timeout: Duration::from_millis(200), max_bumps: 0, ..cfg() };
    let node = connect(&anvil.endpoint(), &dir.path().join("node.redb"), quick).await;
    node.provider().anvil_set_auto_mine(false).await.unwrap();
    let e = node.send(transfer("pending")).await.expect_err("no blocks, no receipt");
    assert!(matches!(e, ChainError::NotMined { .. }), "{e}");
    let ours = node.outbox().get(0).unwrap().expect("stored");

    // Outside, the same key replaces it at nonce 0 with a higher fee, and that one is mined.
    let wallet = ProviderBuilder::new().wallet(dev_signer(1)).connect_http(anvil.endpoint_url());
    let req = TransactionRequest::default()
        .with_to(dev_signer(4).address())
        .with_value(U256::from(2))
        .with_nonce(0)
        .with_gas_limit(21_000)
        .with_max_fee_per_gas(ours.max_fee_per_gas * 3)
        .with_max_priority_fee_per_gas(ours.max_priority_fee_per_gas * 3);
    let theirs = *wallet.send_transaction(req).await.expect("outside send").tx_hash();
    node.provider().anvil_mine(Some(1), None).await.unwrap();
    assert!(node.provider().get_transaction_receipt(theirs).await.unwrap().is_some());

    assert!(node.reconcile().await.expect("reconcile does not stall on a consumed nonce").is_empty());
    assert_eq!(node.outbox().get(0).unwrap(), None, "the entry whose nonce was consumed is dropped");
    node.provider().anvil_set_auto_mine(true).await.unwrap();
    let next = node.send(transfer("next")).await.expect("send after the outside replacement");
    assert_eq!(nonce_of(&node, next.tx_hash).await, 1);
}

/// What the proxy does to the next `eth_sendRawTransaction`.
const PASS: u8 = 0;
/// Forwards it (the node takes it) but drops the answer: the client sees a closed connection.
const LOSE_ANSWER: u8 = 1;
/// Drops it before it reaches the node.
const LOSE_REQUEST: u8 = 2;
/// Forwards it, drops the answer and stops answering anything until told otherwise.
const LOSE_ANSWER_THEN_HANG: u8 = 3;

/// An HTTP proxy on 127.0.0.1 in front of anvil that can lose a broadcast, or hang.
struct Proxy {
    url: String,
    next_send: Arc<AtomicU8>,
    hang: Arc<AtomicBool>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let next_send = Arc::new(AtomicU8::new(PASS));
        let hang = Arc::new(AtomicBool::new(false));
        let (n, h) = (next_send.clone(), hang.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, target.clone(), client.clone(), n.clone(), h.clone()));
            }
        });
        Self { url, next_send, hang }
    }

    fn next_send(&self, mode: u8) {
        self.next_send.store(mode, Ordering::SeqCst);
    }

    fn hang(&self, on: bool) {
        self.hang.store(on, Ordering::SeqCst);
    }
}

/// Serves one keep-alive connection, a request at a time.
async fn serve(mut conn: TcpStream, target: String, client: reqwest::Client, next_send: Arc<AtomicU8>, hang: Arc<AtomicBool>) {
    while let Some(body) = read_request(&mut conn).await {
        if hang.load(Ordering::SeqCst) {
            // Holds the connection and never answers.
            std::future::pending::<()>().await;
        }
        let sending = String::from_utf8_lossy(&body).contains("eth_sendRawTransaction");
        let mode = if sending { next_send.swap(PASS, Ordering::SeqCst) } else { PASS };
        if mode == LOSE_REQUEST {
            return;
        }
        let Ok(answer) = client.post(&target).header("content-type", "application/json").body(body).send().await else { return };
        let Ok(answer) = answer.bytes().await else { return };
        match mode {
            LOSE_ANSWER => return,
            LOSE_ANSWER_THEN_HANG => {
                hang.store(true, Ordering::SeqCst);
                return;
            }
            _ => {}
        }
        let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", answer.len());
        if conn.write_all(head.as_bytes()).await.is_err() || conn.write_all(&answer).await.is_err() {
            return;
        }
    }
}

/// The body of the next HTTP request on `conn` (by its content-length); `None` once closed.
async fn read_request(conn: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = vec![];
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
    let len: usize = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    while buf.len() < end + 4 + len {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(buf[end + 4..end + 4 + len].to_vec())
}

#[tokio::test]
async fn an_ambiguous_broadcast_keeps_its_nonce() {
    let anvil = anvil();
    let proxy = Proxy::start(anvil.endpoint()).await;
    let dir = tempfile::tempdir().unwrap();
    let short = RpcConfig { request_timeout: Duration::from_millis(500), ..cfg() };
    let chain = connect(&proxy.url, &dir.path().join("outbox.redb"), short).await;

    // The node takes and mines the transaction, but its answer is lost: the send keeps the
    // nonce and finds the receipt.
    proxy.next_send(LOSE_ANSWER);
    let first = chain.send(transfer("answer lost")).await.expect("an unanswered broadcast that landed is found by its receipt");
    assert_eq!(nonce_of(&chain, first.tx_hash).await, 0);
    let stored = chain.outbox().get(0).unwrap().expect("kept in the outbox");
    assert_eq!(stored.hashes, vec![first.tx_hash], "not re-signed");

    // The request itself is lost: the send broadcasts the stored bytes again.
    proxy.next_send(LOSE_REQUEST);
    let second = chain.send(transfer("request lost")).await.expect("the stored bytes are sent again");
    assert_eq!(nonce_of(&chain, second.tx_hash).await, 1);
    assert_eq!(chain.outbox().get(1).unwrap().expect("stored").hashes, vec![second.tx_hash], "the same bytes, not a new signature");

    // The answer is lost and then the node stops answering: the send fails, the entry stays.
    proxy.next_send(LOSE_ANSWER_THEN_HANG);
    let e = chain.send(transfer("answer lost, then silence")).await.expect_err("no receipt can be read");
    assert!(e.to_string().contains("timed out after 500ms"), "{e}");
    proxy.hang(false);
    let kept = chain.outbox().get(2).unwrap().expect("an ambiguous broadcast keeps its outbox entry");
    assert_eq!(kept.included, None);

    // The next send takes the next nonce (no "nonce too low", no replacement of nonce 2) ...
    let fourth = chain.send(transfer("after")).await.expect("the next send");
    assert_eq!(nonce_of(&chain, fourth.tx_hash).await, 3);
    // ... and reconcile settles nonce 2 by its receipt, without sending it again.
    let resent = chain.reconcile().await.expect("reconcile");
    assert!(resent.is_empty(), "{resent:?}");
    let settled = chain.outbox().get(2).unwrap().expect("stored");
    assert!(settled.included.is_some(), "reconcile found the receipt of the unanswered broadcast");
    assert_eq!(nonce_of(&chain, kept.hash).await, 2);
}

#[tokio::test]
async fn reconcile_bumps_a_stuck_transaction() {
    let anvil = anvil();
    let dir = tempfile::tempdir().unwrap();
    let quick = RpcConfig { receipt_timeout: Duration::from_millis(200), max_bumps: 1, ..cfg() };
    let chain = connect(&anvil.endpoint(), &dir.path().join("outbox.redb"), quick).await;
    let p = chain.provider();
    p.anvil_set_auto_mine(false).await.unwrap();
    let e = chain.send(transfer("stuck")).await.expect_err("no blocks, no receipt");
    assert!(matches!(e, ChainError::NotMined { bumps: 1, .. }), "{e}");
    let sent = chain.outbox().get(0).unwrap().expect("stored");
    assert_eq!(sent.hashes.len(), 2, "send bumped once");

    // The next block's base fee rises over the transaction's max fee: re-signed above it.
    p.anvil_set_next_block_base_fee_per_gas(sent.max_fee_per_gas + 1).await.unwrap();
    let resent = chain.reconcile().await.expect("reconcile");
    let bumped = chain.outbox().get(0).unwrap().expect("stored");
    assert_eq!(bumped.hashes.len(), 3, "re-signed");
    assert_eq!(bumped.hashes[..2], sent.hashes[..], "every earlier hash kept");
    assert!(bumped.max_fee_per_gas > 2 * (sent.max_fee_per_gas + 1), "{} vs {}", bumped.max_fee_per_gas, sent.max_fee_per_gas);
    assert!(bumped.max_priority_fee_per_gas > sent.max_priority_fee_per_gas);
    assert_eq!(resent, vec![bumped.hash]);

    // Pending past the receipt timeout: re-signed again, until 2 x (max_bumps + 1) signings.
    tokio::time::sleep(Duration::from_millis(250)).await;
    chain.reconcile().await.expect("reconcile");
    let again = chain.outbox().get(0).unwrap().expect("stored");
    assert_eq!(again.hashes.len(), 4);
    assert!(again.max_fee_per_gas > bumped.max_fee_per_gas);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(chain.reconcile().await.expect("reconcile"), vec![again.hash], "capped: the same bytes again");
    assert_eq!(chain.outbox().get(0).unwrap().expect("stored").hashes.len(), 4);

    p.anvil_mine(Some(1), None).await.unwrap();
    let receipt = p.get_transaction_receipt(again.hash).await.unwrap().expect("the last replacement is mined");
    assert!(receipt.status());
    assert!(p.get_transaction_receipt(sent.hash).await.unwrap().is_none());
    chain.reconcile().await.expect("reconcile");
    assert!(chain.outbox().get(0).unwrap().expect("stored").included.is_some());
}

#[tokio::test]
async fn a_freed_nonce_below_a_taken_one_is_filled() {
    let anvil = anvil();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.redb");
    let quick = RpcConfig { receipt_timeout: Duration::from_millis(100), max_bumps: 0, ..cfg() };
    let taken = {
        let chain = connect(&anvil.endpoint(), &path, quick.clone()).await;
        chain.provider().anvil_set_auto_mine(false).await.unwrap();
        chain.send(transfer("freed")).await.expect_err("not mined");
        chain.send(transfer("taken")).await.expect_err("not mined");
        let freed = chain.outbox().get(0).unwrap().expect("stored");
        chain.provider().anvil_drop_transaction(freed.hash).await.unwrap();
        chain.outbox().get(1).unwrap().expect("stored")
    };
    // As if nonce 0 had been refused after a concurrent send took nonce 1.
    Outbox::open(&path).unwrap().remove(0).unwrap();

    let chain = connect(&anvil.endpoint(), &path, quick).await;
    let filler = chain.outbox().get(0).unwrap().expect("the gap is filled at connect");
    assert_eq!(filler.purpose, "nonce gap filler");
    chain.provider().anvil_mine(Some(1), None).await.unwrap();
    chain.reconcile().await.expect("reconcile");
    for t in [&filler, &taken] {
        let r = chain.provider().get_transaction_receipt(t.hash).await.unwrap().unwrap_or_else(|| panic!("nonce {} mined", t.nonce));
        assert!(r.status());
        assert!(chain.outbox().get(t.nonce).unwrap().expect("stored").included.is_some());
    }
}

#[tokio::test]
async fn a_node_that_never_answers_is_a_timeout_not_a_hang() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let short = RpcConfig { request_timeout: Duration::from_millis(300), ..cfg() };
    let started = Instant::now();
    let connected = tokio::time::timeout(
        Duration::from_secs(10),
        RpcChain::connect(&silent, dev_signer(1), &dir.path().join("silent.redb"), short.clone()),
    )
    .await
    .expect("connect returns instead of hanging");
    let Err(e) = connected else { panic!("connected to a node that never answers") };
    assert!(e.to_string().contains("timed out after 300ms"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    // Connected, then the node goes silent: `head` fails within the limit.
    let anvil = anvil();
    let proxy = Proxy::start(anvil.endpoint()).await;
    let chain = connect(&proxy.url, &dir.path().join("proxied.redb"), short).await;
    chain.head().await.expect("head while the node answers");
    proxy.hang(true);
    let started = Instant::now();
    let e = tokio::time::timeout(Duration::from_secs(10), chain.head()).await.expect("head returns").expect_err("no answer");
    assert!(e.to_string().contains("timed out after 300ms"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}
