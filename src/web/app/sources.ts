// A source image slot: takes a loaded or dropped file, or a result, and fits it to the model's size,
// saying how (cropped, padded, scaled) and letting the user choose another way.
import type { ImagePreparation } from '../../data/image-set.ts';
import type { Images } from '../../data/images.ts';
import { FIT_NAMES, FIT_OF, type Fit, drawImage, fitImage } from './pixels.ts';

type Picture = CanvasImageSource & { width: number; height: number };

export interface SourceHost {
  /** The loaded model's image size, channels and how its training images were prepared, or null while none is loaded. */
  shape(): { size: number; channels: number; input: ImagePreparation } | null;
  changed(source: Source): void;
  /** Reports a loaded file (or a problem with it) on the status line. */
  report(text: string, error: boolean): void;
}

export class Source {
  image: Images | null = null;
  private original: { picture: Picture; name: string } | null = null;
  private fit: Fit = 'crop';
  /** The preparation `fit` was last set from: a newly loaded model resets the choice to its own. */
  private fitFrom: ImagePreparation | null = null;
  readonly canvas: HTMLCanvasElement;
  private stack: HTMLElement;
  private fitBox: HTMLElement;
  private fitNote: HTMLElement;
  private fitChoice: HTMLSelectElement;

  constructor(
    readonly el: HTMLElement,
    private host: SourceHost,
  ) {
    const q = <T extends Element>(s: string): T => el.querySelector<T>(s)!;
    this.canvas = q<HTMLCanvasElement>('canvas.image');
    this.stack = q<HTMLElement>('.stack');
    this.fitBox = q<HTMLElement>('.fit');
    this.fitNote = q<HTMLElement>('.fit-note');
    this.fitChoice = q<HTMLSelectElement>('.fit-choice');
    this.fitChoice.replaceChildren(...Object.entries(FIT_NAMES).map(([v, text]) => new Option(text, v)));
    this.fitChoice.addEventListener('change', () => {
      this.fit = this.fitChoice.value as Fit;
      this.refit();
    });
    const input = q<HTMLInputElement>('input[type=file]');
    q<HTMLButtonElement>('button.load').addEventListener('click', () => input.click());
    input.addEventListener('change', () => {
      if (input.files?.[0]) void this.loadFile(input.files[0]);
      input.value = '';
    });
    this.stack.addEventListener('dragover', (e) => {
      e.preventDefault();
      this.stack.classList.add('drop');
    });
    this.stack.addEventListener('dragleave', () => this.stack.classList.remove('drop'));
    this.stack.addEventListener('drop', (e) => {
      e.preventDefault();
      this.stack.classList.remove('drop');
      const file = e.dataTransfer?.files[0];
      if (file) void this.loadFile(file);
    });
  }

  async loadFile(file: File): Promise<void> {
    if (!this.host.shape()) return;
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(file);
    } catch {
      this.host.report(`${file.name} is not an image this browser can read — try a PNG or JPEG`, true);
      return;
    }
    this.usePicture(bitmap, file.name);
    this.host.report(`loaded ${file.name}: ${this.fitNote.textContent}`, false);
  }

  /** Any picture, fitted to the model's size; its note and the choice of fit are shown. */
  usePicture(picture: Picture, name: string): void {
    this.original = { picture, name };
    this.refit();
  }

  /** An image already of the model's size (a result), used as it is. */
  useImage(image: Images): void {
    this.original = null;
    this.set(image);
  }

  clear(): void {
    this.original = null;
    this.set(null);
  }

  private refit(): void {
    const shape = this.host.shape();
    if (!shape || !this.original) return;
    const { picture, name } = this.original;
    if (this.fitFrom !== shape.input) {
      this.fitFrom = shape.input;
      this.fit = FIT_OF[shape.input.fit];
      this.fitChoice.value = this.fit;
    }
    const { image, note } = fitImage(picture, shape.size, shape.channels, this.fit, shape.input);
    this.fitNote.textContent = `${name}: ${note}`;
    this.set(image);
  }

  private set(image: Images | null): void {
    this.image = image;
    this.stack.classList.toggle('filled', !!image);
    if (image) drawImage(this.canvas, image);
    const o = this.original;
    this.fitBox.hidden = !o;
    // Crop, pad and stretch differ only for pictures that aren't square.
    this.fitChoice.parentElement!.hidden = !o || o.picture.width === o.picture.height;
    this.host.changed(this);
  }
}
