'use strict';
// Writes the per-transaction records in the schema that reprobook.fabric.records reads:
// tx_id,client,t0,t1,t2,t3,t4,block,status (times in seconds since the epoch, microseconds).
const fs = require('node:fs');
const path = require('node:path');

const HEADER = 'tx_id,client,t0,t1,t2,t3,t4,block,status';

function fmt(t) {
  return Number.isFinite(t) ? t.toFixed(6) : '';
}

function writeRecords(file, records, meta) {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const lines = [HEADER];
  for (const r of records) {
    const block = r.block === undefined || r.block === null ? -1 : r.block;
    lines.push([r.txId, r.client, fmt(r.t0), fmt(r.t1), fmt(r.t2), fmt(r.t3), fmt(r.t4),
      String(block), r.status].join(','));
  }
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  fs.writeFileSync(`${file}.meta.json`, `${JSON.stringify(meta, null, 2)}\n`);
}

module.exports = { writeRecords, HEADER };
