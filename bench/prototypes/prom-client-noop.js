// Cold-start prototype only (aliased for 'prom-client' by bench/cuts.ts): no-op metrics, standing in for
// "do not load prom-client (or the health server) under --once". Not product code.
class Metric {
  constructor(options) {
    this.name = options?.name;
  }
  set() {}
  inc() {}
  dec() {}
  observe() {}
  labels() {
    return this;
  }
  reset() {}
}
export class Registry {
  contentType = 'text/plain; version=0.0.4; charset=utf-8';
  async metrics() {
    return '';
  }
  registerMetric() {}
}
export class Counter extends Metric {}
export class Gauge extends Metric {}
export class Histogram extends Metric {}
export function collectDefaultMetrics() {}
export default { Registry, Counter, Gauge, Histogram, collectDefaultMetrics };
