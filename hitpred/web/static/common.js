/* Helpers shared by the HitPred pages. */
"use strict";
const HitPred = {
  colors: { hit: "#d9480f", flop: "#1c7ed6", neutral: "#868e96" },
  el(tag, attrs = {}, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  },
  fmt(value, digits = 2) {
    return (value === null || value === undefined) ? "–" : Number(value).toFixed(digits);
  },
  /** A Chart.js chart with the house defaults (no animation: pages update every second). */
  chart(canvas, config) {
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    return new Chart(canvas, config);
  },
  /** "loc: msg" lines of an error body ({"detail": [...]}, or a plain text). */
  reasons(body) {
    if (!body || !body.detail) return ["the server could not answer"];
    if (typeof body.detail === "string") return [body.detail];
    return body.detail.map((d) => {
      const loc = (d.loc || []).filter((p) => p !== "body").join(".");
      return loc ? `${loc}: ${d.msg}` : d.msg;
    });
  },
};
