/* kvmpilot dashboard: one panel group per VM, live every second.
 * Reads /api/v1/vms (latest state), /api/v1/vms/NAME/series?since=T (only the
 * rows it does not have yet, only for VMs on screen), /api/v1/actions and /healthz. */
'use strict';
(function () {
	const TICK_MS = 1000;
	const KEEP_S = 3600;
	const VCPUS = 4;
	const BASE = ['mem_used_mib', 'mem_alloc_mib', 'forecast_mib', 'forecast_lo_mib',
		'forecast_hi_mib', 'target_mib', 'vcpus_online', 'exits_per_s', 'exit_p50_us',
		'exit_p99_us', 'net_rx_bytes_per_s', 'net_tx_bytes_per_s', 'blk_read_bytes_per_s',
		'blk_write_bytes_per_s', 'blk_p99_us'];
	for (let i = 0; i < VCPUS; i++)
		BASE.push('vcpu' + i + '_busy_pct', 'vcpu' + i + '_wait_pct');
	const COLORS = ['#2f6fdd', '#e8590c', '#2b8a3e', '#ae3ec9', '#f08c00', '#0b7285', '#c92a2a', '#5c940d'];

	const vms = new Map();
	const $ = (s) => document.querySelector(s);
	const vmsBox = $('#vms');
	const tip = $('#tip');
	let windowS = +$('#window').value;
	let filter = '';
	let actionsSince = 0;

	function el(tag, cls, text) {
		const e = document.createElement(tag);
		if (cls) e.className = cls;
		if (text !== undefined) e.textContent = text;
		return e;
	}
	async function getJSON(url) {
		const r = await fetch(url, { cache: 'no-store' });
		if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
		return r.json();
	}
	const fmt = (v, d = 1) => (v === null || v === undefined ? '–' : (+v).toFixed(d));
	function fmtBytes(v) {
		if (v === null || v === undefined) return '–';
		const u = ['B', 'KiB', 'MiB', 'GiB'];
		let i = 0;
		while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
		return v.toFixed(i ? 1 : 0) + ' ' + u[i];
	}

	/* ---- one VM ---- */

	function newVM(name) {
		const sec = el('section', 'vm');
		sec.dataset.vm = name;
		sec.dataset.points = '0';
		const head = el('div', 'vm-head');
		head.append(el('h2', null, name));
		const kv = {};
		for (const k of ['memory', 'allocation', 'vcpus', 'cpu', 'policy']) {
			kv[k] = el('span', 'kv');
			head.append(kv[k]);
		}
		kv.decision = el('div', 'decision');
		head.append(kv.decision);
		const panels = el('div', 'panels');
		sec.append(head, panels);
		const vm = {
			name, sec, kv, panels, t: [], m: {}, lastT: 0, charts: null, visible: false,
			fetching: false, reasons: [], actions: [], dirty: false, info: null,
		};
		for (const k of BASE) vm.m[k] = [];
		observer.observe(sec);
		return vm;
	}

	function updateHead(vm, v) {
		vm.info = v;
		const m = v.memory, a = v.allocation, c = v.cpu;
		vm.kv.memory.innerHTML = '';
		const src = el('b', 'src-' + m.source, m.source);
		vm.kv.memory.append('memory ', src,
			m.source === 'none' ? '' : ` ${fmt(m.guest_used_mib, 0)}/${fmt(m.guest_total_mib, 0)} MiB used, age ${fmt(m.age_s, 1)} s`);
		vm.kv.allocation.textContent = `allocation ${fmt(a.memory_mib, 0)} MiB of ${fmt(a.memory_max_mib, 0)}`;
		vm.kv.vcpus.textContent = `vCPUs ${a.vcpus_online ?? '–'} online, ${a.vcpus ?? '–'} plugged, max ${a.vcpus_max ?? '–'}`;
		vm.kv.cpu.textContent = `busy ${fmt(c.busy_pct)}% wait ${fmt(c.wait_pct)}% (${c.source})`;
		vm.kv.policy.textContent = `policy ${v.policy}${v.dry_run ? ' (dry-run)' : ''}${v.enabled ? '' : ' (disabled)'}`;
		const d = v.decision;
		vm.kv.decision.textContent = d.decided ? 'decision: ' + (d.reason || '')
			: !v.found_by.includes('libvirt') ? 'observed only: not a libvirt domain'
			: !v.enabled ? 'observed only: disabled in the configuration' : 'no decision yet';
	}

	/* ---- charts ---- */

	function actionsPlugin(vm, kinds) {
		function draw(u) {
			const ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
			const [lo, hi] = [u.scales.x.min, u.scales.x.max];
			ctx.save();
			ctx.lineWidth = 2 * devicePixelRatio;
			for (const a of vm.actions) {
				if (!kinds.includes(a.what) || a.time < lo || a.time > hi) continue;
				const x = Math.round(u.valToPos(a.time, 'x', true));
				ctx.strokeStyle = a.result === 'ok' ? '#d6336c' : '#adb5bd';
				ctx.setLineDash([4, 3]);
				ctx.beginPath();
				ctx.moveTo(x, top);
				ctx.lineTo(x, top + h);
				ctx.stroke();
			}
			ctx.restore();
		}
		function setCursor(u) {
			const left = u.cursor.left;
			if (left === undefined || left < 0) { tip.hidden = true; return; }
			let best = null, bestD = 6;
			for (const a of vm.actions) {
				if (!kinds.includes(a.what)) continue;
				const d = Math.abs(u.valToPos(a.time, 'x') - left);
				if (d < bestD) { best = a; bestD = d; }
			}
			if (!best) { tip.hidden = true; return; }
			const r = u.over.getBoundingClientRect();
			tip.textContent = `${new Date(best.time * 1000).toLocaleTimeString()} ${best.what} ` +
				`${best.from} → ${best.to}${best.unit ? ' ' + best.unit : ''} (${best.result}): ${best.reason}`;
			tip.style.left = Math.min(r.left + left + 12, innerWidth - 370) + 'px';
			tip.style.top = (r.top + (u.cursor.top || 0) + 12) + 'px';
			tip.hidden = false;
		}
		return { hooks: { draw: [draw], setCursor: [setCursor] } };
	}

	const line = (label, color, extra) => Object.assign({ label, stroke: color, width: 1.5, spanGaps: false }, extra || {});
	const axisFmt = (f) => ({ values: (u, vals) => vals.map(f), size: 60 });

	function chartDefs(vm) {
		const reasons = vm.reasons;
		const vcpuSeries = [];
		for (let i = 0; i < VCPUS; i++)
			vcpuSeries.push(line('vCPU' + i + ' busy %', COLORS[i]));
		for (let i = 0; i < VCPUS; i++)
			vcpuSeries.push(line('vCPU' + i + ' wait %', COLORS[i], { dash: [4, 4], width: 1 }));
		return [
			{
				id: 'memory', title: 'Memory (MiB): guest used, allocation, forecast band, prototype thresholds',
				kinds: ['memory'],
				series: [line('guest used', '#2f6fdd', { width: 2 }), line('allocation', '#212529', { width: 2 }),
					line('forecast', '#ae3ec9'), line('forecast lo', 'rgba(174,62,201,0.3)'),
					line('forecast hi', 'rgba(174,62,201,0.3)'), line('target', '#2b8a3e', { dash: [2, 2] }),
					line('80% (prototype +100 MiB)', '#e03131', { dash: [8, 4], width: 1 }),
					line('20% (prototype −500 MiB)', '#f08c00', { dash: [8, 4], width: 1 })],
				bands: [{ series: [5, 4], fill: 'rgba(174,62,201,0.12)' }],
				data: () => {
					const a = vm.m.mem_alloc_mib;
					return [vm.m.mem_used_mib, a, vm.m.forecast_mib, vm.m.forecast_lo_mib, vm.m.forecast_hi_mib,
						vm.m.target_mib, a.map((v) => (v == null ? null : v * 0.8)), a.map((v) => (v == null ? null : v * 0.2))];
				},
			},
			{
				id: 'vcpus', title: 'vCPUs: busy % and run-queue wait % per vCPU, online count',
				kinds: ['vcpus'],
				series: [...vcpuSeries, line('online vCPUs', '#212529', { scale: 'n', width: 2, paths: uPlot.paths.stepped({ align: 1 }) })],
				axes2: { scale: 'n', side: 1, grid: { show: false }, size: 40 },
				data: () => {
					const d = [];
					for (let i = 0; i < VCPUS; i++) d.push(vm.m['vcpu' + i + '_busy_pct']);
					for (let i = 0; i < VCPUS; i++) d.push(vm.m['vcpu' + i + '_wait_pct']);
					d.push(vm.m.vcpus_online);
					return d;
				},
			},
			{
				id: 'exits', title: 'KVM exits/s by reason (stacked)',
				kinds: [],
				series: reasons.length ? reasons.slice().reverse().map((r, i) => line(r.replace('exits_per_s:', ''), COLORS[i % COLORS.length],
					{ fill: COLORS[i % COLORS.length] + '55' })) : [line('exits/s', COLORS[0], { fill: COLORS[0] + '55' })],
				data: () => {
					if (!reasons.length) return [vm.m.exits_per_s];
					/* stack: each series is the sum of itself and those below it */
					const out = [], n = vm.t.length;
					let acc = new Array(n).fill(0);
					for (const r of reasons) {
						const src = vm.m[r] || [];
						acc = acc.map((v, i) => (src[i] == null ? v : v + src[i]));
						out.push(acc.slice());
					}
					/* the tallest first, so each smaller fill is drawn over it */
					return out.reverse();
				},
			},
			{
				id: 'exitlat', title: 'Exit handling time (µs): p50, p99 per tick',
				kinds: [],
				series: [line('p50', COLORS[0]), line('p99', COLORS[1])],
				data: () => [vm.m.exit_p50_us, vm.m.exit_p99_us],
			},
			{
				id: 'net', title: 'Tap I/O (bytes/s, guest view)',
				kinds: [],
				series: [line('rx (to guest)', COLORS[2]), line('tx (from guest)', COLORS[1])],
				axes1: axisFmt(fmtBytes),
				data: () => [vm.m.net_rx_bytes_per_s, vm.m.net_tx_bytes_per_s],
			},
			{
				id: 'block', title: 'Block I/O (bytes/s) and p99 latency (µs)',
				kinds: [],
				series: [line('read', COLORS[0]), line('write', COLORS[1]), line('p99 latency µs', '#868e96', { scale: 'us', dash: [3, 3] })],
				axes1: axisFmt(fmtBytes),
				axes2: { scale: 'us', side: 1, grid: { show: false }, size: 50 },
				data: () => [vm.m.blk_read_bytes_per_s, vm.m.blk_write_bytes_per_s, vm.m.blk_p99_us],
			},
		];
	}

	function makeChart(vm, def, box) {
		const w = Math.max(box.clientWidth, 300);
		const axes = [{}, Object.assign({ size: 50 }, def.axes1 || {})];
		if (def.axes2) axes.push(def.axes2);
		const scales = { x: { time: true } };
		if (def.axes2) scales[def.axes2.scale] = { auto: true };
		const opts = {
			width: w, height: 170, scales, axes,
			series: [{}, ...def.series],
			bands: def.bands,
			legend: { live: true },
			cursor: { points: { show: false } },
			plugins: [actionsPlugin(vm, def.kinds)],
		};
		return new uPlot(opts, [vm.t, ...def.data()], box);
	}

	function buildCharts(vm) {
		vm.panels.innerHTML = '';
		vm.charts = [];
		vm.chartKey = vm.reasons.join(',');
		for (const def of chartDefs(vm)) {
			const p = el('div', 'panel');
			p.dataset.panel = def.id;
			p.append(el('h3', null, def.title));
			const box = el('div', 'chart');
			p.append(box);
			vm.panels.append(p);
			vm.charts.push({ def, box, u: null });
		}
		for (const c of vm.charts) c.u = makeChart(vm, c.def, c.box);
		vm.sec.dataset.charts = String(vm.charts.length);
	}

	function redraw(vm) {
		if (!vm.charts || vm.chartKey !== vm.reasons.join(',')) {
			if (vm.charts) for (const c of vm.charts) c.u.destroy();
			buildCharts(vm);
		}
		const now = vm.t.length ? vm.t[vm.t.length - 1] : Date.now() / 1000;
		for (const c of vm.charts) {
			c.u.setData([vm.t, ...c.def.data()], false);
			c.u.setScale('x', { min: Math.max(now - windowS, (vm.t[0] || now) - 1), max: now });
		}
		vm.dirty = false;
	}

	/* ---- data ---- */

	function append(vm, js) {
		const n = js.t.length;
		if (!n) return;
		for (const k of Object.keys(js.series)) if (!vm.m[k]) vm.m[k] = new Array(vm.t.length).fill(null);
		for (let i = 0; i < n; i++) {
			if (js.t[i] <= vm.lastT) continue;
			vm.t.push(js.t[i]);
			for (const k of Object.keys(vm.m)) {
				const s = js.series[k];
				vm.m[k].push(s ? s[i] : null);
			}
		}
		vm.lastT = vm.t[vm.t.length - 1];
		/* keep the last hour */
		let cut = 0;
		while (cut < vm.t.length && vm.t[cut] < vm.lastT - KEEP_S) cut++;
		if (cut) {
			vm.t.splice(0, cut);
			for (const k of Object.keys(vm.m)) vm.m[k].splice(0, cut);
		}
		const reasons = (js.reason_metrics || []).slice(0, 6);
		if (reasons.join(',') !== vm.reasons.join(',')) vm.reasons = reasons;
		vm.sec.dataset.points = String(vm.t.length);
		vm.dirty = true;
	}

	async function fetchSeries(vm) {
		if (vm.fetching) return;
		vm.fetching = true;
		try {
			const metrics = BASE.concat(vm.reasons).join(',');
			const js = await getJSON('/api/v1/vms/' + encodeURIComponent(vm.name) + '/series?metric=' +
				encodeURIComponent(metrics) + '&since=' + vm.lastT);
			append(vm, js);
		} catch (e) {
			/* the VM may have just gone; the next /vms poll removes it */
		} finally {
			vm.fetching = false;
		}
	}

	const observer = new IntersectionObserver((entries) => {
		for (const e of entries) {
			const vm = vms.get(e.target.dataset.vm);
			if (!vm) continue;
			vm.visible = e.isIntersecting;
			if (vm.visible) fetchSeries(vm).then(() => requestAnimationFrame(() => vm.visible && redraw(vm)));
		}
	}, { rootMargin: '200px' });

	function applyFilter() {
		for (const vm of vms.values()) vm.sec.hidden = filter && !vm.name.toLowerCase().includes(filter);
	}

	async function pollVMs() {
		const js = await getJSON('/api/v1/vms');
		const seen = new Set();
		const sorted = js.vms.slice().sort((a, b) => a.name.localeCompare(b.name));
		for (const v of sorted) {
			seen.add(v.name);
			let vm = vms.get(v.name);
			if (!vm) {
				vm = newVM(v.name);
				vms.set(v.name, vm);
				/* keep the groups sorted by name */
				const next = [...vms.keys()].sort().find((n) => n > v.name);
				vmsBox.insertBefore(vm.sec, next ? vms.get(next).sec : null);
			}
			updateHead(vm, v);
		}
		for (const [name, vm] of vms) {
			if (seen.has(name)) continue;
			observer.unobserve(vm.sec);
			if (vm.charts) for (const c of vm.charts) c.u.destroy();
			vm.sec.remove();
			vms.delete(name);
		}
		$('#empty').hidden = vms.size > 0;
		applyFilter();
		await Promise.all([...vms.values()].filter((vm) => vm.visible && !vm.sec.hidden).map(fetchSeries));
		requestAnimationFrame(() => {
			for (const vm of vms.values()) if (vm.visible && (vm.dirty || !vm.charts)) redraw(vm);
		});
	}

	async function pollActions() {
		const js = await getJSON('/api/v1/actions?since=' + actionsSince);
		const body = $('#actions tbody');
		for (const a of js.actions) {
			actionsSince = Math.max(actionsSince, a.time);
			const vm = vms.get(a.vm);
			if (vm) { vm.actions.push(a); if (vm.actions.length > 500) vm.actions.shift(); vm.dirty = true; }
			const tr = el('tr');
			const res = el('td', a.result === 'ok' || a.result === 'dry-run' ? 'r-ok' : 'r-err', a.result);
			tr.append(el('td', null, new Date(a.time * 1000).toLocaleTimeString()), el('td', null, a.vm),
				el('td', null, a.what), el('td', null, `${a.from} → ${a.to} ${a.unit}`), el('td', null, a.reason), res);
			body.prepend(tr);
		}
		while (body.rows.length > 200) body.deleteRow(body.rows.length - 1);
	}

	async function pollHealth() {
		const h = await getJSON('/healthz');
		const box = $('#health');
		box.innerHTML = '';
		const part = (label, ok, title) => {
			const s = el('span', ok ? 'ok' : 'bad', label + (ok ? ' ✓' : ' ✗'));
			s.title = title || '';
			box.append(s, ' ');
		};
		part('libvirt', h.libvirt.connected, h.libvirt.error || h.libvirt.uri);
		part('BPF', h.bpf.loaded, h.bpf.error || '');
		box.append(`${h.vms} VMs, tick ${fmt(h.tick.last_duration_ms, 1)} ms${h.dry_run ? ', dry-run' : ''}`);
		box.dataset.status = h.status;
	}

	let n = 0;
	async function loop() {
		const t0 = performance.now();
		try {
			await pollVMs();
			await pollActions();
			if (n++ % 5 === 0) await pollHealth();
			document.body.dataset.live = String(n);
		} catch (e) {
			$('#health').textContent = 'service unreachable: ' + e.message;
		}
		setTimeout(loop, Math.max(100, TICK_MS - (performance.now() - t0)));
	}

	$('#filter').addEventListener('input', (e) => { filter = e.target.value.trim().toLowerCase(); applyFilter(); });
	$('#window').addEventListener('change', (e) => {
		windowS = +e.target.value;
		for (const vm of vms.values()) if (vm.visible && vm.charts) redraw(vm);
	});
	let resizeT = 0;
	addEventListener('resize', () => {
		clearTimeout(resizeT);
		resizeT = setTimeout(() => {
			for (const vm of vms.values())
				if (vm.charts) for (const c of vm.charts) c.u.setSize({ width: Math.max(c.box.clientWidth, 300), height: 170 });
		}, 150);
	});
	/* read-only handle for tests and the browser console */
	window.kvmpilot = { vms };
	loop();
})();
