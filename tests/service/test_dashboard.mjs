// The dashboard in headless Chromium (Debian's, driven by playwright-core):
// panels render with live data, a VM appears when it starts, action markers
// show their reason on hover. Saves a screenshot under $TEST_OUT.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const SRC = process.env.KVMPILOT_SRC || path.resolve(here, '../..');
const BUILD = process.env.KVMPILOT_BUILD || path.join(SRC, 'build');
const KVMPILOT = process.env.KVMPILOT || path.join(BUILD, 'kvmpilot');
const OUT = process.env.TEST_OUT || fs.mkdtempSync('/tmp/kvmpilot-dash-');
fs.mkdirSync(OUT, { recursive: true });
const FAKEQEMU = path.join(BUILD, 'tests/bpf/fakeqemu');
const CHROMIUM = '/usr/bin/chromium';

const children = [];
let failed = false;
function ok(cond, msg) {
	if (!cond) {
		console.log('FAIL: ' + msg);
		failed = true;
		throw new Error(msg);
	}
	console.log('ok: ' + msg);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(fn, ms, what) {
	const end = Date.now() + ms;
	let last;
	while (Date.now() < end) {
		try {
			last = await fn();
			if (last) return last;
		} catch (e) {
			last = e.message;
		}
		await sleep(250);
	}
	ok(false, `timed out after ${ms} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
}
function freePort() {
	return new Promise((resolve) => {
		const s = net.createServer();
		s.listen(0, '127.0.0.1', () => {
			const p = s.address().port;
			s.close(() => resolve(p));
		});
	});
}
function fakeQemu(name, extra = []) {
	const ready = path.join(OUT, `fq-${name}.ready`);
	fs.rmSync(ready, { force: true });
	const p = spawn(FAKEQEMU, ['-name', `guest=${name},debug-threads=on`, '--vcpus', '2', '--duty', '40,10', '--ready', ready, ...extra], { stdio: 'ignore' });
	children.push(p);
	return waitFor(() => fs.existsSync(ready), 15000, `fakeqemu ${name} ready`).then(() => p);
}

// The guest side of web1's agent channel (tests/data/libvirt-node.xml): 512 MiB
// used of 1024, a sample a second, so web1 is shrunk on fresh data.
function fakeAgent(sock, totalKb, availKb) {
	fs.mkdirSync(path.dirname(sock), { recursive: true });
	fs.rmSync(sock, { force: true });
	const conns = new Set();
	const srv = net.createServer((c) => {
		conns.add(c);
		c.on('error', () => {});
		c.on('close', () => conns.delete(c));
	});
	let seq = 0;
	const timer = setInterval(() => {
		seq++;
		for (const c of conns)
			c.write(`KP1 sample seq=${seq} boot=4242 ver=test interval_ms=1000 mem_total_kb=${totalKb} ` +
				`mem_avail_kb=${availKb} mem_free_kb=${availKb} swap_total_kb=0 swap_used_kb=0 ` +
				'psi_mem_some=0 psi_cpu_some=0 cpu_busy=500 cpus_online=1 cpus_present=4\n');
	}, 1000);
	srv.listen(sock);
	return {
		close() {
			clearInterval(timer);
			for (const c of conns) c.destroy();
			srv.close();
			fs.rmSync(sock, { force: true });
		},
	};
}

if (process.getuid() !== 0) {
	console.log('needs root (BPF tracer, fake QEMU processes)');
	process.exit(77);
}
for (const f of [CHROMIUM, FAKEQEMU, KVMPILOT])
	if (!fs.existsSync(f)) { console.log(`FAIL: ${f} is missing`); process.exit(1); }

// node packages of the tests: exactly the locked versions, never a browser download
execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: here, stdio: 'inherit', env: { ...process.env, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1' } });
const { chromium } = await import(path.join(here, 'node_modules/playwright-core/index.mjs'));

const port = await freePort();
const pins = `/sys/fs/bpf/kvmpilot-test-dash-${process.pid}`;
const base = `http://127.0.0.1:${port}`;
let svc, ctx, agent;
try {
	agent = fakeAgent('/run/kvmpilot/web1.agent.sock', 1048576, 524288);
	await fakeQemu('svc-dash-a');
	const log = fs.openSync(path.join(OUT, 'kvmpilot.log'), 'w');
	svc = spawn(KVMPILOT, ['run', '--listen', `127.0.0.1:${port}`, '--uri', `test://${SRC}/tests/data/libvirt-node.xml`,
		'--data-dir', path.join(OUT, 'data'), '--dry-run'], { stdio: ['ignore', log, log], env: { ...process.env, KVMPILOT_PIN_ROOT: pins } });
	children.push(svc);
	await waitFor(async () => (await fetch(base + '/healthz')).ok, 20000, 'the service');

	const udd = path.join(OUT, 'chromium-profile');
	fs.rmSync(udd, { recursive: true, force: true });
	ctx = await chromium.launchPersistentContext(udd, {
		executablePath: CHROMIUM, headless: true, viewport: { width: 1400, height: 1100 },
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	const page = ctx.pages()[0] || await ctx.newPage();
	const errors = [];
	page.on('pageerror', (e) => errors.push(e.message));
	// HTTP errors are judged by URL below; a VM that vanished between two polls
	// (other QEMU-like processes on the host come and go) may 404 its series once
	page.on('console', (m) => { if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) errors.push(m.text()); });
	page.on('response', (r) => {
		if (r.status() >= 400 && !(r.status() === 404 && /\/api\/v1\/vms\/[^/]+\/series/.test(r.url())))
			errors.push(`${r.status()} ${r.url()}`);
	});
	await page.goto(base + '/');

	// every VM gets a panel group with six uPlot charts (drawn once on screen)
	for (const name of ['web1', 'db1', 'svc-dash-a']) {
		const sel = `section.vm[data-vm="${name}"]`;
		await waitFor(() => page.evaluate((q) => !!document.querySelector(q), sel), 20000, `a group for ${name}`);
		await page.locator(sel).scrollIntoViewIfNeeded();
		await waitFor(() => page.evaluate((n) => {
			const s = document.querySelector(`section.vm[data-vm="${n}"]`);
			if (s) s.scrollIntoView({ block: 'center' }); /* groups above grow as their charts appear */
			return s && s.dataset.charts === '6' && s.querySelectorAll('.uplot canvas').length === 6;
		}, name), 20000, `six charts for ${name}`).catch(async (e) => { console.log(await page.evaluate((n) => { const s = document.querySelector(`section.vm[data-vm="${n}"]`); const vm = window.kvmpilot.vms.get(n); return JSON.stringify({ds: s.dataset, canv: s.querySelectorAll('canvas').length, vis: vm.visible, charts: !!vm.charts, rect: s.getBoundingClientRect()}); }, name)); throw e; });
		ok(true, `${name}: panel group with 6 charts (memory, vCPUs, exits, exit time, tap, block)`);
	}
	// live data without reload: the number of points grows, values are real
	const pointsOnScreen = () => page.evaluate(() => {
		const s = document.querySelector('section.vm[data-vm="svc-dash-a"]');
		s.scrollIntoView({ block: 'center' });
		return +s.dataset.points;
	});
	const p0 = await pointsOnScreen();
	const p1 = await waitFor(async () => { const p = await pointsOnScreen(); return p >= p0 + 2 ? p : null; },
		10000, 'new points for svc-dash-a');
	ok(p1 >= p0 + 2, `live updates: svc-dash-a went from ${p0} to ${p1} points without a reload`);
	const busy = await page.evaluate(() => window.kvmpilot.vms.get('svc-dash-a').m.vcpu0_busy_pct.filter((v) => v !== null));
	ok(busy.length >= 2 && busy[busy.length - 1] > 5, `vCPU0 busy % plotted from BPF (${busy.slice(-3).map((v) => v.toFixed(1))})`);
	const mem = await page.evaluate(() => window.kvmpilot.vms.get('web1').m.mem_alloc_mib.filter((v) => v !== null));
	ok(mem.length >= 2 && mem[mem.length - 1] === 1024, 'web1 memory panel plots the 1024 MiB allocation');
	const head = await page.textContent('section.vm[data-vm="web1"] .vm-head');
	ok(/agent/.test(head) && /allocation 1024 MiB of 2048/.test(head), 'web1 header shows the memory source and allocation');

	// a VM appears when it starts
	await fakeQemu('svc-dash-b');
	await waitFor(() => page.evaluate(() => !!document.querySelector('section.vm[data-vm="svc-dash-b"]')), 20000,
		'svc-dash-b on the page');
	await page.locator('section.vm[data-vm="svc-dash-b"]').scrollIntoViewIfNeeded();
	await waitFor(() => page.evaluate(() => {
		const s = document.querySelector('section.vm[data-vm="svc-dash-b"]');
		if (s) s.scrollIntoView({ block: 'center' });
		return s && s.dataset.charts === '6' && +s.dataset.points >= 1;
	}), 20000, 'svc-dash-b on the page');
	ok(true, 'a VM that starts appears on the page without a reload');

	// action markers with their reason on hover (web1 is shrunk in dry-run on its agent's data)
	const act = await waitFor(() => page.evaluate(() => {
		const vm = window.kvmpilot.vms.get('web1');
		return vm.actions.find((a) => a.what === 'memory') || null;
	}), 30000, 'a memory action for web1');
	await page.locator('section.vm[data-vm="web1"]').scrollIntoViewIfNeeded();
	await sleep(1200);
	// Charts above may still grow and move web1 on a loaded host: aim again
	// at the marker on every try rather than once.
	let aim = 0;
	const tip = await waitFor(async () => {
		const pos = await page.evaluate((t) => {
			const vm = window.kvmpilot.vms.get('web1');
			vm.sec.scrollIntoView({ block: 'center' });
			const u = vm.charts[0].u;
			const r = u.over.getBoundingClientRect();
			return { x: r.left + u.valToPos(t, 'x'), y: r.top + r.height / 2 };
		}, act.time);
		await page.mouse.move(pos.x + (aim++ % 2), pos.y);
		await sleep(200);
		return page.evaluate(() => {
			const t = document.getElementById('tip');
			return t.hidden ? null : t.textContent;
		});
	}, 15000, 'the action tooltip');
	ok(tip.includes(act.reason) && tip.includes('memory'), `hovering the marker shows the reason: "${tip}"`);
	const rows = await page.locator('#actions tbody tr').count();
	ok(rows >= 1, `the action table lists ${rows} action(s)`);

	await page.mouse.move(5, 5);
	// the screenshot: the fake QEMU with live BPF data, then web1 with its marker
	await page.evaluate(() => {
		const box = document.getElementById('vms');
		for (const n of ['web1', 'svc-dash-a']) box.prepend(document.querySelector(`section.vm[data-vm="${n}"]`));
		window.scrollTo(0, 0);
	});
	await sleep(2500);
	await page.screenshot({ path: path.join(OUT, 'dashboard.png') });
	ok(errors.length === 0, `no JavaScript errors (${errors.join('; ')})`);
	console.log('screenshot: ' + path.join(OUT, 'dashboard.png'));
} catch (e) {
	if (!failed) console.log('FAIL: ' + (e.stack || e));
	failed = true;
} finally {
	if (ctx) await ctx.close();
	if (agent) agent.close();
	const exited = (c) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve()
		: new Promise((r) => { c.once('exit', r); setTimeout(r, 20000); }));
	for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
	await Promise.all(children.map(exited));
	fs.rmSync(pins, { recursive: true, force: true });
}
if (svc && svc.exitCode !== 0) {
	console.log(`FAIL: kvmpilot did not stop cleanly on SIGTERM (exit ${svc.exitCode}, signal ${svc.signalCode})`);
	failed = true;
}
process.exit(failed ? 1 : 0);
