// The webchat widget in a real browser (docs/protocol.md, Webchat): headless
// Chromium loads parley's demo page, opens the widget, chats with the stand-in
// OpenAI (which answers "Echo: <the messages joined by ' | '>"), reloads, and
// checks that the conversation comes back whole, in order, with its statuses,
// and that HTML in a message is shown as text. As a visitor sees it: the
// customer's messages turn read once answered, times follow the page's locale
// (12-hour in en-US, 24-hour in en-GB and de), the panel and the launcher never
// cover each other (desktop 1100×760, phone 390×844), and a widget id that does
// not exist shows its notice and nothing else.
//
//   PARLEY_URL=http://127.0.0.1:PORT WIDGET_ID=ID node webchat.test.mjs
//
// Optional: CHROMIUM (default /usr/bin/chromium),
// ARTIFACTS: a directory for the screenshots (desktop.png, phone.png,
// phone-closed.png, unavailable.png; created if missing),
// OPENAI_URL: the stand-in's base URL, to slow the first reply down so that
// the widget's "typing…" can be seen (parley with replies.typing on),
// SHOP_PORT: a loopback port where this script serves a page of another
// origin embedding the widget (parley must allow http://127.0.0.1:SHOP_PORT
// in webchat.allowed_origins), to check the cross-origin embedding.
// Prints "ok <step>" per step; on the first failure "not ok <step>: why"
// and exits 1.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';

const PARLEY_URL = (process.env.PARLEY_URL || '').replace(/\/+$/, '');
const WIDGET_ID = process.env.WIDGET_ID || '';
const OPENAI_URL = (process.env.OPENAI_URL || '').replace(/\/+$/, '');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// With both: a person writes in the conversation with `parley conversation send`.
const PARLEY_BIN = process.env.PARLEY_BIN || '';
const PARLEY_CONF = process.env.PARLEY_CONF || '';
const PERSON_TEXT = 'Hi, this is Ruth from the shop: we gift-wrap for free.';
const ARTIFACTS = process.env.ARTIFACTS || '';
const TITLE = 'Tulip & Twine support'; // the demo page's data-title
const DESKTOP = { width: 1100, height: 760 };
const PHONE = { width: 390, height: 844 };
const REPLY_TIMEOUT = 20000; // debounce + stand-in + long poll, on a loaded machine
if (!PARLEY_URL || !WIDGET_ID) {
	console.error('usage: PARLEY_URL=http://HOST:PORT WIDGET_ID=ID node webchat.test.mjs');
	process.exit(2);
}
const STORE_KEY = 'parley.webchat.v1.' + WIDGET_ID;
const HTML_TEXT = '<img src=x onerror=alert(1)>';

let browser;
let current = 'start';
const problems = []; // uncaught page errors, CSP violations, dialogs

async function step(name, fn) {
	current = name;
	await fn();
	if (problems.length) throw new Error(problems.join('; '));
	console.log(`ok ${name}`);
}

function fail(why) {
	throw new Error(why);
}

// The widget as data: one entry per message element, in DOM order.
function snapshot() {
	const host = document.querySelector('[data-parley-widget]');
	if (!host || !host.shadowRoot) return null;
	const root = host.shadowRoot;
	return {
		messages: [...root.querySelectorAll('[data-testid=message]')].map((n) => ({
			seq: n.dataset.seq ? Number(n.dataset.seq) : null,
			sender: n.dataset.sender,
			status: n.dataset.status,
			statusText: n.querySelector('[data-testid=message-status]').textContent,
			time: n.querySelector('[data-testid=message-time]').textContent,
			text: n.querySelector('[data-testid=message-text]').textContent,
		})),
		connection: root.querySelector('[data-testid=connection]').dataset.state,
		error: root.querySelector('[data-testid=error]').hidden ? '' : root.querySelector('[data-testid=error]').textContent,
		panelOpen: !root.querySelector('[data-testid=panel]').hidden,
		typing: !root.querySelector('[data-testid=typing]').hidden,
		typingText: root.querySelector('[data-testid=typing]').textContent,
		// Messages the widget still has to send, as it keeps them for a reload.
		unsent: Object.keys(localStorage).filter((k) => k.startsWith('parley.webchat.v1.'))
			.reduce((n, k) => n + ((JSON.parse(localStorage.getItem(k)) || {}).outbox || []).length, 0),
		elements: root.querySelectorAll('img, script, iframe, svg, object').length +
			document.querySelectorAll('img, iframe, object').length,
	};
}

