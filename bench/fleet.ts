import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FleetParams, FleetResult } from './fleet-sim.ts';
import { NODE, REPO, track } from './lib/proc.ts';
import { spawn } from 'node:child_process';
import { fmt, percentile } from './lib/stats.ts';
import { lineChart } from './plot.ts';

/** Runs bench/fleet-sim.ts in its own process (bounded in time) and returns its result. */
export async function runFleet(params: FleetParams, timeoutMs: number): Promise<FleetResult> {
  const child = track(spawn(NODE, [join(REPO, 'bench', 'fleet-sim.ts'), JSON.stringify(params)], { stdio: ['ignore', 'inherit', 'inherit'] }));
  const timer = setTimeout(() => void child.stop(5000), timeoutMs);
  const code = await child.exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`fleet simulation exited ${code}`);
  return JSON.parse(await readFile(params.out, 'utf8')) as FleetResult;
}

export interface FleetFigures {
  jitter: boolean;
  admission: boolean;
  agents: number;
  scale: number;
  /** Requests that reached the auth service (any answer), per second, over the steady window. */
  steadyRps: number;
  /** Largest count of requests (any answer, 429 included) in a 1 s bucket from the restart on. */
  peakRps: number;
  /** Joins served (200), per second, over the steady window, and the largest 1 s bucket from the restart on. */
  steadyOkRps: number;
  peakOkRps: number;
  /** From the auth service stopping to every agent valid and none retrying. */
  outageRecoveryMs: number | undefined;
  outageMs: number;
  /** Largest 1 s bucket one renewal interval after the storm (the echo of the storm's cohort). */
  echoPeakRps: number;
  /** p50/p99 latency of successful joins from the restart until recovery (or the end). */
  stormP50Ms: number;
  stormP99Ms: number;
  steadyP99Ms: number;
  /** From "auth service listening" after the restart to every agent valid and none retrying. */
  recoveryMs: number | undefined;
  /** From the restart command (process spawn) to "listening". */
  authStartMs: number;
  capMs: number;
  expiredAgents: number;
  rejected: Record<string, number>;
  simCpuCores: number;
  eventLoopDelayP99Ms: number;
  /** [seconds, requests/s reaching the server] and [seconds, attempts/s that found no server], 0.5 s buckets. */
  series: { served: [number, number][]; ok: [number, number][]; unreachable: [number, number][] };
}

