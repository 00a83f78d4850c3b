// Switchboard panel: one customer across channels. In the chat view, "Customer" shows the
// contacts linked to this chat's customer, links another (search by name or channel id),
// undoes a link, and shows the person's history on every channel with where a reply goes.
// Vanilla JS; customer text is only ever set with textContent.
(() => {
  "use strict";

  const CHANNELS = { web: "Web", telegram: "Telegram", whatsapp: "WhatsApp" };
  let csrf = "";
  let current = null; // { conversationId, contactId }
  let box = null;

  function el(tag, props, children) {
    const node = document.createElement(tag);
    Object.entries(props || {}).forEach(([key, value]) => {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key === "onclick") node.addEventListener("click", value);
      else node.setAttribute(key, value);
    });
    (children || []).forEach((child) => node.appendChild(child));
    return node;
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") {
      if (!csrf) csrf = (await api("GET", "/api/auth/me")).csrf_token;
      headers["X-CSRF-Token"] = csrf;
    }
    const response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      throw new Error((data && typeof data.detail === "string" && data.detail) || `error ${response.status}`);
    }
    return data;
  }

  function channelName(channel) {
    return CHANNELS[channel] || channel;
  }

  function contactLabel(contact) {
    return `${channelName(contact.channel)} · ${contact.display_name || contact.external_user_id}`;
  }

  function ensureBox() {
    if (box && document.body.contains(box)) return box;
    const header = document.querySelector("#chat-open .chat-header");
    if (!header) return null;
    const toggle = el("button", { id: "linked-toggle", type: "button", class: "ghost", text: "Customer" });
    const sub = header.querySelector(".chat-sub");
    (sub || header).appendChild(toggle);
    box = el("section", { id: "linked-box", class: "linked-box", "aria-label": "Customer across channels" });
    box.hidden = true;
    header.after(box);
    toggle.addEventListener("click", async () => {
      if (!current) await follow(); // the page may have loaded before the sign-in
      box.hidden = !box.hidden;
      if (!box.hidden) render();
    });
    return box;
  }

  async function render() {
    if (!current || !box || box.hidden) return;
    const shown = current;
    let person;
    try {
      person = await api("GET", `/api/contacts/${shown.contactId}/person`);
    } catch (err) {
      box.replaceChildren(el("p", { class: "error", text: err.message }));
      return;
    }
    if (shown !== current) return;
    const parts = [];
    const others = person.contacts.filter((c) => c.id !== shown.contactId);
    if (others.length) {
      parts.push(el("h3", { text: "Same customer on" }));
      parts.push(
        el("ul", { class: "linked-list", id: "linked-contacts" },
          person.contacts.map((c) =>
            el("li", { "data-contact-id": c.id }, [
              el("span", { text: contactLabel(c) }),
              el("button", { type: "button", class: "ghost linked-unlink", text: "Unlink", onclick: () => unlink(c.id) }),
            ]),
          ),
        ),
      );
      if (person.reply_to) {
        const where = el("p", { id: "linked-reply-to", class: "muted" }, [
          el("span", { text: `The customer wrote last on ${channelName(person.reply_to.channel)}: replies go there. ` }),
        ]);
        if (person.reply_to.conversation_id !== shown.conversationId) {
          where.appendChild(el("a", { href: `#/chats/${person.reply_to.conversation_id}`, text: "Open that chat" }));
        }
        parts.push(where);
      }
      parts.push(el("button", { type: "button", id: "linked-history-toggle", text: "History on all channels", onclick: history }));
      parts.push(el("ol", { id: "linked-history", class: "linked-history", hidden: "" }));
    } else {
      parts.push(el("p", { class: "muted", text: "This customer is not linked to a contact on another channel." }));
    }
    const input = el("input", { id: "linked-search", type: "search", placeholder: "Find a contact to link: name or channel id", "aria-label": "Find a contact to link", maxlength: "100" });
    const results = el("ul", { id: "linked-results", class: "linked-list" });
    const form = el("form", { class: "linked-search" }, [input, el("button", { type: "submit", text: "Search" })]);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const q = input.value.trim();
      if (!q) return;
      try {
        const found = await api("GET", `/api/contacts?q=${encodeURIComponent(q)}&exclude=${shown.contactId}`);
        results.replaceChildren(
          ...(found.items.length
            ? found.items.map((c) =>
                el("li", {}, [
                  el("span", { text: contactLabel(c) }),
                  el("button", { type: "button", class: "linked-link", text: "Link", onclick: () => link(c.id) }),
                ]),
              )
            : [el("li", { class: "muted", text: "No contact found." })]),
        );
      } catch (err) {
        results.replaceChildren(el("li", { class: "error", text: err.message }));
      }
    });
    parts.push(form, results, el("p", { id: "linked-error", class: "error", role: "alert", hidden: "" }));
    box.replaceChildren(...parts);
  }

  function showError(message) {
    const node = document.getElementById("linked-error");
    if (node) {
      node.textContent = message;
      node.hidden = false;
    }
  }

  async function link(otherId) {
    try {
      await api("POST", `/api/contacts/${current.contactId}/link`, { contact_id: otherId });
      await render();
    } catch (err) {
      showError(err.message);
    }
  }

  async function unlink(contactId) {
    try {
      await api("POST", `/api/contacts/${contactId}/unlink`);
      await render();
    } catch (err) {
      showError(err.message);
    }
  }

  async function history() {
    const list = document.getElementById("linked-history");
    if (!list) return;
    if (!list.hidden) {
      list.hidden = true;
      return;
    }
    try {
      const data = await api("GET", `/api/contacts/${current.contactId}/history`);
      list.replaceChildren(
        ...data.items.map((m) =>
          el("li", { class: `linked-line author-${m.author}`, "data-channel": m.channel }, [
            el("span", { class: "channel-tag", text: channelName(m.channel) }),
            el("span", { class: "muted", text: ` ${m.author} · ${new Date(m.created_at).toLocaleString()} ` }),
            el("span", { class: "linked-text", text: m.text }),
          ]),
        ),
      );
      list.hidden = false;
    } catch (err) {
      showError(err.message);
    }
  }

  async function follow() {
    const match = (location.hash || "").match(/^#\/chats\/([0-9a-f]{24})$/);
    if (!match) {
      current = null;
      return;
    }
    if (!ensureBox()) return;
    const conversationId = match[1];
    if (current && current.conversationId === conversationId) return;
    current = null;
    box.hidden = true;
    box.replaceChildren();
    try {
      const chat = await api("GET", `/api/conversations/${conversationId}`);
      if (chat.contact && chat.contact.id) current = { conversationId, contactId: chat.contact.id };
    } catch (_) {
      current = null;
    }
  }

  window.addEventListener("hashchange", follow);
  document.addEventListener("DOMContentLoaded", follow);
})();
