// Painting a pixel mask over an image: brush, eraser and box, with mouse, pen or touch. The overlay shows
// the painted pixels and, lighter, every token they regenerate (a token is regenerated when any of its
// pixels is masked; inference/tasks.ts tokenMaskFromPixelMask).
export type MaskTool = 'brush' | 'eraser' | 'box';

const PAINTED = 'rgba(255, 40, 140, 0.6)';
const REGENERATED = 'rgba(255, 40, 140, 0.22)';
/** Overlay pixels per image pixel, so token outlines stay sharp. */
const OVERLAY_SCALE = 8;

export class MaskPainter {
  mask: Float32Array;
  tool: MaskTool = 'brush';
  /** Brush radius in image pixels. */
  radius = 3;
  /** Whether pointer input paints (off while the mask is set by the task, as for complete). */
  enabled = true;
  private size = 0;
  private tokenSize = 1;
  private last: [number, number] | null = null;
  private boxStart: [number, number] | null = null;
  private boxEnd: [number, number] | null = null;
  private shown: Float32Array | null = null;

  constructor(
    private overlay: HTMLCanvasElement,
    private onChange: () => void,
  ) {
    this.mask = new Float32Array(0);
    overlay.addEventListener('pointerdown', (e) => this.down(e));
    overlay.addEventListener('pointermove', (e) => this.move(e));
    overlay.addEventListener('pointerup', (e) => this.up(e));
    overlay.addEventListener('pointercancel', () => this.cancel());
  }

  /** A new, empty mask for images of `size`² pixels and tokens of `tokenSize`² pixels. */
  reset(size: number, tokenSize: number): void {
    this.size = size;
    this.tokenSize = tokenSize;
    this.mask = new Float32Array(size * size);
    this.overlay.width = this.overlay.height = size * OVERLAY_SCALE;
    this.changed();
  }

  /** Shows a mask the task decides (complete's kept half) instead of the painted one; null shows that again. */
  showMask(mask: Float32Array | null): void {
    this.shown = mask;
    this.render();
  }

  clear(): void {
    this.mask.fill(0);
    this.changed();
  }

  invert(): void {
    this.mask = this.mask.map((v) => 1 - v);
    this.changed();
  }

  get empty(): boolean {
    return !this.mask.some((v) => v > 0.5);
  }

  /** The pointer's position in image pixels. */
  private at(e: PointerEvent): [number, number] {
    const r = this.overlay.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * this.size, ((e.clientY - r.top) / r.height) * this.size];
  }

  private down(e: PointerEvent): void {
    if (!this.enabled || !this.size || e.button > 0) return;
    this.overlay.setPointerCapture(e.pointerId);
    const p = this.at(e);
    if (this.tool === 'box') {
      this.boxStart = this.boxEnd = p;
      this.render();
    } else {
      this.last = p;
      this.stroke(p, p);
    }
  }

  private move(e: PointerEvent): void {
    const p = this.at(e);
    if (this.boxStart) {
      this.boxEnd = p;
      this.render();
    } else if (this.last) {
      this.stroke(this.last, p);
      this.last = p;
    }
  }

  private up(e: PointerEvent): void {
    if (this.boxStart && this.boxEnd) {
      const [x0, x1] = [this.boxStart[0], this.boxEnd[0]].sort((a, b) => a - b);
      const [y0, y1] = [this.boxStart[1], this.boxEnd[1]].sort((a, b) => a - b);
      for (let y = Math.max(0, Math.floor(y0)); y < Math.min(this.size, Math.ceil(y1)); y++)
        for (let x = Math.max(0, Math.floor(x0)); x < Math.min(this.size, Math.ceil(x1)); x++) this.mask[y * this.size + x] = 1;
    }
    if (this.overlay.hasPointerCapture(e.pointerId)) this.overlay.releasePointerCapture(e.pointerId);
    this.cancel();
    this.changed();
  }

  private cancel(): void {
    this.last = this.boxStart = this.boxEnd = null;
    this.render();
  }

  /** Paints (or erases) discs along the segment a → b. */
  private stroke(a: [number, number], b: [number, number]): void {
    const value = this.tool === 'eraser' ? 0 : 1;
    const r = this.radius;
    const steps = Math.max(1, Math.ceil(Math.hypot(b[0] - a[0], b[1] - a[1]) / 0.5));
    for (let s = 0; s <= steps; s++) {
      const cx = a[0] + ((b[0] - a[0]) * s) / steps, cy = a[1] + ((b[1] - a[1]) * s) / steps;
      for (let y = Math.max(0, Math.floor(cy - r)); y < Math.min(this.size, Math.ceil(cy + r)); y++)
        for (let x = Math.max(0, Math.floor(cx - r)); x < Math.min(this.size, Math.ceil(cx + r)); x++)
          if ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r) this.mask[y * this.size + x] = value;
    }
    this.render();
  }

  private changed(): void {
    this.render();
    this.onChange();
  }

  private render(): void {
    const mask = this.shown ?? this.mask;
    const g = this.overlay.getContext('2d')!;
    const k = OVERLAY_SCALE, t = this.tokenSize, n = this.size / t;
    g.clearRect(0, 0, this.overlay.width, this.overlay.height);
    g.fillStyle = REGENERATED;
    for (let ty = 0; ty < n; ty++)
      for (let tx = 0; tx < n; tx++) {
        let hit = false;
        for (let y = ty * t; y < (ty + 1) * t && !hit; y++) for (let x = tx * t; x < (tx + 1) * t && !hit; x++) hit = mask[y * this.size + x] > 0.5;
        if (hit) g.fillRect(tx * t * k, ty * t * k, t * k, t * k);
      }
    g.fillStyle = PAINTED;
    for (let y = 0; y < this.size; y++) for (let x = 0; x < this.size; x++) if (mask[y * this.size + x] > 0.5) g.fillRect(x * k, y * k, k, k);
    if (this.boxStart && this.boxEnd) {
      g.strokeStyle = PAINTED;
      g.lineWidth = 2;
      const [x0, y0] = this.boxStart, [x1, y1] = this.boxEnd;
      g.strokeRect(Math.min(x0, x1) * k, Math.min(y0, y1) * k, Math.abs(x1 - x0) * k, Math.abs(y1 - y0) * k);
    }
  }
}
