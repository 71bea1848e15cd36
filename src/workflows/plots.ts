/**
 * The report's plots: vega-lite specs rendered server-side to SVG strings
 * (vega's "none" renderer), so the HTML embeds them inline with no script and
 * no external resource. Attributes an inline SVG in HTML does not need
 * (xmlns declarations, ARIA descriptions of every mark) are dropped to keep
 * the file small and free of URLs.
 *
 * Scatter plots keep at most `maxPoints` points per panel, chosen
 * deterministically: the points farthest from the diagonal first (they are
 * what the plot is for), then an even stride over the rest.
 */
// vega is loaded on first use: importing it costs ~0.4 s, which every CLI
// command would otherwise pay at start-up.
import type * as vl from "vega-lite";

export interface ParityPanel {
  /** Panel title (a hw-model name, "reference (float64)"…). */
  panel: string;
  /** Reference values (x axis). */
  x: ArrayLike<number>;
  /** Predicted values (y axis). */
  y: ArrayLike<number>;
}

export interface SqnrBar {
  hw: string;
  op: string;
  /** Execution order (bars are drawn in it). */
  index: number;
  sqnrDb: number;
}

export interface HistogramPanel {
  panel: string;
  values: ArrayLike<number>;
}

/** Render a vega-lite spec to an inline SVG element string. */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import("vega"), import("vega-lite")]);
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: "none" });
  try {
    const svg = await view.toSVG();
    return svg
      .replace(/\s+xmlns(:\w+)?="[^"]*"/g, "")
      .replace(/\s+aria-[a-z]+="[^"]*"/g, "")
      .replace(/\s+role="[^"]*"/g, "")
      // Geometry to 1/100 pixel (vega writes 16 digits): a third of the size for scatter plots.
      .replace(/\s(transform|d|x|y|x1|x2|y1|y2|width|height)="([^"]*)"/g, (_m, k: string, v: string) => ` ${k}="${v.replace(/(\d+\.\d\d)\d+/g, "$1")}"`);
  } finally {
    view.finalize();
  }
}

const CONFIG = { aria: false, font: "sans-serif", view: { stroke: "#ddd" } } as const;

/** Indices of at most `max` points: largest |y − x| first, then an even stride over the others. */
export function samplePoints(x: ArrayLike<number>, y: ArrayLike<number>, max: number): number[] {
  const n = x.length;
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const byError = Array.from({ length: n }, (_, i) => i).sort((a, b) => Math.abs(y[b] - x[b]) - Math.abs(y[a] - x[a]) || a - b);
  const top = Math.floor(max / 4);
  const chosen = new Set(byError.slice(0, top));
  const rest = max - top;
  const stride = n / rest;
  for (let k = 0; k < rest; k++) chosen.add(Math.floor(k * stride));
  // Stride points that were already among the largest errors leave room: fill in index order.
  for (let i = 0; i < n && chosen.size < max; i++) chosen.add(i);
  return [...chosen].sort((a, b) => a - b);
}

/** Faceted parity plot (one panel per series) with the y = x line. */
export function parityPlot(panels: ParityPanel[], o: { xTitle: string; yTitle: string; maxPoints?: number; columns?: number }): vl.TopLevelSpec {
  const values: Record<string, number | string>[] = [];
  let lo = Infinity, hi = -Infinity;
  for (const p of panels) {
    for (const i of samplePoints(p.x, p.y, o.maxPoints ?? 600)) {
      const x = p.x[i], y = p.y[i];
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      values.push({ panel: p.panel, kind: "point", x, y });
      lo = Math.min(lo, x, y);
      hi = Math.max(hi, x, y);
    }
  }
  if (lo === Infinity) (lo = -1), (hi = 1);
  for (const p of panels) values.push({ panel: p.panel, kind: "line", x: lo, y: lo }, { panel: p.panel, kind: "line", x: hi, y: hi });
  return {
    config: CONFIG,
    data: { values },
    facet: { field: "panel", type: "nominal", title: null, sort: panels.map((p) => p.panel) },
    columns: o.columns ?? 3,
    spec: {
      width: 220,
      height: 220,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'line'" }],
          mark: { type: "line", color: "#999", strokeDash: [4, 3], strokeWidth: 1 },
          encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } },
        },
        {
          transform: [{ filter: "datum.kind === 'point'" }],
          mark: { type: "square", size: 6, opacity: 0.55, color: "#4c78a8" },
          encoding: {
            x: { field: "x", type: "quantitative", title: o.xTitle, scale: { domain: [lo, hi] } },
            y: { field: "y", type: "quantitative", title: o.yTitle, scale: { domain: [lo, hi] } },
          },
        },
      ],
    },
  } as vl.TopLevelSpec;
}

/**
 * Per-op SQNR bars, ops in execution order, one bar per hw-model. An op that
 * is bit-identical to the reference (+∞) gets the label "∞" instead of a
 * bar; a non-finite mismatch (−∞) gets "−∞".
 */
