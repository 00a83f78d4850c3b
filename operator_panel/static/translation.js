// Switchboard panel: translation (issue 25, item 2). With a chat model configured, a
// customer's message is shown with a translation into the operator's language, and the
// operator's reply goes out in the customer's language (the original kept and shown here).
// Without a model the toggle is disabled and says why. Customer text: textContent only.
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const LANGUAGES = {
    en: "English", ru: "Русский", de: "Deutsch", es: "Español", fr: "Français",
    it: "Italiano", pt: "Português", uk: "Українська", tr: "Türkçe", pl: "Polski",
    zh: "中文", ar: "العربية", ja: "日本語",
  };
  const state = {
    loaded: false,
    available: false,
    detail: "",
    language: null, // the operator's setting; null: the browser's
    enabled: true,
  };
  const seen = new Map(); // message id -> {message, node} of the open chat
  const cache = new Map(); // `${id}|${lang}` -> {text} | {error} | Promise

  function code(value) {
    const base = String(value || "").trim().toLowerCase().replace("_", "-").split("-")[0];
    return /^[a-z]{2,3}$/.test(base) ? base : null;
  }

  function browserLanguage() {
    return code(navigator.language) || code(document.documentElement.lang) || "en";
  }

  function myLanguage() {
    return state.language || browserLanguage();
  }

  function customerLanguage(conversationId) {
    const panel = window.switchboardPanel;
    const item = panel && panel.conversation(conversationId);
    return item && item.contact ? code(item.contact.language) : null;
  }

  // Translate when a model is there, the operator wants it, and the languages differ.
  function wanted(conversationId) {
    if (!state.available || !state.enabled) return false;
    const theirs = customerLanguage(conversationId);
    return theirs !== myLanguage();
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function call(method, path, body) {
    const panel = window.switchboardPanel;
    const response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/json",
        "X-CSRF-Token": panel ? panel.csrf() : "",
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      throw new Error(data && typeof data.detail === "string" ? data.detail : `HTTP ${response.status}`);
    }
    return data;
  }

  // --- the bar above the reply box ------------------------------------------------------

  function bar() {
    let node = $("translation-bar");
    if (node || !$("reply-form")) return node;
    node = el("div", "translation-bar");
    node.id = "translation-bar";
    const label = el("label", "translation-toggle");
    const box = el("input");
    box.type = "checkbox";
    box.id = "translation-toggle";
    label.append(box, document.createTextNode(" Translate"));
    const pick = el("select");
    pick.id = "translation-language";
    pick.setAttribute("aria-label", "Your language");
    const status = el("span", "translation-status muted");
    status.id = "translation-status";
    status.setAttribute("role", "status");
    node.append(label, pick, status);
    $("reply-form").before(node);
    box.addEventListener("change", () => save({ enabled: box.checked }));
    pick.addEventListener("change", () => save({ language: pick.value || null }));
    return node;
  }

  function renderBar() {
    if (!bar()) return;
    const box = $("translation-toggle");
    const pick = $("translation-language");
    const status = $("translation-status");
    const options = [["", `Browser language (${browserLanguage()})`]].concat(Object.entries(LANGUAGES));
    if (state.language && !LANGUAGES[state.language]) options.push([state.language, state.language]);
    pick.replaceChildren(
      ...options.map(([value, name]) => {
        const option = el("option", null, name);
        option.value = value;
        return option;
      }),
    );
    pick.value = state.language || "";
    box.checked = state.available && state.enabled;
    box.disabled = !state.available;
    pick.disabled = !state.available;
    $("translation-bar").dataset.available = state.available ? "true" : "false";
    if (!state.available) {
      status.textContent = "Translation unavailable: no chat model is configured";
      status.title = state.detail || "";
      return;
    }
    status.title = "";
    const panel = window.switchboardPanel;
    const id = panel && panel.openId();
    const theirs = id ? customerLanguage(id) : null;
    if (!state.enabled) status.textContent = "Translation off";
    else if (!id) status.textContent = "";
    else if (theirs === myLanguage()) status.textContent = `Customer writes ${theirs}: no translation needed`;
    else status.textContent = `Customer: ${theirs || "language unknown"} · you: ${myLanguage()} — replies are translated`;
  }

  async function load() {
    try {
      const data = await call("GET", "/api/translation");
      apply(data);
    } catch (_) {
      // signed out or offline: the bar stays as it was
    }
  }

  function apply(data) {
    state.loaded = true;
    state.available = !!data.available;
    state.detail = data.detail || "";
    state.language = code(data.language);
    state.enabled = data.enabled !== false;
    renderBar();
    redecorate();
  }

  async function save(changes) {
    try {
      apply(await call("PUT", "/api/translation", changes));
    } catch (err) {
      $("translation-status").textContent = `Not saved: ${err.message}`;
    }
  }

  // --- messages ----------------------------------------------------------------------

  function translationNode(message) {
    const lang = myLanguage();
    const key = `${message.id}|${lang}`;
    const box = el("div", "translation");
    box.setAttribute("data-testid", "translation");
    const found = cache.get(key);
    if (found && !(found instanceof Promise)) {
      if (found.error) {
        box.classList.add("failed");
        box.textContent = `Translation failed: ${found.error}`;
      } else if (found.text === null) {
        return null; // already in the operator's language
      } else {
        box.append(el("span", "translation-label", `Translation (${found.source || "?"} → ${lang}): `));
        box.append(el("span", "translation-text", found.text));
      }
      return box;
    }
    box.textContent = "Translating…";
    box.classList.add("pending");
    if (!found) {
      const pending = call("POST", `/api/messages/${encodeURIComponent(message.id)}/translation`, { language: lang })
        .then((data) => cache.set(key, { text: data.text, source: data.source }))
        .catch((err) => cache.set(key, { error: err.message }))
        .then(() => refresh(message.id));
      cache.set(key, pending);
    }
    return box;
  }

  function originalNode(info) {
    if (info.error) {
      const box = el("div", "translation failed", `Sent as written (not translated): ${info.error}`);
      box.setAttribute("data-testid", "translation-failed");
      return box;
    }
    if (!info.original) return null;
    const box = el("div", "translation original");
    box.setAttribute("data-testid", "translation-original");
    box.append(el("span", "translation-label", `Original (${info.from || "?"} → ${info.to || "?"}): `));
    box.append(el("span", "translation-text", info.original));
    return box;
  }

  function decorate(message, node) {
    node.querySelectorAll(":scope > .translation").forEach((n) => n.remove());
    let part = null;
    if (message.author === "customer" && message.text && wanted(message.conversation_id)) {
      part = translationNode(message);
    } else if (message.author === "operator" && message.translation) {
      part = originalNode(message.translation);
    }
    if (part) node.insertBefore(part, node.querySelector(":scope > .bubble").nextSibling);
  }

  function refresh(id) {
    const entry = seen.get(id);
    if (entry && entry.node.isConnected) decorate(entry.message, entry.node);
  }

  function redecorate() {
    for (const [id, entry] of seen) {
      if (!entry.node.isConnected) seen.delete(id);
      else decorate(entry.message, entry.node);
    }
  }

  document.addEventListener("panel:message", (event) => {
    const { message, node } = event.detail;
    if (!message || !message.id) return;
    seen.set(message.id, { message, node });
    if (seen.size > 500) {
      // Messages of chats closed since: their nodes are gone.
      for (const [id, entry] of seen) {
        if (id !== message.id && !entry.node.isConnected) seen.delete(id);
      }
    }
    if (!state.loaded) return; // decorated once the settings arrive
    decorate(message, node);
    renderBar();
  });

  // --- the reply ---------------------------------------------------------------------

  function replyVia(conversationId, text) {
    if (!wanted(conversationId) || customerLanguage(conversationId) === null) return null;
    return {
      path: `/api/conversations/${encodeURIComponent(conversationId)}/translated-reply`,
      body: { text, language: myLanguage() },
      after(data) {
        const status = $("translation-status");
        if (data.translation && data.translation.status === "failed") {
          status.textContent = `Sent as written: ${data.translation.detail || "translation failed"}`;
        }
      },
    };
  }

  function start() {
    if (!window.switchboardPanel) return;
    window.switchboardPanel.replyVia = replyVia;
    bar();
    // The panel shows the app after sign-in: read the operator's settings then.
    new MutationObserver(() => {
      if (!$("app-view").hidden) load();
    }).observe($("app-view"), { attributes: true, attributeFilter: ["hidden"] });
    if (!$("app-view").hidden) load();
    window.addEventListener("hashchange", () => setTimeout(renderBar, 0));
  }

  start();
})();
