// The single executable's main script: it runs the bundle (an asset of the executable) with the V8 code
// cache scripts/code-cache.ts made by running it. Node's own SEA code cache (`useCodeCache`) is made
// before the bundle ever runs, so it holds the top level alone: every function a command calls was
// compiled again at every start (~12 ms of a 16-NIC dry run). A cache that V8 rejects (another V8, or
// V8 flags through NODE_OPTIONS) costs that compilation and nothing else: the source is always there.
'use strict';
// A SEA's main script is CommonJS, and its require() reaches Node's built-in modules alone.
/* eslint-disable @typescript-eslint/no-require-imports */
const { getRawAsset } = require('node:sea');
const { Script } = require('node:vm');

// The bundle is ASCII (esbuild escapes the rest; code-cache.ts checks): latin1 makes V8's one-byte string
// at memcpy speed, where decoding UTF-8 took ~1 ms.
const script = new Script(Buffer.from(getRawAsset('bundle.js')).toString('latin1'), {
  filename: 'qemu-script.js',
  cachedData: Buffer.from(getRawAsset('bundle.cache')),
});
// The bundle as a CommonJS module body, with this module's own require (Node's built-ins) and module.
script.runInThisContext()(exports, require, module, __filename, __dirname);
