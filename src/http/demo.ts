/**
 * A small demo page at / (DEMO_ENABLED): pick files, watch progress, pause and resume, and
 * open the finished file. tus-js-client's browser build is served from /demo/tus.min.js.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';

const require = createRequire(import.meta.url);

export function registerDemoPage(app: FastifyInstance, tusPath: string): void {
  const script = readFileSync(require.resolve('tus-js-client/dist/tus.min.js'), 'utf8');
  const page = PAGE.replace('__ENDPOINT__', JSON.stringify(tusPath));
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').header('Cache-Control', 'no-store').send(page));
  app.get('/demo/tus.min.js', async (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').header('Cache-Control', 'public, max-age=3600').send(script),
  );
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tus-s3-server</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.4rem; }
  .upload { border: 1px solid #ddd; border-radius: 6px; padding: .6rem .8rem; margin: .6rem 0; }
  progress { width: 100%; }
  button { margin-right: .4rem; }
  .done a { font-weight: 600; }
  .error { color: #b00020; }
</style>
</head>
<body>
<h1>tus-s3-server</h1>
<p>Resumable uploads with the <a href="https://tus.io/">tus</a> protocol. Choose files; pause, resume, or reload the page and pick the same file again to continue where it stopped.</p>
<input id="files" type="file" multiple>
<div id="uploads"></div>
<script src="/demo/tus.min.js"></script>
<script>
const endpoint = new URL(__ENDPOINT__, location.href).toString();
document.getElementById('files').addEventListener('change', (event) => {
  for (const file of event.target.files) start(file);
  event.target.value = '';
});
function start(file) {
  const box = document.createElement('div');
  box.className = 'upload';
  box.innerHTML = '<div class="name"></div><progress max="100" value="0"></progress><div class="status">starting</div><button class="pause">Pause</button><button class="resume" disabled>Resume</button>';
  box.querySelector('.name').textContent = file.name + ' (' + file.size + ' bytes)';
  document.getElementById('uploads').append(box);
  const status = box.querySelector('.status');
  const upload = new tus.Upload(file, {
    endpoint,
    chunkSize: 8 * 1024 * 1024,
    retryDelays: [0, 1000, 3000, 5000],
    metadata: { filename: file.name, filetype: file.type || 'application/octet-stream' },
    onProgress(sent, total) {
      box.querySelector('progress').value = total ? (sent / total) * 100 : 0;
      status.textContent = sent + ' of ' + total + ' bytes';
    },
    onError(error) {
      status.className = 'status error';
      status.textContent = 'failed: ' + error;
    },
    onSuccess() {
      status.className = 'status done';
      status.innerHTML = 'done: <a class="link" target="_blank"></a>';
      const link = status.querySelector('a');
      link.href = upload.url;
      link.textContent = upload.url;
      box.querySelector('.pause').disabled = true;
      box.querySelector('.resume').disabled = true;
    },
  });
  box.querySelector('.pause').onclick = () => {
    upload.abort();
    status.textContent += ' (paused)';
    box.querySelector('.pause').disabled = true;
    box.querySelector('.resume').disabled = false;
  };
  box.querySelector('.resume').onclick = () => {
    upload.start();
    box.querySelector('.pause').disabled = false;
    box.querySelector('.resume').disabled = true;
  };
  upload.findPreviousUploads().then((previous) => {
    if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
    upload.start();
  });
}
</script>
</body>
</html>
`;
