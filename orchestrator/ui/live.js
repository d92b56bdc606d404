// Jobs as they happen: one SSE stream of every job's events feeds the live panel (the job in focus:
// progress over the whole job, the latest preview, the images as they finish, Stop and Skip) and the
// queue panel (every queued or running job, with its position, progress and a cancel button).

import { eventSource, get, imageUrl, parseJSON, post } from "./api.js";

const EVENTS = ["queued", "started", "progress", "image_ready", "image_skipped", "retrying", "finished", "failed", "cancelled"];
const ACTIVE = new Set(["queued", "running"]);

export class LiveJobs {
  constructor({ onImageOpen, onImagesChanged }) {
    this.jobs = new Map(); // id → {id, status, position, progress, images, prompt, mine, error, warnings, preview}
    this.focus = null;
    this.seq = 0; // events that set a status or position; a job's `seq` is that of its last one
    this.round = 0; // queue refreshes started
    this.onImageOpen = onImageOpen;
    this.onImagesChanged = onImagesChanged;
    this.el = Object.fromEntries(["live-title", "live-eta", "live-progress", "live-progress-label", "live-preview",
      "live-results", "live-warnings", "queue-list", "queue-count", "queue-empty", "stop", "skip"]
      .map((id) => [id, document.getElementById(id)]));
    this.el.stop.addEventListener("click", () => this.focus && this.act(this.focus, "cancel"));
    this.el.skip.addEventListener("click", () => this.focus && this.act(this.focus, "skip"));
    this.el["queue-list"].addEventListener("click", (e) => {
      const row = e.target.closest("[data-job]");
      if (!row) return;
      if (e.target.closest(".cancel")) this.act(row.dataset.job, "cancel");
      else this.show(row.dataset.job);
    });
  }

  async connect() {
    this.source = await eventSource("/v1/events");
    this.source.addEventListener("open", () => this.refresh());
    for (const type of EVENTS) this.source.addEventListener(type, (e) => this.onEvent(type, parseJSON(e.data)));
  }

  job(id) {
    if (!this.jobs.has(id)) this.jobs.set(id, { id, status: "queued", position: null, progress: null, images: [], warnings: [] });
    return this.jobs.get(id);
  }

  // Positions move whenever a job starts or ends: read the queue again (debounced). Answers can arrive after
  // newer events: a refresh that a later one superseded is dropped, and an event that set a job's status or
  // position while its state was being read wins over what was read (`seq` counts such events).
  refresh() {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(async () => {
      const round = ++this.round;
      const since = this.seq;
      try {
        const [running, queued] = await Promise.all([get("/v1/jobs?status=running&limit=100"), get("/v1/jobs?status=queued&limit=200")]);
        if (round !== this.round) return;
        const active = new Set();
        for (const s of [...running.jobs, ...queued.jobs]) {
          const j = this.job(s.id);
          active.add(s.id);
          if (j.seq > since) continue;
          Object.assign(j, { status: s.status, position: s.position });
          j.progress = j.progress || { step: 0, total: 0, images_done: s.images_done, images_total: s.images_total };
        }
        for (const j of this.jobs.values()) if (ACTIVE.has(j.status) && !active.has(j.id)) await this.reload(j.id);
        if (this.focus) await this.reload(this.focus);
        if (round === this.round) this.render();
      } catch (err) {
        console.warn("queue refresh failed", err);
      }
    }, 120);
  }

  async reload(id) {
    const since = this.seq;
    const view = await get(`/v1/jobs/${encodeURIComponent(id)}`);
    const j = this.job(id);
    if (!(j.seq > since)) Object.assign(j, { status: view.status, position: view.position });
    Object.assign(j, { error: view.error, warnings: view.warnings });
    j.progress = { ...view.progress, preview: null };
    j.images = view.images;
    j.prompt = j.prompt ?? view.normalized?.request?.prompt;
  }

  onEvent(type, ev) {
    const j = this.job(ev.job_id);
    if (ev.status || ev.position !== undefined) j.seq = ++this.seq;
    if (ev.status) j.status = ev.status;
    if (ev.position !== undefined) j.position = ev.position;
    if (ev.progress) {
      if (!j.started && ev.progress.step > 0) j.started = { at: performance.now(), step: ev.progress.step };
      j.progress = ev.progress;
      if (ev.progress.preview) j.preview = `data:image/jpeg;base64,${ev.progress.preview}`;
    }
    if (ev.image) {
      j.images = [...j.images.filter((i) => i.index !== ev.image.index), ev.image].sort((a, b) => a.index - b.index);
      if (ev.image.status === "done") this.onImagesChanged?.();
    }
    if (type === "started") j.status = "running";
    if (type === "retrying") j.note = ev.message;
    if (ev.error) j.error = ev.error;
    if (["started", "finished", "failed", "cancelled"].includes(type)) this.refresh();
    if (type === "queued" && j.mine && !this.focusBusy()) this.focus = j.id;
    this.render();
  }

  focusBusy() {
    const f = this.focus && this.jobs.get(this.focus);
    return Boolean(f && ACTIVE.has(f.status));
  }

  // A job this page submitted: in focus at once unless the one in focus is still going.
  track(accepted, prompt) {
    const j = this.job(accepted.id);
    Object.assign(j, { mine: true, prompt });
    if (!j.seq) Object.assign(j, { status: accepted.status, position: accepted.position }); // else events were first
    if (!this.focusBusy()) this.focus = j.id;
    this.render();
    this.refresh();
  }

  async show(id) {
    this.focus = id;
    await this.reload(id).catch(() => {});
    this.render();
  }

