// The page of `sklearn-bandgap serve`: pick or drop files, predict, see and download the rows.
// Plain JavaScript, no build step and no network beyond this server.
"use strict";

const $ = (id) => document.getElementById(id);
let pending = [];      // files picked or dropped, not yet predicted
let last = null;       // the last response: {columns, rows}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function addFiles(list) {
  pending = pending.concat(Array.from(list));
  setStatus(`${pending.length} file(s) ready`);
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

const fmt = (v, d = 3) => (v === null || v === undefined ? "" : Number(v).toFixed(d));

// Display columns: value ± std, [low, high] intervals, the rest as they are.
function displayColumns(columns) {
  const shown = [];
  const used = new Set();
  for (const c of columns) {
    if (used.has(c)) continue;
    const low = c.match(/^(.*)_low_(\d+)$/);
    if (low) {
      const high = `${low[1]}_high_${low[2]}`;
      used.add(c); used.add(high);
      shown.push({ title: `${low[2]} % interval`, value: (r) =>
        r[c] === null ? "" : `[${fmt(r[c])}, ${fmt(r[high])}]`, num: true });
      continue;
    }
    if (c.endsWith("_std") || c.match(/_high_\d+$/)) continue;
    if (columns.includes(`${c}_std`)) {
      used.add(`${c}_std`);
      shown.push({ title: c.replaceAll("_", " "), value: (r) =>
        r[c] === null ? "" : `${fmt(r[c])} ± ${fmt(r[`${c}_std`])}`, num: true });
      continue;
    }
    if (c === "warning" || c === "error") continue;  // a line of their own under the row
    const text = c === "id" || c === "formula";
    shown.push({ title: c.replaceAll("_", " "), value: (r) => (text ? r[c] : fmt(r[c])),
      num: !text });
  }
  return shown;
}

function render(response) {
  last = response;
  const table = $("table");
  table.replaceChildren();
  const shown = displayColumns(response.columns);
  const head = document.createElement("tr");
  for (const col of shown) {
    const th = document.createElement("th");
    th.textContent = col.title;
    head.appendChild(th);
  }
  table.appendChild(head);
  for (const row of response.rows) {
    const tr = document.createElement("tr");
    table.appendChild(tr);
    if (row.error) {  // the file's name, then why it could not be predicted
      tr.className = "failed";
      tr.appendChild(cell(row.id));
      const reason = cell(row.error, "error");
      reason.colSpan = shown.length - 1;
      tr.appendChild(reason);
      continue;
    }
    for (const col of shown) tr.appendChild(cell(col.value(row), col.num ? "num" : ""));
    if (row.warning) {
      const note = document.createElement("tr");
      note.className = "note";
      const text = cell(`⚠ ${row.warning}`, "warning");
      text.colSpan = shown.length;
      note.appendChild(text);
      table.appendChild(note);
    }
  }
  $("results").hidden = false;
}

// The CSV exactly as `sklearn-bandgap predict` writes it (numbers with 6 decimals).
function toCsv(response) {
  const quote = (s) => (/[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  const text = ["id", "formula", "warning", "error"];
  const lines = [response.columns.map(quote).join(",")];
  for (const row of response.rows) {
    lines.push(response.columns.map((c) => {
      const v = row[c];
      if (v === null || v === undefined) return "";
      return quote(text.includes(c) ? String(v) : Number(v).toFixed(6));
    }).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

async function predict() {
  const form = new FormData();
  for (const file of pending) form.append("files", file, file.name);
  const pasted = $("paste").value.trim();
  if (pasted) form.append("files", new Blob([pasted + "\n"], { type: "text/plain" }), "pasted");
  if (!pending.length && !pasted) {
    setStatus("Pick, drop or paste at least one structure first.", true);
    return;
  }
  form.append("formation_energy", $("energy").checked ? "true" : "false");
  $("predict").disabled = true;
  setStatus("Predicting…");
  try {
    const reply = await fetch("/api/predict", { method: "POST", body: form });
    const body = await reply.json().catch(() => ({ detail: reply.statusText }));
    if (!reply.ok) {
      setStatus(`The server refused the request (${reply.status}): ${body.detail}`, true);
      return;
    }
    render(body);
    setStatus(`${body.n_predicted} predicted, ${body.n_failed} could not be`);
    pending = [];
  } catch (err) {
    setStatus(`No answer from the server: ${err}`, true);
  } finally {
    $("predict").disabled = false;
  }
}

function download() {
  if (!last) return;
  const url = URL.createObjectURL(new Blob([toCsv(last)], { type: "text/csv" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = "predictions.csv";
  document.body.appendChild(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

function figuresTable(test, unit) {
  const table = document.createElement("table");
  const head = document.createElement("tr");
  for (const t of ["structures", "n", `MAE (${unit})`, `RMSE (${unit})`, "R²"]) {
    const th = document.createElement("th"); th.textContent = t; head.appendChild(th);
  }
  table.appendChild(head);
  const parts = "mae" in test ? { all: test } : test;
  for (const [name, f] of Object.entries(parts)) {
    if (typeof f !== "object" || !("mae" in f)) continue;
    const tr = document.createElement("tr");
    tr.append(cell(name.replaceAll("_", " ")), cell(f.n, "num"), cell(fmt(f.mae), "num"),
      cell(fmt(f.rmse), "num"), cell(fmt(f.r2), "num"));
    table.appendChild(tr);
  }
  return table;
}

async function showCard(name) {
  const card = await (await fetch(`/api/models/${encodeURIComponent(name)}`)).json();
  const body = $("card-body");
  body.replaceChildren();
  const add = (tag, text) => { const e = document.createElement(tag); e.textContent = text; body.appendChild(e); return e; };
  add("h2", card.name);
  add("p", card.description);
  add("p", card.estimator);
  const unit = card.outputs[0].unit;
  const split = card.split;
  add("h3", `Test: ${split.n_test} crystals of formulas never seen in training`);
  body.appendChild(figuresTable(card.test, unit));
  if (typeof card.test.roc_auc === "number") add("p", `Metal / non-metal ROC-AUC: ${fmt(card.test.roc_auc)}`);
  const img = document.createElement("img");
  img.src = `/api/models/${encodeURIComponent(name)}/parity.png`;
  img.alt = `Parity plot of ${name} on its test split`;
  body.appendChild(img);
  add("p", `Split: ${split.kind}, test size ${split.test_size}, seed ${split.seed}; trained on ${split.n_train}.`);
  if (card.note) add("p", card.note);
  $("card").showModal();
}

async function loadModels() {
  const list = $("model-list");
  try {
    const models = await (await fetch("/api/models")).json();
    for (const m of models) {
      const li = document.createElement("li");
      li.textContent = `${m.name}: ${m.description}; test MAE ${fmt(m.test_mae)} ${m.outputs[0].unit} (${m.n_test} unseen formulas)`;
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "card";
      button.addEventListener("click", () => showCard(m.name));
      li.appendChild(button);
      list.appendChild(li);
    }
  } catch (err) {
    list.textContent = `Cannot list the models: ${err}`;
  }
}

window.addEventListener("DOMContentLoaded", () => {
  const drop = $("drop");
  $("files").addEventListener("change", (e) => addFiles(e.target.files));
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("files").click(); });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    addFiles(e.dataTransfer.files);
  });
  $("predict").addEventListener("click", predict);
  $("download").addEventListener("click", download);
  loadModels();
});
