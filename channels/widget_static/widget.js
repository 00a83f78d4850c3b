/*!
 * Switchboard website chat widget.
 *
 * Embed with one tag:
 *   <script src="https://your-server/widget.js" defer
 *           data-title="Chat with us" data-name="Jane" data-language="en"></script>
 *
 * Optional attributes on the tag: data-server (defaults to the script's own origin),
 * data-title, data-name (visitor display name), data-language (the widget's texts and the
 * language the conversation starts in; default: the visitor's browser language),
 * data-color (accent), data-greeting, data-intro, data-placeholder (texts of their own).
 *
 * Or, before the tag, a JS config (attributes win over it):
 *   window.SwitchboardWidgetConfig = { language: "ru", title: "...",
 *     texts: { greeting: "...", intro: "...", placeholder: "...", ... } };
 * `texts` may set any key of TEXTS below.
 *
 * No framework, no build step, no external requests. Everything lives in an open
 * Shadow DOM so the host page's CSS does not leak in. Message data is only ever put
 * into the DOM through textContent / attributes, never innerHTML.
 *
 * Protocol (see ARCHITECTURE.md, "Widget"):
 *   POST /api/widget/sessions {token?, name?, language?} -> {token, conversation_id}
 *   WS   /ws/widget?token=...&after_seq=N
 *   A {"type":"ping"} every few seconds while connected, answered by {"type":"pong"}: a
 *   socket that stops answering is given up on and reconnected ("Reconnecting…").
 */
