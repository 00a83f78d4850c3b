// Switchboard operator panel: vanilla JS, no build step, no external resources.
// Every piece of text that comes from a customer (or any user) is inserted with
// textContent, never as HTML.
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const TITLE = "Switchboard";
  const MODE_LABEL = {
    ai: "AI",
    waiting_operator: "Waiting",
    operator: "Operator",
    closed: "Closed",
  };
  const PAGE = 50;

  const state = {
    me: null,
    csrf: "",
    conversations: new Map(), // id -> item (as the list shows it)
    order: [], // ids in list order
    unread: new Map(), // id -> unread customer messages (every chat, not only the listed)
    openId: null,
    messages: new Map(), // id -> message of the open chat
    oldestSeq: null,
    hasMore: false,
    loadingOlder: false,
    filters: { mode: "", channel: "", q: "", assignee: "" },
    presence: [], // operators: {id, email, display_name, status, open_chats}
    ws: null,
    wsAttempt: 0,
    wsTimer: null,
    typingTimer: null,
    blocks: [],
    blockId: null,
    template: { configured: false }, // WhatsApp's template for chats outside the window
  };

  // --- HTTP ----------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail || `HTTP ${status}`);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRF-Token"] = state.csrf;
    const response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401 && path !== "/api/auth/login") {
      showLogin();
      throw new ApiError(401, "signed out");
    }
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const detail = data && typeof data.detail === "string" ? data.detail : "";
      throw new ApiError(response.status, detail);
    }
    return data;
  }

  // --- helpers -------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function displayName(item) {
    return (item && item.contact && item.contact.display_name) || "Unknown customer";
  }

  function relTime(iso) {
    if (!iso) return "";
    const then = new Date(iso);
    const seconds = Math.max(0, (Date.now() - then.getTime()) / 1000);
    if (seconds < 45) return "now";
    if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
    const sameDay = new Date().toDateString() === then.toDateString();
    if (sameDay) return then.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return then.toLocaleDateString([], { month: "short", day: "numeric" });
  }

  function clockTime(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function updateTitle() {
    let count = 0;
    for (const n of state.unread.values()) if (n > 0) count += 1;
    document.title = count > 0 ? `(${count}) ${TITLE}` : TITLE;
  }

  function setUnread(id, n) {
    if (n > 0) state.unread.set(id, n);
    else state.unread.delete(id);
    const item = state.conversations.get(id);
    if (item) item.unread = n;
    updateTitle();
  }

  // --- views ---------------------------------------------------------------------------

  function showLogin() {
    closeSocket();
    state.me = null;
    state.csrf = "";
    $("loading").hidden = true;
    $("app-view").hidden = true;
    $("login-view").hidden = false;
    document.title = TITLE;
    $("login-email").focus();
  }

  async function showApp() {
    $("loading").hidden = true;
    $("login-view").hidden = true;
    $("app-view").hidden = false;
    const who = state.me.display_name || state.me.email;
    $("me").textContent = state.me.role === "admin" ? `${who} · admin` : who;
    connectSocket();
    await Promise.all([loadConversations(), loadUnread(), loadTemplate(), loadPresence()]);
    route();
  }

  function route() {
    const hash = location.hash || "#/chats";
    const blocks = hash.startsWith("#/prompt-blocks");
    $("chats-page").hidden = blocks;
    $("blocks-page").hidden = !blocks;
    $("nav-chats").setAttribute("aria-current", blocks ? "false" : "page");
    $("nav-blocks").setAttribute("aria-current", blocks ? "page" : "false");
    if (blocks) {
      loadBlocks();
      loadCannedAdmin();
      return;
    }
    const match = hash.match(/^#\/chats\/([0-9a-f]{24})$/);
    const id = match ? match[1] : null;
    if (id !== state.openId) openChat(id);
  }

  // --- login ---------------------------------------------------------------------------

  async function onLogin(event) {
    event.preventDefault();
    const error = $("login-error");
    error.hidden = true;
    const email = $("login-email").value.trim();
    const password = $("login-password").value;
    if (!email || !password) {
      error.textContent = "Enter your e-mail and password.";
      error.hidden = false;
      return;
    }
    $("login-submit").disabled = true;
    try {
      const data = await api("POST", "/api/auth/login", { email, password });
      state.csrf = data.csrf_token;
      state.me = data.operator;
      $("login-password").value = "";
      await showApp();
    } catch (err) {
      error.textContent =
        err.status === 401
          ? "Wrong e-mail or password."
          : err.status === 429
            ? "Too many attempts. Wait a minute and try again."
            : "Could not sign in. Try again.";
      error.hidden = false;
    } finally {
      $("login-submit").disabled = false;
    }
  }

  async function onLogout() {
    try {
      await api("POST", "/api/auth/logout");
    } catch (_) {
      // signed out either way
    }
    state.openId = null;
    location.hash = "";
    showLogin();
  }

  // --- chat list -----------------------------------------------------------------------

  let listRequest = 0;

  async function loadConversations() {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(state.filters)) if (value) params.set(key, value);
    const mine = ++listRequest;
    const data = await api("GET", `/api/conversations?${params}`);
    if (mine !== listRequest) return; // a newer filter won
    state.conversations = new Map(data.items.map((item) => [item.id, item]));
    state.order = data.items.map((item) => item.id);
    for (const item of data.items) setUnread(item.id, item.unread);
    renderList();
  }

  async function loadUnread() {
    const data = await api("GET", "/api/conversations/unread");
    state.unread = new Map(Object.entries(data.items));
    updateTitle();
    renderList();
  }

  let refreshTimer = null;
  function refreshListSoon() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => loadConversations().catch(() => {}), 250);
  }

  function matchesFilters(item) {
    if (state.filters.mode && item.mode !== state.filters.mode) return false;
    if (state.filters.channel && item.channel !== state.filters.channel) return false;
    if (state.filters.assignee === "me" && !(state.me && item.assignee_id === state.me.id)) return false;
    return true;
  }

  function renderList() {
    const list = $("chat-list");
    list.replaceChildren();
    state.order.sort((a, b) => {
      const x = state.conversations.get(a);
      const y = state.conversations.get(b);
      return (y.last_message_at || "").localeCompare(x.last_message_at || "");
    });
    for (const id of state.order) {
      const item = state.conversations.get(id);
      if (!item || !matchesFilters(item)) continue;
      list.append(chatItem(item));
    }
    $("chat-list-empty").hidden = list.childElementCount > 0;
  }

  function chatItem(item) {
    const unread = state.unread.get(item.id) || 0;
    const li = el("li", "chat-item");
    li.dataset.id = item.id;
    li.dataset.testid = "chat-item";
    li.setAttribute("data-testid", "chat-item");
    li.tabIndex = 0;
    li.setAttribute("role", "link");
    li.setAttribute("aria-current", item.id === state.openId ? "true" : "false");
    if (unread > 0) li.classList.add("has-unread");
    li.append(el("span", "name", displayName(item)));
    const time = el("span", "time", relTime(item.last_message_at));
    time.title = item.last_message_at ? new Date(item.last_message_at).toLocaleString() : "";
    li.append(time);
    const meta = el("span", "meta");
    meta.append(el("span", "channel", item.channel));
    const badge = el("span", "badge", MODE_LABEL[item.mode] || item.mode);
    badge.dataset.mode = item.mode;
    meta.append(badge);
    li.append(meta);
    if (unread > 0) {
      const count = el("span", "unread", unread);
      count.setAttribute("aria-label", `${unread} unread`);
      li.append(count);
    }
    const open = () => {
      location.hash = `#/chats/${item.id}`;
    };
    li.addEventListener("click", open);
    li.addEventListener("keydown", (event) => {
      if (event.key === "Enter") open();
    });
    return li;
  }

  // --- one chat ------------------------------------------------------------------------

  async function openChat(id) {
    state.openId = id;
    state.messages = new Map();
    state.oldestSeq = null;
    state.hasMore = false;
    $("messages").replaceChildren();
    $("typing").hidden = true;
    $("chat-error").hidden = true;
    $("chat-empty").hidden = Boolean(id);
    $("chat-open").hidden = !id;
    renderList();
    if (!id) return;
    try {
      let item = state.conversations.get(id);
      if (!item) {
        item = await api("GET", `/api/conversations/${id}`);
        state.conversations.set(id, item);
      }
      renderChatHeader();
      document.dispatchEvent(new CustomEvent("sb:chat-opened", { detail: { id, mode: item.mode } }));
      const page = await api("GET", `/api/conversations/${id}/messages?limit=${PAGE}`);
      if (state.openId !== id) return;
      state.hasMore = page.has_more;
      for (const message of page.items) addMessage(message);
      await loadNotes(id);
      updateOlderState();
      scrollToBottom();
      markReadIfVisible();
      // Not while the operator already types in this chat (a slow load would steal the focus).
      if (!$("chat-view").contains(document.activeElement)) $("reply").focus();
    } catch (err) {
      if (err.status === 404) {
        showChatError("This chat does not exist.");
      } else if (err.status !== 401) {
        showChatError("Could not load this chat.");
      }
    }
  }

  function renderChatHeader() {
    const item = state.conversations.get(state.openId);
    if (!item) return;
    $("chat-name").textContent = displayName(item);
    $("chat-channel").textContent = item.channel;
    const badge = $("chat-mode");
    badge.textContent = MODE_LABEL[item.mode] || item.mode;
    badge.dataset.mode = item.mode;
    const mine = item.mode === "operator" && state.me && item.assignee_id === state.me.id;
    const open = item.mode === "operator" || item.mode === "waiting_operator";
    const assignee = open && item.assignee_id ? state.presence.find((o) => o.id === item.assignee_id) : null;
    $("chat-assignee").textContent = !open || !item.assignee_id
      ? ""
      : state.me && item.assignee_id === state.me.id
        ? "assigned to you"
        : `assigned to ${assignee ? assignee.display_name || assignee.email : "another operator"}`;
    renderAssignTo(item, open);
    $("btn-takeover").disabled = mine;
    $("btn-handback").disabled = item.mode === "ai";
    $("btn-close").disabled = item.mode === "closed";
    renderWindow(item);
  }

  // --- assignment ---------------------------------------------------------------------------

  const PRESENCE_LABEL = { online: "online", away: "away", offline: "offline" };

  async function loadPresence() {
    try {
      state.presence = (await api("GET", "/api/operators/presence")).items;
    } catch (_) {
      return;
    }
    const me = state.me && state.presence.find((o) => o.id === state.me.id);
    if (me) showPresence(me.status === "away" ? "away" : "online");
    if (state.openId) renderChatHeader();
  }

  function showPresence(status) {
    const button = $("presence");
    button.dataset.status = status;
    button.textContent = status === "away" ? "Away" : "Online";
  }

  function renderAssignTo(item, open) {
    const select = $("assign-to");
    const option = (value, label) => {
      const node = el("option", null, label);
      node.value = value;
      return node;
    };
    const options = [option("", "Assign to…")];
    for (const o of state.presence) {
      const label = `${o.display_name || o.email} · ${PRESENCE_LABEL[o.status] || o.status} · ${o.open_chats} open`;
      const node = option(o.id, label);
      if (o.id === item.assignee_id) node.selected = true;
      options.push(node);
    }
    select.replaceChildren(...options);
    select.disabled = !open;
  }

  function wireAssignment() {
    $("filter-assignee").addEventListener("change", () => {
      state.filters.assignee = $("filter-assignee").value;
      loadConversations().catch(() => {});
    });
    $("assign-to").addEventListener("change", async () => {
      const target = $("assign-to").value;
      const id = state.openId;
      if (!target || !id) return;
      try {
        const updated = await api("POST", `/api/conversations/${encodeURIComponent(id)}/assign`, { operator_id: target });
        state.conversations.set(id, updated);
      } catch (err) {
        if (err.status !== 401) showChatError(err.message);
      }
      await loadPresence();
      renderList();
    });
    $("presence").addEventListener("click", async () => {
      const away = $("presence").dataset.status !== "away";
      try {
        const me = await api("POST", "/api/me/presence", { away });
        showPresence(me.status === "away" ? "away" : "online");
      } catch (_) {
        // the button keeps showing what the server last said
      }
    });
    setInterval(() => {
      if (state.me) loadPresence();
    }, 30000);
  }

  async function loadTemplate() {
    try {
      state.template = await api("GET", "/api/whatsapp/template");
    } catch (_) {
      state.template = { configured: false };
    }
  }

  // WhatsApp: free text reaches the customer only within 24 hours of their last message.
  function windowClosed(item) {
    if (!item || !item.window) return false;
    const closes = item.window.closes_at ? Date.parse(item.window.closes_at) : NaN;
    return !(closes > Date.now());
  }

  function outsideWindowTemplate() {
    return windowClosed(state.conversations.get(state.openId)) && state.template.configured;
  }

  function renderWindow(item) {
    const banner = $("window-banner");
    const label = $("chat-window");
    const box = $("reply");
    const send = $("reply-send");
    const chat = $("chat-view");
    if (!item || !item.window) {
      delete chat.dataset.window;
      label.textContent = "";
      banner.hidden = true;
      box.disabled = false;
      box.placeholder = "Type a reply — Enter sends, Shift+Enter for a new line";
      send.textContent = "Send";
      send.disabled = false;
      return;
    }
    const closed = windowClosed(item);
    chat.dataset.window = closed ? "closed" : "open";
    if (!closed) {
      label.textContent = `24-hour window open until ${clockTime(item.window.closes_at)}`;
      banner.hidden = true;
      box.disabled = false;
      box.placeholder = "Type a reply — Enter sends, Shift+Enter for a new line";
      send.textContent = "Send";
      send.disabled = false;
      return;
    }
    label.textContent = "outside the 24-hour window";
    const since = item.window.closes_at
      ? `The customer last wrote over 24 hours ago (the window closed ${relTime(item.window.closes_at)}).`
      : "The customer has not written yet.";
    banner.hidden = false;
    if (state.template.configured) {
      banner.textContent =
        `${since} WhatsApp delivers no free text until they write again: ` +
        "what you send goes out as the approved template, your text filling its variables.";
      box.disabled = false;
      box.placeholder = "Text for the template (optional)";
      send.textContent = "Send template";
      send.disabled = false;
    } else {
      banner.textContent =
        `${since} WhatsApp delivers no free text until they write again, ` +
        "and no template is configured (WHATSAPP_TEMPLATE_SID).";
      box.disabled = true;
      box.placeholder = "Free text cannot reach this customer now";
      send.textContent = "Send";
      send.disabled = true;
    }
  }

  function messageNode(message) {
    const li = el("li", "msg");
    li.dataset.id = message.id;
    li.dataset.seq = String(message.seq);
    li.dataset.author = message.author;
    li.dataset.status = message.status;
    li.setAttribute("data-testid", "message");
    li.append(el("div", "bubble text", message.text));
    if (window.SwitchboardMedia) window.SwitchboardMedia.render(li, message); // media.js
    if (Array.isArray(message.sources) && message.sources.length) {
      // score: the knowledge base's confidence behind the answer (0..1, KB_MIN_CONFIDENCE)
      const names = message.sources
        .map((s) => (typeof s.score === "number" ? `${s.title || s.source} (score ${s.score.toFixed(2)})` : s.title || s.source))
        .join(", ");
      li.append(el("div", "sources", `Sources: ${names}`));
    }
    if (Array.isArray(message.tool_calls) && message.tool_calls.length) {
      li.append(toolCallsNode(message.tool_calls));
    }
    const verdicts = Array.isArray(message.guardrails)
      ? message.guardrails.filter((v) => v && v.action && v.action !== "allow")
      : [];
    if (verdicts.length) li.append(guardrailsNode(verdicts));
    if (message.kind === "ai_failed" || message.kind === "no_model") {
      li.dataset.fallback = "true";
      li.append(el("div", "fallback", "AI fallback: the model failed, this notice was sent instead"));
    }
    if (message.truncated) {
      li.dataset.truncated = "true";
      const { length, limit } = message.truncated;
      li.append(el("div", "truncated", `Long message: ${length} characters; the AI read the first ${limit}`));
    }
    if (message.kind === "reply_dead") {
      li.dataset.dead = "true";
      li.append(el("div", "fallback", "The AI could not answer this chat (it failed repeatedly): over to you"));
    }
    if (message.error) li.append(el("div", "send-error", `Not delivered: ${message.error}`));
    const info = el("div", "info");
    const who = { customer: "Customer", ai: "AI", operator: "Operator", system: "System" };
    info.append(el("span", "who", who[message.author] || message.author));
    info.append(el("span", "when", clockTime(message.created_at)));
    if (message.author !== "customer") info.append(el("span", "status", message.status));
    li.append(info);
    // Feature scripts (feedback.js, translation.js) add their parts to a message here.
    document.dispatchEvent(new CustomEvent("panel:message", { detail: { message, node: li } }));
    return li;
  }

  // Why a guardrail refused, handed over or cut this answer (text only: escaped by el()).
  function guardrailsNode(verdicts) {
    const box = el("div", "guardrails");
    box.setAttribute("data-testid", "guardrails");
    const parts = verdicts.map((v) => {
      const score = typeof v.score === "number" ? ` ${v.score.toFixed(3)}` : "";
      const detail = v.detail ? ` (${v.detail})` : "";
      return `${v.stage || "?"}: ${v.rule || "?"} → ${v.action}${score}${detail}`;
    });
    box.textContent = `Guardrails: ${parts.join("; ")}`;
    return box;
  }

  // What the AI did before answering: each tool, its arguments, and what came back.
  function toolCallsNode(calls) {
    const box = el("details", "tools");
    box.setAttribute("data-testid", "tool-calls");
    box.append(el("summary", null, `Tools used: ${calls.map((c) => c.name).join(", ")}`));
    for (const call of calls) {
      const row = el("div", call.error ? "tool failed" : "tool");
      row.append(el("div", "tool-name", `${call.name} · ${Math.round(call.duration_ms || 0)} ms`));
      row.append(el("pre", "tool-args", JSON.stringify(call.args || {}, null, 1)));
      row.append(el("pre", "tool-result", call.error ? `error: ${call.error}` : call.result || ""));
      box.append(row);
    }
    return box;
  }

  function addMessage(message) {
    if (message.conversation_id !== state.openId) return;
    const list = $("messages");
    const known = state.messages.get(message.id);
    state.messages.set(message.id, message);
    const node = messageNode(message);
    const existing = list.querySelector(`li[data-id="${CSS.escape(message.id)}"]`);
    if (existing) {
      existing.replaceWith(node);
      return;
    }
    if (known) return;
    // Keep seq order: most arrive at the end, older pages at the start.
    let before = null;
    for (const child of list.children) {
      if (Number(child.dataset.seq) > message.seq && !child.classList.contains("draft")) {
        before = child;
        break;
      }
    }
    list.insertBefore(node, before);
    if (state.oldestSeq === null || message.seq < state.oldestSeq) state.oldestSeq = message.seq;
  }

  function setMessageStatus(id, status) {
    const message = state.messages.get(id);
    if (!message) return;
    message.status = status;
    addMessage(message);
  }

  function streamToken(id, text) {
    const list = $("messages");
    let node = list.querySelector(`li[data-id="${CSS.escape(id)}"]`);
    if (!node) {
      node = el("li", "msg draft");
      node.dataset.id = id;
      node.dataset.author = "ai";
      node.dataset.seq = String(Number.MAX_SAFE_INTEGER);
      node.append(el("div", "bubble text", ""));
      const info = el("div", "info");
      info.append(el("span", "who", "AI is writing…"));
      node.append(info);
      list.append(node);
    }
    if (!node.classList.contains("draft")) return;
    const bubble = node.querySelector(".bubble");
    bubble.textContent += text;
    stickToBottom();
  }

  function nearBottom() {
    const box = $("messages-scroll");
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  function scrollToBottom() {
    const box = $("messages-scroll");
    box.scrollTop = box.scrollHeight;
  }

  function stickToBottom() {
    if (nearBottom()) requestAnimationFrame(scrollToBottom);
  }

  function updateOlderState() {
    const note = $("older-state");
    if (state.loadingOlder) {
      note.textContent = "Loading older messages…";
      note.hidden = false;
    } else if (!state.hasMore && state.messages.size > 0) {
      note.textContent = "Start of the conversation";
      note.hidden = false;
    } else {
      note.hidden = true;
    }
  }

  async function loadOlder() {
    if (!state.openId || !state.hasMore || state.loadingOlder || state.oldestSeq === null) return;
    const id = state.openId;
    state.loadingOlder = true;
    updateOlderState();
    const box = $("messages-scroll");
    const fromBottom = box.scrollHeight - box.scrollTop;
    try {
      const page = await api(
        "GET",
        `/api/conversations/${id}/messages?before_seq=${state.oldestSeq}&limit=${PAGE}`
      );
      if (state.openId !== id) return;
      state.hasMore = page.has_more;
      for (const message of page.items) addMessage(message);
      box.scrollTop = box.scrollHeight - fromBottom;
    } catch (_) {
      // try again on the next scroll
    } finally {
      state.loadingOlder = false;
      updateOlderState();
    }
  }

  function showChatError(text) {
    const box = $("chat-error");
    box.textContent = text;
    box.hidden = false;
  }

  async function markReadIfVisible() {
    const id = state.openId;
    if (!id || document.visibilityState !== "visible" || !$("blocks-page").hidden) return;
    if (!(state.unread.get(id) > 0)) return;
    setUnread(id, 0);
    renderList();
    try {
      await api("POST", `/api/conversations/${id}/read`);
    } catch (_) {
      // the next event or reload brings the true count back
    }
  }

  async function sendReply() {
    const box = $("reply");
    const text = box.value;
    const id = state.openId;
    const item = state.conversations.get(id);
    const template = outsideWindowTemplate();
    if (!id || (!text.trim() && !template)) return;
    if (windowClosed(item) && !template) return; // free text would never arrive
    $("reply-send").disabled = true;
    $("chat-error").hidden = true;
    try {
      const body = template ? { text, template: true } : { text };
      if (box.dataset.draftFor) body.draft_for = box.dataset.draftFor; // copilot.js's draft
      // translation.js may route the reply (sent in the customer's language).
      const hook = window.switchboardPanel.replyVia;
      const via = !template && hook ? hook(id, text) : null;
      const data = await api("POST", via ? via.path : `/api/conversations/${id}/messages`, via ? via.body : body);
      if (via && via.after) via.after(data);
      box.value = "";
      state.conversations.set(id, data.conversation);
      addMessage(data.message);
      renderChatHeader();
      renderList();
      scrollToBottom();
    } catch (err) {
      if (err.status !== 401) showChatError(`Not sent: ${err.message}`);
    } finally {
      $("reply-send").disabled = false;
      renderWindow(state.conversations.get(state.openId));
      box.focus();
    }
  }

  async function modeAction(action) {
    const id = state.openId;
    if (!id) return;
    $("chat-error").hidden = true;
    try {
      const item = await api("POST", `/api/conversations/${id}/${action}`);
      state.conversations.set(id, item);
      renderChatHeader();
      renderList();
    } catch (err) {
      if (err.status !== 401) showChatError(err.message);
    }
  }

  let lastTypingSent = 0;
  function sendTyping() {
    const now = Date.now();
    if (!state.openId || now - lastTypingSent < 2000) return;
    if (state.ws && state.ws.readyState === WebSocket.OPEN) {
      lastTypingSent = now;
      state.ws.send(JSON.stringify({ type: "typing", conversation_id: state.openId }));
    }
  }

  function showCustomerTyping() {
    $("typing").hidden = false;
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(() => {
      $("typing").hidden = true;
    }, 4000);
  }

  // --- live events ---------------------------------------------------------------------

  function setConn(kind, text) {
    const node = $("conn-state");
    node.dataset.state = kind;
    node.textContent = text;
  }

  function connectSocket() {
    closeSocket();
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/operator`);
    state.ws = ws;
    setConn(state.wsAttempt ? "reconnecting" : "connecting", "Connecting…");
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (state.ws !== ws) return;
      state.ws = null;
      if (event.code === 4401) {
        setConn("offline", "Signed out");
        showLogin();
        return;
      }
      scheduleReconnect();
    });
  }

  function closeSocket() {
    clearTimeout(state.wsTimer);
    if (state.ws) {
      const ws = state.ws;
      state.ws = null;
      ws.close(1000);
    }
  }

  function scheduleReconnect() {
    state.wsAttempt += 1;
    const base = Math.min(15000, 500 * 2 ** Math.min(state.wsAttempt - 1, 5));
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    let left = Math.ceil(delay / 1000);
    setConn("reconnecting", `Reconnecting in ${left}s…`);
    clearTimeout(state.wsTimer);
    const tick = () => {
      left -= 1;
      if (left > 0) {
        setConn("reconnecting", `Reconnecting in ${left}s…`);
        state.wsTimer = setTimeout(tick, 1000);
      }
    };
    state.wsTimer = setTimeout(tick, 1000);
    setTimeout(() => {
      if (state.me && !state.ws) connectSocket();
    }, delay);
  }

  async function resync() {
    await Promise.all([loadConversations(), loadUnread()]).catch(() => {});
    if (state.openId) {
      const id = state.openId;
      try {
        const page = await api("GET", `/api/conversations/${id}/messages?limit=${PAGE}`);
        if (state.openId === id) for (const message of page.items) addMessage(message);
        stickToBottom();
      } catch (_) {
        // shown on the next action
      }
    }
  }

  function onFrame(frame) {
    // Feature scripts (comfort.js, copilot.js) listen on document or window: it bubbles.
    document.dispatchEvent(new CustomEvent("sb:frame", { detail: frame, bubbles: true }));
    const id = frame.conversation_id;
    switch (frame.type) {
      case "ready": {
        const again = state.wsAttempt > 0;
        state.wsAttempt = 0;
        setConn("live", "Live");
        if (again) resync();
        break;
      }
      case "resync":
        resync();
        break;
      case "message.created": {
        // Operator-only details (tool calls, kind, send error) travel beside the message.
        const message = Object.assign({}, frame.message, frame.details || {});
        const item = state.conversations.get(id);
        if (item) {
          item.last_message_at = message.created_at;
          item.last_seq = Math.max(item.last_seq || 0, message.seq);
        } else {
          refreshListSoon(); // a chat this list has not seen yet
        }
        if (message.author === "customer") {
          if (item && item.window) {
            // The customer wrote: the 24-hour window opens again from now.
            const closes = new Date(Date.parse(message.created_at) + 24 * 3600 * 1000);
            item.window = { open: true, closes_at: closes.toISOString() };
            if (id === state.openId) renderWindow(item);
          }
          setUnread(id, (state.unread.get(id) || 0) + 1);
          if (id === state.openId) $("typing").hidden = true;
        } else if (message.author === "operator") {
          setUnread(id, 0);
        }
        if (id === state.openId) {
          const stick = nearBottom();
          const draft = $("messages").querySelector(
            `li.draft[data-id="${CSS.escape(message.id)}"]`
          );
          if (draft) draft.remove();
          addMessage(message);
          if (stick || message.author === "operator") requestAnimationFrame(scrollToBottom);
          markReadIfVisible();
        }
        renderList();
        break;
      }
      case "message.updated":
        if (id === state.openId) setMessageStatus(frame.message_id, frame.status);
        break;
      case "mode.changed": {
        const item = state.conversations.get(id);
        if (item) {
          item.mode = frame.mode;
          const actor = String(frame.actor || "");
          item.assignee_id =
            "assignee_id" in frame
              ? frame.assignee_id
              : frame.mode === "operator" && actor.startsWith("operator:")
                ? actor.slice(9)
                : null;
          if (frame.seq) item.last_seq = Math.max(item.last_seq || 0, frame.seq);
        } else {
          refreshListSoon();
        }
        if (id === state.openId) renderChatHeader();
        renderList();
        break;
      }
      case "conversation.assigned": {
        const item = state.conversations.get(id);
        if (item) item.assignee_id = frame.assignee_id || null;
        else refreshListSoon();
        if (id === state.openId) renderChatHeader();
        renderList();
        loadPresence();
        break;
      }
      case "conversation.read":
        setUnread(id, 0);
        renderList();
        break;
      case "typing":
        if (id === state.openId && frame.author === "customer") showCustomerTyping();
        break;
      case "token":
        if (id === state.openId) streamToken(frame.message_id, frame.text);
        break;
      case "note.created":
        onNoteFrame(frame);
        break;
      default:
        break;
    }
  }

  // --- private notes (issue #25): operators only, never sent ------------------------------

  async function loadNotes(id) {
    try {
      const data = await api("GET", `/api/conversations/${id}/notes`);
      if (state.openId !== id) return;
      for (const note of data.items) addNote(note);
    } catch (_) {
      // the chat still works without its notes
    }
  }

  function noteNode(note) {
    const li = el("li", "msg note");
    li.dataset.id = note.id;
    li.dataset.author = "note";
    // After the message it was written at (seq), before the next one.
    li.dataset.seq = String(note.seq + 0.5);
    li.setAttribute("data-testid", "note");
    li.append(el("div", "bubble text", note.text));
    const info = el("div", "info");
    info.append(el("span", "who", `Private note · ${note.operator_name || "operator"}`));
    info.append(el("span", "when", clockTime(note.created_at)));
    info.append(el("span", "status", "not sent to the customer"));
    li.append(info);
    return li;
  }

  function addNote(note) {
    if (note.conversation_id !== state.openId) return;
    const list = $("messages");
    if (list.querySelector(`li.note[data-id="${CSS.escape(note.id)}"]`)) return;
    const seq = note.seq + 0.5;
    let before = null;
    for (const child of list.children) {
      if (Number(child.dataset.seq) > seq && !child.classList.contains("draft")) {
        before = child;
        break;
      }
    }
    list.insertBefore(noteNode(note), before);
  }

  function onNoteFrame(frame) {
    if (!frame.note) return;
    const stick = nearBottom();
    addNote(frame.note);
    if (stick) requestAnimationFrame(scrollToBottom);
  }

  async function sendNote() {
    const box = $("note-text");
    const text = box.value;
    const id = state.openId;
    if (!id || !text.trim()) return;
    $("note-send").disabled = true;
    $("chat-error").hidden = true;
    try {
      const note = await api("POST", `/api/conversations/${id}/notes`, { text });
      box.value = "";
      addNote(note);
      scrollToBottom();
    } catch (err) {
      if (err.status !== 401) showChatError(`Note not saved: ${err.message}`);
    } finally {
      $("note-send").disabled = false;
    }
  }

  function wireNotes() {
    $("note-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sendNote();
    });
  }

  // --- canned replies (issue #25): "/" in the reply box, and the admins' list -------------

  const canned = { forId: null, items: [], shown: [], selected: 0, editing: null };

  async function cannedItems() {
    const id = state.openId;
    if (canned.forId !== id) {
      const data = await api("GET", `/api/canned-replies?conversation_id=${encodeURIComponent(id)}`);
      canned.items = data.items;
      canned.forId = id;
    }
    return canned.items;
  }

  // The "/word" right before the caret, if the operator is typing a shortcut.
  function cannedQuery() {
    const box = $("reply");
    const upto = box.value.slice(0, box.selectionStart);
    const match = upto.match(/(^|\s)\/([a-z0-9_-]*)$/i);
    return match ? { word: match[2].toLowerCase(), start: upto.length - match[2].length - 1 } : null;
  }

  function hideCannedMenu() {
    $("canned-menu").hidden = true;
    $("canned-menu").replaceChildren();
    canned.shown = [];
  }

  function renderCannedMenu() {
    const menu = $("canned-menu");
    menu.replaceChildren();
    canned.shown.forEach((item, index) => {
      const li = el("li");
      li.setAttribute("role", "option");
      li.setAttribute("data-testid", "canned-option");
      li.setAttribute("aria-selected", index === canned.selected ? "true" : "false");
      li.append(el("span", "shortcut", `/${item.shortcut}`));
      li.append(el("span", "preview", item.filled || item.text));
      li.addEventListener("mousedown", (event) => {
        event.preventDefault(); // keep the focus in the reply box
        insertCanned(item);
      });
      menu.append(li);
    });
    menu.hidden = canned.shown.length === 0;
  }

  async function onReplyInputCanned() {
    const query = cannedQuery();
    if (!query || !state.openId) {
      hideCannedMenu();
      return;
    }
    let items;
    try {
      items = await cannedItems();
    } catch (_) {
      hideCannedMenu();
      return;
    }
    const again = cannedQuery(); // the operator may have typed on meanwhile
    if (!again) return hideCannedMenu();
    canned.shown = items.filter((item) => item.shortcut.startsWith(again.word)).slice(0, 8);
    canned.selected = 0;
    renderCannedMenu();
  }

  function insertCanned(item) {
    const box = $("reply");
    const query = cannedQuery();
    const text = item.filled || item.text;
    if (query) {
      const caret = box.selectionStart;
      box.value = box.value.slice(0, query.start) + text + box.value.slice(caret);
      const at = query.start + text.length;
      box.setSelectionRange(at, at);
    } else {
      box.value += text;
    }
    hideCannedMenu();
    box.focus();
  }

  // Runs before the reply box's own Enter-sends handler while the menu is open.
  function onReplyKeydownCanned(event) {
    if ($("canned-menu").hidden || !canned.shown.length) return;
    const keys = ["ArrowDown", "ArrowUp", "Enter", "Tab", "Escape"];
    if (!keys.includes(event.key) || event.isComposing) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    if (event.key === "Escape") return hideCannedMenu();
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      canned.selected = (canned.selected + step + canned.shown.length) % canned.shown.length;
      return renderCannedMenu();
    }
    insertCanned(canned.shown[canned.selected]);
  }

  async function loadCannedAdmin() {
    const admin = state.me && state.me.role === "admin";
    $("canned-form").hidden = !admin;
    let items = [];
    try {
      items = (await api("GET", "/api/canned-replies")).items;
    } catch (_) {
      // shown empty
    }
    canned.forId = null; // the composer reloads them too
    const list = $("canned-list");
    list.replaceChildren();
    for (const item of items) {
      const li = el("li");
      li.setAttribute("data-testid", "canned-item");
      li.append(el("span", "shortcut", `/${item.shortcut}`));
      li.append(el("span", "text", item.text));
      if (admin) {
        const edit = el("button", null, "Edit");
        edit.type = "button";
        edit.addEventListener("click", () => editCanned(item));
        const remove = el("button", "danger", "Delete");
        remove.type = "button";
        remove.addEventListener("click", () => deleteCanned(item));
        li.append(edit, remove);
      }
      list.append(li);
    }
  }

  function editCanned(item) {
    canned.editing = item ? item.id : null;
    $("canned-shortcut").value = item ? item.shortcut : "";
    $("canned-text").value = item ? item.text : "";
    $("canned-error").hidden = true;
    $("canned-shortcut").focus();
  }

  async function saveCanned(event) {
    event.preventDefault();
    const body = { shortcut: $("canned-shortcut").value, text: $("canned-text").value };
    $("canned-error").hidden = true;
    try {
      if (canned.editing) {
        await api("PUT", `/api/canned-replies/${canned.editing}`, body);
      } else {
        await api("POST", "/api/canned-replies", body);
      }
      editCanned(null);
      await loadCannedAdmin();
    } catch (err) {
      $("canned-error").textContent = err.message;
      $("canned-error").hidden = false;
    }
  }

  async function deleteCanned(item) {
    try {
      await api("DELETE", `/api/canned-replies/${item.id}`);
    } catch (_) {
      // the list shows what is stored
    }
    await loadCannedAdmin();
  }

  function wireCanned() {
    const box = $("reply");
    box.addEventListener("keydown", onReplyKeydownCanned, { capture: true });
    box.addEventListener("input", onReplyInputCanned);
    box.addEventListener("blur", () => setTimeout(hideCannedMenu, 150));
    $("canned-form").addEventListener("submit", saveCanned);
    $("canned-new").addEventListener("click", () => editCanned(null));
  }

  // --- prompt blocks -------------------------------------------------------------------

  async function loadBlocks() {
    try {
      const data = await api("GET", "/api/prompt-blocks");
      state.blocks = data.items;
    } catch (_) {
      state.blocks = [];
    }
    renderBlocks();
    const admin = state.me && state.me.role === "admin";
    $("block-new").hidden = !admin;
    $("block-readonly").hidden = admin;
    if (!admin) $("block-form").hidden = true;
  }

  function renderBlocks() {
    const list = $("block-list");
    list.replaceChildren();
    for (const block of state.blocks) {
      const li = el("li", "block-item");
      if (!block.enabled) li.classList.add("disabled");
      li.setAttribute("aria-current", block.id === state.blockId ? "true" : "false");
      const title = el("div", "title");
      title.append(el("span", "", block.name));
      const scope = [block.channel, block.language].filter(Boolean).join(" · ");
      title.append(el("span", "muted", `#${block.order}${scope ? ` · ${scope}` : ""}`));
      li.append(title);
      li.append(el("div", "preview", block.text));
      li.addEventListener("click", () => editBlock(block));
      list.append(li);
    }
    $("block-list-empty").hidden = state.blocks.length > 0;
  }

  function editBlock(block) {
    const admin = state.me && state.me.role === "admin";
    state.blockId = block ? block.id : null;
    renderBlocks();
    $("block-form").hidden = false;
    $("block-form-title").textContent = block ? "Edit block" : "New block";
    $("block-name").value = block ? block.name : "";
    $("block-text").value = block ? block.text : "";
    $("block-order").value = String(block ? block.order : state.blocks.length * 10);
    $("block-channel").value = (block && block.channel) || "";
    $("block-language").value = (block && block.language) || "";
    $("block-enabled").checked = block ? block.enabled : true;
    $("block-delete").hidden = !block;
    $("block-error").hidden = true;
    $("block-saved").hidden = true;
    for (const node of $("block-form").querySelectorAll("input, textarea, select, button")) {
      node.disabled = !admin;
    }
  }

  async function saveBlock(event) {
    event.preventDefault();
    const body = {
      name: $("block-name").value.trim(),
      text: $("block-text").value,
      order: Number.parseInt($("block-order").value, 10) || 0,
      channel: $("block-channel").value || null,
      language: $("block-language").value.trim() || null,
      enabled: $("block-enabled").checked,
    };
    const error = $("block-error");
    error.hidden = true;
    if (!body.name) {
      error.textContent = "A block needs a name.";
      error.hidden = false;
      return;
    }
    try {
      const saved = state.blockId
        ? await api("PUT", `/api/prompt-blocks/${state.blockId}`, body)
        : await api("POST", "/api/prompt-blocks", body);
      state.blockId = saved.id;
      await loadBlocks();
      editBlock(state.blocks.find((b) => b.id === saved.id) || saved);
      $("block-saved").hidden = false;
    } catch (err) {
      error.textContent = `Not saved: ${err.message}`;
      error.hidden = false;
    }
  }

  async function deleteBlock() {
    if (!state.blockId) return;
    if (!window.confirm("Delete this prompt block?")) return;
    try {
      await api("DELETE", `/api/prompt-blocks/${state.blockId}`);
      state.blockId = null;
      $("block-form").hidden = true;
      await loadBlocks();
    } catch (err) {
      const error = $("block-error");
      error.textContent = `Not deleted: ${err.message}`;
      error.hidden = false;
    }
  }

  // --- wiring --------------------------------------------------------------------------

  function wire() {
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", onLogout);
    window.addEventListener("hashchange", () => {
      if (state.me) route();
    });
    document.addEventListener("visibilitychange", markReadIfVisible);
    window.addEventListener("focus", markReadIfVisible);

    let searchTimer = null;
    $("search").addEventListener("input", () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => {
        state.filters.q = $("search").value.trim();
        loadConversations().catch(() => {});
      }, 300);
    });
    $("filter-mode").addEventListener("change", () => {
      state.filters.mode = $("filter-mode").value;
      loadConversations().catch(() => {});
    });
    $("filter-channel").addEventListener("change", () => {
      state.filters.channel = $("filter-channel").value;
      loadConversations().catch(() => {});
    });

    $("messages-scroll").addEventListener("scroll", () => {
      if ($("messages-scroll").scrollTop < 60) loadOlder();
    });
    $("reply-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sendReply();
    });
    $("reply").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        sendReply();
      }
    });
    $("reply").addEventListener("input", sendTyping);
    $("btn-takeover").addEventListener("click", () => modeAction("takeover"));
    $("btn-handback").addEventListener("click", () => modeAction("handback"));
    $("btn-close").addEventListener("click", () => modeAction("close"));

    $("block-new").addEventListener("click", () => editBlock(null));
    $("block-form").addEventListener("submit", saveBlock);
    $("block-delete").addEventListener("click", deleteBlock);

    // Relative times in the list stay fresh.
    setInterval(() => {
      if (state.me && !$("chats-page").hidden) renderList();
      // A WhatsApp chat's window closes while it is open: the reply box follows.
      if (state.openId) renderWindow(state.conversations.get(state.openId));
    }, 30000);
  }

  // What feature scripts (feedback.js, translation.js) may read of the panel.
  window.switchboardPanel = {
    csrf: () => state.csrf,
    me: () => state.me,
    openId: () => state.openId,
    conversation: (id) => state.conversations.get(id),
    replyVia: null, // (conversationId, text) => {path, body, after?} | null
  };

  async function boot() {
    wire();
    wireAssignment();
    wireNotes();
    wireCanned();
    try {
      const me = await api("GET", "/api/auth/me");
      state.csrf = me.csrf_token;
      state.me = me;
      await showApp();
    } catch (err) {
      if (err.status !== 401) showLogin();
    }
  }

  boot();
})();
