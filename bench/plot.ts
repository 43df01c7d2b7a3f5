/** A small SVG line chart of the renewal storm, written by hand: no plotting dependency. */

export interface Series {
  label: string;
  color: string;
  /** [x seconds, y] points. */
  points: [number, number][];
  dashed?: boolean;
}

export interface Band {
  from: number;
  to: number;
  color: string;
  label: string;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceStep(span: number, target: number): number {
  const raw = span / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

export function lineChart(options: { title: string; subtitle?: string; xLabel: string; yLabel: string; series: Series[]; bands?: Band[]; hlines?: { y: number; label: string; color: string; labelAtX?: number }[]; width?: number; height?: number }): string {
  const W = options.width ?? 960;
  const H = options.height ?? 480;
  const m = { l: 70, r: 20, t: 64, b: 56 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const xs = options.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = [...options.series.flatMap((s) => s.points.map((p) => p[1])), ...(options.hlines ?? []).map((h) => h.y)];
  const xMax = Math.max(1, ...xs);
  const yStep = niceStep(Math.max(1, ...ys), 6);
  const yMax = Math.ceil(Math.max(1, ...ys) / yStep) * yStep;
  const X = (x: number) => m.l + (x / xMax) * pw;
  const Y = (y: number) => m.t + ph - (y / yMax) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${esc(options.title)}</text>`);
  if (options.subtitle) out.push(`<text x="${W / 2}" y="40" text-anchor="middle" fill="#555">${esc(options.subtitle)}</text>`);
  for (const b of options.bands ?? []) {
    out.push(`<rect x="${X(b.from).toFixed(1)}" y="${m.t}" width="${(X(b.to) - X(b.from)).toFixed(1)}" height="${ph}" fill="${b.color}"/>`);
    out.push(`<text x="${((X(b.from) + X(b.to)) / 2).toFixed(1)}" y="${m.t + 14}" text-anchor="middle" fill="#444">${esc(b.label)}</text>`);
  }
  for (let y = 0; y <= yMax + 1e-9; y += yStep) {
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${Y(y).toFixed(1)}" y2="${Y(y).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.l - 6}" y="${(Y(y) + 4).toFixed(1)}" text-anchor="end">${y}</text>`);
  }
  const xStep = niceStep(xMax, 10);
  for (let x = 0; x <= xMax + 1e-9; x += xStep) {
    out.push(`<line x1="${X(x).toFixed(1)}" x2="${X(x).toFixed(1)}" y1="${m.t + ph}" y2="${m.t + ph + 5}" stroke="#333"/>`);
    out.push(`<text x="${X(x).toFixed(1)}" y="${m.t + ph + 18}" text-anchor="middle">${x}</text>`);
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  for (const h of options.hlines ?? []) {
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${Y(h.y).toFixed(1)}" y2="${Y(h.y).toFixed(1)}" stroke="${h.color}" stroke-dasharray="6 4"/>`);
    const lx = h.labelAtX === undefined ? m.l + pw - 4 : X(h.labelAtX);
    out.push(`<text x="${lx.toFixed(1)}" y="${(Y(h.y) - 4).toFixed(1)}" text-anchor="${h.labelAtX === undefined ? 'end' : 'middle'}" fill="${h.color}">${esc(h.label)}</text>`);
  }
  for (const s of options.series) {
    const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join('');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.dashed ? 1.2 : 1.8}"${s.dashed ? ' stroke-dasharray="3 3"' : ''}/>`);
  }
  options.series.forEach((s, i) => {
    const ly = m.t + 30 + i * 18;
    out.push(`<line x1="${m.l + 12}" x2="${m.l + 40}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="3 3"' : ''}/>`);
    out.push(`<text x="${m.l + 46}" y="${ly + 4}">${esc(s.label)}</text>`);
  });
  out.push(`<text x="${m.l + pw / 2}" y="${H - 14}" text-anchor="middle">${esc(options.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(options.yLabel)}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
