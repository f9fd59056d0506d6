'use strict';
// A stand-in for a Fabric network, for --dry-run: the same call sequence as
// @hyperledger/fabric-gateway (contract.newProposal -> proposal.endorse -> transaction.submit ->
// commit.getStatus), fixed delays in place of the network, a block cutter (BatchSize /
// BatchTimeout) and a serial committer, and orderer/peer log lines in Fabric's format so that the
// Python analysis reads a dry run exactly as it reads a real one. It measures nothing about Fabric.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { nowSeconds } = require('./clock');

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

function stamp(t) {
  const iso = new Date(Math.round(t * 1000)).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)} UTC`;
}

class FakeNetwork {
  constructor(opts = {}) {
    this.o = {
      endorseMs: 4, submitMs: 2, raftMs: 3, deliverMs: 2, perTxCommitMs: 1, notifyMs: 1,
      batchSize: 10, batchTimeoutS: 0.25, channel: 'mychannel', ...opts,
    };
    this.pending = [];
    this.generation = 0;
    this.block = 0;
    this.peerChain = Promise.resolve();
    this.ordererLines = [];
    this.peerLines = [];
    this.seq = { orderer: 0, peer: 0 };
  }

  log(role, module, func, message) {
    this.seq[role] += 1;
    const id = this.seq[role].toString(16).padStart(3, '0');
    const line = `${stamp(nowSeconds())} [${module}] ${func} -> INFO ${id} ${message}`;
    (role === 'orderer' ? this.ordererLines : this.peerLines).push(line);
  }

  contract() {
    return { newProposal: (fn, options = {}) => this.proposal(fn, options) };
  }

  proposal(fn, options) {
    const txId = crypto.randomBytes(32).toString('hex');
    const state = {};
    state.done = new Promise((resolve) => { state.resolve = resolve; });
    const submitted = {
      getTransactionId: () => txId,
      getResult: () => new Uint8Array(0),
      getStatus: () => state.done,
    };
    const transaction = {
      getTransactionId: () => txId,
      getResult: () => new Uint8Array(0),
      submit: async () => {
        await sleep(this.o.submitMs);
        this.enqueue({ txId, state });
        return submitted;
      },
    };
    return {
      getTransactionId: () => txId,
      endorse: async () => {
        if (!fn || !Array.isArray(options.arguments)) throw new Error('a proposal needs a function name and arguments');
        await sleep(this.o.endorseMs);
        return transaction;
      },
    };
  }

  enqueue(tx) {
    this.pending.push(tx);
    if (this.pending.length >= this.o.batchSize) {
      this.cut();
    } else if (this.pending.length === 1) {
      const gen = this.generation;
      setTimeout(() => { if (gen === this.generation && this.pending.length) this.cut(); },
        this.o.batchTimeoutS * 1000);
    }
  }

  cut() {
    const txs = this.pending;
    this.pending = [];
    this.generation += 1;
    this.block += 1;
    const b = this.block;
    const tag = `channel=${this.o.channel} node=1`;
    this.log('orderer', 'orderer.consensus.etcdraft', 'propose',
      `Created block [${b}], there are 0 blocks in flight ${tag}`);
    setTimeout(() => {
      this.log('orderer', 'orderer.consensus.etcdraft', 'writeBlock',
        `Writing block [${b}] (Raft index: ${b + 2}) to ledger ${tag}`);
      setTimeout(() => { this.peerChain = this.peerChain.then(() => this.commit(b, txs)); },
        this.o.deliverMs);
    }, this.o.raftMs);
  }

  async commit(b, txs) {
    const ch = this.o.channel;
    const ms = Math.max(1, Math.round(this.o.perTxCommitMs * txs.length));
    const half = Math.floor(ms / 2);
    this.log('peer', 'gossip.privdata', 'StoreBlock', `Received block [${b}] from buffer channel=${ch}`);
    await sleep(half);
    this.log('peer', 'committer.txvalidator', 'Validate', `[${ch}] Validated block [${b}] in ${half}ms`);
    await sleep(ms - half);
    this.log('peer', 'kvledger', 'CommitLegacy',
      `[${ch}] Committed block [${b}] with ${txs.length} transaction(s) in ${ms - half}ms ` +
      `(state_validation=0ms block_and_pvtdata_commit=${ms - half}ms state_commit=0ms) commitHash=[]`);
    setTimeout(() => {
      for (const tx of txs) {
        tx.state.resolve({ blockNumber: BigInt(b), code: 0, successful: true, transactionId: tx.txId });
      }
    }, this.o.notifyMs);
  }

  async flush() {
    while (this.pending.length) await sleep(10);
    await this.peerChain;
    await sleep(this.o.notifyMs + 5);
  }

  writeLogs(dir) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'orderer.log'), `${this.ordererLines.join('\n')}\n`);
    fs.writeFileSync(path.join(dir, 'peer.log'), `${this.peerLines.join('\n')}\n`);
  }
}

module.exports = { FakeNetwork, stamp };
