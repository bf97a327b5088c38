// One time series drawn by uPlot (a canvas chart, vendored from node_modules): as wide as its box,
// over a fixed window of time, with the hovered sample's value in its legend.
import uPlot from 'uplot';
import { useEffect, useRef } from 'preact/hooks';
import { html } from './html.js';

/** Tall enough to read a trend, short enough for five charts on a phone. */
const HEIGHT_PX = 150;
/** Room for the longest tick label the pages write ("1,023.5 MiB"). */
const Y_AXIS_WIDTH_PX = 84;
/** Used only until the box has been laid out. */
const FALLBACK_WIDTH_PX = 320;
/** The console's accent colour (style.css --accent), as a line and a faint fill under it. */
const STROKE = '#2f5bd3';
const FILL = 'rgba(47, 91, 211, 0.08)';
const AXIS = { stroke: '#687382', grid: { stroke: '#e3e6eb', width: 1 }, ticks: { stroke: '#e3e6eb', width: 1 } };

/**
 * A line chart of `values` (numbers or null, a gap) at `times` (epoch seconds, ascending) over
 * `window` (`[fromSeconds, toSeconds]`); `format` writes a value for the axis and legend; `range`
 * (optional, `[min, max]`) fixes the y axis, else it starts at 0 and fits the data.
 *
 * @example
 * html`<${TimeChart} label="Connections" times=${[1767200000, 1767200015]} values=${[3, 4]} window=${[1767196400, 1767200015]} format=${String} />`
 */
export function TimeChart({ label, times, values, window, format, range }) {
  const box = useRef(null);
  const plot = useRef(null);
  const shown = useRef(window);
  shown.current = window;

  useEffect(() => {
    const element = box.current;
    const options = {
      width: element.clientWidth || FALLBACK_WIDTH_PX,
      height: HEIGHT_PX,
      // The window chosen, not the data's extent: a young instance's hour starts empty.
      scales: {
        x: { time: true, range: (_u, min, max) => shown.current ?? [min, max] },
        y: { range: range ? () => range : (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] },
      },
      series: [{}, { label, stroke: STROKE, fill: FILL, width: 1.5, spanGaps: false, value: (_u, value) => (value === null ? '—' : format(value)) }],
      axes: [{ ...AXIS }, { ...AXIS, size: Y_AXIS_WIDTH_PX, values: (_u, splits) => splits.map(format) }],
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
    };
    const chart = new uPlot(options, [times, values], element);
    plot.current = chart;
    // Follows the box's width (window resized, phone rotated); the height stays.
    const observer = new ResizeObserver(() => {
      if (element.clientWidth > 0 && element.clientWidth !== chart.width) chart.setSize({ width: element.clientWidth, height: HEIGHT_PX });
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
      chart.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData([times, values]);
  }, [times, values, window]);

  return html`<div class="chart-box" ref=${box}></div>`;
}
