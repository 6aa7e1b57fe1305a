const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
/**
 * The layers of src/ (issue 15, docs/design.md §3), lowest first: a folder imports only folders of
 * a lower layer, never its own layer's neighbours or anything above. And shipped code never
 * reaches lab/, test/ or bench/ (not built into the release; a test oracle must not become
 * product behaviour). Tests beside the code are exempt.
 */
const LAYERS = [
  ['errors'],
  ['core', 'manifest'],
  ['remote', 'agent'],
  ['state', 'observe', 'desired'],
  ['preflight'],
  ['plan', 'discover', 'timeline'],
  ['apply'],
  ['engine'],
  ['watch', 'metrics'],
  ['cli'],
];
function layerRules() {
  const out = [];
  LAYERS.forEach((layer, i) => {
    const notBelow = LAYERS.slice(i).flat();
    for (const dir of layer) {
      const forbidden = notBelow.filter((d) => d !== dir);
      const patterns = [{ regex: '^(\\.\\./)+(lab|test|bench)(/|$)', message: 'src/ must not import lab/, test/ or bench/ (test helpers live in test/support/).' }];
      if (forbidden.length) patterns.push({ regex: `^(\\.\\./)+(${forbidden.join('|')})(/|$)`, message: `src/${dir} is below ${forbidden.join(', ')} (eslint.config.js LAYERS): move the shared piece down instead.` });
      out.push({ files: [`src/${dir}/**/*.ts`], ignores: ['src/**/*.test.ts'], rules: { 'no-restricted-imports': ['error', { patterns }] } });
    }
  });
  return out;
}

module.exports = tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'state/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
    },
  },
  ...layerRules(),
  { files: ['**/*.js'], rules: { '@typescript-eslint/no-require-imports': 'off' }, languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', process: 'readonly', __dirname: 'readonly', console: 'readonly' } } },
);