(() => {
  "use strict";

  if (window.SwitchboardWidget) return; // loaded twice: keep the first instance

  // ---------------------------------------------------------------- configuration
  const script =
    document.currentScript ||
    Array.from(document.getElementsByTagName("script")).find((s) => /\/widget\.js(\?|#|$)/.test(s.src || ""));
  const attr = (name) => {
    const v = script && script.getAttribute(name);
    return v && v.trim() ? v.trim() : null;
  };

  const serverBase = (() => {
    const raw = attr("data-server") || (script && script.src) || window.location.href;
    try {
      const u = new URL(raw, window.location.href);
      return u.origin;
    } catch (_) {
      return window.location.origin;
    }
  })();
  const wsBase = serverBase.replace(/^http/i, "ws"); // http -> ws, https -> wss

  const pageConfig = (() => {
    const c = window.SwitchboardWidgetConfig;
    return c && typeof c === "object" ? c : {};
  })();
  const configured = (key) => {
    const v = pageConfig[key];
    return typeof v === "string" && v.trim() ? v.trim() : null;
  };
  const baseLanguage = (tag) => (typeof tag === "string" ? tag.split(/[-_]/)[0].toLowerCase() : "") || null;

  // The widget's own words, in the languages it ships with. Plain text only (no emoji: the
  // widget must read the same on a machine without an emoji font).
  const TEXTS = {
    en: {
      title: "Chat with us",
      connecting: "Connecting…",
      connected: "Connected",
      reconnecting: "Reconnecting…",
      greeting: "Hi there!",
      intro: "Ask us anything. Our AI assistant answers right away, and a person from our team can join at any time.",
      placeholder: "Write a message…",
      messageLabel: "Message",
      composerLabel: "Write a message",
      messagesLabel: "Messages",
      send: "Send message",
      openChat: "Open chat",
      openChatUnreadOne: "Open chat (1 new message)",
      openChatUnreadMany: "Open chat ({n} new messages)",
      closeChat: "Close chat",
      footer: "Enter to send · Shift+Enter for a new line",
      ai: "AI assistant",
      operator: "Operator",
      system: "System",
      you: "You",
      youSaid: "You said:",
      typing: "{who} is typing…",
      sending: "Sending…",
      notSent: "Not sent",
      retry: "Retry",
      sent: "Sent",
      sources: "Sources:",
      attachment: "attachment",
      error: "Something went wrong.",
      rating: "Rate this conversation",
      stars: "{n} of 5 stars",
    },
    ru: {
      title: "Напишите нам",
      connecting: "Подключение…",
      connected: "Подключено",
      reconnecting: "Переподключение…",
      greeting: "Здравствуйте!",
      intro: "Спросите нас о чём угодно. ИИ-ассистент ответит сразу, а сотрудник нашей команды может подключиться в любой момент.",
      placeholder: "Напишите сообщение…",
      messageLabel: "Сообщение",
      composerLabel: "Написать сообщение",
      messagesLabel: "Сообщения",
      send: "Отправить сообщение",
      openChat: "Открыть чат",
      openChatUnreadOne: "Открыть чат (новых сообщений: 1)",
      openChatUnreadMany: "Открыть чат (новых сообщений: {n})",
      closeChat: "Закрыть чат",
      footer: "Enter — отправить · Shift+Enter — новая строка",
      ai: "ИИ-ассистент",
      operator: "Оператор",
      system: "Система",
      you: "Вы",
      youSaid: "Вы написали:",
      typing: "{who} печатает…",
      sending: "Отправка…",
      notSent: "Не отправлено",
      retry: "Повторить",
      sent: "Отправлено",
      sources: "Источники:",
      attachment: "вложение",
      error: "Что-то пошло не так.",
      rating: "Оцените диалог",
      stars: "{n} из 5",
    },
  };

  // The visitor's language: what the page asks for, else the browser's first language the
  // widget has texts for, else English.
  const requestedLanguage = attr("data-language") || configured("language");
  const uiLanguage = (() => {
    const candidates = requestedLanguage
      ? [requestedLanguage]
      : [...(Array.isArray(navigator.languages) ? navigator.languages : []), navigator.language];
    for (const tag of candidates) {
      const base = baseLanguage(tag);
      if (base && Object.prototype.hasOwnProperty.call(TEXTS, base)) return base;
    }
    return "en";
  })();
  const overrides = pageConfig.texts && typeof pageConfig.texts === "object" ? pageConfig.texts : {};
  const attrTexts = { greeting: attr("data-greeting"), intro: attr("data-intro"), placeholder: attr("data-placeholder") };
  function t(key, vars) {
    let text = attrTexts[key] || (typeof overrides[key] === "string" && overrides[key]) || TEXTS[uiLanguage][key] || TEXTS.en[key] || "";
    if (vars) for (const [k, v] of Object.entries(vars)) text = text.split(`{${k}}`).join(String(v));
    return text;
  }

  const CONFIG = {
    title: attr("data-title") || configured("title") || t("title"),
    name: attr("data-name") || configured("name"),
    // Sent with the session: the conversation's language (system messages, the AI's first answer).
    language: baseLanguage(requestedLanguage) || baseLanguage(navigator.language),
    color: attr("data-color") || configured("color"),
  };

  const TOKEN_KEY = "switchboard.widget.token";
  const OUTBOX_KEY = "switchboard.widget.outbox"; // sessionStorage (per tab, survives reload)

  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const TYPING_SEND_EVERY_MS = 3000;
  const TYPING_SHOW_MS = 6000;
  const ERROR_SHOW_MS = 6000;
  const CONNECT_TIMEOUT_MS = 12000;
  const AUTH_CLOSE_CODES = new Set([4401, 4403]);
  // Heartbeat: a ping this often while connected; a socket that sends nothing back within
  // PONG_TIMEOUT_MS of one is dead (TCP alone can take minutes to notice a dropped network).
  const PING_EVERY_MS = 5000;
  const PONG_TIMEOUT_MS = 3500;

  const AUTHOR_LABELS = { ai: t("ai"), operator: t("operator"), system: t("system"), customer: t("you") };

  // ---------------------------------------------------------------- storage helpers
  const memoryStore = new Map();
  const store = (kind) => ({
    get(key) {
      try {
        return window[kind].getItem(key);
      } catch (_) {
        return memoryStore.has(kind + key) ? memoryStore.get(kind + key) : null;
      }
    },
    set(key, value) {
      try {
        window[kind].setItem(key, value);
      } catch (_) {
        memoryStore.set(kind + key, value);
      }
    },
    remove(key) {
      try {
        window[kind].removeItem(key);
      } catch (_) {
        /* ignore */
      }
      memoryStore.delete(kind + key);
    },
  });
  const local = store("localStorage");
  const session = store("sessionStorage");

  function uuid4() {
    const c = window.crypto;
    if (c && typeof c.randomUUID === "function") {
      try {
        return c.randomUUID();
      } catch (_) {
        /* not a secure context */
      }
    }
    const b = new Uint8Array(16);
    if (c && typeof c.getRandomValues === "function") c.getRandomValues(b);
    else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // ---------------------------------------------------------------- state
  const state = {
    token: local.get(TOKEN_KEY),
    conversationId: null,
    mode: null,
    lastSeq: 0,
    haveHistory: false, // a history frame arrived for this conversation (later connects use after_seq)
    messages: new Map(), // id -> Message (confirmed by the server)
    streaming: new Map(), // message_id -> {id, author, text, order}
    outbox: new Map(), // client_id -> {client_id, text, created_at, order, failed?}
    ws: null,
    ready: false, // socket open and history received
    everConnected: false,
    failures: 0, // consecutive failed attempts (for backoff)
    needSession: true, // POST /api/widget/sessions before the next socket
    reconnectTimer: null,
    attemptInFlight: false,
    started: false,
    open: false,
    unread: 0,
    typingTimer: null,
    typingAuthor: null,
    lastTypingSent: 0,
    errorTimer: null,
    lastSent: null, // {client_id, at} of the last message frame written to the socket
    heartbeat: null, // {ws, interval, deadline}: the pings of the open socket
    order: 0, // local ordering counter for provisional items
  };

  function loadOutbox() {
    try {
      const arr = JSON.parse(session.get(OUTBOX_KEY) || "[]");
      if (Array.isArray(arr)) {
        for (const e of arr) {
          if (e && typeof e.client_id === "string" && typeof e.text === "string") {
            state.outbox.set(e.client_id, {
              client_id: e.client_id,
              text: e.text,
              created_at: e.created_at || new Date().toISOString(),
              order: ++state.order,
            });
          }
        }
      }
    } catch (_) {
      /* corrupt entry: ignore */
    }
  }
  function saveOutbox() {
    const arr = Array.from(state.outbox.values())
      .filter((e) => !e.failed)
      .map(({ client_id, text, created_at }) => ({ client_id, text, created_at }));
    if (arr.length) session.set(OUTBOX_KEY, JSON.stringify(arr));
    else session.remove(OUTBOX_KEY);
  }
  loadOutbox();

  // ---------------------------------------------------------------- DOM helpers
  function el(tag, props, children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === "text") node.textContent = String(v);
        else if (k === "className") node.className = v;
        else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v === true ? "" : String(v));
      }
    }
    if (children) for (const c of children) if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    return node;
  }

  const SVG_NS = "http://www.w3.org/2000/svg";
  function icon(paths, size = 24) {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", String(size));
    svg.setAttribute("height", String(size));
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    for (const d of paths) {
      const p = document.createElementNS(SVG_NS, "path");
      p.setAttribute("d", d);
      svg.appendChild(p);
    }
    return svg;
  }
  const ICON_CHAT = [
    "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-4.3 3.44A.45.45 0 0 1 4 21.1V18a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z",
  ];
  const ICON_CLOSE = ["M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19 12 13.4 17.6 19 19 17.6 13.4 12 19 6.4 17.6 5 12 10.6z"];
  const ICON_CHECK = ["M9.5 16.6 5.2 12.3 3.8 13.7l5.7 5.7L20.7 8.2l-1.4-1.4z"];
  const ICON_CLIP = [
    "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9V15.5a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z",
  ];
  const ICON_SEND = ["M3.4 20.4 21.85 12.5a.55.55 0 0 0 0-1L3.4 3.6a.5.5 0 0 0-.7.6L5 11l9 1-9 1-2.3 6.8a.5.5 0 0 0 .7.6z"];

  const CSS = `
:host { all: initial; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
.sb-root {
  --sb-accent: ${CONFIG.color && /^[#a-zA-Z0-9(),.%\s-]+$/.test(CONFIG.color) ? CONFIG.color : "#4f46e5"};
  --sb-accent-fg: #ffffff;
  --sb-link: var(--sb-accent);
  --sb-bg: #ffffff;
  --sb-list-bg: #f6f7fb;
  --sb-surface: #ffffff;
  --sb-border: #e3e5ee;
  --sb-fg: #1c1f2b;
  --sb-muted: #6b7083;
  --sb-shadow: 0 12px 40px rgba(20, 24, 50, .18), 0 2px 8px rgba(20, 24, 50, .08);
  --sb-error-bg: #fdecec;
  --sb-error-fg: #9b1c1c;
  --sb-ok: #22c55e;
  --sb-warn: #f59e0b;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 15px;
  line-height: 1.45;
  color: var(--sb-fg);
  -webkit-font-smoothing: antialiased;
}
@media (prefers-color-scheme: dark) {
  .sb-root {
    --sb-bg: #171923;
    --sb-list-bg: #11131b;
    --sb-surface: #232635;
    --sb-border: #2f3345;
    --sb-fg: #e9eaf1;
    --sb-muted: #9a9fb5;
    --sb-shadow: 0 12px 40px rgba(0, 0, 0, .55), 0 2px 8px rgba(0, 0, 0, .4);
    --sb-error-bg: #3a1a1d;
    --sb-error-fg: #ffb4b4;
    --sb-link: #a5a0ff;
  }
}
button { font: inherit; color: inherit; }
:focus-visible { outline: 2px solid var(--sb-accent); outline-offset: 2px; }

.sb-bubble {
  position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
  width: 58px; height: 58px; border-radius: 50%; border: 0; cursor: pointer;
  background: var(--sb-accent); color: var(--sb-accent-fg);
  box-shadow: var(--sb-shadow);
  display: flex; align-items: center; justify-content: center;
  transition: transform .15s ease, box-shadow .15s ease;
}
.sb-bubble:hover { transform: translateY(-2px) scale(1.04); }
.sb-bubble:active { transform: scale(.97); }
.sb-bubble svg { fill: currentColor; }
.sb-bubble:focus-visible { outline: 3px solid var(--sb-accent); outline-offset: 3px; }
.sb-unread {
  position: absolute; top: -3px; right: -3px; min-width: 20px; height: 20px; padding: 0 6px;
  border-radius: 10px; background: #ef4444; color: #fff; font-size: 12px; font-weight: 700;
  display: flex; align-items: center; justify-content: center; border: 2px solid var(--sb-bg);
}

.sb-panel {
  position: fixed; right: 20px; bottom: 92px; z-index: 2147483001;
  width: 380px; height: min(620px, calc(100vh - 112px));
  display: flex; flex-direction: column; overflow: hidden;
  background: var(--sb-bg); border: 1px solid var(--sb-border); border-radius: 18px;
  box-shadow: var(--sb-shadow);
  animation: sb-in .18s ease-out;
}
@keyframes sb-in { from { opacity: 0; transform: translateY(12px) scale(.98); } to { opacity: 1; transform: none; } }

.sb-header {
  display: flex; align-items: center; gap: 12px; padding: 14px 14px 14px 18px;
  background: var(--sb-accent); color: var(--sb-accent-fg);
}
.sb-header-text { flex: 1; min-width: 0; }
.sb-title { margin: 0; font-size: 16px; font-weight: 650; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.sb-conn { display: flex; align-items: center; gap: 6px; font-size: 12.5px; opacity: .92; }
.sb-dot { width: 8px; height: 8px; border-radius: 50%; background: var(--sb-warn); box-shadow: 0 0 0 2px rgba(255,255,255,.35); }
.sb-root[data-connection="connected"] .sb-dot { background: var(--sb-ok); }
.sb-root[data-connection="reconnecting"] .sb-dot { animation: sb-pulse 1.2s ease-in-out infinite; }
@keyframes sb-pulse { 50% { opacity: .35; } }
.sb-close {
  width: 36px; height: 36px; border-radius: 10px; border: 0; cursor: pointer; background: transparent;
  color: var(--sb-accent-fg); display: flex; align-items: center; justify-content: center;
}
.sb-close svg { fill: currentColor; }
.sb-close:hover { background: rgba(255,255,255,.16); }
.sb-close:focus-visible { outline-color: var(--sb-accent-fg); outline-offset: -2px; }

.sb-list {
  flex: 1; overflow-y: auto; margin: 0; padding: 16px 14px 8px; list-style: none;
  background: var(--sb-list-bg); display: flex; flex-direction: column; gap: 10px;
  overscroll-behavior: contain;
}
.sb-empty { margin: auto 8px; text-align: center; color: var(--sb-muted); font-size: 14px; padding: 24px 8px; }
.sb-empty strong { display: block; color: var(--sb-fg); font-size: 16px; margin-bottom: 4px; }

.sb-msg { display: flex; flex-direction: column; max-width: 84%; align-self: flex-start; }
.sb-msg[data-author="customer"] { align-self: flex-end; align-items: flex-end; }
.sb-label { font-size: 11.5px; font-weight: 600; color: var(--sb-muted); margin: 0 0 3px 4px; letter-spacing: .01em; }
.sb-msg[data-author="operator"] .sb-label { color: var(--sb-link); }
.sb-text {
  margin: 0; padding: 9px 13px; border-radius: 16px; border-bottom-left-radius: 5px;
  background: var(--sb-surface); border: 1px solid var(--sb-border); color: var(--sb-fg);
  white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word;
}
.sb-msg[data-author="customer"] .sb-text {
  background: var(--sb-accent); color: var(--sb-accent-fg); border-color: transparent;
  border-bottom-left-radius: 16px; border-bottom-right-radius: 5px;
}
.sb-msg[data-author="customer"] .sb-text a { color: inherit; }
.sb-text a { color: var(--sb-link); text-decoration: underline; text-underline-offset: 2px; }
.sb-msg[data-status="sending"] .sb-text { opacity: .72; }
.sb-msg[data-status="failed"] .sb-text { background: var(--sb-error-bg); color: var(--sb-error-fg); }
.sb-msg[data-status="streaming"] .sb-text::after {
  content: ""; display: inline-block; width: .4em; height: 1em; margin-left: 2px; vertical-align: text-bottom;
  background: var(--sb-muted); animation: sb-pulse 1s steps(2) infinite;
}
.sb-sent svg, .sb-attachments svg { fill: currentColor; vertical-align: -2px; }
.sb-attachments svg { margin-right: 3px; }
.sb-meta { display: flex; gap: 6px; align-items: center; font-size: 11px; color: var(--sb-muted); margin: 3px 6px 0; }
.sb-retry { border: 0; background: none; padding: 0; cursor: pointer; color: var(--sb-error-fg); text-decoration: underline; font-size: 11px; }

.sb-msg[data-author="system"] { align-self: center; align-items: center; max-width: 92%; text-align: center; }
.sb-msg[data-author="system"] .sb-text {
  background: transparent; border: 0; padding: 2px 8px; color: var(--sb-muted); font-size: 13px; font-style: italic;
}
.sb-msg[data-author="system"] .sb-meta { margin-top: 0; }

.sb-sources { margin: 6px 4px 0; font-size: 12.5px; color: var(--sb-muted); }
.sb-sources-title { font-weight: 600; }
.sb-sources ul { margin: 2px 0 0; padding-left: 18px; }
.sb-sources li { margin: 1px 0; overflow-wrap: anywhere; }
.sb-sources a { color: var(--sb-link); }
.sb-source-file { opacity: .8; }
.sb-attachments { margin: 4px 4px 0; font-size: 12.5px; }
.sb-chips { display: flex; flex-wrap: wrap; gap: 6px; margin: 8px 0 0; }
.sb-chip { border: 1px solid var(--sb-accent); background: var(--sb-surface); color: var(--sb-accent); border-radius: 16px; padding: 5px 12px; font: inherit; font-size: 13px; cursor: pointer; }
.sb-chip:hover, .sb-chip:focus-visible { background: var(--sb-accent); color: var(--sb-accent-fg); }
.sb-stars { display: inline-flex; flex-direction: row-reverse; gap: 2px; margin: 8px 0 0; }
.sb-star { border: 0; background: none; padding: 0 2px; font: inherit; font-size: 26px; line-height: 1; color: var(--sb-muted, #9aa3ad); cursor: pointer; }
.sb-star:hover, .sb-star:hover ~ .sb-star, .sb-star:focus-visible, .sb-star:focus-visible ~ .sb-star { color: #f5a623; }
.sb-attachments a { color: var(--sb-link); }
.sb-attachment-img { display: block; max-width: 100%; max-height: 240px; border-radius: 8px; }

.sb-typing {
  display: flex; align-items: center; gap: 8px; padding: 4px 18px 6px; font-size: 12.5px; color: var(--sb-muted);
  background: var(--sb-list-bg);
}
.sb-dots { display: inline-flex; gap: 3px; padding: 7px 10px; border-radius: 12px; background: var(--sb-surface); border: 1px solid var(--sb-border); }
.sb-dots span { width: 6px; height: 6px; border-radius: 50%; background: var(--sb-muted); animation: sb-bounce 1.2s infinite ease-in-out; }
.sb-dots span:nth-child(2) { animation-delay: .15s; }
.sb-dots span:nth-child(3) { animation-delay: .3s; }
@keyframes sb-bounce { 0%, 60%, 100% { transform: translateY(0); opacity: .5; } 30% { transform: translateY(-4px); opacity: 1; } }

.sb-error {
  margin: 0; padding: 8px 14px; font-size: 13px; background: var(--sb-error-bg); color: var(--sb-error-fg);
  border-top: 1px solid var(--sb-border);
}

.sb-composer {
  display: flex; align-items: flex-end; gap: 8px; padding: 10px 10px 10px 14px;
  border-top: 1px solid var(--sb-border); background: var(--sb-bg);
}
.sb-input {
  flex: 1; resize: none; border: 1px solid var(--sb-border); border-radius: 12px; padding: 9px 12px;
  font: inherit; color: var(--sb-fg); background: var(--sb-surface); max-height: 132px; min-height: 40px;
  line-height: 1.4;
}
.sb-input::placeholder { color: var(--sb-muted); }
.sb-input:focus { outline: none; border-color: var(--sb-accent); box-shadow: 0 0 0 3px color-mix(in srgb, var(--sb-accent) 22%, transparent); }
.sb-send {
  width: 40px; height: 40px; flex: none; border: 0; border-radius: 12px; cursor: pointer;
  background: var(--sb-accent); color: var(--sb-accent-fg); display: flex; align-items: center; justify-content: center;
}
.sb-send svg { fill: currentColor; }
.sb-send:disabled { opacity: .45; cursor: default; }
.sb-footer { text-align: center; font-size: 11px; color: var(--sb-muted); padding: 0 0 8px; background: var(--sb-bg); }
.sb-sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }

@media (max-width: 480px) {
  .sb-panel { inset: 0; right: 0; bottom: 0; width: 100%; height: 100%; max-height: none; border-radius: 0; border: 0; }
  .sb-root[data-open="true"] .sb-bubble { display: none; }
  .sb-bubble { right: 16px; bottom: 16px; }
  .sb-input { font-size: 16px; } /* no zoom-on-focus on iOS */
}
@media (prefers-reduced-motion: reduce) {
  .sb-panel, .sb-dots span, .sb-dot, .sb-msg[data-status="streaming"] .sb-text::after { animation: none !important; }
  .sb-bubble { transition: none; }
}
`;

  // ---------------------------------------------------------------- build the UI
  const host = document.createElement("switchboard-widget");
  host.style.setProperty("display", "block", "important");
  host.style.setProperty("position", "static", "important");
  const shadow = host.attachShadow({ mode: "open" });

  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [sheet];
  } catch (_) {
    shadow.appendChild(el("style", { text: CSS }));
  }

  const ids = { panel: "sb-panel", title: "sb-title", list: "sb-list" };

  const unreadBadge = el("span", { className: "sb-unread", "data-testid": "sb-unread", hidden: true, "aria-hidden": "true" });
  const bubble = el(
    "button",
    {
      type: "button",
      className: "sb-bubble",
      "data-testid": "sb-bubble",
      "aria-label": t("openChat"),
      "aria-expanded": "false",
      "aria-controls": ids.panel,
    },
    [icon(ICON_CHAT, 28), unreadBadge],
  );

  const statusText = el("span", { "data-testid": "sb-status", text: t("connecting") });
  const header = el("div", { className: "sb-header" }, [
    el("div", { className: "sb-header-text" }, [
      el("h2", { className: "sb-title", id: ids.title, text: CONFIG.title }),
      el("div", { className: "sb-conn", role: "status" }, [el("span", { className: "sb-dot", "aria-hidden": "true" }), statusText]),
    ]),
    el("button", { type: "button", className: "sb-close", "aria-label": t("closeChat"), "data-testid": "sb-close" }, [icon(ICON_CLOSE, 22)]),
  ]);
  const closeButton = header.querySelector(".sb-close");

  const list = el("ol", {
    className: "sb-list",
    id: ids.list,
    "data-testid": "sb-messages",
    role: "log",
    "aria-live": "polite",
    "aria-relevant": "additions",
    "aria-label": t("messagesLabel"),
    tabindex: "0",
  });
  const emptyState = el("li", { className: "sb-empty", "data-testid": "sb-greeting", "aria-hidden": "false" }, [
    el("strong", { text: t("greeting") }),
    t("intro"),
  ]);

  const typingLabel = el("span", { text: t("typing", { who: t("ai") }) });
  const typing = el("div", { className: "sb-typing", "data-testid": "sb-typing", hidden: true, "aria-live": "polite" }, [
    el("span", { className: "sb-dots", "aria-hidden": "true" }, [el("span"), el("span"), el("span")]),
    typingLabel,
  ]);

  const errorBox = el("p", { className: "sb-error", "data-testid": "sb-error", role: "alert", hidden: true });

  const input = el("textarea", {
    className: "sb-input",
    "data-testid": "sb-input",
    rows: "1",
    placeholder: t("placeholder"),
    "aria-label": t("messageLabel"),
    autocomplete: "off",
    enterkeyhint: "send",
  });
  const sendButton = el("button", { type: "submit", className: "sb-send", "data-testid": "sb-send", "aria-label": t("send"), disabled: true }, [
    icon(ICON_SEND, 20),
  ]);
  const composer = el("form", { className: "sb-composer", "aria-label": t("composerLabel") }, [input, sendButton]);
  const footer = el("div", { className: "sb-footer", text: t("footer") });

  const panel = el(
    "section",
    {
      className: "sb-panel",
      id: ids.panel,
      "data-testid": "sb-panel",
      role: "dialog",
      "aria-labelledby": ids.title,
      hidden: true,
    },
    [header, list, typing, errorBox, composer, footer],
  );

  const root = el("div", { className: "sb-root", lang: uiLanguage, "data-open": "false", "data-connection": "connecting" }, [panel, bubble]);
  shadow.appendChild(root);

  // ---------------------------------------------------------------- rendering
  const timeFmt = new Intl.DateTimeFormat(uiLanguage, { hour: "2-digit", minute: "2-digit" });
  const dateTimeFmt = new Intl.DateTimeFormat(uiLanguage, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  const fullFmt = new Intl.DateTimeFormat(uiLanguage, { dateStyle: "full", timeStyle: "medium" });

  function timeNode(iso) {
    const d = new Date(iso);
    if (!iso || isNaN(d.getTime())) return null;
    const today = new Date();
    const sameDay = d.toDateString() === today.toDateString();
    return el("time", {
      datetime: d.toISOString(),
      title: fullFmt.format(d),
      "data-testid": "sb-time",
      text: sameDay ? timeFmt.format(d) : dateTimeFmt.format(d),
    });
  }

  function safeHttpUrl(s) {
    if (typeof s !== "string" || !/^https?:\/\//i.test(s.trim())) return null;
    try {
      const u = new URL(s.trim());
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (_) {
      return null;
    }
  }

  function link(href, text) {
    return el("a", { href, target: "_blank", rel: "noopener noreferrer", text });
  }

  // Plain text with http(s) URLs turned into links; built from text nodes only.
  const URL_RE = /\bhttps?:\/\/[^\s<>"']+/gi;
  function textWithLinks(text) {
    const frag = document.createDocumentFragment();
    let last = 0;
    for (const m of text.matchAll(URL_RE)) {
      let url = m[0];
      const trail = url.match(/[).,;:!?\]]+$/); // keep trailing punctuation out of the link
      if (trail) url = url.slice(0, -trail[0].length);
      const href = safeHttpUrl(url);
      if (!href) continue;
      if (m.index > last) frag.appendChild(document.createTextNode(text.slice(last, m.index)));
      frag.appendChild(link(href, url));
      last = m.index + url.length;
    }
    if (last < text.length) frag.appendChild(document.createTextNode(text.slice(last)));
    return frag;
  }

  function sourcesNode(sources) {
    if (!Array.isArray(sources)) return null;
    const seen = new Set();
    const items = [];
    for (const s of sources) {
      if (!s || typeof s !== "object") continue;
      const source = typeof s.source === "string" ? s.source : "";
      const title = typeof s.title === "string" && s.title.trim() ? s.title.trim() : source;
      if (!title && !source) continue;
      const key = source || title;
      if (seen.has(key)) continue;
      seen.add(key);
      const href = safeHttpUrl(source);
      if (href) {
        items.push(el("li", null, [link(href, title || source)]));
      } else {
        const children = [title];
        if (source && source !== title) children.push(el("span", { className: "sb-source-file", text: ` (${source})` }));
        items.push(el("li", { title: source || null }, children));
      }
    }
    if (!items.length) return null;
    return el("div", { className: "sb-sources", "data-testid": "sb-sources" }, [
      el("span", { className: "sb-sources-title", text: t("sources") }),
      el("ul", null, items),
    ]);
  }

  function attachmentsNode(attachments) {
    if (!Array.isArray(attachments) || !attachments.length) return null;
    const items = [];
    for (const a of attachments) {
      if (!a || typeof a !== "object") continue;
      const href = safeHttpUrl(a.url || a.href || "");
      const name = String(a.name || a.filename || a.title || a.content_type || t("attachment"));
      const image = href && (a.kind === "image" || /^image\//i.test(String(a.mime_type || "")));
      if (image) {
        // A photo is shown, and opens in full through its link.
        const img = el("img", { className: "sb-attachment-img", alt: name });
        img.loading = "lazy";
        img.src = href;
        const open = link(href, "");
        open.replaceChildren(img);
        items.push(el("div", null, [open]));
        continue;
      }
      items.push(el("div", null, [icon(ICON_CLIP, 14), href ? link(href, name) : name]));
    }
    return items.length ? el("div", { className: "sb-attachments", "data-testid": "sb-attachments" }, items) : null;
  }

  // Quick replies of the latest message: a press is sent as an ordinary message (its title),
  // with the button's payload beside it.
  function chipsNode(replies) {
    if (!Array.isArray(replies) || !replies.length) return null;
    if (isRating(replies)) return starsNode(replies);
    const buttons = [];
    for (const r of replies) {
      if (!r || typeof r.title !== "string" || !r.title.trim()) continue;
      const payload = typeof r.payload === "string" ? r.payload : null;
      buttons.push(
        el("button", {
          type: "button",
          className: "sb-chip",
          "data-testid": "sb-chip",
          text: r.title,
          onclick: () => send(r.title, payload),
        }),
      );
    }
    return buttons.length ? el("div", { className: "sb-chips", role: "group" }, buttons) : null;
  }

  // A rating request (payloads csat:1 … csat:5) shows as a row of stars, not as chips.
  function isRating(replies) {
    return replies.length === 5 && replies.every((r, i) => r && r.payload === "csat:" + (i + 1));
  }

  function starsNode(replies) {
    const buttons = replies.map((r, i) =>
      el("button", {
        type: "button",
        className: "sb-star",
        "data-testid": "sb-star",
        "aria-label": t("stars", { n: i + 1 }),
        title: t("stars", { n: i + 1 }),
        text: "\u2605",
        onclick: () => send(r.title, r.payload),
      }),
    );
    // Laid out right to left, so that a hovered star and the ones before it light up (CSS `~`).
    return el("div", { className: "sb-stars", role: "group", "aria-label": t("rating"), "data-testid": "sb-stars" }, buttons.reverse());
  }

  function authorLabel(m) {
    if (m.author === "operator") {
      const name = [m.author_name, m.operator_name, m.sender_name].find((x) => typeof x === "string" && x.trim());
      return name ? `${AUTHOR_LABELS.operator} · ${name.trim()}` : AUTHOR_LABELS.operator;
    }
    return AUTHOR_LABELS[m.author] || "";
  }

  // item: {key, kind: 'message'|'pending'|'streaming', author, text, created_at, seq, id, client_id, status, sources, attachments}
  function buildItem(item) {
    const author = ["customer", "ai", "operator", "system"].includes(item.author) ? item.author : "system";
    const li = el("li", {
      className: "sb-msg",
      "data-testid": "sb-message",
      "data-author": author,
      "data-seq": item.seq != null ? String(item.seq) : "",
      "data-id": item.id || "",
      "data-client-id": item.client_id || null,
      "data-status": item.status,
    });
    if (author === "ai" || author === "operator") {
      li.appendChild(el("span", { className: "sb-label", text: authorLabel(item) }));
    } else if (author === "customer") {
      li.appendChild(el("span", { className: "sb-sr", text: t("youSaid") }));
    }
    const body = el("p", { className: "sb-text" });
    body.appendChild(textWithLinks(String(item.text || "")));
    li.appendChild(body);
    const att = attachmentsNode(item.attachments);
    if (att) li.appendChild(att);
    const chips = item.offer ? chipsNode(item.quick_replies) : null;
    if (chips) li.appendChild(chips);
    if (author === "ai" || item.sources) {
      const src = sourcesNode(item.sources);
      if (src) li.appendChild(src);
    }
    const meta = el("div", { className: "sb-meta" });
    const stamp = timeNode(item.created_at);
    if (stamp) meta.appendChild(stamp);
    if (author === "customer") {
      if (item.status === "sending") meta.appendChild(el("span", { text: `· ${t("sending")}` }));
      else if (item.status === "failed") {
        meta.appendChild(el("span", { text: `· ${t("notSent")}` }));
        meta.appendChild(
          el("button", {
            type: "button",
            className: "sb-retry",
            text: t("retry"),
            "data-testid": "sb-retry",
            onclick: () => retry(item.client_id),
          }),
        );
      } else meta.appendChild(el("span", { className: "sb-sent", role: "img", "aria-label": t("sent"), title: t("sent") }, [icon(ICON_CHECK, 13)]));
    }
    if (meta.childNodes.length) li.appendChild(meta);
    return li;
  }

  function currentItems() {
    const confirmed = Array.from(state.messages.values())
      .sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))
      .map((m) => ({
        key: "m:" + m.id,
        kind: "message",
        author: m.author,
        text: m.text,
        created_at: m.created_at,
        seq: m.seq,
        id: m.id,
        client_id: m.client_id,
        status: m.author === "customer" ? "sent" : m.status || "sent",
        sources: m.sources,
        attachments: m.attachments,
        quick_replies: m.quick_replies,
        author_name: m.author_name,
        operator_name: m.operator_name,
        sender_name: m.sender_name,
      }));
    const provisional = [];
    for (const s of state.streaming.values()) {
      provisional.push({ key: "s:" + s.id, kind: "streaming", author: s.author, text: s.text, created_at: s.created_at, id: s.id, status: "streaming", order: s.order });
    }
    for (const p of state.outbox.values()) {
      provisional.push({
        key: "p:" + p.client_id,
        kind: "pending",
        author: "customer",
        text: p.text,
        created_at: p.created_at,
        client_id: p.client_id,
        status: p.failed ? "failed" : "sending",
        order: p.order,
      });
    }
    provisional.sort((a, b) => a.order - b.order);
    // Buttons are offered only while their message is the latest thing in the chat.
    const last = confirmed[confirmed.length - 1];
    if (last && !provisional.length && last.author !== "customer") last.offer = true;
    return confirmed.concat(provisional);
  }

  const nodes = new Map(); // key -> {node, sig}
  let renderQueued = false;
  let forceScroll = false;
  function scheduleRender(scrollToEnd) {
    if (scrollToEnd) forceScroll = true;
    if (renderQueued) return;
    renderQueued = true;
    queueMicrotask(render);
  }

  function render() {
    renderQueued = false;
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    const items = currentItems();
    const wanted = new Set();
    const ordered = [];
    for (const item of items) {
      wanted.add(item.key);
      const sig = JSON.stringify([item.text, item.status, item.seq, item.created_at, item.sources, item.attachments, item.id, item.client_id, item.offer ? item.quick_replies : null]);
      let entry = nodes.get(item.key);
      if (!entry || entry.sig !== sig) {
        const node = buildItem(item);
        if (entry && entry.node.parentNode) entry.node.replaceWith(node);
        entry = { node, sig };
        nodes.set(item.key, entry);
      }
      ordered.push(entry.node);
    }
    for (const [key, entry] of nodes) {
      if (!wanted.has(key)) {
        entry.node.remove();
        nodes.delete(key);
      }
    }
    if (ordered.length) {
      if (emptyState.parentNode) emptyState.remove();
    } else if (!emptyState.parentNode) {
      list.appendChild(emptyState);
    }
    // put nodes in order with minimal moves
    let cursor = list.firstElementChild;
    for (const node of ordered) {
      if (cursor === node) {
        cursor = cursor.nextElementSibling;
      } else {
        list.insertBefore(node, cursor);
      }
    }
    if (nearBottom || forceScroll) list.scrollTop = list.scrollHeight;
    forceScroll = false;
  }

  function setConnectionUi() {
    let mode, text;
    if (state.ready) {
      mode = "connected";
      text = t("connected");
    } else if (state.everConnected || state.failures > 0) {
      mode = "reconnecting";
      text = t("reconnecting");
    } else {
      mode = "connecting";
      text = t("connecting");
    }
    root.setAttribute("data-connection", mode);
    if (statusText.textContent !== text) statusText.textContent = text;
  }

  function updateSendButton() {
    sendButton.disabled = !input.value.trim();
  }

  function showTyping(author) {
    state.typingAuthor = author;
    typingLabel.textContent = t("typing", { who: author === "operator" ? AUTHOR_LABELS.operator : AUTHOR_LABELS.ai });
    typing.setAttribute("data-author", author);
    typing.hidden = false;
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(hideTyping, TYPING_SHOW_MS);
    scheduleRender();
  }
  function hideTyping() {
    clearTimeout(state.typingTimer);
    state.typingTimer = null;
    state.typingAuthor = null;
    typing.hidden = true;
  }

  function showError(detail) {
    errorBox.textContent = String(detail || t("error"));
    errorBox.hidden = false;
    clearTimeout(state.errorTimer);
    state.errorTimer = setTimeout(() => {
      errorBox.hidden = true;
    }, ERROR_SHOW_MS);
  }

  function setUnread(n) {
    state.unread = n;
    unreadBadge.textContent = n > 9 ? "9+" : String(n);
    unreadBadge.hidden = n === 0;
    bubble.setAttribute("aria-label", n ? (n === 1 ? t("openChatUnreadOne") : t("openChatUnreadMany", { n })) : state.open ? t("closeChat") : t("openChat"));
  }

  // ---------------------------------------------------------------- open / close
  function openPanel() {
    if (!state.open) {
      state.open = true;
      panel.hidden = false;
      root.setAttribute("data-open", "true");
      bubble.setAttribute("aria-expanded", "true");
      setUnread(0);
      bubble.setAttribute("aria-label", t("closeChat"));
      scheduleRender(true);
      start();
    }
    setTimeout(() => input.focus({ preventScroll: true }), 0);
  }
  function closePanel() {
    if (!state.open) return;
    state.open = false;
    panel.hidden = true;
    root.setAttribute("data-open", "false");
    bubble.setAttribute("aria-expanded", "false");
    bubble.setAttribute("aria-label", t("openChat"));
    bubble.focus({ preventScroll: true });
  }

  bubble.addEventListener("click", () => (state.open ? closePanel() : openPanel()));
  closeButton.addEventListener("click", closePanel);
  panel.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.stopPropagation();
      closePanel();
    }
  });

  // ---------------------------------------------------------------- composer
  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 132) + "px";
  }

  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submit();
    }
  });
  input.addEventListener("input", () => {
    autosize();
    updateSendButton();
    const now = Date.now();
    if (input.value.trim() && state.ready && now - state.lastTypingSent >= TYPING_SEND_EVERY_MS) {
      if (sendFrame({ type: "typing" })) state.lastTypingSent = now;
    }
  });
  composer.addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });

  function submit() {
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    autosize();
    updateSendButton();
    send(text);
    input.focus({ preventScroll: true });
  }

  function send(text, payload) {
    text = String(text).replace(/\s+$/, "").replace(/^\s*\n/, "");
    if (!text.trim()) return null;
    const entry = { client_id: uuid4(), text, created_at: new Date().toISOString(), order: ++state.order };
    if (payload) entry.payload = payload;
    state.outbox.set(entry.client_id, entry);
    saveOutbox();
    scheduleRender(true);
    if (state.ready) sendMessageFrame(entry);
    else start();
    return entry.client_id;
  }

  function retry(clientId) {
    const entry = state.outbox.get(clientId);
    if (!entry) return;
    entry.failed = false;
    entry.order = ++state.order;
    saveOutbox();
    scheduleRender(true);
    if (state.ready) sendMessageFrame(entry);
  }

  function sendMessageFrame(entry) {
    const frame = { type: "message", text: entry.text, client_id: entry.client_id };
    if (entry.payload) frame.payload = entry.payload; // a pressed quick reply's
    const ok = sendFrame(frame);
    if (ok) {
      state.lastSent = { client_id: entry.client_id, at: Date.now() };
      probe(); // a message waits on "Sending…": learn now whether anyone is listening
    }
    return ok;
  }

  function flushOutbox() {
    for (const entry of Array.from(state.outbox.values()).sort((a, b) => a.order - b.order)) {
      if (entry.failed) continue;
      if (!sendMessageFrame(entry)) break;
    }
  }

  // ---------------------------------------------------------------- model updates
  function resetConversation() {
    state.messages.clear();
    state.streaming.clear();
    state.lastSeq = 0;
    state.haveHistory = false;
    state.mode = null;
    hideTyping();
    scheduleRender();
  }

  function noteSeq(seq) {
    const n = Number(seq);
    if (Number.isFinite(n) && n > state.lastSeq) state.lastSeq = n;
  }

  function acceptMessage(m, live) {
    if (!m || typeof m !== "object" || m.id == null) return;
    m = Object.assign({}, m, { id: String(m.id) });
    if (m.conversation_id && state.conversationId && String(m.conversation_id) !== String(state.conversationId)) return;
    noteSeq(m.seq);
    const isNew = !state.messages.has(m.id);
    state.messages.set(m.id, m); // same id: the newer copy wins (status updates), shown once
    state.streaming.delete(m.id);
    if (m.client_id && state.outbox.has(m.client_id)) {
      state.outbox.delete(m.client_id);
      saveOutbox();
    }
    if (m.author !== "customer") {
      // A reply that arrives under another id (a fallback notice, an operator) means the
      // half-streamed answer was abandoned: drop it rather than leave it hanging.
      if (live && m.author !== "ai" && state.streaming.size) state.streaming.clear();
      // A stored AI answer under another id: any other draft was dropped by the server.
      if (live && m.author === "ai") dropDrafts(m.id);
      if (live && state.typingAuthor) hideTyping();
      if (live && isNew && !state.open) setUnread(state.unread + 1);
    }
  }

  // Forget streamed drafts other than `keep` (none kept when null): never stored or sent.
  function dropDrafts(keep) {
    let dropped = false;
    for (const id of Array.from(state.streaming.keys())) {
      if (id !== keep) {
        state.streaming.delete(id);
        dropped = true;
      }
    }
    if (dropped) scheduleRender();
  }

  function onFrame(frame) {
    if (!frame || typeof frame !== "object") return;
    switch (frame.type) {
      case "history": {
        const page = Array.isArray(frame.messages) ? frame.messages : [];
        for (const m of page) acceptMessage(m, false);
        if (frame.has_more && page.length) {
          // Cut at a page: ask for what follows its last message (the server paces these).
          const after = Math.max(...page.map((m) => Number(m.seq)).filter(Number.isFinite));
          if (Number.isFinite(after)) sendFrame({ type: "resume", after_seq: after });
        } else {
          noteSeq(frame.last_seq);
        }
        if (frame.mode) {
          state.mode = frame.mode;
          root.setAttribute("data-mode", String(frame.mode));
        }
        state.haveHistory = true;
        if (!state.ready) {
          state.ready = true;
          state.everConnected = true;
          state.failures = 0; // a good connection resets the backoff
          setConnectionUi();
        }
        flushOutbox();
        scheduleRender(true);
        break;
      }
      case "message": {
        noteSeq(frame.seq);
        acceptMessage(frame.message, true);
        scheduleRender(frame.message && frame.message.author === "customer");
        break;
      }
      case "token": {
        const id = frame.message_id != null ? String(frame.message_id) : null;
        if (!id || state.messages.has(id) || typeof frame.text !== "string") break;
        if (state.mode && state.mode !== "ai") break; // a person has the chat: no AI drafts
        let s = state.streaming.get(id);
        if (!s) {
          // One answer streams at a time: a draft under another id was dropped by the
          // server (the customer wrote again before it was sent), so it goes.
          dropDrafts(id);
          s = { id, author: frame.author || "ai", text: "", created_at: new Date().toISOString(), order: ++state.order };
          state.streaming.set(id, s);
        }
        s.text += frame.text;
        hideTyping();
        scheduleRender();
        break;
      }
      case "typing": {
        // The AI starting (again) on an answer means a half-streamed draft is superseded:
        // the customer added to their message, and the answer to all of it is on its way.
        if (frame.author === "ai") dropDrafts(null);
        if (frame.author === "ai" || frame.author === "operator") showTyping(frame.author);
        break;
      }
      case "status": {
        noteSeq(frame.seq);
        // The chat left AI mode: an answer still streaming will not be finished.
        if (frame.mode && frame.mode !== "ai" && state.streaming.size) {
          state.streaming.clear();
          scheduleRender();
        }
        if (frame.mode) {
          state.mode = frame.mode;
          root.setAttribute("data-mode", String(frame.mode));
        }
        break;
      }
      case "error": {
        // A server may name the rejected message; then it is not retried on reconnect.
        // Without a client_id, an error right after sending a message is taken to be about
        // that message (shown as "Not sent" with a Retry button instead of being resent
        // on every reconnect).
        let cid = frame.client_id != null ? String(frame.client_id) : null;
        // (A rejected message's rate_limited error names it; one without a name is a resume's.)
        if (!cid && frame.code !== "rate_limited" && state.lastSent && Date.now() - state.lastSent.at < 5000) cid = state.lastSent.client_id;
        state.lastSent = null;
        if (cid && state.outbox.has(cid)) {
          state.outbox.get(cid).failed = true;
          saveOutbox();
          scheduleRender();
        }
        showError(frame.detail || frame.message || frame.code);
        break;
      }
      default:
        break; // unknown frame types are ignored (forward compatible)
    }
  }

  // ---------------------------------------------------------------- heartbeat
  function startHeartbeat(ws, onDead) {
    stopHeartbeat();
    const beat = { ws, onDead, interval: null, deadline: null };
    beat.interval = setInterval(probe, PING_EVERY_MS);
    state.heartbeat = beat;
  }
  function stopHeartbeat() {
    const beat = state.heartbeat;
    if (!beat) return;
    clearInterval(beat.interval);
    clearTimeout(beat.deadline);
    state.heartbeat = null;
  }
  // Send a ping unless one is already out; with no frame back in time the socket is dead.
  function probe() {
    const beat = state.heartbeat;
    if (!beat || beat.deadline || state.ws !== beat.ws) return;
    if (!sendFrame({ type: "ping" })) return;
    beat.deadline = setTimeout(() => {
      if (state.heartbeat === beat && state.ws === beat.ws) beat.onDead();
    }, PONG_TIMEOUT_MS);
  }
  // Any frame from the server (a pong or anything else) proves the socket alive.
  function heard(ws) {
    const beat = state.heartbeat;
    if (beat && beat.ws === ws && beat.deadline) {
      clearTimeout(beat.deadline);
      beat.deadline = null;
    }
  }

  // ---------------------------------------------------------------- connection
  function sendFrame(obj) {
    const ws = state.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    try {
      ws.send(JSON.stringify(obj));
      return true;
    } catch (_) {
      return false;
    }
  }

  function dropToken() {
    state.token = null;
    local.remove(TOKEN_KEY);
  }

  class SessionRejected extends Error {}

  async function ensureSession() {
    // Resume the stored visitor if there is one; a rejected token means a new visitor.
    for (let attempt = 0; attempt < 3; attempt++) {
      const body = {};
      if (state.token) body.token = state.token;
      if (attempt < 2) {
        if (CONFIG.name) body.name = CONFIG.name;
        if (CONFIG.language) body.language = CONFIG.language;
      }
      const res = await fetch(serverBase + "/api/widget/sessions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
      if (res.ok) {
        const data = await res.json();
        if (!data || typeof data.token !== "string" || !data.token) throw new Error("bad session response");
        const conv = data.conversation_id != null ? String(data.conversation_id) : null;
        if (state.conversationId && conv && conv !== state.conversationId) resetConversation();
        state.token = data.token;
        state.conversationId = conv;
        local.set(TOKEN_KEY, data.token);
        return;
      }
      if (res.status === 401 || res.status === 403 || res.status === 422) {
        if (state.token) {
          dropToken(); // stale token: start a new conversation
          resetConversation();
          state.conversationId = null;
        }
        continue; // without a token; the last try without name/language
      }
      throw new Error("session request failed: HTTP " + res.status);
    }
    throw new SessionRejected("session refused");
  }

  function start() {
    if (state.started) return;
    state.started = true;
    connect();
  }

  function clearReconnect() {
    if (state.reconnectTimer) {
      clearTimeout(state.reconnectTimer);
      state.reconnectTimer = null;
    }
  }

  function scheduleReconnect(immediate) {
    clearReconnect();
    setConnectionUi();
    let delay = 0;
    if (!immediate) {
      const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, state.failures - 1));
      delay = base / 2 + Math.random() * (base / 2); // jitter: 50–100 % of the step
    }
    state.reconnectTimer = setTimeout(() => {
      state.reconnectTimer = null;
      connect();
    }, delay);
  }

  async function connect() {
    if (!state.started || state.attemptInFlight) return;
    if (state.ws && (state.ws.readyState === WebSocket.OPEN || state.ws.readyState === WebSocket.CONNECTING)) return;
    clearReconnect();
    state.attemptInFlight = true;
    setConnectionUi();
    try {
      if (state.needSession || !state.token) {
        await ensureSession();
        state.needSession = false;
      }
    } catch (err) {
      state.attemptInFlight = false;
      state.failures++;
      scheduleReconnect(false);
      return;
    }
    state.attemptInFlight = false;

    const params = new URLSearchParams({ token: state.token });
    if (state.haveHistory) params.set("after_seq", String(state.lastSeq));
    let ws;
    try {
      ws = new WebSocket(`${wsBase}/ws/widget?${params}`);
    } catch (_) {
      state.failures++;
      state.needSession = true;
      scheduleReconnect(false);
      return;
    }
    state.ws = ws;
    let opened = false;
    // A socket that neither opens nor delivers its history in time is given up on.
    const watchdog = setTimeout(() => {
      if (state.ws === ws && !state.ready) {
        try {
          ws.close(4000, "handshake timeout");
        } catch (_) {
          /* ignore */
        }
      }
    }, CONNECT_TIMEOUT_MS);
    ws.onopen = () => {
      opened = true;
      startHeartbeat(ws, () => {
        // No answer to a ping: give this socket up now (its close handshake could hang as
        // long as the dead connection does) and connect again.
        lost(4000);
        try {
          ws.close(4000, "no pong");
        } catch (_) {
          /* ignore */
        }
      });
    };
    ws.onmessage = (ev) => {
      if (state.ws !== ws) return;
      heard(ws);
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      onFrame(frame);
    };
    ws.onerror = () => {
      /* onclose follows */
    };
    ws.onclose = (ev) => lost(ev.code);
    function lost(code) {
      clearTimeout(watchdog);
      if (state.ws !== ws) return;
      stopHeartbeat();
      state.ws = null;
      const wasReady = state.ready;
      state.ready = false;
      state.streaming.clear(); // a half-streamed answer arrives complete in the next history
      hideTyping();
      scheduleRender();
      if (AUTH_CLOSE_CODES.has(code)) {
        // bad or expired token: new visitor session, then connect again
        dropToken();
        resetConversation();
        state.conversationId = null;
        state.needSession = true;
        state.failures++;
        scheduleReconnect(state.failures <= 1);
        return;
      }
      if (!opened || !wasReady) {
        // Refused before (or without) history: maybe the token was refused at the
        // handshake, which the browser cannot tell us. Re-check the session first.
        state.needSession = true;
      }
      state.failures++;
      scheduleReconnect(false);
    }
  }

  function reconnectNow() {
    if (!state.started) return;
    if (state.ws || state.attemptInFlight) return;
    state.failures = Math.min(state.failures, 1);
    scheduleReconnect(true);
  }

  window.addEventListener("online", reconnectNow);
  window.addEventListener("offline", probe); // the network changed: is the socket still there?
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectNow();
  });
  window.addEventListener("pageshow", (e) => {
    if (e.persisted) reconnectNow(); // back/forward cache restore
  });

  // ---------------------------------------------------------------- public handle
  window.SwitchboardWidget = Object.freeze({
    open: openPanel,
    close: closePanel,
    toggle: () => (state.open ? closePanel() : openPanel()),
    send: (text) => {
      start();
      return send(text);
    },
    state: () => ({
      connected: state.ready,
      language: uiLanguage,
      status: statusText.textContent,
      lastSeq: state.lastSeq,
      conversationId: state.conversationId,
      mode: state.mode,
      open: state.open,
      messages: Array.from(state.messages.values())
        .sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))
        .map((m) => m.id),
      pending: Array.from(state.outbox.keys()),
      server: serverBase,
    }),
  });

  // ---------------------------------------------------------------- mount
  function mount() {
    document.body.appendChild(host);
    render();
    setConnectionUi();
    // A returning visitor (stored token) or unsent messages: connect right away so
    // replies that arrived meanwhile show up (unread badge). New visitors connect on open.
    if (state.token || state.outbox.size) start();
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount, { once: true });
})();
