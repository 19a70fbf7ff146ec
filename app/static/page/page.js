// The page for people: every image (chosen, dropped, pasted or drawn) goes to this service's
// POST predict?return_input=png as one request, and its card shows the answer: label, calibrated
// confidence, whether the image looks like clothing at all (ood_score against the model's
// threshold), the ten probabilities in class order, the 28x28 input the model saw, and the model
// version. "Show heatmap" sends the image again to POST explain and lays its attributions over the
// 28x28 input; the "What the model learned" panel shows the linear model's templates.
// Plain JavaScript, no build step. Every URL is relative, so the page works under a path prefix.
"use strict";

(() => {
  const PREDICT_URL = "predict?return_input=png";
  const READY_URL = "readyz";
  const EXPLAIN_URL = "explain";
  const TEMPLATES_URL = "explain/templates.png";
  // The diverging colours of app/templates_image.py (blue against, near-white 0, red for), at
  // -1, -0.5, 0, 0.5 and 1 of the scale.
  const COLOURS = [[5, 48, 97], [146, 197, 222], [247, 247, 247], [244, 165, 130], [103, 0, 31]];
  // A short headline per API error status; the API's own message follows it.
  const HEADLINES = {
    400: "The service could not read this file as an image.",
    401: "The service needs an API key.",
    413: "The file is too large for the service.",
    415: "The service does not accept this kind of file.",
    422: "The service refused this input.",
    503: "The model is not ready yet; try again in a moment.",
  };

  const byId = (id) => document.getElementById(id);
  const results = byId("results");
  const noResults = byId("no-results");
  const template = byId("result-template");
  const canvas = byId("canvas");
  const pen = canvas.getContext("2d");
  const sent = new WeakMap(); // card -> {blob, filename}: what "Show heatmap" sends again

  // ---------- the service's model ----------

  async function showModelStatus() {
    const status = byId("model-status");
    try {
      const response = await fetch(READY_URL, { headers: { Accept: "application/json" } });
      const body = await response.json().catch(() => null);
      const error = describeError(response, body);
      status.textContent = response.ok
        ? `Model ${body.model_version} is ready (${body.backend} on ${body.device}).`
        : `${error.headline} ${error.detail}`;
    } catch (error) {
      status.textContent = "The service does not answer.";
    }
  }

  // ---------- the API key ----------
  // Asked for only when the service answers 401, kept in this tab's sessionStorage only (gone when
  // the tab closes), and sent as a Bearer token with each prediction.

  const KEY_STORE = "fashion-mnist-api-key";
  const keyForm = byId("key-form");
  const keyInput = byId("api-key");
  const keyNote = byId("key-note");
  const waitingForKey = []; // predictions to send again once a key is entered

  function keyHeaders() {
    const key = sessionStorage.getItem(KEY_STORE);
    return key ? { Authorization: `Bearer ${key}` } : {};
  }

  function askForKey(retry) {
    const refused = sessionStorage.getItem(KEY_STORE) !== null;
    sessionStorage.removeItem(KEY_STORE);
    waitingForKey.push(retry);
    keyNote.textContent = refused ? "The service did not accept that key; enter another."
      : "This service needs an API key; the images wait until you enter it.";
    keyForm.hidden = false;
    keyInput.focus();
  }

  keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORE, key);
    keyInput.value = "";
    keyForm.hidden = true;
    waitingForKey.splice(0).forEach((retry) => retry());
  });

  // ---------- result cards ----------

  function newCard(title, blob) {
    const card = template.content.firstElementChild.cloneNode(true);
    card.dataset.state = "pending";
    card.querySelector(".source").textContent = title;
    card.querySelector(".label").textContent = "Asking the model…";
    const original = card.querySelector(".original");
    if (blob.type.startsWith("image/")) {
      original.src = URL.createObjectURL(blob);
      original.alt = `The image sent: ${title}`;
      // A file that claims to be an image but is not: no broken-image icon.
      original.addEventListener("error", () => original.closest("figure").remove(), { once: true });
    } else {
      original.closest("figure").remove();
    }
    return card;
  }

  function removeCard(card) {
    const original = card.querySelector(".original");
    if (original && original.src.startsWith("blob:")) URL.revokeObjectURL(original.src);
    card.remove();
  }

  function showPrediction(card, answer) {
    card.dataset.state = "done";
    card.querySelector(".label").textContent = answer.label;
    card.querySelector(".confidence").textContent = percent(answer.confidence);
    showOod(card, answer);
    const seen = card.querySelector(".model-input");
    seen.src = `data:image/png;base64,${answer.input_png}`;
    seen.alt = `The 28×28 image the model saw, classified as ${answer.label}`;
    const bars = card.querySelector(".bars");
    // The API keeps the probabilities in class-index order.
    Object.entries(answer.probabilities).forEach(([name, probability], index) => {
      const item = document.createElement("li");
      item.dataset.probability = String(probability);
      if (index === answer.class_index) item.classList.add("top");
      const fill = element("span", "fill");
      fill.style.width = `${(probability * 100).toFixed(2)}%`; // CSSOM: allowed by the CSP
      const track = element("span", "track");
      track.append(fill);
      item.append(element("span", "name", name), track, element("span", "value", percent(probability)));
      bars.append(item);
    });
    card.querySelector(".version").textContent = `Model version ${answer.model_version}`;
    card.dataset.classIndex = String(answer.class_index);
    const toggle = card.querySelector(".heatmap-toggle");
    toggle.hidden = false;
    toggle.addEventListener("click", () => toggleHeatmap(card));
    const warning = answer.out_of_distribution ? "; this does not look like clothing" : "";
    announce(`${card.querySelector(".source").textContent}: ${answer.label}, ${percent(answer.confidence)}${warning}`);
  }

  // ood_score and out_of_distribution are null for a model trained before the detector: no line.
  function showOod(card, answer) {
    if (answer.out_of_distribution === null || answer.out_of_distribution === undefined) return;
    card.querySelector(".confidence-kind").hidden = false;
    card.dataset.ood = String(answer.out_of_distribution);
    const line = card.querySelector(".ood");
    const score = answer.ood_score.toFixed(1);
    line.textContent = answer.out_of_distribution
      ? `This does not look like clothing (out-of-distribution score ${score}): the answer is a guess.`
      : `Looks like the clothing the model knows (out-of-distribution score ${score}).`;
    line.hidden = false;
  }

  function showError(card, { headline, detail }) {
    card.dataset.state = "error";
    card.querySelector(".body").remove();
    const error = card.querySelector(".error");
    error.append(element("strong", "headline", headline));
    if (detail) error.append(element("span", "detail", detail));
    announce(`${card.querySelector(".source").textContent}: ${headline}`);
  }

  // The API's errors are JSON {"error": {"code", "message"}}; a proxy's may be anything.
  function describeError(response, body) {
    const error = body && body.error;
    // REJECT_OUT_OF_DISTRIBUTION=1: the service refuses what is not clothing.
    if (error && error.code === "out_of_distribution") {
      return { headline: "This does not look like clothing.", detail: `The service says: ${error.message}` };
    }
    return {
      headline: HEADLINES[response.status] || "The service answered with an error.",
      detail: error && error.message ? `The service says: ${error.message} (HTTP ${response.status}, ${error.code})`
        : `HTTP ${response.status} ${response.statusText}`.trim(),
    };
  }

  // ---------- asking the service ----------

  async function predictInto(card, blob, filename) {
    sent.set(card, { blob, filename });
    let response;
    try {
      response = await postImage(PREDICT_URL, blob, filename);
    } catch (error) {
      showError(card, { headline: "The service could not be reached, or it closed the connection.",
        detail: "It can do that for a file over its upload limit." });
      return;
    }
    if (response.status === 401) {
      card.querySelector(".label").textContent = "Waiting for the API key…";
      return new Promise((resolve) => askForKey(() => resolve(predictInto(card, blob, filename))));
    }
    const body = await response.json().catch(() => null);
    if (response.ok && body && body.label !== undefined) showPrediction(card, body);
    else showError(card, describeError(response, body));
  }

  function postImage(url, blob, filename) {
    const form = new FormData();
    form.append("image", blob, filename);
    return fetch(url, { method: "POST", body: form, headers: { Accept: "application/json", ...keyHeaders() } });
  }

  // ---------- explanations ----------

  function colour(t) {
    const x = ((Math.max(-1, Math.min(1, t)) + 1) / 2) * (COLOURS.length - 1);
    const i = Math.min(Math.floor(x), COLOURS.length - 2);
    return COLOURS[i].map((c, k) => Math.round(c + (COLOURS[i + 1][k] - c) * (x - i)));
  }

  // Each pixel in its colour, more opaque the larger its share: the input shows through where
  // a pixel barely counts.
  function drawHeatmap(heatmap, attributions, scale) {
    const context = heatmap.getContext("2d");
    const image = context.createImageData(28, 28);
    attributions.flat().forEach((value, index) => {
      const share = Math.min(1, Math.abs(value) / scale);
      image.data.set([...colour(value / scale), Math.round(235 * Math.sqrt(share))], index * 4);
    });
    context.putImageData(image, 0, 0);
  }

  function drawLegend(legend, scale, explanation) {
    const bar = legend.querySelector(".legend-bar");
    const context = bar.getContext("2d");
    for (let x = 0; x < bar.width; x += 1) {
      context.fillStyle = `rgb(${colour((2 * x) / (bar.width - 1) - 1).join(",")})`;
      context.fillRect(x, 0, 1, bar.height);
    }
    legend.querySelector(".legend-min").textContent = `−${scale.toPrecision(2)}`;
    legend.querySelector(".legend-max").textContent = `+${scale.toPrecision(2)}`;
    const method = explanation.method === "exact" ? "exact" : `integrated gradients, ${explanation.steps} steps`;
    legend.querySelector(".legend-text").textContent =
      `Each pixel's share of the ${explanation.class} score: red for, blue against (${method}).`;
  }

  async function toggleHeatmap(card) {
    const toggle = card.querySelector(".heatmap-toggle");
    const heatmap = card.querySelector(".heatmap");
    const legend = card.querySelector(".heatmap-legend");
    if (toggle.getAttribute("aria-pressed") === "true") {
      heatmap.hidden = true;
      legend.hidden = true;
      toggle.setAttribute("aria-pressed", "false");
      toggle.textContent = "Show heatmap";
      card.dataset.heatmap = "hidden";
      return;
    }
    if (!card.dataset.heatmap || card.dataset.heatmap === "error") {
      toggle.disabled = true;
      toggle.textContent = "Explaining…";
      const { blob, filename } = sent.get(card);
      let response = null;
      let body = null;
      try {
        response = await postImage(`${EXPLAIN_URL}?class=${card.dataset.classIndex}`, blob, filename);
        body = await response.json().catch(() => null);
      } catch (error) {
        // shown below as an error
      }
      toggle.disabled = false;
      if (!response || !response.ok || !body || !body.explanation) {
        const error = response ? describeError(response, body) : { headline: "The service could not be reached." };
        legend.hidden = false;
        legend.querySelector(".legend-bar").hidden = true;
        legend.querySelector(".legend-values").hidden = true;
        legend.querySelector(".legend-text").textContent = `${error.headline} ${error.detail || ""}`.trim();
        toggle.textContent = "Show heatmap";
        card.dataset.heatmap = "error";
        return;
      }
      legend.querySelector(".legend-bar").hidden = false;
      legend.querySelector(".legend-values").hidden = false;
      const explanation = body.explanation;
      const scale = Math.max(...explanation.attributions.flat().map(Math.abs)) || 1;
      drawHeatmap(heatmap, explanation.attributions, scale);
      drawLegend(legend, scale, explanation);
    }
    heatmap.hidden = false;
    legend.hidden = false;
    toggle.setAttribute("aria-pressed", "true");
    toggle.textContent = "Hide heatmap";
    card.dataset.heatmap = "shown";
    announce(`${card.querySelector(".source").textContent}: heatmap shown`);
  }

  async function showTemplates() {
    const status = byId("templates-status");
    const image = byId("templates");
    try {
      const response = await fetch(TEMPLATES_URL, { headers: keyHeaders() });
      if (response.ok) {
        image.src = URL.createObjectURL(await response.blob());
        image.hidden = false;
        status.textContent = "The linear model scores a class by weighing every pixel: each template "
          + "shows one class's weights, red where a light pixel raises its score, blue where it lowers it.";
        return;
      }
      const body = await response.json().catch(() => null);
      status.textContent = `No templates: ${describeError(response, body).detail}`;
    } catch (error) {
      status.textContent = "The service does not answer.";
    }
  }

  async function predictFiles(files, titleOf) {
    const cards = files.map((file) => newCard(titleOf(file), file));
    results.prepend(...cards); // the newest images on top, in the order they were given
    updateEmpty();
    // One request per image, one at a time: every card gets its own answer or error.
    for (const [index, file] of files.entries()) {
      await predictInto(cards[index], file, file.name || "image");
    }
  }

  // ---------- files: choose, drop, paste ----------

  const fileInput = byId("file-input");
  fileInput.addEventListener("change", () => {
    const files = [...fileInput.files];
    fileInput.value = ""; // choosing the same file again is a new change
    if (files.length) predictFiles(files, (file) => file.name);
  });

  const dropZone = byId("drop-zone");
  const carriesFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
  document.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault(); // otherwise the browser opens the dropped file instead of this page
    dropZone.classList.add("dragging");
  });
  document.addEventListener("dragleave", (event) => {
    if (!event.relatedTarget) dropZone.classList.remove("dragging");
  });
  document.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    dropZone.classList.remove("dragging");
    const files = [...event.dataTransfer.files];
    if (files.length) predictFiles(files, (file) => file.name);
  });

  document.addEventListener("paste", (event) => {
    const files = [...((event.clipboardData && event.clipboardData.files) || [])];
    if (!files.length) {
      announce("The clipboard holds no image to paste.");
      return;
    }
    event.preventDefault();
    predictFiles(files, (file) => `Pasted image (${file.type || "unknown type"})`);
  });

  // ---------- drawing ----------

  let drawing = null; // the last point of the stroke in progress
  let drawingCard = null; // the drawing's card, replaced after each stroke

  function colours() {
    const choice = document.querySelector('input[name="colours"]:checked').value;
    return choice === "black-on-white" ? { paper: "#ffffff", ink: "#000000" } : { paper: "#000000", ink: "#ffffff" };
  }

  function clearCanvas() {
    pen.fillStyle = colours().paper;
    pen.fillRect(0, 0, canvas.width, canvas.height);
  }

  function canvasPoint(event) {
    const box = canvas.getBoundingClientRect(); // the canvas may be shown smaller than 280 pixels
    return { x: (event.clientX - box.left) * (canvas.width / box.width),
      y: (event.clientY - box.top) * (canvas.height / box.height) };
  }

  function strokeTo(point) {
    pen.strokeStyle = colours().ink;
    pen.lineWidth = canvas.width / 12; // about Fashion-MNIST's stroke width once shrunk to 28 pixels
    pen.lineCap = "round";
    pen.lineJoin = "round";
    pen.beginPath();
    pen.moveTo(drawing.x, drawing.y);
    pen.lineTo(point.x, point.y);
    pen.stroke();
    drawing = point;
  }

  canvas.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    drawing = canvasPoint(event);
    strokeTo(drawing); // a click leaves a dot
  });
  canvas.addEventListener("pointermove", (event) => {
    if (drawing) strokeTo(canvasPoint(event));
  });
  const endStroke = () => {
    if (!drawing) return;
    drawing = null;
    predictDrawing();
  };
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);

  function predictDrawing() {
    canvas.toBlob((blob) => {
      const card = newCard("Drawing", blob);
      if (drawingCard && drawingCard.isConnected) {
        drawingCard.replaceWith(card);
        removeCard(drawingCard);
      } else {
        results.prepend(card);
      }
      drawingCard = card;
      updateEmpty();
      predictInto(card, blob, "drawing.png");
    }, "image/png");
  }

  byId("predict-drawing").addEventListener("click", predictDrawing);
  byId("clear-drawing").addEventListener("click", clearCanvas);
  for (const radio of document.querySelectorAll('input[name="colours"]')) {
    radio.addEventListener("change", clearCanvas);
  }

  // ---------- the rest ----------

  byId("clear-results").addEventListener("click", () => {
    [...results.children].forEach(removeCard);
    drawingCard = null;
    updateEmpty();
  });

  function updateEmpty() {
    noResults.hidden = results.children.length > 0;
  }

  function announce(text) {
    byId("announcer").textContent = text;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function percent(probability) {
    return `${(probability * 100).toFixed(1)} %`;
  }

  clearCanvas();
  showModelStatus();
  showTemplates();
})();
