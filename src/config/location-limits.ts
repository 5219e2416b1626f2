/** The variables every location has, whatever its driver: the limits it may narrow for itself, and its object keys. */
import { z } from 'zod';
import type { LocationLimits } from '../stores/driver.js';
import { type KeyTemplate, parseKeyTemplate } from '../stores/key-template.js';
import { mimeTypes, size } from './casting.js';

/** STORAGE_<LOC>_KEY_TEMPLATE: checked at start, so a template that could make unsafe or shared keys refuses to start. */
function keyTemplate() {
  return z
    .string()
    .optional()
    .transform((value: string | undefined, ctx): KeyTemplate | undefined => {
      if (value === undefined || value.trim() === '') return undefined;
      const parsed = parseKeyTemplate(value.trim());
      if ('segments' in parsed) return parsed;
      ctx.addIssue({ code: 'custom', message: parsed.problem });
      return z.NEVER;
    });
}

/** The limits one location may set for itself (its FILES_MAX_UPLOAD_SIZE, FILES_MIME_TYPE_ALLOW_LIST), and its key template. */
export const locationLimitsSchema = {
  MAX_UPLOAD_SIZE: size(-1),
  MIME_TYPE_ALLOW_LIST: mimeTypes(),
  KEY_TEMPLATE: keyTemplate(),
};

/** STORAGE_<LOC>_MAX_UPLOAD_SIZE (-1: unset), STORAGE_<LOC>_MIME_TYPE_ALLOW_LIST and _KEY_TEMPLATE, when set. */
export function locationLimitsOf(v: {
  MAX_UPLOAD_SIZE: number;
  MIME_TYPE_ALLOW_LIST?: string[] | undefined;
  KEY_TEMPLATE?: KeyTemplate | undefined;
}): LocationLimits {
  return {
    ...(v.MAX_UPLOAD_SIZE >= 0 ? { maxUploadSize: v.MAX_UPLOAD_SIZE } : {}),
    ...(v.MIME_TYPE_ALLOW_LIST ? { mimeTypeAllowList: v.MIME_TYPE_ALLOW_LIST } : {}),
    ...(v.KEY_TEMPLATE ? { keyTemplate: v.KEY_TEMPLATE } : {}),
  };
}
