/**
 * Object names under a location's `_ROOT`, shared by the drivers that name objects (s3, azure):
 * the root as a key prefix, and the room a key template leaves once the root is in front.
 */
import type { SettingProblem } from './driver.js';
import { keyRoomProblem, parseKeyTemplate } from './key-template.js';

/** `_ROOT` as a key prefix: no leading slash, one trailing slash, empty for none. */
export function normalisePrefix(root: string): string {
  const trimmed = root.replace(/^\/+/, '').replace(/\/+$/, '');
  return trimmed ? `${trimmed}/` : '';
}

/**
 * KEY_TEMPLATE's longest key with ROOT in front, over the 1024 bytes S3 keys and Azure blob names
 * may have (the template's own problems are the schema's).
 */
export function templateRoomProblem(raw: Record<string, string | undefined>): SettingProblem | undefined {
  const text = raw.KEY_TEMPLATE?.trim();
  const template = text ? parseKeyTemplate(text) : undefined;
  const room =
    template && 'segments' in template ? keyRoomProblem(template, Buffer.byteLength(normalisePrefix(raw.ROOT?.trim() ?? ''))) : undefined;
  return room ? { key: 'KEY_TEMPLATE', message: room } : undefined;
}
