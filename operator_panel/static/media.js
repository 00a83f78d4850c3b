// Switchboard panel: attachments in the chat view (photos as thumbnails, files and voice
// messages as links, locations as a map link). panel.js calls SwitchboardMedia.render for
// each message it draws. Every name a customer chose is set with textContent.
(() => {
  "use strict";

  const INLINE = new Set(["image/jpeg", "image/png", "image/gif", "image/webp"]);
  const LABEL = {
    image: "Photo",
    file: "File",
    voice: "Voice message",
    audio: "Audio",
    video: "Video",
    sticker: "Sticker",
    contact: "Contact",
  };
  const PROBLEM = {
    too_large: "too large to keep",
    type_not_allowed: "a type that is not kept",
    unavailable: "could not be fetched",
    off: "not fetched (MEDIA_FETCH is off)",
  };

  function node(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function size(bytes) {
    if (typeof bytes !== "number") return "";
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
    return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  }

  function safeUrl(url) {
    try {
      const parsed = new URL(url, window.location.href);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (_) {
      return null;
    }
  }

  function one(a) {
    const box = node("div", "attachment");
    box.dataset.kind = a.kind || "";
    box.setAttribute("data-testid", "attachment");
    const label = LABEL[a.kind] || a.kind || "Attachment";
    if (a.kind === "location") {
      const where = [a.name, a.latitude !== undefined ? `${a.latitude}, ${a.longitude}` : ""]
        .filter(Boolean)
        .join(" · ");
      const url = safeUrl(a.url || "");
      const link = node(url ? "a" : "span", "attachment-link", `Location: ${where}`);
      if (url) {
        link.href = url;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
      }
      box.append(link);
      return box;
    }
    if (a.kind === "contact") {
      box.append(node("span", "attachment-link", `Contact: ${[a.name, a.phone_number].filter(Boolean).join(", ")}`));
      return box;
    }
    if (a.kind === "button_reply" || a.kind === "list_reply") return null;
    const details = [a.name, size(a.size)].filter(Boolean).join(", ");
    if (!a.media_id) {
      if (!a.media_problem && !a.file_id && !a.url) return null;
      const why = PROBLEM[a.media_problem] || "not stored";
      box.append(node("span", "attachment-missing", `${label}${details ? ` (${details})` : ""}: ${why}`));
      return box;
    }
    const href = `/api/media/${encodeURIComponent(a.media_id)}`;
    if (INLINE.has(a.mime_type || "")) {
      const link = node("a", "attachment-thumb");
      link.href = href;
      link.target = "_blank";
      link.rel = "noopener";
      const img = node("img");
      img.src = href;
      img.alt = `${label}${details ? `: ${details}` : ""}`;
      img.loading = "lazy";
      img.setAttribute("data-testid", "attachment-image");
      // CSSOM, not a style attribute: the panel's CSP allows no inline styles.
      img.style.maxWidth = "240px";
      img.style.maxHeight = "240px";
      img.style.borderRadius = "8px";
      img.style.display = "block";
      link.append(img);
      box.append(link);
      return box;
    }
    const link = node("a", "attachment-link", `${label}${details ? `: ${details}` : ""}`);
    link.href = href;
    link.setAttribute("download", a.name || "");
    box.append(link);
    return box;
  }

  function render(li, message) {
    const list = Array.isArray(message.attachments) ? message.attachments : [];
    const nodes = list.map(one).filter(Boolean);
    if (!nodes.length) return;
    // A file sent without a caption: no empty bubble above it.
    const bubble = li.querySelector(".bubble");
    if (bubble && !String(message.text || "").trim()) bubble.hidden = true;
    const holder = node("div", "attachments");
    holder.style.display = "flex";
    holder.style.flexDirection = "column";
    holder.style.gap = "4px";
    nodes.forEach((n) => holder.append(n));
    li.append(holder);
  }

  // "Attach": the file goes out on the chat's channel (POST /api/uploads/{id}) with what is
  // in the reply box as its caption; the message itself arrives over the panel's socket.
  function attachButton() {
    const form = document.getElementById("reply-form");
    const send = document.getElementById("reply-send");
    if (!form || !send || document.getElementById("attach-input")) return;
    const input = node("input");
    input.type = "file";
    input.id = "attach-input";
    input.hidden = true;
    input.setAttribute("data-testid", "attach-input");
    const button = node("button", null, "Attach");
    button.type = "button";
    button.id = "attach-button";
    button.addEventListener("click", () => input.click());
    input.addEventListener("change", async () => {
      const file = input.files && input.files[0];
      const match = (location.hash || "").match(/^#\/chats\/([0-9a-f]{24})$/);
      if (!file || !match) return;
      const box = document.getElementById("reply");
      const body = new FormData();
      body.append("file", file);
      body.append("text", box ? box.value : "");
      button.disabled = true;
      try {
        const me = await fetch("/api/auth/me", { credentials: "same-origin" }).then((r) => r.json());
        const response = await fetch(`/api/uploads/${match[1]}`, {
          method: "POST",
          body,
          credentials: "same-origin",
          headers: { "X-CSRF-Token": me.csrf_token || "" },
        });
        if (response.ok && box) box.value = "";
        if (!response.ok) {
          const detail = await response.json().catch(() => ({}));
          window.alert(`Not sent: ${detail.detail || response.status}`);
        }
      } finally {
        button.disabled = false;
        input.value = "";
      }
    });
    form.insertBefore(input, send);
    form.insertBefore(button, send);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", attachButton);
  else attachButton();

  window.SwitchboardMedia = { render };
})();
