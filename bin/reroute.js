#!/usr/bin/env node
// Runs the compiled CLI when present (npm run build), else the TypeScript source through tsx.
const path = require('path');
const fs = require('fs');
const compiled = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (fs.existsSync(compiled)) {
  require(compiled);
} else {
  require('tsx/cjs');
  require(path.join(__dirname, '..', 'src', 'cli', 'main.ts'));
}
