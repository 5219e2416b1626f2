/**
 * What an authenticated request may do: who it is (the owner of the uploads it creates) and the
 * limits its token's claims narrow it to. Undefined on a request when authentication is off.
 */
export interface Grant {
  /** Owner of the uploads this request creates: the token's `sub`, Directus's `id`, or a static token's name. */
  readonly subject: string;
  /**
   * What its uploads record as their owner: the subject qualified by the kind of token and a
   * JWT's issuer, so a JWT whose `sub` is `token:ci`, or another issuer's user with the same
   * id, never shares uploads with the static token `ci` or with that user.
   */
  readonly owner: string;
  /** How the token was checked, for the logs. */
  readonly via: 'jwt' | 'static';
  /** A static token's name (logged instead of the token). */
  readonly name?: string;
  /** Largest upload this token may create, in bytes (narrows FILES_MAX_UPLOAD_SIZE). */
  readonly maxSize?: number;
  /** Location names this token may use; undefined: every location. */
  readonly locations?: readonly string[];
  /** Content types (`image/*` wildcards allowed) this token may upload; undefined: any the server allows. */
  readonly contentTypes?: readonly string[];
  /** Prefix of the ids (and so the object keys) of the uploads it creates. */
  readonly prefix?: string;
  /** Only downloads (GET) and HEAD. */
  readonly readOnly: boolean;
}
