// Copilot in the chat view (issue #25): "Suggest a reply" drafts an answer into the reply
// box, with its sources; the draft is discarded when the customer writes again. A summary of
// the chat is shown when an operator takes it over or opens a waiting chat.
// panel.js tells this file what happens through two DOM events ("sb:chat-opened" and
// "sb:frame") and sends `reply.dataset.draftFor` with the reply. Every text that comes from
// a customer or the knowledge base is inserted with textContent, never as HTML.
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const box = $("reply");
  if (!box) return;

  let csrf = "";
  let openId = null;
  let draft = null; // {conversationId, text, answers_seq, answers_message_id}
  let newestCustomerSeq = 0; // of the open chat, from the live frames

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function call(method, path) {
    if (method !== "GET" && !csrf) {
      const me = await (await fetch("/api/auth/me", { credentials: "same-origin" })).json();
      csrf = me.csrf_token || "";
    }
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = csrf;
    const response = await fetch(path, { method, headers, credentials: "same-origin" });
    if (response.status === 403 && method !== "GET") csrf = ""; // a new session: ask again
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const detail = data && typeof data.detail === "string" ? data.detail : `HTTP ${response.status}`;
      throw new Error(detail);
    }
    return data;
  }

  // --- the pieces of the chat view this file adds ----------------------------------------

  const suggestButton = el("button", "copilot-suggest", "Suggest a reply");
  suggestButton.type = "button";
  suggestButton.id = "copilot-suggest";
  suggestButton.title = "Draft an answer from the knowledge base; you edit and send it";
  $("reply-send").before(suggestButton);

  const note = el("div", "copilot-note");
  note.id = "copilot-note";
  note.setAttribute("role", "status");
  note.hidden = true;
  $("reply-form").before(note);

  const summary = el("details", "copilot-summary");
  summary.id = "copilot-summary";
  summary.open = true;
  summary.hidden = true;
  $("messages-scroll").before(summary);

  function showNote(text, sources, kind) {
    note.replaceChildren(el("span", "copilot-note-text", text));
    note.dataset.kind = kind || "info";
    if (sources && sources.length) {
      const list = el("span", "copilot-sources");
      list.append("Sources: ");
      sources.forEach((source, i) => {
        if (i) list.append(", ");
        list.append(sourceNode(source));
      });
      note.append(list);
    }
    note.hidden = false;
  }

  function sourceNode(source) {
    const label = source.title || source.source;
    if (/^https?:\/\//i.test(source.source || "")) {
      const link = el("a", "copilot-source", label);
      link.href = source.source;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      return link;
    }
    const span = el("span", "copilot-source", label);
    span.title = source.source || "";
    return span;
  }

  function clearDraft() {
    draft = null;
    delete box.dataset.draftFor;
    box.classList.remove("copilot-drafting");
  }

  // --- suggest a reply ---------------------------------------------------------------------

  async function suggest() {
    const id = openId;
    if (!id) return;
    suggestButton.disabled = true;
    showNote("Drafting a reply…");
    try {
      const data = await call("POST", `/api/conversations/${id}/suggestion`);
      if (openId !== id) return;
      if (newestCustomerSeq > data.answers_seq) {
        showNote("The customer wrote again while the draft was made. Suggest again.", [], "discarded");
        return;
      }
      if (!data.text) {
        showNote("The knowledge base has nothing that answers this; write the reply yourself.", [], "empty");
        return;
      }
      const before = box.value.trim();
      box.value = before ? `${before}\n\n${data.text}` : data.text;
      box.dataset.draftFor = data.answers_message_id;
      box.classList.add("copilot-drafting"); // taller while a draft is in it
      draft = {
        conversationId: id,
        text: data.text,
        answers_seq: data.answers_seq,
        answers_message_id: data.answers_message_id,
      };
      const origin = data.generated === "model" ? "Draft by the AI" : "Draft from the knowledge base";
      showNote(`${origin} — check it, edit it, then send.`, data.sources, "draft");
      box.focus();
      box.setSelectionRange(box.value.length, box.value.length);
    } catch (err) {
      if (openId === id) showNote(`No draft: ${err.message}`, [], "error");
    } finally {
      suggestButton.disabled = false;
    }
  }

  function discardDraft() {
    box.value = "";
    clearDraft();
    showNote("The customer wrote again: the draft was discarded. Suggest again for a new one.", [], "discarded");
  }

  // --- summary -------------------------------------------------------------------------------

  async function loadSummary(id) {
    try {
      const data = await call("GET", `/api/conversations/${id}/summary`);
      if (openId !== id) return;
      const head = el("summary", "copilot-summary-head", "Summary");
      const origin = data.generated === "model" ? "written by the AI" : "from the messages";
      head.append(el("span", "copilot-summary-origin", ` · ${origin}`));
      const body = el("div", "copilot-summary-body");
      for (const line of String(data.text || "").split("\n")) {
        if (line.trim()) body.append(el("p", "", line));
      }
      if (data.sources && data.sources.length) {
        const sources = el("p", "copilot-sources", "Sources the AI used: ");
        data.sources.forEach((source, i) => {
          if (i) sources.append(", ");
          sources.append(sourceNode(source));
        });
        body.append(sources);
      }
      summary.replaceChildren(head, body);
      summary.hidden = false;
    } catch (_) {
      // the chat view works without it
    }
  }

  // --- what panel.js tells us ----------------------------------------------------------------

  document.addEventListener("sb:chat-opened", (event) => {
    const { id, mode } = event.detail || {};
    if (draft && draft.conversationId !== id) {
      if (box.value.includes(draft.text)) box.value = "";
      clearDraft();
    }
    openId = id;
    note.hidden = true;
    summary.hidden = true;
    newestCustomerSeq = 0;
    if (id && (mode === "waiting_operator" || mode === "operator")) loadSummary(id);
  });

  document.addEventListener("sb:frame", (event) => {
    const frame = event.detail || {};
    if (frame.conversation_id !== openId) return;
    if (frame.type === "message.created" && frame.message) {
      const author = frame.message.author;
      if (author === "customer") newestCustomerSeq = Math.max(newestCustomerSeq, frame.message.seq);
      if (author === "customer" && draft && frame.message.seq > draft.answers_seq) discardDraft();
      else if (author === "operator" && draft && !box.value.trim()) {
        clearDraft(); // sent
        note.hidden = true;
      }
    } else if (frame.type === "mode.changed") {
      // An operator took the chat over (or it waits for one): what happened so far.
      if (frame.mode === "operator" || frame.mode === "waiting_operator") loadSummary(openId);
    }
  });

  box.addEventListener("input", () => {
    if (draft && !box.value.trim()) {
      clearDraft(); // the operator deleted the draft: what they write now is their own
      note.hidden = true;
    }
  });
  suggestButton.addEventListener("click", suggest);
})();
