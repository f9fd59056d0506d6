'use strict';
// Wall-clock seconds since the Unix epoch with sub-millisecond resolution: Date.now() fixes the
// epoch once, process.hrtime (monotonic, nanoseconds) measures from there. Intervals between
// timestamps are therefore immune to NTP steps during a run.
const anchorMs = Date.now();
const anchorNs = process.hrtime.bigint();

function nowSeconds() {
  return anchorMs / 1000 + Number(process.hrtime.bigint() - anchorNs) / 1e9;
}

module.exports = { nowSeconds };
