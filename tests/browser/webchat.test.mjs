// The webchat widget in a real browser (docs/protocol.md, Webchat): headless
// Chromium loads parley's demo page, opens the widget, chats with the stand-in
// OpenAI (which answers "Echo: <the messages joined by ' | '>"), reloads, and
// checks that the conversation comes back whole, in order, with its statuses,
// and that HTML in a message is shown as text.
//
//   PARLEY_URL=http://127.0.0.1:PORT WIDGET_ID=ID node webchat.test.mjs
//
// Optional: CHROMIUM (default /usr/bin/chromium), SCREENSHOT (a .png path),
// OPENAI_URL: the stand-in's base URL, to slow the first reply down so that
// the widget's "typing…" can be seen (parley with replies.typing on),
// SHOP_PORT: a loopback port where this script serves a page of another
// origin embedding the widget (parley must allow http://127.0.0.1:SHOP_PORT
// in webchat.allowed_origins), to check the cross-origin embedding.
// Prints "ok <step>" per step; on the first failure "not ok <step>: why"
// and exits 1.
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { chromium } from 'playwright-core';

const PARLEY_URL = (process.env.PARLEY_URL || '').replace(/\/+$/, '');
const WIDGET_ID = process.env.WIDGET_ID || '';
const OPENAI_URL = (process.env.OPENAI_URL || '').replace(/\/+$/, '');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// With both: a person writes in the conversation with `parley conversation send`.
const PARLEY_BIN = process.env.PARLEY_BIN || '';
const PARLEY_CONF = process.env.PARLEY_CONF || '';
const PERSON_TEXT = 'Hi, this is Ruth from the shop: we gift-wrap for free.';
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

async function main() {
	browser = await chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		// CI runs as root, where Chromium's sandbox cannot start. The rest keeps
		// Chromium from calling home on a machine without outside network.
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
			'--disable-component-update', '--disable-sync', '--no-first-run'],
	});
	const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
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
			// The first reply takes 3 s, long enough to watch "typing…".
			const res = await fetch(`${OPENAI_URL}/_script`, { method: 'POST', body: '[{"delay_ms":3000}]' });
			if (res.status !== 200) fail(`scripting the stand-in: ${res.status}`);
		}
		pollsAtSend = polls;
		await sendText(page, first);
		const s = await waitUntil(page, `"${first}" shown`, (x) => find(x, 'user', first).length > 0, 5000);
		const m = find(s, 'user', first)[0];
		if (!['sending', 'sent'].includes(m.status)) fail(`status ${m.status} right after sending`);
		const done = await waitUntil(page, `"${first}" sent`, (x) => find(x, 'user', first).some((y) => y.status === 'sent' && y.seq), 10000);
		if (find(done, 'user', first).length !== 1) fail(`shown ${find(done, 'user', first).length} times:\n${describe(done)}`);
		if (find(done, 'user', first)[0].statusText !== 'sent') fail(`status text ${find(done, 'user', first)[0].statusText}`);
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
		if (m.status !== 'sent' || !m.seq) fail(`not shown as sent:\n${describe(s)}`);
		await waitUntil(page, `the reply to "${second}"`, (x) => find(x, 'agent', `Echo: ${second}`).length === 1);
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
		const bad = s.messages.filter((m) => m.status !== 'read');
		if (bad.length) fail(`unexpected statuses:\n${describe(s)}`);
		if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
	});

	// A person answers from the command line (README, A person's messages):
	// the widget shows it in the open panel like any agent message.
	if (PARLEY_BIN && PARLEY_CONF) {
		await step("a person's message (parley conversation send) appears in the open widget", async () => {
			const list = JSON.parse(execFileSync(PARLEY_BIN, ['conversation', 'list', '--tenant', 'tulip', '--json', '-c', PARLEY_CONF]));
			if (list.length !== 1) fail(`want one conversation, got ${list.length}`);
			execFileSync(PARLEY_BIN, ['conversation', 'send', list[0].conversation_id, '--keep-ai', '--text-file', '-', '-c', PARLEY_CONF],
				{ input: PERSON_TEXT + '\n' });
			await waitUntil(page, `the person's message "${PERSON_TEXT}"`, (x) => find(x, 'agent', PERSON_TEXT).length > 0, 10000);
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
		await step('embedded on another origin, the widget works across CORS', async () => {
			const port = Number(process.env.SHOP_PORT);
			const shop = http.createServer((req, res) => {
				res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
				res.end(`<!doctype html><title>Another shop</title><h1>Another shop</h1>
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
				await other.close();
			} finally {
				shop.close();
			}
		});
	}

	await step('a widget that does not exist says so', async () => {
		const other = await context.newPage();
		other.on('pageerror', (e) => problems.push(`uncaught error in the page: ${e.message}`));
		await other.goto(`${PARLEY_URL}/webchat/v1/demo?widget=no-such-widget-${Date.now()}`);
		await other.locator('[data-testid=launcher]').click();
		const s = await waitUntil(other, 'the unavailable notice', (x) => x.connection === 'unavailable' && x.error !== '', 10000);
		if (!/not available/.test(s.error)) fail(`notice: ${s.error}`);
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
