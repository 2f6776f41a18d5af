/* Live: server-sent snapshots from /v1/live/stream, drawn without a reload. */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const history = { labels: [], values: [] };
  const throughput = HitPred.chart($("throughput-chart"), {
    type: "line",
    data: { labels: history.labels, datasets: [{ label: "predictions/s", data: history.values, borderColor: HitPred.colors.hit, pointRadius: 0, tension: 0.2 }] },
    options: { scales: { y: { beginAtZero: true } }, plugins: { legend: { display: false } } },
  });
  const stages = ["decode", "validate", "enrich", "score", "publish"];
  const dead = HitPred.chart($("dead-chart"), {
    type: "bar",
    data: { labels: stages, datasets: [{ label: "dead letters", data: stages.map(() => 0), backgroundColor: HitPred.colors.flop }] },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }, plugins: { legend: { display: false } } },
  });

  function draw(s) {
    const status = $("live-status");
    if (!s.enabled) { status.textContent = `off: ${s.reason}`; status.className = "status down"; return; }
    status.textContent = s.connected ? `connected to ${s.topics.predictions}` : `broker unreachable${s.error ? `: ${s.error}` : ""}`;
    status.className = `status ${s.connected ? "ok" : "down"}`;
    $("live-predictions").textContent = s.predictions;
    $("live-throughput").textContent = HitPred.fmt(s.throughput_per_s, 1);
    $("live-p50").textContent = HitPred.fmt(s.latency_ms.p50, 0);
    $("live-p95").textContent = HitPred.fmt(s.latency_ms.p95, 0);
    $("live-p99").textContent = HitPred.fmt(s.latency_ms.p99, 0);
    $("live-dead").textContent = s.dead_letters;
    history.labels.push(new Date().toLocaleTimeString());
    history.values.push(s.throughput_per_s);
    if (history.labels.length > 120) { history.labels.shift(); history.values.shift(); }
    throughput.update();
    const labels = [...new Set([...stages, ...Object.keys(s.dead_letters_by_stage)])];
    dead.data.labels = labels;
    dead.data.datasets[0].data = labels.map((k) => s.dead_letters_by_stage[k] || 0);
    dead.update();
    const rows = $("latest").querySelector("tbody");
    rows.replaceChildren();
    for (const p of s.latest) {
      const tr = HitPred.el("tr");
      for (const v of [p.event_id, p.track_id, HitPred.fmt(p.hit_probability, 3), HitPred.fmt(p.popularity, 1), p.tier || "–", p.genre || "–", HitPred.fmt(p.end_to_end_ms, 0)]) tr.appendChild(HitPred.el("td", {}, v));
      rows.appendChild(tr);
    }
  }

  const source = new EventSource("/v1/live/stream");
  source.addEventListener("snapshot", (e) => draw(JSON.parse(e.data)));
  source.onerror = () => { $("live-status").textContent = "reconnecting…"; $("live-status").className = "status down"; };
})();
