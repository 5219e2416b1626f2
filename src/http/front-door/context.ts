/**
 * One request on a tus mount, as the front door sees it: made once (`openContext`) and passed
 * explicitly to every gate (src/http/front-door/*.ts) and to the hand-over. It holds what the
 * gates learn (the grant, the IETF translation, the verified body) and reads the upload at
 * most once for all of them (`read`).
 */
import type { Upload } from '@tus/utils';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Grant } from '../../auth/grant.js';
import { readWithoutLock } from '../../stores/capabilities.js';
import type { Answer } from '../../tus/answer.js';
import type { SpooledBody } from '../../tus/checksum.js';
import type { DirectBody } from '../../tus/engine.js';
import { headerInteger } from '../../tus/protocol-guard.js';
import { uploadIdOf } from '../../tus/upload-id.js';
import type { WebRequestContext } from '../../tus/web-request.js';
import type { IetfRequest } from '../ietf.js';
import type { TusRoutesOptions } from '../tus-routes.js';

/** The upload the request names, read without its lock: the upload, or why it could not be read. */
export type UploadRead = { upload: Upload } | { error: unknown };

export interface DoorContext extends WebRequestContext {
  /** The mount this request came to. */
  readonly o: TusRoutesOptions;
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
  /** The upload id of the URL, parsed once (undefined: the mount path itself). */
  readonly id: string | undefined;
  /** The location's name (the request log's and the metrics' label). */
  readonly location: string;
  /** The upload the request log names: the URL's, or the one this request created. */
  uploadId?: string;
  /** Upload bytes this request stored (the request log). */
  bytes?: number;
  /** Who asks (set by the authorization gate; undefined when authentication is off). */
  grant?: Grant;
  /** Set when the request speaks the IETF draft (its headers then say the same in tus). */
  ietf?: IetfRequest;
  /** The origin of new uploads' URLs, once checked (the request line) and needed (the hand-over). */
  origin?: string;
  /** A body whose checksum was verified, spooled (the checksum gate). */
  spooled?: SpooledBody;
  /** The body handed to a store that reads bodies itself (the hand-over). */
  direct?: DirectBody;
  /** The upload the URL names, read once without its lock and shared by every gate; undefined: no id. */
  read(): Promise<UploadRead | undefined>;
  /** The upload, or undefined when there is none (or it cannot be read). */
  upload(): Promise<Upload | undefined>;
}

/** What a gate decides: an answer ends the request, `'answered'` says the gate answered it itself, undefined passes. */
export type GateResult = Answer | 'answered' | undefined;
export type Gate = (c: DoorContext) => GateResult | Promise<GateResult>;

export function openContext(o: TusRoutesOptions, request: FastifyRequest, reply: FastifyReply): DoorContext {
  const id = uploadIdOf(request.url, o.path);
  let reading: Promise<UploadRead | undefined> | undefined;
  const read = () => {
    reading ??= id
      ? readWithoutLock(o.datastore, id).then(
          (upload) => ({ upload }),
          (error: unknown) => ({ error }),
        )
      : Promise.resolve(undefined);
    return reading;
  };
  return {
    o,
    request,
    reply,
    id,
    location: o.location,
    ...(id ? { uploadId: id } : {}),
    read,
    upload: async () => {
      const result = await read();
      return result && 'upload' in result ? result.upload : undefined;
    },
  };
}

/** A request header with one value. */
export function header(c: DoorContext, name: string): string | undefined {
  const value = c.request.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** A request header as a non-negative integer. */
export const integerHeader = (c: DoorContext, name: string): number | undefined => headerInteger(c.request.headers[name]);
