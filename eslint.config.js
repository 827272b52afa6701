import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

/**
 * The layers of controller/, lowest first. A folder may import its own layer's shared base and the
 * folders listed in `uses`, nothing else: lower layers never import higher ones, and folders of one
 * layer stay independent of each other. README "Layout" draws the same map.
 */
const BASE = ['types', 'errors', 'clock', 'log', 'redact', 'paths', 'duration', 'credentials', 'selector'];
const FOLDERS = {
  proxmox: [],
  store: [],
  manifest: [],
  queue: [],
  simulator: [],
  reconcile: ['proxmox', 'store', 'queue'],
  lifecycle: ['proxmox', 'store', 'queue', 'reconcile'],
  loop: ['manifest', 'queue', 'reconcile', 'store'],
  api: ['proxmox', 'store', 'reconcile', 'lifecycle', 'loop'],
  compose: ['proxmox', 'store', 'manifest', 'queue', 'simulator', 'reconcile', 'lifecycle', 'loop', 'api'],
  cli: [
    'proxmox',
    'store',
    'manifest',
    'queue',
    'simulator',
    'reconcile',
    'lifecycle',
    'loop',
    'api',
    'compose',
  ],
};
const zones = [
  {
    target: BASE.map((f) => `./controller/${f}.ts`),
    from: Object.keys(FOLDERS).map((f) => `./controller/${f}`),
    message:
      'the shared base (types, errors, clock, log, redact, paths, duration, credentials) imports no folder',
  },
  ...Object.entries(FOLDERS)
    .map(([folder, uses]) => ({
      target: `./controller/${folder}`,
      from: Object.keys(FOLDERS)
        .filter((f) => f !== folder && !uses.includes(f))
        .map((f) => `./controller/${f}`),
      message: `controller/${folder} may import only ${uses.length ? uses.join(', ') + ' and ' : ''}the shared base (eslint.config.js)`,
    }))
    .filter((zone) => zone.from.length > 0),
];

/** Mutating ProxmoxClient methods: only the executor (controller/reconcile/execute/) calls them. */
const MUTATING =
  '/^(clone|create|updateConfig|updateConfigAsync|resizeDisk|moveDisk|migrate|start|shutdown|stop|reboot|deleteVm)$/';
const mutationMessage =
  'only the executor (controller/reconcile/execute/) mutates Proxmox: slots, intent first, UPID recorded';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.workerctl/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['controller/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      'import-x/no-restricted-paths': ['error', { zones }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  {
    files: ['controller/**/*.ts'],
    ignores: ['controller/reconcile/execute/**', 'controller/proxmox/**', 'controller/simulator/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: `CallExpression[callee.property.name=${MUTATING}][callee.object.name=/client$/i]`,
          message: mutationMessage,
        },
        {
          selector: `CallExpression[callee.property.name=${MUTATING}][callee.object.property.name=/client$/i]`,
          message: mutationMessage,
        },
      ],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    // The fleet page (web/): browser modules, type-checked by tsconfig.web.json. Values reach the
    // DOM as text only: no markup from strings, no code from strings.
    files: ['web/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'location',
          'sessionStorage',
          'fetch',
          'EventSource',
          'setTimeout',
          'setInterval',
          'Node',
          'Event',
          'MessageEvent',
          'Response',
        ].map((g) => [g, 'readonly']),
      ),
    },
    rules: {
      'no-restricted-properties': [
        'error',
        ...['innerHTML', 'outerHTML'].map((property) => ({
          property,
          message: 'build the DOM with h() and text',
        })),
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'CallExpression[callee.property.name=/^(insertAdjacentHTML|write|writeln|createContextualFragment)$/]',
          message: 'build the DOM with h() and text',
        },
        {
          selector: "CallExpression[callee.name='eval'], NewExpression[callee.name='Function']",
          message: 'no code from strings',
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-unused-expressions': 'off' },
  },
  {
    // `make test-unit` runs these alone, in seconds: no simulator, no child process, no whole app.
    files: ['test/**/*.unit.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'node:child_process', message: 'a unit test starts no process (name it *.test.ts)' },
          ],
          patterns: [
            {
              group: [
                '**/simulator/**',
                '**/compose/app.js',
                '**/helpers/cli.js',
                '**/helpers/app-env.js',
                '**/helpers/lifecycle-env.js',
                '**/helpers/sim-harness.js',
              ],
              message: 'a unit test runs no simulator and no whole app (name it *.test.ts)',
            },
          ],
        },
      ],
    },
  },
);