function describe(s) {
	if (!s) return '(no widget on the page)';
	const lines = s.messages.map((m) => `  #${m.seq ?? '-'} ${m.sender} [${m.status}] ${JSON.stringify(m.text)}`);
	return `connection=${s.connection} error=${JSON.stringify(s.error)} panel=${s.panelOpen ? 'open' : 'closed'}\n` +
		(lines.join('\n') || '  (no messages)');
}

// Waits until pred(snapshot) is true; the failure shows what the widget showed.
async function waitUntil(page, what, pred, timeout = REPLY_TIMEOUT) {
	const deadline = Date.now() + timeout;
	let s = null;
	for (;;) {
		s = await page.evaluate(snapshot);
		if (s && pred(s)) return s;
		if (Date.now() > deadline) fail(`timed out after ${timeout} ms waiting for ${what}; the widget shows:\n${describe(s)}`);
		await new Promise((r) => setTimeout(r, 100));
	}
}

async function sendText(page, text) {
	const input = page.locator('[data-testid=input]');
	await input.fill(text);
	await input.press('Enter');
}

const textsOf = (s) => s.messages.map((m) => m.text);
const find = (s, sender, text) => s.messages.filter((m) => m.sender === sender && m.text === text);

async function stored(page) {
	return page.evaluate((key) => JSON.parse(localStorage.getItem(key) || 'null'), STORE_KEY);
}

// The session's messages as the server's poll gives them (not the widget).
async function serverPoll(token) {
	const res = await fetch(`${PARLEY_URL}/webchat/v1/messages?after=0&wait=0`, { headers: { Authorization: `Bearer ${token}` } });
	if (res.status !== 200) fail(`GET /webchat/v1/messages: ${res.status}`);
	return (await res.json()).messages;
}

async function screenshot(page, name) {
	if (!ARTIFACTS) return;
	fs.mkdirSync(ARTIFACTS, { recursive: true });
	await page.screenshot({ path: path.join(ARTIFACTS, name) });
}

// Every message's time, as the widget shows it, against its created_at from
// the server (the contexts run in UTC): `re` captures hour, minute and, for
// 12-hour clocks, AM/PM.
async function checkTimes(page, token, re, what) {
	const s = await page.evaluate(snapshot);
	const created = new Map((await serverPoll(token)).map((m) => [m.sequence_no, m.created_at]));
	if (!s.messages.length) fail('no messages to check the times of');
	for (const m of s.messages) {
		const at = new Date(created.get(m.seq));
		const got = re.exec(m.time);
		if (!got) fail(`#${m.seq} shows ${JSON.stringify(m.time)}, not ${what}`);
		let h = Number(got[1]);
		if (got[3]) h = (h % 12) + (/p/i.test(got[3]) ? 12 : 0);
		if (h !== at.getUTCHours() || Number(got[2]) !== at.getUTCMinutes())
			fail(`#${m.seq} shows ${JSON.stringify(m.time)} for ${created.get(m.seq)}`);
	}
}
// \s also takes the narrow no-break space ICU puts before AM/PM.
const TWELVE_HOUR = /(?:^|\s)(1[0-2]|[1-9]):([0-5]\d)\s?([AP]M)$/;
const TWENTY_FOUR_HOUR = /(?:^|\s)([01]\d|2[0-3]):([0-5]\d)$/;