  async act(id, action) {
    try {
      const result = await post(`/v1/jobs/${encodeURIComponent(id)}/${action}`);
      const j = this.job(id);
      if (action === "cancel" && result.changed) j.note = result.message;
      this.refresh();
    } catch (err) {
      this.job(id).note = err.message;
      this.render();
    }
  }

  // ----- drawing ---------------------------------------------------------------------------------

  render() {
    this.renderLive();
    this.renderQueue();
  }

  renderLive() {
    const el = this.el;
    const j = this.focus && this.jobs.get(this.focus);
    el.stop.disabled = !(j && ACTIVE.has(j.status));
    el.skip.disabled = !(j && j.status === "running");
    if (!j) return;
    const p = j.progress || { step: 0, total: 0, images_done: 0, images_total: 0 };
    const pct = p.total ? Math.round((100 * p.step) / p.total) : j.status === "succeeded" ? 100 : 0;
    const where = j.status === "queued" && j.position != null ? ` · ${j.position ? `${j.position} ahead` : "next"}` : "";
    const image = p.image_index != null && j.status === "running" ? ` · image ${p.image_index + 1}/${p.images_total}` : "";
    el["live-title"].textContent = `${short(j.id)} · ${j.status}${where}${image}` + (j.error ? ` · ${j.error.message}` : "");
    el["live-title"].dataset.status = j.status;
    el["live-progress"].setAttribute("aria-valuenow", String(pct));
    el["live-progress"].style.setProperty("--pct", `${pct}%`);
    el["live-progress"].dataset.status = j.status;
    el["live-progress-label"].textContent = p.total ? `step ${p.step}/${p.total} · ${p.images_done}/${p.images_total} images` : "";
    el["live-eta"].textContent = j.status === "running" ? eta(j) : "";
    const preview = el["live-preview"];
    const showPreview = j.preview && j.status === "running";
    preview.hidden = !showPreview;
    if (showPreview && preview.getAttribute("src") !== j.preview) preview.src = j.preview;
    const done = j.images.filter((i) => i.status === "done");
    const key = `${j.id}:${done.map((i) => i.index).join(",")}`;
    if (el["live-results"].dataset.key !== key) {
      el["live-results"].dataset.key = key;
      el["live-results"].replaceChildren(...done.map((i) => this.result(i)));
    }
    el["live-results"].dataset.count = String(done.length);
    const notes = [...(j.warnings || []), ...(j.note ? [j.note] : [])];
    el["live-warnings"].replaceChildren(...notes.map((w) => Object.assign(document.createElement("li"), { textContent: w })));
  }

  result(image) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "result";
    button.title = `seed ${image.seed}`;
    const img = document.createElement("img");
    img.src = imageUrl(image);
    img.alt = `image ${image.index + 1}, seed ${image.seed}`;
    img.loading = "lazy";
    button.append(img);
    button.addEventListener("click", () => image.history_id != null && this.onImageOpen(image.history_id));
    return button;
  }

  // Rows are kept and updated in place: progress re-renders the list many times a second, and a row rebuilt
  // between a button's mousedown and mouseup would swallow the click.
  renderQueue() {
    const active = [...this.jobs.values()].filter((j) => ACTIVE.has(j.status))
      .sort((a, b) => (a.status === "running" ? -1 : b.status === "running" ? 1 : (a.position ?? 1e9) - (b.position ?? 1e9)));
    this.el["queue-count"].textContent = String(active.length);
    this.el["queue-empty"].hidden = active.length > 0;
    const list = this.el["queue-list"];
    const stale = new Map([...list.children].map((li) => [li.dataset.job, li]));
    active.forEach((j, i) => {
      const li = stale.get(j.id) ?? queueRow(j.id);
      stale.delete(j.id);
      this.fillRow(li, j);
      if (list.children[i] !== li) list.insertBefore(li, list.children[i] ?? null);
    });
    for (const li of stale.values()) li.remove();
  }

  fillRow(li, j) {
    const p = j.progress || {};
    const pct = p.total ? Math.round((100 * p.step) / p.total) : 0;
    const running = j.status === "running";
    li.dataset.status = j.status;
    li.className = j.id === this.focus ? "focus" : "";
    const pos = li.querySelector(".pos");
    pos.textContent = running ? "▶" : `#${j.position == null ? "?" : j.position + 1}`;
    pos.title = running ? "running" : "place in the queue";
    li.querySelector(".prompt").textContent = j.prompt || short(j.id);
    li.querySelector(".mini").style.setProperty("--pct", `${pct}%`);
    li.querySelector(".count").textContent = p.images_total ? `${p.images_done ?? 0}/${p.images_total}` : "";
  }
}

function queueRow(id) {
  const li = document.createElement("li");
  li.dataset.job = id;
  li.innerHTML = `<span class="pos"></span><span class="what"><span class="prompt"></span>` +
    `<span class="mini"></span></span><span class="count muted"></span>` +
    `<button type="button" class="cancel" aria-label="cancel job">✕</button>`;
  return li;
}

function short(id) {
  return id.length > 10 ? id.slice(0, 8) : id;
}

function eta(j) {
  const p = j.progress;
  if (!j.started || !p || !p.total || p.step <= j.started.step) return "";
  const rate = (p.step - j.started.step) / ((performance.now() - j.started.at) / 1000);
  const left = Math.max(0, Math.round((p.total - p.step) / rate));
  return left ? `about ${left < 90 ? `${left} s` : `${Math.round(left / 60)} min`} left` : "";
}
