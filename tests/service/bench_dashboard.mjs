// Part of `make bench-service`: how the dashboard copes with every VM of the
// running service. Loads it in headless Chromium, scrolls through all panel
// groups (charts are created as they come on screen), then measures 12 s of
// live updates while scrolling: long tasks (> 50 ms), frame latency, JS heap.
// Usage: node bench_dashboard.mjs URL PROFILE_DIR; prints one JSON line.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const { chromium } = await import(path.join(here, 'node_modules/playwright-core/index.mjs'));
const [url, profile] = process.argv.slice(2);
const ctx = await chromium.launchPersistentContext(profile, {
	executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 1400, height: 1000 },
	args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const p = ctx.pages()[0] || await ctx.newPage();
await p.addInitScript(() => {
	window.__long = [];
	new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration); })
		.observe({ type: 'longtask', buffered: true });
});
await p.goto(url);
await p.waitForTimeout(6000);
const vms = await p.evaluate(() => document.querySelectorAll('section.vm').length);
for (let i = 0; i < 80; i++) { await p.mouse.wheel(0, 1500); await p.waitForTimeout(80); }
const charts = await p.evaluate(() => document.querySelectorAll('.uplot').length);
await p.evaluate(() => { window.__long = []; });
const frames = [];
const t0 = Date.now();
for (let i = 0; i < 30; i++) {
	const s = Date.now();
	await p.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
	frames.push(Date.now() - s);
	await p.mouse.wheel(0, i % 2 ? -1200 : 1200);
	await p.waitForTimeout(400);
}
const long = await p.evaluate(() => window.__long);
const heap = await p.evaluate(() => (performance.memory ? performance.memory.usedJSHeapSize : 0));
frames.sort((a, b) => a - b);
console.log(JSON.stringify({
	vms, charts, seconds: (Date.now() - t0) / 1000, long_tasks: long.length,
	long_task_ms: Math.round(long.reduce((a, b) => a + b, 0)), frame_p50_ms: frames[15],
	frame_max_ms: frames[29], js_heap_mb: +(heap / 1048576).toFixed(1),
}));
await ctx.close();
