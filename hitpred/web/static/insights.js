/* Insights: /v1/insights drawn with Chart.js. */
"use strict";
(async () => {
  const $ = (id) => document.getElementById(id);
  const { hit, flop } = HitPred.colors;
  const response = await fetch("/v1/insights");
  const data = await response.json();

  function canvasIn(parent, id, title) {
    const wrap = HitPred.el("div");
    wrap.appendChild(HitPred.el("h3", {}, title));
    const box = HitPred.el("div", { class: "chart-box" });
    const canvas = HitPred.el("canvas", { id });
    box.appendChild(canvas);
    wrap.appendChild(box);
    parent.appendChild(wrap);
    return canvas;
  }

  if (data.message) { $("insights-message").textContent = data.message; $("insights-message").hidden = false; }
  if (data.trends) {
    const d = data.dataset;
    const where = d.path && d.path !== d.name ? ` (${d.path})` : "";
    $("insights-source").textContent = `From the ${d.name} data set${where}: ${d.rows.toLocaleString()} labelled recordings, duplicates left out.`;
    $("dataset-section").hidden = false;
    for (const s of data.trends.series) {
      HitPred.chart(canvasIn($("trends"), `trend-${s.descriptor}`, `${s.label} (${s.unit})`), {
        type: "line",
        data: { labels: data.trends.decades, datasets: [
          { label: "hits", data: s.hit, borderColor: hit, backgroundColor: hit },
          { label: "flops", data: s.flop, borderColor: flop, backgroundColor: flop },
        ] },
      });
    }
    const c = data.classes;
    HitPred.chart($("classes-chart"), {
      type: "bar",
      data: { labels: c.decades, datasets: [
        { label: `hits (${c.total.hit.toLocaleString()})`, data: c.hit, backgroundColor: hit },
        { label: `flops (${c.total.flop.toLocaleString()})`, data: c.flop, backgroundColor: flop },
      ] },
      options: { scales: { x: { stacked: true }, y: { stacked: true } } },
    });
    const points = (rows) => rows.map(([x, y]) => ({ x, y }));
    HitPred.chart($("scatter-chart"), {
      type: "scatter",
      data: { datasets: [
        { label: "flops", data: points(data.scatter.flop), backgroundColor: "rgba(28,126,214,.35)", pointRadius: 2 },
        { label: "hits", data: points(data.scatter.hit), backgroundColor: "rgba(217,72,15,.35)", pointRadius: 2 },
      ] },
      options: { scales: { x: { title: { display: true, text: "danceability" }, min: 0, max: 1 }, y: { title: { display: true, text: "energy" }, min: 0, max: 1 } } },
    });
    const words = data.title_words;
    HitPred.chart($("words-chart"), {
      type: "bar",
      data: { labels: words.map((w) => w.word), datasets: [
        { label: "per 1,000 hit titles", data: words.map((w) => w.per_1000_hits), backgroundColor: hit },
        { label: "per 1,000 flop titles", data: words.map((w) => w.per_1000_flops), backgroundColor: flop },
      ] },
      options: { indexAxis: "y" },
    });
  }

  const methods = new Set();
  for (const m of data.importances) {
    if (!m.features.length) continue;
    methods.add(m.method);
    HitPred.chart(canvasIn($("importances"), `importance-${m.task}-${m.feature_set}`, `${m.task}: ${m.name} v${m.version} (${m.feature_set})`), {
      type: "bar",
      data: { labels: m.features, datasets: [{ label: m.method, data: m.importances, backgroundColor: HitPred.colors.neutral }] },
      options: { indexAxis: "y", plugins: { legend: { display: false } } },
    });
  }
  $("importance-note").textContent = data.importances.length
    ? `Share of each input feature, from the served models themselves (${[...methods].join("; ")}).`
    : "The models are still loading: reload in a moment.";
  const rows = $("champions").querySelector("tbody");
  for (const c of data.champions) {
    const tr = HitPred.el("tr");
    const metrics = Object.entries(c.metrics).slice(0, 6).map(([k, v]) => `${k} ${v}`).join(", ");
    for (const v of [c.task, c.feature_set, c.name, c.version, c.dataset || "", metrics]) tr.appendChild(HitPred.el("td", {}, v));
    rows.appendChild(tr);
  }
  $("champions-note").textContent = data.champions.length ? "" : "No trained champion in the registry: the stream serves the synthetic-catalog baseline.";
})();
