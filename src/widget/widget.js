/*
 * parley website chat widget. One file, no build step, no third-party code.
 *
 *   <script src="https://HOST/webchat/v1/widget.js" data-widget="WIDGET_ID" async></script>
 *
 * data-widget  the widget id (required)
 * data-api     the parley base URL (default: where this script came from)
 * data-title   the panel's title (default "Chat with us")
 * data-locale  the locale for message times (default: the page's lang,
 *              made more precise by the browser's language; see timeLocale)
 *
 * It talks to parley's webchat API (docs/protocol.md, Webchat): one session
 * per widget and browser, kept in localStorage across reloads; messages sent
 * with a random client_message_id that a retry reuses, so a retried send is
 * stored once; replies arrive by long poll. Everything it draws lives in a
 * Shadow DOM, so the host page's CSS does not reach in and the widget's does
 * not leak out. Every piece of text goes in through textContent, never as
 * HTML.
 */
(function () {
	'use strict';

	var script = document.currentScript ||
		document.querySelector('script[data-widget][src*="/webchat/v1/widget.js"]');
	if (!script) return;
	var WIDGET_ID = script.getAttribute('data-widget') || '';
	if (!WIDGET_ID) {
		console.warn('parley widget: the script tag has no data-widget attribute');
		return;
	}
	var API = (script.getAttribute('data-api') || new URL(script.src, location.href).origin)
		.replace(/\/+$/, '');
	var TITLE = script.getAttribute('data-title') || 'Chat with us';
	var STORE_KEY = 'parley.webchat.v1.' + WIDGET_ID;
	var MAX_TEXT = 4096;     /* characters (code points), as the API counts them */
	var POLL_WAIT = 25;      /* seconds; the API allows up to 30 */
	var SEND_ATTEMPTS = 4;   /* before a send shows "failed" with a retry button */
	var BACKOFF_BASE = 1000; /* ms, doubled per failure */
	var BACKOFF_MAX = 30000;

	/* ---- persistence -------------------------------------------------- */

	/* localStorage can be missing or throw (privacy modes, quotas): then the
	 * session simply lasts as long as the page. */
	var memoryStore = null;
	function load() {
		try {
			var raw = window.localStorage.getItem(STORE_KEY);
			return raw ? JSON.parse(raw) : null;
		} catch (e) {
			return memoryStore;
		}
	}
	function save() {
		/* Unsent messages are kept too, so that a reload sends them with
		 * the same client_message_id. */
		var data = {
			session_id: session ? session.session_id : null,
			token: session ? session.token : null,
			expires_at: session ? session.expires_at : null,
			last_seq: lastSeq,
			read_up_to: readUpTo,
			outbox: outbox.filter(function (m) { return m.state !== 'rejected'; })
				.map(function (m) { return {client_message_id: m.client_message_id, text: m.text}; })
		};
		memoryStore = data;
		try {
			window.localStorage.setItem(STORE_KEY, JSON.stringify(data));
		} catch (e) { /* kept in memory only */ }
	}

	/* ---- state -------------------------------------------------------- */

	var session = null;     /* {session_id, token, expires_at} */
	var lastSeq = 0;        /* highest sequence_no a poll returned */
	var readUpTo = 0;       /* highest agent sequence_no acknowledged read */
	var messages = new Map(); /* sequence_no -> {sequence_no, sender, text, status, created_at} */
	var outbox = [];        /* own messages not yet accepted: {client_message_id, text, state, error, attempts} */
	var generation = 0;     /* bumped when the session changes; stale loops stop */
	var panelOpen = false;
	var unavailable = false;
	var sessionPromise = null;
	var sending = false;
	var reading = false;
	var sessionFailures = 0; /* session creations or refusals since the last call that worked */
	var pollCtrl = null;    /* aborts the poll in flight when its loop is replaced */
	var agentTyping = false; /* the last poll's agent_typing: a reply is being produced */

	function randomId() {
		var b = new Uint8Array(16);
		window.crypto.getRandomValues(b);
		return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
	}

	function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

	/* Exponential with jitter: between half and all of base * 2^failures,
	 * capped; so that many browsers reconnecting after an outage spread out. */
	function backoff(failures) {
		var d = Math.min(BACKOFF_MAX, BACKOFF_BASE * Math.pow(2, Math.max(0, failures - 1)));
		return d / 2 + Math.random() * d / 2;
	}

	function retryAfterMs(res) {
		var v = res && res.headers && res.headers.get('Retry-After');
		if (!v) return 0;
		var s = Number(v);
		if (isFinite(s)) return Math.max(0, s * 1000);
		var t = Date.parse(v);
		return isNaN(t) ? 0 : Math.max(0, t - Date.now());
	}

	/* One API call. Resolves {status, body, res}; network failures and
	 * timeouts resolve with status 0 so that callers handle one shape. */
	function api(method, path, body, token, timeoutMs, ctrl) {
		if (!ctrl && typeof AbortController === 'function') ctrl = new AbortController();
		var timer = ctrl ? setTimeout(function () { ctrl.abort(); }, timeoutMs || 15000) : null;
		var headers = {};
		if (body !== undefined) headers['Content-Type'] = 'application/json';
		if (token) headers.Authorization = 'Bearer ' + token;
		return fetch(API + path, {
			method: method,
			headers: headers,
			body: body === undefined ? undefined : JSON.stringify(body),
			credentials: 'omit',
			cache: 'no-store',
			signal: ctrl ? ctrl.signal : undefined
		}).then(function (res) {
			return res.json().catch(function () { return null; }).then(function (json) {
				return {status: res.status, body: json, res: res};
			});
		}, function () {
			return {status: 0, body: null, res: null};
		}).then(function (r) {
			if (timer) clearTimeout(timer);
			return r;
		});
	}

	/* ---- session ------------------------------------------------------ */

	function sessionValid(s) {
		if (!s || !s.session_id || !s.token) return false;
		var t = Date.parse(s.expires_at || '');
		return isNaN(t) || t > Date.now() + 5000;
	}

	/* The one session every call uses; created when missing. Concurrent
	 * callers share one creation. */
	function ensureSession() {
		if (session) return Promise.resolve(session);
		if (!sessionPromise) {
			sessionPromise = createSession().then(function (s) {
				sessionPromise = null;
				return s;
			});
		}
		return sessionPromise;
	}

	async function createSession() {
		setConnection('connecting');
		for (;;) {
			var r = await api('POST', '/webchat/v1/sessions', {widget_id: WIDGET_ID});
			if (r.status === 201 && r.body && r.body.token) {
				session = {session_id: r.body.session_id, token: r.body.token, expires_at: r.body.expires_at};
				lastSeq = 0;
				readUpTo = 0;
				messages.clear();
				agentTyping = false;
				save();
				startPolling(true);
				return session;
			}
			if (r.status === 404 || r.status === 400) {
				unavailable = true;
				setConnection('unavailable');
				showError('This chat is not available right now.');
				render();
				return new Promise(function () {}); /* never: nothing can be sent */
			}
			sessionFailures++;
			setConnection('reconnecting');
			await sleep(Math.max(retryAfterMs(r.res), backoff(sessionFailures)));
		}
	}

	/* The token was refused (expired, or the secret changed): forget the
	 * session and start a new one. The conversation starts afresh; messages
	 * still waiting to be sent go to the new session. */
	function renewSession(stale) {
		if (session && session !== stale) return ensureSession();
		if (session === stale) {
			session = null;
			generation++;
			messages.clear();
			agentTyping = false;
			lastSeq = 0;
			readUpTo = 0;
			save();
			render();
		}
		/* Two refusals in a row: do not hammer the server. */
		sessionFailures++;
		var delay = sessionFailures > 1 ? backoff(sessionFailures) : 0;
		return sleep(delay).then(ensureSession);
	}

	/* ---- receiving ---------------------------------------------------- */

	function merge(list) {
		var changed = false;
		for (var i = 0; i < list.length; i++) {
			var m = list[i];
			if (typeof m.sequence_no !== 'number') continue;
			/* Also for a message already shown (our own, from its send's
			 * answer): the next poll must ask for what comes after it. */
			if (m.sequence_no > lastSeq) {
				lastSeq = m.sequence_no;
				changed = true;
			}
			var old = messages.get(m.sequence_no);
			var status = m.status;
			/* A poll that returned an agent message has delivered it. */
			if (m.sender === 'agent' && status === 'sent') status = 'delivered';
			if (m.sender === 'agent' && m.sequence_no <= readUpTo && status === 'delivered') status = 'read';
			/* What was shown read stays read. */
			if (old && STATUS_RANK[old.status] > STATUS_RANK[status]) status = old.status;
			if (old && old.text === m.text && old.status === status) continue;
			messages.set(m.sequence_no, {
				sequence_no: m.sequence_no,
				sender: m.sender === 'agent' ? 'agent' : 'user',
				text: String(m.text == null ? '' : m.text),
				status: status || '',
				created_at: m.created_at || ''
			});
			if (!old && m.sender !== 'agent') claimEcho(m);
			changed = true;
		}
		if (markAnswered()) changed = true;
		if (changed) {
			save();
			render();
			markRead();
		}
	}

	var STATUS_RANK = {pending: 0, sending: 0, sent: 1, delivered: 2, read: 3};

	/* The customer's messages that an agent message follows become read: the
	 * answer means the agent read them (the poll says so too, but only for
	 * the messages it returns; those returned before the answer came are
	 * updated here). Returns whether any changed. */
	function markAnswered() {
		var answered = maxAgentSeq();
		var changed = false;
		messages.forEach(function (m) {
			if (m.sender === 'user' && m.sequence_no < answered &&
			    (m.status === 'sent' || m.status === 'delivered')) {
				m.status = 'read';
				changed = true;
			}
		});
		return changed;
	}

	/* A poll can return one of our own messages before its send was
	 * answered, or when the answer was lost and a retry is still due. The
	 * oldest unsent message with the same text stands for it, so that it is
	 * not shown twice; its own answer (the same sequence_no, or another one
	 * if it was a different message after all) settles it. */
	function claimEcho(m) {
		var claimed = false;
		outbox.forEach(function (o) { if (o.shownAs === m.sequence_no) claimed = true; });
		if (claimed) return;
		var item = outbox.find(function (o) { return o.state !== 'rejected' && !o.shownAs && o.text === m.text; });
		if (item) item.shownAs = m.sequence_no;
	}

	function startPolling(fresh) {
		var gen = ++generation;
		if (pollCtrl) pollCtrl.abort();
		if (fresh) {
			/* History from the start: after a reload the whole conversation
			 * is shown again. */
			lastSeq = 0;
		}
		pollLoop(gen);
		pumpOutbox();
	}

	async function pollLoop(gen) {
		var failures = 0;
		var first = true;
		while (gen === generation && session) {
			var s = session;
			var wait = first ? 0 : POLL_WAIT;
			var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
			pollCtrl = ctrl;
			var before = lastSeq, started = Date.now();
			/* typing: what is shown, so that a reply that started between
			 * two polls ends this one at once (docs/protocol.md). */
			var r = await api('GET', '/webchat/v1/messages?after=' + lastSeq + '&wait=' + wait +
				'&typing=' + (agentTyping ? 1 : 0), undefined, s.token, (wait + 15) * 1000, ctrl);
			if (gen !== generation) return;
			pollCtrl = null;
			if (r.status === 200 && r.body && Array.isArray(r.body.messages)) {
				sessionFailures = 0;
				first = false;
				setConnection('online');
				merge(r.body.messages);
				/* A poll also comes back when the agent starts or stops
				 * typing: that is news, not a loop. */
				var typing = r.body.agent_typing === true;
				var typingChanged = typing !== agentTyping;
				if (typingChanged) {
					agentTyping = typing;
					render();
				}
				/* A long poll that came back at once with nothing new (a
				 * server shutting down answers so) must not turn into a
				 * tight loop. */
				if (wait > 0 && lastSeq === before && !typingChanged && Date.now() - started < 1000) {
					failures++;
					await sleep(backoff(failures));
				} else {
					failures = 0;
				}
				continue;
			}
			if (r.status === 401) {
				renewSession(s);
				return;
			}
			failures++;
			setConnection('reconnecting');
			var delay = backoff(failures);
			if (r.status === 429) delay = Math.max(delay, retryAfterMs(r.res));
			await sleep(delay);
		}
	}

	/* ---- sending ------------------------------------------------------ */

	function send(text) {
		outbox.push({client_message_id: randomId(), text: text, state: 'sending', error: '', attempts: 0});
		save();
		render();
		pumpOutbox();
	}

	/* Sends the outbox one message at a time, in order, so that messages are
	 * stored in the order they were typed. */
	async function pumpOutbox() {
		if (sending || unavailable) return;
		sending = true;
		try {
			for (;;) {
				var item = outbox.find(function (m) { return m.state === 'sending'; });
				if (!item) return;
				var s = await ensureSession();
				var r = await api('POST', '/webchat/v1/messages',
					{text: item.text, client_message_id: item.client_message_id}, s.token);
				if (r.status === 202 || r.status === 200) {
					sessionFailures = 0;
					outbox.splice(outbox.indexOf(item), 1);
					var seq = r.body && r.body.sequence_no;
					if (typeof seq === 'number' && !messages.has(seq)) {
						messages.set(seq, {sequence_no: seq, sender: 'user', text: item.text,
							status: 'sent', created_at: new Date().toISOString()});
						markAnswered();
					}
					save();
					render();
					continue;
				}
				if (r.status === 401) {
					await renewSession(s);
					continue;
				}
				if (r.status === 400 || r.status === 413 || r.status === 422) {
					/* The server will never take this text: no retry. */
					item.state = 'rejected';
					item.error = (r.body && r.body.error) || 'not accepted';
					save();
					render();
					continue;
				}
				item.attempts++;
				if (r.status !== 429 && item.attempts >= SEND_ATTEMPTS) {
					item.state = 'failed';
					item.error = r.status ? 'error ' + r.status : 'no connection';
					render();
					continue;
				}
				var delay = backoff(item.attempts);
				if (r.status === 429) delay = Math.max(delay, retryAfterMs(r.res));
				await sleep(delay);
			}
		} finally {
			sending = false;
		}
	}

	/* The same client_message_id again: if the first try was stored after
	 * all, the server answers with the same message and stores nothing new. */
	function retry(item) {
		item.state = 'sending';
		item.attempts = 0;
		item.error = '';
		render();
		pumpOutbox();
	}

	/* ---- read receipts ------------------------------------------------ */

	function maxAgentSeq() {
		var max = 0;
		messages.forEach(function (m) { if (m.sender === 'agent' && m.sequence_no > max) max = m.sequence_no; });
		return max;
	}

	async function markRead() {
		if (reading || !panelOpen || !session || document.visibilityState === 'hidden') return;
		var upTo = maxAgentSeq();
		if (upTo <= readUpTo) return;
		reading = true;
		var s = session;
		var r = await api('POST', '/webchat/v1/read', {up_to: upTo}, s.token);
		reading = false;
		if (s !== session) return;
		if (r.status === 200) {
			if (upTo > readUpTo) readUpTo = upTo;
			messages.forEach(function (m) {
				if (m.sender === 'agent' && m.sequence_no <= readUpTo &&
				    (m.status === 'sent' || m.status === 'delivered')) m.status = 'read';
			});
			save();
			render();
			markRead(); /* more may have arrived meanwhile */
		} else if (r.status === 401) {
			renewSession(s);
		} else {
			setTimeout(markRead, Math.max(retryAfterMs(r.res), 5000));
		}
	}

	/* ---- view --------------------------------------------------------- */

	/* Layout: at the bottom right, the panel stands above the launcher and
	 * is cut to leave room for it (so the two never cover each other). On a
	 * small screen (a phone, either way round) the open panel takes the
	 * whole viewport and the launcher is hidden until the panel is closed
	 * (its header's close button). The host covers nothing but what it
	 * draws: the page under its empty corners stays clickable. */
	var CSS = [
		':host { all: initial; position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;',
		'  display: flex; flex-direction: column; align-items: flex-end; pointer-events: none;',
		'  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; }',
		'*, *::before, *::after { box-sizing: border-box; }',
		'[hidden] { display: none !important; }',
		'.panel, .launcher { pointer-events: auto; }',
		'.launcher { position: relative; display: flex; align-items: center; gap: 8px;',
		'  border: 0; border-radius: 24px; padding: 12px 18px; background: #2f6f4f; color: #fff;',
		'  font: inherit; font-weight: 600; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.2); }',
		'.launcher:focus-visible, button:focus-visible, textarea:focus-visible { outline: 3px solid #8cc4a6; outline-offset: 2px; }',
		'.badge { min-width: 20px; height: 20px; padding: 0 6px; border-radius: 10px; background: #d93f3f;',
		'  color: #fff; font-size: 12px; line-height: 20px; text-align: center; }',
		/* 100px: the launcher (44), the gap (12), the bottom (20) and as much above. */
		'.panel { display: flex; flex-direction: column; width: 340px; max-width: calc(100vw - 40px);',
		'  height: 480px; max-height: calc(100vh - 100px);',
		'  margin-bottom: 12px; background: #fff; border-radius: 12px; overflow: hidden;',
		'  box-shadow: 0 8px 30px rgba(0,0,0,.25); }',
		'.panel.unavailable { height: auto; }',
		'header { display: flex; align-items: center; gap: 8px; padding: 12px 14px; background: #2f6f4f; color: #fff; }',
		'header h2 { flex: 1; margin: 0; font-size: 15px; font-weight: 600; }',
		'.conn { font-size: 12px; opacity: .85; }',
		'.close { border: 0; background: transparent; color: #fff; font-size: 20px; line-height: 1; cursor: pointer; padding: 2px 6px; }',
		'.log { flex: 1; overflow-y: auto; overscroll-behavior: contain; padding: 12px; background: #f6f8f7; display: flex; flex-direction: column; gap: 8px; }',
		'.empty { color: #59636e; text-align: center; margin: auto 0; }',
		'.msg { max-width: 82%; display: flex; flex-direction: column; }',
		'.msg.user { align-self: flex-end; align-items: flex-end; }',
		'.msg.agent { align-self: flex-start; align-items: flex-start; }',
		'.bubble { padding: 8px 11px; border-radius: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }',
		'.user .bubble { background: #2f6f4f; color: #fff; border-bottom-right-radius: 4px; }',
		'.agent .bubble { background: #fff; border: 1px solid #dde3e0; border-bottom-left-radius: 4px; }',
		'.meta { font-size: 11px; color: #59636e; margin-top: 2px; display: flex; gap: 6px; align-items: center; }',
		'.msg[data-status="failed"] .status, .msg[data-status="rejected"] .status { color: #c22; }',
		'.retry { border: 0; background: none; color: #2f6f4f; text-decoration: underline; cursor: pointer; font: inherit; padding: 0; }',
		'.typing { padding: 4px 14px 6px; background: #f6f8f7; color: #59636e; font-size: 12px; font-style: italic; }',
		'.error { padding: 8px 12px; background: #fdecec; color: #8a1c1c; font-size: 13px; }',
		'form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e3e7e5; background: #fff; }',
		'textarea { flex: 1; resize: none; height: 40px; padding: 9px 10px; border: 1px solid #c9d1cd; border-radius: 8px;',
		'  font: inherit; color: inherit; background: #fff; }',
		'.send { border: 0; border-radius: 8px; padding: 0 14px; background: #2f6f4f; color: #fff; font: inherit; font-weight: 600; cursor: pointer; }',
		'.send:disabled { opacity: .5; cursor: default; }',
		'@media (max-width: 480px), (max-height: 480px) {',
		'  :host { right: 12px; bottom: 12px; }',
		'  :host([data-open]) { top: 0; right: 0; bottom: 0; left: 0; align-items: stretch; }',
		'  :host([data-open]) .launcher { display: none; }',
		'  :host([data-open]) .panel { flex: 1; width: auto; max-width: none; height: auto; max-height: none;',
		'    margin: 0; border-radius: 0; box-shadow: none; }',
		'  .close { min-width: 44px; min-height: 44px; margin: -8px -10px -8px 0; font-size: 24px; }',
		/* 16px: smaller makes mobile Safari zoom into the page on focus. */
		'  textarea { font-size: 16px; }',
		'  form { padding-bottom: max(10px, env(safe-area-inset-bottom)); } }'
	].join('\n');

	function el(tag, attrs, text) {
		var e = document.createElement(tag);
		if (attrs) Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
		if (text != null) e.textContent = text;
		return e;
	}

	var host, root, launcher, badge, panel, conn, log, empty, typingBox, errorBox, form, input, sendBtn;

	function build() {
		host = el('div', {id: 'parley-webchat', 'data-parley-widget': WIDGET_ID});
		root = host.attachShadow({mode: 'open'});
		/* A constructed stylesheet needs no 'unsafe-inline' in the host
		 * page's Content-Security-Policy; <style> is the fallback. */
		if ('adoptedStyleSheets' in root && typeof CSSStyleSheet === 'function') {
			try {
				var sheet = new CSSStyleSheet();
				sheet.replaceSync(CSS);
				root.adoptedStyleSheets = [sheet];
			} catch (e) {
				root.appendChild(el('style', null, CSS));
			}
		} else {
			root.appendChild(el('style', null, CSS));
		}

		panel = el('section', {class: 'panel', role: 'dialog', 'aria-label': TITLE, 'data-testid': 'panel', id: 'panel'});
		panel.hidden = true;
		var header = el('header');
		header.appendChild(el('h2', null, TITLE));
		conn = el('span', {class: 'conn', 'data-testid': 'connection', 'data-state': 'idle', 'aria-live': 'polite'});
		header.appendChild(conn);
		var close = el('button', {class: 'close', type: 'button', 'aria-label': 'Close chat', 'data-testid': 'close'}, '×');
		close.addEventListener('click', function () { setOpen(false); });
		header.appendChild(close);
		panel.appendChild(header);

		log = el('div', {class: 'log', role: 'log', 'aria-live': 'polite', 'data-testid': 'messages', id: 'messages'});
		empty = el('p', {class: 'empty', 'data-testid': 'empty'}, 'Ask us anything. We usually answer within a minute.');
		log.appendChild(empty);
		panel.appendChild(log);

		typingBox = el('div', {class: 'typing', 'aria-live': 'polite', 'data-testid': 'typing'}, 'typing…');
		typingBox.hidden = true;
		panel.appendChild(typingBox);

		errorBox = el('div', {class: 'error', role: 'alert', 'data-testid': 'error'});
		errorBox.hidden = true;
		panel.appendChild(errorBox);

		form = el('form', {'data-testid': 'form'});
		input = el('textarea', {rows: '1', maxlength: String(MAX_TEXT), placeholder: 'Type a message…',
			'aria-label': 'Message', 'data-testid': 'input', id: 'input'});
		sendBtn = el('button', {class: 'send', type: 'submit', 'data-testid': 'send'}, 'Send');
		form.appendChild(input);
		form.appendChild(sendBtn);
		form.addEventListener('submit', function (ev) {
			ev.preventDefault();
			submit();
		});
		input.addEventListener('keydown', function (ev) {
			if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
				ev.preventDefault();
				submit();
			}
		});
		panel.appendChild(form);
		root.appendChild(panel);

		launcher = el('button', {class: 'launcher', type: 'button', 'aria-expanded': 'false',
			'aria-controls': 'panel', 'data-testid': 'launcher', id: 'launcher'});
		launcher.appendChild(el('span', null, TITLE));
		badge = el('span', {class: 'badge', 'data-testid': 'unread'});
		badge.hidden = true;
		launcher.appendChild(badge);
		launcher.addEventListener('click', function () { setOpen(!panelOpen); });
		root.appendChild(launcher);

		document.body.appendChild(host);
	}

	function submit() {
		var text = input.value.replace(/^\s+|\s+$/g, '');
		if (!text || unavailable) return;
		if (Array.from(text).length > MAX_TEXT) {
			showError('That message is too long (at most ' + MAX_TEXT + ' characters).');
			return;
		}
		showError('');
		input.value = '';
		send(text);
	}

	function setOpen(open) {
		panelOpen = open;
		panel.hidden = !open;
		if (open) host.setAttribute('data-open', '');
		else host.removeAttribute('data-open');
		launcher.setAttribute('aria-expanded', open ? 'true' : 'false');
		if (open) {
			if (!session && !unavailable) ensureSession();
			input.focus();
			log.scrollTop = log.scrollHeight;
			markRead();
		}
		render();
	}

	/* Unavailable: the notice below says so, once. */
	var CONNECTION_TEXT = {idle: '', connecting: 'connecting…', online: '', reconnecting: 'reconnecting…', unavailable: ''};
	function setConnection(state) {
		if (!conn || conn.getAttribute('data-state') === state) return;
		conn.setAttribute('data-state', state);
		conn.textContent = CONNECTION_TEXT[state] || '';
	}

	function showError(text) {
		errorBox.textContent = text;
		errorBox.hidden = !text;
	}

	var STATUS_TEXT = {sending: 'sending…', sent: 'sent', delivered: 'delivered', read: 'read',
		failed: 'failed', rejected: 'not sent', pending: 'sending…'};

	/* Message times follow the page's locale: the script's data-locale, else
	 * the page's <html lang>, else the browser's languages. A page lang
	 * without a region ("en") takes the region of the browser's first
	 * language of the same base ("en-GB"), since the page's author chose the
	 * language, not the visitor's clock. The locale's own short time style
	 * then gives 24-hour times where they are the norm ("14:05" in en-GB, de,
	 * nl; "2:05 PM" in en-US). Invalid tags are skipped. */
	var localeCache = {key: null, value: undefined};
	function timeLocale() {
		var wanted = [];
		var browser = (navigator.languages && navigator.languages.length) ? navigator.languages
			: [navigator.language || ''];
		/* "en_US" is a common slip for "en-US". */
		var attr = (script.getAttribute('data-locale') || '').replace(/_/g, '-');
		var page = ((document.documentElement && document.documentElement.lang) || '').replace(/_/g, '-');
		var key = attr + '|' + page + '|' + Array.prototype.join.call(browser, ',');
		if (localeCache.key === key) return localeCache.value;
		localeCache = {key: key, value: undefined};
		if (attr) wanted.push(attr);
		if (page) {
			if (page.indexOf('-') < 0) {
				var base = page.toLowerCase();
				var same = Array.prototype.find.call(browser, function (b) {
					return String(b).split('-')[0].toLowerCase() === base;
				});
				if (same) wanted.push(same);
			}
			wanted.push(page);
		}
		Array.prototype.forEach.call(browser, function (b) { wanted.push(b); });
		for (var i = 0; i < wanted.length; i++) {
			try {
				if (wanted[i] && Intl.DateTimeFormat.supportedLocalesOf([wanted[i]]).length) {
					localeCache.value = wanted[i];
					break;
				}
			} catch (e) { /* not a language tag */ }
		}
		return localeCache.value;
	}

	var timeFormats = {key: null};
	function timeText(iso) {
		var t = Date.parse(iso);
		if (isNaN(t)) return '';
		var locale = timeLocale();
		if (timeFormats.key !== String(locale)) {
			timeFormats = {key: String(locale)};
			try {
				timeFormats.time = new Intl.DateTimeFormat(locale, {timeStyle: 'short'});
				timeFormats.dated = new Intl.DateTimeFormat(locale, {dateStyle: 'medium', timeStyle: 'short'});
			} catch (e) { /* no timeStyle before 2020's browsers */
				timeFormats.time = new Intl.DateTimeFormat(locale, {hour: 'numeric', minute: '2-digit'});
				timeFormats.dated = new Intl.DateTimeFormat(locale, {month: 'short', day: 'numeric',
					hour: 'numeric', minute: '2-digit'});
			}
		}
		var d = new Date(t);
		/* The date too when it is not today's. */
		return (d.toDateString() === new Date().toDateString() ? timeFormats.time : timeFormats.dated).format(d);
	}

	/* One element per message, kept across renders (keyed by sequence_no,
	 * or client_message_id while unsent) and re-appended in order. */
	var nodes = new Map();

	function messageNode(key, m, sender, status, pendingItem) {
		var n = nodes.get(key);
		if (!n) {
			n = el('div', {class: 'msg ' + sender, 'data-testid': 'message'});
			n._bubble = el('div', {class: 'bubble', 'data-testid': 'message-text'});
			n._meta = el('div', {class: 'meta'});
			n._time = el('span', {class: 'time', 'data-testid': 'message-time'});
			n._status = el('span', {class: 'status', 'data-testid': 'message-status'});
			n._meta.appendChild(n._time);
			n._meta.appendChild(n._status);
			n.appendChild(n._bubble);
			n.appendChild(n._meta);
			nodes.set(key, n);
		}
		if (n._bubble.textContent !== m.text) n._bubble.textContent = m.text;
		n.setAttribute('data-sender', sender);
		n.setAttribute('data-status', status);
		if (m.sequence_no) n.setAttribute('data-seq', String(m.sequence_no));
		else n.removeAttribute('data-seq');
		if (pendingItem) n.setAttribute('data-client-id', pendingItem.client_message_id);
		n._time.textContent = m.created_at ? timeText(m.created_at) : '';
		var statusText = STATUS_TEXT[status] || status;
		if (pendingItem && pendingItem.error) statusText += ' (' + pendingItem.error + ')';
		n._status.textContent = statusText;
		var oldRetry = n._meta.querySelector('.retry');
		if (oldRetry) oldRetry.remove();
		if (pendingItem && pendingItem.state === 'failed') {
			var b = el('button', {class: 'retry', type: 'button', 'data-testid': 'retry'}, 'retry');
			b.addEventListener('click', function () { retry(pendingItem); });
			n._meta.appendChild(b);
		}
		return n;
	}

	function render() {
		if (!log) return;
		var nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
		var seqs = Array.from(messages.keys()).sort(function (a, b) { return a - b; });
		var wanted = [];
		seqs.forEach(function (seq) {
			var m = messages.get(seq);
			wanted.push(messageNode('s' + seq, m, m.sender, m.status, null));
		});
		outbox.forEach(function (item) {
			if (item.shownAs && messages.has(item.shownAs)) return;
			wanted.push(messageNode('c' + item.client_message_id, {text: item.text}, 'user', item.state, item));
		});
		var keep = new Set(wanted);
		nodes.forEach(function (n, key) {
			if (!keep.has(n)) {
				n.remove();
				nodes.delete(key);
			}
		});
		empty.hidden = wanted.length > 0;
		for (var i = 0; i < wanted.length; i++) {
			/* appendChild moves a node already present: order without rebuilds. */
			if (log.children[i + 1] !== wanted[i]) log.insertBefore(wanted[i], log.children[i + 1] || null);
		}
		if (nearBottom || !panelOpen) log.scrollTop = log.scrollHeight;

		var unread = 0;
		messages.forEach(function (m) { if (m.sender === 'agent' && m.sequence_no > readUpTo) unread++; });
		var showBadge = !panelOpen && unread > 0;
		badge.hidden = !showBadge;
		badge.textContent = showBadge ? String(unread) : '';
		typingBox.hidden = !agentTyping || unavailable;
		/* A widget that is not available shows its notice and nothing else:
		 * no messages kept from before, no input. */
		log.hidden = unavailable;
		form.hidden = unavailable;
		panel.classList.toggle('unavailable', unavailable);
		sendBtn.disabled = unavailable;
		input.disabled = unavailable;
	}

	/* ---- start -------------------------------------------------------- */

	function start() {
		if (document.querySelector('[data-parley-widget]')) return; /* embedded twice */
		build();
		var stored = load();
		if (stored && Array.isArray(stored.outbox)) {
			outbox = stored.outbox.filter(function (m) { return m && m.client_message_id && m.text; })
				.map(function (m) {
					return {client_message_id: String(m.client_message_id), text: String(m.text),
						state: 'sending', error: '', attempts: 0};
				});
		}
		if (sessionValid(stored)) {
			session = {session_id: stored.session_id, token: stored.token, expires_at: stored.expires_at};
			readUpTo = Number(stored.read_up_to) || 0;
			lastSeq = Number(stored.last_seq) || 0;
			startPolling(true);
		} else if (outbox.length) {
			ensureSession();
		}
		render();
		document.addEventListener('visibilitychange', function () { markRead(); });
		window.addEventListener('online', function () {
			/* Waiting out a backoff while the network is back helps nobody. */
			if (session) startPolling(false);
			outbox.forEach(function (m) { if (m.state === 'failed') retry(m); });
		});
	}

	if (document.body) start();
	else document.addEventListener('DOMContentLoaded', start);
})();
