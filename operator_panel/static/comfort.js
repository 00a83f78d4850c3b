// Panel comfort (issue #25 item 10): the theme toggle, the phone layout's back control,
// alerts for a new waiting chat (a WebAudio chime and a desktop notification), and a chat
// view that stays pinned to the newest message while the operator is at the bottom.
// It reads the panel's WebSocket frames from the "sb:frame" event panel.js dispatches, and
// touches the DOM only through ids index.html defines. Text from customers goes through
// textContent / the Notification API's plain strings, never HTML.
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const root = document.documentElement;

  function stored(key) {
    try {
      return localStorage.getItem(key);
    } catch (_) {
      return null;
    }
  }

  function store(key, value) {
    try {
      localStorage.setItem(key, value);
    } catch (_) {
      // not remembered: it still applies to this page
    }
  }

  function button(id, className, text) {
    const node = document.createElement("button");
    node.type = "button";
    node.id = id;
    node.className = className;
    node.textContent = text;
    return node;
  }

  // --- theme: light / dark / system (theme.js applied the stored choice before paint) -----

  const THEME_KEY = "sb-theme";
  const THEMES = [
    ["system", "Theme: system"],
    ["light", "Theme: light"],
    ["dark", "Theme: dark"],
  ];

  function applyTheme(choice) {
    if (choice === "light" || choice === "dark") root.dataset.theme = choice;
    else delete root.dataset.theme;
  }

  function themeToggle() {
    const select = document.createElement("select");
    select.id = "theme-choice";
    select.className = "comfort-theme";
    select.setAttribute("aria-label", "Theme");
    for (const [value, label] of THEMES) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = label;
      select.append(option);
    }
    const current = stored(THEME_KEY);
    select.value = current === "light" || current === "dark" ? current : "system";
    select.addEventListener("change", () => {
      store(THEME_KEY, select.value);
      applyTheme(select.value);
    });
    // Another tab changed it: follow.
    window.addEventListener("storage", (event) => {
      if (event.key !== THEME_KEY) return;
      const value = event.newValue === "light" || event.newValue === "dark" ? event.newValue : "system";
      select.value = value;
      applyTheme(value);
    });
    return select;
  }

  // --- phone layout: the list or one chat, with a way back -------------------------------

  const CHAT_HASH = /^#\/chats\/[0-9a-f]{24}$/;

  function syncView() {
    const page = $("chats-page");
    if (page) page.dataset.view = CHAT_HASH.test(location.hash) ? "chat" : "list";
  }

  function backControl() {
    const back = button("chat-back", "ghost comfort-back", "← Chats");
    back.setAttribute("aria-label", "Back to chats");
    back.addEventListener("click", () => {
      location.hash = "#/chats";
    });
    return back;
  }

  // --- alerts for a new waiting chat ------------------------------------------------------

  const ALERTS_KEY = "sb-alerts";
  const alerts = {
    on: stored(ALERTS_KEY) === "on",
    me: null, // this operator's id, from the socket's "ready" frame
    // Chats that entered waiting_operator, until they leave it: "pending" (an automatic
    // assignment may follow at once), "announced" or "skipped" (never twice per wait).
    waiting: new Map(),
    audio: null,
  };

  // A bell drawn as SVG (no emoji font or icon file needed); struck through while off.
  function bellIcon(on) {
    const NS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "16");
    svg.setAttribute("height", "16");
    svg.setAttribute("aria-hidden", "true");
    svg.classList.add("comfort-bell-icon");
    const shapes = [
      "M6 16V11a6 6 0 0 1 12 0v5l2 2H4z",
      "M10 20a2 2 0 0 0 4 0",
    ];
    if (!on) shapes.push("M4 4l16 16");
    for (const d of shapes) {
      const path = document.createElementNS(NS, "path");
      path.setAttribute("d", d);
      svg.append(path);
    }
    return svg;
  }

  function renderBell() {
    const bell = $("alerts-toggle");
    if (!bell) return;
    const label = document.createElement("span");
    label.className = "comfort-bell-label";
    label.textContent = alerts.on ? "Alerts on" : "Alerts off";
    bell.replaceChildren(bellIcon(alerts.on), label);
    bell.setAttribute("aria-label", "Alerts"); // the state is aria-pressed; a phone shows only the bell
    bell.setAttribute("aria-pressed", alerts.on ? "true" : "false");
    bell.dataset.on = alerts.on ? "true" : "false";
    const desktop = "Notification" in window ? Notification.permission : "unsupported";
    bell.title = !alerts.on
      ? "Alerts off: click for a sound and a desktop notification when a chat waits for an operator"
      : desktop === "granted"
        ? "Alerts on (sound and desktop notification): click to mute"
        : desktop === "denied"
          ? "Alerts on (sound only: this browser blocks the panel's notifications): click to mute"
          : "Alerts on (sound): click to mute";
  }

  // Browsers start audio only after a gesture: the context is made (or resumed) in one.
  function unlockAudio() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    if (!alerts.audio) {
      try {
        alerts.audio = new Context();
      } catch (_) {
        return;
      }
    }
    if (alerts.audio.state === "suspended") alerts.audio.resume().catch(() => {});
  }

  // Two short rising tones, generated: no sound file to download or serve.
  function chime() {
    const ctx = alerts.audio;
    if (!ctx || ctx.state !== "running") return;
    const start = ctx.currentTime + 0.01;
    [660, 880].forEach((frequency, index) => {
      const at = start + index * 0.16;
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.3);
      osc.connect(gain).connect(ctx.destination);
      osc.start(at);
      osc.stop(at + 0.32);
    });
  }

  async function toggleAlerts() {
    alerts.on = !alerts.on;
    store(ALERTS_KEY, alerts.on ? "on" : "off");
    if (alerts.on) {
      unlockAudio();
      // Asked here because browsers allow the prompt only from a user gesture.
      if ("Notification" in window && Notification.permission === "default") {
        try {
          await Notification.requestPermission();
        } catch (_) {
          // an old callback-only API, or the prompt was dismissed: sound only
        }
      }
    }
    renderBell();
  }

  // Several panel tabs of one operator: the first to see a hand-off plays the chime.
  function firstTabFor(id) {
    const now = Date.now();
    let seen = {};
    try {
      seen = JSON.parse(stored("sb-alerted") || "{}") || {};
    } catch (_) {
      seen = {};
    }
    const fresh = {}; // only the last few seconds are kept: the key never grows
    for (const [key, at] of Object.entries(seen)) if (now - Number(at) < 10000) fresh[key] = at;
    if (fresh[id]) return false;
    fresh[id] = now;
    store("sb-alerted", JSON.stringify(fresh));
    return true;
  }

  async function chatName(id) {
    try {
      const response = await fetch(`/api/conversations/${encodeURIComponent(id)}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) return null;
      const item = await response.json();
      return { name: (item.contact && item.contact.display_name) || "A customer", channel: item.channel };
    } catch (_) {
      return null;
    }
  }

  async function announce(id) {
    if (!firstTabFor(id)) return;
    chime();
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    const who = await chatName(id);
    const title = who ? `${who.name} is waiting for an operator` : "A chat is waiting for an operator";
    try {
      // The tag makes the system replace, not stack, a notice for the same chat.
      const notice = new Notification(title, {
        body: who && who.channel ? `Channel: ${who.channel}` : "",
        tag: `sb-waiting-${id}`,
      });
      notice.onclick = () => {
        window.focus();
        location.hash = `#/chats/${id}`;
        notice.close();
      };
    } catch (_) {
      // some platforms allow notifications only from a service worker: the chime stays
    }
  }

  // A hand-off is usually given to the least-loaded online operator right after it starts
  // waiting (a conversation.assigned frame): wait that long before ringing every operator.
  const ASSIGN_GRACE_MS = 1500;

  function settle(id, announceIt) {
    if (alerts.waiting.get(id) !== "pending") return;
    alerts.waiting.set(id, announceIt ? "announced" : "skipped");
    if (announceIt && alerts.on) announce(id);
  }

  function onFrame(frame) {
    if (!frame || typeof frame !== "object") return;
    if (frame.type === "ready" && frame.operator) {
      alerts.me = String(frame.operator.id || "");
      return;
    }
    const id = String(frame.conversation_id || "");
    const mine = (who) => Boolean(alerts.me) && String(who || "") === alerts.me;
    if (frame.type === "conversation.assigned") {
      const state = alerts.waiting.get(id);
      if (state === "pending") settle(id, mine(frame.assignee_id));
      else if (state === "skipped" && mine(frame.assignee_id) && frame.actor !== `operator:${alerts.me}`) {
        // A colleague gave this waiting chat to this operator: news for them now.
        alerts.waiting.set(id, "pending");
        settle(id, true);
      }
      return;
    }
    if (frame.type !== "mode.changed") return;
    if (frame.mode !== "waiting_operator") {
      alerts.waiting.delete(id); // a later hand-off of this chat is news again
      return;
    }
    if (alerts.waiting.has(id) || frame.from === "waiting_operator") return;
    if (alerts.me && frame.actor === `operator:${alerts.me}`) {
      alerts.waiting.set(id, "skipped"); // the operator did it
      return;
    }
    alerts.waiting.set(id, "pending");
    if (frame.assignee_id) settle(id, mine(frame.assignee_id));
    else setTimeout(() => settle(id, true), ASSIGN_GRACE_MS);
  }

  // --- the chat view stays at the newest message while the operator is at the bottom ------

  const PIN_SLACK_PX = 40;
  // How long after a wheel, touch or key the scroll events it causes may still arrive.
  const USER_SCROLL_MS = 800;
  const SCROLL_KEYS = new Set(["ArrowUp", "ArrowDown", "PageUp", "PageDown", "Home", "End", " "]);
  const pin = { pinned: true, last: "", userUntil: 0, dragging: false };

  function distanceFromBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight;
  }

  // What "the newest message" is now: a new last message or more streamed text changes it.
  function lastSignature(list) {
    const last = list.lastElementChild;
    if (!last) return "";
    const text = last.querySelector(".text");
    return `${last.dataset.id || ""}:${text ? text.textContent.length : 0}`;
  }

  function wirePinning() {
    const box = $("messages-scroll");
    const list = $("messages");
    if (!box || !list) return;
    const more = button("new-messages", "comfort-new", "New messages ↓");
    more.hidden = true;
    box.append(more);

    const toBottom = () => {
      box.scrollTop = box.scrollHeight;
    };
    const setPinned = (value) => {
      pin.pinned = value;
      if (value) more.hidden = true;
    };
    // Only the operator unpins the view: a scroll event that follows a wheel, a touch, a key
    // or a scrollbar drag. Scroll events the page causes itself (re-pinning while the content
    // grows, the box resized) arrive a frame late and may read a stale distance.
    const byOperator = () => {
      pin.userUntil = performance.now() + USER_SCROLL_MS;
    };
    box.addEventListener("wheel", byOperator, { passive: true });
    box.addEventListener("touchmove", byOperator, { passive: true });
    box.addEventListener("pointerdown", () => {
      pin.dragging = true;
    });
    const dropped = () => {
      pin.dragging = false;
      byOperator();
    };
    window.addEventListener("pointerup", dropped);
    window.addEventListener("pointercancel", dropped);
    window.addEventListener("keydown", (event) => {
      if (SCROLL_KEYS.has(event.key)) byOperator();
    });
    box.addEventListener(
      "scroll",
      () => {
        if (distanceFromBottom(box) <= PIN_SLACK_PX) setPinned(true);
        else if (pin.dragging || performance.now() < pin.userUntil) setPinned(false);
      },
      { passive: true }
    );
    more.addEventListener("click", () => {
      toBottom();
      setPinned(true);
    });
    // A chat opened afresh (panel.js, listening first, has emptied the list) starts at its
    // newest message; back on the same chat, the operator's place counts.
    window.addEventListener("hashchange", () => {
      setPinned(list.childElementCount === 0 || distanceFromBottom(box) <= PIN_SLACK_PX);
      pin.last = lastSignature(list);
    });

    // Content grew (streamed tokens, a new message, a tool list opened) or the view got
    // shorter (the typing line, a banner, a taller reply box): re-pin if pinned.
    const repin = () => {
      if (pin.pinned) toBottom();
    };
    if ("ResizeObserver" in window) {
      const observer = new ResizeObserver(repin);
      observer.observe(list);
      observer.observe(box);
    }
    new MutationObserver(() => {
      const now = lastSignature(list);
      const grew = now !== pin.last;
      pin.last = now;
      if (pin.pinned) repin();
      else if (grew && now) more.hidden = false; // older pages go on top: not "new"
    }).observe(list, { childList: true, subtree: true, characterData: true });
  }

  // --- wiring ----------------------------------------------------------------------------

  function wire() {
    const me = $("me");
    if (me && me.parentNode) {
      const bell = button("alerts-toggle", "ghost comfort-bell", "");
      bell.addEventListener("click", toggleAlerts);
      me.parentNode.insertBefore(themeToggle(), me);
      me.parentNode.insertBefore(bell, me);
      renderBell();
    }
    const header = document.querySelector("#chat-open .chat-header");
    if (header) header.prepend(backControl());
    syncView();
    window.addEventListener("hashchange", syncView);
    wirePinning();
    window.addEventListener("sb:frame", (event) => onFrame(event.detail));
    // Alerts remembered as on: the first gesture on the page unlocks their sound.
    const unlock = () => {
      if (alerts.on) unlockAudio();
    };
    window.addEventListener("pointerdown", unlock, { capture: true });
    window.addEventListener("keydown", unlock, { capture: true });
  }

  wire();
})();
