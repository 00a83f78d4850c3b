// Switchboard panel: operators' feedback on AI answers (issue 25, item 8). On every AI
// message of the chat view, a "Feedback" control (wrong / incomplete / outdated /
// inappropriate + an optional note) posts to /api/messages/{id}/feedback; the message then
// shows its marks. Admins see them listed on the analytics page (analytics.js).
// Text is only ever set with textContent.
(() => {
  "use strict";

  const VERDICTS = {
    wrong: "Wrong",
    incomplete: "Incomplete",
    outdated: "Outdated",
    inappropriate: "Inappropriate",
  };

  function el(tag, props, children) {
    const node = document.createElement(tag);
    Object.entries(props || {}).forEach(([key, value]) => {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    });
    (children || []).forEach((child) => node.appendChild(child));
    return node;
  }

  function marksNode(message) {
    const marks = Array.isArray(message.feedback) ? message.feedback : [];
    const box = el("div", { class: "feedback-marks", "data-testid": "feedback-marks" });
    box.hidden = marks.length === 0;
    marks.forEach((mark) => {
      const row = el("div", { class: "feedback-mark", "data-verdict": mark.verdict }, [
        el("span", { class: "feedback-mark-verdict", text: VERDICTS[mark.verdict] || mark.verdict }),
      ]);
      if (mark.note) row.appendChild(el("span", { class: "feedback-mark-note", text: mark.note }));
      box.appendChild(row);
    });
    return box;
  }

  async function send(message, verdict, note) {
    const panel = window.switchboardPanel;
    const response = await fetch(`/api/messages/${encodeURIComponent(message.id)}/feedback`, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/json",
        "X-CSRF-Token": panel ? panel.csrf() : "",
      },
      body: JSON.stringify({ verdict, note }),
    });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      const detail = body && typeof body.detail === "string" ? body.detail : `HTTP ${response.status}`;
      throw new Error(detail);
    }
    return body;
  }

  function controlNode(message, node) {
    const select = el("select", { class: "feedback-verdict-input", "aria-label": "Feedback verdict" },
      Object.entries(VERDICTS).map(([value, label]) => el("option", { value, text: label })));
    const note = el("input", {
      class: "feedback-note-input",
      maxlength: "2000",
      placeholder: "Note (optional)",
      "aria-label": "Feedback note",
    });
    const error = el("span", { class: "feedback-error", role: "alert" });
    const button = el("button", { type: "submit", text: "Send feedback" });
    const form = el("form", { class: "feedback-form" }, [select, note, button, error]);
    const box = el("details", { class: "feedback-box", "data-testid": "feedback-box" }, [
      el("summary", { text: "Feedback" }),
      form,
    ]);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      button.disabled = true;
      error.textContent = "";
      try {
        const mark = await send(message, select.value, note.value.trim());
        // The panel keeps this message object: a re-render (status update) keeps the mark.
        message.feedback = (message.feedback || []).concat([mark]);
        const marks = node.querySelector(".feedback-marks");
        if (marks) marks.replaceWith(marksNode(message));
        note.value = "";
        box.open = false;
      } catch (err) {
        error.textContent = `Not sent: ${err.message}`;
      } finally {
        button.disabled = false;
      }
    });
    return box;
  }

  document.addEventListener("panel:message", (event) => {
    const { message, node } = event.detail;
    if (!message || message.author !== "ai" || !message.id) return;
    const info = node.querySelector(".info");
    node.insertBefore(marksNode(message), info);
    node.insertBefore(controlNode(message, node), info);
  });
})();
