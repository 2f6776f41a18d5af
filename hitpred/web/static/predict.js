/* "Hit or Flop?": the form -> POST /v1/predict (JSON, or multipart with an audio file). */
"use strict";
(() => {
  const form = document.getElementById("release-form");
  const $ = (id) => document.getElementById(id);
  let contributionsChart = null;

  for (const box of document.querySelectorAll(".slider")) {
    const range = box.querySelector("input[type=range]");
    const use = box.querySelector(".use");
    const out = box.querySelector("output");
    range.addEventListener("input", () => { out.textContent = range.value; });
    use.addEventListener("change", () => { box.classList.toggle("off", !use.checked); range.disabled = !use.checked; });
  }

  function descriptors() {
    const values = {};
    for (const box of document.querySelectorAll(".slider")) {
      if (!box.querySelector(".use").checked) continue;
      let value = Number(box.querySelector("input[type=range]").value) * Number(box.dataset.scale);
      if (box.dataset.integer === "true") value = Math.round(value);
      values[box.dataset.name] = value;
    }
    return values;
  }

  function splitList(text) { return text.split(";").map((s) => s.trim()).filter(Boolean); }

  function request() {
    const file = $("audio").files[0];
    const year = $("year").value.trim();
    const id = `web-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    if (file) {
      const data = new FormData();
      data.append("event_id", id);
      data.append("track_id", id);
      data.append("title", $("title").value);
      data.append("artists", $("artists").value);
      data.append("year", year);
      if ($("genre").value.trim()) data.append("genres", $("genre").value);
      if ($("lyrics").value.trim()) data.append("lyrics", $("lyrics").value);
      for (const [k, v] of Object.entries(descriptors())) data.append(k, String(v));
      data.append("audio", file);
      return { body: data, headers: {} };
    }
    const event = {
      event_id: id, track_id: id, title: $("title").value, artists: splitList($("artists").value),
      release_date: /^\d{4}$/.test(year) ? `${year}-01-01` : year, ...descriptors(),
    };
    if ($("genre").value.trim()) event.genres = splitList($("genre").value);
    if ($("lyrics").value.trim()) event.lyrics = $("lyrics").value;
    return { body: JSON.stringify(event), headers: { "Content-Type": "application/json" } };
  }

  function showErrors(lines) {
    const box = $("errors");
    box.replaceChildren(HitPred.el("strong", {}, "This release cannot be scored:"));
    const list = HitPred.el("ul");
    for (const line of lines) list.appendChild(HitPred.el("li", {}, line));
    box.appendChild(list);
    box.hidden = false;
    $("result").hidden = true;
  }

  function showPrediction(p) {
    $("errors").hidden = true;
    const hit = p.hit;
    $("verdict").replaceChildren(hit
      ? HitPred.el("span", { class: hit.is_hit ? "hit" : "flop" }, hit.is_hit ? "Hit!" : "Flop")
      : HitPred.el("span", {}, "No hit model answered"));
    $("hit-probability").textContent = hit ? `${(100 * hit.probability).toFixed(1)} %` : "–";
    $("popularity").textContent = p.popularity ? p.popularity.popularity.toFixed(1) : "–";
    $("tier").textContent = p.tier ? p.tier.tier : (p.popularity ? p.popularity.tier : "–");
    const top3 = $("genre-top3");
    top3.replaceChildren();
    for (const g of (p.genre ? p.genre.top3 : [])) {
      top3.appendChild(HitPred.el("li", {}, `${g.genre} (${(100 * g.probability).toFixed(1)} %)`));
    }
    const rows = $("models").querySelector("tbody");
    rows.replaceChildren();
    for (const task of ["hit", "popularity", "tier", "genre"]) {
      if (!p[task]) continue;
      const m = p[task].model;
      const tr = HitPred.el("tr");
      for (const v of [task, m.name, m.version, m.feature_set || "", (m.inputs || []).join(", ")]) tr.appendChild(HitPred.el("td", {}, v));
      rows.appendChild(tr);
    }
    $("unanswered").textContent = Object.entries(p.unanswered || {}).map(([t, r]) => `${t}: ${r}`).join("; ");
    const items = p.contributions || [];
    const data = {
      labels: items.map((c) => (c.value === undefined ? c.feature : `${c.feature} = ${+c.value.toFixed(3)}`)),
      datasets: [{
        label: "contribution to the hit score (log-odds)",
        data: items.map((c) => c.contribution),
        backgroundColor: items.map((c) => (c.contribution >= 0 ? HitPred.colors.hit : HitPred.colors.flop)),
      }],
    };
    $("result").hidden = false;
    if (contributionsChart) { contributionsChart.data = data; contributionsChart.update(); }
    else contributionsChart = HitPred.chart($("contributions-chart"), { type: "bar", data, options: { indexAxis: "y", plugins: { legend: { display: false } } } });
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    $("submit").disabled = true;
    $("pending").hidden = false;
    try {
      const { body, headers } = request();
      const response = await fetch("/v1/predict", { method: "POST", body, headers });
      let payload = null;
      try { payload = await response.json(); } catch (_) { payload = null; }
      if (response.ok) showPrediction(payload);
      else showErrors(HitPred.reasons(payload).map((r) => (response.status === 413 ? `too large: ${r}` : r)));
    } catch (err) {
      showErrors([`the server could not be reached (${err})`]);
    } finally {
      $("submit").disabled = false;
      $("pending").hidden = true;
    }
  });
})();
