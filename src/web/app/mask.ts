// Painting a pixel mask over an image: brush, eraser and box, with mouse, pen, touch or keyboard, with
// undo and redo. The overlay shows the painted pixels in dark-and-bright stripes (visible on any image)
// and outlines every token they regenerate (a token is regenerated when any of its pixels is masked;
// inference/tasks.ts tokenMaskFromPixelMask). A stroke starts where a pressed pointer enters the canvas;
// a second finger turns a stroke into a pinch, which paints nothing.
export type MaskTool = 'brush' | 'eraser' | 'box';

type Point = [number, number];

/** Overlay pixels per image pixel aim at this overlay size, so strokes and token outlines stay sharp. */
const OVERLAY_TARGET = 512;
const UNDO_LIMIT = 100;
const STRIPE_DARK = 'rgba(20, 20, 24, 0.8)';
const STRIPE_BRIGHT = 'rgba(255, 45, 150, 0.85)';

export class MaskPainter {
  mask: Float32Array = new Float32Array(0);
  tool: MaskTool = 'brush';
  /** Brush radius in image pixels. */
  radius = 3;
  /** Whether input paints (off while the task sets the mask, as for complete). */
  enabled = true;
  private size = 0;
  private tokenSize = 1;
  private scale = 1;
  private undoStack: Float32Array[] = [];
  private redoStack: Float32Array[] = [];
  /** The mask before the stroke in progress, to undo it or drop it when it turns into a pinch. */
  private before: Float32Array | null = null;
  private stroke: { pointer: number; last: Point } | null = null;
  private box: { start: Point; end: Point; pointer: number } | null = null;
  private touches = new Set<number>();
  private pinching = false;
  private hover: Point | null = null;
  private cursor: Point | null = null;
  private shown: Float32Array | null = null;
  private stripes: CanvasPattern | null = null;

  constructor(
    private overlay: HTMLCanvasElement,
    private onChange: () => void,
  ) {
    overlay.addEventListener('pointerdown', (e) => this.down(e));
    overlay.addEventListener('pointerenter', (e) => this.move(e));
    overlay.addEventListener('pointermove', (e) => this.move(e));
    overlay.addEventListener('pointerup', (e) => this.up(e));
    overlay.addEventListener('pointercancel', (e) => this.lift(e, false));
    overlay.addEventListener('pointerleave', () => {
      this.hover = null;
      this.render();
    });
    overlay.addEventListener('keydown', (e) => this.key(e));
    overlay.addEventListener('blur', () => {
      this.cursor = null;
      this.render();
    });
  }

  /** A new, empty mask (and history) for images of `size`² pixels and tokens of `tokenSize`² pixels. */
  reset(size: number, tokenSize: number): void {
    this.size = size;
    this.tokenSize = tokenSize;
    this.scale = Math.max(1, Math.floor(OVERLAY_TARGET / size));
    this.mask = new Float32Array(size * size);
    this.undoStack = [];
    this.redoStack = [];
    this.overlay.width = this.overlay.height = size * this.scale;
    this.stripes = null;
    this.changed();
  }

  /** Shows a mask the task decides (complete's kept half) instead of the painted one; null shows that again. */
  showMask(mask: Float32Array | null): void {
    this.shown = mask;
    this.render();
  }

  clear(): void {
    if (!this.empty) this.edit(() => this.mask.fill(0));
  }

  invert(): void {
    this.edit(() => (this.mask = this.mask.map((v) => 1 - v)));
  }

  get empty(): boolean {
    return !this.mask.some((v) => v > 0.5);
  }

  get canUndo(): boolean {
    return this.undoStack.length > 0;
  }

  get canRedo(): boolean {
    return this.redoStack.length > 0;
  }

  undo(): void {
    const prev = this.undoStack.pop();
    if (!prev) return;
    this.redoStack.push(this.mask);
    this.mask = prev;
    this.changed();
  }

  redo(): void {
    const next = this.redoStack.pop();
    if (!next) return;
    this.undoStack.push(this.mask);
    this.mask = next;
    this.changed();
  }

  /** Redraws (after the brush size or tool changed, so the cursor preview follows). */
  refresh(): void {
    this.render();
  }

  /** One undoable change. */
  private edit(change: () => void): void {
    const before = this.mask.slice();
    change();
    this.commit(before);
  }

  private commit(before: Float32Array): void {
    if (before.every((v, i) => v === this.mask[i])) return this.changed();
    this.undoStack.push(before);
    if (this.undoStack.length > UNDO_LIMIT) this.undoStack.shift();
    this.redoStack = [];
    this.changed();
  }