// Boxes of the launcher and the panel (null when not shown) and the viewport.
async function layout(page) {
	return page.evaluate(() => {
		const root = document.querySelector('[data-parley-widget]').shadowRoot;
		const box = (id) => {
			const n = root.querySelector(`[data-testid=${id}]`);
			if (!n || !n.checkVisibility()) return null;
			const r = n.getBoundingClientRect();
			return { x: r.left, y: r.top, right: r.right, bottom: r.bottom };
		};
		return {
			viewport: { width: window.innerWidth, height: window.innerHeight },
			launcher: box('launcher'), panel: box('panel'), close: box('close'),
			input: box('input'), send: box('send'),
		};
	});
}
const overlap = (a, b) => a.x < b.right && b.x < a.right && a.y < b.bottom && b.y < a.bottom;
const inside = (b, v) => b.x >= 0 && b.y >= 0 && b.right <= v.width && b.bottom <= v.height;
const fmt = (b) => (b ? `${Math.round(b.x)},${Math.round(b.y)}–${Math.round(b.right)},${Math.round(b.bottom)}` : 'hidden');
function checkOpenLayout(l, where) {
	const v = l.viewport;
	for (const k of ['panel', 'close', 'input', 'send'])
		if (!l[k] || !inside(l[k], v)) fail(`${where}: the ${k} (${fmt(l[k])}) is not inside the ${v.width}×${v.height} viewport`);
	if (l.launcher && overlap(l.launcher, l.panel))
		fail(`${where}: the launcher (${fmt(l.launcher)}) and the panel (${fmt(l.panel)}) overlap`);
	if (l.launcher && !inside(l.launcher, v)) fail(`${where}: the launcher (${fmt(l.launcher)}) is outside the viewport`);
}

