// The page: reads the catalog, builds the form, the live view and the gallery, switches tabs.

import { ApiError, get, post } from "./api.js";
import { GenerateForm } from "./form.js";
import { Gallery } from "./gallery.js";
import { InputPanel, QUICK_METHODS } from "./input_panel.js";
import { LiveJobs } from "./live.js";

const $ = (id) => document.getElementById(id);

function showView(name) {
  for (const tab of document.querySelectorAll(".topbar [role=tab]")) {
    const on = tab.dataset.view === name;
    tab.setAttribute("aria-selected", String(on));
    $(`view-${tab.dataset.view}`).hidden = !on;
  }
  history.replaceState(null, "", `#${name}`);
}

async function watchHealth() {
  const status = $("server-status");
  try {
    const h = await (await fetch("/health")).json();
    status.textContent = h.ready ? `${h.workers_ready}/${h.workers_total} workers ready` : "workers starting…";
    status.dataset.state = h.ready ? "ok" : "starting";
    if (h.queue_depth) status.textContent += ` · ${h.queue_depth} queued`;
  } catch {
    status.textContent = "server unreachable";
    status.dataset.state = "down";
  }
  setTimeout(watchHealth, 3000);
}

// What the default preset names that this install lacks (a checkpoint, a LoRA, a style), and what is used
// instead: said once here, beside the server's status, not in every job's warnings.
function showInstallNotes(catalog, config) {
  const preset = catalog.presets.find((p) => p.name === config.default_preset);
  const notes = preset ? preset.adjustments : [];
  const box = $("install-notes");
  box.hidden = !notes.length;
  if (!notes.length) return;
  const wide = (text) => Object.assign(document.createElement("span"), { className: "wide", textContent: text });
  box.querySelector("summary").replaceChildren(wide(`preset ${preset.name}: `),
    `${notes.length} change${notes.length === 1 ? "" : "s"}`, wide(" for this install"));
  box.querySelector("ul").replaceChildren(...notes.map((n) => Object.assign(document.createElement("li"), { textContent: n })));
}

async function main() {
  watchHealth();
  let catalog;
  let config;
  try {
    [catalog, config] = await Promise.all([get("/v1/catalog"), get("/v1/ui/config")]);
  } catch (err) {
    $("live-title").textContent = `Cannot read the catalog: ${err.message}`;
    return;
  }
  showInstallNotes(catalog, config);
  const form = new GenerateForm($("gen-form"), catalog, config);
  const panel = new InputPanel($("gen-form"), catalog, () => form.effective(form.preset), (err) => form.showError(err));
  $("gen-form").elements.preset.addEventListener("change", () => panel.reset());
  $("reset-form").addEventListener("click", () => panel.reset());
  let gallery = null;
  const live = new LiveJobs({
    onImageOpen: (id) => gallery.open(id),
    onImagesChanged: () => { gallery.stale = true; },
  });
  const submit = async () => {
    form.clearErrors();
    const button = $("generate");
    button.disabled = true;
    try {
      const body = { ...form.request(), ...(await panel.request()) };
      const accepted = await post("/v1/jobs", body).catch((err) => { throw panel.placeError(err); });
      live.track(accepted, body.prompt || body.uov_method || (body.inpaint_input_image && "Inpaint")
        || (body.image_prompts && "Image prompt"));
    } catch (err) {
      form.showError(err instanceof ApiError ? err : new ApiError(0, String(err)));
    } finally {
      button.disabled = false;
    }
  };
  gallery = new Gallery({
    onUse: (item) => {
      form.useImage(item);
      showView("generate");
      $("gen-form").elements.prompt.focus();
    },
    // A quick method runs at once with the form as it stands; the others fill the panel for more choices
    // (the method, a mask to paint).
    onInput: (item, action) => {
      form.clearErrors();
      panel.use(item, action);
      showView("generate");
      if (QUICK_METHODS.includes(action)) submit();
      else $("input-panel").scrollIntoView({ block: "nearest" });
    },
  });
  gallery.setModels(catalog.models.checkpoints.map((m) => m.name));

  $("gen-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  for (const tab of document.querySelectorAll(".topbar [role=tab]")) {
    tab.addEventListener("click", () => {
      showView(tab.dataset.view);
      if (tab.dataset.view === "gallery") gallery.shown();
    });
  }
  const start = location.hash === "#gallery" ? "gallery" : "generate";
  showView(start);
  if (start === "gallery") gallery.shown();
  live.connect();
  document.body.dataset.ready = "true";
}

main();
