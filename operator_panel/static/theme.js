// The operator's theme choice (light / dark / system), applied before the first paint:
// this file loads synchronously in <head>, so the page never flashes the wrong colours.
// "system" (or nothing stored) leaves <html> without data-theme: panel.css then follows
// prefers-color-scheme. comfort.js holds the header toggle that changes the choice.
(() => {
  "use strict";
  let choice = null;
  try {
    choice = localStorage.getItem("sb-theme");
  } catch (_) {
    // storage blocked: the system's preference it is
  }
  if (choice === "light" || choice === "dark") document.documentElement.dataset.theme = choice;
})();