export function analyzeFleet(r: FleetResult): FleetFigures {
  const t = r.timeline;
  const served = r.events.filter((e) => e.outcome !== 'unreachable' && e.outcome !== 'other');
  const steadyFrom = Math.round(0.25 * t.renewIntervalMs);
  const steadyTo = t.outageStartAt;
  const steadyRps = served.filter((e) => e.at >= steadyFrom && e.at < steadyTo).length / ((steadyTo - steadyFrom) / 1000);
  const okEvents = served.filter((e) => e.outcome === 'ok');
  const steadyOkRps = okEvents.filter((e) => e.at >= steadyFrom && e.at < steadyTo).length / ((steadyTo - steadyFrom) / 1000);
  const bucketsFrom = (from: number, to: number, events = served) => {
    const counts = new Map<number, number>();
    for (const e of events) if (e.at >= from && e.at < to) counts.set(Math.floor((e.at - from) / 1000), (counts.get(Math.floor((e.at - from) / 1000)) ?? 0) + 1);
    return Math.max(0, ...counts.values());
  };
  const echoFrom = t.listeningAt + Math.round(0.75 * t.renewIntervalMs);
  const peakRps = bucketsFrom(t.restartAt, echoFrom);
  // A served join counts when it is answered: under load a request can wait seconds for its turn.
  const peakOkRps = bucketsFrom(t.restartAt, echoFrom, okEvents.map((e) => ({ ...e, at: e.at + e.ms })));
  const echoPeakRps = bucketsFrom(echoFrom, t.endAt);
  const stormEnd = r.recoveredAt ?? t.endAt;
  const stormOk = served.filter((e) => e.outcome === 'ok' && e.at + e.ms >= t.listeningAt && e.at <= stormEnd).map((e) => e.ms);
  const steadyOk = served.filter((e) => e.outcome === 'ok' && e.at >= steadyFrom && e.at < steadyTo).map((e) => e.ms);
  const rejected: Record<string, number> = {};
  for (const e of r.events) if (e.outcome !== 'ok') rejected[`${e.outcome}${e.code ? `:${e.code}` : ''}`] = (rejected[`${e.outcome}${e.code ? `:${e.code}` : ''}`] ?? 0) + 1;
  const series = (pick: (o: string) => boolean): [number, number][] => {
    const width = 500;
    const n = Math.ceil(t.endAt / width);
    const counts = new Array<number>(n).fill(0);
    for (const e of r.events) if (pick(e.outcome)) counts[Math.min(n - 1, Math.floor((e.outcome === 'ok' ? e.at + e.ms : e.at) / width))]! += 1;
    return counts.map((c, i) => [((i + 0.5) * width) / 1000, c * (1000 / width)]);
  };
  return {
    jitter: r.params.jitter,
    admission: r.params.admission,
    steadyOkRps,
    peakOkRps,
    outageRecoveryMs: r.recoveredAt === undefined ? undefined : r.recoveredAt - t.authStoppedAt,
    outageMs: t.outageMs,
    agents: r.params.agents,
    scale: r.params.scale,
    steadyRps,
    peakRps,
    echoPeakRps,
    stormP50Ms: percentile(stormOk, 50),
    stormP99Ms: percentile(stormOk, 99),
    steadyP99Ms: percentile(steadyOk, 99),
    recoveryMs: r.recoveredAt === undefined ? undefined : r.recoveredAt - t.listeningAt,
    authStartMs: t.listeningAt - t.restartAt,
    capMs: t.capMs,
    expiredAgents: r.expiredAgents,
    rejected,
    simCpuCores: r.simCpuSeconds / (t.endAt / 1000),
    eventLoopDelayP99Ms: r.eventLoopDelayP99Ms,
    series: { served: series((o) => o !== 'unreachable' && o !== 'other'), ok: series((o) => o === 'ok'), unreachable: series((o) => o === 'unreachable') },
  };
}

/** The storm plot: joins served (200) per second over time, jitter on/off x admission on/off. */
export function stormPlot(figures: readonly FleetFigures[], raw: FleetResult): string {
  const t = raw.timeline;
  const first = figures[0] as FleetFigures;
  const colors: Record<string, string> = { 'on/on': '#1f77b4', 'off/on': '#2ca02c', 'on/off': '#d62728', 'off/off': '#ff7f0e' };
  const tag = (f: FleetFigures) => `jitter ${f.jitter ? 'on' : 'off'}, admission ${f.admission ? 'on' : 'off'}`;
  return lineChart({
    title: `Renewal storm: ${first.agents} agents (real createAgent) vs a real auth process, time / ${first.scale}`,
    subtitle: `cert TTL ${t.ttlMs / 1000} s, renew at 50% (± 10% with jitter), back-off cap ${t.capMs / 1000} s, auth stopped ${t.outageMs / 1000} s ("10 min"); admission: --join-rate-global 2x steady, burst 1/3 s`,
    xLabel: `seconds (simulated; x ${first.scale} for real time)`,
    yLabel: 'joins served (200) per second (0.5 s buckets)',
    series: figures.map((f) => ({ label: tag(f), color: colors[`${f.jitter ? 'on' : 'off'}/${f.admission ? 'on' : 'off'}`] as string, points: f.series.ok, dashed: !f.admission })),
    bands: [{ from: t.authStoppedAt / 1000, to: t.listeningAt / 1000, color: '#f0f0f0', label: 'auth down' }],
    hlines: [{ y: 2 * first.steadyOkRps, label: `target: 2x steady (${fmt(2 * first.steadyOkRps, 1)}/s)`, color: '#2ca02c', labelAtX: (0.6 * t.rampMs) / 1000 }],
  });
}
