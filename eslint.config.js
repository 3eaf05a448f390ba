import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Modules that do I/O: the pure core (src/domain) may import none of them. */
const IO_MODULES = ['ioredis', 'bullmq', 'fastify', 'pg', 'pino'].flatMap((m) => [m, `${m}/*`]);
const NODE_IO = ['fs', 'fs/promises', 'child_process', 'net', 'dgram', 'http', 'https', 'os'];

/** Layers by folder; each may import only those below it (see docs/architecture.md). */
const layer = (...folders) => folders.map((f) => `**/${f}/**`);

/**
 * A Redis key segment from store/keys.ts (`<prefix>:node:{n1}:...`, `<prefix>:nq:...`): only
 * src/store may spell one, so the key layout has a single owner.
 */
const KEY_SEGMENT = '/:(node|nq|inv|cmd|ct|sq|rl|nonce|announce)(:|\\{)/';

const restrictImports = (patterns, message) => [
  'error',
  {
    paths: [...IO_MODULES, ...NODE_IO.flatMap((m) => [m, `node:${m}`])]
      .filter(() => patterns.io)
      .map((name) => ({ name, message })),
    patterns: [{ group: patterns.layers, message }],
  },
];

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'bench/results/', 'bin/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // Production code: short functions, and the key layout named in src/store alone.
    files: ['src/**/*.ts', 'workers/**/*.ts'],
    ignores: ['src/store/**'],
    rules: {
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
      'no-restricted-syntax': [
        'error',
        {
          selector: `Literal[value=${KEY_SEGMENT}]`,
          message: 'Redis keys are named in src/store/keys.ts only',
        },
        {
          selector: `TemplateElement[value.raw=${KEY_SEGMENT}]`,
          message: 'Redis keys are named in src/store/keys.ts only',
        },
      ],
    },
  },
  {
    files: ['src/store/**/*.ts'],
    rules: {
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
      'no-restricted-imports': restrictImports(
        { io: false, layers: layer('app', 'api', 'scheduler', 'server', 'cli', 'dev', 'workers') },
        'src/store sits below the use cases, the API, the scheduler and the entry points',
      ),
    },
  },
  {
    // The pure core: no I/O, nothing from the layers above it.
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': restrictImports(
        {
          io: true,
          layers: layer('store', 'app', 'api', 'scheduler', 'server', 'cli', 'dev', 'workers'),
        },
        'src/domain is pure: no I/O module and nothing from the layers above it',
      ),
    },
  },
  {
    files: ['src/app/**/*.ts'],
    rules: {
      'no-restricted-imports': restrictImports(
        { io: false, layers: layer('api', 'scheduler', 'server', 'cli', 'dev', 'workers') },
        'src/app (use cases) may use domain, store and shared, not the layers that call it',
      ),
    },
  },
  {
    files: ['src/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': restrictImports(
        {
          io: false,
          layers: layer(
            'domain',
            'store',
            'app',
            'api',
            'scheduler',
            'server',
            'cli',
            'dev',
            'workers',
          ),
        },
        'src/shared is the ground floor: config, log, version; it imports no project layer',
      ),
    },
  },
  {
    files: ['src/scheduler/**/*.ts'],
    rules: {
      'no-restricted-imports': restrictImports(
        { io: false, layers: layer('api', 'server', 'cli', 'dev', 'workers') },
        'src/scheduler may use app, store, domain and shared, not the entry points or the API',
      ),
    },
  },
  {
    files: ['src/api/**/*.ts'],
    rules: {
      'no-restricted-imports': restrictImports(
        { io: false, layers: layer('server', 'cli', 'dev', 'workers') },
        'src/api is started by src/server; it imports no entry point and no agent code',
      ),
    },
  },
  {
    files: ['workers/**/*.ts'],
    rules: {
      'no-restricted-imports': restrictImports(
        { io: false, layers: layer('app', 'api', 'scheduler', 'server', 'cli', 'dev') },
        'the agent uses domain, store and shared only: it runs on nodes, not in the server',
      ),
    },
  },
  {
    // The web console (ui/, its own tsconfig): browser code; it may import the server's types
    // and pure domain modules, nothing that does I/O.
    files: ['ui/src/**/*.ts', 'ui/src/**/*.tsx'],
    rules: {
      'no-restricted-imports': restrictImports(
        {
          io: true,
          layers: layer('store', 'app', 'scheduler', 'server', 'cli', 'dev', 'workers', 'shared'),
        },
        'the console runs in a browser: types from src/api/schemas and pure src/domain modules only',
      ),
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
