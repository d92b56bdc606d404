// The inpaint mask painter: a <canvas> exactly the image's size in pixels, laid over the image and scaled
// with it on screen, so strokes land in image pixels whatever the zoom. Strokes are white on a
// transparent layer; the mask sent is an opaque PNG of the image's size, white where painted, black elsewhere.

// Stroke edges are antialiased: a pixel at least half covered counts as painted, as the worker reads a
// mask (grey level above 127).
const PAINTED = 128;

export class MaskPainter {
  constructor(canvas, onChange) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d", { willReadFrequently: true });
    this.onChange = onChange;
    this.brush = 32; // diameter, in image pixels
    this.erasing = false;
    this.version = 0; // counts changes: an exported mask is sent again only when this moved
    this.last = null; // the pointer's last point while a stroke is drawn
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", (e) => this.up(e));
  }

  get width() {
    return this.canvas.width;
  }

  get height() {
    return this.canvas.height;
  }

  // A new image: a fresh, empty mask of its size.
  reset(width, height) {
    this.canvas.width = width;
    this.canvas.height = height;
    this.changed();
  }

  // Image pixels under the pointer (the canvas is drawn scaled to its box on screen).
  point(e) {
    const box = this.canvas.getBoundingClientRect();
    return { x: ((e.clientX - box.left) * this.width) / box.width, y: ((e.clientY - box.top) * this.height) / box.height };
  }

  down(e) {
    if (e.button !== 0 || !this.width) return;
    e.preventDefault();
    this.canvas.setPointerCapture(e.pointerId);
    this.last = this.point(e);
    this.stroke(this.last, this.last);
  }

  move(e) {
    if (!this.last) return;
    const p = this.point(e);
    this.stroke(this.last, p);
    this.last = p;
  }

  up() {
    if (!this.last) return;
    this.last = null;
    this.changed();
  }

  // A round-ended segment of the brush's width: every point within brush/2 of it. The end discs are
  // filled as well, since a zero-length segment draws nothing.
  stroke(a, b) {
    const c = this.ctx;
    c.save();
    c.globalCompositeOperation = this.erasing ? "destination-out" : "source-over";
    c.strokeStyle = c.fillStyle = "#fff";
    c.lineWidth = this.brush;
    c.lineCap = "round";
    c.beginPath();
    c.moveTo(a.x, a.y);
    c.lineTo(b.x, b.y);
    c.stroke();
    for (const p of [a, b]) {
      c.beginPath();
      c.arc(p.x, p.y, this.brush / 2, 0, 2 * Math.PI);
      c.fill();
    }
    c.restore();
  }

  clear() {
    this.ctx.clearRect(0, 0, this.width, this.height);
    this.changed();
  }

  // Painted ↔ not painted, for every pixel.
  invert() {
    this.replace((painted) => !painted);
  }

  // A mask file of the image's size: its light pixels (grey above 127, transparent counts as black) become
  // the painted area.
  async load(file) {
    const bitmap = await createImageBitmap(file);
    try {
      if (bitmap.width !== this.width || bitmap.height !== this.height) {
        throw new Error(`the mask file is ${bitmap.width}×${bitmap.height} but the image is ${this.width}×${this.height}`);
      }
      const scratch = new OffscreenCanvas(this.width, this.height).getContext("2d", { willReadFrequently: true });
      scratch.drawImage(bitmap, 0, 0);
      const px = scratch.getImageData(0, 0, this.width, this.height).data;
      this.replace((_, i) => (0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2]) * (px[i + 3] / 255) >= PAINTED);
    } finally {
      bitmap.close();
    }
  }

  // Every pixel set from a rule (was it painted, its byte offset): opaque white or transparent.
  replace(rule) {
    if (!this.width) return;
    const data = this.ctx.getImageData(0, 0, this.width, this.height);
    const px = data.data;
    for (let i = 0; i < px.length; i += 4) {
      const on = rule(px[i + 3] >= PAINTED, i);
      px[i] = px[i + 1] = px[i + 2] = 255;
      px[i + 3] = on ? 255 : 0;
    }
    this.ctx.putImageData(data, 0, 0);
    this.changed();
  }

  isEmpty() {
    if (!this.width) return true;
    const px = this.ctx.getImageData(0, 0, this.width, this.height).data;
    for (let i = 3; i < px.length; i += 4) if (px[i] >= PAINTED) return false;
    return true;
  }

  // The mask as a PNG Blob: opaque, white (255) where painted, black (0) elsewhere, the image's size.
  async toBlob() {
    const out = new OffscreenCanvas(this.width, this.height);
    const ctx = out.getContext("2d");
    const data = this.ctx.getImageData(0, 0, this.width, this.height);
    const px = data.data;
    for (let i = 0; i < px.length; i += 4) {
      px[i] = px[i + 1] = px[i + 2] = px[i + 3] >= PAINTED ? 255 : 0;
      px[i + 3] = 255;
    }
    ctx.putImageData(data, 0, 0);
    return out.convertToBlob({ type: "image/png" });
  }

  changed() {
    this.version++;
    this.onChange?.();
  }
}