  /** The pointer's position in image pixels. */
  private at(e: PointerEvent): Point {
    const r = this.overlay.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * this.size, ((e.clientY - r.top) / r.height) * this.size];
  }

  private down(e: PointerEvent): void {
    if (!this.enabled || !this.size || e.button > 0) return;
    if (e.pointerType === 'touch') {
      this.touches.add(e.pointerId);
      if (this.touches.size > 1) return this.startPinch();
    }
    if (!this.pinching) this.begin(e);
  }

  private move(e: PointerEvent): void {
    if (!this.enabled || !this.size) return;
    const p = this.at(e);
    this.hover = e.pointerType === 'touch' ? null : p;
    const active = this.stroke?.pointer === e.pointerId || this.box?.pointer === e.pointerId;
    // A mouse or pen pressed outside the canvas starts its stroke where it comes in.
    if (!active && !this.stroke && !this.box && !this.pinching && e.pointerType !== 'touch' && e.buttons & 1) this.begin(e);
    else if (this.box && active) this.box.end = p;
    else if (this.stroke && active) {
      this.paint(this.stroke.last, p);
      this.stroke.last = p;
    }
    this.render();
  }

  private up(e: PointerEvent): void {
    if (this.box?.pointer === e.pointerId) this.fillBox(this.box.start, this.box.end);
    this.lift(e, true);
  }

  /** A pointer went up (keep the stroke) or was cancelled (drop it). */
  private lift(e: PointerEvent, keep: boolean): void {
    this.touches.delete(e.pointerId);
    if (this.overlay.hasPointerCapture(e.pointerId)) this.overlay.releasePointerCapture(e.pointerId);
    if (this.stroke?.pointer === e.pointerId || this.box?.pointer === e.pointerId) this.end(keep);
    if (this.touches.size === 0) this.pinching = false;
    this.render();
  }

  private begin(e: PointerEvent): void {
    this.overlay.setPointerCapture(e.pointerId);
    const p = this.at(e);
    this.before = this.mask.slice();
    if (this.tool === 'box') this.box = { start: p, end: p, pointer: e.pointerId };
    else {
      this.stroke = { pointer: e.pointerId, last: p };
      this.paint(p, p);
    }
  }

  private end(keep: boolean): void {
    const before = this.before;
    this.stroke = this.box = this.before = null;
    if (!before) return;
    if (keep) this.commit(before);
    else {
      this.mask = before;
      this.changed();
    }
  }

  /** Two fingers: whatever the first one painted is undone, and nothing paints until all are lifted. */
  private startPinch(): void {
    this.pinching = true;
    this.end(false);
  }

  /** Keyboard painting: arrows move the brush a token at a time, Space paints (Shift+arrows paint on the way); the box tool takes two corners. */
  private key(e: KeyboardEvent): void {
    if (!this.enabled || !this.size) return;
    const moves: Record<string, Point> = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const mid = this.size / 2;
    const c: Point = this.cursor ?? [mid, mid];
    const move = moves[e.key];
    if (move) {
      const next: Point = [clamp(c[0] + move[0] * this.tokenSize, 0, this.size - 0.5), clamp(c[1] + move[1] * this.tokenSize, 0, this.size - 0.5)];
      if (e.shiftKey && this.tool !== 'box') this.edit(() => this.paint(c, next));
      this.cursor = next;
      if (this.box) this.box.end = next;
    } else if (e.key === ' ' || e.key === 'Enter') {
      if (this.tool !== 'box') this.edit(() => this.paint(c, c));
      else if (!this.box) this.box = { start: c, end: c, pointer: -1 };
      else {
        const before = this.mask.slice();
        this.fillBox(this.box.start, this.box.end, true);
        this.box = null;
        this.commit(before);
      }
      this.cursor = c;
    } else if (e.key === 'Escape' && this.box) {
      this.box = null;
    } else return;
    e.preventDefault();
    this.render();
  }

  /** Paints (or erases) discs along the segment a → b. */
  private paint(a: Point, b: Point): void {
    const value = this.tool === 'eraser' ? 0 : 1;
    const r = this.radius;
    const steps = Math.max(1, Math.ceil(Math.hypot(b[0] - a[0], b[1] - a[1]) / 0.5));
    for (let s = 0; s <= steps; s++) {
      const cx = a[0] + ((b[0] - a[0]) * s) / steps, cy = a[1] + ((b[1] - a[1]) * s) / steps;
      for (let y = Math.max(0, Math.floor(cy - r)); y < Math.min(this.size, Math.ceil(cy + r)); y++)
        for (let x = Math.max(0, Math.floor(cx - r)); x < Math.min(this.size, Math.ceil(cx + r)); x++)
          if ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r) this.mask[y * this.size + x] = value;
    }
  }

  /** Marks the box between two corners; from the keyboard, the cursor's pixels themselves are included. */
  private fillBox(a: Point, b: Point, inclusive = false): void {
    const [x0, x1] = [a[0], b[0]].sort((p, q) => p - q);
    const [y0, y1] = [a[1], b[1]].sort((p, q) => p - q);
    const end = (v: number) => (inclusive ? Math.floor(v) + 1 : Math.ceil(v));
    for (let y = Math.max(0, Math.floor(y0)); y < Math.min(this.size, end(y1)); y++)
      for (let x = Math.max(0, Math.floor(x0)); x < Math.min(this.size, end(x1)); x++) this.mask[y * this.size + x] = 1;
  }

  private changed(): void {
    const masked = this.mask.reduce((n, v) => n + (v > 0.5 ? 1 : 0), 0);
    this.overlay.dataset.masked = String(masked);
    this.overlay.setAttribute('aria-description', `${masked} of ${this.mask.length} pixels masked`);
    this.render();
    this.onChange();
  }

  private stripePattern(g: CanvasRenderingContext2D): CanvasPattern {
    if (this.stripes) return this.stripes;
    const tile = document.createElement('canvas');
    tile.width = tile.height = 8;
    const t = tile.getContext('2d')!;
    t.fillStyle = STRIPE_BRIGHT;
    t.fillRect(0, 0, 8, 8);
    t.strokeStyle = STRIPE_DARK;
    t.lineWidth = 2.5;
    for (const o of [-8, 0, 8]) {
      t.beginPath();
      t.moveTo(o, 8);
      t.lineTo(o + 8, 0);
      t.stroke();
    }
    this.stripes = g.createPattern(tile, 'repeat')!;
    return this.stripes;
  }

  private render(): void {
    const g = this.overlay.getContext('2d')!;
    g.clearRect(0, 0, this.overlay.width, this.overlay.height);
    if (!this.size) return;
    const mask = this.shown ?? this.mask;
    this.drawPainted(g, mask);
    this.drawTokens(g, mask);
    this.drawCursor(g);
  }

  /** The painted pixels, in stripes: a pixel mask scaled up without smoothing, then filled with the pattern. */
  private drawPainted(g: CanvasRenderingContext2D, mask: Float32Array): void {
    const small = document.createElement('canvas');
    small.width = small.height = this.size;
    const pixels = new ImageData(this.size, this.size);
    for (let i = 0; i < mask.length; i++) pixels.data[4 * i + 3] = mask[i] > 0.5 ? 255 : 0;
    small.getContext('2d')!.putImageData(pixels, 0, 0);
    const layer = document.createElement('canvas');
    layer.width = layer.height = this.overlay.width;
    const l = layer.getContext('2d')!;
    l.imageSmoothingEnabled = false;
    l.drawImage(small, 0, 0, layer.width, layer.height);
    l.globalCompositeOperation = 'source-in';
    l.fillStyle = this.stripePattern(l);
    l.fillRect(0, 0, layer.width, layer.height);
    g.drawImage(layer, 0, 0);
  }

  /** Each regenerated token's edge against kept ones, dark under bright, so it shows on any image. */
  private drawTokens(g: CanvasRenderingContext2D, mask: Float32Array): void {
    const t = this.tokenSize, n = this.size / t, k = this.scale * t;
    const regen = new Uint8Array(n * n);
    for (let y = 0; y < this.size; y++) for (let x = 0; x < this.size; x++) if (mask[y * this.size + x] > 0.5) regen[Math.floor(y / t) * n + Math.floor(x / t)] = 1;
    const on = (tx: number, ty: number) => tx >= 0 && ty >= 0 && tx < n && ty < n && regen[ty * n + tx] === 1;
    const edge = (x0: number, y0: number, x1: number, y1: number) => {
      g.moveTo(x0 * k, y0 * k);
      g.lineTo(x1 * k, y1 * k);
    };
    g.beginPath();
    for (let ty = 0; ty < n; ty++)
      for (let tx = 0; tx < n; tx++) {
        if (!on(tx, ty)) continue;
        if (!on(tx, ty - 1)) edge(tx, ty, tx + 1, ty);
        if (!on(tx, ty + 1)) edge(tx, ty + 1, tx + 1, ty + 1);
        if (!on(tx - 1, ty)) edge(tx, ty, tx, ty + 1);
        if (!on(tx + 1, ty)) edge(tx + 1, ty, tx + 1, ty + 1);
      }
    g.lineWidth = 4;
    g.strokeStyle = STRIPE_DARK;
    g.stroke();
    g.lineWidth = 1.5;
    g.strokeStyle = '#fff';
    g.stroke();
  }

  /** The brush outline (or box) where the next stroke would land. */
  private drawCursor(g: CanvasRenderingContext2D): void {
    const s = this.scale;
    const ring = (draw: () => void) => {
      g.beginPath();
      draw();
      g.lineWidth = 3;
      g.strokeStyle = STRIPE_DARK;
      g.stroke();
      g.lineWidth = 1.5;
      g.strokeStyle = '#fff';
      g.stroke();
    };
    if (this.box) {
      const { start: a, end: b } = this.box;
      ring(() => g.rect(Math.min(a[0], b[0]) * s, Math.min(a[1], b[1]) * s, Math.abs(b[0] - a[0]) * s, Math.abs(b[1] - a[1]) * s));
    }
    const p = this.cursor ?? this.hover;
    if (!p || !this.enabled) return;
    const [x, y] = [p[0] * s, p[1] * s];
    if (this.tool !== 'box') return ring(() => g.arc(x, y, this.radius * s, 0, 2 * Math.PI));
    ring(() => {
      g.moveTo(x - 6, y);
      g.lineTo(x + 6, y);
      g.moveTo(x, y - 6);
      g.lineTo(x, y + 6);
    });
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
