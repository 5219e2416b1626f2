/**
 * The demo page's script (bundled by scripts/build-demo.mjs into dist/public/demo.js, never
 * loaded by Node): Uppy's Dashboard with its tus plugin. The page's markup (src/http/demo.ts)
 * carries the settings: the endpoint, or a location picker whose options are the endpoints,
 * and a token field when authentication is on.
 */
import Uppy from '@uppy/core';
import Dashboard from '@uppy/dashboard';
import Tus from '@uppy/tus';

const TOKEN_KEY = 'tus-s3-server.token';

const dashboard = document.getElementById('dashboard') as HTMLElement;
const picker = document.getElementById('location') as HTMLSelectElement | null;
const tokenField = document.getElementById('token') as HTMLInputElement | null;
const protocolPicker = document.getElementById('protocol') as HTMLSelectElement | null;
type Protocol = 'tus' | 'ietf-draft-03' | 'ietf-draft-05';
const uploaded = document.getElementById('uploaded') as HTMLElement;
const speed = document.getElementById('speed') as HTMLElement;

const endpoint = (): string => picker?.value ?? dashboard.dataset.endpoint ?? '';

if (tokenField) {
  // Remembered for this tab only (sessionStorage), never in localStorage or a cookie.
  tokenField.value = sessionStorage.getItem(TOKEN_KEY) ?? '';
  tokenField.addEventListener('input', () => {
    if (tokenField.value) sessionStorage.setItem(TOKEN_KEY, tokenField.value);
    else sessionStorage.removeItem(TOKEN_KEY);
  });
}

const uppy = new Uppy({ autoProceed: false })
  .use(Dashboard, {
    inline: true,
    target: dashboard,
    width: '100%',
    height: 440,
    // Bytes sent of the total, speed and time left (Uppy 5+ spells the old showProgressDetails this way).
    hideProgressDetails: false,
    showLinkToFileUploadResult: true,
    proudlyDisplayPoweredByUppy: false,
    theme: 'auto',
    note: 'Any number of files of any size. Pause, resume or retry each one; a broken connection resumes where it stopped.',
  })
  .use(Tus, {
    endpoint: endpoint(),
    // Several requests per upload, so a proxy's body limit is no obstacle; S3 parts are at least 5 MiB.
    chunkSize: 8 * 1024 * 1024,
    retryDelays: [0, 1000, 3000, 5000],
    // Resume an interrupted upload of the same file, but start afresh once one finished.
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: true,
    headers: (): Record<string, string> => {
      const token = tokenField?.value.trim();
      return token ? { Authorization: `Bearer ${token}` } : {};
    },
  });

protocolPicker?.addEventListener('change', () => {
  // Files that start after this speak the chosen protocol; running uploads keep theirs.
  // (Uppy's plugin types omit tus-js-client's `protocol`, which the plugin passes through.)
  const tus = uppy.getPlugin('Tus') as unknown as { setOptions(options: { protocol: Protocol }): void } | undefined;
  tus?.setOptions({ protocol: protocolPicker.value as Protocol });
});

picker?.addEventListener('change', () => {
  // Files that start after this go to the chosen location; running uploads keep theirs.
  uppy.getPlugin('Tus')?.setOptions({ endpoint: endpoint() });
});

uppy.on('upload-success', (file, response) => {
  const url = response.uploadURL;
  if (!file || !url) return;
  const item = document.createElement('li');
  const link = document.createElement('a');
  link.href = url;
  link.textContent = url;
  link.target = '_blank';
  link.rel = 'noopener';
  item.append(`${file.name ?? 'file'} → `, link);
  uploaded.querySelector('ul')?.append(item);
  uploaded.hidden = false;
});

/** Sizes as the Dashboard writes them: 1024-based, one decimal below 10 (1.5 MB, 300 KB). */
function size(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  const exponent = bytes > 0 ? Math.min(Math.floor(Math.log(bytes) / Math.log(1024)), units.length - 1) : 0;
  const value = bytes / 1024 ** exponent;
  return `${value >= 10 || value % 1 === 0 ? Math.round(value) : value.toFixed(1)} ${units[exponent]}`;
}

// The upload speed over the last three seconds, beside the Dashboard's bytes sent and time left.
const samples: Array<{ at: number; bytes: number }> = [];
setInterval(() => {
  const files = uppy.getFiles();
  const running = files.some((f) => f.progress.uploadStarted && !f.progress.uploadComplete && !f.isPaused && !f.error);
  const now = performance.now();
  samples.push({ at: now, bytes: files.reduce((sum, f) => sum + (f.progress.bytesUploaded || 0), 0) });
  while (samples.length > 1 && (samples[0] as { at: number }).at < now - 3000) samples.shift();
  const first = samples[0] as { at: number; bytes: number };
  const last = samples[samples.length - 1] as { at: number; bytes: number };
  const rate = last.at > first.at ? (last.bytes - first.bytes) / ((last.at - first.at) / 1000) : 0;
  speed.hidden = !(running && rate > 0);
  speed.textContent = speed.hidden ? '' : `Speed: ${size(rate)}/s`;
}, 500);
