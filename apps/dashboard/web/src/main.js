// Crime demo dashboard: polls the server's JSON API and redraws the series chart, the heat map and the
// clock. Stable ids and data-* attributes let the headless-browser test assert what is shown.
import 'leaflet/dist/leaflet.css';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import L from './leaflet-global.js';
import 'leaflet.heat';
import uPlot from 'uplot';
import { CHICAGO_OUTLINE, PROBE_TILE } from './chicago.js';

const PALETTE = ['#e6194b', '#3cb44b', '#ffe119', '#4363d8', '#f58231', '#911eb4', '#46f0f0', '#f032e6',
  '#bcf60c', '#fabebe', '#008080', '#e6beff', '#9a6324', '#fffac8', '#800000', '#aaffc3'];

const $ = (id) => document.getElementById(id);

async function getJson(path) {
  const resp = await fetch(path, { cache: 'no-store' });
  const body = await resp.json();
  if (!resp.ok) throw new Error(`${path}: ${body.error || resp.status}`);
  return body;
}

function tileUrl(template, tile) {
  return template.replace('{s}', 'a').replace('{z}', tile.z).replace('{x}', tile.x).replace('{y}', tile.y);
}

// Resolve true when one tile loads within the timeout: only then is a tile layer worth adding.
function probeTiles(template, timeoutMs = 3000) {
  if (!template) return Promise.resolve(false);
  return new Promise((resolve) => {
    const img = new Image();
    const timer = setTimeout(() => { img.src = ''; resolve(false); }, timeoutMs);
    img.onload = () => { clearTimeout(timer); resolve(true); };
    img.onerror = () => { clearTimeout(timer); resolve(false); };
    img.src = tileUrl(template, PROBE_TILE);
  });
}

function createMap(config) {
  const map = L.map('heatmap', { zoomControl: true, attributionControl: true, preferCanvas: true });
  const outline = L.polygon(CHICAGO_OUTLINE, { color: '#5b6b7f', weight: 1.5, fillColor: '#2a313b', fillOpacity: 0.6 });
  outline.addTo(map);
  map.fitBounds(outline.getBounds(), { padding: [10, 10] });
  // maxZoom at (or below) the initial zoom: leaflet.heat dims points by 2^(maxZoom - zoom) otherwise.
  const heat = L.heatLayer([], { radius: 18, blur: 14, minOpacity: 0.35, maxZoom: 10 }).addTo(map);
  const container = $('heatmap');
  container.dataset.tiles = 'probing';
  probeTiles(config.tile_url).then((reachable) => {
    container.dataset.tiles = reachable ? 'on' : 'off';
    if (reachable) {
      L.tileLayer(config.tile_url, { maxZoom: 18, attribution: '&copy; OpenStreetMap contributors' })
        .addTo(map).bringToBack();
      outline.setStyle({ fillOpacity: 0.05 });
    }
  });
  return { map, heat };
}

function updateHeat(heat, cells) {
  const max = Math.max(cells.max, 1);
  heat.setOptions({ max });
  heat.setLatLngs(cells.cells.map((c) => [c.lat, c.lon, c.count]));
  const container = $('heatmap');
  container.dataset.heatPoints = String(cells.cells.length);
  container.dataset.heatTotal = String(cells.total);
  $('heat-summary').textContent = `${cells.cells.length} cells, ${cells.total} events in the last ${cells.minutes} min`;
}

let chart = null;
let chartTypes = '';

function updateSeries(data) {
  const types = data.series.map((s) => s.type);
  const xs = data.times.map((t) => t / 1000);
  const ys = data.series.map((s) => s.values);
  const holder = $('series-chart');
  if (!chart || chartTypes !== types.join(',')) {
    if (chart) chart.destroy();
    holder.innerHTML = '';
    chartTypes = types.join(',');
    chart = new uPlot({
      width: holder.clientWidth || 600,
      height: 360,
      legend: { show: false },
      scales: { x: { time: true } },
      axes: [{ stroke: '#9aa3ad' }, { stroke: '#9aa3ad', label: 'events per window' }],
      series: [{}, ...types.map((t, i) => ({ label: t, stroke: PALETTE[i % PALETTE.length], width: 1.5 }))],
    }, [xs, ...ys], holder);
  } else {
    chart.setData([xs, ...ys]);
  }
  const legend = $('series-legend');
  legend.innerHTML = '';
  data.series.forEach((s, i) => {
    const li = document.createElement('li');
    li.dataset.series = s.type;
    li.dataset.total = String(s.total);
    li.innerHTML = `<span class="swatch" style="background:${PALETTE[i % PALETTE.length]}"></span>`;
    li.append(`${s.type.replaceAll('_', ' ')}: ${s.total}`);
    legend.append(li);
  });
  holder.dataset.seriesCount = String(types.length);
}

function updateClock(clock) {
  const el = $('sim-clock');
  el.textContent = clock.sim_clock || 'no data yet';
  el.dataset.simTs = clock.sim_ts === null ? '' : String(clock.sim_ts);
  $('eps').textContent = clock.eps.toFixed(1);
}

async function refresh(state) {
  try {
    const [series, cells, clock] = await Promise.all([
      getJson(`/api/series?minutes=${state.config.series_minutes}`),
      getJson(`/api/cells?minutes=${state.config.cells_minutes}`),
      getJson('/api/clock'),
    ]);
    updateSeries(series);
    updateHeat(state.heat, cells);
    updateClock(clock);
    $('status').textContent = `updated ${new Date().toLocaleTimeString()}`;
    $('status').className = '';
    document.body.dataset.ready = 'true';
    document.body.dataset.updated = String(Date.now());
  } catch (err) {
    $('status').textContent = `refresh failed: ${err.message}`;
    $('status').className = 'error';
  }
}

async function start() {
  const config = await getJson('/api/config');
  const { heat } = createMap(config);
  const state = { config, heat };
  await refresh(state);
  setInterval(() => refresh(state), config.refresh_ms);
}

start().catch((err) => {
  $('status').textContent = `dashboard failed to start: ${err.message}`;
  $('status').className = 'error';
});
