// Switchboard panel: the admins' analytics page (#/analytics). Vanilla JS, no external
// resources; charts are SVG drawn here. Customer text is only ever set with textContent.
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const ROUTE = "#/analytics";
  const REASONS = {
    customer_asked: "Customer asked",
    knowledge_missing: "Knowledge missing",
    guardrail: "Guardrail",
    model_failure: "Model or tool failure",
    policy: "Policy",
    other: "Other",
  };
  let admin = false;
  let page = null;

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

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    Object.entries(attrs || {}).forEach(([key, value]) => node.setAttribute(key, String(value)));
    return node;
  }

  function isoDay(date) {
    return date.toISOString().slice(0, 10);
  }

  function percent(rate) {
    return rate === null || rate === undefined ? "—" : `${Math.round(rate * 1000) / 10} %`;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    if (seconds < 60) return `${Math.round(seconds)} s`;
    if (seconds < 3600) return `${Math.round(seconds / 6) / 10} min`;
    return `${Math.round(seconds / 360) / 10} h`;
  }

  function build() {
    const today = new Date();
    const since = new Date(today.getTime() - 29 * 86400000);
    page = el("main", { id: "analytics-page", class: "analytics", hidden: "" }, [
      el("form", { id: "analytics-form", class: "analytics-filters" }, [
        el("h2", { text: "Analytics" }),
        el("label", { for: "analytics-from", text: "From" }),
        el("input", { id: "analytics-from", type: "date", value: isoDay(since) }),
        el("label", { for: "analytics-to", text: "To" }),
        el("input", { id: "analytics-to", type: "date", value: isoDay(today) }),
        el("label", { for: "analytics-channel", text: "Channel" }),
        el("select", { id: "analytics-channel" }, [
          el("option", { value: "", text: "All channels" }),
          el("option", { value: "web", text: "Web" }),
          el("option", { value: "telegram", text: "Telegram" }),
          el("option", { value: "whatsapp", text: "WhatsApp" }),
        ]),
        el("button", { type: "submit", class: "primary", text: "Show" }),
        el("a", { id: "analytics-csv", class: "button-link", href: "#", text: "Export CSV" }),
      ]),
      el("p", { id: "analytics-error", class: "error", role: "alert", hidden: "" }),
      el("section", { id: "analytics-figures", class: "analytics-figures" }),
      el("div", { class: "analytics-charts" }, [
        el("section", { class: "analytics-card" }, [
          el("h3", { text: "Hand-offs by reason" }),
          el("div", { id: "analytics-handoffs" }),
        ]),
        el("section", { class: "analytics-card" }, [
          el("h3", { text: "Operator times" }),
          el("div", { id: "analytics-times" }),
        ]),
      ]),
      el("section", { class: "analytics-card" }, [
        el("h3", { text: "Knowledge gaps — questions the knowledge base could not answer" }),
        el("ol", { id: "analytics-gaps", class: "analytics-gaps" }),
        el("p", { id: "analytics-gaps-empty", class: "muted", text: "No gaps in this period.", hidden: "" }),
      ]),
      el("section", { class: "analytics-card" }, [
        el("h3", { text: "Operators' feedback on AI answers" }),
        el("p", { id: "analytics-feedback-counts", class: "muted" }),
        el("ol", { id: "analytics-feedback", class: "analytics-gaps" }),
      ]),
    ]);
    $("app-view").appendChild(page);
    $("analytics-form").addEventListener("submit", (event) => {
      event.preventDefault();
      load();
    });
  }

  function query(format) {
    const params = new URLSearchParams();
    if ($("analytics-from").value) params.set("from", $("analytics-from").value);
    if ($("analytics-to").value) params.set("to", $("analytics-to").value);
    if ($("analytics-channel").value) params.set("channel", $("analytics-channel").value);
    if (format) params.set("format", format);
    return params.toString();
  }

  async function load() {
    const error = $("analytics-error");
    error.hidden = true;
    $("analytics-csv").setAttribute("href", `/api/analytics/summary.csv?${query()}`);
    const response = await fetch(`/api/analytics/summary?${query()}`, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok) {
      let detail = `HTTP ${response.status}`;
      try {
        const body = await response.json();
        if (typeof body.detail === "string") detail = body.detail;
      } catch (_) {
        /* not JSON */
      }
      error.textContent = detail;
      error.hidden = false;
      return;
    }
    render(await response.json());
  }

  function figure(id, label, value, note) {
    return el("div", { class: "figure", "data-testid": `figure-${id}` }, [
      el("div", { class: "figure-value", text: value }),
      el("div", { class: "figure-label", text: label }),
      el("div", { class: "figure-note muted", text: note || "" }),
    ]);
  }

  function bars(rows, format) {
    // One horizontal bar a row: label, bar scaled to the largest value, the value.
    const width = 420;
    const labelWidth = 160;
    const rowHeight = 26;
    const max = Math.max(1, ...rows.map((r) => r.value));
    const chart = svg("svg", {
      class: "bars",
      viewBox: `0 0 ${width} ${rows.length * rowHeight}`,
      width,
      height: rows.length * rowHeight,
      role: "img",
    });
    rows.forEach((row, i) => {
      const y = i * rowHeight;
      const label = svg("text", { x: 0, y: y + 17, class: "bar-label" });
      label.textContent = row.label;
      const length = Math.round(((width - labelWidth - 60) * row.value) / max);
      const bar = svg("rect", {
        x: labelWidth,
        y: y + 5,
        width: Math.max(length, row.value ? 2 : 0),
        height: 16,
        rx: 3,
        class: `bar ${row.kind || ""}`,
      });
      const value = svg("text", { x: labelWidth + length + 6, y: y + 17, class: "bar-value" });
      value.textContent = format ? format(row.value) : String(row.value);
      const group = svg("g", { "data-testid": `bar-${row.key}` });
      group.append(label, bar, value);
      chart.appendChild(group);
    });
    return chart;
  }

  function render(data) {
    const figures = $("analytics-figures");
    figures.replaceChildren(
      figure("conversations", "Conversations", String(data.conversations), `${data.closed} closed`),
      figure(
        "ai-resolution",
        "AI resolution rate",
        percent(data.ai_resolution_rate),
        `${data.ai_resolved} of ${data.closed} closed without an operator`,
      ),
      figure(
        "durable-resolution",
        "Durable resolution",
        percent(data.durable_resolution_rate),
        `${data.durable} of ${data.durable_eligible} stayed closed 7 days`,
      ),
      figure("handoffs", "Hand-offs", String(data.handoffs_total), `${data.handed_off} chats`),
      figure(
        "csat",
        "CSAT",
        data.csat && data.csat.average != null ? String(data.csat.average) : "—",
        data.csat
          ? `${data.csat.count} ratings · AI only ${data.csat.ai_only.average ?? "—"} · with an operator ${data.csat.with_operator.average ?? "—"}`
          : "no ratings yet",
      ),
    );
    $("analytics-handoffs").replaceChildren(
      bars(
        Object.entries(REASONS).map(([key, label]) => ({
          key,
          label,
          value: data.handoffs_by_reason[key] || 0,
          kind: key,
        })),
      ),
    );
    const times = [
      ["first-median", "First response, median", data.first_response.median_s],
      ["first-p90", "First response, p90", data.first_response.p90_s],
      ["resolution-median", "Resolution, median", data.resolution.median_s],
      ["resolution-p90", "Resolution, p90", data.resolution.p90_s],
    ];
    $("analytics-times").replaceChildren(
      bars(
        times.map(([key, label, value]) => ({ key, label, value: value || 0, kind: "time" })),
        duration,
      ),
      el("p", {
        class: "muted",
        text: `${data.first_response.count} first responses, ${data.resolution.count} resolved by operators`,
      }),
    );
    const gaps = $("analytics-gaps");
    gaps.replaceChildren(
      ...data.knowledge_gaps.map((gap) =>
        el("li", { "data-testid": "gap" }, [
          el("span", { class: "gap-count", text: `${gap.count}×` }),
          el("span", { class: "gap-question", text: gap.question }),
          el(
            "ul",
            { class: "gap-examples" },
            gap.examples.map((example) =>
              el("li", {}, [
                el("a", {
                  href: `#/chats/${encodeURIComponent(example.conversation_id)}`,
                  text: example.text,
                }),
              ]),
            ),
          ),
        ]),
      ),
    );
    $("analytics-gaps-empty").hidden = data.knowledge_gaps.length > 0;
    const counts = Object.entries(data.feedback_by_verdict || {});
    $("analytics-feedback-counts").textContent = counts.length
      ? counts.map(([verdict, n]) => `${verdict}: ${n}`).join(" · ")
      : "";
    $("analytics-feedback").replaceChildren(
      ...(data.feedback || []).map((item) =>
        el("li", { "data-testid": "feedback" }, [
          el("span", { class: "feedback-verdict", text: item.verdict }),
          el("span", { class: "feedback-note", text: item.note }),
          el("ul", { class: "gap-examples" }, [
            el("li", {}, [
              el("a", {
                href: `#/chats/${encodeURIComponent(item.conversation_id)}`,
                text: item.answer,
              }),
            ]),
          ]),
        ]),
      ),
    );
  }

  function active() {
    return admin && location.hash.startsWith(ROUTE);
  }

  function route() {
    if (!page) return;
    const on = active();
    page.hidden = !on;
    $("nav-analytics").setAttribute("aria-current", on ? "page" : "false");
    if (on) {
      // The panel's own router shows its pages on every hash change: they stay hidden here.
      $("chats-page").hidden = true;
      $("blocks-page").hidden = true;
      $("nav-chats").setAttribute("aria-current", "false");
      $("nav-blocks").setAttribute("aria-current", "false");
    }
  }

  async function signedIn() {
    const response = await fetch("/api/auth/me", { credentials: "same-origin" });
    admin = response.ok && (await response.json()).role === "admin";
    $("nav-analytics").hidden = !admin;
    if (!admin) return;
    if (!page) build();
    route();
    if (active()) load();
  }

  window.addEventListener("hashchange", () => {
    const was = page && !page.hidden;
    route();
    if (active() && !was) load();
  });
  // The panel shows the app after sign-in (and its router runs): learn the role then.
  const observer = new MutationObserver(() => {
    if (!$("app-view").hidden) signedIn();
    else admin = false;
    route();
  });
  observer.observe($("app-view"), { attributes: true, attributeFilter: ["hidden"] });
  ["chats-page", "blocks-page"].forEach((id) =>
    new MutationObserver(() => {
      if (active() && !$(id).hidden) route();
    }).observe($(id), { attributes: true, attributeFilter: ["hidden"] }),
  );
  if (!$("app-view").hidden) signedIn();
})();
