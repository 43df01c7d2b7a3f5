// Cold-start prototype only (aliased for 'winston' by bench/cuts.ts): the subset of winston that
// src/common/logger.ts uses — formats as functions, one JSON line per event to stdout. Not product code.
const LEVELS = { error: 0, warn: 1, info: 2, http: 3, verbose: 4, debug: 5, silly: 6 };

function format(fn) {
  return (opts) => ({ transform: (info) => fn(info, opts) });
}
format.combine = (...formats) => ({ transform: (info) => formats.reduce((acc, f) => (acc === false ? acc : f.transform(acc)), info) });
format.timestamp = (opts = {}) => ({ transform: (info) => Object.assign(info, { [opts.alias ?? 'timestamp']: new Date().toISOString(), timestamp: new Date().toISOString() }) });
format.json = () => ({ transform: (info) => Object.assign(info, { [Symbol.for('message')]: JSON.stringify(info) }) });

class Console {
  constructor(opts = {}) {
    this.opts = opts;
  }
  log(info) {
    process.stdout.write(`${info[Symbol.for('message')]}\n`);
  }
}

function createLogger(opts) {
  const threshold = LEVELS[opts.level] ?? 2;
  const logger = {
    level: opts.level,
    silent: opts.silent ?? false,
    log(level, message, meta = {}) {
      if (logger.silent || (LEVELS[level] ?? 9) > threshold) return logger;
      const info = opts.format.transform({ ...opts.defaultMeta, ...meta, level, message });
      if (info) for (const t of opts.transports ?? []) t.log(info);
      return logger;
    },
  };
  for (const level of Object.keys(LEVELS)) logger[level] = (message, meta) => logger.log(level, message, meta);
  return logger;
}

export default { createLogger, format, transports: { Console } };
export { createLogger, format };
