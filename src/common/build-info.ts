import { Gauge, type Registry } from 'prom-client';

/**
 * Registers `<name>{version}` = 1, the Prometheus `*_build_info` convention: which build a process
 * runs, joinable onto its other series. Agent and auth each pass their metric name and version.
 */
export function registerBuildInfo(registry: Registry, name: string, version: string): void {
  new Gauge({ name, help: 'Always 1; the label carries the version of this kube-join build', labelNames: ['version'], registers: [registry] }).set({ version }, 1);
}
