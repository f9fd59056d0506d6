'use strict';
// The paper's workload: bursts of N transactions at exponentially distributed intervals with
// mean N / rate (N = 1: Poisson arrivals), or an H2 renewal process (bursty gaps with squared
// coefficient of variation cv2 >= 1), or equal gaps. Mirrors reprobook.fabric.workload.

function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function exponential(rand, mean) {
  return -mean * Math.log(1 - rand());
}

function h2Gap(rand, mean, cv2) {
  if (cv2 === 1) return exponential(rand, mean);
  const p = 0.5 * (1 + Math.sqrt((cv2 - 1) / (cv2 + 1)));
  const rate = rand() < p ? (2 * p) / mean : (2 * (1 - p)) / mean;
  return exponential(rand, 1 / rate);
}

// Creation times (seconds from the start) of n transactions.
function arrivalTimes({ rate, n, kind = 'bursts', burstSize = 1, cv2 = 1, seed = 0 }) {
  if (!(rate > 0)) throw new Error(`rate must be > 0 tps, got ${rate}`);
  if (!(n >= 1)) throw new Error(`n must be >= 1, got ${n}`);
  if (kind === 'h2' && cv2 < 1) throw new Error(`an H2 law has cv2 >= 1, got ${cv2}`);
  const rand = mulberry32(seed);
  const mean = 1 / rate;
  const out = [];
  let t = 0;
  if (kind === 'bursts' || kind === 'poisson') {
    const size = kind === 'poisson' ? 1 : burstSize;
    while (out.length < n) {
      t += exponential(rand, size * mean);
      for (let j = 0; j < size && out.length < n; j += 1) out.push(t);
    }
    return out;
  }
  for (let i = 0; i < n; i += 1) {
    if (kind === 'deterministic') t += mean;
    else if (kind === 'h2') t += h2Gap(rand, mean, cv2);
    else throw new Error(`unknown workload kind ${kind}: poisson, bursts, h2 or deterministic`);
    out.push(t);
  }
  return out;
}

module.exports = { arrivalTimes, mulberry32 };