async function main() {
	browser = await chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		// CI runs as root, where Chromium's sandbox cannot start. The rest keeps
		// Chromium from calling home on a machine without outside network.
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
			'--disable-component-update', '--disable-sync', '--no-first-run'],
	});
	// en-US: 12-hour times; UTC, so that times can be checked against created_at.
	const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US', timezoneId: 'UTC' });
	const page = await context.newPage();
	page.on('pageerror', (e) => problems.push(`uncaught error in the page: ${e.message}`));
	page.on('dialog', (d) => {
		problems.push(`a ${d.type()} dialog opened: ${JSON.stringify(d.message())} (injected script ran)`);
		d.dismiss().catch(() => {});
	});
	page.on('console', (m) => {
		if (m.type() === 'error' && /Content.Security.Policy/i.test(m.text()))
			problems.push(`CSP violation: ${m.text()}`);
	});
	let polls = 0;
	page.on('request', (r) => {
		if (r.method() === 'GET' && r.url().includes('/webchat/v1/messages?')) polls++;
	});
	const demo = `${PARLEY_URL}/webchat/v1/demo?widget=${encodeURIComponent(WIDGET_ID)}`;

	await step('the demo page loads with the widget', async () => {
		const res = await page.goto(demo);
		if (!res || res.status() !== 200) fail(`GET ${demo}: ${res && res.status()}`);
		await page.locator('[data-testid=launcher]').waitFor({ state: 'visible', timeout: 10000 });
		const s = await page.evaluate(snapshot);
		if (s.panelOpen) fail('the panel is open before the launcher was clicked');
		if (s.typing) fail('"typing…" shows before anything was said');
	});

	await step('the launcher opens the panel and a session', async () => {
		await page.locator('[data-testid=launcher]').click();
		await page.locator('[data-testid=panel]').waitFor({ state: 'visible', timeout: 5000 });
		await waitUntil(page, 'the session to be stored and polled', (s) => s.connection === 'online', 10000);
		const st = await stored(page);
		if (!st || !st.session_id || !st.token || !st.expires_at)
			fail(`localStorage ${STORE_KEY} lacks the session: ${JSON.stringify(st)}`);
	});

	const first = 'Hello from the browser';
	let pollsAtSend = 0;
	await step('a message is sent and shown as sent', async () => {
		if (OPENAI_URL) {
			// The first reply takes 6 s, long enough to watch "typing…" on a loaded
			// machine (test_browser.sh gives OpenAI 15 s).
			const res = await fetch(`${OPENAI_URL}/_script`, { method: 'POST', body: '[{"delay_ms":6000}]' });
			if (res.status !== 200) fail(`scripting the stand-in: ${res.status}`);
		}
		pollsAtSend = polls;
		await sendText(page, first);
		const s = await waitUntil(page, `"${first}" shown`, (x) => find(x, 'user', first).length > 0, 5000);
		const m = find(s, 'user', first)[0];
		if (!['sending', 'sent'].includes(m.status)) fail(`status ${m.status} right after sending`);
		// Without the stand-in's delay the answer may come first, and make it read.
		const ok = OPENAI_URL ? ['sent'] : ['sent', 'read'];
		const done = await waitUntil(page, `"${first}" sent`, (x) => find(x, 'user', first).some((y) => ok.includes(y.status) && y.seq), 10000);
		if (find(done, 'user', first).length !== 1) fail(`shown ${find(done, 'user', first).length} times:\n${describe(done)}`);
		if (!ok.includes(find(done, 'user', first)[0].statusText)) fail(`status text ${find(done, 'user', first)[0].statusText}`);
	});

	if (OPENAI_URL) {
		await step('"typing…" shows while the reply is produced', async () => {
			const s = await waitUntil(page, '"typing…"', (x) => x.typing, 10000);
			if (s.typingText !== 'typing…') fail(`it says ${JSON.stringify(s.typingText)}`);
			if (find(s, 'agent', `Echo: ${first}`).length) fail('typing shown only after the reply came');
		});
	}

	await step('the AI reply appears after it', async () => {
		const reply = `Echo: ${first}`;
		const s = await waitUntil(page, `the reply "${reply}" and no "typing…"`, (x) => find(x, 'agent', reply).length > 0 && !x.typing);
		const u = find(s, 'user', first)[0], a = find(s, 'agent', reply)[0];
		if (!(a.seq > u.seq)) fail(`reply #${a.seq} is not after the message #${u.seq}`);
		// Each long poll ends with news (the message, the reply): a handful,
		// not a poll loop re-asking for what it already has.
		if (polls - pollsAtSend > 6) fail(`${polls - pollsAtSend} polls between the send and the reply`);
	});

	await step("the customer's message turns read once the agent has answered, in the widget and in the poll", async () => {
		const s = await waitUntil(page, `"${first}" read`, (x) => find(x, 'user', first).some((m) => m.status === 'read' && m.statusText === 'read'), 5000);
		const polled = await serverPoll((await stored(page)).token);
		const u = polled.find((m) => m.text === first);
		if (!u || u.status !== 'read') fail(`the poll says ${JSON.stringify(u)}`);
		if (find(s, 'user', first).length !== 1) fail(`shown twice:\n${describe(s)}`);
	});

	await step('the reply becomes read while the panel is open', async () => {
		await waitUntil(page, 'the reply marked read', (x) => find(x, 'agent', `Echo: ${first}`).some((m) => m.status === 'read' && m.statusText === 'read'), 10000);
	});

	await step('at rest the widget holds one long poll, not a loop of them', async () => {
		const before = polls;
		await page.waitForTimeout(2000);
		if (polls - before > 1) fail(`${polls - before} polls in 2 s with nothing to say`);
	});

	// A send whose answer is lost on the way back: the widget must retry with
	// the same client_message_id, and the server must store it once.
	const second = 'Second question: do you ship to Utrecht?';
	const posted = [];
	await step('a send whose answer was lost is retried and stored once', async () => {
		let dropped = false;
		await page.route('**/webchat/v1/messages', async (route) => {
			const req = route.request();
			if (req.method() !== 'POST') return route.continue();
			posted.push(JSON.parse(req.postData() || '{}'));
			if (!dropped) {
				dropped = true;
				await route.fetch(); // the server stores it ...
				return route.abort('connectionreset'); // ... but the browser never hears
			}
			return route.continue();
		});
		await sendText(page, second);
		let most = 0; // the message must never show twice, not even while the retry waits
		const s = await waitUntil(page, `"${second}" sent after a retry`, (x) => {
			most = Math.max(most, find(x, 'user', second).length);
			return posted.length >= 2 && x.unsent === 0 && find(x, 'user', second).length === 1;
		}, 15000);
		if (most > 1) fail(`"${second}" was shown ${most} times while its retry was due`);
		await page.unroute('**/webchat/v1/messages');
		if (posted.length < 2) fail(`expected a retry, saw ${posted.length} POST(s)`);
		const ids = new Set(posted.map((p) => p.client_message_id));
		if (ids.size !== 1 || !posted[0].client_message_id) fail(`the retry used another client_message_id: ${[...ids].join(', ')}`);
		const m = find(s, 'user', second)[0];
		// Read already, when its answer came as quickly.
		if (!['sent', 'read'].includes(m.status) || !m.seq) fail(`not shown as sent:\n${describe(s)}`);
		await waitUntil(page, `the reply to "${second}", and "${second}" read`, (x) => find(x, 'agent', `Echo: ${second}`).length === 1 &&
			find(x, 'user', second)[0].status === 'read');
	});

	await step('HTML in a message and in its reply is shown as text', async () => {
		await sendText(page, HTML_TEXT);
		const s = await waitUntil(page, 'the reply to the HTML message', (x) => find(x, 'agent', `Echo: ${HTML_TEXT}`).length > 0);
		if (find(s, 'user', HTML_TEXT).length !== 1) fail(`the HTML message is not shown literally:\n${describe(s)}`);
		if (s.elements !== 0) fail(`${s.elements} img/script/iframe element(s) appeared`);
		// Give an injected onerror handler the time to fire before trusting silence.
		await page.waitForTimeout(300);
	});

	const expected = [first, `Echo: ${first}`, second, `Echo: ${second}`, HTML_TEXT, `Echo: ${HTML_TEXT}`];
	const sessionBefore = (await stored(page)).session_id;

	await step('after a reload the whole conversation is shown again, in order', async () => {
		await page.reload();
		await page.locator('[data-testid=launcher]').waitFor({ state: 'visible', timeout: 10000 });
		const s = await waitUntil(page, 'the history', (x) => x.messages.length >= expected.length, 10000);
		if (JSON.stringify(textsOf(s)) !== JSON.stringify(expected))
			fail(`want ${JSON.stringify(expected)}\n${describe(s)}`);
		const seqs = s.messages.map((m) => m.seq);
		if (seqs.some((q, i) => !q || (i > 0 && q <= seqs[i - 1]))) fail(`sequence numbers not increasing: ${seqs}`);
		if ((await stored(page)).session_id !== sessionBefore) fail('the reload started another session');
		if (s.elements !== 0) fail('the reloaded HTML message became elements');
	});

	await step('after the reload the statuses come from the server: every message read, answered or seen', async () => {
		await page.locator('[data-testid=launcher]').click();
		const s = await waitUntil(page, 'statuses', (x) => x.messages.length === expected.length && x.panelOpen);
		const bad = s.messages.filter((m) => m.status !== 'read' || m.statusText !== 'read');
		if (bad.length) fail(`unexpected statuses:\n${describe(s)}`);
		const polled = await serverPoll((await stored(page)).token);
		if (polled.filter((m) => m.sender !== 'agent').some((m) => m.status !== 'read'))
			fail(`the poll does not say the answered messages are read: ${JSON.stringify(polled.map((m) => [m.sequence_no, m.sender, m.status]))}`);
	});

	await step('desktop, en-US page in "en": 12-hour times (24-hour with data-locale="de-DE"); the panel above the launcher, both in view', async () => {
		await checkTimes(page, (await stored(page)).token, TWELVE_HOUR, 'a 12-hour time');
		const l = await layout(page);
		checkOpenLayout(l, 'desktop');
		if (!l.launcher) fail('desktop: the launcher is hidden while the panel is open');
		if (!(l.panel.bottom <= l.launcher.y)) fail(`desktop: the panel (${fmt(l.panel)}) is not above the launcher (${fmt(l.launcher)})`);
		await screenshot(page, 'desktop.png');
		// data-locale on the script tag comes first (read at each render: the
		// panel closed and opened again renders).
		const setLocale = (v) => page.evaluate((x) => {
			const tag = document.querySelector('script[data-widget]');
			if (x) tag.setAttribute('data-locale', x);
			else tag.removeAttribute('data-locale');
		}, v);
		const reopen = async () => {
			await page.locator('[data-testid=launcher]').click();
			await page.locator('[data-testid=launcher]').click();
			await page.locator('[data-testid=panel]').waitFor({ state: 'visible', timeout: 5000 });
		};
		await setLocale('de-DE');
		await reopen();
		await checkTimes(page, (await stored(page)).token, TWENTY_FOUR_HOUR, 'a 24-hour time with data-locale="de-DE"');
		await setLocale('');
		await reopen();
		await checkTimes(page, (await stored(page)).token, TWELVE_HOUR, 'a 12-hour time again');
	});

	await step('phone 390×844, en-GB browser: 24-hour times; the open panel fills the screen, the launcher waits', async () => {
		// The same session in a phone: its localStorage, copied.
		const phone = await browser.newContext({
			viewport: PHONE, isMobile: true, hasTouch: true, deviceScaleFactor: 2,
			locale: 'en-GB', timezoneId: 'UTC', storageState: await context.storageState(),
		});
		try {
			const p = await phone.newPage();
			p.on('pageerror', (e) => problems.push(`uncaught error in the phone page: ${e.message}`));
			await p.goto(demo);
			const launcher = p.locator('[data-testid=launcher]');
			await launcher.waitFor({ state: 'visible', timeout: 10000 });
			let l = await layout(p);
			if (!l.launcher || !inside(l.launcher, l.viewport)) fail(`closed: the launcher (${fmt(l.launcher)}) is not in view`);
			if (l.launcher.right - l.launcher.x > l.viewport.width / 2 + 40) fail(`closed: the launcher is ${Math.round(l.launcher.right - l.launcher.x)} px wide`);
			// The closed widget takes no more of the page than its launcher.
			const below = await p.evaluate(({ x, y }) => document.elementFromPoint(x, y).closest('[data-parley-widget]') === null,
				{ x: 20, y: (l.launcher.y + l.launcher.bottom) / 2 });
			if (!below) fail('closed: the widget takes the clicks left of its launcher');
			await screenshot(p, 'phone-closed.png');
			await launcher.tap();
			await p.locator('[data-testid=panel]').waitFor({ state: 'visible', timeout: 5000 });
			await waitUntil(p, 'the conversation in the phone', (x) => x.messages.length === expected.length);
			l = await layout(p);
			checkOpenLayout(l, 'phone');
			if (l.panel.right - l.panel.x < l.viewport.width - 1) fail(`phone: the panel (${fmt(l.panel)}) does not take the width`);
			await checkTimes(p, (await stored(p)).token, TWENTY_FOUR_HOUR, 'a 24-hour time');
			await screenshot(p, 'phone.png');
			await p.locator('[data-testid=close]').tap();
			await p.locator('[data-testid=panel]').waitFor({ state: 'hidden', timeout: 5000 });
			l = await layout(p);
			if (!l.launcher || !inside(l.launcher, l.viewport)) fail(`after closing: the launcher (${fmt(l.launcher)}) is not back`);
		} finally {
			await phone.close();
		}
	});

	// A person answers from the command line (README, A person's messages):
	// the widget shows it in the open panel like any agent message.
	if (PARLEY_BIN && PARLEY_CONF) {
		await step("a person's message (parley conversation send) appears in the open widget", async () => {
			const list = JSON.parse(execFileSync(PARLEY_BIN, ['conversation', 'list', '--tenant', 'tulip', '--json', '-c', PARLEY_CONF]));
			if (list.length !== 1) fail(`want one conversation, got ${list.length}`);
			execFileSync(PARLEY_BIN, ['conversation', 'send', list[0].conversation_id, '--keep-ai', '--text-file', '-', '-c', PARLEY_CONF],
				{ input: PERSON_TEXT + '\n' });
			// Read, too: the widget has then stored all it will (the next step
			// edits its localStorage, which a later save would overwrite).
			await waitUntil(page, `the person's message "${PERSON_TEXT}", read`, (x) => find(x, 'agent', PERSON_TEXT).some((m) => m.status === 'read'), 10000);
		});
	}

	await step('a refused token starts a new session that works', async () => {
		await page.evaluate((key) => {
			const st = JSON.parse(localStorage.getItem(key));
			st.token = st.token.slice(0, -4) + (st.token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
			localStorage.setItem(key, JSON.stringify(st));
		}, STORE_KEY);
		await page.reload();
		await page.locator('[data-testid=launcher]').click();
		await waitUntil(page, 'a new session', (x) => x.connection === 'online', 15000);
		const st = await stored(page);
		if (!st.session_id || st.session_id === sessionBefore) fail(`session not replaced: ${JSON.stringify(st && st.session_id)}`);
		const text = 'Anyone there after the new session?';
		await sendText(page, text);
		const s = await waitUntil(page, 'the reply in the new session', (x) => find(x, 'agent', `Echo: ${text}`).length > 0);
		if (JSON.stringify(textsOf(s)) !== JSON.stringify([text, `Echo: ${text}`]))
			fail(`the new session shows more than its own conversation:\n${describe(s)}`);
	});

	if (process.env.SHOP_PORT) {
		await step('embedded on another origin, the widget works across CORS; a page in "de" gets 24-hour times', async () => {
			const port = Number(process.env.SHOP_PORT);
			const shop = http.createServer((req, res) => {
				res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
				res.end(`<!doctype html><html lang="de"><title>Ein anderer Laden</title><h1>Ein anderer Laden</h1>
<script src="${PARLEY_URL}/webchat/v1/widget.js" data-widget="${WIDGET_ID}" async></script>`);
			});
			await new Promise((ok, ko) => shop.listen(port, '127.0.0.1', ok).on('error', ko));
			try {
				const other = await context.newPage();
				other.on('pageerror', (e) => problems.push(`uncaught error in the page: ${e.message}`));
				await other.goto(`http://127.0.0.1:${port}/`);
				await other.locator('[data-testid=launcher]').click();
				const text = 'Hello from another website';
				await sendText(other, text);
				await waitUntil(other, 'the reply across origins', (x) => find(x, 'agent', `Echo: ${text}`).length === 1);
				// The page's lang, not the browser's en-US, sets the clock.
				const token = await other.evaluate((key) => JSON.parse(localStorage.getItem(key)).token, STORE_KEY);
				await checkTimes(other, token, TWENTY_FOUR_HOUR, 'a 24-hour time');
				await other.close();
			} finally {
				shop.close();
			}
		});
	}

	await step('a widget that does not exist shows its notice and nothing else', async () => {
		const other = await context.newPage();
		other.on('pageerror', (e) => problems.push(`uncaught error in the page: ${e.message}`));
		const wrong = `no-such-widget-${Date.now()}`;
		await other.goto(`${PARLEY_URL}/webchat/v1/demo?widget=${wrong}`);
		// What an earlier visit could have left: a session and an unsent message.
		await other.evaluate((key) => localStorage.setItem(key, JSON.stringify({
			session_id: 'ws_gone', token: 'v1.Z29uZQ.Z29uZQ', expires_at: '2099-01-01T00:00:00Z', last_seq: 3,
			read_up_to: 2, outbox: [{ client_message_id: 'stale-1', text: 'A message from an earlier visit' }],
		})), `parley.webchat.v1.${wrong}`);
		await other.reload();
		await other.locator('[data-testid=launcher]').click();
		const s = await waitUntil(other, 'the unavailable notice', (x) => x.connection === 'unavailable' && x.error !== '', 10000);
		if (!/not available/.test(s.error)) fail(`notice: ${s.error}`);
		const seen = await other.evaluate(() => {
			const root = document.querySelector('[data-parley-widget]').shadowRoot;
			const panel = root.querySelector('[data-testid=panel]');
			return {
				visible: [...root.querySelectorAll('[data-testid]')].filter((n) => n.checkVisibility()).map((n) => n.dataset.testid),
				controls: [...panel.querySelectorAll('textarea, input, button')].filter((n) => n.checkVisibility()).map((n) => n.dataset.testid),
				text: panel.innerText.replace(/\s+/g, ' ').trim(),
			};
		});
		const extra = seen.visible.filter((id) => !['panel', 'connection', 'close', 'error', 'launcher'].includes(id));
		if (extra.length) fail(`shown besides the notice: ${extra.join(', ')}`);
		if (seen.controls.join() !== 'close') fail(`controls in the panel: ${seen.controls.join(', ')}`);
		const want = `${TITLE} × This chat is not available right now.`;
		if (seen.text !== want) fail(`the panel reads ${JSON.stringify(seen.text)}, want ${JSON.stringify(want)}`);
		const l = await layout(other);
		if (!l.panel || !inside(l.panel, l.viewport)) fail(`the panel (${fmt(l.panel)}) is not in view`);
		if (l.launcher && overlap(l.launcher, l.panel)) fail(`the launcher (${fmt(l.launcher)}) and the panel (${fmt(l.panel)}) overlap`);
		await screenshot(other, 'unavailable.png');
		await other.close();
	});
}

main().then(
	async () => {
		await browser.close();
		process.exit(0);
	},
	async (e) => {
		console.log(`not ok ${current}: ${String(e && e.message ? e.message : e).replace(/\n/g, '\n    ')}`);
		if (browser) await browser.close().catch(() => {});
		process.exit(1);
	},
);
