#!/usr/bin/env node
'use strict';
// Submits the paper's workload to a Fabric network through the Fabric Gateway and records, per
// transaction, the client timestamps of the phase decomposition:
//   t0 proposal created, t1 sent for endorsement, t2 endorsed (and submitted to ordering),
//   t3 ordering service acknowledged, t4 commit status received (with the block number).
// The orderer's and the peer's logs give the block cut and commit times; the Python side
// (reprobook.fabric.analysis) joins them into execute / order / validate latencies.
//
//   node bench.js --config network.json --rate 200 --n 2000 --burst 10 --out run1/records.csv
//   node bench.js --dry-run --rate 100 --n 200 --out dry/records.csv   (no network: lib/fake.js)
const { parseArgs } = require('node:util');
const path = require('node:path');
const gatewayPkg = require('@hyperledger/fabric-gateway/package.json');
const { StatusCode } = require('@hyperledger/fabric-gateway');
const { nowSeconds } = require('./lib/clock');
const { arrivalTimes } = require('./lib/workload');
const { writeRecords } = require('./lib/records');

const USAGE = `usage: node bench.js (--config network.json | --dry-run) [--rate tps] [--n count]
  [--kind bursts|poisson|h2|deterministic] [--burst N] [--cv2 x] [--seed s] [--client id]
  [--payload-bytes 3072] [--batch-size 10 --batch-timeout 0.25 (dry run)] --out records.csv`;

const OPTIONS = {
  'dry-run': { type: 'boolean', default: false },
  config: { type: 'string' },
  rate: { type: 'string', default: '100' },
  n: { type: 'string', default: '1000' },
  kind: { type: 'string', default: 'bursts' },
  burst: { type: 'string', default: '1' },
  cv2: { type: 'string', default: '1' },
  seed: { type: 'string', default: '0' },
  client: { type: 'string', default: '0' },
  'payload-bytes': { type: 'string', default: '3072' },
  'batch-size': { type: 'string', default: '10' },
  'batch-timeout': { type: 'string', default: '0.25' },
  out: { type: 'string' },
  help: { type: 'boolean', default: false },
};

function number(args, key, { integer = false, min = 0 } = {}) {
  const x = Number(args[key]);
  if (!Number.isFinite(x) || x < min || (integer && !Number.isInteger(x))) {
    throw new Error(`--${key} ${args[key]}: expected ${integer ? 'an integer' : 'a number'} >= ${min}`);
  }
  return x;
}

function statusName(code) {
  return Object.keys(StatusCode).find((k) => StatusCode[k] === code) || `CODE_${code}`;
}

function fill(template, key, payload) {
  return template.map((a) => a.replace('{key}', key).replace('{payload}', payload));
}

async function one(contract, fn, args, rec) {
  try {
    rec.t0 = nowSeconds();
    const proposal = contract.newProposal(fn, { arguments: args });
    rec.txId = proposal.getTransactionId();
    rec.t1 = nowSeconds();
    const transaction = await proposal.endorse();
    rec.t2 = nowSeconds();
    const commit = await transaction.submit();
    rec.t3 = nowSeconds();
    const status = await commit.getStatus();
    rec.t4 = nowSeconds();
    rec.block = Number(status.blockNumber);
    rec.status = statusName(status.code);
  } catch (err) {
    rec.status = (err && err.name ? err.name : 'Error').replace(/[^A-Za-z0-9_]/g, '_');
    process.stderr.write(`transaction ${rec.txId || '?'} failed: ${err && err.message}\n`);
  }
}

async function main() {
  const { values: args } = parseArgs({ options: OPTIONS });
  if (args.help) { process.stdout.write(`${USAGE}\n`); return 0; }
  if (!args.out) throw new Error(`--out is required\n${USAGE}`);
  if (!args['dry-run'] && !args.config) throw new Error(`give --config network.json or --dry-run\n${USAGE}`);
  const rate = number(args, 'rate', { min: 1e-9 });
  const n = number(args, 'n', { integer: true, min: 1 });
  const burst = number(args, 'burst', { integer: true, min: 1 });
  const payload = 'x'.repeat(number(args, 'payload-bytes', { integer: true }));
  const times = arrivalTimes({ rate, n, kind: args.kind, burstSize: burst,
    cv2: number(args, 'cv2', { min: 1 }), seed: number(args, 'seed', { integer: true }) });

  let contract; let close = () => {}; let fake = null; let fn; let template;
  if (args['dry-run']) {
    const { FakeNetwork } = require('./lib/fake');
    fake = new FakeNetwork({ batchSize: number(args, 'batch-size', { integer: true, min: 1 }),
      batchTimeoutS: number(args, 'batch-timeout', { min: 0.001 }) });
    contract = fake.contract();
    fn = 'set';
    template = ['{key}', '{payload}'];
  } else {
    const fabric = require('./lib/fabric');
    const cfg = fabric.readConfig(args.config);
    ({ contract, close } = fabric.open(cfg));
    fn = cfg.function;
    template = cfg.args;
  }

  const client = number(args, 'client', { integer: true });
  const records = times.map(() => ({ client, status: 'NOT_SENT' }));
  const start = nowSeconds() + 0.05;
  const tasks = times.map((t, i) => new Promise((resolve) => {
    const delayMs = Math.max(0, (start + t - nowSeconds()) * 1000);
    setTimeout(() => {
      one(contract, fn, fill(template, `k${client}-${args.seed}-${i}`, payload), records[i])
        .then(resolve);
    }, delayMs);
  }));
  await Promise.all(tasks);
  if (fake) await fake.flush();
  close();

  const meta = {
    mode: fake ? 'dry-run' : 'network', configured_rate_tps: rate, n_tx: n, workload: args.kind,
    burst_size: burst, client, payload_bytes: payload.length,
    fabric_gateway_version: gatewayPkg.version, node_version: process.version,
  };
  writeRecords(args.out, records.map((r) => ({ txId: r.txId || 'unsent', ...r })), meta);
  if (fake) fake.writeLogs(path.dirname(path.resolve(args.out)));
  const failed = records.filter((r) => r.status !== 'VALID').length;
  process.stdout.write(`${n} transactions, ${failed} not VALID, records in ${args.out}\n`);
  return 0;
}

main().then((code) => { process.exitCode = code; }).catch((err) => {
  process.stderr.write(`bench.js: ${err.message}\n`);
  process.exitCode = 2;
});
