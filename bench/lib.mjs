// Small helpers shared by the benchmark scripts (plain Node, no dependencies).

/** Parses "1GiB", "256MiB", "512KiB", "1.5GiB" or a plain byte count. */
export function parseSize(text) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB|K|M|G|T)?\s*$/i.exec(String(text));
  if (!m) throw new Error(`not a size: ${JSON.stringify(text)} (expected e.g. 1GiB, 256MiB)`);
  const unit = (m[2] ?? 'B').toLowerCase();
  // Decimal and binary suffixes are both read as binary: "1GB" meaning 10^9 would make the
  // 1 GiB runs silently differ by 7 %, and nobody benchmarks with decimal sizes on purpose.
  const pow = { b: 0, k: 1, kb: 1, kib: 1, m: 2, mb: 2, mib: 2, g: 3, gb: 3, gib: 3, t: 4, tb: 4, tib: 4 }[unit];
  return Math.round(Number(m[1]) * 1024 ** pow);
}

/** Canonical label of a size, used in file and folder names ("1GiB", "256MiB"). */
export function sizeLabel(bytes) {
  for (const [unit, pow] of [['TiB', 4], ['GiB', 3], ['MiB', 2], ['KiB', 1]]) {
    const v = bytes / 1024 ** pow;
    if (v >= 1) return `${Number(v.toFixed(2))}${unit}`;
  }
  return `${bytes}B`;
}

/** Human-readable bytes for tables. */
export function fmtBytes(bytes) {
  if (bytes === null || bytes === undefined || Number.isNaN(bytes)) return '–';
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

/**
 * Minimal `--name value` / `--flag` parser. Unknown options are an error so that a typo
 * (`--szie`) does not silently run the default 1 GiB benchmark for ten minutes.
 */
export function parseArgs(argv, spec) {
  const out = {};
  for (const [name, def] of Object.entries(spec)) out[name] = def.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      out.help = true;
      continue;
    }
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    if (!m || !(m[1] in spec)) throw new Error(`unknown argument: ${arg}`);
    const def = spec[m[1]];
    let value;
    if (def.type === 'boolean') {
      value = m[2] === undefined ? true : !/^(0|false|no)$/i.test(m[2]);
    } else {
      value = m[2] ?? argv[++i];
      if (value === undefined) throw new Error(`missing value for --${m[1]}`);
      if (def.type === 'number') {
        value = Number(value);
        if (!Number.isFinite(value)) throw new Error(`--${m[1]} needs a number`);
      }
    }
    out[m[1]] = value;
  }
  return out;
}

/**
 * The command line of a bench script named `tool`: `usage(err)` ends the process with exit 2 and
 * one line (a bad command line gets a message, not a stack trace); `parse(spec)` reads
 * process.argv with {@link parseArgs}, ending the same way on a bad option; `size(text)` the same
 * for a size.
 */
export function commandLine(tool) {
  const usage = (err) => {
    console.error(`${tool}: ${err.message} (--help lists the options)`);
    process.exit(2);
  };
  const parse = (spec) => {
    try {
      return parseArgs(process.argv.slice(2), spec);
    } catch (err) {
      return usage(err);
    }
  };
  /** A size such as `1GiB` in bytes ({@link parseSize}), ending the same way when it is not one. */
  const size = (text) => {
    try {
      return parseSize(text);
    } catch (err) {
      return usage(err);
    }
  };
  return { usage, parse, size };
}

/**
 * Seeded PRNG (sfc32): fast, good enough statistically, and identical on every machine, so
 * two runs of the generator with the same seed produce byte-identical databases.
 */
export function makeRng(seed) {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = seed >>> 0;
  const next = () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 15; i++) next(); // the first outputs of sfc32 are poorly mixed
  const rng = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    chance: (p) => next() < p,
    /** Standard normal via Box–Muller (one value per call; simplicity beats the 2x). */
    gauss: () => {
      let u = 0;
      while (u === 0) u = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
    },
    /** Poisson-distributed count (Knuth); fine for the small means used here. */
    poisson: (mean) => {
      const l = Math.exp(-mean);
      let k = 0, p = 1;
      do { k++; p *= next(); } while (p > l);
      return k - 1;
    },
    hex: (n) => {
      let s = '';
      while (s.length < n) s += Math.floor(next() * 0x100000000).toString(16).padStart(8, '0');
      return s.slice(0, n);
    },
  };
  return rng;
}

/** Percentile by nearest rank on a sorted array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}
