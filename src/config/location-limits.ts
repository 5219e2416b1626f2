/** The variables every location has, whatever its driver: the limits it may narrow for itself. */
import type { LocationLimits } from '../stores/driver.js';
import { mimeTypes, size } from './casting.js';

/** The limits one location may set for itself (its FILES_MAX_UPLOAD_SIZE, FILES_MIME_TYPE_ALLOW_LIST). */
export const locationLimitsSchema = {
  MAX_UPLOAD_SIZE: size(-1),
  MIME_TYPE_ALLOW_LIST: mimeTypes(),
};

/** STORAGE_<LOC>_MAX_UPLOAD_SIZE (-1: unset) and STORAGE_<LOC>_MIME_TYPE_ALLOW_LIST, when set. */
export function locationLimitsOf(v: { MAX_UPLOAD_SIZE: number; MIME_TYPE_ALLOW_LIST?: string[] | undefined }): LocationLimits {
  return {
    ...(v.MAX_UPLOAD_SIZE >= 0 ? { maxUploadSize: v.MAX_UPLOAD_SIZE } : {}),
    ...(v.MIME_TYPE_ALLOW_LIST ? { mimeTypeAllowList: v.MIME_TYPE_ALLOW_LIST } : {}),
  };
}
