/**
 * An exclusive creation (CreationIntent.exclusive, src/stores/creation-intent.ts) that found
 * its id taken: nothing was created and nothing else changed.
 */
export class UploadIdTaken extends Error {
  override readonly name = 'UploadIdTaken';
  readonly status_code = 409;
  readonly body = 'An upload with this id exists already; nothing was created\n';
  constructor() {
    super('upload id taken');
  }
}