export function sqnrBarChart(bars: SqnrBar[], hwOrder: string[]): vl.TopLevelSpec {
  const ops = [...new Map(bars.map((b) => [b.op, b.index])).entries()].sort((a, b) => a[1] - b[1]).map(([op]) => op);
  const values = bars.map((b) => ({
    hw: b.hw,
    op: b.op,
    sqnr: Number.isFinite(b.sqnrDb) ? b.sqnrDb : null,
    label: b.sqnrDb === Infinity ? "∞" : b.sqnrDb === -Infinity ? "−∞" : "",
  }));
  const band = Math.max(3, Math.min(8, Math.floor(24 / Math.max(1, hwOrder.length))));
  const y = { field: "op", type: "nominal", sort: ops, title: null, axis: { labelLimit: 260 } } as const;
  return {
    config: CONFIG,
    data: { values },
    width: 520,
    // The step is one bar (the offset band); an op takes hwOrder.length bars.
    height: { step: band, for: "offset" },
    encoding: { y, yOffset: { field: "hw", type: "nominal", sort: hwOrder }, color: { field: "hw", type: "nominal", sort: hwOrder, title: "hw-model" } },
    layer: [
      {
        transform: [{ filter: "datum.sqnr !== null" }],
        mark: { type: "bar" },
        encoding: { x: { field: "sqnr", type: "quantitative", title: "SQNR of the op output vs float64 reference (dB)" } },
      },
      {
        transform: [{ filter: "datum.label !== ''" }],
        mark: { type: "text", align: "left", dx: 2, fontSize: 8 },
        encoding: { x: { datum: 0, type: "quantitative" }, text: { field: "label" } },
      },
    ],
  } as vl.TopLevelSpec;
}

/**
 * Histograms, one panel per series, each binned over its own range (error
 * magnitudes differ by orders between design points): a concatenation of
 * independent views rather than a facet, whose bins would be shared.
 */
export function histogramPlot(panels: HistogramPanel[], o: { xTitle: string; columns?: number }): vl.TopLevelSpec {
  return {
    config: CONFIG,
    columns: o.columns ?? 3,
    concat: panels.map((p) => {
      const values: { v: number }[] = [];
      for (let i = 0; i < p.values.length; i++) if (Number.isFinite(p.values[i])) values.push({ v: p.values[i] });
      return {
        title: { text: p.panel, fontSize: 11, fontWeight: "normal" },
        data: { values },
        width: 220,
        height: 140,
        mark: { type: "bar", color: "#e45756" },
        encoding: {
          x: { field: "v", type: "quantitative", bin: { maxbins: 40 }, title: o.xTitle },
          y: { aggregate: "count", type: "quantitative", title: "count" },
        },
      };
    }),
  } as vl.TopLevelSpec;
}

export interface LinePanel {
  panel: string;
  /** One line per series (a design point), drawn in the order given. */
  series: { name: string; x: ArrayLike<number>; y: ArrayLike<number> }[];
}

/** Line charts, one panel each, with a colour per series (MD energies, RDFs, bond deviations). */
export function linePlot(panels: LinePanel[], o: { xTitle: string; yTitle: string; columns?: number }): vl.TopLevelSpec {
  return {
    config: CONFIG,
    columns: o.columns ?? 2,
    concat: panels.map((p) => {
      const values: { x: number; y: number; s: string }[] = [];
      for (const s of p.series) for (let i = 0; i < s.x.length; i++) if (Number.isFinite(s.y[i])) values.push({ x: s.x[i], y: s.y[i], s: s.name });
      return {
        title: { text: p.panel, fontSize: 11, fontWeight: "normal" },
        data: { values },
        width: 420,
        height: 200,
        mark: { type: "line", strokeWidth: 1.2 },
        encoding: {
          x: { field: "x", type: "quantitative", title: o.xTitle },
          y: { field: "y", type: "quantitative", title: o.yTitle, scale: { zero: false } },
          color: { field: "s", type: "nominal", title: null, sort: p.series.map((s) => s.name) },
        },
      };
    }),
  } as vl.TopLevelSpec;
}

export interface ScatterPoint {
  x: number;
  y: number;
  /** Colour group (an axis value). */
  group: string;
  /** On the Pareto front (drawn larger, joined by a step line). */
  front: boolean;
  /** Hover text (an SVG <title>). */
  tip: string;
}

/** Scatter of design points coloured by `group`, the Pareto front joined by a line; log scales. */
export function paretoScatter(points: ScatterPoint[], o: { xTitle: string; yTitle: string; groupTitle: string }): vl.TopLevelSpec {
  const values = plottedPoints(points);
  return {
    config: CONFIG,
    width: 520,
    height: 340,
    data: { values },
    layer: [
      {
        transform: [{ filter: "datum.front" }],
        mark: { type: "line", interpolate: "step-after", color: "#999", strokeWidth: 1 },
        encoding: { x: { field: "x", type: "quantitative", sort: "ascending" }, y: { field: "y", type: "quantitative" } },
      },
      {
        mark: { type: "point", filled: true, opacity: 0.75 },
        encoding: {
          x: { field: "x", type: "quantitative", title: o.xTitle, scale: { type: "log" } },
          y: { field: "y", type: "quantitative", title: o.yTitle, scale: { type: "log" } },
          color: { field: "group", type: "nominal", title: o.groupTitle },
          size: { condition: { test: "datum.front", value: 70 }, value: 18 },
          tooltip: { field: "tip", type: "nominal" },
        },
      },
    ],
  } as vl.TopLevelSpec;
}

/**
 * Hover text for a scatter's points: vega's SVG output has no tooltips, so
 * each `<path>` of the symbol mark `markClass` (items in data order) gets a
 * `<title>` child, which browsers show on hover. `tips` are in the order of
 * the plotted points (those `paretoScatter` keeps).
 */
export function addPointTitles(svg: string, markClass: string, tips: readonly string[]): string {
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  return svg.replace(new RegExp(`(<g class="mark-symbol role-mark ${markClass}"[^>]*>)(.*?)</g>`), (_m, open: string, body: string) => {
    let k = 0;
    return open + body.replace(/<path([^>]*)\/>/g, (p, attrs: string) => (k < tips.length ? `<path${attrs}><title>${esc(tips[k++])}</title></path>` : p)) + "</g>";
  });
}

/** The points `paretoScatter` plots (finite and positive on both log axes). */
export const plottedPoints = (points: ScatterPoint[]) => points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && p.x > 0 && p.y > 0);
