// Bundled by the browser test with esbuild: Uppy core and its tus plugin as window globals.
import Uppy from '@uppy/core';
import Tus from '@uppy/tus';

window.Uppy = Uppy;
window.UppyTus = Tus;
